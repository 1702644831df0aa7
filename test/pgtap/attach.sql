-- Attaching the order tables applications have (issue 15): customers keyed
-- by uuid and by text, timestamptz dates turned into days in one business
-- time zone whatever the writing session's, amounts in cents or computed,
-- a status filter; attach-then-RFM equal to a refresh; bad attach
-- arguments refused with nothing attached.  The reference summaries are
-- written out here in plain SQL (not crm.table_summaries).
\ir setup.psql
SELECT plan(46);

SET crm.as_of = '2026-06-30';
SELECT setseed(0.1515);
SET TimeZone = 'UTC';
-- no BTYD model fitted by the first contact (not what is tested here)
INSERT INTO crm.settings VALUES ('btyd_min_repeat_buyers', '1000000');
SELECT lives_ok($$SELECT crm.set_business_time_zone('Europe/Berlin')$$, 'the business time zone is set (no table tracked by timestamptz yet)');
SELECT is(crm.setting('business_time_zone'), 'Europe/Berlin', 'the setting holds it');

-- a typical application schema: uuid customers, a timestamptz, cents, statuses
CREATE TABLE public.app_customers (id uuid PRIMARY KEY, n integer UNIQUE);
INSERT INTO public.app_customers
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(g * 7919), 12, '0'))::uuid, g FROM generate_series(1, 200) g;
CREATE TABLE public.app_orders (
    id bigserial PRIMARY KEY,
    customer uuid NOT NULL REFERENCES public.app_customers,
    created_at timestamptz NOT NULL,
    total_cents bigint NOT NULL,
    status text NOT NULL
);
-- a text-keyed table: an amount expression, tracked row by row
CREATE TABLE public.shop_sales (
    sale_id serial PRIMARY KEY,
    client_code varchar(20),
    sold_at timestamptz,
    price_cents integer,
    discount numeric(8, 2) NOT NULL DEFAULT 0,
    state text
);

-- history before the attach: three years, a third not paid
INSERT INTO public.app_orders (customer, created_at, total_cents, status)
SELECT c.id, g.at, g.cents, g.status
FROM (SELECT 1 + floor(random() * 200)::integer AS n, timestamptz '2023-07-01 00:00+00' + random() * interval '1090 days' AS at,
             100 + floor(random() * 50000)::bigint AS cents,
             (ARRAY['paid', 'paid', 'pending', 'cancelled', 'refunded'])[1 + floor(random() * 5)] AS status
      FROM generate_series(1, 3000)) g
JOIN public.app_customers c USING (n);
INSERT INTO public.shop_sales (client_code, sold_at, price_cents, discount, state)
SELECT 'C-' || (1 + floor(random() * 150)), timestamptz '2024-01-01 00:00+00' + random() * interval '900 days',
       500 + floor(random() * 20000)::integer, round((random() * 5)::numeric, 2),
       (ARRAY['complete', 'complete', 'open', 'void'])[1 + floor(random() * 4)]
FROM generate_series(1, 1500);

-- the reference: each table's purchases summarized in plain SQL, days in
-- Europe/Berlin written out, amounts in currency units
CREATE FUNCTION pg_temp.reference(zone text DEFAULT 'Europe/Berlin') RETURNS TABLE (customer_id bigint, summary crm.summary)
LANGUAGE sql AS $$
    SELECT k.customer_id, crm.summarize(r.day, r.amount)
    FROM (SELECT o.customer::text AS key, (o.created_at AT TIME ZONE zone)::date AS day, o.total_cents / 100.0 AS amount
          FROM public.app_orders o WHERE o.status = 'paid'
          UNION ALL
          SELECT s.client_code::text, (s.sold_at AT TIME ZONE zone)::date, s.price_cents / 100.0 - s.discount
          FROM public.shop_sales s WHERE s.state = 'complete' AND s.client_code IS NOT NULL) r
    JOIN crm.customer_keys k ON k.app_key = r.key
    GROUP BY 1 $$;
CREATE FUNCTION pg_temp.mismatches(zone text DEFAULT 'Europe/Berlin') RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM crm.customers c FULL JOIN pg_temp.reference(zone) r USING (customer_id)
    WHERE crm.full_summary(c.customer_id, c.summary) IS DISTINCT FROM r.summary $$;

