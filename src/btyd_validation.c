/*-------------------------------------------------------------------------
 *
 * btyd_validation.c
 *	  Predictions you can check: a customer's calibration and holdout
 *	  figures (crm.calibration_holdout), and the validation report of a
 *	  fitted model over a calibration/holdout split (the crm.validate
 *	  aggregate), as jsonb that crm.validation_summary(),
 *	  crm.validation_by_frequency() and crm.validation_tracking() turn into
 *	  rows.
 *
 * The report compares, for the customers who had purchased by the split
 * date, what the model expected of the holdout (split, holdout_end] with
 * what happened:
 *	- totals: repeat purchase days expected (the sum of E[X(T, T+h) |
 *	  calibration]) and made, customers expected to buy again
 *	  (sum of 1 - P(X = 0)) and who did, the mean absolute and root mean
 *	  squared error of the per-customer expectation, and the area under
 *	  the ROC curve of P(buys again) against "bought again";
 *	- per calibration frequency x = 0, 1, ..., 6, 7+ (Fader, Hardie & Lee
 *	  2005, Figure 4): customers, and the mean expected and actual holdout
 *	  repeat purchase days;
 *	- tracking in steps (a week by default) over calendar time from the
 *	  earliest first purchase to holdout_end (FHL 2005, Figure 2): the
 *	  repeat purchase days made in the step, the model's unconditional
 *	  expectation for the cohort, sum_i E[X(t - first_i)], and their
 *	  cumulative sums; in the holdout also the cumulative expectation
 *	  given the calibration data, whose last value is the total above.
 *
 * Cost.  Each customer costs one pass over its days and P(alive); the
 * parts of the conditional predictions that depend on (x, T) only (the
 * expectation and P(X = 0) of a customer alive at T, btyd_kernel.h) are
 * computed once per distinct (x, first purchase day) and kept in a hash
 * table, and the tracking curve is built at the end from per-day counts:
 * E[X(t)] once per day of lag, the conditional curve once per distinct
 * (x, first purchase day) and holdout step.  The AUC sorts one
 * (score, label) pair per customer.  The state merges (parallel workers)
 * and serializes exactly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "agg_state.h"
#include "btyd.h"

#define NBUCKETS	8			/* x = 0 .. 6, 7+ */

/* per (x, days from first purchase to split): the cached predictions */
typedef struct ValKey
{
	int32		x;
	int32		dist;			/* split - first purchase, days; -1 empty */
	double		count;			/* customers */
	double		sum_w;			/* their summed P(alive at split) */
	double		G;				/* E[X over the holdout | alive at split] */
	double		Z0;				/* P(no purchase in the holdout | alive) */
} ValKey;

typedef struct ValState
{
	/* settings, the same on every row */
	BtydModelValue model;
	struct varlena *packed;		/* the model argument as given */
	int32		split;
	int32		holdout_end;
	double		step_days;

	/* totals */
	double		customers;
	double		actual;
	double		expected;
	double		buyers;
	double		buyers_expected;
	double		abs_error;
	double		sq_error;
	double		b_customers[NBUCKETS];
	double		b_actual[NBUCKETS];
	double		b_expected[NBUCKETS];

	/* per day before (cal, cohort: index split - day) and after the split */
	int32		ncal;			/* allocated length of cal and cohort */
	double	   *cal;			/* repeat purchase days on that day */
	double	   *cohort;			/* first purchases on that day */
	double	   *hold;			/* index day - split, 1 .. holdout days */

	/* the (x, dist) cache, open addressing */
	int64		nkeys;
	int64		keysize;		/* a power of two */
	ValKey	   *keys;

	/* one (P(buys again), bought again) per customer */
	int64		npairs;
	int64		pairsize;
	BtydScored *pairs;
} ValState;

static int32
holdout_days(const ValState *st)
{
	return st->holdout_end - st->split;
}

static void *
alloc_zero(MemoryContext cxt, Size size)
{
	void	   *p = MemoryContextAllocHuge(cxt, Max(size, 1));

	memset(p, 0, size);
	return p;
}

