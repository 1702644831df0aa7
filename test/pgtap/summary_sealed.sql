-- Long histories (issue 17): a sealed summary answers every question as
-- of its seal date or later exactly as the full day list does, checked
-- against a plain recomputation from the orders for random histories of
-- up to 20,000 days; what it cannot answer is an error; the order
-- trigger's writer keeps a 10,000-day customer's row small and its state
-- equal to a recompute through random inserts, updates and deletes, old
-- days included.
\ir setup.psql
SELECT plan(37);

SELECT setseed(0.1717);

-- 24 customers, histories of 1 to 20,000 days ending 2025-12-31: one to
-- three orders a day on about 70% of the days, about 4% refunds (and some
-- refund-only days), amounts with 2 decimals
CREATE TEMP TABLE lengths AS
SELECT c AS customer_id, CASE WHEN c <= 4 THEN 20000 ELSE 1 + floor(random() * 20000)::integer END AS ndays
FROM generate_series(1, 24) c;
CREATE TEMP TABLE h AS
SELECT l.customer_id, DATE '2025-12-31' - d AS day,
       CASE WHEN random() < 0.04 THEN -round((random() * 50)::numeric, 2)
            ELSE round((random() * 300)::numeric, 2) END AS amount
FROM lengths l, generate_series(0, l.ndays - 1) d, LATERAL generate_series(1, 1 + floor(random() * 3)::integer) o
WHERE random() < 0.7 + 0 * o;
CREATE INDEX ON h (customer_id, day);
ANALYZE h;
SELECT ok((SELECT max(n) FROM (SELECT count(DISTINCT day) AS n FROM h GROUP BY customer_id) q) > 13000,
    'the longest random histories hold more than 13,000 days');

-- full and sealed summaries; each customer sealed at 4 dates (one before
-- its first day, three within its history), each cut asked at 4 as-of
-- dates on or after the seal: the documented exact range
CREATE TEMP TABLE full_s AS SELECT customer_id, crm.summarize(day, amount) AS s FROM h GROUP BY 1;
CREATE TEMP TABLE cases AS
SELECT f.customer_id, t.through, a.as_of, crm.seal(f.s, t.through) AS sealed, f.s AS full_summary
FROM full_s f
JOIN lengths l USING (customer_id)
CROSS JOIN LATERAL (SELECT DATE '2025-12-31' - l.ndays - 3 AS through
                    UNION ALL SELECT DATE '2025-12-31' - floor(random() * l.ndays)::integer FROM generate_series(1, 3)) t
CROSS JOIN LATERAL (SELECT least(t.through + floor(random() * (DATE '2026-01-10' - t.through))::integer, DATE '2026-01-10') AS as_of
                    FROM generate_series(1, 3)
                    UNION ALL SELECT t.through) a;
SELECT is((SELECT count(*) FROM cases), 24 * 4 * 4::bigint, '384 cases: 24 customers x 4 seal dates x 4 as-of dates');

-- the plain recomputation: per day purchases (orders >= 0) and net amount,
-- then the figures from the days on or before as_of
CREATE TEMP TABLE plain_days AS
SELECT customer_id, day, count(*) FILTER (WHERE amount >= 0) AS purchases, sum(amount) AS net
FROM h GROUP BY 1, 2;
CREATE INDEX ON plain_days (customer_id, day);
CREATE TEMP TABLE expected AS
SELECT c.customer_id, c.through, c.as_of,
       (SELECT count(*) FILTER (WHERE purchases > 0) FROM plain_days p WHERE p.customer_id = c.customer_id AND p.day <= c.as_of) AS purchase_days,
       (SELECT coalesce(sum(purchases), 0) FROM plain_days p WHERE p.customer_id = c.customer_id AND p.day <= c.as_of) AS orders,
       (SELECT coalesce(sum(net), 0) FROM plain_days p WHERE p.customer_id = c.customer_id AND p.day <= c.as_of) AS total,
       (SELECT min(day) FROM plain_days p WHERE p.customer_id = c.customer_id AND p.day <= c.as_of AND purchases > 0) AS first_day,
       (SELECT max(day) FROM plain_days p WHERE p.customer_id = c.customer_id AND p.day <= c.as_of AND purchases > 0) AS last_day,
       (SELECT sum(net) FROM plain_days p WHERE p.customer_id = c.customer_id AND p.day <= c.as_of AND purchases > 0
          AND p.day > (SELECT min(day) FROM plain_days q WHERE q.customer_id = c.customer_id AND q.purchases > 0)) AS repeat_total,
       (SELECT count(*) FILTER (WHERE purchases > 0) FROM plain_days p WHERE p.customer_id = c.customer_id) AS all_purchase_days,
       (SELECT sum(net) FROM plain_days p WHERE p.customer_id = c.customer_id) AS all_total,
       (SELECT sum(purchases) FROM plain_days p WHERE p.customer_id = c.customer_id) AS all_orders,
       (SELECT min(day) FROM plain_days p WHERE p.customer_id = c.customer_id AND purchases > 0) AS all_first,
       (SELECT max(day) FROM plain_days p WHERE p.customer_id = c.customer_id AND purchases > 0) AS all_last,
       (SELECT sum(net) FROM plain_days p WHERE p.customer_id = c.customer_id AND purchases > 0
          AND p.day > (SELECT min(day) FROM plain_days q WHERE q.customer_id = c.customer_id AND q.purchases > 0)) AS all_repeat
