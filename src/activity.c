/*-------------------------------------------------------------------------
 *
 * activity.c
 *	  The monthly activity of a population of customers, from their
 *	  summaries in one pass: the aggregate crm.monthly_activity(summary)
 *	  behind the view crm.kpis.
 *
 * crm.kpis reports per calendar month the customers active (a purchase
 * day in the month), those of them who had bought before the month
 * (returning), those active in the month before too (retained), the net
 * revenue and the purchases.  Written in SQL, that expands every
 * customer's days into rows and groups them twice (seconds per hundred
 * thousand customers).  Every one of those counts is a sum over customers
 * of what one customer's days give, and a customer's days are in order in
 * its summary, so one pass over each summary adds its share to an array
 * of months:
 *
 *	for each day d of the customer (ascending), m = month of d:
 *		revenue[m] += amount(d); purchases[m] += purchases(d)
 *		if purchases(d) > 0 and m is not the customer's last active month:
 *			active[m] += 1
 *			returning[m] += (first purchase day < first day of m)
 *			retained[m] += (the last active month is m - 1)
 *
 * A day with purchases 0 (refunds only) moves revenue but makes no month
 * active, as in the SQL definition.  The state is the array of months
 * (from the first month seen to the last), so partial states of parallel
 * workers add month by month (combine); the state type is crm.agg_state
 * (agg_state.c), so Citus ships partial states between nodes too.  The
 * final function gives one crm.month_activity per month with any day,
 * oldest first.
 *
 * The summary must hold every day: a sealed one (src/history.c) is given
 * as crm.full_summary(customer_id, summary) by the view.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "common/int.h"

#include "agg_state.h"
#include "summary.h"

/* one month's counts */
typedef struct MonthCounts
{
	int64		active;
	int64		returning;
	int64		retained;
	int64		purchases;
	crm_money	revenue;
	int64		days;			/* customer days in the month */
} MonthCounts;

/* months first .. first + n - 1, as year * 12 + month - 1 */
typedef struct ActivityState
{
	int32		first;
	int32		n;
	int32		cap;
	MonthCounts *months;
} ActivityState;

static int32
month_of(int32 day)
{
	int			y,
				m,
				d;

	j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	return y * 12 + m - 1;
}

/* the counts of month (allocated in the state's context), the array grown to reach it */
static MonthCounts *
month_counts(ActivityState *st, int32 month)
{
	if (st->n == 0)
	{
		st->cap = 64;
		st->months = palloc0(st->cap * sizeof(MonthCounts));
		st->first = month;
		st->n = 1;
	}
	else if (month < st->first)
	{
		int32		shift = st->first - month;

		if (st->n + shift > st->cap)
		{
			st->cap = Max(2 * st->cap, st->n + shift);
			st->months = repalloc(st->months, st->cap * sizeof(MonthCounts));
		}
		memmove(st->months + shift, st->months, st->n * sizeof(MonthCounts));
		memset(st->months, 0, shift * sizeof(MonthCounts));
		st->first = month;
		st->n += shift;
	}
	else if (month >= st->first + st->n)
	{
		int32		n = month - st->first + 1;

		if (n > st->cap)
		{
			st->cap = Max(2 * st->cap, n);
			st->months = repalloc(st->months, st->cap * sizeof(MonthCounts));
		}
		memset(st->months + st->n, 0, (n - st->n) * sizeof(MonthCounts));
		st->n = n;
	}
	return &st->months[month - st->first];
}

static ActivityState *
activity_state(FunctionCallInfo fcinfo, MemoryContext *aggcxt, const char *fn)
{
	if (!AggCheckCallContext(fcinfo, aggcxt))
		elog(ERROR, "%s called in non-aggregate context", fn);
	if (PG_ARGISNULL(0))
		return (ActivityState *) MemoryContextAllocZero(*aggcxt, sizeof(ActivityState));
	return (ActivityState *) PG_GETARG_POINTER(0);
}

