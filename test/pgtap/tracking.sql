-- Order tables and the state crm maintains from them: after a long random
-- mix of inserts, updates, deletes and COPY, every customer's maintained
-- summary, RFM score and segment equal a recompute from the orders; a
-- failing statement changes nothing; attaching and detaching user tables,
-- plain and partitioned.
\ir setup.psql
SELECT plan(55);

SET crm.as_of = '2025-12-31';
SELECT setseed(0.4242);

-- 400 customers; crm.orders (statement triggers, customers must exist) and
-- a user table tracked row by row that creates its customers
INSERT INTO crm.customers (customer_id) SELECT g FROM generate_series(1, 400) g;
CREATE TABLE public.shop_orders (
    id serial PRIMARY KEY,
    buyer integer,
    placed_at timestamptz NOT NULL,
    total double precision,
    status text DEFAULT 'new'
);
SELECT is(crm.track_orders('public.shop_orders', 'buyer', 'placed_at', 'total', mode => 'row'), 0::bigint,
    'attaching an empty table backfills nobody');

-- the reference: every tracked table summarized afresh
CREATE FUNCTION pg_temp.recomputed() RETURNS TABLE (customer_id bigint, summary crm.summary)
LANGUAGE sql AS $$
    SELECT s.customer_id, crm.summarize(s.summary)
    FROM crm.tracked_tables t CROSS JOIN LATERAL crm.table_summaries(t.table_name) s
    GROUP BY 1 $$;
CREATE FUNCTION pg_temp.mismatches() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM crm.customers c FULL JOIN pg_temp.recomputed() r USING (customer_id)
    WHERE crm.full_summary(c.customer_id, c.summary) IS DISTINCT FROM r.summary $$;

-- 10,000 random operations, each its own statement (fewer when the
-- setting crm_test.tracking_ops says so: the run under valgrind)
SELECT coalesce(nullif(current_setting('crm_test.tracking_ops', true), '')::integer, 10000) AS tracking_ops \gset
DO $$
DECLARE
    i integer;
    op double precision;
    k integer;
    target bigint;
BEGIN
    FOR i IN 1..coalesce(nullif(current_setting('crm_test.tracking_ops', true), '')::integer, 10000) LOOP
        op := random();
        IF op < 0.35 THEN
            INSERT INTO crm.orders (customer_id, ordered_on, amount)
            VALUES (1 + floor(random() * 400), date '2024-01-01' + floor(random() * 700)::integer,
                    round((random() * 200 - 20)::numeric, 2));
        ELSIF op < 0.45 THEN
            k := 2 + floor(random() * 30);
            INSERT INTO crm.orders (customer_id, ordered_on, amount)
            SELECT 1 + floor(random() * 400), date '2024-01-01' + floor(random() * 700)::integer,
                   round((random() * 100)::numeric, 2)
            FROM generate_series(1, k);
        ELSIF op < 0.55 THEN
            SELECT order_id INTO target FROM crm.orders ORDER BY random() LIMIT 1;
            UPDATE crm.orders SET amount = round((random() * 300)::numeric, 2),
                                  ordered_on = ordered_on + floor(random() * 5)::integer
            WHERE order_id = target;
        ELSIF op < 0.60 THEN
            SELECT order_id INTO target FROM crm.orders ORDER BY random() LIMIT 1;
            UPDATE crm.orders SET customer_id = 1 + floor(random() * 400) WHERE order_id = target;
        ELSIF op < 0.65 THEN
            -- a bulk update of another column: no summary changes
            UPDATE crm.orders SET note = 'seen ' || i WHERE customer_id = 1 + floor(random() * 400);
        ELSIF op < 0.72 THEN
            SELECT order_id INTO target FROM crm.orders ORDER BY random() LIMIT 1;
            DELETE FROM crm.orders WHERE order_id = target;
        ELSIF op < 0.74 THEN
            DELETE FROM crm.orders WHERE customer_id = 1 + floor(random() * 400) AND ordered_on < date '2024-03-01';
        ELSIF op < 0.88 THEN
            INSERT INTO public.shop_orders (buyer, placed_at, total)
            VALUES (1 + floor(random() * 450), timestamptz '2024-01-01 12:00+00' + random() * interval '700 days',
                    CASE WHEN random() < 0.05 THEN NULL ELSE round((random() * 150)::numeric, 2) END);
        ELSIF op < 0.95 THEN
            SELECT id INTO target FROM public.shop_orders ORDER BY random() LIMIT 1;
            UPDATE public.shop_orders SET total = round((random() * 80)::numeric, 2), status = 'changed' WHERE id = target;
        ELSE
            SELECT id INTO target FROM public.shop_orders ORDER BY random() LIMIT 1;
            DELETE FROM public.shop_orders WHERE id = target;
        END IF;
    END LOOP;
