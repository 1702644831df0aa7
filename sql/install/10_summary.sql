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
-- The operators live in pg_catalog, not crm: a client with any search_path
-- (a BI tool's default) can then write WHERE x = 'literal'.
CREATE OPERATOR pg_catalog.= (
    LEFTARG = crm.summary, RIGHTARG = crm.summary, PROCEDURE = crm.summary_eq,
    COMMUTATOR = OPERATOR(pg_catalog.=), NEGATOR = OPERATOR(pg_catalog.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel
);
CREATE OPERATOR pg_catalog.<> (
    LEFTARG = crm.summary, RIGHTARG = crm.summary, PROCEDURE = crm.summary_ne,
    COMMUTATOR = OPERATOR(pg_catalog.<>), NEGATOR = OPERATOR(pg_catalog.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);

-- aggregate support
CREATE FUNCTION crm.summary_accum(internal, date, numeric) RETURNS internal
    AS 'MODULE_PATHNAME', 'summary_accum_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.summary_accum(internal, date, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'summary_accum_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
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

-- The merge of summaries is a global aggregate too (all of a company's
-- partial summaries), so its state is crm.agg_state (08_agg_state.sql):
-- it splits across Citus workers.  The forms over orders above run per
-- customer and keep internal.
CREATE FUNCTION crm.summary_state_accum(crm.agg_state, crm.summary) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'summary_state_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.summary_state_combine(crm.agg_state, crm.agg_state) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'summary_state_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.summary_state_final(crm.agg_state) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_state_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE crm.summarize(crm.summary) (
    SFUNC = crm.summary_state_accum, STYPE = crm.agg_state, SSPACE = 96,
    FINALFUNC = crm.summary_state_final,
    COMBINEFUNC = crm.summary_state_combine,
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

CREATE FUNCTION crm.purchase_history(s crm.summary, OUT day date, OUT purchases integer, OUT amount numeric)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'summary_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
COMMENT ON FUNCTION crm.purchase_history(crm.summary) IS
    'The summary''s days as rows, oldest first: day, purchases (0 on a refund-only day) and net amount';

CREATE FUNCTION crm.subtract(a crm.summary, b crm.summary) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_subtract' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.subtract(crm.summary, crm.summary) IS
    'Take the transactions of b out of a (the inverse of merge); an error if a does not hold them';

CREATE FUNCTION crm.apply_changes(s crm.summary, added crm.summary, removed crm.summary) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_apply_changes_fn' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.apply_changes(crm.summary, crm.summary, crm.summary) IS
    'subtract(merge(s, added), removed), NULL when nothing is left: one customer''s orders written in one statement';

-- sealed summaries: the older days of a long history known by their exact
-- totals (src/summary_kernel.c, "Sealed histories"); the order trigger
-- keeps the days themselves in crm.summary_blocks
CREATE FUNCTION crm.seal(s crm.summary, through date) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_seal_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.seal(crm.summary, date) IS
    'The summary with its days on or before through kept as exact totals only: it answers every question as of through or later';

CREATE FUNCTION crm.sealed_through(s crm.summary) RETURNS date
    AS 'MODULE_PATHNAME', 'summary_sealed_through' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.sealed_through(crm.summary) IS
    'The seal date of a sealed summary; NULL when every day is in it';

CREATE FUNCTION crm.seal_point(s crm.summary, as_of date) RETURNS date
    AS 'MODULE_PATHNAME', 'summary_seal_point_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.seal_point(crm.summary, date) IS
    'The date through which the order trigger seals this summary on the business date as_of (beyond 64 days, or 16 after a seal, all but the newest 4, none after as_of); NULL when it leaves it as it is';

CREATE FUNCTION crm.unseal(s crm.summary, sealed_days crm.summary) RETURNS crm.summary
    AS 'MODULE_PATHNAME', 'summary_unseal' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.unseal(crm.summary, crm.summary) IS
    'The full summary of a sealed one, given the days it sealed; an error unless they add up to its sealed totals';

CREATE FUNCTION crm.split_by_month(s crm.summary, OUT month date, OUT days crm.summary)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'summary_split_by_month' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION crm.split_by_month(crm.summary) IS
    'The days of a summary that is not sealed, one summary per calendar month (first day of the month), oldest first';

CREATE FUNCTION crm.round_float(value double precision, places integer) RETURNS numeric
    AS 'MODULE_PATHNAME', 'crm_round_float' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.round_float(double precision, integer) IS
    'round(value::numeric, places): the same numeric, without the round trip through text (the views show probabilities with it)';
