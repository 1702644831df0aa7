-- ---------------------------------------------------------------------
-- Relationship stages and levels (src/stage.c over src/stage_kernel.c)
-- ---------------------------------------------------------------------

CREATE TYPE crm.stage;

CREATE FUNCTION crm.stage_in(cstring) RETURNS crm.stage
    AS 'MODULE_PATHNAME', 'stage_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.stage_out(crm.stage) RETURNS cstring
    AS 'MODULE_PATHNAME', 'stage_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.stage_recv(internal) RETURNS crm.stage
    AS 'MODULE_PATHNAME', 'stage_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.stage_send(crm.stage) RETURNS bytea
    AS 'MODULE_PATHNAME', 'stage_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE crm.stage (
    INPUT = crm.stage_in,
    OUTPUT = crm.stage_out,
    RECEIVE = crm.stage_recv,
    SEND = crm.stage_send,
    INTERNALLENGTH = 1,
    PASSEDBYVALUE,
    ALIGNMENT = char,
    STORAGE = plain
);
COMMENT ON TYPE crm.stage IS
    'Relationship life-cycle stage: prospect < exploration < formation < stable < decline < terminated (one byte)';

CREATE FUNCTION crm.stage_lt(crm.stage, crm.stage) RETURNS boolean
    AS 'MODULE_PATHNAME', 'stage_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.stage_le(crm.stage, crm.stage) RETURNS boolean
    AS 'MODULE_PATHNAME', 'stage_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.stage_eq(crm.stage, crm.stage) RETURNS boolean
    AS 'MODULE_PATHNAME', 'stage_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.stage_ne(crm.stage, crm.stage) RETURNS boolean
    AS 'MODULE_PATHNAME', 'stage_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.stage_ge(crm.stage, crm.stage) RETURNS boolean
    AS 'MODULE_PATHNAME', 'stage_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.stage_gt(crm.stage, crm.stage) RETURNS boolean
    AS 'MODULE_PATHNAME', 'stage_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.stage_cmp(crm.stage, crm.stage) RETURNS integer
    AS 'MODULE_PATHNAME', 'stage_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.stage_hash(crm.stage) RETURNS integer
    AS 'MODULE_PATHNAME', 'stage_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- The operators live in pg_catalog, not crm: a client with any search_path
