-- Win probabilities learned from generated histories whose transition
-- probabilities are known (test/gen/crm_gen.c), with few and with half the
-- opportunities still open; absorbing chains solved by hand; parallel =
-- serial; and the backtest: the learned forecast against the
-- fixed-probability one, with Brier scores.
\ir setup.psql
SELECT plan(22);
SET timezone = 'UTC';

-- ---------------------------------------------------------------------
-- The truth
-- ---------------------------------------------------------------------
-- The generator's probabilities (its header comment), and the chance of
-- ending won from each stage solved by hand in fractions
-- (test/unit/pipeline_kernel_test.c): x0 = 7/10 x1, x1 = 1/20 x0 + 3/4 x2,
-- x2 = 1/20 x1 + 4/5 x3, x3 = 1/20 x2 + 4/5 x4, x4 = 1/10 x3 + 3/5.
CREATE TEMP TABLE chain (from_stage crm.pipeline_stage, to_stage crm.pipeline_stage, p float8);
INSERT INTO chain VALUES
    ('lead', 'qualified', 0.70), ('lead', 'lost', 0.30),
    ('qualified', 'lead', 0.05), ('qualified', 'presentation', 0.75), ('qualified', 'lost', 0.20),
    ('presentation', 'qualified', 0.05), ('presentation', 'negotiation', 0.80), ('presentation', 'lost', 0.15),
    ('negotiation', 'presentation', 0.05), ('negotiation', 'bidding', 0.80), ('negotiation', 'lost', 0.15),
    ('bidding', 'negotiation', 0.10), ('bidding', 'won', 0.60), ('bidding', 'lost', 0.30);
CREATE TEMP TABLE truth (stage crm.pipeline_stage PRIMARY KEY, p float8);
INSERT INTO truth VALUES ('lead', 2016 / 8147.0), ('qualified', 2880 / 8147.0), ('presentation', 18528 / 40735.0),
    ('negotiation', 4452 / 8147.0), ('bidding', 26667 / 40735.0);
-- the same by value iteration, w <- P(won) + Q w, independent of any solver
CREATE TEMP TABLE iterated AS SELECT stage, 0::float8 AS w FROM truth;
DO $$
BEGIN
    FOR i IN 1..400 LOOP
        UPDATE iterated it SET w = s.w
        FROM (SELECT c.from_stage AS stage,
                     sum(c.p * CASE WHEN c.to_stage = 'won' THEN 1 WHEN c.to_stage = 'lost' THEN 0 ELSE j.w END) AS w
              FROM chain c LEFT JOIN iterated j ON j.stage = c.to_stage GROUP BY 1) s
        WHERE s.stage = it.stage;
    END LOOP;
END $$;
SELECT is_empty($$SELECT * FROM truth t JOIN iterated i USING (stage) WHERE abs(t.p - i.w) > 1e-12$$,
    'the hand-solved win probabilities are those of the generator''s chain (value iteration)');

-- ---------------------------------------------------------------------
-- Hand-computed chains through the aggregate (complete stays only, no
-- prior: the fit is the chain of the observed shares)
-- ---------------------------------------------------------------------
CREATE FUNCTION pg_temp.stays(moves crm.pipeline_stage[], counts integer[])
RETURNS TABLE (from_stage crm.pipeline_stage, to_stage crm.pipeline_stage, from_since timestamptz, changed_at timestamptz)
LANGUAGE sql AS $$
    -- each stay: the row that begins it and the row that ends it 10 days later
    SELECT r.f, r.t, r.s, r.a
    FROM generate_subscripts(counts, 1) k, generate_series(1, counts[k]) n,
         LATERAL (VALUES (NULL::crm.pipeline_stage, moves[2 * k - 1], NULL::timestamptz, timestamptz '2025-01-01' + n * interval '1 hour'),
                         (moves[2 * k - 1], moves[2 * k], timestamptz '2025-01-01' + n * interval '1 hour',
                          timestamptz '2025-01-11' + n * interval '1 hour')) r(f, t, s, a) $$;
