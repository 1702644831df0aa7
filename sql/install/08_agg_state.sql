-- ---------------------------------------------------------------------
-- crm.agg_state: the transition type of the global aggregates
-- (crm.summarize over summaries, crm.rfm_quantiles, the fits,
-- crm.validate, crm.learn_pipeline, crm.forecast_revenue).  A real type,
-- not internal, so that Citus can split them into worker partials and a
-- coordinator combine: it ships a partial through the text form, exact
-- (the family's name and its bytes in hex).  Inside an aggregate the
-- state is updated in place (src/agg_state.c).
-- ---------------------------------------------------------------------
CREATE TYPE crm.agg_state;
CREATE FUNCTION crm.agg_state_in(cstring) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'agg_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.agg_state_out(crm.agg_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'agg_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.agg_state_recv(internal) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'agg_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.agg_state_send(crm.agg_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'agg_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE crm.agg_state (
    INPUT = crm.agg_state_in, OUTPUT = crm.agg_state_out,
    RECEIVE = crm.agg_state_recv, SEND = crm.agg_state_send,
    INTERNALLENGTH = VARIABLE, STORAGE = extended
);
COMMENT ON TYPE crm.agg_state IS
    'Partial state of a crm aggregate (text: family:hex), for splitting an aggregate across nodes';

