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
    changed_by name NOT NULL DEFAULT session_user
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

-- history is written once per statement from the transition tables (in C:
-- a bulk change of stages costs one INSERT); the source comes from
-- crm.change_source (default user), the reason from the row, the time from
-- crm.change_time (for backfills and replays; default now()), who from the
-- session's login role.  Inserting a customer records nothing: the stage it
-- is inserted with is where its history starts (and pg_restore writes no
-- history twice).  SECURITY DEFINER: a writer allowed to change a stage
-- need not be allowed to write history rows of its own.
CREATE FUNCTION crm.record_stage_changes() RETURNS trigger
    AS 'MODULE_PATHNAME', 'record_stage_changes' LANGUAGE C SECURITY DEFINER
    SET search_path = pg_catalog, crm;
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
-- ---------------------------------------------------------------------
-- The CRM in the database, part 1: the customer record, orders, and the
-- triggers that keep each customer's summary, scores, segment and stage
-- current in the same transaction as the order.
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
    ('btyd_model', 'bgnbd', 'Model crm.refresh() fits for P(alive) when asked to (bgnbd, pareto_nbd, mbgnbd)'),
    ('btyd_unit', '7 days', 'Time unit of the fitted model');

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
            WHEN NEW.name IN ('loyal_after_surveys', 'complaint_trend_days') THEN
                IF NEW.value::integer < 1 THEN RAISE EXCEPTION USING ERRCODE = '22023'; END IF;
            WHEN NEW.name = 'btyd_model' THEN
                IF NEW.value NOT IN ('bgnbd', 'pareto_nbd', 'mbgnbd') THEN RAISE EXCEPTION USING ERRCODE = '22023'; END IF;
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

-- the business date: setting crm.as_of (for replays and backfills), else today
CREATE FUNCTION crm.business_date() RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT coalesce(nullif(current_setting('crm.as_of', true), '')::date, current_date) $$;
COMMENT ON FUNCTION crm.business_date() IS
    'The date scores are measured on: the setting crm.as_of when set (replays, backfills), else current_date';

CREATE FUNCTION crm.rebase(c crm.rfm_cutpoints, as_of date) RETURNS crm.rfm_cutpoints
    AS 'MODULE_PATHNAME', 'rfm_cutpoints_rebase' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rebase(crm.rfm_cutpoints, date) IS
    'The same cutpoints measured from another date (recency thresholds are day counts)';

-- ---------------------------------------------------------------------
-- The customer record
-- ---------------------------------------------------------------------

