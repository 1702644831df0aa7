/*-------------------------------------------------------------------------
 *
 * customer.c
 *	  Writing a customer's maintained state without a query: the path the
 *	  order trigger takes for customers that exist.
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
 *	2. apply the order changes to its summary (summary_apply_changes());
 *	3. derive the RFM score against the stored cutpoints on the business
 *	   date, its rfm_segments label and the inferred stage, exactly as
 *	   crm.rfm_score(), crm.segment() and crm.infer_stage() do;
 *	4. write the new version (as ExecSimpleRelationUpdate does, but see
 *	   writer_needs_constraints() and writer_has_before_triggers()) and,
 *	   when the stage moved, the crm.stage_history row (as
 *	   ExecSimpleRelationInsert does, but see prepare_history()).
 *
 * What differs from an UPDATE statement, and why it does not matter here:
 * statement-level triggers on crm.customers do not fire (the one crm
 * installs, the history trigger, is replaced by step 4), and the write
 * goes to the latest committed version whatever the isolation level (a
 * summary is a sum of orders: applying this statement's orders to the
 * newest version is what a recompute would give).
 *
 * The configuration read on the way (crm.scoring's cutpoints, the
 * rfm_segments scheme) is cached per backend and dropped when the tables
 * change: their crm.config_changed() trigger sends a relcache invalidation
 * of crm.scoring, which every backend processes before its next command.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "access/stratnum.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/syscache.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "customer.h"
#include "maintain.h"

/* ---------------------------------------------------------------------
 * Configuration cache
 * ---------------------------------------------------------------------
 */
/*
 * Every per-backend copy of crm's configuration (cutpoints, the
 * rfm_segments scheme, stage thresholds) is kept until the generation
 * moves: a relcache invalidation of crm.scoring (sent by the
 * crm.config_changed() triggers) or of crm.stage_thresholds (sent by its
 * own trigger) moves it.
 */
static uint64 config_generation = 1;
static Oid	scoring_relid = InvalidOid;
static Oid	thresholds_relid = InvalidOid;
static bool config_callback = false;

static bool cutpoints_valid = false;
static bool cutpoints_present = false;
static uint64 cutpoints_generation = 0;
static char cutpoints_data[CRM_RFM_CUTPOINTS_SIZE];

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

static void
config_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == scoring_relid || relid == thresholds_relid)
	{
		config_generation++;
		/* the tables themselves may be gone (DROP EXTENSION): find them again */
		scoring_relid = InvalidOid;
		thresholds_relid = InvalidOid;
	}
	if (relid == InvalidOid || relid == facts.customers || relid == facts.history)
		facts_valid = false;
}

/* once per backend, before anything config_invalidate() guards is kept */
static void
register_callback(void)
{
	if (!config_callback)
	{
		CacheRegisterRelcacheCallback(config_invalidate, (Datum) 0);
		config_callback = true;
	}
}

uint64
crm_config_generation(void)
{
	register_callback();
	if (!OidIsValid(scoring_relid))
		scoring_relid = crm_relid("scoring");
	if (!OidIsValid(thresholds_relid))
		thresholds_relid = crm_relid("stage_thresholds");
	return config_generation;
}

