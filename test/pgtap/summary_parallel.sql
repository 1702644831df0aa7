-- crm.summarize: parallel and serial plans, and merges of random splits,
-- give identical summaries.
\ir setup.psql
SELECT plan(9);

-- 300,000 rows of 20,000 customers in random order, so one customer's rows
-- lie in many blocks and a parallel scan splits them between processes;
-- refunds, same-day repeats and NULLs included.
SELECT setseed(0.17);
CREATE TABLE par_orders AS
SELECT (random() * 20000)::int AS customer_id,
       CASE WHEN random() < 0.001 THEN NULL ELSE date '2020-01-01' + (random() * 700)::int END AS purchased_at,
       round((random() * 220 - 20)::numeric, 2) AS amount
FROM generate_series(1, 300000);
ANALYZE par_orders;

\set q 'SELECT customer_id, summarize(purchased_at, amount) AS s FROM par_orders GROUP BY customer_id'

SET max_parallel_workers_per_gather = 0;
SELECT unalike(pg_temp.plan_of(:'q'), '%Partial%', 'serial plan has no partial aggregate');
CREATE TABLE serial_result AS :q;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = on;
SELECT alike(pg_temp.plan_of(:'q'), '%Partial HashAggregate%', 'forced parallel plan has a partial hash aggregate');
SELECT matches(pg_temp.plan_of(:'q', true), 'Workers Launched: [1-9]', 'the parallel plan launched workers');
CREATE TABLE parallel_hash AS :q;

SET enable_hashagg = off;
SELECT alike(pg_temp.plan_of(:'q'), '%Partial GroupAggregate%', 'with hashagg off: a partial group aggregate');
CREATE TABLE parallel_sort AS :q;
RESET enable_hashagg;

SELECT is((SELECT count(*) FROM serial_result), 20001::bigint, 'every customer summarized');
SELECT is_empty($$SELECT customer_id FROM serial_result s FULL JOIN parallel_hash p USING (customer_id)
                  WHERE s.s::text IS DISTINCT FROM p.s::text$$,
                'parallel hash aggregate equals the serial plan for every customer');
SELECT is_empty($$SELECT customer_id FROM serial_result s FULL JOIN parallel_sort p USING (customer_id)
                  WHERE s.s::text IS DISTINCT FROM p.s::text$$,
                'parallel group aggregate equals the serial plan for every customer');

-- random splits: summaries of the two halves merged equal the summary of all rows
SET max_parallel_workers_per_gather = 0;
SELECT is_empty($$
    SELECT seed, customer_id
    FROM generate_series(1, 5) AS seed,
         LATERAL (SELECT customer_id,
                         merge(summarize(purchased_at, amount) FILTER (WHERE half),
                               summarize(purchased_at, amount) FILTER (WHERE NOT half)) AS merged,
                         summarize(purchased_at, amount) AS whole
                  FROM (SELECT *, hashint8(customer_id::bigint * 7919 + seed + extract(doy FROM purchased_at)::int * 104729
                                          + (amount * 100)::bigint) % 2 = 0 AS half
                        FROM par_orders) h
                  GROUP BY customer_id) q
    WHERE merged::text IS DISTINCT FROM whole::text$$,
    'five random splits: merge of the halves equals the whole, for every customer');
SELECT is_empty($$
    SELECT customer_id FROM (
        SELECT customer_id, summarize(s) AS merged
        FROM (SELECT customer_id, purchased_at < '2020-09-01' AS part, summarize(purchased_at, amount) AS s
              FROM par_orders GROUP BY 1, 2) p
        GROUP BY 1) m
    JOIN serial_result USING (customer_id)
    WHERE merged::text IS DISTINCT FROM serial_result.s::text$$,
    'summarize(summary) over partial summaries equals the summary of all rows');

SELECT * FROM finish();
ROLLBACK;
