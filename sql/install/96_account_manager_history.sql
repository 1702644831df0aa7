-- ---------------------------------------------------------------------
-- Row-level security, continued (issue 20): an account manager sees only
-- their own customers in the tables the maintenance writes too: the stage
-- history, the sealed days of long histories, the segment assignments,
-- the application keys of customers and the orders kept of detached
-- partitions (sql/install/90_access.sql has the rule and its functions).
-- The maintenance writes them as the extension's owner, which policies
-- do not restrict.
-- ---------------------------------------------------------------------
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['stage_history', 'summary_blocks', 'customer_segments', 'customer_keys', 'retained_summaries'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE crm.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY account_manager ON crm.%I USING (NOT (SELECT crm.is_account_manager(current_user)) '
            'OR customer_id IN (SELECT crm.managed_customers(current_user)))', t);
    END LOOP;
END $$;
