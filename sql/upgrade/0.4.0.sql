-- crm 0.3.0 -> 0.4.0: changes to objects that exist in 0.3.0.  The Makefile
-- builds crm--0.3.0--0.4.0.sql from this file (its --@ lines stand for
-- definitions taken from the install pieces: see splice.awk) followed by
-- the install pieces new in 0.4.0.
\echo Use "ALTER EXTENSION crm UPDATE TO '0.4.0'" to load this file. \quit

-- one source per rule: the business date, the defaults of history rows and
-- the RFM segment are the C code's, which the order trigger uses too
--@ replace 05_config.sql crm.business_date
--@ copy 05_config.sql crm.change_source
--@ copy 05_config.sql crm.change_time
ALTER TABLE crm.stage_history
    ALTER COLUMN changed_at SET DEFAULT crm.change_time(),
    ALTER COLUMN source SET DEFAULT crm.change_source();

--@ replace 60_segment.sql crm.rfm_segment
--@ replace 75_refresh.sql crm.score_customers
--@ copy 05_config.sql crm.c_dependencies
--@ copy 10_summary.sql crm.round_float

-- any client can compare crm's types: their operators move to pg_catalog
-- (views and functions that use them keep them: they refer to them by OID)
ALTER OPERATOR crm.= (crm.summary, crm.summary) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.<> (crm.summary, crm.summary) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.< (crm.rfm, crm.rfm) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.<= (crm.rfm, crm.rfm) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.= (crm.rfm, crm.rfm) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.<> (crm.rfm, crm.rfm) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.>= (crm.rfm, crm.rfm) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.> (crm.rfm, crm.rfm) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.< (crm.stage, crm.stage) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.<= (crm.stage, crm.stage) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.= (crm.stage, crm.stage) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.<> (crm.stage, crm.stage) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.>= (crm.stage, crm.stage) SET SCHEMA pg_catalog;
ALTER OPERATOR crm.> (crm.stage, crm.stage) SET SCHEMA pg_catalog;

-- settings: the model the refresh fits of its own accord, and a change of
-- crm.settings reaches every backend's copy
INSERT INTO crm.setting_defaults VALUES
    ('btyd_min_repeat_buyers', '100', 'crm.refresh() fits a model of its own accord (none stored, fit_model not given) only when at least this many customers have repeat purchases');
UPDATE crm.setting_defaults
SET description = 'Model crm.refresh() fits for P(alive), which the stage inference reads (bgnbd, pareto_nbd, mbgnbd)'
WHERE name = 'btyd_model';
--@ replace 05_config.sql crm.check_setting
--@ replace 05_config.sql crm.config_changed
--@ copy 05_config.sql config_changed

-- stages: walked month end by month end, with the model and the
-- complaints; levels inferred too
DROP FUNCTION crm.next_stage(crm.stage, crm.summary, date, integer, integer, double precision, double precision,
                             double precision, double precision, double precision, date);
DROP FUNCTION crm.infer_stage(crm.stage, crm.summary, date, integer, integer, double precision, double precision,
                              double precision, double precision, double precision, date);
--@ copy 50_stage.sql crm.next_stage
--@ copy 50_stage.sql crm.infer_stage
--@ copy 50_stage.sql crm.infer_level
--@ replace 50_stage.sql crm.stage_threshold_defaults
COMMENT ON TABLE crm.stage_thresholds IS
    'Site overrides of the stage and level inference thresholds (see crm.stage_thresholds_in_effect); checked when written';
COMMENT ON VIEW crm.stage_thresholds_in_effect IS 'Every stage and level inference threshold with the value in effect';

ALTER TABLE crm.customers ADD COLUMN level_reason text, ADD COLUMN level_since date;
COMMENT ON COLUMN crm.customers.level_reason IS 'Why the level last changed (an inference reason code, or free text)';
COMMENT ON COLUMN crm.customers.level_since IS 'Business date the current level began (inference holds a level level_min_days)';
GRANT UPDATE (level_reason) ON crm.customers TO crm_writer;
-- the summary's figures the views read, kept beside it (the table is
-- rewritten once, computing them from the summaries)
ALTER TABLE crm.customers
    ADD COLUMN first_purchase date GENERATED ALWAYS AS (crm.first_purchase(summary)) STORED,
    ADD COLUMN last_purchase date GENERATED ALWAYS AS (crm.last_purchase(summary)) STORED,
    ADD COLUMN purchase_days integer GENERATED ALWAYS AS (crm.purchase_days(summary)) STORED,
    ADD COLUMN total_spend numeric GENERATED ALWAYS AS (crm.total_spend(summary)) STORED;
