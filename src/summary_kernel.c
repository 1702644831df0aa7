/*-------------------------------------------------------------------------
 *
 * summary_kernel.c
 *	  Pure arithmetic of the per-customer transaction summary.
 *
 * A customer's summary is the list of the calendar days on which the
 * customer transacted, in strictly increasing order, each day carrying the
 * number of purchase transactions and the net amount of that day
 * (SummaryDay).  Everything the CRM literature asks of a purchase history
 * (first and last purchase, number of purchase periods, total and mean
 * repeat spend, recency, the BTYD triple x, t_x, T) is a function of that
 * list, and so is the list "as of" any earlier date: keep the days up to
 * that date.  That is why the summary keeps the days themselves and not
 * just counters: with counters alone, two partial summaries that share a day
 * could not be merged without counting that day twice, and a calibration
 * period ending before the last purchase could not be cut out.
 *
 * Rules, and the invariants every function here keeps:
 *
 * 1. Same-day transactions are one purchase period: the day's purchases and
 *	  amounts are summed into one SummaryDay.
 * 2. A transaction with amount >= 0 is a purchase (a zero amount is a free
 *	  order and still a purchase).  One with amount < 0 is a refund: it
 *	  lowers the net amount of its day and never makes a purchase period on
 *	  its own.  A day that holds refunds only has purchases == 0 and a
 *	  negative amount; it counts toward total spend and nothing else.
 * 3. The list is strictly increasing in day and holds no empty day
 *	  (purchases == 0 and amount == 0), so equal histories have equal bytes:
 *	  merge is associative and commutative, and the order in which rows or
 *	  partial summaries arrive cannot change the result.
 * 4. Money is an exact int64 count of 1/10000 of the currency unit; every
 *	  sum is checked for overflow.
 *
 * Sealed histories.  A customer who has bought on ten thousand days would
 * carry ten thousand SummaryDays in the row that every order rewrites.
 * The writer (customer.c, history.c) therefore "seals" the older days: it
 * keeps their exact totals (a SummaryStats: purchase days, purchases, net
 * total, first and last purchase day, the first purchase day's amount and
 * the repeat days' total) in the row, and the days themselves, one block
 * per calendar month, in a side table that a new order does not touch.
 * A SummaryView is what the readers see: the sealed totals up to a date
 * "through" and a run of the days after it.  Stats of a concatenation are
 * a function of the parts' stats (summary_stats_concat()), so every
 * question about the history as of a date on or after "through" has the
 * same answer as on the full list of days: first and last purchase,
 * purchase days, purchases, totals, recency, the BTYD triple.  A question
 * about the days of a period that starts before "through" (a stage
 * window, an as-of cut before it, the list of days) needs the days
 * themselves and gets SUMMARY_SEALED from a sealed view; the writer
 * lends the view the sealed days of the period it needs (known_after).
 * Merging two sealed histories is refused for the same reason: a day
 * both sealed could not be told apart from two different days.
 *
 * Removing a transaction is the exact inverse of adding it, which is what
 * lets a trigger keep a stored summary equal to a full recompute after
 * deletes and updates.  Removing a transaction that was never added is
 * detected when it would leave a negative purchase count or a refund-only
 * day with a positive amount; other such mistakes cannot be told apart from
 * real histories.
 *
 *-------------------------------------------------------------------------
 */
#include "summary_kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * Add one transaction to a day.
 */
SummaryStatus
summary_day_add(SummaryDay *d, crm_money amount)
{
	crm_money	sum;

	if (__builtin_add_overflow(d->amount, amount, &sum))
		return SUMMARY_MONEY_OVERFLOW;
	if (amount >= 0)
	{
		if (d->purchases == INT32_MAX)
			return SUMMARY_COUNT_OVERFLOW;
		d->purchases++;
	}
	d->amount = sum;
	return SUMMARY_OK;
}

/*
 * Remove one transaction from a day; the inverse of summary_day_add().  The
 * day is left unchanged when the transaction cannot have been there.
 */
