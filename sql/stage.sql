-- crm.stage: I/O, the legal transitions, ordering, inference, thresholds, levels
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;
SET search_path = public, crm;
SET datestyle = ISO;

SELECT s, s::text::stage = s AS round_trip
FROM unnest(ARRAY['prospect', 'exploration', 'formation', 'stable', 'decline', 'terminated']::stage[]) s;
\set VERBOSITY default
SELECT 'Stable'::stage;
SELECT 'churned'::stage;
\set VERBOSITY terse

-- the 36 (from, to) pairs; t = legal.  Expected, from the life-cycle texts:
--   prospect -> exploration; exploration -> formation | terminated;
--   formation -> stable | decline; stable -> decline;
--   decline -> stable | terminated; terminated -> exploration; any -> itself
SELECT f AS "from \ to",
       can_transition(f, 'prospect') AS prospect, can_transition(f, 'exploration') AS exploration,
       can_transition(f, 'formation') AS formation, can_transition(f, 'stable') AS stable,
       can_transition(f, 'decline') AS decline, can_transition(f, 'terminated') AS terminated
FROM unnest(ARRAY['prospect', 'exploration', 'formation', 'stable', 'decline', 'terminated']::stage[]) f
ORDER BY f;

-- ordering and indexing
SELECT array_agg(s ORDER BY s) FROM unnest(ARRAY['terminated', 'prospect', 'stable', 'decline', 'exploration', 'formation']::stage[]) s;
CREATE TEMP TABLE st AS SELECT g, (ARRAY['prospect', 'exploration', 'formation', 'stable', 'decline', 'terminated'])[1 + g % 6]::stage AS s
FROM generate_series(1, 6000) g;
CREATE INDEX ON st (s);
ANALYZE st;
SET enable_seqscan = off;
SELECT count(*) FROM st WHERE s = 'stable';
SELECT count(*) FROM st WHERE s >= 'stable';
RESET enable_seqscan;
SELECT s, count(*) FROM st GROUP BY s ORDER BY s;

