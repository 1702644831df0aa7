/*-------------------------------------------------------------------------
 *
 * customer.c
 *	  Writing a customer's maintained state without a query: how the order
 *	  trigger (track.c) applies a statement's orders to crm.customers.
 *
 * A single-order write used to cost one UPDATE through SPI (executor start,
 * a plan with sub-selects, CHECK constraints compiled again, the RFM
 * segment scheme read again) plus the history trigger's INSERT through SPI.
 * Here the row is found through the primary key, recomputed in C and
 * written with the executor's single-row routines (the ones logical
 * replication applies changes with), which keep indexes, constraints and
 * row triggers (the stage guard among them) as an UPDATE does:
 *
 *	1. find the row through the primary key (writer_find()); the write in
 *	   step 4 waits for a concurrent writer of it and, when that one changed
 *	   the row, the customer starts over from its latest version, locked
 *	   this time (the lock follows the update chain), so the change always
 *	   lands on the latest version;
 *	2. apply the order changes to its history (history.c: the row's
 *	   summary, and for a long history its sealed days, read and written
 *	   apart from the row only when needed);
 *	3. derive the RFM score against the stored cutpoints on the business
 *	   date, its rfm_segments label and the inferred stage, exactly as
 *	   crm.rfm_score(), crm.rfm_segment() and crm.infer_stage() do
 *	   (derive_state(), with the rooms' own functions);
 *	4. write the new version (as ExecSimpleRelationUpdate does, but see
 *	   needs_constraints() and has_before_triggers()) and, when the stage
 *	   moved, the crm.stage_history row (as ExecSimpleRelationInsert does,
 *	   with the table's defaults for what the writer does not fill; see
 *	   prepare_history()).
 *
 * A customer not there yet is inserted (with unknown_customers =>
 * 'create') as INSERT ... ON CONFLICT DO NOTHING would insert it: a
 * speculative insertion on the primary key (writer_insert()); when another
 * transaction creates it first, the writer updates that row instead.
 * Customers are written in customer_id order (the caller sorts), so
 * concurrent statements cannot deadlock on them.
 *
 * Per-row work skipped, only where it cannot act:
 *	- crm's own CHECK constraints on crm.customers read columns the writer
 *	  copies unchanged (needs_constraints());
 *	- the stage guard need not be fired when it is the only BEFORE UPDATE
 *	  row trigger: inference proposes legal moves only (checked again in
 *	  crm_writer_apply());
 *	- foreign-key AFTER UPDATE triggers on keys the writer never writes
 *	  (key_triggers_only());
 *	- the customers one statement creates share one foreign-key check of
 *	  their non-volatile defaults (prepare_defaults()).
 * The names this relies on are in sqlnames.h, checked by the suite.
 *
 * What differs from an UPDATE statement, and why it does not matter here:
 * statement-level triggers on crm.customers do not fire (the one crm
 * installs, the history trigger, is replaced by step 4), and the write
 * goes to the latest committed version whatever the isolation level (a
 * summary is a sum of orders: applying this statement's orders to the
 * newest version is what a recompute would give).
 *
 * What the writer knows of crm.customers and crm.stage_history (columns,
 * triggers, constraints) is learned once per backend and kept until either
 * table's relcache entry is invalidated; the configuration it reads on the
 * way (cutpoints, thresholds, the segment scheme) is kept by config.c and
 * segment.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "config.h"
#include "customer.h"
#include "history.h"
#include "level.h"
#include "segment.h"
#include "sqlnames.h"
#include "stage.h"

/*
 * The defaults of a table's columns that the writer does not fill, as an
 * INSERT computes them: a non-volatile one (now(), a setting,
 * session_user) once per writer, a volatile one (an identity's next value)
 * for every row.
 */
typedef struct ColumnDefaults
{
	Datum	   *value;			/* per column: the value, when evaluated once */
	bool	   *isnull;
	bool	   *present;		/* the column has a default the writer uses */
	ExprState **per_row;		/* per column: a volatile default, or NULL */
	bool		any_volatile;
} ColumnDefaults;

/*
 * What the writer needs to know of crm.customers and crm.stage_history,
 * learned once per backend and kept until either table changes (a
 * relcache invalidation: a trigger, constraint or column added or
 * dropped).
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
	Oid			complaints;		/* crm.complaints and its customer index */
	Oid			complaints_index;
	AttrNumber	complaint_opened_at;
	Oid			history;
	/* of crm.stage_history, learned with a writer's first history row */
	bool		history_known;
	AttrNumber	hist_att[HIST_NCOLS];
	bool		hist_check;		/* see learn_history() */
	bool		targeted;		/* of a writer's target (crm_writer_begin_on()) */
} WriterFacts;

struct CustomerWriter
{
	const char *source;			/* of history rows; NULL: the table's default */
	Relation	customers;
	Relation	history;		/* NULL until the first history row */
	WriterFacts f;				/* a copy: an invalidation cannot move it */
	EState	   *estate;
	ResultRelInfo *cust_info;
	bool		indices_open;	/* see writer_open_indices() */
	ResultRelInfo *hist_info;
	bool		hist_open;		/* prepare_history() done */
	bool		hist_check;		/* evaluate history's constraints */
	bool		hist_batch;		/* see write_history() */
	TupleTableSlot **hist_buffer;	/* rows waiting for flush_history() */
	int			hist_buffered;
	ColumnDefaults hist_defaults;
	bool		defaults_ready; /* defaults and arbiters prepared */
	ColumnDefaults defaults;	/* for new customers */
	List	   *arbiters;		/* the primary key, for ON CONFLICT */
	bool		check_fk_once;	/* see prepare_defaults() */
	bool		fk_checked;		/* a new customer's checks are queued */
	EPQState	epq;
	Relation	index;			/* the primary key, once writer_find() ran */
	struct IndexScanDescData *scan; /* writer_find()'s probe, kept open */
	Snapshot	snapshot;		/* its snapshot, registered */
	TupleTableSlot *old_slot;
	TupleTableSlot *new_slot;
	TupleTableSlot *hist_slot;
	Relation	complaints;		/* opened with the first customer */
	bool		complaints_empty;
	Relation	complaints_index;
	int64		stage_changes;	/* history rows written: stage moved */
	int64		level_changes;	/* level moved */
};

/* a customer's row as the derivation reads it */
typedef struct CustomerRow
{
	CrmStage	stage;
	int32		stage_since;	/* DATEVAL_NOBEGIN: unknown */
	bool		scored;			/* scored_on known */
	int32		scored_on;
	CrmLevel	level;
	int32		level_since;	/* DATEVAL_NOBEGIN: unknown */
	bool		has_manager;	/* account_manager set */
} CustomerRow;

/* what derives from a summary and the row (derive_state()) */
typedef struct CustomerDerived
{
	bool		has_rfm;
	int32		rfm;
	text	   *segment;		/* NULL: none */
	CrmStage	stage;			/* after the walk */
	int			nmoves;			/* the walk's moves */
	StageMove  *moves;
	const char *reason_code;	/* the inference's reason at as_of */
	bool		level_known;	/* the level was inferred (signals given) */
	LevelProposal level;
} CustomerDerived;

/*
 * The writer's knowledge of crm.customers and crm.stage_history, for the
 * backend (learn_customers(), learn_history()): the trigger, constraint
 * and column analyses cost catalog lookups, and a single-order write
 * would pay them for every order.  Dropped when either table's relcache
 * entry is invalidated, which every change to their triggers, constraints
 * or columns causes.
 */
static WriterFacts facts;
static bool facts_valid = false;
static bool facts_callback = false;

/*
 * The default and generation expressions of a table's columns
 * (build_column_default(); NULL for none), kept for crm.customers and
 * crm.stage_history the same way: building them costs a parse of each
 * stored expression and, for the history's identity, a catalog search for
 * its sequence, which a single-order write would pay for every statement.
 * Each set lives in a context of its own, reset when it is built again
 * (never in the callback): a writer takes copies (column_exprs()) before it
 * evaluates any (a default could call something that writes through another
 * writer), so nothing points into it afterwards.
 */
