#!/usr/bin/env bash
# test/demo.sh: the demo report, run by `make demo` (test/run.sh demo) once
# the extension is installed and a throwaway cluster is up (PGHOST/PGPORT).
#
#   CUSTOMERS  size of the synthetic customer base (default 50000)
#   SEED       generator seed (default 20240601); same seed, same data
#   OPPORTUNITIES  sales opportunities of the pipeline part (default 20000)
set -eu
cd "$(dirname "$0")/.."
CUSTOMERS=${CUSTOMERS:-50000}
SEED=${SEED:-20240601}
OPPORTUNITIES=${OPPORTUNITIES:-20000}
AS_OF=2025-12-31

work=$(mktemp -d /tmp/crm-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -std=gnu99 -O2 -o "$work/crm_gen" test/gen/crm_gen.c -lm
"$work/crm_gen" -n "$CUSTOMERS" -s "$SEED" -e "$AS_OF" -p "$OPPORTUNITIES" -o "$work"

psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION crm;
CREATE SCHEMA demo;
CREATE TABLE demo.customers (customer_id int PRIMARY KEY, archetype text NOT NULL, acquired_on date NOT NULL,
                             alive boolean NOT NULL, dropped_on date);
CREATE TABLE demo.orders (customer_id int NOT NULL, ordered_at date NOT NULL, amount numeric(12,2) NOT NULL);
\copy demo.customers FROM '$work/customers.csv' WITH (FORMAT csv)
\copy demo.orders FROM '$work/orders.csv' WITH (FORMAT csv)
ANALYZE demo.customers, demo.orders;
CREATE TABLE demo.customer_summary AS
SELECT customer_id, crm.summarize(ordered_at, amount) AS summary
FROM demo.orders GROUP BY customer_id;
ALTER TABLE demo.customer_summary ADD PRIMARY KEY (customer_id);
SQL

psql -X -q -v ON_ERROR_STOP=1 -v as_of="$AS_OF" <<'SQL'
\pset footer off
\echo
\echo '=== crm demo: a synthetic customer base, as of' :'as_of' '==='
\echo
\echo '--- the data'
SELECT (SELECT count(*) FROM demo.customers) AS customers,
       count(*) AS orders,
       count(*) FILTER (WHERE amount < 0) AS refunds,
       min(ordered_at) AS first_order, max(ordered_at) AS last_order,
       sum(amount) AS revenue
FROM demo.orders;

\echo '--- customers by the generator''s archetype, seen through crm.summary'
SELECT c.archetype,
       count(*) AS customers,
       round(avg(crm.purchase_days(s.summary)), 2) AS avg_purchase_days,
       round(avg(crm.total_spend(s.summary)), 2) AS avg_spend,
       round(avg(crm.mean_repeat_spend(s.summary))::numeric, 2) AS avg_repeat_spend,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY crm.days_since_last_purchase(s.summary, :'as_of')) AS median_days_since_last
FROM demo.customers c JOIN demo.customer_summary s USING (customer_id)
GROUP BY c.archetype ORDER BY customers DESC;

\echo '--- how many purchase days customers have (same-day orders are one)'
SELECT CASE WHEN d >= 10 THEN '10+' ELSE d::text END AS purchase_days, count(*) AS customers,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct
FROM (SELECT crm.purchase_days(summary) AS d FROM demo.customer_summary) q
GROUP BY 1 ORDER BY min(d);

\echo '--- three customers: their summary and BTYD triple (weeks) for a calibration period ending 2025-06-30'
SELECT s.customer_id, c.archetype, s.summary,
       b.x, round(b.t_x::numeric, 2) AS t_x, round(b."T"::numeric, 2) AS "T"
FROM demo.customer_summary s
     CROSS JOIN LATERAL crm.btyd_triple(s.summary, '2025-06-30', '1 week') b JOIN demo.customers c USING (customer_id)
WHERE s.customer_id IN (1, 2, 6) ORDER BY 1;
SQL

psql -X -q -v ON_ERROR_STOP=1 -v as_of="$AS_OF" <<'SQL'
\pset footer off
CREATE TABLE demo.rfm_cutpoints AS
SELECT crm.rfm_quantiles(summary, :'as_of') AS c FROM demo.customer_summary;
CREATE TABLE demo.customer_rfm AS
SELECT customer_id, crm.rfm_score(s.summary, q.c) AS rfm
FROM demo.customer_summary s, demo.rfm_cutpoints q;