-- (a BI tool's default) can then write WHERE x = 'literal'.
CREATE OPERATOR pg_catalog.< (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_lt,
    COMMUTATOR = OPERATOR(pg_catalog.>), NEGATOR = OPERATOR(pg_catalog.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR pg_catalog.<= (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_le,
    COMMUTATOR = OPERATOR(pg_catalog.>=), NEGATOR = OPERATOR(pg_catalog.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR pg_catalog.= (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_eq,
    COMMUTATOR = OPERATOR(pg_catalog.=), NEGATOR = OPERATOR(pg_catalog.<>), RESTRICT = eqsel, JOIN = eqjoinsel,
    HASHES, MERGES);
CREATE OPERATOR pg_catalog.<> (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_ne,
    COMMUTATOR = OPERATOR(pg_catalog.<>), NEGATOR = OPERATOR(pg_catalog.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR pg_catalog.>= (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_ge,
    COMMUTATOR = OPERATOR(pg_catalog.<=), NEGATOR = OPERATOR(pg_catalog.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR pg_catalog.> (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_gt,
    COMMUTATOR = OPERATOR(pg_catalog.<), NEGATOR = OPERATOR(pg_catalog.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR CLASS crm.stage_ops DEFAULT FOR TYPE crm.stage USING btree AS
    OPERATOR 1 pg_catalog.<, OPERATOR 2 pg_catalog.<=, OPERATOR 3 pg_catalog.=, OPERATOR 4 pg_catalog.>=, OPERATOR 5 pg_catalog.>,
    FUNCTION 1 crm.stage_cmp(crm.stage, crm.stage);
CREATE OPERATOR CLASS crm.stage_hash_ops DEFAULT FOR TYPE crm.stage USING hash AS
    OPERATOR 1 pg_catalog.=,
    FUNCTION 1 crm.stage_hash(crm.stage);

CREATE FUNCTION crm.can_transition(from_stage crm.stage, to_stage crm.stage) RETURNS boolean
    AS 'MODULE_PATHNAME', 'stage_can_transition' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.can_transition(crm.stage, crm.stage) IS
    'Whether the life cycle allows moving from from_stage to to_stage (a stage to itself always)';

-- relationship levels, with a target per customer class
CREATE TYPE crm.relationship_level AS ENUM ('transaction', 'trust', 'cooperation', 'loyalty', 'partnership');
COMMENT ON TYPE crm.relationship_level IS
    'Relationship level, in order: transaction < trust < cooperation < loyalty < partnership';

CREATE TABLE crm.level_targets (
    customer_class text PRIMARY KEY,
    target_level crm.relationship_level NOT NULL
);
COMMENT ON TABLE crm.level_targets IS 'The relationship level each customer class should reach (configuration, dumped by pg_dump)';
INSERT INTO crm.level_targets VALUES
    ('residential', 'trust'), ('general', 'cooperation'), ('large', 'loyalty'), ('important', 'partnership');
-- pg_dump keeps the classes a site adds; the four above come with the
-- extension (a changed target of one of them is not dumped: see README)
SELECT pg_catalog.pg_extension_config_dump('crm.level_targets',
    $$WHERE customer_class NOT IN ('residential', 'general', 'large', 'important')$$);

CREATE FUNCTION crm.level_gap(current_level crm.relationship_level, target_level crm.relationship_level)
    RETURNS integer LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT array_position(enum_range(NULL::crm.relationship_level), target_level)
               - array_position(enum_range(NULL::crm.relationship_level), current_level) $$;
COMMENT ON FUNCTION crm.level_gap(crm.relationship_level, crm.relationship_level) IS
    'Levels still to climb: target - current (positive when below target, 0 on target, negative above)';

-- inference thresholds of stages and levels: built-in defaults, overridden by rows of
-- crm.stage_thresholds (which the extension leaves empty, so pg_dump can
-- dump it whole and a restore never collides with rows of its own)
CREATE FUNCTION crm.stage_threshold_defaults(OUT name text, OUT default_value double precision, OUT description text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'stage_threshold_defaults' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.stage_threshold_defaults() IS 'The stage and level inference thresholds and their built-in defaults';

CREATE TABLE crm.stage_thresholds (
    name text PRIMARY KEY,
    value double precision NOT NULL
);
COMMENT ON TABLE crm.stage_thresholds IS
    'Site overrides of the stage and level inference thresholds (see crm.stage_thresholds_in_effect); checked when written';
SELECT pg_catalog.pg_extension_config_dump('crm.stage_thresholds', '');

CREATE VIEW crm.stage_thresholds_in_effect AS
SELECT d.name, coalesce(t.value, d.default_value) AS value, d.default_value, t.value IS NOT NULL AS overridden,
       d.description
FROM crm.stage_threshold_defaults() d LEFT JOIN crm.stage_thresholds t USING (name);
COMMENT ON VIEW crm.stage_thresholds_in_effect IS 'Every stage and level inference threshold with the value in effect';
COMMENT ON COLUMN crm.stage_thresholds_in_effect.name IS 'Threshold name';
COMMENT ON COLUMN crm.stage_thresholds_in_effect.value IS 'Value in effect: the override, else the default';
COMMENT ON COLUMN crm.stage_thresholds_in_effect.default_value IS 'Built-in default';
COMMENT ON COLUMN crm.stage_thresholds_in_effect.overridden IS 'Whether crm.stage_thresholds overrides it';
COMMENT ON COLUMN crm.stage_thresholds_in_effect.description IS 'What it decides';

CREATE FUNCTION crm.check_stage_thresholds() RETURNS void
    AS 'MODULE_PATHNAME', 'stage_thresholds_validate' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.check_stage_thresholds() IS
    'Raise an error if crm.stage_thresholds holds an unknown name or an inconsistent set';
CREATE FUNCTION crm.stage_thresholds_trigger() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$ BEGIN PERFORM crm.check_stage_thresholds(); RETURN NULL; END $$;
COMMENT ON FUNCTION crm.stage_thresholds_trigger() IS 'Statement trigger on crm.stage_thresholds: calls crm.check_stage_thresholds()';
CREATE TRIGGER check_thresholds AFTER INSERT OR UPDATE OR DELETE ON crm.stage_thresholds
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_thresholds_trigger();

CREATE FUNCTION crm.next_stage(current_stage crm.stage, s crm.summary, as_of date,
                               complaints_recent integer DEFAULT NULL, complaints_previous integer DEFAULT NULL,
                               cost_recent double precision DEFAULT NULL, cost_previous double precision DEFAULT NULL,
                               p_alive double precision DEFAULT NULL,
                               redevelopment_cost double precision DEFAULT NULL,
                               long_term_value double precision DEFAULT NULL,
                               stage_since date DEFAULT NULL,
                               p_buy double precision DEFAULT NULL)
    RETURNS crm.stage
    AS 'MODULE_PATHNAME', 'next_stage' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.next_stage(crm.stage, crm.summary, date, integer, integer, double precision, double precision, double precision, double precision, double precision, date, double precision) IS
    'The stage inferred from behaviour as of as_of, one step: always current_stage or a legal next stage; unknown signals (NULL) do not count; p_alive and p_buy (a purchase within terminate_horizon_days) are a BTYD model''s';

CREATE FUNCTION crm.infer_stage(current_stage crm.stage, s crm.summary, as_of date,
                                complaints_recent integer DEFAULT NULL, complaints_previous integer DEFAULT NULL,
                                cost_recent double precision DEFAULT NULL, cost_previous double precision DEFAULT NULL,
                                p_alive double precision DEFAULT NULL,
                                redevelopment_cost double precision DEFAULT NULL,
                                long_term_value double precision DEFAULT NULL,
                                stage_since date DEFAULT NULL,
                                p_buy double precision DEFAULT NULL,
                                OUT stage crm.stage, OUT reason text, OUT detail text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'infer_stage' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.infer_stage(crm.stage, crm.summary, date, integer, integer, double precision, double precision, double precision, double precision, double precision, date, double precision) IS
    'next_stage with its reason code and the numbers that decided';

-- the stage from a history, as a refresh at every month end would have
-- moved it (what the refresh, the order trigger and an attach do)
CREATE FUNCTION crm.walk_stages(current_stage crm.stage, s crm.summary, as_of date,
                                stage_since date DEFAULT NULL, evaluated_through date DEFAULT NULL,
                                model crm.btyd_model DEFAULT NULL, complaints date[] DEFAULT NULL,
                                OUT day date, OUT from_stage crm.stage, OUT to_stage crm.stage,
                                OUT reason text, OUT detail text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'walk_stages' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.walk_stages(crm.stage, crm.summary, date, date, date, crm.btyd_model, date[]) IS
    'The moves of a customer''s stage from current_stage, at every month end after evaluated_through (default: before the first purchase) and at as_of, one legal move at most at each, with the model''s P(alive) and the complaints given';

-- relationship levels, one step at a time, from contact, satisfaction,
-- complaints handled, tenure, stage and the account manager
CREATE FUNCTION crm.infer_level(current_level crm.relationship_level, stage crm.stage, as_of date,
                                level_since date DEFAULT NULL, tenure_days integer DEFAULT NULL,
                                purchase_days integer DEFAULT NULL, interactions integer DEFAULT NULL,
                                channels integer DEFAULT NULL, complaints_late integer DEFAULT NULL,
                                last_satisfied boolean DEFAULT NULL, loyal boolean DEFAULT NULL,
                                account_manager boolean DEFAULT NULL,
                                OUT level crm.relationship_level, OUT reason text, OUT detail text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'infer_level' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.infer_level(crm.relationship_level, crm.stage, date, date, integer, integer, integer, integer, integer, boolean, boolean, boolean) IS
    'The relationship level the signals propose: the current one or one step up or down, with the reason code and the numbers that decided; unknown signals (NULL) do not count';