/* monthly_activity_accum(state, summary): one customer's share added */
static Datum
monthly_activity_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ActivityState *st = activity_state(fcinfo, &aggcxt, "monthly_activity_accum");
	Summary    *s;
	int32		first_day = 0;
	bool		any_purchase = false;
	int32		last_active = PG_INT32_MIN;
	int			i;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(st);
	s = PG_GETARG_SUMMARY_P(1);
	if (SUMMARY_IS_SEALED(s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.monthly_activity() needs every day of a summary, and this one is sealed"),
				 errdetail("A sealed summary keeps only the totals of its older days; they are in crm.summary_blocks."),
				 errhint("Give crm.full_summary(customer_id, summary).")));
	for (i = 0; i < s->ndays; i++)
		if (s->days[i].purchases > 0)
		{
			first_day = s->days[i].day;
			any_purchase = true;
			break;
		}
	old = MemoryContextSwitchTo(aggcxt);
	for (i = 0; i < s->ndays; i++)
	{
		const SummaryDay *d = &s->days[i];
		int32		m = month_of(d->day);
		MonthCounts *c = month_counts(st, m);

		c->revenue += d->amount;
		c->purchases += d->purchases;
		c->days++;
		if (d->purchases > 0 && m != last_active)
		{
			c->active++;
			if (any_purchase && month_of(first_day) < m)
				c->returning++;
			if (last_active == m - 1)
				c->retained++;
			last_active = m;
		}
	}
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

/* monthly_activity_combine(a, b): two partial states added month by month */
static Datum
monthly_activity_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	ActivityState *a = activity_state(fcinfo, &aggcxt, "monthly_activity_combine");
	ActivityState *b;
	int			i;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(a);
	b = (ActivityState *) PG_GETARG_POINTER(1);
	if (b->n == 0)
		PG_RETURN_POINTER(a);
	old = MemoryContextSwitchTo(aggcxt);
	/* the range first, then the counts (growing moves the array) */
	(void) month_counts(a, b->first);
	(void) month_counts(a, b->first + b->n - 1);
	for (i = 0; i < b->n; i++)
	{
		MonthCounts *c = &a->months[b->first + i - a->first];
		const MonthCounts *x = &b->months[i];

		if (pg_add_s64_overflow(c->active, x->active, &c->active) ||
			pg_add_s64_overflow(c->returning, x->returning, &c->returning) ||
			pg_add_s64_overflow(c->retained, x->retained, &c->retained) ||
			pg_add_s64_overflow(c->purchases, x->purchases, &c->purchases) ||
			pg_add_s64_overflow(c->revenue, x->revenue, &c->revenue) ||
			pg_add_s64_overflow(c->days, x->days, &c->days))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("crm.monthly_activity: a month's total is out of range")));
	}
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

