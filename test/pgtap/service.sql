-- Complaints (escalation, SLA breaches, queue order), satisfaction and
-- loyalty, settings, the BI views, and the roles with row-level security.
\ir setup.psql
SELECT plan(30);

INSERT INTO crm.customers (customer_id, name, service_level, account_manager) VALUES
    (1, 'Ordinary One', 'ordinary', 'crm_test_am1'),
    (2, 'Vip Two', 'vip', 'crm_test_am1'),
    (3, 'Pro Three', 'professional', 'crm_test_am2'),
    (4, 'Nobody''s Four', 'ordinary', NULL);

-- ---------------------------------------------------------------------
-- Escalation
-- ---------------------------------------------------------------------
INSERT INTO crm.complaints (complaint_id, customer_id, category, opened_at) VALUES
    (10, 1, 'billing', '2025-03-01 09:00+00'),
    (11, 1, 'billing', '2025-03-20 09:00+00'),          -- 19 days later: a repeat
    (12, 1, 'billing', '2025-05-01 09:00+00'),          -- 42 days after 11: not a repeat
    (13, 1, 'supply_reliability', '2025-05-02 09:00+00'); -- another category: not a repeat
SELECT is((SELECT array_agg(row(complaint_id, escalated, repeat_of, escalation_reason)::text ORDER BY complaint_id) FROM crm.complaints),
          ARRAY['(10,f,,)', '(11,t,10,"repeat complaint")', '(12,f,,)', '(13,f,,)'],
    'a complaint of the same customer and category within 30 days is linked to the earlier one and escalated; others are not');
INSERT INTO crm.settings VALUES ('repeat_complaint_window', '60 days');
INSERT INTO crm.complaints (complaint_id, customer_id, category, opened_at) VALUES (14, 1, 'billing', '2025-06-15 09:00+00');
SELECT is((SELECT repeat_of FROM crm.complaints WHERE complaint_id = 14), 12::bigint,
    'the window is a setting: with 60 days, 45 days later is a repeat');
UPDATE crm.complaints SET resolved_at = '2025-05-03 09:00+00', follow_up_result = 'satisfied' WHERE complaint_id = 13;
SELECT is((SELECT escalated FROM crm.complaints WHERE complaint_id = 13), false, 'a satisfied follow-up does not escalate');
UPDATE crm.complaints SET resolved_at = '2025-05-03 09:00+00', follow_up_result = 'unsatisfied' WHERE complaint_id = 12;
SELECT is((SELECT row(escalated, escalation_reason)::text FROM crm.complaints WHERE complaint_id = 12),
          '(t,"follow-up unsatisfied")', 'an unsatisfied follow-up escalates');
SELECT throws_ok($$UPDATE crm.complaints SET follow_up_result = 'satisfied' WHERE complaint_id = 14$$, '23514', NULL,
    'a follow-up before resolution is refused');
SELECT throws_ok($$INSERT INTO crm.complaints (customer_id, category) VALUES (1, 'weather')$$, '23503', NULL,
    'an unknown category is refused');
SELECT throws_ok($$INSERT INTO crm.settings VALUES ('repeat_complaint_window', 'soon')$$, '22023',
    'invalid value "soon" for setting "repeat_complaint_window"', 'a bad setting value is refused with 22023');
SELECT throws_ok($$INSERT INTO crm.settings VALUES ('no_such_setting', '1')$$, '23503', NULL,
    'an unknown setting is refused');

-- ---------------------------------------------------------------------
-- SLA breaches: a hand-made fixture with exactly three late steps
-- ---------------------------------------------------------------------
DELETE FROM crm.complaints;
INSERT INTO crm.complaints (complaint_id, customer_id, category, opened_at, first_response_at, onsite_required, onsite_at, resolved_at) VALUES
    -- answered in 23 h, on site in 20 h (ordinary: 24 h): in time
    (20, 1, 'billing', '2025-01-10 08:00+00', '2025-01-11 07:00+00', true, '2025-01-11 04:00+00', '2025-01-12 00:00+00'),
    -- answered in 25 h: late by 1 h
    (21, 1, 'information', '2025-01-10 08:00+00', '2025-01-11 09:00+00', false, NULL, '2025-01-12 00:00+00'),
    -- VIP on site in 9 h (8 h limit): late by 1 h; answered in 1 h
    (22, 2, 'supply_safety', '2025-01-10 08:00+00', '2025-01-10 09:00+00', true, '2025-01-10 17:00+00', '2025-01-11 00:00+00'),
    -- professional on site in 9 h (24 h limit): in time
    (23, 3, 'supply_safety', '2025-01-10 08:00+00', '2025-01-10 09:00+00', true, '2025-01-10 17:00+00', '2025-01-11 00:00+00');