typedef struct ColumnDefaultExprs
{
	Oid			relid;			/* InvalidOid: none kept */
	int			natts;
	Node	  **expr;
	bool	   *per_statement;	/* a domain's default: not kept (below) */
	MemoryContext cxt;
} ColumnDefaultExprs;

/* two: crm.customers and crm.stage_history (or a shard's, on Citus) */
static ColumnDefaultExprs default_exprs[2];
static int	default_exprs_next = 0;

static void
facts_invalidate(Datum arg, Oid relid)
{
	int			i;

	if (relid == InvalidOid || relid == facts.customers || relid == facts.history)
		facts_valid = false;
	for (i = 0; i < lengthof(default_exprs); i++)
		if (relid == InvalidOid || relid == default_exprs[i].relid)
			default_exprs[i].relid = InvalidOid;
}

static void
facts_register_callback(void)
{
	if (!facts_callback)
	{
		CacheRegisterRelcacheCallback(facts_invalidate, (Datum) 0);
		facts_callback = true;
	}
}

/*
 * The default and generation expressions of rel's columns, kept until rel's
 * relcache entry is invalidated (an ALTER of a default, an identity, an
 * expression or a column is).  The caller holds a lock on rel, so the
 * invalidations that concern it have been taken in.
 */
static ColumnDefaultExprs *
column_default_exprs(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	ColumnDefaultExprs *d = NULL;
	MemoryContext old;
	int			a;

	facts_register_callback();
	for (a = 0; a < lengthof(default_exprs); a++)
		if (default_exprs[a].relid == relid && default_exprs[a].natts == desc->natts)
			return &default_exprs[a];
	/* a free slot, else the one built longest ago */
	for (a = 0; a < lengthof(default_exprs) && d == NULL; a++)
		if (default_exprs[a].relid == InvalidOid)
			d = &default_exprs[a];
	if (d == NULL)
	{
		d = &default_exprs[default_exprs_next];
		default_exprs_next = (default_exprs_next + 1) % lengthof(default_exprs);
	}
	d->relid = InvalidOid;
	if (d->cxt == NULL)
		d->cxt = AllocSetContextCreate(CacheMemoryContext, "crm column defaults",
									   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(d->cxt);
	old = MemoryContextSwitchTo(d->cxt);
	d->natts = desc->natts;
	d->expr = palloc0(desc->natts * sizeof(Node *));
	d->per_statement = palloc0(desc->natts * sizeof(bool));
	for (a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (att->attisdropped)
			continue;
		/*
		 * A column without a default of its own takes its domain's, which
		 * ALTER DOMAIN changes without invalidating the table: built for
		 * every statement, as before.  (A generated column's expression is
		 * its own.)
		 */
		if (!att->atthasdef && get_typtype(att->atttypid) == TYPTYPE_DOMAIN)
			d->per_statement[a] = true;
		else
			d->expr[a] = build_column_default(rel, a + 1);
	}
	MemoryContextSwitchTo(old);
	d->relid = relid;
	return d;
}

/*
 * Copies, in the current memory context, of the kept expressions of rel's
 * columns: the generation expressions (generated) or the defaults of the
 * others but those filled[a] (filled may be NULL); NULL elsewhere.  All are
 * copied before the caller evaluates any.
 */
static Node **
column_exprs(Relation rel, bool generated, const bool *filled)
{
	ColumnDefaultExprs *kept = column_default_exprs(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	Node	  **exprs = palloc0(desc->natts * sizeof(Node *));
	int			a;

	for (a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (att->attisdropped || (att->attgenerated != '\0') != generated || (filled && filled[a]))
			continue;
		exprs[a] = kept->per_statement[a] ? build_column_default(rel, a + 1) : copyObject(kept->expr[a]);
	}
	return exprs;
}

/* ---------------------------------------------------------------------
 * Summaries and what derives from them
 * ---------------------------------------------------------------------
 */

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * The customer's complaint days (opened_at as a date in the session's
 * time zone), ascending, through the complaints' customer index; none
 * without a look when the table is empty.  *n gets how many.
 */
static int32 *
complaint_days(CustomerWriter *w, int64 customer, int *n)
{
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int32	   *days = NULL;
	int			cap = 0;
	MemoryContext old;

	*n = 0;
	if (w->complaints == NULL)
	{
		old = MemoryContextSwitchTo(w->estate->es_query_cxt);
		w->complaints = table_open(w->f.complaints, AccessShareLock);
		w->complaints_empty = RelationGetNumberOfBlocks(w->complaints) == 0;
		if (!w->complaints_empty)
			w->complaints_index = index_open(w->f.complaints_index, AccessShareLock);
		MemoryContextSwitchTo(old);
	}
	if (w->complaints_empty)
		return NULL;
	slot = table_slot_create(w->complaints, NULL);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(customer));
	/*
	 * With the snapshot the row was found with (taken after the writer's
	 * command counter increment): from the service tables' AFTER trigger,
	 * the statement's own complaints count, which the active snapshot (the
	 * statement's) does not see.
	 */
	scan = index_beginscan(w->complaints, w->complaints_index,
						   w->snapshot != NULL ? w->snapshot : GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		at = slot_getattr(slot, w->f.complaint_opened_at, &isnull);

		if (isnull)
			continue;
		if (*n == cap)
		{
			cap = cap ? 2 * cap : 8;
			days = days ? repalloc(days, cap * sizeof(int32)) : palloc(cap * sizeof(int32));
		}
		days[(*n)++] = DatumGetDateADT(DirectFunctionCall1(timestamptz_date, at));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	if (*n > 1)
		qsort(days, *n, sizeof(int32), int32_cmp);
	return days;
}

/*
 * What the state of row as of as_of reads of its history, for history.c
 * to lend a sealed history's blocks: the stats as of the walk's first
 * checkpoint (*first_day) and later, and the days from the windows of
 * that checkpoint and, when levels are inferred, the level's window on
 * (returned).  old: the row's summary (NULL: none).
 */
static int64
history_needed(Summary *old, const CustomerRow *row, int32 as_of, bool levels, int32 *first_day)
{
	SummaryView v;
	int32		from;
	int64		needed;

	crm_summary_view(old, &v);
	from = Min(crm_walk_from(&v, row->scored, row->scored_on, as_of), as_of - 1);
	*first_day = from + 1;
	needed = (int64) from - 2 * (int64) crm_stage_thresholds()->window_days;
	if (levels)
		needed = Min(needed, (int64) as_of - crm_level_thresholds()->level_window_days);
	return needed;
}

/*
 * What the maintenance writes after the summary: the score against the
 * stored cutpoints on as_of and its rfm_segments label; the stage walked
 * from the last evaluation to as_of (the moves with their days), with the
 * customer's complaints and the stored model; and, when the caller gives
 * the level signals, the level they propose (the order trigger gives none:
 * an order does not move a level).
 */
static void
derive_state(CustomerWriter *w, int64 customer, const CustomerHistory *h, const CustomerRow *row,
			 int32 as_of, const LevelSignals *level_signals, CustomerDerived *out)
{
	const RfmCutpoints *cp = crm_stored_cutpoints();
	int32	   *complaints;
	int			ncomplaints;
	StageProposal last;

	out->has_rfm = h->summary != NULL && cp != NULL && crm_rfm_score_at(&h->view, cp, as_of, &out->rfm);
	out->segment = out->has_rfm ? crm_rfm_segment(out->rfm) : NULL;
	complaints = complaint_days(w, customer, &ncomplaints);
	out->nmoves = crm_stage_walk(row->stage, row->stage_since,
								 crm_walk_from(&h->view, row->scored, row->scored_on, as_of), as_of,
								 h->summary != NULL ? &h->view : NULL, complaints, ncomplaints,
								 crm_stored_model(), &out->moves, &last);
	out->stage = out->nmoves > 0 ? out->moves[out->nmoves - 1].proposal.stage : row->stage;
	out->reason_code = stage_reason_code(last.reason);
	out->level_known = level_signals != NULL;
	if (level_signals != NULL)
	{
		LevelSignals ls = *level_signals;
		SummaryStats st;

		ls.as_of = as_of;
		ls.stage = out->stage;
		ls.level_since = DATE_NOT_FINITE(row->level_since) ? STAGE_SINCE_UNKNOWN : row->level_since;
		ls.account_manager = row->has_manager ? 1 : 0;
		ls.tenure_days = -1;
		ls.purchase_days = 0;
		if (h->summary != NULL)
		{
			const LevelThresholds *t = crm_level_thresholds();

			if (summary_view_stats(&h->view, as_of, &st) == SUMMARY_OK && st.purchase_days > 0)
				ls.tenure_days = as_of - st.first_purchase;
			if (summary_view_range(&h->view, (int64) as_of - t->level_window_days, as_of, &st) == SUMMARY_OK)
				ls.purchase_days = st.purchase_days;
		}
		level_infer(row->level, &ls, crm_level_thresholds(), &out->level);
	}
}

/* ---------------------------------------------------------------------
 * The writer
 * ---------------------------------------------------------------------
 */

/* the columns the writer reads and writes (sqlnames.h) */
static const char *const customer_columns[CUST_NCOLS] = {CRM_CUSTOMER_COLUMNS(CRM_COLUMN_NAME)};
static const char *const history_columns[HIST_NCOLS] = {CRM_HISTORY_COLUMNS(CRM_COLUMN_NAME)};

/*
 * The columns the writer writes on an update (an order writes the first
 * seven; a rescoring also the level's three), and on an insert (the key
 * and the order's seven; the level gets its default).
 */
static bool
updates_column(int c)
{
	return (c >= CUST_SUMMARY && c <= CUST_STAGE_SINCE) ||
		c == CUST_LEVEL || c == CUST_LEVEL_REASON || c == CUST_LEVEL_SINCE;
}

static bool
inserts_column(int c)
{
	return c >= CUST_ID && c <= CUST_STAGE_SINCE;
}

static void
find_columns(Relation rel, const char *const *names, int n, AttrNumber *attnums)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i,
				a;

	for (i = 0; i < n; i++)
	{
		attnums[i] = InvalidAttrNumber;
		for (a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), names[i]) == 0)
			{
				attnums[i] = att->attnum;
				break;
			}
		}
		if (attnums[i] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of crm.%s does not exist", names[i], RelationGetRelationName(rel)),
					 errhint(CRM_OBJECT_MISSING_HINT)));
	}
}