static ValKey *
keys_alloc(MemoryContext cxt, int64 size)
{
	ValKey	   *k = MemoryContextAllocHuge(cxt, size * sizeof(ValKey));
	int64		i;

	for (i = 0; i < size; i++)
	{
		memset(&k[i], 0, sizeof(ValKey));
		k[i].dist = -1;
	}
	return k;
}

static ValState *
val_state_create(MemoryContext cxt)
{
	ValState   *st = MemoryContextAllocZero(cxt, sizeof(ValState));

	st->keysize = 1024;
	st->keys = keys_alloc(cxt, st->keysize);
	st->ncal = 0;
	st->pairsize = 1024;
	st->pairs = MemoryContextAllocHuge(cxt, st->pairsize * sizeof(BtydScored));
	return st;
}

/* the model's time for a number of days */
static double
in_units(const ValState *st, double days)
{
	return days / st->model.unit_days;
}

static ValKey *key_lookup(ValState *st, int32 x, int32 dist);

static void
keys_grow(ValState *st)
{
	ValKey	   *old = st->keys;
	int64		oldsize = st->keysize;
	int64		i;

	st->keysize *= 2;
	st->keys = keys_alloc(GetMemoryChunkContext(old), st->keysize);
	st->nkeys = 0;
	for (i = 0; i < oldsize; i++)
		if (old[i].dist >= 0)
		{
			ValKey	   *k = key_lookup(st, old[i].x, old[i].dist);

			*k = old[i];
		}
	pfree(old);
}

/*
 * The entry of (x, dist), made (with its predictions computed) if new.
 */
static ValKey *
key_lookup(ValState *st, int32 x, int32 dist)
{
	uint64		h;
	uint64		i;

	if (2 * (st->nkeys + 1) > st->keysize)
		keys_grow(st);
	h = hash_combine(murmurhash32((uint32) x), murmurhash32((uint32) dist));
	for (i = h & (st->keysize - 1);; i = (i + 1) & (st->keysize - 1))
	{
		ValKey	   *k = &st->keys[i];

		if (k->dist == dist && k->x == x)
			return k;
		if (k->dist < 0)
		{
			const BtydModelValue *m = &st->model;
			double		T = in_units(st, dist);
			double		H = in_units(st, holdout_days(st));

			k->x = x;
			k->dist = dist;
			k->G = btyd_expected_alive(m->kind, m->params, H, x, T);
			k->Z0 = btyd_pmf_alive(m->kind, m->params, H, 0, x, T);
			if (isnan(k->G) || isnan(k->Z0))
				btyd_prediction_failed();
			st->nkeys++;
			return k;
		}
	}
}

/* make cal and cohort at least n long */
static void
cal_reserve(ValState *st, int32 n)
{
	int32		size = Max(st->ncal, 64);
	double	   *cal,
			   *cohort;
	MemoryContext cxt = GetMemoryChunkContext(st);

	if (n <= st->ncal)
		return;
	while (size < n)
		size *= 2;
	cal = alloc_zero(cxt, size * sizeof(double));
	cohort = alloc_zero(cxt, size * sizeof(double));
	if (st->ncal > 0)
	{
		memcpy(cal, st->cal, st->ncal * sizeof(double));
		memcpy(cohort, st->cohort, st->ncal * sizeof(double));
		pfree(st->cal);
		pfree(st->cohort);
	}
	st->cal = cal;
	st->cohort = cohort;
	st->ncal = size;
}

static void
add_pair(ValState *st, double score, int label)
{
	if (st->npairs == st->pairsize)
	{
		st->pairsize *= 2;
		st->pairs = repalloc_huge(st->pairs, st->pairsize * sizeof(BtydScored));
	}
	st->pairs[st->npairs].score = score;
	st->pairs[st->npairs].label = label;
	st->npairs++;
}

static int32
date_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	int32		d;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
	d = PG_GETARG_DATEADT(argno);
	crm_check_finite_date(d, argname);
	return d;
}

static void
check_dates(int32 split, int32 holdout_end)
{
	if (holdout_end < split)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("holdout_end must not be before split"),
				 errdetail("split is %s and holdout_end is %s.",
						   btyd_iso_date(split), btyd_iso_date(holdout_end))));
}