static Datum
monthly_activity_serialize(PG_FUNCTION_ARGS)
{
	ActivityState *st = (ActivityState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int			i;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, st->first);
	pq_sendint32(&buf, st->n);
	for (i = 0; i < st->n; i++)
	{
		pq_sendint64(&buf, st->months[i].active);
		pq_sendint64(&buf, st->months[i].returning);
		pq_sendint64(&buf, st->months[i].retained);
		pq_sendint64(&buf, st->months[i].purchases);
		pq_sendint64(&buf, st->months[i].revenue);
		pq_sendint64(&buf, st->months[i].days);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * The flat form: first month, n, then six int64 per month.  It can come
 * from a user (crm.agg_state's input), so every value is checked: the
 * length, the months within the dates PostgreSQL has, no negative count.
 * The state is made in the current memory context.
 */
static Datum
monthly_activity_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	ActivityState *st = palloc0(sizeof(ActivityState));
	StringInfoData buf;
	int32		first,
				n;
	int			i;

	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < 8)
		crm_invalid_state("crm.monthly_activity");
	first = pq_getmsgint(&buf, 4);
	n = pq_getmsgint(&buf, 4);
	if (n < 0 || n > (buf.len - 8) / 48 || buf.len != 8 + n * 48 ||
		(n > 0 && (first < month_of(DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE) ||
				   (int64) first + n - 1 > month_of(DATE_END_JULIAN - 1 - POSTGRES_EPOCH_JDATE))))
		crm_invalid_state("crm.monthly_activity");
	if (n > 0)
	{
		(void) month_counts(st, first);
		(void) month_counts(st, first + n - 1);
	}
	for (i = 0; i < n; i++)
	{
		MonthCounts *c = &st->months[i];

		c->active = pq_getmsgint64(&buf);
		c->returning = pq_getmsgint64(&buf);
		c->retained = pq_getmsgint64(&buf);
		c->purchases = pq_getmsgint64(&buf);
		c->revenue = pq_getmsgint64(&buf);
		c->days = pq_getmsgint64(&buf);
		if (c->active < 0 || c->returning < 0 || c->retained < 0 ||
			c->purchases < 0 || c->days < 0)
			crm_invalid_state("crm.monthly_activity");
	}
	PG_RETURN_POINTER(st);
}

/*
 * monthly_activity_final(state) -> crm.month_activity[]: a row per month
 * with any day, oldest first; NULL for no day at all.  Its element type
 * is the aggregate's declared result's (crm.month_activity): the call's
 * expression says it, and where there is none (Citus calls the final
 * function of a split aggregate on the coordinator without one) the final
 * function's own declaration, read once per group.
 */
static Datum
monthly_activity_final(PG_FUNCTION_ARGS)
{
	ActivityState *st = PG_ARGISNULL(0) ? NULL : (ActivityState *) PG_GETARG_POINTER(0);
	Oid			array_type = get_fn_expr_rettype(fcinfo->flinfo);
	Oid			elem_type;
	TupleDesc	desc;
	Datum	   *rows;
	int			i,
				k = 0;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();
	if (!OidIsValid(array_type) && OidIsValid(fcinfo->flinfo->fn_oid))
		array_type = get_func_rettype(fcinfo->flinfo->fn_oid);
	elem_type = OidIsValid(array_type) ? get_element_type(array_type) : InvalidOid;
	if (!OidIsValid(elem_type))
		elog(ERROR, "monthly_activity_final: could not determine its result type");
	desc = lookup_rowtype_tupdesc_copy(elem_type, -1);
	desc = BlessTupleDesc(desc);
	rows = palloc(st->n * sizeof(Datum));
	for (i = 0; i < st->n; i++)
	{
		const MonthCounts *c = &st->months[i];
		int32		month = st->first + i;
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		/* a month between two with days, with none of its own */
		if (c->days == 0)
			continue;
		values[0] = DateADTGetDatum(date2j(month / 12, month % 12 + 1, 1) - POSTGRES_EPOCH_JDATE);
		values[1] = Int64GetDatum(c->active);
		values[2] = Int64GetDatum(c->returning);
		values[3] = Int64GetDatum(c->retained);
		values[4] = crm_money_to_numeric(c->revenue);
		values[5] = Int64GetDatum(c->purchases);
		rows[k++] = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(rows, k, elem_type, -1, false, TYPALIGN_DOUBLE));
}

/* crm.monthly_activity over crm.agg_state (agg_state.c): the C state above */
static const CrmAggKind activity_kind = {
	CRM_AGG_MONTHLY_ACTIVITY, monthly_activity_serialize, monthly_activity_deserialize
};

CRM_AGG_STATE_SFUNC(monthly_activity_accum_state, monthly_activity_accum, &activity_kind)
CRM_AGG_STATE_COMBINEFUNC(monthly_activity_combine_state, monthly_activity_combine, &activity_kind)
CRM_AGG_STATE_FINALFUNC(monthly_activity_final_state, monthly_activity_final, &activity_kind)
