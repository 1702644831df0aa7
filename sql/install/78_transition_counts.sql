-- ---------------------------------------------------------------------
-- Kept counts of the stage history for crm.stage_transitions,
-- crm.stage_transition_matrix() and crm.stage_durations (80_views.sql):
-- the history rows up to a watermark (crm.stage_history_rollup) counted
-- per period, and their spells per stage and length (below), so that the
-- views group a few thousand counts and the rows after the watermark (a
-- range scan of the primary key) instead of the whole history.
--
-- A period is a UTC day, or a quarter of an hour on the first and the
-- last UTC day of a month: a month starts in every time zone of today
-- (offsets from -12:00 to +14:00, multiples of 15 minutes) on one of those
-- two days, at a quarter hour, so the months of any such reader's zone
-- are unions of whole periods.  A reader whose zone puts a month boundary
-- inside a period (an offset of odd minutes, as zones had before about
-- 1970) gets everything counted live; the views check it.
--
-- Rolled up by crm.roll_up_stage_history() (at the end of crm.refresh()).
-- The rows at or below the watermark that users insert (with their own
-- history_id), update or delete adjust the counts (and their customers'
-- spells) by statement triggers; TRUNCATE empties them and puts the watermark back to 0.  The C writer
-- only inserts rows with the identity's next values, which are above the
-- watermark (the roll-up waits for the writers in flight).
-- ---------------------------------------------------------------------