END $$;

-- COPY through the statement path: 5,000 rows in one statement
CREATE TEMP TABLE copy_src AS
SELECT 1 + floor(random() * 400)::bigint AS customer_id, date '2024-01-01' + floor(random() * 700)::integer AS ordered_on,
       round((random() * 100)::numeric, 2) AS amount
FROM generate_series(1, 5000);
SELECT '/tmp/crm_tap_copy_' || pg_backend_pid() || '.csv' AS csvfile \gset
SELECT 'cat ' || :'csvfile' || ' && rm -f ' || :'csvfile' AS csvread \gset
COPY copy_src TO :'csvfile' (FORMAT csv);
COPY crm.orders (customer_id, ordered_on, amount) FROM PROGRAM :'csvread' (FORMAT csv);
-- and one UPDATE and one DELETE touching thousands of rows
UPDATE crm.orders SET amount = amount + 1 WHERE order_id % 3 = 0;
DELETE FROM crm.orders WHERE order_id % 7 = 0;

-- statements touching thousands of customers take the bulk plans planned
-- per call (from 2,000 customers on)
INSERT INTO crm.customers (customer_id) SELECT g FROM generate_series(1001, 4000) g;
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 1001 + g % 3000, date '2024-06-01' + g % 300, (g % 97) + 0.25 FROM generate_series(1, 9000) g;
UPDATE crm.orders SET amount = amount * 2 WHERE customer_id > 1000 AND order_id % 2 = 0;
DELETE FROM crm.orders WHERE customer_id > 1000 AND order_id % 5 = 0;

SELECT cmp_ok((SELECT count(*) FROM crm.orders), '>', 8000::bigint, 'thousands of orders remain');
SELECT is(pg_temp.mismatches(), 0::bigint,
    format('after %s random statements, COPY, bulk UPDATE and DELETE: every summary equals a recompute from the orders', :tracking_ops));
SELECT ok(EXISTS (SELECT FROM public.shop_orders WHERE buyer > 400 AND total IS NOT NULL)
          AND (SELECT count(*) FROM crm.customers WHERE customer_id BETWEEN 401 AND 1000) > 0
          AND NOT EXISTS (SELECT FROM public.shop_orders WHERE total IS NOT NULL
                          AND buyer NOT IN (SELECT customer_id FROM crm.customers)),
    'the row-mode table created its unknown customers');

-- scores: a refresh, then more writes scored against its cutpoints
SELECT throws_ok($$CALL crm.refresh(batch_size => 0, commit_batches => false)$$, '22023', 'batch_size must be at least 1',
    'a refresh in batches of 0 is refused');
CALL crm.refresh(batch_size => 97, commit_batches => false);
SELECT is((SELECT count(*) FROM crm.customers c
           WHERE c.rfm IS DISTINCT FROM crm.rfm_score(c.summary, (SELECT cutpoints FROM crm.scoring))), 0::bigint,
    'refresh in batches scores every customer against the new cutpoints');
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 1 + floor(random() * 400), date '2025-12-01' + floor(random() * 30)::integer, round((random() * 500)::numeric, 2)
FROM generate_series(1, 300);
SELECT is((SELECT count(*) FROM crm.customers c
           WHERE c.rfm IS DISTINCT FROM crm.rfm_score(c.summary, crm.rebase((SELECT cutpoints FROM crm.scoring), '2025-12-31'))), 0::bigint,
    'orders written after the refresh rescore their customers against the stored cutpoints');
