-- Every function, procedure and aggregate of the extension (read from the
-- catalog: pg_proc through pg_depend to pg_extension) called with hostile
-- arguments of its argument types: NULL, NaN, +-Infinity, huge and tiny
-- values, empty and NULL arrays, infinite dates, malformed text.  Each call
-- runs in a subtransaction rolled back afterwards (so functions that write
-- leave nothing), with a statement timeout; asserted: no internal error
-- (SQLSTATE class XX), the server still answering, no NaN stored in a table
-- of crm nor in a crm value returned.  Issue 20.
--
-- For each function: the "base" arguments (the first value of each type),
-- then each argument in turn through every value of its type, the others
-- at base, then CRM_RANDOM_TRIES (environment, default 4) random
-- combinations, seeded.
\ir setup.psql
SELECT plan(4);

\getenv random_tries CRM_RANDOM_TRIES
\if :{?random_tries}
\else
\set random_tries 4
\endif

-- a few customers with orders, complaints, interactions and an opportunity,
-- so that the functions reading the tables find something
SET crm.as_of = '2024-06-30';
INSERT INTO crm.customers (customer_id) SELECT g FROM generate_series(1, 6) g;
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 1 + g % 6, DATE '2023-01-01' + g * 17 % 500, 5 + g % 40 FROM generate_series(1, 60) g;
INSERT INTO crm.complaints (customer_id, category) VALUES (2, 'billing');
INSERT INTO crm.opportunities (customer_id, amount) VALUES (3, 1000);