/* the cutpoints of the last crm.refresh(), or NULL before the first */
const void *
crm_stored_cutpoints(void)
{
	uint64		generation = crm_config_generation();

	if (!cutpoints_valid || cutpoints_generation != generation)
	{
		bool		isnull = true;
		Datum		d = (Datum) 0;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* the latest snapshot: a committed change is never missed */
		PushActiveSnapshot(GetLatestSnapshot());
		if (SPI_execute("SELECT cutpoints FROM crm.scoring", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read crm.scoring");
		PopActiveSnapshot();
		if (SPI_processed == 1)
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		cutpoints_present = !isnull;
		if (!isnull)
			memcpy(cutpoints_data, DatumGetPointer(d), CRM_RFM_CUTPOINTS_SIZE);
		SPI_finish();
		cutpoints_generation = generation;
		cutpoints_valid = true;
	}
	return cutpoints_present ? cutpoints_data : NULL;
}

/*
 * crm.config_changed(): statement trigger on crm.scoring and the segment
 * tables; every backend drops what it cached of them.
 */
PG_FUNCTION_INFO_V1(config_changed);
Datum
config_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.config_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(crm_relid("scoring"));
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * Summaries and what derives from them
 * ---------------------------------------------------------------------
 */

/*
 * old (NULL: none) with the changes applied; NULL when nothing is left.
 * Errors name the customer and the order table.
 */
Summary *
crm_summary_with_changes(Summary *old, const SummaryChange *changes, int nchanges,
						 int64 customer, const char *relname)
{
	int			nold = old ? old->ndays : 0;
	int			nadd = 0;
	int			n = nold;
	SummaryDay *days;
	SummaryStatus st;
	Summary    *result;
	int			j;

	for (j = 0; j < nchanges; j++)
		if (!changes[j].remove)
			nadd++;
	days = palloc((nold + nadd + 1) * sizeof(SummaryDay));
	if (nold > 0)
		memcpy(days, old->days, nold * sizeof(SummaryDay));
	st = summary_apply_changes(days, &n, changes, nchanges);
	if (st == SUMMARY_NOT_PRESENT)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the summary of customer " INT64_FORMAT " does not hold an order removed from \"%s\"",
						customer, relname),
				 errdetail("The customer's state was changed outside crm, or the table was tracked after these orders were written."),
				 errhint("Recompute with CALL crm.rebuild_summaries().")));
	else if (st != SUMMARY_OK)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the summary of customer " INT64_FORMAT " is out of range", customer)));
	result = n == 0 ? NULL : crm_summary_build(days, n);
	pfree(days);
	return result;
}

/*
 * What the maintenance writes after the summary: the score against the
 * stored cutpoints on as_of and its rfm_segments label (5-point scales
 * only), and the stage inferred from current (the reason and date of a
 * stage that stays are kept: *reason NULL).
 */
void
crm_derive_state(Summary *s, CrmStage current, int32 stage_since, int32 as_of,
				 CustomerDerived *out)
{
	const void *cp = crm_stored_cutpoints();
	StageProposal p;

	out->has_rfm = s != NULL && cp != NULL && crm_rfm_score_at(s, cp, as_of, &out->rfm);
	out->segment = NULL;
	if (out->has_rfm && crm_rfm_scale(cp) == 5)
	{
		int			r = out->rfm & 0xFF;
		int			fm = ((out->rfm >> 8) & 0xFF) + ((out->rfm >> 16) & 0xFF);
		double		x[2];

		x[0] = r;
		x[1] = (fm + 1) / 2;	/* round((f + m) / 2.0), half away from zero */
		out->segment = crm_segment_label_cached("rfm_segments", x, 2);
	}
	crm_infer_from_summary(current, s, as_of, stage_since, &p);
	out->stage = p.stage;
	out->reason_code = stage_reason_code(p.reason);
	out->reason = p.stage != current ? out->reason_code : NULL;
}

/* ---------------------------------------------------------------------
 * The writer
 * ---------------------------------------------------------------------
 */

/* the columns the writer reads and writes, by name */
static const char *const customer_columns[CUST_NCOLS] = {
	"customer_id", "summary", "rfm", "segment", "scored_on",
	"stage", "stage_reason", "stage_since", "level"
};
static const char *const history_columns[HIST_NCOLS] = {
	"history_id", "customer_id", "from_stage", "to_stage", "from_level",
	"to_level", "changed_at", "source", "reason", "changed_by"
};

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
					 errhint("Re-create the extension crm.")));
	}
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
				strcmp(trig->triggers[i].tgname, "stage_guard") != 0)
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
		if (strcmp(constr->check[i].ccname, "customers_kind_check") != 0 &&
			strcmp(constr->check[i].ccname, "customers_service_level_check") != 0)
			return true;
	for (i = CUST_SUMMARY; i <= CUST_STAGE_SINCE; i++)
		if (i != CUST_STAGE && TupleDescAttr(RelationGetDescr(rel), cust_att[i] - 1)->attnotnull)
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
	int			first = insert ? CUST_ID : CUST_SUMMARY;
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
				for (c = first; c <= CUST_STAGE_SINCE; c++)
					written |= cols[k] == cust_att[c];
		}
		ReleaseSysCache(tup);
		if (isnull || written)
			return false;
	}
	return true;
}