SELECT is((SELECT count(*) FROM crm.customers WHERE summary IS NOT NULL AND (rfm IS NULL OR segment IS NULL)), 0::bigint,
    'every customer with purchases has an RFM score and a segment (so the comparisons above are not vacuous)');
SELECT is((SELECT count(*) FROM crm.customers c
           WHERE c.rfm IS NOT NULL AND c.segment IS DISTINCT FROM crm.rfm_segment(c.rfm)), 0::bigint,
    'the maintained segment is the rfm_segments label of the maintained score');
SELECT is((SELECT count(*) FROM crm.customers WHERE summary IS NOT NULL AND stage = 'prospect'), 0::bigint,
    'every customer with purchases has left prospect (inferred on write)');
SELECT is((SELECT format('%s mismatches of %s customers', count(*) FILTER (WHERE h.n IS DISTINCT FROM 1 OR c.customer_id IS NULL),
                          CASE WHEN count(c.customer_id) > 100 THEN 'over 100' ELSE count(c.customer_id)::text END)
           FROM (SELECT customer_id, count(*) AS n FROM crm.stage_history
                 WHERE source = 'inference' AND from_stage = 'prospect' GROUP BY 1) h
           FULL JOIN (SELECT customer_id FROM crm.customers WHERE summary IS NOT NULL OR stage <> 'prospect') c
             ON c.customer_id = h.customer_id),
          '0 mismatches of over 100 customers',
    'each customer''s first purchase is in the history, once, from prospect, with source inference, and nobody else''s (customers inserted first, and created by their first order)');
SELECT is((SELECT count(*) FROM crm.customers c
           WHERE c.stage IS DISTINCT FROM (SELECT h.to_stage FROM crm.stage_history h WHERE h.customer_id = c.customer_id
                                          ORDER BY h.changed_at DESC, h.history_id DESC LIMIT 1)
             AND EXISTS (SELECT FROM crm.stage_history h WHERE h.customer_id = c.customer_id)), 0::bigint,
    'every customer''s stage is where its history ends: the walk''s moves are all recorded, in order');

-- a failing statement changes nothing
CREATE TEMP TABLE before_state AS SELECT customer_id, summary, rfm, stage FROM crm.customers;
CREATE FUNCTION pg_temp.unchanged() RETURNS boolean LANGUAGE sql AS $$
    SELECT NOT EXISTS (SELECT FROM crm.customers c FULL JOIN before_state b USING (customer_id)
                       WHERE c.summary IS DISTINCT FROM b.summary OR c.rfm IS DISTINCT FROM b.rfm
                          OR c.stage IS DISTINCT FROM b.stage) $$;
SELECT throws_ok($$INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-01-01', 5), (99999, '2025-01-01', 5)$$,
    '23503', NULL, 'an order of an unknown customer is refused (23503)');
SELECT throws_ok($$INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (99999, '2025-01-01', 5)$$,
    '23503', 'customer 99999 of an order in "orders" is not in crm.customers', 'so is a single order of an unknown customer');
SELECT throws_ok($$INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-01-01', 'NaN')$$,
    '23514', NULL, 'a NaN amount is refused by crm.orders (23514)');
SELECT throws_ok($$INSERT INTO public.shop_orders (buyer, placed_at, total) VALUES (2, now(), 'Infinity')$$,
    '22023', 'total must be a finite number', 'an infinite amount in a tracked user table is refused (22023)');
SELECT throws_ok($$INSERT INTO public.shop_orders (buyer, placed_at, total) VALUES (2, 'infinity', 10)$$,
    '22023', 'placed_at must be a finite date', 'an infinite date is refused (22023)');
