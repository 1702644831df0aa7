-- ---------------------------------------------------------------------
-- Customers (src/customer.c writes their maintained state): the record,
-- the stage and level with every change kept in history, and the
-- population state of the last refresh
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

-- fillfactor: room on each page for the new version of a row, so that
-- order maintenance updates stay HOT (no index entries to write)
CREATE TABLE crm.customers (
    customer_id bigint PRIMARY KEY,
    customer_class text NOT NULL DEFAULT 'residential' REFERENCES crm.level_targets ON UPDATE CASCADE,
    stage crm.stage NOT NULL DEFAULT 'prospect',
    level crm.relationship_level NOT NULL DEFAULT 'transaction',
    stage_reason text,
    stage_since date,
    summary crm.summary,
    name text,
    kind text NOT NULL DEFAULT 'consumer'
        CHECK (kind IN ('consumer', 'intermediary', 'internal', 'public')),
    service_level text NOT NULL DEFAULT 'ordinary'
        CHECK (service_level IN ('vip', 'professional', 'ordinary')),
    account_manager name,
    marketing_opt_out boolean NOT NULL DEFAULT false,
    churn_reason text REFERENCES crm.churn_reasons ON UPDATE CASCADE,
    rfm crm.rfm,
    segment text,
    scored_on date,
    created_at timestamptz NOT NULL DEFAULT now(),
    level_reason text,
    level_since date,
    -- the summary's figures the views read, kept beside it (computed on
    -- every write of the row, by any writer): a view reading them reads no
    -- summary
    first_purchase date GENERATED ALWAYS AS (crm.first_purchase(summary)) STORED,
    last_purchase date GENERATED ALWAYS AS (crm.last_purchase(summary)) STORED,
    purchase_days integer GENERATED ALWAYS AS (crm.purchase_days(summary)) STORED,
    total_spend numeric GENERATED ALWAYS AS (crm.total_spend(summary)) STORED
) WITH (fillfactor = 80);
CREATE INDEX customers_account_manager ON crm.customers (account_manager) WHERE account_manager IS NOT NULL;
COMMENT ON TABLE crm.customers IS
    'One row per customer: class, relationship stage and level (changes kept in crm.stage_history), purchase summary';
COMMENT ON COLUMN crm.customers.stage_reason IS 'Why the stage last changed (an inference reason code, or free text)';
COMMENT ON COLUMN crm.customers.stage_since IS 'Business date the current stage began (set by crm.apply_inferred_stages; inference uses it to tell a purchase made since)';
COMMENT ON COLUMN crm.customers.customer_id IS 'Customer';
COMMENT ON COLUMN crm.customers.customer_class IS 'Class for relationship-level targets: residential, general, large, important (crm.level_targets)';
COMMENT ON COLUMN crm.customers.stage IS 'Relationship life-cycle stage (changes are checked and kept in crm.stage_history)';
COMMENT ON COLUMN crm.customers.level IS 'Relationship level';
COMMENT ON COLUMN crm.customers.summary IS 'Purchase days of every tracked order table, maintained by their triggers, a long history sealed (crm.full_summary()); NULL: no orders';
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
COMMENT ON COLUMN crm.customers.level_reason IS 'Why the level last changed (an inference reason code, or free text)';
COMMENT ON COLUMN crm.customers.level_since IS 'Business date the current level began (inference holds a level level_min_days)';
COMMENT ON COLUMN crm.customers.first_purchase IS 'First purchase day: crm.first_purchase(summary), kept with the row';
COMMENT ON COLUMN crm.customers.last_purchase IS 'Last purchase day: crm.last_purchase(summary), kept with the row';
COMMENT ON COLUMN crm.customers.purchase_days IS 'Days with purchases: crm.purchase_days(summary), kept with the row';
COMMENT ON COLUMN crm.customers.total_spend IS 'Net spend, refunds deducted: crm.total_spend(summary), kept with the row';

