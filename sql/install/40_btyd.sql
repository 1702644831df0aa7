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
