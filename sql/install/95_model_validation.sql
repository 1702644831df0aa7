-- ---------------------------------------------------------------------
-- How well the stored model predicts: the validation report of the
-- model of the last crm.refresh(fit_model => true) (crm.scoring.model,
-- calibrated to its as_of) against what the customers did since, up to
-- the business date, as views for BI (src/btyd_validation.c,
-- sql/install/42_validation.sql)
-- ---------------------------------------------------------------------

CREATE FUNCTION crm.stored_model_validation() RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    -- the model and the dates as scalar subqueries: a parallel plan can
    -- then aggregate in its workers; a sealed history with its days put
    -- back (the holdout and the tracking plot need every day)
    AS $$ SELECT crm.validate((SELECT sc.model FROM crm.scoring sc),
                              CASE WHEN crm.sealed_through(c.summary) IS NULL THEN c.summary
                                   ELSE crm.full_summary(c.customer_id, c.summary) END,
                              (SELECT crm.calibration_end(sc.model) FROM crm.scoring sc),
                              (SELECT crm.business_date()))
          FROM crm.customers c
          WHERE c.summary IS NOT NULL
            AND (SELECT crm.calibration_end(sc.model) <= crm.business_date() FROM crm.scoring sc) $$;
COMMENT ON FUNCTION crm.stored_model_validation() IS
    'crm.validate of the model in crm.scoring over crm.customers, from the model''s calibration end to the business date; NULL without a model fitted on summaries';

CREATE VIEW crm.model_validation WITH (security_invoker = true) AS
SELECT r.model, r.split AS calibration_end, r.holdout_end, r.holdout_length, r.customers,
       r.actual, r.expected, r.buyers, r.buyers_expected, r.mean_absolute_error, r.root_mean_squared_error, r.auc
FROM crm.validation_summary(crm.stored_model_validation()) r;
COMMENT ON VIEW crm.model_validation IS
    'How well the model of the last crm.refresh(fit_model => true) predicted the customers'' repeat purchases since its calibration end (one row; none without a model)';
COMMENT ON COLUMN crm.model_validation.model IS 'Kind of model (crm.setting btyd_model)';
COMMENT ON COLUMN crm.model_validation.calibration_end IS 'The date the model was fitted as of: the end of its calibration period';
COMMENT ON COLUMN crm.model_validation.holdout_end IS 'The business date: the end of the holdout period';
COMMENT ON COLUMN crm.model_validation.holdout_length IS 'Length of the holdout in the model''s time unit (crm.setting btyd_unit)';
COMMENT ON COLUMN crm.model_validation.customers IS 'Customers who had purchased by the calibration end';
COMMENT ON COLUMN crm.model_validation.actual IS 'Repeat purchase days they made in the holdout';
COMMENT ON COLUMN crm.model_validation.expected IS 'Repeat purchase days the model expected of them';
COMMENT ON COLUMN crm.model_validation.buyers IS 'Customers who bought again in the holdout';
COMMENT ON COLUMN crm.model_validation.buyers_expected IS 'Customers the model expected to buy again (sum of 1 - P(no purchase))';
COMMENT ON COLUMN crm.model_validation.mean_absolute_error IS 'Mean over customers of |actual - expected| repeat purchase days';
COMMENT ON COLUMN crm.model_validation.root_mean_squared_error IS 'Root of the mean squared difference of actual and expected repeat purchase days';
COMMENT ON COLUMN crm.model_validation.auc IS 'Area under the ROC curve of P(buys again) against buying again: 0.5 is chance, 1 perfect';

CREATE VIEW crm.model_validation_by_frequency WITH (security_invoker = true) AS
SELECT f.frequency, f.customers, f.actual, f.expected, f.actual_mean, f.expected_mean
FROM crm.validation_by_frequency(crm.stored_model_validation()) f;
COMMENT ON VIEW crm.model_validation_by_frequency IS
    'The stored model''s holdout predictions against what happened, per calibration frequency (repeat purchase days before the calibration end: 0 .. 6, 7+)';
COMMENT ON COLUMN crm.model_validation_by_frequency.frequency IS 'Repeat purchase days in the calibration period (7+: seven or more)';
COMMENT ON COLUMN crm.model_validation_by_frequency.customers IS 'Customers with that frequency';
COMMENT ON COLUMN crm.model_validation_by_frequency.actual IS 'Repeat purchase days they made in the holdout';
COMMENT ON COLUMN crm.model_validation_by_frequency.expected IS 'Repeat purchase days the model expected of them';
COMMENT ON COLUMN crm.model_validation_by_frequency.actual_mean IS 'Per customer, made';
COMMENT ON COLUMN crm.model_validation_by_frequency.expected_mean IS 'Per customer, expected';

CREATE VIEW crm.model_tracking WITH (security_invoker = true) AS
SELECT t.period_start, t.period_end, t.holdout, t.actual, t.actual_cumulative, t.expected_cumulative,
       t.expected_given_calibration
FROM crm.validation_tracking(crm.stored_model_validation()) t;
COMMENT ON VIEW crm.model_tracking IS
    'The stored model''s tracking plot as rows: repeat purchase days per week from the earliest first purchase to the business date, made and expected';
COMMENT ON COLUMN crm.model_tracking.period_start IS 'First day of the week';
COMMENT ON COLUMN crm.model_tracking.period_end IS 'Last day of the week (weeks end on the calibration end)';
COMMENT ON COLUMN crm.model_tracking.holdout IS 'Whether the week is after the calibration end';
COMMENT ON COLUMN crm.model_tracking.actual IS 'Repeat purchase days made in the week by the customers of the calibration period';
COMMENT ON COLUMN crm.model_tracking.actual_cumulative IS 'Repeat purchase days made up to the end of the week';
COMMENT ON COLUMN crm.model_tracking.expected_cumulative IS 'The model''s expectation for the same customers from their first purchases alone (unconditional)';
COMMENT ON COLUMN crm.model_tracking.expected_given_calibration IS 'In the holdout: the expectation given each customer''s calibration history, cumulative from the calibration end';

GRANT SELECT ON crm.model_validation, crm.model_validation_by_frequency, crm.model_tracking TO crm_reader;
