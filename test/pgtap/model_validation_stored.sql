-- The model validation views read the report crm.refresh() keeps
-- (crm.scoring_validation) while it is for the model in crm.scoring and
-- the business date, and compute it live otherwise: after a refresh the
-- views equal the live computation (crm.stored_model_validation(), the
-- views' definition before the report was kept); a new fit, another
-- business date, no model, or a reader narrowed by row-level security
-- gets the live report; orders after the refresh show at the next one.
-- On the CDNOW customers (calibration to 1997-09-30, holdout to
-- 1998-06-30: 2,357 customers, 1,882 repeat purchase days, published).
\ir setup.psql
SELECT plan(26);

\ir cdnow.psql

INSERT INTO crm.customers (customer_id, summary)
SELECT customer_id, summarize(purchased_at, amount) FROM cdnow GROUP BY 1;

-- two reports the same: counts equal, sums to 1e-12 (the refresh rewrites
-- every customer after computing its report: the rows are then read in
-- another order, and floating-point sums differ in their last bits)
CREATE FUNCTION pg_temp.same(a jsonb, b jsonb) RETURNS boolean LANGUAGE sql AS $$
    SELECT CASE WHEN jsonb_typeof(a) = 'number' AND jsonb_typeof(b) = 'number'
                THEN abs(a::text::float8 - b::text::float8) <= 1e-12 * greatest(abs(a::text::float8), abs(b::text::float8), 1)
                WHEN jsonb_typeof(a) = 'object' AND jsonb_typeof(b) = 'object'
                THEN (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(a) k) = (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(b) k)
                     AND coalesce((SELECT bool_and(pg_temp.same(a -> k, b -> k)) FROM jsonb_object_keys(a) k), true)
                WHEN jsonb_typeof(a) = 'array' AND jsonb_typeof(b) = 'array'
                THEN jsonb_array_length(a) = jsonb_array_length(b)
                     AND coalesce((SELECT bool_and(pg_temp.same(a -> i, b -> i)) FROM generate_series(0, jsonb_array_length(a) - 1) i), true)
                ELSE a IS NOT DISTINCT FROM b END $$;
SELECT ok(NOT pg_temp.same('{"a": [1, 2.5]}', '{"a": [1, 2.5000001]}') AND NOT pg_temp.same('{"a": 1}', '{"b": 1}')
          AND pg_temp.same('{"a": [1, 2.5]}', '{"a": [1, 2.5000000000000001]}'),
          'pg_temp.same: a difference of 1e-7 or a key apart fail, 1e-16 passes');

-- the three views' rows as one document, and the same computed live
-- (crm.stored_model_validation(): the views' definition before)
CREATE FUNCTION pg_temp.view_rows() RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'summary', (SELECT jsonb_agg(to_jsonb(v) - 'computed_at') FROM crm.model_validation v),
        'frequency', (SELECT jsonb_agg(to_jsonb(f) ORDER BY f.frequency) FROM crm.model_validation_by_frequency f),
        'tracking', (SELECT jsonb_agg(to_jsonb(t) ORDER BY t.period_start) FROM crm.model_tracking t)) $$;
CREATE FUNCTION pg_temp.live_rows() RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'summary', (SELECT jsonb_agg(to_jsonb(r) - 'split' || jsonb_build_object('calibration_end', r.split))
                    FROM crm.validation_summary(crm.stored_model_validation()) r WHERE r.model IS NOT NULL),
        'frequency', (SELECT jsonb_agg(to_jsonb(f) - 'min_x' ORDER BY f.frequency)
                      FROM crm.validation_by_frequency(crm.stored_model_validation()) f),
        'tracking', (SELECT jsonb_agg(to_jsonb(t) ORDER BY t.period_start)
                     FROM crm.validation_tracking(crm.stored_model_validation()) t)) $$;

-- no model: nothing kept, no rows
SET crm.as_of = '1997-09-30';
CALL crm.refresh(fit_model => false, commit_batches => false);
SELECT is((SELECT count(*) FROM crm.scoring_validation), 0::bigint, 'a refresh without a model keeps no report');
SELECT is((SELECT count(*) FROM crm.model_validation), 0::bigint, 'crm.model_validation: no row without a model');

-- the model fitted as of 1997-09-30; refreshed on 1998-06-30
CALL crm.refresh(fit_model => true, commit_batches => false);
SET crm.as_of = '1998-06-30';
CALL crm.refresh(commit_batches => false);
SELECT is((SELECT business_date FROM crm.scoring_validation), DATE '1998-06-30', 'the refresh keeps the report for its business date');
SELECT ok((SELECT crm.btyd_model_send(v.model) = crm.btyd_model_send(sc.model) FROM crm.scoring_validation v, crm.scoring sc),
          '... and for the model in crm.scoring');
SELECT ok(pg_temp.same((SELECT report FROM crm.scoring_validation), crm.stored_model_validation()),
          'the kept report = crm.stored_model_validation() computed now');
