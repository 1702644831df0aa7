-- Stages stored on customers: illegal transitions refused with nothing
-- changed, every change in history with its source, the override path,
-- and incremental replay equal to batch inference.
\ir setup.psql
SELECT plan(21);

INSERT INTO crm.customers (customer_id, stage) VALUES (1, 'prospect'), (2, 'stable'), (3, 'exploration'), (4, 'prospect');
SELECT is((SELECT count(*) FROM crm.stage_history), 0::bigint,
          'inserting customers records nothing: history starts from the stage inserted');
SET crm.change_source = 'import';
UPDATE crm.customers SET stage = 'exploration' WHERE customer_id = 4;
RESET crm.change_source;
SELECT results_eq($$SELECT customer_id::int, from_stage::text, to_stage::text, source FROM crm.stage_history$$,
                  $$VALUES (4, 'prospect', 'exploration', 'import')$$,
                  'a change made with crm.change_source = import is recorded as an import');

-- illegal: prospect -> stable
SELECT throws_ok($$UPDATE crm.customers SET stage = 'stable' WHERE customer_id = 1$$, '23514',
                 'illegal stage transition from prospect to stable for customer_id 1',
                 'an illegal transition raises 23514 naming the customer');
SELECT is((SELECT stage::text FROM crm.customers WHERE customer_id = 1), 'prospect', 'the row is unchanged');
SELECT is((SELECT count(*) FROM crm.stage_history WHERE customer_id = 1), 0::bigint, 'and no history row was written');
-- a multi-row update with one illegal row changes nothing at all
SELECT throws_ok($$UPDATE crm.customers SET stage = 'decline'$$, '23514', NULL,
                 'a bulk update with one illegal row fails');
SELECT is((SELECT string_agg(stage::text, ',' ORDER BY customer_id) FROM crm.customers), 'prospect,stable,exploration,exploration',
          'and leaves every row as it was');

-- legal: stable -> decline, with a reason, by a user
UPDATE crm.customers SET stage = 'decline', stage_reason = 'called to complain' WHERE customer_id = 2;
SELECT results_eq($$SELECT from_stage::text, to_stage::text, source, reason FROM crm.stage_history
                    WHERE customer_id = 2 ORDER BY history_id DESC LIMIT 1$$,
                  $$VALUES ('stable', 'decline', 'user', 'called to complain')$$,
                  'a legal change is recorded with from, to, source user and reason');
UPDATE crm.customers SET level = 'trust' WHERE customer_id = 3;
SELECT results_eq($$SELECT from_level::text, to_level::text FROM crm.stage_history WHERE customer_id = 3 ORDER BY history_id DESC LIMIT 1$$,
                  $$VALUES ('transaction', 'trust')$$, 'a level change is recorded too');

-- forging the override flag does not help a non-owner
CREATE ROLE crm_test_clerk;
GRANT USAGE ON SCHEMA crm TO crm_test_clerk;
GRANT SELECT, UPDATE ON crm.customers TO crm_test_clerk;
GRANT INSERT ON crm.stage_history TO crm_test_clerk;
SET ROLE crm_test_clerk;
SET crm.stage_override = 'on';
SELECT throws_ok($$UPDATE crm.customers SET stage = 'terminated' WHERE customer_id = 1$$, '23514', NULL,
                 'setting crm.stage_override by hand does not bypass the guard');
SELECT throws_ok($$SELECT crm.override_stage(1, 'terminated', 'data fix')$$, '42501', NULL,
                 'crm.override_stage is not granted to PUBLIC');
RESET crm.stage_override;
RESET ROLE;

-- the override: accepted and recorded
SELECT lives_ok($$SELECT crm.override_stage(1, 'terminated', 'duplicate account merged')$$, 'override of prospect -> terminated');
SELECT results_eq($$SELECT from_stage::text, to_stage::text, source, reason FROM crm.stage_history
                    WHERE customer_id = 1 ORDER BY history_id DESC LIMIT 1$$,
                  $$VALUES ('prospect', 'terminated', 'override', 'duplicate account merged')$$,
                  'the override is recorded with source override');
SELECT throws_ok($$SELECT crm.override_stage(1, 'stable', '')$$, '22023', 'an override needs a reason', 'an override needs a reason');

