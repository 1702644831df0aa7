-- Time-invariant covariates (CLVTools' convention: alpha_i = alpha
-- exp(-gamma_trans' z_i), beta_i = beta exp(-gamma_drop' z_i) for
-- Pareto/NBD; a_i, b_i = a, b exp(gamma_drop' z_i) for BG/NBD): recovered
-- on 100,000 customers simulated here in SQL with known coefficients,
-- nothing changed by covariates that are all 0, one customer's model.
-- (test/unit/btyd_predictions_test.c recovers BG/NBD and Pareto/NBD
-- coefficients at other shapes from 100,000 customers each as well.)
\ir setup.psql
SELECT plan(13);

\ir cdnow.psql

-- Pareto/NBD with r = s = 1 (exponential rates: exact draws in SQL),
-- alpha = 9, beta = 12; gamma_trans = 0.5 on a normal covariate, gamma_drop
-- = -0.5 on a 0/1 one; T uniform in 26 .. 78 weeks; x ~ Poisson(lambda L)
-- over the observed lifetime L = min(T, death), t_x = L U^(1/x)
CREATE FUNCTION pg_temp.rpois(mean float8) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE k integer := 0; p float8 := 1; limit_ float8 := exp(-mean);
BEGIN
    LOOP
        p := p * random();
        EXIT WHEN p <= limit_;
        k := k + 1;
    END LOOP;
    RETURN k;
END $$;
SELECT setseed(0.42);
CREATE TABLE sim AS
SELECT i, z1, z2, "T", x, CASE WHEN x = 0 THEN 0 ELSE l * power(random(), 1.0 / x) END AS t_x
FROM (SELECT i, z1, z2, "T", l, pg_temp.rpois(lambda * l) AS x
      FROM (SELECT i, z1, z2, "T", lambda, least("T", -ln(1 - random()) / mu) AS l
            FROM (SELECT i, z1, z2, 26 + 52 * random() AS "T",
                         -ln(1 - random()) / (9 * exp(-0.5 * z1)) AS lambda,
                         -ln(1 - random()) / (12 * exp(0.5 * z2)) AS mu
                  FROM (SELECT i, sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z1,
                               (random() < 0.4)::integer::float8 AS z2
                        FROM generate_series(1, 100000) i) a) b) c) d;
ANALYZE sim;
CREATE TEMP TABLE simfit AS SELECT fit_pareto_nbd(x, t_x, "T", ARRAY[z1], ARRAY[z2]) AS m FROM sim;

SELECT ok(converged(m) AND customers(m) = 100000, 'Pareto/NBD with covariates on 100,000 simulated customers: converged in '
          || iterations(m) || ' iterations') FROM simfit;
SELECT ok(abs(param(m, 'trans_1') - 0.5) < 3 * std_error(m, 'trans_1'),
          'purchase coefficient ' || round(param(m, 'trans_1')::numeric, 4) || ', true 0.5: '
          || round((abs(param(m, 'trans_1') - 0.5) / std_error(m, 'trans_1'))::numeric, 2) || ' standard errors ('
          || round(std_error(m, 'trans_1')::numeric, 4) || ') off') FROM simfit;
SELECT ok(abs(param(m, 'dropout_1') + 0.5) < 3 * std_error(m, 'dropout_1'),
          'dropout coefficient ' || round(param(m, 'dropout_1')::numeric, 4) || ', true -0.5: '
          || round((abs(param(m, 'dropout_1') + 0.5) / std_error(m, 'dropout_1'))::numeric, 2) || ' standard errors ('
          || round(std_error(m, 'dropout_1')::numeric, 4) || ') off') FROM simfit;
SELECT ok(abs(param(m, 'r') - 1) < 3 * std_error(m, 'r') AND abs(param(m, 'alpha') - 9) < 3 * std_error(m, 'alpha')
          AND abs(param(m, 's') - 1) < 3 * std_error(m, 's') AND abs(param(m, 'beta') - 12) < 3 * std_error(m, 'beta'),
          'r, alpha, s, beta = ' || round(param(m, 'r')::numeric, 3) || ', ' || round(param(m, 'alpha')::numeric, 3) || ', '
          || round(param(m, 's')::numeric, 3) || ', ' || round(param(m, 'beta')::numeric, 3)
          || ': within 3 standard errors of 1, 9, 1, 12') FROM simfit;

-- covariates that are 0 everywhere change nothing
CREATE TEMP TABLE zero AS
SELECT fit_bgnbd(x, t_x, "T") AS plain, fit_bgnbd(x, t_x, "T", '{0}'::float8[], '{0,0}'::float8[]) AS withz FROM cdnow_calibration;
SELECT ok(split_part(withz::text, ' covariates(', 1) = split_part(plain::text, ' fit(', 1)
          AND loglik(withz) = loglik(plain) AND param(withz, 'trans_1') = 0 AND param(withz, 'dropout_2') = 0
          AND std_error(withz, 'trans_1') IS NULL AND std_error(withz, 'alpha') = std_error(plain, 'alpha'),
          'covariates 0 for every customer: the fit without covariates bit for bit, coefficients 0 without standard errors')
FROM zero;

-- one customer's model
SELECT ok(param(c, 'alpha') = param(m, 'alpha') * exp(-param(m, 'trans_1') * 1.5)
          AND param(c, 'beta') = param(m, 'beta') * exp(-param(m, 'dropout_1') * 1)
          AND param(c, 'r') = param(m, 'r') AND param(c, 's') = param(m, 's')
          AND std_error(c, 'alpha') > 0,
          'with_covariates: alpha_i = alpha exp(-gamma_trans z), beta_i = beta exp(-gamma_drop z), with standard errors')
FROM simfit, LATERAL with_covariates(m, '{1.5}', '{1}') c;
SELECT ok(p_alive(with_covariates(m, '{1.5}', '{1}'), 3, 20, 40)
          = p_alive(format('pareto_nbd(r=%s,alpha=%s,s=%s,beta=%s)', param(m, 'r'), param(m, 'alpha') * exp(-param(m, 'trans_1') * 1.5),
                           param(m, 's'), param(m, 'beta') * exp(-param(m, 'dropout_1')))::btyd_model, 3, 20, 40),
          'predictions of a customer model = those of the model with the customer''s parameters typed in')
FROM simfit;

-- from summaries, and in parallel: the same fit
CREATE TABLE sums AS SELECT customer_id, summarize(purchased_at, amount) AS s, (customer_id % 3)::float8 AS z FROM cdnow GROUP BY 1;
ANALYZE sums;
SELECT ok(split_part((SELECT fit_bgnbd(s, '1997-09-30', '1 week', ARRAY[z], '{}'::float8[]) FROM sums)::text, ' fit(', 1)
          = split_part((SELECT fit_bgnbd(t.x, t.t_x, t."T", ARRAY[z], '{}'::float8[]) FROM sums, btyd_triple(s, '1997-09-30', '1 week') t
                        WHERE t."T" > 0)::text, ' fit(', 1),
          'the covariate fit from summaries = the fit of their (x, t_x, T) in weeks');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT is((SELECT fit_pareto_nbd(x, t_x, "T", ARRAY[z1], ARRAY[z2])::text FROM sim), (SELECT m::text FROM simfit),
          'parallel covariate fit = serial covariate fit');
RESET max_parallel_workers_per_gather;

-- bad input
SELECT throws_ok($$SELECT fit_bgnbd(x, t_x, "T", CASE WHEN id = 1 THEN '{1,2}'::float8[] ELSE '{1}' END, '{}'::float8[]) FROM cdnow_calibration$$,
    '22023', 'every row of a fit must have the same number of covariates', 'covariate arrays of different lengths: 22023');
SELECT throws_ok($$SELECT fit_bgnbd(x, t_x, "T", '{NULL}'::float8[], '{}'::float8[]) FROM cdnow_calibration$$, '22004',
    'trans must not contain NULL', 'a NULL covariate: 22004');
SELECT throws_ok($$SELECT fit_pareto_nbd(x, t_x, "T", '{1,2,3,4,5,6,7,8,9}'::float8[], '{}'::float8[]) FROM cdnow_calibration$$, '54000',
    NULL, 'more than 8 covariates: 54000');
SELECT throws_ok($$SELECT expected_purchases(m, 10, 1, 1, 5) FROM simfit$$, '22023',
    'a model with covariates predicts for one customer''s covariates', 'predicting with the covariate model itself: 22023');

SELECT * FROM finish();
ROLLBACK;