-- ---------------------------------------------------------------------
-- first contact: attach, and every customer is scored at once, as a
-- refresh on the same date scores it
-- ---------------------------------------------------------------------
SELECT is((SELECT count(*) FROM crm.scoring), 0::bigint, 'no cutpoints are stored before the attach');
SELECT is(crm.track_orders('public.app_orders', 'customer', 'created_at', 'total_cents',
                           amount_scale => 2, filter => $$status = 'paid'$$),
          (SELECT count(DISTINCT customer) FROM public.app_orders WHERE status = 'paid'),
          'attaching the uuid-keyed table backfills every customer with a paid order');
SELECT is((SELECT count(*) FROM crm.customer_keys), (SELECT count(*) FROM crm.customers),
    'one key per customer created');
SELECT is((SELECT count(*) FROM crm.customer_keys k JOIN public.app_customers a ON a.id::text = k.app_key),
          (SELECT count(DISTINCT customer) FROM public.app_orders WHERE status = 'paid'),
    'the uuid keys are stored in their canonical text form');
SELECT is((SELECT count(*) FROM crm.customers c JOIN pg_temp.reference() r USING (customer_id)
           WHERE crm.full_summary(c.customer_id, c.summary) IS DISTINCT FROM r.summary), 0::bigint,
    'after the attach every summary equals the reference (cents, filter, Berlin days)');
SELECT is((SELECT count(*) FROM crm.customers WHERE summary IS NOT NULL AND (rfm IS NULL OR segment IS NULL)), 0::bigint,
    'right after the attach every customer with purchases has an RFM score and a segment');
SELECT ok((SELECT count(DISTINCT segment) FROM crm.customers) >= 3, 'the segments differ between customers');
CREATE TEMP TABLE attach_scores AS SELECT customer_id, rfm, segment FROM crm.customers;
CALL crm.refresh('2026-06-30', commit_batches => false);
SELECT is((SELECT count(*) FROM crm.customers c JOIN attach_scores a USING (customer_id)
           WHERE c.rfm IS DISTINCT FROM a.rfm OR c.segment IS DISTINCT FROM a.segment), 0::bigint,
    'the scores and segments of the attach equal those of a refresh on the same date');
-- a second table: scored against the stored cutpoints
SELECT is(crm.track_orders('public.shop_sales', 'client_code', 'sold_at', NULL, mode => 'row',
                           amount_expression => 'price_cents / 100.0 - discount', filter => $$state = 'complete'$$),
          (SELECT count(DISTINCT client_code) FROM public.shop_sales WHERE state = 'complete'),
          'attaching the text-keyed table with an amount expression backfills its customers');
SELECT is(pg_temp.mismatches(), 0::bigint, 'its summaries equal the reference (amount expression, filter, Berlin days)');
SELECT is((SELECT count(*) FROM crm.customer_360 v JOIN crm.customer_keys k USING (customer_id)
           WHERE v.customer_key = k.app_key), (SELECT count(*) FROM crm.customer_keys),
    'crm.customer_360 shows each customer''s application key');

-- ---------------------------------------------------------------------
-- 5,000 random operations from sessions in three time zones
-- ---------------------------------------------------------------------
DO $$
DECLARE
    zones text[] := ARRAY['America/Los_Angeles', 'Asia/Shanghai', 'Pacific/Chatham'];
    i integer;
    op double precision;
    target bigint;
    who uuid;
    k integer;
