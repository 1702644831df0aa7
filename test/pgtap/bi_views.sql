-- The BI views read what crm maintains (summaries, scores, stages, levels)
-- and answer at a million customers (test/bench_views.sh); here, on a
-- small base, each equals a recompute written out from the orders and the
-- service tables, in plain SQL: crm.kpis, crm.customer_360,
-- crm.churn_watch, crm.customers_below_target_level, crm.lifecycle_funnel.
-- The base has refunds, refund-only days, zero amounts, same-day orders,
-- long histories that the order trigger seals, customers without orders,
-- interactions, complaints (open and resolved), surveys and opportunities.
-- crm.monthly_activity(), behind crm.kpis, gives the same months in a
-- parallel plan (partial states serialized and combined) as in a serial
-- one, and refuses a sealed summary.
\ir setup.psql
SELECT plan(29);

SET crm.as_of = '2025-12-31';
SELECT setseed(0.2121);
INSERT INTO crm.customers (customer_id, customer_class)
SELECT g, (ARRAY['residential', 'general', 'large', 'important'])[1 + g % 4] FROM generate_series(1, 600) g;
-- orders: 1-12 a customer (customers 591-600 none), days over 2024-2025,
-- a tenth refunds, some zero amounts, and same-day orders
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT c, DATE '2024-01-01' + floor(random() * 730)::integer,
       CASE WHEN random() < 0.1 THEN -round((random() * 20)::numeric, 2)
            WHEN random() < 0.05 THEN 0 ELSE round((5 + random() * 200)::numeric, 2) END
FROM generate_series(1, 590) c, generate_series(1, 1 + (c * 7) % 12) k;
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT c, DATE '2025-03-01' + (c % 20), 12.5 FROM generate_series(1, 590, 7) c;
-- long histories: 150 purchase days each, sealed by the order trigger
INSERT INTO crm.orders (customer_id, ordered_on, amount)
SELECT c, DATE '2023-06-01' + 4 * d, 9.99 FROM generate_series(11, 15) c, generate_series(1, 150) d;
-- service data and opportunities
INSERT INTO crm.interactions (customer_id, occurred_at, channel, direction, topic)
SELECT 1 + (g * 13) % 600, TIMESTAMPTZ '2025-01-01 00:00+00' + g * interval '37 minutes',
       (ARRAY['phone', 'email', 'web'])[1 + g % 3], 'inbound', 'question'
FROM generate_series(1, 1500) g;
INSERT INTO crm.complaints (customer_id, category, opened_at, first_response_at, resolved_at)
SELECT 1 + (g * 17) % 600, 'billing', t, t + (g % 40) * interval '1 hour', CASE WHEN g % 3 > 0 THEN t + interval '2 days' END
FROM (SELECT g, TIMESTAMPTZ '2025-06-01 00:00+00' + g * interval '11 hours' AS t FROM generate_series(1, 400) g) x;
INSERT INTO crm.surveys (customer_id, surveyed_at)
SELECT 1 + (g * 29) % 600, TIMESTAMPTZ '2025-02-01 00:00+00' + g * interval '13 hours' FROM generate_series(1, 500) g;
INSERT INTO crm.survey_answers
SELECT s.survey_id, d, 7, (s.survey_id + length(d)) % 11 FROM crm.surveys s, unnest(ARRAY['reliability', 'price']) d;
INSERT INTO crm.opportunities (customer_id, amount, stage, stage_since)
SELECT 1 + (g * 31) % 600, 100 * g, (ARRAY['lead', 'qualified', 'won', 'lost'])[1 + g % 4]::crm.pipeline_stage,
       TIMESTAMPTZ '2025-10-01 00:00+00'
FROM generate_series(1, 200) g;
CALL crm.refresh('2025-12-31', fit_model => true);

SELECT ok((SELECT count(*) FROM crm.customers WHERE crm.sealed_through(summary) IS NOT NULL) = 5,
    'the base: the five long histories are sealed');

