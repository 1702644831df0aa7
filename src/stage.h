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

extern void crm_infer_from_view(CrmStage current, const SummaryView *v, int32 as_of,
								int32 stage_since, StageProposal *out);

#endif							/* CRM_STAGE_H */