BEGIN
    FOR i IN 1..5000 LOOP
        PERFORM set_config('TimeZone', zones[1 + floor(random() * 3)::integer], true);
        op := random();
        IF op < 0.25 THEN
            -- n > 200: a customer the table has not seen
            INSERT INTO public.app_customers VALUES (gen_random_uuid(), 201 + i) ON CONFLICT DO NOTHING;
            INSERT INTO public.app_orders (customer, created_at, total_cents, status)
            SELECT id, timestamptz '2025-06-01 00:00+00' + random() * interval '400 days', 100 + floor(random() * 90000)::bigint,
                   (ARRAY['paid', 'pending', 'cancelled'])[1 + floor(random() * 3)::integer]
            FROM public.app_customers WHERE n = CASE WHEN random() < 0.05 THEN 201 + i ELSE 1 + (i * 7919) % 200 END;
        ELSIF op < 0.30 THEN
            INSERT INTO public.app_orders (customer, created_at, total_cents, status)
            SELECT c.id, timestamptz '2026-05-31 20:00+00' + random() * interval '10 hours', 1000 + g, 'paid'
            FROM generate_series(1, 1 + floor(random() * 20)::integer) g
            JOIN public.app_customers c ON c.n = 1 + (g * 37 + i) % 200;
        ELSIF op < 0.42 THEN
            -- status moves: into the filter, out of it, and within it
            SELECT id INTO target FROM public.app_orders ORDER BY random() LIMIT 1;
            UPDATE public.app_orders SET status = (ARRAY['paid', 'pending', 'refunded', 'cancelled'])[1 + floor(random() * 4)::integer]
            WHERE id = target;
        ELSIF op < 0.50 THEN
            SELECT id INTO target FROM public.app_orders ORDER BY random() LIMIT 1;
            UPDATE public.app_orders SET total_cents = 100 + floor(random() * 10000)::bigint,
                                         created_at = created_at + random() * interval '36 hours' - interval '18 hours'
            WHERE id = target;
        ELSIF op < 0.55 THEN
            SELECT id INTO target FROM public.app_orders ORDER BY random() LIMIT 1;
            k := 1 + floor(random() * 200)::integer;
            SELECT id INTO who FROM public.app_customers WHERE n = k;
            UPDATE public.app_orders SET customer = who WHERE id = target;
        ELSIF op < 0.57 THEN
            UPDATE public.app_orders SET status = 'paid' WHERE status = 'pending' AND id % 97 = i % 97;
        ELSIF op < 0.63 THEN
            SELECT id INTO target FROM public.app_orders ORDER BY random() LIMIT 1;
            DELETE FROM public.app_orders WHERE id = target;
        ELSIF op < 0.78 THEN
            INSERT INTO public.shop_sales (client_code, sold_at, price_cents, discount, state)
            VALUES (CASE WHEN random() < 0.03 THEN NULL ELSE 'C-' || (1 + floor(random() * 170)) END,
                    timestamptz '2025-06-01 00:00+00' + random() * interval '400 days',
                    CASE WHEN random() < 0.03 THEN NULL ELSE 100 + floor(random() * 30000)::integer END,
                    round((random() * 3)::numeric, 2), (ARRAY['complete', 'open', 'void'])[1 + floor(random() * 3)::integer]);
        ELSIF op < 0.88 THEN
            SELECT sale_id INTO target FROM public.shop_sales ORDER BY random() LIMIT 1;
            UPDATE public.shop_sales SET state = (ARRAY['complete', 'open', 'void'])[1 + floor(random() * 3)::integer],
                                         discount = round((random() * 3)::numeric, 2)
            WHERE sale_id = target;
        ELSIF op < 0.94 THEN
            SELECT sale_id INTO target FROM public.shop_sales ORDER BY random() LIMIT 1;
            UPDATE public.shop_sales SET client_code = 'C-' || (1 + floor(random() * 170)),
                                         sold_at = sold_at + interval '13 hours'
            WHERE sale_id = target;
        ELSE
            SELECT sale_id INTO target FROM public.shop_sales ORDER BY random() LIMIT 1;
            DELETE FROM public.shop_sales WHERE sale_id = target;
        END IF;
    END LOOP;
END $$;

SET TimeZone = 'Asia/Kolkata';
SELECT cmp_ok((SELECT count(*) FROM public.app_orders WHERE status = 'paid'), '>', 2000::bigint, 'thousands of paid orders');
SELECT ok((SELECT count(*) FROM public.app_orders WHERE (created_at AT TIME ZONE 'Europe/Berlin')::date
                                                     <> (created_at AT TIME ZONE 'America/Los_Angeles')::date) > 500,
    'hundreds of orders fall on another day in the writers'' zones (so the zone matters)');
SELECT is(pg_temp.mismatches(), 0::bigint,
    'after 5,000 random writes from three time zones every customer equals the reference recomputed in a fourth');
SELECT is((SELECT count(*) FROM crm.customers c
           FULL JOIN (SELECT s.customer_id, crm.summarize(s.summary) AS summary
                      FROM crm.table_summaries('public.app_orders') s GROUP BY 1
                      UNION ALL SELECT * FROM crm.table_summaries('public.shop_sales')) r USING (customer_id)
           WHERE r.customer_id IS NOT NULL AND crm.full_summary(c.customer_id, c.summary) IS DISTINCT FROM r.summary), 0::bigint,
    'crm.table_summaries agrees, read from a fourth time zone');
SELECT ok((SELECT count(*) FROM crm.customer_keys WHERE app_key LIKE 'C-%') > 150,
    'text customers created by the writes (C-151 and on are new)');