/* whether a trigger is crm's stage guard (on a Citus shard, its copy there) */
static bool
is_stage_guard(const char *name)
{
	size_t		len = strlen(CRM_STAGE_GUARD);

	if (strncmp(name, CRM_STAGE_GUARD, len) != 0)
		return false;
	name += len;
	if (*name == '\0')
		return true;
	/* on a Citus shard: named after the shard (stage_guard_102008) */
	if (*name++ != '_' || *name == '\0')
		return false;
	for (; *name; name++)
		if (*name < '0' || *name > '9')
			return false;
	return true;
}

/*
 * Whether crm.customers has BEFORE UPDATE row triggers besides crm's stage
 * guard.  The guard alone need not be fired for the writer's rows: it
 * refuses illegal transitions, and the inference only proposes legal ones
 * (stage_infer(), unit-tested; crm_writer_apply() checks it again for
 * the price of a table lookup).
 */
static bool
has_before_triggers(Relation rel)
{
	TriggerDesc *trig = rel->trigdesc;
	int			i;

	if (trig != NULL)
		for (i = 0; i < trig->numtriggers; i++)
			if (TRIGGER_FOR_ROW(trig->triggers[i].tgtype) &&
				TRIGGER_FOR_BEFORE(trig->triggers[i].tgtype) &&
				TRIGGER_FOR_UPDATE(trig->triggers[i].tgtype) &&
				!is_stage_guard(trig->triggers[i].tgname))
				return true;
	return false;
}

/*
 * Whether a write of the maintained columns must evaluate the table's
 * constraints.  crm's own CHECK constraints on crm.customers (kind,
 * service_level) read columns the writer copies unchanged from a row that
 * met them, and the one NOT NULL column it writes (stage) it always fills;
 * evaluating them would only cost compiling their expressions again for
 * every single-order write.  Any other CHECK constraint, a NOT NULL on
 * another written column, or a BEFORE UPDATE row trigger besides the stage
 * guard (which could change any column) makes the writer evaluate them all,
 * as an UPDATE does.
 */
static bool
needs_constraints(Relation rel, const AttrNumber *cust_att)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	int			i;

	if (constr == NULL)
		return false;
	for (i = 0; i < constr->num_check; i++)
		if (strcmp(constr->check[i].ccname, CRM_CUSTOMERS_KIND_CHECK) != 0 &&
			strcmp(constr->check[i].ccname, CRM_CUSTOMERS_SERVICE_LEVEL_CHECK) != 0)
			return true;
	for (i = 0; i < CUST_NCOLS; i++)
		if (updates_column(i) && i != CUST_STAGE && i != CUST_LEVEL &&
			TupleDescAttr(RelationGetDescr(rel), cust_att[i] - 1)->attnotnull)
			return true;
	return has_before_triggers(rel);
}

/*
 * Whether every AFTER row trigger of crm.customers for the event (INSERT
 * or UPDATE) is a foreign-key trigger whose key columns on crm.customers
 * the writer does not compute: for an update, the referencing side's
 * check and the referenced side's action only do anything when their key
 * changes, which the writer's updates never do; for an insert, see
 * prepare_defaults().
 */
static bool
key_triggers_only(Relation rel, const AttrNumber *cust_att, bool insert)
{
	TriggerDesc *trig = rel->trigdesc;
	int			i,
				k,
				c;

	for (i = 0; trig != NULL && i < trig->numtriggers; i++)
	{
		Trigger    *t = &trig->triggers[i];
		int			side;
		HeapTuple	tup;
		Datum		d;
		bool		isnull;
		ArrayType  *key;
		int16	   *cols;
		bool		written = false;

		if (!TRIGGER_FOR_ROW(t->tgtype) || !TRIGGER_FOR_AFTER(t->tgtype) ||
			!(insert ? TRIGGER_FOR_INSERT(t->tgtype) : TRIGGER_FOR_UPDATE(t->tgtype)))
			continue;
		side = RI_FKey_trigger_type(t->tgfoid);
		if (side == RI_TRIGGER_NONE || (insert && side != RI_TRIGGER_FK) || !OidIsValid(t->tgconstraint))
			return false;
		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(t->tgconstraint));
		if (!HeapTupleIsValid(tup))
			return false;
		d = SysCacheGetAttr(CONSTROID, tup,
							side == RI_TRIGGER_FK ? Anum_pg_constraint_conkey : Anum_pg_constraint_confkey,
							&isnull);
		if (!isnull)
		{
			key = DatumGetArrayTypeP(d);
			cols = (int16 *) ARR_DATA_PTR(key);
			for (k = 0; k < ArrayGetNItems(ARR_NDIM(key), ARR_DIMS(key)); k++)
				for (c = 0; c < CUST_NCOLS; c++)
					written |= (insert ? inserts_column(c) : updates_column(c)) && cols[k] == cust_att[c];
		}
		ReleaseSysCache(tup);
		if (isnull || written)
			return false;
	}
	return true;
}

/*
 * crm.complaints, its index on (customer_id, ...) and where opened_at is:
 * the walk counts a customer's complaints (derive_state()).
 */
