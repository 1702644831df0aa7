-- crm 0.2.0 -> 0.3.0: the order trigger writes existing customers without a
-- query and caches its configuration per backend (the piece 72_config_cache
-- follows this file in crm--0.2.0--0.3.0.sql)
\echo Use "ALTER EXTENSION crm UPDATE TO '0.3.0'" to load this file. \quit

-- the trigger writes its history rows with source 'inference' itself: no
-- setting to save and restore around every call
ALTER FUNCTION crm.track_orders_trigger() RESET crm.change_source;
