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
 * sorted by customer, and written:
 *
 *	- customers that exist are written directly, one after the other in
 *	  customer_id order, without a query (customer.c: find and lock the
 *	  row, apply the changes, derive score, segment and stage, write the
 *	  row and its stage history).  The fixed order keeps concurrent loads
 *	  from deadlocking;
 *	- with unknown_customers => 'create', a statement of new orders only
 *	  (INSERT, COPY) goes through one INSERT ... ON CONFLICT in customer
 *	  order that creates the missing customers and updates the others; any
 *	  other statement first inserts the missing customers, then writes all
 *	  of them directly.
 *
 * (Across the statements of one transaction, rows are locked in statement
 * order, as with any updates.)
 *
 * Trigger arguments: customer column, date column, amount column, and what
 * to do about an unknown customer ('create' or 'error').  Columns are found
 * by name on every call (a few string compares), so a partition with
 * another column order and a dropped-and-re-added column both work.
 *
 * The function is SECURITY DEFINER (see the SQL declaration): writers of
 * orders need no privilege on crm.customers, and row-level security on
 * crm.customers never hides a row from maintenance.  It does not pin
 * search_path with a SET clause, because it must see the caller's (below);
 * every name and operator in its queries is schema-qualified instead.
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
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "customer.h"
#include "summary.h"

typedef struct OrderChange
{
	int64		customer;
	SummaryChange change;
} OrderChange;

/* where the tracked columns are in one call's tuple descriptor */
typedef struct TrackedColumns
{
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

/* saved plans, prepared once per backend (the plan cache replans them) */
static SPIPlanPtr create_plan = NULL;
/* [0]: a generic plan, for a few customers; [1]: planned per call, for many */
static SPIPlanPtr upsert_plan[2] = {NULL, NULL};
/* crm.summary, the type those plans take */
static Oid	summary_type = InvalidOid;

/*
 * From this many customers on, the upsert is planned with the arrays' real
 * lengths (a hash join over a sequential scan of crm.customers beats that
 * many index probes, and planning is cheap next to the work); below it, a
 * generic plan probes the primary key.
 */
#define BULK_CUSTOM_PLAN_MIN 2000

/* what the order trigger writes, after the new summary: one expression */
#define DERIVED_SEGMENT(r, cp) \
	"CASE WHEN " r " IS NOT NULL AND crm.rfm_scale(" cp ") OPERATOR(pg_catalog.=) 5 THEN " \
	"  crm.segment('rfm_segments', ARRAY[crm.recency_score(" r "), " \
	"    pg_catalog.round((crm.frequency_score(" r ") OPERATOR(pg_catalog.+) crm.monetary_score(" r ")) " \
	"      OPERATOR(pg_catalog./) 2.0)]::pg_catalog.float8[]) END"

/* stage, stage_reason, stage_since from the inferred (stage, reason) "i" */
#define DERIVED_STAGE(as_of) \
	"(i).stage, " \
	"CASE WHEN (i).stage OPERATOR(crm.<>) c.stage THEN (i).reason ELSE c.stage_reason END, " \
	"CASE WHEN (i).stage OPERATOR(crm.<>) c.stage THEN " as_of " ELSE c.stage_since END"

static void
resolve_columns(TriggerData *trigdata, TupleDesc desc, TrackedColumns *cols)
{
	Trigger    *trigger = trigdata->tg_trigger;
	const char *relname = RelationGetRelationName(trigdata->tg_relation);
	int			i;

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
 * Read one row's customer, day and amount.  Returns false for a row the
 * summaries ignore (a NULL in any of the three, as crm.summarize skips
 * them).
 */
static bool
read_order(TupleTableSlot *slot, const TrackedColumns *cols, OrderChange *out)
{
	Datum		v[3];
	bool		isnull;
	int			i;

	for (i = 0; i < 3; i++)
	{
		v[i] = slot_getattr(slot, cols->attnum[i], &isnull);
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
		if (read_order(r.slot, cols, &c))
			push_change(list, &c, remove);
	crm_transition_close(&r);
}

static void
collect_tuple(HeapTuple tuple, TupleDesc desc, const TrackedColumns *cols,
			  bool remove, ChangeList *list)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	OrderChange c;

	ExecStoreHeapTuple(tuple, slot, false);
	if (read_order(slot, cols, &c))
		push_change(list, &c, remove);
	ExecDropSingleTupleTableSlot(slot);
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
		old_valid = read_order(old_r.slot, cols, &o);
		new_valid = read_order(new_r.slot, cols, &n);
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

static int
change_cmp(const void *a, const void *b)
{
	const OrderChange *x = a;
	const OrderChange *y = b;

	if (x->customer != y->customer)
		return x->customer < y->customer ? -1 : 1;
	return 0;
}

/* Is this session restoring a pg_dump script?  See the header comment. */
static bool
restoring_dump(void)
{
	const char *row_security = GetConfigOption("row_security", false, false);
	const char *search_path = GetConfigOption("search_path", false, false);

	return row_security != NULL && strcmp(row_security, "off") == 0 &&
		search_path != NULL && search_path[0] == '\0';
}

/* the business date: setting crm.as_of if set, else current_date */
static DateADT
business_date(void)
{
	const char *s = GetConfigOption("crm.as_of", true, false);

	if (s != NULL && s[0] != '\0')
		return DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(s)));
	return GetSQLCurrentDate();
}

static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *argtypes, bool custom)
{
	return crm_keep_plan(sql, nargs, argtypes,
						 custom ? CURSOR_OPT_CUSTOM_PLAN : CURSOR_OPT_GENERIC_PLAN);
}