COMMENT ON COLUMN crm.customers.first_purchase IS 'First purchase day: crm.first_purchase(summary), kept with the row';
COMMENT ON COLUMN crm.customers.last_purchase IS 'Last purchase day: crm.last_purchase(summary), kept with the row';
COMMENT ON COLUMN crm.customers.purchase_days IS 'Days with purchases: crm.purchase_days(summary), kept with the row';
COMMENT ON COLUMN crm.customers.total_spend IS 'Net spend, refunds deducted: crm.total_spend(summary), kept with the row';
--@ replace 80_views.sql crm.lifecycle_funnel
ALTER VIEW crm.lifecycle_funnel SET (security_invoker = true);
--@ replace 60_segment.sql crm.segment_summary
ALTER VIEW crm.segment_summary SET (security_invoker = true);
--@ replace 60_segment.sql crm.pareto
ALTER VIEW crm.pareto SET (security_invoker = true);
DROP TRIGGER stage_guard ON crm.customers;
--@ replace 55_customers.sql crm.stage_guard
--@ copy 55_customers.sql crm.override_level
GRANT EXECUTE ON FUNCTION crm.override_level(bigint, crm.relationship_level, text) TO crm_admin;
--@ replace 55_customers.sql crm.apply_inferred_stages
--@ copy 70_service.sql crm.level_signals
--@ copy 70_service.sql crm.service_changed
--@ replace 70_service.sql crm.escalate_complaint
--@ copy 75_refresh.sql crm.refresh_runs
GRANT SELECT ON crm.refresh_runs TO crm_reader;
GRANT INSERT, UPDATE ON crm.refresh_runs TO crm_admin;
GRANT USAGE ON SEQUENCE crm.refresh_runs_run_id_seq TO crm_writer;
INSERT INTO crm.setting_defaults VALUES
    ('refresh_progress_interval', '5 seconds', 'crm.refresh() reports its progress in a NOTICE at most this often (its run log, crm.refresh_runs, is written with every batch)');
--@ replace 75_refresh.sql crm.refresh
--@ copy 75_refresh.sql crm.compute_scoring
GRANT EXECUTE ON FUNCTION crm.compute_scoring(date, boolean) TO crm_admin;
--@ copy 75_refresh.sql crm.attach_summaries
GRANT EXECUTE ON FUNCTION crm.attach_summaries(text, text, boolean, boolean) TO crm_admin;
DROP FUNCTION crm.rescore(bigint[], text, integer);
--@ copy 65_orders.sql crm.rescore
GRANT EXECUTE ON FUNCTION crm.rescore(bigint[], text, integer, boolean) TO crm_admin;
-- attaching the order tables applications have (issue 15): customers by
-- uuid or text key, one business time zone, amounts scaled or computed,
-- a row filter
INSERT INTO crm.setting_defaults VALUES
    ('business_time_zone', current_setting('TimeZone'), 'Time zone a timestamptz order date is turned into a purchase day in, whatever the writing session''s (default: the TimeZone crm was installed with); change it with crm.set_business_time_zone()');
ALTER TABLE crm.tracked_tables
    ALTER COLUMN amount_column DROP NOT NULL,
    ADD COLUMN keyed boolean NOT NULL DEFAULT false,
    ADD COLUMN amount_scale integer NOT NULL DEFAULT 0 CHECK (amount_scale BETWEEN 0 AND 18),
    ADD COLUMN amount_expression text,
    ADD COLUMN row_filter text,
    ADD COLUMN column_types regtype[],
    ADD CHECK ((amount_column IS NULL) <> (amount_expression IS NULL));
COMMENT ON COLUMN crm.tracked_tables.keyed IS 'Customers by an application key (uuid, text, varchar), mapped to customer_id in crm.customer_keys';
COMMENT ON COLUMN crm.tracked_tables.amount_scale IS 'The amount is divided by 10^amount_scale (cents: 2)';
COMMENT ON COLUMN crm.tracked_tables.amount_expression IS 'The amount as an expression over the table''s columns (instead of amount_column)';
COMMENT ON COLUMN crm.tracked_tables.row_filter IS 'Which rows are purchases: a boolean expression over the table''s columns (NULL: every row)';
COMMENT ON COLUMN crm.tracked_tables.column_types IS 'Types of the customer, date and amount columns at attach (a change of type is refused)';
--@ copy 65_orders.sql crm.tracked_partitions
--@ copy 65_orders.sql crm.retained_summaries
--@ copy 65_orders.sql crm.customer_key_ids
--@ copy 65_orders.sql crm.customer_for_key
--@ copy 65_orders.sql crm.check_order_expression
DROP FUNCTION crm.install_tracking(regclass, name, name, name, text, text);
--@ copy 65_orders.sql crm.install_tracking
--@ copy 65_orders.sql crm.order_rows_query
--@ replace 65_orders.sql crm.table_summaries
--@ copy 65_orders.sql crm.tracking_options
--@ copy 65_orders.sql crm.count_orders
--@ copy 65_orders.sql crm.sync_partitions
DROP FUNCTION crm.track_orders(regclass, name, name, name, text, text);
--@ copy 65_orders.sql crm.track_orders
--@ replace 65_orders.sql crm.untrack_orders
--@ copy 65_orders.sql crm.guard_time_zone
--@ copy 65_orders.sql crm.set_business_time_zone
--@ copy 65_orders.sql crm.track_ddl
--@ copy 65_orders.sql crm.track_drop
--@ copy 65_orders.sql crm_track_ddl
GRANT SELECT ON crm.tracked_partitions, crm.retained_summaries TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.tracked_partitions, crm.retained_summaries TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.count_orders(crm.tracked_tables, boolean), crm.sync_partitions(crm.tracked_tables, boolean) TO crm_admin;
GRANT SELECT ON crm.customer_keys TO crm_reader;
GRANT USAGE ON SEQUENCE crm.customer_key_ids TO crm_writer;
GRANT INSERT, UPDATE, DELETE ON crm.customer_keys TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.install_tracking(regclass, name, name, name, text, text, text[]),
    crm.check_order_expression(regclass, text, boolean), crm.customer_for_key(text), crm.set_business_time_zone(text) TO crm_admin;
