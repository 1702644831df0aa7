-- crm.summary: the aggregate, maintenance functions and accessors
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;
SET search_path = public, crm;
SET datestyle = ISO;

CREATE TEMP TABLE tx (customer int, purchased_at date, amount numeric);
INSERT INTO tx VALUES
    -- customer 1: two orders on 01-10 are one purchase day
    (1, '2024-01-10', 20.00), (1, '2024-01-10', 5.00), (1, '2024-02-01', 30.00),
    (1, '2024-03-15', 10.00),
    -- customer 2: a refund on a purchase day, and a refund-only day
    (2, '2024-01-05', 100.00), (2, '2024-01-05', -40.00), (2, '2024-01-20', -10.00),
    -- customer 3: rows with NULLs are skipped
    (3, NULL, 10), (3, '2024-04-01', NULL), (3, '2024-04-02', 7.5),
    -- customer 4: only NULL rows
    (4, NULL, NULL),
    -- customer 5: refunds only
    (5, '2024-05-01', -3);

SELECT customer, summarize(purchased_at, amount) FROM tx GROUP BY 1 ORDER BY 1;

-- the accessors, as of 2024-04-01
SELECT customer,
       first_purchase(s), last_purchase(s), purchase_days(s), repeat_purchases(s),
       order_count(s), total_spend(s), mean_repeat_spend(s),
       days_since_last_purchase(s, '2024-04-01') AS recency
FROM (SELECT customer, summarize(purchased_at, amount) s FROM tx GROUP BY 1) q ORDER BY 1;

-- customer 1 by hand: x = 3 days - 1 = 2, zbar = (30 + 10) / 2 = 20,
-- as of 2024-03-01: x = 1, t_x = 22 days, T = 51 days (= 7.2857 weeks)
SELECT (btyd_triple(s, '2024-03-01')).*, (btyd_triple(s, '2024-03-01', '1 week')).*
FROM (SELECT summarize(purchased_at, amount) s FROM tx WHERE customer = 1) q;
SELECT btyd_triple(s, '2024-01-01') IS NULL AS before_first_purchase,
       days_since_last_purchase(s, '2024-01-09') IS NULL AS recency_before_first,
       as_of(s, '2024-02-01') AS as_of_feb_1
FROM (SELECT summarize(purchased_at, amount) s FROM tx WHERE customer = 1) q;

-- float8 amounts round to 1/10000, and integers resolve to float8
SELECT summarize(d, a) FROM (VALUES ('2024-01-01'::date, 0.1::float8), ('2024-01-01', 0.2), ('2024-01-02', 1.00005)) v(d, a);
SELECT summarize(d, a) FROM (VALUES ('2024-01-01'::date, 3), ('2024-01-02', 4)) v(d, a);

-- numeric amounts of every shape convert exactly (rounded half away from zero at 4 decimals)
SELECT count(*) AS amounts,
       count(*) FILTER (WHERE total_spend(add_transaction(NULL, '2024-01-01', n)) <> round(n, 4)) AS mismatches
FROM (SELECT (v * 10 ^ e)::numeric AS n
      FROM (VALUES (1.0), (-1.0), (0.123456789), (-98765.4321), (12345678.00005), (0.00005),
                   (-0.00005), (0.00004999), (9999.99995), (7)) a(v),
           generate_series(-8, 10) e) q
WHERE abs(n) < 9.2e14;
SELECT total_spend(add_transaction(NULL, '2024-01-01', n)) FROM (VALUES (0::numeric), (1e14), (-123.45678), (0.00001)) v(n);

-- add_transaction / remove_transaction / merge
SELECT add_transaction(NULL, '2024-01-10', 20.00::numeric);
SELECT add_transaction('{2024-01-10:20}', '2024-01-10', 5::numeric);
SELECT add_transaction('{2024-01-10:20}', '2024-01-01', -5::numeric);
SELECT add_transaction('{2024-01-10:20}', NULL, 5::numeric) AS null_date_changes_nothing;
SELECT add_transaction(NULL, NULL, 5::numeric) IS NULL AS null_stays_null;
SELECT remove_transaction('{2024-01-10:25x2}', '2024-01-10', 5::numeric);
SELECT remove_transaction('{2024-01-10:20}', '2024-01-10', 20::numeric) AS removed_to_empty;
SELECT remove_transaction('{2024-01-10:20,2024-01-11:-5x0}', '2024-01-11', -5::float8);
SELECT merge('{2024-01-10:20,2024-02-01:1}', '{2024-01-10:5,2024-01-20:-2x0}');
SELECT merge(NULL, '{2024-01-10:5}'), merge('{2024-01-10:5}', NULL), merge(NULL, NULL) IS NULL AS both_null;
SELECT summarize(s) FROM (VALUES ('{2024-01-10:20}'::summary), ('{2024-01-10:5,2024-03-01:1}'), (NULL), ('{}')) v(s);

-- merging the summaries of two halves equals the summary of all rows
SELECT bool_and(merge(a, b) = whole) AS halves_merge
FROM (SELECT customer,
             summarize(purchased_at, amount) FILTER (WHERE amount < 10) a,
             summarize(purchased_at, amount) FILTER (WHERE amount >= 10) b,
             summarize(purchased_at, amount) whole
      FROM tx WHERE purchased_at IS NOT NULL AND amount IS NOT NULL GROUP BY 1) q;

-- bad input: an ERROR naming the argument, with its SQLSTATE
\set VERBOSITY default
SELECT summarize(d, a) FROM (VALUES ('2024-01-01'::date, 'NaN'::numeric)) v(d, a);
SELECT summarize(d, a) FROM (VALUES ('2024-01-01'::date, 'Infinity'::float8)) v(d, a);
SELECT summarize(d, a) FROM (VALUES ('infinity'::date, 1::numeric)) v(d, a);
SELECT summarize(d, a) FROM (VALUES ('10000-01-01'::date, 1::numeric)) v(d, a);
SELECT summarize(d, a) FROM (VALUES ('2024-01-01'::date, 1e15::numeric)) v(d, a);
SELECT summarize(d, a) FROM (VALUES ('2024-01-01'::date, 9e14::numeric), ('2024-01-01', 9e14)) v(d, a);
SELECT btyd_triple('{2024-01-10:20}', '2024-02-01', '0 days');
SELECT btyd_triple('{2024-01-10:20}', '2024-02-01', '-1 week');
SELECT btyd_triple('{2024-01-10:20}', 'infinity', '1 day');
SELECT days_since_last_purchase('{2024-01-10:20}', '-infinity');
SELECT remove_transaction('{2024-01-10:20}', '2024-01-11', 20::numeric);
SELECT remove_transaction('{2024-01-10:20}', '2024-01-10', 0::numeric);
\set VERBOSITY terse

-- a failed statement changes nothing
CREATE TEMP TABLE stored AS SELECT 1 AS customer, '{2024-01-10:20}'::summary AS s;
UPDATE stored SET s = add_transaction(s, '2024-01-11', 'NaN'::numeric);
SELECT s FROM stored;

-- empty input gives NULL, like other aggregates
SELECT summarize(purchased_at, amount) IS NULL AS empty_is_null FROM tx WHERE false;