static void
learn_customers(Relation rel)
{
	WriterFacts f;

	register_callback();
	memset(&f, 0, sizeof(f));
	f.customers = RelationGetRelid(rel);
	f.pkey = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(f.pkey))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm.customers has no primary key"),
				 errhint("Re-create the extension crm.")));
	find_columns(rel, customer_columns, CUST_NCOLS, f.cust_att);
	f.check_constraints = needs_constraints(rel, f.cust_att);
	f.fire_before = has_before_triggers(rel);
	/* a BEFORE trigger of the site's own could change a key */
	f.fire_after = f.fire_before || !key_triggers_only(rel, f.cust_att, false);
	/* a BEFORE INSERT trigger could give each new row other values */
	f.fk_insert_only = key_triggers_only(rel, f.cust_att, true) &&
		!(rel->trigdesc && rel->trigdesc->trig_insert_before_row);
	f.history = crm_relid("stage_history");
	facts = f;
	facts_valid = true;
}

/*
 * crm.stage_history's columns, identity sequence, and whether its rows'
 * constraints need evaluating: crm's own CHECK on source is met when the
 * writer's source is one of its four values (prepare_history()), and the
 * NOT NULL columns are filled, so only another CHECK, a NOT NULL column the
 * writer leaves NULL, or a BEFORE INSERT row trigger (which could change
 * anything) makes it evaluate them.
 */
static void
learn_history(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	int			a,
				i;

	find_columns(rel, history_columns, HIST_NCOLS, facts.hist_att);
	facts.history_seq = getIdentitySequence(RelationGetRelid(rel), facts.hist_att[HIST_ID], false);
	facts.hist_check = rel->trigdesc != NULL && rel->trigdesc->trig_insert_before_row;
	for (i = 0; constr != NULL && i < constr->num_check; i++)
		facts.hist_check |= strcmp(constr->check[i].ccname, "stage_history_source_check") != 0;
	for (a = 0; a < desc->natts; a++)
	{
		bool		filled = false;

		for (i = 0; i < HIST_NCOLS; i++)
			filled |= (i != HIST_REASON && facts.hist_att[i] == a + 1);
		facts.hist_check |= TupleDescAttr(desc, a)->attnotnull && !filled;
	}
	facts.history_known = true;
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
	CustomerWriter *w = palloc0(sizeof(CustomerWriter));
	MemoryContext old;
	RangeTblEntry *cust_rte;
	RangeTblEntry *hist_rte;
	Bitmapset  *updated = NULL;
	int			i;

	/* see every change made so far, this statement's included */
	CommandCounterIncrement();

	w->source = source;
	/* opening it takes the lock, which takes in any invalidation first */
	w->customers = table_open(facts_valid ? facts.customers : crm_relid("customers"), RowExclusiveLock);
	if (!facts_valid || facts.customers != RelationGetRelid(w->customers))
		learn_customers(w->customers);
	w->f = facts;

	w->estate = CreateExecutorState();
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	cust_rte = writer_rte(RelationGetRelid(w->customers));
	/* what an UPDATE of the maintained columns names (column triggers) */
	for (i = CUST_SUMMARY; i <= CUST_STAGE_SINCE; i++)
		updated = bms_add_member(updated, w->f.cust_att[i] - FirstLowInvalidHeapAttributeNumber);
	cust_rte->updatedCols = updated;
	/* crm.stage_history is opened with its first row (prepare_history()) */
	hist_rte = writer_rte(w->f.history);
	ExecInitRangeTable(w->estate, list_make2(cust_rte, hist_rte));
	w->cust_info = makeNode(ResultRelInfo);
	InitResultRelInfo(w->cust_info, w->customers, 1, NULL, 0);
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
 * the table and its indexes, the source (crm.change_source, default
 * user), the time (crm.change_time, default the transaction's start) and
 * who (the session's login role), as crm.record_stage_changes() writes
 * them; and whether their constraints need evaluating (learn_history(),
 * and a source that is not one of the four the CHECK allows).
 */
static void
prepare_history(CustomerWriter *w)
{
	MemoryContext old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	const char *source = w->source ? w->source : crm_change_source_setting;
	const char *when = crm_change_time_setting;

	w->history = table_open(w->f.history, RowExclusiveLock);
	if (!facts_valid || !facts.history_known || facts.history != w->f.history)
		learn_history(w->history);
	w->f.history_seq = facts.history_seq;
	memcpy(w->f.hist_att, facts.hist_att, sizeof(facts.hist_att));
	w->hist_info = makeNode(ResultRelInfo);
	InitResultRelInfo(w->hist_info, w->history, 2, NULL, 0);
	w->estate->es_opened_result_relations = lappend(w->estate->es_opened_result_relations, w->hist_info);
	w->hist_slot = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(w->history), &TTSOpsVirtual);
	ExecOpenIndices(w->hist_info, false);
	if (source == NULL || source[0] == '\0')
		source = "user";
	w->hist_source = CStringGetTextDatum(source);
	w->hist_changed_at = when != NULL && when[0] != '\0' ?
		DirectFunctionCall3(timestamptz_in, CStringGetDatum(when), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)) :
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	w->hist_changed_by = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetSessionUserId(), false)));
	w->hist_check = facts.hist_check ||
		(strcmp(source, "inference") != 0 && strcmp(source, "user") != 0 &&
		 strcmp(source, "import") != 0 && strcmp(source, "override") != 0);
	MemoryContextSwitchTo(old);
	w->hist_open = true;
}

