-- Standard errors and intervals: the Pareto/NBD standard errors on CDNOW
-- as published (Fader, Hardie & Lee 2005; test/data/README.md), the
-- accessors agree with each other, crm.standard_errors turns them off
-- without touching the estimates, and the delta-method interval of the
-- expected purchases is recomputed here from crm.vcov and differences of
-- crm.expected_purchases.
\ir setup.psql
SELECT plan(11);

\ir cdnow.psql

CREATE TEMP TABLE fits AS
SELECT fit_bgnbd(x, t_x, "T") AS bg, fit_pareto_nbd(x, t_x, "T") AS pn FROM cdnow_calibration;

SELECT ok(abs(std_error(pn, 'r') / 0.0476 - 1) < 0.02 AND abs(std_error(pn, 'alpha') / 0.8427 - 1) < 0.02
          AND abs(std_error(pn, 's') / 0.1873 - 1) < 0.02 AND abs(std_error(pn, 'beta') / 6.2105 - 1) < 0.02,
          'Pareto/NBD standard errors ' || round(std_error(pn, 'r')::numeric, 4) || ', ' || round(std_error(pn, 'alpha')::numeric, 4)
          || ', ' || round(std_error(pn, 's')::numeric, 4) || ', ' || round(std_error(pn, 'beta')::numeric, 4)
          || ' within 2% of the published 0.0476, 0.8427, 0.1873, 6.2105')
FROM fits;
SELECT is_empty($$SELECT e.parameter FROM fits, estimates(bg) WITH ORDINALITY e(parameter, estimate, std_error, lower, upper, i)
                  WHERE e.estimate <> param(bg, e.parameter) OR e.std_error <> std_error(bg, e.parameter)
                     OR abs(e.std_error - sqrt((vcov(bg))[e.i][e.i])) > 1e-15 * e.std_error
                     OR abs(ln(e.upper / e.estimate) - 1.959963984540054 * e.std_error / e.estimate) > 1e-12
                     OR abs(e.lower * e.upper - e.estimate^2) > 1e-12 * e.estimate^2$$,
    'crm.estimates = crm.param, crm.std_error and the diagonal of crm.vcov; 95% intervals symmetric on the log scale');
SELECT ok(array_length(vcov(bg), 1) = 4 AND array_length(vcov(bg), 2) = 4
          AND (vcov(bg))[1][2] = (vcov(bg))[2][1] AND (vcov(bg))[3][4] = (vcov(bg))[4][3],
          'crm.vcov: a symmetric 4 x 4 matrix') FROM fits;

-- crm.standard_errors = off: the same estimates, no covariance
SET crm.standard_errors = off;
CREATE TEMP TABLE plain AS SELECT fit_bgnbd(x, t_x, "T") AS bg, fit_pareto_nbd(x, t_x, "T") AS pn FROM cdnow_calibration;
RESET crm.standard_errors;
SELECT ok(std_error(p.bg, 'r') IS NULL AND vcov(p.pn) IS NULL
          AND split_part(p.bg::text, ' vcov(', 1) = split_part(f.bg::text, ' vcov(', 1)
          AND split_part(p.pn::text, ' vcov(', 1) = split_part(f.pn::text, ' vcov(', 1),
          'crm.standard_errors = off: no covariance, the same estimates and fit bit for bit')
FROM plain p, fits f;

-- the interval, again by hand: g_j = dE/dparam_j by central differences of
-- crm.expected_purchases on models typed in with param_j moved, var = g'Vg
CREATE TEMP TABLE moved AS
SELECT j, sgn,
       format('bgnbd(r=%s,alpha=%s,a=%s,b=%s)',
              param(bg, 'r') * CASE WHEN j = 1 THEN 1 + sgn * 1e-6 ELSE 1 END,
              param(bg, 'alpha') * CASE WHEN j = 2 THEN 1 + sgn * 1e-6 ELSE 1 END,
              param(bg, 'a') * CASE WHEN j = 3 THEN 1 + sgn * 1e-6 ELSE 1 END,
              param(bg, 'b') * CASE WHEN j = 4 THEN 1 + sgn * 1e-6 ELSE 1 END)::btyd_model AS m,
       1e-6 * param(bg, (ARRAY['r', 'alpha', 'a', 'b'])[j]) AS h
FROM fits, generate_series(1, 4) j, (VALUES (-1), (1)) s(sgn);
CREATE TEMP TABLE grad AS
SELECT j, (max(expected_purchases(m, 39, 2, 30.43, 38.86)) FILTER (WHERE sgn = 1)
           - max(expected_purchases(m, 39, 2, 30.43, 38.86)) FILTER (WHERE sgn = -1)) / (2 * max(h)) AS g
FROM moved GROUP BY j;
SELECT ok(abs(i.std_error - sqrt(v.var)) < 1e-5 * i.std_error AND i.lower < i.expected AND i.expected < i.upper
          AND i.expected = expected_purchases(f.bg, 39, 2, 30.43, 38.86),
          'E[X(39) | 2, 30.43, 38.86] = ' || round(i.expected::numeric, 4) || ', standard error ' || round(i.std_error::numeric, 4)
          || ' = sqrt(g'' V g) from crm.vcov and differences of crm.expected_purchases, 95% interval ['
          || round(i.lower::numeric, 4) || ', ' || round(i.upper::numeric, 4) || ']')
FROM fits f, expected_purchases_interval(f.bg, 39, 2, 30.43, 38.86) i,
     (SELECT sum(a.g * b.g * (vcov(f2.bg))[a.j][b.j]) AS var FROM grad a, grad b, fits f2) v;
SELECT ok(i90.upper < i95.upper AND i90.lower > i95.lower AND i90.std_error = i95.std_error,
          'a 90% interval lies inside the 95% one, with the same standard error')
FROM fits, expected_purchases_interval(bg, 39, 2, 30.43, 38.86, 0.90) i90, expected_purchases_interval(bg, 39, 2, 30.43, 38.86) i95;

-- from summaries: the same interval as from the customer's triple
CREATE TEMP TABLE sums AS SELECT customer_id, summarize(purchased_at, amount) AS s FROM cdnow GROUP BY 1;
CREATE TEMP TABLE sfit AS SELECT fit_bgnbd(s, '1997-09-30', '1 week') AS m FROM sums;
SELECT ok(a.expected = b.expected AND a.std_error = b.std_error AND a.lower = b.lower AND a.upper = b.upper,
          'the interval from a summary = from its (x, t_x, T) in weeks')
FROM sfit, sums, LATERAL expected_purchases_interval(m, 26, s, '1997-09-30') a,
     LATERAL btyd_triple(s, '1997-09-30', '1 week') t,
     LATERAL expected_purchases_interval(m, 26, t.x, t.t_x, t."T") b
WHERE customer_id = 1;
SELECT ok(calibration_end(m) = '1997-09-30' AND calibration_end(f.bg) IS NULL,
          'crm.calibration_end: the as_of of a fit on summaries, NULL for a fit on triples') FROM sfit, fits f;

-- a model without covariates is its own customer model
SELECT ok(with_covariates(bg, '{}', '{}')::text = bg::text, 'with_covariates of a model without covariates is the model') FROM fits;

-- the text form keeps the covariance exactly
SELECT ok(bg::text::btyd_model::text = bg::text AND vcov(bg::text::btyd_model) = vcov(bg),
          'a fitted model''s text round trip keeps its covariance bit for bit') FROM fits;
SELECT throws_ok($$SELECT estimates(bg, 0) FROM fits$$, '22023', 'level must lie strictly between 0 and 1', 'level 0: 22023');

SELECT * FROM finish();
ROLLBACK;
