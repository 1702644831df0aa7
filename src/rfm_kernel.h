/*-------------------------------------------------------------------------
 *
 * rfm_kernel.h
 *	  RFM scoring against cutpoints, and quantile cutpoints, as pure
 *	  functions.  See rfm_kernel.c for the rules.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_RFM_KERNEL_H
#define CRM_RFM_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RFM_MIN_SCALE	2
#define RFM_MAX_SCALE	9
#define RFM_DEFAULT_SCALE 5
#define RFM_MAX_CUTS	(RFM_MAX_SCALE - 1)

/* The three dimensions, in the order of every array here. */
typedef enum RfmDim
{
	RFM_RECENCY = 0,			/* days since the last purchase: fewer is better */
	RFM_FREQUENCY = 1,			/* purchase days: more is better */
	RFM_MONETARY = 2			/* total spend in crm_money units: more is better */
} RfmDim;

/*
 * Cutpoints of one population (or a business's fixed thresholds): k scores
 * per dimension, k - 1 non-decreasing cutpoints each.
 */
typedef struct RfmCuts
{
	int			k;
	int64_t		cut[3][RFM_MAX_CUTS];
} RfmCuts;

extern int	rfm_score_dim(const RfmCuts *cuts, RfmDim dim, int64_t value);
extern bool rfm_cuts_ordered(const int64_t *cut, int ncut);
extern void rfm_quantile_cuts(int64_t *values, size_t n, int k, int64_t *cut);

#endif							/* CRM_RFM_KERNEL_H */
