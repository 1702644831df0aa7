-- The extension as a DBA sees it: version and comment in \dx, every
-- function parallel safe, every aggregate mergeable, and DROP EXTENSION
-- leaves nothing behind.
\ir setup.psql
DROP EXTENSION crm;
CREATE EXTENSION crm;
SET search_path = public, crm;
SELECT plan(17);

SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'crm'), '0.4.0', 'version 0.4.0');
SELECT isnt(obj_description((SELECT oid FROM pg_extension WHERE extname = 'crm'), 'pg_extension'), NULL,
    '\dx shows a comment');
SELECT is((SELECT count(*) FROM pg_depend WHERE classid = 'pg_namespace'::regclass
             AND objid = 'crm'::regnamespace AND deptype = 'e'
             AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'crm')), 1::bigint,
    'schema crm belongs to the extension');

CREATE TEMP VIEW crm_functions AS
SELECT p.oid, p.oid::regprocedure AS fn, p.prokind, p.proparallel
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'crm');

SELECT is_empty($$SELECT fn FROM crm_functions f JOIN pg_proc p ON p.oid = f.oid
                  WHERE p.proparallel <> 's'
                    AND NOT (p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) OR p.prokind = 'p'
                             OR p.proname IN ('override_stage', 'override_level', 'apply_inferred_stages', 'copy_segment_scheme',
                                              'track_orders', 'untrack_orders', 'install_tracking', 'rescore',
                                              'score_customers', 'compute_scoring', 'attach_summaries',
                                              'seal_customers', 'unseal_customers',
                                              'customer_for_key', 'count_orders', 'sync_partitions', 'set_business_time_zone',
                                              'distribute', 'score_shard', 'roll_up_stage_history',
                                              'keep_model_validation'))$$,
    'every function and aggregate is PARALLEL SAFE but the triggers, the procedures and those that write');
SELECT is_empty($$SELECT fn FROM crm_functions f JOIN pg_proc p ON p.oid = f.oid
                  JOIN pg_language l ON l.oid = p.prolang
                  WHERE l.lanname IN ('sql', 'plpgsql')
                    AND NOT coalesce('search_path=pg_catalog, crm' = ANY (p.proconfig), false)
                    AND p.oid NOT IN ('crm.refresh(date, integer, boolean, boolean)'::regprocedure,
                                      'crm.transition_period(timestamptz)'::regprocedure, 'crm.transition_period_end(timestamptz)'::regprocedure)$$,
    'every SQL and PL/pgSQL function pins search_path (crm.refresh, which commits, pins it in its body; the two inlined period functions name pg_catalog''s functions and operators)');
SELECT is_empty($$SELECT fn FROM crm_functions f JOIN pg_proc p ON p.oid = f.oid
                  WHERE p.prosecdef AND NOT EXISTS (SELECT FROM unnest(p.proconfig) s WHERE s LIKE 'search_path=%')
                    AND p.oid NOT IN ('crm.track_orders_trigger()'::regprocedure, 'crm.service_changed()'::regprocedure)$$,
    'every SECURITY DEFINER function pins search_path but the order and service triggers, whose queries are fully qualified (they read the caller''s to tell a restore)');
SELECT is_empty($$SELECT fn FROM crm_functions f JOIN pg_aggregate a ON a.aggfnoid = f.oid
                  WHERE a.aggcombinefn = 0
                     OR (a.aggtranstype = 'internal'::regtype AND (a.aggserialfn = 0 OR a.aggdeserialfn = 0))$$,
    'every aggregate has a combine function, and serial/deserial where its state is internal');
-- Citus 13 splits an aggregate into worker partials and a coordinator
-- combine only if its state is not internal: only the per-customer
-- summaries over orders (pushed down whole, grouped by customer) keep it
SELECT set_eq($$SELECT p.proname || '(' || oidvectortypes(p.proargtypes) || ')' FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
                WHERE p.pronamespace = 'crm'::regnamespace AND a.aggtranstype = 'internal'::regtype$$,
              ARRAY['summarize(date, numeric)', 'summarize(date, double precision)'],
    'every global aggregate has a state Citus can ship (crm.agg_state)');