static void
learn_complaints(WriterFacts *f, const CrmWriterTarget *target)
{
	Relation	rel;
	Relation	index;
	AttrNumber	customer_att;

	f->complaints = target ? target->complaints : crm_relid(CRM_COMPLAINTS);
	f->complaints_index = target ? target->complaints_index : crm_relid(CRM_COMPLAINTS_INDEX);
	rel = table_open(f->complaints, AccessShareLock);
	customer_att = SPI_fnumber(RelationGetDescr(rel), "customer_id");
	f->complaint_opened_at = SPI_fnumber(RelationGetDescr(rel), "opened_at");
	index = index_open(f->complaints_index, AccessShareLock);
	if (customer_att <= 0 || f->complaint_opened_at <= 0 ||
		index->rd_index->indkey.values[0] != customer_att ||
		TupleDescAttr(RelationGetDescr(rel), customer_att - 1)->atttypid != INT8OID ||
		TupleDescAttr(RelationGetDescr(rel), f->complaint_opened_at - 1)->atttypid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm.%s must lead with customer_id bigint, and crm.%s have opened_at timestamptz",
						CRM_COMPLAINTS_INDEX, CRM_COMPLAINTS),
				 errhint(CRM_OBJECT_MISSING_HINT)));
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
}

static void
learn_customers(Relation rel, const CrmWriterTarget *target)
{
	WriterFacts f;

	facts_register_callback();
	memset(&f, 0, sizeof(f));
	f.customers = RelationGetRelid(rel);
	f.pkey = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(f.pkey))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm.customers has no primary key"),
				 errhint(CRM_OBJECT_MISSING_HINT)));
	find_columns(rel, customer_columns, CUST_NCOLS, f.cust_att);
	f.check_constraints = needs_constraints(rel, f.cust_att);
	f.fire_before = has_before_triggers(rel);
	/* a BEFORE trigger of the site's own could change a key */
	f.fire_after = f.fire_before || !key_triggers_only(rel, f.cust_att, false);
	/* a BEFORE INSERT trigger could give each new row other values */
	f.fk_insert_only = key_triggers_only(rel, f.cust_att, true) &&
		!(rel->trigdesc && rel->trigdesc->trig_insert_before_row);
	f.targeted = target != NULL;
	f.history = target ? target->history : crm_relid(CRM_STAGE_HISTORY);
	learn_complaints(&f, target);
	facts = f;
	facts_valid = true;
}

/*
 * crm.stage_history's columns, and whether its rows' constraints need
 * evaluating: crm's own CHECK on source is met when the source is one of
 * its four values (prepare_history()), and the NOT NULL columns are filled
 * (by the writer, or by defaults: see prepare_history()), so only another
 * CHECK or a BEFORE INSERT row trigger (which could change anything) makes
 * it evaluate them.
 */
static void
learn_history(Relation rel)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	int			i;

	find_columns(rel, history_columns, HIST_NCOLS, facts.hist_att);
	facts.hist_check = rel->trigdesc != NULL && rel->trigdesc->trig_insert_before_row;
	for (i = 0; constr != NULL && i < constr->num_check; i++)
		facts.hist_check |= strcmp(constr->check[i].ccname, CRM_HISTORY_SOURCE_CHECK) != 0;
	facts.history_known = true;
}

/*
 * The stored generated columns of info's table (crm.customers' purchase
 * figures), prepared from the kept expressions for the writer's
 * ExecComputeStoredGenerated(), which otherwise parses each from the
 * catalog for every statement (ExecInitStoredGenerated()).  All of them,
 * for inserts and updates alike: what that does too for a table with a
 * BEFORE UPDATE row trigger, as crm.customers has (crm.stage_guard), and
 * each is a function of the row being written, so computing one that did
 * not need it changes nothing.
 */
static void
prepare_generated(ResultRelInfo *info, EState *estate)
{
	Relation	rel = info->ri_RelationDesc;
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old;
	Node	  **exprs;
	int			a;

	if (!(desc->constr && desc->constr->has_generated_stored))
		return;
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	exprs = column_exprs(rel, true, NULL);
	info->ri_GeneratedExprs = palloc0(desc->natts * sizeof(ExprState *));
	info->ri_NumGeneratedNeeded = 0;
	for (a = 0; a < desc->natts; a++)
		if (TupleDescAttr(desc, a)->attgenerated)
		{
			if (exprs[a] == NULL)
				elog(ERROR, "crm: no generation expression for column %d of \"%s\"",
					 a + 1, RelationGetRelationName(rel));
			info->ri_GeneratedExprs[a] = ExecPrepareExpr((Expr *) exprs[a], estate);
			info->ri_NumGeneratedNeeded++;
		}
	MemoryContextSwitchTo(old);
}

/*
 * The defaults of rel's columns but those the writer fills (filled[a]),
 * prepared in the writer's memory: non-volatile ones evaluated now, the
 * others kept for every row (column_defaults_apply()).  *not_null_unmet is
 * set when a NOT NULL column is neither filled nor sure to get a value.
 */
static void
column_defaults_prepare(CustomerWriter *w, Relation rel, const bool *filled,
						ColumnDefaults *d, bool *not_null_unmet)
{
	TupleDesc	desc = RelationGetDescr(rel);
	ExprContext *econtext = GetPerTupleExprContext(w->estate);
	MemoryContext old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	Node	  **exprs = column_exprs(rel, false, filled);
	int			a;

	d->value = palloc0(desc->natts * sizeof(Datum));
	d->isnull = palloc(desc->natts * sizeof(bool));
	d->present = palloc0(desc->natts * sizeof(bool));
	d->per_row = palloc0(desc->natts * sizeof(ExprState *));
	d->any_volatile = false;
	*not_null_unmet = false;
	for (a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		Node	   *expr;

		d->isnull[a] = true;
		/* a stored generated column is computed before the write */
		if (att->attisdropped || filled[a] || att->attgenerated)
			continue;
		expr = exprs[a];
		if (expr == NULL)
		{
			*not_null_unmet |= att->attnotnull;
			continue;
		}
		d->present[a] = true;
		if (contain_volatile_functions(expr))
		{
			d->per_row[a] = ExecPrepareExpr((Expr *) expr, w->estate);
			d->any_volatile = true;
			/* an identity's next value is never NULL; anything else may be */
			*not_null_unmet |= att->attnotnull && !IsA(expr, NextValueExpr);
		}
		else
		{
			Datum		v = ExecEvalExprSwitchContext(ExecPrepareExpr((Expr *) expr, w->estate),
													  econtext, &d->isnull[a]);

			if (!d->isnull[a])
				d->value[a] = datumCopy(v, att->attbyval, att->attlen);
			*not_null_unmet |= att->attnotnull && d->isnull[a];
		}
	}
	ResetExprContext(econtext);
	MemoryContextSwitchTo(old);
}

/* the defaults into slot's values, which are then all NULL elsewhere */
static void
column_defaults_apply(CustomerWriter *w, const ColumnDefaults *d, TupleTableSlot *slot)
{
	ExprContext *econtext = GetPerTupleExprContext(w->estate);
	int			natts = slot->tts_tupleDescriptor->natts;
	int			a;

	for (a = 0; a < natts; a++)
	{
		if (d->per_row[a] != NULL)
			slot->tts_values[a] = ExecEvalExprSwitchContext(d->per_row[a], econtext, &slot->tts_isnull[a]);
		else
		{
			slot->tts_values[a] = d->value[a];
			slot->tts_isnull[a] = d->isnull[a];
		}
	}
}

static RangeTblEntry *
writer_rte(Oid relid)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	return rte;
}

CustomerWriter *
crm_writer_begin(const char *source)
{
	return crm_writer_begin_on(source, NULL);
}

/*
 * A writer of other relations than crm.customers and its tables (target;
 * NULL: those): on Citus, a shard of crm.customers and its co-located
 * shards (shard.c).
 */
