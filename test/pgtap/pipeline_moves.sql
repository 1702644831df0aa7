-- Opportunities through their stages: illegal moves refused with 23514 and
-- nothing changed, every move in the history with the amount and close date
-- then, the reopen path, stage_since kept by crm, the customer leaving
-- prospect when its first opportunity is won (through the customers' own
-- guard and history), and owners who see only their opportunities.
\ir setup.psql
SELECT plan(43);
SET timezone = 'UTC';

INSERT INTO crm.customers (customer_id, stage) VALUES (1, 'prospect'), (2, 'prospect'), (3, 'formation');
SET crm.change_time = '2025-01-01 09:00+00';
-- opportunities 1, 2 and 3 (the identity sequence of a fresh install)
INSERT INTO crm.opportunities (customer_id, owner, title, amount, expected_close) VALUES
    (1, 'crm_test_rep1', 'turbine', 1000, '2025-03-01'),
    (2, 'crm_test_rep1', 'survey', 500, '2025-02-01'),
    (3, 'crm_test_rep2', 'service contract', 2000, '2025-04-01');
SELECT results_eq($$SELECT opportunity_id::int, from_stage::text, to_stage::text, from_since, changed_at, amount, expected_close
                    FROM crm.opportunity_history ORDER BY history_id$$,
    $$VALUES (1, NULL::text, 'lead', NULL::timestamptz, '2025-01-01 09:00+00'::timestamptz, 1000.00, '2025-03-01'::date),
             (2, NULL, 'lead', NULL, '2025-01-01 09:00+00', 500.00, '2025-02-01'),
             (3, NULL, 'lead', NULL, '2025-01-01 09:00+00', 2000.00, '2025-04-01')$$,
    'creating an opportunity records where it starts, with its amount and close date, at crm.change_time');
SELECT is((SELECT stage_since FROM crm.opportunities WHERE opportunity_id = 1), '2025-01-01 09:00+00'::timestamptz,
    'and its stage_since');

-- legal moves: forward, back, forward
SET crm.change_time = '2025-01-10 09:00+00';
UPDATE crm.opportunities SET stage = 'qualified' WHERE opportunity_id IN (1, 2, 3);
SET crm.change_time = '2025-01-12 09:00+00';
UPDATE crm.opportunities SET stage = 'lead' WHERE opportunity_id = 2;
SET crm.change_time = '2025-01-20 09:00+00';
UPDATE crm.opportunities SET stage = 'presentation', amount = 1100 WHERE opportunity_id = 1;
SELECT results_eq($$SELECT from_stage::text, to_stage::text, from_since, changed_at, amount FROM crm.opportunity_history
                    WHERE opportunity_id = 1 ORDER BY history_id$$,
    $$VALUES (NULL::text, 'lead', NULL::timestamptz, '2025-01-01 09:00+00'::timestamptz, 1000.00),
             ('lead', 'qualified', '2025-01-01 09:00+00', '2025-01-10 09:00+00', 1000.00),
             ('qualified', 'presentation', '2025-01-10 09:00+00', '2025-01-20 09:00+00', 1100.00)$$,
    'each move is recorded: from, to, since when the old stage ran, when, and the amount after it');
SELECT is((SELECT row(from_stage, to_stage, from_since)::text FROM crm.opportunity_history WHERE opportunity_id = 2
           ORDER BY history_id DESC LIMIT 1), '(qualified,lead,"2025-01-10 09:00:00+00")', 'a step back is a legal move');

-- illegal: lead -> bidding, one row and in bulk
SELECT throws_ok($$UPDATE crm.opportunities SET stage = 'bidding' WHERE opportunity_id = 2$$, '23514',
    'illegal pipeline move from lead to bidding for opportunity 2',
    'an illegal move raises 23514 naming the opportunity');
SELECT throws_like($$UPDATE crm.opportunities SET stage = 'won' WHERE opportunity_id = 1$$,
    '%from presentation to won%', 'presentation -> won skips stages: refused');
