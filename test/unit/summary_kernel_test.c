/*
 * summary_kernel_test.c
 *	  Unit tests of src/summary_kernel.c, without a server.  TAP output.
 *
 * The randomized cases compare the kernel with a deliberately naive
 * reference (a day-indexed table filled transaction by transaction), so an
 * error in sorting, folding or merging cannot hide behind itself.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "summary_kernel.h"
#include "tap.h"

/* xorshift64*: deterministic, good enough for test cases */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static int
rng_int(int n)
{
	return (int) (rng() % (uint64_t) n);
}

typedef struct Tx
{
	int32_t		day;
	crm_money	amount;
} Tx;

/* naive reference: days 0..RANGE-1 in a table */
#define RANGE 60

static int
reference(const Tx *tx, int n, SummaryDay *out)
{
	int32_t		purchases[RANGE] = {0};
	crm_money	amount[RANGE] = {0};
	int			seen[RANGE] = {0};
	int			i,
				k = 0;

	for (i = 0; i < n; i++)
	{
		seen[tx[i].day] = 1;
		amount[tx[i].day] += tx[i].amount;
		if (tx[i].amount >= 0)
			purchases[tx[i].day]++;
	}
	for (i = 0; i < RANGE; i++)
	{
		if (!seen[i] || (purchases[i] == 0 && amount[i] == 0))
			continue;
		out[k].day = i;
		out[k].purchases = purchases[i];
		out[k].amount = amount[i];
		k++;
	}
	return k;
}

/*
 * What the aggregate's transition does: append into a run that starts
 * small, normalizing and doubling it when full (summary.c, state_add).
 */
static int
accumulate(const Tx *tx, int n, SummaryDay *out)
{
	int			k = 0;
	int			capacity = 2;
	bool		normalized = true;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (k == capacity)
		{
			summary_normalize(out, &k);
			normalized = true;
			if (k == capacity)
				capacity *= 2;
		}
		summary_append(out, &k, &normalized, tx[i].day, tx[i].amount);
	}
	if (!normalized)
		summary_normalize(out, &k);
	return k;
}

static int
same(const SummaryDay *a, int na, const SummaryDay *b, int nb)
{
	return na == nb && memcmp(a, b, na * sizeof(SummaryDay)) == 0;
}

static void
random_transactions(Tx *tx, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		tx[i].day = rng_int(RANGE);
		/* one in five is a refund; some amounts are zero */
		tx[i].amount = (crm_money) rng_int(200000) - (rng_int(5) == 0 ? 200000 : 0);
		if (rng_int(20) == 0)
			tx[i].amount = 0;
	}
}

static void
test_money(void)
{
	char		buf[CRM_MONEY_MAXLEN];
	const char *end;
	crm_money	m;
	static const char *const good[] = {"0", "1", "-1", "29.33", "0.0001", "-0.5",
	"922337203685477.5807", "-922337203685477.5808", "123456789.1234"};
	static const char *const bad[] = {"", "-", ".5", "1.", "1.23456", "abc",
	"922337203685477.5808", "-922337203685477.5809", "99999999999999999999"};
	size_t		i;
	int			all = 1;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
	{
		if (!crm_money_parse(good[i], &end, &m) || *end != '\0')
			all = 0;
		crm_money_format(m, buf);
		if (strcmp(buf, good[i]) != 0)
			all = 0;
	}
	ok(all, "canonical money texts parse and format back unchanged");

	all = 1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (crm_money_parse(bad[i], &end, &m))
			all = 0;
	ok(all, "malformed or out-of-range money texts are rejected");

	ok(crm_money_parse("29.30", &end, &m) && m == 293000 &&
	   crm_money_format(m, buf) > 0 && strcmp(buf, "29.3") == 0,
	   "29.30 is 293000 units and prints as 29.3");
	ok(crm_money_parse("+7:", &end, &m) && m == 70000 && *end == ':',
	   "parse stops at the first character after the number");

	ok(crm_money_from_double(29.33, &m) && m == 293300,
	   "29.33 as a double rounds to 293300 units");
	ok(crm_money_from_double(0.00005, &m) && m == 1 &&
	   crm_money_from_double(-0.00005, &m) && m == -1,
	   "half a unit rounds away from zero");
	ok(!crm_money_from_double(NAN, &m) && !crm_money_from_double(INFINITY, &m) &&
	   !crm_money_from_double(1e15, &m),
	   "NaN, infinity and 1e15 do not convert");

	/*
	 * crm_round_decimal: the digits of round(value::numeric, places), or
	 * undecided near a half; the expected digits worked out by hand
	 */
	{
		int64_t		d;

		ok(crm_round_decimal(0.123449, 4, &d) && d == 1234 &&
		   crm_round_decimal(0.123451, 4, &d) && d == 1235,
		   "round_decimal: either side of a half at the fourth decimal");
		ok(crm_round_decimal(-0.123451, 4, &d) && d == -1235 &&
		   crm_round_decimal(-0.00004, 4, &d) && d == 0,
		   "round_decimal: negative values round away from zero, small ones to 0");
		ok(crm_round_decimal(0.99996, 4, &d) && d == 10000 &&
		   crm_round_decimal(1.0, 4, &d) && d == 10000 && crm_round_decimal(0.0, 4, &d) && d == 0,
		   "round_decimal: 0.99996 carries to 1.0000; 0 and 1 exactly");
		ok(crm_round_decimal(2.5, 0, &d) == false && crm_round_decimal(0.12345, 4, &d) == false &&
		   crm_round_decimal(0.12345000001, 4, &d) == false,
		   "round_decimal: a half, or within 1e-6 of one, is left undecided (the text way decides)");
		ok(crm_round_decimal(3.7, 0, &d) && d == 4 && crm_round_decimal(12345.678, 2, &d) && d == 1234568,
		   "round_decimal: other places");
		ok(!crm_round_decimal(NAN, 4, &d) && !crm_round_decimal(INFINITY, 4, &d) &&
		   !crm_round_decimal(1e4, 4, &d) && !crm_round_decimal(0.5, 9, &d) && !crm_round_decimal(0.5, -1, &d),
		   "round_decimal: NaN, infinity, 1e8 scaled or more, places outside 0..8 are undecided");
	}
}

