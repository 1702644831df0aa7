-- ---------------------------------------------------------------------
-- Orders (src/track.c): crm.orders, attaching the order tables an
-- application already has, and the triggers that keep every customer
-- current in the same transaction as its orders
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
    amount_column name,
    mode text NOT NULL CHECK (mode IN ('statement', 'row')),
    unknown_customers text NOT NULL CHECK (unknown_customers IN ('create', 'error')),
    attached_at timestamptz NOT NULL DEFAULT now(),
    keyed boolean NOT NULL DEFAULT false,
    amount_scale integer NOT NULL DEFAULT 0 CHECK (amount_scale BETWEEN 0 AND 18),
    amount_expression text,
    row_filter text,
    column_types regtype[],
    CHECK ((amount_column IS NULL) <> (amount_expression IS NULL))
);
COMMENT ON TABLE crm.tracked_tables IS 'Order tables whose rows crm.customers summarizes (crm.track_orders / crm.untrack_orders)';
SELECT pg_catalog.pg_extension_config_dump('crm.tracked_tables', $$WHERE table_name <> 'crm.orders'::regclass$$);
COMMENT ON COLUMN crm.tracked_tables.keyed IS 'Customers by an application key (uuid, text, varchar), mapped to customer_id in crm.customer_keys';
COMMENT ON COLUMN crm.tracked_tables.amount_scale IS 'The amount is divided by 10^amount_scale (cents: 2)';
COMMENT ON COLUMN crm.tracked_tables.amount_expression IS 'The amount as an expression over the table''s columns (instead of amount_column)';
COMMENT ON COLUMN crm.tracked_tables.row_filter IS 'Which rows are purchases: a boolean expression over the table''s columns (NULL: every row)';
COMMENT ON COLUMN crm.tracked_tables.column_types IS 'Types of the customer, date and amount columns at attach (a change of type is refused)';

-- the partitions of tracked partitioned tables, each with the statement
-- triggers of its own (a write straight into a partition fires no
-- statement trigger of its parent), kept by the event triggers below
CREATE TABLE crm.tracked_partitions (
    partition regclass PRIMARY KEY,
    root regclass NOT NULL
);
COMMENT ON TABLE crm.tracked_partitions IS 'Partitions (at any level) of the tracked partitioned tables, with their own tracking triggers';
SELECT pg_catalog.pg_extension_config_dump('crm.tracked_partitions', '');

-- the orders of partitions detached from a tracked table: they stay
-- counted in the summaries (a detach archives orders, it does not undo
-- them), and crm.rebuild_summaries() counts them from here
CREATE TABLE crm.retained_summaries (
    customer_id bigint NOT NULL,
    summary crm.summary NOT NULL,
    detached_from text NOT NULL,
    detached_at timestamptz NOT NULL DEFAULT now(),
    root regclass NOT NULL
);
CREATE INDEX retained_summaries_customer ON crm.retained_summaries (customer_id);
COMMENT ON TABLE crm.retained_summaries IS 'Per-customer summaries of the orders of partitions detached from tracked tables (still counted; crm.rebuild_summaries() adds them)';
COMMENT ON COLUMN crm.retained_summaries.root IS 'The tracked table the partition was detached from (crm.untrack_orders(..., forget => true) takes its orders out too)';
SELECT pg_catalog.pg_extension_config_dump('crm.retained_summaries', '');

-- customers of tables keyed by an application key: one row per key, the
-- key's text (uuid in its canonical form), and the customer_id crm gives it
-- (from crm.customer_key_ids); the order trigger looks every key up through
-- the primary key
CREATE SEQUENCE crm.customer_key_ids AS bigint;
CREATE TABLE crm.customer_keys (
    app_key text PRIMARY KEY,
    customer_id bigint NOT NULL UNIQUE
);
COMMENT ON TABLE crm.customer_keys IS 'Application keys (uuid, text) of the customers of tables attached by such a key, with the customer_id crm gave each';
COMMENT ON COLUMN crm.customer_keys.app_key IS 'The application''s customer key, as text (a uuid in its canonical lower-case form)';
COMMENT ON COLUMN crm.customer_keys.customer_id IS 'The customer in crm.customers';
SELECT pg_catalog.pg_extension_config_dump('crm.customer_keys', '');
SELECT pg_catalog.pg_extension_config_dump('crm.customer_key_ids', '');

CREATE FUNCTION crm.customer_for_key(app_key text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    id bigint;
BEGIN
    IF app_key IS NULL THEN
        RAISE EXCEPTION 'app_key must not be NULL' USING ERRCODE = '22004';
    END IF;
    INSERT INTO crm.customer_keys AS k VALUES (app_key, nextval('crm.customer_key_ids'))
        ON CONFLICT DO NOTHING;
    SELECT k.customer_id INTO id FROM crm.customer_keys k WHERE k.app_key = customer_for_key.app_key;
    INSERT INTO crm.customers (customer_id) VALUES (id) ON CONFLICT DO NOTHING;
    RETURN id;
END $$;
COMMENT ON FUNCTION crm.customer_for_key(text) IS
    'The customer_id of an application key (a uuid as text, a text key), the customer and its key registered when new';

-- validates an attach's amount expression or filter (src/track.c, as the
-- trigger compiles it)
CREATE FUNCTION crm.check_order_expression(tbl regclass, expression text, is_filter boolean)
    RETURNS void AS 'MODULE_PATHNAME', 'check_order_expression' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.check_order_expression(regclass, text, boolean) IS
    'Refuse an amount expression (numeric) or a filter (boolean) over a table''s rows that the order trigger could not evaluate: not one expression, wrong type, volatile, a subquery';
