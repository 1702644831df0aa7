-- ---------------------------------------------------------------------
-- Scaling out on Citus (README "Scaling out"): crm.distribute() makes the
-- customer tables distributed by customer_id and co-located, the presets
-- they refer to reference tables.  The single-node C triggers open
-- crm.customers and its tables by name, which on a worker is the empty
-- shell table, so crm.distribute() replaces them on the distributed
-- tables with statement triggers that find the co-located shards
-- (crm.colocated_shard()) and rescore there with crm.score_shard(): the
-- single-node writer pointed at the shards (src/shard.c).  Orders,
-- interactions and complaints written through the coordinator keep their
-- customers current in the same transaction; crm.refresh() rescores every
-- shard on its node.  Nothing here needs Citus until crm.distribute() runs.
-- ---------------------------------------------------------------------

-- the shard of table target co-located with the shard relation shard (a
-- shard of a co-located table: same hash range), as a qualified name;
-- NULL when shard is not a shard of a table co-located with target
CREATE FUNCTION crm.colocated_shard(shard regclass, target regclass) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    shard_id bigint := substring(shard::text FROM '_([0-9]+)$')::bigint;
    found text;
BEGIN
    IF shard_id IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT format(''%I.%I'', n.nspname, c.relname || ''_'' || t.shardid)
             FROM pg_dist_shard s
             JOIN pg_dist_partition ps ON ps.logicalrelid = s.logicalrelid
             JOIN pg_dist_partition pt ON pt.logicalrelid = $2 AND pt.colocationid = ps.colocationid
             JOIN pg_dist_shard t ON t.logicalrelid = $2 AND t.shardminvalue = s.shardminvalue
             JOIN pg_class c ON c.oid = $2
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE s.shardid = $1'
        INTO found USING shard_id, target;
    RETURN found;
END $$;
COMMENT ON FUNCTION crm.colocated_shard(regclass, regclass) IS
    'Citus: the shard of a table co-located with a given shard relation (same hash range), qualified; NULL if it is not one';
REVOKE ALL ON FUNCTION crm.colocated_shard(regclass, regclass) FROM PUBLIC;

-- AFTER statement trigger with transition tables on the shards of a
-- distributed crm.orders: the customers of the changed rows are locked in
-- the co-located shard of crm.customers (in customer order), then their
-- summaries are recomputed from this shard of orders, which holds every
-- order of theirs, and they are rescored (crm.score_shard()).  Locking
-- first, then reading in a new statement, sees the orders of a concurrent
-- writer of the same customer that committed meanwhile (READ COMMITTED),
-- so no write is lost.
CREATE FUNCTION crm.orders_shard_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    customers text := crm.colocated_shard(TG_RELID, 'crm.customers');
    orders text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    changed text := CASE TG_OP WHEN 'INSERT' THEN 'SELECT customer_id FROM crm_new'
                               WHEN 'DELETE' THEN 'SELECT customer_id FROM crm_old'
                               ELSE 'SELECT customer_id FROM crm_old UNION SELECT customer_id FROM crm_new' END;
    missing bigint;
BEGIN
    IF customers IS NULL THEN
        RAISE EXCEPTION '% is not a shard of the distributed crm.orders', orders USING ERRCODE = '55000',
            HINT = 'Only crm.distribute() installs this trigger.';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        EXECUTE format('SELECT x.customer_id FROM (%s) x WHERE NOT EXISTS (SELECT FROM %s c WHERE c.customer_id = x.customer_id) LIMIT 1',
                       changed, customers) INTO missing;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'customer % does not exist', missing USING ERRCODE = '23503',
                HINT = 'Insert the customer into crm.customers first.';
        END IF;
    END IF;
    EXECUTE format('SELECT count(*) FROM (SELECT FROM %s c WHERE c.customer_id IN (%s) ORDER BY c.customer_id FOR NO KEY UPDATE) l',
                   customers, changed);
    EXECUTE format('UPDATE %1$s c SET summary = r.summary
                    FROM (SELECT x.customer_id,
                                 (SELECT crm.summarize(o.ordered_on, o.amount::numeric) FROM %2$s o
                                  WHERE o.customer_id = x.customer_id) AS summary
                          FROM (%3$s) x) r
                    WHERE c.customer_id = r.customer_id AND c.summary IS DISTINCT FROM r.summary',
                   customers, orders, changed);
    -- then rescored on the business date as the single-node order trigger
    -- scores them (RFM, segment, stage walk and its history; an order
    -- does not move the level), by its writer on this shard (src/shard.c)
    EXECUTE format('SELECT crm.score_shard(%L, ARRAY(%s), crm.business_date(), ''inference'', false)', customers, changed);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION crm.orders_shard_changed() IS
    'Citus: statement trigger on the shards of crm.orders: recomputes the changed customers'' summaries from the shard and writes the co-located shard of crm.customers';
