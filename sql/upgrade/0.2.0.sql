-- crm 0.1.0 -> 0.2.0: the first piece of the upgrade script; the Makefile
-- appends the install pieces that are new in 0.2.0 (UPGRADE_0_2_PIECES).
\echo Use "ALTER EXTENSION crm UPDATE TO '0.2.0'" to load this file. \quit

-- stage history is written by a C trigger, as the extension owner, and
-- records the session's login role
CREATE OR REPLACE FUNCTION crm.record_stage_changes() RETURNS trigger
    AS 'MODULE_PATHNAME', 'record_stage_changes' LANGUAGE C SECURITY DEFINER
    SET search_path = pg_catalog, crm;
ALTER TABLE crm.stage_history ALTER COLUMN changed_by SET DEFAULT session_user;
