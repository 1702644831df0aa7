/*
 * crm_gen.c
 *	  Deterministic synthetic customer base for the crm demo and benchmarks.
 *
 * Usage: crm_gen [-n customers] [-s seed] [-e YYYY-MM-DD]
 *				  [-p opportunities [-b share -d days]] -o dir
 *		  crm_gen [-n customers] [-s seed] [-e YYYY-MM-DD] -p opportunities
 *				  [-b share -d days] -H
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
 *
 * Sales opportunities (-p N): N opportunities of the customers, captured
 * at uniformly random times over the three years, or a share (-b, default
 * 0) of them over the last -d days (default 30: a campaign), each walked
 * through the default pipeline with these known probabilities (the
 * destination of a stay drawn first, then its length):
 *
 *	lead		 -> qualified 0.70, lost 0.30
 *	qualified	 -> presentation 0.75, lead 0.05, lost 0.20
 *	presentation -> negotiation 0.80, qualified 0.05, lost 0.15
 *	negotiation  -> bidding 0.80, presentation 0.05, lost 0.15
 *	bidding		 -> won 0.60, negotiation 0.10, lost 0.30
 *
 * so an opportunity entering lead, qualified, presentation, negotiation or
 * bidding ends won with probability 2016/8147, 2880/8147, 18528/40735,
 * 4452/8147 and 26667/40735 (0.2475, 0.3535, 0.4548, 0.5465, 0.6546;
 * solved by hand in test/unit/pipeline_kernel_test.c).  A stay lasts a
 * gamma(2) number of days with a mean depending on where it goes: forward
 * 14, 21, 28, 21 and 30 days (bidding -> won) from lead .. bidding, back
 * 14, lost 7, 12, 15, 12 and 20: losses come sooner than wins, as in life.
 * Amounts are lognormal around 10,000; the owner expects to close 30 to 90
 * days after capture (optimistic: most take longer), and never updates it.
 * It writes dir/opportunities.csv (opportunity_id, customer_id, owner,
 * amount, expected_close, stage, stage_since, created_at, close_reason) as
 * they stand at the end date, and dir/opportunity_history.csv
 * (opportunity_id, from_stage, to_stage, from_since, changed_at, amount,
 * expected_close, reason, changed_by) in time order, as crm's history
 * trigger writes them; with -H, only the history, to standard output.
 * Moves after the end date are not written: the later an opportunity was
 * captured, the likelier it is still open.  The opportunities use a random
 * stream of their own, so customers and orders are the same bytes with or
 * without them.
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

/* ---------------------------------------------------------------------
 * Sales opportunities
 * ---------------------------------------------------------------------
 */
enum
{
	LEAD, QUALIFIED, PRESENTATION, NEGOTIATION, BIDDING, WON, LOST, NSTAGES
};
static const char *const stage_name[NSTAGES] = {
	"lead", "qualified", "presentation", "negotiation", "bidding", "won", "lost"
};
/* where a stay in each open stage goes (the header comment) */
static const double move_p[BIDDING + 1][NSTAGES] = {
	{0, 0.70, 0, 0, 0, 0, 0.30},
	{0.05, 0, 0.75, 0, 0, 0, 0.20},
	{0, 0.05, 0, 0.80, 0, 0, 0.15},
	{0, 0, 0.05, 0, 0.80, 0, 0.15},
	{0, 0, 0, 0.10, 0, 0.60, 0.30}
};
static const char *const lost_reason[] = {"price", "competitor", "no budget", "no decision"};

typedef struct Opportunity
{
	int32_t		customer;
	int32_t		owner;
	int64_t		cents;
	int32_t		expected_close; /* day */
	int8_t		stage;			/* at the end date */
	int8_t		reason;			/* index into lost_reason, -1 none */
	int64_t		since;			/* seconds since 1970 */
	int64_t		created;
} Opportunity;

typedef struct Move
{
	int64_t		at;				/* seconds since 1970 */
	int64_t		since;
	int32_t		opp;			/* 1-based */
	int8_t		from;			/* -1: created */
	int8_t		to;
} Move;

static Opportunity *opps;
static Move *moves;
static size_t nmoves,
			moves_cap;

