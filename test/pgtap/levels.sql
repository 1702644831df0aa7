-- Relationship levels through the tables, as a site meets them: contact
-- moves a buying customer up one level at a time (the service triggers
-- rescore at once), a late complaint moves it down, the end of the
-- relationship ends the level, each move in crm.stage_history with its
-- reason; a move of two levels at once is refused like an illegal stage
-- move; crm.override_level() is the way around, recorded as such.  The
-- rules themselves, case by case, are in sql/stage.sql and
-- test/unit/level_kernel_test.c.
\ir setup.psql
SELECT plan(17);

-- a weekly buyer since 2024-01-01 (stable by mid-2025), as of 2025-06-30
SET crm.as_of = '2025-06-30';
INSERT INTO crm.customers (customer_id) VALUES (7001), (7002);
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 7001, d::date, 20 FROM generate_series(date '2024-01-01', date '2025-06-28', interval '7 days') d;
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 7002, d::date, 20 FROM generate_series(date '2023-01-01', date '2023-12-31', interval '14 days') d;
SELECT is((SELECT stage::text || ' ' || level::text FROM crm.customers WHERE customer_id = 7001), 'stable transaction',
    'a steady buyer with no contact is stable, and its level is transaction');

-- one interaction: transaction -> trust at once (the interactions trigger)
INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction) VALUES (7001, '2025-06-20 10:00+00', 'phone', 'inbound');
SELECT is((SELECT level::text || ' ' || level_reason || ' ' || level_since FROM crm.customers WHERE customer_id = 7001),
    'trust contact_and_repeat 2025-06-30', 'one interaction moves a buying customer to trust when it arrives (contact_and_repeat)');
SELECT is((SELECT from_level || '>' || to_level || ' ' || reason || ' ' || source FROM crm.stage_history
           WHERE customer_id = 7001 AND from_level <> to_level ORDER BY history_id DESC LIMIT 1),
    'transaction>trust contact_and_repeat inference', 'and the move is in the history with its reason');

-- within level_min_days nothing moves; after, contact on two channels: cooperation
INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction) VALUES
    (7001, '2025-06-25 10:00+00', 'email', 'outbound'), (7001, '2025-06-26 10:00+00', 'web', 'inbound');
SELECT is((SELECT level::text FROM crm.customers WHERE customer_id = 7001), 'trust',
    'three interactions on three channels within 28 days of the last move: the level is held');
SET crm.as_of = '2025-08-15';
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 7001, d::date, 20 FROM generate_series(date '2025-07-05', date '2025-08-15', interval '7 days') d;
INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction) VALUES (7001, '2025-08-10 10:00+00', 'phone', 'inbound');
SELECT is((SELECT level::text || ' ' || level_reason FROM crm.customers WHERE customer_id = 7001), 'cooperation regular_contact',
    'after 28 days, regular contact on several channels moves it to cooperation (regular_contact)');

-- a complaint answered late: cooperation -> trust
SET crm.as_of = '2025-09-20';
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 7001, d::date, 20 FROM generate_series(date '2025-08-16', date '2025-09-20', interval '7 days') d;
INSERT INTO crm.complaints (customer_id, category, opened_at, first_response_at, resolved_at)
VALUES (7001, 'billing', '2025-09-01 09:00+00', '2025-09-15 09:00+00', '2025-09-16 09:00+00');
SELECT is((SELECT level::text || ' ' || level_reason FROM crm.customers WHERE customer_id = 7001), 'trust complaint_late',
    'a complaint handled past its limit takes it one level down (complaint_late)');

-- two levels at once by hand: refused, nothing changed
SELECT throws_ok($$UPDATE crm.customers SET level = 'loyalty' WHERE customer_id = 7001$$, '23514', NULL,
    'a level set two steps up by hand is refused (23514), like an illegal stage move');
SELECT throws_ok($$UPDATE crm.customers SET level = 'partnership' WHERE customer_id = 7001$$, '23514', NULL,
    'three steps too');
SELECT is((SELECT level::text FROM crm.customers WHERE customer_id = 7001), 'trust', 'and the level is as it was');
UPDATE crm.customers SET level = 'cooperation', level_reason = 'key-account review' WHERE customer_id = 7001;
SELECT is((SELECT from_level || '>' || to_level || ' ' || reason || ' ' || source FROM crm.stage_history
           WHERE customer_id = 7001 AND from_level <> to_level ORDER BY history_id DESC LIMIT 1),
    'trust>cooperation key-account review user', 'one step by hand is allowed and recorded as the user''s, with its reason');

-- the override: any level, recorded as an override
SELECT crm.override_level(7001, 'partnership', 'board decision');
SELECT is((SELECT from_level || '>' || to_level || ' ' || reason || ' ' || source FROM crm.stage_history
           WHERE customer_id = 7001 AND from_level <> to_level ORDER BY history_id DESC LIMIT 1),
    'cooperation>partnership board decision override', 'crm.override_level() moves any distance, recorded as an override with its reason');
SELECT throws_ok($$SELECT crm.override_level(7001, 'trust', '  ')$$, '22023', NULL, 'an override needs a reason (22023)');

-- the refresh maintains levels too: the partnership has no account
-- manager, so once level_min_days have passed it steps down one level
-- (manager_withdrawn)
CALL crm.refresh('2025-09-20');
SELECT is((SELECT level::text FROM crm.customers WHERE customer_id = 7001), 'partnership',
    'the day of the override the refresh holds the level (level_min_days)');
SET crm.as_of = '2025-10-31';
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT 7001, d::date, 20 FROM generate_series(date '2025-09-21', date '2025-10-31', interval '7 days') d;
CALL crm.refresh('2025-10-31');
SELECT is((SELECT level::text || ' ' || level_reason FROM crm.customers WHERE customer_id = 7001), 'loyalty manager_withdrawn',
    'the refresh takes a partnership without an account manager one level down (manager_withdrawn), not more');

-- a relationship that ended: the level goes down with it, one step per
-- refresh past level_min_days
UPDATE crm.customers SET stage = 'formation' WHERE customer_id = 7002 AND stage = 'exploration';
SELECT crm.override_level(7002, 'trust', 'imported from the old CRM');
SET crm.as_of = '2025-12-31';
CALL crm.refresh('2025-12-31');
SELECT is((SELECT stage::text || ' ' || level::text || ' ' || level_reason FROM crm.customers WHERE customer_id = 7002),
    'terminated transaction relationship_ended', 'a customer gone for two years is terminated, and its level ends with it (relationship_ended)');

-- a second refresh on the same day moves no level
CREATE TEMP TABLE levels_before AS SELECT customer_id, level, level_since FROM crm.customers;
CALL crm.refresh('2025-12-31');
SELECT is((SELECT count(*) FROM crm.customers c JOIN levels_before b USING (customer_id)
           WHERE (c.level, c.level_since) IS DISTINCT FROM (b.level, b.level_since)), 0::bigint,
    'a second refresh on the same day moves no level');
SELECT is((SELECT count(*) FROM crm.stage_history h WHERE h.source = 'inference'
           AND abs(array_position(enum_range(NULL::crm.relationship_level), h.from_level)
                   - array_position(enum_range(NULL::crm.relationship_level), h.to_level)) > 1), 0::bigint,
    'no inferred level move in the history is more than one step');

SELECT * FROM finish();
ROLLBACK;
