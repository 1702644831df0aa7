-- BTYD models on CDNOW (Fader, Hardie & Lee 2005; test/data/README.md):
-- published estimates, predictions against formulas evaluated here from
-- first principles (numeric series for 2F1), parallel = serial, table =
-- pre-aggregated weights, fits from raw orders through summaries.
\ir setup.psql
SELECT plan(23);

\ir cdnow.psql

CREATE TEMP TABLE fits AS
SELECT fit_bgnbd(x, t_x, "T") AS bg, fit_pareto_nbd(x, t_x, "T") AS pnbd,
       fit_gamma_gamma(x, zbar) AS gg
FROM cdnow_calibration;

-- published estimates
SELECT ok(abs(param(bg, 'r') - 0.243) <= 0.001 AND abs(param(bg, 'alpha') - 4.414) <= 0.001
          AND abs(param(bg, 'a') - 0.793) <= 0.001 AND abs(param(bg, 'b') - 2.426) <= 0.001,
          'BG/NBD: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 to 0.001 (got ' || bg::text || ')') FROM fits;
SELECT ok(abs(loglik(bg) + 9582.4) <= 0.1, 'BG/NBD log-likelihood -9582.4 to 0.1') FROM fits;
SELECT ok(converged(bg) AND customers(bg) = 2357, 'BG/NBD converged on 2,357 customers') FROM fits;
SELECT ok(abs(param(pnbd, 'r') - 0.553) <= 0.01 AND abs(param(pnbd, 'alpha') - 10.58) <= 0.01
          AND abs(param(pnbd, 's') - 0.606) <= 0.01 AND abs(param(pnbd, 'beta') - 11.67) <= 0.01,
          'Pareto/NBD: r = 0.553, alpha = 10.58, s = 0.606, beta = 11.67 to 0.01 (got ' || pnbd::text || ')') FROM fits;
SELECT ok(abs(param(gg, 'p') - 6.25) <= 0.01 AND abs(param(gg, 'q') - 3.74) <= 0.01
          AND abs(param(gg, 'v') - 15.44) <= 0.01 AND customers(gg) = 946,
          'Gamma-Gamma on the 946 repeat customers: p = 6.25, q = 3.74, v = 15.44 to 0.01') FROM fits;
-- (the published spends come from the unrounded estimates: with p, q, v
-- rounded to 6.25, 3.74, 15.44 the x = 0 customers would get 35.22, not 35.17)
SELECT is_empty($$
    SELECT c.id, round(expected_spend(f.gg, c.x, c.zbar)::numeric, 2), e.v
    FROM fits f, cdnow_calibration c JOIN (VALUES (1, 24.65), (2, 18.91), (3, 35.17), (4, 35.17), (5, 35.17), (6, 71.46),
                            (7, 18.91), (8, 35.17), (9, 27.28), (10, 35.17)) e(id, v) USING (id)
    WHERE abs(expected_spend(f.gg, c.x, c.zbar) - e.v) > 0.01$$,
    'Gamma-Gamma expected spend of the first ten customers as published, to 0.01');

-- grouping: the table and its pre-aggregated (x, t_x, T, count) form give the same fit
SELECT is((SELECT fit_bgnbd(x, t_x, "T", n)::text
           FROM (SELECT x, t_x, "T", count(*)::float8 AS n FROM cdnow_calibration GROUP BY 1, 2, 3) g),
          (SELECT bg::text FROM fits), 'fit on pre-aggregated weights equals fit on the table');

-- parallel fit equals serial fit
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT alike(pg_temp.plan_of('SELECT fit_pareto_nbd(x, t_x, "T") FROM cdnow_calibration'), '%Partial Aggregate%',
             'the fit runs as a partial aggregate in parallel');
SELECT is((SELECT fit_pareto_nbd(x, t_x, "T")::text FROM cdnow_calibration), (SELECT pnbd::text FROM fits),
          'parallel Pareto/NBD fit equals the serial fit');
SELECT is((SELECT fit_gamma_gamma(x, zbar)::text FROM cdnow_calibration), (SELECT gg::text FROM fits),
          'parallel Gamma-Gamma fit equals the serial fit');
RESET max_parallel_workers_per_gather;

-- from raw orders through summaries, weeks
CREATE TEMP TABLE summaries AS SELECT customer_id, summarize(purchased_at, amount) AS s FROM cdnow GROUP BY 1;
CREATE TEMP TABLE raw_fit AS
SELECT fit_bgnbd(s, '1997-09-30', '1 week') AS bg, fit_gamma_gamma(s, '1997-09-30') AS gg FROM summaries;
SELECT ok(abs(param(bg, 'r') - 0.243) <= 0.001 AND abs(param(bg, 'alpha') - 4.414) <= 0.001
          AND abs(param(bg, 'a') - 0.793) <= 0.001 AND abs(param(bg, 'b') - 2.426) <= 0.001
          AND abs(loglik(bg) + 9582.4) <= 0.1,
          'BG/NBD fitted from the raw orders (summaries, 1 week) matches the published estimates') FROM raw_fit;
SELECT ok(abs(param(gg, 'p') - 6.25) <= 0.01 AND abs(param(gg, 'q') - 3.74) <= 0.01 AND abs(param(gg, 'v') - 15.44) <= 0.01,
          'Gamma-Gamma fitted from the raw orders matches the published estimates') FROM raw_fit;

