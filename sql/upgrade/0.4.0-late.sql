-- crm 0.3.0 -> 0.4.0, after the install pieces new in 0.4.0: changes to
-- objects that exist in 0.3.0 and use objects of those pieces (see the
-- Makefile; spliced like 0.4.0.sql).

-- the stage walk takes a model (crm.btyd_model, made again by
-- 40_btyd.sql)
--@ copy 50_stage.sql crm.walk_stages

-- crm.customer_360 gains the customer's open pipeline (crm.opportunities,
-- 79_pipeline.sql)
--@ replace 80_views.sql crm.customer_360
ALTER VIEW crm.customer_360 SET (security_invoker = true);
