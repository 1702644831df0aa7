/*-------------------------------------------------------------------------
 *
 * pipeline.c
 *	  The sales pipeline's SQL layer over pipeline_kernel.c: the stage
 *	  moves (crm.pipeline_can_move, the guard trigger), the history trigger,
 *	  the crm.pipeline_model type and the aggregate that learns it, the
 *	  functions that read it, the forecast aggregate and the Brier score.
 *
 * crm.pipeline_stage is an enum; here its values are the OIDs of its labels,
 * mapped to the kernel's stage numbers once per call site (StageMap).
 *
 * crm.pipeline_model holds what the history showed (the kernel's
 * PipelineCounts), the prior weight, and everything learned from them
 * (PipelineFit), so that a per-opportunity function reads one number.  It
 * is large (about 60 kB), stored out of line uncompressed (STORAGE
 * external); a function called once per row with a model read from a
 * table keeps the value it detoasted for as long as the same stored value
 * comes in (ModelArg), so the model is fetched once per query, not per row.
 * Its text and binary forms carry the counts and the prior only; reading
 * them learns the rest again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "agg_state.h"
#include "config.h"
#include "crm.h"
#include "pipeline_kernel.h"

#define DAYS_OF(usecs)	((double) (usecs) / (double) USECS_PER_DAY)

/* ---------------------------------------------------------------------
 * Stages: the labels of the enum crm.pipeline_stage
 * ---------------------------------------------------------------------
 */
typedef struct StageMap
{
	Oid			type;
	Oid			label[PIPE_NSTAGES];
} StageMap;

/* the labels of crm.pipeline_stage, of OID "type" when the caller knows it */
static void
stage_map_init(StageMap *m, Oid type)
{
	int			s;

	m->type = OidIsValid(type) ? type : crm_type_oid("crm.pipeline_stage");
	for (s = 0; s < PIPE_NSTAGES; s++)
	{
		m->label[s] = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid, ObjectIdGetDatum(m->type),
									  CStringGetDatum(pipeline_stage_name(s)));
		if (!OidIsValid(m->label[s]))
			elog(ERROR, "crm.pipeline_stage has no label \"%s\"", pipeline_stage_name(s));
	}
}

static int
stage_of(const StageMap *m, Datum value)
{
	Oid			oid = DatumGetObjectId(value);
	int			s;

	for (s = 0; s < PIPE_NSTAGES; s++)
		if (m->label[s] == oid)
			return s;
	elog(ERROR, "unknown crm.pipeline_stage value %u", oid);
	return -1;					/* keep the compiler quiet */
}

/* the legal next stages of an open stage, for messages: "a, b or c" */
static char *
legal_next(int from)
{
	StringInfoData buf;
	int			to,
				n = 0,
				total = 0;

	for (to = 0; to < PIPE_NSTAGES; to++)
		total += to != from && pipeline_move_legal(from, to);
	initStringInfo(&buf);
	for (to = 0; to < PIPE_NSTAGES; to++)
		if (to != from && pipeline_move_legal(from, to))
			appendStringInfo(&buf, "%s%s", n++ == 0 ? "" : n == total ? " or " : ", ",
							 pipeline_stage_name(to));
	return buf.data;
}

/* ---------------------------------------------------------------------
 * crm.pipeline_model
 * ---------------------------------------------------------------------
 */
#define PIPELINE_MODEL_VERSION 1

typedef struct PipelineModel
{
	int32		vl_len_;
	int32		version;
	int32		as_of;			/* DateADT: the history up to the end of it */
	int32		pad;
	PipelineCounts counts;
	PipelineFit fit;
} PipelineModel;

/* learn: counts and prior -> a model (palloc'd in the current context) */
static PipelineModel *
model_build(const PipelineCounts *counts, double prior_weight, int32 as_of)
{
	PipelineModel *m = palloc0(sizeof(PipelineModel));

	SET_VARSIZE(m, sizeof(PipelineModel));
	m->version = PIPELINE_MODEL_VERSION;
	m->as_of = as_of;
	m->counts = *counts;
	if (pipeline_fit(counts, prior_weight, &m->fit) != PIPE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the pipeline history gives a chain that never closes"),
				 errhint("Use a prior_weight above 0.")));
	return m;
}

static double
check_prior(double prior_weight)
{
	if (isnan(prior_weight) || isinf(prior_weight) || prior_weight < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prior_weight must be a finite number of at least 0"),
				 errdetail("It is %g.", prior_weight)));
	return prior_weight;
}

/*
 * A stored model is the build's struct: one of another layout (a model kept
 * in a table across an upgrade that changed it) is refused, to be learned
 * again from the history.
 */
static PipelineModel *
model_check(struct varlena *v)
{
	PipelineModel *m = (PipelineModel *) v;

	if (VARSIZE(m) != sizeof(PipelineModel) || m->version != PIPELINE_MODEL_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("crm.pipeline_model value of another layout"),
				 errdetail("It has %u bytes and version %d; this build's have %zu bytes and version %d.",
						   (unsigned) VARSIZE(m), m->version, sizeof(PipelineModel), PIPELINE_MODEL_VERSION),
				 errhint("Learn it again with crm.learn_pipeline().")));
	return m;
}

/*
 * A model argument of a function called once per row.  An out-of-line
 * value is detoasted once and kept while the same stored value keeps
 * coming (a toast value never changes under a query's snapshot); one in
 * memory is used where it is.
 */
typedef struct ModelArg
{
	Oid			toastrelid;
	Oid			valueid;
	PipelineModel *model;
} ModelArg;

static PipelineModel *
model_arg(FunctionCallInfo fcinfo, ModelArg *cache, int argno)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));

	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		struct varatt_external ext;
		MemoryContext old;

		VARATT_EXTERNAL_GET_POINTER(ext, raw);
		if (cache->model != NULL && cache->toastrelid == ext.va_toastrelid &&
			cache->valueid == ext.va_valueid)
			return cache->model;
		if (cache->model != NULL)
			pfree(cache->model);
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		cache->model = model_check(detoast_attr(raw));
		MemoryContextSwitchTo(old);
		cache->toastrelid = ext.va_toastrelid;
		cache->valueid = ext.va_valueid;
		return cache->model;
	}
	return model_check(PG_DETOAST_DATUM(PG_GETARG_DATUM(argno)));
}

/* what per-row functions keep in fn_extra */
typedef struct RowCache
{
	StageMap	map;
	ModelArg	model;
	TupleDesc	tupdesc;
} RowCache;

static RowCache *
row_cache(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
	{
		RowCache   *c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RowCache));

		stage_map_init(&c->map, InvalidOid);
		fcinfo->flinfo->fn_extra = c;
	}
	return (RowCache *) fcinfo->flinfo->fn_extra;
}

/*
 * Every count of a model within +-2^53: a double holds it exactly, and the
 * model's sums over a stage's bins cannot overflow.  Learning from real
 * history comes nowhere near; a model written by hand must stay there too.
 */
#define PIPE_MAX_COUNT (INT64CONST(1) << 53)

