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

-- The report as of the last crm.refresh(): the views below read it while
-- it is for the model in crm.scoring and the business date (a million
-- customers validated take seconds; the stored row, none), else compute
-- the report live.  Orders, and customers added or removed, after the
-- refresh on the same business date show in the views after the next
-- refresh; crm.stored_model_validation() gives the current answer.  Not
-- dumped: a restored database computes live until its next refresh.
CREATE TABLE crm.scoring_validation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    model crm.btyd_model NOT NULL,
    business_date date NOT NULL,
    report jsonb NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE crm.scoring_validation IS
    'The validation report of crm.scoring''s model as of the last crm.refresh() (crm.stored_model_validation()), and what it was computed for (one row; none without a model)';
COMMENT ON COLUMN crm.scoring_validation.singleton IS 'Always true: one row';
COMMENT ON COLUMN crm.scoring_validation.model IS 'The model validated (crm.scoring.model when computed; its calibration end is crm.calibration_end(model))';
COMMENT ON COLUMN crm.scoring_validation.business_date IS 'The business date it was validated to (the end of the holdout)';
COMMENT ON COLUMN crm.scoring_validation.report IS 'crm.stored_model_validation() then';
COMMENT ON COLUMN crm.scoring_validation.computed_at IS 'When the refresh computed it';

