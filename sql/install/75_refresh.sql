-- ---------------------------------------------------------------------
-- Scoring customers from their summaries, and the daily refresh
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
        segment = crm.rfm_segment(n.r),
        stage = n.i_stage,
        stage_reason = CASE WHEN n.i_stage OPERATOR(crm.<>) c.stage THEN n.i_reason ELSE c.stage_reason END,
        stage_since = CASE WHEN n.i_stage OPERATOR(crm.<>) c.stage THEN as_of ELSE c.stage_since END
    FROM (SELECT c2.customer_id, crm.rfm_score(c2.summary, sc.cp) AS r,
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
          CROSS JOIN LATERAL crm.infer_stage(c2.stage, crm.full_summary(c2.customer_id, c2.summary), as_of,
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