SELECT ok(v.customers = 2357 AND v.actual = 1882 AND v.calibration_end = '1997-09-30' AND v.holdout_end = '1998-06-30',
          'crm.model_validation: 2,357 customers, 1,882 repeat purchase days in the holdout (published)')
FROM crm.model_validation v;
SELECT ok(pg_temp.same(pg_temp.view_rows(), pg_temp.live_rows()),
          'after the refresh the three views'' rows = the live computation''s');
SELECT is((SELECT jsonb_array_length(j -> 'summary') + jsonb_array_length(j -> 'frequency') + jsonb_array_length(j -> 'tracking')
           FROM pg_temp.view_rows() j), 87, '... 1 + 8 + 78 rows');
SELECT is((SELECT computed_at FROM crm.model_validation), (SELECT computed_at FROM crm.scoring_validation),
          'crm.model_validation.computed_at: when the refresh computed the report');

-- the views read the kept report: marked, the mark shows
UPDATE crm.scoring_validation SET report = jsonb_set(report, '{customers}', '-1');
SELECT is((SELECT customers FROM crm.model_validation), -1::bigint, 'the views read the kept report (marked here)');
SELECT is((SELECT count(*) FROM crm.model_tracking), 78::bigint, 'crm.model_tracking reads it too');

-- an order after the refresh on the same business date: the views stay
-- as of the refresh, the live function counts it, the next refresh too
UPDATE crm.scoring_validation SET report = crm.stored_model_validation();
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT min(customer_id), DATE '1998-06-30', 10 FROM cdnow
WHERE purchased_at <= '1997-09-30' AND customer_id NOT IN (SELECT customer_id FROM cdnow WHERE purchased_at = '1998-06-30');
SELECT is((SELECT actual FROM crm.model_validation), 1882::float8,
          'an order after the refresh: crm.model_validation as of the refresh (1,882)');
SELECT is((SELECT actual FROM crm.validation_summary(crm.stored_model_validation())), 1883::float8,
          '... crm.stored_model_validation() counts it now (1,883)');
CALL crm.refresh(commit_batches => false);
SELECT is((SELECT actual FROM crm.model_validation), 1883::float8, '... and the views after the next refresh');
SELECT ok(pg_temp.same(pg_temp.view_rows(), pg_temp.live_rows()), '... every row equal to the live computation again');

-- another business date: live, not the kept report
UPDATE crm.scoring_validation SET report = jsonb_set(report, '{customers}', '-1');
SET crm.as_of = '1998-03-31';
SELECT ok(pg_temp.same(pg_temp.view_rows(), pg_temp.live_rows()),
          'on another business date the views compute live (the marked report not read)');
SELECT ok((SELECT holdout_end = '1998-03-31' AND customers = 2357 AND computed_at = now() FROM crm.model_validation),
          '... to that date, computed_at now()');

-- a new fit without a refresh (crm.compute_scoring, as a first attach does): live
SET crm.as_of = '1998-06-30';
SELECT is((SELECT customers FROM crm.model_validation), -1::bigint, 'back on the business date of the refresh: the kept report');
SELECT crm.compute_scoring('1997-12-31', true);
SELECT ok((SELECT calibration_end = '1997-12-31' AND customers = 2357 FROM crm.model_validation),
          'another model in crm.scoring: the views validate it live, not the kept report of the model before');
SELECT ok(pg_temp.same(pg_temp.view_rows(), pg_temp.live_rows()), '... every row equal to the live computation');

-- a reader narrowed by row-level security (an account manager) gets its own customers, live
CALL crm.refresh(commit_batches => false);
UPDATE crm.scoring_validation SET report = jsonb_set(report, '{customers}', '-1');
CREATE ROLE crm_t_manager IN ROLE crm_reader;
CREATE ROLE crm_t_reader IN ROLE crm_reader;
UPDATE crm.customers SET account_manager = 'crm_t_manager' WHERE customer_id IN (1, 2, 3);
CREATE TEMP TABLE managed AS
SELECT count(DISTINCT customer_id) AS n FROM cdnow WHERE customer_id IN (1, 2, 3) AND purchased_at <= '1997-12-31';
GRANT SELECT ON managed TO crm_t_manager;
SELECT is((SELECT n FROM managed), 3::bigint, 'customers 1, 2 and 3 had bought by 1997-12-31');
SET ROLE crm_t_reader;
SELECT is((SELECT customers FROM crm.model_validation), -1::bigint, 'crm_reader reads the kept report');
SET ROLE crm_t_manager;
SELECT is((SELECT customers FROM crm.model_validation),
          (SELECT n FROM managed),
          'an account manager: its own customers (3), computed live');
RESET ROLE;

-- the model taken away: a refresh drops the kept report
UPDATE crm.scoring SET model = NULL;
SELECT is((SELECT count(*) FROM crm.model_validation), 0::bigint, 'no model: no row, whatever is kept');
CALL crm.refresh(fit_model => false, commit_batches => false);
SELECT is((SELECT count(*) FROM crm.scoring_validation), 0::bigint, '... and the next refresh keeps none');

SELECT * FROM finish();
ROLLBACK;
