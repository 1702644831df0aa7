-- ---------------------------------------------------------------------
-- Segmentation schemes (src/segment.c over src/segment_kernel.c)
-- ---------------------------------------------------------------------

CREATE TABLE crm.segment_schemes (
    scheme text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('grid', 'rules')),
    features text[] NOT NULL,
    domain_lo double precision[],
    domain_hi double precision[],
    default_label text,
    description text,
    version integer NOT NULL DEFAULT 0,
    changed_at timestamptz,
    changed_by name
);
COMMENT ON TABLE crm.segment_schemes IS
    'Segmentation schemes: a grid of cells over up to 4 features, or ordered rules; validated at commit, versioned';
COMMENT ON COLUMN crm.segment_schemes.features IS 'Feature names, in the order crm.segment() takes them';
COMMENT ON COLUMN crm.segment_schemes.domain_lo IS 'Grid: lower bound of each feature (NULL: unbounded); cells must tile the domain';
COMMENT ON COLUMN crm.segment_schemes.default_label IS 'Label when no cell or rule matches (NULL: the result is NULL)';

CREATE TABLE crm.segment_labels (
    scheme text NOT NULL REFERENCES crm.segment_schemes ON UPDATE CASCADE ON DELETE CASCADE,
    label text NOT NULL,
    position integer NOT NULL,
    action text,
    description text,
    PRIMARY KEY (scheme, label)
);
COMMENT ON TABLE crm.segment_labels IS 'The labels of each scheme, in display order, with the action the texts attach to them';
-- (default_label is checked with the rest of the scheme at commit: a
-- foreign key back to segment_labels would make the two tables a cycle,
-- which pg_dump warns about on every dump)

CREATE TABLE crm.segment_cells (
    scheme text NOT NULL,
    cell integer NOT NULL,
    label text NOT NULL,
    lo double precision[] NOT NULL,
    hi double precision[] NOT NULL,
    PRIMARY KEY (scheme, cell),
    FOREIGN KEY (scheme, label) REFERENCES crm.segment_labels ON UPDATE CASCADE ON DELETE CASCADE
);
COMMENT ON TABLE crm.segment_cells IS 'Grid cells: per feature the interval [lo, hi); the cells of a scheme must tile its domain';

CREATE TABLE crm.segment_rules (
    scheme text NOT NULL,
    rule integer NOT NULL,
    label text NOT NULL,
    conditions text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (scheme, rule),
    FOREIGN KEY (scheme, label) REFERENCES crm.segment_labels ON UPDATE CASCADE ON DELETE CASCADE
);
COMMENT ON TABLE crm.segment_rules IS
    'Ordered rules, first match wins; conditions ANDed, each "feature op number" (op: < <= > >= = <>); no condition: always';

CREATE TABLE crm.segment_scheme_versions (
    scheme text NOT NULL,
    version integer NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by name NOT NULL DEFAULT current_user,
    xact xid8 NOT NULL DEFAULT pg_current_xact_id(),
    definition jsonb NOT NULL,
    PRIMARY KEY (scheme, version)
);
COMMENT ON TABLE crm.segment_scheme_versions IS 'Every committed change of a scheme: who, when, and the whole definition';

CREATE FUNCTION crm.check_segment_scheme(scheme text) RETURNS void
    AS 'MODULE_PATHNAME', 'check_segment_scheme' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.check_segment_scheme(text) IS
    'Raise an error saying what is wrong if the scheme cannot be compiled (overlap, gap, unknown label or feature ...)';

-- at commit: validate every scheme touched, and record one version per transaction
CREATE FUNCTION crm.segment_scheme_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, crm
    AS $$
DECLARE
    s text := CASE WHEN TG_OP = 'DELETE' THEN OLD.scheme ELSE NEW.scheme END;
    v integer;
BEGIN
    IF NOT EXISTS (SELECT FROM crm.segment_schemes WHERE scheme = s) THEN
        RETURN NULL;
    END IF;
    PERFORM crm.check_segment_scheme(s);
    IF NOT EXISTS (SELECT FROM crm.segment_scheme_versions WHERE scheme = s AND xact = pg_current_xact_id()) THEN
        SELECT coalesce(max(version), 0) + 1 INTO v FROM crm.segment_scheme_versions WHERE scheme = s;
        INSERT INTO crm.segment_scheme_versions (scheme, version, definition)
        SELECT s, v, jsonb_build_object(
            'scheme', to_jsonb(ss) - 'version' - 'changed_at' - 'changed_by',
            'labels', (SELECT jsonb_agg(to_jsonb(l) - 'scheme' ORDER BY l.position) FROM crm.segment_labels l WHERE l.scheme = s),
            'cells', (SELECT jsonb_agg(to_jsonb(c) - 'scheme' ORDER BY c.cell) FROM crm.segment_cells c WHERE c.scheme = s),
            'rules', (SELECT jsonb_agg(to_jsonb(r) - 'scheme' ORDER BY r.rule) FROM crm.segment_rules r WHERE r.scheme = s))
        FROM crm.segment_schemes ss WHERE ss.scheme = s;
        UPDATE crm.segment_schemes SET version = v, changed_at = now(), changed_by = current_user WHERE scheme = s;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION crm.segment_scheme_changed() IS
    'Deferred constraint trigger: validates a changed scheme at commit and records its new version';