-- the orders by customer and day, as a summary holds them: purchases are
-- the orders of amount 0 or more, refunds (negative) only lower the net
CREATE TEMP TABLE order_days AS
SELECT customer_id, ordered_on AS day, count(*) FILTER (WHERE amount >= 0) AS purchases, sum(amount) AS amount
FROM crm.orders GROUP BY 1, 2;
CREATE TEMP TABLE order_customers AS
SELECT d.customer_id, min(d.day) FILTER (WHERE d.purchases > 0) AS first_purchase, max(d.day) FILTER (WHERE d.purchases > 0) AS last_purchase,
       count(*) FILTER (WHERE d.purchases > 0) AS purchase_days, sum(d.amount) AS total_spend,
       (SELECT crm.summarize(o.ordered_on, o.amount) FROM crm.orders o WHERE o.customer_id = d.customer_id) AS summary
FROM order_days d GROUP BY 1;

-- crm.kpis: months with an active customer, recomputed from the orders
CREATE TEMP VIEW kpis_recomputed AS
WITH active AS (
    SELECT DISTINCT d.customer_id, date_trunc('month', d.day)::date AS month FROM order_days d WHERE d.purchases > 0
),
monthly AS (
    SELECT a.month, count(*) AS active_customers,
           count(*) FILTER (WHERE oc.first_purchase < a.month) AS returning_customers,
           count(p.customer_id) AS retained_customers
    FROM active a JOIN order_customers oc USING (customer_id)
    LEFT JOIN active p ON p.customer_id = a.customer_id AND p.month = (a.month - interval '1 month')::date
    GROUP BY a.month
),
sales AS (
    SELECT date_trunc('month', d.day)::date AS month, sum(d.amount) AS revenue, sum(d.purchases) AS orders FROM order_days d GROUP BY 1
),
complaints AS (
    SELECT date_trunc('month', k.opened_at)::date AS month, count(*) AS opened,
           count(*) FILTER (WHERE k.first_response_at - k.opened_at <= interval '1 day') AS answered_in_time
    FROM crm.complaints k GROUP BY 1
),
surveys AS (
    SELECT date_trunc('month', s.surveyed_at)::date AS month, avg(a.perceived / a.expected) AS score
    FROM crm.surveys s JOIN crm.survey_answers a USING (survey_id) GROUP BY 1
)
SELECT m.month, m.active_customers,
       round(m.retained_customers::numeric / nullif(prev.active_customers, 0), 4) AS retention_rate,
       round(1 - m.retained_customers::numeric / nullif(prev.active_customers, 0), 4) AS churn_rate,
       round(m.returning_customers::numeric / m.active_customers, 4) AS repeat_purchase_rate,
       round(s.revenue / nullif(s.orders, 0), 2) AS average_order_value,
       s.revenue, coalesce(k.opened, 0) AS complaints,
       round(k.answered_in_time::numeric / nullif(k.opened, 0), 4) AS complaints_within_sla
FROM monthly m
LEFT JOIN monthly prev ON prev.month = (m.month - interval '1 month')::date
JOIN sales s ON s.month = m.month
LEFT JOIN complaints k ON k.month = m.month;

SELECT is((SELECT count(*) FROM crm.kpis), (SELECT count(*) FROM kpis_recomputed),
    'crm.kpis: as many months as the orders have active ones');
SELECT ok((SELECT count(*) FROM crm.kpis) >= 30 AND (SELECT count(*) FROM crm.kpis WHERE complaints > 0) > 3,
    'crm.kpis: the months of 2023-2025, complaints in some');
SELECT is((SELECT count(*) FROM (SELECT month, active_customers, retention_rate, churn_rate, repeat_purchase_rate, average_order_value,
                                        revenue, complaints, complaints_within_sla FROM crm.kpis
                                 EXCEPT SELECT * FROM kpis_recomputed) x), 0::bigint,
    'crm.kpis: every month equals the recompute from the orders (active, retained, returning, revenue, order value, complaints)');