FROM cases c;

-- the whole history
SELECT is((SELECT count(*) FROM cases c JOIN expected e USING (customer_id, through, as_of)
           WHERE crm.purchase_days(c.sealed) <> e.all_purchase_days
              OR crm.order_count(c.sealed) <> e.all_orders
              OR crm.total_spend(c.sealed) <> e.all_total
              OR crm.first_purchase(c.sealed) IS DISTINCT FROM e.all_first
              OR crm.last_purchase(c.sealed) IS DISTINCT FROM e.all_last
              OR crm.repeat_purchases(c.sealed) IS DISTINCT FROM e.all_purchase_days - 1
              OR crm.mean_repeat_spend(c.sealed) IS DISTINCT FROM
                 CASE WHEN e.all_purchase_days > 1 THEN e.all_repeat::float8 / (e.all_purchase_days - 1) END), 0::bigint,
    'sealed: purchase days, orders, total, first and last purchase, repeat purchases and mean repeat spend equal the recomputation');
-- as of dates on or after the seal
SELECT is((SELECT count(*) FROM cases c JOIN expected e USING (customer_id, through, as_of)
           WHERE crm.days_since_last_purchase(c.sealed, c.as_of) IS DISTINCT FROM c.as_of - e.last_day), 0::bigint,
    'sealed: recency as of every date on or after the seal equals the recomputation');
SELECT is((SELECT count(*) FROM cases c JOIN expected e USING (customer_id, through, as_of)
           WHERE (crm.btyd_triple(c.sealed, c.as_of, '1 week')).x IS DISTINCT FROM (CASE WHEN e.purchase_days > 0 THEN e.purchase_days - 1 END)::integer
              OR (crm.btyd_triple(c.sealed, c.as_of, '1 week')).t_x IS DISTINCT FROM (e.last_day - e.first_day) / 7.0::float8
              OR (crm.btyd_triple(c.sealed, c.as_of, '1 week'))."T" IS DISTINCT FROM (c.as_of - e.first_day) / 7.0::float8), 0::bigint,
    'sealed: the BTYD triple as of every date on or after the seal equals the recomputation');
SELECT is((SELECT count(*) FROM cases c JOIN expected e USING (customer_id, through, as_of)
           WHERE crm.purchase_days(crm.as_of(c.sealed, c.as_of)) <> e.purchase_days
              OR crm.order_count(crm.as_of(c.sealed, c.as_of)) <> e.orders
              OR crm.total_spend(crm.as_of(c.sealed, c.as_of)) <> e.total
              OR crm.first_purchase(crm.as_of(c.sealed, c.as_of)) IS DISTINCT FROM e.first_day
              OR crm.mean_repeat_spend(crm.as_of(c.sealed, c.as_of)) IS DISTINCT FROM
                 CASE WHEN e.purchase_days > 1 THEN e.repeat_total::float8 / (e.purchase_days - 1) END), 0::bigint,
    'sealed: as_of cuts on or after the seal give the recomputed figures as of that date');
SELECT is((SELECT count(*) FROM cases c
           WHERE crm.as_of(c.sealed, c.as_of) <> crm.seal(crm.as_of(c.full_summary, c.as_of), c.through)), 0::bigint,
    'sealed: an as_of cut of the sealed summary is the sealed cut of the full one');
