-- Hostile roles (issue 20): SECURITY DEFINER code cannot be hijacked through
-- the caller's search_path, nobody but the owner creates objects in crm,
-- and crm_reader, crm_writer, crm_admin and an account manager are tried
-- against every table, view and function: what their grants allow works,
-- what they do not is refused with 42501.  The expected privileges are
-- written out here, apart from sql/install/90_access.sql.
\ir setup.psql
SELECT plan(16);

CREATE ROLE crm_h_r LOGIN IN ROLE crm_reader;
CREATE ROLE crm_h_w LOGIN IN ROLE crm_writer;
CREATE ROLE crm_h_a LOGIN IN ROLE crm_admin;
CREATE ROLE crm_h_am LOGIN IN ROLE crm_writer;
CREATE ROLE crm_h_am2 LOGIN IN ROLE crm_writer;
SET crm.as_of = '2025-06-30';
INSERT INTO crm.customers (customer_id, account_manager) VALUES (1, 'crm_h_am'), (2, 'crm_h_am'), (3, 'crm_h_am2'), (4, NULL);
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 1 + g % 4, DATE '2025-01-01' + g * 7, 10 + g FROM generate_series(0, 19) g;
INSERT INTO crm.complaints (customer_id, category) VALUES (1, 'billing'), (3, 'billing');
INSERT INTO crm.interactions (customer_id, channel, direction) VALUES (2, 'phone', 'inbound'), (4, 'email', 'outbound');
INSERT INTO crm.surveys (survey_id, customer_id) VALUES (1, 1), (2, 3);
INSERT INTO crm.opportunities (customer_id, amount, owner) VALUES (1, 100, 'crm_h_am'), (3, 200, 'crm_h_am2');

-- ---------------------------------------------------------------------
-- search_path
-- ---------------------------------------------------------------------
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
    JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'crm'
    WHERE p.prosecdef
      AND NOT coalesce('search_path=pg_catalog, crm' = ANY (p.proconfig), false)
      -- C triggers that must see the caller's search_path to tell a
      -- pg_dump restore, then pin it themselves (shown below)
      AND p.oid NOT IN ('crm.track_orders_trigger()'::regprocedure, 'crm.service_changed()'::regprocedure)$$,
    'every SECURITY DEFINER function pins search_path to pg_catalog, crm (pg_proc.proconfig)');

