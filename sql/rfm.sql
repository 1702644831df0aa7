-- crm.rfm and crm.rfm_cutpoints: I/O, ordering, indexing, scoring
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;
SET search_path = public, crm;
SET datestyle = ISO;

-- text forms
SELECT '5-4-3'::rfm, '543'::rfm, ' 1-1-1 '::rfm, '7-2-9/9'::rfm, '729/9'::rfm, '2-1-2/2'::rfm;
SELECT rfm(5, 4, 3), rfm(3, 1, 2, 3), rfm(9, 9, 9, 9);
SELECT recency_score(r), frequency_score(r), monetary_score(r), rfm_scale(r), rfm_total(r)
FROM (VALUES ('5-4-3'::rfm), ('7-2-9/9')) v(r);

-- out of range: 22003; garbage: 22P02
\set VERBOSITY default
SELECT '0-1-1'::rfm;
SELECT '6-1-1'::rfm;
SELECT '1-1-6'::rfm;
SELECT '1-1-1/1'::rfm;
SELECT '5-4'::rfm;
SELECT '5-4-3-2'::rfm;
SELECT '5--4-3'::rfm;
SELECT 'abc'::rfm;
SELECT '54-3'::rfm;
SELECT rfm(6, 1, 1);
SELECT rfm(1, 1, 1, 10);
-- the type modifier: a column of one scale
CREATE TEMP TABLE scored3 (r rfm(3));
INSERT INTO scored3 VALUES ('3-2-1/3');
INSERT INTO scored3 VALUES ('3-2-1');
INSERT INTO scored3 VALUES ('3-2-1/4');
SELECT r FROM scored3;
SELECT '1-1-1'::rfm(10);
\set VERBOSITY terse

-- ordering: recency, then frequency, then monetary score
SELECT r FROM (VALUES ('3-5-5'::rfm), ('5-1-1'), ('3-5-4'), ('1-5-5'), ('3-4-5')) v(r) ORDER BY r;
SELECT '5-4-3'::rfm = '543'::rfm AS eq, '5-4-3'::rfm <> '5-4-3/9'::rfm AS scales_differ,
       '1-1-1'::rfm < '1-1-2'::rfm AS lt, '2-1-1'::rfm > '1-5-5'::rfm AS gt;

-- btree index, hash aggregate and hash join
CREATE TEMP TABLE many AS
SELECT g AS id, rfm(1 + g % 5, 1 + (g / 5) % 5, 1 + (g / 25) % 5) AS r FROM generate_series(0, 9999) g;
CREATE INDEX ON many (r);
ANALYZE many;
SET enable_seqscan = off;
SELECT count(*) FROM many WHERE r = '3-2-1';
SELECT count(*) FROM many WHERE r BETWEEN '3-1-1' AND '3-5-5';
RESET enable_seqscan;
SET enable_sort = off;
SELECT count(*) AS groups, min(n), max(n) FROM (SELECT r, count(*) n FROM many GROUP BY r) g;
RESET enable_sort;
SET enable_mergejoin = off;
SET enable_nestloop = off;
SELECT count(*) FROM many a JOIN (SELECT DISTINCT r FROM many WHERE recency_score(r) = 5) b USING (r);
RESET enable_mergejoin;
RESET enable_nestloop;

-- fixed thresholds: recency {30,90,180,365} days, frequency {1,2,4,8}, monetary {50,100,250,1000}
SELECT rfm_thresholds('2024-12-31', '{30,90,180,365}', '{1,2,4,8}', '{50,100,250,1000}') AS c \gset
SELECT :'c'::rfm_cutpoints::text::rfm_cutpoints::text = :'c' AS text_round_trip;
SELECT cutpoints(:'c', 'recency') AS recency, cutpoints(:'c', 'frequency') AS frequency,
       cutpoints(:'c', 'monetary') AS monetary, as_of(:'c'::rfm_cutpoints), rfm_scale(:'c'::rfm_cutpoints),
       customers(:'c'::rfm_cutpoints);

-- boundary values: a value equal to a cutpoint falls in the lower band for
-- frequency and monetary, in the better band for recency.
--   last purchase 2024-12-01: 30 days -> R 5 (30 <= 30);  2024-11-30: 31 days -> R 4
--   1 purchase day -> F 1;  2 -> F 2 (2 > 1, not > 2);  9 -> F 5
--   spend 50 -> M 1;  50.01 -> M 2;  1000.0001 -> M 5
SELECT label, rfm_score(s::summary, :'c') FROM (VALUES
    ('30 days, 1 day, 50',          '{2024-12-01:50}'),
    ('31 days, 1 day, 50.01',       '{2024-11-30:50.01}'),
    ('365 days, 2 days, 100',       '{2023-12-01:40,2024-01-01:60}'),
    ('366 days, 2 days, 100.0001',  '{2023-11-30:40,2023-12-31:60.0001}'),
    ('0 days, 9 days, 1000.0001',   '{2024-12-23:100,2024-12-24:100,2024-12-25:100,2024-12-26:100,2024-12-27:100,2024-12-28:100,2024-12-29:100,2024-12-30:100,2024-12-31:200.0001}'),
    ('purchases after as_of ignored', '{2024-12-01:50,2025-01-05:5000}'),
    ('no purchase by as_of',        '{2025-01-05:5000}'),
    ('refunds only',                '{2024-12-01:-5x0}')
) v(label, s);

\set VERBOSITY default
SELECT rfm_thresholds('2024-12-31', '{90,30}', '{1,2}', '{50,100}');
SELECT rfm_thresholds('2024-12-31', '{30,90}', '{1,2,3}', '{50,100}');
SELECT rfm_thresholds('2024-12-31', '{30,NULL}', '{1,2}', '{50,100}');
SELECT rfm_thresholds('2024-12-31', '{1,2,3,4,5,6,7,8,9}', '{1,2,3,4,5,6,7,8,9}', '{1,2,3,4,5,6,7,8,9}');
SELECT rfm_thresholds('infinity', '{30}', '{1}', '{50}');
SELECT cutpoints(:'c', 'loyalty');
SELECT 'k=5 as_of=2024-12-31 customers=0 recency=1,2,3 frequency=1,2,3,4 monetary=1,2,3,4'::rfm_cutpoints;
SELECT 'k=3 as_of=2024-12-31 customers=0 recency=9,2 frequency=1,2 monetary=1,2'::rfm_cutpoints;
\set VERBOSITY terse

-- quantiles: 10 customers with 1..10 purchase days, all bought on as_of,
-- spending 10 per day: quintile cutpoints at positions 2, 4, 6, 8
CREATE TEMP TABLE ten AS
SELECT c AS customer_id, summarize(date '2024-12-31' - d, 10::numeric) AS s
FROM generate_series(1, 10) c, generate_series(0, c - 1) d GROUP BY c;
SELECT rfm_quantiles(s, '2024-12-31') FROM ten;
SELECT customer_id, rfm_score(s, (SELECT rfm_quantiles(s, '2024-12-31') FROM ten)) FROM ten ORDER BY 1;
SELECT rfm_quantiles(s, '2024-12-31', 2) FROM ten;
SELECT rfm_quantiles(s, '2024-12-31') IS NULL AS no_customers FROM ten WHERE false;
SELECT rfm_quantiles(s, '2000-01-01') IS NULL AS nobody_by_then FROM ten;
\set VERBOSITY default
SELECT rfm_quantiles(s, '2024-12-31', 1) FROM ten;
SELECT rfm_quantiles(s, NULL) FROM ten;
SELECT rfm_quantiles(s, date '2024-12-31' + customer_id % 2) FROM ten;
