-- ---------------------------------------------------------------------
-- Probabilistic models: BG/NBD, Pareto/NBD, MBG/NBD, BG/BB, Gamma-Gamma
-- (src/btyd.c, src/btyd_fit.c over src/btyd_kernel.c)
--
-- In 0.4.0 crm.btyd_model became a varlena (standard errors, covariates,
-- the calibration end); ALTER EXTENSION crm UPDATE from 0.3.0 runs this
-- whole piece again after sql/upgrade/0.4.0.sql has moved the 0.3.0
-- objects aside, and sql/upgrade/0.4.0-finish.sql converts the stored
-- models (see the Makefile).
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
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE crm.btyd_model IS
    'A fitted (or given) buy-till-you-die model: bgnbd, pareto_nbd, mbgnbd, bgbb or gamma_gamma, its parameters, covariate coefficients, fit and covariance';

CREATE FUNCTION crm.param(m crm.btyd_model, name text) RETURNS double precision
    AS 'MODULE_PATHNAME', 'btyd_model_param' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.param(crm.btyd_model, text) IS
    'A model parameter by name: r, alpha, a, b (bgnbd, mbgnbd); r, alpha, s, beta (pareto_nbd); alpha, beta, gamma, delta (bgbb); p, q, v (gamma_gamma); covariate coefficients trans_1, ..., dropout_1, ...';
CREATE FUNCTION crm.std_error(m crm.btyd_model, name text) RETURNS double precision
    AS 'MODULE_PATHNAME', 'btyd_model_std_error' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.std_error(crm.btyd_model, text) IS
    'Standard error of a parameter or coefficient, from the Hessian of the log-likelihood at the optimum; NULL for a model without covariance';
CREATE FUNCTION crm.vcov(m crm.btyd_model) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'btyd_model_vcov' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.vcov(crm.btyd_model) IS
    'Covariance matrix of the parameters and covariate coefficients, in the order of crm.estimates(); NULL for a model without one';
CREATE FUNCTION crm.estimates(m crm.btyd_model, level double precision DEFAULT 0.95,
                              OUT parameter text, OUT estimate double precision, OUT std_error double precision,
                              OUT lower double precision, OUT upper double precision)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'btyd_model_estimates' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 6;
COMMENT ON FUNCTION crm.estimates(crm.btyd_model, double precision) IS
    'Every parameter and covariate coefficient with its standard error and the interval of the given level (log scale for the positive parameters); the last three NULL without a covariance';
CREATE FUNCTION crm.model_kind(m crm.btyd_model) RETURNS text
    AS 'MODULE_PATHNAME', 'btyd_model_kind' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.model_kind(crm.btyd_model) IS 'bgnbd, pareto_nbd, mbgnbd, bgbb or gamma_gamma';
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
CREATE FUNCTION crm.calibration_end(m crm.btyd_model) RETURNS date
    AS 'MODULE_PATHNAME', 'btyd_model_calibration_end' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.calibration_end(crm.btyd_model) IS
    'The as_of date of a model fitted on summaries (the end of its calibration period); NULL otherwise';