SummaryStatus
summary_day_remove(SummaryDay *d, crm_money amount)
{
	SummaryDay	r = *d;

	if (__builtin_sub_overflow(r.amount, amount, &r.amount))
		return SUMMARY_MONEY_OVERFLOW;
	if (amount >= 0)
	{
		if (r.purchases <= 0)
			return SUMMARY_NOT_PRESENT;
		r.purchases--;
	}
	if (r.purchases == 0 && r.amount > 0)
		return SUMMARY_NOT_PRESENT;
	*d = r;
	return SUMMARY_OK;
}

bool
summary_day_is_empty(const SummaryDay *d)
{
	return d->purchases == 0 && d->amount == 0;
}

/*
 * Append one transaction to a run that is being built (the aggregate's
 * transition).  A transaction on the run's last day folds into it; any other
 * is appended, and one that is not later than the last day clears
 * *normalized, to be sorted out by summary_normalize().  The caller
 * guarantees room for one more day.
 */
SummaryStatus
summary_append(SummaryDay *days, int *ndays, bool *normalized,
			   int32_t day, crm_money amount)
{
	SummaryDay *d;

	if (*ndays > 0)
	{
		d = &days[*ndays - 1];
		if (d->day == day)
			return summary_day_add(d, amount);
		if (day < d->day)
			*normalized = false;
	}
	d = &days[*ndays];
	d->day = day;
	d->purchases = 0;
	d->amount = 0;
	(*ndays)++;
	return summary_day_add(d, amount);
}

/*
 * Binary search for "day".  Returns its index and sets *found, or returns
 * the index where it would be inserted.
 */
