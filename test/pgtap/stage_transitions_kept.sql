-- crm.stage_transitions and crm.stage_transition_matrix() answer from the
-- kept counts of the history up to a watermark (crm.stage_transition_counts,
-- crm.stage_history_rollup) and the rows after it.  Here they equal, row
-- for row, the definitions they had before (written out below: a GROUP BY
-- of every history row) at every step: after a refresh, after more writes
-- (the C writer of the order trigger, a stage set by hand, history rows
-- inserted by hand, some with a history_id below the watermark), after a
-- second refresh, after UPDATEs and DELETEs of history rows below and
-- above the watermark, in time zones of every kind of offset (and one
-- whose month starts inside a kept period, which counts everything live),
-- for an account manager (who sees their own customers' rows only), and
-- after TRUNCATE.  The counts themselves are checked against a count of
-- the history by UTC day and quarter hour written out here.
\ir setup.psql
SELECT plan(68);

SET crm.as_of = '2025-12-31';
SET TimeZone = 'UTC';
SELECT setseed(0.2103);
INSERT INTO crm.customers (customer_id, customer_class)
SELECT g, (ARRAY['residential', 'general', 'large', 'important'])[1 + g % 4] FROM generate_series(1, 800) g;
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT c, DATE '2023-01-01' + floor(random() * 1000)::integer, round((5 + random() * 100)::numeric, 2)
FROM generate_series(1, 780) c, generate_series(1, 1 + c % 11) k;

-- the definitions before the kept counts, as they were
CREATE TEMP VIEW former_transitions WITH (security_invoker = true) AS
SELECT date_trunc('month', h.changed_at) AS month, h.from_stage, h.to_stage, h.source, count(*) AS transitions
FROM crm.stage_history h
WHERE h.from_stage IS NULL OR h.from_stage <> h.to_stage
GROUP BY 1, 2, 3, 4;
CREATE TEMP VIEW former_durations WITH (security_invoker = true) AS
SELECT s.stage,
       count(*) AS spells,
       count(*) FILTER (WHERE s.ended_at IS NULL) AS ongoing,
       round(avg(extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at) / 86400)::numeric, 1) AS average_days,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at) / 86400))::numeric, 1) AS median_days
FROM (SELECT h.to_stage AS stage, h.changed_at AS started_at,
             lead(h.changed_at) OVER (PARTITION BY h.customer_id ORDER BY h.changed_at, h.history_id) AS ended_at
      FROM crm.stage_history h
      WHERE h.from_stage IS NULL OR h.from_stage <> h.to_stage) s
GROUP BY s.stage;
-- the spells as they should be kept: every customer's history up to the
-- watermark, each spell's length or (ongoing) start
CREATE TEMP VIEW expected_spells AS
SELECT stage, ended_at - started_at AS duration, CASE WHEN ended_at IS NULL THEN started_at END AS started_at, count(*) AS spells
FROM (SELECT h.to_stage AS stage, h.changed_at AS started_at,
             lead(h.changed_at) OVER (PARTITION BY h.customer_id ORDER BY h.changed_at, h.history_id) AS ended_at
      FROM crm.stage_history h
      WHERE h.history_id <= (SELECT watermark FROM crm.stage_history_rollup) AND (h.from_stage IS NULL OR h.from_stage <> h.to_stage)) s
GROUP BY 1, 2, 3;
CREATE FUNCTION pg_temp.former_matrix(since timestamptz, until timestamptz)
    RETURNS TABLE (from_stage crm.stage, to_stage crm.stage, transitions bigint) LANGUAGE sql STABLE
    AS $$ SELECT h.from_stage, h.to_stage, count(*) FROM crm.stage_history h
          WHERE h.changed_at >= since AND h.changed_at < until
            AND (h.from_stage IS NULL OR h.from_stage <> h.to_stage)
          GROUP BY 1, 2 ORDER BY 1, 2 $$;
-- the counts as they should be: every counted history row up to the
-- watermark by UTC day, or quarter hour on the first and last day of a
-- month (written out apart from crm.transition_period())
CREATE TEMP VIEW expected_counts AS
SELECT CASE WHEN extract(day FROM u) = 1 OR extract(day FROM u + interval '1 day') = 1
            THEN date_trunc('hour', u) + floor(extract(minute FROM u) / 15) * interval '15 minutes'
            ELSE date_trunc('day', u) END AS period, from_stage, to_stage, source, count(*) AS transitions