\echo '--- RFM quintile cutpoints (recency in days, frequency in purchase days, monetary in spend)'
SELECT crm.cutpoints(c, 'recency') AS recency, crm.cutpoints(c, 'frequency') AS frequency,
       crm.cutpoints(c, 'monetary') AS monetary
FROM demo.rfm_cutpoints;

\echo '--- RFM grid: customers per recency score (rows) and frequency score (columns)'
SELECT crm.recency_score(rfm) AS "R \ F",
       count(*) FILTER (WHERE crm.frequency_score(rfm) = 1) AS "F=1",
       count(*) FILTER (WHERE crm.frequency_score(rfm) = 2) AS "F=2",
       count(*) FILTER (WHERE crm.frequency_score(rfm) = 3) AS "F=3",
       count(*) FILTER (WHERE crm.frequency_score(rfm) = 4) AS "F=4",
       count(*) FILTER (WHERE crm.frequency_score(rfm) = 5) AS "F=5"
FROM demo.customer_rfm GROUP BY 1 ORDER BY 1 DESC;

\echo '--- top 10 customers by textbook lifetime value'
\echo '    (yearly margin = 30% of average yearly spend, retention 0.8, discount 10%, 5 years, no acquisition cost)'
SELECT s.customer_id, c.archetype, r.rfm,
       crm.total_spend(s.summary) AS spend,
       round(m.margin::numeric, 2) AS yearly_margin,
       round(crm.clv(m.margin, 0.8, 0.10, 5)::numeric, 2) AS clv,
       round(crm.current_value(m.margin, 5, 0.10)::numeric, 2) AS current_value
FROM demo.customer_summary s
JOIN demo.customers c USING (customer_id)
JOIN demo.customer_rfm r USING (customer_id)
CROSS JOIN LATERAL (SELECT 0.30 * crm.total_spend(s.summary)::float8
                           / greatest(1.0, (:'as_of'::date - crm.first_purchase(s.summary)) / 365.25) AS margin) m
ORDER BY crm.clv(m.margin, 0.8, 0.10, 5) DESC, s.customer_id
LIMIT 10;
SQL

psql -X -q -v ON_ERROR_STOP=1 -v as_of="$AS_OF" <<'SQL'
\pset footer off
CREATE TABLE demo.models AS
SELECT crm.fit_bgnbd(summary, :'as_of', '1 week') AS purchases,
       crm.fit_gamma_gamma(summary, :'as_of') AS spend
FROM demo.customer_summary;

\echo '--- BG/NBD (purchases) and Gamma-Gamma (spend) fitted in the database, time in weeks'
SELECT crm.model_kind(m) AS model, crm.customers(m) AS customers, round(crm.loglik(m)::numeric, 1) AS loglik,
       crm.converged(m) AS converged,
       string_agg(p || ' = ' || round(crm.param(m, p)::numeric, 4), ', ') AS parameters
FROM demo.models, LATERAL (VALUES (purchases), (spend)) v(m),
     LATERAL unnest(CASE crm.model_kind(m) WHEN 'gamma_gamma' THEN ARRAY['p', 'q', 'v']
                                          ELSE ARRAY['r', 'alpha', 'a', 'b'] END) p
GROUP BY 1, 2, 3, 4 ORDER BY 1;

\echo '--- top spenders most likely to have churned: lowest P(alive) among the top 5% by spend'
SELECT s.customer_id, c.archetype, crm.total_spend(s.summary) AS spend,
       crm.days_since_last_purchase(s.summary, :'as_of') AS days_since_last,
       round(crm.p_alive(m.purchases, s.summary, :'as_of')::numeric, 3) AS p_alive,
       round(crm.expected_purchases(m.purchases, 26, s.summary, :'as_of')::numeric, 2) AS purchases_next_26_weeks,
       round(crm.expected_clv(m.purchases, m.spend, s.summary, :'as_of', 52, 0.002)::numeric, 2) AS revenue_next_52_weeks
FROM (SELECT *, percent_rank() OVER (ORDER BY crm.total_spend(summary) DESC) AS spend_rank
      FROM demo.customer_summary) s