static void
test_days(void)
{
	SummaryDay	d = {10, 0, 0};
	SummaryDay	before;

	summary_day_add(&d, 50000);
	summary_day_add(&d, -20000);
	ok(d.purchases == 1 && d.amount == 30000,
	   "a purchase and a refund on one day: one purchase, net amount");
	before = d;
	/* taking out a free order would leave refunds only with +3.00 net */
	ok(summary_day_remove(&d, 0) == SUMMARY_NOT_PRESENT &&
	   d.purchases == 1 && d.amount == 30000,
	   "a removal that leaves a refund-only day with a positive amount is refused, day unchanged");
	d.purchases = 0;
	d.amount = -20000;
	ok(summary_day_remove(&d, 100) == SUMMARY_NOT_PRESENT &&
	   d.purchases == 0 && d.amount == -20000,
	   "removing a purchase from a refund-only day is refused, day unchanged");
	d = before;
	ok(summary_day_remove(&d, 50000) == SUMMARY_OK && d.purchases == 0 && d.amount == -20000 &&
	   summary_day_remove(&d, -20000) == SUMMARY_OK && summary_day_is_empty(&d),
	   "removing both transactions empties the day");

	d.day = 1;
	d.purchases = 0;
	d.amount = INT64_MAX - 5;
	ok(summary_day_add(&d, 10) == SUMMARY_MONEY_OVERFLOW && d.amount == INT64_MAX - 5,
	   "an overflowing amount is reported and leaves the day unchanged");
}

static void
test_random(void)
{
	Tx			tx[200];
	SummaryDay	ref[RANGE],
				a[400],
				b[200];
	int			trial,
				all_norm = 1,
				all_merge = 1,
				all_remove = 1,
				all_assoc = 1;

	for (trial = 0; trial < 2000; trial++)
	{
		int			n = 1 + rng_int(200);
		int			nref,
					na,
					nb,
					split,
					i;
		Tx			shuffled[200];

		random_transactions(tx, n);
		nref = reference(tx, n, ref);

		/* any order of rows gives the same summary */
		memcpy(shuffled, tx, n * sizeof(Tx));
		for (i = n - 1; i > 0; i--)
		{
			int			j = rng_int(i + 1);
			Tx			t = shuffled[i];

			shuffled[i] = shuffled[j];
			shuffled[j] = t;
		}
		na = accumulate(shuffled, n, a);
		if (!same(a, na, ref, nref) || summary_validate(a, na) != SUMMARY_OK)
			all_norm = 0;

		/* a random split of the rows, summarized apart and merged */
		split = rng_int(n + 1);
		for (i = 0; i < n; i++)
			if (rng_int(2))
			{
				Tx			t = shuffled[i];

				shuffled[i] = shuffled[0];
				shuffled[0] = t;
			}
		na = accumulate(shuffled, split, a);
		nb = accumulate(shuffled + split, n - split, b);
		summary_merge_into(a, &na, b, nb);
		if (!same(a, na, ref, nref))
			all_merge = 0;

		/* merge is commutative: b + a too */
		na = accumulate(shuffled, split, a);
		summary_merge_into(b, &nb, a, na);
		if (!same(b, nb, ref, nref))
			all_assoc = 0;

		/* removing the first half's transactions leaves the second half */
		na = nref;
		memcpy(a, ref, nref * sizeof(SummaryDay));
		for (i = 0; i < split; i++)
		{
			bool		found;
			int			idx = summary_find_day(a, na, shuffled[i].day, &found);

			if (!found || summary_day_remove(&a[idx], shuffled[i].amount) != SUMMARY_OK)
			{
				all_remove = 0;
				break;
			}
			if (summary_day_is_empty(&a[idx]))
			{
				memmove(&a[idx], &a[idx + 1], (na - idx - 1) * sizeof(SummaryDay));
				na--;
			}
		}
		nb = reference(shuffled + split, n - split, b);
		if (!same(a, na, b, nb))
			all_remove = 0;
	}
	ok(all_norm, "2000 random histories: any row order gives the reference summary");
	ok(all_merge, "2000 random splits: merging the halves gives the summary of all rows");
	ok(all_assoc, "merge is commutative");
	ok(all_remove, "removing transactions is the exact inverse of adding them");
}

