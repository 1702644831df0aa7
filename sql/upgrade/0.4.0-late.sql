-- crm 0.3.0 -> 0.4.0, after the install pieces new in 0.4.0: changes to
-- objects that exist in 0.3.0 and use objects of those pieces (see the
-- Makefile).  Each is written as in its install piece.

-- sql/install/80_access.sql: crm.customer_360 gains the customer's open
-- pipeline (crm.opportunities, 79_pipeline.sql)
CREATE OR REPLACE VIEW crm.customer_360 WITH (security_invoker = true) AS
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
COMMENT ON VIEW crm.customer_360 IS 'One row per customer: identity, purchases, scores, segment, stage, level, last interaction, open complaints, satisfaction, open pipeline';
COMMENT ON COLUMN crm.customer_360.open_opportunities IS 'Open sales opportunities (crm.opportunities)';
COMMENT ON COLUMN crm.customer_360.pipeline_value IS 'Sum of the amounts of the open opportunities';