JOIN demo.customers c USING (customer_id), demo.models m
WHERE s.spend_rank < 0.05
ORDER BY crm.p_alive(m.purchases, s.summary, :'as_of'), s.customer_id
LIMIT 10;
SQL

psql -X -q -v ON_ERROR_STOP=1 -v as_of="$AS_OF" <<'SQL'
\pset footer off
\echo '--- how sure: the BG/NBD estimates with standard errors (Hessian at the optimum) and 95% intervals'
SELECT e.parameter, round(e.estimate::numeric, 4) AS estimate, round(e.std_error::numeric, 4) AS std_error,
       round(e.lower::numeric, 4) AS lower, round(e.upper::numeric, 4) AS upper
FROM demo.models, crm.estimates(purchases) e;

\echo '--- does it predict? BG/NBD calibrated to 2025-09-30, against what the customers did to' :'as_of'
CREATE TABLE demo.validation AS
SELECT crm.validate((SELECT crm.fit_bgnbd(summary, '2025-09-30', '1 week') FROM demo.customer_summary),
                    s.summary, '2025-09-30', :'as_of') AS v
FROM demo.customer_summary s;
SELECT customers, holdout_length AS weeks, actual AS repeat_days_made, round(expected::numeric, 1) AS expected,
       buyers AS bought_again, round(buyers_expected::numeric, 1) AS expected_to,
       round(mean_absolute_error::numeric, 3) AS mean_abs_error, round(auc::numeric, 3) AS auc
FROM demo.validation, crm.validation_summary(v);
\echo '--- per calibration frequency: mean repeat purchase days in the holdout, made and expected'
SELECT frequency, customers, round(actual_mean::numeric, 3) AS made, round(expected_mean::numeric, 3) AS expected
FROM demo.validation, crm.validation_by_frequency(v);
\echo '--- tracking the holdout week by week: cumulative repeat purchase days, made and expected given the calibration'
SELECT period_start, period_end, actual AS made, sum(actual) OVER (ORDER BY period_end) AS made_cumulative,
       round(expected_given_calibration::numeric, 1) AS expected_cumulative
FROM demo.validation, crm.validation_tracking(v) WHERE holdout ORDER BY period_end;

\echo '--- discrete time: BG/BB on quarters counted from each first purchase (did the customer buy in the quarter?)'
CREATE TABLE demo.quarterly AS SELECT crm.fit_bgbb(summary, :'as_of', '3 months') AS m FROM demo.customer_summary;
SELECT crm.customers(m) AS customers, e.parameter, round(e.estimate::numeric, 4) AS estimate,
       round(e.std_error::numeric, 4) AS std_error
FROM demo.quarterly, crm.estimates(m) e;
SELECT s.customer_id, c.archetype, crm.purchase_days(s.summary) AS purchase_days, crm.last_purchase(s.summary) AS last_purchase,
       round(crm.p_alive(q.m, s.summary, :'as_of')::numeric, 3) AS p_alive_next_quarter,
       round(crm.expected_purchases(q.m, 4, s.summary, :'as_of')::numeric, 3) AS quarters_buying_next_year,
       round(crm.p_no_purchase(q.m, 4, s.summary, :'as_of')::numeric, 3) AS p_none_next_year
FROM demo.customer_summary s JOIN demo.customers c USING (customer_id), demo.quarterly q
WHERE s.customer_id IN (1, 2, 6, 538) ORDER BY 1;
SQL

psql -X -q -v ON_ERROR_STOP=1 -v as_of="$AS_OF" <<'SQL'
\pset footer off
-- a DBA's first day: the customers, classed by spend (top 1% large, next
-- 9% general), then three years of orders attached as they are; the
-- attach walks every customer's history through the life cycle month end
-- by month end (the moves are in crm.stage_history on their days, source
-- import), and one refresh fits the model and brings everyone to today
SET crm.as_of = '2025-12-31';
INSERT INTO crm.customers (customer_id, customer_class)
SELECT customer_id, CASE WHEN r < 0.01 THEN 'large' WHEN r < 0.10 THEN 'general' ELSE 'residential' END
FROM (SELECT customer_id, percent_rank() OVER (ORDER BY crm.total_spend(summary) DESC) AS r
      FROM demo.customer_summary) s;
SELECT crm.track_orders('demo.orders', 'customer_id', 'ordered_at', 'amount') AS orders_attached \gset
CALL crm.refresh('2025-12-31', fit_model => true);

