/*-------------------------------------------------------------------------
 *
 * summary_kernel.h
 *	  Pure arithmetic of the per-customer transaction summary.
 *
 * No PostgreSQL headers here: this layer is compiled into the extension
 * and, on its own, into test/unit/summary_kernel_test.c.  See
 * summary_kernel.c for the representation and its invariants.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SUMMARY_KERNEL_H
#define CRM_SUMMARY_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Money is kept as a signed 64-bit count of 1/10000 of the currency unit,
 * so that sums are exact and independent of the order rows arrive in.
 */
typedef int64_t crm_money;

#define CRM_MONEY_SCALE		10000
#define CRM_MONEY_DECIMALS	4
/* longest text of a crm_money: sign, 15 integer digits, point, 4 decimals */
#define CRM_MONEY_MAXLEN	24

/*
 * One calendar day of a customer's transactions.  "day" is a PostgreSQL
 * DateADT (days since 2000-01-01).  "purchases" counts the transactions with
 * amount >= 0; a day with purchases > 0 is a purchase period.  "amount" is
 * the net amount of the day, refunds included.  A day with purchases == 0
 * holds refunds only, so its amount is < 0.
 */
typedef struct SummaryDay
{
	int32_t		day;
	int32_t		purchases;
	crm_money	amount;
} SummaryDay;

/* Figures derived from a run of days in one pass; see summary_stats(). */
typedef struct SummaryStats
{
	int32_t		purchase_days;	/* days with purchases > 0 */
	int32_t		first_purchase; /* valid only if purchase_days > 0 */
	int32_t		last_purchase;	/* likewise */
	int64_t		purchases;		/* purchase transactions */
	crm_money	total;			/* net amount of all days */
	crm_money	repeat_total;	/* amount of purchase days after the first */
	crm_money	first_amount;	/* net amount of the first purchase day */
} SummaryStats;

/* Result codes of the kernel; the glue turns them into ereport(ERROR). */
typedef enum SummaryStatus
{
	SUMMARY_OK = 0,
	SUMMARY_MONEY_OVERFLOW,		/* a sum left the crm_money range */
	SUMMARY_COUNT_OVERFLOW,		/* more than INT32_MAX purchases in a day */
	SUMMARY_NOT_PRESENT,		/* removing a transaction that is not there */
	SUMMARY_UNSORTED,			/* days not strictly increasing */
	SUMMARY_BAD_DAY,			/* purchases < 0, or refund day with amount >= 0 */
	SUMMARY_SEALED,				/* the question needs days that are sealed */
	SUMMARY_BAD_SEAL			/* sealed totals that no history can have */
} SummaryStatus;

extern SummaryStatus summary_day_add(SummaryDay *d, crm_money amount);
extern SummaryStatus summary_day_remove(SummaryDay *d, crm_money amount);
extern bool summary_day_is_empty(const SummaryDay *d);

extern SummaryStatus summary_append(SummaryDay *days, int *ndays,
									bool *normalized, int32_t day,
									crm_money amount);
extern int	summary_find_day(const SummaryDay *days, int ndays, int32_t day,
							 bool *found);
extern SummaryStatus summary_normalize(SummaryDay *days, int *ndays);
extern SummaryStatus summary_merge_into(SummaryDay *a, int *na,
										const SummaryDay *b, int nb);
extern SummaryStatus summary_subtract_into(SummaryDay *a, int *na,
										   const SummaryDay *b, int nb);
extern SummaryStatus summary_validate(const SummaryDay *days, int ndays);
extern int	summary_cut(const SummaryDay *days, int ndays, int32_t as_of);
extern SummaryStatus summary_stats(const SummaryDay *days, int ndays,
								   SummaryStats *stats);
extern SummaryStatus summary_stats_concat(SummaryStats *a, const SummaryStats *b);
extern SummaryStatus summary_seal_validate(const SummaryStats *seal, int32_t through);

/*
 * A history as the readers see it: the days up to "through" known only
 * by their totals ("sealed"; through = SUMMARY_NOTHING_SEALED and zero
 * totals when nothing is), and a run of days known one by one from
 * "known_after" on (exclusive; SUMMARY_NOTHING_SEALED when all are).
 * known_after <= through: days of the run on or before "through" are
 * counted in "sealed" already (the writer lends a sealed history's recent
 * blocks this way, for the stage windows).  See summary_kernel.c,
 * "Sealed histories".
 */
#define SUMMARY_NOTHING_SEALED	INT32_MIN

typedef struct SummaryView
{
	SummaryStats sealed;
	int32_t		through;
	int32_t		known_after;
	const SummaryDay *days;
	int			ndays;
} SummaryView;

extern void summary_view_init(SummaryView *v, const SummaryDay *days, int ndays);
extern SummaryStatus summary_view_stats(const SummaryView *v, int64_t as_of,
										SummaryStats *stats);
extern SummaryStatus summary_view_range(const SummaryView *v, int64_t after,
										int64_t upto, SummaryStats *stats);

/*
 * The writer's sealing policy: where to seal a run of unsealed days (see
 * summary_seal_point()).
 */
#define SUMMARY_SEAL_FIRST	64		/* an unsealed history is sealed beyond this */
#define SUMMARY_SEAL_AGAIN	16		/* a sealed one's recent run, beyond this */
#define SUMMARY_SEAL_KEEP	4		/* recent days a seal leaves in the row */

extern int	summary_seal_point(int ndays, bool sealed);

/*
 * One order's effect on a summary: add a transaction, or take one back out
 * (a deleted order, or the old version of an updated one).
 */
typedef struct SummaryChange
{
	int32_t		day;
	bool		remove;
	crm_money	amount;
} SummaryChange;

extern SummaryStatus summary_apply_changes(SummaryDay *days, int *ndays,
										   const SummaryChange *changes,
										   int nchanges);

extern bool crm_money_from_double(double value, crm_money *result);
extern double crm_money_to_double(crm_money value);
extern bool crm_round_decimal(double value, int places, int64_t *digits);
extern bool crm_money_parse(const char *str, const char **endptr,
							crm_money *result);
extern int	crm_money_format(crm_money value, char *buf);

#endif							/* CRM_SUMMARY_KERNEL_H */