/*
 * A batch of order changes (the trigger path): from the summary of rows
 * [0, keep + drop), remove rows [keep, keep + drop) and add fresh rows, all
 * in one shuffled batch; the result must be the summary of the kept rows
 * plus the fresh ones.  Also: removing a transaction that is not there.
 */
static void
test_apply_changes(void)
{
	Tx			tx[300];
	SummaryDay	ref[RANGE],
				a[RANGE + 300];
	SummaryChange changes[300];
	SummaryDay	dropped[RANGE],
				whole[RANGE];
	int			trial,
				all_ok = 1,
				all_subtract = 1;

	for (trial = 0; trial < 2000; trial++)
	{
		int			keep = rng_int(100);
		int			drop = rng_int(100);
		int			fresh = rng_int(100);
		int			n = keep + drop + fresh;
		int			na,
					nref,
					i;

		random_transactions(tx, n);
		na = reference(tx, keep + drop, a);
		{
			/* subtracting the dropped rows' summary leaves the kept rows' */
			int			nw = na,
						nd = reference(tx + keep, drop, dropped),
						nk = reference(tx, keep, ref);

			memcpy(whole, a, na * sizeof(SummaryDay));
			if (summary_subtract_into(whole, &nw, dropped, nd) != SUMMARY_OK ||
				!same(whole, nw, ref, nk))
				all_subtract = 0;
		}
		for (i = 0; i < drop + fresh; i++)
		{
			const Tx   *t = &tx[keep + i];

			changes[i].day = t->day;
			changes[i].amount = t->amount;
			changes[i].remove = i < drop;
		}
		for (i = drop + fresh - 1; i > 0; i--)
		{
			int			j = rng_int(i + 1);
			SummaryChange c = changes[i];

			changes[i] = changes[j];
			changes[j] = c;
		}
		/* the reference: kept rows and fresh rows, without the dropped */
		memmove(&tx[keep], &tx[keep + drop], fresh * sizeof(Tx));
		nref = reference(tx, keep + fresh, ref);
		if (summary_apply_changes(a, &na, changes, drop + fresh) != SUMMARY_OK ||
			!same(a, na, ref, nref) || summary_validate(a, na) != SUMMARY_OK)
			all_ok = 0;
	}
	ok(all_ok, "2000 random batches of additions and removals give the summary of the rows that remain");
	ok(all_subtract, "subtracting a part's summary from the whole gives the rest's");

	{
		SummaryDay	days[4] = {{5, 1, 100000}, {9, 2, 50000}};
		int			n = 2;
		SummaryChange bad[2] = {{9, true, 50000}, {7, true, 10000}};
		SummaryChange refund[1] = {{6, true, -50000}};
		SummaryChange both[2] = {{5, true, 100000}, {5, false, 100000}};

		ok(summary_apply_changes(days, &n, bad, 2) == SUMMARY_NOT_PRESENT,
		   "removing an order from a day without purchases is refused");
		n = 2;
		days[0] = (SummaryDay) {5, 1, 100000};
		days[1] = (SummaryDay) {6, 0, -40000};
		ok(summary_apply_changes(days, &n, refund, 1) == SUMMARY_NOT_PRESENT,
		   "removing a larger refund than a refund-only day holds is refused");
		n = 2;
		days[0] = (SummaryDay) {5, 1, 100000};
		days[1] = (SummaryDay) {9, 2, 50000};
		ok(summary_apply_changes(days, &n, both, 2) == SUMMARY_OK && n == 2 &&
		   days[0].purchases == 1 && days[0].amount == 100000,
		   "an order removed and added back in one batch leaves the day as it was");
	}
}

