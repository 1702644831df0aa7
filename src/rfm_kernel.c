/*-------------------------------------------------------------------------
 *
 * rfm_kernel.c
 *	  RFM scores from cutpoints, and cutpoints from a population.
 *
 * A customer's RFM scores are three integers from 1 to k (k = 5 by
 * default): recency (days since the last purchase, as of a date),
 * frequency (purchase days) and monetary value (total net spend).  Each is
 * a comparison of the customer's own value with k - 1 cutpoints, never a
 * rank, so customers with equal values always get equal scores and a score
 * can be computed for one customer without looking at the others:
 *
 *		frequency, monetary:  score = 1 + #{ j : value > cut_j }
 *		recency:              score = k - #{ j : days  > cut_j }
 *
 * so more purchases, more spend and fewer days since the last purchase
 * score higher.  A value equal to a cutpoint falls in the lower band for
 * frequency and monetary value, and in the better (higher) band for
 * recency.
 *
 * Quantile cutpoints for a population of n customers are the lower
 * quantiles at j/k: cut_j = v_(ceil(j n / k)), the ceil(j n / k)-th
 * smallest value (j = 1 .. k-1), recency sorted ascending like the others.
 * Without ties, band s then holds the customers of sorted positions
 * (ceil((s-1) n/k), ceil(s n/k)], i.e. n/k each up to rounding; the
 * customers holding the value of cut_j itself go to the band below it
 * (frequency, monetary) or the band above it (recency).
 *
 * Heavy ties: when one value spans several quantiles (most customers of a
 * shop buy once, so frequency 1 may hold 60% of them), the cutpoints repeat
 * (cut_1 = cut_2 = cut_3 = 1 for that 60%), everybody with that value gets
 * the same score (1 for frequency 1) and the scores between are empty: the
 * next frequency (2) scores 4.  Scores keep their meaning (score s means
 * "above the (s-1)/k quantile") at the price of unequal band sizes, which
 * is what "equal behaviour, equal score" demands.
 *
 *-------------------------------------------------------------------------
 */
#include "rfm_kernel.h"

#include <stdlib.h>

/*
 * Number of cutpoints strictly below value; the cutpoints are sorted and
 * at most eight, so a linear scan beats a binary search.
 */
static int
count_below(const int64_t *cut, int ncut, int64_t value)
{
	int			n = 0;

	while (n < ncut && cut[n] < value)
		n++;
	return n;
}

int
rfm_score_dim(const RfmCuts *cuts, RfmDim dim, int64_t value)
{
	int			below = count_below(cuts->cut[dim], cuts->k - 1, value);

	return dim == RFM_RECENCY ? cuts->k - below : 1 + below;
}

bool
rfm_cuts_ordered(const int64_t *cut, int ncut)
{
	int			j;

	for (j = 1; j < ncut; j++)
		if (cut[j] < cut[j - 1])
			return false;
	return true;
}

static int
int64_cmp(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

static void
swap64(int64_t *a, int64_t *b)
{
	int64_t		t = *a;

	*a = *b;
	*b = t;
}

/*
 * Rearrange v[lo..hi] so that v[kth] holds the value it would hold if the
 * range were sorted, with nothing greater before it and nothing smaller
 * after it (Hoare's selection with a median-of-three pivot).  Selection is
 * O(n) on average where sorting a million values costs a hundred
 * milliseconds; after 2 log2(n) rounds without converging (adversarial
 * input) the rest of the range is simply sorted.
 */
static void
select_kth(int64_t *v, size_t lo, size_t hi, size_t kth)
{
	int			budget = 2;
	size_t		n;

	for (n = hi - lo + 1; n > 1; n >>= 1)
		budget += 2;
	while (hi > lo)
	{
		size_t		mid = lo + (hi - lo) / 2;
		size_t		i,
					j;
		int64_t		pivot;

		if (--budget < 0)
		{
			qsort(v + lo, hi - lo + 1, sizeof(int64_t), int64_cmp);
			return;
		}
		/* median of three to v[mid] */
		if (v[mid] < v[lo])
			swap64(&v[mid], &v[lo]);
		if (v[hi] < v[lo])
			swap64(&v[hi], &v[lo]);
		if (v[hi] < v[mid])
			swap64(&v[hi], &v[mid]);
		pivot = v[mid];
		i = lo;
		j = hi;
		while (i <= j)
		{
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j)
			{
				swap64(&v[i], &v[j]);
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		/* now v[lo..j] <= pivot <= v[i..hi], and lo..j < i */
		if (kth <= j)
			hi = j;
		else if (kth >= i)
			lo = i;
		else
			return;				/* v[j+1..i-1] all equal the pivot */
	}
}

/*
 * The k - 1 lower quantile cutpoints of values[0..n-1] (n > 0), which are
 * rearranged in place.  Cutpoint j is the ceil(j n / k)-th smallest value;
 * each selection works on the part right of the previous one.
 */
void
rfm_quantile_cuts(int64_t *values, size_t n, int k, int64_t *cut)
{
	size_t		from = 0;
	int			j;

	for (j = 1; j < k; j++)
	{
		/* ceil(j n / k), 1-based */
		size_t		pos = ((size_t) j * n + (size_t) k - 1) / (size_t) k;
		size_t		idx = pos > 0 ? pos - 1 : 0;

		if (idx >= from)
		{
			select_kth(values, from, n - 1, idx);
			from = idx;
		}
		cut[j - 1] = values[idx];
	}
}
