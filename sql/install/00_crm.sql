-- crm: customer-relationship management inside PostgreSQL.
-- This file is the first piece of the install script; the Makefile
-- concatenates sql/install/*.sql, in name order, into crm--<version>.sql.

\echo Use "CREATE EXTENSION crm" to load this file. \quit

-- Every object lives in schema crm, which the extension owns: DROP EXTENSION
-- removes it with everything in it.  (The control file names pg_catalog as
-- the extension's own schema, as pg_cron does, because a schema named there
-- would be created outside the extension and survive DROP EXTENSION.)
CREATE SCHEMA crm;
COMMENT ON SCHEMA crm IS 'Customer-relationship management: value scoring, segments and relationship stages (extension crm)';
GRANT USAGE ON SCHEMA crm TO PUBLIC;
