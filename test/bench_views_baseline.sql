-- test/bench_views_baseline.sql: the definitions crm.kpis, crm.customer_360,
-- crm.churn_watch, crm.customers_below_target_level, crm.stage_transitions,
-- crm.stage_durations and the three model validation views had before crm
-- 0.4.0's issue 21 rewrote them (kpis through crm.monthly_activity, the
-- next three joining grouped service tables, the history views from kept
-- counts, the validation views reading the report crm.refresh() keeps),
-- in schema bench: the baselines test/bench_views.sh times the views
-- against.  Old definitions, kept here on purpose.
CREATE VIEW bench.customers_below_target_level AS
SELECT c.customer_id, c.customer_class, c.level, t.target_level, crm.level_gap(c.level, t.target_level) AS levels_to_go
FROM crm.customers c JOIN crm.level_targets t USING (customer_class)
WHERE c.level < t.target_level;  -- enum order
CREATE VIEW bench.customer_360 AS
SELECT c.customer_id, c.name, c.kind, c.customer_class, c.service_level, c.account_manager, c.marketing_opt_out,
       crm.first_purchase(c.summary) AS first_purchase,
       crm.last_purchase(c.summary) AS last_purchase,
       coalesce(crm.purchase_days(c.summary), 0) AS purchase_days,
       coalesce(crm.total_spend(c.summary), 0) AS total_spend,
       c.rfm, c.segment, c.scored_on, c.stage, c.stage_since, c.stage_reason, c.level, t.target_level,
       CASE WHEN crm.first_purchase(c.summary) <= d.as_of
            THEN round(crm.p_alive(sc.model, c.summary, d.as_of)::numeric, 4) END AS p_alive,
       li.occurred_at AS last_interaction_at, li.channel AS last_interaction_channel,
       coalesce(oc.open_complaints, 0) AS open_complaints,
       round(cs.last_score::numeric, 4) AS last_satisfaction_score, coalesce(cs.loyal, false) AS loyal,
       c.churn_reason,
       coalesce(op.open_opportunities, 0) AS open_opportunities, coalesce(op.pipeline_value, 0) AS pipeline_value
FROM crm.customers c
-- settings and the business date read once, not per row (OFFSET 0 keeps
-- the planner from copying the calls into every row)
CROSS JOIN (SELECT crm.business_date() AS as_of OFFSET 0) d
LEFT JOIN crm.level_targets t USING (customer_class)
LEFT JOIN crm.scoring sc ON true
LEFT JOIN LATERAL (SELECT i.occurred_at, i.channel FROM crm.interactions i
                   WHERE i.customer_id = c.customer_id ORDER BY i.occurred_at DESC LIMIT 1) li ON true
LEFT JOIN LATERAL (SELECT count(*) AS open_complaints FROM crm.complaints k
                   WHERE k.customer_id = c.customer_id AND k.resolved_at IS NULL) oc ON true
LEFT JOIN crm.customer_satisfaction cs USING (customer_id)
LEFT JOIN LATERAL (SELECT count(*) AS open_opportunities, sum(o.amount) AS pipeline_value FROM crm.opportunities o
                   WHERE o.customer_id = c.customer_id AND o.stage < 'won') op ON true;
CREATE VIEW bench.kpis AS
WITH days AS (
    SELECT c.customer_id, h.day, h.purchases, h.amount, crm.first_purchase(c.summary) AS first_day
    FROM crm.customers c CROSS JOIN LATERAL crm.purchase_history(crm.full_summary(c.customer_id, c.summary)) h
),
active AS (
    SELECT d.customer_id, date_trunc('month', d.day)::date AS month,
           bool_or(d.first_day < date_trunc('month', d.day)::date) AS bought_before
    FROM days d WHERE d.purchases > 0 GROUP BY 1, 2
),
sales AS (
    SELECT date_trunc('month', d.day)::date AS month, sum(d.amount) AS revenue, sum(d.purchases) AS orders
    FROM days d GROUP BY 1
),
monthly AS (
    SELECT a.month, count(*) AS active_customers,
           count(*) FILTER (WHERE a.bought_before) AS returning_customers,
           count(p.customer_id) AS retained_customers
    FROM active a LEFT JOIN active p ON p.customer_id = a.customer_id AND p.month = (a.month - interval '1 month')::date
    GROUP BY a.month
),
complaints AS (
    SELECT date_trunc('month', k.opened_at)::date AS month, count(*) AS opened,
           count(*) FILTER (WHERE k.first_response_at - k.opened_at <= s.first_response) AS answered_in_time
    FROM crm.complaints k CROSS JOIN (SELECT crm.setting('sla_first_response')::interval AS first_response OFFSET 0) s
    GROUP BY 1
),
surveys AS (
    SELECT date_trunc('month', s.surveyed_at)::date AS month, avg(s.score) AS score
    FROM crm.survey_scores s GROUP BY 1
)
SELECT m.month, m.active_customers,
       round(m.retained_customers::numeric / nullif(prev.active_customers, 0), 4) AS retention_rate,
       round(1 - m.retained_customers::numeric / nullif(prev.active_customers, 0), 4) AS churn_rate,
       round(m.returning_customers::numeric / m.active_customers, 4) AS repeat_purchase_rate,
       round(s.revenue / nullif(s.orders, 0), 2) AS average_order_value,
       s.revenue,
       coalesce(k.opened, 0) AS complaints,
       round(k.answered_in_time::numeric / nullif(k.opened, 0), 4) AS complaints_within_sla,
       round((100 * v.score)::numeric, 1) AS satisfaction_index