/* a model the report can use: a continuous count model with a time unit */
static void
check_validation_model(const BtydModelValue *m)
{
	if (m->kind == BTYD_GAMMA_GAMMA || m->kind == BTYD_BGBB)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the validation report needs a bgnbd, pareto_nbd or mbgnbd model, not %s",
						btyd_model_name(m->kind)),
				 m->kind == BTYD_BGBB ?
				 errhint("For a bgbb model compare crm.expected_purchases() with the opportunities of the holdout directly.") : 0));
	if (m->ntrans + m->ndrop > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the validation report does not take a model with covariates")));
	if (!(m->unit_days > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model was not fitted on summaries, so its time unit is unknown"),
				 errhint("Fit it with the summary form, for example crm.fit_bgnbd(s, as_of, '1 week').")));
}

/* ---------------------------------------------------------------------
 * calibration_holdout(s, split, holdout_end, unit)
 * ---------------------------------------------------------------------
 */

/*
 * The customer's calibration triple as of split and the repeat purchase
 * days in (split, holdout_end], in units; NULL if no purchase by split.
 */
PG_FUNCTION_INFO_V1(calibration_holdout);
Datum
calibration_holdout(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	int32		split = date_arg(fcinfo, 1, "split");
	int32		end = date_arg(fcinfo, 2, "holdout_end");
	double		unit = crm_interval_days(PG_GETARG_DATUM(3), "unit");
	SummaryTriple t;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	int32		holdout = 0;
	int			i;

	check_dates(split, end);
	if (!crm_summary_triple(s, split, unit, &t))
		PG_RETURN_NULL();
	for (i = summary_cut(s->days, s->ndays, split); i < s->ndays; i++)
		if (s->days[i].day <= end && s->days[i].purchases > 0)
			holdout++;
	values[0] = Int32GetDatum((int32) t.x);
	values[1] = Float8GetDatum(t.t_x);
	values[2] = Float8GetDatum(t.T);
	values[3] = Int32GetDatum(holdout);
	values[4] = Float8GetDatum((end - split) / unit);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(CRM_RESULT_TUPDESC(fcinfo),
													   values, nulls)));
}

/* ---------------------------------------------------------------------
 * validate(m, s, split, holdout_end [, step]): the aggregate
 * ---------------------------------------------------------------------
 */

static ValState *
val_state_arg(FunctionCallInfo fcinfo)
{
	MemoryContext aggcxt;
	ValState   *st;
	struct varlena *v;
	int32		split,
				end;
	double		step;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "crm.validate called in non-aggregate context");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("m must not be NULL")));
	split = date_arg(fcinfo, 3, "split");
	end = date_arg(fcinfo, 4, "holdout_end");
	step = PG_NARGS() > 5 ? 0 : 7;
	if (PG_NARGS() > 5)
	{
		if (PG_ARGISNULL(5))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("step must not be NULL")));
		step = crm_interval_days(PG_GETARG_DATUM(5), "step");
	}
	if (!PG_ARGISNULL(0))
	{
		st = (ValState *) PG_GETARG_POINTER(0);
		if (st->split != split || st->holdout_end != end || st->step_days != step)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("split, holdout_end and step must be the same for every row of a validation")));
		/* the model: the same bytes (the same pointer, mostly) */
		v = (struct varlena *) PG_GETARG_POINTER(1);
		if (v != st->packed &&
			(VARSIZE_ANY(v) != VARSIZE_ANY(st->packed) ||
			 memcmp(v, st->packed, VARSIZE_ANY(v)) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the model must be the same for every row of a validation")));
		return st;
	}
	check_dates(split, end);
	st = val_state_create(aggcxt);
	btyd_model_unpack(PG_GETARG_DATUM(1), &st->model);
	v = (struct varlena *) PG_GETARG_POINTER(1);
	st->packed = MemoryContextAlloc(aggcxt, VARSIZE_ANY(v));
	memcpy(st->packed, v, VARSIZE_ANY(v));
	check_validation_model(&st->model);
	st->split = split;
	st->holdout_end = end;
	st->step_days = step;
	st->hold = alloc_zero(aggcxt, (holdout_days(st) + 1) * sizeof(double));
	return st;
}

