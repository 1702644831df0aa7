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
#include "select_kernel.h"

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
			crm_select_int64(values, from, n - 1, idx);
			from = idx;
		}
		cut[j - 1] = values[idx];
	}
}