static bool
counts_in_range(const PipelineCounts *counts)
{
	const int64 *v = (const int64 *) counts;
	Size		i;

	for (i = 0; i < sizeof(PipelineCounts) / sizeof(int64); i++)
		if (v[i] > PIPE_MAX_COUNT || v[i] < -PIPE_MAX_COUNT)
			return false;
	return true;
}

/*
 * Text form: {as_of=2025-06-30;prior=1;lead>qualified=12@3 40@5;lead~=7@2}
 * after as_of and the prior weight, per origin and destination the
 * complete spells as count@week, then per stage (~) the spells open at
 * as_of as count@age in weeks.  Only non-zero counts are written.
 */
static void
append_counts(StringInfo buf, const char *head, const int64 *v)
{
	int			w;
	bool		first = true;

	for (w = 0; w < PIPE_NBINS; w++)
	{
		if (v[w] == 0)
			continue;
		appendStringInfo(buf, first ? ";%s=" : " ", head);
		appendStringInfo(buf, INT64_FORMAT "@%d", v[w], w);
		first = false;
	}
}

PG_FUNCTION_INFO_V1(pipeline_model_out);
Datum
pipeline_model_out(PG_FUNCTION_ARGS)
{
	PipelineModel *m = model_check(PG_DETOAST_DATUM(PG_GETARG_DATUM(0)));
	StringInfoData buf;
	struct pg_tm tm;
	char		date[MAXDATELEN + 1];
	char		head[64];
	int			i,
				j;

	initStringInfo(&buf);
	j2date(m->as_of + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	EncodeDateOnly(&tm, USE_ISO_DATES, date);
	appendStringInfo(&buf, "{as_of=%s;prior=%.17g", date, m->fit.prior_weight);
	for (i = 0; i < PIPE_NOPEN; i++)
	{
		for (j = 0; j < PIPE_NSTAGES; j++)
		{
			snprintf(head, sizeof(head), "%s>%s", pipeline_stage_name(i), pipeline_stage_name(j));
			append_counts(&buf, head, m->counts.moves[i][j]);
		}
		snprintf(head, sizeof(head), "%s~", pipeline_stage_name(i));
		append_counts(&buf, head, m->counts.open[i]);
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

static void
model_syntax_error(const char *str)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.pipeline_model: \"%s\"", str),
			 errhint("The form is {as_of=YYYY-MM-DD;prior=1;lead>qualified=count@week ...;lead~=count@week ...}.")));
}

PG_FUNCTION_INFO_V1(pipeline_model_in);
Datum
pipeline_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *copy = pstrdup(str);
	char	   *p = copy;
	char	   *end;
	char	   *entry;
	PipelineCounts counts;
	double		prior;
	int32		as_of;
	size_t		len = strlen(copy);

	if (len < 2 || copy[0] != '{' || copy[len - 1] != '}')
		model_syntax_error(str);
	copy[len - 1] = '\0';
	p = copy + 1;

	/* as_of=YYYY-MM-DD;prior=NUMBER (the date in ISO form whatever DateStyle) */
	if (strncmp(p, "as_of=", 6) != 0 || (end = strchr(p, ';')) == NULL ||
		end - (p + 6) != 10 || strspn(p + 6, "0123456789") != 4 || p[10] != '-' ||
		strspn(p + 11, "0123456789") != 2 || p[13] != '-' || strspn(p + 14, "0123456789") != 2)
		model_syntax_error(str);
	*end = '\0';
	as_of = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(p + 6)));
	crm_check_finite_date(as_of, "as_of");
	p = end + 1;
	if (strncmp(p, "prior=", 6) != 0)
		model_syntax_error(str);
	errno = 0;
	prior = strtod(p + 6, &end);
	if (end == p + 6 || errno != 0 || (*end != ';' && *end != '\0'))
		model_syntax_error(str);
	check_prior(prior);
	p = end;

	pipeline_counts_init(&counts);
	while (*p == ';')
	{
		char	   *name = p + 1;
		char	   *eq = strchr(name, '=');
		char	   *sep;
		int			from,
					to = -1;
		int64	   *bins;

		if (eq == NULL)
			model_syntax_error(str);
		*eq = '\0';
		if ((sep = strchr(name, '>')) != NULL)
		{
			*sep = '\0';
			to = pipeline_stage_from_name(sep + 1);
			if (to < 0 || to == pipeline_stage_from_name(name))
				model_syntax_error(str);
		}
		else if ((sep = strchr(name, '~')) != NULL && sep[1] == '\0')
			*sep = '\0';
		else
			model_syntax_error(str);
		from = pipeline_stage_from_name(name);
		if (!pipeline_is_open(from))
			model_syntax_error(str);
		bins = to >= 0 ? counts.moves[from][to] : counts.open[from];
		entry = eq + 1;
		for (;;)
		{
			long long	n;
			long		w;

			errno = 0;
			n = strtoll(entry, &end, 10);
			if (end == entry || *end != '@' || errno != 0)
				model_syntax_error(str);
			entry = end + 1;
			w = strtol(entry, &end, 10);
			if (end == entry || w < 0 || w >= PIPE_NBINS || (*end != ' ' && *end != ';' && *end != '\0') ||
				(to >= 0 && n < 0))
				model_syntax_error(str);
			if (pg_add_s64_overflow(bins[w], n, &bins[w]))
				model_syntax_error(str);
			entry = end;
			if (*entry != ' ')
				break;
			entry++;
		}
		p = entry;
	}
	if (*p != '\0')
		model_syntax_error(str);
	if (!counts_in_range(&counts))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a count of crm.pipeline_model is out of range"),
				 errdetail("Counts lie between -2^53 and 2^53.")));
	PG_RETURN_POINTER(model_build(&counts, prior, as_of));
}

/* binary: version, as_of, prior, then every count */
PG_FUNCTION_INFO_V1(pipeline_model_send);
Datum
pipeline_model_send(PG_FUNCTION_ARGS)
{
	PipelineModel *m = model_check(PG_DETOAST_DATUM(PG_GETARG_DATUM(0)));
	const int64 *c = &m->counts.moves[0][0][0];
	StringInfoData buf;
	size_t		i;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, PIPELINE_MODEL_VERSION);
	pq_sendint32(&buf, m->as_of);
	pq_sendfloat8(&buf, m->fit.prior_weight);
	for (i = 0; i < sizeof(PipelineCounts) / sizeof(int64); i++)
		pq_sendint64(&buf, c[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}


PG_FUNCTION_INFO_V1(pipeline_model_recv);
Datum
pipeline_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	PipelineCounts counts;
	int64	   *c = &counts.moves[0][0][0];
	int32		as_of;
	double		prior;
	size_t		i;

	if (pq_getmsgint(buf, 4) != PIPELINE_MODEL_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unknown version of external crm.pipeline_model")));
	as_of = pq_getmsgint(buf, 4);
	crm_check_finite_date(as_of, "as_of");
	prior = check_prior(pq_getmsgfloat8(buf));
	for (i = 0; i < sizeof(PipelineCounts) / sizeof(int64); i++)
		c[i] = pq_getmsgint64(buf);
	/* what the text form can say: see pipeline_model_in() */
	if (as_of < CRM_MIN_STORED_DATE || as_of > CRM_MAX_STORED_DATE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external crm.pipeline_model value"),
				 errdetail("as_of is not between 0001-01-01 and 9999-12-31.")));
	for (i = 0; i < PIPE_NOPEN; i++)
	{
		int			to,
					w;

		for (to = 0; to < PIPE_NSTAGES; to++)
			for (w = 0; w < PIPE_NBINS; w++)
				if (counts.moves[i][to][w] < 0 || (to == i && counts.moves[i][to][w] != 0))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
							 errmsg("invalid external crm.pipeline_model value"),
							 errdetail("A count of moves is negative, or counts moves from a stage to itself.")));
	}
	if (!counts_in_range(&counts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external crm.pipeline_model value"),
				 errdetail("A count is beyond 2^53.")));
	PG_RETURN_POINTER(model_build(&counts, prior, as_of));
}

