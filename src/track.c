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
 * to do about an unknown customer ('create' or 'error'); a table attached
 * with options has four more (resolve_columns()): customers by integer or
 * by application key (uuid, text: turned into customer_ids through
 * crm.customer_keys, resolve_keys()), the amount's scale, an amount
 * expression and a row filter (compiled against the table's columns,
 * compile_order_expression()).  A timestamptz date becomes a day in the
 * business time zone (the setting business_time_zone), whatever the
 * session's.  Columns and expressions are found by name once per query
 * and table (kept in fn_extra), so a partition with another column order
 * and a dropped-and-re-added column both work.
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
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "utils/numeric.h"
#include "utils/typcache.h"
#include "utils/uuid.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "config.h"
#include "crm.h"
#include "customer.h"

typedef struct OrderChange
{
	int64		customer;
	const char *key;			/* an application key (uuid, text), else NULL */
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
	bool		keyed;			/* customers by application key (crm.customer_keys) */
	Datum		zone;			/* text: the business time zone, for timestamptz */
	int			zone_kind;		/* how a day is found in it (ZONE_*, below) */
	int			zone_offset;	/* ZONE_FIXED: seconds east of UTC */
	pg_tz	   *zone_tz;		/* ZONE_NAMED: the zone, resolved once */
	/* the options of a table attached with them (see resolve_options()) */
	ExprState  *amount_expr;	/* numeric; NULL: the amount column as it is */
	Datum		divisor;		/* numeric 10^scale, (Datum) 0 for none */
	int64		unit_money;		/* an integer amount column: money per unit */
	ExprState  *filter;			/* boolean; NULL: every row */
	ExprContext *econtext;
	TupleTableSlot *rowslot;	/* a row trigger's tuple, for the expressions */
} TrackedColumns;

enum
{
	COL_CUSTOMER,
	COL_DATE,
	COL_AMOUNT
};

/*
 * How a timestamptz becomes a day in the business time zone: the zone
 * name looked up once per statement as timezone(zone, ts) looks it up on
 * every call (an abbreviation first, then a full zone name), so the rows
 * cost a conversion, not a lookup each.  ZONE_CALL: timezone() itself, row
 * by row (an abbreviation whose offset depends on the date, or a name
 * timezone() will refuse with its own error).
 */
enum
{
	ZONE_CALL,
	ZONE_FIXED,
	ZONE_NAMED
};

/*
 * Compile the text of an attach's amount expression or filter over the
 * rows of rel, its names resolved in pg_catalog alone: parsed as a CHECK
 * constraint is (no subqueries, aggregates or set-returning functions),
 * refused when volatile or calling anything not built in, and coerced to
 * numeric (an amount, from a number) or boolean (a filter).  crm.track_orders
 * validates both through this same function (check_order_expression()).
 */
/* a function outside pg_catalog (check_functions_in_node() callback) */
static bool
not_builtin(Oid func_id, void *context)
{
	return get_func_namespace(func_id) != PG_CATALOG_NAMESPACE;
}

