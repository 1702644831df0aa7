-- crm.pipeline_stage moves, crm.pipeline_model text and binary I/O, and the
-- bad inputs of the pipeline functions (their SQLSTATEs: test/pgtap/pipeline_moves.sql)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;
SET search_path = public, crm;
SET datestyle = ISO;
SET timezone = 'UTC';

-- the 49 (from, to) pairs; t = legal.  Expected, from the pipeline of the
-- texts: one step forward (lead -> qualified -> presentation -> negotiation
-- -> bidding), one step back, any open stage -> lost, bidding -> won, any
-- stage -> itself; won and lost final
SELECT f AS "from \ to",
       pipeline_can_move(f, 'lead') AS lead, pipeline_can_move(f, 'qualified') AS qualified,
       pipeline_can_move(f, 'presentation') AS presentation, pipeline_can_move(f, 'negotiation') AS negotiation,
       pipeline_can_move(f, 'bidding') AS bidding, pipeline_can_move(f, 'won') AS won, pipeline_can_move(f, 'lost') AS lost
FROM unnest(enum_range(NULL::pipeline_stage)) f
ORDER BY f;
SELECT stage, position, is_open, fixed_probability, moves_to FROM pipeline_stages ORDER BY position;

-- text form: as_of and prior, then count@week of complete stays per move
-- and (~) of stays open at as_of per stage
SELECT '{as_of=2025-06-30;prior=1;lead>qualified=12@1 3@4;lead>lost=5@0;lead~=7@2 -1@3}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=0.5}'::pipeline_model;
SELECT m::text::pipeline_model::text = m::text AS round_trip, as_of(m), prior_weight(m)
FROM (SELECT '{as_of=2025-06-30;prior=0.25;qualified>presentation=2@3;bidding>won=9@51 1@52;negotiation~=4@0}'::pipeline_model AS m) q;
\set VERBOSITY terse
SELECT 'as_of=2025-06-30;prior=1'::pipeline_model;
SELECT '{as_of=2025-06-31;prior=1}'::pipeline_model;
SELECT '{as_of=2025-06-30}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=-1}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=NaN}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=1;lead>closed=1@1}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=1;won>lost=1@1}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=1;lead>lead=1@1}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=1;lead>qualified=1@53}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=1;lead>qualified=-1@2}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=1;lead>qualified=1@2,3@4}'::pipeline_model;
SELECT '{as_of=2025-06-30;prior=1;lead>qualified=}'::pipeline_model;
SELECT '{as_of=infinity;prior=1}'::pipeline_model;
SELECT '{as_of=06/30/2025;prior=1}'::pipeline_model;
\set VERBOSITY default

-- binary round trip through COPY BINARY
CREATE TEMP TABLE io_src (id int, m pipeline_model);
INSERT INTO io_src VALUES
    (1, '{as_of=2025-06-30;prior=1}'),
    (2, '{as_of=2025-06-30;prior=0;lead>qualified=12@1 3@4;lead>lost=5@0;qualified>presentation=3@2;lead~=7@2;bidding~=1@52}');
\copy io_src TO 'test/results/pipeline_io.bin' WITH (FORMAT binary)
CREATE TEMP TABLE io_dst (LIKE io_src);
\copy io_dst FROM 'test/results/pipeline_io.bin' WITH (FORMAT binary)
SELECT count(*) AS rows, count(*) FILTER (WHERE d.m::text = s.m::text) AS identical
FROM io_src s JOIN io_dst d USING (id);

-- what a model says: prior 0 and stages without moves have no answer
SELECT stage, round(win_probability::numeric, 4) AS win, round(loss_probability::numeric, 4) AS loss,
       moves_out, open_spells, round(median_stay_days::numeric, 2) AS median_days, round(p90_stay_days::numeric, 2) AS p90_days
