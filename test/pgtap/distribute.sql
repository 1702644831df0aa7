-- crm.distribute() where Citus is not loaded (as here, and in CI): a clear
-- refusal with its hint, bad shard counts named, admins only, and nothing
-- changed; the shard functions refuse what is not a shard.  What they do
-- on a Citus cluster is tested by test/citus.sh.
\ir setup.psql
SELECT plan(10);

CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'crm.orders'::regclass AND NOT tgisinternal) AS order_triggers,
       (SELECT count(*) FROM pg_constraint WHERE connamespace = 'crm'::regnamespace) AS constraints,
       (SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'crm'::regnamespace) AS policies;

SELECT throws_ok('SELECT crm.distribute()', '55000', 'crm.distribute needs the Citus extension',
    'without Citus: 55000, the extension named');
DO $$
BEGIN
    PERFORM crm.distribute(4);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    DECLARE h text;
    BEGIN
        GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
        CREATE TEMP TABLE refusal AS SELECT h AS hint;
    END;
END $$;
SELECT matches((SELECT hint FROM refusal), 'shared_preload_libraries.*CREATE EXTENSION citus',
    'the hint says how to load Citus');
SELECT throws_ok('SELECT crm.distribute(0)', '22023', 'shard_count must be between 1 and 64000',
    'shard_count 0: 22023, the argument named');
SELECT throws_ok('SELECT crm.distribute(NULL)', '22023', 'shard_count must be between 1 and 64000',
    'shard_count NULL: 22023');
SET LOCAL ROLE crm_writer;
SELECT throws_ok('SELECT crm.distribute(4)', '42501', NULL, 'a writer may not distribute the CRM (crm_admin only)');
RESET ROLE;
SELECT is((SELECT (order_triggers, constraints, policies)::text FROM before),
          (SELECT ((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'crm.orders'::regclass AND NOT tgisinternal),
                   (SELECT count(*) FROM pg_constraint WHERE connamespace = 'crm'::regnamespace),
                   (SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'crm'::regnamespace))::text),
    'refused: triggers, constraints and policies as they were');

SELECT throws_ok($$SELECT crm.score_shard('crm.customers', NULL, current_date, NULL, true)$$, '22023', NULL,
    'crm.score_shard of a table that is not a shard of crm.customers: 22023');
SELECT throws_ok($$SELECT crm.score_shard('crm.customers', NULL, NULL, NULL, true)$$, '22004',
    'shard, as_of and levels must not be NULL', 'crm.score_shard without as_of: 22004, the arguments named');
SELECT throws_ok($$SELECT * FROM crm.shard_level_signals('crm.customers', '{1}', current_date)$$, '22023', NULL,
    'crm.shard_level_signals of a table that is not a shard: 22023');
SET LOCAL ROLE crm_writer;
SELECT throws_ok($$SELECT crm.score_shard('crm.customers', NULL, current_date, NULL, true)$$, '42501', NULL,
    'a writer may not call crm.score_shard (its triggers and crm.refresh do)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
