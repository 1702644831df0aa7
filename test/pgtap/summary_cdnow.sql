-- crm.summary against the cdnow_calibration CDNOW calibration summary
-- (Fader, Hardie & Lee 2005; test/data/README.md): from the raw sample,
-- calibration end 1997-09-30, unit one week, all 2,357 customers must give
-- x exactly, t_x and T to 0.01 weeks and zbar to 0.01.
\ir setup.psql
SELECT plan(7);

\ir cdnow.psql

SELECT is((SELECT count(*) FROM cdnow), 6919::bigint, 'the raw sample has 6,919 rows');
SELECT is((SELECT count(*) FROM cdnow_calibration), 2357::bigint, 'the published calibration summary has 2,357 customers');

CREATE TEMP TABLE ours AS
SELECT customer_id, (btyd_triple(s, '1997-09-30', '1 week')).*,
       coalesce(mean_repeat_spend(as_of(s, '1997-09-30')), 0) AS zbar
FROM (SELECT customer_id, summarize(purchased_at, amount) AS s FROM cdnow GROUP BY 1) q;

SELECT is((SELECT count(*) FROM ours o JOIN cdnow_calibration p ON p.id = o.customer_id),
          2357::bigint, 'every published customer has a summary');
SELECT is_empty($$SELECT p.id, o.x, p.x FROM ours o JOIN cdnow_calibration p ON p.id = o.customer_id
                  WHERE o.x <> p.x$$, 'x matches exactly for all customers');
SELECT is_empty($$SELECT p.id, o.t_x, p.t_x FROM ours o JOIN cdnow_calibration p ON p.id = o.customer_id
                  WHERE abs(o.t_x - p.t_x) > 0.01$$, 't_x within 0.01 weeks for all customers');
SELECT is_empty($$SELECT p.id, o."T", p."T" FROM ours o JOIN cdnow_calibration p ON p.id = o.customer_id
                  WHERE abs(o."T" - p."T") > 0.01$$, 'T within 0.01 weeks for all customers');
SELECT is_empty($$SELECT p.id, o.zbar, p.zbar FROM ours o JOIN cdnow_calibration p ON p.id = o.customer_id
                  WHERE abs(o.zbar - p.zbar) > 0.01$$, 'zbar within 0.01 for all customers');

SELECT * FROM finish();
ROLLBACK;