REVOKE ALL ON FUNCTION crm.check_order_expression(regclass, text, boolean) FROM PUBLIC;

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

-- the triggers on one table, by mode; options: 'id' or 'key', the amount
-- scale, the amount expression and the filter ('' for none), for a table
-- attached with any of them
CREATE FUNCTION crm.install_tracking(tbl regclass, customer name, at name, amount name,
                                     mode text, unknown_customers text, options text[] DEFAULT NULL)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    args text := format('%L, %L, %L, %L', customer, at, coalesce(amount, ''), unknown_customers)
                 || coalesce((SELECT string_agg(', ' || quote_literal(o), '' ORDER BY i)
                              FROM unnest(options) WITH ORDINALITY u(o, i)), '');
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
COMMENT ON FUNCTION crm.install_tracking(regclass, name, name, name, text, text, text[]) IS
    'Create the tracking triggers on a table (used by crm.track_orders; not for direct use)';
REVOKE ALL ON FUNCTION crm.install_tracking(regclass, name, name, name, text, text, text[]) FROM PUBLIC;

CREATE FUNCTION crm.refuse_truncate() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
BEGIN
    RAISE EXCEPTION 'cannot truncate %.% while crm tracks it', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = '55000',
              HINT = 'Delete the rows instead, or detach with crm.untrack_orders() first.';
END $$;
COMMENT ON FUNCTION crm.refuse_truncate() IS 'BEFORE TRUNCATE trigger on tracked tables: TRUNCATE fires no row changes, so it is refused';

-- the orders of one tracked table as crm reads them: a query giving
-- (customer_id, day, amount) per purchase row, the key mapped through
-- crm.customer_keys, a timestamptz date turned into a day in the business
-- time zone, the amount scaled or computed, the filter applied (the same
-- rules as the trigger, src/track.c)
CREATE FUNCTION crm.order_rows_query(t crm.tracked_tables, mapped boolean DEFAULT true) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    at_type regtype := (SELECT a.atttypid FROM pg_attribute a
                        WHERE a.attrelid = t.table_name AND a.attname = t.date_column AND NOT a.attisdropped);
    day text;
    amount text;
    inner_query text;
BEGIN
    day := CASE WHEN at_type = 'timestamptz'::regtype
                THEN format('(o.%I AT TIME ZONE %L)::date', t.date_column, crm.setting('business_time_zone'))
                ELSE format('o.%I::date', t.date_column) END;
    amount := CASE WHEN t.amount_expression IS NOT NULL THEN format('(%s)::numeric', t.amount_expression)
                   WHEN t.amount_scale > 0 THEN format('o.%I::numeric', t.amount_column)
                   ELSE format('o.%I::numeric', t.amount_column) END;
    IF t.amount_scale > 0 THEN
        amount := format('(%s / %s::numeric)', amount, '1' || repeat('0', t.amount_scale));
    END IF;
    inner_query := format('SELECT o.%I AS crm_customer, %s AS crm_day, %s AS crm_amount FROM %s o WHERE o.%I IS NOT NULL%s',
                          t.customer_column, day, amount, t.table_name, t.customer_column,
                          CASE WHEN t.row_filter IS NOT NULL THEN format(' AND (%s)', t.row_filter) ELSE '' END);
    IF t.keyed AND mapped THEN
        RETURN format('SELECT k.customer_id, r.crm_day, r.crm_amount FROM (%s) r JOIN crm.customer_keys k ON k.app_key = r.crm_customer::text',
                      inner_query);
    ELSIF t.keyed THEN
        RETURN format('SELECT r.crm_customer, r.crm_day, r.crm_amount FROM (%s) r', inner_query);
    END IF;
    RETURN format('SELECT r.crm_customer::bigint, r.crm_day, r.crm_amount FROM (%s) r', inner_query);
END $$;
COMMENT ON FUNCTION crm.order_rows_query(crm.tracked_tables, boolean) IS
    'The query of one tracked table''s purchase rows as crm reads them (customer_id, day, amount): key mapped (with mapped => false, the application''s key as it is), day in the business time zone, amount scaled or computed, filter applied';

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
    RETURN QUERY EXECUTE format('SELECT q.customer_id, crm.summarize(q.crm_day, q.crm_amount) FROM (%s) q(customer_id, crm_day, crm_amount) GROUP BY 1',
                                crm.order_rows_query(t));
END $$;
COMMENT ON FUNCTION crm.table_summaries(regclass) IS
    'Per-customer summaries computed afresh from one tracked table (the reference the triggers are checked against)';