-- 3 stages: presentation -> negotiation 1/2, lost 1/2; negotiation ->
-- presentation 1/4, bidding 1/2, lost 1/4; bidding -> negotiation 1/5, won
-- 3/5, lost 1/5.  Won: x_p = x_n / 2, x_n = x_p / 4 + x_b / 2, x_b = x_n / 5
-- + 3/5, so (7/8) x_n = x_b / 2, x_b = (7/4) x_n, (7/4 - 1/5) x_n = 3/5:
-- x_n = 12/31, x_p = 6/31, x_b = 21/31.
CREATE TEMP TABLE m3 AS
SELECT crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-12-31', 0) AS m
FROM pg_temp.stays(ARRAY['presentation', 'negotiation', 'presentation', 'lost', 'negotiation', 'presentation',
                         'negotiation', 'bidding', 'negotiation', 'lost', 'bidding', 'negotiation',
                         'bidding', 'won', 'bidding', 'lost']::crm.pipeline_stage[],
                   ARRAY[10, 10, 5, 10, 5, 4, 12, 4]);
SELECT results_eq($$SELECT s.stage::text, round(s.win_probability::numeric, 12) FROM m3, crm.stage_probabilities(m) s ORDER BY s.stage$$,
    $$VALUES ('lead', NULL), ('qualified', NULL), ('presentation', round(6 / 31.0, 12)),
             ('negotiation', round(12 / 31.0, 12)), ('bidding', round(21 / 31.0, 12))$$,
    '3 stages by hand: won from presentation, negotiation, bidding = 6/31, 12/31, 21/31 (no history, no prior: no answer)');
-- 5 stages: the generator's chain, 400 stays out of each stage in its shares
CREATE TEMP TABLE m5 AS
SELECT crm.learn_pipeline(s.from_stage, s.to_stage, s.from_since, s.changed_at, '2025-12-31', 0) AS m
FROM (SELECT array_agg(ARRAY[from_stage, to_stage] ORDER BY from_stage, to_stage) AS moves,
             array_agg((400 * p)::integer ORDER BY from_stage, to_stage) AS counts FROM chain) c,
     LATERAL pg_temp.stays((SELECT array_agg(x) FROM unnest(c.moves) x), c.counts) s;
SELECT is_empty($$SELECT * FROM m5, crm.stage_probabilities(m) s JOIN truth t USING (stage)
                  WHERE abs(s.win_probability - t.p) > 1e-12 OR abs(s.loss_probability - (1 - t.p)) > 1e-12$$,
    '5 stages by hand: won = 2016/8147, 2880/8147, 18528/40735, 4452/8147, 26667/40735, lost the rest');

-- ---------------------------------------------------------------------
-- Generated histories: 100,000 opportunities over three years, and
-- 100,000 of which 60% came in a campaign over the last 20 days
-- ---------------------------------------------------------------------
-- plain tables (created in this transaction, rolled back with it): a
-- parallel worker reads no temporary table
CREATE TABLE gen_uniform (LIKE crm.opportunity_history INCLUDING DEFAULTS);
ALTER TABLE gen_uniform DROP COLUMN history_id;
CREATE TABLE gen_campaign (LIKE gen_uniform);
\copy gen_uniform FROM PROGRAM 'd=$(mktemp -d) && cc -std=gnu99 -O2 -o $d/gen test/gen/crm_gen.c -lm && $d/gen -n 2000 -p 100000 -s 20240601 -H 2>/dev/null; rc=$?; rm -rf $d; exit $rc' WITH (FORMAT csv)
\copy gen_campaign FROM PROGRAM 'd=$(mktemp -d) && cc -std=gnu99 -O2 -o $d/gen test/gen/crm_gen.c -lm && $d/gen -n 2000 -p 100000 -b 0.6 -d 20 -s 20240601 -H 2>/dev/null; rc=$?; rm -rf $d; exit $rc' WITH (FORMAT csv)
ANALYZE gen_uniform, gen_campaign;

-- each opportunity's state at the end (2025-12-31) and whether it was won
CREATE TEMP TABLE last_rows AS
SELECT 'uniform' AS scenario, opportunity_id, to_stage FROM (
    SELECT DISTINCT ON (opportunity_id) opportunity_id, to_stage FROM gen_uniform ORDER BY opportunity_id, changed_at DESC) u
