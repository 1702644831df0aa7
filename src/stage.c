/*-------------------------------------------------------------------------
 *
 * stage.c
 *	  The crm.stage type (relationship life cycle), its legal transitions,
 *	  stage inference from behaviour (stage_kernel.c), and the trigger that
 *	  refuses illegal transitions.
 *
 * crm.stage is one byte, passed by value, ordered along the life cycle
 * (prospect < exploration < formation < stable < decline < terminated).
 * Inference takes its thresholds from config.c (crm.stage_thresholds over
 * the built-in defaults, kept per backend until the table changes); a call
 * site copies them once, so a changed threshold takes effect with the next
 * statement, in every session, without a rebuild.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "catalog/namespace.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "btyd.h"
#include "config.h"
#include "level.h"
#include "sqlnames.h"
#include "stage.h"


static CrmStage
stage_parse(const char *str)
{
	int			s = stage_from_name(str);

	if (s < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type crm.stage: \"%s\"", str),
				 errhint("The stages are prospect, exploration, formation, stable, decline and terminated.")));
	return (CrmStage) s;
}

PG_FUNCTION_INFO_V1(stage_in);
Datum
stage_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_STAGE(stage_parse(PG_GETARG_CSTRING(0)));
}

PG_FUNCTION_INFO_V1(stage_out);
Datum
stage_out(PG_FUNCTION_ARGS)
{
	const char *name = stage_name(PG_GETARG_STAGE(0));

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt crm.stage value %d", (int) PG_GETARG_STAGE(0))));
	PG_RETURN_CSTRING(pstrdup(name));
}

PG_FUNCTION_INFO_V1(stage_recv);
Datum
stage_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			s = pq_getmsgbyte(buf);

	if (s < 0 || s >= CRM_NSTAGES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external crm.stage value %d", s)));
	PG_RETURN_STAGE(s);
}

PG_FUNCTION_INFO_V1(stage_send);
Datum
stage_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, PG_GETARG_STAGE(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

#define STAGE_CMP_FN(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BOOL(PG_GETARG_STAGE(0) op PG_GETARG_STAGE(1)); \
}

STAGE_CMP_FN(stage_lt, <)
STAGE_CMP_FN(stage_le, <=)
STAGE_CMP_FN(stage_eq, ==)
STAGE_CMP_FN(stage_ne, !=)
STAGE_CMP_FN(stage_ge, >=)
STAGE_CMP_FN(stage_gt, >)

PG_FUNCTION_INFO_V1(stage_cmp);
Datum
stage_cmp(PG_FUNCTION_ARGS)
{
	int			a = PG_GETARG_STAGE(0);
	int			b = PG_GETARG_STAGE(1);

	PG_RETURN_INT32((a > b) - (a < b));
}

PG_FUNCTION_INFO_V1(stage_hash);
Datum
stage_hash(PG_FUNCTION_ARGS)
{
	return hash_uint32((uint32) PG_GETARG_STAGE(0));
}

/* can_transition(from, to): the life cycle's legal moves */
PG_FUNCTION_INFO_V1(stage_can_transition);
Datum
stage_can_transition(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(stage_transition_legal(PG_GETARG_STAGE(0), PG_GETARG_STAGE(1)));
}

/* the legal next stages of a stage, itself included, as text for hints */
static char *
legal_next(CrmStage from)
{
	StringInfoData buf;
	int			to;

	initStringInfo(&buf);
	for (to = 0; to < CRM_NSTAGES; to++)
		if (to != (int) from && stage_transition_legal(from, to))
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? " or " : "", stage_name(to));
	return buf.data;
}

/* what next_stage() and infer_stage() keep in fn_extra for a query */
typedef struct StageCache
{
	StageThresholds thresholds;
	TupleDesc	tupdesc;		/* infer_stage's result row */
} StageCache;

static StageCache *
stage_cache(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
	{
		StageCache *c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(StageCache));

		c->thresholds = *crm_stage_thresholds();
		fcinfo->flinfo->fn_extra = c;
	}
	return (StageCache *) fcinfo->flinfo->fn_extra;
}

/* ---------------------------------------------------------------------
 * Inference
 *
 * Arguments of next_stage() and infer_stage():
 *	0 current stage, 1 summary (NULL: no purchase), 2 as_of,
 *	3 recent complaints, 4 previous complaints, 5 recent cost to serve,
 *	6 previous cost to serve, 7 P(alive), 8 redevelopment cost,
 *	9 long-term value, 10 stage_since (date), 11 P(buy)
 * Everything after as_of may be NULL (unknown: its rules do not fire).
 * ---------------------------------------------------------------------
 */

