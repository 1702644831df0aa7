/*-------------------------------------------------------------------------
 *
 * select_template.h
 *	  Hoare's selection (quickselect) for one element type, instantiated by
 *	  including this file with SELECT_TYPE and SELECT_NAME defined (the way
 *	  PostgreSQL's lib/sort_template.h is used).  See select_kernel.c.
 *
 * SELECT_NAME(v, lo, hi, kth) rearranges v[lo..hi] so that v[kth] holds the
 * value it would hold if the range were sorted, with nothing greater
 * before it and nothing smaller after it.  The pivot is the median of
 * three; after 2 log2(n) rounds without converging (adversarial input) the
 * rest of the range is simply sorted, so the worst case stays O(n log n).
 * Values must be totally ordered by < (no NaN).
 *
 *-------------------------------------------------------------------------
 */

#define SELECT_MAKE_NAME_(a, b) a##_##b
#define SELECT_MAKE_NAME(a, b) SELECT_MAKE_NAME_(a, b)
#define SELECT_CMP SELECT_MAKE_NAME(SELECT_NAME, cmp)
#define SELECT_SWAP SELECT_MAKE_NAME(SELECT_NAME, swap)

static int
SELECT_CMP(const void *a, const void *b)
{
	SELECT_TYPE x = *(const SELECT_TYPE *) a;
	SELECT_TYPE y = *(const SELECT_TYPE *) b;

	return (x > y) - (x < y);
}

static inline void
SELECT_SWAP(SELECT_TYPE *a, SELECT_TYPE *b)
{
	SELECT_TYPE t = *a;

	*a = *b;
	*b = t;
}

void
SELECT_NAME(SELECT_TYPE *v, size_t lo, size_t hi, size_t kth)
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
		SELECT_TYPE pivot;

		if (--budget < 0)
		{
			qsort(v + lo, hi - lo + 1, sizeof(SELECT_TYPE), SELECT_CMP);
			return;
		}
		/* median of three to v[mid] */
		if (v[mid] < v[lo])
			SELECT_SWAP(&v[mid], &v[lo]);
		if (v[hi] < v[lo])
			SELECT_SWAP(&v[hi], &v[lo]);
		if (v[hi] < v[mid])
			SELECT_SWAP(&v[hi], &v[mid]);
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
				SELECT_SWAP(&v[i], &v[j]);
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

#undef SELECT_CMP
#undef SELECT_SWAP
#undef SELECT_MAKE_NAME
#undef SELECT_MAKE_NAME_
#undef SELECT_TYPE
#undef SELECT_NAME