INSERT INTO crm.interactions (interaction_id, customer_id, occurred_at, channel, direction, wait_time) VALUES
    (30, 1, '2025-01-10 08:00+00', 'phone', 'inbound', '00:00:19'),
    (31, 2, '2025-01-10 08:00+00', 'call_centre', 'inbound', '00:00:45'),  -- late by 25 s
    (32, 3, '2025-01-10 08:00+00', 'web', 'inbound', '00:05:00');         -- not a phone line
SELECT results_eq($$SELECT source, id, target_name, late_by FROM crm.complaint_sla_breaches ORDER BY source, id$$,
    $$VALUES ('complaint', 21::bigint, 'first_response', interval '1 hour'),
             ('complaint', 22::bigint, 'onsite', interval '1 hour'),
             ('interaction', 31::bigint, 'phone_wait', interval '25 seconds')$$,
    'the SLA breach view lists exactly the three late steps, by how much');

-- queue order: VIP > professional > ordinary, escalated first within a level
INSERT INTO crm.complaints (complaint_id, customer_id, category, opened_at, escalated) VALUES
    (40, 1, 'service_channels', '2025-02-01 08:00+00', false),
    (41, 3, 'billing', '2025-02-01 09:00+00', false),
    (42, 2, 'billing', '2025-02-01 10:00+00', false),
    (43, 1, 'business_handling', '2025-02-01 11:00+00', true);
SELECT is((SELECT array_agg(complaint_id ORDER BY queue_position) FROM crm.complaint_queue),
          ARRAY[42, 41, 43, 40]::bigint[], 'the queue serves VIP, then professional, then ordinary (escalated first)');

-- ---------------------------------------------------------------------
-- Satisfaction and loyalty
-- ---------------------------------------------------------------------
INSERT INTO crm.surveys (survey_id, customer_id, surveyed_at) VALUES
    (1, 1, '2025-01-01'), (2, 1, '2025-04-01'), (3, 1, '2025-07-01'), (4, 1, '2025-10-01'),
    (5, 2, '2025-01-01'), (6, 2, '2025-04-01');
INSERT INTO crm.survey_answers VALUES
    (1, 'reliability', 8, 6), (1, 'price', 6, 6),      -- 12/14: not satisfied
    (2, 'reliability', 8, 8), (2, 'price', 6, 7),      -- 15/14
    (3, 'reliability', 8, 9),                          -- 9/8
    (4, 'reliability', 8, 8),                          -- 8/8: exactly met is satisfied
    (5, 'reliability', 8, 9), (6, 'reliability', 8, 7);
SELECT is((SELECT round(score::numeric, 6) FROM crm.survey_scores WHERE survey_id = 1), round(12 / 14.0, 6),
    'a survey''s score is perceived / expected over its dimensions: 12 / 14');
SELECT is((SELECT array_agg(satisfied ORDER BY survey_id) FROM crm.survey_scores WHERE customer_id = 1),
          ARRAY[false, true, true, true], 'satisfied when perceived >= expected (8 = 8 counts)');
SELECT is((SELECT row(satisfied_streak, loyal)::text FROM crm.customer_satisfaction WHERE customer_id = 1), '(3,t)',
    'three satisfied surveys in a row: loyal (loyal_after_surveys = 3)');
SELECT is((SELECT row(satisfied_streak, loyal)::text FROM crm.customer_satisfaction WHERE customer_id = 2), '(0,f)',
    'the latest survey unsatisfied: streak 0, not loyal');
SELECT is((SELECT loyal FROM crm.customer_360 WHERE customer_id = 1), true,
    'complaints do not lower loyalty: customer 1 has the most complaints and is loyal');