static double
optional_double(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return get_float8_nan();
	return crm_check_finite(PG_GETARG_FLOAT8(argno), argname);
}

/*
 * the purchase signals of a history as of a date (a sealed one must know
 * the days of both windows: summary_kernel.c, "Sealed histories")
 */
static void
signals_from_view(const SummaryView *v, int32 as_of, const StageThresholds *t, StageSignals *s)
{
	SummaryStatus st;

	crm_check_finite_date(as_of, "as_of");
	st = stage_signals_from_view(v, as_of, t->window_days, s);
	if (st == SUMMARY_SEALED)
		crm_summary_check(st, "stage inference");
	if (st != SUMMARY_OK)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("spend of a crm.summary is out of range")));
}

/* ---------------------------------------------------------------------
 * The walk (stage_walk()): a customer's stage inferred from its history,
 * one month end at a time
 * ---------------------------------------------------------------------
 */

/* what the walk's checkpoints read */
typedef struct WalkContext
{
	SummaryView view;			/* the purchases (none: an empty view) */
	bool		purchased;		/* any purchase at all */
	const int32 *complaints;	/* complaint days, ascending; NULL: unknown */
	int			ncomplaints;
	int32		complaint_days; /* the complaints trend window (setting) */
	Datum		model;			/* (Datum) 0: no model */
	const StageThresholds *t;
} WalkContext;

/* complaints on days in (lo, hi] */
static int32
complaints_between(const WalkContext *c, int64 lo, int64 hi)
{
	int32		n = 0;
	int			i;

	for (i = 0; i < c->ncomplaints; i++)
		n += c->complaints[i] > lo && c->complaints[i] <= hi;
	return n;
}

/* the signals of a walk's customer as of day (see stage_kernel.h) */
static bool
walk_signals(int32 day, void *arg, StageSignals *out)
{
	WalkContext *c = (WalkContext *) arg;

	signals_from_view(&c->view, day, c->t, out);
	if (c->complaints != NULL)
	{
		out->recent_complaints = complaints_between(c, (int64) day - c->complaint_days, day);
		out->previous_complaints = complaints_between(c, (int64) day - 2 * c->complaint_days,
													  (int64) day - c->complaint_days);
	}
	if (c->model != (Datum) 0 && c->purchased)
		crm_btyd_outlook(c->model, &c->view, day, c->t->terminate_horizon_days,
						 &out->p_alive, &out->p_buy);
	return true;
}

/*
 * Walk a customer from stage "current" (entered on stage_since, or
 * STAGE_SINCE_UNKNOWN) from the day after "from" to as_of (stage_walk()),
 * with the purchases v views (NULL: none; a sealed history's view must
 * know the days of every checkpoint's windows), the complaint days given
 * (ascending; NULL: unknown) and the model's outlook (model (Datum) 0:
 * none).  *moves gets a palloc'd array of the moves; returns how many.
 */
#define STAGE_WALK_MAX_DAYS 3652425	/* 10,000 Gregorian years */

int
crm_stage_walk(CrmStage current, int32 stage_since, int32 from, int32 as_of,
			   const SummaryView *v, const int32 *complaints, int ncomplaints, Datum model,
			   StageMove **moves, StageProposal *last)
{
	WalkContext c;
	int			n;

	crm_check_finite_date(as_of, "as_of");
	/* a month end each: ten thousand years are 120,000 inferences */
	if ((int64) as_of - from > STAGE_WALK_MAX_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("a stage walk may cover at most 10,000 years"),
				 errdetail("It would run from the day after %s to as_of %s.",
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(from))),
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(as_of)))),
				 errhint("Give an as_of, and purchase days, between 0001-01-01 and 9999-12-31.")));
	if (v != NULL)
		c.view = *v;
	else
		summary_view_init(&c.view, NULL, 0);
	c.purchased = v != NULL;
	c.complaints = complaints;
	c.ncomplaints = ncomplaints;
	c.complaint_days = crm_complaint_trend_days();
	c.model = model;
	c.t = crm_stage_thresholds();
	*moves = palloc(Max(stage_walk_checkpoints(from, as_of), 1) * sizeof(StageMove));
	n = stage_walk(current, DATE_NOT_FINITE(stage_since) ? STAGE_SINCE_UNKNOWN : stage_since,
				   from, as_of, c.t, walk_signals, &c, *moves, last);
	if (n < 0)
		elog(ERROR, "crm: the stage walk failed");
	return n;
}