-- replay: orders applied one by one (summary kept by add_transaction, stage
-- inferred after each order day) against batch inference over the same dates
CREATE TABLE replay_orders AS
SELECT c AS customer_id, d::date AS ordered_at, (20 + (c * 7 + extract(doy FROM d)::int) % 50)::numeric AS amount
FROM generate_series(101, 140) c,
     LATERAL generate_series(date '2023-01-01' + c, date '2024-12-31', (10 + c % 40 + (c % 3) * 30) * interval '1 day') d
WHERE (c % 5 <> 0 OR d < '2023-09-01');
INSERT INTO crm.customers (customer_id) SELECT DISTINCT customer_id FROM replay_orders;
DO $$
DECLARE o record;
BEGIN
    PERFORM set_config('crm.change_source', 'inference', true);
    FOR o IN SELECT * FROM replay_orders ORDER BY ordered_at, customer_id LOOP
        UPDATE crm.customers SET summary = crm.add_transaction(summary, o.ordered_at, o.amount)
        WHERE customer_id = o.customer_id;
        UPDATE crm.customers c SET (stage, stage_reason) = (SELECT i.stage, i.reason FROM crm.infer_stage(c.stage, c.summary, o.ordered_at) i)
        WHERE customer_id = o.customer_id;
    END LOOP;
END $$;
CREATE TABLE batch AS
WITH RECURSIVE days AS (
    SELECT customer_id, ordered_at, row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at) AS n
    FROM (SELECT DISTINCT customer_id, ordered_at FROM replay_orders) d),
full_summary AS (SELECT customer_id, crm.summarize(ordered_at, amount) AS s FROM replay_orders GROUP BY 1),
walk AS (
    SELECT d.customer_id, d.n, crm.next_stage('prospect', crm.as_of(f.s, d.ordered_at), d.ordered_at) AS stage,
           'prospect'::crm.stage AS before
    FROM days d JOIN full_summary f USING (customer_id) WHERE d.n = 1
    UNION ALL
    SELECT d.customer_id, d.n, crm.next_stage(w.stage, crm.as_of(f.s, d.ordered_at), d.ordered_at), w.stage
    FROM walk w JOIN days d ON d.customer_id = w.customer_id AND d.n = w.n + 1
    JOIN full_summary f ON f.customer_id = d.customer_id)
SELECT customer_id, n, before, stage FROM walk;
SELECT is_empty($$SELECT customer_id FROM crm.customers c
                  JOIN (SELECT DISTINCT ON (customer_id) customer_id, stage FROM batch ORDER BY customer_id, n DESC) b USING (customer_id)
                  WHERE c.stage <> b.stage$$,
                'replaying orders one by one through the table gives the batch inference''s final stage');
SELECT results_eq($$SELECT customer_id, from_stage::text, to_stage::text FROM crm.stage_history
                    WHERE customer_id > 100 ORDER BY customer_id, history_id$$,
                  $$SELECT customer_id::bigint, before::text, stage::text FROM batch WHERE before <> stage ORDER BY customer_id, n$$,
                  'and the same history');

-- relationship levels: their order, the gap to a target, and the targets
-- the extension ships per class (written out here from the texts)
SELECT is(enum_range(NULL::crm.relationship_level)::text, '{transaction,trust,cooperation,loyalty,partnership}',
          'levels in order: transaction, trust, cooperation, loyalty, partnership');
SELECT throws_ok($$SELECT 'friendship'::crm.relationship_level$$, '22P02', NULL, 'an unknown level is refused (22P02)');
SELECT is(ARRAY[crm.level_gap('transaction', 'partnership'), crm.level_gap('loyalty', 'trust'),
                crm.level_gap('cooperation', 'cooperation')], ARRAY[4, -2, 0],
          'the level gap is target minus current: 4 to climb, 2 above, 0 on target');
SELECT results_eq($$SELECT customer_class, target_level::text AS target FROM crm.level_targets ORDER BY target_level$$,
                  $$VALUES ('residential', 'trust'), ('general', 'cooperation'), ('large', 'loyalty'), ('important', 'partnership')$$,
                  'shipped targets: residential trust, general cooperation, large loyalty, important partnership');
SELECT throws_ok($$INSERT INTO crm.customers (customer_id, customer_class) VALUES (999, 'vip')$$, '23503', NULL,
                 'a customer of a class without a target is refused (23503)');

SELECT * FROM finish();
ROLLBACK;