REVOKE ALL ON FUNCTION crm.orders_shard_changed() FROM PUBLIC;

-- AFTER statement trigger with transition tables on the shards of a
-- distributed crm.interactions and crm.complaints: the customers
-- concerned are rescored on the business date on the co-located shard of
-- crm.customers (level and stage, with their history), as
-- crm.service_changed() rescores them on a single node (surveys stay on
-- the coordinator and rescore nobody there)
CREATE FUNCTION crm.service_shard_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    customers text := crm.colocated_shard(TG_RELID, 'crm.customers');
BEGIN
    IF customers IS NULL THEN
        RAISE EXCEPTION '%.% is not a shard of a distributed service table', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = '55000', HINT = 'Only crm.distribute() installs this trigger.';
    END IF;
    EXECUTE format('SELECT crm.score_shard(%L, ARRAY(%s), crm.business_date(), ''inference'', true)', customers,
                   CASE TG_OP WHEN 'INSERT' THEN 'SELECT customer_id FROM crm_new'
                              WHEN 'DELETE' THEN 'SELECT customer_id FROM crm_old'
                              ELSE 'SELECT customer_id FROM crm_old UNION SELECT customer_id FROM crm_new' END);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION crm.service_shard_changed() IS
    'Citus: statement trigger on the shards of crm.interactions and crm.complaints: rescores the customers concerned on the co-located shard of crm.customers';
REVOKE ALL ON FUNCTION crm.service_shard_changed() FROM PUBLIC;