FROM (SELECT h.changed_at AT TIME ZONE 'UTC' AS u, h.* FROM crm.stage_history h) h
WHERE h.history_id <= (SELECT watermark FROM crm.stage_history_rollup) AND (h.from_stage IS NULL OR h.from_stage <> h.to_stage)
GROUP BY 1, 2, 3, 4;
CREATE TEMP VIEW kept_counts AS
SELECT period_start AT TIME ZONE 'UTC' AS period, from_stage, to_stage, source, transitions
FROM crm.stage_transition_counts WHERE transitions > 0;

-- both views against their former definitions, and the counts
CREATE FUNCTION pg_temp.check_all(what text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEXT bag_eq('SELECT * FROM crm.stage_transitions', 'SELECT * FROM former_transitions',
                       'crm.stage_transitions equals its former definition ' || what);
    RETURN NEXT results_eq($q$SELECT * FROM crm.stage_transition_matrix('2024-01-01', '2025-07-01')$q$,
                           $q$SELECT * FROM pg_temp.former_matrix('2024-01-01', '2025-07-01')$q$,
                           'crm.stage_transition_matrix() equals its former definition ' || what);
    RETURN NEXT bag_eq('SELECT * FROM kept_counts', 'SELECT * FROM expected_counts',
                       'the kept counts are the history''s up to the watermark ' || what);
    RETURN NEXT bag_eq('SELECT * FROM crm.stage_durations', 'SELECT * FROM former_durations',
                       'crm.stage_durations equals its former definition ' || what);
    RETURN NEXT bag_eq('SELECT * FROM crm.stage_spell_counts WHERE spells > 0', 'SELECT * FROM expected_spells',
                       'the kept spells are the history''s up to the watermark ' || what);
END $$;

CALL crm.refresh('2024-06-30');
SELECT ok((SELECT watermark FROM crm.stage_history_rollup) = (SELECT max(history_id) FROM crm.stage_history)
          AND (SELECT count(*) FROM crm.stage_transition_counts) > 10,
    'crm.refresh() rolls the history up: the watermark at its last row, counts kept');
SELECT * FROM pg_temp.check_all('after the refresh');

-- more writes: the order trigger's C writer (stage moves of customers
-- with new orders), a stage set by hand (the SQL writer of the history
-- trigger), an override and history rows inserted by an admin
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT c, DATE '2025-02-01' + c % 60, 50 FROM generate_series(1, 800, 3) c;
UPDATE crm.customers SET stage = 'stable' WHERE customer_id IN (SELECT customer_id FROM crm.customers WHERE stage = 'formation' LIMIT 5);
SELECT crm.override_stage((SELECT min(customer_id) FROM crm.customers WHERE stage = 'decline'), 'exploration', 'data correction');
INSERT INTO crm.stage_history (customer_id, from_stage, to_stage, from_level, to_level, changed_at, source)
VALUES (1, 'formation', 'stable', 'transaction', 'transaction', '2025-03-31 23:55+00', 'user'),
       (2, 'stable', 'decline', 'transaction', 'transaction', '2025-04-01 00:05+00', 'user'),
       (3, 'stable', 'stable', 'transaction', 'trust', '2025-04-10 12:00+00', 'user');
SELECT ok((SELECT count(*) FROM crm.stage_history WHERE history_id > (SELECT watermark FROM crm.stage_history_rollup)) > 50,
    'the new writes are after the watermark');
SELECT * FROM pg_temp.check_all('with rows after the watermark');

CALL crm.refresh('2025-12-31');
SELECT ok((SELECT watermark FROM crm.stage_history_rollup) = (SELECT max(history_id) FROM crm.stage_history),
    'a second refresh moves the watermark to the last row');
SELECT * FROM pg_temp.check_all('after the second refresh');

-- edits of rows counted: other stages, another month, another source, a
-- move to no stage change and back, rows deleted; and of rows after the
-- watermark
UPDATE crm.stage_history SET to_stage = 'decline' WHERE history_id % 17 = 0 AND to_stage <> 'decline'
    AND history_id <= (SELECT watermark FROM crm.stage_history_rollup);
UPDATE crm.stage_history SET changed_at = changed_at - interval '40 days', source = 'override' WHERE history_id % 23 = 0;
UPDATE crm.stage_history SET from_stage = to_stage WHERE history_id % 29 = 0 AND from_stage IS NOT NULL;
DELETE FROM crm.stage_history WHERE history_id % 31 = 0;
SELECT * FROM pg_temp.check_all('after updates and deletes of counted rows');
UPDATE crm.stage_history SET from_stage = 'stable' WHERE history_id % 29 = 0 AND from_stage = to_stage AND to_stage <> 'stable';
-- every change of some groups taken away: their count stays, at 0, until
-- the next roll-up
DELETE FROM crm.stage_history WHERE source = 'override';
SELECT ok(EXISTS (SELECT FROM crm.stage_transition_counts WHERE transitions = 0),
    'groups whose changes were all deleted are kept at 0 until the next roll-up');
