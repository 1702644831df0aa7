/*-------------------------------------------------------------------------
 *
 * track.c
 *	  Keeping crm.customers in step with an order table: the trigger that
 *	  crm.track_orders() installs.
 *
 * One function serves both trigger modes:
 *
 *	- statement level, AFTER INSERT/UPDATE/DELETE with transition tables
 *	  (the bulk path: one pass per statement, whatever its row count);
 *	- row level, AFTER INSERT/UPDATE/DELETE (the single-write path).
 *
 * Either way the rows' effects are collected as SummaryChanges per customer
 * (a deleted row, or the old version of an updated one, is a removal),
 * sorted by customer, and each customer is written directly, without a
 * query (customer.c: find the row, apply the changes, derive
 * score, segment and stage, write the row and its stage history; with
 * unknown_customers => 'create', insert a customer not there yet as
 * INSERT ... ON CONFLICT would).  Customers are written in customer_id
 * order, so concurrent loads cannot deadlock.  (Across the statements of
 * one transaction, rows are locked in statement order, as with any
 * updates.)
 *
 * Trigger arguments: customer column, date column, amount column, and what
 * to do about an unknown customer ('create' or 'error').  Columns are found
 * by name once per query and table (kept in fn_extra), so a partition with
 * another column order and a dropped-and-re-added column both work.
 *
 * The function is SECURITY DEFINER (see the SQL declaration): writers of
 * orders need no privilege on crm.customers, and row-level security on
 * crm.customers never hides a row from maintenance.  It does not pin
 * search_path with a SET clause, because it must see the caller's (below);
 * once it has looked, it pins search_path to pg_catalog, crm for the rest
 * of its run (crm_pin_search_path()), so that no operator or function of
 * a schema the caller put first runs with the owner's rights.
 *
 * Restores: a session with row_security = off and an empty search_path is
 * running a pg_dump script (pg_dump writes both settings first).  The dump
 * already holds crm.customers as maintained, so such a session's order
 * rows are not applied again (crm.orders' triggers exist while its data is
 * loaded; a user table's triggers are only created after its data).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "config.h"
#include "customer.h"

typedef struct OrderChange
{
	int64		customer;
	SummaryChange change;
} OrderChange;

/* where the tracked columns are in one call's tuple descriptor */
typedef struct TrackedColumns
{
	Oid			relid;			/* the table (or partition) they are of */
	TupleDesc	desc;
	const char *names[3];
	int			attnum[3];		/* customer, date, amount */
	Oid			type[3];
	bool		create_customers;
} TrackedColumns;

enum
{
	COL_CUSTOMER,
	COL_DATE,
	COL_AMOUNT
};

static void
resolve_columns(TriggerData *trigdata, TupleDesc desc, TrackedColumns *cols)
{
	Trigger    *trigger = trigdata->tg_trigger;
	const char *relname = RelationGetRelationName(trigdata->tg_relation);
	int			i;

	cols->relid = RelationGetRelid(trigdata->tg_relation);
	cols->desc = desc;

	if (trigger->tgnargs != 4)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on \"%s\" needs 4 arguments: customer, date and amount columns, and 'create' or 'error'",
						trigger->tgname, relname),
				 errhint("Install it with crm.track_orders().")));
	for (i = 0; i < 3; i++)
	{
		cols->names[i] = trigger->tgargs[i];
		cols->attnum[i] = SPI_fnumber(desc, trigger->tgargs[i]);
		if (cols->attnum[i] <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of \"%s\" tracked by crm does not exist",
							trigger->tgargs[i], relname),
					 errhint("Detach with crm.untrack_orders() and attach again with the new column names.")));
		cols->type[i] = TupleDescAttr(desc, cols->attnum[i] - 1)->atttypid;
	}
	if (strcmp(trigger->tgargs[3], "create") == 0)
		cols->create_customers = true;
	else if (strcmp(trigger->tgargs[3], "error") == 0)
		cols->create_customers = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("unknown customer policy \"%s\" on trigger \"%s\"", trigger->tgargs[3], trigger->tgname),
				 errhint("The policy is 'create' or 'error'.")));
}

/*
 * Read one row's customer, day and amount, from a slot or else from a
 * tuple of cols->desc.  Returns false for a row the
 * summaries ignore (a NULL in any of the three, as crm.summarize skips
 * them).
 */
