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

CREATE PROCEDURE crm.refresh(as_of date DEFAULT NULL, batch_size integer DEFAULT 10000,
                             fit_model boolean DEFAULT NULL, commit_batches boolean DEFAULT NULL)
    AS 'MODULE_PATHNAME', 'refresh' LANGUAGE C;
COMMENT ON PROCEDURE crm.refresh(date, integer, boolean, boolean) IS
    'Recompute everything time-dependent as of a date (default the business date): RFM cutpoints and, when asked or none is stored, the BTYD model; then every customer''s score, segment, stage (walked month end by month end from its last evaluation) and level, in batches of batch_size committed one by one when called on its own (inside a transaction block, or with commit_batches => false, as one transaction)';
