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
