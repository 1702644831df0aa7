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