SELECT throws_ok($$UPDATE crm.customers SET stage = 'stable' WHERE stage = 'exploration'$$,
    '23514', NULL, 'an illegal stage change is refused (23514)');
SELECT throws_ok($$TRUNCATE crm.orders$$, '55000', NULL, 'TRUNCATE of a tracked table is refused (55000)');
SELECT ok(pg_temp.unchanged(), 'and none of those failed statements changed any customer');
-- the same customers written again: nothing of the failed statements lingers
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-01-01', 5);
INSERT INTO public.shop_orders (buyer, placed_at, total) VALUES (2, '2025-06-01', 3);
SELECT is(pg_temp.mismatches(), 0::bigint, 'nor broke the match with the orders');

-- the summary arithmetic the paths above rest on
SELECT is(crm.subtract('{2024-01-01:10,2024-01-02:5x2,2024-01-03:-4x0}', '{2024-01-02:3,2024-01-03:-4x0}')::text,
          '{2024-01-01:10,2024-01-02:2}', 'subtract takes out a purchase and a refund-only day');
SELECT throws_ok($$SELECT crm.subtract('{2024-01-01:10}', '{2024-01-02:3}')$$, '22023',
    'subtract: the summary holds no such transaction',
    'subtracting a transaction the summary does not hold is an error');
SELECT is(crm.apply_changes('{2024-01-01:10}', '{2024-01-05:7}', '{2024-01-01:10}')::text, '{2024-01-05:7}',
          'apply_changes adds, then removes');
SELECT is(crm.apply_changes('{2024-01-01:10}', NULL, '{2024-01-01:10}'), NULL,
          'and gives NULL when nothing is left (a customer with no orders has no summary)');

-- attach: plain and partitioned tables, backfill equals recompute
CREATE TABLE public.legacy (ref text, cust bigint, day date, value numeric(12, 2), extra jsonb);
INSERT INTO public.legacy
SELECT 'L' || g, 1 + (g * 7919) % 500, date '2023-01-01' + (g * 31) % 900, round(((g * 37) % 1000) / 7.0, 2), '{}'
FROM generate_series(1, 3000) g;
CREATE TABLE public.parted (cust integer, at timestamp, amount numeric) PARTITION BY RANGE (at);
CREATE TABLE public.parted_2023 PARTITION OF public.parted FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE public.parted_2024 PARTITION OF public.parted FOR VALUES FROM ('2024-01-01') TO ('2026-01-01');
INSERT INTO public.parted
SELECT 1 + (g * 104729) % 300, timestamp '2023-01-01' + ((g * 13) % 1000) * interval '1 day', (g % 50) + 0.5
FROM generate_series(1, 2000) g;

CREATE TEMP TABLE legacy_before AS
SELECT (SELECT md5(string_agg(l::text, ',' ORDER BY ref)) FROM public.legacy l) AS data,
       (SELECT string_agg(pg_get_triggerdef(t.oid), ';') FROM pg_trigger t WHERE t.tgrelid = 'public.legacy'::regclass) AS triggers,
       (SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
        FROM pg_attribute WHERE attrelid = 'public.legacy'::regclass AND attnum > 0) AS columns;