-- scores and models read the same answers
CREATE TEMP TABLE cp AS SELECT crm.rfm_quantiles(s, DATE '2025-12-31') AS c FROM full_s;
SELECT is((SELECT count(*) FROM cases c, cp
           WHERE crm.rfm_score(c.sealed, cp.c) IS DISTINCT FROM crm.rfm_score(c.full_summary, cp.c)), 0::bigint,
    'sealed: RFM scores equal those of the full summary');
SELECT is((SELECT crm.rfm_quantiles(crm.seal(s, DATE '2025-06-30'), DATE '2025-12-31')::text FROM full_s),
          (SELECT c::text FROM cp), 'sealed: RFM cutpoints equal those of the full summaries');
SELECT is((SELECT crm.fit_bgnbd(crm.seal(s, DATE '2025-06-30'), DATE '2025-12-31', '1 week', 0.001)::text FROM full_s),
          (SELECT crm.fit_bgnbd(s, DATE '2025-12-31', '1 week', 0.001)::text FROM full_s),
    'sealed: a BG/NBD fit equals the fit on the full summaries');
SELECT is((SELECT count(*) FROM cases c, (SELECT crm.fit_bgnbd(s, DATE '2025-12-31', '1 week', 0.001) AS m FROM full_s) m
           WHERE c.as_of >= DATE '2025-12-31'
             AND crm.p_alive(m.m, c.sealed, c.as_of) IS DISTINCT FROM crm.p_alive(m.m, c.full_summary, c.as_of)), 0::bigint,
    'sealed: P(alive) equals that of the full summary');
-- stage inference: windows (as_of - 180, as_of] after the seal date
SELECT is((SELECT count(*) FROM cases c, (VALUES ('exploration'::crm.stage), ('stable'), ('decline')) st(stage)
           WHERE c.as_of - 180 >= c.through
             AND crm.infer_stage(st.stage, c.sealed, c.as_of) IS DISTINCT FROM crm.infer_stage(st.stage, c.full_summary, c.as_of)), 0::bigint,
    'sealed: stage inference with both windows after the seal equals that of the full summary');
SELECT ok((SELECT count(*) FROM cases c WHERE c.as_of - 180 >= c.through) >= 24,
    'at least 24 cases have both stage windows after the seal');

-- I/O
SELECT is((SELECT count(*) FROM cases WHERE sealed::text::crm.summary <> sealed), 0::bigint,
    'sealed: text output reads back equal');
CREATE TEMP TABLE bin_in (customer_id integer, through date, as_of date, sealed crm.summary);
SELECT '/tmp/crm_sealed_test_' || pg_backend_pid() || '.bin' AS binfile \gset
COPY (SELECT customer_id, through, as_of, sealed FROM cases) TO :'binfile' (FORMAT binary);
SELECT 'cat ' || :'binfile' || ' && rm -f ' || :'binfile' AS binread \gset
COPY bin_in FROM PROGRAM :'binread' (FORMAT binary);
SELECT is((SELECT count(*) FROM cases c JOIN bin_in b USING (customer_id, through, as_of) WHERE b.sealed = c.sealed), 384::bigint,
    'sealed: binary COPY out and in gives equal values');
SELECT is('{sealed 2024-01-31: days 2, orders 3, total 12, first 2024-01-01:10, last 2024-01-05, repeat 5; 2024-02-01:7}'::crm.summary::text,
          '{sealed 2024-01-31: days 2, orders 3, total 12, first 2024-01-01:10, last 2024-01-05, repeat 5; 2024-02-01:7}',
    'the text form of a sealed summary');
SELECT throws_ok($$SELECT '{sealed 2024-01-31: days 2, orders 1, total 12, first 2024-01-01:10, last 2024-01-05, repeat 5;}'::crm.summary$$,
    '22P02', NULL, 'sealed totals with fewer orders than purchase days: 22P02');
SELECT throws_ok($$SELECT '{sealed 2024-01-31: days 3, orders 3, total 12, first 2024-01-01:10, last 2024-01-02, repeat 5;}'::crm.summary$$,
    '22P02', NULL, 'three purchase days between two consecutive dates: 22P02');
SELECT throws_ok($$SELECT '{sealed 2024-01-31: days 1, orders 1, total 12, first 2024-01-01:10, last 2024-02-05, repeat 0;}'::crm.summary$$,
    '22P02', NULL, 'a last purchase after the seal date: 22P02');
