/*-------------------------------------------------------------------------
 *
 * agg_state.c
 *	  crm.agg_state: the transition type of the global aggregates
 *	  (crm.summarize over summaries, crm.rfm_quantiles, the fits,
 *	  crm.validate, crm.learn_pipeline, crm.forecast_revenue).
 *
 * Why not internal: Citus 13 splits an aggregate into worker partials and
 * a coordinator combine only when the transition type is a real type; it
 * ships the partial state as text through the type's output function and
 * reads it back with the input function.  So the state is a varlena type.
 *
 * Why it costs nothing per row: inside an aggregate the value is an
 * expanded object (utils/expandeddatum.h) whose header points at the
 * family's C state, exactly the state the family kept under internal
 * before.  The executor (and Citus, which copies its logic) passes a
 * read-write expanded value to the transition function and keeps it when
 * the function returns the same pointer: the C state is updated in place,
 * as before, and only flattened when the value leaves the aggregate (a
 * parallel worker's partial, a Citus partial, the output function).
 *
 * The flat form: varlena header, one byte naming the family
 * (CrmAggFamily), then the family's serialized bytes.  Text: the family's
 * name, a colon, the bytes in hex.  Binary: the family byte and the bytes.
 * Both round-trip exactly, so a partial state that crosses the network is
 * the one computed, bit for bit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/expandeddatum.h"
#include "utils/memutils.h"

#include "agg_state.h"

static const char *const family_names[] = {
	[CRM_AGG_SUMMARY] = "summary",
	[CRM_AGG_RFM_QUANTILES] = "rfm_quantiles",
	[CRM_AGG_BTYD_FIT] = "btyd_fit",
	[CRM_AGG_VALIDATE] = "validate",
	[CRM_AGG_LEARN_PIPELINE] = "learn_pipeline",
	[CRM_AGG_FORECAST_REVENUE] = "forecast_revenue",
	[CRM_AGG_MONTHLY_ACTIVITY] = "monthly_activity",
};
#define NFAMILIES lengthof(family_names)

/* the expanded form: the family's C state, and its serialized bytes while flattening */
typedef struct AggStateObject
{
	ExpandedObjectHeader hdr;
	const CrmAggKind *kind;
	void	   *state;
	bytea	   *flat;			/* between get_flat_size and flatten_into */
} AggStateObject;

static Size agg_state_flat_size(ExpandedObjectHeader *eohptr);
static void agg_state_flatten(ExpandedObjectHeader *eohptr, void *result, Size allocated_size);

static const ExpandedObjectMethods agg_state_methods = {
	agg_state_flat_size,
	agg_state_flatten
};

static Size
agg_state_flat_size(ExpandedObjectHeader *eohptr)
{
	AggStateObject *obj = (AggStateObject *) eohptr;

	if (obj->flat == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(obj->hdr.eoh_context);

		obj->flat = DatumGetByteaPP(DirectFunctionCall1(obj->kind->serialize,
														PointerGetDatum(obj->state)));
		MemoryContextSwitchTo(old);
	}
	return VARHDRSZ + 1 + VARSIZE_ANY_EXHDR(obj->flat);
}

static void
agg_state_flatten(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	AggStateObject *obj = (AggStateObject *) eohptr;
	Size		len = VARSIZE_ANY_EXHDR(obj->flat);

	Assert(allocated_size == VARHDRSZ + 1 + len);
	SET_VARSIZE(result, allocated_size);
	*(uint8 *) VARDATA(result) = (uint8) obj->kind->family;
	memcpy(VARDATA(result) + 1, VARDATA_ANY(obj->flat), len);
	/* the bytes are not kept: the state may change again */
	pfree(obj->flat);
	obj->flat = NULL;
}

static void
check_family(int family, const CrmAggKind *kind)
{
	if (family != kind->family)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.agg_state of %s given to an aggregate of %s",
						family > 0 && family < NFAMILIES && family_names[family] ?
						family_names[family] : "an unknown family",
						family_names[kind->family])));
}

/*
 * The memory context of the expanded values an aggregate makes in the
 * aggregate context aggcxt.  The executor keeps an expanded transition
 * value in place only if its context is a child of the aggregate context;
 * a context of its own per value (per group) would cost a kilobyte and a
 * context creation per customer in a GROUP BY, so the values of one
 * aggregate share one child context, made on the first call and forgotten
 * when the aggregate context is reset (which deletes it).  Sharing is safe
 * because a value is never deleted alone: the executor (and Citus) delete
 * an expanded transition value only when the transition function returns
 * another one, and ours return the value they were given.
 */
typedef struct SharedContext
{
	MemoryContext aggcxt;		/* NULL: none yet, or reset */
	MemoryContext values;
	void	   *inner_extra;	/* the family function's own fn_extra */
} SharedContext;

/* registered on the aggregate context: its reset deleted the values' context */
typedef struct SharedContextWatch
{
	MemoryContextCallback cb;
	SharedContext *sc;
	MemoryContext aggcxt;
} SharedContextWatch;

