-- crm.summary: text and binary input/output
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;
SET search_path = public, crm;
SET datestyle = ISO;

-- canonical text round trips
SELECT '{}'::summary;
SELECT '{2024-01-31:19.90}'::summary;
SELECT ' { 2024-01-31 : 19.90 } '::summary AS spaces_are_not_allowed_inside_a_day;
SELECT '{ 2024-01-31:19.90 ,2024-02-14:5.50x2 }'::summary AS spaces_between_days;
SELECT '{2024-01-31:19.9,2024-02-14:-5x0,2024-02-15:0.0001x3}'::summary;
SELECT '{2024-01-31:-3.5}'::summary AS purchase_day_with_larger_refund;
SELECT '{0001-01-01:1,9999-12-31:922337203685477.5807}'::summary AS extremes;
SELECT s::text::summary = s AS text_round_trip
FROM (VALUES ('{}'::summary), ('{2024-01-31:19.9,2024-02-14:-5x0,2024-02-15:0.0001x3}')) v(s);

-- malformed input: 22P02 naming the type
\set VERBOSITY default
SELECT ''::summary;
SELECT '2024-01-31:1'::summary;
SELECT '{2024-01-31:1'::summary;
SELECT '{2024-01-31:1}x'::summary;
SELECT '{2024-02-30:1}'::summary;
SELECT '{24-01-31:1}'::summary;
SELECT '{2024-01-31}'::summary;
SELECT '{2024-01-31:abc}'::summary;
SELECT '{2024-01-31:1.23456}'::summary;
SELECT '{2024-01-31:1e3}'::summary;
SELECT '{2024-01-31:922337203685477.5808}'::summary;
SELECT '{2024-01-31:1x}'::summary;
SELECT '{2024-01-31:1x-1}'::summary;
SELECT '{2024-01-31:1x99999999999}'::summary;
SELECT '{2024-01-31:1,2024-01-31:2}'::summary;
SELECT '{2024-02-01:1,2024-01-31:2}'::summary;
SELECT '{2024-01-31:5x0}'::summary;
SELECT '{2024-01-31:0x0}'::summary;
SELECT '{2024-01-31:1,}'::summary;
SELECT '{,}'::summary;
\set VERBOSITY terse

-- binary round trip through COPY BINARY
CREATE TEMP TABLE io_src (id int, s summary);
INSERT INTO io_src VALUES
    (1, '{}'),
    (2, '{2024-01-31:19.9}'),
    (3, '{0001-01-01:-0.0001x0,2024-02-14:5.5x2,9999-12-31:922337203685477.5807x2147483647}');
INSERT INTO io_src
SELECT 100 + g, crm.summarize(date '2020-01-01' + (g * 7 + k * 13) % 400, ((g * k) % 9000 - 1000) / 100.0)
FROM generate_series(1, 50) g, generate_series(1, 40) k GROUP BY g;
\copy io_src TO 'test/results/summary_io.bin' WITH (FORMAT binary)
CREATE TEMP TABLE io_dst (LIKE io_src);
\copy io_dst FROM 'test/results/summary_io.bin' WITH (FORMAT binary)
SELECT count(*) AS rows, count(*) FILTER (WHERE d.s = s.s AND d.s::text = s.s::text) AS identical
FROM io_src s JOIN io_dst d USING (id);

-- equality is by history, whatever the input order
SELECT '{2024-01-31:19.9}'::summary = '{2024-01-31:19.90}'::summary AS eq,
       '{2024-01-31:19.9}'::summary <> '{2024-01-31:19.9x2}'::summary AS ne;