SELECT is(crm.track_orders('public.legacy', 'cust', 'day', 'value'), 500::bigint, 'attaching a plain table backfills its 500 customers');
SELECT is(crm.track_orders('public.parted', 'cust', 'at', 'amount'), 300::bigint, 'attaching a partitioned table backfills its 300 customers');
SELECT is(pg_temp.mismatches(), 0::bigint, 'after both backfills every summary equals a recompute from the four tables');
INSERT INTO public.parted SELECT 7, timestamp '2025-03-01' + g * interval '1 day', 10 FROM generate_series(1, 20) g;
UPDATE public.parted SET at = at + interval '400 days' WHERE cust = 8 AND at < '2024-01-01';  -- moves rows across partitions
DELETE FROM public.legacy WHERE cust = 9;
SELECT is(pg_temp.mismatches(), 0::bigint, 'writes to the partitioned table (including rows moving between partitions) stay exact');
-- new orders of known and unknown customers in one statement
CREATE TEMP TABLE before_parted AS SELECT customer_id FROM crm.customers;
INSERT INTO public.parted SELECT 250 + g % 2600, timestamp '2025-06-01' + (g % 90) * interval '1 day', g % 40 + 1
FROM generate_series(1, 6000) g;
INSERT INTO public.parted VALUES (5, '2025-07-01', 3), (6000, '2025-07-02', 4);
SELECT is(pg_temp.mismatches(), 0::bigint, 'bulk inserts creating customers stay exact');
SELECT ok((SELECT count(DISTINCT cust) FROM public.parted WHERE cust NOT IN (SELECT customer_id FROM before_parted)) > 100
          AND (SELECT count(*) FROM crm.customers WHERE customer_id NOT IN (SELECT customer_id FROM before_parted) AND stage <> 'prospect')
              = (SELECT count(DISTINCT cust) FROM public.parted WHERE cust NOT IN (SELECT customer_id FROM before_parted)),
    'and the customers they create start in their inferred stage');
SELECT throws_ok($$SELECT crm.track_orders('public.legacy', 'cust', 'day', 'value')$$, '42710', NULL,
    'attaching a table twice is refused (42710)');
SELECT throws_ok($$SELECT crm.track_orders('public.parted_2023', 'cust', 'at', 'amount')$$, '42809', NULL,
    'attaching a partition is refused (42809)');
CREATE TABLE public.texty (cust bigint, day date, value text);
SELECT throws_ok($$SELECT crm.track_orders('public.texty', 'cust', 'day', 'value')$$, '42804', NULL,
    'a text amount column is refused (42804)');
SELECT throws_ok($$SELECT crm.track_orders('public.texty', 'cust', 'day', 'nope')$$, '42703', NULL,
    'a missing column is refused (42703)');

-- detach: the user's table exactly as before; forget => true takes its orders out
CREATE TEMP TABLE legacy_data AS SELECT md5(string_agg(l::text, ',' ORDER BY ref)) AS data FROM public.legacy l;
SELECT lives_ok($$SELECT crm.untrack_orders('public.legacy', forget => true)$$, 'detaching with forget');
SELECT is((SELECT md5(string_agg(l::text, ',' ORDER BY ref)) FROM public.legacy l), (SELECT data FROM legacy_data),
    'detaching leaves the user''s rows as they were');
SELECT is((SELECT string_agg(pg_get_triggerdef(t.oid), ';') FROM pg_trigger t WHERE t.tgrelid = 'public.legacy'::regclass),
          (SELECT triggers FROM legacy_before), 'and its triggers as before attaching (none)');
SELECT is((SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
           FROM pg_attribute WHERE attrelid = 'public.legacy'::regclass AND attnum > 0),
          (SELECT columns FROM legacy_before), 'and its columns as before');
SELECT is(pg_temp.mismatches(), 0::bigint, 'forget took exactly its orders out of the summaries');

-- single-order writes (customer.c) score against the cutpoints and the
-- rfm_segments scheme the backend caches; a change of either is seen by the
-- very next write
CALL crm.refresh(commit_batches => false);
DO $$
BEGIN
    FOR i IN 1..60 LOOP
        INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1 + (i * 37) % 400, date '2025-12-02' + i % 25, 10 + i);
    END LOOP;
END $$;
SELECT is((SELECT count(*) FROM crm.customers c
           WHERE c.customer_id IN (SELECT 1 + (i * 37) % 400 FROM generate_series(1, 60) i)
             AND (c.rfm IS NULL OR c.rfm IS DISTINCT FROM crm.rfm_score(c.summary, crm.rebase((SELECT cutpoints FROM crm.scoring), '2025-12-31'))
                  OR c.segment IS DISTINCT FROM crm.rfm_segment(c.rfm))), 0::bigint,
    'single-order writes score against the stored cutpoints and label with rfm_segments');