\echo '--- life-cycle funnel after attaching three years of orders and one refresh'
SELECT stage, customers, share_of_customers AS "% customers", total_spend, average_spend
FROM crm.lifecycle_funnel ORDER BY stage;

\echo '--- stage (rows) against the generator''s truth (columns): who is still buying at their own rate, who dropped out'
SELECT c.stage AS "stage \ truth",
       count(*) FILTER (WHERE d.archetype = 'new') AS new,
       count(*) FILTER (WHERE d.archetype = 'regular') AS regular,
       count(*) FILTER (WHERE d.archetype = 'declining') AS declining,
       count(*) FILTER (WHERE d.archetype = 'lapsed') AS lapsed,
       count(*) FILTER (WHERE d.alive) AS alive,
       count(*) FILTER (WHERE NOT d.alive) AS dropped_out,
       round(100.0 * count(*) FILTER (WHERE NOT d.alive) / count(*), 1) AS "% dropped out"
FROM crm.customers c JOIN demo.customers d USING (customer_id)
GROUP BY c.stage ORDER BY c.stage;

\echo '--- stage moves during 2025, from the walked history (rows: from, columns: to)'
SELECT from_stage AS "from \ to",
       sum(transitions) FILTER (WHERE to_stage = 'exploration') AS exploration,
       sum(transitions) FILTER (WHERE to_stage = 'formation') AS formation,
       sum(transitions) FILTER (WHERE to_stage = 'stable') AS stable,
       sum(transitions) FILTER (WHERE to_stage = 'decline') AS decline,
       sum(transitions) FILTER (WHERE to_stage = 'terminated') AS terminated
FROM crm.stage_transition_matrix('2025-01-01', '2026-01-01')
GROUP BY from_stage ORDER BY from_stage;

\echo '--- why: the reasons that moved customers in 2025, by how often'
SELECT reason, to_stage, count(*) AS changes
FROM crm.stage_history WHERE changed_at >= '2025-01-01' AND from_stage IS DISTINCT FROM to_stage
GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 8;

\echo '--- relationship levels: all transaction, as they must be with no contact yet (levels measure contact and perceived benefit)'
SELECT level, count(*) AS customers FROM crm.customers GROUP BY 1 ORDER BY 1;
SQL

psql -X -q -v ON_ERROR_STOP=1 -v as_of="$AS_OF" <<'SQL'
\pset footer off
SET search_path = public, crm;
-- RFM segments from the RFM scores; value tiers from profit (30% margin
-- less 4 per order to serve), the spend rank and the BG/NBD potential rank
INSERT INTO crm.customer_segments (customer_id, scheme, label)
SELECT customer_id, 'rfm_segments', crm.rfm_segment(rfm) FROM demo.customer_rfm;
INSERT INTO crm.customer_segments (customer_id, scheme, label, reason)
SELECT customer_id, 'value_tiers', (e).label, (e).reason
FROM (SELECT s.customer_id,
             crm.explain_segment('value_tiers', ARRAY[
                 0.30 * crm.total_spend(s.summary)::float8 - 4 * crm.order_count(s.summary),
                 (rank() OVER (ORDER BY crm.total_spend(s.summary) DESC))::float8 / count(*) OVER (),
                 (rank() OVER (ORDER BY crm.expected_clv(m.purchases, m.spend, s.summary, :'as_of', 52, 0.002) DESC NULLS LAST))::float8
                     / count(*) OVER ()]) AS e
      FROM demo.customer_summary s, demo.models m) q;

\echo '--- segment summary: RFM segments'
SELECT label, customers, share_of_customers AS "% customers", revenue, share_of_revenue AS "% revenue", average_value
FROM crm.segment_summary WHERE scheme = 'rfm_segments' ORDER BY revenue DESC;

\echo '--- segment summary: value tiers'
SELECT label, customers, share_of_customers AS "% customers", revenue, share_of_revenue AS "% revenue", average_value
FROM crm.segment_summary WHERE scheme = 'value_tiers' ORDER BY revenue DESC;

\echo '--- the 2/8 rule on this customer base'
SELECT DISTINCT top_5pct_share AS "% revenue of top 5%", top_20pct_share AS "% revenue of top 20%" FROM crm.pareto;