-- crm.record_stage_changes() on a shard of crm.customers: the stages and
-- levels an UPDATE changed, into the co-located shard of
-- crm.stage_history (the identity from the distributed table's sequence
-- on this node; the other columns their defaults)
CREATE FUNCTION crm.customers_shard_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    history text := crm.colocated_shard(TG_RELID, 'crm.stage_history');
BEGIN
    IF history IS NULL THEN
        RAISE EXCEPTION '%.% is not a shard of the distributed crm.customers', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = '55000', HINT = 'Only crm.distribute() installs this trigger.';
    END IF;
    EXECUTE format('INSERT INTO %s (history_id, customer_id, from_stage, to_stage, from_level, to_level, reason)
                    SELECT nextval(pg_get_serial_sequence(''crm.stage_history'', ''history_id'')),
                           n.customer_id, o.stage, n.stage, o.level, n.level,
                           CASE WHEN o.stage = n.stage THEN n.level_reason ELSE n.stage_reason END
                    FROM crm_old o JOIN crm_new n USING (customer_id)
                    WHERE o.stage <> n.stage OR o.level <> n.level
                    ORDER BY n.customer_id', history);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION crm.customers_shard_updated() IS
    'Citus: crm.record_stage_changes() on the shards of crm.customers: changed stages and levels into the co-located shard of crm.stage_history';
REVOKE ALL ON FUNCTION crm.customers_shard_updated() FROM PUBLIC;

CREATE FUNCTION crm.distribute(shard_count integer DEFAULT 32) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    t text;
    done boolean;
    c record;
    -- the presets the customer tables refer to.  The configuration stays
    -- where CREATE EXTENSION made it, a copy on every node: the functions
    -- that read it run on the workers, inside queries on shards, where
    -- Citus refuses to read a reference table
    refs text[] := ARRAY['crm.level_targets', 'crm.churn_reasons', 'crm.complaint_categories'];
    tables text[] := ARRAY['crm.customers', 'crm.orders', 'crm.summary_blocks', 'crm.stage_history',
                           'crm.customer_segments', 'crm.interactions', 'crm.complaints'];
    first boolean := true;
BEGIN
    IF shard_count IS NULL OR shard_count < 1 OR shard_count > 64000 THEN
        RAISE EXCEPTION 'shard_count must be between 1 and 64000' USING ERRCODE = '22023';
    END IF;
    IF NOT pg_has_role(session_user, 'crm_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied for crm.distribute' USING ERRCODE = '42501',
            HINT = 'Only members of crm_admin distribute the CRM.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'crm.distribute needs the Citus extension' USING ERRCODE = '55000',
            DETAIL = 'Citus is not loaded in this database.',
            HINT = 'Add citus to shared_preload_libraries, run CREATE EXTENSION citus and add the worker nodes before CREATE EXTENSION crm (README, "Scaling out").';
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = ''crm.customers''::regclass)' INTO done;
    IF done THEN
        RAISE EXCEPTION 'the CRM tables are already distributed' USING ERRCODE = '55000';
    END IF;
    IF EXISTS (SELECT FROM crm.tracked_tables WHERE table_name <> 'crm.orders'::regclass)
       OR EXISTS (SELECT FROM crm.tracked_partitions) OR EXISTS (SELECT FROM crm.retained_summaries) THEN
        RAISE EXCEPTION 'crm.distribute keeps only crm.orders current' USING ERRCODE = '0A000',
            DETAIL = 'Other tables are attached with crm.track_orders(), or detached partitions keep orders counted.',
            HINT = 'Detach them with crm.untrack_orders(tbl, forget => true) first.';
    END IF;
    IF EXISTS (SELECT FROM crm.customers WHERE account_manager IS NOT NULL) THEN
        RAISE EXCEPTION 'crm.distribute cannot keep the account managers'' row-level security' USING ERRCODE = '0A000',
            DETAIL = 'The policies read crm.customers, which a query on a shard cannot do.',
            HINT = 'Set crm.customers.account_manager to NULL first, and limit the managers by other means.';
    END IF;
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    PERFORM set_config('citus.shard_count', shard_count::text, true);
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);

    -- long histories whole again: nothing seals them on the shards
    PERFORM crm.unseal_customers();

    -- the history is written on the shards, where no trigger of ours
    -- keeps its counts: crm.stage_transitions,
    -- crm.stage_transition_matrix() and crm.stage_durations count it live
    -- (the roll-up does nothing on a distributed CRM)
    DELETE FROM crm.stage_transition_counts;
    DELETE FROM crm.stage_spell_counts;
    UPDATE crm.stage_history_rollup SET watermark = 0, rolled_up_at = NULL;
    DROP TRIGGER count_inserts ON crm.stage_history;
    DROP TRIGGER count_updates ON crm.stage_history;
    DROP TRIGGER count_deletes ON crm.stage_history;
    DROP TRIGGER count_truncates ON crm.stage_history;

    -- the triggers whose C writers open other tables by name
    DROP TRIGGER crm_track_insert ON crm.orders;
    DROP TRIGGER crm_track_update ON crm.orders;
    DROP TRIGGER crm_track_delete ON crm.orders;
    DROP TRIGGER record_stage_updates ON crm.customers;
    DROP TRIGGER escalate ON crm.complaints;
    FOREACH t IN ARRAY ARRAY['interactions', 'complaints', 'surveys', 'survey_answers'] LOOP
        EXECUTE format('DROP TRIGGER service_inserted ON crm.%I', t);
        EXECUTE format('DROP TRIGGER service_updated ON crm.%I', t);
        EXECUTE format('DROP TRIGGER service_deleted ON crm.%I', t);
    END LOOP;
    -- the account managers' policies (none is in use: checked above)
    FOR c IN SELECT p.polname, p.polrelid::regclass AS tbl FROM pg_policy p
             WHERE p.polrelid IN (SELECT x::regclass FROM unnest(tables) x) LOOP
        EXECUTE format('DROP POLICY %I ON %s', c.polname, c.tbl);
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', t);
    END LOOP;

    -- keys that include the distribution column; the links Citus cannot
    -- keep: surveys stay on the coordinator with their answers (which have
    -- no customer_id, and crm.survey_scores groups by the survey's key),
    -- opportunities with their history
    ALTER TABLE crm.surveys DROP CONSTRAINT surveys_customer_id_fkey;
    ALTER TABLE crm.opportunities DROP CONSTRAINT opportunities_customer_id_fkey;
    FOREACH t IN ARRAY ARRAY['orders:order_id', 'interactions:interaction_id', 'complaints:complaint_id',
                             'stage_history:history_id'] LOOP
        EXECUTE format('ALTER TABLE crm.%1$I DROP CONSTRAINT %2$I, ADD PRIMARY KEY (customer_id, %3$I)',
                       split_part(t, ':', 1), split_part(t, ':', 1) || '_pkey', split_part(t, ':', 2));
    END LOOP;

    -- the foreign keys among the tables made Citus tables are made again
    -- after them (Citus would otherwise convert the referencing tables
    -- on its own, making the views over them again)
    CREATE TEMP TABLE crm_distribute_keys ON COMMIT DROP AS
    SELECT format('%I.%I', n.nspname, r.relname) AS tbl, k.conname, pg_get_constraintdef(k.oid) AS def
    FROM pg_constraint k JOIN pg_class r ON r.oid = k.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
    WHERE k.contype = 'f' AND k.connamespace = 'crm'::regnamespace
      AND k.conrelid IN (SELECT x::regclass FROM unnest(tables || refs) x)
      AND k.confrelid IN (SELECT x::regclass FROM unnest(tables || refs) x);
    FOR c IN SELECT * FROM crm_distribute_keys LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
        -- and on the workers, whose copies of the tables CREATE EXTENSION
        -- made (before any of them is a Citus table, so before this
        -- transaction holds anything there)
        PERFORM run_command_on_workers(format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', c.tbl, c.conname));
    END LOOP;

    -- the presets: a copy on every node, kept by Citus
    FOREACH t IN ARRAY refs LOOP
        PERFORM create_reference_table(t::regclass);
    END LOOP;
    -- the customers and everything of theirs: co-located by customer_id
    FOREACH t IN ARRAY tables LOOP
        IF first THEN
            PERFORM create_distributed_table(t::regclass, 'customer_id', colocate_with => 'none');
            first := false;
        ELSE
            PERFORM create_distributed_table(t::regclass, 'customer_id', colocate_with => 'crm.customers');
        END IF;
    END LOOP;

    FOR c IN SELECT * FROM crm_distribute_keys LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.tbl, c.conname, c.def);
    END LOOP;
    DROP TABLE crm_distribute_keys;

    -- the population state on every worker, where the shards are scored
    -- (crm.refresh() copies it there again)
    PERFORM run_command_on_workers(format('INSERT INTO crm.scoring (singleton, cutpoints, model, refreshed_at) VALUES (true, %L, %L, %L)
                                           ON CONFLICT (singleton) DO UPDATE SET cutpoints = excluded.cutpoints,
                                           model = excluded.model, refreshed_at = excluded.refreshed_at',
                                          s.cutpoints, s.model, s.refreshed_at))
    FROM crm.scoring s;

    -- orders keep their customer's summary current, shard by shard
    CREATE TRIGGER crm_shard_insert AFTER INSERT ON crm.orders REFERENCING NEW TABLE AS crm_new
        FOR EACH STATEMENT EXECUTE FUNCTION crm.orders_shard_changed();
    CREATE TRIGGER crm_shard_update AFTER UPDATE ON crm.orders REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new
        FOR EACH STATEMENT EXECUTE FUNCTION crm.orders_shard_changed();
    CREATE TRIGGER crm_shard_delete AFTER DELETE ON crm.orders REFERENCING OLD TABLE AS crm_old
        FOR EACH STATEMENT EXECUTE FUNCTION crm.orders_shard_changed();
    -- interactions and complaints rescore their customers, complaints
    -- escalate, and stage and level changes are recorded, shard by shard
    FOREACH t IN ARRAY ARRAY['interactions', 'complaints'] LOOP
        EXECUTE format('CREATE TRIGGER crm_service_insert AFTER INSERT ON crm.%I REFERENCING NEW TABLE AS crm_new
                        FOR EACH STATEMENT EXECUTE FUNCTION crm.service_shard_changed()', t);
        EXECUTE format('CREATE TRIGGER crm_service_update AFTER UPDATE ON crm.%I REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new
                        FOR EACH STATEMENT EXECUTE FUNCTION crm.service_shard_changed()', t);
        EXECUTE format('CREATE TRIGGER crm_service_delete AFTER DELETE ON crm.%I REFERENCING OLD TABLE AS crm_old
                        FOR EACH STATEMENT EXECUTE FUNCTION crm.service_shard_changed()', t);
    END LOOP;
    CREATE TRIGGER crm_escalate BEFORE INSERT OR UPDATE ON crm.complaints
        FOR EACH ROW EXECUTE FUNCTION crm.escalate_complaint();
    CREATE TRIGGER crm_record_stage_updates AFTER UPDATE ON crm.customers
        REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new
        FOR EACH STATEMENT EXECUTE FUNCTION crm.customers_shard_updated();
END $$;
COMMENT ON FUNCTION crm.distribute(integer) IS
    'Citus: distribute the customer tables by customer_id (co-located, shard_count shards) and make the configuration and presets reference tables; orders then keep their customers'' summaries current shard by shard (README, "Scaling out")';
REVOKE ALL ON FUNCTION crm.distribute(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.distribute(integer) TO crm_admin;

-- ---------------------------------------------------------------------
-- Rescoring on the shards (src/shard.c): the single-node writer pointed
-- at a shard of crm.customers and its co-located shards.  crm.refresh()
-- runs crm.score_shard() on every shard (run_command_on_shards); the
-- order trigger on the shards runs it for the customers it changed.
-- ---------------------------------------------------------------------

-- the level signals of customers of a shard of crm.customers, as
-- crm.level_signals() gives them, from the co-located shards of
-- crm.interactions and crm.complaints (surveys stay on the coordinator:
-- no satisfaction here)
CREATE FUNCTION crm.shard_level_signals(shard regclass, customers bigint[], as_of date)
    RETURNS TABLE (customer_id bigint, interactions integer, channels integer, complaints_late integer)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $f$
DECLARE
    inter text := crm.colocated_shard(shard, 'crm.interactions');
    compl text := crm.colocated_shard(shard, 'crm.complaints');
BEGIN
    IF inter IS NULL OR compl IS NULL THEN
        RAISE EXCEPTION '% is not a shard of the distributed crm.customers', shard USING ERRCODE = '22023';
    END IF;
    -- the late complaints as crm.complaint_sla_breaches counts them
    RETURN QUERY EXECUTE format($q$
    WITH w AS (SELECT t.value::integer AS days FROM crm.stage_thresholds_in_effect t
               WHERE t.name = 'level_window_days' OFFSET 0),
    sla AS MATERIALIZED (SELECT crm.setting('sla_first_response')::interval AS first_response,
                                crm.setting('sla_onsite')::interval AS onsite,
                                crm.setting('sla_onsite_vip')::interval AS onsite_vip),
    i AS (SELECT i.customer_id, count(*)::integer AS n, count(DISTINCT i.channel)::integer AS ch
          FROM %1$s i, w
          WHERE i.customer_id = ANY ($1) AND i.occurred_at < $2 + 1 AND i.occurred_at >= $2 + 1 - w.days
          GROUP BY 1),
    k AS (SELECT k.customer_id, count(DISTINCT k.complaint_id)::integer AS late
          FROM %2$s k JOIN %3$s c USING (customer_id), w, sla
          WHERE k.customer_id = ANY ($1) AND k.opened_at < $2 + 1 AND k.opened_at >= $2 + 1 - w.days
            AND (coalesce(k.first_response_at, now()) - k.opened_at > sla.first_response
                 OR (k.onsite_required AND coalesce(k.onsite_at, now()) - k.opened_at
                     > CASE WHEN c.service_level = 'vip' THEN sla.onsite_vip ELSE sla.onsite END))
          GROUP BY 1)
    SELECT ids.customer_id, coalesce(i.n, 0), coalesce(i.ch, 0), coalesce(k.late, 0)
    FROM (SELECT i.customer_id FROM i UNION SELECT k.customer_id FROM k) ids
    LEFT JOIN i USING (customer_id) LEFT JOIN k USING (customer_id)
    $q$, inter, compl, shard) USING customers, as_of;
END $f$;
COMMENT ON FUNCTION crm.shard_level_signals(regclass, bigint[], date) IS
    'Citus: the level signals of customers of a shard of crm.customers (interactions, channels, late complaints in the level window) from its co-located shards; surveys give none (they stay on the coordinator)';
REVOKE ALL ON FUNCTION crm.shard_level_signals(regclass, bigint[], date) FROM PUBLIC;

CREATE FUNCTION crm.score_shard(shard regclass, customers bigint[], as_of date, source text, levels boolean)
    RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'score_shard' LANGUAGE C;
COMMENT ON FUNCTION crm.score_shard(regclass, bigint[], date, text, boolean) IS
    'Citus: rescore customers (NULL: all) of a shard of crm.customers as of a date with the single-node writer, on the shard and its co-located shards: RFM, segment, stage walk and (levels) level, with their stage_history rows of the given source (NULL: the default); returns {customers, stage changes, level changes}';
REVOKE ALL ON FUNCTION crm.score_shard(regclass, bigint[], date, text, boolean) FROM PUBLIC;