-- the options of a table's triggers (crm.install_tracking), NULL for a
-- table attached without any
CREATE FUNCTION crm.tracking_options(t crm.tracked_tables) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$
    SELECT CASE WHEN t.keyed OR t.amount_scale > 0 OR t.amount_expression IS NOT NULL OR t.row_filter IS NOT NULL
                THEN ARRAY[CASE WHEN t.keyed THEN 'key' ELSE 'id' END, t.amount_scale::text,
                           coalesce(t.amount_expression, CASE WHEN t.amount_scale > 0 THEN quote_ident(t.amount_column) END, ''),
                           coalesce(t.row_filter, '')] END $$;
COMMENT ON FUNCTION crm.tracking_options(crm.tracked_tables) IS
    'The attach options of a tracked table as its triggers take them (used by crm.track_orders; not for direct use)';

-- count the orders of t.table_name (a tracked table, or one of its
-- partitions) into the summaries: keys mapped (or refused), customers
-- created (or refused), summaries merged, customers rescored; with
-- first_contact, the population state computed first when none is stored
CREATE FUNCTION crm.count_orders(t crm.tracked_tables, first_contact boolean)
    RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    missing text;
    counted bigint;
    nkeys bigint;
    nmapped bigint;
BEGIN
    -- the same checks as the triggers (unknown customers, bad amounts)
    IF t.keyed THEN
        -- application keys: the orders grouped by their key in one pass
        -- over the table, then one key lookup per customer, not per order;
        -- when some key was not found (app_key is unique: fewer rows than
        -- keys), the keys missing from crm.customer_keys are mapped (or
        -- refused) and looked up again.  A database whose customers are all
        -- mapped (attached before) pays one join, not a second one to find
        -- none missing.
        EXECUTE format('CREATE TEMP TABLE crm_backfill_keys ON COMMIT DROP AS '
                       'SELECT s.crm_key::text AS crm_key, s.summary FROM (SELECT q.crm_key, crm.summarize(q.crm_day, q.crm_amount) AS summary '
                       'FROM (%s) q(crm_key, crm_day, crm_amount) GROUP BY 1) s',
                       crm.order_rows_query(t, mapped => false));
        GET DIAGNOSTICS nkeys = ROW_COUNT;
        CREATE TEMP TABLE crm_backfill ON COMMIT DROP AS
        SELECT k.customer_id, b.summary FROM crm_backfill_keys b JOIN crm.customer_keys k ON k.app_key = b.crm_key;
        GET DIAGNOSTICS nmapped = ROW_COUNT;
    END IF;
    IF t.keyed AND nmapped < nkeys THEN
        DROP TABLE crm_backfill;
        IF t.unknown_customers = 'create' THEN
            -- new customer_ids follow every id already in use, in key order
            PERFORM setval('crm.customer_key_ids', m) FROM (SELECT max(c.customer_id) AS m FROM crm.customers c) x
            WHERE m >= (SELECT s.last_value FROM crm.customer_key_ids s);
            INSERT INTO crm.customer_keys (app_key, customer_id)
            SELECT b.crm_key, nextval('crm.customer_key_ids') FROM crm_backfill_keys b
            WHERE NOT EXISTS (SELECT FROM crm.customer_keys k WHERE k.app_key = b.crm_key)
            ORDER BY 1 ON CONFLICT DO NOTHING;
        ELSE
            SELECT min(b.crm_key) INTO missing FROM crm_backfill_keys b
            WHERE NOT EXISTS (SELECT FROM crm.customer_keys k WHERE k.app_key = b.crm_key);
            IF missing IS NOT NULL THEN
                RAISE EXCEPTION 'customer "%" of an order in % is not in crm.customer_keys', missing, t.table_name
                    USING ERRCODE = '23503',
                          HINT = 'Register the customers with crm.customer_for_key() first, or attach with unknown_customers => ''create''.';
            END IF;
        END IF;
        CREATE TEMP TABLE crm_backfill ON COMMIT DROP AS
        SELECT k.customer_id, b.summary FROM crm_backfill_keys b JOIN crm.customer_keys k ON k.app_key = b.crm_key;
    END IF;
    IF t.keyed THEN
        DROP TABLE crm_backfill_keys;
    ELSE
        EXECUTE format('CREATE TEMP TABLE crm_backfill ON COMMIT DROP AS '
                       'SELECT q.customer_id, crm.summarize(q.crm_day, q.crm_amount) AS summary FROM (%s) q(customer_id, crm_day, crm_amount) GROUP BY 1',
                       crm.order_rows_query(t));
    END IF;
    IF t.unknown_customers <> 'create'
       AND EXISTS (SELECT FROM crm_backfill b LEFT JOIN crm.customers c USING (customer_id) WHERE c.customer_id IS NULL) THEN
        RAISE EXCEPTION 'customer % of an order in % is not in crm.customers',
            (SELECT min(b.customer_id) FROM crm_backfill b LEFT JOIN crm.customers c USING (customer_id) WHERE c.customer_id IS NULL), t.table_name
            USING ERRCODE = '23503',
                  HINT = 'Insert the customers first, or attach with unknown_customers => ''create''.';
    END IF;
    -- each customer written once: created or merged, scored, walked (moves
    -- dated in the past, source import) and levelled
    PERFORM set_config('crm.change_source', 'import', true);
    counted := crm.attach_summaries('crm_backfill', t.table_name::text, t.unknown_customers = 'create', first_contact);
    PERFORM set_config('crm.change_source', '', true);
    DROP TABLE crm_backfill;
    RETURN counted;