static void
add_move(int32_t opp, int from, int to, int64_t since, int64_t at)
{
	if (nmoves == moves_cap)
	{
		moves_cap = moves_cap ? moves_cap * 2 : 1 << 20;
		moves = realloc(moves, moves_cap * sizeof(Move));
		if (moves == NULL)
		{
			fprintf(stderr, "crm_gen: out of memory\n");
			exit(1);
		}
	}
	moves[nmoves].opp = opp;
	moves[nmoves].from = (int8_t) from;
	moves[nmoves].to = (int8_t) to;
	moves[nmoves].since = since;
	moves[nmoves].at = at;
	nmoves++;
}

static int
move_cmp(const void *a, const void *b)
{
	const Move *x = a;
	const Move *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return (x->opp > y->opp) - (x->opp < y->opp);
}

/* mean stay in days before a move from "from" to "to" */
static double
mean_stay(int from, int to)
{
	static const double forward[BIDDING + 1] = {14, 21, 28, 21, 30};
	static const double lost[BIDDING + 1] = {7, 12, 15, 12, 20};

	if (to == LOST)
		return lost[from];
	return to < from ? 14 : forward[from];
}

/* one opportunity captured at second "t", walked until it closes or the end */
static void
simulate_opportunity(int32_t id, int64_t t, int64_t end_sec, long ncustomers)
{
	Opportunity *o = &opps[id - 1];
	int			stage = LEAD;

	o->customer = 1 + (int32_t) (uniform() * ncustomers);
	o->owner = 1 + (int32_t) (uniform() * 20);
	o->cents = (int64_t) llround(1000000.0 * exp(0.8 * normal() - 0.32));
	o->expected_close = (int32_t) (t / 86400) + 30 + (int32_t) (uniform() * 60);
	o->created = t;
	o->reason = -1;
	add_move(id, -1, LEAD, t, t);
	for (;;)
	{
		double		u = uniform(),
					acc = 0;
		int			to;
		int64_t		at;

		for (to = 0; to < NSTAGES - 1; to++)
		{
			acc += move_p[stage][to];
			if (u < acc)
				break;
		}
		/* gamma(2) days: the sum of two exponentials of half the mean */
		at = t + (int64_t) (86400.0 * (exponential(2 / mean_stay(stage, to)) +
									   exponential(2 / mean_stay(stage, to))));
		if (at >= end_sec)
			break;
		add_move(id, stage, to, t, at);
		t = at;
		stage = to;
		if (to == LOST)
			o->reason = (int8_t) (uniform() * 4);
		if (to >= WON)
			break;
	}
	o->stage = (int8_t) stage;
	o->since = t;
}

static void
print_time(FILE *f, int64_t sec)
{
	int			y,
				m,
				d;
	int64_t		s = sec % 86400;

	civil_from_days((int32_t) (sec / 86400), &y, &m, &d);
	fprintf(f, "%04d-%02d-%02d %02d:%02d:%02d+00", y, m, d,
			(int) (s / 3600), (int) (s / 60 % 60), (int) (s % 60));
}

static void
print_day(FILE *f, int32_t day)
{
	int			y,
				m,
				d;

	civil_from_days(day, &y, &m, &d);
	fprintf(f, "%04d-%02d-%02d", y, m, d);
}

static void
print_cents(FILE *f, int64_t c)
{
	fprintf(f, "%lld.%02lld", (long long) (c / 100), (long long) (c % 100));
}

static void
write_opportunities(FILE *f, long n)
{
	long		i;

	for (i = 0; i < n; i++)
	{
		Opportunity *o = &opps[i];

		fprintf(f, "%ld,%d,rep%02d,", i + 1, o->customer, o->owner);
		print_cents(f, o->cents);
		fputc(',', f);
		print_day(f, o->expected_close);
		fprintf(f, ",%s,", stage_name[o->stage]);
		print_time(f, o->since);
		fputc(',', f);
		print_time(f, o->created);
		fprintf(f, ",%s\n", o->stage == WON ? "accepted" : o->reason >= 0 ? lost_reason[o->reason] : "");
	}
}