/* ---------------------------------------------------------------------
 * Learning: crm.learn_pipeline(from, to, from_since, changed_at, as_of
 * [, prior_weight]) over history rows
 * ---------------------------------------------------------------------
 */
typedef struct LearnState
{
	PipelineCounts counts;
	int32		as_of;
	double		prior_weight;
	TimestampTz cut;			/* the start of the day after as_of */
} LearnState;

/* the start of the day after a date, in the session's time zone */
static TimestampTz
end_of_day(int32 day)
{
	return DatumGetTimestampTz(DirectFunctionCall1(date_timestamptz, DateADTGetDatum(day + 1)));
}

static TimestampTz
finite_timestamp(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(argno);

	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite timestamp", argname)));
	return t;
}

static double
prior_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno)
		return 1.0;
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("prior_weight must not be NULL")));
	return check_prior(PG_GETARG_FLOAT8(argno));
}

static void
same_in_every_row(bool same, const char *argname)
{
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be the same in every row", argname)));
}

/*
 * What the two aggregates over internal states share.  combine_nulls()
 * answers a combine call when a side is NULL (the other state, the first
 * "copy" bytes of it copied into a zeroed state of "size" bytes in the
 * aggregate's context) and returns false when both are there to merge;
 * state_bytes() and state_from_bytes() are their serial and deserial
 * functions: the first "copy" bytes of the state, as they are in memory
 * (a parallel worker is the same build on the same machine).
 */
static bool
combine_nulls(FunctionCallInfo fcinfo, size_t size, size_t copy, Datum *result)
{
	MemoryContext aggcxt;
	void	   *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "combine function called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		*result = PG_GETARG_DATUM(0);
		return true;
	}
	if (!PG_ARGISNULL(0))
		return false;
	st = MemoryContextAllocZero(aggcxt, size);
	memcpy(st, PG_GETARG_POINTER(1), copy);
	*result = PointerGetDatum(st);
	return true;
}

static bytea *
state_bytes(const void *st, size_t copy)
{
	bytea	   *out = palloc(VARHDRSZ + copy);

	SET_VARSIZE(out, VARHDRSZ + copy);
	memcpy(VARDATA(out), st, copy);
	return out;
}

static void *
state_from_bytes(bytea *in, size_t size, size_t copy, const char *aggregate)
{
	void	   *st;

	if (VARSIZE_ANY_EXHDR(in) != copy)
		crm_invalid_state(aggregate);
	st = palloc0(size);
	memcpy(st, VARDATA_ANY(in), copy);
	return st;
}

/* args: 0 state, 1 from_stage, 2 to_stage, 3 from_since, 4 changed_at, 5 as_of, 6 prior_weight */
static Datum
learn_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	LearnState *st;
	RowCache   *rc;
	int			from = -1,
				to;
	double		since_ago = 0;
	TimestampTz changed_at;
	PipelineStatus status;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "pipeline_learn_accum called in non-aggregate context");
	rc = row_cache(fcinfo);
	if (PG_ARGISNULL(0))
	{
		st = MemoryContextAllocZero(aggcxt, sizeof(LearnState));
		st->as_of = crm_as_of_arg(fcinfo, 5);
		st->prior_weight = prior_arg(fcinfo, 6);
		st->cut = end_of_day(st->as_of);
	}
	else
	{
		st = (LearnState *) PG_GETARG_POINTER(0);
		same_in_every_row(!PG_ARGISNULL(5) && PG_GETARG_DATEADT(5) == st->as_of, "as_of");
		same_in_every_row(PG_NARGS() <= 6 || (!PG_ARGISNULL(6) && PG_GETARG_FLOAT8(6) == st->prior_weight),
						  "prior_weight");
	}
	/* a row with no destination or no time says nothing */
	if (PG_ARGISNULL(2) || PG_ARGISNULL(4))
		PG_RETURN_POINTER(st);
	to = stage_of(&rc->map, PG_GETARG_DATUM(2));
	changed_at = finite_timestamp(fcinfo, 4, "changed_at");
	if (!PG_ARGISNULL(1))
	{
		from = stage_of(&rc->map, PG_GETARG_DATUM(1));
		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("from_since must not be NULL in a row with a from_stage"),
					 errdetail("A move out of a stage needs the time the stage began.")));
		since_ago = DAYS_OF(st->cut - finite_timestamp(fcinfo, 3, "from_since"));
	}
	status = pipeline_count_row(&st->counts, from, to, since_ago, DAYS_OF(st->cut - changed_at));
	if (status == PIPE_STAY_NEGATIVE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("changed_at is before from_since"),
				 errdetail("A move from %s to %s at %s ends a stay that began at %s.",
						   pipeline_stage_name(from), pipeline_stage_name(to),
						   pstrdup(timestamptz_to_str(changed_at)),
						   pstrdup(timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(3))))));
	PG_RETURN_POINTER(st);
}

static Datum
learn_combine(PG_FUNCTION_ARGS)
{
	LearnState *a,
			   *b;
	Datum		result;

	if (combine_nulls(fcinfo, sizeof(LearnState), sizeof(LearnState), &result))
		return result;
	a = (LearnState *) PG_GETARG_POINTER(0);
	b = (LearnState *) PG_GETARG_POINTER(1);
	same_in_every_row(a->as_of == b->as_of, "as_of");
	same_in_every_row(a->prior_weight == b->prior_weight, "prior_weight");
	pipeline_counts_merge(&a->counts, &b->counts);
	PG_RETURN_POINTER(a);
}

static Datum
learn_serialize(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(state_bytes(PG_GETARG_POINTER(0), sizeof(LearnState)));
}

static Datum
learn_deserialize(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(state_from_bytes(PG_GETARG_BYTEA_PP(0), sizeof(LearnState), sizeof(LearnState),
									   "crm.learn_pipeline"));
}

static Datum
learn_final(PG_FUNCTION_ARGS)
{
	LearnState *st;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (LearnState *) PG_GETARG_POINTER(0);
	PG_RETURN_POINTER(model_build(&st->counts, st->prior_weight, st->as_of));
}