static Datum
validate_accum(PG_FUNCTION_ARGS)
{
	ValState   *st = val_state_arg(fcinfo);
	const BtydModelValue *m = &st->model;
	Summary    *s;
	int32		first = 0,
				last = 0;
	int32		x = -1;
	int32		holdout = 0;
	double		t_x,
				T,
				w,
				E,
				P0;
	int			b,
				i;
	ValKey	   *k;

	if (PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	s = PG_GETARG_SUMMARY_P(2);
	/* the weekly tracking reads every day: a sealed summary holds not all */
	if (SUMMARY_IS_SEALED(s))
		crm_summary_check(SUMMARY_SEALED, "crm.validate()");
	/* one pass over the purchase days up to holdout_end */
	for (i = 0; i < s->ndays && s->days[i].day <= st->holdout_end; i++)
	{
		int32		day = s->days[i].day;

		if (s->days[i].purchases <= 0)
			continue;
		if (x < 0)
		{
			if (day > st->split)
				break;			/* first purchase after the split */
			first = day;
			x = 0;
			cal_reserve(st, st->split - first + 1);
			continue;
		}
		if (day <= st->split)
		{
			x++;
			last = day;
			st->cal[st->split - day] += 1;
		}
		else
		{
			holdout++;
			st->hold[day - st->split] += 1;
		}
	}
	if (x < 0)
		PG_RETURN_POINTER(st);
	st->cohort[st->split - first] += 1;

	t_x = x > 0 ? in_units(st, last - first) : 0;
	T = in_units(st, st->split - first);
	w = btyd_alive_weight(m->kind, m->params, x, t_x, T);
	k = key_lookup(st, x, st->split - first);
	k->count += 1;
	k->sum_w += w;
	E = w * k->G;
	P0 = 1 - w + w * k->Z0;

	st->customers += 1;
	st->actual += holdout;
	st->expected += E;
	st->buyers += holdout > 0;
	st->buyers_expected += 1 - P0;
	st->abs_error += fabs(holdout - E);
	st->sq_error += (holdout - E) * (holdout - E);
	b = Min(x, NBUCKETS - 1);
	st->b_customers[b] += 1;
	st->b_actual[b] += holdout;
	st->b_expected[b] += E;
	add_pair(st, 1 - P0, holdout > 0);
	PG_RETURN_POINTER(st);
}

static Datum
validate_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ValState   *a = PG_ARGISNULL(0) ? NULL : (ValState *) PG_GETARG_POINTER(0);
	ValState   *b = PG_ARGISNULL(1) ? NULL : (ValState *) PG_GETARG_POINTER(1);
	int64		i;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "btyd_validate_combine called in non-aggregate context");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		a = val_state_create(aggcxt);
		a->model = b->model;
		a->packed = MemoryContextAlloc(aggcxt, VARSIZE_ANY(b->packed));
		memcpy(a->packed, b->packed, VARSIZE_ANY(b->packed));
		a->split = b->split;
		a->holdout_end = b->holdout_end;
		a->step_days = b->step_days;
		a->hold = alloc_zero(aggcxt, (holdout_days(a) + 1) * sizeof(double));
	}
	a->customers += b->customers;
	a->actual += b->actual;
	a->expected += b->expected;
	a->buyers += b->buyers;
	a->buyers_expected += b->buyers_expected;
	a->abs_error += b->abs_error;
	a->sq_error += b->sq_error;
	for (i = 0; i < NBUCKETS; i++)
	{
		a->b_customers[i] += b->b_customers[i];
		a->b_actual[i] += b->b_actual[i];
		a->b_expected[i] += b->b_expected[i];
	}
	cal_reserve(a, b->ncal);
	for (i = 0; i < b->ncal; i++)
	{
		a->cal[i] += b->cal[i];
		a->cohort[i] += b->cohort[i];
	}
	for (i = 0; i <= holdout_days(a); i++)
		a->hold[i] += b->hold[i];
	for (i = 0; i < b->keysize; i++)
		if (b->keys[i].dist >= 0)
		{
			ValKey	   *k = key_lookup(a, b->keys[i].x, b->keys[i].dist);

			k->count += b->keys[i].count;
			k->sum_w += b->keys[i].sum_w;
		}
	for (i = 0; i < b->npairs; i++)
		add_pair(a, b->pairs[i].score, b->pairs[i].label);
	PG_RETURN_POINTER(a);
}

