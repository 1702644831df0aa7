-- A service statement's own rows move the customers it concerns: the
-- complaints a statement inserts are counted by the rescoring its AFTER
-- trigger runs (the stage rules compare the complaints of the last
-- complaint_trend_days days with the window before: rising complaints
-- move a stable customer to decline).  Until 0.4.0 the writer read the
-- complaints with the statement's snapshot, which does not see them, and
-- the customer stayed stable until the next refresh.
\ir setup.psql
SELECT plan(4);

SET crm.as_of = '2026-12-01';
INSERT INTO crm.customers (customer_id) VALUES (1), (2);
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES
    (1, '2025-11-18', 92), (1, '2026-01-10', 96), (1, '2026-10-31', 88),
    (2, '2025-11-18', 92), (2, '2026-01-10', 96), (2, '2026-10-31', 88);
SELECT is((SELECT array_agg(stage::text ORDER BY customer_id) FROM crm.customers), ARRAY['stable', 'stable'],
    'three purchases a few months apart, the last a month ago: stable');
-- customer 1: three complaints in one statement in the last 90 days,
-- none in the 90 before; customer 2: none
INSERT INTO crm.complaints (customer_id, category, opened_at, first_response_at) VALUES
    (1, 'service_attitude', '2026-11-12', '2026-11-12'),
    (1, 'service_attitude', '2026-11-13', '2026-11-13'),
    (1, 'service_attitude', '2026-11-14', '2026-11-14');
SELECT is((SELECT row(stage, stage_reason, stage_since)::text FROM crm.customers WHERE customer_id = 1),
          '(decline,complaints_rising,2026-12-01)',
    'the complaints of the statement itself move the customer to decline at once (complaints rising)');
SELECT is((SELECT array_agg(row(from_stage, to_stage, source, reason)::text) FROM crm.stage_history
           WHERE customer_id = 1 AND changed_at >= '2026-11-01'),
          ARRAY['(stable,decline,inference,complaints_rising)'],
    'and the move is in the stage history, once');
SELECT is((SELECT stage::text FROM crm.customers WHERE customer_id = 2), 'stable',
    'a customer without complaints stays stable');

SELECT * FROM finish();
ROLLBACK;
