-- crm.agg_state, the transition type of the global aggregates: exact text
-- and binary forms (Citus ships partial states through them), a state
-- written by hand (the layout of src/rfm.c, little-endian) read back by the
-- final function, and bad input with its SQLSTATE.
\ir setup.psql
SELECT plan(13);

-- one customer, as of 1997-10-01 (day -822 from 2000-01-01): recency 214
-- days, 2 purchase days, 30.0000 spent (300000 in units of 1/10000)
--   k=5 | as_of=-822 | n=1 | recency 214 | frequency 2 | monetary 300000
CREATE TEMP TABLE hand AS
SELECT ('rfm_quantiles:' || '05000000' || 'cafcffff' || '0100000000000000'
        || 'd600000000000000' || '0200000000000000' || 'e093040000000000')::text AS t;

SELECT is((SELECT t::crm.agg_state::text FROM hand), (SELECT t FROM hand),
    'text form: family and bytes read and written back unchanged');
SELECT is((SELECT crm.rfm_quantiles_final(t::crm.agg_state)::text FROM hand),
          (SELECT crm.rfm_quantiles(s, DATE '1997-10-01')::text FROM (VALUES ('{1997-01-01:10,1997-03-01:20}'::crm.summary)) v(s)),
    'a state written by hand gives the cutpoints the aggregate computes over the same customer');
SELECT is((SELECT crm.rfm_quantiles_final(t::crm.agg_state)::text FROM hand),
          'k=5 as_of=1997-10-01 customers=1 recency=214,214,214,214 frequency=2,2,2,2 monetary=30,30,30,30',
    'and those are the customer''s own figures');

-- binary: COPY out and in again
CREATE TEMP TABLE states (v crm.agg_state);
INSERT INTO states SELECT t::crm.agg_state FROM hand;
SELECT '/tmp/crm_agg_state_' || pg_backend_pid() || '.bin' AS binfile \gset
COPY states TO :'binfile' WITH (FORMAT binary);
CREATE TEMP TABLE states_back (v crm.agg_state);
SELECT 'cat ' || :'binfile' || ' && rm -f ' || :'binfile' AS binread \gset
COPY states_back FROM PROGRAM :'binread' WITH (FORMAT binary);
SELECT is((SELECT v::text FROM states_back), (SELECT t FROM hand), 'binary form: the same bytes back');

-- bad input
SELECT throws_ok($$SELECT 'nosuchfamily:00'::crm.agg_state$$, '22P02', NULL,
    'an unknown family: 22P02');
SELECT throws_ok($$SELECT 'rfm_quantiles'::crm.agg_state$$, '22P02', NULL,
    'no colon: 22P02');
SELECT throws_ok($$SELECT 'rfm_quantiles:0'::crm.agg_state$$, '22023', NULL,
    'an odd number of hex digits: 22023');
SELECT throws_ok($$SELECT crm.rfm_quantiles_final('summary:00'::crm.agg_state)$$, '22023',
    'crm.agg_state of summary given to an aggregate of rfm_quantiles',
    'a state of another family: 22023 naming both');
SELECT throws_ok($$SELECT crm.rfm_quantiles_final('rfm_quantiles:05000000'::crm.agg_state)$$, '22P03', NULL,
    'truncated bytes: 22P03');
SELECT throws_ok($$SELECT crm.rfm_quantiles_final('rfm_quantiles:05000000cafcffffffffffffffffff7f'::crm.agg_state)$$, '22P03', NULL,
    'a row count beyond the bytes: 22P03');

-- crm.monthly_activity (src/activity.c, network byte order): January 1997
-- (month 1997 * 12 + 0 = 23964), one active customer, two purchases,
-- 30.0000 of revenue (300000), one customer day
SELECT is((SELECT crm.monthly_activity_final(('monthly_activity:' || '00005d9c' || '00000001' || '0000000000000001'
                                               || repeat('0', 32) || '0000000000000002' || '00000000000493e0'
                                               || '0000000000000001')::crm.agg_state)::text),
          (SELECT crm.monthly_activity(s)::text FROM (VALUES ('{1997-01-15:30x2}'::crm.summary)) v(s)),
    'monthly_activity: a state written by hand gives the months the aggregate computes');
SELECT throws_ok($$SELECT crm.monthly_activity_final('monthly_activity:00005d9c00000001'::crm.agg_state)$$, '22P03', NULL,
    'monthly_activity: a month count beyond the bytes: 22P03');
SELECT throws_ok($$SELECT crm.monthly_activity_final(('monthly_activity:00005d9c00000001' || repeat('f', 16) || repeat('0', 80))::crm.agg_state)$$,
    '22P03', NULL, 'monthly_activity: a negative count: 22P03');

SELECT * FROM finish();
