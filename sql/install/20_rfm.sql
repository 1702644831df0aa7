-- ---------------------------------------------------------------------
-- crm.rfm: recency, frequency and monetary scores (src/rfm.c)
-- ---------------------------------------------------------------------

CREATE TYPE crm.rfm;

CREATE FUNCTION crm.rfm_in(cstring, oid, integer) RETURNS crm.rfm
    AS 'MODULE_PATHNAME', 'rfm_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_out(crm.rfm) RETURNS cstring
    AS 'MODULE_PATHNAME', 'rfm_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_recv(internal, oid, integer) RETURNS crm.rfm
    AS 'MODULE_PATHNAME', 'rfm_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_send(crm.rfm) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_typmod_out(integer) RETURNS cstring
    AS 'MODULE_PATHNAME', 'rfm_typmod_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE crm.rfm (
    INPUT = crm.rfm_in,
    OUTPUT = crm.rfm_out,
    RECEIVE = crm.rfm_recv,
    SEND = crm.rfm_send,
    TYPMOD_IN = crm.rfm_typmod_in,
    TYPMOD_OUT = crm.rfm_typmod_out,
    INTERNALLENGTH = 4,
    PASSEDBYVALUE,
    ALIGNMENT = int4,
    STORAGE = plain
);
COMMENT ON TYPE crm.rfm IS
    'Recency, frequency and monetary scores, each 1..k (k = 5 unless crm.rfm(k)); text 5-4-3, or 7-2-9/9 on another scale';

CREATE FUNCTION crm.rfm(crm.rfm, integer, boolean) RETURNS crm.rfm
    AS 'MODULE_PATHNAME', 'rfm_enforce_scale' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (crm.rfm AS crm.rfm) WITH FUNCTION crm.rfm(crm.rfm, integer, boolean) AS IMPLICIT;

CREATE FUNCTION crm.rfm(recency integer, frequency integer, monetary integer, k integer DEFAULT 5)
    RETURNS crm.rfm
    AS 'MODULE_PATHNAME', 'rfm_construct' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm(integer, integer, integer, integer) IS
    'An RFM value from its three scores (each 1..k) and scale k (2..9)';

