-- BG/BB (Fader, Hardie & Shang 2010, "FHS") on the donations of a
-- non-profit's 1995 cohort (test/data/README.md): the published estimates,
-- P(alive in 2002), the expected repeat donations 2002-2006, the formulas
-- written out again here in SQL (beta functions as products), the
-- distribution of the counts, and the fit from summaries.
\ir setup.psql
SELECT plan(17);

\ir donations.psql

CREATE TEMP TABLE fit AS SELECT fit_bgbb(x, t_x, n, donors) AS m FROM donations;

SELECT is((SELECT sum(donors) FROM donations), 11104::bigint, 'the donations summary holds 11,104 donors');
SELECT ok(abs(param(m, 'alpha') - 1.204) <= 0.005 AND abs(param(m, 'beta') - 0.750) <= 0.005
          AND abs(param(m, 'gamma') - 0.657) <= 0.005 AND abs(param(m, 'delta') - 2.783) <= 0.005,
          'BG/BB: alpha = 1.204, beta = 0.750, gamma = 0.657, delta = 2.783 within 0.005 (got ' || m::text || ')')
FROM fit;
SELECT ok(abs(loglik(m) + 33225.6) <= 0.1 AND converged(m) AND customers(m) = 11104,
          'log-likelihood ' || round(loglik(m)::numeric, 2) || ' (published about -33,225.6), converged, 11,104 donors')
FROM fit;
SELECT ok(std_error(m, 'alpha') > 0 AND std_error(m, 'delta') > 0,
          'standard errors: alpha ' || round(std_error(m, 'alpha')::numeric, 4) || ', delta ' || round(std_error(m, 'delta')::numeric, 4))
FROM fit;

-- P(alive in 2002) and the expectation, FHS eq. (5), (11), (13) with beta
-- function ratios as products: B(a+i, b+j)/B(a, b) = prod (a+k)/(a+b+k) prod (b+k)/(a+b+i+k)
CREATE FUNCTION pg_temp.bratio(a numeric, b numeric, i int, j int) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((SELECT exp(sum(ln((a + k) / (a + b + k)))) FROM generate_series(0, i - 1) k), 1)
         * coalesce((SELECT exp(sum(ln((b + k) / (a + b + i + k)))) FROM generate_series(0, j - 1) k), 1) $$;
CREATE TEMP TABLE params AS
SELECT param(m, 'alpha')::numeric AS al, param(m, 'beta')::numeric AS be,
       param(m, 'gamma')::numeric AS ga, param(m, 'delta')::numeric AS de, m FROM fit;
CREATE TEMP TABLE ref AS
SELECT d.x, d.t_x, d.n, d.donors, p.m,
       pg_temp.bratio(p.al, p.be, d.x, d.n - d.x) * pg_temp.bratio(p.ga, p.de, 0, d.n)
       + coalesce((SELECT sum(pg_temp.bratio(p.al, p.be, d.x, d.t_x - d.x + i) * pg_temp.bratio(p.ga, p.de, 1, d.t_x + i))
                   FROM generate_series(0, d.n - d.t_x - 1) i), 0) AS lik,
       pg_temp.bratio(p.al, p.be, d.x, d.n - d.x) * pg_temp.bratio(p.ga, p.de, 0, d.n + 1) AS alive_next,
       -- E[X(n, n+5) | x, t_x, n] = alive-at-n share times a new customer's E[X(5)] with the posterior
       pg_temp.bratio(p.al, p.be, d.x, d.n - d.x) * pg_temp.bratio(p.ga, p.de, 0, d.n)
         * (p.al + d.x) / (p.al + p.be + d.n) * (p.de + d.n) / (p.ga - 1)
         * (1 - (SELECT exp(sum(ln((1 + p.de + d.n + j) / (p.ga + p.de + d.n + j)))) FROM generate_series(0, 4) j))
         AS e5_times_lik
FROM donations d, params p;
SELECT is_empty($$SELECT x, t_x FROM ref WHERE abs(p_alive(m, x, t_x, n) - (alive_next / lik)::float8) > 1e-12$$,
    'P(alive at the next opportunity) = FHS eq. (11) for every pattern');
SELECT is((SELECT string_agg(round(p_alive(m, x, t_x, n)::numeric, 2)::text, ', ' ORDER BY x) FROM ref
           WHERE (x, t_x) IN ((0, 0), (2, 4), (6, 6))), '0.11, 0.59, 0.93',
          'P(alive in 2002) for (0, 0), (2, 4), (6, 6): 0.11, 0.59, 0.93 as published (FHS Table 6)');
SELECT is_empty($$SELECT x, t_x FROM ref
                  WHERE abs(expected_purchases(m, 5, x, t_x, n) - (e5_times_lik / lik)::float8) > 1e-10 * (e5_times_lik / lik)::float8$$,
    'E[X(n, n+5) | x, t_x, n] = FHS eq. (13) for every pattern');