-- the survey scores the view reads through crm.survey_scores (one mean a survey)
SELECT is((SELECT count(*) FROM crm.kpis k
           JOIN (SELECT date_trunc('month', s.surveyed_at)::date AS month, avg(q.score) AS score
                 FROM crm.surveys s JOIN (SELECT survey_id, avg(perceived / expected) AS score FROM crm.survey_answers GROUP BY 1) q USING (survey_id)
                 GROUP BY 1) v USING (month)
           WHERE k.satisfaction_index IS DISTINCT FROM round((100 * v.score)::numeric, 1)), 0::bigint,
    'crm.kpis: the satisfaction index of each month is 100 x the mean survey score');

-- the aggregate behind it: parallel and serial plans give the same months
CREATE TEMP TABLE activity_serial AS SELECT a.* FROM (SELECT crm.monthly_activity(crm.full_summary(customer_id, summary)) m FROM crm.customers) x, unnest(x.m) a;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL force_parallel_mode = on;
SELECT ok(pg_temp.plan_of('SELECT crm.monthly_activity(summary) FROM crm.customers') ~ 'Partial Aggregate',
    'crm.monthly_activity: a parallel plan with partial aggregates');
SELECT is((SELECT count(*) FROM ((SELECT a.* FROM (SELECT crm.monthly_activity(crm.full_summary(customer_id, summary)) m FROM crm.customers) x, unnest(x.m) a
                                  EXCEPT ALL SELECT * FROM activity_serial)
                                 UNION ALL (SELECT * FROM activity_serial EXCEPT ALL
                                            SELECT a.* FROM (SELECT crm.monthly_activity(crm.full_summary(customer_id, summary)) m FROM crm.customers) x, unnest(x.m) a)) d),
    0::bigint, 'crm.monthly_activity: the parallel plan gives the months of the serial one');
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET force_parallel_mode;
SELECT throws_ok($$SELECT crm.monthly_activity(summary) FROM crm.customers WHERE customer_id = 11$$, '22023',
    'crm.monthly_activity() needs every day of a summary, and this one is sealed',
    'crm.monthly_activity: a sealed summary is refused (give crm.full_summary())');

-- crm.customer_360: the purchase figures from the orders, the rest from
-- the service and pipeline tables
CREATE TEMP VIEW customer_360_recomputed AS
SELECT c.customer_id, c.name, c.kind, c.customer_class, c.service_level, c.account_manager, c.marketing_opt_out,
       oc.first_purchase, oc.last_purchase, coalesce(oc.purchase_days, 0) AS purchase_days, coalesce(oc.total_spend, 0) AS total_spend,
       c.rfm, c.segment, c.scored_on, c.stage, c.stage_since, c.stage_reason, c.level, t.target_level,
       CASE WHEN oc.first_purchase <= DATE '2025-12-31' THEN round(crm.p_alive(sc.model, oc.summary, DATE '2025-12-31')::numeric, 4) END AS p_alive,
       (SELECT max(i.occurred_at) FROM crm.interactions i WHERE i.customer_id = c.customer_id) AS last_interaction_at,
       (SELECT i.channel FROM crm.interactions i WHERE i.customer_id = c.customer_id ORDER BY i.occurred_at DESC LIMIT 1) AS last_interaction_channel,
       (SELECT count(*) FROM crm.complaints k WHERE k.customer_id = c.customer_id AND k.resolved_at IS NULL) AS open_complaints,
       c.churn_reason,
       (SELECT count(*) FROM crm.opportunities o WHERE o.customer_id = c.customer_id AND o.stage NOT IN ('won', 'lost')) AS open_opportunities,
       (SELECT coalesce(sum(o.amount), 0) FROM crm.opportunities o WHERE o.customer_id = c.customer_id AND o.stage NOT IN ('won', 'lost')) AS pipeline_value