SELECT throws_ok($$SELECT '{sealed 2024-01-31: days 0, orders 0, total 1; 2024-01-31:5}'::crm.summary$$,
    '22P02', NULL, 'a day on the seal date among the recent days: 22P02');

-- what a sealed summary cannot answer: an error naming the function
SELECT throws_ok($$SELECT crm.days_since_last_purchase(crm.seal('{2024-01-01:10,2024-02-01:7}', '2024-01-31'), '2024-01-15')$$,
    '22023', 'days_since_last_purchase needs days that this crm.summary holds only as sealed totals',
    'recency as of a date before the seal: 22023');
SELECT throws_ok($$SELECT crm.as_of(crm.seal('{2024-01-01:10,2024-02-01:7}', '2024-01-31'), '2024-01-15')$$,
    '22023', NULL, 'an as_of cut before the seal: 22023');
SELECT throws_ok($$SELECT * FROM crm.purchase_history(crm.seal('{2024-01-01:10,2024-02-01:7}', '2024-01-31'))$$,
    '22023', NULL, 'the day list of a sealed summary: 22023');
SELECT throws_ok($$SELECT crm.infer_stage('stable', crm.seal('{2024-01-01:10,2024-02-01:7}', '2024-01-31'), '2024-03-01')$$,
    '22023', NULL, 'stage windows reaching before the seal: 22023');
SELECT throws_ok($$SELECT crm.merge(crm.seal('{2024-01-01:10}', '2024-01-31'), crm.seal('{2024-01-01:10}', '2024-01-31'))$$,
    '22023', NULL, 'merging two sealed summaries (a shared day could not be told): 22023');
SELECT throws_ok($$SELECT crm.add_transaction(crm.seal('{2024-01-01:10}', '2024-01-31'), '2024-01-10', 5)$$,
    '22023', NULL, 'adding a transaction on a sealed day: 22023');
SELECT throws_ok($$SELECT crm.summarize(s) FROM (VALUES (crm.seal('{2024-01-01:10}', '2024-01-31'))) v(s)$$,
    '22023', NULL, 'summarize() of a sealed summary: 22023');
SELECT is(crm.merge(crm.seal('{2024-01-01:10,2024-02-01:7}', '2024-01-31'), '{2024-02-01:3,2024-03-01:1}'),
          crm.seal('{2024-01-01:10,2024-02-01:10x2,2024-03-01:1}', '2024-01-31'),
    'a sealed summary merges days after its seal exactly');
SELECT throws_ok($$SELECT crm.unseal(crm.seal('{2024-01-01:10,2024-01-05:3}', '2024-01-31'), '{2024-01-01:10}')$$,
    '22000', NULL, 'unseal with days that do not add up to the seal: 22000');

-- the order trigger's writer: a customer with 10,000 purchase days
SET crm.as_of = '2025-12-31';
INSERT INTO crm.customers (customer_id) VALUES (1), (2);
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 1, DATE '2025-12-31' - d, round((10 + (d * 37) % 90)::numeric, 2) FROM generate_series(1, 10000) d;
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (2, '2025-12-01', 10);
CALL crm.refresh(as_of => '2025-12-31', commit_batches => false);
SELECT ok((SELECT pg_column_size(summary) FROM crm.customers WHERE customer_id = 1) <= 16 + 16 * 16 + 48
          AND crm.sealed_through((SELECT summary FROM crm.customers WHERE customer_id = 1)) IS NOT NULL,
    'a 10,000-day customer''s row holds a sealed summary of at most 16 days (320 bytes)');
SELECT is((SELECT count(*) FROM crm.summary_blocks WHERE customer_id = 1), 329::bigint,
    'its sealed days are kept in 329 monthly blocks');

-- random inserts, updates and deletes, old (sealed) days and new; after
-- each: the full summary equals a recompute, the row stays small, and
-- the stage is what inference from the stage before gives on the
-- recomputed history
CREATE FUNCTION pg_temp.recomputed(customer bigint) RETURNS crm.summary LANGUAGE sql AS $$
    SELECT crm.summarize(ordered_on, amount) FROM crm.orders WHERE customer_id = customer $$;
CREATE TEMP TABLE writer_faults (op integer, what text);
DO $$
DECLARE
    i integer;
    op double precision;
    target bigint;
    before_stage crm.stage;
    before_since date;
    want crm.stage;
    c record;