static Expr *
compile_order_expression(Relation rel, const char *src, bool filter)
{
	const char *what = filter ? "filter" : "amount expression";
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	List	   *raw;
	SelectStmt *sel;
	ResTarget  *target;
	Node	   *expr;
	Oid			type;
	int			save_nestlevel;

	raw = raw_parser(src, RAW_PARSE_PLPGSQL_EXPR);
	sel = (SelectStmt *) linitial_node(RawStmt, raw)->stmt;
	if (list_length(raw) != 1 || !IsA(sel, SelectStmt) || list_length(sel->targetList) != 1 ||
		sel->fromClause || sel->whereClause || sel->groupClause || sel->havingClause ||
		sel->windowClause || sel->sortClause || sel->limitCount || sel->limitOffset ||
		sel->lockingClause || sel->distinctClause || sel->intoClause ||
		((ResTarget *) linitial(sel->targetList))->name)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s \"%s\" is not one expression", what, src),
				 errhint("Write one expression over the columns of %s, such as %s.",
						 RelationGetRelationName(rel), filter ? "status = 'paid'" : "total_cents / 100.0")));
	target = (ResTarget *) linitial(sel->targetList);
	/* names resolved in pg_catalog alone, whatever the writer's search_path */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = src;
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock, NULL, false, true);
	addNSItemToQuery(pstate, nsitem, true, true, true);
	expr = transformExpr(pstate, target->val, EXPR_KIND_CHECK_CONSTRAINT);
	type = exprType(expr);
	if (filter)
		expr = coerce_to_boolean(pstate, expr, "the crm filter");
	else
	{
		if (TypeCategory(type) != TYPCATEGORY_NUMERIC)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("amount expression \"%s\" has type %s, not a number", src, format_type_be(type)),
					 errhint("The amount of an order is numeric, floating-point or integer: cast it, as in (%s)::numeric.", src)));
		expr = coerce_to_target_type(pstate, expr, type, NUMERICOID, -1,
									 COERCION_ASSIGNMENT, COERCE_EXPLICIT_CAST, -1);
	}
	assign_expr_collations(pstate, expr);
	if (contain_volatile_functions(expr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("%s \"%s\" is volatile", what, src),
				 errdetail("A volatile expression can give another answer when the order is read again, so a change of the order could not take out what it added."),
				 errhint("Use immutable or stable functions only.")));
	if (check_functions_in_node(expr, not_builtin, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s \"%s\" calls a function that is not built in", what, src),
				 errdetail("The order trigger evaluates it with the rights of crm's owner, so it may call only the functions and operators of pg_catalog."),
				 errhint("Write it with built-in operators and functions.")));
	free_parsestate(pstate);
	AtEOXact_GUC(true, save_nestlevel);
	return (Expr *) expr;
}

/* crm.check_order_expression(tbl, expression, is_filter): the attach's check */
PG_FUNCTION_INFO_V1(check_order_expression);
Datum
check_order_expression(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = try_table_open(relid, AccessShareLock);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	(void) compile_order_expression(rel, text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_BOOL(2));
	table_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}

/* the business time zone, looked up as timestamptz_zone() looks it up */
static void
resolve_zone(TrackedColumns *cols)
{
	const char *name = crm_business_time_zone();
	char	   *lower;
	int			type,
				val;
	pg_tz	   *tzp = NULL;

	cols->zone = CStringGetTextDatum(name);
	cols->zone_kind = ZONE_CALL;
	if (strlen(name) > TZ_STRLEN_MAX)
		return;
	lower = downcase_truncate_identifier(name, strlen(name), false);
	type = DecodeTimezoneAbbrev(0, lower, &val, &tzp);
	if (type == TZ || type == DTZ)
	{
		cols->zone_kind = ZONE_FIXED;
		cols->zone_offset = val;
	}
	else if (type != DYNTZ && (tzp = pg_tzset(name)) != NULL)
	{
		cols->zone_kind = ZONE_NAMED;
		cols->zone_tz = tzp;
	}
}

/* the day of ts in the business time zone: timezone(zone, ts)::date */
static DateADT
business_day(const TrackedColumns *cols, TimestampTz ts)
{
	if (!TIMESTAMP_NOT_FINITE(ts))
	{
		if (cols->zone_kind == ZONE_FIXED)
		{
			Timestamp	local = ts + (int64) cols->zone_offset * USECS_PER_SEC;

			if (IS_VALID_TIMESTAMP(local))
				return (DateADT) (local >= 0 ? local / USECS_PER_DAY :
								  -((-local + USECS_PER_DAY - 1) / USECS_PER_DAY));
		}
		else if (cols->zone_kind == ZONE_NAMED)
		{
			struct pg_tm tm;
			fsec_t		fsec;
			int			tz;

			if (timestamp2tm(ts, &tz, &tm, &fsec, NULL, cols->zone_tz) == 0)
				return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
		}
	}
	/* infinity, out of range, or a zone only timezone() knows: its answer or its error */
	return DatumGetDateADT(DirectFunctionCall1(timestamp_date,
											   DirectFunctionCall2(timestamptz_zone, cols->zone, TimestampTzGetDatum(ts))));
}

/*
 * Trigger arguments: customer, date and amount columns, the unknown
 * customer policy; then (tables attached since 0.4.0 with options) 'id' or
 * 'key' (customers by an application key), the amount's scale (a power of
 * ten it is divided by), the amount expression ('': the amount column) and
 * the filter ('': every row).
 */