CREATE FUNCTION crm.rfm_lt(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.rfm_le(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.rfm_eq(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.rfm_ne(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.rfm_ge(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.rfm_gt(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.rfm_cmp(crm.rfm, crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.rfm_hash(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

-- The operators live in pg_catalog, not crm: a client with any search_path
-- (a BI tool's default) can then write WHERE x = 'literal'.
CREATE OPERATOR pg_catalog.< (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_lt,
    COMMUTATOR = OPERATOR(pg_catalog.>), NEGATOR = OPERATOR(pg_catalog.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR pg_catalog.<= (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_le,
    COMMUTATOR = OPERATOR(pg_catalog.>=), NEGATOR = OPERATOR(pg_catalog.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR pg_catalog.= (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_eq,
    COMMUTATOR = OPERATOR(pg_catalog.=), NEGATOR = OPERATOR(pg_catalog.<>), RESTRICT = eqsel, JOIN = eqjoinsel,
    HASHES, MERGES);
CREATE OPERATOR pg_catalog.<> (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_ne,
    COMMUTATOR = OPERATOR(pg_catalog.<>), NEGATOR = OPERATOR(pg_catalog.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR pg_catalog.>= (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_ge,
    COMMUTATOR = OPERATOR(pg_catalog.<=), NEGATOR = OPERATOR(pg_catalog.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR pg_catalog.> (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_gt,
    COMMUTATOR = OPERATOR(pg_catalog.<), NEGATOR = OPERATOR(pg_catalog.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS crm.rfm_ops DEFAULT FOR TYPE crm.rfm USING btree AS
    OPERATOR 1 pg_catalog.<, OPERATOR 2 pg_catalog.<=, OPERATOR 3 pg_catalog.=, OPERATOR 4 pg_catalog.>=, OPERATOR 5 pg_catalog.>,
    FUNCTION 1 crm.rfm_cmp(crm.rfm, crm.rfm);
CREATE OPERATOR CLASS crm.rfm_hash_ops DEFAULT FOR TYPE crm.rfm USING hash AS
    OPERATOR 1 pg_catalog.=,
    FUNCTION 1 crm.rfm_hash(crm.rfm);

CREATE FUNCTION crm.recency_score(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_recency_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.recency_score(crm.rfm) IS 'The recency score, 1..k (k: most recent)';
CREATE FUNCTION crm.frequency_score(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_frequency_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.frequency_score(crm.rfm) IS 'The frequency score, 1..k (k: most purchase days)';
CREATE FUNCTION crm.monetary_score(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_monetary_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.monetary_score(crm.rfm) IS 'The monetary score, 1..k (k: highest total spend)';
CREATE FUNCTION crm.rfm_scale(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_scale' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_scale(crm.rfm) IS 'The scale k the scores were given on';
CREATE FUNCTION crm.rfm_total(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_total' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_total(crm.rfm) IS 'The combined score r + f + m (3..3k)';

-- ---------------------------------------------------------------------
-- crm.rfm_cutpoints: where the scores change
-- ---------------------------------------------------------------------

CREATE TYPE crm.rfm_cutpoints;

CREATE FUNCTION crm.rfm_cutpoints_in(cstring) RETURNS crm.rfm_cutpoints
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_cutpoints_out(crm.rfm_cutpoints) RETURNS cstring
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_cutpoints_recv(internal) RETURNS crm.rfm_cutpoints
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_cutpoints_send(crm.rfm_cutpoints) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE crm.rfm_cutpoints (
    INPUT = crm.rfm_cutpoints_in,
    OUTPUT = crm.rfm_cutpoints_out,
    RECEIVE = crm.rfm_cutpoints_recv,
    SEND = crm.rfm_cutpoints_send,
    INTERNALLENGTH = 216,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE crm.rfm_cutpoints IS
    'Where RFM scores change: scale k, as-of date, customers measured (0 for fixed thresholds) and k - 1 cutpoints per dimension';

CREATE FUNCTION crm.rfm_thresholds(as_of date, recency integer[], frequency integer[], monetary numeric[])
    RETURNS crm.rfm_cutpoints
    AS 'MODULE_PATHNAME', 'rfm_thresholds' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_thresholds(date, integer[], integer[], numeric[]) IS
    'Fixed business thresholds as cutpoints: k - 1 ascending values per dimension (recency in days since the last purchase, frequency in purchase days, monetary in total spend)';

CREATE FUNCTION crm.cutpoints(c crm.rfm_cutpoints, dimension text) RETURNS numeric[]
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_dim' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.cutpoints(crm.rfm_cutpoints, text) IS
    'The cutpoints of one dimension: recency (days), frequency (purchase days) or monetary';
CREATE FUNCTION crm.as_of(c crm.rfm_cutpoints) RETURNS date
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_as_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.as_of(crm.rfm_cutpoints) IS 'The date the cutpoints measure recency from';
CREATE FUNCTION crm.rfm_scale(c crm.rfm_cutpoints) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_k' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_scale(crm.rfm_cutpoints) IS 'The scale k of the cutpoints';
CREATE FUNCTION crm.customers(c crm.rfm_cutpoints) RETURNS bigint
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_customers' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.customers(crm.rfm_cutpoints) IS
    'How many customers quantile cutpoints were computed from; 0 for fixed thresholds';

CREATE FUNCTION crm.rfm_score(s crm.summary, cutpoints crm.rfm_cutpoints) RETURNS crm.rfm
    AS 'MODULE_PATHNAME', 'rfm_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_score(crm.summary, crm.rfm_cutpoints) IS
    'The customer''s RFM scores as of the cutpoints'' date: equal behaviour, equal scores; NULL if no purchase by then';

CREATE FUNCTION crm.rfm_quantiles_accum(crm.agg_state, crm.summary, date) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'rfm_quantiles_accum_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.rfm_quantiles_accum(crm.agg_state, crm.summary, date, integer) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'rfm_quantiles_accum_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.rfm_quantiles_combine(crm.agg_state, crm.agg_state) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'rfm_quantiles_combine_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.rfm_quantiles_final(crm.agg_state) RETURNS crm.rfm_cutpoints
    AS 'MODULE_PATHNAME', 'rfm_quantiles_final_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE crm.rfm_quantiles(s crm.summary, as_of date) (
    SFUNC = crm.rfm_quantiles_accum, STYPE = crm.agg_state, SSPACE = 64,
    FINALFUNC = crm.rfm_quantiles_final,
    COMBINEFUNC = crm.rfm_quantiles_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.rfm_quantiles(crm.summary, date) IS
    'Quintile cutpoints (k = 5) of recency, frequency and monetary value over the customers who had purchased by as_of';
CREATE AGGREGATE crm.rfm_quantiles(s crm.summary, as_of date, k integer) (
    SFUNC = crm.rfm_quantiles_accum, STYPE = crm.agg_state, SSPACE = 64,
    FINALFUNC = crm.rfm_quantiles_final,
    COMBINEFUNC = crm.rfm_quantiles_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.rfm_quantiles(crm.summary, date, integer) IS
    'Quantile cutpoints on a 1..k scale of recency, frequency and monetary value over the customers who had purchased by as_of';

CREATE FUNCTION crm.rebase(c crm.rfm_cutpoints, as_of date) RETURNS crm.rfm_cutpoints
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_rebase' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rebase(crm.rfm_cutpoints, date) IS
    'The same cutpoints measured from another date (recency thresholds are day counts)';