-- the sealed days of long histories (src/history.c): a customer's days
-- up to crm.sealed_through(summary), one row per calendar month, written
-- by the order trigger only when days are sealed or an order of a sealed
-- day changes; crm.customers.summary keeps their exact totals
CREATE TABLE crm.summary_blocks (
    customer_id bigint NOT NULL REFERENCES crm.customers ON DELETE CASCADE,
    month date NOT NULL,
    days crm.summary NOT NULL,
    PRIMARY KEY (customer_id, month)
);
SELECT pg_catalog.pg_extension_config_dump('crm.summary_blocks', '');
COMMENT ON TABLE crm.summary_blocks IS
    'Sealed purchase days of long histories, one row per customer and calendar month (crm.full_summary() puts them back together)';
COMMENT ON COLUMN crm.summary_blocks.customer_id IS 'Customer';
COMMENT ON COLUMN crm.summary_blocks.month IS 'First day of the calendar month';
COMMENT ON COLUMN crm.summary_blocks.days IS 'The customer''s days of that month, all on or before the seal date of its summary';

CREATE FUNCTION crm.full_summary(customer_id bigint, s crm.summary) RETURNS crm.summary
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$
    SELECT CASE WHEN crm.sealed_through($2) IS NULL THEN $2
                ELSE crm.unseal($2, (SELECT crm.summarize(b.days) FROM crm.summary_blocks b
                                     WHERE b.customer_id = $1)) END $$;
COMMENT ON FUNCTION crm.full_summary(bigint, crm.summary) IS
    'A customer''s summary with every day: s itself, or when s is sealed, s with the sealed days of crm.summary_blocks put back (checked against its totals)';