/* date helpers for readable hand cases: days since 2000-01-01 */
static int32_t
ymd(int y, int m, int d)
{
	/* days from civil, proleptic Gregorian (H. Hinnant's algorithm) */
	int			era,
				yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468 - 10957;
}

static void
test_cdnow_customer_one(void)
{
	/* CDNOW sample customer 1 (master id 4): four purchase days */
	SummaryDay	days[4] = {
		{0, 1, 293300}, {0, 1, 297300}, {0, 1, 149600}, {0, 1, 264800}
	};
	SummaryStats st;
	int			n;

	days[0].day = ymd(1997, 1, 1);
	days[1].day = ymd(1997, 1, 18);
	days[2].day = ymd(1997, 8, 2);
	days[3].day = ymd(1997, 12, 12);
	ok(days[0].day == -1095, "1997-01-01 is day -1095 (checks the test's own calendar)");

	n = summary_cut(days, 4, ymd(1997, 9, 30));
	summary_stats(days, n, &st);
	/* x = 3 days - 1 = 2; t_x = 1997-08-02 - 1997-01-01 = 213 days = 30.43 weeks */
	ok(n == 3 && st.purchase_days == 3 &&
	   st.last_purchase - st.first_purchase == 213 &&
	   ymd(1997, 9, 30) - st.first_purchase == 272,
	   "as of 1997-09-30: x = 2, t_x = 213 days, T = 272 days");
	/* zbar = (29.73 + 14.96) / 2 = 22.345 */
	ok(st.repeat_total == 446900 && st.total == 740200,
	   "repeat spend 44.69 (zbar 22.345), total 74.02");
	ok(summary_cut(days, 4, ymd(1996, 12, 31)) == 0 &&
	   summary_cut(days, 4, ymd(1997, 1, 1)) == 1 &&
	   summary_cut(days, 4, ymd(2030, 1, 1)) == 4,
	   "cut counts the days on or before the date");
}

static void
test_refund_day(void)
{
	SummaryDay	days[3] = {{5, 1, 100000}, {6, 0, -40000}, {9, 2, 50000}};
	SummaryStats st;

	summary_stats(days, 3, &st);
	ok(st.purchase_days == 2 && st.purchases == 3 && st.total == 110000 &&
	   st.repeat_total == 50000 && st.first_purchase == 5 && st.last_purchase == 9,
	   "a refund-only day lowers total spend and is no purchase period");
	ok(summary_validate(days, 3) == SUMMARY_OK, "that run is valid");
	days[1].amount = 0;
	ok(summary_validate(days, 3) == SUMMARY_BAD_DAY,
	   "an empty day is invalid");
	days[1].amount = -1;
	days[2].day = 6;
	ok(summary_validate(days, 3) == SUMMARY_UNSORTED,
	   "repeated days are invalid");
}

static int
same_stats(const SummaryStats *a, const SummaryStats *b)
{
	return a->purchase_days == b->purchase_days && a->purchases == b->purchases &&
		a->total == b->total && a->repeat_total == b->repeat_total &&
		(a->purchase_days == 0 ||
		 (a->first_purchase == b->first_purchase && a->last_purchase == b->last_purchase &&
		  a->first_amount == b->first_amount));
}

/*
 * Sealed views against the full run: random runs (refund-only days
 * included), every seal point, as-of dates and ranges; stats of a
 * concatenation equal stats of the whole; what needs sealed days says so.
 */