SELECT is((SELECT count(*) FROM crm.customers c
           WHERE c.rfm IS DISTINCT FROM crm.rfm_score(c.summary, crm.rebase((SELECT cutpoints FROM crm.scoring), '2026-06-30'))), 0::bigint,
    'every maintained RFM score equals the score of the maintained summary');

-- ---------------------------------------------------------------------
-- the business time zone changes only with a rebuild
-- ---------------------------------------------------------------------
SELECT throws_ok($$INSERT INTO crm.settings VALUES ('business_time_zone', 'Asia/Tokyo')$$, '55000', NULL,
    'the zone cannot change in crm.settings while tables are tracked by timestamptz');
SELECT throws_ok($$SELECT crm.set_business_time_zone('Mars/Olympus')$$, '22023', 'time zone "Mars/Olympus" not recognized',
    'an unknown zone is refused');
SELECT is(crm.setting('business_time_zone'), 'Europe/Berlin', 'nothing changed');
SELECT lives_ok($$SELECT crm.set_business_time_zone('Asia/Tokyo')$$, 'crm.set_business_time_zone changes it');
SELECT is(pg_temp.mismatches('Asia/Tokyo'), 0::bigint, 'and the summaries are rebuilt with Tokyo days');
SELECT ok(pg_temp.mismatches('Europe/Berlin') > 0, '(which differ from the Berlin ones)');
INSERT INTO public.app_orders (customer, created_at, total_cents, status)
SELECT id, timestamptz '2026-06-01 16:30+00', 4200, 'paid' FROM public.app_customers WHERE n <= 20;
SELECT is(pg_temp.mismatches('Asia/Tokyo'), 0::bigint, 'later writes count in Tokyo days');

-- refunds and statuses: a refund as its own negative row is a purchase
-- row of negative amount; a status change out of the filter takes the
-- order out
INSERT INTO public.app_orders (customer, created_at, total_cents, status)
SELECT id, timestamptz '2026-06-02 10:00+00', -1500, 'paid' FROM public.app_customers WHERE n = 1;
SELECT is(pg_temp.mismatches('Asia/Tokyo'), 0::bigint, 'a refund row of negative cents is counted');
UPDATE public.app_orders SET status = 'refunded' WHERE total_cents = 4200;
SELECT is(pg_temp.mismatches('Asia/Tokyo'), 0::bigint, 'orders moved out of the filter are taken out');

-- ---------------------------------------------------------------------
-- bad attach arguments: refused, nothing attached
-- ---------------------------------------------------------------------
CREATE TABLE public.bad_orders (id serial, who uuid, doc json, at timestamptz, cents bigint, note text, st text);
INSERT INTO public.bad_orders (who, doc, at, cents, note, st)
VALUES (gen_random_uuid(), '{}', now(), 100, 'x', 'paid');
CREATE TEMP TABLE before_keys AS SELECT count(*) AS n FROM crm.customer_keys;
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'whom', 'at', 'cents')$$, '42703',
    'column "whom" of public.bad_orders does not exist', 'an unknown column is refused');
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'who', 'at', 'cents', filter => 'st = ')$$, '42601', NULL,
    'a filter that does not parse is refused');
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'who', 'at', 'cents', filter => 'random() > 0.5')$$, '42P17',
    'filter "random() > 0.5" is volatile', 'a volatile filter is refused');
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'who', 'at', 'cents', filter => 'st')$$, '42804', NULL,
    'a filter that is not boolean is refused');
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'who', 'at', 'cents', filter => 'st IN (SELECT ''paid'')')$$, '0A000', NULL,
    'a filter with a subquery is refused');
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'who', 'at', NULL, amount_expression => 'note || ''x''')$$, '42804',
    'amount expression "note || ''x''" has type text, not a number', 'an amount expression of the wrong type is refused');
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'who', 'at', NULL, amount_expression => 'nocolumn * 2')$$, '42703', NULL,
    'an amount expression naming an unknown column is refused');
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'doc', 'at', 'cents')$$, '42883',
    'customer column "doc" of public.bad_orders has type json, which has no equality operator', 'a key type with no equality is refused');
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'who', 'at', 'cents', amount_scale => 19)$$, '22023', NULL,
    'an amount scale out of range is refused');
SELECT throws_ok($$SELECT crm.track_orders('public.bad_orders', 'who', 'at', 'cents', amount_expression => 'cents')$$, '22023', NULL,
    'an amount column and an amount expression together are refused');
