-- Partitioned order tables and DDL on tracked tables (issue 15): writes
-- through the parent and straight into partitions, a partition created
-- later, a table with orders attached as a partition, one detached (its
-- orders stay counted: the documented meaning) and then dropped, a tracked
-- column and the table renamed; drops and type changes of tracked columns
-- refused with nothing broken.  The reference is written out in plain SQL:
-- the rows the table holds now plus the rows of the detached partition as
-- they were when it was detached.
\ir setup.psql
SELECT plan(29);

SET crm.as_of = '2026-12-31';
SET TimeZone = 'UTC';
SELECT setseed(0.2718);
INSERT INTO crm.settings VALUES ('btyd_min_repeat_buyers', '1000000');

-- text keys, cents, a status filter; range partitions by day
CREATE TABLE public.sales (
    id bigserial,
    client text,
    sold_on date NOT NULL,
    cents bigint,
    status text NOT NULL DEFAULT 'paid'
) PARTITION BY RANGE (sold_on);
CREATE TABLE public.sales_2024 PARTITION OF public.sales FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.sales_2025 PARTITION OF public.sales FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.sales_2026 PARTITION OF public.sales FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO public.sales (client, sold_on, cents, status)
SELECT 'k' || (1 + floor(random() * 120)), date '2024-01-01' + floor(random() * 1090)::integer,
       100 + floor(random() * 20000)::bigint, (ARRAY['paid', 'paid', 'open', 'void'])[1 + floor(random() * 4)::integer]
FROM generate_series(1, 2000);

-- rows of detached partitions, as they were when detached
CREATE TEMP TABLE kept (client text, sold_on date, cents bigint, status text);
CREATE FUNCTION pg_temp.reference() RETURNS TABLE (customer_id bigint, summary crm.summary) LANGUAGE sql AS $$
    SELECT k.customer_id, crm.summarize(r.sold_on, r.cents / 100.0)
    FROM (SELECT s.client, s.sold_on, s.cents, s.status FROM public.sales s
          UNION ALL SELECT * FROM kept) r
    JOIN crm.customer_keys k ON k.app_key = r.client
    WHERE r.status = 'paid' AND r.client IS NOT NULL
    GROUP BY 1 $$;
CREATE FUNCTION pg_temp.mismatches() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM crm.customers c FULL JOIN pg_temp.reference() r USING (customer_id)
    WHERE crm.full_summary(c.customer_id, c.summary) IS DISTINCT FROM r.summary $$;