/* ExecSimpleRelationInsert(), constraints only when prepare_history() says */
static void
write_history(CustomerWriter *w, Datum customer, Datum from_stage, Datum to_stage,
			  Datum level, Datum reason, bool reason_null)
{
	TupleTableSlot *slot;
	ResultRelInfo *info;
	Relation	rel;
	int			natts;
	List	   *recheck = NIL;
	int			i;

	if (!w->hist_open)
		prepare_history(w);
	slot = w->hist_slot;
	info = w->hist_info;
	rel = w->history;
	natts = slot->tts_tupleDescriptor->natts;
	ExecClearTuple(slot);
	for (i = 0; i < natts; i++)
		slot->tts_isnull[i] = true;
#define HIST_SET(col, value) \
	(slot->tts_values[w->f.hist_att[col] - 1] = (value), slot->tts_isnull[w->f.hist_att[col] - 1] = false)
	HIST_SET(HIST_ID, Int64GetDatum(nextval_internal(w->f.history_seq, false)));
	HIST_SET(HIST_CUSTOMER, customer);
	HIST_SET(HIST_FROM_STAGE, from_stage);
	HIST_SET(HIST_TO_STAGE, to_stage);
	HIST_SET(HIST_FROM_LEVEL, level);
	HIST_SET(HIST_TO_LEVEL, level);
	HIST_SET(HIST_CHANGED_AT, w->hist_changed_at);
	HIST_SET(HIST_SOURCE, w->hist_source);
	if (!reason_null)
		HIST_SET(HIST_REASON, reason);
	HIST_SET(HIST_CHANGED_BY, w->hist_changed_by);
#undef HIST_SET
	ExecStoreVirtualTuple(slot);

	if (info->ri_TrigDesc && info->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(w->estate, info, slot))
		return;
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(info, w->estate, slot, CMD_INSERT);
	if (w->hist_check)
		ExecConstraints(info, slot, w->estate);
	simple_table_tuple_insert(rel, slot);
	if (info->ri_NumIndices > 0)
		recheck = ExecInsertIndexTuples(info, slot, w->estate, false, false, NULL, NIL);
	ExecARInsertTriggers(w->estate, info, slot, recheck, NULL);
	list_free(recheck);
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
 * writer_needs_constraints() says so, and without an error when the
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
 * once per writer (the first customer it creates).
 */
static void
prepare_defaults(CustomerWriter *w)
{
	TupleDesc	desc = RelationGetDescr(w->customers);
	MemoryContext old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	bool		stable = true;
	int			a,
				i;

	writer_open_indices(w);
	w->defaults = palloc0(desc->natts * sizeof(ExprState *));
	for (a = 0; a < desc->natts; a++)
	{
		bool		written = false;
		Node	   *expr;

		if (TupleDescAttr(desc, a)->attisdropped)
			continue;
		for (i = 0; i < CUST_NCOLS; i++)
			written |= (i != CUST_LEVEL && w->f.cust_att[i] == a + 1);
		if (!written && (expr = build_column_default(w->customers, a + 1)) != NULL)
		{
			w->defaults[a] = ExecPrepareExpr((Expr *) expr, w->estate);
			stable &= !contain_volatile_functions(expr);
		}
	}
	/*
	 * With only foreign-key checks on columns filled from non-volatile
	 * defaults, and no BEFORE INSERT trigger that could change them, every
	 * customer one writer creates has the same values there, and one check
	 * (which also locks the referenced row until the transaction ends)
	 * answers for all: the writer queues the triggers for its first new
	 * customer only.  (A 200,000-customer load would otherwise run 200,000
	 * identical queries.)
	 */
	w->check_fk_once = stable && w->f.fk_insert_only;
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
 * Create customer with the changes applied to an empty history: its state
 * as inferred from prospect, no history row (the stage a customer is
 * inserted with is where its history starts).  False if another
 * transaction created it meanwhile.
 */
static bool
writer_create(CustomerWriter *w, int64 customer, const SummaryChange *changes, int nchanges,
			  int32 as_of, const char *relname)
{
	TupleTableSlot *new = w->new_slot;
	int			natts = new->tts_tupleDescriptor->natts;
	AttrNumber *att = w->f.cust_att;
	ExprContext *econtext = GetPerTupleExprContext(w->estate);
	Summary    *s = crm_summary_with_changes(NULL, changes, nchanges, customer, relname);
	CustomerDerived d;
	int			a;

	if (!w->defaults_ready)
		prepare_defaults(w);
	crm_derive_state(s, CRM_STAGE_PROSPECT, DATEVAL_NOBEGIN, as_of, &d);
	ExecClearTuple(new);
	for (a = 0; a < natts; a++)
	{
		new->tts_isnull[a] = true;
		if (w->defaults[a] != NULL)
			new->tts_values[a] = ExecEvalExprSwitchContext(w->defaults[a], econtext, &new->tts_isnull[a]);
	}
#define CUST_SET(col, value, isnull) \
	(new->tts_values[att[col] - 1] = (value), new->tts_isnull[att[col] - 1] = (isnull))
	CUST_SET(CUST_ID, Int64GetDatum(customer), false);
	CUST_SET(CUST_SUMMARY, PointerGetDatum(s), s == NULL);
	CUST_SET(CUST_RFM, Int32GetDatum(d.rfm), !d.has_rfm);
	CUST_SET(CUST_SEGMENT, PointerGetDatum(d.segment), d.segment == NULL);
	CUST_SET(CUST_SCORED_ON, DateADTGetDatum(as_of), false);
	CUST_SET(CUST_STAGE, CharGetDatum((char) d.stage), false);
	CUST_SET(CUST_STAGE_REASON, CStringGetTextDatum(d.reason_code), false);
	CUST_SET(CUST_STAGE_SINCE, DateADTGetDatum(as_of), false);
#undef CUST_SET
	ExecStoreVirtualTuple(new);
	return writer_insert(w, new);
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
					 errhint("Re-create the extension crm.")));
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
	}
}

