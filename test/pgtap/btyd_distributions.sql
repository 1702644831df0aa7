-- Distributions of the counts, P(no purchase), and predictions that stay in
-- range for the inputs that broke the peers (CLVTools issue 100, lifetimes)
-- and for x in the thousands.  The closed forms are written out here in
-- SQL, 2F1 as a numeric series.
\ir setup.psql
SELECT plan(15);

\ir cdnow.psql

CREATE TEMP TABLE fits AS
SELECT fit_bgnbd(x, t_x, "T") AS bg, fit_pareto_nbd(x, t_x, "T") AS pn, fit_mbgnbd(x, t_x, "T") AS mbg
FROM cdnow_calibration;
CREATE TEMP TABLE models AS
SELECT 'bgnbd' AS kind, bg AS m FROM fits UNION ALL SELECT 'pareto_nbd', pn FROM fits UNION ALL SELECT 'mbgnbd', mbg FROM fits;
-- every 40th customer, and the heaviest
CREATE TEMP TABLE sample AS
SELECT * FROM cdnow_calibration WHERE id % 40 = 1 OR x >= 20;

SELECT ok(max(abs(total - 1)) < 1e-9,
          'P(X(t) = k) of a new customer sums to 1 over k = 0 .. 2000 for BG/NBD, Pareto/NBD, MBG/NBD, t = 1, 39, 78 (worst '
          || to_char(max(abs(total - 1)), '9.9EEEE') || ')')
FROM (SELECT kind, t, sum(p_purchases(m, t, k)) AS total
      FROM models, (VALUES (1.0), (39.0), (78.0)) v(t), generate_series(0, 2000) k GROUP BY kind, t) q;
SELECT ok(max(abs(total - 1)) < 1e-9,
          'P(X(T, T+39) = k | x, t_x, T) sums to 1 over k for every model and ' || count(DISTINCT id) || ' customers (worst '
          || to_char(max(abs(total - 1)), '9.9EEEE') || ')')
FROM (SELECT kind, id, sum(p_purchases(m, 39, k, x, t_x, "T")) AS total
      FROM models, sample, generate_series(0, 150) k GROUP BY kind, id) q;
SELECT ok(max(abs(mean - e) / e) < 1e-9,
          'the mean of P(X(T, T+39) = k | history) is crm.expected_purchases (worst rel. diff '
          || to_char(max(abs(mean - e) / e), '9.9EEEE') || ')')
FROM (SELECT kind, id, sum(k * p_purchases(m, 39, k, x, t_x, "T")) AS mean, min(expected_purchases(m, 39, x, t_x, "T")) AS e
      FROM models, sample, generate_series(0, 150) k GROUP BY kind, id) q;
SELECT is_empty($$SELECT kind, id FROM models, sample
                  WHERE p_no_purchase(m, 39, x, t_x, "T") <> p_purchases(m, 39, 0, x, t_x, "T")$$,
    'P(no purchase in the next t) is P(X = 0)');

-- P(X(t) = 0), closed forms
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
SELECT is_empty($$SELECT t FROM fits, (VALUES (1.0), (39.0), (78.0)) v(t)
                  WHERE abs(p_purchases(bg, t, 0) - power(param(bg, 'alpha') / (param(bg, 'alpha') + t), param(bg, 'r'))) > 1e-14$$,
    'BG/NBD P(X(t) = 0) = (alpha / (alpha + t))^r');
SELECT is_empty($$SELECT t FROM fits, (VALUES (1.0), (39.0), (78.0)) v(t),
                  LATERAL (SELECT param(mbg, 'a') / (param(mbg, 'a') + param(mbg, 'b')) AS gone) g
                  WHERE abs(p_purchases(mbg, t, 0)
                            - (g.gone + (1 - g.gone) * power(param(mbg, 'alpha') / (param(mbg, 'alpha') + t), param(mbg, 'r')))) > 1e-14$$,
    'MBG/NBD P(X(t) = 0) = a/(a+b) + b/(a+b) (alpha / (alpha + t))^r');
-- Pareto/NBD: alive through t, or dead at tau before a purchase,
--   (alpha/(alpha+t))^r (beta/(beta+t))^s + s alpha^r beta^s int_0^t (alpha+tau)^-r (beta+tau)^-(s+1) dtau,
-- the integral in the form of Fader & Hardie's A_0 (here beta > alpha):
--   [2F1(r+s, r; r+s+1; (beta-alpha)/beta) / beta^(r+s) - 2F1(r+s, r; r+s+1; (beta-alpha)/(beta+t)) / (beta+t)^(r+s)] / (r+s)
SELECT is_empty($$SELECT t FROM (SELECT param(pn, 'r')::numeric AS r, param(pn, 'alpha')::numeric AS al,
                                         param(pn, 's')::numeric AS s, param(pn, 'beta')::numeric AS be, pn FROM fits) p,
                                 (VALUES (1.0), (39.0), (78.0)) v(t)
                  WHERE abs(p_purchases(pn, t, 0)
                            - (power(al / (al + t), r) * power(be / (be + t), s)
                               + s * power(al, r) * power(be, s) / (r + s)
                                 * (pg_temp.hyp2f1(r + s, r, r + s + 1, (be - al) / be) / power(be, r + s)
                                    - pg_temp.hyp2f1(r + s, r, r + s + 1, (be - al) / (be + t)) / power(be + t, r + s)))::float8) > 1e-13$$,
    'Pareto/NBD P(X(t) = 0) = the closed form with 2F1 (Fader & Hardie''s A_0), summed as a numeric series');
