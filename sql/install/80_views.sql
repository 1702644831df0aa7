-- ---------------------------------------------------------------------
-- Views for BI (every view and column has a comment; they run as the
-- reader: security_invoker, set in 90_access.sql)
-- ---------------------------------------------------------------------

CREATE VIEW crm.lifecycle_funnel AS
SELECT c.stage,
       count(*) AS customers,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS share_of_customers,
       coalesce(sum(c.total_spend), 0) AS total_spend,
       round(avg(c.total_spend), 2) AS average_spend
FROM crm.customers c
GROUP BY c.stage;
COMMENT ON VIEW crm.lifecycle_funnel IS 'Customers and value per life-cycle stage';
COMMENT ON COLUMN crm.lifecycle_funnel.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.lifecycle_funnel.customers IS 'Customers in the stage';
COMMENT ON COLUMN crm.lifecycle_funnel.share_of_customers IS 'Percent of all customers';
COMMENT ON COLUMN crm.lifecycle_funnel.total_spend IS 'Total net spend of the stage''s customers';
COMMENT ON COLUMN crm.lifecycle_funnel.average_spend IS 'Average net spend per customer with purchases';

CREATE VIEW crm.stage_transitions AS
-- the counts kept up to the watermark (78_transition_counts.sql) and the
-- history rows after it, counted live (a range scan of the primary key).
-- A reader whose time zone starts a month inside a kept period, and an
-- account manager (the policies hide the counts and the watermark: they
-- count their own customers' rows), count every row live.
WITH kept AS MATERIALIZED (
    SELECT date_trunc('month', k.period_start) AS month, k.from_stage, k.to_stage, k.source, k.transitions,
           date_trunc('month', k.period_end - interval '1 microsecond') <> date_trunc('month', k.period_start) AS split
    FROM crm.stage_transition_counts k
), mark AS (
    SELECT CASE WHEN EXISTS (SELECT FROM kept WHERE kept.split) THEN 0
                ELSE coalesce((SELECT r.watermark FROM crm.stage_history_rollup r), 0) END AS watermark
)
SELECT t.month, t.from_stage, t.to_stage, t.source, sum(t.transitions)::bigint AS transitions
FROM (SELECT kept.month, kept.from_stage, kept.to_stage, kept.source, kept.transitions
      FROM kept WHERE (SELECT mark.watermark FROM mark) > 0
      UNION ALL
      SELECT date_trunc('month', h.changed_at), h.from_stage, h.to_stage, h.source, count(*)
      FROM crm.stage_history h
      WHERE h.history_id > (SELECT mark.watermark FROM mark) AND (h.from_stage IS NULL OR h.from_stage <> h.to_stage)
      GROUP BY 1, 2, 3, 4) t
GROUP BY 1, 2, 3, 4
HAVING sum(t.transitions) > 0;
COMMENT ON VIEW crm.stage_transitions IS 'Stage changes per month, from x to (filter on month for a period''s transition matrix)';
COMMENT ON COLUMN crm.stage_transitions.month IS 'Month of the change';
COMMENT ON COLUMN crm.stage_transitions.from_stage IS 'Stage before (NULL: customer imported in to_stage)';
COMMENT ON COLUMN crm.stage_transitions.to_stage IS 'Stage after';
COMMENT ON COLUMN crm.stage_transitions.source IS 'inference, user, import or override';
COMMENT ON COLUMN crm.stage_transitions.transitions IS 'Number of changes';

CREATE FUNCTION crm.stage_transition_matrix(since timestamptz, until timestamptz)
    RETURNS TABLE (from_stage crm.stage, to_stage crm.stage, transitions bigint)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    -- as crm.stage_transitions: the kept periods inside [since, until) and
    -- the rows after the watermark; everything live when a kept period
    -- straddles since or until
    AS $$ WITH kept AS MATERIALIZED (
              SELECT k.from_stage, k.to_stage, k.transitions,
                     k.period_start >= since AND k.period_end <= until AS inside,
                     k.period_start < until AND k.period_end > since AS overlaps
              FROM crm.stage_transition_counts k
          ), mark AS (
              SELECT CASE WHEN EXISTS (SELECT FROM kept WHERE kept.overlaps AND NOT kept.inside) THEN 0
                          ELSE coalesce((SELECT r.watermark FROM crm.stage_history_rollup r), 0) END AS watermark
          )
          SELECT t.from_stage, t.to_stage, sum(t.transitions)::bigint
          FROM (SELECT kept.from_stage, kept.to_stage, kept.transitions
                FROM kept WHERE kept.inside AND (SELECT mark.watermark FROM mark) > 0
                UNION ALL
                SELECT h.from_stage, h.to_stage, count(*) FROM crm.stage_history h
                WHERE h.history_id > (SELECT mark.watermark FROM mark)
                  AND h.changed_at >= since AND h.changed_at < until
                  AND (h.from_stage IS NULL OR h.from_stage <> h.to_stage)
                GROUP BY 1, 2) t
          GROUP BY 1, 2 HAVING sum(t.transitions) > 0 ORDER BY 1, 2 $$;
COMMENT ON FUNCTION crm.stage_transition_matrix(timestamptz, timestamptz) IS
    'From x to counts of stage changes in [since, until)';

CREATE VIEW crm.stage_durations AS
-- the spells kept up to the watermark (crm.stage_spell_counts,
-- 78_transition_counts.sql), less those of the customers with rows after
-- it, plus theirs from all their rows; an account manager (the policies
-- hide the kept spells and the watermark) gets their customers' spells
-- from all their rows.  Per stage: how many, how many ongoing, the mean
-- and the median of the days (ongoing ones up to now()), each computed as
-- avg() and percentile_cont(0.5) compute them over every spell: the mean
-- the numeric sum over the count, the median the two middle values
-- (found by counting along the lengths) interpolated in float8.
WITH wm AS MATERIALIZED (
    SELECT coalesce((SELECT r.watermark FROM crm.stage_history_rollup r), 0) AS watermark
), mark AS MATERIALIZED (
    -- the customers with rows after the watermark: an uncorrelated
    -- subquery (Citus plans no correlated one over the distributed
    -- history), not run at all while the watermark is 0
    SELECT wm.watermark, CASE WHEN wm.watermark > 0 THEN coalesce(t.touched, '{}') END AS touched
    FROM wm LEFT JOIN (SELECT array_agg(DISTINCT h.customer_id) AS touched FROM crm.stage_history h
                       WHERE (SELECT wm.watermark FROM wm) > 0 AND h.history_id > (SELECT wm.watermark FROM wm)) t ON true
), spells AS (
    SELECT k.stage, k.duration, k.started_at, k.spells FROM crm.stage_spell_counts k, mark WHERE mark.watermark > 0
    UNION ALL
    SELECT s.stage, s.duration, s.started_at, -s.spells FROM mark, crm.history_spells(mark.touched, mark.watermark) s
    WHERE mark.watermark > 0
    UNION ALL
    SELECT s.stage, s.duration, s.started_at, s.spells FROM mark, crm.history_spells(mark.touched, NULL) s
), lengths AS (
    SELECT g.stage, g.ongoing, g.days, g.days::double precision AS sort_days, g.spells,
           sum(g.spells) OVER (PARTITION BY g.stage ORDER BY g.days::double precision ROWS UNBOUNDED PRECEDING) AS spells_up_to,
           sum(g.spells) OVER (PARTITION BY g.stage) AS stage_spells
    FROM (SELECT sp.stage, sp.duration IS NULL AS ongoing,
                 extract(epoch FROM coalesce(sp.duration, now() - sp.started_at)) / 86400 AS days, sum(sp.spells) AS spells
          FROM spells sp GROUP BY 1, 2, 3) g
    WHERE g.spells > 0
), middle AS (
    SELECT l.stage, sum(l.spells) AS spells, sum(l.spells) FILTER (WHERE l.ongoing) AS ongoing,
           sum(l.days * l.spells) / sum(l.spells) AS average_days,
           -- the 0-based rows floor and ceil of (n - 1) / 2 of the spells in
           -- order of length
           min(l.sort_days) FILTER (WHERE l.spells_up_to > floor((l.stage_spells - 1) / 2)) AS low,
           min(l.sort_days) FILTER (WHERE l.spells_up_to > ceil((l.stage_spells - 1) / 2)) AS high
    FROM lengths l
    GROUP BY l.stage
)
SELECT m.stage,
       m.spells::bigint AS spells,
       coalesce(m.ongoing, 0)::bigint AS ongoing,
       round(m.average_days, 1) AS average_days,
       round((m.low + 0.5::double precision * (m.high - m.low))::numeric, 1) AS median_days
FROM middle m;
COMMENT ON VIEW crm.stage_durations IS 'Time spent in each stage, from the history (ongoing spells counted up to now)';
COMMENT ON COLUMN crm.stage_durations.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.stage_durations.spells IS 'Times a customer entered the stage';
COMMENT ON COLUMN crm.stage_durations.ongoing IS 'Spells not ended yet';
COMMENT ON COLUMN crm.stage_durations.average_days IS 'Mean days in the stage';
COMMENT ON COLUMN crm.stage_durations.median_days IS 'Median days in the stage';

CREATE VIEW crm.customers_below_target_level AS
-- the gaps of every class and level below its target (a few rows: the
-- levels' ranks in enum order, the same difference crm.level_gap()
-- counts) joined once to the customers on both (one hash join), not
-- crm.level_gap() per row
SELECT c.customer_id, c.customer_class, c.level, g.target_level, g.levels_to_go
FROM crm.customers c
JOIN (SELECT t.customer_class, cr.level, t.target_level, (tr.rank - cr.rank)::integer AS levels_to_go
      FROM crm.level_targets t
      JOIN unnest(enum_range(NULL::crm.relationship_level)) WITH ORDINALITY tr(level, rank) ON tr.level = t.target_level
      JOIN unnest(enum_range(NULL::crm.relationship_level)) WITH ORDINALITY cr(level, rank) ON cr.level < t.target_level) g
  ON g.customer_class = c.customer_class AND g.level = c.level;
COMMENT ON VIEW crm.customers_below_target_level IS 'Customers whose relationship level is below their class''s target';
COMMENT ON COLUMN crm.customers_below_target_level.customer_id IS 'Customer';
COMMENT ON COLUMN crm.customers_below_target_level.customer_class IS 'residential, general, large, important (crm.level_targets)';
COMMENT ON COLUMN crm.customers_below_target_level.level IS 'Current relationship level';
COMMENT ON COLUMN crm.customers_below_target_level.target_level IS 'Target level of the class';
COMMENT ON COLUMN crm.customers_below_target_level.levels_to_go IS 'Levels still to climb';

CREATE VIEW crm.customer_360 AS
SELECT c.customer_id, c.name, c.kind, c.customer_class, c.service_level, c.account_manager, c.marketing_opt_out,
       c.first_purchase, c.last_purchase,
       coalesce(c.purchase_days, 0) AS purchase_days,
       coalesce(c.total_spend, 0) AS total_spend,
       c.rfm, c.segment, c.scored_on, c.stage, c.stage_since, c.stage_reason, c.level, t.target_level,
       CASE WHEN c.first_purchase <= d.as_of
            THEN crm.round_float(crm.p_alive(sc.model, c.summary, d.as_of), 4) END AS p_alive,
       x.last_interaction_at, x.last_interaction_channel,
       coalesce(x.open_complaints, 0) AS open_complaints,
       crm.round_float(x.last_score, 4) AS last_satisfaction_score, coalesce(x.loyal, false) AS loyal,
       c.churn_reason,
       coalesce(x.open_opportunities, 0) AS open_opportunities, coalesce(x.pipeline_value, 0) AS pipeline_value,
       ck.app_key AS customer_key
FROM crm.customers c
-- settings and the business date read once, not per row (OFFSET 0 keeps
-- the planner from copying the calls into every row)
CROSS JOIN (SELECT crm.business_date() AS as_of OFFSET 0) d
LEFT JOIN crm.level_targets t ON t.customer_class = c.customer_class
LEFT JOIN crm.scoring sc ON true
-- the service and pipeline facts, each at most one row a customer (the
-- latest interaction, the open complaints, the satisfaction, the open
-- pipeline), stacked and grouped by customer: one hash join with the
-- customers instead of one each (each join's probes cost about 0.5 us a
-- row, 0.5 s of a million-row read); a filter on customer_id reaches
-- through the GROUP BY into every branch
LEFT JOIN (SELECT u.customer_id, max(u.occurred_at) AS last_interaction_at, max(u.channel) AS last_interaction_channel,
                  max(u.open_complaints) AS open_complaints, max(u.last_score) AS last_score, bool_or(u.loyal) AS loyal,
                  max(u.open_opportunities) AS open_opportunities, max(u.pipeline_value) AS pipeline_value
           FROM (SELECT li.* FROM (SELECT DISTINCT ON (i.customer_id) i.customer_id, i.occurred_at, i.channel,
                                          NULL::bigint AS open_complaints, NULL::double precision AS last_score,
                                          NULL::boolean AS loyal, NULL::bigint AS open_opportunities,
                                          NULL::numeric AS pipeline_value
                                   FROM crm.interactions i
                                   ORDER BY i.customer_id, i.occurred_at DESC, i.interaction_id DESC) li
                 UNION ALL
                 SELECT k.customer_id, NULL, NULL, count(*), NULL, NULL, NULL, NULL
                 FROM crm.complaints k WHERE k.resolved_at IS NULL GROUP BY k.customer_id
                 UNION ALL
                 SELECT s.customer_id, NULL, NULL, NULL, s.last_score, s.loyal, NULL, NULL FROM crm.customer_satisfaction s
                 UNION ALL
                 SELECT o.customer_id, NULL, NULL, NULL, NULL, NULL, count(*), sum(o.amount)
                 FROM crm.opportunities o WHERE o.stage < 'won' GROUP BY o.customer_id) u
           GROUP BY u.customer_id) x ON x.customer_id = c.customer_id
LEFT JOIN crm.customer_keys ck ON ck.customer_id = c.customer_id;
COMMENT ON VIEW crm.customer_360 IS 'One row per customer: identity, purchases, scores, segment, stage, level, last interaction, open complaints, satisfaction, open pipeline';
COMMENT ON COLUMN crm.customer_360.customer_id IS 'Customer';
COMMENT ON COLUMN crm.customer_360.name IS 'Name';
COMMENT ON COLUMN crm.customer_360.kind IS 'consumer, intermediary, internal or public';
COMMENT ON COLUMN crm.customer_360.customer_class IS 'Class for level targets (residential, general, large, important)';
COMMENT ON COLUMN crm.customer_360.service_level IS 'vip, professional or ordinary';
COMMENT ON COLUMN crm.customer_360.account_manager IS 'Account manager role';
COMMENT ON COLUMN crm.customer_360.marketing_opt_out IS 'No marketing';
COMMENT ON COLUMN crm.customer_360.first_purchase IS 'First purchase day';
COMMENT ON COLUMN crm.customer_360.last_purchase IS 'Last purchase day';
COMMENT ON COLUMN crm.customer_360.purchase_days IS 'Days with purchases';
COMMENT ON COLUMN crm.customer_360.total_spend IS 'Net spend, refunds deducted';
COMMENT ON COLUMN crm.customer_360.rfm IS 'RFM score (last order or refresh)';
COMMENT ON COLUMN crm.customer_360.segment IS 'RFM segment';
COMMENT ON COLUMN crm.customer_360.scored_on IS 'Business date of the scores';
COMMENT ON COLUMN crm.customer_360.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.customer_360.stage_since IS 'Since when';
COMMENT ON COLUMN crm.customer_360.stage_reason IS 'Why the stage last changed';
COMMENT ON COLUMN crm.customer_360.level IS 'Relationship level';
COMMENT ON COLUMN crm.customer_360.target_level IS 'Target level of the customer''s class';
COMMENT ON COLUMN crm.customer_360.p_alive IS 'Probability the customer is still active (the model of the last crm.refresh(fit_model => true)); NULL without a model';
COMMENT ON COLUMN crm.customer_360.last_interaction_at IS 'Latest interaction';
COMMENT ON COLUMN crm.customer_360.last_interaction_channel IS 'Its channel';
COMMENT ON COLUMN crm.customer_360.open_complaints IS 'Complaints not resolved yet';
COMMENT ON COLUMN crm.customer_360.last_satisfaction_score IS 'Perceived / expected in the latest survey';
COMMENT ON COLUMN crm.customer_360.loyal IS 'Satisfied in loyal_after_surveys consecutive latest surveys';
COMMENT ON COLUMN crm.customer_360.churn_reason IS 'Why the customer left, if recorded';
COMMENT ON COLUMN crm.customer_360.open_opportunities IS 'Open sales opportunities (crm.opportunities)';
COMMENT ON COLUMN crm.customer_360.pipeline_value IS 'Sum of the amounts of the open opportunities';
COMMENT ON COLUMN crm.customer_360.customer_key IS 'The application''s key of a customer of tables attached by uuid or text key (crm.customer_keys); NULL for customers keyed by customer_id';

-- KPIs per calendar month.  A customer is active in a month with a purchase
-- day in it; retention is the share of last month's active customers active
-- again this month, churn its complement.  The customers' months are
-- counted in one pass over their summaries (crm.monthly_activity(),
-- src/activity.c; parallel and mergeable), a sealed history with its days
-- put back.
CREATE TYPE crm.month_activity AS (
    month date,
    active_customers bigint,
    returning_customers bigint,
    retained_customers bigint,
    revenue numeric,
    purchases bigint
);
COMMENT ON TYPE crm.month_activity IS
    'A calendar month of a population: customers with a purchase day in it (active), those who bought before the month (returning), those active the month before too (retained), net revenue and purchases';
CREATE FUNCTION crm.monthly_activity_accum(crm.agg_state, crm.summary) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'monthly_activity_accum_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.monthly_activity_combine(crm.agg_state, crm.agg_state) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'monthly_activity_combine_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.monthly_activity_final(crm.agg_state) RETURNS crm.month_activity[]
    AS 'MODULE_PATHNAME', 'monthly_activity_final_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE crm.monthly_activity(crm.summary) (
    SFUNC = crm.monthly_activity_accum, STYPE = crm.agg_state,
    FINALFUNC = crm.monthly_activity_final,
    COMBINEFUNC = crm.monthly_activity_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.monthly_activity(crm.summary) IS
    'Per calendar month with any day, oldest first: active, returning and retained customers, revenue and purchases of the customers whose full (not sealed) summaries are aggregated';

CREATE VIEW crm.kpis AS
WITH monthly AS (
    SELECT a.month, a.active_customers, a.returning_customers, a.retained_customers, a.revenue, a.purchases
    FROM (SELECT crm.monthly_activity(CASE WHEN crm.sealed_through(c.summary) IS NULL THEN c.summary
                                           ELSE crm.full_summary(c.customer_id, c.summary) END) AS months
          FROM crm.customers c) p
    CROSS JOIN LATERAL unnest(p.months) a
    WHERE a.active_customers > 0
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
       round(m.revenue / nullif(m.purchases, 0), 2) AS average_order_value,
       m.revenue,
       coalesce(k.opened, 0) AS complaints,
       round(k.answered_in_time::numeric / nullif(k.opened, 0), 4) AS complaints_within_sla,
       round((100 * v.score)::numeric, 1) AS satisfaction_index
FROM monthly m
LEFT JOIN monthly prev ON prev.month = (m.month - interval '1 month')::date
LEFT JOIN complaints k ON k.month = m.month
LEFT JOIN surveys v ON v.month = m.month;
COMMENT ON VIEW crm.kpis IS 'KPIs per calendar month, from the maintained summaries, complaints and surveys (filter on month)';
COMMENT ON COLUMN crm.kpis.month IS 'First day of the month';
COMMENT ON COLUMN crm.kpis.active_customers IS 'Customers with a purchase day in the month';
COMMENT ON COLUMN crm.kpis.retention_rate IS 'Share of the previous month''s active customers active again this month';
COMMENT ON COLUMN crm.kpis.churn_rate IS '1 - retention_rate';
COMMENT ON COLUMN crm.kpis.repeat_purchase_rate IS 'Share of the month''s active customers who had bought before the month';
COMMENT ON COLUMN crm.kpis.average_order_value IS 'Net revenue / purchase transactions in the month';
COMMENT ON COLUMN crm.kpis.revenue IS 'Net revenue of the month (refunds deducted)';
COMMENT ON COLUMN crm.kpis.complaints IS 'Complaints opened in the month';
COMMENT ON COLUMN crm.kpis.complaints_within_sla IS 'Share of them answered within sla_first_response';
COMMENT ON COLUMN crm.kpis.satisfaction_index IS '100 x mean survey score (perceived / expected) of the month';

CREATE VIEW crm.churn_watch AS
-- P(alive) computed once per candidate in a lateral subquery (OFFSET 0:
-- not copied into the filter) beside the customer row, so that a filter
-- on customer_id, or ORDER BY customer_id LIMIT n, reads the customers by
-- the primary key (a subquery over the customers with OFFSET 0 read all
-- 650,000 candidates of the bench for one); the business date read once
-- (OFFSET 0) on the inner side of the join, which keeps the customers'
-- order; the recent complaints counted per customer in one pass
SELECT c.customer_id, c.name, c.account_manager, c.stage, c.stage_reason, c.segment,
       crm.days_since_last_purchase(c.summary, d.as_of) AS days_since_last_purchase,
       coalesce(c.total_spend, 0) AS total_spend,
       crm.round_float(pa.p_alive, 4) AS p_alive,
       coalesce(k.recent_complaints, 0) AS recent_complaints
FROM crm.customers c
CROSS JOIN (SELECT crm.business_date() AS as_of OFFSET 0) d
LEFT JOIN crm.scoring sc ON true
CROSS JOIN LATERAL (SELECT CASE WHEN c.first_purchase <= d.as_of THEN crm.p_alive(sc.model, c.summary, d.as_of) END AS p_alive
                    OFFSET 0) pa
LEFT JOIN (SELECT k.customer_id, count(*) AS recent_complaints
           FROM crm.complaints k
           CROSS JOIN (SELECT crm.business_date() AS as_of, crm.setting('complaint_trend_days')::integer AS trend_days OFFSET 0) t
           WHERE k.opened_at >= t.as_of - t.trend_days GROUP BY k.customer_id) k ON k.customer_id = c.customer_id
WHERE c.stage IN ('decline', 'formation', 'stable')
  AND (c.stage = 'decline' OR pa.p_alive < 0.5);
COMMENT ON VIEW crm.churn_watch IS 'Customers at risk: in decline, or formation/stable with P(alive) < 0.5 under the stored model';
COMMENT ON COLUMN crm.churn_watch.customer_id IS 'Customer';
COMMENT ON COLUMN crm.churn_watch.name IS 'Name';
COMMENT ON COLUMN crm.churn_watch.account_manager IS 'Account manager role';
COMMENT ON COLUMN crm.churn_watch.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.churn_watch.stage_reason IS 'Why the stage last changed (the decline signal)';
COMMENT ON COLUMN crm.churn_watch.segment IS 'RFM segment';
COMMENT ON COLUMN crm.churn_watch.days_since_last_purchase IS 'Days since the last purchase, on the business date';
COMMENT ON COLUMN crm.churn_watch.total_spend IS 'Net spend';
COMMENT ON COLUMN crm.churn_watch.p_alive IS 'P(alive) under the stored model; NULL without one';
COMMENT ON COLUMN crm.churn_watch.recent_complaints IS 'Complaints in the last complaint_trend_days days';