-- the values tried for each type, as SQL expressions; the first is the base
CREATE TEMP TABLE vals (typ regtype, i int, v text);
INSERT INTO vals
SELECT t::regtype, o, v FROM (VALUES
    ('double precision', ARRAY['1.5', '0', '-1', '''NaN''', '''Infinity''', '''-Infinity''', '1e308', '-1e308', '1e-308', '5e-324', '0.999999999999', 'NULL']),
    ('numeric', ARRAY['10.5', '0', '-1', '''NaN''', '''Infinity''', '''-Infinity''', '1e100', '1e-100', '99999999999.9999', 'NULL']),
    ('integer', ARRAY['3', '0', '-1', '1', '2147483647', '-2147483648', 'NULL']),
    ('bigint', ARRAY['3', '0', '-1', '9223372036854775807', '-9223372036854775808', 'NULL']),
    ('boolean', ARRAY['true', 'false', 'NULL']),
    ('date', ARRAY['''2024-06-30''', '''2023-01-01''', '''infinity''', '''-infinity''', '''4713-01-01 BC''', '''5874897-12-31''', '''0001-01-01''', '''9999-12-31''', '''10000-01-01''', 'NULL']),
    ('timestamp with time zone', ARRAY['''2024-06-30 10:00+00''', '''infinity''', '''-infinity''', '''4713-01-01 00:00+00 BC''', '''294276-12-31 23:00+00''', 'NULL']),
    ('interval', ARRAY['''7 days''', '''0''', '''-1 day''', '''1 microsecond''', '''178000000 years''', '''-178000000 years''', '''1 month''', 'NULL']),
    ('text', ARRAY['''bgnbd''', '''''', '''NaN''', '''lead''', '''window_days''', 'repeat(''x'', 100000)', '''{2024-01-01:1}''', E'''\\x01''', '''crm.orders''', '''Robert''''); DROP TABLE crm.orders; --''', 'NULL']),
    ('name', ARRAY['''window_days''', '''''', '''no_such''', '''customer_id''', 'NULL']),
    ('regclass', ARRAY['''crm.orders''', '''pg_class''', '''crm.customers''', '0', 'NULL']),
    ('oid', ARRAY['0', '4294967295', 'NULL']),
    ('jsonb', ARRAY['''{}''', '''[]''', '''null''', '''{"a": 1e400}''', '''{"window_days": "NaN"}''', 'NULL']),
    ('bytea', ARRAY['''\x''', '''\x00''', '''\xffffffffffffffffffffffff''', 'crm.summary_send(''{2024-01-01:10}'')', 'NULL']),
    ('cstring', ARRAY['''{2024-01-01:10}''', '''''', '''NaN''', '''garbage(((''', '''5-4-3''', '''bgnbd(r=NaN,alpha=1,a=1,b=1)''', '''bgnbd(r=1e-320,alpha=1e308,a=1,b=1)''', '''{2024-01-01:1e300}''', '''{infinity:1}''', 'repeat(''{'', 10000)', 'NULL']),
    ('cstring[]', ARRAY['''{5}''', '''{}''', '''{-1}''', '''{abc}''', '''{1,2,3}''', 'NULL']),
    ('double precision[]', ARRAY['''{1,2}''', '''{}''', '''{NULL}''', '''{NaN}''', '''{Infinity,-Infinity}''', '''{{1,2},{3,4}}''', '''{1e308,1e308,1e308}''', '''[5:6]={1,2}''', 'array_fill(1.0::float8, ARRAY[10000])', 'NULL']),
    ('bigint[]', ARRAY['''{1,2}''', '''{}''', '''{NULL}''', '''{-1,9223372036854775807}''', '''{{1,2},{3,4}}''', 'NULL']),
    ('integer[]', ARRAY['''{1,2}''', '''{}''', '''{NULL}''', '''{-1,2147483647}''', '''{{1,2},{3,4}}''', 'NULL']),
    ('numeric[]', ARRAY['''{1,2}''', '''{}''', '''{NULL}''', '''{NaN,Infinity}''', 'NULL']),
    ('date[]', ARRAY['''{2024-01-01,2024-02-01}''', '''{}''', '''{NULL}''', '''{infinity,-infinity}''', 'NULL']),
    ('crm.summary', ARRAY['''{2024-01-01:10,2024-02-03:5x2,2024-05-01:7}''', '''{}''', '''{0001-01-01:0.0001,9999-12-31:99999999999}''',
                          '(SELECT crm.summarize(DATE ''2024-06-30'' - d, 10) FROM generate_series(1, 200) d)',
                          'crm.seal((SELECT crm.summarize(DATE ''2024-06-30'' - d, 10) FROM generate_series(1, 200) d), ''2024-03-01'')',
                          '''{2024-01-01:99999999999x2147483647}''', 'NULL']),
    ('crm.btyd_model', ARRAY['''bgnbd(r=0.24,alpha=4.4,a=0.79,b=2.4)''', '''pareto_nbd(r=0.55,alpha=10.5,s=0.6,beta=11.7)''',
                             '''gamma_gamma(p=6.25,q=3.74,v=15.4)''', '''mbgnbd(r=0.5,alpha=5,a=0.9,b=2)''', '''bgbb(alpha=1.2,beta=0.75,gamma=0.66,delta=2.8)''',
                             '''bgnbd(r=1e-300,alpha=1e300,a=1e-300,b=1e300)''', '''bgnbd(r=1e300,alpha=1e-300,a=1e300,b=1e-300)''',
                             '''pareto_nbd(r=0.5,alpha=10,s=0.6,beta=11) covariates(trans={0.1},dropout={-0.2})''',
                             '''bgnbd(r=0.24,alpha=4.4,a=0.79,b=2.4) fit(loglik=-9.5,customers=3,iterations=7,converged=true,penalty=0,unit_days=7,as_of=2024-01-01) vcov({1,0,0,0},{0,1,0,0},{0,0,1,0},{0,0,0,1})''',
                             'NULL']),
    ('crm.stage', ARRAY['''exploration''', '''prospect''', '''stable''', '''dissolution''', 'NULL']),
    ('crm.relationship_level', ARRAY['''trust''', '''transaction''', '''partnership''', 'NULL']),
    ('crm.rfm', ARRAY['''5-4-3''', '''1-1-1/2''', '''9-9-9/9''', 'NULL']),
    ('crm.rfm_cutpoints', ARRAY['crm.rfm_thresholds(''2024-12-31'', ''{30,90,180,365}'', ''{1,2,4,8}'', ''{50,100,250,1000}'')',
                                'crm.rfm_thresholds(''2024-12-31'', ''{30}'', ''{1}'', ''{50}'')', 'NULL']),
    ('text[]', ARRAY['''{a,b}''', '''{}''', '''{NULL}''', '''{status = paid}''', 'NULL']),
    ('crm.agg_state', ARRAY['''rfm_quantiles:05000000cafcffff0100000000000000d6000000000000000200000000000000e093040000000000''',
                            '''summary:00''', '''monthly_activity:00005d9c00000000''', '''btyd_fit:''', 'NULL']),
    ('crm.tracked_tables', ARRAY['(SELECT t FROM crm.tracked_tables t LIMIT 1)', 'NULL']),
    ('crm.pipeline_stage', ARRAY['''qualified''', '''lead''', '''won''', '''lost''', 'NULL']),
    ('crm.pipeline_model', ARRAY['(SELECT crm.learn_pipeline(f, t, s, c, ''2025-01-01'') FROM (VALUES (''lead''::crm.pipeline_stage, ''qualified''::crm.pipeline_stage, ''2024-01-01 00:00+00''::timestamptz, ''2024-02-01 00:00+00''::timestamptz), (''qualified'', ''won'', ''2024-02-01 00:00+00'', ''2024-03-01 00:00+00'')) v(f, t, s, c))',
                                 '(SELECT crm.learn_pipeline(f, t, s, c, ''2025-01-01'', 1e300) FROM (VALUES (''lead''::crm.pipeline_stage, ''lost''::crm.pipeline_stage, ''2024-01-01 00:00+00''::timestamptz, ''2024-02-01 00:00+00''::timestamptz)) v(f, t, s, c))',
                                 'NULL'])
) x(t, vs), unnest(vs) WITH ORDINALITY u(v, o);