-- A writer who owns a schema puts it before pg_catalog, with operators and
-- functions of the same names and argument types as built-ins; each logs
-- the role it runs as.  Run by the extension's SECURITY DEFINER code they
-- would run as its owner.
CREATE TABLE public.hijacked (fn text, run_as name);
GRANT SELECT, INSERT ON public.hijacked TO PUBLIC;
CREATE SCHEMA evil AUTHORIZATION crm_h_w;
SET ROLE crm_h_w;
CREATE FUNCTION evil.eq8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.hijacked VALUES ('=(bigint,bigint)', current_user); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq8);
CREATE FUNCTION evil.eq4(integer, integer) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.hijacked VALUES ('=(integer,integer)', current_user); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.eq4);
CREATE FUNCTION evil.lt8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.hijacked VALUES ('<(bigint,bigint)', current_user); RETURN $1 OPERATOR(pg_catalog.<) $2; END $$;
CREATE OPERATOR evil.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.lt8);
CREATE FUNCTION evil.eqd(date, date) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.hijacked VALUES ('=(date,date)', current_user); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR evil.= (LEFTARG = date, RIGHTARG = date, FUNCTION = evil.eqd);
CREATE FUNCTION evil.eqt(text, text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.hijacked VALUES ('=(text,text)', current_user); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eqt);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.hijacked VALUES ('now()', current_user); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.hijacked VALUES ('lower(text)', current_user); RETURN pg_catalog.lower($1); END $$;
CREATE FUNCTION evil.pg_has_role(name, name, text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.hijacked VALUES ('pg_has_role', current_user); RETURN true; END $$;
SET search_path = evil, pg_catalog, crm, public;
-- the writer's own statements do reach the shadows (the trap works) ...
SELECT count(*) AS trap FROM public.hijacked WHERE 1::bigint = 1::bigint \gset
-- ... and then everything a writer does that runs crm's code as its owner
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-06-01', 5), (4, '2025-06-02', 7);
UPDATE crm.orders SET amount = amount + 1 WHERE customer_id = 4;
DELETE FROM crm.orders WHERE customer_id = 4 AND ordered_on = '2025-06-02';
INSERT INTO crm.surveys (survey_id, customer_id) VALUES (3, 2);
INSERT INTO crm.survey_answers VALUES (3, 'price', 4, 3);
INSERT INTO crm.complaints (customer_id, category) VALUES (2, 'billing');
INSERT INTO crm.interactions (customer_id, channel, direction) VALUES (1, 'sms', 'outbound');
INSERT INTO crm.customers (customer_id) VALUES (5);
UPDATE crm.customers SET stage = 'exploration' WHERE customer_id = 5;
INSERT INTO crm.opportunities (customer_id, amount) VALUES (2, 50);
UPDATE crm.opportunities SET stage = 'qualified' WHERE customer_id = 2;
SELECT count(*) AS seen FROM crm.customer_360 \gset
RESET ROLE;
SET search_path = public, crm;
SELECT ok((SELECT count(*) FROM public.hijacked WHERE run_as = 'crm_h_w') > 0,
          'the shadowing operators catch the writer''s own statements (the trap works)');
SELECT is((SELECT string_agg(DISTINCT fn || ' as ' || run_as, ', ') FROM public.hijacked WHERE run_as <> 'crm_h_w'), NULL,
          'no shadowing operator or function ran as another role: orders, surveys, answers, complaints, interactions, stage changes and opportunities written by a writer whose search_path puts its own schema before pg_catalog');
SELECT is((SELECT summary::text FROM crm.customers WHERE customer_id = 1), (SELECT crm.summarize(ordered_on, amount)::text FROM crm.orders WHERE customer_id = 1),
          'and the order trigger did its work');

-- ---------------------------------------------------------------------
-- CREATE in schema crm
-- ---------------------------------------------------------------------
SELECT is((SELECT string_agg(r, ',') FROM unnest(ARRAY['public', 'crm_reader', 'crm_writer', 'crm_admin', 'crm_h_am']) r
           WHERE has_schema_privilege(r, 'crm', 'CREATE')), NULL,
          'neither PUBLIC nor crm_reader, crm_writer, crm_admin nor an account manager may CREATE in schema crm');
CREATE FUNCTION pg_temp.outcome(role name, q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text := 'ok';
BEGIN
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', role);
        EXECUTE q;
        RAISE EXCEPTION USING ERRCODE = 'CRMRB';
    EXCEPTION
        WHEN SQLSTATE 'CRMRB' THEN NULL;
        WHEN OTHERS THEN st := SQLSTATE;
    END;
    RETURN st;
END $$;
SELECT is((SELECT string_agg(DISTINCT r || ': ' || pg_temp.outcome(r, q), ', ')
           FROM unnest(ARRAY['crm_h_r', 'crm_h_w', 'crm_h_a', 'crm_h_am']) r,
                unnest(ARRAY['CREATE TABLE crm.mine (x int)', 'CREATE FUNCTION crm.now() RETURNS int LANGUAGE sql AS ''SELECT 1''',
                             'CREATE VIEW crm.v AS SELECT 1', 'CREATE OPERATOR crm.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = int8eq)']) q),
          'crm_h_a: 42501, crm_h_am: 42501, crm_h_r: 42501, crm_h_w: 42501',
          'and trying gives 42501 for each');

-- ---------------------------------------------------------------------
-- Tables and views: each role tries SELECT, INSERT, UPDATE and DELETE
-- ---------------------------------------------------------------------
CREATE TEMP TABLE expected_grants (role name, action text, rel text);
-- readers: SELECT on every table and view of crm
INSERT INTO expected_grants SELECT r, 'SELECT', c.relname FROM pg_class c, unnest(ARRAY['crm_h_r', 'crm_h_w', 'crm_h_a']) r
WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'v');
-- writers: the day's business
INSERT INTO expected_grants SELECT r, a, t FROM unnest(ARRAY['crm_h_w', 'crm_h_a']) r,
    unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) a, unnest(ARRAY['orders', 'interactions', 'complaints', 'surveys', 'survey_answers']) t;
