-- crm 0.3.0 -> 0.4.0: changes to objects that exist in 0.3.0.  The Makefile
-- builds crm--0.3.0--0.4.0.sql from this file (its --@ lines stand for
-- definitions taken from the install pieces: see splice.awk) followed by
-- the install pieces new in 0.4.0.
\echo Use "ALTER EXTENSION crm UPDATE TO '0.4.0'" to load this file. \quit

-- one source per rule: the business date, the defaults of history rows and
-- the RFM segment are the C code's, which the order trigger uses too
--@ replace 05_config.sql crm.business_date
--@ copy 05_config.sql crm.change_source
--@ copy 05_config.sql crm.change_time
ALTER TABLE crm.stage_history
    ALTER COLUMN changed_at SET DEFAULT crm.change_time(),
    ALTER COLUMN source SET DEFAULT crm.change_source();

--@ replace 60_segment.sql crm.rfm_segment
--@ replace 75_refresh.sql crm.score_customers
--@ copy 05_config.sql crm.c_dependencies

-- long histories (issue 17): sealed summaries and the table of their
-- sealed days; the functions that read or write stored summaries in bulk
-- seal, unseal, or read the full history where they need every day
--@ copy 10_summary.sql crm.seal
--@ copy 10_summary.sql crm.sealed_through
--@ copy 10_summary.sql crm.seal_point
--@ copy 10_summary.sql crm.unseal
--@ copy 10_summary.sql crm.split_by_month
--@ copy 55_customers.sql crm.summary_blocks
--@ copy 55_customers.sql crm.full_summary
--@ copy 55_customers.sql crm.seal_customers
--@ copy 55_customers.sql crm.unseal_customers
--@ replace 55_customers.sql crm.apply_inferred_stages
--@ replace 65_orders.sql crm.rescore
--@ replace 65_orders.sql crm.rebuild_summaries
COMMENT ON COLUMN crm.customers.summary IS 'Purchase days of every tracked order table, maintained by their triggers, a long history sealed (crm.full_summary()); NULL: no orders';
GRANT SELECT ON crm.summary_blocks TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.summary_blocks TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.seal_customers(bigint[]), crm.unseal_customers(bigint[]) TO crm_admin;

-- the stored summaries of 0.3.0 are full (version 1, which 0.4.0 reads
-- as it is): seal the long ones as the order trigger would
SELECT crm.seal_customers();