UNION ALL
SELECT 'campaign', opportunity_id, to_stage FROM (
    SELECT DISTINCT ON (opportunity_id) opportunity_id, to_stage FROM gen_campaign ORDER BY opportunity_id, changed_at DESC) c;
SELECT results_eq($$SELECT scenario, count(*), (count(*) FILTER (WHERE to_stage < 'won') / 1000)::integer FROM last_rows
                    GROUP BY 1 ORDER BY 1$$,
    $$VALUES ('campaign', 100000::bigint, 49), ('uniform', 100000, 5)$$,
    '100,000 opportunities each; open at the end: about 5% of the first, about half (49%) of the campaign''s');

CREATE TEMP TABLE models AS
SELECT 'uniform' AS scenario, crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-12-31') AS m FROM gen_uniform
UNION ALL
SELECT 'campaign', crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-12-31') FROM gen_campaign;
CREATE TEMP TABLE learned AS
SELECT scenario, s.stage, s.win_probability AS p, s.win_probability - t.p AS error, s.open_spells
FROM models, crm.stage_probabilities(m) s JOIN truth t USING (stage);
SELECT diag(l.scenario || ': ' || string_agg(l.stage || ' ' || round(l.p::numeric, 4) || ' (truth ' || round(t.p::numeric, 4)
                                            || ', error ' || round(l.error::numeric, 4) || ')', ', ' ORDER BY l.stage))
FROM learned l JOIN truth t USING (stage) GROUP BY l.scenario ORDER BY l.scenario DESC;
SELECT ok((SELECT max(abs(error)) < 0.01 FROM learned WHERE scenario = 'uniform'),
    'history of 100,000 opportunities: learned win probability within 0.01 of the truth at every stage');
SELECT ok((SELECT max(abs(error)) < 0.01 FROM learned WHERE scenario = 'campaign'),
    'with half of them still open: still within 0.01 at every stage (open ones censored, not lost)');

-- the naive estimate: won / (won + lost) of the closed opportunities that
-- reached the stage
CREATE TEMP TABLE naive AS
SELECT r.stage, count(*) FILTER (WHERE l.to_stage = 'won')::float8 / count(*) FILTER (WHERE l.to_stage >= 'won') AS p
FROM (SELECT DISTINCT opportunity_id, to_stage AS stage FROM gen_campaign WHERE to_stage < 'won') r
JOIN last_rows l ON l.scenario = 'campaign' AND l.opportunity_id = r.opportunity_id
GROUP BY 1;
SELECT diag('campaign, naive won / (won + lost): ' || string_agg(stage || ' ' || round(n.p::numeric, 4)
            || ' (truth ' || round(t.p::numeric, 4) || ')', ', ' ORDER BY stage))
FROM naive n JOIN truth t USING (stage);
SELECT ok((SELECT t.p - n.p > 0.05 FROM naive n JOIN truth t USING (stage) WHERE stage = 'lead'),
    'the naive won / (won + lost) of the closed ones is biased, low by more than 0.05 at lead, on the same history');
SELECT ok((SELECT max(abs(l.p - t.p)) FROM learned l JOIN truth t USING (stage) WHERE l.scenario = 'campaign')
          < (SELECT min(t.p - n.p) FROM naive n JOIN truth t USING (stage) WHERE n.stage = 'lead'),
    'the learned error at any stage is smaller than the naive one at lead');

-- the prior is what a stage with no move gets; with 100,000 it moves nothing
SELECT ok((SELECT max(abs(crm.win_probability(m0, s) - crm.win_probability(m1, s)))
           FROM (SELECT crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-12-31', 0) AS m0,
                        crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-12-31', 1) AS m1
                 FROM gen_uniform) q, unnest(enum_range('lead'::crm.pipeline_stage, 'bidding')) s) < 1e-4,
    'the default prior (one opportunity''s weight) moves no probability by 1e-4 on this history');

-- parallel plans: the same model bit for bit
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT ok(pg_temp.plan_of('SELECT crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, ''2025-12-31'') FROM gen_campaign')
          LIKE '%Partial Aggregate%', 'the learning aggregate runs in parallel workers');