SELECT is_empty($$SELECT id FROM fits, sample,
                  LATERAL (SELECT CASE WHEN x = 0 THEN 1 ELSE 1 / (1 + param(bg, 'a') / (param(bg, 'b') + x - 1)
                                       * power((param(bg, 'alpha') + "T") / (param(bg, 'alpha') + t_x), param(bg, 'r') + x)) END AS w) a
                  WHERE abs(p_no_purchase(bg, 39, x, t_x, "T")
                            - (1 - a.w + a.w * power((param(bg, 'alpha') + "T") / (param(bg, 'alpha') + "T" + 39), param(bg, 'r') + x))) > 1e-13$$,
    'BG/NBD P(no purchase in 39 weeks | x, t_x, T) = 1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+39))^(r+x)');

-- the inputs that broke the peers
CREATE TEMP TABLE peer AS
SELECT * FROM (VALUES
    -- CLVTools issue 100: Pareto/NBD r, alpha, s, beta
    (0.5143, 2.8845, 0.2856, 14.1087, 221, 103.43, 103.57), (0.5143, 2.8845, 0.2856, 14.1087, 254, 97.14, 97.29),
    (0.5143, 2.8845, 0.2856, 14.1087, 161, 94.71, 98.00), (0.5143, 2.8845, 0.2856, 14.1087, 204, 98.57, 99.43),
    -- lifetimes: BG/NBD r, alpha, a, b
    (10.465, 0.00798565, 3.0516, 2.820, 40, 5, 6), (10.465, 0.00798565, 3.0516, 2.820, 50, 1, 37),
    (10.465, 0.00798565, 3.0516, 2.820, 50, 4, 37),
    -- x in the thousands, daily
    (0.25, 30.0, 0.8, 2.5, 5000, 29000, 30000), (0.55, 70.0, 0.6, 80.0, 9000, 49999.5, 50000)) v(p1, p2, p3, p4, x, t_x, "T");
CREATE TEMP TABLE peer_models AS
SELECT p.*, k.kind,
       format('%s(%s=%s,%s=%s,%s=%s,%s=%s)', k.kind, k.n1, p1, k.n2, p2, k.n3, p3, k.n4, p4)::btyd_model AS m
FROM peer p, (VALUES ('bgnbd', 'r', 'alpha', 'a', 'b'), ('mbgnbd', 'r', 'alpha', 'a', 'b'),
                     ('pareto_nbd', 'r', 'alpha', 's', 'beta')) k(kind, n1, n2, n3, n4);
SELECT is_empty($$SELECT kind, x, t FROM peer_models, (VALUES (1.0), (52.0), (520.0)) v(t)
                  WHERE NOT (p_alive(m, x, t_x, "T") BETWEEN 0 AND 1)
                     OR NOT (expected_purchases(m, t, x, t_x, "T") BETWEEN 0 AND 1e9)
                     OR NOT (expected_purchases_new(m, t) BETWEEN 0 AND 1e9)
                     OR NOT (p_no_purchase(m, t, x, t_x, "T") BETWEEN 0 AND 1)
                     OR NOT (p_purchases(m, t, x, x, t_x, "T") BETWEEN 0 AND 1)
                     OR NOT (p_purchases(m, t, 1) BETWEEN 0 AND 1)$$,
    'CLVTools #100, lifetimes and x in the thousands, every count model, t = 1, 52, 520: P(alive) and probabilities in [0, 1], expectations finite >= 0');
SELECT ok(abs(sum(p_purchases(m, 52, k, 221, 103.43, 103.57)) - 1) < 1e-9,
          'CLVTools #100 customer 1 (x = 221): P(X(52) = k) sums to 1')
FROM peer_models, generate_series(0, 800) k WHERE kind = 'pareto_nbd' AND x = 221;
SELECT ok(expected_purchases(m, 52, 221, 103.43, 103.57) > 0
          AND expected_purchases(m, 52, 221, 103.43, 103.57) < 221 * 52 / 103.43 * 2,
          'CLVTools #100 customer 1: E[X(52)] = ' || round(expected_purchases(m, 52, 221, 103.43, 103.57)::numeric, 2)
          || ', positive and below twice the customer''s own rate')
FROM peer_models WHERE kind = 'pareto_nbd' AND x = 221;

-- Gamma-Gamma with q <= 1: the mean spend is infinite; NULL, never negative
SELECT ok(expected_spend('gamma_gamma(p=2,q=0.8,v=10)', 0, 0) IS NULL
          AND expected_spend('gamma_gamma(p=0.1,q=0.5,v=10)', 2, 30) IS NULL
          AND expected_spend('gamma_gamma(p=2,q=0.8,v=10)', 1, 20) > 0,
          'Gamma-Gamma q <= 1: expected spend NULL where p x + q <= 1, positive where the mean is finite');
SELECT ok(expected_clv('bgnbd(r=0.25,alpha=4,a=0.8,b=2.5) fit(loglik=0,customers=1,iterations=1,converged=true,penalty=0,unit_days=7)',
                       'gamma_gamma(p=2,q=0.8,v=10)', '{2024-01-01:10}', '2024-06-30', 52, 0.01) IS NULL,
          'expected_clv with an infinite expected spend: NULL');
SELECT ok(min(expected_spend(gg, x, zbar)) > 0, 'Gamma-Gamma CDNOW fit: every customer''s expected spend positive')
FROM cdnow_calibration, (SELECT fit_gamma_gamma(x, zbar) AS gg FROM cdnow_calibration) f;
SELECT throws_ok($$SELECT p_purchases('bgnbd(r=1,alpha=1,a=1,b=1)', 10, -1, 1, 1, 5)$$, '22023', 'k must not be negative',
    'k < 0: 22023');

SELECT * FROM finish();
ROLLBACK;