int
summary_find_day(const SummaryDay *days, int ndays, int32_t day, bool *found)
{
	int			lo = 0;
	int			hi = ndays;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (days[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = (lo < ndays && days[lo].day == day);
	return lo;
}

static int
day_cmp(const void *a, const void *b)
{
	int32_t		da = ((const SummaryDay *) a)->day;
	int32_t		db = ((const SummaryDay *) b)->day;

	return (da > db) - (da < db);
}

/*
 * Combine entry "src" into "dst" (same day).
 */
static SummaryStatus
day_combine(SummaryDay *dst, const SummaryDay *src)
{
	if (__builtin_add_overflow(dst->amount, src->amount, &dst->amount))
		return SUMMARY_MONEY_OVERFLOW;
	if (__builtin_add_overflow(dst->purchases, src->purchases, &dst->purchases))
		return SUMMARY_COUNT_OVERFLOW;
	return SUMMARY_OK;
}

/*
 * Sort a run of days that may be out of order and hold repeated days, fold
 * the repeats together and drop empty days, so that the run satisfies the
 * invariants above.  Short runs (the usual customer) use insertion sort.
 */
SummaryStatus
summary_normalize(SummaryDay *days, int *ndays)
{
	int			n = *ndays;
	int			i;
	int			out;

	if (n > 16)
		qsort(days, n, sizeof(SummaryDay), day_cmp);
	else
	{
		for (i = 1; i < n; i++)
		{
			SummaryDay	key = days[i];
			int			j = i - 1;

			while (j >= 0 && days[j].day > key.day)
			{
				days[j + 1] = days[j];
				j--;
			}
			days[j + 1] = key;
		}
	}

	out = 0;
	for (i = 0; i < n; i++)
	{
		if (out > 0 && days[out - 1].day == days[i].day)
		{
			SummaryStatus st = day_combine(&days[out - 1], &days[i]);

			if (st != SUMMARY_OK)
				return st;
		}
		else
			days[out++] = days[i];
		if (summary_day_is_empty(&days[out - 1]))
			out--;
	}
	*ndays = out;
	return SUMMARY_OK;
}

/* close the gaps left by days that removals emptied */
static void
drop_empty_days(SummaryDay *days, int *ndays)
{
	int			i;
	int			out = 0;

	for (i = 0; i < *ndays; i++)
		if (!summary_day_is_empty(&days[i]))
			days[out++] = days[i];
	*ndays = out;
}

/*
 * Apply a batch of changes to a normalized run: every addition first, then
 * every removal, so that the result does not depend on the order of the
 * batch (an order inserted and corrected in one statement is added before
 * its old version is taken out).  "days" must have room for *ndays plus the
 * number of additions.  A removal of a transaction the run cannot hold
 * returns SUMMARY_NOT_PRESENT; on any error the run is left in an
 * unspecified state, so callers work on a copy.
 */
SummaryStatus
summary_apply_changes(SummaryDay *days, int *ndays,
					  const SummaryChange *changes, int nchanges)
{
	bool		normalized = true;
	SummaryStatus st;
	int			i;

	for (i = 0; i < nchanges; i++)
	{
		if (changes[i].remove)
			continue;
		st = summary_append(days, ndays, &normalized, changes[i].day,
							changes[i].amount);
		if (st != SUMMARY_OK)
			return st;
	}
	if (!normalized)
	{
		st = summary_normalize(days, ndays);
		if (st != SUMMARY_OK)
			return st;
	}
	for (i = 0; i < nchanges; i++)
	{
		bool		found;
		int			idx;

		if (!changes[i].remove)
			continue;
		idx = summary_find_day(days, *ndays, changes[i].day, &found);
		if (!found)
			return SUMMARY_NOT_PRESENT;
		st = summary_day_remove(&days[idx], changes[i].amount);
		if (st != SUMMARY_OK)
			return st;
	}
	/* days emptied by removals stay in place until here */
	drop_empty_days(days, ndays);
	return SUMMARY_OK;
}

/*
 * Take normalized run "b" out of normalized run "a", in place: the inverse
 * of summary_merge_into().  SUMMARY_NOT_PRESENT when "a" cannot hold "b".
 */
SummaryStatus
summary_subtract_into(SummaryDay *a, int *na, const SummaryDay *b, int nb)
{
	int			i;

	for (i = 0; i < nb; i++)
	{
		bool		found;
		int			idx = summary_find_day(a, *na, b[i].day, &found);
		SummaryDay	r;

		if (!found)
			return SUMMARY_NOT_PRESENT;
		r = a[idx];
		if (__builtin_sub_overflow(r.amount, b[i].amount, &r.amount))
			return SUMMARY_MONEY_OVERFLOW;
		r.purchases -= b[i].purchases;
		if (r.purchases < 0 || (r.purchases == 0 && r.amount > 0))
			return SUMMARY_NOT_PRESENT;
		a[idx] = r;
	}
	drop_empty_days(a, na);
	return SUMMARY_OK;
}

/*
 * Merge normalized run "b" into normalized run "a", in place.  "a" must have
 * room for *na + nb days.  The merge runs from the back so that no day of
 * "a" is overwritten before it is read; days present in both are combined,
 * which leaves a gap at the front that is closed at the end.
 */
SummaryStatus
summary_merge_into(SummaryDay *a, int *na, const SummaryDay *b, int nb)
{
	int			i = *na - 1;
	int			j = nb - 1;
	int			k = *na + nb;	/* next write goes to k - 1 */

	while (j >= 0)
	{
		if (i >= 0 && a[i].day > b[j].day)
			a[--k] = a[i--];
		else if (i >= 0 && a[i].day == b[j].day)
		{
			SummaryDay	d = a[i--];
			SummaryStatus st = day_combine(&d, &b[j--]);

			if (st != SUMMARY_OK)
				return st;
			if (!summary_day_is_empty(&d))
				a[--k] = d;
		}
		else
			a[--k] = b[j--];
	}
	/* a[0..i] are in place; a[k..] holds the merged tail */
	if (k > i + 1)
		memmove(&a[i + 1], &a[k], (*na + nb - k) * sizeof(SummaryDay));
	*na = i + 1 + (*na + nb - k);
	return SUMMARY_OK;
}

/*
 * Check the invariants of a run read from outside (text or binary input).
 */
SummaryStatus
summary_validate(const SummaryDay *days, int ndays)
{
	int			i;

	for (i = 0; i < ndays; i++)
	{
		if (i > 0 && days[i].day <= days[i - 1].day)
			return SUMMARY_UNSORTED;
		if (days[i].purchases < 0 ||
			(days[i].purchases == 0 && days[i].amount >= 0))
			return SUMMARY_BAD_DAY;
	}
	return SUMMARY_OK;
}

/*
 * Number of leading days on or before "as_of": the summary as of that date
 * is the first summary_cut() days.
 */
int
summary_cut(const SummaryDay *days, int ndays, int32_t as_of)
{
	bool		found;
	int			idx;

	if (ndays == 0 || days[ndays - 1].day <= as_of)
		return ndays;
	if (as_of == INT32_MAX)
		return ndays;
	idx = summary_find_day(days, ndays, as_of + 1, &found);
	return idx;
}

/*
 * The derived figures of a run of days, in one pass.  Each day's amount was
 * built with checked sums, but different days are only summed here, so the
 * totals are checked too.
 */
SummaryStatus
summary_stats(const SummaryDay *days, int ndays, SummaryStats *stats)
{
	int			i;

	memset(stats, 0, sizeof(*stats));
	for (i = 0; i < ndays; i++)
	{
		const SummaryDay *d = &days[i];

		if (__builtin_add_overflow(stats->total, d->amount, &stats->total))
			return SUMMARY_MONEY_OVERFLOW;
		if (d->purchases == 0)
			continue;
		if (stats->purchase_days == 0)
		{
			stats->first_purchase = d->day;
			stats->first_amount = d->amount;
		}
		else if (__builtin_add_overflow(stats->repeat_total, d->amount,
										&stats->repeat_total))
			return SUMMARY_MONEY_OVERFLOW;
		stats->last_purchase = d->day;
		stats->purchase_days++;
		stats->purchases += d->purchases;
	}
	return SUMMARY_OK;
}

/*
 * a := the stats of a's days followed by b's (every day of a before every
 * day of b).
 */
SummaryStatus
summary_stats_concat(SummaryStats *a, const SummaryStats *b)
{
	crm_money	tail;

	if (__builtin_add_overflow(a->total, b->total, &a->total))
		return SUMMARY_MONEY_OVERFLOW;
	if (__builtin_add_overflow(a->purchases, b->purchases, &a->purchases) ||
		__builtin_add_overflow(a->purchase_days, b->purchase_days, &a->purchase_days))
		return SUMMARY_COUNT_OVERFLOW;
	if (b->purchase_days == 0)
		return SUMMARY_OK;
	if (a->purchase_days == b->purchase_days)
	{
		/* a had no purchase day: b's first is the first */
		a->first_purchase = b->first_purchase;
		a->first_amount = b->first_amount;
		a->repeat_total = b->repeat_total;
	}
	else if (__builtin_add_overflow(b->repeat_total, b->first_amount, &tail) ||
			 __builtin_add_overflow(a->repeat_total, tail, &a->repeat_total))
		return SUMMARY_MONEY_OVERFLOW;
	a->last_purchase = b->last_purchase;
	return SUMMARY_OK;
}

/*
 * Check sealed totals read from outside (text or binary input): they
 * must be the stats of some history of days on or before "through".
 */
SummaryStatus
summary_seal_validate(const SummaryStats *seal, int32_t through)
{
	if (seal->purchase_days < 0 || seal->purchases < seal->purchase_days)
		return SUMMARY_BAD_SEAL;
	if (seal->purchase_days == 0)
		return (seal->purchases == 0 && seal->repeat_total == 0 &&
				seal->first_amount == 0 && seal->first_purchase == 0 &&
				seal->last_purchase == 0) ? SUMMARY_OK : SUMMARY_BAD_SEAL;
	if (seal->first_purchase > seal->last_purchase || seal->last_purchase > through ||
		(int64_t) seal->last_purchase - seal->first_purchase < seal->purchase_days - 1)
		return SUMMARY_BAD_SEAL;
	if (seal->purchase_days == 1 &&
		(seal->first_purchase != seal->last_purchase || seal->repeat_total != 0))
		return SUMMARY_BAD_SEAL;
	return SUMMARY_OK;
}

/* A view of a run of days with nothing sealed. */
void
summary_view_init(SummaryView *v, const SummaryDay *days, int ndays)
{
	memset(&v->sealed, 0, sizeof(v->sealed));
	v->through = SUMMARY_NOTHING_SEALED;
	v->known_after = SUMMARY_NOTHING_SEALED;
	v->days = days;
	v->ndays = ndays;
}

/* index of the first day of the run after "bound" */
static int
first_after(const SummaryDay *days, int ndays, int64_t bound)
{
	if (bound < INT32_MIN)
		return 0;
	if (bound >= INT32_MAX)
		return ndays;
	return summary_cut(days, ndays, (int32_t) bound);
}

/*
 * The stats of the history as of "as_of" (the days up to and on it):
 * SUMMARY_SEALED when as_of falls before the end of the sealed part.
 */
SummaryStatus
summary_view_stats(const SummaryView *v, int64_t as_of, SummaryStats *stats)
{
	SummaryStats tail;
	SummaryStatus st;
	int			from;
	int			to;

	if (v->through != SUMMARY_NOTHING_SEALED && as_of < v->through)
		return SUMMARY_SEALED;
	from = first_after(v->days, v->ndays, v->through);
	to = first_after(v->days, v->ndays, as_of);
	*stats = v->sealed;
	if (to <= from)
		return SUMMARY_OK;
	st = summary_stats(v->days + from, to - from, &tail);
	if (st != SUMMARY_OK)
		return st;
	return summary_stats_concat(stats, &tail);
}

/*
 * The stats of the days in (after, upto]: SUMMARY_SEALED when the period
 * starts before the days the view knows one by one.
 */
SummaryStatus
summary_view_range(const SummaryView *v, int64_t after, int64_t upto,
				   SummaryStats *stats)
{
	int			from;
	int			to;

	if (v->known_after != SUMMARY_NOTHING_SEALED && after < v->known_after)
		return SUMMARY_SEALED;
	from = first_after(v->days, v->ndays, after);
	to = first_after(v->days, v->ndays, upto);
	if (to <= from)
		return summary_stats(NULL, 0, stats);
	return summary_stats(v->days + from, to - from, stats);
}

/*
 * How many leading days of a row's run of unsealed days the writer seals:
 * none while the run is short; beyond SUMMARY_SEAL_FIRST days (a history
 * not sealed yet) or SUMMARY_SEAL_AGAIN days (one sealed already), all but
 * the SUMMARY_SEAL_KEEP newest.  The row then holds at most
 * SUMMARY_SEAL_AGAIN days of a long history, and a daily buyer's row seals
 * once every SUMMARY_SEAL_AGAIN - SUMMARY_SEAL_KEEP purchase days.
 */
int
summary_seal_point(int ndays, bool sealed)
{
	if (ndays > (sealed ? SUMMARY_SEAL_AGAIN : SUMMARY_SEAL_FIRST))
		return ndays - SUMMARY_SEAL_KEEP;
	return 0;
}

/*
 * Convert a double amount to crm_money, rounding half away from zero at the
 * fourth decimal.  False for NaN, infinities and out-of-range values.
 */
bool
crm_money_from_double(double value, crm_money *result)
{
	double		scaled;

	if (!isfinite(value))
		return false;
	scaled = round(value * CRM_MONEY_SCALE);
	/* 2^63 is exactly representable; anything at or beyond it is out */
	if (!(scaled > -9223372036854775808.0 && scaled < 9223372036854775808.0))
		return false;
	*result = (crm_money) scaled;
	return true;
}

/*
 * round(value::numeric, places) of PostgreSQL decided from the binary value,
 * without formatting it as text: the numeric is value to 15 significant
 * digits (DBL_DIG, as float8_numeric() prints it), rounded half away from
 * zero to places decimals.  *digits gets that result times 10^places.
 *
 * value * 10^places is within 5.2e-15 of its size of the 15-digit decimal
 * times 10^places (half a unit in the 15th digit, plus one rounding of the
 * product); under 1e8 that is under 1e-6, so when the product is further
 * than 1e-6 from a half the two round alike.  False otherwise (within 1e-6
 * of a half, 1e8 or more, places outside 0..8, NaN or an infinity): the
 * caller then takes the text way.
 */
bool
crm_round_decimal(double value, int places, int64_t *digits)
{
	static const double powers[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
	double		scaled;
	double		whole;
	double		frac;
	int64_t		d;

	if (!isfinite(value) || places < 0 || places > 8)
		return false;
	scaled = fabs(value) * powers[places];
	if (!(scaled < 1e8))
		return false;
	whole = floor(scaled);
	frac = scaled - whole;
	if (fabs(frac - 0.5) <= 1e-6)
		return false;
	d = (int64_t) whole + (frac > 0.5 ? 1 : 0);
	*digits = value < 0 ? -d : d;
	return true;
}

double
crm_money_to_double(crm_money value)
{
	return (double) value / CRM_MONEY_SCALE;
}

/*
 * Parse [+-]digits[.d{1,4}] at "str".  On success stores the value, sets
 * *endptr past the number and returns true.  No leading white space, no
 * exponent, at most four decimals: the canonical text is strict.
 */
bool
crm_money_parse(const char *str, const char **endptr, crm_money *result)
{
	const char *p = str;
	bool		neg = false;
	uint64_t	mag = 0;
	int			ndec = 0;
	int			ndig = 0;

	if (*p == '-' || *p == '+')
		neg = (*p++ == '-');
	while (*p >= '0' && *p <= '9')
	{
		if (__builtin_mul_overflow(mag, 10, &mag) ||
			__builtin_add_overflow(mag, (uint64_t) (*p - '0'), &mag))
			return false;
		p++;
		ndig++;
	}
	if (ndig == 0)
		return false;
	if (*p == '.')
	{
		p++;
		while (*p >= '0' && *p <= '9')
		{
			if (ndec == CRM_MONEY_DECIMALS)
				return false;
			if (__builtin_mul_overflow(mag, 10, &mag) ||
				__builtin_add_overflow(mag, (uint64_t) (*p - '0'), &mag))
				return false;
			p++;
			ndec++;
		}
		if (ndec == 0)
			return false;
	}
	for (; ndec < CRM_MONEY_DECIMALS; ndec++)
		if (__builtin_mul_overflow(mag, 10, &mag))
			return false;
	if (neg ? mag > (uint64_t) INT64_MAX + 1 : mag > (uint64_t) INT64_MAX)
		return false;
	*result = neg ? (crm_money) (0 - mag) : (crm_money) mag;
	*endptr = p;
	return true;
}

/*
 * Write the shortest exact decimal text of "value" (no trailing zeros after
 * the point, no point for whole amounts) into buf, which must hold
 * CRM_MONEY_MAXLEN bytes.  Returns the length written.
 */
int
crm_money_format(crm_money value, char *buf)
{
	uint64_t	mag = value < 0 ? 0 - (uint64_t) value : (uint64_t) value;
	uint64_t	whole = mag / CRM_MONEY_SCALE;
	unsigned	frac = (unsigned) (mag % CRM_MONEY_SCALE);
	char		tmp[CRM_MONEY_MAXLEN];
	int			n = 0;
	int			len = 0;
	int			ndec = CRM_MONEY_DECIMALS;

	if (value < 0)
		buf[len++] = '-';
	do
	{
		tmp[n++] = (char) ('0' + whole % 10);
		whole /= 10;
	} while (whole > 0);
	while (n > 0)
		buf[len++] = tmp[--n];
	if (frac != 0)
	{
		while (frac % 10 == 0)
		{
			frac /= 10;
			ndec--;
		}
		buf[len++] = '.';
		for (n = ndec - 1; n >= 0; n--)
		{
			buf[len + n] = (char) ('0' + frac % 10);
			frac /= 10;
		}
		len += ndec;
	}
	buf[len] = '\0';
	return len;
}