SELECT is((SELECT crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-12-31')::text FROM gen_campaign),
          (SELECT m::text FROM models WHERE scenario = 'campaign'), 'and gives the serial plan''s model');
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- per owner when asked: 20 owners of about 5,000 opportunities each
SELECT ok((SELECT max(abs(crm.win_probability(m, 'lead') - (SELECT p FROM truth WHERE stage = 'lead'))) < 0.03
                  AND count(*) = 20
           FROM (SELECT changed_by, crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, '2025-12-31') AS m
                 FROM gen_uniform GROUP BY changed_by) o),
    'learned per owner (GROUP BY): 20 models, each within 0.03 of the truth at lead');

-- the stuck threshold: the 90th percentile of the stay, open stays
-- censored, is exceeded by one stay in ten
SELECT ok((SELECT abs(count(*) FILTER (WHERE extract(epoch FROM h.changed_at - h.from_since) / 86400 > crm.stay_quantile(m.m, h.from_stage, 0.9))::float8
                      / count(*) - 0.10) < 0.01
           FROM gen_uniform h, models m WHERE m.scenario = 'uniform' AND h.from_stage < 'won' AND h.from_stage <> h.to_stage),
    'the stuck threshold (stay p90) is longer than 10% of the stays the history completed (to 0.01)');

-- ---------------------------------------------------------------------
-- Forecast and backtest on the three-year history
-- ---------------------------------------------------------------------
INSERT INTO crm.customers (customer_id) SELECT g FROM generate_series(1, 2000) g;
INSERT INTO crm.opportunity_history (opportunity_id, from_stage, to_stage, from_since, changed_at, amount, expected_close, reason, changed_by)
SELECT opportunity_id, from_stage, to_stage, from_since, changed_at, amount, expected_close, reason, changed_by
FROM gen_uniform ORDER BY changed_at;
-- the opportunities as they stand, imported without firing their triggers
-- (the history is already there)
SET session_replication_role = replica;
INSERT INTO crm.opportunities (opportunity_id, customer_id, owner, amount, expected_close, stage, stage_since, created_at, close_reason)
SELECT a.opportunity_id, 1 + a.opportunity_id % 2000, f.changed_by, a.amount, a.expected_close, a.stage, a.stage_since, f.changed_at,
       l.reason
FROM crm.pipeline_as_of('2025-12-31') a
JOIN (SELECT DISTINCT ON (opportunity_id) opportunity_id, changed_by, changed_at FROM gen_uniform ORDER BY opportunity_id, changed_at) f
    USING (opportunity_id)
JOIN (SELECT DISTINCT ON (opportunity_id) opportunity_id, reason FROM gen_uniform ORDER BY opportunity_id, changed_at DESC) l
    USING (opportunity_id);
RESET session_replication_role;
SET crm.as_of = '2025-12-31';

CREATE TEMP TABLE scores AS SELECT * FROM crm.pipeline_backtest_scores('2025-06-30', 6);
SELECT diag('backtest as of 2025-06-30 over 6 months: ' || opportunities || ' open, ' || resolved || ' closed since, '
            || won || ' won for ' || actual_revenue || '; sum of monthly |forecast - actual|: learned ' || forecast_error
            || ', fixed ' || fixed_forecast_error || '; Brier score learned ' || round(brier_score::numeric, 4)
            || ', fixed ' || round(fixed_brier_score::numeric, 4))
FROM scores;
SELECT ok((SELECT forecast_error < fixed_forecast_error / 5 FROM scores),
    'backtest: the learned forecast''s error is below a fifth of the fixed-probability one''s');
SELECT ok((SELECT brier_score < fixed_brier_score FROM scores),
    'and its win probabilities score better (Brier) than the fixed ones');
CREATE TEMP TABLE months AS
SELECT b.* FROM (VALUES (date '2024-09-30'), (date '2025-03-15'), (date '2025-06-30')) d(as_of),
     LATERAL crm.pipeline_backtest(d.as_of, 6) b WHERE b.actual > 0;
SELECT diag('monthly actuals inside the 95% interval: ' || count(*) FILTER (WHERE actual BETWEEN low AND high) || ' of ' || count(*)
            || '; mean |forecast - actual| / actual ' || round(avg(abs(forecast - actual) / actual), 3)
            || ', fixed ' || round(avg(abs(fixed_forecast - actual) / actual), 3))