FROM crm.customers c LEFT JOIN order_customers oc USING (customer_id)
LEFT JOIN crm.level_targets t USING (customer_class) CROSS JOIN crm.scoring sc;

SELECT is((SELECT count(*) FROM crm.customer_360), 600::bigint, 'crm.customer_360: a row per customer');
SELECT is((SELECT count(*) FROM (SELECT customer_id, name, kind, customer_class, service_level, account_manager, marketing_opt_out,
                                        first_purchase, last_purchase, purchase_days, total_spend, rfm, segment, scored_on, stage,
                                        stage_since, stage_reason, level, target_level, p_alive, last_interaction_at,
                                        last_interaction_channel, open_complaints, churn_reason, open_opportunities, pipeline_value
                                 FROM crm.customer_360 EXCEPT SELECT * FROM customer_360_recomputed) x), 0::bigint,
    'crm.customer_360: every row equals the recompute (purchases from the orders, last interaction, open complaints, open pipeline)');
SELECT ok((SELECT count(*) FILTER (WHERE open_complaints > 0) > 50 AND count(*) FILTER (WHERE open_opportunities > 0) > 50
                  AND count(*) FILTER (WHERE last_interaction_at IS NOT NULL) > 500 AND count(*) FILTER (WHERE p_alive IS NOT NULL) > 500
           FROM crm.customer_360),
    'crm.customer_360: the recompute is not vacuous (complaints, opportunities, interactions, P(alive) in many rows)');
SELECT ok(pg_temp.plan_of('SELECT * FROM crm.customer_360 WHERE customer_id = 42')
          ~ ' on interactions i\n[^\n]*(Index Cond|Recheck Cond|Filter): \(customer_id = 42\)',
    'crm.customer_360: a filter on customer_id reaches into the grouped service tables (no pass over all interactions)');

-- P(alive) keeps the unpacked model across the calls of a query (keyed by
-- its bytes): rows alternating between two models get each one's value,
-- as separate queries (each unpacking anew) give them, and a spend model
-- after a count model is still refused
CREATE TEMP TABLE two_models AS
SELECT 'bgnbd(r=0.24,alpha=4.4,a=0.79,b=2.4)'::crm.btyd_model AS m1, 'pareto_nbd(r=0.55,alpha=10.6,s=0.61,beta=11.7)'::crm.btyd_model AS m2;
SELECT is((SELECT array_agg(crm.p_alive(CASE WHEN g % 3 = 1 THEN m2 ELSE m1 END, g % 4, 1.5 * (g % 4), 10) ORDER BY g)
           FROM two_models, generate_series(1, 7) g),
          ARRAY[(SELECT crm.p_alive(m2, 1, 1.5, 10) FROM two_models), (SELECT crm.p_alive(m1, 2, 3, 10) FROM two_models),
                (SELECT crm.p_alive(m1, 3, 4.5, 10) FROM two_models), (SELECT crm.p_alive(m2, 0, 0, 10) FROM two_models),
                (SELECT crm.p_alive(m1, 1, 1.5, 10) FROM two_models), (SELECT crm.p_alive(m1, 2, 3, 10) FROM two_models),
                (SELECT crm.p_alive(m2, 3, 4.5, 10) FROM two_models)],
    'crm.p_alive: rows alternating between two models each get their own model''s value');
SELECT ok((SELECT crm.p_alive(m1, 2, 3, 10) <> crm.p_alive(m2, 2, 3, 10) FROM two_models), 'crm.p_alive: and the two models differ there');
SELECT throws_ok($$SELECT crm.p_alive(CASE WHEN g = 1 THEN m1 ELSE 'gamma_gamma(p=6.25,q=3.74,v=15.44)'::crm.btyd_model END, 1, 1, 10)
                   FROM two_models, generate_series(1, 2) g$$, '22023', NULL,
    'crm.p_alive: a spend model after a count model in one query is refused');

