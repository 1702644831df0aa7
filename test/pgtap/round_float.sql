-- crm.round_float(value, places): the views show probabilities with it in
-- place of round(value::numeric, places); it must give the same numeric
-- (digits and display scale, so the same text) for every float8, the
-- expected value computed here by PostgreSQL's own cast and round.
\ir setup.psql
SELECT plan(6);

SELECT setseed(0.4711);
-- a million values over twenty orders of magnitude, both signs, places
-- -1 to 9 (outside 0..8 the function takes the text way itself)
SELECT is((SELECT count(*) FROM (SELECT random() * exp(random() * 20 - 10) * (CASE WHEN random() < 0.5 THEN -1 ELSE 1 END) AS x,
                                        floor(random() * 11)::integer - 1 AS p
                                 FROM generate_series(1, 1000000)) s
           WHERE crm.round_float(s.x, s.p)::text IS DISTINCT FROM round(s.x::numeric, s.p)::text), 0::bigint,
    'a million random values: the same text as round(value::numeric, places)');
-- probabilities as the views show them: every multiple of 1e-5 in [0, 1]
-- (the halves at the fourth decimal among them), and their neighbours
-- one part in 1e12 away
SELECT is((SELECT count(*) FROM (SELECT g / 100000.0::double precision + e AS x
                                 FROM generate_series(0, 100000) g, unnest(ARRAY[-1e-12, 0, 1e-12]::double precision[]) e) s
           WHERE crm.round_float(s.x, 4)::text IS DISTINCT FROM round(s.x::numeric, 4)::text), 0::bigint,
    'every multiple of 1e-5 in [0, 1] and its neighbours: the same as round(value::numeric, 4)');
SELECT is(ARRAY[crm.round_float(0.5, 4), crm.round_float(0.12345, 4), crm.round_float(-0.12345, 4), crm.round_float(2.5, 0),
                crm.round_float(-0.0, 4), crm.round_float(1e-20, 4), crm.round_float(123456789.123456, 2)]::text[],
          ARRAY['0.5000', '0.1235', '-0.1235', '3', '0.0000', '0.0000', '123456789.12'],
    'worked values: display scale kept, halves away from zero, negative zero and tiny values 0, large values');
SELECT is(ARRAY[crm.round_float('NaN', 4), crm.round_float('Infinity', 4), crm.round_float('-Infinity', 4)]::text[],
          ARRAY['NaN', 'Infinity', '-Infinity'], 'NaN and the infinities as the cast gives them');
SELECT ok(crm.round_float(NULL, 4) IS NULL AND crm.round_float(0.5, NULL) IS NULL, 'NULL in, NULL out');
SELECT is((SELECT provolatile::text || proparallel::text FROM pg_proc WHERE oid = 'crm.round_float(double precision, integer)'::regprocedure),
          'is', 'immutable and parallel safe');

SELECT * FROM finish();
ROLLBACK;