/* ---------------------------------------------------------------------
 * Reading a model
 * ---------------------------------------------------------------------
 */
static double
days_arg(FunctionCallInfo fcinfo, int argno)
{
	double		days = crm_check_finite(PG_GETARG_FLOAT8(argno), "days_in_stage");

	if (days < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("days_in_stage must not be negative")));
	return days;
}

/* P(won) for arguments (model, stage, ...), days in stage at days_argno if given */
static double
row_win(FunctionCallInfo fcinfo, int days_argno)
{
	RowCache   *rc = row_cache(fcinfo);
	PipelineModel *m = model_arg(fcinfo, &rc->model, 0);

	return pipeline_win_at(&m->fit, stage_of(&rc->map, PG_GETARG_DATUM(1)),
						   PG_NARGS() > days_argno ? days_arg(fcinfo, days_argno) : 0);
}

/* win_probability(model, stage [, days_in_stage]): NULL where there is no answer */
PG_FUNCTION_INFO_V1(pipeline_win_probability);
Datum
pipeline_win_probability(PG_FUNCTION_ARGS)
{
	double		p = row_win(fcinfo, 2);

	if (isnan(p))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(p);
}

/* expected_revenue(model, stage, amount [, days_in_stage]) = amount x P(won) */
PG_FUNCTION_INFO_V1(pipeline_expected_revenue);
Datum
pipeline_expected_revenue(PG_FUNCTION_ARGS)
{
	double		p = row_win(fcinfo, 3);
	double		amount = (double) crm_numeric_to_money(PG_GETARG_DATUM(2), "amount") / CRM_MONEY_SCALE;

	if (isnan(p))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(amount * p);
}

PG_FUNCTION_INFO_V1(pipeline_model_as_of);
Datum
pipeline_model_as_of(PG_FUNCTION_ARGS)
{
	RowCache   *rc = row_cache(fcinfo);

	PG_RETURN_DATEADT(model_arg(fcinfo, &rc->model, 0)->as_of);
}

PG_FUNCTION_INFO_V1(pipeline_model_prior_weight);
Datum
pipeline_model_prior_weight(PG_FUNCTION_ARGS)
{
	RowCache   *rc = row_cache(fcinfo);

	PG_RETURN_FLOAT8(model_arg(fcinfo, &rc->model, 0)->fit.prior_weight);
}

static Datum
float8_or_null(double v, bool *isnull)
{
	*isnull = isnan(v);
	return Float8GetDatum(isnan(v) ? 0 : v);
}

/*
 * stage_probabilities(model) -> (stage, win_probability, loss_probability,
 * moves_out, open_spells, median_stay_days, p90_stay_days), one row per open
 * stage.
 */