-- the callable members of the extension: not those taking or returning
-- internal (aggregate support, not callable from SQL), nor trigger functions
CREATE TEMP TABLE fns AS
SELECT p.oid, p.oid::regprocedure AS fn, p.prokind, p.proargtypes::oid[] AS args, p.provolatile = 'v' AS writes
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass AND e.extname = 'crm'
WHERE NOT ('internal'::regtype = ANY (p.proargtypes::oid[]) OR p.prorettype IN ('internal'::regtype, 'trigger'::regtype, 'event_trigger'::regtype));
SELECT ok((SELECT count(*) FROM fns) >= 200
          AND NOT EXISTS (SELECT FROM fns f, unnest(f.args) a WHERE NOT EXISTS (SELECT FROM vals WHERE typ = a)),
          format('%s functions, procedures and aggregates of crm to call, every argument type with values to try', (SELECT count(*) FROM fns)));

-- the calls: argument lists as index arrays into vals
CREATE TEMP TABLE calls (fn regprocedure, q text, writes boolean);
CREATE FUNCTION pg_temp.call_text(f fns, idx int[]) RETURNS text
LANGUAGE sql AS $$
    SELECT CASE f.prokind WHEN 'p' THEN 'CALL ' WHEN 'a' THEN 'SELECT ' ELSE 'SELECT * FROM ' END
        || format('%s.%s(', quote_ident(n.nspname), quote_ident(p.proname))
        || coalesce((SELECT string_agg(format('(%s)::%s', (SELECT v FROM vals WHERE typ = a.t AND i = idx[a.k]), format_type(a.t, NULL)), ', ' ORDER BY a.k)
                     FROM unnest(f.args) WITH ORDINALITY a(t, k)), '')
        || ')' || CASE f.prokind WHEN 'a' THEN ' FROM generate_series(1, 2)' ELSE '' END
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = f.oid
$$;
SELECT setseed(0.20);
INSERT INTO calls
SELECT f.fn, pg_temp.call_text(f, c.idx), f.writes
FROM fns f,
LATERAL (
    -- base
    SELECT array_fill(1, ARRAY[greatest(cardinality(f.args), 1)]) AS idx
    -- each argument through its values
    UNION
    SELECT (SELECT array_agg(CASE WHEN a.k = k0 THEN vi.i ELSE 1 END ORDER BY a.k) FROM unnest(f.args) WITH ORDINALITY a(t, k))
    FROM unnest(f.args) WITH ORDINALITY a0(t0, k0) JOIN vals vi ON vi.typ = a0.t0
    WHERE vi.i > 1
    -- random combinations
    UNION
    SELECT (SELECT array_agg(1 + floor(random() * (SELECT count(*) FROM vals WHERE typ = a.t))::int ORDER BY a.k)
            FROM unnest(f.args) WITH ORDINALITY a(t, k) WHERE r > 0)
    FROM generate_series(1, :random_tries) r
) c
WHERE c.idx IS NOT NULL;