-- inference, case by case (as of 2024-12-31, windows of 90 days:
-- recent = 2024-10-03 .. 2024-12-31, previous = 2024-07-05 .. 2024-10-02)
SELECT label, (infer_stage(cur::stage, s::summary, '2024-12-31', cr, cp, NULL, NULL, pa, rc, ltv, since::date, pb)).*
FROM (VALUES
    ('no purchase yet', 'prospect', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('a first trial order', 'prospect', '{2024-12-01:40}', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('a rich history still goes one step', 'prospect', '{2024-01-01:40,2024-04-01:40,2024-07-01:40,2024-10-01:40,2024-12-01:40}', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('repeat purchases, rising spend', 'exploration', '{2024-08-01:30,2024-11-01:50}', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('sustained peak', 'formation', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-10-10:50,2024-11-10:50,2024-12-10:50}', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('falling volume, rising complaints', 'stable', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-10-10:20,2024-11-10:20,2024-12-10:20}', 4, 1, NULL, NULL, NULL, NULL, NULL),
    ('decline, buys again in rhythm', 'decline', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-11-20:80,2024-12-20:80}', NULL, NULL, NULL, NULL, NULL, '2024-11-01', NULL),
    ('decline, redevelopment costs more than value', 'decline', '{2024-07-10:50,2024-08-10:50,2024-09-10:50}', NULL, NULL, NULL, 500, 300, '2024-11-01', NULL),
    ('decline, inactive less than a year', 'decline', '{2024-01-10:50,2024-02-10:50,2024-03-10:50}', NULL, NULL, NULL, NULL, NULL, '2024-05-01', NULL),
    ('decline, inactive far beyond rhythm', 'decline', '{2023-09-10:50,2023-10-10:50,2023-11-10:50}', NULL, NULL, NULL, NULL, NULL, '2024-05-01', NULL),
    ('decline, P(alive) low but bought in September', 'decline', '{2024-07-10:50,2024-08-10:50,2024-09-10:50}', NULL, NULL, 0.05, NULL, NULL, '2024-11-01', NULL),
    ('decline, a year out, model says P(buy) 0.3', 'decline', '{2023-09-10:50,2023-10-10:50,2023-11-10:50}', NULL, NULL, 0.2, NULL, NULL, '2024-05-01', 0.3),
    ('decline, a year out, model agrees', 'decline', '{2023-09-10:50,2023-10-10:50,2023-11-10:50}', NULL, NULL, 0.2, NULL, NULL, '2024-05-01', 0.05),
    ('stable, model: P(alive) falls below 0.3', 'stable', '{2024-07-10:50,2024-08-10:50,2024-09-10:50}', NULL, NULL, 0.2, NULL, NULL, '2024-10-01', NULL),
    ('stable, model: P(alive) 0.4 (hysteresis)', 'stable', '{2024-07-10:50,2024-08-10:50,2024-09-10:50}', NULL, NULL, 0.4, NULL, NULL, '2024-10-01', NULL),
    ('formation entered 10 days ago', 'formation', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-10-10:50,2024-11-10:50,2024-12-10:50}', NULL, NULL, NULL, NULL, NULL, '2024-12-21', NULL),
    ('terminated, buys again', 'terminated', '{2023-01-10:50,2024-12-10:80}', NULL, NULL, NULL, NULL, NULL, '2024-06-01', NULL)
) v(label, cur, s, cr, cp, pa, rc, ltv, since, pb);

-- thresholds live in a table: a change takes effect with the next statement
SELECT next_stage('formation', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-10-10:50,2024-11-10:50,2024-12-10:50}', '2024-12-31') AS with_3_days_needed;
INSERT INTO stage_thresholds VALUES ('stable_min_purchase_days', 8);
SELECT next_stage('formation', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-10-10:50,2024-11-10:50,2024-12-10:50}', '2024-12-31') AS with_8_days_needed;
\set VERBOSITY default
INSERT INTO stage_thresholds VALUES ('window_days', -1);
INSERT INTO stage_thresholds VALUES ('loyalty_bonus', 3);
INSERT INTO stage_thresholds VALUES ('decline_floor_days', 2.5);
SELECT next_stage('prospect', NULL, '2024-12-31', complaints_recent => -1);
SELECT next_stage('prospect', NULL, '2024-12-31', p_alive => 1.5);
SELECT next_stage('prospect', NULL, '2024-12-31', p_buy => -0.1);
SELECT next_stage('prospect', NULL, 'infinity');
\set VERBOSITY terse
SELECT name, value, overridden FROM stage_thresholds_in_effect ORDER BY name;

-- levels
SELECT level_gap('transaction', 'trust') AS below, level_gap('loyalty', 'loyalty') AS on_target,
       level_gap('partnership', 'cooperation') AS above;
SELECT * FROM level_targets ORDER BY target_level;
SELECT label, (infer_level(cur::relationship_level, st::stage, '2024-12-31', NULL, tenure, pd, ia, ch, late, sat, loyal, am)).*
FROM (VALUES
    ('a repeat buyer in contact', 'transaction', 'formation', 200, 3, 2, 1, 0, NULL, NULL, false),
    ('regular contact on two channels', 'trust', 'stable', 200, 3, 4, 2, 0, true, NULL, false),
    ('loyal, a year in', 'cooperation', 'stable', 400, 5, 4, 2, 0, true, true, false),
    ('a partner with a manager', 'loyalty', 'stable', 800, 6, 8, 3, 0, true, true, true),
    ('nothing known', 'trust', 'stable', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('complaints handled late', 'cooperation', 'stable', 400, 5, 4, 2, 2, true, NULL, false),
    ('terminated', 'loyalty', 'terminated', 800, 0, 0, 0, 0, NULL, NULL, false)
) v(label, cur, st, tenure, pd, ia, ch, late, sat, loyal, am);
SELECT (infer_level('trust', 'stable', '2024-12-31', level_since => '2024-12-20', interactions => 9)).reason AS held;
\set VERBOSITY default
SELECT infer_level('trust', 'stable', '2024-12-31', interactions => -1);
SELECT infer_level('trust', 'stable', 'infinity');
\set VERBOSITY terse
-- a walk: a customer attached with half a year of monthly orders climbs one
-- month end at a time (with the default thresholds again)
DELETE FROM stage_thresholds;
SELECT day, from_stage, to_stage, reason FROM walk_stages('prospect',
    '{2024-01-15:40,2024-02-15:40,2024-03-15:40,2024-04-15:40,2024-05-15:40,2024-06-15:40}', '2024-07-31');
SELECT count(*) AS moves_again_same_day FROM walk_stages('decline',
    '{2024-01-15:40,2024-02-15:40,2024-03-15:40,2024-04-15:40,2024-05-15:40,2024-06-15:40}', '2024-07-31',
    stage_since => '2024-07-31', evaluated_through => '2024-07-31');