-- predictions against first principles.  BG/NBD (FHL 2005):
--   P(alive) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))
--   E[X(t) | x, t_x, T] = (a + b + x - 1) / (a - 1)
--        * (1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t)))
--        / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))
-- with 2F1 summed here as a numeric series to 1e-30.
CREATE FUNCTION pg_temp.hyp2f1(a numeric, b numeric, c numeric, z numeric) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE term numeric := 1; total numeric := 1; n int := 0;
BEGIN
    LOOP
        term := term * (a + n) * (b + n) / ((c + n) * (n + 1)) * z;
        total := total + term;
        n := n + 1;
        EXIT WHEN abs(term) < 1e-30 OR n > 5000;
    END LOOP;
    RETURN total;
END $$;
CREATE TEMP TABLE ref AS
SELECT c.id, c.x, c.t_x, c."T",
       param(f.bg, 'r')::numeric AS r, param(f.bg, 'alpha')::numeric AS al,
       param(f.bg, 'a')::numeric AS a, param(f.bg, 'b')::numeric AS b, f.bg
FROM cdnow_calibration c, fits f;
CREATE TEMP TABLE ref2 AS
SELECT id, x, t_x, "T", bg,
       1 / (1 + CASE WHEN x > 0 THEN a / (b + x - 1) * power((al + "T"::numeric) / (al + t_x::numeric), r + x) ELSE 0 END) AS p_alive,
       (a + b + x - 1) / (a - 1)
         * (1 - power((al + "T"::numeric) / (al + "T"::numeric + 39), r + x)
                * pg_temp.hyp2f1(r + x, b + x, a + b + x - 1, 39 / (al + "T"::numeric + 39)))
         / (1 + CASE WHEN x > 0 THEN a / (b + x - 1) * power((al + "T"::numeric) / (al + t_x::numeric), r + x) ELSE 0 END)
         AS expected_39
FROM ref;
SELECT is_empty($$SELECT id, p_alive(bg, x, t_x, "T"), p_alive FROM ref2
                  WHERE abs(p_alive(bg, x, t_x, "T") - p_alive::float8) > 1e-9 * abs(p_alive::float8)$$,
    'BG/NBD P(alive) of all 2,357 customers equals the closed form to 1e-9 relative');
SELECT is_empty($$SELECT id, expected_purchases(bg, 39, x, t_x, "T"), expected_39 FROM ref2
                  WHERE abs(expected_purchases(bg, 39, x, t_x, "T") - expected_39::float8) > 1e-9 * abs(expected_39::float8)$$,
    'BG/NBD expected purchases in the next 39 weeks equal eq. (10) with a numeric 2F1 to 1e-9 relative');
SELECT is_empty($$SELECT id FROM cdnow_calibration, fits WHERE x = 0 AND p_alive(bg, x, t_x, "T") <> 1$$,
    'BG/NBD P(alive) is exactly 1 for every customer with x = 0');
-- unconditional: E[X(t)] = (a + b - 1) / (a - 1) (1 - (alpha / (alpha + t))^r 2F1(r, b; a + b - 1; t / (alpha + t)))
SELECT ok(abs(expected_purchases_new(bg, 78) -
              ((a + b - 1) / (a - 1) * (1 - power(al / (al + 78), r) * pg_temp.hyp2f1(r, b, a + b - 1, 78 / (al + 78))))::float8)
          <= 1e-9 * expected_purchases_new(bg, 78),
          'BG/NBD unconditional E[X(78)] equals the closed form to 1e-9 relative') FROM ref WHERE id = 1;
-- Gamma-Gamma: E[M | x, zbar] = (q - 1) / (p x + q - 1) * v p / (q - 1) + p x / (p x + q - 1) * zbar
SELECT is_empty($$SELECT id FROM cdnow_calibration, fits,
                  LATERAL (SELECT param(gg, 'p') AS p, param(gg, 'q') AS q, param(gg, 'v') AS v) g
                  WHERE abs(expected_spend(gg, x, zbar)
                            - ((q - 1) / (p * x + q - 1) * v * p / (q - 1) + p * x / (p * x + q - 1) * zbar))
                        > 1e-9 * expected_spend(gg, x, zbar)$$,
    'Gamma-Gamma expected spend equals the closed form to 1e-9 relative for all customers');

-- large inputs stay finite: x in the thousands, T in the tens of thousands
SELECT ok(p_alive(bg, 5000, 29000, 30000) BETWEEN 0 AND 1
          AND expected_purchases(bg, 365, 5000, 29000, 30000) BETWEEN 0 AND 1e6
          AND p_alive(pnbd, 5000, 29000, 30000) BETWEEN 0 AND 1,
          'predictions for x = 5000, T = 30000 are finite and P(alive) lies in [0, 1]') FROM fits;

-- bad input
SELECT throws_ok($$SELECT fit_bgnbd(x, t_x, T) FROM (VALUES (-1, 0.0, 1.0)) v(x, t_x, T)$$, '22023',
    'x must not be negative', 'x < 0: 22023');
SELECT throws_ok($$SELECT fit_bgnbd(x, t_x, T) FROM (VALUES (1, 5.0, 1.0)) v(x, t_x, T)$$, '22023',
    't_x must lie between 0 and T', 't_x > T: 22023');
SELECT throws_ok($$SELECT fit_pareto_nbd(x, t_x, T) FROM (VALUES (1, 0.5, 0.0)) v(x, t_x, T)$$, '22023',
    'T must be positive', 'T <= 0: 22023');
SELECT throws_ok($$SELECT fit_bgnbd(x, t_x, T) FROM (VALUES (0, 0.0, 10.0), (0, 0.0, 20.0)) v(x, t_x, T)$$, '22023',
    NULL, 'every customer with x = 0: 22023, dropout cannot be identified');
SELECT ok((SELECT fit_bgnbd(x, t_x, "T") FROM cdnow_calibration WHERE false) IS NULL, 'empty input: NULL');

SELECT * FROM finish();
ROLLBACK;