static void
shared_context_forget(void *arg)
{
	SharedContextWatch *w = (SharedContextWatch *) arg;

	/* unless the cache has moved on to another aggregate context (a grouping set) */
	if (w->sc->aggcxt == w->aggcxt)
		w->sc->aggcxt = NULL;
}

/* our fn_extra: the function's SharedContext */
static SharedContext *
shared_context(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(SharedContext));
	return (SharedContext *) fcinfo->flinfo->fn_extra;
}

/*
 * Call the family's function with the same fcinfo, and with fn_extra its
 * own (what it caches there, a per-query row cache say, stays apart from
 * ours).
 */
static Datum
call_inner(FunctionCallInfo fcinfo, PGFunction inner)
{
	SharedContext *sc = shared_context(fcinfo);
	Datum		r;

	fcinfo->flinfo->fn_extra = sc->inner_extra;
	r = inner(fcinfo);
	sc->inner_extra = fcinfo->flinfo->fn_extra;
	fcinfo->flinfo->fn_extra = sc;
	return r;
}

static MemoryContext
values_context(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	SharedContext *sc = shared_context(fcinfo);
	SharedContextWatch *w;

	if (sc->aggcxt != aggcxt)
	{
		sc->values = AllocSetContextCreate(aggcxt, "crm.agg_state", ALLOCSET_DEFAULT_SIZES);
		sc->aggcxt = aggcxt;
		/* the watch lives as long as what it watches: in aggcxt */
		w = MemoryContextAlloc(aggcxt, sizeof(SharedContextWatch));
		w->cb.func = shared_context_forget;
		w->cb.arg = w;
		w->sc = sc;
		w->aggcxt = aggcxt;
		MemoryContextRegisterResetCallback(aggcxt, &w->cb);
	}
	return sc->values;
}

/* a new expanded value in cxt (a child of the aggregate context) */
static AggStateObject *
object_new(MemoryContext cxt, const CrmAggKind *kind, void *state)
{
	AggStateObject *obj = MemoryContextAllocZero(cxt, sizeof(AggStateObject));

	EOH_init_header(&obj->hdr, &agg_state_methods, cxt);
	obj->kind = kind;
	obj->state = state;
	return obj;
}

/* the C state of a flat value, made in cxt by the family's deserialize function */
static void *
state_from_flat(struct varlena *flat, const CrmAggKind *kind, MemoryContext cxt)
{
	Size		len = VARSIZE_ANY_EXHDR(flat);
	const char *data = VARDATA_ANY(flat);
	bytea	   *b;
	MemoryContext old;
	void	   *state;

	if (len < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid crm.agg_state: empty")));
	check_family(*(const uint8 *) data, kind);
	b = palloc(VARHDRSZ + len - 1);
	SET_VARSIZE(b, VARHDRSZ + len - 1);
	memcpy(VARDATA(b), data + 1, len - 1);
	old = MemoryContextSwitchTo(cxt);
	state = DatumGetPointer(DirectFunctionCall2(kind->deserialize, PointerGetDatum(b), (Datum) 0));
	MemoryContextSwitchTo(old);
	pfree(b);
	return state;
}

/*
 * The C state in argument argno: the expanded value's own (*obj set to it
 * when the caller may change it in place: read-write), or, for a flat or
 * read-only value, a copy made in cxt.  NULL for a NULL argument.
 */
static void *
state_arg(FunctionCallInfo fcinfo, int argno, const CrmAggKind *kind, MemoryContext cxt,
		  AggStateObject **obj)
{
	Datum		d;
	struct varlena *flat;

	*obj = NULL;
	if (PG_ARGISNULL(argno))
		return NULL;
	d = PG_GETARG_DATUM(argno);
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)) &&
		DatumGetEOHP(d)->eoh_methods == &agg_state_methods)
	{
		AggStateObject *o = (AggStateObject *) DatumGetEOHP(d);

		check_family(o->kind->family, kind);
		if (VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)))
		{
			*obj = o;
			return o->state;
		}
		if (cxt == CurrentMemoryContext)
			return o->state;	/* read, not changed */
	}
	flat = (struct varlena *) PG_DETOAST_DATUM_PACKED(d);
	return state_from_flat(flat, kind, cxt);
}

static MemoryContext
aggregate_context(FunctionCallInfo fcinfo)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("transition function of a crm aggregate called outside an aggregate")));
	return aggcxt;
}

/* the inner function's result as the transition value */
static Datum
transition_result(FunctionCallInfo fcinfo, Datum r, AggStateObject *obj,
				  const CrmAggKind *kind, MemoryContext aggcxt)
{
	if (fcinfo->isnull)
		return (Datum) 0;
	if (obj == NULL)
		obj = object_new(values_context(fcinfo, aggcxt), kind, DatumGetPointer(r));
	else
		obj->state = DatumGetPointer(r);
	return EOHPGetRWDatum(&obj->hdr);
}