INSERT INTO crm.settings VALUES ('loyal_after_surveys', '5') ON CONFLICT (name) DO UPDATE SET value = excluded.value;
SELECT is((SELECT loyal FROM crm.customer_satisfaction WHERE customer_id = 1), false, 'N is a setting: with 5, not loyal yet');
SELECT throws_ok($$INSERT INTO crm.survey_answers VALUES (6, 'price', 0, 5)$$, '23514', NULL,
    'an expected score of 0 is refused (no division by zero)');

-- ---------------------------------------------------------------------
-- BI views
-- ---------------------------------------------------------------------
SET crm.as_of = '2025-03-31';
INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES
    (1, '2025-01-05', 100), (2, '2025-01-20', 50),
    (1, '2025-02-07', 30), (3, '2025-02-09', 20), (3, '2025-02-10', -5),
    (1, '2025-03-01', 40), (3, '2025-03-03', 10), (4, '2025-03-05', 60), (4, '2025-03-05', 20);
SELECT results_eq($$SELECT month, active_customers, retention_rate, churn_rate, repeat_purchase_rate, average_order_value, revenue
                    FROM crm.kpis WHERE month BETWEEN '2025-01-01' AND '2025-03-01' ORDER BY month$$,
    $$VALUES ('2025-01-01'::date, 2::bigint, NULL::numeric, NULL::numeric, 0.0000, 75.00, 150::numeric),
             -- February: 1 and 3 active; of January's 1 and 2, only 1 is back: 1/2
             ('2025-02-01', 2, 0.5000, 0.5000, 0.5000, 22.50, 45),
             -- March: 1, 3, 4; of February's 1 and 3, both are back; 1 and 3 bought before
             ('2025-03-01', 3, 1.0000, 0.0000, 0.6667, 32.50, 130)$$,
    'KPIs per month: retention, churn, repeat purchases, average order value (refunds netted), revenue');
SELECT is((SELECT row(purchase_days, total_spend, open_complaints, last_interaction_channel)::text
           FROM crm.customer_360 WHERE customer_id = 3),
          '(2,25,1,web)', 'the customer 360 row: purchase days, net spend, open complaints, last interaction');
SELECT is((SELECT count(*) FROM crm.customer_360), 4::bigint, 'one customer 360 row per customer');

-- ---------------------------------------------------------------------
-- Roles and row-level security
-- ---------------------------------------------------------------------
CREATE ROLE crm_test_am1 LOGIN IN ROLE crm_writer;
CREATE ROLE crm_test_am2 LOGIN IN ROLE crm_writer;
CREATE ROLE crm_test_bi LOGIN IN ROLE crm_reader;
CREATE ROLE crm_test_clerk LOGIN IN ROLE crm_writer;

SET ROLE crm_test_bi;
SELECT is((SELECT count(*) FROM crm.customer_360), 4::bigint, 'a reader who manages nobody sees every customer');
SELECT throws_ok($$INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (1, '2025-03-10', 1)$$, '42501', NULL,
    'crm_reader cannot write orders');
SELECT throws_ok($$UPDATE crm.customers SET name = 'x'$$, '42501', NULL, 'crm_reader cannot change customers');
RESET ROLE;

SET ROLE crm_test_am1;
SELECT is((SELECT array_agg(customer_id ORDER BY customer_id) FROM crm.customer_360), ARRAY[1, 2]::bigint[],
    'an account manager sees only their customers in the 360 view');
SELECT is((SELECT count(DISTINCT customer_id) FROM crm.orders), 2::bigint, 'and only their customers'' orders');
SELECT lives_ok($$INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (2, '2025-03-20', 15)$$,
    'a writer writes orders of their customers');
SELECT is((SELECT summary::text FROM crm.customers WHERE customer_id = 2), '{2025-01-20:50,2025-03-20:15}',
    'and the maintenance, which runs as the extension owner, updates the customer');
SELECT throws_ok($$INSERT INTO crm.orders (customer_id, ordered_on, amount) VALUES (3, '2025-03-20', 15)$$, '42501', NULL,
    'an account manager cannot write orders of another manager''s customer');
RESET ROLE;

SET ROLE crm_test_clerk;
SELECT throws_ok($$INSERT INTO crm.settings VALUES ('sla_phone_wait', '1 minute')$$, '42501', NULL,
    'crm_writer cannot change configuration');
SELECT throws_ok($$DELETE FROM crm.complaint_categories WHERE category = 'billing'$$, '42501', NULL,
    'nor complaint categories');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