/*
 * Serialized: the packed model (int32 length, bytes), split, holdout_end,
 * step, the totals and buckets, ncal, cal, cohort, hold, nkeys and the
 * keys (x, dist, count, sum_w, G, Z0), npairs and the pairs: every double
 * as its bytes, so the round trip is exact.
 */
typedef struct SerialBuf
{
	StringInfoData buf;
	const char *rd;
	const char *end;
} SerialBuf;

static void
put(SerialBuf *sb, const void *p, Size n)
{
	appendBinaryStringInfo(&sb->buf, p, n);
}

static void
get(SerialBuf *sb, void *p, Size n)
{
	if (sb->rd + n > sb->end)
		crm_invalid_state("crm.validate");
	memcpy(p, sb->rd, n);
	sb->rd += n;
}

static Datum
validate_serialize(PG_FUNCTION_ARGS)
{
	ValState   *st = (ValState *) PG_GETARG_POINTER(0);
	int32		plen = VARSIZE_ANY(st->packed);
	SerialBuf	sb;
	bytea	   *out;
	int64		i;

	initStringInfo(&sb.buf);
	appendStringInfoSpaces(&sb.buf, VARHDRSZ);
	put(&sb, &plen, sizeof(plen));
	put(&sb, st->packed, plen);
	put(&sb, &st->split, sizeof(int32));
	put(&sb, &st->holdout_end, sizeof(int32));
	put(&sb, &st->step_days, sizeof(double));
	put(&sb, &st->customers, 7 * sizeof(double));
	put(&sb, st->b_customers, NBUCKETS * sizeof(double));
	put(&sb, st->b_actual, NBUCKETS * sizeof(double));
	put(&sb, st->b_expected, NBUCKETS * sizeof(double));
	put(&sb, &st->ncal, sizeof(int32));
	if (st->ncal > 0)
	{
		put(&sb, st->cal, st->ncal * sizeof(double));
		put(&sb, st->cohort, st->ncal * sizeof(double));
	}
	put(&sb, st->hold, (holdout_days(st) + 1) * sizeof(double));
	put(&sb, &st->nkeys, sizeof(int64));
	for (i = 0; i < st->keysize; i++)
		if (st->keys[i].dist >= 0)
			put(&sb, &st->keys[i], sizeof(ValKey));
	put(&sb, &st->npairs, sizeof(int64));
	put(&sb, st->pairs, st->npairs * sizeof(BtydScored));
	out = (bytea *) sb.buf.data;
	SET_VARSIZE(out, sb.buf.len);
	PG_RETURN_BYTEA_P(out);
}

static Datum
validate_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	ValState   *st = val_state_create(CurrentMemoryContext);
	SerialBuf	sb;
	int32		plen,
				ncal;
	char	   *packed;
	int64		n,
				i;

	sb.rd = VARDATA_ANY(b);
	sb.end = sb.rd + VARSIZE_ANY_EXHDR(b);
	get(&sb, &plen, sizeof(plen));
	if (plen < VARHDRSZ || plen > sb.end - sb.rd)
		crm_invalid_state("crm.validate");
	packed = palloc(plen);
	get(&sb, packed, plen);
	if (VARATT_IS_EXTENDED(packed) || VARSIZE(packed) != plen)
		crm_invalid_state("crm.validate");
	if (!btyd_model_try_unpack(PointerGetDatum(packed), &st->model))
		crm_invalid_state("crm.validate");
	st->packed = (struct varlena *) packed;
	get(&sb, &st->split, sizeof(int32));
	get(&sb, &st->holdout_end, sizeof(int32));
	get(&sb, &st->step_days, sizeof(double));
	get(&sb, &st->customers, 7 * sizeof(double));
	get(&sb, st->b_customers, NBUCKETS * sizeof(double));
	get(&sb, st->b_actual, NBUCKETS * sizeof(double));
	get(&sb, st->b_expected, NBUCKETS * sizeof(double));
	get(&sb, &ncal, sizeof(int32));
	n = ncal;
	if (n < 0 || n > (sb.end - sb.rd) / (2 * sizeof(double)) || st->holdout_end < st->split ||
		(int64) st->holdout_end - st->split > (sb.end - sb.rd) / sizeof(double))
		crm_invalid_state("crm.validate");
	cal_reserve(st, ncal);
	if (n > 0)
	{
		get(&sb, st->cal, n * sizeof(double));
		get(&sb, st->cohort, n * sizeof(double));
	}
	st->hold = palloc0((holdout_days(st) + 1) * sizeof(double));
	get(&sb, st->hold, (holdout_days(st) + 1) * sizeof(double));
	get(&sb, &n, sizeof(int64));
	for (i = 0; i < n; i++)
	{
		ValKey		k;
		ValKey	   *slot;

		get(&sb, &k, sizeof(ValKey));
		slot = key_lookup(st, k.x, k.dist);
		*slot = k;
	}
	get(&sb, &n, sizeof(int64));
	for (i = 0; i < n; i++)
	{
		BtydScored	p;

		get(&sb, &p, sizeof(p));
		add_pair(st, p.score, p.label);
	}
	if (sb.rd != sb.end)
		crm_invalid_state("crm.validate");
	PG_RETURN_POINTER(st);
}