PG_FUNCTION_INFO_V1(pipeline_stage_probabilities);
Datum
pipeline_stage_probabilities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RowCache   *rc = row_cache(fcinfo);
	PipelineModel *m = model_arg(fcinfo, &rc->model, 0);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < PIPE_NOPEN; i++)
	{
		Datum		values[7];
		bool		nulls[7] = {false};

		values[0] = ObjectIdGetDatum(rc->map.label[i]);
		values[1] = float8_or_null(m->fit.win[i], &nulls[1]);
		values[2] = float8_or_null(m->fit.lost[i], &nulls[2]);
		values[3] = Int64GetDatum(m->fit.departures[i]);
		values[4] = Int64GetDatum(m->fit.open_spells[i]);
		values[5] = float8_or_null(pipeline_stay_quantile(&m->fit, i, 0.5), &nulls[5]);
		values[6] = float8_or_null(pipeline_stay_quantile(&m->fit, i, 0.9), &nulls[6]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * stage_moves(model) -> (from_stage, to_stage, moves, probability): the
 * learned destinations of each open stage, with the moves the history
 * showed; the legal moves and any move seen.
 */
PG_FUNCTION_INFO_V1(pipeline_stage_moves);
Datum
pipeline_stage_moves(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RowCache   *rc = row_cache(fcinfo);
	PipelineModel *m = model_arg(fcinfo, &rc->model, 0);
	int			i,
				j,
				w;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < PIPE_NOPEN; i++)
		for (j = 0; j < PIPE_NSTAGES; j++)
		{
			Datum		values[4];
			bool		nulls[4] = {false};
			int64		n = 0;

			for (w = 0; w < PIPE_NBINS; w++)
				n += m->counts.moves[i][j][w];
			if (j == i || (n == 0 && !pipeline_move_legal(i, j)))
				continue;
			values[0] = ObjectIdGetDatum(rc->map.label[i]);
			values[1] = ObjectIdGetDatum(rc->map.label[j]);
			values[2] = Int64GetDatum(n);
			values[3] = float8_or_null(m->fit.move[i][j], &nulls[3]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	return (Datum) 0;
}

static int
open_stage_arg(FunctionCallInfo fcinfo, RowCache *rc, int argno)
{
	int			s = stage_of(&rc->map, PG_GETARG_DATUM(argno));

	if (!pipeline_is_open(s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stage must be an open stage, not %s", pipeline_stage_name(s)),
				 errhint("The open stages are lead, qualified, presentation, negotiation and bidding.")));
	return s;
}

/*
 * time_to_close(model, stage) -> (week, won, lost, won_by, lost_by): the
 * probability of closing won or lost in week t after entering the stage,
 * and by the end of it, for t = 0 .. 156.
 */
PG_FUNCTION_INFO_V1(pipeline_time_to_close);
Datum
pipeline_time_to_close(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RowCache   *rc = row_cache(fcinfo);
	PipelineModel *m = model_arg(fcinfo, &rc->model, 0);
	int			s = open_stage_arg(fcinfo, rc, 1);
	double		won_by = 0,
				lost_by = 0;
	int			t;

	InitMaterializedSRF(fcinfo, 0);
	for (t = 0; t < PIPE_HORIZON; t++)
	{
		Datum		values[5];
		bool		nulls[5] = {false};

		won_by += m->fit.time_won[s][t];
		lost_by += m->fit.time_lost[s][t];
		values[0] = Int32GetDatum(t);
		values[1] = float8_or_null(m->fit.time_won[s][t], &nulls[1]);
		values[2] = float8_or_null(m->fit.time_lost[s][t], &nulls[2]);
		values[3] = float8_or_null(won_by, &nulls[3]);
		values[4] = float8_or_null(lost_by, &nulls[4]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* stay_quantile(model, stage, q): days; NULL beyond what the history shows */
PG_FUNCTION_INFO_V1(pipeline_stay_quantile_fn);
Datum
pipeline_stay_quantile_fn(PG_FUNCTION_ARGS)
{
	RowCache   *rc = row_cache(fcinfo);
	PipelineModel *m = model_arg(fcinfo, &rc->model, 0);
	int			s = open_stage_arg(fcinfo, rc, 1);
	double		q = PG_GETARG_FLOAT8(2);
	double		days;

	if (!(q > 0 && q < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("q must be between 0 and 1 (exclusive)"),
				 errdetail("It is %g.", q)));
	days = pipeline_stay_quantile(&m->fit, s, q);
	if (isnan(days))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(days);
}

PG_FUNCTION_INFO_V1(pipeline_can_move);
Datum
pipeline_can_move(PG_FUNCTION_ARGS)
{
	RowCache   *rc = row_cache(fcinfo);

	PG_RETURN_BOOL(pipeline_move_legal(stage_of(&rc->map, PG_GETARG_DATUM(0)),
									   stage_of(&rc->map, PG_GETARG_DATUM(1))));
}

/* ---------------------------------------------------------------------
 * The forecast: crm.forecast_revenue(model, as_of, months, stage,
 * stage_since, amount) over the open opportunities
 * ---------------------------------------------------------------------
 */
typedef struct ForecastState
{
	int32		months;
	int32		as_of;
	TimestampTz cut;
	double		mean[PIPE_MAX_MONTHS];
	double		variance[PIPE_MAX_MONTHS];
	/* not serialized: the first row's model and what was computed from it */
	PipelineModel *model;
	Datum		model_datum;	/* as it came, to tell another model */
	Oid			toast_relid;	/* and where it was stored, if out of line */
	Oid			toast_valueid;
	double	   *month_p[PIPE_NOPEN][PIPE_AGE_DAYS];	/* by whole days in the stage */
} ForecastState;

static PipelineModel *
forecast_model(FunctionCallInfo fcinfo, ForecastState *st, MemoryContext aggcxt)
{
	Datum		d = PG_GETARG_DATUM(1);
	struct varlena *raw = (struct varlena *) DatumGetPointer(d);
	PipelineModel *m;
	MemoryContext old;

	if (st->model != NULL && d == st->model_datum)
		return st->model;
	if (st->model != NULL && VARATT_IS_EXTERNAL_ONDISK(raw) && st->toast_valueid != InvalidOid)
	{
		struct varatt_external ext;

		VARATT_EXTERNAL_GET_POINTER(ext, raw);
		if (ext.va_valueid == st->toast_valueid && ext.va_toastrelid == st->toast_relid)
			return st->model;
	}
	old = MemoryContextSwitchTo(aggcxt);
	m = model_check(PG_DETOAST_DATUM_COPY(d));
	MemoryContextSwitchTo(old);
	if (st->model != NULL)
	{
		/* another pointer: must be the same model */
		same_in_every_row(memcmp(&m->counts, &st->model->counts, sizeof(PipelineCounts)) == 0 &&
						  m->fit.prior_weight == st->model->fit.prior_weight, "model");
		pfree(m);
	}
	else
	{
		st->model = m;
		if (VARATT_IS_EXTERNAL_ONDISK(raw))
		{
			struct varatt_external ext;

			VARATT_EXTERNAL_GET_POINTER(ext, raw);
			st->toast_valueid = ext.va_valueid;
			st->toast_relid = ext.va_toastrelid;
		}
	}
	st->model_datum = d;
	return st->model;
}

/* the months a forecast covers: 1 to PIPE_MAX_MONTHS */
static int32
months_arg(FunctionCallInfo fcinfo, int argno)
{
	int32		months;

	if (PG_ARGISNULL(argno) || (months = PG_GETARG_INT32(argno)) < 1 || months > PIPE_MAX_MONTHS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months must be between 1 and %d", PIPE_MAX_MONTHS)));
	return months;
}

/*
 * pipeline_months(months): the argument checked before a forecast makes any
 * row (the aggregate below checks it too, but sees no row when nothing is
 * open)
 */
PG_FUNCTION_INFO_V1(pipeline_months);
Datum
pipeline_months(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(months_arg(fcinfo, 0));
}

/* args: 0 state, 1 model, 2 as_of, 3 months, 4 stage, 5 stage_since, 6 amount */
static Datum
forecast_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ForecastState *st;
	RowCache   *rc;
	PipelineModel *m;
	int			stage,
				age;
	double		amount;
	TimestampTz since;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "pipeline_forecast_accum called in non-aggregate context");
	rc = row_cache(fcinfo);
	if (PG_ARGISNULL(0))
	{
		int32		months = months_arg(fcinfo, 3);

		st = MemoryContextAllocZero(aggcxt, sizeof(ForecastState));
		st->months = months;
		st->as_of = crm_as_of_arg(fcinfo, 2);
		st->cut = end_of_day(st->as_of);
	}
	else
	{
		st = (ForecastState *) PG_GETARG_POINTER(0);
		same_in_every_row(!PG_ARGISNULL(2) && PG_GETARG_DATEADT(2) == st->as_of, "as_of");
		same_in_every_row(!PG_ARGISNULL(3) && PG_GETARG_INT32(3) == st->months, "months");
	}
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	/* closed opportunities and rows missing what a forecast needs: nothing */
	if (PG_ARGISNULL(4) || PG_ARGISNULL(5) || PG_ARGISNULL(6))
		PG_RETURN_POINTER(st);
	stage = stage_of(&rc->map, PG_GETARG_DATUM(4));
	if (!pipeline_is_open(stage))
		PG_RETURN_POINTER(st);
	since = finite_timestamp(fcinfo, 5, "stage_since");
	if (since >= st->cut)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stage_since %s is after as_of", timestamptz_to_str(since)),
				 errdetail("The pipeline as of a date holds the opportunities in their stage by then.")));
	amount = (double) crm_numeric_to_money(PG_GETARG_DATUM(6), "amount") / CRM_MONEY_SCALE;
	m = forecast_model(fcinfo, st, aggcxt);
	age = (int) Min(floor(DAYS_OF(st->cut - since)), PIPE_AGE_DAYS - 1);
	if (st->month_p[stage][age] == NULL)
	{
		double		weeks[PIPE_HORIZON];

		st->month_p[stage][age] = MemoryContextAlloc(aggcxt, sizeof(double) * st->months);
		pipeline_win_weeks(&m->fit, stage, age, weeks);
		pipeline_weeks_to_months(weeks, st->as_of, st->months, st->month_p[stage][age]);
	}
	if (!isnan(st->month_p[stage][age][0]))
		pipeline_forecast_add(st->mean, st->variance, st->months, st->month_p[stage][age], amount);
	PG_RETURN_POINTER(st);
}

/* the serialized part of a forecast state: up to the model */
#define FORECAST_SERIAL offsetof(ForecastState, model)

static Datum
forecast_combine(PG_FUNCTION_ARGS)
{
	ForecastState *a,
			   *b;
	Datum		result;
	int			i;

	if (combine_nulls(fcinfo, sizeof(ForecastState), FORECAST_SERIAL, &result))
		return result;
	a = (ForecastState *) PG_GETARG_POINTER(0);
	b = (ForecastState *) PG_GETARG_POINTER(1);
	same_in_every_row(a->as_of == b->as_of, "as_of");
	same_in_every_row(a->months == b->months, "months");
	for (i = 0; i < a->months; i++)
	{
		a->mean[i] += b->mean[i];
		a->variance[i] += b->variance[i];
	}
	PG_RETURN_POINTER(a);
}

static Datum
forecast_serialize(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(state_bytes(PG_GETARG_POINTER(0), FORECAST_SERIAL));
}

static Datum
forecast_deserialize(PG_FUNCTION_ARGS)
{
	ForecastState *st = state_from_bytes(PG_GETARG_BYTEA_PP(0), sizeof(ForecastState), FORECAST_SERIAL,
										 "crm.forecast_revenue");

	if (st->months < 1 || st->months > PIPE_MAX_MONTHS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid serialized crm.forecast_revenue state")));
	PG_RETURN_POINTER(st);
}

/* float8[months][3]: expected won revenue, and its 95% interval */
static Datum
forecast_final(PG_FUNCTION_ARGS)
{
	ForecastState *st;
	Datum	   *elems;
	int			dims[2];
	int			lbs[2] = {1, 1};
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (ForecastState *) PG_GETARG_POINTER(0);
	elems = palloc(sizeof(Datum) * st->months * 3);
	for (i = 0; i < st->months; i++)
	{
		double		low,
					high;

		pipeline_forecast_interval(st->mean[i], st->variance[i], &low, &high);
		elems[i * 3] = Float8GetDatum(st->mean[i]);
		elems[i * 3 + 1] = Float8GetDatum(low);
		elems[i * 3 + 2] = Float8GetDatum(high);
	}
	dims[0] = st->months;
	dims[1] = 3;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, NULL, 2, dims, lbs, FLOAT8OID, 8,
											 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---------------------------------------------------------------------
 * crm.brier_score(probability, outcome): state float8[2] = {n, sum of
 * squared errors}, changed in place inside an aggregate
 * ---------------------------------------------------------------------
 */
static double *
brier_state(ArrayType *a)
{
	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != 2 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the state of crm.brier_score must be an array of 2 double precision values without NULL")));
	return (double *) ARR_DATA_PTR(a);
}

PG_FUNCTION_INFO_V1(pipeline_brier_accum);
Datum
pipeline_brier_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	double		p = PG_GETARG_FLOAT8(1);

	if (!(p >= 0 && p <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("probability must be between 0 and 1"),
				 errdetail("It is %g.", p)));
	if (!AggCheckCallContext(fcinfo, NULL))
		a = PG_GETARG_ARRAYTYPE_P_COPY(0);
	pipeline_brier_add(brier_state(a), p, PG_GETARG_BOOL(2));
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(pipeline_brier_combine);
Datum
pipeline_brier_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	double	   *y = brier_state(PG_GETARG_ARRAYTYPE_P(1));
	double	   *x;

	if (!AggCheckCallContext(fcinfo, NULL))
		a = PG_GETARG_ARRAYTYPE_P_COPY(0);
	x = brier_state(a);
	x[0] += y[0];
	x[1] += y[1];
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(pipeline_brier_final);
Datum
pipeline_brier_final(PG_FUNCTION_ARGS)
{
	double		score = pipeline_brier_score(brier_state(PG_GETARG_ARRAYTYPE_P(0)));

	if (isnan(score))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(score);
}

/* ---------------------------------------------------------------------
 * The guard: legal moves, and the time a stage began
 * ---------------------------------------------------------------------
 */

typedef struct GuardCache
{
	Oid			relid;
	int			stage_att;
	int			since_att;
	int			key_att;
	StageMap	map;
} GuardCache;

static int
column_of(TupleDesc desc, const char *name, const char *who)
{
	int			att = SPI_fnumber(desc, name);

	if (att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s needs a column \"%s\"", who, name)));
	return att;
}

/*
 * The row with stage_since set.  When the column sits at a fixed offset
 * (only columns of fixed length, none NULL, before it: crm.opportunities
 * puts it there) and holds a value, a copy of the row with the 8 bytes
 * written over costs a memcpy; otherwise the row is formed again.
 */
static HeapTuple
set_stage_since(HeapTuple tuple, TupleDesc desc, int since_att, TimestampTz when)
{
	Form_pg_attribute att = TupleDescAttr(desc, since_att - 1);
	Datum		value = TimestampTzGetDatum(when);
	bool		isnull = false;
	bool		fixed;
	HeapTuple	copy;
	int			i;

	/* reading it caches the offsets of the fixed-length columns up to it */
	(void) heap_getattr(tuple, since_att, desc, &isnull);
	fixed = !isnull && att->attcacheoff >= 0 && att->attlen == sizeof(TimestampTz) && att->attbyval;
	for (i = 0; fixed && HeapTupleHasNulls(tuple) && i < since_att - 1; i++)
		fixed = !att_isnull(i, tuple->t_data->t_bits);
	isnull = false;
	if (!fixed)
		return heap_modify_tuple_by_cols(tuple, desc, 1, &since_att, &value, &isnull);
	copy = heap_copytuple(tuple);
	store_att_byval((char *) copy->t_data + copy->t_data->t_hoff + att->attcacheoff, value, att->attlen);
	return copy;
}

/*
 * BEFORE INSERT OR UPDATE OF stage, stage_since row trigger on
 * crm.opportunities.  An insert without stage_since gets the change time.
 * An update that moves the stage must make a legal move (a closed stage
 * may move to an open one only through crm.reopen_opportunity()), else
 * 23514 naming the opportunity and the legal moves; the stage then begins
 * at the change time, which must not be before the old stage began.
 * stage_since is never set by hand in an update (428C9): the history's
 * spells are made of it.
 */
PG_FUNCTION_INFO_V1(pipeline_guard);
Datum
pipeline_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	GuardCache *gc;
	HeapTuple	newtup;
	bool		isnull,
				oldnull;
	TimestampTz when;
	int			from,
				to;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.opportunity_guard must be a BEFORE INSERT OR UPDATE FOR EACH ROW trigger")));
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	gc = (GuardCache *) fcinfo->flinfo->fn_extra;
	if (gc == NULL || gc->relid != RelationGetRelid(rel))
	{
		gc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(GuardCache));
		gc->relid = RelationGetRelid(rel);
		gc->stage_att = column_of(desc, "stage", "crm.opportunity_guard");
		gc->since_att = column_of(desc, "stage_since", "crm.opportunity_guard");
		gc->key_att = column_of(desc, "opportunity_id", "crm.opportunity_guard");
		stage_map_init(&gc->map, TupleDescAttr(desc, gc->stage_att - 1)->atttypid);
		fcinfo->flinfo->fn_extra = gc;
	}

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		newtup = trigdata->tg_trigtuple;
		heap_getattr(newtup, gc->since_att, desc, &isnull);
		if (!isnull)
			return PointerGetDatum(newtup);
		return PointerGetDatum(set_stage_since(newtup, desc, gc->since_att,
											   crm_change_time()));
	}

	newtup = trigdata->tg_newtuple;
	{
		Datum		old_since = heap_getattr(trigdata->tg_trigtuple, gc->since_att, desc, &oldnull);
		Datum		new_since = heap_getattr(newtup, gc->since_att, desc, &isnull);

		if (oldnull != isnull || (!isnull && DatumGetTimestampTz(old_since) != DatumGetTimestampTz(new_since)))
			ereport(ERROR,
					(errcode(ERRCODE_GENERATED_ALWAYS),
					 errmsg("column \"stage_since\" of crm.opportunities is set when the stage changes"),
					 errhint("To record a move at another time, set crm.change_time.")));
		from = stage_of(&gc->map, heap_getattr(trigdata->tg_trigtuple, gc->stage_att, desc, &oldnull));
		to = stage_of(&gc->map, heap_getattr(newtup, gc->stage_att, desc, &isnull));
		if (from == to)
			return PointerGetDatum(newtup);
		if (!pipeline_move_legal(from, to) && !(pipeline_reopen_legal(from, to) && crm_pipeline_reopen_reason() != NULL))
		{
			char	   *who = SPI_getvalue(trigdata->tg_trigtuple, desc, gc->key_att);

			if (pipeline_is_open(from))
				ereport(ERROR,
						(errcode(ERRCODE_CHECK_VIOLATION),
						 errmsg("illegal pipeline move from %s to %s for opportunity %s",
								pipeline_stage_name(from), pipeline_stage_name(to), who ? who : "NULL"),
						 errdetail("From %s an opportunity can move to %s only.",
								   pipeline_stage_name(from), legal_next(from))));
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("illegal pipeline move from %s to %s for opportunity %s",
							pipeline_stage_name(from), pipeline_stage_name(to), who ? who : "NULL"),
					 errdetail("Won and lost are final."),
					 errhint("To reopen it, call crm.reopen_opportunity(), which moves it to an open stage and records why.")));
		}
		when = crm_change_time();
		if (!oldnull && when < DatumGetTimestampTz(old_since))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a move at %s is before opportunity %s entered %s at %s",
							pstrdup(timestamptz_to_str(when)), SPI_getvalue(trigdata->tg_trigtuple, desc, gc->key_att),
							pipeline_stage_name(from), pstrdup(timestamptz_to_str(DatumGetTimestampTz(old_since)))),
					 errhint("Check crm.change_time.")));
	}
	return PointerGetDatum(set_stage_since(newtup, desc, gc->since_att, when));
}

