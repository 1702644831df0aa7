-- The order trigger's own day and amount arithmetic (issue 15, the COPY
-- path): a timestamptz is turned into a day in the business time zone with
-- the zone looked up once per statement, a uuid key written out as text by
-- the trigger itself, and an integer amount column with a scale read as an
-- integer.  Each order here is its own customer, so a customer's first
-- purchase is its order's day; the expected values are PostgreSQL's own
-- (timezone(zone, ts)::date, uuid::text, numeric division) written out in
-- plain SQL.
\ir setup.psql
SELECT plan(12);

SET crm.as_of = '2030-06-30';
SET client_min_messages = warning;
-- no BTYD model fitted by the first contact (not what is tested here)
INSERT INTO crm.settings VALUES ('btyd_min_repeat_buyers', '1000000');

CREATE TEMP TABLE zone_results (zone text, orders bigint, wrong bigint);
-- fixed abbreviations (UTC, EST), named zones with daylight saving time, a
-- half-hour zone and one whose daylight shift is half an hour; orders from
-- before 1900 (local mean time) to 2100, every 37 minutes over a year of
-- DST changes, written from a session in yet another zone
DO $$
DECLARE
    z text;
BEGIN
    FOREACH z IN ARRAY ARRAY['UTC', 'EST', 'America/Los_Angeles', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Europe/Dublin'] LOOP
        PERFORM crm.set_business_time_zone(z);
        CREATE TABLE public.zoned (customer text NOT NULL, at timestamptz NOT NULL, amount numeric NOT NULL);
        PERFORM crm.track_orders('public.zoned', 'customer', 'at', 'amount');
        SET LOCAL TimeZone = 'Asia/Tokyo';
        INSERT INTO public.zoned
        SELECT z || ' a' || i, timestamptz '2024-01-01 00:00+00' + i * interval '37 minutes 13 seconds', 1
        FROM generate_series(1, 1000) i;
        INSERT INTO public.zoned
        SELECT z || ' b' || i, timestamptz '1890-01-01 00:00+00' + i * interval '97 days 1 hour 3 minutes', 1
        FROM generate_series(1, 300) i;
        INSERT INTO public.zoned
        SELECT z || ' c' || i, timestamptz '2024-03-31 00:30+00' + i * interval '1 hour', 1
        FROM generate_series(1, 48) i;
        SET LOCAL TimeZone = 'UTC';
        INSERT INTO zone_results
        SELECT z, count(*), count(*) FILTER (WHERE crm.first_purchase(c.summary) IS DISTINCT FROM timezone(z, o.at)::date)
        FROM public.zoned o
        LEFT JOIN crm.customer_keys k ON k.app_key = o.customer
        LEFT JOIN crm.customers c ON c.customer_id = k.customer_id;
        PERFORM crm.untrack_orders('public.zoned', forget => true);
        DROP TABLE public.zoned;
    END LOOP;
END
$$;
SELECT is((SELECT wrong FROM zone_results WHERE zone = z), 0::bigint,
          format('every order of 1,348 on its day in %s', z))
FROM unnest(ARRAY['UTC', 'EST', 'America/Los_Angeles', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Europe/Dublin']) z;

-- uuid keys as the trigger writes them, and integer cents of each width
-- with a scale, against the same numbers divided in numeric; a scale past
-- the money's four decimals and a quoted column name take the general path
SELECT crm.set_business_time_zone('UTC') \gset
CREATE TABLE public.cents (id serial, who uuid NOT NULL, at date NOT NULL,
                           c8 bigint NOT NULL, c4 integer NOT NULL, c2 smallint NOT NULL, "Cents" bigint NOT NULL);
INSERT INTO public.cents (who, at, c8, c4, c2, "Cents")
SELECT gen_random_uuid(), date '2030-01-01' + i % 150, i * 7919 - 400000, i * 37 - 9000, (i % 600 - 300)::smallint, i * 13 - 5000
FROM generate_series(1, 700) i;
CREATE TABLE public.cents_copy (LIKE public.cents);
CREATE TABLE public.cents_int (LIKE public.cents);
CREATE TABLE public.cents_small (LIKE public.cents);
CREATE TABLE public.cents_fine (LIKE public.cents);
CREATE TABLE public.cents_quoted (LIKE public.cents);
SELECT crm.track_orders('public.cents_copy', 'who', 'at', 'c8', amount_scale => 2) \gset
SELECT crm.track_orders('public.cents_int', 'who', 'at', 'c4', amount_scale => 3) \gset
SELECT crm.track_orders('public.cents_small', 'who', 'at', 'c2', amount_scale => 1) \gset
SELECT crm.track_orders('public.cents_fine', 'who', 'at', 'c8', amount_scale => 6) \gset
SELECT crm.track_orders('public.cents_quoted', 'who', 'at', 'Cents', amount_scale => 2) \gset
-- one row each by INSERT ... SELECT: each table's orders are their own customers' (new uuids each)
INSERT INTO public.cents_copy SELECT * FROM public.cents;
INSERT INTO public.cents_int SELECT id, gen_random_uuid(), at, c8, c4, c2, "Cents" FROM public.cents;
INSERT INTO public.cents_small SELECT id, gen_random_uuid(), at, c8, c4, c2, "Cents" FROM public.cents;
INSERT INTO public.cents_fine SELECT id, gen_random_uuid(), at, c8, c4, c2, "Cents" FROM public.cents;
INSERT INTO public.cents_quoted SELECT id, gen_random_uuid(), at, c8, c4, c2, "Cents" FROM public.cents;

CREATE FUNCTION pg_temp.spend_wrong(tbl regclass, amount text) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    n bigint;
BEGIN
    EXECUTE format($q$SELECT count(*) FILTER (WHERE crm.total_spend(c.summary) IS DISTINCT FROM %s
)
                      FROM %s o LEFT JOIN crm.customer_keys k ON k.app_key = o.who::text
                      LEFT JOIN crm.customers c ON c.customer_id = k.customer_id$q$, amount, tbl) INTO n;
    RETURN n;
END
$f$;
SELECT is(pg_temp.spend_wrong('public.cents_copy', 'o.c8 / 100.0'), 0::bigint,
          'uuid keys found under their text, bigint cents with scale 2 exact');
SELECT is(pg_temp.spend_wrong('public.cents_int', 'o.c4 / 1000.0'), 0::bigint, 'integer amounts with scale 3 exact');
SELECT is(pg_temp.spend_wrong('public.cents_small', 'o.c2 / 10.0'), 0::bigint, 'smallint amounts with scale 1 exact');
SELECT is(pg_temp.spend_wrong('public.cents_fine', 'round(o.c8 / 1000000.0, 4)'), 0::bigint,
          'a scale of 6: rounded to the money''s four decimals as numeric division rounds');
SELECT is(pg_temp.spend_wrong('public.cents_quoted', 'o."Cents" / 100.0'), 0::bigint, 'a quoted column name with a scale');
SELECT is((SELECT count(*) FROM public.cents_copy o JOIN crm.customer_keys k ON k.app_key = o.who::text), 700::bigint,
          'every uuid key is in crm.customer_keys as uuid::text writes it');

SELECT * FROM finish();
ROLLBACK;
