-- ---------------------------------------------------------------------
-- The kept counts of the stage history (78_transition_counts.sql): read
-- by everyone who reads crm, except an account manager (issue 20), from
-- whom the policies hide them and the watermark: counts of every
-- customer would tell what their rows of crm.stage_history do not, and
-- crm.stage_transitions and crm.stage_durations then count their own
-- customers' rows live.
-- Written by the roll-up (admins; crm.refresh()) and the history's
-- triggers, as the extension's owner.
-- ---------------------------------------------------------------------
GRANT SELECT ON crm.stage_transition_counts, crm.stage_spell_counts, crm.stage_history_rollup TO crm_reader;
GRANT EXECUTE ON FUNCTION crm.roll_up_stage_history() TO crm_admin;
ALTER TABLE crm.stage_transition_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_manager ON crm.stage_transition_counts USING (NOT (SELECT crm.is_account_manager(current_user)));
ALTER TABLE crm.stage_spell_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_manager ON crm.stage_spell_counts USING (NOT (SELECT crm.is_account_manager(current_user)));
ALTER TABLE crm.stage_history_rollup ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_manager ON crm.stage_history_rollup USING (NOT (SELECT crm.is_account_manager(current_user)));