INSERT INTO expected_grants SELECT r, a, t FROM unnest(ARRAY['crm_h_w', 'crm_h_a']) r,
    unnest(ARRAY['INSERT', 'UPDATE']) a, unnest(ARRAY['customers', 'opportunities']) t;
-- admins: configuration and the maintained tables
INSERT INTO expected_grants SELECT 'crm_h_a', a, t FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) a,
    unnest(ARRAY['settings', 'stage_thresholds', 'level_targets', 'segment_schemes', 'segment_labels', 'segment_cells', 'segment_rules',
                 'complaint_categories', 'churn_reasons', 'customer_segments', 'summary_blocks', 'tracked_tables', 'scoring',
                 'stage_history', 'opportunity_history', 'fixed_stage_probabilities',
                 'customer_keys', 'tracked_partitions', 'retained_summaries']) t;
INSERT INTO expected_grants VALUES ('crm_h_a', 'DELETE', 'customers'), ('crm_h_a', 'DELETE', 'opportunities'),
    -- crm.refresh() (run as an admin) writes its run log; nobody deletes from it
    ('crm_h_a', 'INSERT', 'refresh_runs'), ('crm_h_a', 'UPDATE', 'refresh_runs');

-- the attempt: a statement of each kind that needs the privilege and
-- changes nothing; for a column-level grant, on a column granted
CREATE FUNCTION pg_temp.attempt(role name, action text, rel regclass) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE action
        WHEN 'SELECT' THEN format('SELECT FROM %s LIMIT 1', rel)
        WHEN 'INSERT' THEN format('INSERT INTO %s DEFAULT VALUES', rel)
        WHEN 'DELETE' THEN format('DELETE FROM %s WHERE false', rel)
        ELSE format('UPDATE %s SET %I = %I WHERE false', rel, col, col) END
    FROM (SELECT coalesce((SELECT a.attname FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
                             AND a.attgenerated = '' AND has_column_privilege(role, rel, a.attnum, 'UPDATE') ORDER BY a.attnum LIMIT 1),
                          (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
                             AND a.attgenerated = '' AND a.attidentity = '' ORDER BY a.attnum LIMIT 1)) AS col) c
$$;
CREATE TEMP TABLE tried AS
SELECT r AS role, a AS action, c.relname AS rel, c.relkind,
       pg_temp.outcome(r, pg_temp.attempt(r, a, c.oid)) AS outcome
FROM pg_class c, unnest(ARRAY['crm_h_r', 'crm_h_w', 'crm_h_a']) r, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) a
WHERE c.relnamespace = 'crm'::regnamespace AND (c.relkind = 'r' OR (c.relkind = 'v' AND a = 'SELECT'));
SELECT is((SELECT string_agg(format('%s %s %s: %s', t.role, t.action, t.rel, t.outcome), '; ')
           FROM tried t LEFT JOIN expected_grants e USING (role, action, rel)
           WHERE (e.role IS NULL) <> (t.outcome = '42501')), NULL,
          format('%s attempts (3 roles x SELECT, INSERT, UPDATE, DELETE x %s tables, SELECT on %s views): each allowed or refused (42501) as the grants should',
                 (SELECT count(*) FROM tried), (SELECT count(*) FROM pg_class WHERE relnamespace = 'crm'::regnamespace AND relkind = 'r'),
                 (SELECT count(*) FROM pg_class WHERE relnamespace = 'crm'::regnamespace AND relkind = 'v')));

