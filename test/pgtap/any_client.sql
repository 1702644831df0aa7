-- What any client can do: a reporting role with the default search_path
-- compares, filters and sorts stages and levels by their names (the types'
-- operators live in pg_catalog, where every search_path finds them); and
-- CALL crm.refresh() inside a transaction block runs as one transaction,
-- or says how to call it when asked to commit its batches there.
\ir setup.psql
SELECT plan(9);

SET crm.as_of = '2025-12-31';
INSERT INTO crm.customers (customer_id, stage, level) VALUES
    (1, 'prospect', 'transaction'), (2, 'exploration', 'trust'), (3, 'formation', 'cooperation'),
    (4, 'stable', 'loyalty'), (5, 'decline', 'trust'), (6, 'terminated', 'transaction'), (7, 'stable', 'partnership');
CREATE ROLE crm_test_dashboard LOGIN IN ROLE crm_reader;
SET ROLE crm_test_dashboard;
SET search_path TO DEFAULT;
SELECT is(current_setting('search_path'), '"$user", public', 'the reporting role has the default search_path');
SELECT is((SELECT array_agg(customer_id ORDER BY customer_id) FROM crm.customers WHERE stage = 'stable'), '{4,7}'::bigint[],
    'WHERE stage = ''stable'' works');
SELECT is((SELECT array_agg(customer_id ORDER BY customer_id) FROM crm.customers WHERE stage IN ('decline', 'terminated')),
    '{5,6}'::bigint[], 'stage IN (''decline'', ''terminated'') works');
SELECT is((SELECT array_agg(stage::text ORDER BY stage, customer_id) FROM crm.customers),
    '{prospect,exploration,formation,stable,stable,decline,terminated}', 'ORDER BY stage follows the life cycle');
SELECT is((SELECT array_agg(customer_id ORDER BY customer_id) FROM crm.customers WHERE level >= 'cooperation'),
    '{3,4,7}'::bigint[], 'level >= ''cooperation'' works, in the order of the levels');
SELECT is((SELECT count(*) FROM crm.customer_360 WHERE stage <> 'prospect' AND level > 'transaction'), 5::bigint,
    'and the same on the views');
RESET ROLE;
SET search_path = public, crm;

-- inside a transaction block (this whole test is one): one transaction
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-12-01', 10);
CALL crm.refresh('2025-12-31');
SELECT is((SELECT scored_on FROM crm.customers WHERE customer_id = 1), date '2025-12-31',
    'CALL crm.refresh() inside a transaction block runs, as one transaction');
SELECT throws_ok($$CALL crm.refresh('2025-12-31', commit_batches => true)$$, '2D000',
    'crm.refresh() cannot commit its batches inside a transaction block',
    'asked to commit its batches inside a transaction block it refuses (2D000)');
CREATE TEMP TABLE refresh_hint (hint text);
DO $$
DECLARE
    h text;
BEGIN
    CALL crm.refresh('2025-12-31', commit_batches => true);
EXCEPTION WHEN invalid_transaction_termination THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    INSERT INTO refresh_hint VALUES (h);
END $$;
SELECT matches((SELECT hint FROM refresh_hint), 'on its own \(CALL crm\.refresh\(\).*commit_batches => false',
    'and its hint says how to call it: on its own, or with commit_batches => false');

SELECT * FROM finish();
ROLLBACK;
