-- ---------------------------------------------------------------------
-- Roles.  Roles are cluster-wide: they are created if missing and kept by
-- DROP EXTENSION (other databases may use them); drop them by hand.
-- ---------------------------------------------------------------------
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['crm_reader', 'crm_writer', 'crm_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $$;
GRANT crm_reader TO crm_writer;
GRANT crm_writer TO crm_admin;

-- readers: everything in crm, read-only
GRANT SELECT ON ALL TABLES IN SCHEMA crm TO crm_reader;
-- writers: orders, interactions, complaints, surveys; customers' record
GRANT INSERT, UPDATE, DELETE ON crm.orders, crm.interactions, crm.complaints, crm.surveys, crm.survey_answers TO crm_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO crm_writer;
GRANT INSERT (customer_id, name, kind, customer_class, service_level, account_manager, marketing_opt_out, stage, level)
    ON crm.customers TO crm_writer;
GRANT UPDATE (name, kind, service_level, marketing_opt_out, churn_reason, stage, stage_reason, level, level_reason)
    ON crm.customers TO crm_writer;
-- admins: configuration, attaching tables, refresh, overrides
GRANT INSERT, UPDATE, DELETE ON crm.settings, crm.stage_thresholds, crm.level_targets,
    crm.segment_schemes, crm.segment_labels, crm.segment_cells, crm.segment_rules,
    crm.complaint_categories, crm.churn_reasons, crm.customer_segments TO crm_admin;
GRANT UPDATE, DELETE ON crm.customers TO crm_admin;
GRANT INSERT, UPDATE, DELETE ON crm.summary_blocks TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.seal_customers(bigint[]), crm.unseal_customers(bigint[]) TO crm_admin;
GRANT INSERT, UPDATE, DELETE ON crm.tracked_tables, crm.scoring, crm.stage_history, crm.customer_keys,
    crm.tracked_partitions, crm.retained_summaries TO crm_admin;
-- crm.refresh() (run as an admin) writes its run log
GRANT INSERT, UPDATE ON crm.refresh_runs TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.track_orders_trigger(), crm.install_tracking(regclass, name, name, name, text, text, text[]),
    crm.check_order_expression(regclass, text, boolean), crm.customer_for_key(text), crm.set_business_time_zone(text),
    crm.count_orders(crm.tracked_tables, boolean), crm.sync_partitions(crm.tracked_tables, boolean),
    crm.rescore(bigint[], text, integer, boolean), crm.score_customers(bigint[], date), crm.compute_scoring(date, boolean),
    crm.attach_summaries(text, text, boolean, boolean),
    crm.override_stage(bigint, crm.stage, text), crm.override_level(bigint, crm.relationship_level, text) TO crm_admin;
GRANT EXECUTE ON PROCEDURE crm.rebuild_summaries() TO crm_admin;
-- crm.refresh writes every customer: admins only
REVOKE ALL ON PROCEDURE crm.refresh(date, integer, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE crm.refresh(date, integer, boolean, boolean) TO crm_admin;

-- ---------------------------------------------------------------------
-- Row-level security: a role named as some customer's account manager
-- sees, and writes, only its own customers; every other role sees all.
-- ---------------------------------------------------------------------
-- SECURITY DEFINER so that they read crm.customers past its own policy
-- (a policy querying its own table would recurse); the role is passed in
-- because inside them current_user is the owner.  They answer only for
-- roles the session's login role belongs to.
CREATE FUNCTION crm.is_account_manager(role name) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT pg_has_role(session_user, role, 'MEMBER')
                 AND EXISTS (SELECT FROM crm.customers c WHERE c.account_manager = role) $$;
COMMENT ON FUNCTION crm.is_account_manager(name) IS
    'Whether the role (one the session''s login role belongs to) is some customer''s account manager; row-level security then limits it to those customers';

CREATE FUNCTION crm.managed_customers(role name) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT c.customer_id FROM crm.customers c
          WHERE c.account_manager = role AND pg_has_role(session_user, role, 'MEMBER') $$;
COMMENT ON FUNCTION crm.managed_customers(name) IS 'The customers the role (one the session''s login role belongs to) manages';

ALTER TABLE crm.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_manager ON crm.customers
    USING (NOT (SELECT crm.is_account_manager(current_user)) OR account_manager = current_user);
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['orders', 'interactions', 'complaints', 'surveys'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE crm.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY account_manager ON crm.%I USING (NOT (SELECT crm.is_account_manager(current_user)) '
            'OR customer_id IN (SELECT crm.managed_customers(current_user)))', t);
    END LOOP;
END $$;

-- views check the reader's own privileges and policies, not the owner's
DO $$
DECLARE
    v regclass;
BEGIN
    FOR v IN SELECT c.oid FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v' LOOP
        EXECUTE pg_catalog.format('ALTER VIEW %s SET (security_invoker = true)', v);
    END LOOP;
END $$;