-- the refresh's step after the population state (src/refresh.c): the
-- report of the model now in crm.scoring kept, over every customer (as
-- the extension's owner: row-level security does not narrow it); none
-- without a model or before its calibration end
CREATE FUNCTION crm.keep_model_validation() RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    m crm.btyd_model := (SELECT sc.model FROM crm.scoring sc);
    r jsonb;
BEGIN
    DELETE FROM crm.scoring_validation;
    IF m IS NULL THEN
        RETURN false;
    END IF;
    -- an expression of its own: the aggregate may run in parallel
    r := crm.stored_model_validation();
    IF r IS NULL THEN
        RETURN false;
    END IF;
    INSERT INTO crm.scoring_validation (model, business_date, report) VALUES (m, crm.business_date(), r);
    RETURN true;
END $$;
COMMENT ON FUNCTION crm.keep_model_validation() IS
    'Store crm.stored_model_validation() over every customer in crm.scoring_validation with the model and business date it is for (crm.refresh() calls it after the population state); false, and nothing stored, without a model or before its calibration end';
REVOKE ALL ON FUNCTION crm.keep_model_validation() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.keep_model_validation() TO crm_admin;

-- What the views read: the stored report when it is for the model in
-- crm.scoring and the business date, and the reader sees every customer
-- (no row-level security narrows crm.customers for it: else its own
-- customers, live, as before); else the live report.  computed_at: the
-- refresh's time, or now() when computed live.
CREATE FUNCTION crm.model_validation_report(OUT report jsonb, OUT computed_at timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT coalesce(k.report, crm.stored_model_validation()),
                 CASE WHEN k.report IS NOT NULL THEN k.computed_at ELSE now() END
          FROM (SELECT 1) one
          LEFT JOIN (SELECT v.report, v.computed_at
                     FROM crm.scoring_validation v JOIN crm.scoring sc
                          ON crm.btyd_model_send(sc.model) = crm.btyd_model_send(v.model)
                     WHERE v.business_date = crm.business_date()
                       AND has_table_privilege('crm.customers', 'SELECT')
                       AND (NOT row_security_active('crm.customers')
                            OR (NOT crm.is_account_manager(current_user)
                                AND NOT EXISTS (SELECT FROM pg_policy p
                                                WHERE p.polrelid = 'crm.customers'::regclass
                                                  AND p.polname <> 'account_manager')))) k ON true $$;
COMMENT ON FUNCTION crm.model_validation_report() IS
    'The validation report the views crm.model_validation, _by_frequency and crm.model_tracking show: the one the last crm.refresh() stored (crm.scoring_validation) when it is for the model in crm.scoring and the business date and the reader sees every customer, else crm.stored_model_validation() computed now; and when it was computed';

CREATE VIEW crm.model_validation WITH (security_invoker = true) AS
SELECT r.model, r.split AS calibration_end, r.holdout_end, r.holdout_length, r.customers,
       r.actual, r.expected, r.buyers, r.buyers_expected, r.mean_absolute_error, r.root_mean_squared_error, r.auc,
       k.computed_at
FROM crm.model_validation_report() k, crm.validation_summary(k.report) r
WHERE k.report IS NOT NULL;
COMMENT ON VIEW crm.model_validation IS
    'How well the model of the last crm.refresh(fit_model => true) predicted the customers'' repeat purchases since its calibration end (one row; none without a model), as of the last crm.refresh() on the business date (crm.model_validation_report())';
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
COMMENT ON COLUMN crm.model_validation.computed_at IS 'When the report was computed: by the last crm.refresh() (orders since then on the same business date not counted), or now, on reading, when none is stored for the model and business date';

CREATE VIEW crm.model_validation_by_frequency WITH (security_invoker = true) AS
SELECT f.frequency, f.customers, f.actual, f.expected, f.actual_mean, f.expected_mean
FROM crm.model_validation_report() k, crm.validation_by_frequency(k.report) f;
COMMENT ON VIEW crm.model_validation_by_frequency IS
    'The stored model''s holdout predictions against what happened, per calibration frequency (repeat purchase days before the calibration end: 0 .. 6, 7+), as of the last crm.refresh() on the business date (crm.model_validation_report())';
COMMENT ON COLUMN crm.model_validation_by_frequency.frequency IS 'Repeat purchase days in the calibration period (7+: seven or more)';
COMMENT ON COLUMN crm.model_validation_by_frequency.customers IS 'Customers with that frequency';
COMMENT ON COLUMN crm.model_validation_by_frequency.actual IS 'Repeat purchase days they made in the holdout';
COMMENT ON COLUMN crm.model_validation_by_frequency.expected IS 'Repeat purchase days the model expected of them';
COMMENT ON COLUMN crm.model_validation_by_frequency.actual_mean IS 'Per customer, made';
COMMENT ON COLUMN crm.model_validation_by_frequency.expected_mean IS 'Per customer, expected';

CREATE VIEW crm.model_tracking WITH (security_invoker = true) AS
SELECT t.period_start, t.period_end, t.holdout, t.actual, t.actual_cumulative, t.expected_cumulative,
       t.expected_given_calibration
FROM crm.model_validation_report() k, crm.validation_tracking(k.report) t;
COMMENT ON VIEW crm.model_tracking IS
    'The stored model''s tracking plot as rows: repeat purchase days per week from the earliest first purchase to the business date, made and expected, as of the last crm.refresh() on the business date (crm.model_validation_report())';
COMMENT ON COLUMN crm.model_tracking.period_start IS 'First day of the week';
COMMENT ON COLUMN crm.model_tracking.period_end IS 'Last day of the week (weeks end on the calibration end)';
COMMENT ON COLUMN crm.model_tracking.holdout IS 'Whether the week is after the calibration end';
COMMENT ON COLUMN crm.model_tracking.actual IS 'Repeat purchase days made in the week by the customers of the calibration period';
COMMENT ON COLUMN crm.model_tracking.actual_cumulative IS 'Repeat purchase days made up to the end of the week';
COMMENT ON COLUMN crm.model_tracking.expected_cumulative IS 'The model''s expectation for the same customers from their first purchases alone (unconditional)';
COMMENT ON COLUMN crm.model_tracking.expected_given_calibration IS 'In the holdout: the expectation given each customer''s calibration history, cumulative from the calibration end';

GRANT SELECT ON crm.model_validation, crm.model_validation_by_frequency, crm.model_tracking, crm.scoring_validation TO crm_reader;
