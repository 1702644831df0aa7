-- An attach writes each customer once (crm.attach_summaries): created or
-- merged, scored, walked, levelled and its history written in the same
-- write.  The reference is the former attach written out step by step in
-- SQL: the summaries merged by an UPDATE, the long ones sealed, the
-- population state computed, then every customer rescored by
-- crm.score_customers().  Both run on the same customers (already there,
-- some with interactions that move their level, some with histories long
-- enough to be sealed), from the same state; every column of every
-- customer, the sealed blocks and the history rows must be equal.
\ir setup.psql
SELECT plan(5);

SET crm.as_of = '2025-12-31';
SELECT setseed(0.4242);
INSERT INTO crm.settings VALUES ('btyd_min_repeat_buyers', '20');

CREATE TABLE public.shop (customer_id bigint, day date NOT NULL, amount numeric NOT NULL);
-- 300 customers, 1-40 orders each over three years; 1-5 with 120 each
-- (sealed histories), 6-10 with a refund row
INSERT INTO public.shop
SELECT c, date '2023-01-01' + floor(random() * 1090)::integer, round((5 + random() * 200)::numeric, 2)
FROM generate_series(1, 300) c, generate_series(1, 40) k
WHERE k <= CASE WHEN c % 7 = 0 THEN 1 ELSE 1 + (c * 13) % 40 END;
INSERT INTO public.shop
SELECT c, date '2023-01-01' + k * 9, 30 FROM generate_series(1, 5) c, generate_series(1, 120) k;
INSERT INTO public.shop
SELECT c, date '2025-06-01', -3 FROM generate_series(6, 10) c;

-- the customers are there first, and 1-100 have contacts across channels
INSERT INTO crm.customers (customer_id) SELECT generate_series(1, 300);
-- (written with the service trigger off: it would score them now, before
-- they have orders)
SET session_replication_role = replica;
INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction)
SELECT c, timestamptz '2025-12-30 12:00' - make_interval(days => k * 7), (ARRAY['phone', 'email', 'web'])[1 + k % 3], 'inbound'
FROM generate_series(1, 100) c, generate_series(1, 8) k;
RESET session_replication_role;
CREATE TEMP TABLE start AS SELECT * FROM crm.customers;
CREATE TEMP TABLE start_history AS SELECT max(history_id) AS last FROM crm.stage_history;

-- the reference: the former attach, step by step
CREATE TEMP TABLE crm_backfill AS
SELECT customer_id, crm.summarize(day, amount) AS summary FROM public.shop GROUP BY 1;
UPDATE crm.customers c SET summary = crm.merge(c.summary, b.summary) FROM crm_backfill b WHERE b.customer_id = c.customer_id;
UPDATE crm.customers c SET summary = b.summary FROM crm_backfill b WHERE b.customer_id = c.customer_id AND c.summary IS NULL;
SELECT crm.seal_customers(ARRAY(SELECT customer_id FROM crm_backfill)) \gset
SELECT crm.compute_scoring('2025-12-31') \gset
SELECT set_config('crm.change_source', 'import', true) \gset
SELECT crm.score_customers(ARRAY(SELECT customer_id FROM crm_backfill), '2025-12-31') \gset
SELECT set_config('crm.change_source', '', true) \gset
CREATE TEMP TABLE ref AS SELECT * FROM crm.customers;
CREATE TEMP TABLE ref_blocks AS SELECT * FROM crm.summary_blocks;
CREATE TEMP TABLE ref_scoring AS SELECT cutpoints, model FROM crm.scoring;
CREATE TEMP TABLE ref_history AS
SELECT customer_id, from_stage, to_stage, from_level, to_level, changed_at, source, reason FROM crm.stage_history
WHERE history_id > coalesce((SELECT last FROM start_history), 0);
DROP TABLE crm_backfill;

SELECT diag('reference: ' || count(*) FILTER (WHERE level > 'transaction') || ' levelled up, '
            || count(*) FILTER (WHERE crm.sealed_through(summary) IS NOT NULL) || ' sealed, '
            || count(DISTINCT stage) || ' stages in use, ' || count(*) FILTER (WHERE rfm IS NOT NULL) || ' scored') FROM ref;
SELECT ok((SELECT count(*) FILTER (WHERE level > 'transaction') > 0 AND count(*) FILTER (WHERE crm.sealed_through(summary) IS NOT NULL) >= 5
                  AND count(DISTINCT stage) >= 4 FROM ref)
          AND (SELECT model IS NOT NULL FROM ref_scoring),
    'the reference moves levels, seals histories, uses at least four stages and fits a model');

-- back to the start, then the attach
SET session_replication_role = replica;
DELETE FROM crm.stage_history WHERE history_id > coalesce((SELECT last FROM start_history), 0);
DELETE FROM crm.summary_blocks;
DELETE FROM crm.scoring;
UPDATE crm.customers c SET summary = s.summary, rfm = s.rfm, segment = s.segment, scored_on = s.scored_on,
    stage = s.stage, stage_reason = s.stage_reason, stage_since = s.stage_since,
    level = s.level, level_reason = s.level_reason, level_since = s.level_since
FROM start s WHERE s.customer_id = c.customer_id;
RESET session_replication_role;
SELECT crm.track_orders('public.shop', 'customer_id', 'day', 'amount') \gset

SELECT is((SELECT count(*) FROM crm.scoring s, ref_scoring r
           WHERE s.cutpoints::text IS NOT DISTINCT FROM r.cutpoints::text AND s.model::text IS NOT DISTINCT FROM r.model::text), 1::bigint,
    'the population state (cutpoints, model) is the reference''s');
SELECT is((SELECT count(*) FROM crm.customers c FULL JOIN ref r USING (customer_id)
           WHERE (c.summary, c.rfm, c.segment, c.scored_on, c.stage, c.stage_reason, c.stage_since,
                  c.level, c.level_reason, c.level_since)
                 IS DISTINCT FROM
                 (r.summary, r.rfm, r.segment, r.scored_on, r.stage, r.stage_reason, r.stage_since,
                  r.level, r.level_reason, r.level_since)), 0::bigint,
    'every customer: summary, score, segment, stage, level and their reasons and days are the reference''s');
SELECT is((SELECT count(*) FROM ((SELECT customer_id, month, days::text FROM crm.summary_blocks EXCEPT ALL SELECT customer_id, month, days::text FROM ref_blocks)
                                 UNION ALL
                                 (SELECT customer_id, month, days::text FROM ref_blocks EXCEPT ALL SELECT customer_id, month, days::text FROM crm.summary_blocks)) d),
    0::bigint, 'the sealed blocks are the reference''s');
SELECT is((SELECT count(*) FROM ((SELECT customer_id, from_stage, to_stage, from_level, to_level, changed_at, source, reason
                                  FROM crm.stage_history WHERE history_id > coalesce((SELECT last FROM start_history), 0)
                                  EXCEPT ALL SELECT * FROM ref_history)
                                 UNION ALL
                                 (SELECT * FROM ref_history
                                  EXCEPT ALL SELECT customer_id, from_stage, to_stage, from_level, to_level, changed_at, source, reason
                                  FROM crm.stage_history WHERE history_id > coalesce((SELECT last FROM start_history), 0))) d),
    0::bigint, 'the history rows (stage and level moves, their days, source and reason) are the reference''s');

SELECT * FROM finish();
ROLLBACK;