/*
 * Transition: the state (argument 0) updated in place by the family's
 * function; a flat state (the first row after a partial, say) is expanded
 * first, into the aggregate's context.
 */
Datum
crm_agg_state_advance(FunctionCallInfo fcinfo, PGFunction inner, const CrmAggKind *kind)
{
	MemoryContext aggcxt = aggregate_context(fcinfo);
	AggStateObject *obj;
	void	   *st = state_arg(fcinfo, 0, kind, aggcxt, &obj);
	Datum		r;

	fcinfo->args[0].value = PointerGetDatum(st);
	fcinfo->args[0].isnull = (st == NULL);
	r = call_inner(fcinfo, inner);
	return transition_result(fcinfo, r, obj, kind, aggcxt);
}

/* Combine: argument 1 (a partial, usually flat) merged into argument 0 */
Datum
crm_agg_state_combine(FunctionCallInfo fcinfo, PGFunction inner, const CrmAggKind *kind)
{
	MemoryContext aggcxt = aggregate_context(fcinfo);
	AggStateObject *obj,
			   *other;
	void	   *st = state_arg(fcinfo, 0, kind, aggcxt, &obj);
	void	   *st2 = state_arg(fcinfo, 1, kind, CurrentMemoryContext, &other);
	Datum		r;

	fcinfo->args[0].value = PointerGetDatum(st);
	fcinfo->args[0].isnull = (st == NULL);
	fcinfo->args[1].value = PointerGetDatum(st2);
	fcinfo->args[1].isnull = (st2 == NULL);
	r = call_inner(fcinfo, inner);
	return transition_result(fcinfo, r, obj, kind, aggcxt);
}

/* Final: the family's final function on the C state */
Datum
crm_agg_state_finish(FunctionCallInfo fcinfo, PGFunction inner, const CrmAggKind *kind)
{
	AggStateObject *obj;
	void	   *st = state_arg(fcinfo, 0, kind, CurrentMemoryContext, &obj);

	fcinfo->args[0].value = PointerGetDatum(st);
	fcinfo->args[0].isnull = (st == NULL);
	return call_inner(fcinfo, inner);
}

/* ---------------------------------------------------------------------
 * Input and output
 * ---------------------------------------------------------------------
 */

static int
family_by_name(const char *name, Size len)
{
	int			i;

	for (i = 1; i < NFAMILIES; i++)
		if (family_names[i] && strlen(family_names[i]) == len &&
			strncmp(family_names[i], name, len) == 0)
			return i;
	return 0;
}

/* text: "family:hex" */
PG_FUNCTION_INFO_V1(agg_state_in);
Datum
agg_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *colon = strchr(str, ':');
	int			family = colon ? family_by_name(str, colon - str) : 0;
	Size		hexlen;
	bytea	   *result;
	uint64		n;

	if (family == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type crm.agg_state: \"%.40s\"", str),
				 errdetail("The value must begin with the name of an aggregate family and a colon.")));
	hexlen = strlen(colon + 1);
	result = palloc(VARHDRSZ + 1 + hexlen / 2 + 1);
	*(uint8 *) VARDATA(result) = (uint8) family;
	n = hex_decode(colon + 1, hexlen, VARDATA(result) + 1);
	SET_VARSIZE(result, VARHDRSZ + 1 + n);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(agg_state_out);
Datum
agg_state_out(PG_FUNCTION_ARGS)
{
	struct varlena *flat = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	Size		len = VARSIZE_ANY_EXHDR(flat);
	const char *data = VARDATA_ANY(flat);
	int			family = len > 0 ? *(const uint8 *) data : 0;
	const char *name;
	Size		namelen;
	char	   *out;
	uint64		n;

	if (family <= 0 || family >= NFAMILIES || family_names[family] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid crm.agg_state: unknown family %d", family)));
	name = family_names[family];
	namelen = strlen(name);
	out = palloc(namelen + 1 + 2 * (len - 1) + 1);
	memcpy(out, name, namelen);
	out[namelen] = ':';
	n = hex_encode(data + 1, len - 1, out + namelen + 1);
	out[namelen + 1 + n] = '\0';
	PG_RETURN_CSTRING(out);
}

/* binary: the family byte and the bytes */
PG_FUNCTION_INFO_V1(agg_state_recv);
Datum
agg_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	bytea	   *result;
	int			family;

	if (len < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary crm.agg_state: empty")));
	family = (uint8) buf->data[buf->cursor];
	if (family >= NFAMILIES || family_names[family] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary crm.agg_state: unknown family %d", family)));
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	pq_copymsgbytes(buf, VARDATA(result), len);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(agg_state_send);
Datum
agg_state_send(PG_FUNCTION_ARGS)
{
	struct varlena *flat = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(flat), VARSIZE_ANY_EXHDR(flat));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}
