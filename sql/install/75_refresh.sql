-- ---------------------------------------------------------------------
-- Scoring customers from their summaries, and the daily refresh
-- ---------------------------------------------------------------------

-- scores, segment, the stage walked from each one's last evaluation and the
-- level, of the given customers (NULL: all) as of a date, by the order
-- trigger's writer (src/refresh.c)
CREATE FUNCTION crm.score_customers(customers bigint[], as_of date)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'score_customers' LANGUAGE C;
COMMENT ON FUNCTION crm.score_customers(bigint[], date) IS
    'Rescore the given customers (NULL: every customer) as of a date, in customer_id order: RFM against the stored cutpoints, segment, the stage walked from the last evaluation with the stored model and the complaints, and the level from crm.level_signals(); returns how many there were';
REVOKE ALL ON FUNCTION crm.score_customers(bigint[], date) FROM PUBLIC;

-- an attach's one write of each customer (src/refresh.c): the summaries
-- of a table's orders (a temporary table customer_id, summary) merged into
-- the customers (created when create), each scored, staged and levelled
-- on the business date as it is written, the population state computed
-- first on first contact (none stored)
CREATE FUNCTION crm.attach_summaries(summaries text, relname text, create_customers boolean, first_contact boolean)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'attach_summaries' LANGUAGE C;
COMMENT ON FUNCTION crm.attach_summaries(text, text, boolean, boolean) IS
    'Merge the per-customer summaries of a table (customer_id, summary) into the customers, creating them when asked, each scored, walked and levelled on the business date in the same write; with first_contact the population state is computed first when none is stored (used by crm.track_orders; not for direct use); returns how many customers there were';
REVOKE ALL ON FUNCTION crm.attach_summaries(text, text, boolean, boolean) FROM PUBLIC;

-- the population state as of a date: the RFM cutpoints over every
-- customer and, when asked (or, fit_model NULL, when none is stored and
-- there is data enough), the BTYD model; stored in crm.scoring
CREATE FUNCTION crm.compute_scoring(as_of date, fit_model boolean DEFAULT NULL)
    RETURNS void
    AS 'MODULE_PATHNAME', 'compute_scoring' LANGUAGE C;
COMMENT ON FUNCTION crm.compute_scoring(date, boolean) IS
    'Store the population state as of a date in crm.scoring: RFM cutpoints over every customer and, when asked or (fit_model NULL) when none is stored and btyd_min_repeat_buyers customers repeat, a new BTYD model (settings btyd_model, btyd_unit)';
REVOKE ALL ON FUNCTION crm.compute_scoring(date, boolean) FROM PUBLIC;

-- ---------------------------------------------------------------------
-- The daily refresh
-- ---------------------------------------------------------------------

-- its run log (src/progress.c): one row per run, its counts written with
-- each batch it commits, so another session sees how far it is; a failed
-- run keeps its error
CREATE TABLE crm.refresh_runs (
    run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    as_of date NOT NULL,
    batch_size integer NOT NULL,
    customers_total bigint NOT NULL,
    customers_done bigint NOT NULL DEFAULT 0,
    stages_changed bigint NOT NULL DEFAULT 0,
    levels_changed bigint NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    finished_at timestamptz,
    duration interval GENERATED ALWAYS AS (finished_at - started_at) STORED,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    error text,
    sqlstate text,
    run_by name NOT NULL DEFAULT session_user,
    backend_pid integer NOT NULL
);
COMMENT ON TABLE crm.refresh_runs IS
    'One row per crm.refresh() run, kept up to date while it runs (each committed batch): how far it is, what it moved, how it ended';
COMMENT ON COLUMN crm.refresh_runs.run_id IS 'Run';
COMMENT ON COLUMN crm.refresh_runs.started_at IS 'When it started';
COMMENT ON COLUMN crm.refresh_runs.as_of IS 'Business date it refreshed to';
COMMENT ON COLUMN crm.refresh_runs.batch_size IS 'Customers per batch (and per commit)';
COMMENT ON COLUMN crm.refresh_runs.customers_total IS 'Customers when it started';
COMMENT ON COLUMN crm.refresh_runs.customers_done IS 'Customers rescored in the batches committed so far';
COMMENT ON COLUMN crm.refresh_runs.stages_changed IS 'Stage changes it recorded in crm.stage_history (a customer walked through two stages counts twice)';
COMMENT ON COLUMN crm.refresh_runs.levels_changed IS 'Relationship level changes it recorded in crm.stage_history';
COMMENT ON COLUMN crm.refresh_runs.status IS 'running, succeeded or failed (also when its session ended while running: the next run marks it)';
COMMENT ON COLUMN crm.refresh_runs.finished_at IS 'When it ended';
COMMENT ON COLUMN crm.refresh_runs.duration IS 'finished_at - started_at';
COMMENT ON COLUMN crm.refresh_runs.updated_at IS 'When its row was last written (the last batch committed)';
COMMENT ON COLUMN crm.refresh_runs.error IS 'The error that ended a failed run';
COMMENT ON COLUMN crm.refresh_runs.sqlstate IS 'Its SQLSTATE';
COMMENT ON COLUMN crm.refresh_runs.run_by IS 'Session user that ran it';
COMMENT ON COLUMN crm.refresh_runs.backend_pid IS 'Process running it (pg_stat_activity.pid); while it runs it holds an advisory lock on (1668443392, run_id)';
SELECT pg_catalog.pg_extension_config_dump('crm.refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.refresh_runs', 'run_id'), '');

CREATE PROCEDURE crm.refresh(as_of date DEFAULT NULL, batch_size integer DEFAULT 10000,
                             fit_model boolean DEFAULT NULL, commit_batches boolean DEFAULT NULL)
    AS 'MODULE_PATHNAME', 'refresh' LANGUAGE C;
COMMENT ON PROCEDURE crm.refresh(date, integer, boolean, boolean) IS
    'Recompute everything time-dependent as of a date (default the business date): RFM cutpoints and, when asked or none is stored, the BTYD model; then every customer''s score, segment, stage (walked month end by month end from its last evaluation) and level, in batches of batch_size committed one by one when called on its own (inside a transaction block, or with commit_batches => false, as one transaction); logged in crm.refresh_runs, with a NOTICE of its progress every refresh_progress_interval';