-- ---------------------------------------------------------------------
-- Functions: each role calls every one (arguments NULL) or, for those
-- not callable from SQL and the strict ones (the planner folds a strict
-- call on NULLs to NULL before any privilege check), has EXECUTE or not
-- ---------------------------------------------------------------------
CREATE TEMP TABLE crm_fns AS
SELECT p.oid, p.oid::regprocedure AS fn, p.prokind,
       ('internal'::regtype = ANY (p.proargtypes::oid[] || p.prorettype) OR p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype)
        OR (p.proisstrict AND p.pronargs > 0)) AS not_callable,
       CASE WHEN p.prokind = 'p' THEN 'CALL ' WHEN p.prokind = 'a' THEN 'SELECT ' ELSE 'SELECT * FROM ' END
       || p.oid::regproc::text || '(' || coalesce((SELECT string_agg(format('NULL::%s', format_type(t, NULL)), ', ')
                                                    FROM unnest(p.proargtypes::oid[]) t), '') || ')' AS call
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'crm';
-- for admins only (the last two any role may call, but they write what
-- only admins may write), and for nobody (trigger functions called by triggers)
CREATE TEMP TABLE admin_only (fn regprocedure);
INSERT INTO admin_only VALUES ('crm.refresh(date, integer, boolean, boolean)'), ('crm.rebuild_summaries()'),
    ('crm.seal_customers(bigint[])'), ('crm.unseal_customers(bigint[])'), ('crm.track_orders_trigger()'),
    ('crm.install_tracking(regclass, name, name, name, text, text, text[])'),
    ('crm.check_order_expression(regclass, text, boolean)'), ('crm.customer_for_key(text)'), ('crm.set_business_time_zone(text)'),
    ('crm.count_orders(crm.tracked_tables, boolean)'), ('crm.sync_partitions(crm.tracked_tables, boolean)'), ('crm.rescore(bigint[], text, integer, boolean)'),
    ('crm.score_customers(bigint[], date)'), ('crm.compute_scoring(date, boolean)'), ('crm.attach_summaries(text, text, boolean, boolean)'),
    ('crm.override_stage(bigint, crm.stage, text)'), ('crm.override_level(bigint, crm.relationship_level, text)'),
    ('crm.apply_inferred_stages(date)'), ('crm.copy_segment_scheme(text, text)'), ('crm.distribute(integer)'),
    ('crm.roll_up_stage_history()'), ('crm.keep_model_validation()');
CREATE TEMP TABLE nobody (fn regprocedure);
INSERT INTO nobody VALUES ('crm.config_changed()'), ('crm.service_changed()'),
    ('crm.colocated_shard(regclass, regclass)'), ('crm.orders_shard_changed()'), ('crm.service_shard_changed()'),
    ('crm.customers_shard_updated()'), ('crm.shard_level_signals(regclass, bigint[], date)'),
    ('crm.score_shard(regclass, bigint[], date, text, boolean)');
SET statement_timeout = '10s';
CREATE TEMP TABLE fn_tried AS
SELECT r AS role, f.fn,
       CASE WHEN f.not_callable THEN CASE WHEN has_function_privilege(r, f.oid, 'EXECUTE') THEN 'granted' ELSE '42501' END
            ELSE pg_temp.outcome(r, f.call) END AS outcome,
       (f.fn IN (SELECT fn FROM nobody) OR (f.fn IN (SELECT fn FROM admin_only) AND r <> 'crm_h_a')) AS should_refuse