-- support functions (type I/O, aggregate support, operator, opclass and
-- cast implementations) are documented by what they support
SELECT is_empty($$SELECT fn FROM crm_functions f JOIN pg_proc p ON p.oid = f.oid
                  WHERE obj_description(f.oid, 'pg_proc') IS NULL
                    AND NOT ('internal'::regtype = ANY (p.proargtypes::oid[] || p.prorettype)
                             OR 'cstring'::regtype = ANY (p.proargtypes::oid[] || p.prorettype)
                             OR 'cstring[]'::regtype = ANY (p.proargtypes::oid[]))
                    AND NOT EXISTS (SELECT FROM pg_operator o WHERE o.oprcode = f.oid)
                    AND NOT EXISTS (SELECT FROM pg_amproc a WHERE a.amproc = f.oid)
                    AND NOT EXISTS (SELECT FROM pg_cast c WHERE c.castfunc = f.oid)
                    AND NOT EXISTS (SELECT FROM pg_aggregate a WHERE f.oid IN (a.aggtransfn, a.aggcombinefn, a.aggfinalfn))
                    AND p.prorettype <> 'bytea'::regtype$$,
    'every user-facing function and aggregate has a comment');

SELECT is_empty($$SELECT c.relname, a.attname FROM pg_class c
                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                  WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v'
                    AND (obj_description(c.oid, 'pg_class') IS NULL OR col_description(c.oid, a.attnum) IS NULL)$$,
    'every view a BI tool reads has a comment on itself and on every column');

-- drop and create again in the same database: nothing left, nothing clashes
-- (and this backend, which has cached cutpoints, a segment scheme and the
-- history table's sequence for the order trigger, forgets them)
SET crm.as_of = '2025-12-31';
INSERT INTO crm.customers (customer_id) VALUES (1);
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-12-01', 10);
CALL crm.refresh(commit_batches => false);
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-12-02', 10);
DROP EXTENSION crm;
SELECT hasnt_schema('crm', 'DROP EXTENSION removes schema crm');
SELECT is((SELECT count(*) FROM pg_type WHERE typname = 'summary'), 0::bigint, 'no type summary is left');
CREATE EXTENSION crm;
SELECT has_type('crm', 'summary', 'CREATE EXTENSION works again after DROP');
SELECT is(crm.purchase_days('{2024-01-01:1,2024-01-02:2}'), 2, 'and it works');
SELECT is((SELECT string_agg(name || '=' || boot_val, ' ' ORDER BY name) FROM pg_settings
           WHERE name LIKE 'crm.%' AND short_desc <> '' AND context = 'user'),
          'crm.as_of= crm.change_source= crm.change_time= crm.pipeline_reopen= crm.stage_override= crm.standard_errors=on',
    'once the library is loaded, pg_settings lists its settings, empty (unset) by default, standard errors on');
-- the SQL objects the C code finds by name (src/sqlnames.h) all exist
SELECT is_empty($$SELECT object_type, object_name FROM crm.c_dependencies() d
                  WHERE NOT CASE d.object_type
                      WHEN 'table' THEN to_regclass(d.object_name) IS NOT NULL
                      WHEN 'type' THEN to_regtype(d.object_name) IS NOT NULL
                      WHEN 'column' THEN EXISTS (SELECT FROM pg_attribute a
                          WHERE a.attrelid = to_regclass(regexp_replace(d.object_name, '\.[^.]*$', ''))
                            AND a.attname = regexp_replace(d.object_name, '^.*\.', '') AND a.attnum > 0 AND NOT a.attisdropped)
                      WHEN 'constraint' THEN EXISTS (SELECT FROM pg_constraint c
                          WHERE c.conrelid = to_regclass(regexp_replace(d.object_name, '\.[^.]*$', ''))
                            AND c.conname = regexp_replace(d.object_name, '^.*\.', ''))
                      WHEN 'trigger' THEN EXISTS (SELECT FROM pg_trigger t
                          WHERE t.tgrelid = to_regclass(regexp_replace(d.object_name, '\.[^.]*$', ''))
                            AND t.tgname = regexp_replace(d.object_name, '^.*\.', ''))
                      WHEN 'segment scheme' THEN EXISTS (SELECT FROM crm.segment_schemes s WHERE s.scheme = d.object_name)
                  END
                  OR (SELECT count(*) FROM crm.c_dependencies()) < 30$$,
    'every SQL object the C code finds by name (crm.c_dependencies()) exists as it expects');
INSERT INTO crm.customers (customer_id) VALUES (1);
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-12-01', 10);
SELECT ok((SELECT rfm IS NULL AND segment IS NULL AND stage = 'exploration' FROM crm.customers WHERE customer_id = 1)
          AND (SELECT count(*) FROM crm.stage_history) = 1,
    'an order written after DROP and CREATE EXTENSION in the same session is kept against the new tables, with nothing cached from before');

SELECT * FROM finish();
ROLLBACK;