static bool
read_order(TupleTableSlot *slot, HeapTuple tuple, const TrackedColumns *cols, OrderChange *out)
{
	Datum		v[3];
	bool		isnull;
	int			i;

	for (i = 0; i < 3; i++)
	{
		v[i] = slot ? slot_getattr(slot, cols->attnum[i], &isnull) :
			heap_getattr(tuple, cols->attnum[i], cols->desc, &isnull);
		if (isnull)
			return false;
	}

	switch (cols->type[COL_CUSTOMER])
	{
		case INT8OID:
			out->customer = DatumGetInt64(v[COL_CUSTOMER]);
			break;
		case INT4OID:
			out->customer = DatumGetInt32(v[COL_CUSTOMER]);
			break;
		case INT2OID:
			out->customer = DatumGetInt16(v[COL_CUSTOMER]);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("customer column \"%s\" has type %s", cols->names[COL_CUSTOMER],
							format_type_be(cols->type[COL_CUSTOMER])),
					 errhint("crm tracks customers by smallint, integer or bigint.")));
	}

	switch (cols->type[COL_DATE])
	{
		case DATEOID:
			out->change.day = DatumGetDateADT(v[COL_DATE]);
			break;
		case TIMESTAMPOID:
			out->change.day = DatumGetDateADT(DirectFunctionCall1(timestamp_date, v[COL_DATE]));
			break;
		case TIMESTAMPTZOID:
			out->change.day = DatumGetDateADT(DirectFunctionCall1(timestamptz_date, v[COL_DATE]));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("date column \"%s\" has type %s", cols->names[COL_DATE],
							format_type_be(cols->type[COL_DATE])),
					 errhint("crm reads order dates from date, timestamp or timestamptz columns.")));
	}
	crm_check_finite_date(out->change.day, cols->names[COL_DATE]);

	switch (cols->type[COL_AMOUNT])
	{
		case NUMERICOID:
			out->change.amount = crm_numeric_to_money(v[COL_AMOUNT], cols->names[COL_AMOUNT]);
			break;
		case FLOAT8OID:
			out->change.amount = crm_float8_to_money(DatumGetFloat8(v[COL_AMOUNT]), cols->names[COL_AMOUNT]);
			break;
		case FLOAT4OID:
			out->change.amount = crm_float8_to_money(DatumGetFloat4(v[COL_AMOUNT]), cols->names[COL_AMOUNT]);
			break;
		case INT8OID:
		case INT4OID:
		case INT2OID:
			{
				int64		units = cols->type[COL_AMOUNT] == INT8OID ? DatumGetInt64(v[COL_AMOUNT]) :
					cols->type[COL_AMOUNT] == INT4OID ? DatumGetInt32(v[COL_AMOUNT]) :
					DatumGetInt16(v[COL_AMOUNT]);

				if (__builtin_mul_overflow(units, (int64) CRM_MONEY_SCALE, &out->change.amount))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("%s is out of range for a crm.summary amount", cols->names[COL_AMOUNT])));
				break;
			}
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("amount column \"%s\" has type %s", cols->names[COL_AMOUNT],
							format_type_be(cols->type[COL_AMOUNT])),
					 errhint("crm reads amounts from numeric, double precision, real or integer columns.")));
	}
	return true;
}

typedef struct ChangeList
{
	OrderChange *items;
	int			n;
	int			cap;
} ChangeList;

static void
push_change(ChangeList *list, const OrderChange *c, bool remove)
{
	if (list->n == list->cap)
	{
		list->cap = list->cap ? list->cap * 2 : 64;
		if ((Size) list->cap * sizeof(OrderChange) > MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many order rows in one statement for crm"),
					 errhint("Load at most %d rows per statement.", (int) (MaxAllocSize / sizeof(OrderChange) / 2))));
		list->items = list->items ? repalloc(list->items, list->cap * sizeof(OrderChange)) :
			palloc(list->cap * sizeof(OrderChange));
	}
	list->items[list->n] = *c;
	list->items[list->n].change.remove = remove;
	list->n++;
}

/* the rows of a transition table, added or removed */
static void
collect_table(Tuplestorestate *ts, TupleDesc desc, const TrackedColumns *cols,
			  bool remove, ChangeList *list)
{
	CrmTransitionReader r;
	OrderChange c;

	crm_transition_open(&r, ts, desc);
	while (crm_transition_next(&r))
		if (read_order(r.slot, NULL, cols, &c))
			push_change(list, &c, remove);
	crm_transition_close(&r);
}

static void
collect_tuple(HeapTuple tuple, const TrackedColumns *cols, bool remove, ChangeList *list)
{
	OrderChange c;

	if (read_order(NULL, tuple, cols, &c))
		push_change(list, &c, remove);
}

/*
 * An UPDATE statement: the old and new transition tables hold the rows in
 * the same order, so they are read in step, and an update that changes
 * none of the three tracked columns (the usual case: a status or a note)
 * costs no summary work.
 */
static void
collect_update_tables(Tuplestorestate *old_ts, Tuplestorestate *new_ts, TupleDesc desc,
					  const TrackedColumns *cols, ChangeList *list)
{
	CrmTransitionReader old_r,
				new_r;

	crm_transition_open(&old_r, old_ts, desc);
	crm_transition_open(&new_r, new_ts, desc);
	for (;;)
	{
		bool		have_old = crm_transition_next(&old_r);
		bool		have_new = crm_transition_next(&new_r);
		OrderChange o,
					n;
		bool		old_valid,
					new_valid;

		if (have_old != have_new)
			elog(ERROR, "transition tables of an UPDATE differ in length");
		if (!have_old)
			break;
		old_valid = read_order(old_r.slot, NULL, cols, &o);
		new_valid = read_order(new_r.slot, NULL, cols, &n);
		if (old_valid && new_valid && o.customer == n.customer &&
			o.change.day == n.change.day && o.change.amount == n.change.amount)
			continue;
		if (old_valid)
			push_change(list, &o, true);
		if (new_valid)
			push_change(list, &n, false);
	}
	crm_transition_close(&old_r);
	crm_transition_close(&new_r);
}

