-- Holdout validation of the BTYD models on CDNOW (Fader, Hardie & Lee
-- 2005; test/data/README.md): calibration to 1997-09-30, holdout
-- 1997-10-01 .. 1998-06-30 (39 weeks).  Published: 1,882 repeat purchase
-- days in the holdout; BG/NBD expects 1,653, Pareto/NBD 1,665.  Every
-- figure of the report is also computed here another way: from
-- crm.calibration_holdout and the prediction functions, customer by
-- customer, in SQL.
\ir setup.psql
SELECT plan(28);

\ir cdnow.psql

CREATE TABLE sums AS SELECT customer_id, summarize(purchased_at, amount) AS s FROM cdnow GROUP BY 1;
CREATE TABLE models AS
SELECT fit_bgnbd(s, '1997-09-30', '1 week') AS bg, fit_pareto_nbd(s, '1997-09-30', '1 week') AS pn FROM sums;
ANALYZE sums, models;
CREATE TEMP TABLE ch AS
SELECT customer_id, s, (calibration_holdout(s, '1997-09-30', '1998-06-30', '1 week')).* FROM sums;
CREATE TEMP TABLE reports AS
SELECT validate(m.bg, s.s, '1997-09-30', '1998-06-30') AS vb, validate(m.pn, s.s, '1997-09-30', '1998-06-30') AS vp
FROM sums s, models m;

-- the calibration and holdout figures per customer
SELECT is_empty($$SELECT p.id FROM ch c JOIN cdnow_calibration p ON p.id = c.customer_id
                  WHERE c.x <> p.x OR abs(c.t_x - p.t_x) > 0.01 OR abs(c."T" - p."T") > 0.01$$,
    'calibration_holdout: (x, t_x, T) as in the published calibration summary, for all 2,357 customers');
SELECT is((SELECT sum(holdout_purchases) FROM ch), 1882::bigint, 'holdout repeat purchase days: 1,882 as published');
SELECT is((SELECT count(*) FILTER (WHERE holdout_length = 39) FROM ch), 2357::bigint, 'the holdout is 39 weeks for every customer');
SELECT is((SELECT sum(holdout_purchases) FROM ch WHERE x = 0), 334::bigint,
          'customers without repeat purchases in the calibration made 334 of them');

-- totals
SELECT is((SELECT customers FROM validation_summary((SELECT vb FROM reports))), 2357::bigint, 'the report covers 2,357 customers');
SELECT is((SELECT actual FROM validation_summary((SELECT vb FROM reports))), 1882::float8, 'the report''s actual holdout total: 1,882');
SELECT ok(abs(expected - 1653) <= 1, 'BG/NBD expected holdout repeat purchases ' || round(expected::numeric, 2) || ' (published 1,653, within 1)')
FROM validation_summary((SELECT vb FROM reports));
SELECT ok(abs(expected - 1665) <= 1, 'Pareto/NBD expected holdout repeat purchases ' || round(expected::numeric, 2) || ' (published 1,665, within 1)')
FROM validation_summary((SELECT vp FROM reports));
SELECT ok(abs(r.expected - c.e) <= 1e-9 * c.e,
          'the expected total = the sum of crm.expected_purchases(bg, 39, s, split) over the customers')
FROM validation_summary((SELECT vb FROM reports)) r,
     (SELECT sum(expected_purchases(m.bg, 39, ch.s, '1997-09-30')) AS e FROM ch, models m) c;
SELECT ok(abs(r.mean_absolute_error - c.mae) <= 1e-12 AND abs(r.root_mean_squared_error - c.rmse) <= 1e-12
          AND abs(r.buyers_expected - c.buyers) <= 1e-9 * c.buyers AND r.buyers = c.actual_buyers,
          'mean absolute error ' || round(r.mean_absolute_error::numeric, 4) || ', RMSE, customers buying again (made '
          || r.buyers || ', expected ' || round(r.buyers_expected::numeric, 1) || ') = their definitions customer by customer')
