/*-------------------------------------------------------------------------
 *
 * customer.h
 *	  The order trigger's way of writing crm.customers without a query
 *	  (customer.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_CUSTOMER_H
#define CRM_CUSTOMER_H

#include "executor/execdesc.h"
#include "nodes/execnodes.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#include "summary.h"
#include "stage_kernel.h"

/* the columns of crm.customers and crm.stage_history the writer touches */
enum
{
	CUST_ID,
	CUST_SUMMARY,				/* CUST_SUMMARY..CUST_STAGE_SINCE are written */
	CUST_RFM,
	CUST_SEGMENT,
	CUST_SCORED_ON,
	CUST_STAGE,
	CUST_STAGE_REASON,
	CUST_STAGE_SINCE,
	CUST_LEVEL,
	CUST_NCOLS
};

enum
{
	HIST_ID,
	HIST_CUSTOMER,
	HIST_FROM_STAGE,
	HIST_TO_STAGE,
	HIST_FROM_LEVEL,
	HIST_TO_LEVEL,
	HIST_CHANGED_AT,
	HIST_SOURCE,
	HIST_REASON,
	HIST_CHANGED_BY,
	HIST_NCOLS
};

/*
 * What the writer needs to know of crm.customers and crm.stage_history,
 * learned once per backend and kept until either table changes (a
 * relcache invalidation: a trigger, constraint or column added or
 * dropped); see customer.c.
 */
typedef struct WriterFacts
{
	Oid			customers;
	Oid			pkey;
	AttrNumber	cust_att[CUST_NCOLS];
	bool		check_constraints;	/* see needs_constraints() */
	bool		fire_before;	/* see has_before_triggers() */
	bool		fire_after;		/* AFTER UPDATE row triggers that can act */
	bool		fk_insert_only; /* see prepare_defaults() */
	Oid			history;
	/* of crm.stage_history, learned with a writer's first history row */
	bool		history_known;
	Oid			history_seq;
	AttrNumber	hist_att[HIST_NCOLS];
	bool		hist_check;		/* see learn_history() */
} WriterFacts;

typedef struct CustomerWriter
{
	const char *source;			/* of history rows; NULL: crm.change_source */
	Relation	customers;
	Relation	history;		/* NULL until the first history row */
	WriterFacts f;				/* a copy: an invalidation cannot move it */
	EState	   *estate;
	ResultRelInfo *cust_info;
	bool		indices_open;	/* see writer_open_indices() */
	ResultRelInfo *hist_info;
	bool		hist_open;		/* prepare_history() done */
	bool		hist_check;		/* evaluate history's constraints */
	Datum		hist_source;
	Datum		hist_changed_at;
	Datum		hist_changed_by;
	bool		defaults_ready; /* defaults and arbiters prepared */
	ExprState **defaults;		/* per column: its default, for new customers */
	List	   *arbiters;		/* the primary key, for ON CONFLICT */
	bool		check_fk_once;	/* see fk_checks_only() */
	bool		fk_checked;		/* a new customer's checks are queued */
	EPQState	epq;
	Relation	index;			/* the primary key, once writer_find() ran */
	struct IndexScanDescData *scan; /* writer_find()'s probe, kept open */
	Snapshot	snapshot;		/* its snapshot, registered */
	TupleTableSlot *old_slot;
	TupleTableSlot *new_slot;
	TupleTableSlot *hist_slot;
} CustomerWriter;

/* what derives from a summary (crm_derive_state) */
typedef struct CustomerDerived
{
	bool		has_rfm;
	int32		rfm;
	text	   *segment;		/* NULL: none */
	CrmStage	stage;
	const char *reason;			/* NULL: the stage stays, keep reason and date */
	const char *reason_code;	/* the inference's reason, changed or not */
} CustomerDerived;

extern Summary *crm_summary_with_changes(Summary *old, const SummaryChange *changes, int nchanges,
										 int64 customer, const char *relname);
extern void crm_derive_state(Summary *s, CrmStage current, int32 stage_since, int32 as_of,
							 CustomerDerived *out);
extern CustomerWriter *crm_writer_begin(const char *source);
extern bool crm_writer_apply(CustomerWriter *w, int64 customer, const SummaryChange *changes,
							 int nchanges, int32 as_of, const char *relname, bool create);
extern void crm_writer_end(CustomerWriter *w);

#endif							/* CRM_CUSTOMER_H */
