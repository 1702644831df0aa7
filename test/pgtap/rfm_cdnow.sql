-- RFM on the CDNOW sample (first purchases in 1997 Q1, as of 1997-09-30):
-- every customer scored, equal behaviour gives equal scores, quantile
-- cutpoints equal percentile_disc computed in plain SQL, band counts follow
-- the cutpoints, and parallel and serial aggregation agree.
\ir setup.psql
SELECT plan(10);

\ir cdnow.psql
CREATE TABLE summaries AS
SELECT customer_id, summarize(purchased_at, amount) AS s FROM cdnow GROUP BY 1;
ANALYZE summaries;

-- the measures, in plain SQL from the raw rows
CREATE TEMP TABLE measures AS
SELECT customer_id, date '1997-09-30' - max(purchased_at) AS recency,
       count(DISTINCT purchased_at) AS frequency, sum(amount) AS monetary
FROM cdnow WHERE purchased_at <= '1997-09-30' GROUP BY 1;

CREATE TEMP TABLE cuts AS SELECT rfm_quantiles(s, '1997-09-30') AS c FROM summaries;
CREATE TEMP TABLE scored AS
SELECT m.*, rfm_score(s.s, cuts.c) AS r FROM measures m JOIN summaries s USING (customer_id), cuts;

SELECT is((SELECT count(*) FROM scored WHERE r IS NOT NULL), 2357::bigint, 'all 2,357 customers get a score');
SELECT is(customers(c), 2357::bigint, 'the cutpoints were computed from 2,357 customers') FROM cuts;
SELECT is_empty($$SELECT recency, frequency, monetary FROM scored
                  GROUP BY recency, frequency, monetary HAVING count(DISTINCT r) > 1$$,
    'identical (recency, frequency, monetary) always means identical crm.rfm');

CREATE FUNCTION pg_temp.quintiles(measure text) RETURNS numeric[] LANGUAGE plpgsql AS $$
DECLARE result numeric[];
BEGIN
    EXECUTE format('SELECT array_agg(v ORDER BY q)::numeric[] FROM (
                        SELECT q, percentile_disc(q) WITHIN GROUP (ORDER BY %I) AS v
                        FROM measures, unnest(ARRAY[0.2, 0.4, 0.6, 0.8]) AS q GROUP BY q) x', measure)
        INTO result;
    RETURN result;
END $$;
SELECT is(cutpoints(c, 'recency'), pg_temp.quintiles('recency'),
          'recency cutpoints are the lower quintiles (percentile_disc)') FROM cuts;
SELECT is(cutpoints(c, 'frequency'), pg_temp.quintiles('frequency'),
          'frequency cutpoints are the lower quintiles (percentile_disc)') FROM cuts;
SELECT is(cutpoints(c, 'monetary'), pg_temp.quintiles('monetary'),
          'monetary cutpoints are the lower quintiles (percentile_disc)') FROM cuts;

-- the count per frequency score is the count of frequencies between its cutpoints
SELECT results_eq(
    $$SELECT frequency_score(r), count(*) FROM scored GROUP BY 1 ORDER BY 1$$,
    $$SELECT s, count(*) FROM (
          SELECT 1 + (SELECT count(*)::int FROM unnest(cutpoints(c, 'frequency')) cut WHERE m.frequency > cut) AS s
          FROM measures m, cuts) x
      GROUP BY 1 ORDER BY 1$$,
    'the count per frequency score matches the cutpoints');
SELECT results_eq(
    $$SELECT recency_score(r), count(*) FROM scored GROUP BY 1 ORDER BY 1$$,
    $$SELECT s, count(*) FROM (
          SELECT 5 - (SELECT count(*)::int FROM unnest(cutpoints(c, 'recency')) cut WHERE m.recency > cut) AS s
          FROM measures m, cuts) x
      GROUP BY 1 ORDER BY 1$$,
    'the count per recency score matches the cutpoints');

-- parallel aggregation gives the same cutpoints
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT alike(pg_temp.plan_of($$SELECT rfm_quantiles(s, '1997-09-30') FROM summaries$$),
             '%Partial Aggregate%', 'rfm_quantiles runs as a partial aggregate in parallel');
SELECT is((SELECT rfm_quantiles(s, '1997-09-30')::text FROM summaries), (SELECT c::text FROM cuts),
          'parallel cutpoints equal the serial ones');

SELECT * FROM finish();
ROLLBACK;