SELECT * FROM pg_temp.check_all('after a whole source deleted');

INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT c, DATE '2025-11-01' + c % 40, 70 FROM generate_series(2, 800, 5) c;
UPDATE crm.stage_history SET changed_at = changed_at + interval '3 hours'
WHERE history_id > (SELECT watermark FROM crm.stage_history_rollup) AND history_id % 2 = 0;
DELETE FROM crm.stage_history WHERE history_id > (SELECT watermark FROM crm.stage_history_rollup) AND history_id % 3 = 0;
-- a row inserted by hand with a history_id below the watermark (the
-- identity allows it with OVERRIDING SYSTEM VALUE)
INSERT INTO crm.stage_history (history_id, customer_id, from_stage, to_stage, from_level, to_level, changed_at, source)
OVERRIDING SYSTEM VALUE VALUES (31, 4, 'formation', 'decline', 'transaction', 'transaction', '2024-05-05 10:00+00', 'import');
SELECT * FROM pg_temp.check_all('after edits after the watermark and a row inserted below it');

SELECT cmp_ok(crm.roll_up_stage_history(), '>', 0::bigint, 'crm.roll_up_stage_history() alone counts the rows after the watermark');
SELECT ok(NOT EXISTS (SELECT FROM crm.stage_transition_counts WHERE transitions = 0), 'the roll-up drops the counts at 0');
SELECT is(crm.roll_up_stage_history(), 0::bigint, 'a roll-up with nothing new counts nothing');
SELECT * FROM pg_temp.check_all('after a roll-up on its own');

-- time zones: offsets of whole hours, half and quarter hours, -12 and +14
CREATE FUNCTION pg_temp.check_zones() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    z text;
    mismatches text[] := '{}';
BEGIN
    FOREACH z IN ARRAY ARRAY['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu', 'America/St_Johns',
                             'Pacific/Chatham', 'Australia/Eucla', 'Pacific/Kiritimati', 'Etc/GMT+12'] LOOP
        PERFORM set_config('TimeZone', z, true);
        IF EXISTS ((SELECT * FROM crm.stage_transitions EXCEPT ALL SELECT * FROM former_transitions)
                   UNION ALL (SELECT * FROM former_transitions EXCEPT ALL SELECT * FROM crm.stage_transitions)) THEN
            mismatches := mismatches || z;
        END IF;
    END LOOP;
    PERFORM set_config('TimeZone', 'UTC', true);
    RETURN NEXT is(mismatches, '{}'::text[], 'crm.stage_transitions equals its former definition in nine time zones');
END $$;
SELECT * FROM pg_temp.check_zones();
-- a zone whose months start at 23:53 UTC, inside the kept quarter hour
-- 23:45-24:00 of 2025-03-31 (the row at 23:55 above, 00:02 there): counted live
SET TIME ZONE INTERVAL '+00:07' HOUR TO MINUTE;
SELECT ok(EXISTS (SELECT FROM crm.stage_transition_counts WHERE period_start = '2025-03-31 23:45+00'),
    'a kept period holds 2025-03-31 23:55 UTC');
SELECT ok(EXISTS (SELECT date_trunc('month', k.period_start), k.from_stage, k.to_stage, k.source FROM crm.stage_transition_counts k
                  EXCEPT SELECT f.month, f.from_stage, f.to_stage, f.source FROM former_transitions f),
    'there the kept counts alone would put a change in the wrong month');
SELECT bag_eq('SELECT * FROM crm.stage_transitions', 'SELECT * FROM former_transitions',
    'crm.stage_transitions equals its former definition where a month starts inside a kept period');
SELECT bag_eq($$SELECT * FROM crm.stage_transitions WHERE month = '2025-04-01'$$,
              $$SELECT * FROM former_transitions WHERE month = '2025-04-01'$$,
    'and so does its month of the change at 23:55 UTC');
SET TimeZone = 'Europe/Amsterdam';
INSERT INTO crm.stage_history (customer_id, from_stage, to_stage, from_level, to_level, changed_at, source)
VALUES (5, NULL, 'formation', 'transaction', 'transaction', '1930-02-28 23:35:00+00', 'import');
SELECT is(crm.roll_up_stage_history(), 1::bigint, 'the roll-up counts the change of 1930');
SELECT bag_eq('SELECT * FROM crm.stage_transitions', 'SELECT * FROM former_transitions',
    'crm.stage_transitions equals its former definition with a change of 1930 in Amsterdam (offset 0:19:32)');