/* ---------------------------------------------------------------------
 * The history trigger
 * ---------------------------------------------------------------------
 */
enum
{
	OPP_ID,
	OPP_CUSTOMER,
	OPP_STAGE,
	OPP_SINCE,
	OPP_AMOUNT,
	OPP_CLOSE,
	OPP_REASON,
	OPP_NCOLS
};
static const char *const opp_columns[OPP_NCOLS] = {
	"opportunity_id", "customer_id", "stage", "stage_since", "amount", "expected_close", "close_reason"
};

enum
{
	H_ID,
	H_OPP,
	H_FROM,
	H_TO,
	H_FROM_SINCE,
	H_CHANGED_AT,
	H_AMOUNT,
	H_CLOSE,
	H_REASON,
	H_BY,
	H_NCOLS
};
static const char *const hist_columns[H_NCOLS] = {
	"history_id", "opportunity_id", "from_stage", "to_stage", "from_since", "changed_at",
	"amount", "expected_close", "reason", "changed_by"
};

/* what writing a statement's history rows needs */
typedef struct HistoryWriter
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *info;
	TupleTableSlot *slot;
	Oid			seq;
	AttrNumber	att[H_NCOLS];
	Datum		changed_by;
} HistoryWriter;

/*
 * The identity sequence of history_id, looked up in pg_depend once per
 * backend (a single-row update should not scan the catalog) and again if
 * it is gone (the extension created anew, the identity replaced).
 */
