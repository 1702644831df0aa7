-- The textbook value formulas, checked against arithmetic written out here
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;
SET search_path = public, crm;
SET extra_float_digits = 0;

-- clv(margin 100, retention 0.8, discount 10%, horizon 3, acquisition 50):
--   t=0: 100 * 1      / 1     = 100
--   t=1: 100 * 0.8    / 1.1   =  72.727273
--   t=2: 100 * 0.64   / 1.21  =  52.892562
--   t=3: 100 * 0.512  / 1.331 =  38.467318
--   sum 264.087153 - 50 = 214.087153
SELECT round(clv(100, 0.8, 0.1, 3, 50)::numeric, 6) AS clv;
-- horizon 0: only period 0: 100 - 50 = 50
SELECT clv(100, 0.8, 0.1, 0, 50) AS horizon_0;
-- discount 0: 100 * (1 + 0.8 + 0.64 + 0.512) = 295.2
SELECT round(clv(100, 0.8, 0, 3)::numeric, 9) AS discount_0;
-- retention 1, discount 0: 100 * 4 periods = 400
SELECT clv(100, 1, 0, 3) AS retention_1;
-- retention 0: only period 0 counts: 100 - 30 = 70
SELECT clv(100, 0, 0.1, 3, 30) AS retention_0;
-- retention 1, discount 10%, 3 periods: 100 * (1 + 1/1.1 + 1/1.21 + 1/1.331) = 348.685199
SELECT round(clv(100, 1, 0.1, 3)::numeric, 6) AS retention_1_discounted;
-- a long horizon converges to margin / (1 - q), q = 0.8 / 1.1: 100 / (0.3 / 1.1) = 366.666667
SELECT round(clv(100, 0.8, 0.1, 10000)::numeric, 6) AS long_horizon;
-- the array form equals the scalar form when survival = retention^t
SELECT round(clv(ARRAY[150, 150, 150, 150]::float8[], ARRAY[50, 50, 50, 50]::float8[],
                 ARRAY[1, 0.8, 0.64, 0.512]::float8[], 0.1, 50)::numeric, 6) AS series;
-- per-period values: (200-120)*1 + (220-130)*0.7/1.05 + (250-140)*0.5/1.1025
--   = 80 + 60 + 49.886621 = 189.886621
SELECT round(clv('{200,220,250}', '{120,130,140}', '{1,0.7,0.5}', 0.05)::numeric, 6) AS series_varying;
SELECT clv('{}'::float8[], '{}', '{}', 0.1, 10) AS empty_series;

-- current value: profit 100 for 3 more periods at 10%:
--   100/1.1 + 100/1.21 + 100/1.331 = 90.909091 + 82.644628 + 75.131480 = 248.685199
SELECT round(current_value(100, 3, 0.1)::numeric, 6) AS current_value;
SELECT current_value(100, 3, 0) AS undiscounted, current_value(100, 0, 0.1) AS no_periods;

-- potential value: margin +20%, retention +0.1 (0.8 -> 0.9), 10%, horizon 3:
--   clv(120, 0.9) = 120 * (1 + 0.818182 + 0.669421 + 0.547708) = 120 * 3.035312 = 364.237416
--   clv(100, 0.8) = 264.087153; difference 100.150263
SELECT round(potential_value(100, 0.8, 0.1, 3, 0.2, 0.1)::numeric, 6) AS potential_value;
-- retention uplift is capped at 1: 0.95 + 0.1 -> 1
SELECT potential_value(100, 0.95, 0, 2, 0, 0.1) = clv(100, 1, 0, 2) - clv(100, 0.95, 0, 2) AS capped;

-- profitability: revenue 1000 - discounts 50 - goods 600 = gross margin 350;
-- cost to serve 20 + 30 + 10 + 5 = 65; profit 285
SELECT * FROM profitability(1000, 50, 600, 20, 30, 10, 5);
SELECT * FROM profitability(100, cost_of_goods => 80, order_cost => 25);
SELECT should_abandon(500, 400) AS costs_more, should_abandon(400, 500) AS worth_it, should_abandon(400, 400) AS equal;

-- bad input: 22023 naming the argument; NULL in, NULL out
\set VERBOSITY default
SELECT clv(100, 0.8, -0.1, 3);
SELECT clv(100, 1.2, 0.1, 3);
SELECT clv(100, -0.1, 0.1, 3);
SELECT clv(100, 0.8, 0.1, -1);
SELECT clv('NaN', 0.8, 0.1, 3);
SELECT clv(100, 0.8, 0.1, 3, 'Infinity');
SELECT clv('{1,2}', '{1}', '{1,1}', 0.1);
SELECT clv('{1,2}', '{1,1}', '{1,1.5}', 0.1);
SELECT clv('{1,2}', '{1,1}', '{0.5,0.9}', 0.1);
SELECT clv('{1,NULL}', '{1,1}', '{1,1}', 0.1);
SELECT current_value(100, -2, 0.1);
SELECT current_value(100, 2, -0.5);
SELECT potential_value(100, 0.5, 0.1, 3, 0, -0.6);
SELECT profitability('-Infinity');
SELECT should_abandon('NaN', 1);
\set VERBOSITY terse
SELECT clv(NULL, 0.8, 0.1, 3) IS NULL AS null_margin, current_value(100, NULL, 0.1) IS NULL AS null_periods;