-- fit aggregates: one state (distinct inputs with weights), one final function per model
CREATE FUNCTION crm.btyd_accum(crm.agg_state, integer, double precision, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_triple_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(crm.agg_state, integer, double precision, double precision, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_triple_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(crm.agg_state, integer, double precision, double precision, double precision, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_triple_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(crm.agg_state, crm.summary, date, interval) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(crm.agg_state, crm.summary, date, interval, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(crm.agg_state, integer, double precision, double precision, double precision[], double precision[]) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_covariates_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(crm.agg_state, integer, double precision, double precision, double precision[], double precision[],
                               double precision, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_covariates_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(crm.agg_state, crm.summary, date, interval, double precision[], double precision[]) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_covariates_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum(crm.agg_state, crm.summary, date, interval, double precision[], double precision[], double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_covariates_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_discrete(crm.agg_state, integer, integer, integer) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_discrete_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_discrete(crm.agg_state, integer, integer, integer, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_discrete_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_discrete(crm.agg_state, integer, integer, integer, double precision, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_discrete_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_discrete(crm.agg_state, crm.summary, date, interval) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_discrete_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_discrete(crm.agg_state, crm.summary, date, interval, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_discrete_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(crm.agg_state, integer, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_spend_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(crm.agg_state, integer, double precision, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_spend_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(crm.agg_state, integer, double precision, double precision, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_spend_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(crm.agg_state, crm.summary, date) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_spend_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_accum_spend(crm.agg_state, crm.summary, date, double precision) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_accum_summary_spend_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_fit_combine(crm.agg_state, crm.agg_state) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_fit_combine_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_final_bgnbd(crm.agg_state) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_final_bgnbd_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_final_pareto_nbd(crm.agg_state) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_final_pareto_nbd_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_final_mbgnbd(crm.agg_state) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_final_mbgnbd_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_final_bgbb(crm.agg_state) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_final_bgbb_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_final_gamma_gamma(crm.agg_state) RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_final_gamma_gamma_state' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The aggregates differ only in their final function and input forms, so
-- they are declared from one list.
DO $$
DECLARE
    model record;
    form record;
BEGIN
    FOR model IN SELECT * FROM (VALUES
            ('bgnbd', 'BG/NBD (Fader, Hardie & Lee 2005)', 'count'),
            ('pareto_nbd', 'Pareto/NBD (Schmittlein, Morrison & Colombo 1987)', 'count'),
            ('mbgnbd', 'MBG/NBD (Batislam, Denizel & Filiztekin 2007)', 'count'),
            ('bgbb', 'BG/BB (Fader, Hardie & Shang 2010), discrete opportunities', 'discrete'),
            ('gamma_gamma', 'Gamma-Gamma spend model (Fader, Hardie & Lee 2005), customers with x > 0', 'spend'))
            AS m(name, title, family)
    LOOP
        FOR form IN SELECT * FROM (VALUES
                ('count', 'btyd_accum', 'x integer, t_x double precision, "T" double precision', 'per customer (x, t_x, T)'),
                ('count', 'btyd_accum', 'x integer, t_x double precision, "T" double precision, weight double precision', 'per group of weight customers'),
                ('count', 'btyd_accum', 'x integer, t_x double precision, "T" double precision, weight double precision, penalty double precision', 'per group, with an L2 penalty'),
                ('count', 'btyd_accum', 's crm.summary, as_of date, unit interval', 'from summaries, calibration period ending on as_of'),
                ('count', 'btyd_accum', 's crm.summary, as_of date, unit interval, penalty double precision', 'from summaries, with an L2 penalty'),
                ('count', 'btyd_accum', 'x integer, t_x double precision, "T" double precision, trans double precision[], dropout double precision[]',
                 'per customer with time-invariant covariates of the purchase and dropout processes'),
                ('count', 'btyd_accum', 'x integer, t_x double precision, "T" double precision, trans double precision[], dropout double precision[], weight double precision, penalty double precision',
                 'per group with covariates, with an L2 penalty'),
                ('count', 'btyd_accum', 's crm.summary, as_of date, unit interval, trans double precision[], dropout double precision[]',
                 'from summaries, with covariates'),
                ('count', 'btyd_accum', 's crm.summary, as_of date, unit interval, trans double precision[], dropout double precision[], penalty double precision',
                 'from summaries, with covariates and an L2 penalty'),
                ('discrete', 'btyd_accum_discrete', 'x integer, t_x integer, n integer', 'per customer (x, t_x, n)'),
                ('discrete', 'btyd_accum_discrete', 'x integer, t_x integer, n integer, weight double precision', 'per group of weight customers'),
                ('discrete', 'btyd_accum_discrete', 'x integer, t_x integer, n integer, weight double precision, penalty double precision', 'per group, with an L2 penalty'),
                ('discrete', 'btyd_accum_discrete', 's crm.summary, as_of date, period interval', 'from summaries, opportunities of one period counted back from as_of, those after the first purchase'),
                ('discrete', 'btyd_accum_discrete', 's crm.summary, as_of date, period interval, penalty double precision', 'from summaries, with an L2 penalty'),
                ('spend', 'btyd_accum_spend', 'x integer, mean_spend double precision', 'per customer (x, mean repeat spend)'),
                ('spend', 'btyd_accum_spend', 'x integer, mean_spend double precision, weight double precision', 'per group of weight customers'),
                ('spend', 'btyd_accum_spend', 'x integer, mean_spend double precision, weight double precision, penalty double precision', 'per group, with an L2 penalty'),
                ('spend', 'btyd_accum_spend', 's crm.summary, as_of date', 'from summaries, calibration period ending on as_of'),
                ('spend', 'btyd_accum_spend', 's crm.summary, as_of date, penalty double precision', 'from summaries, with an L2 penalty'))
                AS f(family, sfunc, args, what)
            WHERE f.family = model.family
        LOOP
            EXECUTE format('CREATE AGGREGATE crm.fit_%s(%s) (
                SFUNC = crm.%s, STYPE = crm.agg_state, SSPACE = 1024,
                FINALFUNC = crm.btyd_final_%s,
                COMBINEFUNC = crm.btyd_fit_combine,
                PARALLEL = SAFE)', model.name, form.args, form.sfunc, model.name);
            EXECUTE format('COMMENT ON AGGREGATE crm.fit_%s(%s) IS %L', model.name,
                           regexp_replace(form.args, '(^|, )[a-zA-Z_"]+ ', '\1', 'g'),
                           'Maximum-likelihood fit of the ' || model.title || ', ' || form.what
                           || ', with standard errors (crm.standard_errors)');
        END LOOP;
    END LOOP;
END $$;

-- predictions
CREATE FUNCTION crm.p_alive(m crm.btyd_model, x integer, t_x double precision, "T" double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'p_alive' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_alive(crm.btyd_model, integer, double precision, double precision) IS
    'Probability that a customer with (x, t_x, T) is still alive at T (bgbb: at the next opportunity)';
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
    'Expected repeat purchases in the next t time units (bgbb: opportunities) of a customer with (x, t_x, T)';
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

CREATE FUNCTION crm.expected_purchases_interval(m crm.btyd_model, t double precision, x integer,
                                                t_x double precision, "T" double precision,
                                                level double precision DEFAULT 0.95,
                                                OUT expected double precision, OUT std_error double precision,
                                                OUT lower double precision, OUT upper double precision)
    AS 'MODULE_PATHNAME', 'expected_purchases_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_purchases_interval(crm.btyd_model, double precision, integer, double precision, double precision, double precision) IS
    'Expected repeat purchases in the next t units with the standard error and interval that the uncertainty of the parameters gives it (delta method, interval on the log scale); the last three NULL for a model without covariance';
CREATE FUNCTION crm.expected_purchases_interval(m crm.btyd_model, t double precision, s crm.summary, as_of date,
                                                level double precision DEFAULT 0.95,
                                                OUT expected double precision, OUT std_error double precision,
                                                OUT lower double precision, OUT upper double precision)
    AS 'MODULE_PATHNAME', 'expected_purchases_interval_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_purchases_interval(crm.btyd_model, double precision, crm.summary, date, double precision) IS
    'Expected repeat purchases in the t model time units after as_of with standard error and interval (delta method); NULL if no purchase by then';

CREATE FUNCTION crm.p_purchases(m crm.btyd_model, t double precision, k integer)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'p_purchases_new' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_purchases(crm.btyd_model, double precision, integer) IS
    'P(X(t) = k): probability that a newly acquired customer makes exactly k repeat purchases in t time units';
CREATE FUNCTION crm.p_purchases(m crm.btyd_model, t double precision, k integer, x integer,
                                t_x double precision, "T" double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'p_purchases' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_purchases(crm.btyd_model, double precision, integer, integer, double precision, double precision) IS
    'Probability that a customer with (x, t_x, T) makes exactly k repeat purchases in the next t time units';
CREATE FUNCTION crm.p_purchases(m crm.btyd_model, t double precision, k integer, s crm.summary, as_of date)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'p_purchases_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_purchases(crm.btyd_model, double precision, integer, crm.summary, date) IS
    'Probability that the customer makes exactly k repeat purchases in the t model time units after as_of; NULL if no purchase by then';
CREATE FUNCTION crm.p_no_purchase(m crm.btyd_model, t double precision, x integer,
                                  t_x double precision, "T" double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'p_no_purchase' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_no_purchase(crm.btyd_model, double precision, integer, double precision, double precision) IS
    'Probability that a customer with (x, t_x, T) makes no purchase in the next t time units';
CREATE FUNCTION crm.p_no_purchase(m crm.btyd_model, t double precision, s crm.summary, as_of date)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'p_no_purchase_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_no_purchase(crm.btyd_model, double precision, crm.summary, date) IS
    'Probability that the customer makes no purchase in the t model time units after as_of; NULL if no purchase by then';

CREATE FUNCTION crm.with_covariates(m crm.btyd_model, trans double precision[], dropout double precision[])
    RETURNS crm.btyd_model
    AS 'MODULE_PATHNAME', 'btyd_with_covariates' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.with_covariates(crm.btyd_model, double precision[], double precision[]) IS
    'The model of one customer with these covariates (its own alpha and dropout parameters, with their covariance), for the predictions';

CREATE FUNCTION crm.expected_spend(m crm.btyd_model, x integer, mean_spend double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'expected_spend' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_spend(crm.btyd_model, integer, double precision) IS
    'Gamma-Gamma expected mean spend per purchase of a customer with x repeat purchases of mean mean_spend; NULL where the mean is infinite (p x + q <= 1)';
CREATE FUNCTION crm.expected_spend(m crm.btyd_model, s crm.summary, as_of date)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'expected_spend_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_spend(crm.btyd_model, crm.summary, date) IS
    'Gamma-Gamma expected mean spend per purchase of the customer as of as_of; NULL if no purchase by then or the mean is infinite';

CREATE FUNCTION crm.expected_clv(m crm.btyd_model, spend crm.btyd_model, s crm.summary, as_of date,
                                 periods integer, discount_rate double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'expected_clv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_clv(crm.btyd_model, crm.btyd_model, crm.summary, date, integer, double precision) IS
    'Expected revenue of the next periods model time units: per unit, expected purchases times expected spend, discounted at discount_rate per unit; NULL if the expected spend is infinite';