static Oid
history_sequence(Oid relid, AttrNumber att)
{
	static Oid	cached_rel = InvalidOid;
	static Oid	cached_seq = InvalidOid;

	if (relid != cached_rel || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(cached_seq)))
	{
		cached_seq = getIdentitySequence(relid, att, false);
		cached_rel = relid;
	}
	return cached_seq;
}

static void
history_begin(HistoryWriter *hw)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	TupleDesc	desc;
	int			i;

	hw->rel = table_open(crm_relid("opportunity_history"), RowExclusiveLock);
	desc = RelationGetDescr(hw->rel);
	for (i = 0; i < H_NCOLS; i++)
		hw->att[i] = column_of(desc, hist_columns[i], "crm.record_opportunity_changes");
	hw->seq = history_sequence(RelationGetRelid(hw->rel), hw->att[H_ID]);
	hw->estate = CreateExecutorState();
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(hw->rel);
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(hw->estate, list_make1(rte));
	hw->info = makeNode(ResultRelInfo);
	InitResultRelInfo(hw->info, hw->rel, 1, NULL, 0);
	hw->estate->es_opened_result_relations = list_make1(hw->info);
	hw->estate->es_output_cid = GetCurrentCommandId(true);
	hw->estate->es_snapshot = GetActiveSnapshot();
	ExecOpenIndices(hw->info, false);
	hw->slot = ExecInitExtraTupleSlot(hw->estate, desc, &TTSOpsVirtual);
	hw->changed_by = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetSessionUserId(), false)));
	/* row triggers on the history fire when the writer ends */
	AfterTriggerBeginQuery();
}

/* one row; NULL pointers for NULL values */
static void
history_write(HistoryWriter *hw, Datum opp, const Datum *from, Datum to, const Datum *from_since,
			  Datum changed_at, const Datum *amount, const Datum *close, const char *reason)
{
	TupleTableSlot *slot = hw->slot;
	int			i;

	ExecClearTuple(slot);
	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
		slot->tts_isnull[i] = true;
#define H_SET(col, value) \
	(slot->tts_values[hw->att[col] - 1] = (value), slot->tts_isnull[hw->att[col] - 1] = false)
	H_SET(H_ID, Int64GetDatum(nextval_internal(hw->seq, false)));
	H_SET(H_OPP, opp);
	if (from)
		H_SET(H_FROM, *from);
	H_SET(H_TO, to);
	if (from_since)
		H_SET(H_FROM_SINCE, *from_since);
	H_SET(H_CHANGED_AT, changed_at);
	if (amount)
		H_SET(H_AMOUNT, *amount);
	if (close)
		H_SET(H_CLOSE, *close);
	if (reason)
		H_SET(H_REASON, CStringGetTextDatum(reason));
	H_SET(H_BY, hw->changed_by);
#undef H_SET
	ExecStoreVirtualTuple(slot);
	ExecSimpleRelationInsert(hw->info, hw->estate, slot);
}

static void
history_end(HistoryWriter *hw)
{
	AfterTriggerEndQuery(hw->estate);
	ExecCloseResultRelations(hw->estate);
	ExecResetTupleTable(hw->estate->es_tupleTable, false);
	FreeExecutorState(hw->estate);
	table_close(hw->rel, NoLock);
}

/* a column of a transition-table row; NULL for a NULL value */
static Datum *
column_value(TupleTableSlot *slot, int att, Datum *buf)
{
	bool		isnull;

	*buf = slot_getattr(slot, att, &isnull);
	return isnull ? NULL : buf;
}