FROM validation_summary((SELECT vb FROM reports)) r,
     (SELECT avg(abs(holdout_purchases - expected_purchases(m.bg, 39, ch.s, '1997-09-30'))) AS mae,
             sqrt(avg((holdout_purchases - expected_purchases(m.bg, 39, ch.s, '1997-09-30'))^2)) AS rmse,
             sum(1 - p_no_purchase(m.bg, 39, ch.s, '1997-09-30')) AS buyers,
             count(*) FILTER (WHERE holdout_purchases > 0) AS actual_buyers
      FROM ch, models m) c;
-- AUC, Mann-Whitney with average ranks, on P(buys again) = 1 - crm.p_no_purchase
CREATE TEMP TABLE scored AS
SELECT 1 - p_no_purchase(m.bg, 39, ch.s, '1997-09-30') AS score, holdout_purchases > 0 AS bought FROM ch, models m;
SELECT ok(abs(r.auc - a.auc) <= 1e-12, 'AUC of P(buys again) ' || round(r.auc::numeric, 4) || ' = Mann-Whitney with average ranks')
FROM validation_summary((SELECT vb FROM reports)) r,
     (SELECT (sum(rk) FILTER (WHERE bought) - count(*) FILTER (WHERE bought) * (count(*) FILTER (WHERE bought) + 1) / 2.0)
             / (count(*) FILTER (WHERE bought) * count(*) FILTER (WHERE NOT bought)) AS auc
      FROM (SELECT bought, (rank() OVER w + count(*) OVER (PARTITION BY score) - 1 + rank() OVER w) / 2.0 AS rk
            FROM scored WINDOW w AS (ORDER BY score)) q) a;

-- per calibration frequency: the rows add up, and each is its own GROUP BY
SELECT ok(sum(customers) = 2357 AND sum(actual) = 1882 AND abs(sum(expected) - (SELECT expected FROM validation_summary(r.vb))) < 1e-9,
          'the frequency rows add up to 2,357 customers, 1,882 made and the expected total')
FROM reports r, validation_by_frequency(r.vb) GROUP BY r.vb;
SELECT is_empty($$SELECT f.frequency FROM reports r, validation_by_frequency(r.vb) f
                  JOIN (SELECT least(ch.x, 7) AS b, count(*) AS n, sum(holdout_purchases) AS made,
                               sum(expected_purchases(m.bg, 39, ch.s, '1997-09-30')) AS e
                        FROM ch, models m GROUP BY 1) g ON g.b = f.min_x
                  WHERE f.customers <> g.n OR f.actual <> g.made OR abs(f.expected - g.e) > 1e-9 * g.e
                     OR abs(f.actual_mean - g.made::float8 / g.n) > 1e-12$$,
    'each frequency row (0 .. 6, 7+) = the customers of that calibration frequency, GROUP BY in SQL');
SELECT is((SELECT string_agg(frequency, ',' ORDER BY min_x) FROM reports r, validation_by_frequency(r.vb)),
          '0,1,2,3,4,5,6,7+', 'frequency rows 0 .. 6 and 7+ (FHL 2005, Figure 4)');

-- tracking
SELECT is((SELECT count(*) FROM reports r, validation_tracking(r.vb)), 78::bigint,
          'tracking: 78 weekly rows from the first week of 1997 to 1998-06-30');
SELECT ok(sum(actual) = (SELECT sum(x) + sum(holdout_purchases) FROM ch)
          AND sum(actual) FILTER (WHERE holdout) = 1882
          AND max(actual_cumulative) = sum(actual)
          AND count(*) FILTER (WHERE holdout) = 39,
          'tracking: the weeks'' repeat purchase days add up to the calibration and holdout totals (4,339 = '
          || sum(actual) || '), 39 holdout weeks')
FROM reports r, validation_tracking(r.vb);
SELECT ok(abs(t.expected_given_calibration - s.expected) < 1e-9 * s.expected,
          'tracking: the last week''s expectation given the calibration = the expected total')
FROM reports r, validation_tracking(r.vb) t, validation_summary(r.vb) s WHERE t.period_end = '1998-06-30';
SELECT ok(abs(t.expected_cumulative - c.e) < 1e-9 * c.e,
          'tracking: the unconditional cumulative expectation at 1998-06-30 = sum of E[X(t)] from each first purchase ('
          || round(c.e::numeric, 1) || ')')
