/*-------------------------------------------------------------------------
 *
 * progress.h
 *	  The run log of crm.refresh() and its progress NOTICEs (progress.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_PROGRESS_H
#define CRM_PROGRESS_H

#include "datatype/timestamp.h"
#include "utils/elog.h"

/* one run, kept by value by its caller across the transactions it commits */
typedef struct RunLog
{
	int64		run_id;
	int64		total;			/* customers to rescore */
	int64		done;
	int64		stages;			/* stage changes recorded so far */
	int64		levels;			/* level changes recorded so far */
	TimestampTz started;
	TimestampTz last_notice;
	int64		interval_ms;	/* setting refresh_progress_interval */
	bool		session_lock;	/* its lock outlives the transactions */
} RunLog;

extern void crm_run_begin(RunLog *run, int32 as_of, int32 batch_size, bool commits);
extern void crm_run_progress(RunLog *run, int64 done, int64 stages, int64 levels);
extern void crm_run_finish(RunLog *run);
extern void crm_run_failed(RunLog *run, const ErrorData *edata);

#endif							/* CRM_PROGRESS_H */