/*
 * AFTER INSERT and AFTER UPDATE statement triggers with transition tables
 * on crm.opportunities: a history row for every opportunity created (from
 * NULL) and for every update that moved its stage or changed its amount or
 * expected close date, written with the executor's single-row insert (as
 * logical replication applies rows; no query, no plan).  The time is the
 * new stage_since for a move (the guard set it), else the change time;
 * the reason is close_reason for a move into won or lost, the reopen's
 * reason for a reopen.  Then the customers of the opportunities won, if
 * still prospects, leave prospect through crm.leave_prospect_on_win(),
 * which updates crm.customers as any user would: through its stage guard,
 * into crm.stage_history.
 *
 * A pg_dump restore (see crm_restoring_dump()) loads the history with the
 * opportunities: their inserts write nothing again.
 */
PG_FUNCTION_INFO_V1(pipeline_record_changes);
Datum
pipeline_record_changes(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	bool		update;
	TupleDesc	desc;
	int			att[OPP_NCOLS];
	StageMap	map;
	HistoryWriter hw;
	CrmTransitionReader old_r,
				new_r;
	Datum	   *won = NULL;
	int			nwon = 0,
				i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || trigdata->tg_newtable == NULL ||
		(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && trigdata->tg_oldtable == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.record_opportunity_changes must be an AFTER INSERT or UPDATE FOR EACH STATEMENT trigger with transition tables")));
	update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	if (!update && crm_restoring_dump())
		return PointerGetDatum(NULL);
	desc = RelationGetDescr(trigdata->tg_relation);
	for (i = 0; i < OPP_NCOLS; i++)
		att[i] = column_of(desc, opp_columns[i], "crm.record_opportunity_changes");
	stage_map_init(&map, TupleDescAttr(desc, att[OPP_STAGE] - 1)->atttypid);

	history_begin(&hw);
	crm_transition_open(&new_r, trigdata->tg_newtable, desc);
	if (update)
		crm_transition_open(&old_r, trigdata->tg_oldtable, desc);
	while (crm_transition_next(&new_r))
	{
		TupleTableSlot *n = new_r.slot;
		Datum		id,
					to,
					from,
					since,
					at,
					b_amount,
					b_close,
					b_reason,
					o_amount,
					o_close;
		Datum	   *amount = column_value(n, att[OPP_AMOUNT], &b_amount);
		Datum	   *close = column_value(n, att[OPP_CLOSE], &b_close);
		Datum	   *reason = column_value(n, att[OPP_REASON], &b_reason);
		bool		isnull;
		int			s_from,
					s_to;
		const char *why = NULL;

		id = slot_getattr(n, att[OPP_ID], &isnull);
		to = slot_getattr(n, att[OPP_STAGE], &isnull);
		s_to = stage_of(&map, to);
		if (!update)
		{
			since = slot_getattr(n, att[OPP_SINCE], &isnull);
			if (!pipeline_is_open(s_to) && reason)
				why = TextDatumGetCString(*reason);
			history_write(&hw, id, NULL, to, NULL, since, amount, close, why);
			continue;
		}
		if (!crm_transition_next(&old_r))
			elog(ERROR, "transition tables of an UPDATE differ in length");
		from = slot_getattr(old_r.slot, att[OPP_STAGE], &isnull);
		s_from = stage_of(&map, from);
		if (s_from == s_to)
		{
			Datum	   *oa = column_value(old_r.slot, att[OPP_AMOUNT], &o_amount);
			Datum	   *oc = column_value(old_r.slot, att[OPP_CLOSE], &o_close);

			/* the same stage: a row only if the amount or the close date changed */
			if ((oa == NULL) == (amount == NULL) && (oa == NULL || datumIsEqual(*oa, *amount, false, -1)) &&
				(oc == NULL) == (close == NULL) && (oc == NULL || DatumGetDateADT(*oc) == DatumGetDateADT(*close)))
				continue;
			at = TimestampTzGetDatum(crm_change_time());
		}
		else
		{
			at = slot_getattr(n, att[OPP_SINCE], &isnull);
			if (!pipeline_is_open(s_to) && reason)
				why = TextDatumGetCString(*reason);
			else if (!pipeline_is_open(s_from))
				why = crm_pipeline_reopen_reason();
			if (s_to == PIPE_WON)
			{
				if (won == NULL)
					won = palloc(sizeof(Datum) * 64);
				else if (nwon % 64 == 0)
					won = repalloc(won, sizeof(Datum) * (nwon + 64));
				won[nwon++] = slot_getattr(n, att[OPP_CUSTOMER], &isnull);
			}
		}
		since = slot_getattr(old_r.slot, att[OPP_SINCE], &isnull);
		history_write(&hw, id, &from, to, isnull ? NULL : &since, at, amount, close, why);
	}
	crm_transition_close(&new_r);
	if (update)
		crm_transition_close(&old_r);
	history_end(&hw);

	if (nwon > 0)
	{
		Oid			argtype = INT8ARRAYOID;
		Datum		arg = PointerGetDatum(construct_array(won, nwon, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("CALL crm.leave_prospect_on_win($1)", 1, &argtype, &arg, NULL, false, 0) < 0)
			elog(ERROR, "could not call crm.leave_prospect_on_win()");
		SPI_finish();
	}
	return PointerGetDatum(NULL);
}

/*
 * crm.learn_pipeline over crm.agg_state (agg_state.c): the C state above, updated in
 * place, shipped flat between parallel workers and Citus nodes.
 */
static const CrmAggKind learn_kind = {CRM_AGG_LEARN_PIPELINE, learn_serialize, learn_deserialize};

CRM_AGG_STATE_SFUNC(pipeline_learn_accum, learn_accum, &learn_kind)
CRM_AGG_STATE_COMBINEFUNC(pipeline_learn_combine, learn_combine, &learn_kind)
CRM_AGG_STATE_FINALFUNC(pipeline_learn_final, learn_final, &learn_kind)

/*
 * crm.forecast_revenue over crm.agg_state (agg_state.c): the C state above, updated in
 * place, shipped flat between parallel workers and Citus nodes.
 */
static const CrmAggKind forecast_kind = {CRM_AGG_FORECAST_REVENUE, forecast_serialize, forecast_deserialize};

#ifdef CRM_FUZZ_TARGETS
/* the parsers of the flat states, for their libFuzzer targets (test/fuzz) */
extern Datum pipeline_learn_deserialize(PG_FUNCTION_ARGS);
extern Datum pipeline_forecast_deserialize(PG_FUNCTION_ARGS);
Datum
pipeline_learn_deserialize(PG_FUNCTION_ARGS)
{
	return learn_deserialize(fcinfo);
}
Datum
pipeline_forecast_deserialize(PG_FUNCTION_ARGS)
{
	return forecast_deserialize(fcinfo);
}
#endif

CRM_AGG_STATE_SFUNC(pipeline_forecast_accum, forecast_accum, &forecast_kind)
CRM_AGG_STATE_COMBINEFUNC(pipeline_forecast_combine, forecast_combine, &forecast_kind)
CRM_AGG_STATE_FINALFUNC(pipeline_forecast_final, forecast_final, &forecast_kind)
