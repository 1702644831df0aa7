-- ---------------------------------------------------------------------
-- Predictions you can check: calibration and holdout figures per
-- customer, and the validation report of a fitted model
-- (src/btyd_validation.c)
-- ---------------------------------------------------------------------

CREATE FUNCTION crm.calibration_holdout(s crm.summary, split date, holdout_end date, unit interval DEFAULT '1 day',
                                        OUT x integer, OUT t_x double precision, OUT "T" double precision,
                                        OUT holdout_purchases integer, OUT holdout_length double precision)
    AS 'MODULE_PATHNAME', 'calibration_holdout' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.calibration_holdout(crm.summary, date, date, interval) IS
    'The customer''s calibration triple (x, t_x, T) as of split and the repeat purchase days in (split, holdout_end] with the holdout''s length, in units; NULL if no purchase by split';

CREATE FUNCTION crm.btyd_validate_accum(crm.agg_state, crm.btyd_model, crm.summary, date, date) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_validate_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_validate_accum(crm.agg_state, crm.btyd_model, crm.summary, date, date, interval) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_validate_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_validate_combine(crm.agg_state, crm.agg_state) RETURNS crm.agg_state
    AS 'MODULE_PATHNAME', 'btyd_validate_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION crm.btyd_validate_final(crm.agg_state) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'btyd_validate_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE crm.validate(m crm.btyd_model, s crm.summary, split date, holdout_end date) (
    SFUNC = crm.btyd_validate_accum, STYPE = crm.agg_state, SSPACE = 4096,
    FINALFUNC = crm.btyd_validate_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = crm.btyd_validate_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE crm.validate(crm.btyd_model, crm.summary, date, date) IS
    'Validation report (jsonb) of a model fitted on summaries against the holdout (split, holdout_end]: totals, mean absolute error, AUC, by calibration frequency, weekly tracking; read it with crm.validation_summary, crm.validation_by_frequency and crm.validation_tracking';
CREATE AGGREGATE crm.validate(m crm.btyd_model, s crm.summary, split date, holdout_end date, step interval) (
    SFUNC = crm.btyd_validate_accum, STYPE = crm.agg_state, SSPACE = 4096,
    FINALFUNC = crm.btyd_validate_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = crm.btyd_validate_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE crm.validate(crm.btyd_model, crm.summary, date, date, interval) IS
    'Validation report (jsonb) of a model fitted on summaries against the holdout (split, holdout_end], tracking in steps of step';

CREATE FUNCTION crm.validation_summary(v jsonb,
    OUT model text, OUT split date, OUT holdout_end date, OUT holdout_length double precision,
    OUT customers bigint, OUT actual double precision, OUT expected double precision,
    OUT buyers bigint, OUT buyers_expected double precision,
    OUT mean_absolute_error double precision, OUT root_mean_squared_error double precision, OUT auc double precision)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, crm
    AS $$ SELECT v->>'model', (v->>'split')::date, (v->>'holdout_end')::date, (v->>'holdout_length')::float8,
                 (v->>'customers')::bigint, (v->>'actual')::float8, (v->>'expected')::float8,
                 (v->>'buyers')::bigint, (v->>'buyers_expected')::float8,
                 (v->>'mean_absolute_error')::float8, (v->>'root_mean_squared_error')::float8, (v->>'auc')::float8 $$;
COMMENT ON FUNCTION crm.validation_summary(jsonb) IS
    'The totals of a crm.validate report: customers, holdout repeat purchase days made and expected, customers who bought again and expected to, mean absolute and root mean squared error per customer, and the AUC of P(buys again)';

CREATE FUNCTION crm.validation_by_frequency(v jsonb,
    OUT frequency text, OUT min_x integer, OUT customers bigint, OUT actual double precision, OUT expected double precision,
    OUT actual_mean double precision, OUT expected_mean double precision)
    RETURNS SETOF record
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 8 SET search_path = pg_catalog, crm
    AS $$ SELECT f.frequency, f.min_x, f.customers::bigint, f.actual, f.expected, f.actual_mean, f.expected_mean
          FROM jsonb_to_recordset(v->'by_frequency')
               AS f(frequency text, min_x integer, customers float8, actual float8, expected float8,
                    actual_mean float8, expected_mean float8)
          ORDER BY f.min_x $$;
COMMENT ON FUNCTION crm.validation_by_frequency(jsonb) IS
    'A crm.validate report per calibration frequency x = 0 .. 6, 7+: customers, holdout repeat purchase days made and expected, in total and per customer';

CREATE FUNCTION crm.validation_tracking(v jsonb,
    OUT period_start date, OUT period_end date, OUT holdout boolean, OUT actual double precision,
    OUT actual_cumulative double precision, OUT expected_cumulative double precision,
    OUT expected_given_calibration double precision)
    RETURNS SETOF record
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 100 SET search_path = pg_catalog, crm
    AS $$ SELECT t.period_start, t.period_end, t.holdout, t.actual, t.actual_cumulative, t.expected_cumulative,
                 t.expected_given_calibration
          FROM jsonb_to_recordset(v->'tracking')
               AS t(period_start date, period_end date, holdout boolean, actual float8, actual_cumulative float8,
                    expected_cumulative float8, expected_given_calibration float8)
          ORDER BY t.period_start $$;
COMMENT ON FUNCTION crm.validation_tracking(jsonb) IS
    'A crm.validate report''s tracking rows: per step, the repeat purchase days made, their cumulative sum, the model''s unconditional cumulative expectation for the cohort, and in the holdout the cumulative expectation given the calibration data';