/*
 * The day a walk starts after: the day the customer was last evaluated
 * (scored_on), else the day before its first purchase (a walk from the
 * beginning), else the day before as_of (no purchase: one checkpoint).
 */
int32
crm_walk_from(const SummaryView *v, bool scored_known, int32 scored_on, int32 as_of)
{
	SummaryStats st;

	if (scored_known && !DATE_NOT_FINITE(scored_on))
		return scored_on;
	if (summary_view_stats(v, as_of, &st) == SUMMARY_OK && st.purchase_days > 0)
		return st.first_purchase - 1;
	return as_of - 1;
}

/*
 * walk_stages(current, s, as_of, stage_since, evaluated_through, model,
 * complaints) -> setof (day, from_stage, to_stage, reason, detail): the
 * moves of the walk, as the refresh and the order trigger make them.
 */
PG_FUNCTION_INFO_V1(walk_stages);
Datum
walk_stages(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SummaryView v;
	bool		purchased;
	int32		as_of;
	int32		since = STAGE_SINCE_UNKNOWN;
	int32	   *complaints = NULL;
	int			ncomplaints = 0;
	StageMove  *moves;
	StageProposal last;
	int			n,
				i;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		return (Datum) 0;
	purchased = !PG_ARGISNULL(1);
	crm_summary_view(purchased ? PG_GETARG_SUMMARY_P(1) : NULL, &v);
	as_of = PG_GETARG_DATEADT(2);
	crm_check_finite_date(as_of, "as_of");
	if (!PG_ARGISNULL(3))
		since = PG_GETARG_DATEADT(3);
	if (!PG_ARGISNULL(6))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(6);
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(a, DATEOID, sizeof(DateADT), true, TYPALIGN_INT, &elems, &nulls, &ncomplaints);
		complaints = palloc(Max(ncomplaints, 1) * sizeof(int32));
		for (i = 0; i < ncomplaints; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("complaints must not contain NULL")));
			complaints[i] = DatumGetDateADT(elems[i]);
		}
	}
	n = crm_stage_walk(PG_GETARG_STAGE(0), since,
					   crm_walk_from(&v, !PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_DATEADT(4), as_of),
					   as_of, purchased ? &v : NULL, complaints, ncomplaints,
					   PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5), &moves, &last);
	for (i = 0; i < n; i++)
	{
		char		detail[STAGE_PROPOSAL_MAXLEN];
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		stage_proposal_format(&moves[i].proposal, detail, sizeof(detail));
		values[0] = DateADTGetDatum(moves[i].day);
		values[1] = CharGetDatum((char) moves[i].from);
		values[2] = CharGetDatum((char) moves[i].proposal.stage);
		values[3] = CStringGetTextDatum(stage_reason_code(moves[i].proposal.reason));
		values[4] = CStringGetTextDatum(detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* false when current or as_of is NULL (the result is then NULL) */
static bool
stage_propose(FunctionCallInfo fcinfo, StageProposal *out)
{
	const StageThresholds *t = &stage_cache(fcinfo)->thresholds;
	StageSignals s;
	SummaryView v;
	CrmStage	current;
	int32		as_of;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		return false;
	current = PG_GETARG_STAGE(0);
	as_of = PG_GETARG_DATEADT(2);
	crm_summary_view(PG_ARGISNULL(1) ? NULL : PG_GETARG_SUMMARY_P(1), &v);
	signals_from_view(&v, as_of, t, &s);
	s.recent_complaints = crm_optional_count(fcinfo, 3, "complaints_recent");
	s.previous_complaints = crm_optional_count(fcinfo, 4, "complaints_previous");
	s.recent_cost = optional_double(fcinfo, 5, "cost_recent");
	s.previous_cost = optional_double(fcinfo, 6, "cost_previous");
	s.p_alive = optional_double(fcinfo, 7, "p_alive");
	if (!isnan(s.p_alive) && (s.p_alive < 0 || s.p_alive > 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p_alive must be between 0 and 1")));
	if (PG_NARGS() > 11 && !PG_ARGISNULL(11))
	{
		s.p_buy = optional_double(fcinfo, 11, "p_buy");
		if (s.p_buy < 0 || s.p_buy > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("p_buy must be between 0 and 1")));
	}
	s.redevelopment_cost = optional_double(fcinfo, 8, "redevelopment_cost");
	s.long_term_value = optional_double(fcinfo, 9, "long_term_value");
	if (PG_NARGS() > 10 && !PG_ARGISNULL(10))
	{
		s.stage_since = PG_GETARG_DATEADT(10);
		if (DATE_NOT_FINITE(s.stage_since))
			s.stage_since = STAGE_SINCE_UNKNOWN;
	}
	stage_infer(current, &s, t, out);
	return true;
}

/* next_stage(...): the proposed stage only, for bulk use */
PG_FUNCTION_INFO_V1(next_stage);
Datum
next_stage(PG_FUNCTION_ARGS)
{
	StageProposal p;

	if (!stage_propose(fcinfo, &p))
		PG_RETURN_NULL();
	PG_RETURN_STAGE(p.stage);
}

/* infer_stage(...) -> (stage, reason, detail) */
PG_FUNCTION_INFO_V1(infer_stage);
Datum
infer_stage(PG_FUNCTION_ARGS)
{
	StageProposal p;
	char		detail[STAGE_PROPOSAL_MAXLEN];
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (!stage_propose(fcinfo, &p))
		PG_RETURN_NULL();
	stage_proposal_format(&p, detail, sizeof(detail));
	values[0] = CharGetDatum((char) p.stage);
	values[1] = CStringGetTextDatum(stage_reason_code(p.reason));
	values[2] = CStringGetTextDatum(detail);
	tupdesc = crm_result_tupdesc(fcinfo, &stage_cache(fcinfo)->tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ---------------------------------------------------------------------
 * The guard trigger
 * ---------------------------------------------------------------------
 */

/*
 * BEFORE UPDATE row trigger on a table with a crm.stage column (named by
 * the trigger's first argument, default "stage"), a key column (second
 * argument, default "customer_id") and optionally a crm.relationship_level
 * column (third argument): an illegal stage transition, or a level moving
 * more than one step at once, raises check_violation (23514) and the
 * statement changes nothing.  The one way around it is
 * crm.override_stage() (or crm.override_level()), which runs as the
 * table's owner with crm.stage_override set for its transaction; a
 * session that sets that variable itself is still refused unless it is
 * the owner.
 */
/* the guarded table's column numbers, found once per trigger call site */
typedef struct GuardCache
{
	Oid			relid;
	int			stage_attnum;
	int			key_attnum;
	int			level_attnum;	/* 0: no level column */
} GuardCache;

/* the override is set by the table's owner (crm.override_stage()) */
static bool
guard_overridden(TriggerData *trigdata)
{
	return crm_stage_override() && GetUserId() == trigdata->tg_relation->rd_rel->relowner;
}

PG_FUNCTION_INFO_V1(stage_guard);
Datum
stage_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	GuardCache *cache;
	TupleDesc	desc;
	bool		oldnull,
				newnull;
	CrmStage	from,
				to;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.stage_guard must be a BEFORE UPDATE FOR EACH ROW trigger")));
	desc = RelationGetDescr(trigdata->tg_relation);
	cache = (GuardCache *) fcinfo->flinfo->fn_extra;
	if (cache == NULL || cache->relid != RelationGetRelid(trigdata->tg_relation))
	{
		Trigger    *trigger = trigdata->tg_trigger;
		const char *column = trigger->tgnargs > 0 ? trigger->tgargs[0] : "stage";
		const char *key = trigger->tgnargs > 1 ? trigger->tgargs[1] : "customer_id";

		cache = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(GuardCache));
		cache->relid = RelationGetRelid(trigdata->tg_relation);
		cache->stage_attnum = SPI_fnumber(desc, column);
		cache->key_attnum = SPI_fnumber(desc, key);
		cache->level_attnum = trigger->tgnargs > 2 ? SPI_fnumber(desc, trigger->tgargs[2]) : 0;
		if (cache->stage_attnum <= 0 || cache->key_attnum <= 0 ||
			(trigger->tgnargs > 2 && cache->level_attnum <= 0))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("a column named by the arguments of crm.stage_guard does not exist")));
		fcinfo->flinfo->fn_extra = cache;
	}
	from = DatumGetChar(heap_getattr(trigdata->tg_trigtuple, cache->stage_attnum, desc, &oldnull));
	to = DatumGetChar(heap_getattr(trigdata->tg_newtuple, cache->stage_attnum, desc, &newnull));
	if (!oldnull && !newnull && !stage_transition_legal(from, to) && !guard_overridden(trigdata))
	{
		char	   *who = SPI_getvalue(trigdata->tg_trigtuple, desc, cache->key_attnum);

		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("illegal stage transition from %s to %s for %s %s",
						stage_name(from), stage_name(to),
						NameStr(TupleDescAttr(desc, cache->key_attnum - 1)->attname),
						who ? who : "NULL"),
				 errdetail("From %s a customer can move to %s only.", stage_name(from), legal_next(from)),
				 errhint("To correct data, use crm.override_stage(), which is recorded.")));
	}
	if (cache->level_attnum > 0)
	{
		Datum		lfrom = heap_getattr(trigdata->tg_trigtuple, cache->level_attnum, desc, &oldnull);
		Datum		lto = heap_getattr(trigdata->tg_newtuple, cache->level_attnum, desc, &newnull);

		if (!oldnull && !newnull && DatumGetObjectId(lfrom) != DatumGetObjectId(lto) &&
			abs((int) crm_level_from_datum(lto) - (int) crm_level_from_datum(lfrom)) > 1 &&
			!guard_overridden(trigdata))
		{
			char	   *who = SPI_getvalue(trigdata->tg_trigtuple, desc, cache->key_attnum);

			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("illegal relationship level change from %s to %s for %s %s",
							SPI_getvalue(trigdata->tg_trigtuple, desc, cache->level_attnum),
							SPI_getvalue(trigdata->tg_newtuple, desc, cache->level_attnum),
							NameStr(TupleDescAttr(desc, cache->key_attnum - 1)->attname),
							who ? who : "NULL"),
					 errdetail("A relationship level moves one step at a time, up or down."),
					 errhint("To correct data, use crm.override_level(), which is recorded.")));
		}
	}
	return PointerGetDatum(trigdata->tg_newtuple);
}

