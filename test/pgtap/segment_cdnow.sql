-- Segments on CDNOW: the Pareto view against plain SQL, segment
-- assignments and their summary, and the SQLSTATEs of bad input.
\ir setup.psql
\ir cdnow.psql
SELECT plan(9);

INSERT INTO crm.customers (customer_id, summary)
SELECT customer_id, summarize(purchased_at, amount) FROM cdnow GROUP BY 1;

SELECT is((SELECT max(cumulative_revenue_share) FROM crm.pareto), 100.0000::numeric,
          'the cumulative revenue shares reach 100%');
SELECT is((SELECT count(*) FROM crm.pareto), 2357::bigint, 'every CDNOW customer is ranked');
SELECT is((SELECT DISTINCT top_20pct_share FROM crm.pareto),
          (SELECT round(100.0 * sum(v) FILTER (WHERE rn <= ceil(0.2 * n)) / sum(v), 2)
           FROM (SELECT sum(amount) AS v, row_number() OVER (ORDER BY sum(amount) DESC, customer_id) AS rn,
                        count(*) OVER () AS n
                 FROM cdnow GROUP BY customer_id) x),
          'the top 20% share equals a plain-SQL computation from the raw orders');
SELECT is((SELECT DISTINCT top_5pct_share FROM crm.pareto),
          (SELECT round(100.0 * sum(v) FILTER (WHERE rn <= ceil(0.05 * n)) / sum(v), 2)
           FROM (SELECT sum(amount) AS v, row_number() OVER (ORDER BY sum(amount) DESC, customer_id) AS rn,
                        count(*) OVER () AS n
                 FROM cdnow GROUP BY customer_id) x),
          'and so does the top 5% share');
SELECT ok(abs((SELECT max(top_20pct_share) / 100 FROM crm.pareto)
              - pareto_share((SELECT array_agg(total_spend(summary)::float8) FROM crm.customers), 0.2)) < 1e-4,
          'crm.pareto_share gives the same top-20% share');

-- RFM segments for every customer, and their summary
INSERT INTO crm.customer_segments (customer_id, scheme, label)
SELECT customer_id, 'rfm_segments', rfm_segment(rfm_score(summary, c))
FROM crm.customers, (SELECT rfm_quantiles(summary, '1997-09-30') AS c FROM crm.customers) q;
SELECT is((SELECT sum(customers) FROM crm.segment_summary WHERE scheme = 'rfm_segments'), 2357::numeric,
          'every customer has an RFM segment');
SELECT ok((SELECT abs(sum(share_of_customers) - 100) < 0.1 AND abs(sum(share_of_revenue) - 100) < 0.1
           FROM crm.segment_summary WHERE scheme = 'rfm_segments'),
          'segment shares of customers and of revenue add up to 100%');

SELECT throws_ok($$SELECT crm.segment('no_such_scheme', '{1}')$$, '22023', 'unknown segment scheme "no_such_scheme"',
                 'an unknown scheme: 22023');
SELECT throws_ok($$SELECT crm.segment('rfm_segments', '{1}')$$, '22023', NULL, 'the wrong number of features: 22023');

SELECT * FROM finish();
ROLLBACK;