CustomerWriter *
crm_writer_begin_on(const char *source, const CrmWriterTarget *target)
{
	CustomerWriter *w = palloc0(sizeof(CustomerWriter));
	Oid			customers = target ? target->customers : InvalidOid;
	MemoryContext old;
	RangeTblEntry *cust_rte;
	RangeTblEntry *hist_rte;
	Bitmapset  *updated = NULL;
	int			i;

	/* see every change made so far, this statement's included */
	CommandCounterIncrement();

	w->source = source;
	/* opening it takes the lock, which takes in any invalidation first */
	if (!OidIsValid(customers))
		customers = facts_valid && !facts.targeted ? facts.customers : crm_relid(CRM_CUSTOMERS);
	w->customers = table_open(customers, RowExclusiveLock);
	if (!facts_valid || facts.customers != RelationGetRelid(w->customers))
		learn_customers(w->customers, target);
	w->f = facts;

	w->estate = CreateExecutorState();
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	cust_rte = writer_rte(RelationGetRelid(w->customers));
	/* what an UPDATE of the maintained columns names (column triggers) */
	for (i = 0; i < CUST_NCOLS; i++)
		if (updates_column(i))
			updated = bms_add_member(updated, w->f.cust_att[i] - FirstLowInvalidHeapAttributeNumber);
	cust_rte->updatedCols = updated;
	/* crm.stage_history is opened with its first row (prepare_history()) */
	hist_rte = writer_rte(w->f.history);
	ExecInitRangeTable(w->estate, list_make2(cust_rte, hist_rte));
	w->cust_info = makeNode(ResultRelInfo);
	InitResultRelInfo(w->cust_info, w->customers, 1, NULL, 0);
	prepare_generated(w->cust_info, w->estate);
	/* the row triggers fired at the end find them here, and are closed with them */
	w->estate->es_opened_result_relations = list_make1(w->cust_info);
	w->estate->es_output_cid = GetCurrentCommandId(true);
	w->estate->es_snapshot = GetActiveSnapshot();
	w->old_slot = table_slot_create(w->customers, &w->estate->es_tupleTable);
	w->new_slot = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(w->customers), &TTSOpsVirtual);
	EvalPlanQualInit(&w->epq, w->estate, NULL, NIL, -1);
	MemoryContextSwitchTo(old);
	/* the row triggers the writes queue fire when the writer ends */
	AfterTriggerBeginQuery();
	return w;
}

/*
 * What every history row of one writer shares, prepared with its first:
 * the table and its indexes, the defaults of the columns the writer does
 * not fill (the identity, the time crm.change_time(), who session_user,
 * and, unless the writer has a source of its own, the source
 * crm.change_source()): the table's, as crm.record_stage_changes()'s
 * INSERT takes them; and whether the rows' constraints need evaluating
 * (learn_history(), a NOT NULL column a default may leave NULL, and a
 * source that is not one of the four the CHECK allows).
 */
static void
prepare_history(CustomerWriter *w)
{
	MemoryContext old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	TupleDesc	desc;
	bool	   *filled;
	bool		unmet;
	int			src;
	const char *source = NULL;
	int			i;

	w->history = table_open(w->f.history, RowExclusiveLock);
	if (!facts_valid || !facts.history_known || facts.history != w->f.history)
		learn_history(w->history);
	memcpy(w->f.hist_att, facts.hist_att, sizeof(facts.hist_att));
	w->hist_info = makeNode(ResultRelInfo);
	InitResultRelInfo(w->hist_info, w->history, 2, NULL, 0);
	w->estate->es_opened_result_relations = lappend(w->estate->es_opened_result_relations, w->hist_info);
	desc = RelationGetDescr(w->history);
	w->hist_slot = ExecInitExtraTupleSlot(w->estate, desc, &TTSOpsVirtual);
	ExecOpenIndices(w->hist_info, false);
	MemoryContextSwitchTo(old);

	filled = palloc0(desc->natts * sizeof(bool));
	for (i = 0; i < HIST_NCOLS; i++)
		if ((i != HIST_SOURCE || w->source != NULL) && i != HIST_CHANGED_AT)
			filled[w->f.hist_att[i] - 1] = true;
	if (!w->f.targeted)
		column_defaults_prepare(w, w->history, filled, &w->hist_defaults, &unmet);
	else
	{
		/*
		 * A Citus shard has no identity of its own: the defaults are the
		 * distributed table's (its sequence on this node), whose columns
		 * the shard has, in the same places.
		 */
		Relation	shell = table_open(crm_relid(CRM_STAGE_HISTORY), AccessShareLock);

		if (RelationGetDescr(shell)->natts != desc->natts)
			elog(ERROR, "crm: the shard %s does not have the columns of crm.stage_history",
				 RelationGetRelationName(w->history));
		column_defaults_prepare(w, shell, filled, &w->hist_defaults, &unmet);
		table_close(shell, AccessShareLock);
	}
	src = w->f.hist_att[HIST_SOURCE] - 1;
	if (w->source != NULL)
		source = w->source;
	else if (w->hist_defaults.present[src] && w->hist_defaults.per_row[src] == NULL &&
			 !w->hist_defaults.isnull[src])
		source = TextDatumGetCString(w->hist_defaults.value[src]);
	w->hist_check = facts.hist_check || unmet || source == NULL ||
		(strcmp(source, "inference") != 0 && strcmp(source, "user") != 0 &&
		 strcmp(source, "import") != 0 && strcmp(source, "override") != 0);
	w->hist_batch = !(w->hist_info->ri_TrigDesc && w->hist_info->ri_TrigDesc->trig_insert_before_row);
	w->hist_open = true;
}

/* history rows one multi-insert writes (write_history()) */
#define HIST_BUFFER_ROWS 1000

/*
 * The history rows waiting, written with one multi-insert (as COPY
 * writes), then their index entries and AFTER row triggers, row by row
 * as ExecSimpleRelationInsert() would.
 */
static void
flush_history(CustomerWriter *w)
{
	int			i;

	if (w->hist_buffered == 0)
		return;
	table_multi_insert(w->history, w->hist_buffer, w->hist_buffered, w->estate->es_output_cid, 0, NULL);
	for (i = 0; i < w->hist_buffered; i++)
	{
		TupleTableSlot *slot = w->hist_buffer[i];
		List	   *recheck = NIL;

		ResetPerTupleExprContext(w->estate);
		if (w->hist_info->ri_NumIndices > 0)
			recheck = ExecInsertIndexTuples(w->hist_info, slot, w->estate, false, false, NULL, NIL);
		ExecARInsertTriggers(w->estate, w->hist_info, slot, recheck, NULL);
		list_free(recheck);
		ExecClearTuple(slot);
	}
	w->hist_buffered = 0;
}

/*
 * One history row, as ExecSimpleRelationInsert() writes it, constraints
 * only when prepare_history() says: stage and level from and to, the
 * reason (a text Datum, or none), and the day of the change when it is
 * not the business date being written (a walk's move at an earlier month
 * end; DATEVAL_NOBEGIN: the changed_at default).  Unless a BEFORE INSERT
 * row trigger may change or skip it, the row waits, with up to
 * HIST_BUFFER_ROWS others, for one multi-insert (flush_history(), and at
 * the writer's end): an attach writes a few rows for every customer, and
 * a heap insert of each (a WAL record and a buffer lock apiece) cost more
 * than the row.  Nothing the writer reads meanwhile reads the history.
 */
