/*
 * crm_gen.c
 *	  Deterministic synthetic customer base for the crm demo and benchmarks.
 *
 * Usage: crm_gen [-n customers] [-s seed] [-e YYYY-MM-DD] -o dir
 *
 * Writes dir/customers.csv (customer_id, archetype, acquired_on, alive,
 * dropped_on: the truth at the end of the data, whether the customer is
 * still buying at a rate of its own, and for one who dropped out the day it
 * did) and dir/orders.csv (customer_id, ordered_at, amount), orders in date
 * order as
 * an order table fills up in real life, so one customer's rows are spread
 * over the whole table.  The same arguments always give the same bytes.
 *
 * Every customer is acquired on a day and buys then; afterwards purchases
 * follow a Poisson process whose rate is the customer's own (gamma
 * distributed across customers) and whose shape depends on the archetype:
 *
 *	 new		acquired in the last 120 days, buying briskly (alive)
 *	 regular	steady rate until the end of the data (alive)
 *	 declining	rate halving every 180 days (alive, at a fading rate)
 *	 lapsed		steady rate until a dropout time, then nothing (dropped out
 *				on that day, at least 180 days before the end)
 *
 * Spend per order is lognormal around the customer's own mean (gamma
 * distributed across customers).  About 4% of orders are split into two
 * orders on the same day and about 3% are refunded, partly or wholly, a few
 * days later.  Over three years this averages about five orders per
 * customer.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Order
{
	int32_t		day;			/* days since 1970-01-01 */
	int32_t		customer;
	int64_t		cents;
} Order;

static const char *const archetype_name[] = {"new", "regular", "declining", "lapsed"};

/* xoshiro256** seeded through splitmix64 */
static uint64_t rng_s[4];

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
next_u64(void)
{
	uint64_t	result = rotl(rng_s[1] * 5, 7) * 9;
	uint64_t	t = rng_s[1] << 17;

	rng_s[2] ^= rng_s[0];
	rng_s[3] ^= rng_s[1];
	rng_s[1] ^= rng_s[2];
	rng_s[0] ^= rng_s[3];
	rng_s[2] ^= t;
	rng_s[3] = rotl(rng_s[3], 45);
	return result;
}

