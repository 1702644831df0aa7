/*
 * rfm_kernel_test.c
 *	  Unit tests of src/rfm_kernel.c, without a server.  TAP output.
 */
#include <stdlib.h>
#include <string.h>

#include "rfm_kernel.h"
#include "tap.h"

static void
test_scores(void)
{
	RfmCuts		c = {5, {{30, 90, 180, 365}, {1, 2, 4, 8}, {500000, 1000000, 2500000, 10000000}}};

	/* recency: days <= 30 -> 5, 31..90 -> 4, ..., > 365 -> 1 */
	ok(rfm_score_dim(&c, RFM_RECENCY, 0) == 5 && rfm_score_dim(&c, RFM_RECENCY, 30) == 5 &&
	   rfm_score_dim(&c, RFM_RECENCY, 31) == 4 && rfm_score_dim(&c, RFM_RECENCY, 365) == 2 &&
	   rfm_score_dim(&c, RFM_RECENCY, 366) == 1,
	   "recency: fewer days score higher; a value on a cutpoint takes the better band");
	/* frequency: 1 -> 1, 2 -> 2, 3..4 -> 3, 5..8 -> 4, 9+ -> 5 */
	ok(rfm_score_dim(&c, RFM_FREQUENCY, 1) == 1 && rfm_score_dim(&c, RFM_FREQUENCY, 2) == 2 &&
	   rfm_score_dim(&c, RFM_FREQUENCY, 4) == 3 && rfm_score_dim(&c, RFM_FREQUENCY, 5) == 4 &&
	   rfm_score_dim(&c, RFM_FREQUENCY, 9) == 5,
	   "frequency: more scores higher; a value on a cutpoint takes the lower band");
	ok(rfm_score_dim(&c, RFM_MONETARY, -10000) == 1 && rfm_score_dim(&c, RFM_MONETARY, 500000) == 1 &&
	   rfm_score_dim(&c, RFM_MONETARY, 500001) == 2 && rfm_score_dim(&c, RFM_MONETARY, 99999999) == 5,
	   "monetary: negative spend scores 1, one unit above a cutpoint moves up");
}

static void
test_quantiles(void)
{
	int64_t		v[10] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
	int64_t		cut[8];
	int64_t		heavy[10] = {1, 1, 1, 1, 1, 1, 2, 2, 3, 7};
	RfmCuts		c = {5, {{0}}};
	int			counts[6] = {0};
	int			i;

	rfm_quantile_cuts(v, 10, 5, cut);
	ok(cut[0] == 2 && cut[1] == 4 && cut[2] == 6 && cut[3] == 8,
	   "quintile cutpoints of 1..10 are 2, 4, 6, 8 (positions ceil(j n / k))");
	rfm_quantile_cuts(v, 10, 3, cut);
	ok(cut[0] == 4 && cut[1] == 7, "tercile cutpoints of 1..10 are 4 and 7 (positions 4 and 7)");
	rfm_quantile_cuts(v, 1, 5, cut);
	ok(cut[0] == 1 && cut[3] == 1, "one customer: every cutpoint is its value");

	/* 60% buy once: cutpoints 1,1,1,2 at positions 2,4,6,8 */
	rfm_quantile_cuts(heavy, 10, 5, c.cut[RFM_FREQUENCY]);
	ok(c.cut[1][0] == 1 && c.cut[1][1] == 1 && c.cut[1][2] == 1 && c.cut[1][3] == 2,
	   "heavy ties repeat the cutpoint");
	for (i = 0; i < 10; i++)
		counts[rfm_score_dim(&c, RFM_FREQUENCY, heavy[i])]++;
	ok(counts[1] == 6 && counts[2] == 0 && counts[3] == 0 && counts[4] == 2 && counts[5] == 2,
	   "heavy ties: all six one-time buyers score 1, scores 2 and 3 stay empty, 2 scores 4");
	ok(rfm_cuts_ordered(c.cut[1], 4) && !rfm_cuts_ordered((int64_t[]) {3, 2}, 2),
	   "cutpoints must not decrease");
}

static int
cmp64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/* quantiles by selection equal the quantiles of the sorted array */
static void
test_selection(void)
{
	static int64_t v[5000],
				sorted[5000];
	uint64_t	state = 12345;
	int			trial,
				all = 1;

	for (trial = 0; trial < 300; trial++)
	{
		size_t		n = 1 + trial * 16 % 5000;
		int			k = 2 + trial % 8;
		int64_t		cut[8];
		size_t		i;
		int			j;

		for (i = 0; i < n; i++)
		{
			state = state * 6364136223846793005ULL + 1442695040888963407ULL;
			/* few distinct values on odd trials: heavy ties */
			v[i] = (int64_t) (state >> 33) % (trial % 2 ? 7 : 1000000) - 3;
			if (trial % 5 == 0)
				v[i] = (int64_t) i;	/* already sorted */
			if (trial % 5 == 1)
				v[i] = (int64_t) (n - i);	/* reversed */
			sorted[i] = v[i];
		}
		qsort(sorted, n, sizeof(int64_t), cmp64);
		rfm_quantile_cuts(v, n, k, cut);
		for (j = 1; j < k; j++)
		{
			size_t		pos = ((size_t) j * n + k - 1) / k;

			if (cut[j - 1] != sorted[pos > 0 ? pos - 1 : 0])
				all = 0;
		}
	}
	ok(all, "300 random arrays (ties, sorted, reversed): selected cutpoints equal the sorted array's quantiles");
}

int
main(void)
{
	test_scores();
	test_quantiles();
	test_selection();
	return tap_done();
}