SELECT ok(abs(sum(donors * expected_purchases(m, 5, x, t_x, n)) / 12884 - 1) < 0.01,
          'expected repeat donations 2002-2006: ' || round(sum(donors * expected_purchases(m, 5, x, t_x, n))::numeric, 1)
          || ' (published about 12,884, within 1%)')
FROM ref;
SELECT ok(abs(loglik(m) - (SELECT sum(donors * ln(lik)) FROM ref)::float8) < 1e-6,
          'the fit''s log-likelihood = FHS eq. (5) summed over the patterns') FROM fit;

-- distributions
SELECT ok(abs(q.total - 1) < 1e-12 AND abs(q.mean - expected_purchases_new(f.m, 6)) < 1e-12,
          'P(X(6) = k), k = 0 .. 6, sums to 1 and has the mean E[X(6)]')
FROM fit f, LATERAL (SELECT sum(p_purchases(f.m, 6, k)) AS total, sum(k * p_purchases(f.m, 6, k)) AS mean
                     FROM generate_series(0, 6) k) q;
SELECT ok(abs(p_purchases(m, 6, 0) - (pg_temp.bratio(al, be, 0, 6) * pg_temp.bratio(ga, de, 0, 6)
              + (SELECT sum(pg_temp.bratio(al, be, 0, i) * pg_temp.bratio(ga, de, 1, i)) FROM generate_series(0, 5) i))::float8) < 1e-13,
          'P(X(6) = 0) = the closed form: alive and never buying, or dead at the start of some opportunity first')
FROM params;
SELECT ok(abs(q.total - 1) < 1e-12 AND p_no_purchase(f.m, 5, 2, 4, 6) = p_purchases(f.m, 5, 0, 2, 4, 6),
          'given (2, 4, 6): P(X(5) = k) sums to 1; P(no purchase) is its k = 0')
FROM fit f, LATERAL (SELECT sum(p_purchases(f.m, 5, k, 2, 4, 6)) AS total FROM generate_series(0, 5) k) q;

-- from summaries: opportunities of one year (365.25 days) counted back
-- from 2001-12-31, so about calendar years; the first donation on
-- 1995-01-01 leaves six after it, and a donation in mid-year 1995 + y falls
-- in opportunity y
CREATE TEMP TABLE patterns AS
SELECT d.x, d.t_x, d.n, g AS donor,
       ('{1995-01-01:10' || coalesce((SELECT string_agg(',' || (1995 + y) || '-07-01:10', '' ORDER BY y)
                                      FROM generate_series(1, 6) y
                                      WHERE y = d.t_x OR (y < d.t_x AND y > d.t_x - d.x)), '') || '}')::summary AS s
FROM donations d, generate_series(1, d.donors) g;
SELECT is((SELECT count(*) FROM patterns p WHERE crm.purchase_days(p.s) = p.x + 1), 11104::bigint,
          'each donor as a summary: the first donation and x more, the last in year t_x');
CREATE TEMP TABLE from_summaries AS SELECT fit_bgbb(s, '2001-12-31', '1 year') AS m FROM patterns;
SELECT ok(param(s.m, 'alpha') = param(f.m, 'alpha') AND param(s.m, 'beta') = param(f.m, 'beta')
          AND param(s.m, 'gamma') = param(f.m, 'gamma') AND param(s.m, 'delta') = param(f.m, 'delta')
          AND loglik(s.m) = loglik(f.m) AND calibration_end(s.m) = '2001-12-31',
          'fit from summaries, opportunities of a year counted back from 2001-12-31 = the fit of the pattern table, bit for bit')
FROM from_summaries s, fit f;
SELECT ok(abs(p_alive(f.m, p.s, '2001-12-31') - p_alive(f.m, 2, 4, 6)) < 1e-15
          AND abs(expected_purchases(f.m, 5, p.s, '2001-12-31') - expected_purchases(f.m, 5, 2, 4, 6)) < 1e-15,
          'predictions from a summary = from its (x, t_x, n)')
FROM from_summaries f, (SELECT s FROM patterns WHERE x = 2 AND t_x = 4 LIMIT 1) p;

-- bad input
SELECT throws_ok($$SELECT fit_bgbb(x, t_x, n) FROM (VALUES (3, 2, 6)) v(x, t_x, n)$$, '22023',
    'x and t_x must satisfy 0 <= x <= t_x <= n', 'x > t_x: 22023');
SELECT throws_ok($$SELECT expected_purchases(m, 2.5, 1, 1, 6) FROM fit$$, '22023', NULL,
    'a horizon that is not a whole number of opportunities: 22023');

SELECT * FROM finish();
ROLLBACK;