/* uniform in (0, 1) */
static double
uniform(void)
{
	return ((next_u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double
normal(void)
{
	return sqrt(-2.0 * log(uniform())) * cos(2.0 * M_PI * uniform());
}

/* Marsaglia & Tsang (2000), with the shape < 1 boost */
static double
gamma_variate(double shape, double scale)
{
	double		d,
				c;

	if (shape < 1.0)
		return gamma_variate(shape + 1.0, scale) * pow(uniform(), 1.0 / shape);
	d = shape - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;)
	{
		double		x = normal();
		double		v = 1.0 + c * x;
		double		u;

		if (v <= 0)
			continue;
		v = v * v * v;
		u = uniform();
		if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v * scale;
	}
}

static double
exponential(double rate)
{
	return -log(uniform()) / rate;
}

/* days since 1970-01-01 <-> civil date (H. Hinnant's algorithms) */
static int32_t
days_from_civil(int y, int m, int d)
{
	int			era,
				yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int32_t z, int *y, int *m, int *d)
{
	int			era,
				doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y += *m <= 2;
}

static Order *orders;
static size_t norders,
			capacity;

static void
add_order(int32_t day, int32_t customer, int64_t cents)
{
	if (norders == capacity)
	{
		capacity = capacity ? capacity * 2 : 1 << 20;
		orders = realloc(orders, capacity * sizeof(Order));
		if (orders == NULL)
		{
			fprintf(stderr, "crm_gen: out of memory\n");
			exit(1);
		}
	}
	orders[norders].day = day;
	orders[norders].customer = customer;
	orders[norders].cents = cents;
	norders++;
}

static int
order_cmp(const void *a, const void *b)
{
	const Order *x = a;
	const Order *y = b;

	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if (x->customer != y->customer)
		return x->customer < y->customer ? -1 : 1;
	return (x->cents > y->cents) - (x->cents < y->cents);
}

/* one order of the customer on "day", maybe split in two, maybe refunded */
static void
place_order(int32_t day, int32_t id, double mean_spend, int32_t end)
{
	double		amount = mean_spend * exp(0.5 * normal() - 0.125);
	int64_t		cents = (int64_t) llround(amount * 100.0);

	if (cents < 99)
		cents = 99;
	if (uniform() < 0.04)
	{
		int64_t		part = cents / 3;

		add_order(day, id, part);
		cents -= part;
	}
	add_order(day, id, cents);
	if (uniform() < 0.03)
	{
		int32_t		when = day + (int32_t) (uniform() * 30);
		int64_t		back = uniform() < 0.5 ? cents : cents / 2;

		if (when <= end)
			add_order(when, id, -back);
	}
}

static void
simulate_customer(int32_t id, int32_t start, int32_t end, FILE *cust)
{
	double		u = uniform();
	int			archetype = u < 0.10 ? 0 : u < 0.45 ? 1 : u < 0.65 ? 2 : 3;
	double		mean_spend = gamma_variate(3.0, 20.0);
	double		mean_gap[] = {35.0, 110.0, 60.0, 70.0};
	double		rate = gamma_variate(2.0, 1.0 / (2.0 * mean_gap[archetype]));
	int32_t		acquired;
	double		t,
				horizon;
	int			y,
				m,
				d;

	if (archetype == 0)
		acquired = end - 120 + (int32_t) (uniform() * 120);
	else
		acquired = start + (int32_t) (uniform() * (end - 180 - start));
	horizon = end - acquired;
	if (archetype == 3)
	{
		/* gone for at least the last 180 days */
		horizon = fmin(30.0 + uniform() * 420.0, horizon - 180.0);
	}

	civil_from_days(acquired, &y, &m, &d);
	fprintf(cust, "%d,%s,%04d-%02d-%02d,%s,", id, archetype_name[archetype], y, m, d,
			archetype == 3 ? "f" : "t");
	if (archetype == 3)
	{
		civil_from_days(acquired + (int32_t) horizon, &y, &m, &d);
		fprintf(cust, "%04d-%02d-%02d", y, m, d);
	}
	fputc('\n', cust);

	place_order(acquired, id, mean_spend, end);
	t = 0.0;
	for (;;)
	{
		t += exponential(rate);
		if (t > horizon)
			break;
		/* declining: thin the process so the rate halves every 180 days */
		if (archetype == 2 && uniform() > pow(0.5, t / 180.0))
			continue;
		place_order(acquired + (int32_t) t, id, mean_spend, end);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: crm_gen [-n customers] [-s seed] [-e YYYY-MM-DD] -o dir\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	long		ncustomers = 50000;
	uint64_t	seed = 20240601;
	const char *dir = NULL;
	int			ey = 2025,
				em = 12,
				ed = 31;
	int32_t		start,
				end;
	char		path[4096];
	FILE	   *cust,
			   *out;
	size_t		i;
	int			opt;
	uint64_t	sm;

	for (opt = 1; opt < argc; opt++)
	{
		if (opt + 1 >= argc)
			usage();
		if (strcmp(argv[opt], "-n") == 0)
			ncustomers = strtol(argv[++opt], NULL, 10);
		else if (strcmp(argv[opt], "-s") == 0)
			seed = strtoull(argv[++opt], NULL, 10);
		else if (strcmp(argv[opt], "-e") == 0)
		{
			if (sscanf(argv[++opt], "%d-%d-%d", &ey, &em, &ed) != 3)
				usage();
		}
		else if (strcmp(argv[opt], "-o") == 0)
			dir = argv[++opt];
		else
			usage();
	}
	if (dir == NULL || ncustomers < 1 || ncustomers > 100000000)
		usage();

	sm = seed;
	for (i = 0; i < 4; i++)
		rng_s[i] = splitmix64(&sm);
	end = days_from_civil(ey, em, ed);
	start = end - 3 * 365;

	snprintf(path, sizeof(path), "%s/customers.csv", dir);
	if ((cust = fopen(path, "w")) == NULL)
	{
		fprintf(stderr, "crm_gen: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (i = 1; i <= (size_t) ncustomers; i++)
		simulate_customer((int32_t) i, start, end, cust);
	fclose(cust);

	qsort(orders, norders, sizeof(Order), order_cmp);
	snprintf(path, sizeof(path), "%s/orders.csv", dir);
	if ((out = fopen(path, "w")) == NULL)
	{
		fprintf(stderr, "crm_gen: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (i = 0; i < norders; i++)
	{
		int			y,
					m,
					d;
		int64_t		c = orders[i].cents;

		civil_from_days(orders[i].day, &y, &m, &d);
		fprintf(out, "%d,%04d-%02d-%02d,%s%lld.%02lld\n", orders[i].customer, y, m, d,
				c < 0 ? "-" : "", (long long) (llabs(c) / 100), (long long) (llabs(c) % 100));
	}
	fclose(out);
	fprintf(stderr, "crm_gen: %ld customers, %zu orders\n", ncustomers, norders);
	free(orders);
	return 0;
}