/* ---------------------------------------------------------------------
 * The history trigger
 * ---------------------------------------------------------------------
 */

/*
 * AFTER UPDATE statement trigger with transition tables OLD TABLE and NEW
 * TABLE on crm.customers: every row whose stage or level changed becomes a
 * row of crm.stage_history, all in one INSERT.  The old and new transition
 * tables hold the updated rows in the same order, so they are read in
 * step.  The reason is the new stage_reason (level_reason when only the
 * level moved); the source, time and who are
 * the history table's defaults (crm.change_source(), crm.change_time(),
 * session_user), as for the order trigger's own history rows (customer.c).
 */
static SPIPlanPtr history_plan = NULL;
/* crm.stage and crm.relationship_level, the element types of its arrays */
typedef struct HistoryElement
{
	Oid			type;
	int16		typlen;
	bool		typbyval;
	char		typalign;
} HistoryElement;
static HistoryElement history_stage = {InvalidOid};
static HistoryElement history_level = {InvalidOid};

static void
history_element(HistoryElement *e, const char *name)
{
	e->type = crm_type_oid(name);
	get_typlenbyvalalign(e->type, &e->typlen, &e->typbyval, &e->typalign);
}

static Datum
history_array(Datum *values, int n, const HistoryElement *e)
{
	return PointerGetDatum(construct_array(values, n, e->type, e->typlen, e->typbyval, e->typalign));
}