FROM stage_probabilities((SELECT m FROM io_dst WHERE id = 2));
SELECT from_stage, to_stage, moves, round(probability::numeric, 4) AS probability
FROM stage_moves((SELECT m FROM io_dst WHERE id = 2));
-- the prior alone: equal chances for the legal moves; wins 1/89, 2/89, 5/89, 13/89, 34/89
SELECT stage, round(win_probability::numeric, 6) AS win, round(89 * win_probability::numeric, 6) AS times_89
FROM stage_probabilities('{as_of=2025-06-30;prior=1}');
SELECT win_probability('{as_of=2025-06-30;prior=1}', 'won') AS won, win_probability('{as_of=2025-06-30;prior=1}', 'lost') AS lost,
       round(expected_revenue('{as_of=2025-06-30;prior=1}', 'bidding', 890)::numeric, 6) AS bidding_890;

-- bad arguments
\set VERBOSITY terse
SELECT win_probability('{as_of=2025-06-30;prior=1}', 'lead', -1);
SELECT win_probability('{as_of=2025-06-30;prior=1}', 'lead', 'NaN');
SELECT expected_revenue('{as_of=2025-06-30;prior=1}', 'lead', 'NaN');
SELECT stay_quantile('{as_of=2025-06-30;prior=1}', 'lead', 1);
SELECT stay_quantile('{as_of=2025-06-30;prior=1}', 'won', 0.5);
SELECT * FROM time_to_close('{as_of=2025-06-30;prior=1}', 'lost');

-- the learning aggregate: rows (from, to, from_since, changed_at)
CREATE TEMP TABLE h (from_stage pipeline_stage, to_stage pipeline_stage, from_since timestamptz, changed_at timestamptz);
INSERT INTO h VALUES
    (NULL, 'lead', NULL, '2025-01-01'), ('lead', 'qualified', '2025-01-01', '2025-01-11'),
    ('qualified', 'lost', '2025-01-11', '2025-01-31'), (NULL, 'lead', NULL, '2025-01-06'),
    (NULL, NULL, NULL, '2025-01-07'), ('lead', 'lead', '2025-01-06', NULL);
-- as of 2025-02-09 (cut 2025-02-10 00:00 UTC): lead -> qualified in week 1,
-- qualified -> lost in week 3, a lead stay of 35 days open; the NULL rows
-- say nothing
SELECT learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-02-09', 1) FROM h;
SELECT learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-01-20', 1) FROM h;
SELECT learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-02-09') IS NULL AS no_rows FROM h WHERE false;
SELECT learn_pipeline(from_stage, to_stage, from_since, changed_at, NULL) FROM h;
SELECT learn_pipeline(from_stage, to_stage, from_since, changed_at, 'infinity') FROM h;
SELECT learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-02-09', -1) FROM h;
SELECT learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-02-09'::date + (changed_at > '2025-01-05')::int) FROM h;
SELECT learn_pipeline(from_stage, to_stage, NULL, changed_at, '2025-02-09') FROM h;
SELECT learn_pipeline(from_stage, to_stage, changed_at, from_since, '2025-02-09') FROM h WHERE from_stage IS NOT NULL;
SELECT learn_pipeline(from_stage, to_stage, from_since, 'infinity', '2025-02-09') FROM h;

-- the forecast aggregate and the Brier score
SELECT forecast_revenue('{as_of=2025-06-30;prior=1}', '2025-06-30', 0, 'lead', '2025-06-01', 100);
SELECT forecast_revenue('{as_of=2025-06-30;prior=1}', '2025-06-30', 37, 'lead', '2025-06-01', 100);
SELECT forecast_revenue('{as_of=2025-06-30;prior=1}', '2025-06-30', 3, 'lead', '2025-07-01', 100);
SELECT forecast_revenue(NULL, '2025-06-30', 3, 'lead', '2025-06-01', 100);
SELECT forecast_revenue('{as_of=2025-06-30;prior=1}', '2025-06-30', 3, 'won', '2025-06-01', 100) AS closed_counts_nothing;
SELECT brier_score(p, y) FROM (VALUES (1.5::float8, true)) v(p, y);
\set VERBOSITY default
SELECT round(brier_score(p, y)::numeric, 6) AS brier, round(0.38 / 3, 6) AS by_hand
FROM (VALUES (0.8::float8, true), (0.3, false), (0.5, true), (NULL, true), (0.1, NULL)) v(p, y);
SELECT brier_score(p, y) IS NULL AS none FROM (VALUES (0.5::float8, true)) v(p, y) WHERE false;
