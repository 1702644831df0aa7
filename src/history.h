/*-------------------------------------------------------------------------
 *
 * history.h
 *	  A customer's stored history as the order trigger's writer changes it:
 *	  the row's summary, sealed when long, and the sealed days kept in
 *	  crm.summary_blocks (history.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_HISTORY_H
#define CRM_HISTORY_H

#include "summary.h"

/* one calendar month of sealed days, as read and as it is to be written */
typedef struct HistoryBlock
{
	int32		month;			/* first day of the month */
	SummaryDay *days;
	int			ndays;
	int			capacity;
	bool		stored;			/* a row exists in crm.summary_blocks */
	bool		dirty;			/* to be written (or deleted when empty) */
} HistoryBlock;

/* a customer's history after a statement's changes, before it is written */
typedef struct CustomerHistory
{
	int64		customer;
	Summary    *summary;		/* the row's new value; NULL: no history */
	SummaryView view;			/* what the score and the stage read */
	int			nblocks;		/* the blocks read or made, by month */
	int			maxblocks;
	HistoryBlock *blocks;
	int32		loaded_from;	/* months from this one on are all read */
} CustomerHistory;

extern void crm_history_apply(CustomerHistory *h, int64 customer, Summary *old,
							  const SummaryChange *changes, int nchanges,
							  int32 as_of, int32 first_day, int64 needed_from,
							  const char *relname);
extern void crm_history_write(CustomerHistory *h);

/* false while a shard is written (shard.c): nothing is sealed */
extern bool crm_history_sealing;

#endif							/* CRM_HISTORY_H */
