-- Stages on real data (CDNOW sample, Fader, Hardie & Lee 2005; test/data):
-- the calibration orders (to 1997-09-30) attached, one refresh as of that
-- day, and the stages checked against what the customers did in the
-- holdout (1997-10-01 .. 1998-06-30): as informative as BG/NBD's expected
-- purchases cut into as many groups, few "terminated" customers come back,
-- and a second refresh moves nobody.
\ir setup.psql
SELECT plan(11);
\ir cdnow.psql

-- AUC of a score for an outcome: the probability that a customer who buys
-- scores higher than one who does not, ties counting a half (midranks)
CREATE FUNCTION pg_temp.auc(score double precision[], outcome boolean[]) RETURNS double precision
LANGUAGE sql AS $$
    WITH d AS (SELECT u.s, u.y FROM unnest(score, outcome) u(s, y)),
    r AS (SELECT y, rank() OVER (ORDER BY s) + (count(*) OVER (PARTITION BY s) - 1) / 2.0 AS rk FROM d)
    SELECT (sum(rk) FILTER (WHERE y) - count(*) FILTER (WHERE y) * (count(*) FILTER (WHERE y) + 1) / 2.0)
           / (count(*) FILTER (WHERE y) * count(*) FILTER (WHERE NOT y))
    FROM r $$;

CREATE TABLE calibration_orders AS SELECT * FROM cdnow WHERE purchased_at <= '1997-09-30';
CREATE TABLE holdout AS
SELECT c.customer_id, EXISTS (SELECT FROM cdnow h WHERE h.customer_id = c.customer_id AND h.purchased_at > '1997-09-30') AS buys
FROM (SELECT DISTINCT customer_id FROM cdnow) c;

SET crm.as_of = '1997-09-30';
SELECT crm.track_orders('calibration_orders', 'customer_id', 'purchased_at', 'amount') AS attached \gset
CALL crm.refresh('1997-09-30');

CREATE TEMP TABLE staged AS
SELECT c.customer_id, c.stage, h.buys FROM crm.customers c JOIN holdout h USING (customer_id);
\echo '# stage, customers, bought again in the holdout:'
SELECT '# ' || string_agg(format('%s %s (%s%%)', stage, n, round(100 * rate, 1)), ', ' ORDER BY stage)
FROM (SELECT stage, count(*) AS n, avg(buys::int) AS rate FROM staged GROUP BY 1) g;

SELECT cmp_ok((SELECT count(DISTINCT stage) FROM staged
               WHERE stage IN ('exploration', 'formation', 'stable', 'decline', 'terminated'))::integer, '>=', 4,
    'one attach and one refresh put the 2,357 customers in at least four of the five stages');

-- the stage as a predictor: stages ordered by their observed holdout rate
CREATE TEMP TABLE stage_rate AS SELECT stage, avg(buys::int)::float8 AS rate FROM staged GROUP BY 1;
SELECT count(DISTINCT s.stage) AS k, pg_temp.auc(array_agg(r.rate ORDER BY s.customer_id), array_agg(s.buys ORDER BY s.customer_id)) AS stage_auc
FROM staged s JOIN stage_rate r USING (stage) \gset
-- BG/NBD fitted here on the calibration summaries, expected purchases in
-- the 39 holdout weeks, cut into as many equal groups as stages in use
CREATE TEMP TABLE bg AS
SELECT s.customer_id, crm.expected_purchases(m.bg, 39, s.s, '1997-09-30') AS e, h.buys
FROM (SELECT customer_id, crm.summarize(purchased_at, amount) AS s FROM calibration_orders GROUP BY 1) s
CROSS JOIN (SELECT crm.fit_bgnbd(q.s, '1997-09-30', '1 week') AS bg
            FROM (SELECT crm.summarize(purchased_at, amount) AS s FROM calibration_orders GROUP BY customer_id) q) m
JOIN holdout h USING (customer_id);
SELECT pg_temp.auc(array_agg(g::float8), array_agg(buys)) AS bg_groups_auc,
       (SELECT pg_temp.auc(array_agg(e), array_agg(buys)) FROM bg) AS bg_auc
FROM (SELECT ntile(:k) OVER (ORDER BY e) AS g, buys FROM bg) q \gset
\echo '# stage AUC' :stage_auc 'over' :k 'stages; BG/NBD expected purchases in' :k 'equal groups' :bg_groups_auc '(ungrouped' :bg_auc ')'
SELECT ok(:stage_auc >= :bg_groups_auc - 0.005,
    format('the stage predicts who buys again in the holdout as well as BG/NBD at the same granularity (AUC %s >= %s - 0.005)',
           round(:stage_auc::numeric, 4), round(:bg_groups_auc::numeric, 4)));

-- the same customers walked without a model (the rhythm rules alone)
SELECT pg_temp.auc(array_agg(r.rate), array_agg(w.buys)) AS rhythm_auc
FROM (SELECT s.customer_id, h.buys,
             coalesce((SELECT x.to_stage FROM crm.walk_stages('prospect', s.s, '1997-09-30') x ORDER BY x.day DESC LIMIT 1),
                      'prospect') AS stage
      FROM (SELECT customer_id, crm.summarize(purchased_at, amount) AS s FROM calibration_orders GROUP BY 1) s
      JOIN holdout h USING (customer_id)) w
JOIN (SELECT stage, avg(buys::int)::float8 AS rate
      FROM (SELECT h.buys,
                   coalesce((SELECT x.to_stage FROM crm.walk_stages('prospect', s.s, '1997-09-30') x ORDER BY x.day DESC LIMIT 1),
                            'prospect') AS stage
            FROM (SELECT customer_id, crm.summarize(purchased_at, amount) AS s FROM calibration_orders GROUP BY 1) s
            JOIN holdout h USING (customer_id)) q GROUP BY 1) r USING (stage) \gset
