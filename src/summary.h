/*-------------------------------------------------------------------------
 *
 * summary.h
 *	  The crm.summary type: a customer's purchase days as a varlena.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SUMMARY_H
#define CRM_SUMMARY_H

#include "crm.h"

#define SUMMARY_VERSION		1

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
extern bool crm_summary_triple(Summary *s, int32 as_of, double unit_days,
							   SummaryTriple *out);
extern Summary *crm_summary_build(const SummaryDay *days, int ndays);

#endif							/* CRM_SUMMARY_H */