-- the period of a change: see above.  Without a pinned search_path, so
-- that they are inlined into the roll-up's query (seven times faster over
-- a million rows); every name in them is pg_catalog's, written out.
CREATE FUNCTION crm.transition_period(changed_at timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (CASE WHEN pg_catalog.date_part('day', changed_at AT TIME ZONE 'UTC') OPERATOR(pg_catalog.=) 1
                         OR pg_catalog.date_part('day', (changed_at AT TIME ZONE 'UTC') OPERATOR(pg_catalog.+) interval '1 day')
                            OPERATOR(pg_catalog.=) 1
                       THEN pg_catalog.date_bin('15 minutes', changed_at AT TIME ZONE 'UTC', TIMESTAMP '2000-01-01')
                       ELSE pg_catalog.date_trunc('day', changed_at AT TIME ZONE 'UTC') END) AT TIME ZONE 'UTC' $$;
COMMENT ON FUNCTION crm.transition_period(timestamptz) IS
    'The start of the period of crm.stage_transition_counts a change at this time is counted in: its UTC day, or its quarter hour on the first and last UTC day of a month';

CREATE FUNCTION crm.transition_period_end(period_start timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ((period_start AT TIME ZONE 'UTC')
                  OPERATOR(pg_catalog.+)
                  CASE WHEN pg_catalog.date_part('day', period_start AT TIME ZONE 'UTC') OPERATOR(pg_catalog.=) 1
                         OR pg_catalog.date_part('day', (period_start AT TIME ZONE 'UTC') OPERATOR(pg_catalog.+) interval '1 day')
                            OPERATOR(pg_catalog.=) 1
                       THEN interval '15 minutes' ELSE interval '1 day' END) AT TIME ZONE 'UTC' $$;
COMMENT ON FUNCTION crm.transition_period_end(timestamptz) IS
    'The end (exclusive) of the period of crm.stage_transition_counts that starts at period_start';

CREATE TABLE crm.stage_transition_counts (
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    from_stage crm.stage,
    to_stage crm.stage NOT NULL,
    source text NOT NULL,
    -- never below 0 (a row taken away was counted), but no CHECK: one
    -- would refuse the negative row an ON CONFLICT proposes before it
    -- meets the row it adds to
    transitions bigint NOT NULL,
    CONSTRAINT stage_transition_counts_key UNIQUE NULLS NOT DISTINCT (period_start, from_stage, to_stage, source)
);
COMMENT ON TABLE crm.stage_transition_counts IS
    'Stage changes of crm.stage_history up to the watermark of crm.stage_history_rollup, per period (UTC day; quarter hour on the first and last UTC day of a month), kept by crm.roll_up_stage_history() and the history''s triggers; rebuilt, not dumped';
COMMENT ON COLUMN crm.stage_transition_counts.period_start IS 'Start of the period (crm.transition_period())';
COMMENT ON COLUMN crm.stage_transition_counts.period_end IS 'End of the period, exclusive';
COMMENT ON COLUMN crm.stage_transition_counts.from_stage IS 'Stage before (NULL: customer imported in to_stage)';
COMMENT ON COLUMN crm.stage_transition_counts.to_stage IS 'Stage after';
COMMENT ON COLUMN crm.stage_transition_counts.source IS 'inference, user, import or override';
COMMENT ON COLUMN crm.stage_transition_counts.transitions IS 'Number of changes (0: all taken away by edits since the last roll-up, which deletes the row)';

CREATE TABLE crm.stage_history_rollup (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    watermark bigint NOT NULL CHECK (watermark >= 0),
    rolled_up_at timestamptz
);
INSERT INTO crm.stage_history_rollup (watermark) VALUES (0);
COMMENT ON TABLE crm.stage_history_rollup IS
    'The history rows counted in crm.stage_transition_counts: history_id up to watermark (0: none; the views count the rest live); one row';
COMMENT ON COLUMN crm.stage_history_rollup.watermark IS 'Last history_id counted';
COMMENT ON COLUMN crm.stage_history_rollup.rolled_up_at IS 'When crm.roll_up_stage_history() last moved it';

-- The spells of crm.stage_durations kept the same way: a spell is a stage
-- change (a counted history row) up to the customer's next one.  Kept are
-- the spells of the rows up to the watermark, each customer's history
-- read up to it: the ended ones by stage and length, the ongoing ones (a
-- customer's last change up to the watermark) by stage and start, with
-- how many there are of each.  The view takes off those of the customers
-- with rows after the watermark and puts theirs back from all their rows
-- (an index scan per customer), and computes the lengths of the ongoing
-- ones, the mean and the median (the middle spells found by counting
-- along the lengths) as the former GROUP BY of every spell did.
CREATE TABLE crm.stage_spell_counts (
    stage crm.stage NOT NULL,
    duration interval,
    started_at timestamptz,
    -- never below 0; no CHECK (see crm.stage_transition_counts)
    spells bigint NOT NULL,
    CONSTRAINT stage_spell_counts_key UNIQUE NULLS NOT DISTINCT (stage, duration, started_at)
);
COMMENT ON TABLE crm.stage_spell_counts IS
    'Spells in a stage of the customers'' history up to the watermark of crm.stage_history_rollup: the ended ones by length, the ongoing ones by start, kept by crm.roll_up_stage_history() and the history''s triggers for crm.stage_durations; rebuilt, not dumped';
COMMENT ON COLUMN crm.stage_spell_counts.stage IS 'Life-cycle stage';
COMMENT ON COLUMN crm.stage_spell_counts.duration IS 'Length of an ended spell (NULL: ongoing)';
COMMENT ON COLUMN crm.stage_spell_counts.started_at IS 'Start of an ongoing spell (NULL: ended)';
COMMENT ON COLUMN crm.stage_spell_counts.spells IS 'Number of such spells (0: all taken away by edits since the last roll-up, which deletes the row)';

-- the query of the spells of a set of history rows (a query of rows of
-- crm.stage_history), grouped as crm.stage_spell_counts keeps them
CREATE FUNCTION crm.spells_query(history_rows text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$ SELECT 'SELECT s.stage, s.ended_at - s.started_at AS duration, CASE WHEN s.ended_at IS NULL THEN s.started_at END AS started_at, '
                 'count(*) AS spells '
                 'FROM (SELECT r.to_stage AS stage, r.changed_at AS started_at, '
                 '             lead(r.changed_at) OVER (PARTITION BY r.customer_id ORDER BY r.changed_at, r.history_id) AS ended_at '
                 '      FROM (' || history_rows || ') r WHERE r.from_stage IS NULL OR r.from_stage <> r.to_stage) s '
                 'GROUP BY 1, 2, 3' $$;
COMMENT ON FUNCTION crm.spells_query(text) IS
    'The query grouping the spells (stage, length of an ended one, start of an ongoing one, how many) of the crm.stage_history rows a query gives';

CREATE FUNCTION crm.history_spells(customers bigint[], upto bigint)
    RETURNS TABLE (stage crm.stage, duration interval, started_at timestamptz, spells bigint)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, crm
    AS $$
BEGIN
    -- EXECUTE: planned for the customers given (an index scan each)
    RETURN QUERY EXECUTE crm.spells_query(
        'SELECT h.* FROM crm.stage_history h WHERE '
        || CASE WHEN customers IS NULL THEN 'true' ELSE 'h.customer_id = ANY ($1)' END
        || CASE WHEN upto IS NULL THEN '' ELSE ' AND h.history_id <= $2' END)
    USING customers, upto;
END $$;
COMMENT ON FUNCTION crm.history_spells(bigint[], bigint) IS
    'The spells of the customers given (NULL: all) in their history rows up to history_id upto (NULL: all), grouped as crm.stage_spell_counts keeps them';

-- the history rows of a statement at or below the watermark, counted
-- with the sign given (the old rows of an UPDATE or DELETE -1, the new
-- rows of an INSERT or UPDATE +1), into the kept counts; the spells of
-- their customers counted again
CREATE FUNCTION crm.count_history_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    mark bigint;
    statement_rows text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT n.*, 1 AS sign FROM new_rows n'
        WHEN 'DELETE' THEN 'SELECT o.*, -1 AS sign FROM old_rows o'
        ELSE 'SELECT o.*, -1 AS sign FROM old_rows o UNION ALL SELECT n.*, 1 AS sign FROM new_rows n' END;
    customers bigint[];
    rows_before text;
    rows_after text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM crm.stage_transition_counts;
        DELETE FROM crm.stage_spell_counts;
        UPDATE crm.stage_history_rollup SET watermark = 0, rolled_up_at = NULL;
        RETURN NULL;
    END IF;
    -- no roll-up moves the watermark while this statement's transaction
    -- holds the history (it waits for us); under read committed this
    -- query sees the last one.  A snapshot of the whole transaction may
    -- be older than the last roll-up: FOR SHARE then fails (40001)
    -- instead of reading the watermark before it.
    IF current_setting('transaction_isolation') = 'read committed' THEN
        SELECT r.watermark INTO mark FROM crm.stage_history_rollup r;
    ELSE
        SELECT r.watermark INTO mark FROM crm.stage_history_rollup r FOR SHARE;
    END IF;
    IF mark = 0 THEN
        RETURN NULL;
    END IF;
    -- the customers of the statement's rows at or below the watermark
    -- (the transition tables are seen by EXECUTE too); mostly none
    EXECUTE format('SELECT array_agg(DISTINCT x.customer_id) FROM (%s) x WHERE x.history_id <= $1', statement_rows)
        INTO customers USING mark;
    IF customers IS NULL THEN
        RETURN NULL;
    END IF;
    -- the statement's rows, -1 an old one and +1 a new one
    EXECUTE format(
        'INSERT INTO crm.stage_transition_counts AS k (period_start, period_end, from_stage, to_stage, source, transitions) '
        'SELECT d.period_start, crm.transition_period_end(d.period_start), d.from_stage, d.to_stage, d.source, d.n '
        'FROM (SELECT crm.transition_period(x.changed_at) AS period_start, x.from_stage, x.to_stage, x.source, sum(x.sign)::bigint AS n '
        '      FROM (%s) x WHERE x.history_id <= $1 AND (x.from_stage IS NULL OR x.from_stage <> x.to_stage) '
        '      GROUP BY 1, 2, 3, 4) d '
        'WHERE d.n <> 0 '
        'ON CONFLICT ON CONSTRAINT stage_transition_counts_key DO UPDATE SET transitions = k.transitions + excluded.transitions',
        statement_rows)
    USING mark;
    -- the spells of those customers: those of their rows up to the
    -- watermark before the statement (without its new rows, with its old
    -- ones) taken off, those after it put on
    rows_after := 'SELECT h.* FROM crm.stage_history h WHERE h.customer_id = ANY ($2) AND h.history_id <= $1';
    rows_before := rows_after
        || CASE WHEN TG_OP <> 'DELETE' THEN ' AND h.history_id NOT IN (SELECT n.history_id FROM new_rows n)' ELSE '' END
        || CASE WHEN TG_OP <> 'INSERT' THEN ' UNION ALL SELECT o.* FROM old_rows o WHERE o.history_id <= $1' ELSE '' END;
    EXECUTE format(
        'INSERT INTO crm.stage_spell_counts AS k (stage, duration, started_at, spells) '
        'SELECT d.stage, d.duration, d.started_at, sum(d.spells)::bigint '
        'FROM (SELECT b.stage, b.duration, b.started_at, -b.spells AS spells FROM (%s) b '
        '      UNION ALL SELECT a.stage, a.duration, a.started_at, a.spells FROM (%s) a) d '
        'GROUP BY 1, 2, 3 HAVING sum(d.spells) <> 0 '
        'ON CONFLICT ON CONSTRAINT stage_spell_counts_key DO UPDATE SET spells = k.spells + excluded.spells',
        crm.spells_query(rows_before), crm.spells_query(rows_after))
    USING mark, customers;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION crm.count_history_changes() IS
    'AFTER INSERT, UPDATE, DELETE (with transition tables) and TRUNCATE statement trigger on crm.stage_history: the rows at or below the watermark adjust crm.stage_transition_counts and their customers'' spells in crm.stage_spell_counts; TRUNCATE empties both and puts the watermark back to 0';
CREATE TRIGGER count_inserts AFTER INSERT ON crm.stage_history REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.count_history_changes();
CREATE TRIGGER count_updates AFTER UPDATE ON crm.stage_history REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.count_history_changes();
CREATE TRIGGER count_deletes AFTER DELETE ON crm.stage_history REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.count_history_changes();
CREATE TRIGGER count_truncates AFTER TRUNCATE ON crm.stage_history
    FOR EACH STATEMENT EXECUTE FUNCTION crm.count_history_changes();

-- the history rows after the watermark counted in, the watermark moved
-- to the last of them.  LOCK ... SHARE waits for the writers in flight
-- (an INSERT, and the C writer, take ROW EXCLUSIVE before they draw
-- history_id from the identity), so every row up to the new watermark is
-- committed and seen by the statements after it (read committed: a
-- snapshot each); writers holding it longer than lock_timeout leave the
-- roll-up for the next time.
CREATE FUNCTION crm.roll_up_stage_history() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, crm
    SET lock_timeout = '10s'
    AS $$
DECLARE
    distributed boolean := false;
    old_mark bigint;
    new_mark bigint;
    added bigint;
    touched bigint[];
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE NOTICE 'crm.roll_up_stage_history() rolls up only in a read committed transaction'
            USING DETAIL = 'Its snapshot would miss history rows committed after it; the views count them live meanwhile.';
        RETURN 0;
    END IF;
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = ''crm.stage_history''::regclass)'
            INTO distributed;
    END IF;
    IF distributed THEN
        -- written on the shards, where no trigger of ours sees the changes:
        -- the views count everything live
        RETURN 0;
    END IF;
    BEGIN
        LOCK TABLE crm.stage_history IN SHARE MODE;
    -- (a deadlock: the caller's transaction holds rows a writer in
    -- flight waits for, as crm.refresh() run as one transaction does)
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
        RAISE NOTICE 'crm.stage_history not rolled up: writers held it longer than lock_timeout, or waited for this transaction'
            USING DETAIL = 'The views count the rows after the watermark live; the next roll-up counts them in.';
        RETURN 0;
    END;
    SELECT r.watermark INTO old_mark FROM crm.stage_history_rollup r FOR UPDATE;
    SELECT coalesce(max(h.history_id), old_mark) INTO new_mark FROM crm.stage_history h WHERE h.history_id > old_mark;
    WITH rows AS (
        SELECT crm.transition_period(h.changed_at) AS period_start, h.from_stage, h.to_stage, h.source, count(*) AS n
        FROM crm.stage_history h
        WHERE h.history_id > old_mark AND h.history_id <= new_mark AND (h.from_stage IS NULL OR h.from_stage <> h.to_stage)
        GROUP BY 1, 2, 3, 4
    ), counted AS (
        INSERT INTO crm.stage_transition_counts AS k (period_start, period_end, from_stage, to_stage, source, transitions)
        SELECT r.period_start, crm.transition_period_end(r.period_start), r.from_stage, r.to_stage, r.source, r.n FROM rows r
        ON CONFLICT ON CONSTRAINT stage_transition_counts_key DO UPDATE SET transitions = k.transitions + excluded.transitions
    )
    SELECT coalesce(sum(r.n), 0) INTO added FROM rows r;
    -- the spells: all of them the first time; else those of the
    -- customers with rows after the old watermark counted again
    IF old_mark = 0 THEN
        DELETE FROM crm.stage_spell_counts;
        INSERT INTO crm.stage_spell_counts (stage, duration, started_at, spells)
        SELECT s.stage, s.duration, s.started_at, s.spells FROM crm.history_spells(NULL, new_mark) s;
    ELSIF new_mark > old_mark THEN
        SELECT array_agg(DISTINCT h.customer_id) INTO touched FROM crm.stage_history h
        WHERE h.history_id > old_mark AND h.history_id <= new_mark;
        INSERT INTO crm.stage_spell_counts AS k (stage, duration, started_at, spells)
        SELECT d.stage, d.duration, d.started_at, sum(d.spells)::bigint
        FROM (SELECT s.stage, s.duration, s.started_at, -s.spells AS spells FROM crm.history_spells(touched, old_mark) s
              UNION ALL
              SELECT s.stage, s.duration, s.started_at, s.spells FROM crm.history_spells(touched, new_mark) s) d
        GROUP BY 1, 2, 3 HAVING sum(d.spells) <> 0
        ON CONFLICT ON CONSTRAINT stage_spell_counts_key DO UPDATE SET spells = k.spells + excluded.spells;
    END IF;
    -- the groups whose changes were all taken away by later edits
    DELETE FROM crm.stage_transition_counts k WHERE k.transitions = 0;
    DELETE FROM crm.stage_spell_counts k WHERE k.spells = 0;
    UPDATE crm.stage_history_rollup SET watermark = new_mark, rolled_up_at = now();
    RETURN added;
END $$;
COMMENT ON FUNCTION crm.roll_up_stage_history() IS
    'Count the stage history rows after the watermark into crm.stage_transition_counts (and their customers'' spells into crm.stage_spell_counts) and move the watermark (waits up to 10 s for writers in flight; does nothing outside read committed or on a distributed CRM); returns the stage changes counted; crm.refresh() calls it at its end';
REVOKE ALL ON FUNCTION crm.roll_up_stage_history() FROM PUBLIC;