END $$;
COMMENT ON FUNCTION crm.count_orders(crm.tracked_tables, boolean) IS
    'Merge the orders of a tracked table (or of one of its partitions) into the customers'' summaries and rescore them (used by crm.track_orders and when a partition is attached; not for direct use)';
REVOKE ALL ON FUNCTION crm.count_orders(crm.tracked_tables, boolean) FROM PUBLIC;

-- the partitions of a tracked partitioned table brought in step: new ones
-- (created, or attached: with count_rows their orders are counted)
-- registered and given triggers; ones no longer in the tree (detached)
-- keep their orders counted, in crm.retained_summaries, and lose the
-- triggers
CREATE FUNCTION crm.sync_partitions(t crm.tracked_tables, count_rows boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    p regclass;
    part crm.tracked_tables := t;
    trg text;
BEGIN
    FOR p IN SELECT tree.relid FROM pg_partition_tree(t.table_name) tree
             WHERE tree.relid <> t.table_name
               AND NOT EXISTS (SELECT FROM crm.tracked_partitions tp WHERE tp.partition = tree.relid)
             ORDER BY tree.level, tree.relid::text
    LOOP
        INSERT INTO crm.tracked_partitions VALUES (p, t.table_name);
        part.table_name := p;
        IF count_rows AND (SELECT relkind FROM pg_class WHERE oid = p) = 'r' THEN
            PERFORM crm.count_orders(part, false);
        END IF;
        IF t.mode = 'statement' THEN
            PERFORM crm.install_tracking(p, t.customer_column, t.date_column, t.amount_column, 'statement',
                                         t.unknown_customers, crm.tracking_options(t));
        ELSE
            -- row triggers are cloned to partitions; TRUNCATE is refused on each
            EXECUTE format('CREATE TRIGGER crm_track_truncate BEFORE TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION crm.refuse_truncate()', p);
        END IF;
    END LOOP;
    FOR p IN SELECT tp.partition FROM crm.tracked_partitions tp
             WHERE tp.root = t.table_name
               AND NOT EXISTS (SELECT FROM pg_partition_tree(t.table_name) tree WHERE tree.relid = tp.partition)
    LOOP
        part.table_name := p;
        IF (SELECT relkind FROM pg_class WHERE oid = p) = 'r' THEN
            EXECUTE format('INSERT INTO crm.retained_summaries (customer_id, summary, detached_from, root) '
                           'SELECT q.customer_id, crm.summarize(q.crm_day, q.crm_amount), %L, %L FROM (%s) q(customer_id, crm_day, crm_amount) GROUP BY 1',
                           p::text, t.table_name, crm.order_rows_query(part));
        END IF;
        FOR trg IN SELECT tg.tgname FROM pg_trigger tg
                   WHERE tg.tgrelid = p AND tg.tgname LIKE 'crm\_track\_%' AND tg.tgparentid = 0
        LOOP
            EXECUTE format('DROP TRIGGER %I ON %s', trg, p);
        END LOOP;
        DELETE FROM crm.tracked_partitions WHERE partition = p;
    END LOOP;
END $$;
COMMENT ON FUNCTION crm.sync_partitions(crm.tracked_tables, boolean) IS
    'Bring the partitions of a tracked partitioned table in step: new ones get triggers (and with count_rows their orders counted), detached ones keep their orders counted in crm.retained_summaries (used by crm.track_orders and the DDL event trigger; not for direct use)';
REVOKE ALL ON FUNCTION crm.sync_partitions(crm.tracked_tables, boolean) FROM PUBLIC;

CREATE FUNCTION crm.track_orders(tbl regclass, customer name, at name, amount name,
                                 mode text DEFAULT 'statement',
                                 unknown_customers text DEFAULT 'create',
                                 amount_scale integer DEFAULT 0,
                                 amount_expression text DEFAULT NULL,
                                 filter text DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    col name;
    typ regtype;
    keyed boolean;
    backfilled bigint;
    t crm.tracked_tables;
BEGIN
    IF tbl IS NULL OR customer IS NULL OR at IS NULL OR (amount IS NULL AND amount_expression IS NULL) THEN
        RAISE EXCEPTION 'crm.track_orders needs a table, its customer and date columns, and an amount column or amount_expression'
            USING ERRCODE = '22004';
    END IF;
    IF amount IS NOT NULL AND amount_expression IS NOT NULL THEN
        RAISE EXCEPTION 'crm.track_orders takes an amount column or an amount_expression, not both'
            USING ERRCODE = '22023',
                  HINT = 'Pass amount => NULL with an amount_expression.';
    END IF;
    IF mode IS NULL OR mode NOT IN ('statement', 'row') THEN
        RAISE EXCEPTION 'mode must be ''statement'' or ''row'', not %', coalesce(quote_literal(mode), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF unknown_customers IS NULL OR unknown_customers NOT IN ('create', 'error') THEN
        RAISE EXCEPTION 'unknown_customers must be ''create'' or ''error'', not %', coalesce(quote_literal(unknown_customers), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF amount_scale IS NULL OR amount_scale NOT BETWEEN 0 AND 18 THEN
        RAISE EXCEPTION 'amount_scale must be between 0 and 18, not %', coalesce(amount_scale::text, 'NULL')
            USING ERRCODE = '22023',
                  HINT = 'The amount is divided by 10^amount_scale: 2 for cents.';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = tbl) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = '42809',
            HINT = 'crm tracks plain and partitioned tables.';
    END IF;
    IF EXISTS (SELECT FROM pg_inherits WHERE inhrelid = tbl) THEN
        RAISE EXCEPTION '% is a partition', tbl USING ERRCODE = '42809',
            HINT = 'Track the partitioned table it belongs to.';
    END IF;
    IF EXISTS (SELECT FROM crm.tracked_tables tt WHERE tt.table_name = tbl) THEN
        RAISE EXCEPTION 'table % is already tracked by crm', tbl USING ERRCODE = '42710',
            HINT = 'Detach it with crm.untrack_orders() first to change how it is tracked.';
    END IF;
    FOREACH col IN ARRAY ARRAY[customer, at, amount] LOOP
        CONTINUE WHEN col IS NULL;
        SELECT a.atttypid INTO typ FROM pg_attribute a
        WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of % does not exist', col, tbl USING ERRCODE = '42703';
        END IF;
        IF col = customer AND typ NOT IN ('smallint', 'integer', 'bigint', 'uuid', 'text', 'character varying')
           AND (SELECT o.oid FROM pg_operator o
                WHERE o.oprname = '=' AND o.oprleft = typ AND o.oprright = typ AND o.oprcanhash LIMIT 1) IS NULL
           AND NOT EXISTS (SELECT FROM pg_opclass c JOIN pg_am m ON m.oid = c.opcmethod
                           WHERE m.amname = 'btree' AND c.opcintype = typ AND c.opcdefault) THEN
            RAISE EXCEPTION 'customer column "%" of % has type %, which has no equality operator', col, tbl, typ
                USING ERRCODE = '42883',
                      HINT = 'A customer key must be comparable: smallint, integer, bigint, uuid, text or varchar.';
        END IF;
        IF (col = customer AND typ NOT IN ('smallint', 'integer', 'bigint', 'uuid', 'text', 'character varying'))
           OR (col = at AND typ NOT IN ('date', 'timestamp', 'timestamptz'))
           OR (col = amount AND typ NOT IN ('numeric', 'double precision', 'real', 'smallint', 'integer', 'bigint')) THEN
            RAISE EXCEPTION 'column "%" of % has type %, which crm cannot track', col, tbl, typ
                USING ERRCODE = '42804',
                      HINT = 'Customers are smallint, integer, bigint, uuid, text or varchar keys, dates are date or timestamp[tz], amounts are numeric, floating-point or integer (or give an amount_expression).';
        END IF;
        IF col = customer THEN
            keyed := typ IN ('uuid', 'text', 'character varying');
        END IF;
    END LOOP;
    IF amount_expression IS NOT NULL THEN
        PERFORM crm.check_order_expression(tbl, amount_expression, false);
    END IF;
    IF filter IS NOT NULL THEN
        PERFORM crm.check_order_expression(tbl, filter, true);
    END IF;

    INSERT INTO crm.tracked_tables (table_name, customer_column, date_column, amount_column, mode, unknown_customers,
                                    keyed, amount_scale, amount_expression, row_filter, column_types)
    VALUES (tbl, customer, at, amount, mode, unknown_customers, keyed, amount_scale, amount_expression, filter,
            ARRAY(SELECT a.atttypid::regtype FROM unnest(ARRAY[customer, at, amount]) WITH ORDINALITY u(col, i)
                  LEFT JOIN pg_attribute a ON a.attrelid = tbl AND a.attname = u.col AND NOT a.attisdropped ORDER BY u.i))
    RETURNING * INTO t;

    -- backfill: the table's existing orders, merged into the summaries
    backfilled := crm.count_orders(t, true);
    PERFORM crm.install_tracking(tbl, customer, at, amount, mode, unknown_customers, crm.tracking_options(t));
    IF (SELECT relkind FROM pg_class WHERE oid = tbl) = 'p' THEN
        PERFORM crm.sync_partitions(t, false);
    END IF;
    RETURN backfilled;
END $$;
COMMENT ON FUNCTION crm.track_orders(regclass, name, name, name, text, text, integer, text, text) IS
    'Attach crm to an order table (plain or partitioned): install the maintenance triggers (mode statement or row) and merge its existing orders into the customers'' summaries; customers by integer, uuid or text key, the amount divided by 10^amount_scale or computed by amount_expression, only the rows filter accepts; returns the customers backfilled';

-- merge the summaries in a temporary table (customer_id, summary) into
-- crm.customers, or take them out (sign -1), and rescore those customers;
-- first_contact: the population state (cutpoints, a model) is computed
-- first when none is stored, so that an attach scores and stages its
-- customers at once
CREATE FUNCTION crm.rescore(customers bigint[], summaries_table text, sign integer DEFAULT 1,
                            first_contact boolean DEFAULT false)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    as_of date := crm.business_date();
    merged bigint[];
BEGIN
    -- the customers whose summaries change here (the others, just
    -- created with theirs, are only rescored), locked in customer order as
    -- the triggers lock them
    EXECUTE format('SELECT coalesce(array_agg(b.customer_id ORDER BY b.customer_id), ''{}'') FROM %I b', summaries_table)
        INTO merged;
    PERFORM FROM crm.customers c WHERE c.customer_id = ANY (merged)
        ORDER BY c.customer_id FOR NO KEY UPDATE;
    -- a sealed history takes older days only with its sealed days back
    PERFORM crm.unseal_customers(merged);
    EXECUTE format(
        'UPDATE crm.customers c SET summary = nullif(%s, ''{}''::crm.summary) FROM %I b WHERE b.customer_id = c.customer_id',
        CASE WHEN sign > 0 THEN 'crm.merge(c.summary, b.summary)'
             ELSE 'crm.subtract(c.summary, b.summary)' END, summaries_table);
    PERFORM crm.seal_customers(customers);
    IF first_contact AND NOT EXISTS (SELECT FROM crm.scoring) THEN
        PERFORM crm.compute_scoring(as_of);
    END IF;
    PERFORM crm.score_customers(customers, as_of);
END $$;
COMMENT ON FUNCTION crm.rescore(bigint[], text, integer, boolean) IS
    'Merge (or with sign -1 take out) per-customer summaries held in a temporary table, then rescore the customers given (those, and any just created with their summaries; used by track_orders and untrack_orders); with first_contact, compute the population state first when none is stored';
REVOKE ALL ON FUNCTION crm.rescore(bigint[], text, integer, boolean) FROM PUBLIC;

CREATE FUNCTION crm.untrack_orders(tbl regclass, forget boolean DEFAULT false)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    rel regclass;
    trg text;
BEGIN
    IF NOT EXISTS (SELECT FROM crm.tracked_tables WHERE table_name = tbl) THEN
        RAISE EXCEPTION 'table % is not tracked by crm', tbl USING ERRCODE = '22023';
    END IF;
    IF forget THEN
        -- its orders, those of its detached partitions too
        CREATE TEMP TABLE crm_backfill ON COMMIT DROP AS
        SELECT x.customer_id, crm.summarize(x.summary) AS summary
        FROM (SELECT s.customer_id, s.summary FROM crm.table_summaries(tbl) s
              UNION ALL
              SELECT r.customer_id, r.summary FROM crm.retained_summaries r WHERE r.root = tbl) x
        GROUP BY 1;
        PERFORM crm.rescore(ARRAY(SELECT b.customer_id FROM crm_backfill b ORDER BY 1), 'crm_backfill', -1);
        DROP TABLE crm_backfill;
        DELETE FROM crm.retained_summaries r WHERE r.root = tbl;
    END IF;
    FOR rel, trg IN SELECT t.tgrelid::regclass, t.tgname FROM pg_trigger t
                    WHERE (t.tgrelid = tbl OR t.tgrelid IN (SELECT p.partition FROM crm.tracked_partitions p WHERE p.root = tbl))
                      AND t.tgname IN ('crm_track_insert', 'crm_track_update', 'crm_track_delete',
                                       'crm_track_row', 'crm_track_truncate')
                      AND t.tgparentid = 0
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', trg, rel);
    END LOOP;
    DELETE FROM crm.tracked_partitions WHERE root = tbl;
    DELETE FROM crm.tracked_tables WHERE table_name = tbl;
END $$;
COMMENT ON FUNCTION crm.untrack_orders(regclass, boolean) IS
    'Detach crm from an order table: drop its triggers; with forget => true also take its orders out of the customers'' summaries (those of its detached partitions too, from crm.retained_summaries)';

-- crm.orders is tracked from the start: the customer must exist
SELECT crm.install_tracking('crm.orders', 'customer_id', 'ordered_on', 'amount', 'statement', 'error');
INSERT INTO crm.tracked_tables (table_name, customer_column, date_column, amount_column, mode, unknown_customers)
VALUES ('crm.orders', 'customer_id', 'ordered_on', 'amount', 'statement', 'error');

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
    -- every sealed history is rebuilt in full, then sealed again
    DELETE FROM crm.summary_blocks;
    CREATE TEMP TABLE crm_rebuild (customer_id bigint, summary crm.summary) ON COMMIT DROP;
    FOR t IN SELECT table_name FROM crm.tracked_tables LOOP
        INSERT INTO crm_rebuild SELECT * FROM crm.table_summaries(t);
    END LOOP;
    -- the orders of detached partitions stay counted
    INSERT INTO crm_rebuild SELECT r.customer_id, r.summary FROM crm.retained_summaries r;
    UPDATE crm.customers c SET summary = r.summary
    FROM (SELECT customer_id, crm.summarize(summary) AS summary FROM crm_rebuild GROUP BY 1) r
    WHERE r.customer_id = c.customer_id AND c.summary IS DISTINCT FROM r.summary;
    UPDATE crm.customers c SET summary = NULL
    WHERE c.summary IS NOT NULL AND NOT EXISTS (SELECT FROM crm_rebuild r WHERE r.customer_id = c.customer_id);
    DROP TABLE crm_rebuild;
    PERFORM crm.seal_customers();
END $$;
COMMENT ON PROCEDURE crm.rebuild_summaries() IS
    'Recompute every customer''s summary from all tracked tables (repair after changes made with the triggers disabled)';
REVOKE ALL ON PROCEDURE crm.rebuild_summaries() FROM PUBLIC;


-- the business time zone: every timestamptz order date becomes a purchase
-- day in it (the triggers, the attach backfill, crm.table_summaries and so
-- crm.rebuild_summaries).  Changing it would leave the summaries of the
-- orders already counted dated in the old zone: while a tracked table has
-- a timestamptz date column, it changes only through
-- crm.set_business_time_zone(), which rebuilds them.
CREATE FUNCTION crm.guard_time_zone() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    tables text;
BEGIN
    IF (CASE WHEN TG_OP = 'DELETE' THEN OLD.name ELSE NEW.name END) <> 'business_time_zone'
       OR (TG_OP = 'UPDATE' AND OLD.value = NEW.value)
       OR current_setting('crm.changing_time_zone', true) = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    SELECT string_agg(t.table_name::text, ', ' ORDER BY t.table_name::text) INTO tables
    FROM crm.tracked_tables t JOIN pg_attribute a ON a.attrelid = t.table_name AND a.attname = t.date_column
    WHERE a.atttypid = 'timestamptz'::regtype;
    IF tables IS NOT NULL THEN
        RAISE EXCEPTION 'cannot change business_time_zone in crm.settings while tracked tables date orders by timestamptz'
            USING ERRCODE = '55000',
                  DETAIL = format('The summaries of %s count each order on its day in the current zone.', tables),
                  HINT = 'Call crm.set_business_time_zone(''Zone/Name''): it changes the setting and rebuilds the summaries in one transaction.';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
COMMENT ON FUNCTION crm.guard_time_zone() IS
    'BEFORE trigger on crm.settings: refuses a change of business_time_zone while tracked tables date orders by timestamptz (crm.set_business_time_zone() rebuilds)';
CREATE TRIGGER guard_time_zone BEFORE INSERT OR UPDATE OR DELETE ON crm.settings
    FOR EACH ROW EXECUTE FUNCTION crm.guard_time_zone();

CREATE FUNCTION crm.set_business_time_zone(zone text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
BEGIN
    IF zone IS NULL THEN
        RAISE EXCEPTION 'zone must not be NULL' USING ERRCODE = '22004';
    END IF;
    BEGIN
        PERFORM now() AT TIME ZONE zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'time zone "%" not recognized', zone USING ERRCODE = '22023',
            HINT = 'Use a name of pg_timezone_names, such as Europe/Paris.';
    END;
    PERFORM set_config('crm.changing_time_zone', 'on', true);
    INSERT INTO crm.settings VALUES ('business_time_zone', zone)
        ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;
    PERFORM set_config('crm.changing_time_zone', '', true);
    CALL crm.rebuild_summaries();
    PERFORM crm.score_customers(NULL, crm.business_date());
END $$;
COMMENT ON FUNCTION crm.set_business_time_zone(text) IS
    'Change the business time zone (the setting business_time_zone) and rebuild every customer''s summary from the tracked tables in it, then rescore';
REVOKE ALL ON FUNCTION crm.set_business_time_zone(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.check_order_expression(regclass, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm.customer_for_key(text) FROM PUBLIC;

-- DDL on tracked tables (event triggers, SECURITY DEFINER: whoever may
-- alter a tracked table keeps crm in step, with no rights on crm's tables;
-- they evaluate only built-in functions, see crm.check_order_expression): a tracked column renamed is
-- followed (its triggers made again with the new name); a tracked column
-- dropped or retyped, or a change that breaks the amount expression or the
-- filter, is refused with the way to do it; partitions created or attached
-- later are tracked (an attached one's orders counted), detached ones keep
-- their orders counted (crm.retained_summaries); dropping a partition still
-- attached is refused (detach it first)
CREATE FUNCTION crm.track_ddl() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    t crm.tracked_tables;
    names name[];
    now_types regtype[];
    lost name;
    renamed name[];
    i integer;
    failed text;
    rel regclass;
    trg text;
    moved boolean;
BEGIN
    FOR t IN SELECT * FROM crm.tracked_tables tt WHERE tt.table_name <> 'crm.orders'::regclass ORDER BY tt.table_name::text LOOP
        CONTINUE WHEN NOT EXISTS (SELECT FROM pg_class WHERE oid = t.table_name);
        names := ARRAY[t.customer_column, t.date_column, t.amount_column];
        -- the columns renamed by this command, by their new names
        renamed := ARRAY(SELECT a.attname FROM pg_event_trigger_ddl_commands() c
                         JOIN pg_attribute a ON a.attrelid = c.objid AND a.attnum = c.objsubid
                         WHERE c.classid = 'pg_class'::regclass AND c.objid = t.table_name AND c.objsubid > 0
                           AND a.attname <> ALL (names));
        FOR i IN 1..3 LOOP
            CONTINUE WHEN names[i] IS NULL
                OR EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t.table_name AND a.attname = names[i] AND NOT a.attisdropped);
            lost := names[i];
            IF cardinality(renamed) = 1 THEN
                names[i] := renamed[1];
            ELSE
                RAISE EXCEPTION 'cannot drop column "%" of %: crm tracks it', lost, t.table_name
                    USING ERRCODE = '2BP01',
                          HINT = format('Detach the table first with SELECT crm.untrack_orders(%L), then attach it again with the columns it will have.', t.table_name);
            END IF;
        END LOOP;
        moved := names IS DISTINCT FROM ARRAY[t.customer_column, t.date_column, t.amount_column];
        IF moved THEN
            UPDATE crm.tracked_tables tt SET customer_column = names[1], date_column = names[2], amount_column = names[3]
            WHERE tt.table_name = t.table_name RETURNING * INTO t;
        END IF;
        now_types := ARRAY(SELECT a.atttypid::regtype FROM unnest(names) WITH ORDINALITY u(col, i)
                           LEFT JOIN pg_attribute a ON a.attrelid = t.table_name AND a.attname = u.col AND NOT a.attisdropped
                           ORDER BY u.i);
        IF t.column_types IS NOT NULL AND now_types IS DISTINCT FROM t.column_types THEN
            RAISE EXCEPTION 'cannot change the type of a column of % that crm tracks', t.table_name
                USING ERRCODE = '0A000',
                      DETAIL = format('The customer, date and amount columns were %s and would be %s.', t.column_types, now_types),
                      HINT = format('Detach the table first with SELECT crm.untrack_orders(%L), change the column, then attach it again.', t.table_name);
        END IF;
        -- the amount expression and the filter still make sense
        BEGIN
            IF t.amount_expression IS NOT NULL THEN
                PERFORM crm.check_order_expression(t.table_name, t.amount_expression, false);
            END IF;
            IF t.row_filter IS NOT NULL THEN
                PERFORM crm.check_order_expression(t.table_name, t.row_filter, true);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failed = MESSAGE_TEXT;
            RAISE EXCEPTION 'this change of % breaks what crm tracks: %', t.table_name, failed
                USING ERRCODE = '0A000',
                      HINT = format('Detach the table first with SELECT crm.untrack_orders(%L), make the change, then attach it again with an amount expression and filter written for the new columns.', t.table_name);
        END;
        IF moved THEN
            -- the triggers name the columns: made again with the new names
            FOR rel, trg IN SELECT tg.tgrelid::regclass, tg.tgname FROM pg_trigger tg
                            WHERE (tg.tgrelid = t.table_name OR tg.tgrelid IN (SELECT p.partition FROM crm.tracked_partitions p WHERE p.root = t.table_name))
                              AND tg.tgname IN ('crm_track_insert', 'crm_track_update', 'crm_track_delete', 'crm_track_row', 'crm_track_truncate')
                              AND tg.tgparentid = 0
            LOOP
                EXECUTE format('DROP TRIGGER %I ON %s', trg, rel);
            END LOOP;
            DELETE FROM crm.tracked_partitions WHERE root = t.table_name;
            PERFORM crm.install_tracking(t.table_name, t.customer_column, t.date_column, t.amount_column, t.mode,
                                         t.unknown_customers, crm.tracking_options(t));
            IF (SELECT relkind FROM pg_class WHERE oid = t.table_name) = 'p' THEN
                PERFORM crm.sync_partitions(t, false);
            END IF;
        END IF;
        IF (SELECT relkind FROM pg_class WHERE oid = t.table_name) = 'p' THEN
            PERFORM crm.sync_partitions(t, true);
        END IF;
    END LOOP;
END $$;
COMMENT ON FUNCTION crm.track_ddl() IS
    'Event trigger at the end of CREATE TABLE and ALTER TABLE: tracked tables follow renamed columns, refuse dropped or retyped ones, and track their partitions created or attached later (detached ones keep their orders counted)';

CREATE FUNCTION crm.track_drop() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    d record;
    root regclass;
BEGIN
    -- DROP EXTENSION crm, or crm's own objects: nothing to keep in step
    IF EXISTS (SELECT FROM pg_event_trigger_dropped_objects() x
               WHERE x.object_type = 'extension' OR (x.object_type = 'table' AND x.schema_name = 'crm')) THEN
        RETURN;
    END IF;
    FOR d IN SELECT x.objid, x.object_identity FROM pg_event_trigger_dropped_objects() x
             WHERE x.classid = 'pg_class'::regclass AND x.objsubid = 0 LOOP
        SELECT p.root INTO root FROM crm.tracked_partitions p WHERE p.partition = d.objid;
        IF FOUND AND NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() x
                                 WHERE x.classid = 'pg_class'::regclass AND x.objid = root) THEN
            RAISE EXCEPTION 'cannot drop %: it is a partition of %, which crm tracks', d.object_identity, root
                USING ERRCODE = '2BP01',
                      DETAIL = 'Its orders are counted in the customers'' summaries.',
                      HINT = 'Detach it first (ALTER TABLE ... DETACH PARTITION): its orders stay counted (crm.retained_summaries); then drop it.';
        END IF;
        DELETE FROM crm.tracked_partitions p WHERE p.partition = d.objid OR p.root = d.objid;
        DELETE FROM crm.tracked_tables tt WHERE tt.table_name = d.objid;
    END LOOP;
END $$;
COMMENT ON FUNCTION crm.track_drop() IS
    'Event trigger on dropped objects: refuses to drop a partition of a tracked table that is still attached; forgets dropped tracked tables';

CREATE EVENT TRIGGER crm_track_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION crm.track_ddl();
CREATE EVENT TRIGGER crm_track_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA')
    EXECUTE FUNCTION crm.track_drop();
