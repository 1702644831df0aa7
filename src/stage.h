/*-------------------------------------------------------------------------
 *
 * stage.h
 *	  The crm.stage type and stage inference as the other rooms see them
 *	  (stage.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_STAGE_H
#define CRM_STAGE_H

#include "stage_kernel.h"
#include "summary.h"

/* crm.stage is one byte, a CrmStage, passed by value */
#define PG_GETARG_STAGE(n)	((CrmStage) DatumGetChar(PG_GETARG_DATUM(n)))
#define PG_RETURN_STAGE(x)	return CharGetDatum((char) (x))

extern int	crm_stage_walk(CrmStage current, int32 stage_since, int32 from, int32 as_of,
						   const SummaryView *v, const int32 *complaints, int ncomplaints,
						   Datum model, StageMove **moves, StageProposal *last);
extern int32 crm_walk_from(const SummaryView *v, bool scored_known, int32 scored_on, int32 as_of);

#endif							/* CRM_STAGE_H */
