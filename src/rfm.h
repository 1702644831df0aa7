/*-------------------------------------------------------------------------
 *
 * rfm.h
 *	  The crm.rfm and crm.rfm_cutpoints types as the other rooms see them
 *	  (rfm.c): the packed layout of an RFM value, the stored cutpoints,
 *	  and scoring a summary against them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_RFM_H
#define CRM_RFM_H

#include "rfm_kernel.h"
#include "summary.h"

/*
 * crm.rfm is an int32 passed by value: recency, frequency and monetary
 * scores in its three low bytes and the scale k in the high one.
 */
#define RFM_PACK(r, f, m, k)	((int32) ((r) | ((f) << 8) | ((m) << 16) | ((k) << 24)))
#define RFM_R(v)	((v) & 0xFF)
#define RFM_F(v)	(((v) >> 8) & 0xFF)
#define RFM_M(v)	(((v) >> 16) & 0xFF)
#define RFM_K(v)	(((v) >> 24) & 0xFF)

/* crm.rfm_cutpoints, a fixed-length type of 216 bytes */
typedef struct RfmCutpoints
{
	int32		as_of;			/* DateADT */
	int32		reserved;		/* always 0 */
	int64		n_customers;	/* 0: fixed thresholds */
	RfmCuts		cuts;			/* unused cutpoint slots are 0 */
} RfmCutpoints;

#define RFM_CUTPOINTS_SIZE 216

extern bool crm_rfm_score_at(const SummaryView *v, const RfmCutpoints *cutpoints, int32 as_of,
							 int32 *score);

#endif							/* CRM_RFM_H */