-- random writes through the parent and straight into the partitions
CREATE FUNCTION pg_temp.churn(n integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    op double precision;
    part text;
    target bigint;
BEGIN
    FOR i IN 1..n LOOP
        op := random();
        part := (ARRAY['public.sales_2025', 'public.sales_2026'])[1 + floor(random() * 2)::integer];
        IF op < 0.2 THEN
            INSERT INTO public.sales (client, sold_on, cents, status)
            VALUES ('k' || (1 + floor(random() * 130)), date '2025-01-01' + floor(random() * 720)::integer,
                    100 + floor(random() * 20000)::bigint, (ARRAY['paid', 'open'])[1 + floor(random() * 2)::integer]);
        ELSIF op < 0.45 THEN
            EXECUTE format('INSERT INTO %s (client, sold_on, cents, status) VALUES ($1, $2, $3, $4)', part)
            USING 'k' || (1 + floor(random() * 130)),
                  CASE WHEN part LIKE '%2025' THEN date '2025-01-01' ELSE date '2026-01-01' END + floor(random() * 365)::integer,
                  100 + floor(random() * 20000)::bigint, (ARRAY['paid', 'open'])[1 + floor(random() * 2)::integer];
        ELSIF op < 0.6 THEN
            EXECUTE format('SELECT id FROM %s ORDER BY random() LIMIT 1', part) INTO target;
            EXECUTE format('UPDATE %s SET status = $1, cents = cents + 1 WHERE id = $2', part)
            USING (ARRAY['paid', 'open', 'void'])[1 + floor(random() * 3)::integer], target;
        ELSIF op < 0.7 THEN
            EXECUTE format('SELECT id FROM %s ORDER BY random() LIMIT 1', part) INTO target;
            EXECUTE format('UPDATE %s SET client = $1 WHERE id = $2', part) USING 'k' || (1 + floor(random() * 130)), target;
        ELSIF op < 0.8 THEN
            -- through the parent, a row moving to another partition
            SELECT id INTO target FROM public.sales ORDER BY random() LIMIT 1;
            UPDATE public.sales SET sold_on = date '2025-01-01' + floor(random() * 720)::integer WHERE id = target;
        ELSIF op < 0.9 THEN
            EXECUTE format('SELECT id FROM %s ORDER BY random() LIMIT 1', part) INTO target;
            EXECUTE format('DELETE FROM %s WHERE id = $1', part) USING target;
        ELSE
            EXECUTE format('UPDATE %s SET status = ''paid'' WHERE status = ''open'' AND id %% 53 = $1', part) USING i % 53;
        END IF;
    END LOOP;
END $$;

SELECT is(crm.track_orders('public.sales', 'client', 'sold_on', 'cents', amount_scale => 2, filter => $$status = 'paid'$$),
          (SELECT count(DISTINCT client) FROM public.sales WHERE status = 'paid'), 'the partitioned table is attached');
SELECT is((SELECT count(*) FROM crm.tracked_partitions WHERE root = 'public.sales'::regclass), 3::bigint,
    'its three partitions are tracked');
SELECT is(pg_temp.mismatches(), 0::bigint, 'after the attach every customer equals the reference');
SELECT pg_temp.churn(1500);
SELECT is(pg_temp.mismatches(), 0::bigint, 'after 1,500 writes through the parent and into partitions: equal');

-- a partition created later, written straight into
CREATE TABLE public.sales_2027 PARTITION OF public.sales FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
INSERT INTO public.sales_2027 (client, sold_on, cents) SELECT 'k' || g, date '2027-02-01' + g, 1000 FROM generate_series(1, 40) g;
SELECT ok(EXISTS (SELECT FROM crm.tracked_partitions WHERE partition = 'public.sales_2027'::regclass), 'a partition created later is tracked');
SELECT is(pg_temp.mismatches(), 0::bigint, 'its orders are counted');

-- a table holding orders attached as a partition: its orders counted
CREATE TABLE public.sales_2023 (id bigint NOT NULL, client text, sold_on date NOT NULL, cents bigint, status text NOT NULL);
INSERT INTO public.sales_2023 SELECT -g, 'k' || (g % 150), date '2023-01-01' + g % 365, 500 + g, CASE WHEN g % 4 = 0 THEN 'void' ELSE 'paid' END
FROM generate_series(1, 600) g;
ALTER TABLE public.sales ATTACH PARTITION public.sales_2023 FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
SELECT is(pg_temp.mismatches(), 0::bigint, 'the orders of a partition attached with rows are counted');
SELECT ok((SELECT count(*) FROM crm.customer_keys WHERE app_key IN ('k140', 'k149')) = 2, 'its new customers are created');
UPDATE public.sales_2023 SET status = 'paid' WHERE status = 'void' AND id % 3 = 0;
SELECT is(pg_temp.mismatches(), 0::bigint, 'and it is tracked from then on');

-- a tracked column and the table renamed: tracking follows
ALTER TABLE public.sales RENAME COLUMN cents TO amount_cents;
ALTER TABLE public.sales RENAME COLUMN client TO client_code;
ALTER TABLE public.sales RENAME TO sales_renamed;
SELECT is((SELECT amount_column || ',' || customer_column FROM crm.tracked_tables WHERE table_name = 'public.sales_renamed'::regclass),
    'amount_cents,client_code', 'crm.tracked_tables follows the renamed columns');
SELECT lives_ok($$INSERT INTO public.sales_2025 (client_code, sold_on, amount_cents) VALUES ('k1', '2025-05-05', 777)$$,
    'a write into a partition after the renames works');
SELECT lives_ok($$INSERT INTO public.sales_renamed (client_code, sold_on, amount_cents) VALUES ('k2', '2026-05-05', 888)$$,
    'a write through the renamed parent works');
ALTER TABLE public.sales_renamed RENAME COLUMN amount_cents TO cents;
ALTER TABLE public.sales_renamed RENAME COLUMN client_code TO client;
ALTER TABLE public.sales_renamed RENAME TO sales;
SELECT is(pg_temp.mismatches(), 0::bigint, 'every customer equals the reference after the renames');
SELECT throws_ok($$ALTER TABLE public.sales RENAME COLUMN status TO state$$, '0A000', NULL,
    'renaming a column the filter reads is refused');
SELECT throws_ok($$ALTER TABLE public.sales DROP COLUMN cents$$, '2BP01', 'cannot drop column "cents" of public.sales: crm tracks it',
    'dropping a tracked column is refused');
SELECT throws_ok($$ALTER TABLE public.sales ALTER COLUMN cents TYPE numeric$$, '0A000', NULL,
    'changing the type of a tracked column is refused');
SELECT throws_ok($$TRUNCATE public.sales_2025$$, '55000', NULL, 'truncating a partition is refused');
SELECT throws_ok($$DROP TABLE public.sales_2024$$, '2BP01', NULL, 'dropping a partition still attached is refused');
CREATE SCHEMA archive;
CREATE TABLE archive.sales_2028 PARTITION OF public.sales FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');
SELECT throws_ok($$DROP SCHEMA archive CASCADE$$, '2BP01', NULL, 'dropping the schema of a partition still attached is refused too');
SELECT pg_temp.churn(500);
SELECT is(pg_temp.mismatches(), 0::bigint, 'after the refused DDL, 500 more writes: equal');

-- detach: the partition's orders stay counted; later writes to it do not count
INSERT INTO kept SELECT client, sold_on, cents, status FROM public.sales_2024;
ALTER TABLE public.sales DETACH PARTITION public.sales_2024;
SELECT ok(NOT EXISTS (SELECT FROM crm.tracked_partitions WHERE partition = 'public.sales_2024'::regclass)
          AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'public.sales_2024'::regclass),
    'the detached partition is no longer tracked');
