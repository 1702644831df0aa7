-- crm 0.3.0 -> 0.4.0: changes to objects that exist in 0.3.0 (the install
-- pieces new in 0.4.0 follow this file in crm--0.3.0--0.4.0.sql; see the
-- Makefile)
\echo Use "ALTER EXTENSION crm UPDATE TO '0.4.0'" to load this file. \quit
