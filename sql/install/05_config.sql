-- ---------------------------------------------------------------------
-- Configuration (src/config.c): settings, the business date, the
-- defaults of history rows, and telling every backend that a
-- configuration table changed
-- ---------------------------------------------------------------------

-- Settings: shipped defaults in crm.setting_defaults (not dumped), the
-- site's values in crm.settings (dumped).  crm.setting(name) reads either.
CREATE TABLE crm.setting_defaults (
    name text PRIMARY KEY,
    value text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE crm.setting_defaults IS 'Shipped default of every setting (read-only; override in crm.settings)';
INSERT INTO crm.setting_defaults VALUES
    ('repeat_complaint_window', '30 days', 'A complaint of the same customer and category within this interval of an earlier one is a repeat and is escalated'),
    ('sla_phone_wait', '20 seconds', 'Longest acceptable wait on the phone line'),
    ('sla_first_response', '1 day', 'Longest time from a complaint to the first response'),
    ('sla_onsite', '24 hours', 'Longest time from a complaint to a visit on site'),
    ('sla_onsite_vip', '8 hours', 'Longest time from a VIP customer''s complaint to a visit on site'),
    ('loyal_after_surveys', '3', 'A customer counts as loyal after this many consecutive satisfied surveys'),
    ('complaint_trend_days', '90', 'Window, in days, of the complaints trend the stage inference compares (recent window against the one before)'),
    ('btyd_model', 'bgnbd', 'Model crm.refresh() fits for P(alive), which the stage inference reads (bgnbd, pareto_nbd, mbgnbd)'),
    ('btyd_unit', '7 days', 'Time unit of the fitted model'),
    ('btyd_min_repeat_buyers', '100', 'crm.refresh() fits a model of its own accord (none stored, fit_model not given) only when at least this many customers have repeat purchases'),
    ('refresh_progress_interval', '5 seconds', 'crm.refresh() reports its progress in a NOTICE at most this often (its run log, crm.refresh_runs, is written with every batch)'),
    ('business_time_zone', current_setting('TimeZone'), 'Time zone a timestamptz order date is turned into a purchase day in, whatever the writing session''s (default: the TimeZone crm was installed with); change it with crm.set_business_time_zone()');

CREATE TABLE crm.settings (
    name text PRIMARY KEY REFERENCES crm.setting_defaults ON UPDATE CASCADE,
    value text NOT NULL
);
COMMENT ON TABLE crm.settings IS 'The site''s settings, overriding crm.setting_defaults (see crm.settings_in_effect)';
SELECT pg_catalog.pg_extension_config_dump('crm.settings', '');

CREATE FUNCTION crm.setting(setting_name text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT coalesce((SELECT s.value FROM crm.settings s WHERE s.name = setting_name),
                          (SELECT d.value FROM crm.setting_defaults d WHERE d.name = setting_name)) $$;
COMMENT ON FUNCTION crm.setting(text) IS 'The value in effect of a setting (crm.settings, else its shipped default); NULL for an unknown name';

-- a bad value is refused when written, not when first read
CREATE FUNCTION crm.check_setting() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
BEGIN
    BEGIN
        CASE
            WHEN NEW.name IN ('loyal_after_surveys', 'complaint_trend_days', 'btyd_min_repeat_buyers') THEN
                IF NEW.value::integer < 1 THEN RAISE EXCEPTION USING ERRCODE = '22023'; END IF;
            WHEN NEW.name = 'btyd_model' THEN
                IF NEW.value NOT IN ('bgnbd', 'pareto_nbd', 'mbgnbd') THEN RAISE EXCEPTION USING ERRCODE = '22023'; END IF;
            WHEN NEW.name = 'business_time_zone' THEN
                PERFORM now() AT TIME ZONE NEW.value;
            ELSE
                IF NEW.value::interval <= interval '0' THEN RAISE EXCEPTION USING ERRCODE = '22023'; END IF;
        END CASE;
    EXCEPTION WHEN data_exception THEN
        RAISE EXCEPTION 'invalid value "%" for setting "%"', NEW.value, NEW.name
            USING ERRCODE = '22023',
                  HINT = 'See crm.settings_in_effect for the meaning and the default of each setting.';
    END;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION crm.check_setting() IS 'BEFORE trigger on crm.settings: refuses a value of the wrong kind (22023)';

CREATE TRIGGER check_setting BEFORE INSERT OR UPDATE ON crm.settings
    FOR EACH ROW EXECUTE FUNCTION crm.check_setting();

CREATE VIEW crm.settings_in_effect AS
SELECT d.name, coalesce(s.value, d.value) AS value, d.value AS default_value, s.value IS NOT NULL AS overridden, d.description
FROM crm.setting_defaults d LEFT JOIN crm.settings s USING (name);
COMMENT ON VIEW crm.settings_in_effect IS 'Every setting with the value in effect and its default';
COMMENT ON COLUMN crm.settings_in_effect.name IS 'Setting';
COMMENT ON COLUMN crm.settings_in_effect.value IS 'Value in effect';
COMMENT ON COLUMN crm.settings_in_effect.default_value IS 'Shipped default';
COMMENT ON COLUMN crm.settings_in_effect.overridden IS 'Whether crm.settings overrides the default';
COMMENT ON COLUMN crm.settings_in_effect.description IS 'What the setting does';

-- the business date: the setting crm.as_of (for replays and backfills),
-- else today; the order trigger reads the same (src/config.c)
CREATE FUNCTION crm.business_date() RETURNS date
    AS 'MODULE_PATHNAME', 'business_date' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.business_date() IS
    'The date scores are measured on: the setting crm.as_of when set (replays, backfills), else current_date';

-- who and when of a stage change, for crm.stage_history's defaults
CREATE FUNCTION crm.change_source() RETURNS text
    AS 'MODULE_PATHNAME', 'change_source' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.change_source() IS
    'The source of a stage change: the setting crm.change_source when set, else user (the default of crm.stage_history.source)';

CREATE FUNCTION crm.change_time() RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'change_time' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.change_time() IS
    'The time of a stage change: the setting crm.change_time when set (backfills, replays), else now() (the default of crm.stage_history.changed_at)';

-- The order trigger computes a customer's score, segment and stage in C
-- and keeps crm.scoring's cutpoints, the stage thresholds and the
-- rfm_segments scheme in memory between statements.  Any change to those
-- tables tells every backend to read them again (a relcache invalidation,
-- received before the next command once the change commits): crm.scoring
-- and the segment tables have this trigger.
CREATE FUNCTION crm.config_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'config_changed' LANGUAGE C;
REVOKE ALL ON FUNCTION crm.config_changed() FROM PUBLIC;
COMMENT ON FUNCTION crm.config_changed() IS
    'Statement trigger on crm.scoring, crm.settings and the segment tables: every backend drops the copy of them the order trigger keeps';

CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.settings
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();

-- the SQL objects the C code finds by name (src/sqlnames.h)
CREATE FUNCTION crm.c_dependencies(OUT object_type text, OUT object_name text) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'c_dependencies' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.c_dependencies() IS
    'The tables, columns, constraints, triggers, types and segment scheme the C code of crm finds by name (checked by the test suite)';
