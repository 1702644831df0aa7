-- crm: customer-relationship management inside PostgreSQL.
-- This file is the first piece of the install script; the Makefile
-- concatenates sql/install/*.sql, in name order, into crm--<version>.sql.

\echo Use "CREATE EXTENSION crm" to load this file. \quit

-- Every object lives in schema crm, which the extension owns: DROP EXTENSION
-- removes it with everything in it.  (The control file names pg_catalog as
-- the extension's own schema, as pg_cron does, because a schema named there
-- would be created outside the extension and survive DROP EXTENSION.)
CREATE SCHEMA crm;
COMMENT ON SCHEMA crm IS 'Customer-relationship management: value scoring, segments and relationship stages (extension crm)';
GRANT USAGE ON SCHEMA crm TO PUBLIC;
-- ---------------------------------------------------------------------
-- crm.summary: a customer's purchase days (src/summary.c)
-- ---------------------------------------------------------------------

CREATE TYPE crm.summary;

CREATE FUNCTION crm.summary_in(cstring) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.summary_out(crm.summary) RETURNS cstring
    AS 'MODULE_PATHNAME', 'summary_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.summary_recv(internal) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.summary_send(crm.summary) RETURNS bytea
    AS 'MODULE_PATHNAME', 'summary_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE crm.summary (
    INPUT = crm.summary_in,
    OUTPUT = crm.summary_out,
    RECEIVE = crm.summary_recv,
    SEND = crm.summary_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE crm.summary IS
    'A customer''s purchase history by day: purchases and net amount per day; mergeable, storable, updatable one transaction at a time';

CREATE FUNCTION crm.summary_eq(crm.summary, crm.summary) RETURNS boolean
    AS 'MODULE_PATHNAME', 'summary_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.summary_ne(crm.summary, crm.summary) RETURNS boolean
    AS 'MODULE_PATHNAME', 'summary_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR crm.= (
    LEFTARG = crm.summary, RIGHTARG = crm.summary, PROCEDURE = crm.summary_eq,
    COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel
);
CREATE OPERATOR crm.<> (
    LEFTARG = crm.summary, RIGHTARG = crm.summary, PROCEDURE = crm.summary_ne,
    COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);

-- aggregate support
CREATE FUNCTION crm.summary_accum(internal, date, numeric) RETURNS internal
    AS 'MODULE_PATHNAME', 'summary_accum_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.summary_accum(internal, date, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'summary_accum_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.summary_accum(internal, crm.summary) RETURNS internal
    AS 'MODULE_PATHNAME', 'summary_accum_summary' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.summary_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'summary_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.summary_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'summary_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.summary_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'summary_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.summary_final(internal) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE crm.summarize(purchased_at date, amount numeric) (
    SFUNC = crm.summary_accum, STYPE = internal, SSPACE = 96,
    FINALFUNC = crm.summary_final,
    COMBINEFUNC = crm.summary_combine,
    SERIALFUNC = crm.summary_serialize, DESERIALFUNC = crm.summary_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.summarize(date, numeric) IS
    'Summary of a customer''s transactions: same-day purchases are one purchase day, refunds (negative amounts) lower spend, NULL rows are skipped';

CREATE AGGREGATE crm.summarize(purchased_at date, amount double precision) (
    SFUNC = crm.summary_accum, STYPE = internal, SSPACE = 96,
    FINALFUNC = crm.summary_final,
    COMBINEFUNC = crm.summary_combine,
    SERIALFUNC = crm.summary_serialize, DESERIALFUNC = crm.summary_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.summarize(date, double precision) IS
    'Summary of a customer''s transactions (amounts rounded to 1/10000): same-day purchases are one purchase day, refunds lower spend, NULL rows are skipped';

CREATE AGGREGATE crm.summarize(crm.summary) (
    SFUNC = crm.summary_accum, STYPE = internal, SSPACE = 96,
    FINALFUNC = crm.summary_final,
    COMBINEFUNC = crm.summary_combine,
    SERIALFUNC = crm.summary_serialize, DESERIALFUNC = crm.summary_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.summarize(crm.summary) IS
    'Merge of partial summaries (for example per partition or per node) into one';

-- maintenance
CREATE FUNCTION crm.add_transaction(s crm.summary, purchased_at date, amount numeric)
    RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_add_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.add_transaction(s crm.summary, purchased_at date, amount double precision)
    RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_add_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.add_transaction(crm.summary, date, numeric) IS
    'The summary with one more transaction; a NULL summary is empty, a NULL date or amount changes nothing';
COMMENT ON FUNCTION crm.add_transaction(crm.summary, date, double precision) IS
    'The summary with one more transaction; a NULL summary is empty, a NULL date or amount changes nothing';

CREATE FUNCTION crm.remove_transaction(s crm.summary, purchased_at date, amount numeric)
    RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_remove_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.remove_transaction(s crm.summary, purchased_at date, amount double precision)
    RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_remove_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.remove_transaction(crm.summary, date, numeric) IS
    'The summary without one transaction that was added to it (the exact inverse of add_transaction)';
COMMENT ON FUNCTION crm.remove_transaction(crm.summary, date, double precision) IS
    'The summary without one transaction that was added to it (the exact inverse of add_transaction)';

CREATE FUNCTION crm.merge(a crm.summary, b crm.summary) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_merge' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.merge(crm.summary, crm.summary) IS
    'The summary of both histories (same-day purchases fold into one day); NULL counts as empty';

CREATE FUNCTION crm.as_of(s crm.summary, as_of date) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_as_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.as_of(crm.summary, date) IS
    'The summary of the transactions on or before as_of';

-- accessors
CREATE FUNCTION crm.first_purchase(s crm.summary) RETURNS date
    AS 'MODULE_PATHNAME', 'summary_first_purchase' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.first_purchase(crm.summary) IS
    'Date of the first purchase; NULL if the summary holds refunds only';

CREATE FUNCTION crm.last_purchase(s crm.summary) RETURNS date
    AS 'MODULE_PATHNAME', 'summary_last_purchase' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.last_purchase(crm.summary) IS
    'Date of the last purchase; NULL if the summary holds refunds only';

CREATE FUNCTION crm.purchase_days(s crm.summary) RETURNS integer
    AS 'MODULE_PATHNAME', 'summary_purchase_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.purchase_days(crm.summary) IS
    'Number of purchase periods: days with at least one purchase';

CREATE FUNCTION crm.repeat_purchases(s crm.summary) RETURNS integer
    AS 'MODULE_PATHNAME', 'summary_repeat_purchases' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.repeat_purchases(crm.summary) IS
    'Repeat purchases x = purchase days - 1; NULL before the first purchase';

CREATE FUNCTION crm.order_count(s crm.summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'summary_order_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.order_count(crm.summary) IS
    'Number of purchase transactions (orders with amount >= 0), same-day orders counted one by one';

CREATE FUNCTION crm.total_spend(s crm.summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'summary_total_spend' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.total_spend(crm.summary) IS
    'Net amount of all transactions, refunds included (exact)';

CREATE FUNCTION crm.mean_repeat_spend(s crm.summary) RETURNS double precision
    AS 'MODULE_PATHNAME', 'summary_mean_repeat_spend' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.mean_repeat_spend(crm.summary) IS
    'Mean net amount of the repeat purchase days (the BTYD zbar, first purchase day excluded); NULL when there is no repeat purchase';

CREATE FUNCTION crm.days_since_last_purchase(s crm.summary, as_of date DEFAULT current_date)
    RETURNS integer
    AS 'MODULE_PATHNAME', 'summary_days_since_last_purchase' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.days_since_last_purchase(crm.summary, date) IS
    'Recency in days: as_of - last purchase on or before as_of; NULL if none by then';

CREATE FUNCTION crm.btyd_triple(s crm.summary, as_of date, unit interval DEFAULT '1 day',
                                OUT x integer, OUT t_x double precision, OUT "T" double precision)
    RETURNS record
    AS 'MODULE_PATHNAME', 'summary_btyd_triple' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.btyd_triple(crm.summary, date, interval) IS
    'BTYD model input for a calibration period ending on as_of, in time units: x repeat purchase days, t_x last - first purchase, T as_of - first purchase; NULL if no purchase by as_of';
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

CREATE OPERATOR crm.< (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_lt,
    COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR crm.<= (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_le,
    COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR crm.= (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_eq,
    COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>), RESTRICT = eqsel, JOIN = eqjoinsel,
    HASHES, MERGES);
CREATE OPERATOR crm.<> (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_ne,
    COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR crm.>= (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_ge,
    COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR crm.> (LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_gt,
    COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS crm.rfm_ops DEFAULT FOR TYPE crm.rfm USING btree AS
    OPERATOR 1 crm.<, OPERATOR 2 crm.<=, OPERATOR 3 crm.=, OPERATOR 4 crm.>=, OPERATOR 5 crm.>,
    FUNCTION 1 crm.rfm_cmp(crm.rfm, crm.rfm);
CREATE OPERATOR CLASS crm.rfm_hash_ops DEFAULT FOR TYPE crm.rfm USING hash AS
    OPERATOR 1 crm.=,
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

CREATE FUNCTION crm.rfm_quantiles_accum(internal, crm.summary, date) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_quantiles_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.rfm_quantiles_accum(internal, crm.summary, date, integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_quantiles_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.rfm_quantiles_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_quantiles_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.rfm_quantiles_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_quantiles_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_quantiles_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_quantiles_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.rfm_quantiles_final(internal) RETURNS crm.rfm_cutpoints
    AS 'MODULE_PATHNAME', 'rfm_quantiles_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE crm.rfm_quantiles(s crm.summary, as_of date) (
    SFUNC = crm.rfm_quantiles_accum, STYPE = internal, SSPACE = 64,
    FINALFUNC = crm.rfm_quantiles_final,
    COMBINEFUNC = crm.rfm_quantiles_combine,
    SERIALFUNC = crm.rfm_quantiles_serialize, DESERIALFUNC = crm.rfm_quantiles_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.rfm_quantiles(crm.summary, date) IS
    'Quintile cutpoints (k = 5) of recency, frequency and monetary value over the customers who had purchased by as_of';
CREATE AGGREGATE crm.rfm_quantiles(s crm.summary, as_of date, k integer) (
    SFUNC = crm.rfm_quantiles_accum, STYPE = internal, SSPACE = 64,
    FINALFUNC = crm.rfm_quantiles_final,
    COMBINEFUNC = crm.rfm_quantiles_combine,
    SERIALFUNC = crm.rfm_quantiles_serialize, DESERIALFUNC = crm.rfm_quantiles_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.rfm_quantiles(crm.summary, date, integer) IS
    'Quantile cutpoints on a 1..k scale of recency, frequency and monetary value over the customers who had purchased by as_of';
-- ---------------------------------------------------------------------
-- Textbook value formulas (src/value.c)
-- ---------------------------------------------------------------------

CREATE FUNCTION crm.clv(margin double precision, retention double precision,
                        discount_rate double precision, horizon integer,
                        acquisition_cost double precision DEFAULT 0)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'clv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv(double precision, double precision, double precision, integer, double precision) IS
    'Lifetime value with constant margin and retention: sum over t = 0..horizon of margin * retention^t / (1 + discount_rate)^t, minus acquisition_cost';

CREATE FUNCTION crm.clv(price double precision[], cost double precision[], survival double precision[],
                        discount_rate double precision, acquisition_cost double precision DEFAULT 0)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'clv_series' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv(double precision[], double precision[], double precision[], double precision, double precision) IS
    'Lifetime value per period: sum over t of (price[t] - cost[t]) * survival[t] / (1 + discount_rate)^t, minus acquisition_cost; element 1 is period 0';

CREATE FUNCTION crm.current_value(profit double precision, periods integer, discount_rate double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'current_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.current_value(double precision, integer, double precision) IS
    'Current value: the last period''s profit continued for periods more periods, present-valued: sum over t = 1..periods of profit / (1 + discount_rate)^t';

CREATE FUNCTION crm.potential_value(margin double precision, retention double precision,
                                    discount_rate double precision, horizon integer,
                                    margin_uplift double precision, retention_uplift double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'potential_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.potential_value(double precision, double precision, double precision, integer, double precision, double precision) IS
    'Potential value: clv with margin * (1 + margin_uplift) and retention + retention_uplift (at most 1), minus clv as things are';

CREATE FUNCTION crm.profitability(revenue double precision, discounts double precision DEFAULT 0,
                                  cost_of_goods double precision DEFAULT 0,
                                  order_cost double precision DEFAULT 0,
                                  marketing_cost double precision DEFAULT 0,
                                  technical_cost double precision DEFAULT 0,
                                  admin_cost double precision DEFAULT 0,
                                  OUT gross_margin double precision, OUT cost_to_serve double precision,
                                  OUT profit double precision, OUT profitable boolean)
    RETURNS record
    AS 'MODULE_PATHNAME', 'profitability' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.profitability(double precision, double precision, double precision, double precision, double precision, double precision, double precision) IS
    'Customer profitability: gross margin (revenue - discounts - cost of goods) minus cost to serve (order + marketing + technical + admin), and whether it is positive';

CREATE FUNCTION crm.should_abandon(redevelopment_cost double precision, long_term_value double precision)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'should_abandon' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.should_abandon(double precision, double precision) IS
    'The life-cycle rule for a declining customer: abandon (true) when redevelopment costs more than the long-term value, else redevelop';
-- ---------------------------------------------------------------------
-- Probabilistic models: BG/NBD, Pareto/NBD, MBG/NBD, Gamma-Gamma
-- (src/btyd.c over src/btyd_kernel.c)
-- ---------------------------------------------------------------------

CREATE TYPE crm.btyd_model;

CREATE FUNCTION crm.btyd_model_in(cstring) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_model_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.btyd_model_out(crm.btyd_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'btyd_model_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.btyd_model_recv(internal) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_model_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.btyd_model_send(crm.btyd_model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'btyd_model_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE crm.btyd_model (
    INPUT = crm.btyd_model_in,
    OUTPUT = crm.btyd_model_out,
    RECEIVE = crm.btyd_model_recv,
    SEND = crm.btyd_model_send,
    INTERNALLENGTH = 80,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE crm.btyd_model IS
    'A fitted (or given) buy-till-you-die model: bgnbd, pareto_nbd, mbgnbd or gamma_gamma, its parameters and its fit';

CREATE FUNCTION crm.param(m crm.btyd_model, name text) RETURNS double precision
    AS 'MODULE_PATHNAME', 'btyd_model_param' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.param(crm.btyd_model, text) IS
    'A model parameter by name: r, alpha, a, b (bgnbd, mbgnbd); r, alpha, s, beta (pareto_nbd); p, q, v (gamma_gamma)';
CREATE FUNCTION crm.model_kind(m crm.btyd_model) RETURNS text
    AS 'MODULE_PATHNAME', 'btyd_model_kind' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.model_kind(crm.btyd_model) IS 'bgnbd, pareto_nbd, mbgnbd or gamma_gamma';
CREATE FUNCTION crm.loglik(m crm.btyd_model) RETURNS double precision
    AS 'MODULE_PATHNAME', 'btyd_model_loglik' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.loglik(crm.btyd_model) IS 'Log-likelihood of the fit (without penalty); NULL for a model that was not fitted';
CREATE FUNCTION crm.customers(m crm.btyd_model) RETURNS double precision
    AS 'MODULE_PATHNAME', 'btyd_model_customers' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.customers(crm.btyd_model) IS 'Customers (summed weights) the model was fitted on; NULL if not fitted';
CREATE FUNCTION crm.converged(m crm.btyd_model) RETURNS boolean
    AS 'MODULE_PATHNAME', 'btyd_model_converged' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.converged(crm.btyd_model) IS 'Whether the fit met its convergence test; NULL if not fitted';
CREATE FUNCTION crm.iterations(m crm.btyd_model) RETURNS integer
    AS 'MODULE_PATHNAME', 'btyd_model_iterations' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.iterations(crm.btyd_model) IS 'Optimizer iterations of the fit; NULL if not fitted';

-- fit aggregates: one state (distinct inputs with weights), one final function per model
CREATE FUNCTION crm.btyd_accum(internal, integer, double precision, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_triple' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(internal, integer, double precision, double precision, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_triple' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(internal, integer, double precision, double precision, double precision, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_triple' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(internal, crm.summary, date, interval) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_summary' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(internal, crm.summary, date, interval, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_summary' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(internal, integer, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_spend' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(internal, integer, double precision, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_spend' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(internal, integer, double precision, double precision, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_spend' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(internal, crm.summary, date) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_spend' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(internal, crm.summary, date, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_spend' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_fit_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_fit_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_fit_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'btyd_fit_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.btyd_fit_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'btyd_fit_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.btyd_final_bgnbd(internal) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_final_bgnbd' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_final_pareto_nbd(internal) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_final_pareto_nbd' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_final_mbgnbd(internal) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_final_mbgnbd' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_final_gamma_gamma(internal) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_final_gamma_gamma' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The aggregates differ only in their final function and input forms, so
-- they are declared from one list.
DO $$
DECLARE
    model record;
    form record;
BEGIN
    FOR model IN SELECT * FROM (VALUES
            ('bgnbd', 'BG/NBD (Fader, Hardie & Lee 2005)', 'btyd_accum'),
            ('pareto_nbd', 'Pareto/NBD (Schmittlein, Morrison & Colombo 1987)', 'btyd_accum'),
            ('mbgnbd', 'MBG/NBD (Batislam, Denizel & Filiztekin 2007)', 'btyd_accum'),
            ('gamma_gamma', 'Gamma-Gamma spend model (Fader, Hardie & Lee 2005), customers with x > 0', 'btyd_accum_spend'))
            AS m(name, title, sfunc)
    LOOP
        FOR form IN SELECT * FROM (VALUES
                ('btyd_accum', 'x integer, t_x double precision, "T" double precision', 'per customer (x, t_x, T)'),
                ('btyd_accum', 'x integer, t_x double precision, "T" double precision, weight double precision', 'per group of weight customers'),
                ('btyd_accum', 'x integer, t_x double precision, "T" double precision, weight double precision, penalty double precision', 'per group, with an L2 penalty'),
                ('btyd_accum', 's crm.summary, as_of date, unit interval', 'from summaries, calibration period ending on as_of'),
                ('btyd_accum', 's crm.summary, as_of date, unit interval, penalty double precision', 'from summaries, with an L2 penalty'),
                ('btyd_accum_spend', 'x integer, mean_spend double precision', 'per customer (x, mean repeat spend)'),
                ('btyd_accum_spend', 'x integer, mean_spend double precision, weight double precision', 'per group of weight customers'),
                ('btyd_accum_spend', 'x integer, mean_spend double precision, weight double precision, penalty double precision', 'per group, with an L2 penalty'),
                ('btyd_accum_spend', 's crm.summary, as_of date', 'from summaries, calibration period ending on as_of'),
                ('btyd_accum_spend', 's crm.summary, as_of date, penalty double precision', 'from summaries, with an L2 penalty'))
                AS f(sfunc, args, what)
            WHERE f.sfunc = model.sfunc
        LOOP
            EXECUTE format('CREATE AGGREGATE crm.fit_%s(%s) (
                SFUNC = crm.%s, STYPE = internal, SSPACE = 1024,
                FINALFUNC = crm.btyd_final_%s,
                COMBINEFUNC = crm.btyd_fit_combine,
                SERIALFUNC = crm.btyd_fit_serialize, DESERIALFUNC = crm.btyd_fit_deserialize,
                PARALLEL = SAFE)', model.name, form.args, form.sfunc, model.name);
            EXECUTE format('COMMENT ON AGGREGATE crm.fit_%s(%s) IS %L', model.name,
                           regexp_replace(form.args, '(^|, )[a-zA-Z_"]+ ', '\1', 'g'),
                           'Maximum-likelihood fit of the ' || model.title || ', ' || form.what);
        END LOOP;
    END LOOP;
END $$;

-- predictions
CREATE FUNCTION crm.p_alive(m crm.btyd_model, x integer, t_x double precision, "T" double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'p_alive' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_alive(crm.btyd_model, integer, double precision, double precision) IS
    'Probability that a customer with (x, t_x, T) is still alive at T';
CREATE FUNCTION crm.p_alive(m crm.btyd_model, s crm.summary, as_of date)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'p_alive_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_alive(crm.btyd_model, crm.summary, date) IS
    'Probability that the customer is still alive on as_of (model fitted on summaries); NULL if no purchase by then';

CREATE FUNCTION crm.expected_purchases(m crm.btyd_model, t double precision, x integer,
                                       t_x double precision, "T" double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'expected_purchases' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_purchases(crm.btyd_model, double precision, integer, double precision, double precision) IS
    'Expected repeat purchases in the next t time units of a customer with (x, t_x, T)';
CREATE FUNCTION crm.expected_purchases(m crm.btyd_model, t double precision, s crm.summary, as_of date)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'expected_purchases_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_purchases(crm.btyd_model, double precision, crm.summary, date) IS
    'Expected repeat purchases in the t model time units after as_of; NULL if no purchase by then';
CREATE FUNCTION crm.expected_purchases_new(m crm.btyd_model, t double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'expected_purchases_new' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_purchases_new(crm.btyd_model, double precision) IS
    'Unconditional expected repeat purchases E[X(t)] of a newly acquired customer in t time units';

CREATE FUNCTION crm.expected_spend(m crm.btyd_model, x integer, mean_spend double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'expected_spend' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_spend(crm.btyd_model, integer, double precision) IS
    'Gamma-Gamma expected mean spend per purchase of a customer with x repeat purchases of mean mean_spend';
CREATE FUNCTION crm.expected_spend(m crm.btyd_model, s crm.summary, as_of date)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'expected_spend_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_spend(crm.btyd_model, crm.summary, date) IS
    'Gamma-Gamma expected mean spend per purchase of the customer as of as_of; NULL if no purchase by then';

CREATE FUNCTION crm.expected_clv(m crm.btyd_model, spend crm.btyd_model, s crm.summary, as_of date,
                                 periods integer, discount_rate double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'expected_clv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_clv(crm.btyd_model, crm.btyd_model, crm.summary, date, integer, double precision) IS
    'Expected revenue of the next periods model time units: per unit, expected purchases times expected spend, discounted at discount_rate per unit';
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

CREATE OPERATOR crm.< (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_lt,
    COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR crm.<= (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_le,
    COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR crm.= (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_eq,
    COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>), RESTRICT = eqsel, JOIN = eqjoinsel,
    HASHES, MERGES);
CREATE OPERATOR crm.<> (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_ne,
    COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR crm.>= (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_ge,
    COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR crm.> (LEFTARG = crm.stage, RIGHTARG = crm.stage, PROCEDURE = crm.stage_gt,
    COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR CLASS crm.stage_ops DEFAULT FOR TYPE crm.stage USING btree AS
    OPERATOR 1 crm.<, OPERATOR 2 crm.<=, OPERATOR 3 crm.=, OPERATOR 4 crm.>=, OPERATOR 5 crm.>,
    FUNCTION 1 crm.stage_cmp(crm.stage, crm.stage);
CREATE OPERATOR CLASS crm.stage_hash_ops DEFAULT FOR TYPE crm.stage USING hash AS
    OPERATOR 1 crm.=,
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

-- inference thresholds: built-in defaults, overridden by rows of
-- crm.stage_thresholds (which the extension leaves empty, so pg_dump can
-- dump it whole and a restore never collides with rows of its own)
CREATE FUNCTION crm.stage_threshold_defaults(OUT name text, OUT default_value double precision, OUT description text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'stage_threshold_defaults' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.stage_threshold_defaults() IS 'The stage inference thresholds and their built-in defaults';

CREATE TABLE crm.stage_thresholds (
    name text PRIMARY KEY,
    value double precision NOT NULL
);
COMMENT ON TABLE crm.stage_thresholds IS
    'Site overrides of the stage inference thresholds (see crm.stage_thresholds_in_effect); checked when written';
SELECT pg_catalog.pg_extension_config_dump('crm.stage_thresholds', '');

CREATE VIEW crm.stage_thresholds_in_effect AS
SELECT d.name, coalesce(t.value, d.default_value) AS value, d.default_value, t.value IS NOT NULL AS overridden,
       d.description
FROM crm.stage_threshold_defaults() d LEFT JOIN crm.stage_thresholds t USING (name);
COMMENT ON VIEW crm.stage_thresholds_in_effect IS 'Every stage inference threshold with the value in effect';
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
                               stage_since date DEFAULT NULL)
    RETURNS crm.stage
    AS 'MODULE_PATHNAME', 'next_stage' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.next_stage(crm.stage, crm.summary, date, integer, integer, double precision, double precision, double precision, double precision, double precision, date) IS
    'The stage inferred from behaviour as of as_of: always current_stage or a legal next stage; unknown signals (NULL) do not count';

CREATE FUNCTION crm.infer_stage(current_stage crm.stage, s crm.summary, as_of date,
                                complaints_recent integer DEFAULT NULL, complaints_previous integer DEFAULT NULL,
                                cost_recent double precision DEFAULT NULL, cost_previous double precision DEFAULT NULL,
                                p_alive double precision DEFAULT NULL,
                                redevelopment_cost double precision DEFAULT NULL,
                                long_term_value double precision DEFAULT NULL,
                                stage_since date DEFAULT NULL,
                                OUT stage crm.stage, OUT reason text, OUT detail text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'infer_stage' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.infer_stage(crm.stage, crm.summary, date, integer, integer, double precision, double precision, double precision, double precision, double precision, date) IS
    'next_stage with its reason code and the numbers that decided';
-- ---------------------------------------------------------------------
-- Customers' stages and levels, with every change kept in history
-- ---------------------------------------------------------------------

CREATE TABLE crm.customers (
    customer_id bigint PRIMARY KEY,
    customer_class text NOT NULL DEFAULT 'residential' REFERENCES crm.level_targets ON UPDATE CASCADE,
    stage crm.stage NOT NULL DEFAULT 'prospect',
    level crm.relationship_level NOT NULL DEFAULT 'transaction',
    stage_reason text,
    stage_since date,
    summary crm.summary
);
COMMENT ON TABLE crm.customers IS
    'One row per customer: class, relationship stage and level (changes kept in crm.stage_history), purchase summary';
COMMENT ON COLUMN crm.customers.stage_reason IS 'Why the stage last changed (an inference reason code, or free text)';
COMMENT ON COLUMN crm.customers.stage_since IS 'Business date the current stage began (set by crm.apply_inferred_stages; inference uses it to tell a purchase made since)';

CREATE TABLE crm.stage_history (
    history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL,
    from_stage crm.stage,
    to_stage crm.stage NOT NULL,
    from_level crm.relationship_level,
    to_level crm.relationship_level NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    source text NOT NULL CHECK (source IN ('inference', 'user', 'import', 'override')),
    reason text,
    changed_by name NOT NULL DEFAULT current_user
);
CREATE INDEX ON crm.stage_history (customer_id, changed_at);
-- the extension owns these tables, but their rows are the site's: pg_dump
-- must dump them
SELECT pg_catalog.pg_extension_config_dump('crm.customers', '');
SELECT pg_catalog.pg_extension_config_dump('crm.stage_history', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.stage_history', 'history_id'), '');
COMMENT ON TABLE crm.stage_history IS
    'Every change of a customer''s stage or level: from, to, when, why, and who (inference, user, import, override)';

-- illegal transitions are refused row by row, before anything is written
CREATE FUNCTION crm.stage_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'stage_guard' LANGUAGE C;
COMMENT ON FUNCTION crm.stage_guard() IS
    'BEFORE UPDATE row trigger: refuses an illegal change of the crm.stage column named by its first argument (default stage) with 23514; the second argument names the key for messages';
CREATE TRIGGER stage_guard BEFORE UPDATE OF stage ON crm.customers
    FOR EACH ROW EXECUTE FUNCTION crm.stage_guard('stage', 'customer_id');

-- history is written once per statement from the transition tables; the
-- source comes from crm.change_source (default user), the reason from the
-- row, the time from crm.change_time (for backfills and replays; default
-- now()).  Inserting a customer records nothing: the stage it is inserted
-- with is where its history starts (and pg_restore writes no history twice).
CREATE FUNCTION crm.record_stage_changes() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
BEGIN
    INSERT INTO crm.stage_history (customer_id, from_stage, to_stage, from_level, to_level, source, reason, changed_at)
    SELECT n.customer_id, o.stage, n.stage, o.level, n.level,
           coalesce(nullif(current_setting('crm.change_source', true), ''), 'user'), n.stage_reason,
           coalesce(nullif(current_setting('crm.change_time', true), '')::timestamptz, now())
    FROM old_rows o JOIN new_rows n USING (customer_id)
    WHERE o.stage <> n.stage OR o.level <> n.level;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION crm.record_stage_changes() IS
    'AFTER UPDATE statement trigger with transition tables: writes changed stages and levels of crm.customers to crm.stage_history';
CREATE TRIGGER record_stage_updates AFTER UPDATE ON crm.customers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.record_stage_changes();

-- the recorded way around the guard, for data corrections
CREATE FUNCTION crm.override_stage(customer bigint, new_stage crm.stage, reason text)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'an override needs a reason' USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('crm.stage_override', 'on', true);
    PERFORM set_config('crm.change_source', 'override', true);
    UPDATE crm.customers SET stage = new_stage, stage_reason = reason WHERE customer_id = customer;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'customer % does not exist', customer USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('crm.stage_override', 'off', true);
    PERFORM set_config('crm.change_source', '', true);
END $$;
REVOKE ALL ON FUNCTION crm.override_stage(bigint, crm.stage, text) FROM PUBLIC;
COMMENT ON FUNCTION crm.override_stage(bigint, crm.stage, text) IS
    'Set a stage even when the transition is illegal (data corrections); recorded in crm.stage_history with source override; not granted to PUBLIC';

-- apply inference to every customer (or those given) as of a date
CREATE FUNCTION crm.apply_inferred_stages(as_of date DEFAULT current_date)
    RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    changed bigint;
BEGIN
    PERFORM set_config('crm.change_source', 'inference', true);
    UPDATE crm.customers c SET stage = i.stage, stage_reason = i.reason, stage_since = as_of
    FROM (SELECT customer_id,
                 (crm.infer_stage(stage, summary, as_of, stage_since => stage_since)).*
          FROM crm.customers) i
    WHERE i.customer_id = c.customer_id AND i.stage <> c.stage;
    GET DIAGNOSTICS changed = ROW_COUNT;
    PERFORM set_config('crm.change_source', '', true);
    RETURN changed;
END $$;
COMMENT ON FUNCTION crm.apply_inferred_stages(date) IS
    'Move every customer to the stage inferred from its summary as of as_of; returns how many changed (recorded with source inference)';

-- ---------------------------------------------------------------------
-- Views for BI
-- ---------------------------------------------------------------------

CREATE VIEW crm.lifecycle_funnel AS
SELECT c.stage,
       count(*) AS customers,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS share_of_customers,
       coalesce(sum(crm.total_spend(c.summary)), 0) AS total_spend,
       round(avg(crm.total_spend(c.summary)), 2) AS average_spend
FROM crm.customers c
GROUP BY c.stage;
COMMENT ON VIEW crm.lifecycle_funnel IS 'Customers and value per life-cycle stage';
COMMENT ON COLUMN crm.lifecycle_funnel.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.lifecycle_funnel.customers IS 'Customers in the stage';
COMMENT ON COLUMN crm.lifecycle_funnel.share_of_customers IS 'Percent of all customers';
COMMENT ON COLUMN crm.lifecycle_funnel.total_spend IS 'Total net spend of the stage''s customers';
COMMENT ON COLUMN crm.lifecycle_funnel.average_spend IS 'Average net spend per customer with purchases';

CREATE VIEW crm.stage_transitions AS
SELECT date_trunc('month', h.changed_at) AS month, h.from_stage, h.to_stage, h.source, count(*) AS transitions
FROM crm.stage_history h
WHERE h.from_stage IS NULL OR h.from_stage OPERATOR(crm.<>) h.to_stage
GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW crm.stage_transitions IS 'Stage changes per month, from x to (filter on month for a period''s transition matrix)';
COMMENT ON COLUMN crm.stage_transitions.month IS 'Month of the change';
COMMENT ON COLUMN crm.stage_transitions.from_stage IS 'Stage before (NULL: customer imported in to_stage)';
COMMENT ON COLUMN crm.stage_transitions.to_stage IS 'Stage after';
COMMENT ON COLUMN crm.stage_transitions.source IS 'inference, user, import or override';
COMMENT ON COLUMN crm.stage_transitions.transitions IS 'Number of changes';

CREATE FUNCTION crm.stage_transition_matrix(since timestamptz, until timestamptz)
    RETURNS TABLE (from_stage crm.stage, to_stage crm.stage, transitions bigint)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT h.from_stage, h.to_stage, count(*) FROM crm.stage_history h
          WHERE h.changed_at >= since AND h.changed_at < until
            AND (h.from_stage IS NULL OR h.from_stage OPERATOR(crm.<>) h.to_stage)
          GROUP BY 1, 2 ORDER BY 1, 2 $$;
COMMENT ON FUNCTION crm.stage_transition_matrix(timestamptz, timestamptz) IS
    'From x to counts of stage changes in [since, until)';

CREATE VIEW crm.stage_durations AS
SELECT s.stage,
       count(*) AS spells,
       count(*) FILTER (WHERE s.ended_at IS NULL) AS ongoing,
       round(avg(extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at) / 86400)::numeric, 1) AS average_days,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at) / 86400))::numeric, 1) AS median_days
FROM (SELECT h.to_stage AS stage, h.changed_at AS started_at,
             lead(h.changed_at) OVER (PARTITION BY h.customer_id ORDER BY h.changed_at, h.history_id) AS ended_at
      FROM crm.stage_history h
      WHERE h.from_stage IS NULL OR h.from_stage OPERATOR(crm.<>) h.to_stage) s
GROUP BY s.stage;
COMMENT ON VIEW crm.stage_durations IS 'Time spent in each stage, from the history (ongoing spells counted up to now)';
COMMENT ON COLUMN crm.stage_durations.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.stage_durations.spells IS 'Times a customer entered the stage';
COMMENT ON COLUMN crm.stage_durations.ongoing IS 'Spells not ended yet';
COMMENT ON COLUMN crm.stage_durations.average_days IS 'Mean days in the stage';
COMMENT ON COLUMN crm.stage_durations.median_days IS 'Median days in the stage';

CREATE VIEW crm.customers_below_target_level AS
SELECT c.customer_id, c.customer_class, c.level, t.target_level, crm.level_gap(c.level, t.target_level) AS levels_to_go
FROM crm.customers c JOIN crm.level_targets t USING (customer_class)
WHERE c.level < t.target_level;  -- enum order
COMMENT ON VIEW crm.customers_below_target_level IS 'Customers whose relationship level is below their class''s target';
COMMENT ON COLUMN crm.customers_below_target_level.customer_id IS 'Customer';
COMMENT ON COLUMN crm.customers_below_target_level.customer_class IS 'residential, general, large, important (crm.level_targets)';
COMMENT ON COLUMN crm.customers_below_target_level.level IS 'Current relationship level';
COMMENT ON COLUMN crm.customers_below_target_level.target_level IS 'Target level of the class';
COMMENT ON COLUMN crm.customers_below_target_level.levels_to_go IS 'Levels still to climb';
-- ---------------------------------------------------------------------
-- Segmentation schemes (src/segment.c over src/segment_kernel.c)
-- ---------------------------------------------------------------------

CREATE TABLE crm.segment_schemes (
    scheme text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('grid', 'rules')),
    features text[] NOT NULL,
    domain_lo double precision[],
    domain_hi double precision[],
    default_label text,
    description text,
    version integer NOT NULL DEFAULT 0,
    changed_at timestamptz,
    changed_by name
);
COMMENT ON TABLE crm.segment_schemes IS
    'Segmentation schemes: a grid of cells over up to 4 features, or ordered rules; validated at commit, versioned';
COMMENT ON COLUMN crm.segment_schemes.features IS 'Feature names, in the order crm.segment() takes them';
COMMENT ON COLUMN crm.segment_schemes.domain_lo IS 'Grid: lower bound of each feature (NULL: unbounded); cells must tile the domain';
COMMENT ON COLUMN crm.segment_schemes.default_label IS 'Label when no cell or rule matches (NULL: the result is NULL)';

CREATE TABLE crm.segment_labels (
    scheme text NOT NULL REFERENCES crm.segment_schemes ON UPDATE CASCADE ON DELETE CASCADE,
    label text NOT NULL,
    position integer NOT NULL,
    action text,
    description text,
    PRIMARY KEY (scheme, label)
);
COMMENT ON TABLE crm.segment_labels IS 'The labels of each scheme, in display order, with the action the texts attach to them';
-- (default_label is checked with the rest of the scheme at commit: a
-- foreign key back to segment_labels would make the two tables a cycle,
-- which pg_dump warns about on every dump)

CREATE TABLE crm.segment_cells (
    scheme text NOT NULL,
    cell integer NOT NULL,
    label text NOT NULL,
    lo double precision[] NOT NULL,
    hi double precision[] NOT NULL,
    PRIMARY KEY (scheme, cell),
    FOREIGN KEY (scheme, label) REFERENCES crm.segment_labels ON UPDATE CASCADE ON DELETE CASCADE
);
COMMENT ON TABLE crm.segment_cells IS 'Grid cells: per feature the interval [lo, hi); the cells of a scheme must tile its domain';

CREATE TABLE crm.segment_rules (
    scheme text NOT NULL,
    rule integer NOT NULL,
    label text NOT NULL,
    conditions text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (scheme, rule),
    FOREIGN KEY (scheme, label) REFERENCES crm.segment_labels ON UPDATE CASCADE ON DELETE CASCADE
);
COMMENT ON TABLE crm.segment_rules IS
    'Ordered rules, first match wins; conditions ANDed, each "feature op number" (op: < <= > >= = <>); no condition: always';

CREATE TABLE crm.segment_scheme_versions (
    scheme text NOT NULL,
    version integer NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by name NOT NULL DEFAULT current_user,
    xact xid8 NOT NULL DEFAULT pg_current_xact_id(),
    definition jsonb NOT NULL,
    PRIMARY KEY (scheme, version)
);
COMMENT ON TABLE crm.segment_scheme_versions IS 'Every committed change of a scheme: who, when, and the whole definition';

CREATE FUNCTION crm.check_segment_scheme(scheme text) RETURNS void
    AS 'MODULE_PATHNAME', 'check_segment_scheme' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.check_segment_scheme(text) IS
    'Raise an error saying what is wrong if the scheme cannot be compiled (overlap, gap, unknown label or feature ...)';

-- at commit: validate every scheme touched, and record one version per transaction
CREATE FUNCTION crm.segment_scheme_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    s text := CASE WHEN TG_OP = 'DELETE' THEN OLD.scheme ELSE NEW.scheme END;
    v integer;
BEGIN
    IF NOT EXISTS (SELECT FROM crm.segment_schemes WHERE scheme = s) THEN
        RETURN NULL;
    END IF;
    PERFORM crm.check_segment_scheme(s);
    IF NOT EXISTS (SELECT FROM crm.segment_scheme_versions WHERE scheme = s AND xact = pg_current_xact_id()) THEN
        SELECT coalesce(max(version), 0) + 1 INTO v FROM crm.segment_scheme_versions WHERE scheme = s;
        INSERT INTO crm.segment_scheme_versions (scheme, version, definition)
        SELECT s, v, jsonb_build_object(
            'scheme', to_jsonb(ss) - 'version' - 'changed_at' - 'changed_by',
            'labels', (SELECT jsonb_agg(to_jsonb(l) - 'scheme' ORDER BY l.position) FROM crm.segment_labels l WHERE l.scheme = s),
            'cells', (SELECT jsonb_agg(to_jsonb(c) - 'scheme' ORDER BY c.cell) FROM crm.segment_cells c WHERE c.scheme = s),
            'rules', (SELECT jsonb_agg(to_jsonb(r) - 'scheme' ORDER BY r.rule) FROM crm.segment_rules r WHERE r.scheme = s))
        FROM crm.segment_schemes ss WHERE ss.scheme = s;
        UPDATE crm.segment_schemes SET version = v, changed_at = now(), changed_by = current_user WHERE scheme = s;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION crm.segment_scheme_changed() IS
    'Deferred constraint trigger: validates a changed scheme at commit and records its new version';
CREATE CONSTRAINT TRIGGER scheme_valid AFTER INSERT OR UPDATE OR DELETE ON crm.segment_schemes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crm.segment_scheme_changed();
CREATE CONSTRAINT TRIGGER scheme_valid AFTER INSERT OR UPDATE OR DELETE ON crm.segment_labels
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crm.segment_scheme_changed();
CREATE CONSTRAINT TRIGGER scheme_valid AFTER INSERT OR UPDATE OR DELETE ON crm.segment_cells
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crm.segment_scheme_changed();
CREATE CONSTRAINT TRIGGER scheme_valid AFTER INSERT OR UPDATE OR DELETE ON crm.segment_rules
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crm.segment_scheme_changed();

CREATE FUNCTION crm.segment(scheme text, features double precision[]) RETURNS text
    AS 'MODULE_PATHNAME', 'segment' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.segment(text, double precision[]) IS
    'The label of the scheme''s cell or first rule the features fall in (a NULL feature matches nothing); the default label, or NULL, when none';
CREATE FUNCTION crm.explain_segment(scheme text, features double precision[], OUT label text, OUT reason text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'explain_segment' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.explain_segment(text, double precision[]) IS
    'crm.segment with the reason: the cell or rule that matched, with the feature values and thresholds';
CREATE FUNCTION crm.rank_cutoffs("values" double precision[], shares double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'rank_cutoffs' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rank_cutoffs(double precision[], double precision[]) IS
    'For each share s, the threshold t such that value >= t selects the top s of the values (ties at t included)';
CREATE FUNCTION crm.pareto_share("values" double precision[], top double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pareto_share' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.pareto_share(double precision[], double precision) IS
    'The share of the total held by the top fraction of the values (the 2/8 rule: top = 0.2)';

CREATE FUNCTION crm.copy_segment_scheme(source text, target text) RETURNS void LANGUAGE sql
    SET search_path = pg_catalog, crm
    AS $$
    INSERT INTO crm.segment_schemes (scheme, kind, features, domain_lo, domain_hi, default_label, description)
        SELECT target, kind, features, domain_lo, domain_hi, default_label, 'copy of ' || source
        FROM crm.segment_schemes WHERE scheme = source;
    INSERT INTO crm.segment_labels SELECT target, label, position, action, description FROM crm.segment_labels WHERE scheme = source;
    INSERT INTO crm.segment_cells SELECT target, cell, label, lo, hi FROM crm.segment_cells WHERE scheme = source;
    INSERT INTO crm.segment_rules SELECT target, rule, label, conditions FROM crm.segment_rules WHERE scheme = source;
$$;
COMMENT ON FUNCTION crm.copy_segment_scheme(text, text) IS 'Copy a scheme (for example a preset) under a new name to edit it';

-- ---------------------------------------------------------------------
-- Presets from the CRM texts (copy one to change it: see README)
-- ---------------------------------------------------------------------

INSERT INTO crm.segment_schemes (scheme, kind, features, domain_lo, domain_hi, default_label, description) VALUES
    ('rfm_segments', 'grid', '{recency_score,fm_score}', '{1,1}', '{6,6}', NULL,
     'RFM segments on recency score x the mean of frequency and monetary scores (1..5, rounded), after the common RFM segment chart'),
    ('value_loyalty', 'grid', '{value,loyalty}', NULL, NULL, NULL,
     'Value x loyalty 2x2 (features as percentile ranks 0..1, threshold 0.5)'),
    ('price_cost', 'grid', '{realized_price,cost_to_serve}', NULL, NULL, NULL,
     'Realized price x cost to serve 2x2 (features as ratios to the average, threshold 1)'),
    ('margin_cost', 'grid', '{gross_margin,cost_to_serve}', NULL, NULL, NULL,
     'Gross margin x cost to serve quadrants with their actions (ratios to the average, threshold 1)'),
    ('value_tiers', 'rules', '{profit,value_rank_share,potential_rank_share}', NULL, NULL, 'ordinary',
     'Value tiers: negative value, most valuable (top 5% by value), second tier (top 20% by potential), ordinary'),
    ('key_customers', 'rules', '{value_rank_share}', NULL, NULL, 'other',
     'The 2/8 rule: the top 20% by contribution are key customers'),
    ('utility_classes', 'rules', '{is_important,consumption_rank_share,non_residential,voltage_kv}', NULL, NULL, 'residential',
     'Utility customer classes, precedence important > large > general > residential'),
    ('service_priority', 'rules', '{is_vip,is_professional}', NULL, NULL, 'ordinary',
     'Service priority for queues: VIP > professional > ordinary');

INSERT INTO crm.segment_labels (scheme, label, position, action) VALUES
    ('rfm_segments', 'Champions', 1, 'reward; early adopters of new products'),
    ('rfm_segments', 'Loyal Customers', 2, 'upsell higher value products'),
    ('rfm_segments', 'Potential Loyalists', 3, 'offer membership or loyalty programme'),
    ('rfm_segments', 'New Customers', 4, 'onboarding support'),
    ('rfm_segments', 'Promising', 5, 'create brand awareness'),
    ('rfm_segments', 'Need Attention', 6, 'limited-time offers'),
    ('rfm_segments', 'About to Sleep', 7, 'reactivate with popular products'),
    ('rfm_segments', 'At Risk', 8, 'personal emails, win back'),
    ('rfm_segments', 'Can''t Lose Them', 9, 'win back; talk to them'),
    ('rfm_segments', 'Hibernating', 10, 'relevant offers at low cost'),
    ('rfm_segments', 'Lost', 11, 'revive interest or let go'),
    ('value_loyalty', 'Golden', 1, 'keep: high value, high loyalty'),
    ('value_loyalty', 'At Risk', 2, 'win loyalty: high value, low loyalty'),
    ('value_loyalty', 'Marginal', 3, 'grow value: low value, high loyalty'),
    ('value_loyalty', 'Don''t Over-Service', 4, 'serve at low cost'),
    ('price_cost', 'Carriage Trade', 1, 'high price, high cost to serve'),
    ('price_cost', 'Passive', 2, 'high price, low cost to serve'),
    ('price_cost', 'Aggressive', 3, 'low price, high cost to serve'),
    ('price_cost', 'Bargain Basement', 4, 'low price, low cost to serve'),
    ('margin_cost', 'protect', 1, 'high margin, low cost to serve'),
    ('margin_cost', 'maintain', 2, 'high margin, high cost to serve'),
    ('margin_cost', 'convert', 3, 'low margin, low cost to serve'),
    ('margin_cost', 'abandon', 4, 'low margin, high cost to serve'),
    ('value_tiers', 'negative value', 1, 'cannot cover their cost to serve'),
    ('value_tiers', 'most valuable', 2, 'about 5% of customers, about 40% of revenue'),
    ('value_tiers', 'second tier', 3, 'high potential, low current value'),
    ('value_tiers', 'ordinary', 4, 'the majority'),
    ('key_customers', 'key', 1, 'top 20% by contribution'),
    ('key_customers', 'other', 2, NULL),
    ('utility_classes', 'important', 1, 'government, hospital, finance, transport hub, data centre, large venue, key facility'),
    ('utility_classes', 'large', 2, 'top consumption share'),
    ('utility_classes', 'general', 3, 'non-residential, supply voltage <= 10 kV'),
    ('utility_classes', 'residential', 4, 'everyone else'),
    ('service_priority', 'VIP', 1, NULL),
    ('service_priority', 'professional', 2, NULL),
    ('service_priority', 'ordinary', 3, NULL);

-- rfm_segments: the 5 x 5 chart (R across, FM up), scores as [first, last + 1)
INSERT INTO crm.segment_cells (scheme, cell, label, lo, hi) VALUES
    ('rfm_segments', 1, 'Champions', '{4,4}', '{6,6}'),
    ('rfm_segments', 2, 'Loyal Customers', '{3,4}', '{4,6}'),
    ('rfm_segments', 3, 'Potential Loyalists', '{4,2}', '{6,4}'),
    ('rfm_segments', 4, 'New Customers', '{5,1}', '{6,2}'),
    ('rfm_segments', 5, 'Promising', '{4,1}', '{5,2}'),
    ('rfm_segments', 6, 'Need Attention', '{3,3}', '{4,4}'),
    ('rfm_segments', 7, 'About to Sleep', '{3,1}', '{4,3}'),
    ('rfm_segments', 8, 'At Risk', '{2,3}', '{3,6}'),
    ('rfm_segments', 9, 'At Risk', '{1,3}', '{2,4}'),
    ('rfm_segments', 10, 'Can''t Lose Them', '{1,4}', '{2,6}'),
    ('rfm_segments', 11, 'Hibernating', '{2,1}', '{3,3}'),
    ('rfm_segments', 12, 'Lost', '{1,1}', '{2,3}'),
    ('value_loyalty', 1, 'Golden', '{0.5,0.5}', '{Infinity,Infinity}'),
    ('value_loyalty', 2, 'At Risk', '{0.5,-Infinity}', '{Infinity,0.5}'),
    ('value_loyalty', 3, 'Marginal', '{-Infinity,0.5}', '{0.5,Infinity}'),
    ('value_loyalty', 4, 'Don''t Over-Service', '{-Infinity,-Infinity}', '{0.5,0.5}'),
    ('price_cost', 1, 'Carriage Trade', '{1,1}', '{Infinity,Infinity}'),
    ('price_cost', 2, 'Passive', '{1,-Infinity}', '{Infinity,1}'),
    ('price_cost', 3, 'Aggressive', '{-Infinity,1}', '{1,Infinity}'),
    ('price_cost', 4, 'Bargain Basement', '{-Infinity,-Infinity}', '{1,1}'),
    ('margin_cost', 1, 'protect', '{1,-Infinity}', '{Infinity,1}'),
    ('margin_cost', 2, 'maintain', '{1,1}', '{Infinity,Infinity}'),
    ('margin_cost', 3, 'convert', '{-Infinity,-Infinity}', '{1,1}'),
    ('margin_cost', 4, 'abandon', '{-Infinity,1}', '{1,Infinity}');

INSERT INTO crm.segment_rules (scheme, rule, label, conditions) VALUES
    ('value_tiers', 1, 'negative value', '{"profit < 0"}'),
    ('value_tiers', 2, 'most valuable', '{"value_rank_share <= 0.05"}'),
    ('value_tiers', 3, 'second tier', '{"potential_rank_share <= 0.2"}'),
    ('key_customers', 1, 'key', '{"value_rank_share <= 0.2"}'),
    ('utility_classes', 1, 'important', '{"is_important = 1"}'),
    ('utility_classes', 2, 'large', '{"consumption_rank_share <= 0.0001"}'),
    ('utility_classes', 3, 'general', '{"non_residential = 1","voltage_kv <= 10"}'),
    ('service_priority', 1, 'VIP', '{"is_vip = 1"}'),
    ('service_priority', 2, 'professional', '{"is_professional = 1"}');

-- check the presets now rather than at commit, so that nothing is pending
-- when CREATE EXTENSION returns (a DROP EXTENSION in the same transaction
-- would otherwise fail); the checks stay deferred for the caller's edits
SET CONSTRAINTS crm.scheme_valid IMMEDIATE;
SET CONSTRAINTS crm.scheme_valid DEFERRED;

-- pg_dump keeps the schemes a site adds; the presets come with the extension
SELECT pg_catalog.pg_extension_config_dump('crm.segment_schemes', $$WHERE scheme NOT IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority')$$);
SELECT pg_catalog.pg_extension_config_dump('crm.segment_labels', $$WHERE scheme NOT IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority')$$);
SELECT pg_catalog.pg_extension_config_dump('crm.segment_cells', $$WHERE scheme NOT IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority')$$);
SELECT pg_catalog.pg_extension_config_dump('crm.segment_rules', $$WHERE scheme NOT IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority')$$);
SELECT pg_catalog.pg_extension_config_dump('crm.segment_scheme_versions', $$WHERE NOT (version = 1 AND scheme IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority'))$$);

-- the RFM segment of an RFM value: FM = round((F + M) / 2)
CREATE FUNCTION crm.rfm_segment(r crm.rfm) RETURNS text LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT crm.segment('rfm_segments',
                             ARRAY[crm.recency_score(r), round((crm.frequency_score(r) + crm.monetary_score(r)) / 2.0)]::float8[]) $$;
COMMENT ON FUNCTION crm.rfm_segment(crm.rfm) IS
    'The rfm_segments label of a 1..5 RFM value (recency score x rounded mean of frequency and monetary scores)';

-- ---------------------------------------------------------------------
-- Segment assignments and views for BI
-- ---------------------------------------------------------------------

CREATE TABLE crm.customer_segments (
    customer_id bigint NOT NULL,
    scheme text NOT NULL,
    label text,
    reason text,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, scheme)
);
COMMENT ON TABLE crm.customer_segments IS 'Each customer''s segment per scheme, as last assigned';
SELECT pg_catalog.pg_extension_config_dump('crm.customer_segments', '');

CREATE VIEW crm.segment_summary AS
SELECT cs.scheme, cs.label,
       count(*) AS customers,
       coalesce(sum(crm.total_spend(c.summary)), 0) AS revenue,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY cs.scheme), 2) AS share_of_customers,
       round(100.0 * coalesce(sum(crm.total_spend(c.summary)), 0)
             / nullif(sum(coalesce(sum(crm.total_spend(c.summary)), 0)) OVER (PARTITION BY cs.scheme), 0), 2) AS share_of_revenue,
       round(avg(crm.total_spend(c.summary)), 2) AS average_value
FROM crm.customer_segments cs LEFT JOIN crm.customers c USING (customer_id)
GROUP BY cs.scheme, cs.label;
COMMENT ON VIEW crm.segment_summary IS 'Customers and revenue per segment of each scheme (order by scheme, revenue desc)';
COMMENT ON COLUMN crm.segment_summary.scheme IS 'Segmentation scheme';
COMMENT ON COLUMN crm.segment_summary.label IS 'Segment';
COMMENT ON COLUMN crm.segment_summary.customers IS 'Customers in the segment';
COMMENT ON COLUMN crm.segment_summary.revenue IS 'Their total net spend';
COMMENT ON COLUMN crm.segment_summary.share_of_customers IS 'Percent of the scheme''s customers';
COMMENT ON COLUMN crm.segment_summary.share_of_revenue IS 'Percent of the scheme''s revenue';
COMMENT ON COLUMN crm.segment_summary.average_value IS 'Average net spend per customer';

CREATE VIEW crm.pareto AS
SELECT r.customer_id, r.rank, r.revenue,
       round(100.0 * r.rank / r.n, 4) AS customer_share,
       round(100.0 * sum(r.revenue) OVER (ORDER BY r.rank) / nullif(r.total, 0), 4) AS cumulative_revenue_share,
       round(100.0 * r.top5 / nullif(r.total, 0), 2) AS top_5pct_share,
       round(100.0 * r.top20 / nullif(r.total, 0), 2) AS top_20pct_share
FROM (SELECT q.*, sum(q.revenue) OVER () AS total, count(*) OVER () AS n,
             sum(q.revenue) FILTER (WHERE q.rank <= ceil(0.05 * q.cnt)) OVER () AS top5,
             sum(q.revenue) FILTER (WHERE q.rank <= ceil(0.20 * q.cnt)) OVER () AS top20
      FROM (SELECT c.customer_id, crm.total_spend(c.summary) AS revenue,
                   row_number() OVER (ORDER BY crm.total_spend(c.summary) DESC, c.customer_id) AS rank,
                   count(*) OVER () AS cnt
            FROM crm.customers c WHERE c.summary IS NOT NULL) q) r;
COMMENT ON VIEW crm.pareto IS 'Customers ranked by revenue with the cumulative share of revenue, and the shares held by the top 5% and 20%';
COMMENT ON COLUMN crm.pareto.customer_id IS 'Customer';
COMMENT ON COLUMN crm.pareto.rank IS 'Rank by revenue, 1 = highest';
COMMENT ON COLUMN crm.pareto.revenue IS 'Total net spend';
COMMENT ON COLUMN crm.pareto.customer_share IS 'Percent of customers ranked at or above';
COMMENT ON COLUMN crm.pareto.cumulative_revenue_share IS 'Percent of revenue held by customers ranked at or above';
COMMENT ON COLUMN crm.pareto.top_5pct_share IS 'Percent of revenue held by the top 5% of customers';
COMMENT ON COLUMN crm.pareto.top_20pct_share IS 'Percent of revenue held by the top 20% of customers (the 2/8 rule)';
