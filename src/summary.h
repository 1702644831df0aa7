/*-------------------------------------------------------------------------
 *
 * summary.h
 *	  The crm.summary type: a customer's purchase days as a varlena.
 *
 * Two forms share the layout below, told apart by "version":
 * SUMMARY_VERSION (1, the only form before 0.4.0) holds every day;
 * SUMMARY_VERSION_SEALED (2) holds the days after a seal date and, after
 * them, a SummarySeal with the exact totals of the days on or before it
 * (summary_kernel.c, "Sealed histories"; the sealed days themselves are
 * kept by history.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SUMMARY_H
#define CRM_SUMMARY_H

#include "crm.h"

#define SUMMARY_VERSION		1
#define SUMMARY_VERSION_SEALED	2

/*
 * On-disk layout.  The header is 16 bytes so that days[] is 8-byte aligned;
 * "version" lets a later release read summaries written by this one.
 */
typedef struct Summary
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	uint8		version;
	uint8		flags;			/* reserved, always 0 */
	uint16		reserved;
	int32		ndays;
	int32		reserved2;
	SummaryDay	days[FLEXIBLE_ARRAY_MEMBER];
} Summary;

#define SUMMARY_SIZE(ndays) (offsetof(Summary, days) + (ndays) * sizeof(SummaryDay))

/* what a sealed summary keeps of the days on or before "through" */
typedef struct SummarySeal
{
	int32		through;
	int32		purchase_days;
	int32		first_purchase; /* 0 when purchase_days = 0 */
	int32		last_purchase;	/* likewise */
	int64		purchases;
	crm_money	total;
	crm_money	repeat_total;
	crm_money	first_amount;	/* net amount of the first purchase day */
} SummarySeal;

#define SUMMARY_SEALED_SIZE(ndays) (SUMMARY_SIZE(ndays) + sizeof(SummarySeal))
#define SUMMARY_IS_SEALED(s)	((s)->version == SUMMARY_VERSION_SEALED)
#define SUMMARY_SEAL(s)			((SummarySeal *) &(s)->days[(s)->ndays])

#define DatumGetSummaryP(X)		crm_summary_from_datum(X)
#define PG_GETARG_SUMMARY_P(n)	DatumGetSummaryP(PG_GETARG_DATUM(n))
#define PG_RETURN_SUMMARY_P(x)	PG_RETURN_POINTER(x)

/* the input of the buy-till-you-die models, in a time unit */
typedef struct SummaryTriple
{
	double		x;				/* repeat purchase days */
	double		t_x;			/* last - first purchase */
	double		T;				/* as_of - first purchase */
	double		zbar;			/* mean net amount of the repeat days; 0 if x = 0 */
} SummaryTriple;

extern Summary *crm_summary_from_datum(Datum d);
extern bool crm_view_triple(const SummaryView *v, int32 as_of, double unit_days,
							SummaryTriple *out);
extern bool crm_summary_triple(Summary *s, int32 as_of, double unit_days,
							   SummaryTriple *out);
extern Summary *crm_summary_build(const SummaryDay *days, int ndays);
extern Summary *crm_summary_build_sealed(const SummaryStats *sealed, int32 through,
										 const SummaryDay *days, int ndays);
extern void crm_summary_view(Summary *s, SummaryView *v);
extern void crm_summary_check(SummaryStatus st, const char *what);
extern int32 crm_month_start(int32 day);

#endif							/* CRM_SUMMARY_H */