static void
test_sealed_views(void)
{
	Tx			tx[200];
	SummaryDay	days[RANGE];
	int			trial,
				bad_concat = 0,
				bad_stats = 0,
				bad_range = 0,
				bad_sealed = 0,
				bad_valid = 0;

	for (trial = 0; trial < 300; trial++)
	{
		int			n = 1 + rng_int(200);
		int			nd,
					k;

		random_transactions(tx, n);
		nd = reference(tx, n, days);
		for (k = 0; k <= nd; k++)
		{
			SummaryStats head,
						tail,
						whole,
						got,
						want;
			SummaryView v;
			int32_t		through = k > 0 ? days[k - 1].day : -1;
			int64_t		as_of;

			summary_stats(days, k, &head);
			summary_stats(days + k, nd - k, &tail);
			summary_stats(days, nd, &whole);
			got = head;
			summary_stats_concat(&got, &tail);
			bad_concat += !same_stats(&got, &whole);
			bad_valid += summary_seal_validate(&head, through) != SUMMARY_OK;

			/* the row's view: sealed totals, the days after them */
			summary_view_init(&v, days + k, nd - k);
			v.sealed = head;
			v.through = through;
			v.known_after = through;
			for (as_of = through; as_of <= RANGE; as_of++)
			{
				summary_stats(days, summary_cut(days, nd, (int32_t) as_of), &want);
				bad_stats += summary_view_stats(&v, as_of, &got) != SUMMARY_OK || !same_stats(&got, &want);
			}
			bad_sealed += through > 0 && summary_view_stats(&v, through - 1, &got) != SUMMARY_SEALED;
			bad_sealed += through > 0 && summary_view_range(&v, through - 1, RANGE, &got) != SUMMARY_SEALED;

			/* the writer's view: the sealed days of a window lent back */
			summary_view_init(&v, days, nd);
			v.sealed = head;
			v.through = through;
			v.known_after = through - 10;
			for (as_of = through; as_of <= RANGE; as_of += 3)
			{
				int			lo = summary_cut(days, nd, (int32_t) (through - 10 + (as_of - through) / 2));
				int			hi = summary_cut(days, nd, (int32_t) as_of);

				summary_stats(days + lo, hi - lo, &want);
				bad_range += summary_view_range(&v, through - 10 + (as_of - through) / 2, as_of, &got) != SUMMARY_OK ||
					!same_stats(&got, &want);
				summary_stats(days, hi, &want);
				bad_stats += summary_view_stats(&v, as_of, &got) != SUMMARY_OK || !same_stats(&got, &want);
			}
		}
	}
	ok(bad_concat == 0, "stats of a run cut anywhere concatenate to the stats of the whole");
	ok(bad_valid == 0, "the stats of every prefix are valid sealed totals");
	ok(bad_stats == 0, "a sealed view answers as of every date on or after its seal as the full run does");
	ok(bad_range == 0, "a view lent the sealed days of a window answers for that window as the full run does");
	ok(bad_sealed == 0, "an as-of date or a window before the seal gives SUMMARY_SEALED");
}

static void
test_seal_rules(void)
{
	SummaryStats st;

	memset(&st, 0, sizeof(st));
	st.purchase_days = 2;
	st.purchases = 1;
	st.first_purchase = 1;
	st.last_purchase = 5;
	ok(summary_seal_validate(&st, 10) == SUMMARY_BAD_SEAL, "fewer purchases than purchase days is no history");
	st.purchases = 2;
	ok(summary_seal_validate(&st, 10) == SUMMARY_OK, "two purchases on days 1 and 5 sealed through 10 is");
	ok(summary_seal_validate(&st, 4) == SUMMARY_BAD_SEAL, "a last purchase after the seal date is not");
	st.purchase_days = 6;
	st.purchases = 6;
	ok(summary_seal_validate(&st, 10) == SUMMARY_BAD_SEAL, "six purchase days between days 1 and 5 are not");
	st.purchase_days = 1;
	st.purchases = 1;
	ok(summary_seal_validate(&st, 10) == SUMMARY_BAD_SEAL, "one purchase day with different first and last is not");
	memset(&st, 0, sizeof(st));
	st.total = -5;
	ok(summary_seal_validate(&st, 10) == SUMMARY_OK, "refunds only is a history");
	st.repeat_total = 1;
	ok(summary_seal_validate(&st, 10) == SUMMARY_BAD_SEAL, "but not with a repeat total");
	ok(summary_seal_point(SUMMARY_SEAL_FIRST, false) == 0 &&
	   summary_seal_point(SUMMARY_SEAL_FIRST + 1, false) == SUMMARY_SEAL_FIRST + 1 - SUMMARY_SEAL_KEEP &&
	   summary_seal_point(SUMMARY_SEAL_AGAIN, true) == 0 &&
	   summary_seal_point(SUMMARY_SEAL_AGAIN + 1, true) == SUMMARY_SEAL_AGAIN + 1 - SUMMARY_SEAL_KEEP,
	   "the writer seals beyond 64 days, or 16 once sealed, keeping the newest 4");
}

int
main(void)
{
	test_money();
	test_days();
	test_random();
	test_cdnow_customer_one();
	test_refund_day();
	test_apply_changes();
	test_sealed_views();
	test_seal_rules();
	return tap_done();
}