\echo '--- three customers: their stage and level, since when and why, and the last moves of their history'
SELECT customer_id, stage, stage_since, stage_reason, level, level_since, level_reason
FROM crm.customers WHERE customer_id IN (538, 2, 26474) ORDER BY customer_id;
SELECT customer_id, changed_at::date AS day, from_stage, to_stage, from_level, to_level, reason, source
FROM (SELECT h.*, row_number() OVER (PARTITION BY customer_id ORDER BY history_id DESC) AS n
      FROM crm.stage_history h WHERE customer_id IN (538, 2, 26474)) q
WHERE n <= 3 ORDER BY customer_id, changed_at;
\echo '--- the same three: their segments and why'
SELECT cs.customer_id, cs.label, cs.reason
FROM crm.customer_segments cs
WHERE cs.scheme = 'value_tiers' AND cs.customer_id IN (538, 2, 26474) ORDER BY cs.customer_id;
SELECT r.customer_id, r.rfm, e.label, e.reason
FROM demo.customer_rfm r,
     LATERAL crm.explain_segment('rfm_segments', ARRAY[crm.recency_score(r.rfm),
             round((crm.frequency_score(r.rfm) + crm.monetary_score(r.rfm)) / 2.0)]::float8[]) e
WHERE r.customer_id IN (538, 2, 26474) ORDER BY r.customer_id;
SQL

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
SET search_path = public, crm;
-- January 2026 arrives through crm.orders: one COPY-sized INSERT through
-- the statement trigger (every customer's summary, score, segment and
-- stage current when it commits), a few single orders through the same
-- trigger, complaints, interactions and surveys; then the nightly refresh
SET crm.as_of = '2026-01-31';
SELECT setseed(0.2026) \gset
UPDATE crm.customers SET service_level = 'vip', account_manager = 'crm_admin'
WHERE customer_class = 'large';
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT c.customer_id, DATE '2026-01-01' + floor(random() * 31)::integer, round((20 + random() * 180)::numeric, 2)
FROM crm.customers c
WHERE random() < CASE c.stage WHEN 'stable' THEN 0.6 WHEN 'formation' THEN 0.4 WHEN 'exploration' THEN 0.2 ELSE 0.05 END;
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (2, '2026-01-30', 75.00), (538, '2026-01-31', 240.00);
INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction, topic, wait_time)
SELECT 1 + floor(random() * 50000), TIMESTAMPTZ '2026-01-01' + random() * interval '30 days',
       (ARRAY['phone', 'call_centre', 'email', 'web', 'counter'])[1 + floor(random() * 5)], 'inbound', 'question',
       random() * interval '40 seconds'
FROM generate_series(1, 5000);
INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction, topic, wait_time) VALUES
    (2, '2026-01-29 10:00+00', 'phone', 'inbound', 'tariff question', '00:00:12'),
    (538, '2026-01-30 15:30+00', 'face_to_face', 'outbound', 'key-account visit', NULL),
    (26474, '2026-01-20 09:10+00', 'call_centre', 'inbound', 'cancellation', '00:00:55');
INSERT INTO crm.complaints (customer_id, category, opened_at, first_response_at, onsite_required, onsite_at) VALUES
    (26474, 'supply_reliability', '2026-01-20 09:15+00', '2026-01-21 16:00+00', true, '2026-01-20 19:15+00');
INSERT INTO crm.complaints (customer_id, category, opened_at, first_response_at, resolved_at, follow_up_result)
SELECT c, (ARRAY['billing', 'supply_reliability', 'service_attitude'])[1 + floor(random() * 3)], t,
       t + random() * interval '36 hours', t + interval '3 days', CASE WHEN random() < 0.8 THEN 'satisfied' ELSE 'unsatisfied' END
FROM (SELECT 1 + floor(random() * 2000)::bigint AS c, TIMESTAMPTZ '2025-10-01' + random() * interval '120 days' AS t
      FROM generate_series(1, 1500)) x
ORDER BY t;
INSERT INTO crm.surveys (customer_id, surveyed_at)
SELECT 1 + floor(random() * 3000), TIMESTAMPTZ '2025-07-01' + random() * interval '210 days' FROM generate_series(1, 6000);
INSERT INTO crm.survey_answers
SELECT s.survey_id, d, 7, least(10, greatest(0, round((7 + random() * 3 - 1)::numeric, 0)))
FROM crm.surveys s, unnest(ARRAY['reliability', 'responsiveness', 'price']) d;
CALL crm.refresh(as_of => '2026-01-31');

