-- crm.btyd_model: text I/O, accessors, and what predictions refuse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;
SET search_path = public, crm;
SET extra_float_digits = 0;

SELECT 'bgnbd(r=0.243,alpha=4.414,a=0.793,b=2.426)'::btyd_model;
SELECT 'pareto_nbd(r=0.553,alpha=10.58,s=0.606,beta=11.67)'::btyd_model;
SELECT 'gamma_gamma(p=6.25,q=3.74,v=15.44)'::btyd_model;
SELECT ' mbgnbd(r=1,alpha=2,a=3,b=4) fit(loglik=-10.5,customers=3,iterations=7,converged=false,penalty=0.1,unit_days=7) '::btyd_model;
SELECT m::text::btyd_model::text = m::text AS round_trip
FROM (VALUES ('bgnbd(r=0.1234567890123,alpha=4.414,a=0.793,b=2.426) fit(loglik=-9582.425560567368,customers=2357,iterations=12,converged=true,penalty=0,unit_days=7)'::btyd_model)) v(m);

SELECT model_kind(m), param(m, 'alpha'), loglik(m), customers(m), converged(m), iterations(m)
FROM (VALUES ('bgnbd(r=0.243,alpha=4.414,a=0.793,b=2.426)'::btyd_model),
             ('mbgnbd(r=1,alpha=2,a=3,b=4) fit(loglik=-10.5,customers=3,iterations=7,converged=false,penalty=0.1,unit_days=7)')) v(m);

-- predictions on a hand-given model; BG/NBD: P(alive) = 1 for x = 0, and
-- 1 / (1 + 0.793 / (2.426 + 2 - 1) * ((4.414 + 38.86) / (4.414 + 30.43))^(0.243 + 2)) = 0.727 for customer 1
SELECT round(p_alive(m, 0, 0, 38.86)::numeric, 6) AS x0,
       round(p_alive(m, 2, 30.43, 38.86)::numeric, 3) AS customer_1,
       round(expected_purchases(m, 0, 2, 30.43, 38.86)::numeric, 6) AS no_time_no_purchases,
       round(expected_purchases_new(m, 0)::numeric, 6) AS new_at_0
FROM (VALUES ('bgnbd(r=0.243,alpha=4.414,a=0.793,b=2.426)'::btyd_model)) v(m);
-- Gamma-Gamma: x = 0 gives the population mean p v / (q - 1) = 6.25 * 15.44 / 2.74 = 35.2190
SELECT round(expected_spend('gamma_gamma(p=6.25,q=3.74,v=15.44)', 0, 0)::numeric, 4) AS population_mean;

\set VERBOSITY default
SELECT 'bgnbd(r=0.243,alpha=4.414,a=0.793)'::btyd_model;
SELECT 'bgnbd(r=0.243,alpha=4.414,a=0.793,b=-2)'::btyd_model;
SELECT 'bgnbd(r=0.243,alpha=NaN,a=0.793,b=2)'::btyd_model;
SELECT 'weibull(k=1)'::btyd_model;
SELECT 'bgnbd(r=1,alpha=1,a=1,b=1) extra'::btyd_model;
SELECT param('bgnbd(r=1,alpha=1,a=1,b=1)', 'beta');
SELECT p_alive('gamma_gamma(p=6.25,q=3.74,v=15.44)', 1, 1, 2);
SELECT expected_spend('bgnbd(r=1,alpha=1,a=1,b=1)', 1, 10);
SELECT p_alive('bgnbd(r=1,alpha=1,a=1,b=1)', '{2024-01-01:5,2024-02-01:5}', '2024-03-01');
SELECT p_alive('bgnbd(r=1,alpha=1,a=1,b=1)', 2, 5, 4);
SELECT expected_purchases('bgnbd(r=1,alpha=1,a=1,b=1)', -1, 2, 1, 4);
SELECT fit_bgnbd(x, t_x, T, w) FROM (VALUES (1, 1.0, 2.0, 0.0)) v(x, t_x, T, w);
SELECT fit_bgnbd(x, t_x, T, 1, p) FROM (VALUES (1, 1.0, 2.0, -1.0)) v(x, t_x, T, p);
SELECT fit_gamma_gamma(x, z) FROM (VALUES (2, -5.0)) v(x, z);
SELECT fit_gamma_gamma(x, z) FROM (VALUES (0, 5.0)) v(x, z);
\set VERBOSITY terse