FROM months;
SELECT ok((SELECT avg(abs(forecast - actual) / actual) < 0.15 FROM months),
    'over three backtests, the monthly forecast is off by less than 15% on average');

-- the views read the same model
SELECT is((SELECT string_agg(stage || '=' || learned_probability, ' ' ORDER BY stage) FROM crm.pipeline_probabilities),
          (SELECT string_agg(stage || '=' || round(win_probability::numeric, 4), ' ' ORDER BY stage)
           FROM crm.stage_probabilities(crm.learned_pipeline('2025-12-31'))),
    'crm.pipeline_probabilities shows the model learned from crm.opportunity_history as of the business date');
SELECT is((SELECT count(*) FROM crm.pipeline_forecast), 12::bigint, 'crm.pipeline_forecast: twelve months');
SELECT ok((SELECT sum(expected_revenue) FROM crm.pipeline_forecast)
          <= (SELECT sum(crm.expected_revenue(m.m, o.stage, o.amount,
                                             extract(epoch FROM timestamptz '2026-01-01' - o.stage_since) / 86400))
              FROM crm.opportunities o, (SELECT crm.learned_pipeline('2025-12-31') AS m OFFSET 0) m
              WHERE o.stage < 'won') + 0.01 * 12,
    'the months'' expected revenue adds up to at most the open pipeline''s expected revenue (the rest closes later)');
SELECT ok((SELECT count(*) > 0 AND bool_and(days_in_stage > stuck_after_days) FROM crm.pipeline_stuck),
    'crm.pipeline_stuck lists the opportunities past their stage''s p90');

-- an opportunity older than every completed stay of its stage: when stays
-- that long are still open (censored), when it closes is beyond what the
-- history shows and no month of the forecast gets it (its win probability
-- stands); when none is, the fresh entry's times stand (README, Limits)
CREATE TEMP TABLE old_h AS
SELECT 'qualified'::crm.pipeline_stage AS from_stage,
       CASE WHEN g % 3 = 0 THEN 'won' ELSE 'lost' END::crm.pipeline_stage AS to_stage,
       timestamptz '2025-01-01' + g * interval '1 day' AS from_since,
       timestamptz '2025-01-01' + g * interval '1 day' + (10 + g % 31) * interval '1 day' AS changed_at,
       false AS still_open
FROM generate_series(1, 200) g                  -- stays of 10..40 days, all closed
UNION ALL
SELECT 'lead', 'qualified', timestamptz '2025-08-01', timestamptz '2025-09-01', true
FROM generate_series(1, 5);                     -- in qualified since 2025-09-01, still open
CREATE TEMP TABLE old_m AS
SELECT crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, DATE '2025-12-31') FILTER (WHERE NOT still_open) AS closed_only,
       crm.learn_pipeline(from_stage, to_stage, from_since, changed_at, DATE '2025-12-31') AS with_open
FROM old_h;
SELECT ok((SELECT crm.win_probability(with_open, 'qualified', 60) > 0.3 AND f = '{{0,0,0},{0,0,0},{0,0,0}}'
           FROM old_m,
                LATERAL (SELECT crm.forecast_revenue(with_open, DATE '2025-12-31', 3, 'qualified',
                                                      timestamptz '2025-12-31' - interval '60 days', v.amount) AS f
                         FROM (VALUES (1000::numeric)) v(amount)) x),
    'an opportunity open longer than every completed stay, with longer stays still open: win probability kept, no month forecast');
SELECT ok((SELECT (f[2][1] + f[3][1]) BETWEEN 0.9 * 1000 * crm.win_probability(closed_only, 'qualified', 60)
                                         AND 1000 * crm.win_probability(closed_only, 'qualified', 60) + 1e-9
           FROM old_m,
                LATERAL (SELECT crm.forecast_revenue(closed_only, DATE '2025-12-31', 3, 'qualified',
                                                      timestamptz '2025-12-31' - interval '60 days', v.amount) AS f
                         FROM (VALUES (1000::numeric)) v(amount)) x),
    'one open longer than every stay, none longer still open: the fresh entry''s times, most of the win probability within two months');

SELECT * FROM finish();
ROLLBACK;