static void
write_history(CustomerWriter *w, int64 customer, CrmStage from_stage, CrmStage to_stage,
			  Datum from_level, Datum to_level, const char *reason, int32 day)
{
	TupleTableSlot *slot;
	ResultRelInfo *info;
	Relation	rel;
	List	   *recheck = NIL;

	if (!w->hist_open)
		prepare_history(w);
	slot = w->hist_slot;
	info = w->hist_info;
	rel = w->history;
	ExecClearTuple(slot);
	column_defaults_apply(w, &w->hist_defaults, slot);
#define HIST_SET(col, value, isnull) \
	(slot->tts_values[w->f.hist_att[col] - 1] = (value), slot->tts_isnull[w->f.hist_att[col] - 1] = (isnull))
	HIST_SET(HIST_CUSTOMER, Int64GetDatum(customer), false);
	HIST_SET(HIST_FROM_STAGE, CharGetDatum((char) from_stage), false);
	HIST_SET(HIST_TO_STAGE, CharGetDatum((char) to_stage), false);
	HIST_SET(HIST_FROM_LEVEL, from_level, false);
	HIST_SET(HIST_TO_LEVEL, to_level, false);
	HIST_SET(HIST_REASON, reason ? CStringGetTextDatum(reason) : (Datum) 0, reason == NULL);
	if (w->source != NULL)
		HIST_SET(HIST_SOURCE, CStringGetTextDatum(w->source), false);
	if (!DATE_NOT_FINITE(day))
		HIST_SET(HIST_CHANGED_AT, DirectFunctionCall1(date_timestamptz, DateADTGetDatum(day)), false);
#undef HIST_SET
	ExecStoreVirtualTuple(slot);

	if (info->ri_TrigDesc && info->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(w->estate, info, slot))
		return;
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(info, w->estate, slot, CMD_INSERT);
	if (w->hist_check)
		ExecConstraints(info, slot, w->estate);
	if (w->hist_batch)
	{
		MemoryContext old = MemoryContextSwitchTo(w->estate->es_query_cxt);

		if (w->hist_buffer == NULL)
			w->hist_buffer = palloc0(HIST_BUFFER_ROWS * sizeof(TupleTableSlot *));
		if (w->hist_buffer[w->hist_buffered] == NULL)
			w->hist_buffer[w->hist_buffered] = table_slot_create(rel, &w->estate->es_tupleTable);
		MemoryContextSwitchTo(old);
		ExecCopySlot(w->hist_buffer[w->hist_buffered++], slot);
		if (w->hist_buffered == HIST_BUFFER_ROWS)
			flush_history(w);
	}
	else
	{
		simple_table_tuple_insert(rel, slot);
		if (info->ri_NumIndices > 0)
			recheck = ExecInsertIndexTuples(info, slot, w->estate, false, false, NULL, NIL);
		ExecARInsertTriggers(w->estate, info, slot, recheck, NULL);
		list_free(recheck);
	}
	if (from_stage != to_stage)
		w->stage_changes++;
	if (DatumGetObjectId(from_level) != DatumGetObjectId(to_level))
		w->level_changes++;
}

/*
 * The customers' indexes, opened by the first write that needs them: an
 * update that stays on its page (HOT) needs none, and a writer's probe
 * opens the primary key by itself.
 */
static void
writer_open_indices(CustomerWriter *w)
{
	MemoryContext old;

	if (w->indices_open)
		return;
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	ExecOpenIndices(w->cust_info, false);
	MemoryContextSwitchTo(old);
	w->indices_open = true;
}

/*
 * ExecSimpleRelationUpdate(), with the constraints evaluated only when
 * needs_constraints() says so, and without an error when the
 * version read was updated or deleted by another transaction since the
 * probe's snapshot (when the writer did not lock it first): false then,
 * nothing written, and the caller locks the latest version and recomputes.
 * heap_update() waits for a writer in progress, so two writers of one
 * customer queue as two UPDATEs do.
 */
static bool
writer_update(CustomerWriter *w, TupleTableSlot *old, TupleTableSlot *new)
{
	Relation	rel = w->customers;
	ResultRelInfo *info = w->cust_info;
	ItemPointer tid = &old->tts_tid;
	List	   *recheck = NIL;
	bool		update_indexes;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	TM_Result	res;

	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	if (w->f.fire_before && !ExecBRUpdateTriggers(w->estate, &w->epq, info, tid, NULL, new, NULL))
		return true;
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(info, w->estate, new, CMD_UPDATE);
	if (w->f.check_constraints)
		ExecConstraints(info, new, w->estate);
	res = table_tuple_update(rel, tid, new, w->estate->es_output_cid, w->estate->es_snapshot,
							 InvalidSnapshot, true, &tmfd, &lockmode, &update_indexes);
	if (res == TM_Updated || res == TM_Deleted)
		return false;
	if (res != TM_Ok)
		elog(ERROR, "crm: could not update customer row (status %d)", (int) res);
	if (update_indexes)
		writer_open_indices(w);
	if (info->ri_NumIndices > 0 && update_indexes)
		recheck = ExecInsertIndexTuples(info, new, w->estate, true, false, NULL, NIL);
	if (w->f.fire_after)
		ExecARUpdateTriggers(w->estate, info, NULL, NULL, tid, NULL, new, recheck, NULL, false);
	list_free(recheck);
	return true;
}

/*
 * The defaults of the columns a new customer gets no value for, prepared
 * once per writer (the first customer it creates), and what the ON
 * CONFLICT check needs.
 */
static void
prepare_defaults(CustomerWriter *w)
{
	TupleDesc	desc = RelationGetDescr(w->customers);
	bool	   *filled = palloc0(desc->natts * sizeof(bool));
	bool		unmet;
	MemoryContext old;
	int			i;

	writer_open_indices(w);
	for (i = 0; i < CUST_NCOLS; i++)
		if (inserts_column(i))
			filled[w->f.cust_att[i] - 1] = true;
	/* an insert evaluates the constraints anyway: unmet needs no answer */
	column_defaults_prepare(w, w->customers, filled, &w->defaults, &unmet);
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	/*
	 * With only foreign-key checks on columns filled from non-volatile
	 * defaults, and no BEFORE INSERT trigger that could change them, every
	 * customer one writer creates has the same values there, and one check
	 * (which also locks the referenced row until the transaction ends)
	 * answers for all: the writer queues the triggers for its first new
	 * customer only.  (A 200,000-customer load would otherwise run 200,000
	 * identical queries.)
	 */
	w->check_fk_once = !w->defaults.any_volatile && w->f.fk_insert_only;
	w->arbiters = list_make1_oid(w->f.pkey);
	/* what the ON CONFLICT check needs of the unique indexes */
	for (i = 0; i < w->cust_info->ri_NumIndices; i++)
		if (w->cust_info->ri_IndexRelationInfo[i]->ii_Unique)
			BuildSpeculativeIndexInfo(w->cust_info->ri_IndexRelationDescs[i],
									  w->cust_info->ri_IndexRelationInfo[i]);
	MemoryContextSwitchTo(old);
	w->defaults_ready = true;
}

/*
 * Insert the new customer in slot as INSERT ... ON CONFLICT DO NOTHING
 * would (speculative insertion on the primary key): false when another
 * transaction created it first, and then nothing was written.
 */
static bool
writer_insert(CustomerWriter *w, TupleTableSlot *slot)
{
	Relation	rel = w->customers;
	ResultRelInfo *info = w->cust_info;
	uint32		token;
	bool		spec_conflict = false;
	List	   *recheck;

	if (info->ri_TrigDesc && info->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(w->estate, info, slot))
		return true;			/* a trigger skipped it, as for an INSERT */
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(info, w->estate, slot, CMD_INSERT);
	if (rel->rd_att->constr)
		ExecConstraints(info, slot, w->estate);
	/*
	 * No ExecCheckIndexConstraints() pre-check: the caller's probe just saw
	 * no such customer; one another transaction inserts (or has inserted
	 * since the writer's snapshot) is caught by the speculative insertion
	 * itself, which waits for that transaction.
	 */
	token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
	table_tuple_insert_speculative(rel, slot, w->estate->es_output_cid, 0, NULL, token);
	recheck = ExecInsertIndexTuples(info, slot, w->estate, false, true, &spec_conflict, w->arbiters);
	table_tuple_complete_speculative(rel, slot, token, !spec_conflict);
	SpeculativeInsertionLockRelease(GetCurrentTransactionId());
	if (spec_conflict)
	{
		list_free(recheck);
		return false;
	}
	if (!w->check_fk_once || !w->fk_checked)
		ExecARInsertTriggers(w->estate, info, slot, recheck, NULL);
	w->fk_checked = true;
	list_free(recheck);
	return true;
}