/* a JSON number, or null for NaN and infinities */
static void
json_number(StringInfo buf, const char *name, double v)
{
	appendStringInfo(buf, "\"%s\": %s", name, isfinite(v) ? float8out_internal(v) : "null");
}

static void
json_date(StringInfo buf, const char *name, int32 d)
{
	appendStringInfo(buf, "\"%s\": \"%s\"", name, btyd_iso_date(d));
}

/*
 * The tracking rows: steps of step_days ending on split + i * step_days,
 * from the step holding the earliest first purchase to the one holding
 * holdout_end (cut there).  Day r relative to split is in step
 * ceil(r / step_days).
 */
static void
append_tracking(StringInfo buf, ValState *st)
{
	const BtydModelValue *m = &st->model;
	int32		H = holdout_days(st);
	int32		maxd = 0;
	double		S = st->step_days;
	double	   *enew;
	double		cum_actual = 0;
	int32		lo,
				hi,
				i,
				d,
				r;
	bool		first_row = true;

	for (d = 0; d < st->ncal; d++)
		if (st->cohort[d] > 0)
			maxd = d;
	/* E[X(lag days)] of a new customer, for every lag */
	enew = palloc((maxd + H + 1) * sizeof(double));
	for (r = 0; r <= maxd + H; r++)
	{
		enew[r] = btyd_expected_purchases_new(m->kind, m->params, in_units(st, r));
		if (isnan(enew[r]))
			btyd_prediction_failed();
	}
	lo = (int32) ceil(-maxd / S);
	hi = (int32) ceil(H / S);
	appendStringInfoString(buf, "\"tracking\": [");
	for (i = lo; i <= hi; i++)
	{
		int32		r_first = (int32) floor((i - 1) * S) + 1;
		int32		r_last = Min((int32) floor(i * S), H);
		double		actual = 0,
					expected = 0;

		if (i == lo)
			r_first = Max(r_first, -maxd);
		if (r_last < r_first)
			continue;
		for (r = r_first; r <= r_last; r++)
			actual += r <= 0 ? (-r < st->ncal ? st->cal[-r] : 0) : st->hold[r];
		cum_actual += actual;
		/* the cohort's expected repeat purchases by the end of day r_last */
		for (d = Max(0, -r_last); d <= maxd; d++)
			expected += st->cohort[d] * enew[r_last + d];
		appendStringInfo(buf, "%s{", first_row ? "" : ", ");
		json_date(buf, "period_start", st->split + r_first);
		appendStringInfoString(buf, ", ");
		json_date(buf, "period_end", st->split + r_last);
		appendStringInfo(buf, ", \"holdout\": %s, ", r_last > 0 ? "true" : "false");
		json_number(buf, "actual", actual);
		appendStringInfoString(buf, ", ");
		json_number(buf, "actual_cumulative", cum_actual);
		appendStringInfoString(buf, ", ");
		json_number(buf, "expected_cumulative", expected);
		appendStringInfoString(buf, ", ");
		if (r_last > 0)
		{
			/* given the calibration data: sum over (x, T) of sum P(alive) E[. | alive] */
			double		cond = 0;
			int64		k;

			for (k = 0; k < st->keysize; k++)
			{
				ValKey	   *key = &st->keys[k];

				if (key->dist < 0 || key->sum_w == 0)
					continue;
				cond += key->sum_w * (r_last == H ? key->G :
									  btyd_expected_alive(m->kind, m->params, in_units(st, r_last),
														  key->x, in_units(st, key->dist)));
			}
			json_number(buf, "expected_given_calibration", cond);
		}
		else
			appendStringInfoString(buf, "\"expected_given_calibration\": null");
		appendStringInfoChar(buf, '}');
		first_row = false;
	}
	appendStringInfoChar(buf, ']');
	pfree(enew);
}