\echo '--- relationship levels by customer class, after January''s contacts, complaints and surveys, against the class''s target'
SELECT c.customer_class, t.target_level, c.level, count(*) AS customers,
       count(*) FILTER (WHERE c.level < t.target_level) AS below_target
FROM crm.customers c JOIN crm.level_targets t USING (customer_class)
GROUP BY 1, 2, 3 ORDER BY 1, 3;
\echo '--- why levels moved in January'
SELECT from_level, to_level, reason, count(*) AS customers
FROM crm.stage_history WHERE from_level IS DISTINCT FROM to_level
GROUP BY 1, 2, 3 ORDER BY 4 DESC;

\echo
\echo '=== the CRM in the database: January 2026 written through crm.orders, refreshed as of 2026-01-31'
\echo '--- customer 360 of three customers'
\x on
SELECT customer_id, customer_class, service_level, first_purchase, last_purchase, purchase_days, total_spend,
       rfm, segment, stage, stage_reason, level, target_level, p_alive, last_interaction_at, open_complaints,
       last_satisfaction_score, loyal
FROM crm.customer_360 WHERE customer_id IN (2, 538, 26474) ORDER BY customer_id;
\x off
\echo '--- KPIs, last six months'
SELECT month, active_customers, retention_rate, churn_rate, repeat_purchase_rate, average_order_value,
       complaints, complaints_within_sla, satisfaction_index
FROM crm.kpis WHERE month >= '2025-08-01' ORDER BY month;
\echo '--- time limits missed, by kind'
SELECT target_name, target, count(*) AS breaches, max(late_by) AS worst_late_by FROM crm.complaint_sla_breaches GROUP BY 1, 2 ORDER BY 1;
\echo '--- churn watch: customers at risk, by stage and segment (top 8)'
SELECT stage, segment, count(*) AS customers, round(avg(p_alive), 3) AS avg_p_alive, sum(total_spend) AS spend_at_risk
FROM crm.churn_watch GROUP BY 1, 2 ORDER BY 5 DESC LIMIT 8;
SQL

psql -X -q -v ON_ERROR_STOP=1 <<SQL
-- the sales pipeline: the generator's opportunities and their history,
-- imported with their triggers off (the history is already written)
SET session_replication_role = replica;
\\copy crm.opportunity_history (opportunity_id, from_stage, to_stage, from_since, changed_at, amount, expected_close, reason, changed_by) FROM '$work/opportunity_history.csv' WITH (FORMAT csv)
\\copy crm.opportunities (opportunity_id, customer_id, owner, amount, expected_close, stage, stage_since, created_at, close_reason) FROM '$work/opportunities.csv' WITH (FORMAT csv)
RESET session_replication_role;
SELECT setval(pg_get_serial_sequence('crm.opportunities', 'opportunity_id'), max(opportunity_id)) FROM crm.opportunities \\g /dev/null
ANALYZE crm.opportunities, crm.opportunity_history;
SQL

psql -X -q -v ON_ERROR_STOP=1 -v as_of="$AS_OF" <<'SQL'
\pset footer off
SET search_path = public, crm;
SET crm.as_of = '2025-12-31';
\echo
\echo '=== the sales pipeline: generated opportunities whose stage-to-stage probabilities are known (test/gen/crm_gen.c), as of' :'as_of'
\echo '--- the funnel, from the history'
SELECT stage, reached, reached_next, conversion_rate, lost_from_here, open_now, win_probability, fixed_probability
FROM crm.pipeline_funnel ORDER BY position;

\echo '--- learned win probability per stage against the truth of the generator, the fixed ones, and won / (won + lost) of the closed'
SELECT p.stage, p.learned_probability, round(t.truth, 4) AS truth, p.fixed_probability, p.closed_win_rate, p.moves_out, p.open_spells
FROM crm.pipeline_probabilities p
JOIN (VALUES ('lead'::crm.pipeline_stage, 2016 / 8147.0), ('qualified', 2880 / 8147.0), ('presentation', 18528 / 40735.0),
             ('negotiation', 4452 / 8147.0), ('bidding', 26667 / 40735.0)) t(stage, truth) USING (stage)