-- crm.churn_watch: decline, or formation/stable with P(alive) < 0.5
SELECT is((SELECT count(*) FROM ((SELECT * FROM crm.churn_watch EXCEPT ALL
    SELECT c.customer_id, c.name, c.account_manager, c.stage, c.stage_reason, c.segment,
           DATE '2025-12-31' - oc.last_purchase, coalesce(oc.total_spend, 0),
           CASE WHEN oc.first_purchase <= DATE '2025-12-31' THEN round(crm.p_alive(sc.model, oc.summary, DATE '2025-12-31')::numeric, 4) END,
           (SELECT count(*) FROM crm.complaints k WHERE k.customer_id = c.customer_id AND k.opened_at >= DATE '2025-12-31' - 90)
    FROM crm.customers c LEFT JOIN order_customers oc USING (customer_id) CROSS JOIN crm.scoring sc
    WHERE c.stage = 'decline'
       OR (c.stage IN ('formation', 'stable') AND oc.first_purchase <= DATE '2025-12-31'
           AND crm.p_alive(sc.model, oc.summary, DATE '2025-12-31') < 0.5))) x)
    + (SELECT count(*) FROM crm.customers c WHERE (c.stage = 'decline') AND c.customer_id NOT IN (SELECT customer_id FROM crm.churn_watch)),
    0::bigint, 'crm.churn_watch: the customers at risk of the recompute, with their figures');
SELECT ok((SELECT count(*) FROM crm.churn_watch) > 20, 'crm.churn_watch: not empty');
SELECT ok(pg_temp.plan_of('SELECT * FROM crm.churn_watch WHERE customer_id = 42')
          ~ 'Index Scan using customers_pkey on customers c\n[^\n]*Index Cond: \(customer_id = 42\)',
    'crm.churn_watch: a filter on customer_id reads the one customer by its primary key (no pass over all customers)');
SELECT is((SELECT array_agg(w ORDER BY w.customer_id)::text FROM crm.churn_watch w
           WHERE w.customer_id IN (SELECT customer_id FROM crm.churn_watch ORDER BY customer_id LIMIT 3)),
          (SELECT array_agg(w ORDER BY w.customer_id)::text FROM (SELECT * FROM crm.churn_watch ORDER BY customer_id LIMIT 3) w),
    'crm.churn_watch: customers looked up by id get the rows of the whole view');
SELECT ok(pg_temp.plan_of('SELECT * FROM crm.churn_watch ORDER BY customer_id LIMIT 5') ~ 'Index Scan using customers_pkey on customers c'
          AND pg_temp.plan_of('SELECT * FROM crm.churn_watch ORDER BY customer_id LIMIT 5') !~ 'Sort',
    'crm.churn_watch: the first customers by id read in the primary key''s order (no sort of all candidates)');

-- crm.customers_below_target_level: the gap as crm.level_gap() counts it
SELECT is((SELECT count(*) FROM ((SELECT * FROM crm.customers_below_target_level EXCEPT ALL
    SELECT c.customer_id, c.customer_class, c.level, t.target_level, crm.level_gap(c.level, t.target_level)
    FROM crm.customers c JOIN crm.level_targets t USING (customer_class) WHERE c.level < t.target_level)
    UNION ALL
    (SELECT c.customer_id, c.customer_class, c.level, t.target_level, crm.level_gap(c.level, t.target_level)
     FROM crm.customers c JOIN crm.level_targets t USING (customer_class) WHERE c.level < t.target_level
     EXCEPT ALL SELECT * FROM crm.customers_below_target_level)) x)
    + CASE WHEN (SELECT count(*) FROM crm.customers_below_target_level) > 300 THEN 0 ELSE 1 END,
    0::bigint, 'crm.customers_below_target_level: the customers below their class''s target and the levels to go');

