-- RFM, textbook value and model functions: bad input raises the documented
-- SQLSTATE naming the argument; NULL in gives NULL out.
\ir setup.psql
SELECT plan(20);

-- crm.rfm text input: out of range 22003, garbage 22P02
SELECT throws_ok($$SELECT '0-1-1'::rfm$$, '22003', NULL, 'rfm 0-1-1: 22003');
SELECT throws_ok($$SELECT '6-1-1'::rfm$$, '22003', 'recency score 6 is out of range for a crm.rfm on a 1..5 scale', 'rfm 6-1-1 on scale 5: 22003');
SELECT throws_ok($$SELECT '1-1-1/1'::rfm$$, '22003', NULL, 'rfm scale 1: 22003');
SELECT throws_ok($$SELECT 'garbage'::rfm$$, '22P02', 'invalid input syntax for type crm.rfm: "garbage"', 'rfm garbage: 22P02 naming the type');
SELECT throws_ok($$SELECT 'k=5'::rfm_cutpoints$$, '22P02', NULL, 'cutpoints garbage: 22P02');
SELECT throws_ok($$SELECT rfm_thresholds('2024-12-31', '{90,30}', '{1,2}', '{50,100}')$$, '22023', NULL,
                 'thresholds out of order: 22023');

-- textbook value: 22023 naming the argument
SELECT throws_ok($$SELECT clv(100, 0.8, -0.1, 3)$$, '22023', 'discount_rate must not be negative', 'negative discount rate');
SELECT throws_ok($$SELECT clv(100, 1.5, 0.1, 3)$$, '22023', 'retention must be between 0 and 1', 'retention above 1');
SELECT throws_ok($$SELECT clv(100, -0.5, 0.1, 3)$$, '22023', 'retention must be between 0 and 1', 'retention below 0');
SELECT throws_ok($$SELECT clv('NaN', 0.8, 0.1, 3)$$, '22023', 'margin must be a finite number', 'NaN money');
SELECT throws_ok($$SELECT clv(100, 0.8, 0.1, 3, '-Infinity')$$, '22023', 'acquisition_cost must be a finite number', 'infinite money');
SELECT throws_ok($$SELECT clv(100, 0.8, 0.1, -1)$$, '22023', 'horizon must not be negative', 'negative horizon');
SELECT throws_ok($$SELECT current_value(100, -1, 0.1)$$, '22023', 'periods must not be negative', 'negative periods');
SELECT throws_ok($$SELECT profitability('Infinity')$$, '22023', 'revenue must be a finite number', 'infinite revenue');
SELECT ok(clv(NULL, 0.8, 0.1, 3) IS NULL AND current_value(100, NULL, 0.1) IS NULL
          AND should_abandon(NULL, 1) IS NULL AND rfm_score(NULL, rfm_thresholds('2024-12-31', '{30}', '{1}', '{50}')) IS NULL,
          'NULL in, NULL out');

-- models
SELECT throws_ok($$SELECT 'bgnbd(r=1,alpha=1,a=1,b=0)'::btyd_model$$, '22023', NULL, 'a non-positive parameter: 22023');
SELECT throws_ok($$SELECT 'weibull(k=1)'::btyd_model$$, '22P02', NULL, 'unknown model kind: 22P02');
SELECT throws_ok($$SELECT fit_bgnbd(x, t_x, "T") FROM (VALUES (1, 'NaN'::float8, 2.0)) v(x, t_x, "T")$$, '22023',
                 't_x must be a finite number', 'non-finite input to a fit: 22023');
SELECT throws_ok($$SELECT fit_gamma_gamma(x, z) FROM (VALUES (2, 0.0)) v(x, z)$$, '22023', NULL,
                 'Gamma-Gamma with zero mean spend: 22023');
SELECT throws_ok($$SELECT expected_purchases('bgnbd(r=1,alpha=1,a=1,b=1)', 'Infinity', 1, 1, 2)$$, '22023', NULL,
                 'infinite horizon: 22023');

SELECT * FROM finish();
ROLLBACK;