static void
resolve_columns(TriggerData *trigdata, TupleDesc desc, TrackedColumns *cols)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	const char *relname = RelationGetRelationName(rel);
	const char *amount_src = NULL;
	const char *filter_src = NULL;
	int			scale = 0;
	int			i;

	memset(cols, 0, sizeof(TrackedColumns));
	cols->unit_money = CRM_MONEY_SCALE;
	cols->relid = RelationGetRelid(rel);
	cols->desc = desc;

	if (trigger->tgnargs != 4 && trigger->tgnargs != 8)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on \"%s\" needs 4 or 8 arguments: customer, date and amount columns, 'create' or 'error', and the attach options",
						trigger->tgname, relname),
				 errhint("Install it with crm.track_orders().")));
	if (trigger->tgnargs == 8)
	{
		cols->keyed = strcmp(trigger->tgargs[4], "key") == 0;
		scale = pg_strtoint32(trigger->tgargs[5]);
		if (trigger->tgargs[6][0] != '\0')
			amount_src = trigger->tgargs[6];
		if (trigger->tgargs[7][0] != '\0')
			filter_src = trigger->tgargs[7];
	}
	/*
	 * An integer column with a scale (cents), as crm.track_orders writes it
	 * (the column's name, quoted if need be, for amount_scale > 0): read as
	 * an integer, each unit worth CRM_MONEY_SCALE / 10^scale, exactly what
	 * numeric division gives, without a numeric per row.
	 */
	if (amount_src != NULL && scale <= 4 && strcmp(quote_identifier(amount_src), amount_src) == 0)
	{
		int			attnum = SPI_fnumber(desc, amount_src);
		Oid			type = attnum > 0 ? TupleDescAttr(desc, attnum - 1)->atttypid : InvalidOid;

		if (type == INT8OID || type == INT4OID || type == INT2OID)
		{
			for (i = 0; i < scale; i++)
				cols->unit_money /= 10;
			amount_src = NULL;
			scale = 0;
		}
	}
	for (i = 0; i < 3; i++)
	{
		cols->names[i] = trigger->tgargs[i];
		if (i == COL_AMOUNT && trigger->tgnargs == 8 && trigger->tgargs[6][0] != '\0')
			cols->names[i] = trigger->tgargs[6];
		if (i == COL_AMOUNT && amount_src != NULL)
		{
			cols->names[i] = amount_src;
			continue;
		}
		cols->attnum[i] = SPI_fnumber(desc, cols->names[i]);
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
	if (cols->type[COL_DATE] == TIMESTAMPTZOID)
		resolve_zone(cols);
	if (amount_src != NULL || filter_src != NULL)
	{
		cols->econtext = CreateStandaloneExprContext();
		cols->rowslot = MakeSingleTupleTableSlot(CreateTupleDescCopy(desc), &TTSOpsHeapTuple);
	}
	if (amount_src != NULL)
	{
		cols->amount_expr = ExecInitExpr(expression_planner(compile_order_expression(rel, amount_src, false)), NULL);
		if (scale > 0)
		{
			char		power[32];

			snprintf(power, sizeof(power), "1%0*d", scale, 0);
			cols->divisor = DirectFunctionCall3(numeric_in, CStringGetDatum(power),
												ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		}
	}
	if (filter_src != NULL)
		cols->filter = ExecInitExpr(expression_planner(compile_order_expression(rel, filter_src, true)), NULL);
}

/*
 * A uuid as its text (what uuid_out writes: lower-case hex digits in groups
 * of 8-4-4-4-12), in 37 bytes (uuid_out allocates a kilobyte for a
 * StringInfo, per row of a statement)
 */
static char *
uuid_key(const pg_uuid_t *uuid)
{
	static const char hex[] = "0123456789abcdef";
	char	   *buf = palloc(2 * UUID_LEN + 5);
	char	   *p = buf;
	int			i;

	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid->data[i] >> 4];
		*p++ = hex[uuid->data[i] & 0x0F];
	}
	*p = '\0';
	return buf;
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

	if (slot == NULL && cols->econtext != NULL)
	{
		ExecStoreHeapTuple(tuple, cols->rowslot, false);
		slot = cols->rowslot;
	}
	if (cols->econtext != NULL)
	{
		ResetExprContext(cols->econtext);
		cols->econtext->ecxt_scantuple = slot;
	}
	if (cols->filter != NULL)
	{
		Datum		pass = ExecEvalExprSwitchContext(cols->filter, cols->econtext, &isnull);

		if (isnull || !DatumGetBool(pass))
			return false;
	}
	for (i = 0; i < 3; i++)
	{
		if (i == COL_AMOUNT && cols->amount_expr != NULL)
			v[i] = ExecEvalExprSwitchContext(cols->amount_expr, cols->econtext, &isnull);
		else
			v[i] = slot ? slot_getattr(slot, cols->attnum[i], &isnull) :
				heap_getattr(tuple, cols->attnum[i], cols->desc, &isnull);
		if (isnull)
			return false;
	}

	out->key = NULL;
	out->customer = 0;
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
		case UUIDOID:
			out->key = uuid_key(DatumGetUUIDP(v[COL_CUSTOMER]));
			break;
		case TEXTOID:
		case VARCHAROID:
			out->key = TextDatumGetCString(v[COL_CUSTOMER]);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("customer column \"%s\" has type %s", cols->names[COL_CUSTOMER],
							format_type_be(cols->type[COL_CUSTOMER])),
					 errhint("crm tracks customers by smallint, integer, bigint, uuid, text or varchar keys.")));
	}
	if ((out->key != NULL) != cols->keyed)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("customer column \"%s\" has type %s, not the type it was attached with",
						cols->names[COL_CUSTOMER], format_type_be(cols->type[COL_CUSTOMER])),
				 errhint("Detach with crm.untrack_orders() and attach again.")));

	switch (cols->type[COL_DATE])
	{
		case DATEOID:
			out->change.day = DatumGetDateADT(v[COL_DATE]);
			break;
		case TIMESTAMPOID:
			out->change.day = DatumGetDateADT(DirectFunctionCall1(timestamp_date, v[COL_DATE]));
			break;
		case TIMESTAMPTZOID:
			/* the day in the business time zone, whatever the session's */
			out->change.day = business_day(cols, DatumGetTimestampTz(v[COL_DATE]));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("date column \"%s\" has type %s", cols->names[COL_DATE],
							format_type_be(cols->type[COL_DATE])),
					 errhint("crm reads order dates from date, timestamp or timestamptz columns.")));
	}
	crm_check_finite_date(out->change.day, cols->names[COL_DATE]);

	if (cols->amount_expr != NULL)
	{
		Datum		amount = v[COL_AMOUNT];

		if (cols->divisor != (Datum) 0)
			amount = DirectFunctionCall2(numeric_div, amount, cols->divisor);
		out->change.amount = crm_numeric_to_money(amount, cols->names[COL_AMOUNT]);
		return true;
	}
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

				if (__builtin_mul_overflow(units, cols->unit_money, &out->change.amount))
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