CREATE TABLE crm.churn_reasons (
    reason text PRIMARY KEY,
    description text NOT NULL,
    preset boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.churn_reasons IS 'Why customers leave (shipped presets from the CRM texts; add your own)';
INSERT INTO crm.churn_reasons VALUES
    ('died', 'The customer died', true),
    ('moved', 'The customer moved away', true),
    ('ties', 'Ties with another firm (a relative or friend there)', true),
    ('competition', 'A competitor offered a better product or price', true),
    ('product', 'Dissatisfied with the product', true),
    ('attitude', 'Dissatisfied with the staff''s attitude', true);
SELECT pg_catalog.pg_extension_config_dump('crm.churn_reasons', 'WHERE NOT preset');

ALTER TABLE crm.customers
    ADD COLUMN name text,
    ADD COLUMN kind text NOT NULL DEFAULT 'consumer'
        CHECK (kind IN ('consumer', 'intermediary', 'internal', 'public')),
    ADD COLUMN service_level text NOT NULL DEFAULT 'ordinary'
        CHECK (service_level IN ('vip', 'professional', 'ordinary')),
    ADD COLUMN account_manager name,
    ADD COLUMN marketing_opt_out boolean NOT NULL DEFAULT false,
    ADD COLUMN churn_reason text REFERENCES crm.churn_reasons ON UPDATE CASCADE,
    ADD COLUMN rfm crm.rfm,
    ADD COLUMN segment text,
    ADD COLUMN scored_on date,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
-- room on each page for the new version of a row: order maintenance
-- updates stay HOT (no index entries to write)
ALTER TABLE crm.customers SET (fillfactor = 80);
CREATE INDEX customers_account_manager ON crm.customers (account_manager) WHERE account_manager IS NOT NULL;
COMMENT ON COLUMN crm.customers.customer_id IS 'Customer';
COMMENT ON COLUMN crm.customers.customer_class IS 'Class for relationship-level targets: residential, general, large, important (crm.level_targets)';
COMMENT ON COLUMN crm.customers.stage IS 'Relationship life-cycle stage (changes are checked and kept in crm.stage_history)';
COMMENT ON COLUMN crm.customers.level IS 'Relationship level';
COMMENT ON COLUMN crm.customers.summary IS 'Purchase days of every tracked order table, maintained by their triggers; NULL: no orders';
COMMENT ON COLUMN crm.customers.name IS 'Name';
COMMENT ON COLUMN crm.customers.kind IS 'consumer, intermediary, internal or public';
COMMENT ON COLUMN crm.customers.service_level IS 'vip, professional or ordinary: the order complaints are served in';
COMMENT ON COLUMN crm.customers.account_manager IS 'Role of the account manager; connected as that role, the manager sees only these customers';
COMMENT ON COLUMN crm.customers.marketing_opt_out IS 'The customer asked not to receive marketing';
COMMENT ON COLUMN crm.customers.churn_reason IS 'Why the customer left (crm.churn_reasons)';
COMMENT ON COLUMN crm.customers.rfm IS 'RFM score on scored_on against the cutpoints of the last crm.refresh(); NULL before the first refresh or without purchases';
COMMENT ON COLUMN crm.customers.segment IS 'rfm_segments label of the RFM score';
COMMENT ON COLUMN crm.customers.scored_on IS 'Business date of the last scoring (an order or crm.refresh())';
COMMENT ON COLUMN crm.customers.created_at IS 'When the record was created';

-- the population's RFM cutpoints, written by crm.refresh(); one row
CREATE TABLE crm.scoring (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    cutpoints crm.rfm_cutpoints NOT NULL,
    model crm.btyd_model,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE crm.scoring IS 'Population state of the last crm.refresh(): RFM cutpoints and the fitted P(alive) model (one row)';
SELECT pg_catalog.pg_extension_config_dump('crm.scoring', '');

-- ---------------------------------------------------------------------
-- Orders and the maintenance triggers
-- ---------------------------------------------------------------------

CREATE FUNCTION crm.track_orders_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'track_orders_trigger' LANGUAGE C SECURITY DEFINER;
    -- no search_path here: it reads the caller's to tell a pg_dump restore;
    -- it runs no query of its own (its history rows say source inference)
REVOKE ALL ON FUNCTION crm.track_orders_trigger() FROM PUBLIC;
COMMENT ON FUNCTION crm.track_orders_trigger() IS
    'Row or statement AFTER trigger installed by crm.track_orders(): applies the changed orders to their customers'' summaries, scores, segments and stages';

CREATE TABLE crm.tracked_tables (
    table_name regclass PRIMARY KEY,
    customer_column name NOT NULL,
    date_column name NOT NULL,
    amount_column name NOT NULL,
    mode text NOT NULL CHECK (mode IN ('statement', 'row')),
    unknown_customers text NOT NULL CHECK (unknown_customers IN ('create', 'error')),
    attached_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE crm.tracked_tables IS 'Order tables whose rows crm.customers summarizes (crm.track_orders / crm.untrack_orders)';
SELECT pg_catalog.pg_extension_config_dump('crm.tracked_tables', $$WHERE table_name <> 'crm.orders'::regclass$$);

CREATE TABLE crm.orders (
    order_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL,
    ordered_on date NOT NULL DEFAULT current_date,
    amount numeric(16, 4) NOT NULL CHECK (amount NOT IN ('NaN', 'Infinity', '-Infinity')),
    channel text,
    note text
);
CREATE INDEX orders_customer ON crm.orders (customer_id);
COMMENT ON TABLE crm.orders IS 'Orders (a negative amount is a refund); tracked: each write updates its customer in crm.customers';
COMMENT ON COLUMN crm.orders.customer_id IS 'Customer (must exist in crm.customers)';
COMMENT ON COLUMN crm.orders.ordered_on IS 'Business date of the order';
COMMENT ON COLUMN crm.orders.amount IS 'Net amount; negative for a refund';
SELECT pg_catalog.pg_extension_config_dump('crm.orders', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.orders', 'order_id'), '');

-- the triggers on one table, by mode
CREATE FUNCTION crm.install_tracking(tbl regclass, customer name, at name, amount name,
                                     mode text, unknown_customers text)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    args text := format('%L, %L, %L, %L', customer, at, amount, unknown_customers);
BEGIN
    IF mode = 'statement' THEN
        EXECUTE format('CREATE TRIGGER crm_track_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS crm_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION crm.track_orders_trigger(%s)', tbl, args);
        EXECUTE format('CREATE TRIGGER crm_track_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION crm.track_orders_trigger(%s)', tbl, args);
        EXECUTE format('CREATE TRIGGER crm_track_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS crm_old '
                       'FOR EACH STATEMENT EXECUTE FUNCTION crm.track_orders_trigger(%s)', tbl, args);
    ELSE
        EXECUTE format('CREATE TRIGGER crm_track_row AFTER INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION crm.track_orders_trigger(%s)', tbl, args);
    END IF;
    -- TRUNCATE would bypass the triggers: refuse it while tracked
    EXECUTE format('CREATE TRIGGER crm_track_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION crm.refuse_truncate()', tbl);
END $$;
COMMENT ON FUNCTION crm.install_tracking(regclass, name, name, name, text, text) IS
    'Create the tracking triggers on a table (used by crm.track_orders; not for direct use)';
REVOKE ALL ON FUNCTION crm.install_tracking(regclass, name, name, name, text, text) FROM PUBLIC;

CREATE FUNCTION crm.refuse_truncate() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
BEGIN
    RAISE EXCEPTION 'cannot truncate %.% while crm tracks it', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = '55000',
              HINT = 'Delete the rows instead, or detach with crm.untrack_orders() first.';
END $$;
COMMENT ON FUNCTION crm.refuse_truncate() IS 'BEFORE TRUNCATE trigger on tracked tables: TRUNCATE fires no row changes, so it is refused';

-- the summaries of one table's orders, per customer
CREATE FUNCTION crm.table_summaries(tbl regclass)
    RETURNS TABLE (customer_id bigint, summary crm.summary)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    t crm.tracked_tables;
BEGIN
    SELECT * INTO t FROM crm.tracked_tables WHERE table_name = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not tracked by crm', tbl USING ERRCODE = '22023',
            HINT = 'Attach it with crm.track_orders().';
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT %1$I::bigint, crm.summarize(%2$I::date, %3$I::numeric) FROM %4$s WHERE %1$I IS NOT NULL GROUP BY 1',
        t.customer_column, t.date_column, t.amount_column, tbl);
END $$;
COMMENT ON FUNCTION crm.table_summaries(regclass) IS
    'Per-customer summaries computed afresh from one tracked table (the reference the triggers are checked against)';

CREATE FUNCTION crm.track_orders(tbl regclass, customer name, at name, amount name,
                                 mode text DEFAULT 'statement',
                                 unknown_customers text DEFAULT 'create')
    RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    col name;
    typ regtype;
    backfilled bigint;
BEGIN
    IF tbl IS NULL OR customer IS NULL OR at IS NULL OR amount IS NULL THEN
        RAISE EXCEPTION 'crm.track_orders needs a table and its customer, date and amount columns'
            USING ERRCODE = '22004';
    END IF;
    IF mode IS NULL OR mode NOT IN ('statement', 'row') THEN
        RAISE EXCEPTION 'mode must be ''statement'' or ''row'', not %', coalesce(quote_literal(mode), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF unknown_customers IS NULL OR unknown_customers NOT IN ('create', 'error') THEN
        RAISE EXCEPTION 'unknown_customers must be ''create'' or ''error'', not %', coalesce(quote_literal(unknown_customers), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = tbl) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = '42809',
            HINT = 'crm tracks plain and partitioned tables.';
    END IF;
    IF EXISTS (SELECT FROM pg_inherits WHERE inhrelid = tbl) THEN
        RAISE EXCEPTION '% is a partition', tbl USING ERRCODE = '42809',
            HINT = 'Track the partitioned table it belongs to.';
    END IF;
    IF EXISTS (SELECT FROM crm.tracked_tables WHERE table_name = tbl) THEN
        RAISE EXCEPTION 'table % is already tracked by crm', tbl USING ERRCODE = '42710',
            HINT = 'Detach it with crm.untrack_orders() first to change how it is tracked.';
    END IF;
    FOREACH col IN ARRAY ARRAY[customer, at, amount] LOOP
        SELECT a.atttypid INTO typ FROM pg_attribute a
        WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of % does not exist', col, tbl USING ERRCODE = '42703';
        END IF;
        IF (col = customer AND typ NOT IN ('smallint', 'integer', 'bigint'))
           OR (col = at AND typ NOT IN ('date', 'timestamp', 'timestamptz'))
           OR (col = amount AND typ NOT IN ('numeric', 'double precision', 'real', 'smallint', 'integer', 'bigint')) THEN
            RAISE EXCEPTION 'column "%" of % has type %, which crm cannot track', col, tbl, typ
                USING ERRCODE = '42804',
                      HINT = 'Customers are integers, dates are date or timestamp[tz], amounts are numeric, floating-point or integer.';
        END IF;
    END LOOP;

    INSERT INTO crm.tracked_tables VALUES (tbl, customer, at, amount, mode, unknown_customers);

    -- backfill: the table's existing orders, merged into the summaries;
    -- the same checks as the triggers (unknown customers, bad amounts)
    CREATE TEMP TABLE crm_backfill ON COMMIT DROP AS SELECT * FROM crm.table_summaries(tbl);
    IF unknown_customers = 'create' THEN
        INSERT INTO crm.customers (customer_id)
        SELECT b.customer_id FROM crm_backfill b ORDER BY 1 ON CONFLICT DO NOTHING;
    ELSIF EXISTS (SELECT FROM crm_backfill b LEFT JOIN crm.customers c USING (customer_id) WHERE c.customer_id IS NULL) THEN
        RAISE EXCEPTION 'customer % of an order in % is not in crm.customers',
            (SELECT min(b.customer_id) FROM crm_backfill b LEFT JOIN crm.customers c USING (customer_id) WHERE c.customer_id IS NULL), tbl
            USING ERRCODE = '23503',
                  HINT = 'Insert the customers first, or attach with unknown_customers => ''create''.';
    END IF;
    PERFORM set_config('crm.change_source', 'import', true);
    PERFORM crm.rescore(ARRAY(SELECT b.customer_id FROM crm_backfill b ORDER BY 1), 'crm_backfill');
    PERFORM set_config('crm.change_source', '', true);
    SELECT count(*) INTO backfilled FROM crm_backfill;
    DROP TABLE crm_backfill;

    PERFORM crm.install_tracking(tbl, customer, at, amount, mode, unknown_customers);
    RETURN backfilled;
END $$;
COMMENT ON FUNCTION crm.track_orders(regclass, name, name, name, text, text) IS
    'Attach crm to an order table (plain or partitioned): install the maintenance triggers (mode statement or row) and merge its existing orders into the customers'' summaries; returns the customers backfilled';

-- merge the summaries in a temporary table (customer_id, summary) into
-- crm.customers, or take them out (sign -1), and rescore those customers
CREATE FUNCTION crm.rescore(customers bigint[], summaries_table text, sign integer DEFAULT 1)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    as_of date := crm.business_date();
BEGIN
    -- lock in customer order, as the triggers do
    PERFORM FROM crm.customers c WHERE c.customer_id = ANY (customers)
        ORDER BY c.customer_id FOR NO KEY UPDATE;
    EXECUTE format(
        'UPDATE crm.customers c SET summary = nullif(%s, ''{}''::crm.summary) FROM %I b WHERE b.customer_id = c.customer_id',
        CASE WHEN sign > 0 THEN 'crm.merge(c.summary, b.summary)'
             ELSE 'crm.subtract(c.summary, b.summary)' END, summaries_table);
    PERFORM crm.score_customers(customers, as_of);
END $$;
COMMENT ON FUNCTION crm.rescore(bigint[], text, integer) IS
    'Merge (or with sign -1 take out) per-customer summaries held in a temporary table, then rescore those customers (used by track_orders and untrack_orders)';
REVOKE ALL ON FUNCTION crm.rescore(bigint[], text, integer) FROM PUBLIC;

CREATE FUNCTION crm.untrack_orders(tbl regclass, forget boolean DEFAULT false)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    trg text;
BEGIN
    IF NOT EXISTS (SELECT FROM crm.tracked_tables WHERE table_name = tbl) THEN
        RAISE EXCEPTION 'table % is not tracked by crm', tbl USING ERRCODE = '22023';
    END IF;
    IF forget THEN
        CREATE TEMP TABLE crm_backfill ON COMMIT DROP AS SELECT * FROM crm.table_summaries(tbl);
        PERFORM crm.rescore(ARRAY(SELECT b.customer_id FROM crm_backfill b ORDER BY 1), 'crm_backfill', -1);
        DROP TABLE crm_backfill;
    END IF;
    FOR trg IN SELECT t.tgname FROM pg_trigger t
               WHERE t.tgrelid = tbl AND t.tgname IN ('crm_track_insert', 'crm_track_update', 'crm_track_delete',
                                                       'crm_track_row', 'crm_track_truncate')
                 AND t.tgparentid = 0
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', trg, tbl);
    END LOOP;
    DELETE FROM crm.tracked_tables WHERE table_name = tbl;
END $$;
COMMENT ON FUNCTION crm.untrack_orders(regclass, boolean) IS
    'Detach crm from an order table: drop its triggers; with forget => true also take its orders out of the customers'' summaries';

CREATE FUNCTION crm.subtract(a crm.summary, b crm.summary) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_subtract' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.subtract(crm.summary, crm.summary) IS
    'Take the transactions of b out of a (the inverse of merge); an error if a does not hold them';

CREATE FUNCTION crm.apply_changes(s crm.summary, added crm.summary, removed crm.summary) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_apply_changes_fn' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.apply_changes(crm.summary, crm.summary, crm.summary) IS
    'subtract(merge(s, added), removed), NULL when nothing is left: one customer''s orders written in one statement';

-- crm.orders is tracked from the start: the customer must exist
SELECT crm.install_tracking('crm.orders', 'customer_id', 'ordered_on', 'amount', 'statement', 'error');
INSERT INTO crm.tracked_tables VALUES ('crm.orders', 'customer_id', 'ordered_on', 'amount', 'statement', 'error');

-- every tracked table recomputed from scratch: the repair path, and what
-- the maintained state is checked against
CREATE PROCEDURE crm.rebuild_summaries()
    LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    t regclass;
BEGIN
    LOCK TABLE crm.customers IN SHARE ROW EXCLUSIVE MODE;
    CREATE TEMP TABLE crm_rebuild (customer_id bigint, summary crm.summary) ON COMMIT DROP;
    FOR t IN SELECT table_name FROM crm.tracked_tables LOOP
        INSERT INTO crm_rebuild SELECT * FROM crm.table_summaries(t);
    END LOOP;
    UPDATE crm.customers c SET summary = r.summary
    FROM (SELECT customer_id, crm.summarize(summary) AS summary FROM crm_rebuild GROUP BY 1) r
    WHERE r.customer_id = c.customer_id AND c.summary IS DISTINCT FROM r.summary;
    UPDATE crm.customers c SET summary = NULL
    WHERE c.summary IS NOT NULL AND NOT EXISTS (SELECT FROM crm_rebuild r WHERE r.customer_id = c.customer_id);
    DROP TABLE crm_rebuild;
END $$;
COMMENT ON PROCEDURE crm.rebuild_summaries() IS
    'Recompute every customer''s summary from all tracked tables (repair after changes made with the triggers disabled)';
REVOKE ALL ON PROCEDURE crm.rebuild_summaries() FROM PUBLIC;


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
-- ---------------------------------------------------------------------
-- The CRM in the database, part 2: interactions, complaints with their
-- time limits, and satisfaction
-- ---------------------------------------------------------------------

CREATE TABLE crm.interactions (
    interaction_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES crm.customers ON DELETE CASCADE,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    channel text NOT NULL
        CHECK (channel IN ('face_to_face', 'phone', 'sms', 'call_centre', 'email', 'web', 'counter')),
    direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    topic text,
    sentiment real CHECK (sentiment BETWEEN -1 AND 1),
    wait_time interval CHECK (wait_time >= interval '0'),
    handled_by name DEFAULT current_user
);
CREATE INDEX interactions_customer ON crm.interactions (customer_id, occurred_at);
COMMENT ON TABLE crm.interactions IS 'Every contact with a customer, on any channel';
COMMENT ON COLUMN crm.interactions.channel IS 'face_to_face, phone, sms, call_centre, email, web or counter';
COMMENT ON COLUMN crm.interactions.direction IS 'inbound (the customer reached us) or outbound';
COMMENT ON COLUMN crm.interactions.sentiment IS 'From -1 (hostile) to 1 (delighted); NULL if not judged';
COMMENT ON COLUMN crm.interactions.wait_time IS 'How long the customer waited to be served (phone and call centre: against sla_phone_wait)';
SELECT pg_catalog.pg_extension_config_dump('crm.interactions', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.interactions', 'interaction_id'), '');

CREATE TABLE crm.complaint_categories (
    category text PRIMARY KEY,
    description text NOT NULL,
    preset boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.complaint_categories IS 'Complaint categories (shipped with the utility preset of the CRM texts; add your own)';
INSERT INTO crm.complaint_categories VALUES
    ('supply_reliability', 'Supply reliability: outages, interruptions', true),
    ('supply_safety', 'Supply safety: hazards, accidents', true),
    ('billing', 'Billing and payment', true),
    ('information', 'Information: notices, explanations', true),
    ('business_handling', 'Business handling: applications, connections, changes', true),
    ('service_channels', 'Service channels: counters, phone lines, web', true),
    ('service_attitude', 'Service attitude of the staff', true);
SELECT pg_catalog.pg_extension_config_dump('crm.complaint_categories', 'WHERE NOT preset');

CREATE TABLE crm.complaints (
    complaint_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES crm.customers ON DELETE CASCADE,
    category text NOT NULL REFERENCES crm.complaint_categories ON UPDATE CASCADE,
    channel text CHECK (channel IN ('face_to_face', 'phone', 'sms', 'call_centre', 'email', 'web', 'counter')),
    description text,
    first_contact_owner name DEFAULT current_user,
    opened_at timestamptz NOT NULL DEFAULT now(),
    first_response_at timestamptz,
    onsite_required boolean NOT NULL DEFAULT false,
    onsite_at timestamptz,
    resolved_at timestamptz,
    follow_up_result text CHECK (follow_up_result IN ('satisfied', 'unsatisfied')),
    escalated boolean NOT NULL DEFAULT false,
    escalation_reason text,
    repeat_of bigint,
    CHECK (first_response_at IS NULL OR first_response_at >= opened_at),
    CHECK (onsite_at IS NULL OR onsite_at >= opened_at),
    CHECK (resolved_at IS NULL OR resolved_at >= opened_at),
    CHECK (follow_up_result IS NULL OR resolved_at IS NOT NULL)
);
CREATE INDEX complaints_customer ON crm.complaints (customer_id, category, opened_at);
CREATE INDEX complaints_open ON crm.complaints (opened_at) WHERE resolved_at IS NULL;
COMMENT ON TABLE crm.complaints IS 'Complaints: who took them, when answered, visited, resolved, the follow-up, and escalation';
COMMENT ON COLUMN crm.complaints.first_contact_owner IS 'Who took the complaint first and owns it until it is resolved';
COMMENT ON COLUMN crm.complaints.onsite_required IS 'Whether a visit on site is due (checked against sla_onsite, sla_onsite_vip)';
COMMENT ON COLUMN crm.complaints.follow_up_result IS 'Result of the follow-up visit or call after resolution; unsatisfied escalates';
COMMENT ON COLUMN crm.complaints.escalated IS 'Set by the escalation trigger (repeat complaint, unsatisfied follow-up) or by hand';
COMMENT ON COLUMN crm.complaints.repeat_of IS 'complaint_id of the earlier complaint of the same customer and category within repeat_complaint_window (no foreign key, so that the table has no dump-order cycle)';
SELECT pg_catalog.pg_extension_config_dump('crm.complaints', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.complaints', 'complaint_id'), '');

-- escalation: a repeat complaint (same customer and category within the
-- window), or a follow-up marked unsatisfied
CREATE FUNCTION crm.escalate_complaint() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    earlier bigint;
BEGIN
    IF TG_OP = 'INSERT' AND NEW.repeat_of IS NULL THEN
        SELECT k.complaint_id INTO earlier FROM crm.complaints k
        WHERE k.customer_id = NEW.customer_id AND k.category = NEW.category
          AND k.opened_at <= NEW.opened_at
          AND k.opened_at > NEW.opened_at - crm.setting('repeat_complaint_window')::interval
        ORDER BY k.opened_at DESC, k.complaint_id DESC LIMIT 1;
        IF FOUND THEN
            NEW.repeat_of := earlier;
        END IF;
    END IF;
    IF NEW.repeat_of IS NOT NULL AND NOT NEW.escalated AND (TG_OP = 'INSERT' OR OLD.repeat_of IS NULL) THEN
        NEW.escalated := true;
        NEW.escalation_reason := coalesce(NEW.escalation_reason, 'repeat complaint');
    END IF;
    IF NEW.follow_up_result = 'unsatisfied' AND (TG_OP = 'INSERT' OR OLD.follow_up_result IS DISTINCT FROM 'unsatisfied') THEN
        NEW.escalated := true;
        NEW.escalation_reason := CASE WHEN NEW.escalation_reason IS NULL THEN 'follow-up unsatisfied'
                                      ELSE NEW.escalation_reason || '; follow-up unsatisfied' END;
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION crm.escalate_complaint() IS
    'BEFORE INSERT OR UPDATE trigger on crm.complaints: links and escalates a repeat complaint, escalates an unsatisfied follow-up';
CREATE TRIGGER escalate BEFORE INSERT OR UPDATE ON crm.complaints
    FOR EACH ROW EXECUTE FUNCTION crm.escalate_complaint();

-- service-level rank: VIP first, then professional, then ordinary
CREATE FUNCTION crm.service_rank(service_level text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT CASE service_level WHEN 'vip' THEN 1 WHEN 'professional' THEN 2 WHEN 'ordinary' THEN 3 END $$;
COMMENT ON FUNCTION crm.service_rank(text) IS 'Queue rank of a service level: vip 1, professional 2, ordinary 3';

CREATE VIEW crm.complaint_queue AS
SELECT k.complaint_id, k.customer_id, c.service_level, k.category, k.escalated, k.opened_at,
       k.first_response_at, now() - k.opened_at AS waiting,
       row_number() OVER (ORDER BY crm.service_rank(c.service_level), k.escalated DESC, k.opened_at, k.complaint_id) AS queue_position
FROM crm.complaints k JOIN crm.customers c USING (customer_id)
WHERE k.resolved_at IS NULL;
COMMENT ON VIEW crm.complaint_queue IS 'Open complaints in the order they are served: VIP > professional > ordinary, escalated first, then oldest';
COMMENT ON COLUMN crm.complaint_queue.complaint_id IS 'Complaint';
COMMENT ON COLUMN crm.complaint_queue.customer_id IS 'Customer';
COMMENT ON COLUMN crm.complaint_queue.service_level IS 'The customer''s service level';
COMMENT ON COLUMN crm.complaint_queue.category IS 'Complaint category';
COMMENT ON COLUMN crm.complaint_queue.escalated IS 'Escalated (repeat, unsatisfied follow-up, or by hand)';
COMMENT ON COLUMN crm.complaint_queue.opened_at IS 'When the complaint was opened';
COMMENT ON COLUMN crm.complaint_queue.first_response_at IS 'First response, if any yet';
COMMENT ON COLUMN crm.complaint_queue.waiting IS 'Time since opened';
COMMENT ON COLUMN crm.complaint_queue.queue_position IS 'Position in the queue, 1 = next';

-- the time limits a complaint is held to, by the customer's service level
CREATE VIEW crm.complaint_sla_breaches AS
WITH sla AS MATERIALIZED (
    -- the targets, read once (crm.setting is not inlined)
    SELECT crm.setting('sla_first_response')::interval AS first_response,
           crm.setting('sla_onsite')::interval AS onsite,
           crm.setting('sla_onsite_vip')::interval AS onsite_vip,
           crm.setting('sla_phone_wait')::interval AS phone_wait
)
SELECT b.*, b.actual - b.target AS late_by
FROM (SELECT 'complaint'::text AS source, k.complaint_id AS id, k.customer_id, 'first_response'::text AS target_name,
             sla.first_response AS target,
             coalesce(k.first_response_at, now()) - k.opened_at AS actual,
             k.first_response_at IS NULL AS still_open
      FROM crm.complaints k, sla
      UNION ALL
      SELECT 'complaint', k.complaint_id, k.customer_id, 'onsite',
             CASE WHEN c.service_level = 'vip' THEN sla.onsite_vip ELSE sla.onsite END,
             coalesce(k.onsite_at, now()) - k.opened_at,
             k.onsite_at IS NULL
      FROM crm.complaints k JOIN crm.customers c USING (customer_id), sla
      WHERE k.onsite_required
      UNION ALL
      SELECT 'interaction', i.interaction_id, i.customer_id, 'phone_wait',
             sla.phone_wait, i.wait_time, false
      FROM crm.interactions i, sla
      WHERE i.channel IN ('phone', 'call_centre') AND i.wait_time IS NOT NULL) b
WHERE b.actual > b.target;
COMMENT ON VIEW crm.complaint_sla_breaches IS 'Every time limit missed: first response and visit on site of complaints (open ones counted up to now), and phone waits';
COMMENT ON COLUMN crm.complaint_sla_breaches.source IS 'complaint or interaction';
COMMENT ON COLUMN crm.complaint_sla_breaches.id IS 'complaint_id or interaction_id';
COMMENT ON COLUMN crm.complaint_sla_breaches.customer_id IS 'Customer';
COMMENT ON COLUMN crm.complaint_sla_breaches.target_name IS 'first_response, onsite or phone_wait';
COMMENT ON COLUMN crm.complaint_sla_breaches.target IS 'The time limit (settings sla_*)';
COMMENT ON COLUMN crm.complaint_sla_breaches.actual IS 'Time taken (up to now if still pending)';
COMMENT ON COLUMN crm.complaint_sla_breaches.still_open IS 'The step has not happened yet';
COMMENT ON COLUMN crm.complaint_sla_breaches.late_by IS 'actual - target';

-- ---------------------------------------------------------------------
-- Satisfaction
-- ---------------------------------------------------------------------

CREATE TABLE crm.surveys (
    survey_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES crm.customers ON DELETE CASCADE,
    surveyed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX surveys_customer ON crm.surveys (customer_id, surveyed_at);
COMMENT ON TABLE crm.surveys IS 'Satisfaction surveys; the answers per dimension are in crm.survey_answers';
SELECT pg_catalog.pg_extension_config_dump('crm.surveys', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.surveys', 'survey_id'), '');

CREATE TABLE crm.survey_answers (
    survey_id bigint NOT NULL REFERENCES crm.surveys ON DELETE CASCADE,
    dimension text NOT NULL,
    expected real NOT NULL CHECK (expected > 0 AND expected <> 'Infinity'),
    perceived real NOT NULL CHECK (perceived >= 0 AND perceived <> 'Infinity'),
    PRIMARY KEY (survey_id, dimension)
);
COMMENT ON TABLE crm.survey_answers IS 'What the customer expected and perceived on each dimension of a survey (e.g. reliability, responsiveness, price), on one scale';
SELECT pg_catalog.pg_extension_config_dump('crm.survey_answers', '');

CREATE VIEW crm.survey_scores AS
SELECT s.survey_id, s.customer_id, s.surveyed_at,
       sum(a.perceived::double precision) / sum(a.expected::double precision) AS score,
       sum(a.perceived) >= sum(a.expected) AS satisfied
FROM crm.surveys s JOIN crm.survey_answers a USING (survey_id)
GROUP BY s.survey_id;
COMMENT ON VIEW crm.survey_scores IS 'Per survey: perceived / expected over its dimensions; satisfied when perceived >= expected';
COMMENT ON COLUMN crm.survey_scores.survey_id IS 'Survey';
COMMENT ON COLUMN crm.survey_scores.customer_id IS 'Customer';
COMMENT ON COLUMN crm.survey_scores.surveyed_at IS 'When surveyed';
COMMENT ON COLUMN crm.survey_scores.score IS 'Sum of perceived / sum of expected (1 = expectations exactly met)';
COMMENT ON COLUMN crm.survey_scores.satisfied IS 'perceived >= expected';

-- loyalty from satisfaction held over the latest surveys; complaints do
-- not enter (the texts found complainers often the most loyal)
CREATE VIEW crm.customer_satisfaction AS
SELECT q.customer_id, q.surveys, q.last_score, q.satisfied_streak,
       q.satisfied_streak >= n.loyal_after AS loyal
FROM (SELECT crm.setting('loyal_after_surveys')::integer AS loyal_after OFFSET 0) n, (SELECT v.customer_id, count(*) AS surveys,
             (array_agg(v.score ORDER BY v.surveyed_at DESC, v.survey_id DESC))[1] AS last_score,
             coalesce(min(v.rank) FILTER (WHERE NOT v.satisfied) - 1, count(*)) AS satisfied_streak
      FROM (SELECT ss.*, row_number() OVER (PARTITION BY ss.customer_id ORDER BY ss.surveyed_at DESC, ss.survey_id DESC) AS rank
            FROM crm.survey_scores ss) v
      GROUP BY v.customer_id) q;
COMMENT ON VIEW crm.customer_satisfaction IS 'Per customer: surveys, last score, consecutive satisfied latest surveys, and loyal (streak >= loyal_after_surveys)';
COMMENT ON COLUMN crm.customer_satisfaction.customer_id IS 'Customer';
COMMENT ON COLUMN crm.customer_satisfaction.surveys IS 'Surveys answered';
COMMENT ON COLUMN crm.customer_satisfaction.last_score IS 'Score of the latest survey';
COMMENT ON COLUMN crm.customer_satisfaction.satisfied_streak IS 'How many of the latest surveys in a row were satisfied';
COMMENT ON COLUMN crm.customer_satisfaction.loyal IS 'Satisfaction held for loyal_after_surveys consecutive surveys';
-- ---------------------------------------------------------------------
-- The CRM in the database, part 3: scoring customers from their
-- summaries, and the daily refresh
-- ---------------------------------------------------------------------

-- scores, segment and inferred stage of the given customers as of a date,
-- from their summaries (the same expressions as the order triggers)
CREATE FUNCTION crm.score_customers(customers bigint[], as_of date)
    RETURNS bigint LANGUAGE sql
    SET search_path = pg_catalog, crm
    AS $$
    -- lock in customer order first, as the order triggers do; the UPDATE
    -- then reads the summaries as they are now
    SELECT count(*) FROM (SELECT FROM crm.customers c WHERE c.customer_id = ANY (customers)
                          ORDER BY c.customer_id FOR NO KEY UPDATE) l;
    WITH done AS (
    UPDATE crm.customers c SET
        rfm = n.r, scored_on = as_of,
        segment = CASE WHEN n.r IS NOT NULL AND crm.rfm_scale(n.cp) = 5 THEN
            crm.segment('rfm_segments', ARRAY[crm.recency_score(n.r),
                        round((crm.frequency_score(n.r) + crm.monetary_score(n.r)) / 2.0)]::float8[]) END,
        stage = n.i_stage,
        stage_reason = CASE WHEN n.i_stage OPERATOR(crm.<>) c.stage THEN n.i_reason ELSE c.stage_reason END,
        stage_since = CASE WHEN n.i_stage OPERATOR(crm.<>) c.stage THEN as_of ELSE c.stage_since END
    FROM (SELECT c2.customer_id, sc.cp, crm.rfm_score(c2.summary, sc.cp) AS r,
                 i.stage AS i_stage, i.reason AS i_reason
          FROM crm.customers c2
          CROSS JOIN (SELECT crm.setting('complaint_trend_days')::integer AS days OFFSET 0) cfg
          LEFT JOIN (SELECT crm.rebase(s.cutpoints, as_of) AS cp FROM crm.scoring s) sc ON true
          LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE k.opened_at >= as_of - cfg.days)::integer AS recent,
                                    count(*) FILTER (WHERE k.opened_at < as_of - cfg.days)::integer AS previous
                             FROM crm.complaints k
                             WHERE k.customer_id = c2.customer_id
                               AND k.opened_at >= as_of - 2 * cfg.days
                               AND k.opened_at < as_of + 1) cc ON true
          CROSS JOIN LATERAL crm.infer_stage(c2.stage, c2.summary, as_of,
                                             complaints_recent => cc.recent, complaints_previous => cc.previous,
                                             stage_since => c2.stage_since) i
          WHERE c2.customer_id = ANY (customers)
          OFFSET 0) n
    WHERE c.customer_id = n.customer_id
    RETURNING 1)
    SELECT count(*) FROM done $$;
COMMENT ON FUNCTION crm.score_customers(bigint[], date) IS
    'Rescore the given customers as of a date: RFM against the stored cutpoints, segment, and the stage inferred from purchases and the complaints trend';
REVOKE ALL ON FUNCTION crm.score_customers(bigint[], date) FROM PUBLIC;

-- ---------------------------------------------------------------------
-- The daily refresh
-- ---------------------------------------------------------------------

CREATE PROCEDURE crm.refresh(as_of date DEFAULT NULL, batch_size integer DEFAULT 10000,
                             fit_model boolean DEFAULT false, commit_batches boolean DEFAULT true)
    LANGUAGE plpgsql
    -- no SET clause: a procedure with one cannot COMMIT; the body pins
    -- search_path itself after every COMMIT
    AS $$
DECLARE
    day date := coalesce(as_of, crm.business_date());
    cp crm.rfm_cutpoints;
    m crm.btyd_model;
    last_id bigint := NULL;
    ids bigint[];
    caller_path text := pg_catalog.current_setting('search_path');
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, crm', true);
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = '22023';
    END IF;
    -- population figures: one pass over the summaries (no row locks)
    SELECT crm.rfm_quantiles(c.summary, day) INTO cp FROM crm.customers c WHERE c.summary IS NOT NULL;
    IF fit_model THEN
        EXECUTE format('SELECT crm.fit_%s(c.summary, $1, $2::interval) FROM crm.customers c WHERE crm.first_purchase(c.summary) <= $1',
                       crm.setting('btyd_model'))
            INTO m USING day, crm.setting('btyd_unit');
    ELSE
        SELECT s.model INTO m FROM crm.scoring s;
    END IF;
    IF cp IS NOT NULL THEN
        INSERT INTO crm.scoring (singleton, cutpoints, model, refreshed_at) VALUES (true, cp, m, now())
        ON CONFLICT (singleton) DO UPDATE SET cutpoints = excluded.cutpoints, model = excluded.model,
                                              refreshed_at = excluded.refreshed_at;
    END IF;
    IF commit_batches THEN
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, crm', true);
    END IF;
    -- customers in batches, each its own transaction: locks are held on
    -- one batch at a time, taken in customer order like the triggers'
    LOOP
        SELECT array_agg(customer_id ORDER BY customer_id) INTO ids
        FROM (SELECT c.customer_id FROM crm.customers c
              WHERE c.customer_id > coalesce(last_id, -9223372036854775808)
              ORDER BY c.customer_id LIMIT batch_size) b;
        EXIT WHEN ids IS NULL;
        PERFORM pg_catalog.set_config('crm.change_source', 'inference', true);
        PERFORM crm.score_customers(ids, day);
        last_id := ids[cardinality(ids)];
        IF commit_batches THEN
            COMMIT;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, crm', true);
        END IF;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
END $$;
COMMENT ON PROCEDURE crm.refresh(date, integer, boolean, boolean) IS
    'Recompute everything time-dependent as of a date (default the business date): RFM cutpoints, then every customer''s RFM score, segment and inferred stage in batches of batch_size, committing after each (call it outside a transaction block, or with commit_batches => false); fit_model => true also refits the P(alive) model';
-- ---------------------------------------------------------------------
-- The CRM in the database, part 4: views for BI, roles, row-level
-- security
-- ---------------------------------------------------------------------

CREATE FUNCTION crm.purchase_history(s crm.summary, OUT day date, OUT purchases integer, OUT amount numeric)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'summary_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
COMMENT ON FUNCTION crm.purchase_history(crm.summary) IS
    'The summary''s days as rows, oldest first: day, purchases (0 on a refund-only day) and net amount';

CREATE VIEW crm.customer_360 AS
SELECT c.customer_id, c.name, c.kind, c.customer_class, c.service_level, c.account_manager, c.marketing_opt_out,
       crm.first_purchase(c.summary) AS first_purchase,
       crm.last_purchase(c.summary) AS last_purchase,
       coalesce(crm.purchase_days(c.summary), 0) AS purchase_days,
       coalesce(crm.total_spend(c.summary), 0) AS total_spend,
       c.rfm, c.segment, c.scored_on, c.stage, c.stage_since, c.stage_reason, c.level, t.target_level,
       CASE WHEN crm.first_purchase(c.summary) <= d.as_of
            THEN round(crm.p_alive(sc.model, c.summary, d.as_of)::numeric, 4) END AS p_alive,
       li.occurred_at AS last_interaction_at, li.channel AS last_interaction_channel,
       coalesce(oc.open_complaints, 0) AS open_complaints,
       round(cs.last_score::numeric, 4) AS last_satisfaction_score, coalesce(cs.loyal, false) AS loyal,
       c.churn_reason
FROM crm.customers c
-- settings and the business date read once, not per row (OFFSET 0 keeps
-- the planner from copying the calls into every row)
CROSS JOIN (SELECT crm.business_date() AS as_of OFFSET 0) d
LEFT JOIN crm.level_targets t USING (customer_class)
LEFT JOIN crm.scoring sc ON true
LEFT JOIN LATERAL (SELECT i.occurred_at, i.channel FROM crm.interactions i
                   WHERE i.customer_id = c.customer_id ORDER BY i.occurred_at DESC LIMIT 1) li ON true
LEFT JOIN LATERAL (SELECT count(*) AS open_complaints FROM crm.complaints k
                   WHERE k.customer_id = c.customer_id AND k.resolved_at IS NULL) oc ON true
LEFT JOIN crm.customer_satisfaction cs USING (customer_id);
COMMENT ON VIEW crm.customer_360 IS 'One row per customer: identity, purchases, scores, segment, stage, level, last interaction, open complaints, satisfaction';
COMMENT ON COLUMN crm.customer_360.customer_id IS 'Customer';
COMMENT ON COLUMN crm.customer_360.name IS 'Name';
COMMENT ON COLUMN crm.customer_360.kind IS 'consumer, intermediary, internal or public';
COMMENT ON COLUMN crm.customer_360.customer_class IS 'Class for level targets (residential, general, large, important)';
COMMENT ON COLUMN crm.customer_360.service_level IS 'vip, professional or ordinary';
COMMENT ON COLUMN crm.customer_360.account_manager IS 'Account manager role';
COMMENT ON COLUMN crm.customer_360.marketing_opt_out IS 'No marketing';
COMMENT ON COLUMN crm.customer_360.first_purchase IS 'First purchase day';
COMMENT ON COLUMN crm.customer_360.last_purchase IS 'Last purchase day';
COMMENT ON COLUMN crm.customer_360.purchase_days IS 'Days with purchases';
COMMENT ON COLUMN crm.customer_360.total_spend IS 'Net spend, refunds deducted';
COMMENT ON COLUMN crm.customer_360.rfm IS 'RFM score (last order or refresh)';
COMMENT ON COLUMN crm.customer_360.segment IS 'RFM segment';
COMMENT ON COLUMN crm.customer_360.scored_on IS 'Business date of the scores';
COMMENT ON COLUMN crm.customer_360.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.customer_360.stage_since IS 'Since when';
COMMENT ON COLUMN crm.customer_360.stage_reason IS 'Why the stage last changed';
COMMENT ON COLUMN crm.customer_360.level IS 'Relationship level';
COMMENT ON COLUMN crm.customer_360.target_level IS 'Target level of the customer''s class';
COMMENT ON COLUMN crm.customer_360.p_alive IS 'Probability the customer is still active (the model of the last crm.refresh(fit_model => true)); NULL without a model';
COMMENT ON COLUMN crm.customer_360.last_interaction_at IS 'Latest interaction';
COMMENT ON COLUMN crm.customer_360.last_interaction_channel IS 'Its channel';
COMMENT ON COLUMN crm.customer_360.open_complaints IS 'Complaints not resolved yet';
COMMENT ON COLUMN crm.customer_360.last_satisfaction_score IS 'Perceived / expected in the latest survey';
COMMENT ON COLUMN crm.customer_360.loyal IS 'Satisfied in loyal_after_surveys consecutive latest surveys';
COMMENT ON COLUMN crm.customer_360.churn_reason IS 'Why the customer left, if recorded';

-- KPIs per calendar month.  A customer is active in a month with a purchase
-- day in it; retention is the share of last month's active customers active
-- again this month, churn its complement.
CREATE VIEW crm.kpis AS
WITH days AS (
    SELECT c.customer_id, h.day, h.purchases, h.amount, crm.first_purchase(c.summary) AS first_day
    FROM crm.customers c CROSS JOIN LATERAL crm.purchase_history(c.summary) h
),
active AS (
    SELECT d.customer_id, date_trunc('month', d.day)::date AS month,
           bool_or(d.first_day < date_trunc('month', d.day)::date) AS bought_before
    FROM days d WHERE d.purchases > 0 GROUP BY 1, 2
),
sales AS (
    SELECT date_trunc('month', d.day)::date AS month, sum(d.amount) AS revenue, sum(d.purchases) AS orders
    FROM days d GROUP BY 1
),
monthly AS (
    SELECT a.month, count(*) AS active_customers,
           count(*) FILTER (WHERE a.bought_before) AS returning_customers,
           count(p.customer_id) AS retained_customers
    FROM active a LEFT JOIN active p ON p.customer_id = a.customer_id AND p.month = (a.month - interval '1 month')::date
    GROUP BY a.month
),
complaints AS (
    SELECT date_trunc('month', k.opened_at)::date AS month, count(*) AS opened,
           count(*) FILTER (WHERE k.first_response_at - k.opened_at <= s.first_response) AS answered_in_time
    FROM crm.complaints k CROSS JOIN (SELECT crm.setting('sla_first_response')::interval AS first_response OFFSET 0) s
    GROUP BY 1
),
surveys AS (
    SELECT date_trunc('month', s.surveyed_at)::date AS month, avg(s.score) AS score
    FROM crm.survey_scores s GROUP BY 1
)
SELECT m.month, m.active_customers,
       round(m.retained_customers::numeric / nullif(prev.active_customers, 0), 4) AS retention_rate,
       round(1 - m.retained_customers::numeric / nullif(prev.active_customers, 0), 4) AS churn_rate,
       round(m.returning_customers::numeric / m.active_customers, 4) AS repeat_purchase_rate,
       round(s.revenue / nullif(s.orders, 0), 2) AS average_order_value,
       s.revenue,
       coalesce(k.opened, 0) AS complaints,
       round(k.answered_in_time::numeric / nullif(k.opened, 0), 4) AS complaints_within_sla,
       round((100 * v.score)::numeric, 1) AS satisfaction_index
FROM monthly m
LEFT JOIN monthly prev ON prev.month = (m.month - interval '1 month')::date
LEFT JOIN sales s ON s.month = m.month
LEFT JOIN complaints k ON k.month = m.month
LEFT JOIN surveys v ON v.month = m.month;
COMMENT ON VIEW crm.kpis IS 'KPIs per calendar month, from the maintained summaries, complaints and surveys (filter on month)';
COMMENT ON COLUMN crm.kpis.month IS 'First day of the month';
COMMENT ON COLUMN crm.kpis.active_customers IS 'Customers with a purchase day in the month';
COMMENT ON COLUMN crm.kpis.retention_rate IS 'Share of the previous month''s active customers active again this month';
COMMENT ON COLUMN crm.kpis.churn_rate IS '1 - retention_rate';
COMMENT ON COLUMN crm.kpis.repeat_purchase_rate IS 'Share of the month''s active customers who had bought before the month';
COMMENT ON COLUMN crm.kpis.average_order_value IS 'Net revenue / purchase transactions in the month';
COMMENT ON COLUMN crm.kpis.revenue IS 'Net revenue of the month (refunds deducted)';
COMMENT ON COLUMN crm.kpis.complaints IS 'Complaints opened in the month';
COMMENT ON COLUMN crm.kpis.complaints_within_sla IS 'Share of them answered within sla_first_response';
COMMENT ON COLUMN crm.kpis.satisfaction_index IS '100 x mean survey score (perceived / expected) of the month';

CREATE VIEW crm.churn_watch AS
SELECT c.customer_id, c.name, c.account_manager, c.stage, c.stage_reason, c.segment,
       crm.days_since_last_purchase(c.summary, d.as_of) AS days_since_last_purchase,
       coalesce(crm.total_spend(c.summary), 0) AS total_spend,
       CASE WHEN crm.first_purchase(c.summary) <= d.as_of
            THEN round(crm.p_alive(sc.model, c.summary, d.as_of)::numeric, 4) END AS p_alive,
       (SELECT count(*) FROM crm.complaints k
        WHERE k.customer_id = c.customer_id
          AND k.opened_at >= d.as_of - d.trend_days) AS recent_complaints
FROM crm.customers c
CROSS JOIN (SELECT crm.business_date() AS as_of, crm.setting('complaint_trend_days')::integer AS trend_days OFFSET 0) d
LEFT JOIN crm.scoring sc ON true
WHERE c.stage OPERATOR(crm.=) 'decline'
   OR ((c.stage OPERATOR(crm.=) 'formation' OR c.stage OPERATOR(crm.=) 'stable') AND crm.first_purchase(c.summary) <= d.as_of
       AND crm.p_alive(sc.model, c.summary, d.as_of) < 0.5);
COMMENT ON VIEW crm.churn_watch IS 'Customers at risk: in decline, or formation/stable with P(alive) < 0.5 under the stored model';
COMMENT ON COLUMN crm.churn_watch.customer_id IS 'Customer';
COMMENT ON COLUMN crm.churn_watch.name IS 'Name';
COMMENT ON COLUMN crm.churn_watch.account_manager IS 'Account manager role';
COMMENT ON COLUMN crm.churn_watch.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.churn_watch.stage_reason IS 'Why the stage last changed (the decline signal)';
COMMENT ON COLUMN crm.churn_watch.segment IS 'RFM segment';
COMMENT ON COLUMN crm.churn_watch.days_since_last_purchase IS 'Days since the last purchase, on the business date';
COMMENT ON COLUMN crm.churn_watch.total_spend IS 'Net spend';
COMMENT ON COLUMN crm.churn_watch.p_alive IS 'P(alive) under the stored model; NULL without one';
COMMENT ON COLUMN crm.churn_watch.recent_complaints IS 'Complaints in the last complaint_trend_days days';

-- ---------------------------------------------------------------------
-- Roles.  Roles are cluster-wide: they are created if missing and kept by
-- DROP EXTENSION (other databases may use them); drop them by hand.
-- ---------------------------------------------------------------------
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['crm_reader', 'crm_writer', 'crm_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $$;
GRANT crm_reader TO crm_writer;
GRANT crm_writer TO crm_admin;

-- readers: everything in crm, read-only
GRANT SELECT ON ALL TABLES IN SCHEMA crm TO crm_reader;
-- writers: orders, interactions, complaints, surveys; customers' record
GRANT INSERT, UPDATE, DELETE ON crm.orders, crm.interactions, crm.complaints, crm.surveys, crm.survey_answers TO crm_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO crm_writer;
GRANT INSERT (customer_id, name, kind, customer_class, service_level, account_manager, marketing_opt_out, stage, level)
    ON crm.customers TO crm_writer;
GRANT UPDATE (name, kind, service_level, marketing_opt_out, churn_reason, stage, stage_reason, level)
    ON crm.customers TO crm_writer;
-- admins: configuration, attaching tables, refresh, overrides
GRANT INSERT, UPDATE, DELETE ON crm.settings, crm.stage_thresholds, crm.level_targets,
    crm.segment_schemes, crm.segment_labels, crm.segment_cells, crm.segment_rules,
    crm.complaint_categories, crm.churn_reasons, crm.customer_segments TO crm_admin;
GRANT UPDATE, DELETE ON crm.customers TO crm_admin;
GRANT INSERT, UPDATE, DELETE ON crm.tracked_tables, crm.scoring, crm.stage_history TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.track_orders_trigger(), crm.install_tracking(regclass, name, name, name, text, text),
    crm.rescore(bigint[], text, integer), crm.score_customers(bigint[], date),
    crm.override_stage(bigint, crm.stage, text) TO crm_admin;
GRANT EXECUTE ON PROCEDURE crm.rebuild_summaries() TO crm_admin;
-- crm.refresh writes every customer: admins only
REVOKE ALL ON PROCEDURE crm.refresh(date, integer, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE crm.refresh(date, integer, boolean, boolean) TO crm_admin;

-- ---------------------------------------------------------------------
-- Row-level security: a role named as some customer's account manager
-- sees, and writes, only its own customers; every other role sees all.
-- ---------------------------------------------------------------------
-- SECURITY DEFINER so that they read crm.customers past its own policy
-- (a policy querying its own table would recurse); the role is passed in
-- because inside them current_user is the owner.  They answer only for
-- roles the session's login role belongs to.
CREATE FUNCTION crm.is_account_manager(role name) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT pg_has_role(session_user, role, 'MEMBER')
                 AND EXISTS (SELECT FROM crm.customers c WHERE c.account_manager = role) $$;
COMMENT ON FUNCTION crm.is_account_manager(name) IS
    'Whether the role (one the session''s login role belongs to) is some customer''s account manager; row-level security then limits it to those customers';

CREATE FUNCTION crm.managed_customers(role name) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT c.customer_id FROM crm.customers c
          WHERE c.account_manager = role AND pg_has_role(session_user, role, 'MEMBER') $$;
COMMENT ON FUNCTION crm.managed_customers(name) IS 'The customers the role (one the session''s login role belongs to) manages';

ALTER TABLE crm.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_manager ON crm.customers
    USING (NOT (SELECT crm.is_account_manager(current_user)) OR account_manager = current_user);
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['orders', 'interactions', 'complaints', 'surveys'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE crm.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY account_manager ON crm.%I USING (NOT (SELECT crm.is_account_manager(current_user)) '
            'OR customer_id IN (SELECT crm.managed_customers(current_user)))', t);
    END LOOP;
END $$;

-- views check the reader's own privileges and policies, not the owner's
DO $$
DECLARE
    v regclass;
BEGIN
    FOR v IN SELECT c.oid FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v' LOOP
        EXECUTE pg_catalog.format('ALTER VIEW %s SET (security_invoker = true)', v);
    END LOOP;
END $$;