FROM monthly m
LEFT JOIN monthly prev ON prev.month = (m.month - interval '1 month')::date
LEFT JOIN sales s ON s.month = m.month
LEFT JOIN complaints k ON k.month = m.month
LEFT JOIN surveys v ON v.month = m.month;
CREATE VIEW bench.churn_watch AS
SELECT c.customer_id, c.name, c.account_manager, c.stage, c.stage_reason, c.segment,
       crm.days_since_last_purchase(c.summary, d.as_of) AS days_since_last_purchase,
       coalesce(crm.total_spend(c.summary), 0) AS total_spend,
       CASE WHEN crm.first_purchase(c.summary) <= d.as_of
            THEN round(crm.p_alive(sc.model, c.summary, d.as_of)::numeric, 4) END AS p_alive,
       (SELECT count(*) FROM crm.complaints k
        WHERE k.customer_id = c.customer_id
          AND k.opened_at >= d.as_of - d.trend_days) AS recent_complaints
FROM crm.customers c
CROSS JOIN (SELECT crm.business_date() AS as_of, crm.setting('complaint_trend_days')::integer AS trend_days OFFSET 0) d
LEFT JOIN crm.scoring sc ON true
WHERE c.stage = 'decline'
   OR (c.stage IN ('formation', 'stable') AND crm.first_purchase(c.summary) <= d.as_of
       AND crm.p_alive(sc.model, c.summary, d.as_of) < 0.5);

-- crm.stage_transitions before it read the kept counts of the history
-- (78_transition_counts.sql): every history row grouped
CREATE VIEW bench.stage_transitions AS
SELECT date_trunc('month', h.changed_at) AS month, h.from_stage, h.to_stage, h.source, count(*) AS transitions
FROM crm.stage_history h
WHERE h.from_stage IS NULL OR h.from_stage <> h.to_stage
GROUP BY 1, 2, 3, 4;

-- crm.stage_durations before it read the kept spells: every spell of the
-- history computed with a window over it
CREATE VIEW bench.stage_durations AS
SELECT s.stage,
       count(*) AS spells,
       count(*) FILTER (WHERE s.ended_at IS NULL) AS ongoing,
       round(avg(extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at) / 86400)::numeric, 1) AS average_days,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at) / 86400))::numeric, 1) AS median_days
FROM (SELECT h.to_stage AS stage, h.changed_at AS started_at,
             lead(h.changed_at) OVER (PARTITION BY h.customer_id ORDER BY h.changed_at, h.history_id) AS ended_at
      FROM crm.stage_history h
      WHERE h.from_stage IS NULL OR h.from_stage <> h.to_stage) s
GROUP BY s.stage;

-- the model validation views computing the report on every read
CREATE VIEW bench.model_validation AS
SELECT r.model, r.split AS calibration_end, r.holdout_end, r.holdout_length, r.customers,
       r.actual, r.expected, r.buyers, r.buyers_expected, r.mean_absolute_error, r.root_mean_squared_error, r.auc
FROM crm.validation_summary(crm.stored_model_validation()) r;
CREATE VIEW bench.model_validation_by_frequency AS
SELECT f.frequency, f.customers, f.actual, f.expected, f.actual_mean, f.expected_mean
FROM crm.validation_by_frequency(crm.stored_model_validation()) f;
CREATE VIEW bench.model_tracking AS
SELECT t.period_start, t.period_end, t.holdout, t.actual, t.actual_cumulative, t.expected_cumulative,
       t.expected_given_calibration
FROM crm.validation_tracking(crm.stored_model_validation()) t;