FROM crm_fns f, unnest(ARRAY['crm_h_r', 'crm_h_w', 'crm_h_a', 'crm_h_am']) r;
RESET statement_timeout;
SELECT is((SELECT string_agg(format('%s %s: %s', role, fn, outcome), '; ') FROM fn_tried
           WHERE should_refuse <> (outcome = '42501')), NULL,
          format('%s functions x 4 roles (%s calls, %s privilege checks of functions not callable from SQL or strict): allowed or refused (42501) as the grants should',
                 (SELECT count(*) FROM crm_fns), (SELECT count(*) FROM fn_tried f JOIN crm_fns c USING (fn) WHERE NOT c.not_callable),
                 (SELECT count(*) FROM fn_tried f JOIN crm_fns c USING (fn) WHERE c.not_callable)));
SELECT is((SELECT count(*) FROM fn_tried WHERE outcome ~ '^XX'), 0::bigint, 'and no call by any role gave an internal error');
SELECT diag(format('hostile roles: %s table and view attempts, %s function calls and checks, %s not as the grants say',
                   (SELECT count(*) FROM tried), (SELECT count(*) FROM fn_tried),
                   (SELECT count(*) FROM tried t LEFT JOIN expected_grants e USING (role, action, rel) WHERE (e.role IS NULL) <> (t.outcome = '42501'))
                   + (SELECT count(*) FROM fn_tried WHERE should_refuse <> (outcome = '42501'))));

-- ---------------------------------------------------------------------
-- An account manager: only their customers, in every table and view
-- ---------------------------------------------------------------------
CREATE FUNCTION pg_temp.seen_customers(role name, rel regclass) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role);
    EXECUTE format('SELECT array_agg(DISTINCT customer_id ORDER BY customer_id) FROM %s', rel) INTO ids;
    RESET ROLE;
    RETURN ids;
END $$;
CREATE TEMP TABLE am_seen AS
SELECT c.relname, pg_temp.seen_customers('crm_h_am', c.oid) AS seen
FROM (SELECT c.oid, c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'customer_id'
      WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'v') OFFSET 0) c;
SELECT is((SELECT string_agg(format('%s: %s', relname, seen), '; ') FROM am_seen WHERE NOT seen <@ ARRAY[1, 2]::bigint[]), NULL,
          format('an account manager sees only their customers (1 and 2) in each of the %s tables and views with a customer_id',
                 (SELECT count(*) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'customer_id'
                  WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'v'))));
SELECT is_empty($$SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'customer_id'
                  WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r' AND NOT c.relrowsecurity$$,
                'every table of crm with a customer_id has row-level security (some are empty here)');
SELECT is(pg_temp.seen_customers('crm_h_am', 'crm.orders'), ARRAY[1, 2]::bigint[], 'and does see them');
SELECT is(pg_temp.seen_customers('crm_h_w', 'crm.orders'), ARRAY[1, 2, 3, 4]::bigint[], 'a writer who manages nobody sees every customer''s orders');
SET ROLE crm_h_am;
UPDATE crm.customers SET name = 'taken' WHERE customer_id IN (3, 4);
UPDATE crm.orders SET amount = 0 WHERE customer_id IN (3, 4);
DELETE FROM crm.complaints WHERE customer_id = 3;
DELETE FROM crm.interactions WHERE customer_id = 4;
UPDATE crm.opportunities SET title = 'taken' WHERE customer_id = 3;
RESET ROLE;
SELECT is((SELECT count(*) FROM crm.customers WHERE name = 'taken') + (SELECT count(*) FROM crm.orders WHERE amount = 0)
          + (SELECT count(*) FROM crm.opportunities WHERE title = 'taken'), 0::bigint,
          'an account manager''s updates reach no row of another''s customers');
SELECT is((SELECT count(*) FROM crm.complaints WHERE customer_id = 3) + (SELECT count(*) FROM crm.interactions WHERE customer_id = 4), 2::bigint,
          'nor do their deletes');
SELECT throws_ok($$SET ROLE crm_h_am; INSERT INTO crm.complaints (customer_id, category) VALUES (3, 'billing')$$, '42501', NULL,
                 'nor can they write a complaint for another''s customer');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