BEGIN
    FOR i IN 1..300 LOOP
        SELECT stage, stage_since INTO before_stage, before_since FROM crm.customers WHERE customer_id = 1;
        op := random();
        IF op < 0.3 THEN
            INSERT INTO crm.orders (customer_id, ordered_on, amount)
            VALUES (1, DATE '2025-12-31' - floor(random() * 40)::integer, round((random() * 100 - 5)::numeric, 2));
        ELSIF op < 0.45 THEN
            INSERT INTO crm.orders (customer_id, ordered_on, amount)
            VALUES (1, DATE '2025-12-31' - floor(random() * 10000)::integer, round((random() * 100)::numeric, 2));
        ELSIF op < 0.6 THEN
            SELECT order_id INTO target FROM crm.orders WHERE customer_id = 1 ORDER BY random() LIMIT 1;
            UPDATE crm.orders SET amount = round((random() * 100)::numeric, 2),
                                  ordered_on = least(ordered_on + floor(random() * 90 - 45)::integer, DATE '2025-12-31')
            WHERE order_id = target;
        ELSIF op < 0.8 THEN
            SELECT order_id INTO target FROM crm.orders WHERE customer_id = 1 ORDER BY random() LIMIT 1;
            DELETE FROM crm.orders WHERE order_id = target;
        ELSIF op < 0.9 THEN
            -- the latest days, where the row's recent days and the stage windows are
            DELETE FROM crm.orders WHERE customer_id = 1 AND ordered_on >= DATE '2025-12-31' - floor(random() * 8)::integer;
        ELSE
            DELETE FROM crm.orders WHERE order_id IN
                (SELECT order_id FROM crm.orders WHERE customer_id = 1 ORDER BY random() LIMIT 30);
        END IF;
        SELECT * INTO c FROM crm.customers WHERE customer_id = 1;
        IF crm.full_summary(1, c.summary) IS DISTINCT FROM pg_temp.recomputed(1) THEN
            INSERT INTO writer_faults VALUES (i, 'summary');
        END IF;
        IF pg_column_size(c.summary) > 16 + 16 * 16 + 48 THEN
            INSERT INTO writer_faults VALUES (i, 'row size');
        END IF;
        want := (crm.infer_stage(before_stage, pg_temp.recomputed(1), DATE '2025-12-31', stage_since => before_since)).stage;
        IF c.stage IS DISTINCT FROM want THEN
            INSERT INTO writer_faults VALUES (i, 'stage');
        END IF;
        IF c.rfm IS DISTINCT FROM crm.rfm_score(pg_temp.recomputed(1), crm.rebase((SELECT cutpoints FROM crm.scoring), '2025-12-31')) THEN
            INSERT INTO writer_faults VALUES (i, 'rfm');
        END IF;
    END LOOP;
END $$;
SELECT is((SELECT string_agg(op || ' ' || what, ', ') FROM writer_faults), NULL,
    '300 random writes to a 10,000-day customer (old days included): full summary, RFM score and inferred stage equal a recompute after each, and the row stays under 320 bytes');
SELECT is((SELECT count(*) FROM crm.summary_blocks WHERE days = '{}'), 0::bigint, 'no empty block is kept');
SELECT is((SELECT count(*) FROM crm.summary_blocks b WHERE b.month <> date_trunc('month', b.month)::date
              OR EXISTS (SELECT FROM crm.purchase_history(b.days) p
                         WHERE date_trunc('month', p.day)::date <> b.month
                            OR p.day > crm.sealed_through((SELECT summary FROM crm.customers c WHERE c.customer_id = b.customer_id)))),
          0::bigint, 'every block holds the days of its month, all on or before the seal date');

-- rebuild, unseal and seal in bulk keep the same history
CALL crm.rebuild_summaries();
SELECT is((SELECT crm.full_summary(1, summary) FROM crm.customers WHERE customer_id = 1), pg_temp.recomputed(1),
    'crm.rebuild_summaries() rebuilds and seals a long history again');
SELECT is(crm.unseal_customers(ARRAY[1::bigint]), 1::bigint, 'unseal_customers() unseals the customer');
SELECT is((SELECT summary FROM crm.customers WHERE customer_id = 1), pg_temp.recomputed(1),
    'the unsealed summary is the full recompute, and its blocks are gone');

SELECT * FROM finish();
ROLLBACK;