SET TimeZone = 'UTC';

-- the matrix: periods of months, of odd bounds inside kept periods, empty,
-- reversed and unbounded
CREATE FUNCTION pg_temp.check_matrix() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    b record;
    mismatches text[] := '{}';
BEGIN
    FOR b IN SELECT * FROM (VALUES ('2023-01-01'::timestamptz, '2026-01-01'::timestamptz), ('2025-03-01', '2025-04-01'),
                                   ('2025-03-31 23:46+00', '2025-04-01 00:10+00'), ('2024-05-05 09:00+00', '2024-05-05 10:00:01+00'),
                                   ('2025-01-01 05:30+05:30', '2025-02-01 05:30+05:30'), ('2025-06-01', '2025-06-01'),
                                   ('2025-06-01', '2024-06-01'), ('-infinity', 'infinity'), ('1930-01-01', '1930-03-01'),
                                   (NULL, '2025-01-01')) v(since, until) LOOP
        IF EXISTS ((SELECT * FROM crm.stage_transition_matrix(b.since, b.until) EXCEPT ALL SELECT * FROM pg_temp.former_matrix(b.since, b.until))
                   UNION ALL (SELECT * FROM pg_temp.former_matrix(b.since, b.until) EXCEPT ALL SELECT * FROM crm.stage_transition_matrix(b.since, b.until))) THEN
            mismatches := mismatches || format('[%s, %s)', b.since, b.until);
        END IF;
    END LOOP;
    RETURN NEXT is(mismatches, '{}'::text[], 'crm.stage_transition_matrix() equals its former definition over ten periods');
END $$;
SELECT * FROM pg_temp.check_matrix();
SELECT ok((SELECT count(*) FROM crm.stage_transition_matrix('2025-03-31 23:46+00', '2025-04-01 00:10+00')) > 0,
    'a period inside kept quarter hours has its changes');

-- an account manager sees their own customers' rows: the counts and the
-- watermark are hidden from them, and the views count their rows live
CREATE ROLE crm_test_am IN ROLE crm_reader;
UPDATE crm.customers SET account_manager = 'crm_test_am' WHERE customer_id % 10 = 0;
GRANT SELECT ON former_transitions, former_durations TO crm_test_am;
SET ROLE crm_test_am;
SELECT is((SELECT count(*) FROM crm.stage_transition_counts) + (SELECT count(*) FROM crm.stage_history_rollup), 0::bigint,
    'an account manager sees no counts and no watermark');
SELECT bag_eq('SELECT * FROM crm.stage_transitions', 'SELECT * FROM former_transitions',
    'crm.stage_transitions equals its former definition for an account manager (their customers only)');
SELECT ok((SELECT sum(transitions) FROM crm.stage_transitions)
          = (SELECT count(*) FROM crm.stage_history h WHERE h.customer_id % 10 = 0 AND (h.from_stage IS NULL OR h.from_stage <> h.to_stage)),
    'which are their own customers'' changes');
SELECT results_eq($$SELECT * FROM crm.stage_transition_matrix('2023-01-01', '2026-01-01')$$,
                  $$SELECT * FROM pg_temp.former_matrix('2023-01-01', '2026-01-01')$$,
    'and so does the matrix');
SELECT bag_eq('SELECT * FROM crm.stage_durations', 'SELECT * FROM former_durations',
    'and crm.stage_durations (their customers'' spells)');
RESET ROLE;
UPDATE crm.customers SET account_manager = NULL;

-- TRUNCATE: no counts, the watermark back to 0; then history again
TRUNCATE crm.stage_history RESTART IDENTITY;
SELECT ok((SELECT watermark FROM crm.stage_history_rollup) = 0 AND NOT EXISTS (SELECT FROM crm.stage_transition_counts),
    'TRUNCATE empties the counts and puts the watermark back to 0');
UPDATE crm.customers SET stage = 'stable' WHERE customer_id IN (SELECT customer_id FROM crm.customers WHERE stage = 'formation' LIMIT 5);
SELECT * FROM pg_temp.check_all('after TRUNCATE and new history');
CALL crm.refresh('2026-06-30');
SELECT * FROM pg_temp.check_all('after TRUNCATE and a refresh');

-- the bad input of the views is the former's: NULL bounds give nothing
SELECT is((SELECT count(*) FROM crm.stage_transition_matrix(NULL, NULL)), 0::bigint, 'NULL bounds: no rows, as before');

SELECT * FROM finish();
ROLLBACK;