UPDATE crm.segment_labels SET label = label || ' (renamed)' WHERE scheme = 'rfm_segments';
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (38, '2025-12-30', 12);
SELECT matches((SELECT segment FROM crm.customers WHERE customer_id = 38), ' [(]renamed[)]$',
    'a renamed segment label is written by the next single-order write (the cached scheme was dropped)');
SELECT is((SELECT segment FROM crm.customers WHERE customer_id = 38), (SELECT crm.rfm_segment(rfm) FROM crm.customers WHERE customer_id = 38),
    'and it is the label crm.rfm_segment() gives');
DELETE FROM crm.scoring;
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (38, '2025-12-30', 12);
SELECT is((SELECT rfm FROM crm.customers WHERE customer_id = 38), NULL,
    'without stored cutpoints the next single-order write leaves no score (the cached cutpoints were dropped)');

-- the direct writes skip only crm's own CHECKs on columns they copy: a
-- site's own constraint is evaluated, and a violation changes nothing
ALTER TABLE crm.customers ADD CONSTRAINT scored_before_cutoff CHECK (scored_on < date '2025-12-31') NOT VALID;
CREATE TEMP TABLE before_check AS SELECT * FROM crm.customers WHERE customer_id = 38;
SELECT throws_like($$INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (38, '2025-12-30', 1)$$,
    '%scored_before_cutoff%',
    'a CHECK constraint of the site''s own on crm.customers is evaluated by the maintenance writes');
SELECT is((SELECT count(*) FROM crm.customers c JOIN before_check b USING (customer_id)
           WHERE c.summary IS NOT DISTINCT FROM b.summary AND c.scored_on IS NOT DISTINCT FROM b.scored_on), 1::bigint,
    'and the refused order changed nothing');
ALTER TABLE crm.customers DROP CONSTRAINT scored_before_cutoff;

-- a BEFORE UPDATE row trigger of the site's own fires for maintenance writes
CREATE FUNCTION pg_temp.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := 'touched'; RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE UPDATE ON crm.customers FOR EACH ROW EXECUTE FUNCTION pg_temp.touch();
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (38, '2025-12-30', 1);
SELECT is((SELECT name FROM crm.customers WHERE customer_id = 38), 'touched',
    'a BEFORE UPDATE row trigger of the site''s own on crm.customers fires for the maintenance writes');
DROP TRIGGER touch ON crm.customers;
CREATE TEMP TABLE seen_updates (customer_id bigint, summary text);
CREATE FUNCTION pg_temp.seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO seen_updates VALUES (NEW.customer_id, NEW.summary::text); RETURN NULL; END $$;
CREATE TRIGGER seen AFTER UPDATE ON crm.customers FOR EACH ROW EXECUTE FUNCTION pg_temp.seen();
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (38, '2025-12-30', 1), (39, '2025-12-30', 1);
SELECT is((SELECT count(*) FROM seen_updates s JOIN crm.customers c USING (customer_id)
           WHERE s.summary = c.summary::text AND s.summary LIKE '%2025-12-30:%'), 2::bigint,
    'an AFTER UPDATE row trigger of the site''s own fires for each customer the maintenance writes, seeing the new row');
DROP TRIGGER seen ON crm.customers;

-- customers created by one statement share one foreign-key check of their
-- defaults: a default that references nothing still fails the statement
CREATE TABLE public.fk_orders (buyer bigint, day date, total numeric);
SELECT crm.track_orders('public.fk_orders', 'buyer', 'day', 'total') \g /dev/null
ALTER TABLE crm.customers ALTER COLUMN customer_class SET DEFAULT 'no such class';
SELECT throws_like($$INSERT INTO public.fk_orders VALUES (90001, '2025-12-01', 5), (90002, '2025-12-02', 6), (90003, '2025-12-02', 7)$$,
    '%customers_customer_class_fkey%', 'new customers whose default class is not in crm.level_targets are refused (23503)');