static void
prepare_plans(void)
{
	Oid			ids_type[1] = {INT8ARRAYOID};
	Oid			update_types[3];
	int			custom;

	if (crm_type_gone(summary_type))
	{
		/* first call, or the extension was created again: new type OIDs */
		crm_free_plan(&create_plan);
		for (custom = 0; custom < 2; custom++)
			crm_free_plan(&upsert_plan[custom]);
		summary_type = crm_type_oid("crm.summary");
	}
	else if (upsert_plan[1] != NULL)
		return;
	update_types[0] = INT8ARRAYOID;
	update_types[1] = get_array_type(summary_type);
	update_types[2] = DATEOID;

	if (create_plan == NULL)
		create_plan = keep_plan("INSERT INTO crm.customers (customer_id) "
								"SELECT u.id FROM pg_catalog.unnest($1) u(id) ORDER BY u.id "
								"ON CONFLICT (customer_id) DO NOTHING",
								1, ids_type, false);
	for (custom = 0; custom < 2; custom++)
		if (upsert_plan[custom] == NULL)
			/*
			 * New orders only, unknown customers created: one INSERT ... ON
			 * CONFLICT in customer order.  A new customer is inserted with
			 * its state as inferred from prospect (no history row: the stage
			 * a customer is inserted with is where its history starts); a
			 * known one is updated with the same derivations as customer.c's.
			 */
			upsert_plan[custom] = keep_plan(
											"INSERT INTO crm.customers AS c (customer_id, summary, rfm, segment, scored_on, stage, stage_reason, stage_since) "
											"SELECT n.id, n.s, n.r, " DERIVED_SEGMENT("n.r", "n.cp") ", $3, (n.i).stage, (n.i).reason, $3 "
											"FROM (SELECT u.id, u.s, sc.cp, crm.rfm_score(u.s, sc.cp) AS r, "
											"             crm.infer_stage('prospect'::crm.stage, u.s, $3) AS i "
											"      FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) u(id, s), "
											"           (SELECT (SELECT crm.rebase(s.cutpoints, $3) FROM crm.scoring s) AS cp) sc "
											"      ORDER BY u.id OFFSET 0) n "
											"ON CONFLICT (customer_id) DO UPDATE SET (summary, rfm, segment, scored_on, stage, stage_reason, stage_since) = ("
											"  SELECT y.s, y.r, " DERIVED_SEGMENT("y.r", "y.cp") ", $3, " DERIVED_STAGE("$3") " "
											"  FROM (SELECT x.s, x.cp, crm.rfm_score(x.s, x.cp) AS r, "
											"               crm.infer_stage(c.stage, x.s, $3, stage_since => c.stage_since) AS i "
											"        FROM (SELECT crm.merge(c.summary, excluded.summary) AS s, "
											"                     (SELECT crm.rebase(sc.cutpoints, $3) FROM crm.scoring sc) AS cp OFFSET 0) x "
											"        OFFSET 0) y)",
											3, update_types, custom);
}