static void
write_history(FILE *f)
{
	size_t		i;

	for (i = 0; i < nmoves; i++)
	{
		const Move *m = &moves[i];
		const Opportunity *o = &opps[m->opp - 1];

		fprintf(f, "%d,%s,%s,", m->opp, m->from < 0 ? "" : stage_name[m->from], stage_name[m->to]);
		if (m->from >= 0)
			print_time(f, m->since);
		fputc(',', f);
		print_time(f, m->at);
		fputc(',', f);
		print_cents(f, o->cents);
		fputc(',', f);
		print_day(f, o->expected_close);
		fprintf(f, ",%s,rep%02d\n",
				m->to == WON ? "accepted" : m->to == LOST && o->reason >= 0 ? lost_reason[o->reason] : "",
				o->owner);
	}
}

/*
 * The opportunities, on a random stream of their own: captured over
 * [start, end], a share "burst" of them over the last burst_days days.
 */
static void
simulate_opportunities(long n, double burst, double burst_days, int32_t start, int32_t end,
					   long ncustomers, uint64_t seed)
{
	uint64_t	sm = seed ^ 0x6F70706F7274756EULL;	/* "opportun" */
	int64_t		end_sec = (int64_t) (end + 1) * 86400;
	long		i;

	for (i = 0; i < 4; i++)
		rng_s[i] = splitmix64(&sm);
	opps = calloc(n, sizeof(Opportunity));
	if (opps == NULL)
	{
		fprintf(stderr, "crm_gen: out of memory\n");
		exit(1);
	}
	for (i = 0; i < n; i++)
	{
		double		span = uniform() < burst ? burst_days : (double) (end + 1 - start);
		int64_t		t = end_sec - (int64_t) (uniform() * span * 86400);

		simulate_opportunity((int32_t) (i + 1), t, end_sec, ncustomers);
	}
	qsort(moves, nmoves, sizeof(Move), move_cmp);
}

static void
usage(void)
{
	fprintf(stderr, "usage: crm_gen [-n customers] [-s seed] [-e YYYY-MM-DD] [-p opportunities [-b share -d days]] -o dir\n"
			"       crm_gen [-n customers] [-s seed] [-e YYYY-MM-DD] -p opportunities [-b share -d days] -H\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	long		ncustomers = 50000;
	uint64_t	seed = 20240601;
	const char *dir = NULL;
	long		nopps = 0;
	double		burst = 0,
				burst_days = 30;
	int			history_only = 0;
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
		if (strcmp(argv[opt], "-H") == 0)
		{
			history_only = 1;
			continue;
		}
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
		else if (strcmp(argv[opt], "-p") == 0)
			nopps = strtol(argv[++opt], NULL, 10);
		else if (strcmp(argv[opt], "-b") == 0)
			burst = strtod(argv[++opt], NULL);
		else if (strcmp(argv[opt], "-d") == 0)
			burst_days = strtod(argv[++opt], NULL);
		else
			usage();
	}
	if ((dir == NULL) == !history_only || ncustomers < 1 || ncustomers > 100000000 ||
		nopps < 0 || nopps > 100000000 || (history_only && nopps == 0) ||
		!(burst >= 0 && burst <= 1) || !(burst_days > 0 && burst_days <= 3 * 365))
		usage();

	sm = seed;
	for (i = 0; i < 4; i++)
		rng_s[i] = splitmix64(&sm);
	end = days_from_civil(ey, em, ed);
	start = end - 3 * 365;
	if (history_only)
	{
		simulate_opportunities(nopps, burst, burst_days, start, end, ncustomers, seed);
		write_history(stdout);
		fprintf(stderr, "crm_gen: %ld opportunities, %zu history rows\n", nopps, nmoves);
		return 0;
	}

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
	if (nopps > 0)
	{
		simulate_opportunities(nopps, burst, burst_days, start, end, ncustomers, seed);
		snprintf(path, sizeof(path), "%s/opportunities.csv", dir);
		if ((out = fopen(path, "w")) == NULL)
		{
			fprintf(stderr, "crm_gen: cannot write %s: %s\n", path, strerror(errno));
			return 1;
		}
		write_opportunities(out, nopps);
		fclose(out);
		snprintf(path, sizeof(path), "%s/opportunity_history.csv", dir);
		if ((out = fopen(path, "w")) == NULL)
		{
			fprintf(stderr, "crm_gen: cannot write %s: %s\n", path, strerror(errno));
			return 1;
		}
		write_history(out);
		fclose(out);
		fprintf(stderr, "crm_gen: %ld opportunities, %zu history rows\n", nopps, nmoves);
	}
	return 0;
}