-- 0.4.0: covariates, the calibration end and the covariance in the text form
SELECT m::text::btyd_model::text = m::text AS round_trip, model_kind(m), calibration_end(m),
       param(m, 'trans_1'), param(m, 'dropout_2'), std_error(m, 'r'), std_error(m, 'dropout_1')
FROM (VALUES ('pareto_nbd(r=0.5,alpha=9,s=0.8,beta=12) covariates(trans={0.5},dropout={-0.25,0}) fit(loglik=-100.5,customers=40,iterations=9,converged=true,penalty=0,unit_days=7,as_of=2024-06-30) vcov({0.0004,0.001,0,0,0,0,0},{0.001,0.25,0,0,0,0,0},{0,0,0.01,0.02,0,0,0},{0,0,0.02,4,0,0,0},{0,0,0,0,0.0025,0,0},{0,0,0,0,0,0.01,0},{0,0,0,0,0,0,NaN})'::btyd_model)) v(m);
-- the as_of of the text form does not depend on DateStyle
SET DateStyle = 'SQL, DMY';
SELECT 'bgnbd(r=1,alpha=2,a=3,b=4) fit(loglik=-1,customers=1,iterations=1,converged=true,penalty=0,unit_days=7,as_of=2024-06-30)'::btyd_model;
RESET DateStyle;
SELECT * FROM estimates('bgnbd(r=0.25,alpha=4,a=0.8,b=2.5) fit(loglik=-9582,customers=2357,iterations=12,converged=true,penalty=0,unit_days=7) vcov({0.0001,0,0,0},{0,0.16,0,0},{0,0,0.04,0},{0,0,0,0.25})');
SELECT vcov('bgnbd(r=0.25,alpha=4,a=0.8,b=2.5) vcov({1,2,3,4},{2,5,6,7},{3,6,8,9},{4,7,9,10})');
SELECT 'bgbb(alpha=1.204,beta=0.75,gamma=0.657,delta=2.783)'::btyd_model,
       round(p_alive('bgbb(alpha=1.204,beta=0.75,gamma=0.657,delta=2.783)', 2, 4, 6)::numeric, 2) AS p_alive_2002;
-- a model without covariance: std_error, vcov and the interval parts are NULL
SELECT std_error(m, 'r') IS NULL AS no_se, vcov(m) IS NULL AS no_vcov,
       (expected_purchases_interval(m, 39, 2, 30.43, 38.86)).std_error IS NULL AS no_interval,
       round((expected_purchases_interval(m, 39, 2, 30.43, 38.86)).expected::numeric, 4) AS expected
FROM (VALUES ('bgnbd(r=0.243,alpha=4.414,a=0.793,b=2.426)'::btyd_model)) v(m);
-- Gamma-Gamma with q <= 1 has an infinite mean for x = 0: NULL, not a negative spend
SELECT expected_spend('gamma_gamma(p=2,q=0.8,v=10)', 0, 0) AS x0,
       round(expected_spend('gamma_gamma(p=2,q=0.8,v=10)', 1, 20)::numeric, 4) AS x1;

-- binary round trip through COPY BINARY
CREATE TABLE models_src (id int, m btyd_model);
INSERT INTO models_src VALUES
    (1, 'bgnbd(r=0.243,alpha=4.414,a=0.793,b=2.426)'),
    (2, 'mbgnbd(r=1,alpha=2,a=3,b=4) fit(loglik=-10.5,customers=3,iterations=7,converged=false,penalty=0.1,unit_days=7)'),
    (3, 'pareto_nbd(r=0.5,alpha=9,s=0.8,beta=12) covariates(trans={0.5},dropout={-0.25,0}) fit(loglik=-100.5,customers=40,iterations=9,converged=true,penalty=0,unit_days=7,as_of=2024-06-30) vcov({0.0004,0.001,0,0,0,0,0},{0.001,0.25,0,0,0,0,0},{0,0,0.01,0.02,0,0,0},{0,0,0.02,4,0,0,0},{0,0,0,0,0.0025,0,0},{0,0,0,0,0,0.01,0},{0,0,0,0,0,0,NaN})'),
    (4, 'bgbb(alpha=1.2,beta=0.75,gamma=0.66,delta=2.8)'),
    (5, 'gamma_gamma(p=6.25,q=3.74,v=15.44)');
