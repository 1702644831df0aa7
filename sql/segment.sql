-- Segmentation schemes: presets, boundaries, reasons, validation, versions
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;
SET search_path = public, crm;

-- rfm_segments: every (R, FM) point; rows FM 5 (top) to 1, columns R 1 to 5
SELECT fm, string_agg(segment('rfm_segments', ARRAY[r, fm]::float8[]), ' | ' ORDER BY r) AS "R = 1 .. 5"
FROM generate_series(1, 5) r, generate_series(1, 5) fm GROUP BY fm ORDER BY fm DESC;
SELECT rfm_segment('5-5-4'), rfm_segment('1-5-5'), rfm_segment('3-2-3'), rfm_segment('2-1-2');
SELECT segment('rfm_segments', '{0,3}') IS NULL AS outside_domain, segment('rfm_segments', ARRAY[NULL, 3]::float8[]) IS NULL AS null_feature;

-- 2x2 matrices: a value on the threshold belongs to the high side ([lo, hi))
SELECT v, l, segment('value_loyalty', ARRAY[v, l]) AS value_loyalty
FROM (VALUES (0.5, 0.5), (0.4999, 0.5), (0.5, 0.4999), (0.4999, 0.4999), (1, 1), (0, 0)) t(v, l);
SELECT p, c, segment('price_cost', ARRAY[p, c]) AS price_cost, segment('margin_cost', ARRAY[p, c]) AS margin_cost
FROM (VALUES (1.0, 1.0), (0.99, 1.0), (1.0, 0.99), (0.99, 0.99), (2.5, 0.1)) t(p, c);

-- rules, first match wins: important > large > general > residential
SELECT i, share, nonres, kv, segment('utility_classes', ARRAY[i, share, nonres, kv]) AS class
FROM (VALUES (1, 0.5, 1, 10), (0, 0.0001, 1, 10), (0, 0.00011, 1, 10), (0, 0.5, 1, 10.5), (0, 0.5, 0, 0.4),
             (0, NULL, NULL, NULL)) t(i, share, nonres, kv);
SELECT segment('value_tiers', ARRAY[-5, 0.01, 0.01]) AS negative, segment('value_tiers', ARRAY[100, 0.05, 0.9]) AS top5,
       segment('value_tiers', ARRAY[100, 0.3, 0.2]) AS second, segment('value_tiers', ARRAY[100, 0.3, 0.5]) AS ordinary,
       segment('key_customers', '{0.2}') AS key, segment('service_priority', '{0,1}') AS priority;

-- the reason
SELECT * FROM explain_segment('rfm_segments', '{4,2}');
SELECT * FROM explain_segment('utility_classes', '{0,0.00005,0,0.4}');
SELECT * FROM explain_segment('utility_classes', '{0,0.5,0,0.4}');

-- rank cut-offs and the Pareto share, by hand:
-- values 1..10, top 20% = {10, 9} -> threshold 9; top 50% -> 6
SELECT rank_cutoffs('{1,2,3,4,5,6,7,8,9,10}', '{0.2,0.5}');
-- top 20% (2 of 10) of 1..10 holds (10 + 9) / 55 = 0.345454...
SELECT round(pareto_share('{1,2,3,4,5,6,7,8,9,10}', 0.2)::numeric, 6);

-- editing a copy: a threshold change is seen by the next statement, and
-- by another connection; every committed change is a new version
SELECT copy_segment_scheme('value_loyalty', 'my_matrix');
SELECT segment('my_matrix', '{0.55,0.55}') AS before_change;
-- (a grid is checked at commit, so a change in several statements goes in
-- one transaction)
BEGIN;
UPDATE segment_cells SET lo[1] = 0.6 WHERE scheme = 'my_matrix' AND label IN ('Golden', 'At Risk');
UPDATE segment_cells SET hi[1] = 0.6 WHERE scheme = 'my_matrix' AND label IN ('Marginal', 'Don''t Over-Service');
COMMIT;
SELECT segment('my_matrix', '{0.55,0.55}') AS after_change;
\c
SET search_path = public, crm;
SELECT segment('my_matrix', '{0.55,0.55}') AS new_connection;
SELECT version, changed_by = current_user AS by_me, definition -> 'cells' -> 0 -> 'lo' AS golden_lo
FROM segment_scheme_versions WHERE scheme = 'my_matrix' ORDER BY version;

-- invalid schemes cannot be saved: checked at commit
\set VERBOSITY default
UPDATE segment_cells SET lo[1] = 0.4 WHERE scheme = 'my_matrix' AND label = 'Golden';
UPDATE segment_cells SET lo[1] = 0.7 WHERE scheme = 'my_matrix' AND label = 'Golden';
UPDATE segment_cells SET hi[2] = 0.2 WHERE scheme = 'my_matrix' AND label = 'Marginal';
UPDATE segment_cells SET label = 'Platinum' WHERE scheme = 'my_matrix' AND label = 'Golden';
UPDATE segment_schemes SET default_label = 'Platinum' WHERE scheme = 'my_matrix';
INSERT INTO segment_rules VALUES ('service_priority', 3, 'VIP', '{"is_gold = 1"}');
INSERT INTO segment_rules VALUES ('service_priority', 0, 'ordinary', '{}');
UPDATE segment_rules SET conditions = '{"is_vip ~ 1"}' WHERE scheme = 'service_priority' AND rule = 1;
SELECT segment('no_such_scheme', '{1}');
SELECT segment('rfm_segments', '{1,2,3}');
\set VERBOSITY terse
SELECT segment('my_matrix', '{0.65,0.65}') AS unchanged_after_failures;
SELECT max(version) FROM segment_scheme_versions WHERE scheme = 'my_matrix';
