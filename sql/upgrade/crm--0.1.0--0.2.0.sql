-- crm 0.1.0 -> 0.2.0: the first piece of the upgrade script; the Makefile
-- appends the install pieces that are new in 0.2.0 (UPGRADE_0_2_PIECES).
\echo Use "ALTER EXTENSION crm UPDATE TO '0.2.0'" to load this file. \quit

-- stage history is written by a C trigger, as the extension owner, and
-- records the session's login role
CREATE OR REPLACE FUNCTION crm.record_stage_changes() RETURNS trigger
    AS 'MODULE_PATHNAME', 'record_stage_changes' LANGUAGE C SECURITY DEFINER
    SET search_path = pg_catalog, crm;
ALTER TABLE crm.stage_history ALTER COLUMN changed_by SET DEFAULT session_user;
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
    AS 'MODULE_PATHNAME', 'track_orders_trigger' LANGUAGE C SECURITY DEFINER
    -- no search_path here: it reads the caller's to tell a pg_dump restore;
    -- its queries schema-qualify every name and operator
    SET crm.change_source = 'inference';
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

-- ---------------------------------------------------------------------
-- The CRM in the database, part 2: interactions, complaints with their
-- time limits, and satisfaction
-- ---------------------------------------------------------------------

CREATE TABLE crm.interactions (
    interaction_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES crm.customers ON DELETE CASCADE,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    channel text NOT NULL
        CHECK (channel IN ('face_to_face', 'phone', 'sms', 'call_centre', 'email', 'web', 'counter')),
    direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    topic text,
    sentiment real CHECK (sentiment BETWEEN -1 AND 1),
    wait_time interval CHECK (wait_time >= interval '0'),
    handled_by name DEFAULT current_user
);
CREATE INDEX interactions_customer ON crm.interactions (customer_id, occurred_at);
COMMENT ON TABLE crm.interactions IS 'Every contact with a customer, on any channel';
COMMENT ON COLUMN crm.interactions.channel IS 'face_to_face, phone, sms, call_centre, email, web or counter';
COMMENT ON COLUMN crm.interactions.direction IS 'inbound (the customer reached us) or outbound';
COMMENT ON COLUMN crm.interactions.sentiment IS 'From -1 (hostile) to 1 (delighted); NULL if not judged';
COMMENT ON COLUMN crm.interactions.wait_time IS 'How long the customer waited to be served (phone and call centre: against sla_phone_wait)';
SELECT pg_catalog.pg_extension_config_dump('crm.interactions', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.interactions', 'interaction_id'), '');

CREATE TABLE crm.complaint_categories (
    category text PRIMARY KEY,
    description text NOT NULL,
    preset boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.complaint_categories IS 'Complaint categories (shipped with the utility preset of the CRM texts; add your own)';
INSERT INTO crm.complaint_categories VALUES
    ('supply_reliability', 'Supply reliability: outages, interruptions', true),
    ('supply_safety', 'Supply safety: hazards, accidents', true),
    ('billing', 'Billing and payment', true),
    ('information', 'Information: notices, explanations', true),
    ('business_handling', 'Business handling: applications, connections, changes', true),
    ('service_channels', 'Service channels: counters, phone lines, web', true),
    ('service_attitude', 'Service attitude of the staff', true);
SELECT pg_catalog.pg_extension_config_dump('crm.complaint_categories', 'WHERE NOT preset');

CREATE TABLE crm.complaints (
    complaint_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES crm.customers ON DELETE CASCADE,
    category text NOT NULL REFERENCES crm.complaint_categories ON UPDATE CASCADE,
    channel text CHECK (channel IN ('face_to_face', 'phone', 'sms', 'call_centre', 'email', 'web', 'counter')),
    description text,
    first_contact_owner name DEFAULT current_user,
    opened_at timestamptz NOT NULL DEFAULT now(),
    first_response_at timestamptz,
    onsite_required boolean NOT NULL DEFAULT false,
    onsite_at timestamptz,
    resolved_at timestamptz,
    follow_up_result text CHECK (follow_up_result IN ('satisfied', 'unsatisfied')),
    escalated boolean NOT NULL DEFAULT false,
    escalation_reason text,
    repeat_of bigint,
    CHECK (first_response_at IS NULL OR first_response_at >= opened_at),
    CHECK (onsite_at IS NULL OR onsite_at >= opened_at),
    CHECK (resolved_at IS NULL OR resolved_at >= opened_at),
    CHECK (follow_up_result IS NULL OR resolved_at IS NOT NULL)
);
CREATE INDEX complaints_customer ON crm.complaints (customer_id, category, opened_at);
CREATE INDEX complaints_open ON crm.complaints (opened_at) WHERE resolved_at IS NULL;
COMMENT ON TABLE crm.complaints IS 'Complaints: who took them, when answered, visited, resolved, the follow-up, and escalation';
COMMENT ON COLUMN crm.complaints.first_contact_owner IS 'Who took the complaint first and owns it until it is resolved';
COMMENT ON COLUMN crm.complaints.onsite_required IS 'Whether a visit on site is due (checked against sla_onsite, sla_onsite_vip)';
COMMENT ON COLUMN crm.complaints.follow_up_result IS 'Result of the follow-up visit or call after resolution; unsatisfied escalates';
COMMENT ON COLUMN crm.complaints.escalated IS 'Set by the escalation trigger (repeat complaint, unsatisfied follow-up) or by hand';
COMMENT ON COLUMN crm.complaints.repeat_of IS 'complaint_id of the earlier complaint of the same customer and category within repeat_complaint_window (no foreign key, so that the table has no dump-order cycle)';
SELECT pg_catalog.pg_extension_config_dump('crm.complaints', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.complaints', 'complaint_id'), '');

-- escalation: a repeat complaint (same customer and category within the
-- window), or a follow-up marked unsatisfied
CREATE FUNCTION crm.escalate_complaint() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    earlier bigint;
BEGIN
    IF TG_OP = 'INSERT' AND NEW.repeat_of IS NULL THEN
        SELECT k.complaint_id INTO earlier FROM crm.complaints k
        WHERE k.customer_id = NEW.customer_id AND k.category = NEW.category
          AND k.opened_at <= NEW.opened_at
          AND k.opened_at > NEW.opened_at - crm.setting('repeat_complaint_window')::interval
        ORDER BY k.opened_at DESC, k.complaint_id DESC LIMIT 1;
        IF FOUND THEN
            NEW.repeat_of := earlier;
        END IF;
    END IF;
    IF NEW.repeat_of IS NOT NULL AND NOT NEW.escalated AND (TG_OP = 'INSERT' OR OLD.repeat_of IS NULL) THEN
        NEW.escalated := true;
        NEW.escalation_reason := coalesce(NEW.escalation_reason, 'repeat complaint');
    END IF;
    IF NEW.follow_up_result = 'unsatisfied' AND (TG_OP = 'INSERT' OR OLD.follow_up_result IS DISTINCT FROM 'unsatisfied') THEN
        NEW.escalated := true;
        NEW.escalation_reason := CASE WHEN NEW.escalation_reason IS NULL THEN 'follow-up unsatisfied'
                                      ELSE NEW.escalation_reason || '; follow-up unsatisfied' END;
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION crm.escalate_complaint() IS
    'BEFORE INSERT OR UPDATE trigger on crm.complaints: links and escalates a repeat complaint, escalates an unsatisfied follow-up';
CREATE TRIGGER escalate BEFORE INSERT OR UPDATE ON crm.complaints
    FOR EACH ROW EXECUTE FUNCTION crm.escalate_complaint();

-- service-level rank: VIP first, then professional, then ordinary
CREATE FUNCTION crm.service_rank(service_level text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT CASE service_level WHEN 'vip' THEN 1 WHEN 'professional' THEN 2 WHEN 'ordinary' THEN 3 END $$;
COMMENT ON FUNCTION crm.service_rank(text) IS 'Queue rank of a service level: vip 1, professional 2, ordinary 3';

CREATE VIEW crm.complaint_queue AS
SELECT k.complaint_id, k.customer_id, c.service_level, k.category, k.escalated, k.opened_at,
       k.first_response_at, now() - k.opened_at AS waiting,
       row_number() OVER (ORDER BY crm.service_rank(c.service_level), k.escalated DESC, k.opened_at, k.complaint_id) AS queue_position
FROM crm.complaints k JOIN crm.customers c USING (customer_id)
WHERE k.resolved_at IS NULL;
COMMENT ON VIEW crm.complaint_queue IS 'Open complaints in the order they are served: VIP > professional > ordinary, escalated first, then oldest';
COMMENT ON COLUMN crm.complaint_queue.complaint_id IS 'Complaint';
COMMENT ON COLUMN crm.complaint_queue.customer_id IS 'Customer';
COMMENT ON COLUMN crm.complaint_queue.service_level IS 'The customer''s service level';
COMMENT ON COLUMN crm.complaint_queue.category IS 'Complaint category';
COMMENT ON COLUMN crm.complaint_queue.escalated IS 'Escalated (repeat, unsatisfied follow-up, or by hand)';
COMMENT ON COLUMN crm.complaint_queue.opened_at IS 'When the complaint was opened';
COMMENT ON COLUMN crm.complaint_queue.first_response_at IS 'First response, if any yet';
COMMENT ON COLUMN crm.complaint_queue.waiting IS 'Time since opened';
COMMENT ON COLUMN crm.complaint_queue.queue_position IS 'Position in the queue, 1 = next';

-- the time limits a complaint is held to, by the customer's service level
CREATE VIEW crm.complaint_sla_breaches AS
WITH sla AS MATERIALIZED (
    -- the targets, read once (crm.setting is not inlined)
    SELECT crm.setting('sla_first_response')::interval AS first_response,
           crm.setting('sla_onsite')::interval AS onsite,
           crm.setting('sla_onsite_vip')::interval AS onsite_vip,
           crm.setting('sla_phone_wait')::interval AS phone_wait
)
SELECT b.*, b.actual - b.target AS late_by
FROM (SELECT 'complaint'::text AS source, k.complaint_id AS id, k.customer_id, 'first_response'::text AS target_name,
             sla.first_response AS target,
             coalesce(k.first_response_at, now()) - k.opened_at AS actual,
             k.first_response_at IS NULL AS still_open
      FROM crm.complaints k, sla
      UNION ALL
      SELECT 'complaint', k.complaint_id, k.customer_id, 'onsite',
             CASE WHEN c.service_level = 'vip' THEN sla.onsite_vip ELSE sla.onsite END,
             coalesce(k.onsite_at, now()) - k.opened_at,
             k.onsite_at IS NULL
      FROM crm.complaints k JOIN crm.customers c USING (customer_id), sla
      WHERE k.onsite_required
      UNION ALL
      SELECT 'interaction', i.interaction_id, i.customer_id, 'phone_wait',
             sla.phone_wait, i.wait_time, false
      FROM crm.interactions i, sla
      WHERE i.channel IN ('phone', 'call_centre') AND i.wait_time IS NOT NULL) b
WHERE b.actual > b.target;
COMMENT ON VIEW crm.complaint_sla_breaches IS 'Every time limit missed: first response and visit on site of complaints (open ones counted up to now), and phone waits';
COMMENT ON COLUMN crm.complaint_sla_breaches.source IS 'complaint or interaction';
COMMENT ON COLUMN crm.complaint_sla_breaches.id IS 'complaint_id or interaction_id';
COMMENT ON COLUMN crm.complaint_sla_breaches.customer_id IS 'Customer';
COMMENT ON COLUMN crm.complaint_sla_breaches.target_name IS 'first_response, onsite or phone_wait';
COMMENT ON COLUMN crm.complaint_sla_breaches.target IS 'The time limit (settings sla_*)';
COMMENT ON COLUMN crm.complaint_sla_breaches.actual IS 'Time taken (up to now if still pending)';
COMMENT ON COLUMN crm.complaint_sla_breaches.still_open IS 'The step has not happened yet';
COMMENT ON COLUMN crm.complaint_sla_breaches.late_by IS 'actual - target';

-- ---------------------------------------------------------------------
-- Satisfaction
-- ---------------------------------------------------------------------

CREATE TABLE crm.surveys (
    survey_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES crm.customers ON DELETE CASCADE,
    surveyed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX surveys_customer ON crm.surveys (customer_id, surveyed_at);
COMMENT ON TABLE crm.surveys IS 'Satisfaction surveys; the answers per dimension are in crm.survey_answers';
SELECT pg_catalog.pg_extension_config_dump('crm.surveys', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.surveys', 'survey_id'), '');

CREATE TABLE crm.survey_answers (
    survey_id bigint NOT NULL REFERENCES crm.surveys ON DELETE CASCADE,
    dimension text NOT NULL,
    expected real NOT NULL CHECK (expected > 0 AND expected <> 'Infinity'),
    perceived real NOT NULL CHECK (perceived >= 0 AND perceived <> 'Infinity'),
    PRIMARY KEY (survey_id, dimension)
);
COMMENT ON TABLE crm.survey_answers IS 'What the customer expected and perceived on each dimension of a survey (e.g. reliability, responsiveness, price), on one scale';
SELECT pg_catalog.pg_extension_config_dump('crm.survey_answers', '');

CREATE VIEW crm.survey_scores AS
SELECT s.survey_id, s.customer_id, s.surveyed_at,
       sum(a.perceived::double precision) / sum(a.expected::double precision) AS score,
       sum(a.perceived) >= sum(a.expected) AS satisfied
FROM crm.surveys s JOIN crm.survey_answers a USING (survey_id)
GROUP BY s.survey_id;
COMMENT ON VIEW crm.survey_scores IS 'Per survey: perceived / expected over its dimensions; satisfied when perceived >= expected';
COMMENT ON COLUMN crm.survey_scores.survey_id IS 'Survey';
COMMENT ON COLUMN crm.survey_scores.customer_id IS 'Customer';
COMMENT ON COLUMN crm.survey_scores.surveyed_at IS 'When surveyed';
COMMENT ON COLUMN crm.survey_scores.score IS 'Sum of perceived / sum of expected (1 = expectations exactly met)';
COMMENT ON COLUMN crm.survey_scores.satisfied IS 'perceived >= expected';

-- loyalty from satisfaction held over the latest surveys; complaints do
-- not enter (the texts found complainers often the most loyal)
CREATE VIEW crm.customer_satisfaction AS
SELECT q.customer_id, q.surveys, q.last_score, q.satisfied_streak,
       q.satisfied_streak >= n.loyal_after AS loyal
FROM (SELECT crm.setting('loyal_after_surveys')::integer AS loyal_after OFFSET 0) n, (SELECT v.customer_id, count(*) AS surveys,
             (array_agg(v.score ORDER BY v.surveyed_at DESC, v.survey_id DESC))[1] AS last_score,
             coalesce(min(v.rank) FILTER (WHERE NOT v.satisfied) - 1, count(*)) AS satisfied_streak
      FROM (SELECT ss.*, row_number() OVER (PARTITION BY ss.customer_id ORDER BY ss.surveyed_at DESC, ss.survey_id DESC) AS rank
            FROM crm.survey_scores ss) v
      GROUP BY v.customer_id) q;
COMMENT ON VIEW crm.customer_satisfaction IS 'Per customer: surveys, last score, consecutive satisfied latest surveys, and loyal (streak >= loyal_after_surveys)';
COMMENT ON COLUMN crm.customer_satisfaction.customer_id IS 'Customer';
COMMENT ON COLUMN crm.customer_satisfaction.surveys IS 'Surveys answered';
COMMENT ON COLUMN crm.customer_satisfaction.last_score IS 'Score of the latest survey';
COMMENT ON COLUMN crm.customer_satisfaction.satisfied_streak IS 'How many of the latest surveys in a row were satisfied';
COMMENT ON COLUMN crm.customer_satisfaction.loyal IS 'Satisfaction held for loyal_after_surveys consecutive surveys';
-- ---------------------------------------------------------------------
-- The CRM in the database, part 3: scoring customers from their
-- summaries, and the daily refresh
-- ---------------------------------------------------------------------

-- scores, segment and inferred stage of the given customers as of a date,
-- from their summaries (the same expressions as the order triggers)
CREATE FUNCTION crm.score_customers(customers bigint[], as_of date)
    RETURNS bigint LANGUAGE sql
    SET search_path = pg_catalog, crm
    AS $$
    -- lock in customer order first, as the order triggers do; the UPDATE
    -- then reads the summaries as they are now
    SELECT count(*) FROM (SELECT FROM crm.customers c WHERE c.customer_id = ANY (customers)
                          ORDER BY c.customer_id FOR NO KEY UPDATE) l;
    WITH done AS (
    UPDATE crm.customers c SET
        rfm = n.r, scored_on = as_of,
        segment = CASE WHEN n.r IS NOT NULL AND crm.rfm_scale(n.cp) = 5 THEN
            crm.segment('rfm_segments', ARRAY[crm.recency_score(n.r),
                        round((crm.frequency_score(n.r) + crm.monetary_score(n.r)) / 2.0)]::float8[]) END,
        stage = n.i_stage,
        stage_reason = CASE WHEN n.i_stage OPERATOR(crm.<>) c.stage THEN n.i_reason ELSE c.stage_reason END,
        stage_since = CASE WHEN n.i_stage OPERATOR(crm.<>) c.stage THEN as_of ELSE c.stage_since END
    FROM (SELECT c2.customer_id, sc.cp, crm.rfm_score(c2.summary, sc.cp) AS r,
                 i.stage AS i_stage, i.reason AS i_reason
          FROM crm.customers c2
          CROSS JOIN (SELECT crm.setting('complaint_trend_days')::integer AS days OFFSET 0) cfg
          LEFT JOIN (SELECT crm.rebase(s.cutpoints, as_of) AS cp FROM crm.scoring s) sc ON true
          LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE k.opened_at >= as_of - cfg.days)::integer AS recent,
                                    count(*) FILTER (WHERE k.opened_at < as_of - cfg.days)::integer AS previous
                             FROM crm.complaints k
                             WHERE k.customer_id = c2.customer_id
                               AND k.opened_at >= as_of - 2 * cfg.days
                               AND k.opened_at < as_of + 1) cc ON true
          CROSS JOIN LATERAL crm.infer_stage(c2.stage, c2.summary, as_of,
                                             complaints_recent => cc.recent, complaints_previous => cc.previous,
                                             stage_since => c2.stage_since) i
          WHERE c2.customer_id = ANY (customers)
          OFFSET 0) n
    WHERE c.customer_id = n.customer_id
    RETURNING 1)
    SELECT count(*) FROM done $$;
COMMENT ON FUNCTION crm.score_customers(bigint[], date) IS
    'Rescore the given customers as of a date: RFM against the stored cutpoints, segment, and the stage inferred from purchases and the complaints trend';
REVOKE ALL ON FUNCTION crm.score_customers(bigint[], date) FROM PUBLIC;

-- ---------------------------------------------------------------------
-- The daily refresh
-- ---------------------------------------------------------------------

CREATE PROCEDURE crm.refresh(as_of date DEFAULT NULL, batch_size integer DEFAULT 10000,
                             fit_model boolean DEFAULT false, commit_batches boolean DEFAULT true)
    LANGUAGE plpgsql
    -- no SET clause: a procedure with one cannot COMMIT; the body pins
    -- search_path itself after every COMMIT
    AS $$
DECLARE
    day date := coalesce(as_of, crm.business_date());
    cp crm.rfm_cutpoints;
    m crm.btyd_model;
    last_id bigint := NULL;
    ids bigint[];
    caller_path text := pg_catalog.current_setting('search_path');
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, crm', true);
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = '22023';
    END IF;
    -- population figures: one pass over the summaries (no row locks)
    SELECT crm.rfm_quantiles(c.summary, day) INTO cp FROM crm.customers c WHERE c.summary IS NOT NULL;
    IF fit_model THEN
        EXECUTE format('SELECT crm.fit_%s(c.summary, $1, $2::interval) FROM crm.customers c WHERE crm.first_purchase(c.summary) <= $1',
                       crm.setting('btyd_model'))
            INTO m USING day, crm.setting('btyd_unit');
    ELSE
        SELECT s.model INTO m FROM crm.scoring s;
    END IF;
    IF cp IS NOT NULL THEN
        INSERT INTO crm.scoring (singleton, cutpoints, model, refreshed_at) VALUES (true, cp, m, now())
        ON CONFLICT (singleton) DO UPDATE SET cutpoints = excluded.cutpoints, model = excluded.model,
                                              refreshed_at = excluded.refreshed_at;
    END IF;
    IF commit_batches THEN
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, crm', true);
    END IF;
    -- customers in batches, each its own transaction: locks are held on
    -- one batch at a time, taken in customer order like the triggers'
    LOOP
        SELECT array_agg(customer_id ORDER BY customer_id) INTO ids
        FROM (SELECT c.customer_id FROM crm.customers c
              WHERE c.customer_id > coalesce(last_id, -9223372036854775808)
              ORDER BY c.customer_id LIMIT batch_size) b;
        EXIT WHEN ids IS NULL;
        PERFORM pg_catalog.set_config('crm.change_source', 'inference', true);
        PERFORM crm.score_customers(ids, day);
        last_id := ids[cardinality(ids)];
        IF commit_batches THEN
            COMMIT;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, crm', true);
        END IF;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
END $$;
COMMENT ON PROCEDURE crm.refresh(date, integer, boolean, boolean) IS
    'Recompute everything time-dependent as of a date (default the business date): RFM cutpoints, then every customer''s RFM score, segment and inferred stage in batches of batch_size, committing after each (call it outside a transaction block, or with commit_batches => false); fit_model => true also refits the P(alive) model';
-- ---------------------------------------------------------------------
-- The CRM in the database, part 4: views for BI, roles, row-level
-- security
-- ---------------------------------------------------------------------

CREATE FUNCTION crm.purchase_history(s crm.summary, OUT day date, OUT purchases integer, OUT amount numeric)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'summary_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
COMMENT ON FUNCTION crm.purchase_history(crm.summary) IS
    'The summary''s days as rows, oldest first: day, purchases (0 on a refund-only day) and net amount';

CREATE VIEW crm.customer_360 AS
SELECT c.customer_id, c.name, c.kind, c.customer_class, c.service_level, c.account_manager, c.marketing_opt_out,
       crm.first_purchase(c.summary) AS first_purchase,
       crm.last_purchase(c.summary) AS last_purchase,
       coalesce(crm.purchase_days(c.summary), 0) AS purchase_days,
       coalesce(crm.total_spend(c.summary), 0) AS total_spend,
       c.rfm, c.segment, c.scored_on, c.stage, c.stage_since, c.stage_reason, c.level, t.target_level,
       CASE WHEN crm.first_purchase(c.summary) <= d.as_of
            THEN round(crm.p_alive(sc.model, c.summary, d.as_of)::numeric, 4) END AS p_alive,
       li.occurred_at AS last_interaction_at, li.channel AS last_interaction_channel,
       coalesce(oc.open_complaints, 0) AS open_complaints,
       round(cs.last_score::numeric, 4) AS last_satisfaction_score, coalesce(cs.loyal, false) AS loyal,
       c.churn_reason
FROM crm.customers c
-- settings and the business date read once, not per row (OFFSET 0 keeps
-- the planner from copying the calls into every row)
CROSS JOIN (SELECT crm.business_date() AS as_of OFFSET 0) d
LEFT JOIN crm.level_targets t USING (customer_class)
LEFT JOIN crm.scoring sc ON true
LEFT JOIN LATERAL (SELECT i.occurred_at, i.channel FROM crm.interactions i
                   WHERE i.customer_id = c.customer_id ORDER BY i.occurred_at DESC LIMIT 1) li ON true
LEFT JOIN LATERAL (SELECT count(*) AS open_complaints FROM crm.complaints k
                   WHERE k.customer_id = c.customer_id AND k.resolved_at IS NULL) oc ON true
LEFT JOIN crm.customer_satisfaction cs USING (customer_id);
COMMENT ON VIEW crm.customer_360 IS 'One row per customer: identity, purchases, scores, segment, stage, level, last interaction, open complaints, satisfaction';
COMMENT ON COLUMN crm.customer_360.customer_id IS 'Customer';
COMMENT ON COLUMN crm.customer_360.name IS 'Name';
COMMENT ON COLUMN crm.customer_360.kind IS 'consumer, intermediary, internal or public';
COMMENT ON COLUMN crm.customer_360.customer_class IS 'Class for level targets (residential, general, large, important)';
COMMENT ON COLUMN crm.customer_360.service_level IS 'vip, professional or ordinary';
COMMENT ON COLUMN crm.customer_360.account_manager IS 'Account manager role';
COMMENT ON COLUMN crm.customer_360.marketing_opt_out IS 'No marketing';
COMMENT ON COLUMN crm.customer_360.first_purchase IS 'First purchase day';
COMMENT ON COLUMN crm.customer_360.last_purchase IS 'Last purchase day';
COMMENT ON COLUMN crm.customer_360.purchase_days IS 'Days with purchases';
COMMENT ON COLUMN crm.customer_360.total_spend IS 'Net spend, refunds deducted';
COMMENT ON COLUMN crm.customer_360.rfm IS 'RFM score (last order or refresh)';
COMMENT ON COLUMN crm.customer_360.segment IS 'RFM segment';
COMMENT ON COLUMN crm.customer_360.scored_on IS 'Business date of the scores';
COMMENT ON COLUMN crm.customer_360.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.customer_360.stage_since IS 'Since when';
COMMENT ON COLUMN crm.customer_360.stage_reason IS 'Why the stage last changed';
COMMENT ON COLUMN crm.customer_360.level IS 'Relationship level';
COMMENT ON COLUMN crm.customer_360.target_level IS 'Target level of the customer''s class';
COMMENT ON COLUMN crm.customer_360.p_alive IS 'Probability the customer is still active (the model of the last crm.refresh(fit_model => true)); NULL without a model';
COMMENT ON COLUMN crm.customer_360.last_interaction_at IS 'Latest interaction';
COMMENT ON COLUMN crm.customer_360.last_interaction_channel IS 'Its channel';
COMMENT ON COLUMN crm.customer_360.open_complaints IS 'Complaints not resolved yet';
COMMENT ON COLUMN crm.customer_360.last_satisfaction_score IS 'Perceived / expected in the latest survey';
COMMENT ON COLUMN crm.customer_360.loyal IS 'Satisfied in loyal_after_surveys consecutive latest surveys';
COMMENT ON COLUMN crm.customer_360.churn_reason IS 'Why the customer left, if recorded';

-- KPIs per calendar month.  A customer is active in a month with a purchase
-- day in it; retention is the share of last month's active customers active
-- again this month, churn its complement.
CREATE VIEW crm.kpis AS
WITH days AS (
    SELECT c.customer_id, h.day, h.purchases, h.amount, crm.first_purchase(c.summary) AS first_day
    FROM crm.customers c CROSS JOIN LATERAL crm.purchase_history(c.summary) h
),
active AS (
    SELECT d.customer_id, date_trunc('month', d.day)::date AS month,
           bool_or(d.first_day < date_trunc('month', d.day)::date) AS bought_before
    FROM days d WHERE d.purchases > 0 GROUP BY 1, 2
),
sales AS (
    SELECT date_trunc('month', d.day)::date AS month, sum(d.amount) AS revenue, sum(d.purchases) AS orders
    FROM days d GROUP BY 1
),
monthly AS (
    SELECT a.month, count(*) AS active_customers,
           count(*) FILTER (WHERE a.bought_before) AS returning_customers,
           count(p.customer_id) AS retained_customers
    FROM active a LEFT JOIN active p ON p.customer_id = a.customer_id AND p.month = (a.month - interval '1 month')::date
    GROUP BY a.month
),
complaints AS (
    SELECT date_trunc('month', k.opened_at)::date AS month, count(*) AS opened,
           count(*) FILTER (WHERE k.first_response_at - k.opened_at <= s.first_response) AS answered_in_time
    FROM crm.complaints k CROSS JOIN (SELECT crm.setting('sla_first_response')::interval AS first_response OFFSET 0) s
    GROUP BY 1
),
surveys AS (
    SELECT date_trunc('month', s.surveyed_at)::date AS month, avg(s.score) AS score
    FROM crm.survey_scores s GROUP BY 1
)
SELECT m.month, m.active_customers,
       round(m.retained_customers::numeric / nullif(prev.active_customers, 0), 4) AS retention_rate,
       round(1 - m.retained_customers::numeric / nullif(prev.active_customers, 0), 4) AS churn_rate,
       round(m.returning_customers::numeric / m.active_customers, 4) AS repeat_purchase_rate,
       round(s.revenue / nullif(s.orders, 0), 2) AS average_order_value,
       s.revenue,
       coalesce(k.opened, 0) AS complaints,
       round(k.answered_in_time::numeric / nullif(k.opened, 0), 4) AS complaints_within_sla,
       round((100 * v.score)::numeric, 1) AS satisfaction_index
FROM monthly m
LEFT JOIN monthly prev ON prev.month = (m.month - interval '1 month')::date
LEFT JOIN sales s ON s.month = m.month
LEFT JOIN complaints k ON k.month = m.month
LEFT JOIN surveys v ON v.month = m.month;
COMMENT ON VIEW crm.kpis IS 'KPIs per calendar month, from the maintained summaries, complaints and surveys (filter on month)';
COMMENT ON COLUMN crm.kpis.month IS 'First day of the month';
COMMENT ON COLUMN crm.kpis.active_customers IS 'Customers with a purchase day in the month';
COMMENT ON COLUMN crm.kpis.retention_rate IS 'Share of the previous month''s active customers active again this month';
COMMENT ON COLUMN crm.kpis.churn_rate IS '1 - retention_rate';
COMMENT ON COLUMN crm.kpis.repeat_purchase_rate IS 'Share of the month''s active customers who had bought before the month';
COMMENT ON COLUMN crm.kpis.average_order_value IS 'Net revenue / purchase transactions in the month';
COMMENT ON COLUMN crm.kpis.revenue IS 'Net revenue of the month (refunds deducted)';
COMMENT ON COLUMN crm.kpis.complaints IS 'Complaints opened in the month';
COMMENT ON COLUMN crm.kpis.complaints_within_sla IS 'Share of them answered within sla_first_response';
COMMENT ON COLUMN crm.kpis.satisfaction_index IS '100 x mean survey score (perceived / expected) of the month';

CREATE VIEW crm.churn_watch AS
SELECT c.customer_id, c.name, c.account_manager, c.stage, c.stage_reason, c.segment,
       crm.days_since_last_purchase(c.summary, d.as_of) AS days_since_last_purchase,
       coalesce(crm.total_spend(c.summary), 0) AS total_spend,
       CASE WHEN crm.first_purchase(c.summary) <= d.as_of
            THEN round(crm.p_alive(sc.model, c.summary, d.as_of)::numeric, 4) END AS p_alive,
       (SELECT count(*) FROM crm.complaints k
        WHERE k.customer_id = c.customer_id
          AND k.opened_at >= d.as_of - d.trend_days) AS recent_complaints
FROM crm.customers c
CROSS JOIN (SELECT crm.business_date() AS as_of, crm.setting('complaint_trend_days')::integer AS trend_days OFFSET 0) d
LEFT JOIN crm.scoring sc ON true
WHERE c.stage OPERATOR(crm.=) 'decline'
   OR ((c.stage OPERATOR(crm.=) 'formation' OR c.stage OPERATOR(crm.=) 'stable') AND crm.first_purchase(c.summary) <= d.as_of
       AND crm.p_alive(sc.model, c.summary, d.as_of) < 0.5);
COMMENT ON VIEW crm.churn_watch IS 'Customers at risk: in decline, or formation/stable with P(alive) < 0.5 under the stored model';
COMMENT ON COLUMN crm.churn_watch.customer_id IS 'Customer';
COMMENT ON COLUMN crm.churn_watch.name IS 'Name';
COMMENT ON COLUMN crm.churn_watch.account_manager IS 'Account manager role';
COMMENT ON COLUMN crm.churn_watch.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.churn_watch.stage_reason IS 'Why the stage last changed (the decline signal)';
COMMENT ON COLUMN crm.churn_watch.segment IS 'RFM segment';
COMMENT ON COLUMN crm.churn_watch.days_since_last_purchase IS 'Days since the last purchase, on the business date';
COMMENT ON COLUMN crm.churn_watch.total_spend IS 'Net spend';
COMMENT ON COLUMN crm.churn_watch.p_alive IS 'P(alive) under the stored model; NULL without one';
COMMENT ON COLUMN crm.churn_watch.recent_complaints IS 'Complaints in the last complaint_trend_days days';

-- ---------------------------------------------------------------------
-- Roles.  Roles are cluster-wide: they are created if missing and kept by
-- DROP EXTENSION (other databases may use them); drop them by hand.
-- ---------------------------------------------------------------------
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['crm_reader', 'crm_writer', 'crm_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $$;
GRANT crm_reader TO crm_writer;
GRANT crm_writer TO crm_admin;

-- readers: everything in crm, read-only
GRANT SELECT ON ALL TABLES IN SCHEMA crm TO crm_reader;
-- writers: orders, interactions, complaints, surveys; customers' record
GRANT INSERT, UPDATE, DELETE ON crm.orders, crm.interactions, crm.complaints, crm.surveys, crm.survey_answers TO crm_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO crm_writer;
GRANT INSERT (customer_id, name, kind, customer_class, service_level, account_manager, marketing_opt_out, stage, level)
    ON crm.customers TO crm_writer;
GRANT UPDATE (name, kind, service_level, marketing_opt_out, churn_reason, stage, stage_reason, level)
    ON crm.customers TO crm_writer;
-- admins: configuration, attaching tables, refresh, overrides
GRANT INSERT, UPDATE, DELETE ON crm.settings, crm.stage_thresholds, crm.level_targets,
    crm.segment_schemes, crm.segment_labels, crm.segment_cells, crm.segment_rules,
    crm.complaint_categories, crm.churn_reasons, crm.customer_segments TO crm_admin;
GRANT UPDATE, DELETE ON crm.customers TO crm_admin;
GRANT INSERT, UPDATE, DELETE ON crm.tracked_tables, crm.scoring, crm.stage_history TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.track_orders_trigger(), crm.install_tracking(regclass, name, name, name, text, text),
    crm.rescore(bigint[], text, integer), crm.score_customers(bigint[], date),
    crm.override_stage(bigint, crm.stage, text) TO crm_admin;
GRANT EXECUTE ON PROCEDURE crm.rebuild_summaries() TO crm_admin;
-- crm.refresh writes every customer: admins only
REVOKE ALL ON PROCEDURE crm.refresh(date, integer, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE crm.refresh(date, integer, boolean, boolean) TO crm_admin;

-- ---------------------------------------------------------------------
-- Row-level security: a role named as some customer's account manager
-- sees, and writes, only its own customers; every other role sees all.
-- ---------------------------------------------------------------------
-- SECURITY DEFINER so that they read crm.customers past its own policy
-- (a policy querying its own table would recurse); the role is passed in
-- because inside them current_user is the owner.  They answer only for
-- roles the session's login role belongs to.
CREATE FUNCTION crm.is_account_manager(role name) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT pg_has_role(session_user, role, 'MEMBER')
                 AND EXISTS (SELECT FROM crm.customers c WHERE c.account_manager = role) $$;
COMMENT ON FUNCTION crm.is_account_manager(name) IS
    'Whether the role (one the session''s login role belongs to) is some customer''s account manager; row-level security then limits it to those customers';

CREATE FUNCTION crm.managed_customers(role name) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT c.customer_id FROM crm.customers c
          WHERE c.account_manager = role AND pg_has_role(session_user, role, 'MEMBER') $$;
COMMENT ON FUNCTION crm.managed_customers(name) IS 'The customers the role (one the session''s login role belongs to) manages';

ALTER TABLE crm.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_manager ON crm.customers
    USING (NOT (SELECT crm.is_account_manager(current_user)) OR account_manager = current_user);
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['orders', 'interactions', 'complaints', 'surveys'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE crm.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY account_manager ON crm.%I USING (NOT (SELECT crm.is_account_manager(current_user)) '
            'OR customer_id IN (SELECT crm.managed_customers(current_user)))', t);
    END LOOP;
END $$;

-- views check the reader's own privileges and policies, not the owner's
DO $$
DECLARE
    v regclass;
BEGIN
    FOR v IN SELECT c.oid FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v' LOOP
        EXECUTE pg_catalog.format('ALTER VIEW %s SET (security_invoker = true)', v);
    END LOOP;
END $$;