/* the changes [lower, upper) as a summary of their additions or removals */
static Datum
changes_summary(const OrderChange *items, int lower, int upper, bool removals, bool *isnull)
{
	SummaryDay *days = palloc((upper - lower + 1) * sizeof(SummaryDay));
	int			n = 0;
	bool		normalized = true;
	int			j;

	for (j = lower; j < upper; j++)
		if (items[j].change.remove == removals &&
			summary_append(days, &n, &normalized, items[j].change.day, items[j].change.amount) != SUMMARY_OK)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the orders of customer " INT64_FORMAT " in one statement are out of range",
							items[j].customer)));
	if (!normalized && summary_normalize(days, &n) != SUMMARY_OK)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the orders of customer " INT64_FORMAT " in one statement are out of range",
						items[lower].customer)));
	*isnull = (n == 0);
	return n == 0 ? (Datum) 0 : PointerGetDatum(crm_summary_build(days, n));
}

static void
missing_customer(int64 customer, const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("customer " INT64_FORMAT " of an order in \"%s\" is not in crm.customers", customer, relname),
			 errdetail("Table \"%s\" is tracked with unknown_customers => 'error'.", relname),
			 errhint("Insert the customer into crm.customers first, or attach the table with unknown_customers => 'create'.")));
}

static void apply_bulk(ChangeList *list, const TrackedColumns *cols, const char *relname);
static void create_single(ChangeList *list, SummaryChange *changes, DateADT as_of,
						  const char *relname);

/* the changes [lower, upper) of items as a SummaryChange array */
static SummaryChange *
change_array(const OrderChange *items, int lower, int upper)
{
	SummaryChange *changes = palloc((upper - lower) * sizeof(SummaryChange));
	int			j;

	for (j = lower; j < upper; j++)
		changes[j - lower] = items[j].change;
	return changes;
}

/*
 * All the changes are one customer's: written directly (customer.c), no
 * query.  A customer not there yet is created through SPI (the upsert of
 * the bulk path, or an insert then the direct write).
 */
static void
apply_single(ChangeList *list, const TrackedColumns *cols, const char *relname)
{
	int64		customer = list->items[0].customer;
	SummaryChange *changes = change_array(list->items, 0, list->n);
	DateADT		as_of = business_date();
	CustomerWriter *w = crm_writer_begin();
	bool		found = crm_writer_apply(w, customer, changes, list->n, as_of, relname);

	crm_writer_end(w);
	if (found)
		return;
	if (!cols->create_customers)
		missing_customer(customer, relname);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	create_single(list, changes, as_of, relname);
	SPI_finish();
}