--@ replace 80_views.sql crm.churn_watch
ALTER VIEW crm.churn_watch SET (security_invoker = true);
--@ replace 80_views.sql crm.stage_transition_matrix

-- long histories (issue 17): sealed summaries and the table of their
-- sealed days; the functions that read or write stored summaries in bulk
-- seal, unseal, or read the full history where they need every day
--@ copy 10_summary.sql crm.seal
--@ copy 10_summary.sql crm.sealed_through
--@ copy 10_summary.sql crm.seal_point
--@ copy 10_summary.sql crm.unseal
--@ copy 10_summary.sql crm.split_by_month
--@ copy 55_customers.sql crm.summary_blocks
--@ copy 55_customers.sql crm.full_summary
--@ copy 55_customers.sql crm.seal_customers
--@ copy 55_customers.sql crm.unseal_customers
--@ replace 65_orders.sql crm.rebuild_summaries
--@ replace 80_views.sql crm.customers_below_target_level
ALTER VIEW crm.customers_below_target_level SET (security_invoker = true);
COMMENT ON COLUMN crm.customers.summary IS 'Purchase days of every tracked order table, maintained by their triggers, a long history sealed (crm.full_summary()); NULL: no orders';
GRANT SELECT ON crm.summary_blocks TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.summary_blocks TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.seal_customers(bigint[]), crm.unseal_customers(bigint[]) TO crm_admin;

-- the stored summaries of 0.3.0 are full (version 1, which 0.4.0 reads
-- as it is): seal the long ones as the order trigger would
SELECT crm.seal_customers();

-- ---------------------------------------------------------------------
-- crm.btyd_model: 80 fixed bytes in 0.3.0, a varlena in 0.4.0 (standard
-- errors, covariates, the calibration end).  A type's length cannot
-- change in place, so the 0.3.0 type is moved aside here as
-- crm.btyd_model_0_3, with its input and output functions (the library
-- reads and writes both forms, src/btyd.c); sql/install/40_btyd.sql then
-- creates the new type and every function, aggregate and prediction on it
-- (it is one of the pieces this script is followed by), and
-- sql/upgrade/0.4.0-finish.sql converts every stored model through its
-- text form and drops what is left of the old type.
-- ---------------------------------------------------------------------
ALTER TYPE crm.btyd_model RENAME TO btyd_model_0_3;
ALTER FUNCTION crm.btyd_model_in(cstring) RENAME TO btyd_model_0_3_in;
ALTER FUNCTION crm.btyd_model_out(crm.btyd_model_0_3) RENAME TO btyd_model_0_3_out;
ALTER FUNCTION crm.btyd_model_recv(internal) RENAME TO btyd_model_0_3_recv;
ALTER FUNCTION crm.btyd_model_send(crm.btyd_model_0_3) RENAME TO btyd_model_0_3_send;
-- the fit aggregates and their support functions are created again with
-- the same signatures: drop them now
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'crm'::regnamespace AND p.prokind = 'a'
               AND p.proname IN ('fit_bgnbd', 'fit_pareto_nbd', 'fit_mbgnbd', 'fit_gamma_gamma') LOOP
        EXECUTE pg_catalog.format('DROP AGGREGATE %s', f);
    END LOOP;
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'crm'::regnamespace
               AND p.proname IN ('btyd_accum', 'btyd_accum_spend', 'btyd_fit_combine', 'btyd_fit_serialize',
                                 'btyd_fit_deserialize', 'btyd_final_bgnbd', 'btyd_final_pareto_nbd',
                                 'btyd_final_mbgnbd', 'btyd_final_gamma_gamma') LOOP
        EXECUTE pg_catalog.format('DROP FUNCTION %s', f);
    END LOOP;
END $$;