/*
 * The derived state into the row in slot: scores, segment, the stage
 * after the walk (its reason and since when it is held, when it moved),
 * and, when inferred, the level; the day as of which it was scored.
 */
static void
set_derived(CustomerWriter *w, TupleTableSlot *slot, Summary *s, const CustomerDerived *d,
			int32 as_of)
{
	AttrNumber *att = w->f.cust_att;

#define CUST_SET(col, value, isnull) \
	(slot->tts_values[att[col] - 1] = (value), slot->tts_isnull[att[col] - 1] = (isnull))
	CUST_SET(CUST_SUMMARY, PointerGetDatum(s), s == NULL);
	CUST_SET(CUST_RFM, Int32GetDatum(d->rfm), !d->has_rfm);
	CUST_SET(CUST_SEGMENT, PointerGetDatum(d->segment), d->segment == NULL);
	CUST_SET(CUST_SCORED_ON, DateADTGetDatum(as_of), false);
	CUST_SET(CUST_STAGE, CharGetDatum((char) d->stage), false);
	if (d->nmoves > 0)
	{
		const StageMove *last = &d->moves[d->nmoves - 1];

		CUST_SET(CUST_STAGE_REASON, CStringGetTextDatum(stage_reason_code(last->proposal.reason)), false);
		CUST_SET(CUST_STAGE_SINCE, DateADTGetDatum(last->day), false);
	}
	if (d->level_known && d->level.reason != LEVEL_REASON_NO_CHANGE && d->level.reason != LEVEL_REASON_HELD)
	{
		CUST_SET(CUST_LEVEL, crm_level_datum(d->level.level), false);
		CUST_SET(CUST_LEVEL_REASON, CStringGetTextDatum(level_reason_code(d->level.reason)), false);
		CUST_SET(CUST_LEVEL_SINCE, DateADTGetDatum(as_of), false);
	}
#undef CUST_SET
}

/*
 * The history of a written customer: every move of the walk, then the
 * level's move.  A move on a day before the business date (an attach's
 * history, a replay, a refresh as of a past date) is dated that day; one on
 * the business date gets the table's default time (crm.change_time(), else
 * now()).
 */
static void
write_moves(CustomerWriter *w, int64 customer, const CustomerDerived *d, Datum level,
			Datum new_level, int32 as_of)
{
	int32		today = crm_business_date();
	int			i;

	for (i = 0; i < d->nmoves; i++)
		write_history(w, customer, d->moves[i].from, d->moves[i].proposal.stage, level, level,
					  stage_reason_code(d->moves[i].proposal.reason),
					  d->moves[i].day < today ? d->moves[i].day : DATEVAL_NOBEGIN);
	if (DatumGetObjectId(new_level) != DatumGetObjectId(level))
		write_history(w, customer, d->stage, d->stage, level, new_level,
					  level_reason_code(d->level.reason), as_of < today ? as_of : DATEVAL_NOBEGIN);
}

/*
 * Create customer with the changes applied to an empty history: its state
 * walked from prospect and, when level signals are given, its level
 * inferred from the one its column default gives; the history of that
 * walk (the stage a customer is inserted with is where its history
 * starts; the walk's moves are its history since) and of the level's
 * move.  False if another transaction created it meanwhile.
 */
static bool
writer_create(CustomerWriter *w, int64 customer, const SummaryChange *changes, int nchanges,
			  int32 as_of, const char *relname, const LevelSignals *level_signals)
{
	TupleTableSlot *new = w->new_slot;
	AttrNumber *att = w->f.cust_att;
	CustomerRow row = {CRM_STAGE_PROSPECT, DATEVAL_NOBEGIN, false, 0, CRM_LEVEL_TRANSACTION,
	DATEVAL_NOBEGIN, false};
	CustomerHistory h;
	Summary    *s;
	CustomerDerived d;
	Datum		level;

	/* a new history is not sealed: every day is in the view */
	crm_history_apply(&h, customer, NULL, changes, nchanges, as_of, as_of, as_of, relname);
	s = h.summary;
	if (!w->defaults_ready)
		prepare_defaults(w);
	ExecClearTuple(new);
	column_defaults_apply(w, &w->defaults, new);
	/* the level and manager as an INSERT would leave them, for the inference */
	level = new->tts_isnull[att[CUST_LEVEL] - 1] ? crm_level_datum(CRM_LEVEL_TRANSACTION) :
		new->tts_values[att[CUST_LEVEL] - 1];
	row.level = crm_level_from_datum(level);
	row.has_manager = !new->tts_isnull[att[CUST_ACCOUNT_MANAGER] - 1];
	derive_state(w, customer, &h, &row, as_of, level_signals, &d);
	new->tts_values[att[CUST_ID] - 1] = Int64GetDatum(customer);
	new->tts_isnull[att[CUST_ID] - 1] = false;
	set_derived(w, new, s, &d, as_of);
	if (d.nmoves == 0)
	{
		/* no move (no purchase by as_of): the reason is the inference's, since as_of */
		new->tts_values[att[CUST_STAGE_REASON] - 1] = CStringGetTextDatum(d.reason_code);
		new->tts_isnull[att[CUST_STAGE_REASON] - 1] = false;
		new->tts_values[att[CUST_STAGE_SINCE] - 1] = DateADTGetDatum(as_of);
		new->tts_isnull[att[CUST_STAGE_SINCE] - 1] = false;
	}
	ExecStoreVirtualTuple(new);
	if (!writer_insert(w, new))
		return false;
	crm_history_write(&h);
	/* the level as inserted (what the inference made it, or a trigger) */
	slot_getallattrs(new);
	if (level_signals == NULL)
		level = new->tts_values[att[CUST_LEVEL] - 1];
	write_moves(w, customer, &d, level, new->tts_values[att[CUST_LEVEL] - 1], as_of);
	return true;
}

/*
 * Find customer's row through the primary key and, with lock, lock its
 * latest version.  The probe uses an MVCC snapshot taken for the writer
 * (after its command counter increment, so it sees the statement's own
 * changes): a dirty snapshot, as RelationFindReplTupleByIndex() uses, can
 * miss a row whose update commits while the probe reads the index page
 * (the old version is dead by the time it is checked, and the new index
 * entry came after the page was read).  A version visible to the snapshot
 * may have been updated since: the lock follows the update chain to the
 * latest one (waiting for a writer in progress), as an UPDATE in READ
 * COMMITTED does; without the lock, writer_update() finds out and the
 * caller comes back with it.  False when there is no such customer, or it
 * was deleted meanwhile.
 */
static bool
writer_find(CustomerWriter *w, int64 customer, TupleTableSlot *out, bool lock)
{
	ScanKeyData key;
	MemoryContext old;
	bool		found = false;

	/*
	 * The scan lives in the writer's memory, and so must what the index AM
	 * allocates on the way (it expects a query-lifetime context).
	 */
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	if (w->index == NULL)
	{
		w->index = index_open(w->f.pkey, RowExclusiveLock);
		if (w->index->rd_index->indnatts != 1 ||
			w->index->rd_index->indkey.values[0] != w->f.cust_att[CUST_ID] ||
			TupleDescAttr(RelationGetDescr(w->customers), w->f.cust_att[CUST_ID] - 1)->atttypid != INT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the primary key of crm.customers must be customer_id bigint"),
					 errhint(CRM_OBJECT_MISSING_HINT)));
	}
	if (w->scan == NULL)
	{
		w->snapshot = RegisterSnapshot(GetLatestSnapshot());
		w->scan = index_beginscan(w->customers, w->index, w->snapshot, 1, 0);
	}
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(customer));
	index_rescan(w->scan, &key, 1, NULL, 0);
	if (!index_getnext_slot(w->scan, ForwardScanDirection, out))
		found = false;
	else if (!lock)
		found = true;
	else
	{
		TM_FailureData tmfd;
		TM_Result	res = table_tuple_lock(w->customers, &out->tts_tid, w->snapshot, out,
										   GetCurrentCommandId(false), LockTupleNoKeyExclusive,
										   LockWaitBlock, TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);

		if (res == TM_Ok)
			found = true;
		else if (res != TM_Deleted)
			elog(ERROR, "crm: could not lock customer " INT64_FORMAT " (status %d)", customer, (int) res);
	}
	MemoryContextSwitchTo(old);
	return found;
}