static Datum
validate_final(PG_FUNCTION_ARGS)
{
	ValState   *st = PG_ARGISNULL(0) ? NULL : (ValState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	double		n;
	int			b;

	if (st == NULL || st->customers == 0)
		PG_RETURN_NULL();
	n = st->customers;
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"model\": \"%s\", ", btyd_model_name(st->model.kind));
	json_date(&buf, "split", st->split);
	appendStringInfoString(&buf, ", ");
	json_date(&buf, "holdout_end", st->holdout_end);
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "unit_days", st->model.unit_days);
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "step_days", st->step_days);
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "holdout_length", in_units(st, holdout_days(st)));
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "customers", n);
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "actual", st->actual);
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "expected", st->expected);
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "buyers", st->buyers);
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "buyers_expected", st->buyers_expected);
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "mean_absolute_error", st->abs_error / n);
	appendStringInfoString(&buf, ", ");
	json_number(&buf, "root_mean_squared_error", sqrt(st->sq_error / n));
	appendStringInfoString(&buf, ", ");
	{
		BtydScored *scratch = palloc_extended(Max(st->npairs, 1) * sizeof(BtydScored),
											  MCXT_ALLOC_HUGE);

		json_number(&buf, "auc", btyd_auc(st->pairs, st->npairs, scratch));
		pfree(scratch);
	}
	appendStringInfoString(&buf, ", \"by_frequency\": [");
	for (b = 0; b < NBUCKETS; b++)
	{
		double		c = st->b_customers[b];

		appendStringInfo(&buf, "%s{\"frequency\": \"%d%s\", \"min_x\": %d, ", b > 0 ? ", " : "",
						 b, b == NBUCKETS - 1 ? "+" : "", b);
		json_number(&buf, "customers", c);
		appendStringInfoString(&buf, ", ");
		json_number(&buf, "actual", st->b_actual[b]);
		appendStringInfoString(&buf, ", ");
		json_number(&buf, "expected", st->b_expected[b]);
		appendStringInfoString(&buf, ", ");
		json_number(&buf, "actual_mean", c > 0 ? st->b_actual[b] / c : NAN);
		appendStringInfoString(&buf, ", ");
		json_number(&buf, "expected_mean", c > 0 ? st->b_expected[b] / c : NAN);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "], ");
	append_tracking(&buf, st);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * crm.validate over crm.agg_state (agg_state.c): the C state above, updated in
 * place, shipped flat between parallel workers and Citus nodes.
 */
static const CrmAggKind validate_kind = {CRM_AGG_VALIDATE, validate_serialize, validate_deserialize};

#ifdef CRM_FUZZ_TARGETS
/* the parser of the flat state, for its libFuzzer target (test/fuzz) */
extern Datum btyd_validate_deserialize(PG_FUNCTION_ARGS);
Datum
btyd_validate_deserialize(PG_FUNCTION_ARGS)
{
	return validate_deserialize(fcinfo);
}
#endif

CRM_AGG_STATE_SFUNC(btyd_validate_accum, validate_accum, &validate_kind)
CRM_AGG_STATE_COMBINEFUNC(btyd_validate_combine, validate_combine, &validate_kind)
CRM_AGG_STATE_FINALFUNC(btyd_validate_final, validate_final, &validate_kind)