INSERT INTO public.sales_2024 (client, sold_on, cents, status) VALUES ('k3', '2024-03-03', 99999, 'paid');
SELECT is(pg_temp.mismatches(), 0::bigint, 'its orders stay counted, the writes after the detach do not');
SELECT lives_ok($$DROP TABLE public.sales_2024$$, 'a detached partition can be dropped');
SELECT is(pg_temp.mismatches(), 0::bigint, 'dropping it changes nothing');
CALL crm.rebuild_summaries();
SELECT is(pg_temp.mismatches(), 0::bigint, 'a rebuild counts the detached orders too (crm.retained_summaries)');

-- forget: every order of the table taken out, those of the partition
-- detached above (still counted until now) too, and its retained rows gone
SELECT is((SELECT count(*) > 0 AND bool_and(r.root = 'public.sales'::regclass) FROM crm.retained_summaries r), true,
    'the detached partition''s orders are retained for the table they were detached from');
SELECT crm.untrack_orders('public.sales', forget => true);
SELECT is((SELECT count(*) FROM crm.customers c JOIN crm.customer_keys k USING (customer_id) WHERE c.summary IS NOT NULL)
          + (SELECT count(*) FROM crm.retained_summaries), 0::bigint,
    'untrack_orders(forget => true) takes out every order of the table, its detached partitions'' too, and their retained rows');

-- row mode: row triggers are cloned to every partition
CREATE TABLE public.visits (customer bigint, at date NOT NULL, spent numeric) PARTITION BY RANGE (at);
CREATE TABLE public.visits_a PARTITION OF public.visits FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT crm.track_orders('public.visits', 'customer', 'at', 'spent', mode => 'row');
CREATE TABLE public.visits_b (customer bigint, at date NOT NULL, spent numeric);
INSERT INTO public.visits_b VALUES (900001, '2026-02-02', 10), (900002, '2026-03-03', 20);
ALTER TABLE public.visits ATTACH PARTITION public.visits_b FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO public.visits_a VALUES (900001, '2025-02-02', 5);
UPDATE public.visits_b SET spent = 25 WHERE customer = 900002;
SELECT is((SELECT crm.total_spend(summary) FROM crm.customers WHERE customer_id = 900001), 15.0,
    'row mode: an attached partition''s rows and a write straight into a partition are counted');
SELECT is((SELECT crm.total_spend(summary) FROM crm.customers WHERE customer_id = 900002), 25.0,
    'row mode: an update straight into the attached partition is counted');

SELECT * FROM finish();
ROLLBACK;
