-- The stage walk across the seal of long histories (src/history.c): 200
-- customers buying every 2 to 9 days for five years (some stop), so that
-- the order trigger seals their summaries many times over, two ways:
--   A. every order attached at once, then one refresh (a walk from the
--      first purchase over the full history);
--   B. the orders loaded month by month through the order trigger, with a
--      refresh at every month end (60 of them): every walk starts at the
--      last evaluation, and most cross a seal made since.
-- They must give every customer the same stage since the same day, and
-- the same stage history.
\ir setup.psql
SELECT plan(5);

SELECT setseed(0.17);
CREATE TABLE long_orders AS
WITH c AS (
    SELECT i AS customer_id, 2 + floor(random() * 8)::int AS gap,
           CASE WHEN random() < 0.3 THEN date '2021-01-01' + floor(random() * 1700)::int END AS stops_on
    FROM generate_series(1, 200) i
)
SELECT c.customer_id, d::date AS ordered_at, round((5 + random() * 50)::numeric, 2) AS amount
FROM c CROSS JOIN LATERAL generate_series(date '2021-01-01' + (c.customer_id % 9), date '2025-12-31',
                                          make_interval(days => c.gap)) d
WHERE c.stops_on IS NULL OR d < c.stops_on;

INSERT INTO crm.scoring (cutpoints, model)
SELECT crm.rfm_quantiles(s, '2025-12-31'), (SELECT crm.fit_bgnbd(s2, '2025-12-31', '1 week')
                                            FROM (SELECT crm.summarize(ordered_at, amount) AS s2 FROM long_orders GROUP BY customer_id) q2)
FROM (SELECT crm.summarize(ordered_at, amount) AS s FROM long_orders GROUP BY customer_id) q;

-- A (on its business day, as B's last month end is)
SET crm.as_of = '2025-12-31';
SET crm.change_time = '2025-12-31';
CREATE TABLE a_orders AS SELECT * FROM long_orders;
SELECT crm.track_orders('a_orders', 'customer_id', 'ordered_at', 'amount') AS attached \gset
CALL crm.refresh('2025-12-31');
CREATE TABLE stages_a AS SELECT customer_id, stage, stage_since FROM crm.customers;
CREATE TABLE history_a AS SELECT customer_id, from_stage, to_stage, changed_at::date AS day FROM crm.stage_history;
SELECT crm.untrack_orders('a_orders');
DELETE FROM crm.stage_history;
DELETE FROM crm.customers;
DELETE FROM crm.summary_blocks;
RESET crm.change_time;

-- B
CREATE TABLE b_orders (LIKE long_orders);
SELECT crm.track_orders('b_orders', 'customer_id', 'ordered_at', 'amount') AS nothing_yet \gset
CREATE TABLE sealed_seen (customer_id bigint PRIMARY KEY);
CREATE FUNCTION pg_temp.replay() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m date;
BEGIN
    FOR m IN SELECT (d + interval '1 month - 1 day')::date FROM generate_series(date '2021-01-01', date '2025-12-01', interval '1 month') d LOOP
        PERFORM set_config('crm.as_of', m::text, true);
        PERFORM set_config('crm.change_time', m::text, true);
        INSERT INTO b_orders SELECT * FROM long_orders WHERE date_trunc('month', ordered_at) = date_trunc('month', m);
        CALL crm.refresh(m);
        INSERT INTO sealed_seen SELECT customer_id FROM crm.customers
        WHERE crm.sealed_through(summary) IS NOT NULL ON CONFLICT DO NOTHING;
    END LOOP;
END $$;
SELECT pg_temp.replay();
RESET crm.change_time;

SELECT cmp_ok((SELECT count(*) FROM sealed_seen), '>=', 150::bigint,
    'most customers were sealed on the way (the walk crossed their seals)');
SELECT cmp_ok((SELECT count(DISTINCT sealed_through) FROM (SELECT crm.sealed_through(summary) FROM crm.customers) s(sealed_through)), '>', 10::bigint,
    'and at many different seal dates');
SELECT is((SELECT count(*) FROM crm.customers c FULL JOIN stages_a a USING (customer_id)
           WHERE c.stage IS DISTINCT FROM a.stage OR c.stage_since IS DISTINCT FROM a.stage_since), 0::bigint,
    'attach and one refresh give every customer the stage (and since when) of the month-by-month replay across the seals');
SELECT is((SELECT count(*) FROM ((SELECT customer_id, from_stage, to_stage, changed_at::date FROM crm.stage_history
                                  EXCEPT ALL SELECT * FROM history_a)
                                 UNION ALL (SELECT * FROM history_a
                                  EXCEPT ALL SELECT customer_id, from_stage, to_stage, changed_at::date FROM crm.stage_history)) d),
          0::bigint, 'and the same stage history, move by move and day by day');
SELECT cmp_ok((SELECT count(*) FROM crm.customers WHERE stage IN ('decline', 'terminated')), '>', 20::bigint,
    'and the comparison is not vacuous: customers who stopped declined or ended');

SELECT * FROM finish();
ROLLBACK;