/* the same customer, day and amount: an update that changes no summary */
static bool
same_order(const OrderChange *a, const OrderChange *b)
{
	return a->customer == b->customer && a->change.day == b->change.day &&
		a->change.amount == b->change.amount &&
		(a->key == NULL || b->key == NULL ? a->key == b->key : strcmp(a->key, b->key) == 0);
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
		if (old_valid && new_valid && same_order(&o, &n))
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
 * Customers by application key: every key of the statement turned into its
 * customer_id through crm.customer_keys (one query per statement, its
 * distinct keys as one array: an index probe each), keys not there yet
 * given a new customer_id from crm.customer_key_ids when customers may be
 * created (as INSERT ... ON CONFLICT DO NOTHING: a concurrent writer of the
 * same new key wins, and its id is read back).
 */
static SPIPlanPtr key_lookup_plan = NULL;
static SPIPlanPtr key_insert_plan = NULL;

/*
 * The statement's distinct keys: a hash table from a key to its place in
 * keys[] (the rows are many, their customers fewer: one hash probe a row
 * rather than a sort of every row by its key)
 */
typedef struct KeyEntry
{
	const char *key;			/* the hash key: the string it points to */
	int			index;			/* its place in keys[] and ids[] */
} KeyEntry;

static uint32
key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
key_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* the ids of keys[] found by plan, into ids[] (0: not found) */
static void
run_key_plan(SPIPlanPtr plan, HTAB *index, char **keys, int64 *ids, int nkeys, bool only_missing)
{
	Datum	   *elems = palloc(nkeys * sizeof(Datum));
	int			n = 0;
	Datum		arg;
	uint64		r;
	int			i;

	for (i = 0; i < nkeys; i++)
		if (!only_missing || ids[i] == 0)
			elems[n++] = CStringGetTextDatum(keys[i]);
	if (n == 0)
		return;
	arg = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(plan, &arg, NULL, false, 0) < 0)
		elog(ERROR, "could not look up customer keys in crm.customer_keys");
	for (r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		char	   *key = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		Datum		id = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);
		KeyEntry   *hit = hash_search(index, &key, HASH_FIND, NULL);

		if (hit != NULL)
			ids[hit->index] = DatumGetInt64(id);
	}
	SPI_freetuptable(SPI_tuptable);
}