CREATE CONSTRAINT TRIGGER scheme_valid AFTER INSERT OR UPDATE OR DELETE ON crm.segment_schemes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crm.segment_scheme_changed();
CREATE CONSTRAINT TRIGGER scheme_valid AFTER INSERT OR UPDATE OR DELETE ON crm.segment_labels
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crm.segment_scheme_changed();
CREATE CONSTRAINT TRIGGER scheme_valid AFTER INSERT OR UPDATE OR DELETE ON crm.segment_cells
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crm.segment_scheme_changed();
CREATE CONSTRAINT TRIGGER scheme_valid AFTER INSERT OR UPDATE OR DELETE ON crm.segment_rules
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION crm.segment_scheme_changed();

CREATE FUNCTION crm.segment(scheme text, features double precision[]) RETURNS text
    AS 'MODULE_PATHNAME', 'segment' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.segment(text, double precision[]) IS
    'The label of the scheme''s cell or first rule the features fall in (a NULL feature matches nothing); the default label, or NULL, when none';
CREATE FUNCTION crm.explain_segment(scheme text, features double precision[], OUT label text, OUT reason text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'explain_segment' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.explain_segment(text, double precision[]) IS
    'crm.segment with the reason: the cell or rule that matched, with the feature values and thresholds';
CREATE FUNCTION crm.rank_cutoffs("values" double precision[], shares double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'rank_cutoffs' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rank_cutoffs(double precision[], double precision[]) IS
    'For each share s, the threshold t such that value >= t selects the top s of the values (ties at t included)';
CREATE FUNCTION crm.pareto_share("values" double precision[], top double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pareto_share' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.pareto_share(double precision[], double precision) IS
    'The share of the total held by the top fraction of the values (the 2/8 rule: top = 0.2)';

CREATE FUNCTION crm.copy_segment_scheme(source text, target text) RETURNS void LANGUAGE sql
    SET search_path = pg_catalog, crm
    AS $$
    INSERT INTO crm.segment_schemes (scheme, kind, features, domain_lo, domain_hi, default_label, description)
        SELECT target, kind, features, domain_lo, domain_hi, default_label, 'copy of ' || source
        FROM crm.segment_schemes WHERE scheme = source;
    INSERT INTO crm.segment_labels SELECT target, label, position, action, description FROM crm.segment_labels WHERE scheme = source;
    INSERT INTO crm.segment_cells SELECT target, cell, label, lo, hi FROM crm.segment_cells WHERE scheme = source;
    INSERT INTO crm.segment_rules SELECT target, rule, label, conditions FROM crm.segment_rules WHERE scheme = source;
$$;
COMMENT ON FUNCTION crm.copy_segment_scheme(text, text) IS 'Copy a scheme (for example a preset) under a new name to edit it';

-- ---------------------------------------------------------------------
-- Presets from the CRM texts (copy one to change it: see README)
-- ---------------------------------------------------------------------

INSERT INTO crm.segment_schemes (scheme, kind, features, domain_lo, domain_hi, default_label, description) VALUES
    ('rfm_segments', 'grid', '{recency_score,fm_score}', '{1,1}', '{6,6}', NULL,
     'RFM segments on recency score x the mean of frequency and monetary scores (1..5, rounded), after the common RFM segment chart'),
    ('value_loyalty', 'grid', '{value,loyalty}', NULL, NULL, NULL,
     'Value x loyalty 2x2 (features as percentile ranks 0..1, threshold 0.5)'),
    ('price_cost', 'grid', '{realized_price,cost_to_serve}', NULL, NULL, NULL,
     'Realized price x cost to serve 2x2 (features as ratios to the average, threshold 1)'),
    ('margin_cost', 'grid', '{gross_margin,cost_to_serve}', NULL, NULL, NULL,
     'Gross margin x cost to serve quadrants with their actions (ratios to the average, threshold 1)'),
    ('value_tiers', 'rules', '{profit,value_rank_share,potential_rank_share}', NULL, NULL, 'ordinary',
     'Value tiers: negative value, most valuable (top 5% by value), second tier (top 20% by potential), ordinary'),
    ('key_customers', 'rules', '{value_rank_share}', NULL, NULL, 'other',
     'The 2/8 rule: the top 20% by contribution are key customers'),
    ('utility_classes', 'rules', '{is_important,consumption_rank_share,non_residential,voltage_kv}', NULL, NULL, 'residential',
     'Utility customer classes, precedence important > large > general > residential'),
    ('service_priority', 'rules', '{is_vip,is_professional}', NULL, NULL, 'ordinary',
     'Service priority for queues: VIP > professional > ordinary');

INSERT INTO crm.segment_labels (scheme, label, position, action) VALUES
    ('rfm_segments', 'Champions', 1, 'reward; early adopters of new products'),
    ('rfm_segments', 'Loyal Customers', 2, 'upsell higher value products'),
    ('rfm_segments', 'Potential Loyalists', 3, 'offer membership or loyalty programme'),
    ('rfm_segments', 'New Customers', 4, 'onboarding support'),
    ('rfm_segments', 'Promising', 5, 'create brand awareness'),
    ('rfm_segments', 'Need Attention', 6, 'limited-time offers'),
    ('rfm_segments', 'About to Sleep', 7, 'reactivate with popular products'),
    ('rfm_segments', 'At Risk', 8, 'personal emails, win back'),
    ('rfm_segments', 'Can''t Lose Them', 9, 'win back; talk to them'),
    ('rfm_segments', 'Hibernating', 10, 'relevant offers at low cost'),
    ('rfm_segments', 'Lost', 11, 'revive interest or let go'),
    ('value_loyalty', 'Golden', 1, 'keep: high value, high loyalty'),
    ('value_loyalty', 'At Risk', 2, 'win loyalty: high value, low loyalty'),
    ('value_loyalty', 'Marginal', 3, 'grow value: low value, high loyalty'),
    ('value_loyalty', 'Don''t Over-Service', 4, 'serve at low cost'),
    ('price_cost', 'Carriage Trade', 1, 'high price, high cost to serve'),
    ('price_cost', 'Passive', 2, 'high price, low cost to serve'),
    ('price_cost', 'Aggressive', 3, 'low price, high cost to serve'),
    ('price_cost', 'Bargain Basement', 4, 'low price, low cost to serve'),
    ('margin_cost', 'protect', 1, 'high margin, low cost to serve'),
    ('margin_cost', 'maintain', 2, 'high margin, high cost to serve'),
    ('margin_cost', 'convert', 3, 'low margin, low cost to serve'),
    ('margin_cost', 'abandon', 4, 'low margin, high cost to serve'),
    ('value_tiers', 'negative value', 1, 'cannot cover their cost to serve'),
    ('value_tiers', 'most valuable', 2, 'about 5% of customers, about 40% of revenue'),
    ('value_tiers', 'second tier', 3, 'high potential, low current value'),
    ('value_tiers', 'ordinary', 4, 'the majority'),
    ('key_customers', 'key', 1, 'top 20% by contribution'),
    ('key_customers', 'other', 2, NULL),
    ('utility_classes', 'important', 1, 'government, hospital, finance, transport hub, data centre, large venue, key facility'),
    ('utility_classes', 'large', 2, 'top consumption share'),
    ('utility_classes', 'general', 3, 'non-residential, supply voltage <= 10 kV'),
    ('utility_classes', 'residential', 4, 'everyone else'),
    ('service_priority', 'VIP', 1, NULL),
    ('service_priority', 'professional', 2, NULL),
    ('service_priority', 'ordinary', 3, NULL);

-- rfm_segments: the 5 x 5 chart (R across, FM up), scores as [first, last + 1)
INSERT INTO crm.segment_cells (scheme, cell, label, lo, hi) VALUES
    ('rfm_segments', 1, 'Champions', '{4,4}', '{6,6}'),
    ('rfm_segments', 2, 'Loyal Customers', '{3,4}', '{4,6}'),
    ('rfm_segments', 3, 'Potential Loyalists', '{4,2}', '{6,4}'),
    ('rfm_segments', 4, 'New Customers', '{5,1}', '{6,2}'),
    ('rfm_segments', 5, 'Promising', '{4,1}', '{5,2}'),
    ('rfm_segments', 6, 'Need Attention', '{3,3}', '{4,4}'),
    ('rfm_segments', 7, 'About to Sleep', '{3,1}', '{4,3}'),
    ('rfm_segments', 8, 'At Risk', '{2,3}', '{3,6}'),
    ('rfm_segments', 9, 'At Risk', '{1,3}', '{2,4}'),
    ('rfm_segments', 10, 'Can''t Lose Them', '{1,4}', '{2,6}'),
    ('rfm_segments', 11, 'Hibernating', '{2,1}', '{3,3}'),
    ('rfm_segments', 12, 'Lost', '{1,1}', '{2,3}'),
    ('value_loyalty', 1, 'Golden', '{0.5,0.5}', '{Infinity,Infinity}'),
    ('value_loyalty', 2, 'At Risk', '{0.5,-Infinity}', '{Infinity,0.5}'),
    ('value_loyalty', 3, 'Marginal', '{-Infinity,0.5}', '{0.5,Infinity}'),
    ('value_loyalty', 4, 'Don''t Over-Service', '{-Infinity,-Infinity}', '{0.5,0.5}'),
    ('price_cost', 1, 'Carriage Trade', '{1,1}', '{Infinity,Infinity}'),
    ('price_cost', 2, 'Passive', '{1,-Infinity}', '{Infinity,1}'),
    ('price_cost', 3, 'Aggressive', '{-Infinity,1}', '{1,Infinity}'),
    ('price_cost', 4, 'Bargain Basement', '{-Infinity,-Infinity}', '{1,1}'),
    ('margin_cost', 1, 'protect', '{1,-Infinity}', '{Infinity,1}'),
    ('margin_cost', 2, 'maintain', '{1,1}', '{Infinity,Infinity}'),
    ('margin_cost', 3, 'convert', '{-Infinity,-Infinity}', '{1,1}'),
    ('margin_cost', 4, 'abandon', '{-Infinity,1}', '{1,Infinity}');

INSERT INTO crm.segment_rules (scheme, rule, label, conditions) VALUES
    ('value_tiers', 1, 'negative value', '{"profit < 0"}'),
    ('value_tiers', 2, 'most valuable', '{"value_rank_share <= 0.05"}'),
    ('value_tiers', 3, 'second tier', '{"potential_rank_share <= 0.2"}'),
    ('key_customers', 1, 'key', '{"value_rank_share <= 0.2"}'),
    ('utility_classes', 1, 'important', '{"is_important = 1"}'),
    ('utility_classes', 2, 'large', '{"consumption_rank_share <= 0.0001"}'),
    ('utility_classes', 3, 'general', '{"non_residential = 1","voltage_kv <= 10"}'),
    ('service_priority', 1, 'VIP', '{"is_vip = 1"}'),
    ('service_priority', 2, 'professional', '{"is_professional = 1"}');

-- check the presets now rather than at commit, so that nothing is pending
-- when CREATE EXTENSION returns (a DROP EXTENSION in the same transaction
-- would otherwise fail); the checks stay deferred for the caller's edits
SET CONSTRAINTS crm.scheme_valid IMMEDIATE;
SET CONSTRAINTS crm.scheme_valid DEFERRED;

-- pg_dump keeps the schemes a site adds; the presets come with the extension
SELECT pg_catalog.pg_extension_config_dump('crm.segment_schemes', $$WHERE scheme NOT IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority')$$);
SELECT pg_catalog.pg_extension_config_dump('crm.segment_labels', $$WHERE scheme NOT IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority')$$);
SELECT pg_catalog.pg_extension_config_dump('crm.segment_cells', $$WHERE scheme NOT IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority')$$);
SELECT pg_catalog.pg_extension_config_dump('crm.segment_rules', $$WHERE scheme NOT IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority')$$);
SELECT pg_catalog.pg_extension_config_dump('crm.segment_scheme_versions', $$WHERE NOT (version = 1 AND scheme IN ('rfm_segments', 'value_loyalty', 'price_cost', 'margin_cost', 'value_tiers', 'key_customers', 'utility_classes', 'service_priority'))$$);

-- the RFM segment of an RFM value: FM = round((F + M) / 2), on the 1..5
-- scale only; the order trigger and crm.score_customers() classify with
-- the same C function (src/segment.c)
CREATE FUNCTION crm.rfm_segment(r crm.rfm) RETURNS text
    AS 'MODULE_PATHNAME', 'rfm_segment' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_segment(crm.rfm) IS
    'The rfm_segments label of a 1..5 RFM value (recency score x rounded mean of frequency and monetary scores); NULL on another scale';

-- ---------------------------------------------------------------------
-- Segment assignments and views for BI
-- ---------------------------------------------------------------------

CREATE TABLE crm.customer_segments (
    customer_id bigint NOT NULL,
    scheme text NOT NULL,
    label text,
    reason text,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, scheme)
);
COMMENT ON TABLE crm.customer_segments IS 'Each customer''s segment per scheme, as last assigned';
SELECT pg_catalog.pg_extension_config_dump('crm.customer_segments', '');

CREATE VIEW crm.segment_summary AS
SELECT cs.scheme, cs.label,
       count(*) AS customers,
       coalesce(sum(c.total_spend), 0) AS revenue,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY cs.scheme), 2) AS share_of_customers,
       round(100.0 * coalesce(sum(c.total_spend), 0)
             / nullif(sum(coalesce(sum(c.total_spend), 0)) OVER (PARTITION BY cs.scheme), 0), 2) AS share_of_revenue,
       round(avg(c.total_spend), 2) AS average_value
FROM crm.customer_segments cs LEFT JOIN crm.customers c USING (customer_id)
GROUP BY cs.scheme, cs.label;
COMMENT ON VIEW crm.segment_summary IS 'Customers and revenue per segment of each scheme (order by scheme, revenue desc)';
COMMENT ON COLUMN crm.segment_summary.scheme IS 'Segmentation scheme';
COMMENT ON COLUMN crm.segment_summary.label IS 'Segment';
COMMENT ON COLUMN crm.segment_summary.customers IS 'Customers in the segment';
COMMENT ON COLUMN crm.segment_summary.revenue IS 'Their total net spend';
COMMENT ON COLUMN crm.segment_summary.share_of_customers IS 'Percent of the scheme''s customers';
COMMENT ON COLUMN crm.segment_summary.share_of_revenue IS 'Percent of the scheme''s revenue';
COMMENT ON COLUMN crm.segment_summary.average_value IS 'Average net spend per customer';

CREATE VIEW crm.pareto AS
-- one sort of the customers by revenue (the kept crm.customers.total_spend,
-- no summary read) numbers them and sums their revenue as it goes; the
-- shares of the top 5% and 20% are that running sum at their last rank,
-- computed once (MATERIALIZED), not per row; LIMIT 1 (ranks are unique)
-- stops each at its rank instead of reading the other ranks for a second
WITH ranked AS (
    SELECT c.customer_id, c.total_spend AS revenue,
           row_number() OVER w AS rank, sum(c.total_spend) OVER w AS cumulative
    FROM crm.customers c WHERE c.summary IS NOT NULL
    WINDOW w AS (ORDER BY c.total_spend DESC, c.customer_id ROWS UNBOUNDED PRECEDING)
),
totals AS MATERIALIZED (
    SELECT t.n, t.total,
           round(100.0 * (SELECT r.cumulative FROM ranked r WHERE r.rank = t.top5_rank LIMIT 1) / nullif(t.total, 0), 2) AS top_5pct_share,
           round(100.0 * (SELECT r.cumulative FROM ranked r WHERE r.rank = t.top20_rank LIMIT 1) / nullif(t.total, 0), 2) AS top_20pct_share
    FROM (SELECT count(*) AS n, sum(r.revenue) AS total,
                 ceil(0.05 * count(*))::bigint AS top5_rank, ceil(0.20 * count(*))::bigint AS top20_rank
          FROM ranked r) t
)
SELECT r.customer_id, r.rank, r.revenue,
       round(100.0 * r.rank / t.n, 4) AS customer_share,
       round(100.0 * r.cumulative / nullif(t.total, 0), 4) AS cumulative_revenue_share,
       t.top_5pct_share, t.top_20pct_share
FROM ranked r CROSS JOIN totals t;
COMMENT ON VIEW crm.pareto IS 'Customers ranked by revenue with the cumulative share of revenue, and the shares held by the top 5% and 20%';
COMMENT ON COLUMN crm.pareto.customer_id IS 'Customer';
COMMENT ON COLUMN crm.pareto.rank IS 'Rank by revenue, 1 = highest';
COMMENT ON COLUMN crm.pareto.revenue IS 'Total net spend';
COMMENT ON COLUMN crm.pareto.customer_share IS 'Percent of customers ranked at or above';
COMMENT ON COLUMN crm.pareto.cumulative_revenue_share IS 'Percent of revenue held by customers ranked at or above';
COMMENT ON COLUMN crm.pareto.top_5pct_share IS 'Percent of revenue held by the top 5% of customers';
COMMENT ON COLUMN crm.pareto.top_20pct_share IS 'Percent of revenue held by the top 20% of customers (the 2/8 rule)';

-- a change of a scheme reaches the order trigger's copy (05_config.sql)
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.segment_schemes
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.segment_labels
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.segment_cells
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.segment_rules
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