SELECT throws_ok($$UPDATE crm.opportunities SET stage = 'negotiation'$$, '23514', NULL,
    'a bulk update with one illegal row (opportunity 2 in lead) fails');
SELECT results_eq($$SELECT opportunity_id::int, stage::text, stage_since, amount FROM crm.opportunities ORDER BY 1$$,
    $$VALUES (1, 'presentation', '2025-01-20 09:00+00'::timestamptz, 1100.00),
             (2, 'lead', '2025-01-12 09:00+00', 500.00),
             (3, 'qualified', '2025-01-10 09:00+00', 2000.00)$$,
    'and leaves every opportunity as it was');
SELECT is((SELECT count(*) FROM crm.opportunity_history), 8::bigint, 'and writes no history row');

-- the detail names the legal moves
CREATE FUNCTION pg_temp.error_detail(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    EXECUTE q;
    RETURN NULL;
EXCEPTION WHEN check_violation THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN d;
END $$;
SELECT is(pg_temp.error_detail($$UPDATE crm.opportunities SET stage = 'won' WHERE opportunity_id = 3$$),
    'From qualified an opportunity can move to lead, presentation or lost only.', 'the detail lists the legal moves');

-- stage_since is crm's
SELECT throws_ok($$UPDATE crm.opportunities SET stage_since = '2024-12-01' WHERE opportunity_id = 1$$, '428C9',
    'column "stage_since" of crm.opportunities is set when the stage changes', 'stage_since cannot be set by hand');
SELECT throws_ok($$UPDATE crm.opportunities SET stage = 'negotiation', stage_since = '2025-01-21' WHERE opportunity_id = 1$$,
    '428C9', NULL, 'not even with a move');
SELECT throws_ok($$UPDATE crm.opportunities SET closed_at = now() WHERE opportunity_id = 1$$, '428C9', NULL,
    'closed_at is generated from the stage');
SET crm.change_time = '2025-01-15 09:00+00';
SELECT throws_ok($$UPDATE crm.opportunities SET stage = 'negotiation' WHERE opportunity_id = 1$$, '22023', NULL,
    'a move dated before the stage began (crm.change_time) is refused');
SELECT is((SELECT stage::text FROM crm.opportunities WHERE opportunity_id = 1), 'presentation', 'and changes nothing');

-- value changes without a move: a row with from = to; other edits: none
SET crm.change_time = '2025-01-22 09:00+00';
UPDATE crm.opportunities SET expected_close = '2025-05-01' WHERE opportunity_id = 1;
UPDATE crm.opportunities SET title = 'two turbines' WHERE opportunity_id = 1;
SELECT results_eq($$SELECT from_stage::text, to_stage::text, from_since, changed_at, expected_close
                    FROM crm.opportunity_history WHERE opportunity_id = 1 ORDER BY history_id DESC LIMIT 1$$,
    $$VALUES ('presentation', 'presentation', '2025-01-20 09:00+00'::timestamptz, '2025-01-22 09:00+00'::timestamptz, '2025-05-01'::date)$$,
    'a new close date is recorded as a row from the stage to itself; a new title is not');
SELECT is((SELECT count(*) FROM crm.opportunity_history WHERE opportunity_id = 1), 4::bigint, 'four rows for opportunity 1');

-- to won: the customer leaves prospect, through its own guard and history
SET crm.change_time = '2025-02-01 09:00+00';
UPDATE crm.opportunities SET stage = 'negotiation' WHERE opportunity_id = 1;
UPDATE crm.opportunities SET stage = 'bidding' WHERE opportunity_id = 1;
UPDATE crm.opportunities SET stage = 'presentation' WHERE opportunity_id = 3;
UPDATE crm.opportunities SET stage = 'negotiation' WHERE opportunity_id = 3;
UPDATE crm.opportunities SET stage = 'bidding' WHERE opportunity_id = 3;
SET crm.as_of = '2025-02-01';
UPDATE crm.opportunities SET stage = 'won', close_reason = 'best offer' WHERE opportunity_id IN (1, 3);
RESET crm.as_of;
SELECT results_eq($$SELECT customer_id::int, stage::text, stage_reason, stage_since FROM crm.customers ORDER BY 1$$,
    $$VALUES (1, 'exploration', 'first_opportunity_won', '2025-02-01'::date),
             (2, 'prospect', NULL, NULL),
             (3, 'formation', NULL, NULL)$$,
    'winning a prospect''s opportunity moves the customer to exploration; a customer past prospect stays');
SELECT results_eq($$SELECT customer_id::int, from_stage::text, to_stage::text, reason, changed_at FROM crm.stage_history$$,
    $$VALUES (1, 'prospect', 'exploration', 'first_opportunity_won', '2025-02-01 09:00+00'::timestamptz)$$,
    'the move is in crm.stage_history as any change of stage is');
SELECT results_eq($$SELECT stage::text, closed_at, close_reason FROM crm.opportunities WHERE opportunity_id = 1$$,
    $$VALUES ('won', '2025-02-01 09:00+00'::timestamptz, 'best offer')$$, 'the opportunity is closed, with its reason');
SELECT is((SELECT reason FROM crm.opportunity_history WHERE opportunity_id = 1 ORDER BY history_id DESC LIMIT 1),
    'best offer', 'the history has the won reason');

-- won is final: reopen is the way back
SELECT throws_like($$UPDATE crm.opportunities SET stage = 'bidding' WHERE opportunity_id = 1$$,
    '%from won to bidding%', 'won is final');
SELECT throws_ok($$CALL crm.reopen_opportunity(1, 'bidding', '')$$, '22023', 'a reopen needs a reason', 'a reopen needs a reason');
SELECT throws_ok($$CALL crm.reopen_opportunity(2, 'qualified', 'why not')$$, '22023', NULL, 'an open opportunity is not reopened');
SELECT throws_ok($$CALL crm.reopen_opportunity(1, 'lost', 'no')$$, '22023', NULL, 'a reopen goes to an open stage');
SET crm.change_time = '2025-02-10 09:00+00';
CALL crm.reopen_opportunity(1, 'negotiation', 'payment terms renegotiated');
SELECT results_eq($$SELECT from_stage::text, to_stage::text, reason FROM crm.opportunity_history
                    WHERE opportunity_id = 1 ORDER BY history_id DESC LIMIT 1$$,
    $$VALUES ('won', 'negotiation', 'payment terms renegotiated')$$, 'a reopen is recorded with its reason');
SELECT is((SELECT row(stage, closed_at, close_reason)::text FROM crm.opportunities WHERE opportunity_id = 1),
    '(negotiation,,)', 'and the opportunity is open again');
SET crm.pipeline_reopen = '';
SELECT throws_ok($$UPDATE crm.opportunities SET stage = 'lead' WHERE opportunity_id = 3$$, '23514', NULL,
    'outside the procedure a won opportunity stays won');
RESET crm.pipeline_reopen;

-- customer_360 shows the open pipeline
SELECT results_eq($$SELECT customer_id::int, open_opportunities, pipeline_value FROM crm.customer_360 ORDER BY 1$$,
    $$VALUES (1, 1::bigint, 1100.00), (2, 1, 500.00), (3, 0, 0)$$,
    'customer_360: open opportunities and their amounts per customer');

-- a pg_dump restore (row_security off, empty search_path) loads the
-- history with the opportunities: no history row again
SET row_security = off;
SELECT set_config('search_path', '', false) \g /dev/null
INSERT INTO crm.opportunities (opportunity_id, customer_id, owner, amount, stage, stage_since)
OVERRIDING SYSTEM VALUE VALUES (9, 2, 'crm_test_rep2', 10, 'qualified', '2025-01-05 00:00+00');
SET search_path = public, crm;
RESET row_security;
SELECT is((SELECT count(*) FROM crm.opportunity_history WHERE opportunity_id = 9), 0::bigint,
    'a restore''s inserts write no history (the dump has it)');
DELETE FROM crm.opportunities WHERE opportunity_id = 9;
RESET crm.change_time;

-- ---------------------------------------------------------------------
-- Owners see only their opportunities
-- ---------------------------------------------------------------------
CREATE ROLE crm_test_rep1 LOGIN IN ROLE crm_writer;
CREATE ROLE crm_test_rep2 LOGIN IN ROLE crm_writer;
CREATE ROLE crm_test_boss LOGIN IN ROLE crm_reader;
INSERT INTO crm.customers (customer_id, stage, account_manager) VALUES (4, 'prospect', 'crm_test_boss');

SET crm.change_time = '2025-02-20 09:00+00';
SET ROLE crm_test_rep1;
SELECT is((SELECT array_agg(opportunity_id ORDER BY opportunity_id) FROM crm.opportunities), ARRAY[1, 2]::bigint[],
    'an owner sees only their opportunities');
SELECT is((SELECT array_agg(DISTINCT opportunity_id ORDER BY opportunity_id) FROM crm.opportunity_history), ARRAY[1, 2]::bigint[],
    'and only their history');
SELECT is((SELECT count(*) FROM crm.pipeline_win_rate), 0::bigint, 'and only their closed ones in the BI views');
UPDATE crm.opportunities SET amount = 1 WHERE opportunity_id = 3;
SELECT throws_ok($$INSERT INTO crm.opportunities (customer_id, owner, amount) VALUES (2, 'crm_test_rep2', 5)$$, '42501', NULL,
    'an owner cannot create an opportunity for another owner');
SELECT lives_ok($$INSERT INTO crm.opportunities (customer_id, owner, title, amount) VALUES (4, 'crm_test_rep1', 'pump', 70)$$,
    'but can create their own, for a customer someone else manages');
SELECT throws_ok($$UPDATE crm.opportunities SET stage = 'won' WHERE title = 'pump'$$, '23514', NULL,
    'the guard applies to owners too');
SELECT throws_ok($$INSERT INTO crm.opportunity_history (opportunity_id, to_stage, changed_at) VALUES (1, 'won', now())$$,
    '42501', NULL, 'writers cannot write history themselves');
RESET ROLE;
SELECT is((SELECT amount FROM crm.opportunities WHERE opportunity_id = 3), 2000.00,
    'an owner''s update of another owner''s opportunity changes nothing');

-- the owner wins a prospect's opportunity: the customer moves although the
-- owner may not see or change that customer
SET crm.change_time = '2025-03-01 09:00+00';
SET ROLE crm_test_rep1;
UPDATE crm.opportunities SET stage = 'lost', close_reason = 'no budget' WHERE opportunity_id = 2;
UPDATE crm.opportunities SET stage = 'qualified' WHERE title = 'pump';
UPDATE crm.opportunities SET stage = 'presentation' WHERE title = 'pump';
UPDATE crm.opportunities SET stage = 'negotiation' WHERE title = 'pump';
UPDATE crm.opportunities SET stage = 'bidding' WHERE title = 'pump';
UPDATE crm.opportunities SET stage = 'won' WHERE title = 'pump';
RESET ROLE;
SELECT is((SELECT stage::text FROM crm.customers WHERE customer_id = 4), 'exploration',
    'the customer of an owner''s win leaves prospect whoever manages it');
SELECT is((SELECT stage::text FROM crm.customers WHERE customer_id = 2), 'prospect', 'a loss leaves the customer a prospect');
CALL crm.leave_prospect_on_win(ARRAY[2]::bigint[]);
SELECT is((SELECT stage::text FROM crm.customers WHERE customer_id = 2), 'prospect',
    'crm.leave_prospect_on_win() moves no customer without an opportunity won, whoever calls it');

SET ROLE crm_test_boss;
SELECT is((SELECT count(*) FROM crm.opportunities), 4::bigint, 'a role that owns no opportunity sees them all');
SELECT throws_ok($$UPDATE crm.opportunities SET amount = 1$$, '42501', NULL, 'crm_reader cannot change opportunities');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