/* sort_changes(items, n): by customer, the comparison inlined */
#define ST_SORT sort_changes
#define ST_ELEMENT_TYPE OrderChange
#define ST_COMPARE(a, b) (((a)->customer > (b)->customer) - ((a)->customer < (b)->customer))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

static void
missing_customer(int64 customer, const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("customer " INT64_FORMAT " of an order in \"%s\" is not in crm.customers", customer, relname),
			 errdetail("Table \"%s\" is tracked with unknown_customers => 'error'.", relname),
			 errhint("Insert the customer into crm.customers first, or attach the table with unknown_customers => 'create'.")));
}

/*
 * Apply the collected changes, customer by customer in customer_id order
 * (the fixed lock order that keeps concurrent statements from
 * deadlocking), each written directly (customer.c) and, when it is not
 * there and may be created, inserted.
 */
static void
apply_changes(ChangeList *list, const TrackedColumns *cols, const char *relname)
{
	DateADT		as_of = crm_business_date();
	CustomerWriter *w;
	MemoryContext each,
				old;
	int			next = 0;

	sort_changes(list->items, list->n);
	w = crm_writer_begin("inference");
	each = AllocSetContextCreate(CurrentMemoryContext, "crm customer write", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(each);
	while (next < list->n)
	{
		int64		customer = list->items[next].customer;
		int			lower = next;
		SummaryChange *changes;
		int			j;

		while (next < list->n && list->items[next].customer == customer)
			next++;
		changes = palloc((next - lower) * sizeof(SummaryChange));
		for (j = lower; j < next; j++)
			changes[j - lower] = list->items[j].change;
		if (!crm_writer_apply(w, customer, changes, next - lower, as_of, relname, cols->create_customers))
			missing_customer(customer, relname);
		MemoryContextReset(each);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(each);
	crm_writer_end(w);
}

PG_FUNCTION_INFO_V1(track_orders_trigger);
Datum
track_orders_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	TrackedColumns *cols;
	ChangeList	list = {NULL, 0, 0};
	TriggerEvent ev;
	int			nestlevel;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.track_orders_trigger() must be fired AFTER a change"),
				 errhint("Install it with crm.track_orders().")));
	if (crm_restoring_dump())
		return PointerGetDatum(NULL);
	nestlevel = crm_pin_search_path();
	ev = trigdata->tg_event;
	/*
	 * The columns, found by name once per query and table (a row trigger
	 * is called for every row; a partition has its own trigger and column
	 * order, and no column can change while the statement holds its lock).
	 */
	cols = (TrackedColumns *) fcinfo->flinfo->fn_extra;
	if (cols == NULL || cols->relid != RelationGetRelid(trigdata->tg_relation))
	{
		cols = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(TrackedColumns));
		resolve_columns(trigdata, RelationGetDescr(trigdata->tg_relation), cols);
		fcinfo->flinfo->fn_extra = cols;
	}
	desc = cols->desc;

	if (TRIGGER_FIRED_FOR_ROW(ev))
	{
		if (TRIGGER_FIRED_BY_INSERT(ev))
			collect_tuple(trigdata->tg_trigtuple, cols, false, &list);
		else if (TRIGGER_FIRED_BY_DELETE(ev))
			collect_tuple(trigdata->tg_trigtuple, cols, true, &list);
		else if (TRIGGER_FIRED_BY_UPDATE(ev))
		{
			collect_tuple(trigdata->tg_trigtuple, cols, true, &list);
			collect_tuple(trigdata->tg_newtuple, cols, false, &list);
			/* the tracked columns unchanged: nothing to do */
			if (list.n == 2 && list.items[0].customer == list.items[1].customer &&
				list.items[0].change.day == list.items[1].change.day &&
				list.items[0].change.amount == list.items[1].change.amount)
				list.n = 0;
		}
	}
	else
	{
		if (trigdata->tg_oldtable == NULL && trigdata->tg_newtable == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("statement trigger \"%s\" needs transition tables", trigdata->tg_trigger->tgname),
					 errhint("Install it with crm.track_orders().")));
		if (trigdata->tg_oldtable && trigdata->tg_newtable)
			collect_update_tables(trigdata->tg_oldtable, trigdata->tg_newtable, desc, cols, &list);
		else if (trigdata->tg_oldtable)
			collect_table(trigdata->tg_oldtable, desc, cols, true, &list);
		else
			collect_table(trigdata->tg_newtable, desc, cols, false, &list);
	}

	if (list.n > 0)
		apply_changes(&list, cols, RelationGetRelationName(trigdata->tg_relation));
	crm_unpin_search_path(nestlevel);
	return PointerGetDatum(NULL);
}