\echo '# the rhythm rules alone (no model): stage AUC' :rhythm_auc
SELECT ok(:stage_auc > :rhythm_auc,
    format('asking the stored model beats the rhythm rules alone (AUC %s > %s): the reason to fit one', 
           round(:stage_auc::numeric, 4), round(:rhythm_auc::numeric, 4)));

SELECT ok(coalesce((SELECT avg(buys::int) FROM staged WHERE stage = 'terminated'), 0) <= 0.10,
    format('at most 10%% of the customers called terminated buy in the holdout (%s of %s)',
           (SELECT count(*) FILTER (WHERE buys) FROM staged WHERE stage = 'terminated'),
           (SELECT count(*) FROM staged WHERE stage = 'terminated')));

SELECT ok((SELECT crm.model_kind(model) = 'bgnbd' AND abs(crm.param(model, 'r') - 0.243) < 0.001
                  AND abs(crm.param(model, 'alpha') - 4.414) < 0.01 FROM crm.scoring),
    'the model the stages asked is the one the attach fitted: BG/NBD, r 0.243, alpha 4.414, as published');

-- The evidence for the defaults (README, "Defaults and their evidence").
-- Every customer walked again from its first purchase with the stored
-- model (crm.walk_stages, which the attach runs), under other thresholds.
CREATE TEMP TABLE cal AS SELECT customer_id, crm.summarize(purchased_at, amount) AS s FROM calibration_orders GROUP BY 1;
CREATE FUNCTION pg_temp.walk_auc() RETURNS double precision LANGUAGE sql AS $$
    WITH w AS (SELECT h.buys,
                      coalesce((SELECT x.to_stage FROM crm.walk_stages('prospect', c.s, '1997-09-30',
                                                                       model => (SELECT model FROM crm.scoring)) x
                                ORDER BY x.day DESC LIMIT 1), 'prospect') AS stage
               FROM cal c JOIN holdout h USING (customer_id)),
    r AS (SELECT stage, avg(buys::int)::float8 AS rate FROM w GROUP BY 1)
    SELECT pg_temp.auc(array_agg(r.rate), array_agg(w.buys)) FROM w JOIN r USING (stage) $$;
SELECT pg_temp.walk_auc() AS default_auc \gset
SELECT ok(abs(:default_auc - :stage_auc) < 1e-12,
    format('walking each summary with crm.walk_stages gives the attach''s stages (AUC %s)', round(:default_auc::numeric, 4)));
-- decline below P(alive) d, back to stable from s: the default pair and others
CREATE TEMP TABLE sweep (decline_p_alive float8, stable_p_alive float8, auc float8);
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT * FROM (VALUES (0.2, 0.4), (0.3, 0.3), (0.3, 0.5), (0.4, 0.6), (0.5, 0.7)) v(d, st) LOOP
        DELETE FROM crm.stage_thresholds WHERE name IN ('decline_p_alive', 'stable_p_alive');
        INSERT INTO crm.stage_thresholds VALUES ('stable_p_alive', p.st), ('decline_p_alive', p.d);
        INSERT INTO sweep VALUES (p.d, p.st, pg_temp.walk_auc());
    END LOOP;
    DELETE FROM crm.stage_thresholds;
END $$;
\echo '# stage AUC by (decline_p_alive, stable_p_alive): '
SELECT '# ' || string_agg(format('(%s, %s) %s', decline_p_alive, stable_p_alive, round(auc::numeric, 4)), '; '
                          ORDER BY decline_p_alive, stable_p_alive) FROM sweep;
SELECT ok(:default_auc >= (SELECT max(auc) FROM sweep) - 0.005,
    format('the default pair (0.3, 0.5) is within 0.005 of the best AUC of the pairs tried (%s, best %s)',
           round(:default_auc::numeric, 4), round((SELECT max(auc) FROM sweep)::numeric, 4)));
-- the termination floor: customers inactive 180 days or more at the split
-- (the most CDNOW allows: every first purchase is in 1997's first quarter)
SELECT count(*) AS inactive_n, avg(h.buys::int) AS inactive_rate
FROM cal c JOIN holdout h USING (customer_id)
WHERE crm.days_since_last_purchase(c.s, '1997-09-30') >= 180 \gset
\echo '# customers inactive 180 days or more at the split:' :inactive_n ', bought again in the holdout:' :inactive_rate
SELECT ok(:inactive_rate > 0.10,
    format('inactivity of half a year is no end: %s%% of those customers bought again, above the 10%% a "terminated" may allow; so the floor is a year (terminate_floor_days 365)',
           round(100 * :inactive_rate, 1)));

-- a second refresh on the same day moves nobody, stage or level
CREATE TEMP TABLE before_second AS SELECT customer_id, stage, stage_since, level, level_since FROM crm.customers;
SELECT count(*) AS history_before FROM crm.stage_history \gset
CALL crm.refresh('1997-09-30');
SELECT is((SELECT count(*) FROM crm.customers c JOIN before_second b USING (customer_id)
           WHERE (c.stage, c.stage_since, c.level, c.level_since) IS DISTINCT FROM (b.stage, b.stage_since, b.level, b.level_since)),
          0::bigint, 'a second refresh on the same day changes no stage and no level');
SELECT is((SELECT count(*) FROM crm.stage_history), :'history_before'::bigint, 'and records nothing');
SELECT is((SELECT count(DISTINCT source) || ' ' || min(source) FROM crm.stage_history), '1 import',
    'the moves of the attach are recorded with source import');

SELECT * FROM finish();
ROLLBACK;