/*
 * A newer snapshot for writer_find(): after another transaction created a
 * customer this writer was about to create, which the writer's snapshot
 * cannot see.
 */
static void
writer_new_snapshot(CustomerWriter *w)
{
	if (w->scan != NULL)
	{
		index_endscan(w->scan);
		UnregisterSnapshot(w->snapshot);
		w->scan = NULL;
		w->snapshot = NULL;
	}
}

/*
 * Write customer's row: its summary with the changes applied (none for a
 * rescoring), the state derived from it as of as_of and, when given, the
 * level the signals propose; the history of what moved.  False (nothing
 * written) when the customer is not in crm.customers and may not be
 * created.
 */
static bool
writer_write(CustomerWriter *w, int64 customer, const SummaryChange *changes, int nchanges,
			 int32 as_of, const char *relname, bool create, const LevelSignals *level_signals)
{
	TupleTableSlot *old = w->old_slot;
	TupleTableSlot *new = w->new_slot;
	int			natts = new->tts_tupleDescriptor->natts;
	AttrNumber *att = w->f.cust_att;
	CustomerHistory h;
	Summary    *old_summary;
	Summary    *s;
	int32		first_day;
	int64		needed_from;
	CustomerDerived d;
	CustomerRow row;
	bool		lock = w->f.fire_before;	/* its triggers expect the lock */

	ResetPerTupleExprContext(w->estate);
retry:
	while (!writer_find(w, customer, old, lock))
	{
		if (!create)
			return false;
		if (writer_create(w, customer, changes, nchanges, as_of, relname, level_signals))
			return true;
		/* created meanwhile by another transaction: update it instead */
		writer_new_snapshot(w);
	}
	slot_getallattrs(old);

	old_summary = old->tts_isnull[att[CUST_SUMMARY] - 1] ? NULL :
		DatumGetSummaryP(old->tts_values[att[CUST_SUMMARY] - 1]);
#define COL_DATE(col) (old->tts_isnull[att[col] - 1] ? DATEVAL_NOBEGIN : DatumGetDateADT(old->tts_values[att[col] - 1]))
	row.stage = (CrmStage) DatumGetChar(old->tts_values[att[CUST_STAGE] - 1]);
	row.stage_since = COL_DATE(CUST_STAGE_SINCE);
	row.scored = !old->tts_isnull[att[CUST_SCORED_ON] - 1];
	row.scored_on = COL_DATE(CUST_SCORED_ON);
	row.level = crm_level_from_datum(old->tts_values[att[CUST_LEVEL] - 1]);
	row.level_since = COL_DATE(CUST_LEVEL_SINCE);
	row.has_manager = !old->tts_isnull[att[CUST_ACCOUNT_MANAGER] - 1];
#undef COL_DATE
	needed_from = history_needed(old_summary, &row, as_of, level_signals != NULL, &first_day);
	crm_history_apply(&h, customer, old_summary, changes, nchanges, as_of, first_day, needed_from,
					  relname);
	s = h.summary;
	derive_state(w, customer, &h, &row, as_of, level_signals, &d);
	if (d.nmoves > 0 && !stage_transition_legal(row.stage, d.moves[0].proposal.stage))
		elog(ERROR, "crm: inferred an illegal stage transition from %d to %d for customer " INT64_FORMAT,
			 (int) row.stage, (int) d.moves[0].proposal.stage, customer);

	ExecClearTuple(new);
	memcpy(new->tts_values, old->tts_values, natts * sizeof(Datum));
	memcpy(new->tts_isnull, old->tts_isnull, natts * sizeof(bool));
	set_derived(w, new, s, &d, as_of);
	ExecStoreVirtualTuple(new);
	if (!writer_update(w, old, new))
	{
		/* changed by another transaction since the probe: lock the latest */
		lock = true;
		goto retry;
	}
	crm_history_write(&h);

	/* record the stage and level as written (a row trigger may have changed them) */
	slot_getallattrs(new);
	if (DatumGetChar(new->tts_values[att[CUST_STAGE] - 1]) != (char) d.stage)
		d.nmoves = 0;
	write_moves(w, customer, &d, old->tts_values[att[CUST_LEVEL] - 1],
				new->tts_values[att[CUST_LEVEL] - 1], as_of);
	return true;
}

/*
 * Apply an order table's changes to customer's row: false (nothing
 * written) when the customer is not in crm.customers and create is false.
 */
bool
crm_writer_apply(CustomerWriter *w, int64 customer, const SummaryChange *changes, int nchanges,
				 int32 as_of, const char *relname, bool create)
{
	return writer_write(w, customer, changes, nchanges, as_of, relname, create, NULL);
}

/*
 * Apply changes to customer's row and rescore it with the level signals
 * given, as an attach does: crm_writer_apply() and crm_writer_rescore() in
 * one write.  False (nothing written) when the customer is not in
 * crm.customers and create is false.
 */
bool
crm_writer_merge(CustomerWriter *w, int64 customer, const SummaryChange *changes, int nchanges,
				 int32 as_of, const char *relname, bool create, const LevelSignals *level)
{
	return writer_write(w, customer, changes, nchanges, as_of, relname, create, level);
}

/*
 * Rescore customer as of as_of: its scores, segment and stage walk, and
 * its level from the signals given (NULL: the level stays).  False when
 * there is no such customer.
 */
bool
crm_writer_rescore(CustomerWriter *w, int64 customer, int32 as_of, const LevelSignals *level)
{
	return writer_write(w, customer, NULL, 0, as_of, NULL, false, level);
}

/*
 * The stage and level changes the writer has recorded in crm.stage_history
 * so far (a history row can record both).
 */
void
crm_writer_changes(const CustomerWriter *w, int64 *stages, int64 *levels)
{
	*stages = w->stage_changes;
	*levels = w->level_changes;
}

void
crm_writer_end(CustomerWriter *w)
{
	writer_new_snapshot(w);
	if (w->complaints_index != NULL)
		index_close(w->complaints_index, NoLock);
	if (w->complaints != NULL)
		table_close(w->complaints, NoLock);
	if (w->index != NULL)
		index_close(w->index, NoLock);
	flush_history(w);
	AfterTriggerEndQuery(w->estate);
	EvalPlanQualEnd(&w->epq);
	ExecCloseResultRelations(w->estate);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	FreeExecutorState(w->estate);
	table_close(w->customers, NoLock);
	if (w->history != NULL)
		table_close(w->history, NoLock);
	pfree(w);
}


static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

int
crm_customer_ids_sort(int64 *ids, int n)
{
	int			i,
				k;

	/* in customer_id order, as every writer writes them */
	qsort(ids, n, sizeof(int64), int64_cmp);
	for (i = 0, k = 0; i < n; i++)
		if (k == 0 || ids[i] != ids[k - 1])
			ids[k++] = ids[i];
	return k;
}

int64 *
crm_customer_ids_from_array(ArrayType *a, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int64	   *ids;
	int			i,
				k,
				count;

	deconstruct_array(a, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &count);
	ids = palloc(Max(count, 1) * sizeof(int64));
	for (i = 0, k = 0; i < count; i++)
		if (!nulls[i])
			ids[k++] = DatumGetInt64(elems[i]);
	*n = crm_customer_ids_sort(ids, k);
	return ids;
}

int64 *
crm_customer_ids_from_spi(int *n)
{
	int64	   *ids;
	int			i;

	*n = (int) SPI_processed;
	ids = palloc(Max(*n, 1) * sizeof(int64));
	for (i = 0; i < *n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	return ids;
}
