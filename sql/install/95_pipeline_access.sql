-- ---------------------------------------------------------------------
-- The sales pipeline, part 2: privileges and row-level security (after the
-- piece that creates the roles).  The grants are explicit here although
-- that piece's "ALL TABLES" already covers a fresh install: an upgrade
-- from 0.3.0 runs only this.
-- ---------------------------------------------------------------------

GRANT SELECT ON crm.opportunities, crm.opportunity_history, crm.fixed_stage_probabilities,
    crm.pipeline_stages, crm.pipeline_by_stage, crm.pipeline_funnel, crm.pipeline_velocity, crm.pipeline_stuck,
    crm.pipeline_win_rate, crm.pipeline_probabilities, crm.pipeline_forecast, crm.pipeline_backtest,
    crm.pipeline_backtest_scores TO crm_reader;
-- writers: their opportunities (stage_since only when creating one: an import)
GRANT INSERT (customer_id, owner, title, amount, expected_close, stage, stage_since, created_at, close_reason)
    ON crm.opportunities TO crm_writer;
GRANT UPDATE (owner, title, amount, expected_close, stage, close_reason) ON crm.opportunities TO crm_writer;
DO $$
BEGIN
    EXECUTE pg_catalog.format('GRANT USAGE ON SEQUENCE %s, %s TO crm_writer',
        pg_catalog.pg_get_serial_sequence('crm.opportunities', 'opportunity_id'),
        pg_catalog.pg_get_serial_sequence('crm.opportunity_history', 'history_id'));
END $$;
-- admins: deletes, the fixed probabilities, the history itself
GRANT DELETE ON crm.opportunities TO crm_admin;
GRANT INSERT, UPDATE, DELETE ON crm.opportunity_history, crm.fixed_stage_probabilities TO crm_admin;

-- ---------------------------------------------------------------------
-- Row-level security: a role that owns some opportunity sees, and writes,
-- only its own; every other role (a sales manager, BI) sees all.  As for
-- customers' account managers (crm.is_account_manager): SECURITY DEFINER so that
-- they read past the policy, answering only for roles the session's login
-- role belongs to.
-- ---------------------------------------------------------------------
CREATE FUNCTION crm.is_opportunity_owner(role name) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT pg_has_role(session_user, role, 'MEMBER')
                 AND EXISTS (SELECT FROM crm.opportunities o WHERE o.owner = role) $$;
COMMENT ON FUNCTION crm.is_opportunity_owner(name) IS
    'Whether the role (one the session''s login role belongs to) owns some opportunity; row-level security then limits it to those';

CREATE FUNCTION crm.owned_opportunities(role name) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT o.opportunity_id FROM crm.opportunities o
          WHERE o.owner = role AND pg_has_role(session_user, role, 'MEMBER') $$;
COMMENT ON FUNCTION crm.owned_opportunities(name) IS 'The opportunities the role (one the session''s login role belongs to) owns';

ALTER TABLE crm.opportunities ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner ON crm.opportunities
    USING (NOT (SELECT crm.is_opportunity_owner(current_user)) OR owner = current_user);
ALTER TABLE crm.opportunity_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner ON crm.opportunity_history
    USING (NOT (SELECT crm.is_opportunity_owner(current_user))
           OR opportunity_id IN (SELECT crm.owned_opportunities(current_user)));
