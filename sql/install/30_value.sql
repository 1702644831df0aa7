-- ---------------------------------------------------------------------
-- Textbook value formulas (src/value.c)
-- ---------------------------------------------------------------------

CREATE FUNCTION crm.clv(margin double precision, retention double precision,
                        discount_rate double precision, horizon integer,
                        acquisition_cost double precision DEFAULT 0)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'clv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv(double precision, double precision, double precision, integer, double precision) IS
    'Lifetime value with constant margin and retention: sum over t = 0..horizon of margin * retention^t / (1 + discount_rate)^t, minus acquisition_cost';

CREATE FUNCTION crm.clv(price double precision[], cost double precision[], survival double precision[],
                        discount_rate double precision, acquisition_cost double precision DEFAULT 0)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'clv_series' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv(double precision[], double precision[], double precision[], double precision, double precision) IS
    'Lifetime value per period: sum over t of (price[t] - cost[t]) * survival[t] / (1 + discount_rate)^t, minus acquisition_cost; element 1 is period 0';

CREATE FUNCTION crm.current_value(profit double precision, periods integer, discount_rate double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'current_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.current_value(double precision, integer, double precision) IS
    'Current value: the last period''s profit continued for periods more periods, present-valued: sum over t = 1..periods of profit / (1 + discount_rate)^t';

CREATE FUNCTION crm.potential_value(margin double precision, retention double precision,
                                    discount_rate double precision, horizon integer,
                                    margin_uplift double precision, retention_uplift double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'potential_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.potential_value(double precision, double precision, double precision, integer, double precision, double precision) IS
    'Potential value: clv with margin * (1 + margin_uplift) and retention + retention_uplift (at most 1), minus clv as things are';

CREATE FUNCTION crm.profitability(revenue double precision, discounts double precision DEFAULT 0,
                                  cost_of_goods double precision DEFAULT 0,
                                  order_cost double precision DEFAULT 0,
                                  marketing_cost double precision DEFAULT 0,
                                  technical_cost double precision DEFAULT 0,
                                  admin_cost double precision DEFAULT 0,
                                  OUT gross_margin double precision, OUT cost_to_serve double precision,
                                  OUT profit double precision, OUT profitable boolean)
    RETURNS record
    AS 'MODULE_PATHNAME', 'profitability' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.profitability(double precision, double precision, double precision, double precision, double precision, double precision, double precision) IS
    'Customer profitability: gross margin (revenue - discounts - cost of goods) minus cost to serve (order + marketing + technical + admin), and whether it is positive';

CREATE FUNCTION crm.should_abandon(redevelopment_cost double precision, long_term_value double precision)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'should_abandon' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.should_abandon(double precision, double precision) IS
    'The life-cycle rule for a declining customer: abandon (true) when redevelopment costs more than the long-term value, else redevelop';