SELECT is((SELECT count(*) FROM crm.customers WHERE customer_id IN (90001, 90002, 90003)), 0::bigint,
    'and none of them is created');
ALTER TABLE crm.customers ALTER COLUMN customer_class SET DEFAULT 'residential';
INSERT INTO public.fk_orders VALUES (90001, '2025-12-01', 5), (90002, '2025-12-02', 6), (90003, '2025-12-02', 7);
SELECT is((SELECT count(*) FROM crm.customers WHERE customer_id IN (90001, 90002, 90003) AND customer_class = 'residential'
           AND summary IS NOT NULL AND stage <> 'prospect'), 3::bigint,
    'with a valid default the statement creates them all, each with its class, summary and stage');

-- crm.stage_history has two writers: the order trigger inserts its rows
-- directly, a user's UPDATE goes through the history trigger; both fill
-- every column alike
INSERT INTO crm.customers (customer_id) VALUES (95001), (95002), (95003), (95004);
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (95001, '2025-12-20', 5);
UPDATE crm.customers SET stage = 'exploration', stage_reason = 'first_purchase' WHERE customer_id = 95002;
SELECT is((SELECT string_agg(format('%s %s>%s %s>%s %s %s %s %s', customer_id, from_stage, to_stage, from_level, to_level,
                                    changed_at = now(), changed_by = session_user, reason, source), '; ' ORDER BY customer_id)
           FROM crm.stage_history WHERE customer_id IN (95001, 95002)),
    '95001 prospect>exploration transaction>transaction t t first_purchase inference; '
    '95002 prospect>exploration transaction>transaction t t first_purchase user',
    'the order trigger and a user''s UPDATE write history rows alike: levels, the transaction''s time, the session user, the reason');
-- the writer keeps the history's column defaults from one statement to the
-- next (parsed once per backend), and takes a changed one at once
INSERT INTO crm.customers (customer_id) VALUES (95005), (95006);
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (95005, '2025-12-20', 5);
ALTER TABLE crm.stage_history ALTER COLUMN changed_by SET DEFAULT 'auditor';
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (95006, '2025-12-20', 5);
ALTER TABLE crm.stage_history ALTER COLUMN changed_by SET DEFAULT SESSION_USER;
SELECT is((SELECT string_agg(format('%s %s %s', customer_id, changed_by = session_user, changed_by = 'auditor'), '; ' ORDER BY customer_id)
           FROM crm.stage_history WHERE customer_id IN (95005, 95006)),
    '95005 t f; 95006 f t', 'a changed default of crm.stage_history applies to the next statement''s history rows');
-- and computes every stored generated column of crm.customers, a site's
-- own added after the writer kept the table's expressions included
ALTER TABLE crm.customers ADD COLUMN twice_days integer GENERATED ALWAYS AS (crm.purchase_days(summary) * 2) STORED;
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (95005, '2025-12-21', 5);
SELECT is((SELECT format('%s %s', twice_days, purchase_days) FROM crm.customers WHERE customer_id = 95005), '4 2',
    'a generated column of the site''s own on crm.customers is computed by the order trigger''s writes');
ALTER TABLE crm.customers DROP COLUMN twice_days;
SET LOCAL crm.change_time = '2025-12-24 10:00+00';
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (95003, '2025-12-20', 5);
UPDATE crm.customers SET stage = 'exploration', stage_reason = 'first_purchase' WHERE customer_id = 95004;
RESET crm.change_time;
SELECT is((SELECT string_agg(customer_id || ' ' || changed_at::text, '; ' ORDER BY customer_id) FROM crm.stage_history
           WHERE customer_id IN (95003, 95004)),
    (SELECT format('95003 %s; 95004 %s', t, t) FROM CAST('2025-12-24 10:00+00' AS timestamptz) t),
    'both take their time from crm.change_time when it is set');

SELECT * FROM finish();
ROLLBACK;