/* apply_single() for a customer not there yet (SPI connected) */
static void
create_single(ChangeList *list, SummaryChange *changes, DateADT as_of, const char *relname)
{
	int64		customer = list->items[0].customer;
	Datum		id = Int64GetDatum(customer);
	Datum		ids;
	bool		removals = false;
	CustomerWriter *w;
	bool		found;
	int			i;

	for (i = 0; i < list->n; i++)
		removals |= list->items[i].change.remove;
	prepare_plans();
	ids = PointerGetDatum(construct_array(&id, 1, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (!removals)
	{
		Datum		upsert_args[3];
		int			dims[1] = {1};
		int			lbs[1] = {1};
		bool		isnull;
		Datum		added = changes_summary(list->items, 0, list->n, false, &isnull);

		upsert_args[0] = ids;
		upsert_args[1] = PointerGetDatum(construct_md_array(&added, NULL, 1, dims, lbs, summary_type, -1, false, TYPALIGN_DOUBLE));
		upsert_args[2] = DateADTGetDatum(as_of);
		if (SPI_execute_plan(upsert_plan[0], upsert_args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "crm: could not create customer " INT64_FORMAT, customer);
		return;
	}
	/* removals of a customer not there: create it, then fail as for any */
	if (SPI_execute_plan(create_plan, &ids, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "crm: could not create customer " INT64_FORMAT, customer);
	w = crm_writer_begin();
	found = crm_writer_apply(w, customer, changes, list->n, as_of, relname);
	crm_writer_end(w);
	if (!found)
		elog(ERROR, "crm: could not create customer " INT64_FORMAT, customer);
}

/*
 * Apply the collected changes: create or check the customers, lock them in
 * order, compute their new summaries, write them back with what derives
 * from them.
 */
static void
apply_changes(ChangeList *list, const TrackedColumns *cols, const char *relname)
{
	qsort(list->items, list->n, sizeof(OrderChange), change_cmp);
	if (list->items[0].customer == list->items[list->n - 1].customer)
		apply_single(list, cols, relname);
	else
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		apply_bulk(list, cols, relname);
		SPI_finish();
	}
}

/*
 * Changes of several customers (SPI connected): new customers through one
 * upsert when they may be created and nothing is removed; otherwise the
 * missing ones created first (if they may be), then every customer written
 * directly (customer.c), one after the other in customer_id order, a fixed
 * lock order that keeps concurrent loads from deadlocking.
 */
static void
apply_bulk(ChangeList *list, const TrackedColumns *cols, const char *relname)
{
	Datum	   *ids;
	int			nids = 0;
	int			i;
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			next;
	int			lower;
	int			lbs[1] = {1};
	DateADT		as_of = business_date();
	CustomerWriter *w;
	MemoryContext each,
				old;

	prepare_plans();
	ids = palloc(list->n * sizeof(Datum));
	for (i = 0; i < list->n; i++)
		if (nids == 0 || DatumGetInt64(ids[nids - 1]) != list->items[i].customer)
			ids[nids++] = Int64GetDatum(list->items[i].customer);
	args[0] = PointerGetDatum(construct_array(ids, nids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	if (cols->create_customers)
	{
		bool		removals = false;

		for (i = 0; i < list->n && !removals; i++)
			removals = list->items[i].change.remove;
		if (!removals)
		{
			/* new orders only (INSERT, COPY): one upsert in customer order */
			Datum	   *added = palloc(nids * sizeof(Datum));
			int			dims[1] = {nids};
			bool		isnull;

			next = 0;
			for (i = 0; i < nids; i++)
			{
				lower = next;
				while (next < list->n && list->items[next].customer == DatumGetInt64(ids[i]))
					next++;
				added[i] = changes_summary(list->items, lower, next, false, &isnull);
			}
			args[1] = PointerGetDatum(construct_md_array(added, NULL, 1, dims, lbs, summary_type,
														 -1, false, TYPALIGN_DOUBLE));
			args[2] = DateADTGetDatum(as_of);
			if (SPI_execute_plan(upsert_plan[nids >= BULK_CUSTOM_PLAN_MIN], args, nulls, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "crm: could not write customers");
			return;
		}
		if (SPI_execute_plan(create_plan, args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "crm: could not create customers");
	}

	w = crm_writer_begin();
	each = AllocSetContextCreate(CurrentMemoryContext, "crm customer write", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(each);
	next = 0;
	for (i = 0; i < nids; i++)
	{
		int64		id = DatumGetInt64(ids[i]);

		lower = next;
		while (next < list->n && list->items[next].customer == id)
			next++;
		if (!crm_writer_apply(w, id, change_array(list->items, lower, next), next - lower, as_of, relname))
			missing_customer(id, relname);
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
	TrackedColumns cols;
	ChangeList	list = {NULL, 0, 0};
	TriggerEvent ev;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.track_orders_trigger() must be fired AFTER a change"),
				 errhint("Install it with crm.track_orders().")));
	if (restoring_dump())
		return PointerGetDatum(NULL);
	ev = trigdata->tg_event;
	desc = RelationGetDescr(trigdata->tg_relation);
	resolve_columns(trigdata, desc, &cols);

	if (TRIGGER_FIRED_FOR_ROW(ev))
	{
		if (TRIGGER_FIRED_BY_INSERT(ev))
			collect_tuple(trigdata->tg_trigtuple, desc, &cols, false, &list);
		else if (TRIGGER_FIRED_BY_DELETE(ev))
			collect_tuple(trigdata->tg_trigtuple, desc, &cols, true, &list);
		else if (TRIGGER_FIRED_BY_UPDATE(ev))
		{
			collect_tuple(trigdata->tg_trigtuple, desc, &cols, true, &list);
			collect_tuple(trigdata->tg_newtuple, desc, &cols, false, &list);
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
			collect_update_tables(trigdata->tg_oldtable, trigdata->tg_newtable, desc, &cols, &list);
		else if (trigdata->tg_oldtable)
			collect_table(trigdata->tg_oldtable, desc, &cols, true, &list);
		else
			collect_table(trigdata->tg_newtable, desc, &cols, false, &list);
	}

	if (list.n > 0)
		apply_changes(&list, &cols, RelationGetRelationName(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
