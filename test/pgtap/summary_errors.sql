-- crm.summary: bad input raises the documented SQLSTATE, and a failed
-- statement leaves stored data as it was.
\ir setup.psql
SELECT plan(16);

SELECT throws_ok($$SELECT 'garbage'::summary$$, '22P02',
    'invalid input syntax for type crm.summary: "garbage"', 'garbage text: 22P02 naming the type');
SELECT throws_ok($$SELECT '{2024-01-31:1,2024-01-30:1}'::summary$$, '22P02', NULL,
    'days out of order: 22P02');
SELECT throws_ok($$SELECT '{2024-13-01:1}'::summary$$, '22P02', NULL, 'impossible date: 22P02');
SELECT throws_ok($$SELECT summarize(d, 'NaN'::numeric) FROM (VALUES (date '2024-01-01')) v(d)$$,
    '22023', 'amount must be a finite number', 'NaN numeric amount: 22023 naming amount');
SELECT throws_ok($$SELECT summarize(d, '-Infinity'::float8) FROM (VALUES (date '2024-01-01')) v(d)$$,
    '22023', 'amount must be a finite number', 'infinite float8 amount: 22023 naming amount');
SELECT throws_ok($$SELECT summarize('infinity'::date, 1::numeric)$$,
    '22023', 'purchased_at must be a finite date', 'infinite date: 22023 naming purchased_at');
SELECT throws_ok($$SELECT summarize('10000-01-01'::date, 1::numeric)$$,
    '22008', 'purchased_at is out of range for a crm.summary', 'date beyond 9999: 22008');
SELECT throws_ok($$SELECT summarize(current_date, 1e15::numeric)$$,
    '22003', 'amount is out of range for a crm amount', 'amount beyond the range: 22003');
SELECT throws_ok($$SELECT summarize(current_date, a) FROM (VALUES (9e14::numeric), (9e14)) v(a)$$,
    '22003', NULL, 'a day total beyond the range: 22003');
SELECT throws_ok($$SELECT btyd_triple('{2024-01-10:20}', '2024-02-01', '0 days')$$,
    '22023', 'unit must be a positive interval', 'zero unit: 22023 naming unit');
SELECT throws_ok($$SELECT btyd_triple('{2024-01-10:20}', '2024-02-01', '-2 days')$$,
    '22023', 'unit must be a positive interval', 'negative unit: 22023 naming unit');
SELECT throws_ok($$SELECT days_since_last_purchase('{2024-01-10:20}', 'infinity')$$,
    '22023', 'as_of must be a finite date', 'infinite as_of: 22023 naming as_of');
SELECT throws_ok($$SELECT remove_transaction('{2024-01-10:20}', '2024-01-09', 20::numeric)$$,
    '22023', NULL, 'removing a transaction that is not there: 22023');
SELECT is(btyd_triple(NULL, '2024-01-01'), NULL, 'NULL summary: NULL triple');
SELECT is(days_since_last_purchase('{2024-01-10:20}', NULL), NULL, 'NULL as_of: NULL');

-- nothing is lost: a failing bulk update leaves every row as it was
CREATE TEMP TABLE kept AS SELECT g AS id, add_transaction(NULL, date '2024-01-01' + g, g::numeric) AS s
FROM generate_series(1, 100) g;
CREATE TEMP TABLE before AS SELECT * FROM kept;
SAVEPOINT s;
DO $$ BEGIN
    UPDATE kept SET s = add_transaction(s, '2024-06-01', CASE WHEN id = 77 THEN 'NaN'::numeric ELSE 1 END);
EXCEPTION WHEN invalid_parameter_value THEN NULL;
END $$;
SELECT is_empty($$SELECT id FROM kept k FULL JOIN before b USING (id) WHERE k.s::text IS DISTINCT FROM b.s::text$$,
    'a bulk update failing on one row leaves all rows unchanged');

SELECT * FROM finish();
ROLLBACK;
