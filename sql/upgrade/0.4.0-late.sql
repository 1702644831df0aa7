-- crm 0.3.0 -> 0.4.0, after the install pieces new in 0.4.0: changes to
-- objects that exist in 0.3.0 and use objects of those pieces (see the
-- Makefile; spliced like 0.4.0.sql).

-- the stage walk takes a model (crm.btyd_model, made again by
-- 40_btyd.sql)
--@ copy 50_stage.sql crm.walk_stages

-- crm.customer_360 gains the customer's open pipeline (crm.opportunities,
-- 79_pipeline.sql)
--@ replace 80_views.sql crm.customer_360
ALTER VIEW crm.customer_360 SET (security_invoker = true);

-- crm.kpis counts its months in one pass over the summaries (the
-- aggregate crm.monthly_activity, over crm.agg_state of 08_agg_state.sql)
--@ copy 80_views.sql crm.month_activity
--@ replace 80_views.sql crm.kpis
ALTER VIEW crm.kpis SET (security_invoker = true);

-- the global aggregates keep their state in crm.agg_state
-- (08_agg_state.sql) instead of internal, so that Citus can split them
-- into worker partials and a coordinator combine
DROP AGGREGATE crm.summarize(crm.summary);
DROP FUNCTION crm.summary_accum(internal, crm.summary);
--@ copy 10_summary.sql crm.summary_state_accum

DROP AGGREGATE crm.rfm_quantiles(crm.summary, date);
DROP AGGREGATE crm.rfm_quantiles(crm.summary, date, integer);
DROP FUNCTION crm.rfm_quantiles_accum(internal, crm.summary, date);
DROP FUNCTION crm.rfm_quantiles_accum(internal, crm.summary, date, integer);
DROP FUNCTION crm.rfm_quantiles_combine(internal, internal);
DROP FUNCTION crm.rfm_quantiles_serialize(internal);
DROP FUNCTION crm.rfm_quantiles_deserialize(bytea, internal);
DROP FUNCTION crm.rfm_quantiles_final(internal);
--@ copy 20_rfm.sql crm.rfm_quantiles_accum
--@ copy 20_rfm.sql crm.rfm_quantiles

-- crm.stage_transitions and crm.stage_transition_matrix() read the kept
-- counts of the history (crm.stage_transition_counts,
-- 78_transition_counts.sql) and count only the rows after their watermark
--@ replace 80_views.sql crm.stage_transitions
ALTER VIEW crm.stage_transitions SET (security_invoker = true);
--@ replace 80_views.sql crm.stage_transition_matrix

-- crm.stage_durations reads the kept spells of the history
-- (crm.stage_spell_counts, 78_transition_counts.sql) and recounts only the
-- customers with rows after the watermark
--@ replace 80_views.sql crm.stage_durations
ALTER VIEW crm.stage_durations SET (security_invoker = true);