-- NaN in a stored value of crm: float and numeric columns, float arrays,
-- and the crm types whose text shows their numbers
SELECT 'SELECT 0' || string_agg(format(' + (SELECT count(*) FROM %I.%I WHERE %s)', n.nspname, c.relname,
           CASE WHEN a.atttypid IN ('float8'::regtype, 'float4'::regtype, 'numeric'::regtype) THEN format('%I = ''NaN''', a.attname)
                WHEN a.atttypid IN ('float8[]'::regtype, 'numeric[]'::regtype) THEN format('''NaN'' = ANY (%I)', a.attname)
                ELSE format('%I::text LIKE ''%%NaN%%''', a.attname) END), '') AS nan_query
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'crm' AND c.relkind = 'r'
  AND (a.atttypid IN ('float8'::regtype, 'float4'::regtype, 'numeric'::regtype, 'float8[]'::regtype, 'numeric[]'::regtype,
                      'crm.btyd_model'::regtype, 'crm.pipeline_model'::regtype, 'crm.summary'::regtype)) \gset
SELECT is((:nan_query)::bigint, 0::bigint, 'no NaN stored before the calls');

CREATE TEMP TABLE outcomes (fn regprocedure, q text, state text, msg text, nan_returned boolean, nan_stored boolean);
-- try(fn, q, writes): run q in a subtransaction always rolled back; record
-- its SQLSTATE (or 'ok'), whether its result shows NaN, and whether a
-- writing call left NaN in a table before its rollback
CREATE FUNCTION pg_temp.try(fn regprocedure, q text, writes boolean, nan_query text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    st text := 'ok';
    msg text;
    res text;
    stored boolean := false;
BEGIN
    BEGIN
        BEGIN
            IF q LIKE 'CALL %' THEN
                EXECUTE q;
            ELSE
                EXECUTE format('SELECT string_agg(left(r::text, 2000), '','') FROM (%s LIMIT 1000) r', q) INTO res;
            END IF;
            IF writes THEN
                EXECUTE nan_query INTO stored;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'CRMRB';
        EXCEPTION
            WHEN SQLSTATE 'CRMRB' THEN NULL;
            WHEN OTHERS THEN GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        END;
    EXCEPTION
        -- the statement timeout, wherever it strikes
        WHEN query_canceled THEN st := 'timeout';
    END;
    INSERT INTO outcomes VALUES (fn, q, st, msg, res ~ 'NaN', stored);
END $$;
-- (the nan query returns a count; > 0 means stored)
SELECT replace(:'nan_query', 'SELECT 0', 'SELECT 0 <') AS nan_query \gset

SET statement_timeout = '3s';
\o /dev/null
SELECT format('SELECT pg_temp.try(%L, %L, %L, %L)', fn, q, writes, :'nan_query') FROM calls ORDER BY fn::text, q \gexec
\o
RESET statement_timeout;

SELECT diag(format('%s %s -> %s %s', fn, left(q, 300), state, msg)) FROM outcomes WHERE state ~ '^XX' OR nan_stored OR state = 'timeout' LIMIT 30;
SELECT diag(format('%s calls ran out of time (3 s), %s returned NaN (not stored), by state: %s',
                   (SELECT count(*) FROM outcomes WHERE state = 'timeout'), (SELECT count(*) FROM outcomes WHERE nan_returned),
                   (SELECT string_agg(s || ' ' || n, ', ' ORDER BY n DESC) FROM (SELECT state s, count(*) n FROM outcomes GROUP BY 1) x)));
SELECT diag(format('random input: %s functions x %s inputs tried = %s calls, %s internal errors, %s NaN stored',
                   (SELECT count(DISTINCT fn) FROM outcomes), (SELECT count(*) FROM vals), (SELECT count(*) FROM outcomes),
                   (SELECT count(*) FROM outcomes WHERE state ~ '^XX'), (SELECT count(*) FROM outcomes WHERE nan_stored)));
SELECT is((SELECT count(*) FROM outcomes WHERE state ~ '^XX'), 0::bigint,
          format('%s functions x %s inputs tried = %s calls (%s answered, %s refused with an SQLSTATE): no internal error (XX), the server still answering',
                 (SELECT count(DISTINCT fn) FROM outcomes), (SELECT count(*) FROM vals),
                 (SELECT count(*) FROM outcomes), (SELECT count(*) FROM outcomes WHERE state = 'ok'),
                 (SELECT count(*) FROM outcomes WHERE state NOT IN ('ok', 'timeout'))));
SELECT is((SELECT count(*) FROM outcomes WHERE nan_stored), 0::bigint, 'no call stored NaN in a table of crm');

SELECT * FROM finish();
ROLLBACK;