/*
 * Apply changes to customer's row: false (nothing written) when the
 * customer is not in crm.customers.
 */
bool
crm_writer_apply(CustomerWriter *w, int64 customer, const SummaryChange *changes, int nchanges,
				 int32 as_of, const char *relname, bool create)
{
	TupleTableSlot *old = w->old_slot;
	TupleTableSlot *new = w->new_slot;
	int			natts = new->tts_tupleDescriptor->natts;
	AttrNumber *att = w->f.cust_att;
	Summary    *s;
	CustomerDerived d;
	CrmStage	current;
	Datum		since;
	bool		since_null;
	bool		lock = w->f.fire_before;	/* its triggers expect the lock */

	ResetPerTupleExprContext(w->estate);
retry:
	while (!writer_find(w, customer, old, lock))
	{
		if (!create)
			return false;
		if (writer_create(w, customer, changes, nchanges, as_of, relname))
			return true;
		/* created meanwhile by another transaction: update it instead */
		writer_new_snapshot(w);
	}
	slot_getallattrs(old);

	s = crm_summary_with_changes(old->tts_isnull[att[CUST_SUMMARY] - 1] ? NULL :
								 DatumGetSummaryP(old->tts_values[att[CUST_SUMMARY] - 1]),
								 changes, nchanges, customer, relname);
	current = (CrmStage) DatumGetChar(old->tts_values[att[CUST_STAGE] - 1]);
	since = old->tts_values[att[CUST_STAGE_SINCE] - 1];
	since_null = old->tts_isnull[att[CUST_STAGE_SINCE] - 1];
	crm_derive_state(s, current, since_null ? DATEVAL_NOBEGIN : DatumGetDateADT(since), as_of, &d);
	if (!stage_transition_legal(current, d.stage))
		elog(ERROR, "crm: inferred an illegal stage transition from %d to %d for customer " INT64_FORMAT,
			 (int) current, (int) d.stage, customer);

	ExecClearTuple(new);
	memcpy(new->tts_values, old->tts_values, natts * sizeof(Datum));
	memcpy(new->tts_isnull, old->tts_isnull, natts * sizeof(bool));
#define CUST_SET(col, value, isnull) \
	(new->tts_values[att[col] - 1] = (value), new->tts_isnull[att[col] - 1] = (isnull))
	CUST_SET(CUST_SUMMARY, PointerGetDatum(s), s == NULL);
	CUST_SET(CUST_RFM, Int32GetDatum(d.rfm), !d.has_rfm);
	CUST_SET(CUST_SEGMENT, PointerGetDatum(d.segment), d.segment == NULL);
	CUST_SET(CUST_SCORED_ON, DateADTGetDatum(as_of), false);
	CUST_SET(CUST_STAGE, CharGetDatum((char) d.stage), false);
	if (d.reason != NULL)
	{
		CUST_SET(CUST_STAGE_REASON, CStringGetTextDatum(d.reason), false);
		CUST_SET(CUST_STAGE_SINCE, DateADTGetDatum(as_of), false);
	}
#undef CUST_SET
	ExecStoreVirtualTuple(new);
	if (!writer_update(w, old, new))
	{
		/* changed by another transaction since the probe: lock the latest */
		lock = true;
		goto retry;
	}

	/* record the stage as written (a row trigger may have changed it) */
	slot_getallattrs(new);
	if (DatumGetChar(new->tts_values[att[CUST_STAGE] - 1]) != (char) current)
		write_history(w, Int64GetDatum(customer), CharGetDatum((char) current),
					  new->tts_values[att[CUST_STAGE] - 1],
					  old->tts_values[att[CUST_LEVEL] - 1],
					  new->tts_values[att[CUST_STAGE_REASON] - 1],
					  new->tts_isnull[att[CUST_STAGE_REASON] - 1]);
	return true;
}

void
crm_writer_end(CustomerWriter *w)
{
	writer_new_snapshot(w);
	if (w->index != NULL)
		index_close(w->index, NoLock);
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