-- crm.lifecycle_funnel: customers and spend per stage
SELECT is((SELECT count(*) FROM (SELECT stage, customers, total_spend FROM crm.lifecycle_funnel EXCEPT
    SELECT c.stage, count(*), coalesce(sum(oc.total_spend), 0) FROM crm.customers c LEFT JOIN order_customers oc USING (customer_id) GROUP BY 1) x),
    0::bigint, 'crm.lifecycle_funnel: customers and total spend per stage equal the recompute from the orders');

-- the purchase figures kept in crm.customers (stored generated columns):
-- those of the orders, for every customer, sealed ones too; and still so
-- after orders are changed, deleted, and new customers created by orders
SELECT is((SELECT count(*) FROM crm.customers c FULL JOIN order_customers oc USING (customer_id)
           WHERE c.first_purchase IS DISTINCT FROM oc.first_purchase OR c.last_purchase IS DISTINCT FROM oc.last_purchase
              OR c.purchase_days IS DISTINCT FROM oc.purchase_days::integer OR c.total_spend IS DISTINCT FROM oc.total_spend),
    0::bigint, 'crm.customers: first and last purchase, purchase days and total spend kept equal to the orders''');
SAVEPOINT kept;
UPDATE crm.orders SET amount = amount + 1 WHERE customer_id IN (3, 12) AND ordered_on = (SELECT max(ordered_on) FROM crm.orders o WHERE o.customer_id = crm.orders.customer_id);
DELETE FROM crm.orders WHERE customer_id = 4 AND ordered_on = (SELECT min(ordered_on) FROM crm.orders WHERE customer_id = 4);
DELETE FROM crm.orders WHERE customer_id = 5;
-- an attached table whose orders create the customers they name
CREATE TABLE shop (customer_id bigint, ordered_on date, amount numeric);
SELECT crm.track_orders('shop', 'customer_id', 'ordered_on', 'amount') \g /dev/null
INSERT INTO shop VALUES (6, '2025-12-30', -3), (601, '2025-12-01', 40), (601, '2025-12-02', -40), (602, '2025-11-01', 0);
SELECT is((SELECT count(*) FROM crm.customers c FULL JOIN
                (SELECT o.customer_id, min(o.ordered_on) FILTER (WHERE o.amount >= 0) AS first_purchase,
                        max(o.ordered_on) FILTER (WHERE o.amount >= 0) AS last_purchase,
                        count(DISTINCT o.ordered_on) FILTER (WHERE o.amount >= 0) AS purchase_days, sum(o.amount) AS total_spend
                 FROM (SELECT customer_id, ordered_on, amount FROM crm.orders UNION ALL SELECT * FROM shop) o GROUP BY 1) oc USING (customer_id)
           WHERE c.first_purchase IS DISTINCT FROM oc.first_purchase OR c.last_purchase IS DISTINCT FROM oc.last_purchase
              OR c.purchase_days IS DISTINCT FROM oc.purchase_days::integer OR c.total_spend IS DISTINCT FROM oc.total_spend),
    0::bigint, 'crm.customers: the kept figures follow updated, deleted and new orders, and customers the orders create');
SELECT is((SELECT array_agg(row(customer_id, first_purchase, purchase_days, total_spend)::text ORDER BY customer_id) FROM crm.customers WHERE customer_id > 600),
          ARRAY['(601,2025-12-01,1,0)', '(602,2025-11-01,1,0)'], 'crm.customers: the figures of the customers created by orders');
ROLLBACK TO SAVEPOINT kept;