SELECT ok(NOT EXISTS (SELECT FROM crm.tracked_tables WHERE table_name = 'public.bad_orders'::regclass)
          AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'public.bad_orders'::regclass)
          AND (SELECT count(*) FROM crm.customer_keys) = (SELECT n FROM before_keys),
    'nothing was attached: no row, no trigger, no key');

-- application keys with unknown_customers => 'error': an order of a key
-- not in crm.customer_keys refuses the attach (the smallest such key
-- named), nothing attached; once every key is registered, the attach maps
-- each key to its customer
CREATE TABLE public.known_orders (id serial, who text, at date, amount numeric);
INSERT INTO public.known_orders (who, at, amount)
VALUES ('k-b', '2025-01-02', 10), ('k-a', '2025-01-03', 5), ('k-b', '2025-02-01', 7), ('k-c', '2025-03-01', 1);
SELECT crm.customer_for_key('k-b');
SELECT throws_ok($$SELECT crm.track_orders('public.known_orders', 'who', 'at', 'amount', unknown_customers => 'error')$$, '23503',
    'customer "k-a" of an order in public.known_orders is not in crm.customer_keys',
    'an unregistered key refuses an attach with unknown_customers => error, naming the smallest');
SELECT ok(NOT EXISTS (SELECT FROM crm.tracked_tables WHERE table_name = 'public.known_orders'::regclass)
          AND (SELECT count(*) FROM crm.customer_keys WHERE app_key LIKE 'k-%') = 1,
    'nothing was attached and no key was added');
SELECT crm.customer_for_key('k-a'), crm.customer_for_key('k-c');
SELECT lives_ok($$SELECT crm.track_orders('public.known_orders', 'who', 'at', 'amount', unknown_customers => 'error')$$,
    'with every key registered the attach goes through');
SELECT results_eq(
    $$SELECT k.app_key, crm.total_spend(c.summary), crm.purchase_days(c.summary)
      FROM crm.customer_keys k JOIN crm.customers c USING (customer_id) WHERE k.app_key LIKE 'k-%' ORDER BY 1$$,
    $$VALUES ('k-a', 5::numeric, 1), ('k-b', 17::numeric, 2), ('k-c', 1::numeric, 1)$$,
    'each key''s orders went to its registered customer');

-- application keys, some registered and some not, attached with
-- unknown_customers => 'create': the registered keys' orders go to their
-- customers, the new key gets an id after every id in use (the keys are
-- looked up once, found short, mapped, and looked up again)
CREATE TABLE public.partial_orders (id serial, who text, at date, amount numeric);
INSERT INTO public.partial_orders (who, at, amount)
VALUES ('p-c', '2025-01-02', 4), ('p-b', '2025-01-05', 6), ('p-a', '2025-02-01', 3), ('p-b', '2025-02-02', 2);
CREATE TEMP TABLE partial_before AS SELECT crm.customer_for_key('p-a') AS a, crm.customer_for_key('p-c') AS c;
ALTER TABLE partial_before ADD COLUMN top bigint;
UPDATE partial_before SET top = (SELECT max(customer_id) FROM (SELECT customer_id FROM crm.customers
                                                               UNION ALL SELECT customer_id FROM crm.customer_keys) x);
SELECT lives_ok($$SELECT crm.track_orders('public.partial_orders', 'who', 'at', 'amount')$$,
    'an attach with some keys registered and one not goes through');
SELECT results_eq(
    $$SELECT k.app_key, k.customer_id = CASE k.app_key WHEN 'p-a' THEN b.a WHEN 'p-c' THEN b.c END,
             crm.total_spend(c.summary), crm.purchase_days(c.summary)
      FROM crm.customer_keys k JOIN crm.customers c USING (customer_id), partial_before b
      WHERE k.app_key LIKE 'p-%' ORDER BY 1$$,
    $$VALUES ('p-a', true, 3::numeric, 1), ('p-b', NULL::boolean, 8::numeric, 2), ('p-c', true, 4::numeric, 1)$$,
    'the registered keys'' orders went to their customers, the new key''s to a new one');
SELECT cmp_ok((SELECT customer_id FROM crm.customer_keys WHERE app_key = 'p-b'), '>', (SELECT top FROM partial_before),
    'the new key got an id after every id in use');

SELECT * FROM finish();
ROLLBACK;