-- seal the long histories of the given customers (all: NULL) that are not
-- sealed yet, as the order trigger would on the business date
-- (crm.seal_point())
CREATE FUNCTION crm.seal_customers(customers bigint[] DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    sealed bigint;
BEGIN
    CREATE TEMP TABLE crm_seal ON COMMIT DROP AS
    SELECT c.customer_id, c.summary, crm.seal_point(c.summary, crm.business_date()) AS through
    FROM crm.customers c
    WHERE (customers IS NULL OR c.customer_id = ANY (customers))
      AND crm.sealed_through(c.summary) IS NULL AND crm.seal_point(c.summary, crm.business_date()) IS NOT NULL
    ORDER BY c.customer_id FOR NO KEY UPDATE;
    INSERT INTO crm.summary_blocks (customer_id, month, days)
    SELECT s.customer_id, m.month, m.days FROM crm_seal s, crm.split_by_month(crm.as_of(s.summary, s.through)) m;
    UPDATE crm.customers c SET summary = crm.seal(s.summary, s.through)
    FROM crm_seal s WHERE s.customer_id = c.customer_id;
    GET DIAGNOSTICS sealed = ROW_COUNT;
    DROP TABLE crm_seal;
    RETURN sealed;
END $$;
COMMENT ON FUNCTION crm.seal_customers(bigint[]) IS
    'Seal the long histories (crm.seal_point()) of the given customers, or of all, that are not sealed yet: their older days move to crm.summary_blocks; returns how many were sealed';
REVOKE ALL ON FUNCTION crm.seal_customers(bigint[]) FROM PUBLIC;

-- the given customers' (all: NULL) sealed summaries made full again
CREATE FUNCTION crm.unseal_customers(customers bigint[] DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    unsealed bigint;
BEGIN
    PERFORM FROM crm.customers c
    WHERE (customers IS NULL OR c.customer_id = ANY (customers)) AND crm.sealed_through(c.summary) IS NOT NULL
    ORDER BY c.customer_id FOR NO KEY UPDATE;
    UPDATE crm.customers c SET summary = crm.full_summary(c.customer_id, c.summary)
    WHERE (customers IS NULL OR c.customer_id = ANY (customers)) AND crm.sealed_through(c.summary) IS NOT NULL;
    GET DIAGNOSTICS unsealed = ROW_COUNT;
    DELETE FROM crm.summary_blocks b WHERE customers IS NULL OR b.customer_id = ANY (customers);
    RETURN unsealed;
END $$;
COMMENT ON FUNCTION crm.unseal_customers(bigint[]) IS
    'Put the sealed days of the given customers, or of all, back into their summaries (crm.full_summary()) and empty their crm.summary_blocks; returns how many were sealed';
REVOKE ALL ON FUNCTION crm.unseal_customers(bigint[]) FROM PUBLIC;

CREATE TABLE crm.stage_history (
    history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL,
    from_stage crm.stage,
    to_stage crm.stage NOT NULL,
    from_level crm.relationship_level,
    to_level crm.relationship_level NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT crm.change_time(),
    source text NOT NULL DEFAULT crm.change_source() CHECK (source IN ('inference', 'user', 'import', 'override')),
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

-- illegal transitions (a stage move the life cycle does not allow, a level
-- moving two steps at once) are refused row by row, before anything is
-- written
CREATE FUNCTION crm.stage_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'stage_guard' LANGUAGE C;
COMMENT ON FUNCTION crm.stage_guard() IS
    'BEFORE UPDATE row trigger: refuses an illegal change of the crm.stage column named by its first argument (default stage), or of the crm.relationship_level column named by its third (a move of more than one level), with 23514; the second argument names the key for messages';
CREATE TRIGGER stage_guard BEFORE UPDATE OF stage, level ON crm.customers
    FOR EACH ROW EXECUTE FUNCTION crm.stage_guard('stage', 'customer_id', 'level');

-- history is written once per statement from the transition tables (in C:
-- a bulk change of stages costs one INSERT); the reason comes from the row,
-- the source, time and who from the table's defaults (crm.change_source(),
-- crm.change_time(), session_user), which the order trigger's own history
-- rows take too.  Inserting a customer records nothing: the stage it
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

CREATE FUNCTION crm.override_level(customer bigint, new_level crm.relationship_level, reason text)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'an override needs a reason' USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('crm.stage_override', 'on', true);
    PERFORM set_config('crm.change_source', 'override', true);
    UPDATE crm.customers SET level = new_level, level_reason = reason WHERE customer_id = customer;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'customer % does not exist', customer USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('crm.stage_override', 'off', true);
    PERFORM set_config('crm.change_source', '', true);
END $$;
REVOKE ALL ON FUNCTION crm.override_level(bigint, crm.relationship_level, text) FROM PUBLIC;
COMMENT ON FUNCTION crm.override_level(bigint, crm.relationship_level, text) IS
    'Set any relationship level, even two or more steps away (data corrections); recorded in crm.stage_history with source override; not granted to PUBLIC';

-- apply inference to every customer as of a date: the refresh's rescoring
-- (crm.score_customers) in one transaction
CREATE FUNCTION crm.apply_inferred_stages(as_of date DEFAULT current_date)
    RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    last_row bigint := (SELECT coalesce(max(h.history_id), 0) FROM crm.stage_history h);
BEGIN
    PERFORM set_config('crm.change_source', 'inference', true);
    PERFORM crm.score_customers(NULL, as_of);
    PERFORM set_config('crm.change_source', '', true);
    RETURN (SELECT count(*) FROM crm.stage_history h
            WHERE h.history_id > last_row AND h.from_stage IS DISTINCT FROM h.to_stage);
END $$;
COMMENT ON FUNCTION crm.apply_inferred_stages(date) IS
    'Rescore every customer as of as_of (stage walked from its last evaluation, level, scores); returns how many stage moves were recorded (source inference)';

-- the population's RFM cutpoints, written by crm.refresh(); one row
CREATE TABLE crm.scoring (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    cutpoints crm.rfm_cutpoints NOT NULL,
    model crm.btyd_model,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE crm.scoring IS 'Population state of the last crm.refresh(): RFM cutpoints and the fitted P(alive) model (one row)';
SELECT pg_catalog.pg_extension_config_dump('crm.scoring', '');
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.scoring
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
