/*-------------------------------------------------------------------------
 *
 * maintain.h
 *	  What the order trigger needs from the other rooms to compute a
 *	  customer's maintained state in C: the RFM score against stored
 *	  cutpoints, the rfm_segments label, the stage inferred from purchases,
 *	  and the configuration they read, cached per backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAINTAIN_H
#define CRM_MAINTAIN_H

#include "summary.h"
#include "stage_kernel.h"

/* crm.rfm_cutpoints, a fixed-length type */
#define CRM_RFM_CUTPOINTS_SIZE 216

/* rfm.c: the packed crm.rfm of s against cutpoints moved to as_of; false if none */
extern bool crm_rfm_score_at(Summary *s, const void *cutpoints, int32 as_of, int32 *score);
extern int	crm_rfm_scale(const void *cutpoints);

/*
 * stage.c: crm.infer_stage(current, s, as_of, stage_since => since) with no
 * other signal; s may be NULL (no purchase).
 */
extern void crm_infer_from_summary(CrmStage current, Summary *s, int32 as_of,
								   int32 stage_since, StageProposal *out);

/*
 * segment.c: the label of scheme for features x (a copy), or NULL; the
 * compiled scheme is kept per backend until crm_config_generation() moves.
 */
extern text *crm_segment_label_cached(const char *scheme, const double *x, int nx);

/*
 * customer.c: a counter that moves whenever crm.scoring, a segment table
 * or crm.stage_thresholds changes (their triggers send an invalidation of
 * crm.scoring or of crm.stage_thresholds, which every backend receives),
 * and the stored cutpoints.
 */
extern uint64 crm_config_generation(void);
extern const void *crm_stored_cutpoints(void);

#endif							/* CRM_MAINTAIN_H */