static void
history_prepare(void)
{
	Oid			types[6];

	if (!crm_type_gone(history_level.type) && history_plan != NULL)
		return;
	crm_free_plan(&history_plan);
	history_element(&history_stage, CRM_TYPE_STAGE);
	history_element(&history_level, CRM_TYPE_LEVEL);
	types[0] = INT8ARRAYOID;
	types[1] = get_array_type(history_stage.type);
	types[2] = types[1];
	types[3] = get_array_type(history_level.type);
	types[4] = types[3];
	types[5] = TEXTARRAYOID;
	history_plan = crm_keep_plan("INSERT INTO crm." CRM_STAGE_HISTORY " "
								 "(customer_id, from_stage, to_stage, from_level, to_level, reason) "
								 "SELECT u.c, u.fs, u.ts, u.fl, u.tl, u.r "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "                pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6)) u(c, fs, ts, fl, tl, r)",
								 6, types, CURSOR_OPT_GENERIC_PLAN);
}

PG_FUNCTION_INFO_V1(record_stage_changes);
Datum
record_stage_changes(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			key_att,
				stage_att,
				level_att,
				reason_att,
				level_reason_att;
	CrmTransitionReader old_r,
				new_r;
	int			n = 0,
				cap = 64;
	Datum	   *cols[6];
	bool	   *reason_nulls;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ||
		trigdata->tg_oldtable == NULL || trigdata->tg_newtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.record_stage_changes must be an AFTER UPDATE FOR EACH STATEMENT trigger with OLD TABLE and NEW TABLE")));
	desc = RelationGetDescr(trigdata->tg_relation);
	key_att = SPI_fnumber(desc, crm_customer_column(CUST_ID));
	stage_att = SPI_fnumber(desc, crm_customer_column(CUST_STAGE));
	level_att = SPI_fnumber(desc, crm_customer_column(CUST_LEVEL));
	reason_att = SPI_fnumber(desc, crm_customer_column(CUST_STAGE_REASON));
	level_reason_att = SPI_fnumber(desc, crm_customer_column(CUST_LEVEL_REASON));
	if (key_att <= 0 || stage_att <= 0 || level_att <= 0 || reason_att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("crm.record_stage_changes needs columns customer_id, stage, level and stage_reason")));
	/* a 0.3.0 table (before ALTER EXTENSION crm UPDATE) has no level_reason */
	if (level_reason_att <= 0)
		level_reason_att = reason_att;

	for (i = 0; i < 6; i++)
		cols[i] = palloc(cap * sizeof(Datum));
	reason_nulls = palloc(cap * sizeof(bool));
	crm_transition_open(&old_r, trigdata->tg_oldtable, desc);
	crm_transition_open(&new_r, trigdata->tg_newtable, desc);
	for (;;)
	{
		bool		have_old = crm_transition_next(&old_r);
		bool		have_new = crm_transition_next(&new_r);
		bool		isnull;
		Datum		old_stage,
					new_stage,
					old_level,
					new_level;

		if (have_old != have_new)
			elog(ERROR, "transition tables of an UPDATE differ in length");
		if (!have_old)
			break;
		old_stage = slot_getattr(old_r.slot, stage_att, &isnull);
		new_stage = slot_getattr(new_r.slot, stage_att, &isnull);
		old_level = slot_getattr(old_r.slot, level_att, &isnull);
		new_level = slot_getattr(new_r.slot, level_att, &isnull);
		if (DatumGetChar(old_stage) == DatumGetChar(new_stage) &&
			DatumGetObjectId(old_level) == DatumGetObjectId(new_level))
			continue;
		if (n == cap)
		{
			cap *= 2;
			for (i = 0; i < 6; i++)
				cols[i] = repalloc_huge(cols[i], cap * sizeof(Datum));
			reason_nulls = repalloc_huge(reason_nulls, cap * sizeof(bool));
		}
		cols[0][n] = slot_getattr(new_r.slot, key_att, &isnull);
		cols[1][n] = old_stage;
		cols[2][n] = new_stage;
		cols[3][n] = old_level;
		cols[4][n] = new_level;
		/* a level's move alone has the level's reason */
		cols[5][n] = slot_getattr(new_r.slot, DatumGetChar(old_stage) == DatumGetChar(new_stage) ?
								  level_reason_att : reason_att, &reason_nulls[n]);
		if (!reason_nulls[n])
			cols[5][n] = PointerGetDatum(PG_DETOAST_DATUM_COPY(cols[5][n]));
		n++;
	}
	crm_transition_close(&old_r);
	crm_transition_close(&new_r);

	if (n > 0)
	{
		Datum		args[6];
		int			dims[1] = {n};
		int			lbs[1] = {1};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		history_prepare();
		args[0] = PointerGetDatum(construct_array(cols[0], n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[1] = history_array(cols[1], n, &history_stage);
		args[2] = history_array(cols[2], n, &history_stage);
		args[3] = history_array(cols[3], n, &history_level);
		args[4] = history_array(cols[4], n, &history_level);
		args[5] = PointerGetDatum(construct_md_array(cols[5], reason_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		if (SPI_execute_plan(history_plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write crm.stage_history");
		SPI_finish();
	}
	return PointerGetDatum(NULL);
}