ORDER BY p.stage;

\echo '--- time in stage: completed stays, and the stay counting open ones as censored'
SELECT * FROM crm.pipeline_velocity ORDER BY stage;

\echo '--- stuck: open opportunities in their stage longer than 9 stays in 10 last'
SELECT stage, count(*) AS stuck, round(avg(days_in_stage), 1) AS avg_days_in_stage, max(stuck_after_days) AS stuck_after_days,
       round(avg(win_probability), 4) AS avg_win_probability
FROM crm.pipeline_stuck GROUP BY stage ORDER BY stage;

\echo '--- the forecast: revenue expected from the open pipeline per close month (first six)'
SELECT * FROM crm.pipeline_forecast LIMIT 6;

\echo '--- the backtest: the forecast made as of 2025-06-30, month by month, against what was won'
SELECT * FROM crm.pipeline_backtest;
SELECT opportunities, resolved, won, actual_revenue, forecast_error, fixed_forecast_error,
       round(brier_score::numeric, 4) AS brier_score, round(fixed_brier_score::numeric, 4) AS fixed_brier_score
FROM crm.pipeline_backtest_scores;

\echo '--- win rate of the last three months, top owners by revenue won'
SELECT owner, sum(won) AS won, sum(lost) AS lost, round(sum(won)::numeric / (sum(won) + sum(lost)), 4) AS win_rate,
       sum(won_amount) AS won_amount
FROM crm.pipeline_win_rate WHERE month >= '2025-10-01' GROUP BY owner ORDER BY won_amount DESC LIMIT 5;
SQL

# an application's own order table, as applications keep them (uuid keys,
# timestamptz, cents, statuses), attached in a database of its own
psql -X -q -c "DROP DATABASE IF EXISTS crm_demo_app" -c "CREATE DATABASE crm_demo_app"
psql -X -q -v ON_ERROR_STOP=1 -d crm_demo_app <<'SQL'
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION crm;
SET crm.as_of = '2025-12-31';
SELECT setseed(0.6060) \gset
CREATE TABLE app_customers (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n integer UNIQUE);
INSERT INTO app_customers (id, n) SELECT md5('demo' || g)::uuid, g FROM generate_series(1, 2000) g;
CREATE TABLE app_orders (
    id bigserial PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES app_customers,
    created_at timestamptz NOT NULL,
    total_cents bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled', 'refunded'))
);
INSERT INTO app_orders (customer_id, created_at, total_cents, status)
SELECT c.id, o.at, o.cents, o.status
FROM (SELECT 1 + floor(random() * 2000)::integer AS n,
             timestamptz '2024-01-01 00:00+00' + random() * interval '730 days' AS at,
             500 + floor(random() * 20000)::bigint AS cents,
             (ARRAY['paid', 'paid', 'paid', 'pending', 'cancelled', 'refunded'])[1 + floor(random() * 6)::integer] AS status
      FROM generate_series(1, 12000)) o JOIN app_customers c USING (n);
SELECT crm.set_business_time_zone('Europe/Berlin') \gset
SELECT crm.track_orders('app_orders', customer => 'customer_id', at => 'created_at', amount => 'total_cents',
                        amount_scale => 2, filter => $$status = 'paid'$$) AS customers_attached \gset
UPDATE app_orders SET status = 'paid' WHERE status = 'pending';
UPDATE app_orders SET status = 'refunded' WHERE id % 50 = 0 AND status = 'paid';

\echo '--- an application''s table attached (uuid keys, timestamptz in Europe/Berlin days, cents, paid orders only), then pending orders paid and some refunded'
SELECT :customers_attached AS customers_attached, count(*) AS customers, count(rfm) AS scored, count(segment) AS segmented,
       sum(crm.total_spend(summary)) AS spend_maintained,
       (SELECT sum(total_cents) / 100.0 FROM app_orders WHERE status = 'paid') AS spend_of_paid_orders
FROM crm.customers;
\echo '--- three customers, with the application''s key to join back'
SELECT customer_key, purchase_days, total_spend, last_purchase, rfm, segment, stage
FROM crm.customer_360 ORDER BY total_spend DESC LIMIT 3;
SQL
psql -X -q -c "DROP DATABASE crm_demo_app"