static void
resolve_keys(ChangeList *list, const TrackedColumns *cols, const char *relname)
{
	HASHCTL		ctl;
	HTAB	   *index;
	char	  **keys;
	int64	   *ids;
	int			nkeys = 0;
	int			i,
				k;
	const char *missing = NULL;

	if (list->n == 0)
		return;
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(KeyEntry);
	ctl.hash = key_hash;
	ctl.match = key_match;
	ctl.hcxt = CurrentMemoryContext;
	index = hash_create("crm customer keys", Min(list->n, 1024), &ctl,
						HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	keys = palloc(list->n * sizeof(char *));
	/* each row's customer holds its key's place until the ids are known */
	for (i = 0; i < list->n; i++)
	{
		bool		found;
		KeyEntry   *e = hash_search(index, &list->items[i].key, HASH_ENTER, &found);

		if (!found)
		{
			e->index = nkeys;
			keys[nkeys++] = (char *) list->items[i].key;
		}
		list->items[i].customer = e->index;
	}
	ids = palloc0(nkeys * sizeof(int64));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (key_lookup_plan == NULL)
	{
		Oid			argtype = TEXTARRAYOID;

		key_lookup_plan = crm_keep_plan("SELECT k.app_key, k.customer_id FROM crm.customer_keys k "
										"WHERE k.app_key OPERATOR(pg_catalog.=) ANY ($1)", 1, &argtype, 0);
		key_insert_plan = crm_keep_plan("INSERT INTO crm.customer_keys AS k (app_key, customer_id) "
										"SELECT u.key, pg_catalog.nextval('crm.customer_key_ids') "
										"FROM pg_catalog.unnest($1) AS u(key) ORDER BY 1 "
										"ON CONFLICT DO NOTHING RETURNING k.app_key, k.customer_id", 1, &argtype, 0);
	}
	run_key_plan(key_lookup_plan, index, keys, ids, nkeys, false);
	for (k = 0; k < nkeys && ids[k] != 0; k++)
		;
	if (k < nkeys && cols->create_customers)
	{
		run_key_plan(key_insert_plan, index, keys, ids, nkeys, true);
		run_key_plan(key_lookup_plan, index, keys, ids, nkeys, true);
	}
	SPI_finish();
	/* the first missing key in key order names the error */
	for (k = 0; k < nkeys; k++)
		if (ids[k] == 0 && (missing == NULL || strcmp(keys[k], missing) < 0))
			missing = keys[k];
	if (missing != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("customer \"%s\" of an order in \"%s\" is not in crm.customer_keys", missing, relname),
				 errdetail("Table \"%s\" is tracked with unknown_customers => 'error'.", relname),
				 errhint("Register the customer with crm.customer_for_key() first, or attach the table with unknown_customers => 'create'.")));

	for (i = 0; i < list->n; i++)
		list->items[i].customer = ids[list->items[i].customer];
	hash_destroy(index);
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

	if (cols->keyed)
		resolve_keys(list, cols, relname);
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
			if (list.n == 2 && same_order(&list.items[0], &list.items[1]))
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
