-- crm 0.2.0 -> 0.3.0: the order trigger writes existing customers without a
-- query and caches its configuration per backend (the piece 72_config_cache
-- follows this file in crm--0.2.0--0.3.0.sql)
\echo Use "ALTER EXTENSION crm UPDATE TO '0.3.0'" to load this file. \quit

-- the trigger writes its history rows with source 'inference' itself: no
-- setting to save and restore around every call
ALTER FUNCTION crm.track_orders_trigger() RESET crm.change_source;

-- ---------------------------------------------------------------------
-- The configuration the order trigger caches per backend (0.3.0)
-- ---------------------------------------------------------------------
-- The order trigger computes a customer's score, segment and stage in C
-- and keeps crm.scoring's cutpoints and the rfm_segments scheme in memory
-- between statements.  Any change to those tables tells every backend to
-- read them again (a relcache invalidation of crm.scoring, received before
-- the next command once the change commits).
CREATE FUNCTION crm.config_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'config_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION crm.config_changed() FROM PUBLIC;
COMMENT ON FUNCTION crm.config_changed() IS
    'Statement trigger on crm.scoring and the segment tables: every backend drops the copy of them the order trigger keeps';

CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.scoring
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.segment_schemes
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.segment_labels
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.segment_cells
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.segment_rules
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