-- crm.pareto: the customers with purchases ranked by revenue, as the
-- former definition (window functions over the summaries) ranked them
SELECT is((SELECT count(*) FROM ((SELECT * FROM crm.pareto EXCEPT ALL
    SELECT r.customer_id, r.rank, r.revenue, round(100.0 * r.rank / r.n, 4),
           round(100.0 * sum(r.revenue) OVER (ORDER BY r.rank) / nullif(r.total, 0), 4),
           round(100.0 * r.top5 / nullif(r.total, 0), 2), round(100.0 * r.top20 / nullif(r.total, 0), 2)
    FROM (SELECT q.*, sum(q.revenue) OVER () AS total, count(*) OVER () AS n,
                 sum(q.revenue) FILTER (WHERE q.rank <= ceil(0.05 * q.n0)) OVER () AS top5,
                 sum(q.revenue) FILTER (WHERE q.rank <= ceil(0.20 * q.n0)) OVER () AS top20
          FROM (SELECT oc.customer_id, oc.total_spend AS revenue,
                       row_number() OVER (ORDER BY oc.total_spend DESC, oc.customer_id) AS rank, count(*) OVER () AS n0
                FROM order_customers oc) q) r)
    UNION ALL (SELECT r.customer_id, r.rank, r.revenue, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric
               FROM (SELECT oc.customer_id, oc.total_spend AS revenue, row_number() OVER (ORDER BY oc.total_spend DESC, oc.customer_id) AS rank
                     FROM order_customers oc) r
               EXCEPT ALL SELECT customer_id, rank, revenue, NULL, NULL, NULL, NULL FROM crm.pareto)) x)
    + (SELECT count(*) FROM crm.pareto WHERE top_20pct_share IS NULL OR top_20pct_share <= top_5pct_share
           OR (rank = 1 AND revenue IS DISTINCT FROM (SELECT max(total_spend) FROM order_customers))),
    0::bigint, 'crm.pareto: every customer with orders, ranked, with the cumulative and top 5% and 20% shares of the recompute');
SELECT is((SELECT count(*) FROM crm.pareto), (SELECT count(*) FROM order_customers), 'crm.pareto: a row per customer with orders');

-- crm.segment_summary: customers and revenue per segment (assignments of
-- two schemes, one segment of customers without orders only)
INSERT INTO crm.customer_segments (customer_id, scheme, label)
SELECT g, 'tiers', CASE WHEN g > 590 THEN 'none' ELSE (ARRAY['a', 'b', 'c'])[1 + g % 3] END FROM generate_series(1, 600) g
UNION ALL SELECT g, 'rfm_segments', c.segment FROM generate_series(1, 600, 2) g JOIN crm.customers c ON c.customer_id = g;
SELECT is((SELECT count(*) FROM ((SELECT * FROM crm.segment_summary EXCEPT ALL
    SELECT x.scheme, x.label, x.customers, x.revenue,
           round(100.0 * x.customers / sum(x.customers) OVER (PARTITION BY x.scheme), 2),
           round(100.0 * x.revenue / nullif(sum(x.revenue) OVER (PARTITION BY x.scheme), 0), 2), x.average_value
    FROM (SELECT cs.scheme, cs.label, count(*) AS customers, coalesce(sum(oc.total_spend), 0) AS revenue,
                 round(avg(oc.total_spend), 2) AS average_value
          FROM crm.customer_segments cs LEFT JOIN order_customers oc USING (customer_id) GROUP BY 1, 2) x)
    UNION ALL (SELECT cs.scheme, cs.label, NULL::bigint, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric
               FROM crm.customer_segments cs GROUP BY 1, 2
               EXCEPT ALL SELECT scheme, label, NULL, NULL, NULL, NULL, NULL FROM crm.segment_summary)) x)
    + CASE WHEN (SELECT count(*) FROM crm.segment_summary) > 5 AND (SELECT revenue FROM crm.segment_summary WHERE label = 'none') = 0 THEN 0 ELSE 1 END,
    0::bigint, 'crm.segment_summary: customers, revenue, shares and average value per segment equal the recompute from the orders');

-- crm.model_validation reads every customer's days, sealed ones too
SET LOCAL crm.as_of = '2026-01-31';
SELECT is((SELECT customers FROM crm.model_validation),
          (SELECT count(*) FROM order_customers WHERE first_purchase <= DATE '2025-12-31'),
    'crm.model_validation: every customer who had bought by the calibration end, the sealed histories among them');

SELECT * FROM finish();
ROLLBACK;
