-- test/fuzz/pipeline_seeds.sql: the seeds of the two pipeline deserialize
-- targets (test/fuzz/corpus/pipeline_learn_deserialize/ and
-- pipeline_forecast_deserialize/), states made by the aggregates' own
-- transition functions on a server, so that the fuzzer starts from valid
-- values.  Prints "name family:hex" lines; the bytes after the colon are
-- the serialized state the deserialize function reads, written into the
-- corpus by test/fuzz/pipeline_seeds.sh.  Everything is rolled back.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE EXTENSION IF NOT EXISTS crm;
SET LOCAL search_path = public, crm;
SET LOCAL TimeZone = 'UTC';
-- the states themselves: the transition functions without the final one
CREATE AGGREGATE pg_temp.learn_state(pipeline_stage, pipeline_stage, timestamptz, timestamptz, date, double precision) (
    SFUNC = crm.learn_pipeline_accum, STYPE = crm.agg_state);
CREATE AGGREGATE pg_temp.forecast_state(pipeline_model, date, integer, pipeline_stage, timestamptz, numeric) (
    SFUNC = crm.forecast_revenue_accum, STYPE = crm.agg_state);
-- the regression script's six rows (sql/pipeline.sql), then 300
-- opportunities walking the stages, won, lost or still open
CREATE TEMP TABLE h (from_stage pipeline_stage, to_stage pipeline_stage, from_since timestamptz, changed_at timestamptz);
INSERT INTO h VALUES
    (NULL, 'lead', NULL, '2025-01-01'), ('lead', 'qualified', '2025-01-01', '2025-01-11'),
    ('qualified', 'lost', '2025-01-11', '2025-01-31'), (NULL, 'lead', NULL, '2025-01-06'),
    (NULL, NULL, NULL, '2025-01-07'), ('lead', 'lead', '2025-01-06', NULL);
INSERT INTO h
SELECT s.f, s.t, timestamptz '2024-01-01' + (o * 3 + k * 11) * interval '1 day',
       timestamptz '2024-01-01' + (o * 3 + k * 11 + 1 + (o * k) % 40) * interval '1 day'
FROM generate_series(1, 300) o, generate_series(1, 4) k,
     LATERAL (SELECT (ARRAY['lead','qualified','presentation','bidding'])[k]::pipeline_stage AS f,
                     CASE WHEN k = 4 THEN (CASE WHEN o % 3 = 0 THEN 'won' ELSE 'lost' END)
                          WHEN o % 5 = k THEN 'lost'
                          ELSE (ARRAY['lead','qualified','presentation','bidding'])[k + 1] END::pipeline_stage AS t) s;
SELECT 'moves-2025 ' || pg_temp.learn_state(from_stage, to_stage, from_since, changed_at, '2025-02-09', 1)::text
FROM h WHERE from_since IS NULL OR changed_at IS NULL OR changed_at >= '2025-01-01';
SELECT 'moves-2025-prior-0 ' || pg_temp.learn_state(from_stage, to_stage, from_since, changed_at, '2025-02-09', 0)::text
FROM h WHERE from_since IS NULL OR changed_at IS NULL OR changed_at >= '2025-01-01';
SELECT 'history ' || pg_temp.learn_state(from_stage, to_stage, from_since, changed_at, '2025-06-30', 1)::text FROM h;
SELECT 'history-half-open ' || pg_temp.learn_state(from_stage, to_stage, from_since, changed_at, '2024-06-30', 2.5)::text FROM h;
SELECT 'no-moves ' || pg_temp.learn_state(from_stage, to_stage, from_since, changed_at, '2025-06-30', 1)::text
FROM h WHERE from_stage IS NULL AND to_stage IS NULL;
CREATE TEMP TABLE learned AS SELECT learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-06-30', 1) AS m FROM h;
SELECT 'learned-12-months ' || pg_temp.forecast_state(l.m, '2025-06-30', 12, s.stage, '2025-06-30'::timestamptz - (g % 50) * interval '1 day', 100 + g)::text
FROM learned l, generate_series(1, 40) g,
     LATERAL (SELECT (ARRAY['lead','qualified','presentation','bidding','won'])[1 + g % 5]::pipeline_stage AS stage) s
GROUP BY l.m::text;
SELECT 'learned-36-months ' || pg_temp.forecast_state(m, '2025-06-30', 36, 'qualified', '2025-05-01', 12345.67)::text FROM learned;
SELECT 'learned-1-month ' || pg_temp.forecast_state(m, '2025-06-30', 1, 'bidding', '2025-06-29 13:00', 0.01)::text FROM learned;
SELECT 'prior-nothing-open ' || pg_temp.forecast_state('{as_of=2025-06-30;prior=1}', '2025-06-30', 3, 'won', '2025-06-01', 100)::text;
ROLLBACK;