FROM reports r, validation_tracking(r.vb) t,
     (SELECT sum(expected_purchases_new(m.bg, ('1998-06-30'::date - first_purchase(s)) / 7.0)) AS e FROM sums, models m) c
WHERE t.period_end = '1998-06-30';
SELECT ok(abs(t.expected_given_calibration - c.e) < 1e-9 * c.e,
          'tracking: the expectation given the calibration on 1998-01-27 = the sum of E[X(17 weeks) | history]')
FROM reports r, validation_tracking(r.vb) t,
     (SELECT sum(expected_purchases(m.bg, 17, ch.s, '1997-09-30')) AS e FROM ch, models m) c
WHERE t.period_end = '1998-01-27';
SELECT is((SELECT count(*) FROM reports r, validation_tracking(
               (SELECT validate(m.bg, s.s, '1997-09-30', '1998-06-30', '4 weeks') FROM sums s, models m))), 20::bigint,
          'tracking in steps of 4 weeks: 20 rows, the last one cut at holdout_end');

-- parallel = serial (sums in another order: to 1e-12)
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT alike(pg_temp.plan_of($$SELECT validate((SELECT bg FROM models), s.s, '1997-09-30', '1998-06-30') FROM sums s$$),
             '%Partial Aggregate%', 'the validation runs as a partial aggregate in parallel (the model a scalar subquery)');
SELECT ok(abs(p.expected - s.expected) < 1e-12 * s.expected AND p.actual = s.actual AND p.customers = s.customers
          AND abs(p.auc - s.auc) < 1e-12 AND abs(p.mean_absolute_error - s.mean_absolute_error) < 1e-12,
          'parallel validation = serial validation')
FROM validation_summary((SELECT validate((SELECT bg FROM models), s.s, '1997-09-30', '1998-06-30') FROM sums s)) p,
     validation_summary((SELECT vb FROM reports)) s;
RESET max_parallel_workers_per_gather;

-- the views on the stored model: the CDNOW customers as crm's, the model of a refresh
INSERT INTO crm.customers (customer_id, summary) SELECT customer_id, s FROM sums;
INSERT INTO crm.scoring (cutpoints, model)
SELECT rfm_thresholds('1997-09-30', '{30,90,180,365}', '{1,2,4,8}', '{50,100,250,1000}'), bg FROM models;
SET crm.as_of = '1998-06-30';
SELECT ok(v.customers = 2357 AND v.actual = 1882 AND abs(v.expected - r.expected) < 1e-9 * r.expected
          AND v.calibration_end = '1997-09-30' AND v.holdout_end = '1998-06-30',
          'crm.model_validation: the stored model from its calibration end to the business date')
FROM crm.model_validation v, validation_summary((SELECT vb FROM reports)) r;
SELECT is((SELECT count(*) FROM crm.model_validation_by_frequency), 8::bigint, 'crm.model_validation_by_frequency: 8 rows');
SELECT is((SELECT count(*) FROM crm.model_tracking), 78::bigint, 'crm.model_tracking: 78 weeks');
RESET crm.as_of;

-- bad input
SELECT throws_ok($$SELECT validate(m.bg, s.s, '1997-09-30', '1997-01-01') FROM sums s, models m$$, '22023',
    NULL, 'holdout_end before split: 22023');
SELECT throws_ok($$SELECT validate('bgnbd(r=1,alpha=1,a=1,b=1)', s.s, '1997-09-30', '1998-06-30') FROM sums s$$, '22023',
    'the model was not fitted on summaries, so its time unit is unknown', 'a model without a time unit: 22023');
SELECT throws_ok($$SELECT validate(CASE WHEN customer_id % 2 = 0 THEN m.bg ELSE m.pn END, s.s, '1997-09-30', '1998-06-30')
                   FROM sums s, models m$$, '22023', 'the model must be the same for every row of a validation',
    'another model on some rows: 22023');

SELECT * FROM finish();
ROLLBACK;