CREATE TABLE models_dst (LIKE models_src);
\copy models_src TO 'test/results/btyd_models.bin' WITH (FORMAT binary)
\copy models_dst FROM 'test/results/btyd_models.bin' WITH (FORMAT binary)
SELECT s.id, s.m::text = d.m::text AS same FROM models_src s JOIN models_dst d USING (id) ORDER BY 1;

\set VERBOSITY default
SELECT 'bgbb(alpha=1,beta=1,gamma=1,delta=1) covariates(trans={1},dropout={})'::btyd_model;
SELECT 'bgnbd(r=1,alpha=1,a=1,b=1) covariates(trans={1,2,3,4,5,6,7,8,9},dropout={})'::btyd_model;
SELECT 'bgnbd(r=1,alpha=1,a=1,b=1) vcov({1,2},{2,1})'::btyd_model;
SELECT 'bgnbd(r=1,alpha=1,a=1,b=1) vcov({1,0,0,0},{2,1,0,0},{0,0,1,0},{0,0,0,1})'::btyd_model;
SELECT 'bgnbd(r=1,alpha=1,a=1,b=1) fit(loglik=1,customers=1,iterations=1,converged=true,penalty=0,unit_days=7,as_of=infinity)'::btyd_model;
SELECT param('pareto_nbd(r=1,alpha=1,s=1,beta=1) covariates(trans={1},dropout={})', 'trans_2');
SELECT estimates('bgnbd(r=1,alpha=1,a=1,b=1)', 1.5);
SELECT p_alive('pareto_nbd(r=1,alpha=1,s=1,beta=1) covariates(trans={1},dropout={})', 1, 1, 2);
SELECT with_covariates('pareto_nbd(r=1,alpha=1,s=1,beta=1) covariates(trans={1},dropout={})', '{1,2}', '{}');
SELECT with_covariates('pareto_nbd(r=1,alpha=1,s=1,beta=1) covariates(trans={1},dropout={})', '{NULL}', '{}');
SELECT with_covariates('pareto_nbd(r=1,alpha=1,s=1,beta=1) covariates(trans={1},dropout={})', '{{1}}', '{}');
SELECT p_purchases('bgnbd(r=1,alpha=1,a=1,b=1)', 10, -1);
SELECT expected_purchases('bgbb(alpha=1,beta=1,gamma=1,delta=1)', 2.5, 1, 1, 6);
SELECT p_alive('bgbb(alpha=1,beta=1,gamma=1,delta=1)', 3, 2, 6);
SELECT expected_purchases_interval('bgnbd(r=1,alpha=1,a=1,b=1)', 10, 1, 1, 5, 1.0);
SELECT fit_bgbb(x, t_x, n) FROM (VALUES (2, 1, 6)) v(x, t_x, n);
SELECT fit_bgbb(x, t_x, n) FROM (VALUES (1, 1, 0)) v(x, t_x, n);
SELECT fit_gamma_gamma(x, z, w, p) FROM (VALUES (2, 5.0, 1.0, 0.0)) v(x, z, w, p) WHERE false;
SELECT fit_bgnbd(x, t_x, T, tr, dr) FROM (VALUES (1, 1.0, 2.0, '{1}'::float8[], '{}'::float8[]),
                                               (1, 1.0, 2.0, '{1,2}', '{}')) v(x, t_x, T, tr, dr);
SELECT fit_bgnbd(x, t_x, T, tr, dr) FROM (VALUES (1, 1.0, 2.0, '{NaN}'::float8[], '{}'::float8[])) v(x, t_x, T, tr, dr);
SELECT calibration_holdout('{2024-01-01:5}', '2024-06-30', '2024-01-31');
SELECT calibration_holdout('{2024-01-01:5}', '2024-06-30', 'infinity');
SELECT validate(m, '{2024-01-01:5}'::summary, '2024-06-30', '2024-12-31')
FROM (VALUES ('bgnbd(r=1,alpha=1,a=1,b=1)'::btyd_model)) v(m);
SELECT validate(m, '{2024-01-01:5}'::summary, '2024-06-30', '2024-12-31')
FROM (VALUES ('bgbb(alpha=1,beta=1,gamma=1,delta=1) fit(loglik=1,customers=1,iterations=1,converged=true,penalty=0,unit_days=365.25)'::btyd_model)) v(m);
\set VERBOSITY terse
