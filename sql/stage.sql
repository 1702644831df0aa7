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
SELECT label, (infer_stage(cur::stage, s::summary, '2024-12-31', cr, cp, NULL, NULL, pa, rc, ltv, since::date)).*
FROM (VALUES
    ('no purchase yet', 'prospect', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('a first trial order', 'prospect', '{2024-12-01:40}', NULL, NULL, NULL, NULL, NULL, NULL),
    ('a rich history still goes one step', 'prospect', '{2024-01-01:40,2024-04-01:40,2024-07-01:40,2024-10-01:40,2024-12-01:40}', NULL, NULL, NULL, NULL, NULL, NULL),
    ('repeat purchases, rising spend', 'exploration', '{2024-08-01:30,2024-11-01:50}', NULL, NULL, NULL, NULL, NULL, NULL),
    ('sustained peak', 'formation', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-10-10:50,2024-11-10:50,2024-12-10:50}', NULL, NULL, NULL, NULL, NULL, NULL),
    ('falling volume, rising complaints', 'stable', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-10-10:20,2024-11-10:20,2024-12-10:20}', 4, 1, NULL, NULL, NULL, NULL),
    ('decline, buys again in rhythm', 'decline', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-11-20:80,2024-12-20:80}', NULL, NULL, NULL, NULL, NULL, '2024-11-01'),
    ('decline, redevelopment costs more than value', 'decline', '{2024-07-10:50,2024-08-10:50,2024-09-10:50}', NULL, NULL, NULL, 500, 300, '2024-11-01'),
    ('decline, inactive far beyond rhythm', 'decline', '{2024-01-10:50,2024-02-10:50,2024-03-10:50}', NULL, NULL, NULL, NULL, NULL, '2024-05-01'),
    ('decline, P(alive) low', 'decline', '{2024-07-10:50,2024-08-10:50,2024-09-10:50}', NULL, NULL, 0.05, NULL, NULL, '2024-11-01'),
    ('terminated, buys again', 'terminated', '{2023-01-10:50,2024-12-10:80}', NULL, NULL, NULL, NULL, NULL, '2024-06-01')
) v(label, cur, s, cr, cp, pa, rc, ltv, since);

-- thresholds live in a table: a change takes effect with the next statement
SELECT next_stage('formation', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-10-10:50,2024-11-10:50,2024-12-10:50}', '2024-12-31') AS with_4_days_needed;
INSERT INTO stage_thresholds VALUES ('stable_min_purchase_days', 8);
SELECT next_stage('formation', '{2024-07-10:50,2024-08-10:50,2024-09-10:50,2024-10-10:50,2024-11-10:50,2024-12-10:50}', '2024-12-31') AS with_8_days_needed;
\set VERBOSITY default
INSERT INTO stage_thresholds VALUES ('window_days', -1);
INSERT INTO stage_thresholds VALUES ('loyalty_bonus', 3);
INSERT INTO stage_thresholds VALUES ('decline_floor_days', 2.5);
SELECT next_stage('prospect', NULL, '2024-12-31', complaints_recent => -1);
SELECT next_stage('prospect', NULL, '2024-12-31', p_alive => 1.5);
SELECT next_stage('prospect', NULL, 'infinity');
\set VERBOSITY terse
SELECT name, value, overridden FROM stage_thresholds_in_effect ORDER BY name;

-- levels
SELECT level_gap('transaction', 'trust') AS below, level_gap('loyalty', 'loyalty') AS on_target,
       level_gap('partnership', 'cooperation') AS above;
SELECT * FROM level_targets ORDER BY target_level;
