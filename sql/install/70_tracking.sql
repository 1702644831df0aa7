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

