-- crm.summary against the published CDNOW calibration summary
-- (Fader, Hardie & Lee 2005; ../shared/data/README.md): from the raw sample,
-- calibration end 1997-09-30, unit one week, all 2,357 customers must give
-- x exactly, t_x and T to 0.01 weeks and zbar to 0.01.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;
SET search_path = public, crm;
SELECT plan(7);

\set sample `cat "$CRM_SHARED/data/cdnow/CDNOW_sample.txt"`
\set published `cat "$CRM_SHARED/data/cdnow/cdnow_customers_summary_with_transactions.csv"`

CREATE TEMP TABLE cdnow AS
SELECT f[2]::int AS customer_id, to_date(f[3], 'YYYYMMDD') AS purchased_at,
       f[5]::numeric AS amount
FROM (SELECT regexp_split_to_array(btrim(line), '\s+') AS f
      FROM regexp_split_to_table(:'sample', '\r?\n') AS line
      WHERE btrim(line) <> '') s;

CREATE TEMP TABLE published AS
SELECT f[1]::int AS id, f[2]::int AS x, f[3]::float8 AS t_x, f[4]::float8 AS "T",
       f[5]::float8 AS zbar
FROM (SELECT string_to_array(btrim(line, E' \r'), ',') AS f
      FROM regexp_split_to_table(:'published', '\n') WITH ORDINALITY AS l(line, n)
      WHERE n > 1) s;

SELECT is((SELECT count(*) FROM cdnow), 6919::bigint, 'the raw sample has 6,919 rows');
SELECT is((SELECT count(*) FROM published), 2357::bigint, 'the published summary has 2,357 customers');

CREATE TEMP TABLE ours AS
SELECT customer_id, (btyd_triple(s, '1997-09-30', '1 week')).*,
       coalesce(mean_repeat_spend(as_of(s, '1997-09-30')), 0) AS zbar
FROM (SELECT customer_id, summarize(purchased_at, amount) AS s FROM cdnow GROUP BY 1) q;

SELECT is((SELECT count(*) FROM ours o JOIN published p ON p.id = o.customer_id),
          2357::bigint, 'every published customer has a summary');
SELECT is_empty($$SELECT p.id, o.x, p.x FROM ours o JOIN published p ON p.id = o.customer_id
                  WHERE o.x <> p.x$$, 'x matches exactly for all customers');
SELECT is_empty($$SELECT p.id, o.t_x, p.t_x FROM ours o JOIN published p ON p.id = o.customer_id
                  WHERE abs(o.t_x - p.t_x) > 0.01$$, 't_x within 0.01 weeks for all customers');
SELECT is_empty($$SELECT p.id, o."T", p."T" FROM ours o JOIN published p ON p.id = o.customer_id
                  WHERE abs(o."T" - p."T") > 0.01$$, 'T within 0.01 weeks for all customers');
SELECT is_empty($$SELECT p.id, o.zbar, p.zbar FROM ours o JOIN published p ON p.id = o.customer_id
                  WHERE abs(o.zbar - p.zbar) > 0.01$$, 'zbar within 0.01 for all customers');

SELECT * FROM finish();
ROLLBACK;
