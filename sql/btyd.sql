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
