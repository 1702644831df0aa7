/*-------------------------------------------------------------------------
 *
 * btyd_fit.c
 *	  The fit aggregates of crm.btyd_model (crm.fit_bgnbd, fit_pareto_nbd,
 *	  fit_mbgnbd, fit_gamma_gamma, fit_bgbb): a state of distinct inputs
 *	  with their weights, and the final functions that fit a model of
 *	  their kind to it with the kernel (btyd_kernel.c).
 *
 * A fit aggregate's state is a hash table of distinct inputs, (x, t_x, T)
 * for the count models, (x, t_x, n) for BG/BB and (x, zbar) for
 * Gamma-Gamma, each followed by the customer's covariates when the fit has
 * them, with the number of customers (the summed weights) that share it.
 * A million customers cost what their distinct inputs cost, partial states
 * from parallel workers merge by adding weights, and the likelihood is
 * evaluated once per distinct input.  The kind of model is chosen by the
 * final function, so every model shares one state, one set of transition
 * functions and one framework (the kernel's).  The rows are sorted before
 * fitting, so parallel, serial and pre-aggregated inputs give the same
 * model bit for bit.
 *
 * The serialized state (for parallel workers, and the exact round trip a
 * distributed partial aggregate needs) is a 40-byte header (used,
 * penalty, unit_days as int64/float8, as_of, has_as_of, ntrans, ndrop as
 * int32) followed by the used slots, stride float8 each.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"

#include "agg_state.h"
#include "btyd.h"
#include "config.h"

typedef struct FitState
{
	int64		used;			/* distinct inputs */
	int64		size;			/* slots, a power of two */
	double		penalty;		/* -1 until the first row */
	double		unit_days;		/* 0: inputs were raw triples */
	int32		as_of;			/* the calibration end of summaries */
	int32		has_as_of;
	int32		ntrans;			/* covariates per row */
	int32		ndrop;
	int32		stride;			/* float8 per slot: 4 + ntrans + ndrop */
	double	   *slots;			/* x, t_x, T, weight, covariates; weight 0
								 * marks an empty slot */
} FitState;

#define SLOT(st, i) ((st)->slots + (i) * (st)->stride)
#define SERIAL_HEADER 40

static uint32
slot_hash(const FitState *st, const double *row)
{
	uint64		bits[3 + 2 * BTYD_MAX_COVARIATES];
	int			i;

	/* everything but the weight */
	memcpy(&bits[0], &row[0], 3 * sizeof(double));
	for (i = 4; i < st->stride; i++)
		memcpy(&bits[i - 1], &row[i], sizeof(double));
	return hash_bytes((const unsigned char *) bits, (st->stride - 1) * sizeof(uint64));
}

static bool
slot_equal(const FitState *st, const double *a, const double *b)
{
	int			i;

	for (i = 0; i < st->stride; i++)
		if (i != 3 && a[i] != b[i])
			return false;
	return true;
}

static FitState *
fit_state_create(MemoryContext cxt, int64 expected, int stride)
{
	FitState   *st = MemoryContextAllocZero(cxt, sizeof(FitState));

	st->size = 256;
	while (st->size < 2 * expected)
		st->size *= 2;
	st->stride = stride;
	st->slots = MemoryContextAllocHuge(cxt, st->size * stride * sizeof(double));
	memset(st->slots, 0, st->size * stride * sizeof(double));
	st->penalty = -1;			/* not set yet */
	st->unit_days = -1;
	st->ntrans = st->ndrop = -1;
	return st;
}

static void fit_state_add(FitState *st, const double *row);

static void
fit_state_grow(FitState *st)
{
	double	   *old = st->slots;
	int64		oldsize = st->size;
	int64		i;

	st->size *= 2;
	st->slots = MemoryContextAllocHuge(GetMemoryChunkContext(old),
									   st->size * st->stride * sizeof(double));
	memset(st->slots, 0, st->size * st->stride * sizeof(double));
	st->used = 0;
	for (i = 0; i < oldsize; i++)
		if (old[i * st->stride + 3] > 0)
			fit_state_add(st, old + i * st->stride);
	pfree(old);
}

static void
fit_state_add(FitState *st, const double *row)
{
	uint64		i;

	if (2 * (st->used + 1) > st->size)
		fit_state_grow(st);
	for (i = slot_hash(st, row) & (st->size - 1);; i = (i + 1) & (st->size - 1))
	{
		double	   *s = SLOT(st, i);

		if (s[3] == 0)
		{
			memcpy(s, row, st->stride * sizeof(double));
			st->used++;
			return;
		}
		if (slot_equal(st, s, row))
		{
			s[3] += row[3];
			return;
		}
	}
}

/*
 * The penalty, the unit, the calibration end and the number of covariates
 * must be the same on every row.  The covariates fix the slot width: a
 * state made before it was known (only NULL rows so far) is widened here.
 */
static void
fit_state_settings(FitState *st, double penalty, double unit_days,
				   bool has_as_of, int32 as_of, int ntrans, int ndrop)
{
	if (st->penalty < 0)
	{
		if (!(penalty >= 0) || isinf(penalty))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("penalty must be a finite number >= 0")));
		st->penalty = penalty;
		st->unit_days = unit_days;
		st->has_as_of = has_as_of;
		st->as_of = has_as_of ? as_of : 0;
	}
	else if (st->penalty != penalty || st->unit_days != unit_days ||
			 st->has_as_of != (int32) has_as_of || (has_as_of && st->as_of != as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("penalty, unit and as_of must be the same for every row of a fit")));
	if (ntrans < 0)
		return;
	if (st->ntrans < 0)
	{
		int			stride = 4 + ntrans + ndrop;

		if (stride != st->stride)
		{
			Assert(st->used == 0);
			pfree(st->slots);
			st->stride = stride;
			st->slots = MemoryContextAllocHuge(GetMemoryChunkContext(st),
											   st->size * stride * sizeof(double));
			memset(st->slots, 0, st->size * stride * sizeof(double));
		}
		st->ntrans = ntrans;
		st->ndrop = ndrop;
	}
	else if (st->ntrans != ntrans || st->ndrop != ndrop)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every row of a fit must have the same number of covariates"),
				 errdetail("A row has %d purchase and %d dropout covariates, an earlier one %d and %d.",
						   ntrans, ndrop, st->ntrans, st->ndrop)));
}

static FitState *
fit_state_arg(FunctionCallInfo fcinfo)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "btyd fit function called in non-aggregate context");
	if (PG_ARGISNULL(0))
		return fit_state_create(aggcxt, 0, 4);
	return (FitState *) PG_GETARG_POINTER(0);
}

static double
optional_float8(FunctionCallInfo fcinfo, int argno, double dflt, const char *argname)
{
	if (PG_NARGS() <= argno)
		return dflt;
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
	return PG_GETARG_FLOAT8(argno);
}

/*
 * Check a count-model input row and say which argument is wrong.
 */
static void
check_triple(double x, double t_x, double T)
{
	crm_check_finite(t_x, "t_x");
	crm_check_finite(T, "T");
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("x must not be negative"),
				 errdetail("x is %g.", x)));
	if (!(T > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("T must be positive"),
				 errdetail("T is %g.", T),
				 errhint("T is the time from the first purchase to the end of the calibration period.")));
	if (t_x < 0 || t_x > T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("t_x must lie between 0 and T"),
				 errdetail("t_x is %g and T is %g.", t_x, T)));
}

static void
check_weight(double w)
{
	if (!(w > 0) || isinf(w))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weight must be a finite number > 0"),
				 errdetail("weight is %g.", w)));
}

/* a row of the state: the input and its weight, covariates appended */
static void
add_row(FitState *st, double x, double t_x, double T, double weight,
		const double *zt, const double *zd)
{
	double		row[4 + 2 * BTYD_MAX_COVARIATES];

	row[0] = x;
	row[1] = x == 0 ? 0 : t_x;
	row[2] = T;
	row[3] = weight;
	if (st->ntrans > 0)
		memcpy(row + 4, zt, st->ntrans * sizeof(double));
	if (st->ndrop > 0)
		memcpy(row + 4 + st->ntrans, zd, st->ndrop * sizeof(double));
	fit_state_add(st, row);
}

/*
 * fit_*(x integer, t_x float8, T float8 [, weight float8 [, penalty float8]])
 * Rows with a NULL x, t_x or T are skipped.
 */
PG_FUNCTION_INFO_V1(btyd_accum_triple);
Datum
btyd_accum_triple(PG_FUNCTION_ARGS)
{
	FitState   *st = fit_state_arg(fcinfo);
	double		x,
				t_x,
				T,
				w;

	fit_state_settings(st, optional_float8(fcinfo, 5, 0, "penalty"), 0, false, 0, 0, 0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(st);
	x = PG_GETARG_INT32(1);
	t_x = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	w = optional_float8(fcinfo, 4, 1, "weight");
	check_triple(x, t_x, T);
	check_weight(w);
	add_row(st, x, t_x, T, w, NULL, NULL);
	PG_RETURN_POINTER(st);
}

/*
 * fit_*(x, t_x, T, trans float8[], dropout float8[] [, weight, penalty]):
 * with the customer's covariates.  Rows with a NULL x, t_x, T or array are
 * skipped.
 */
PG_FUNCTION_INFO_V1(btyd_accum_covariates);
Datum
btyd_accum_covariates(PG_FUNCTION_ARGS)
{
	FitState   *st = fit_state_arg(fcinfo);
	double		zt[BTYD_MAX_COVARIATES],
				zd[BTYD_MAX_COVARIATES];
	double		x,
				t_x,
				T,
				w;
	int			nt,
				nd;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) ||
		PG_ARGISNULL(4) || PG_ARGISNULL(5))
	{
		fit_state_settings(st, optional_float8(fcinfo, 7, 0, "penalty"), 0, false, 0, -1, -1);
		PG_RETURN_POINTER(st);
	}
	nt = btyd_covariates_arg(fcinfo, 4, "trans", zt);
	nd = btyd_covariates_arg(fcinfo, 5, "dropout", zd);
	fit_state_settings(st, optional_float8(fcinfo, 7, 0, "penalty"), 0, false, 0, nt, nd);
	x = PG_GETARG_INT32(1);
	t_x = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	w = optional_float8(fcinfo, 6, 1, "weight");
	check_triple(x, t_x, T);
	check_weight(w);
	add_row(st, x, t_x, T, w, zt, zd);
	PG_RETURN_POINTER(st);
}

/*
 * fit_bgbb(x integer, t_x integer, n integer [, weight [, penalty]]): a
 * discrete history, x of the n opportunities after the first purchase
 * with a purchase, the last of them t_x.
 */
PG_FUNCTION_INFO_V1(btyd_accum_discrete);
Datum
btyd_accum_discrete(PG_FUNCTION_ARGS)
{
	FitState   *st = fit_state_arg(fcinfo);
	int32		x,
				t_x,
				n;
	double		w;

	fit_state_settings(st, optional_float8(fcinfo, 5, 0, "penalty"), 0, false, 0, 0, 0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(st);
	x = PG_GETARG_INT32(1);
	t_x = PG_GETARG_INT32(2);
	n = PG_GETARG_INT32(3);
	w = optional_float8(fcinfo, 4, 1, "weight");
	if (n < 1 || n > BTYD_MAX_OPPORTUNITIES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must lie between 1 and %d", BTYD_MAX_OPPORTUNITIES),
				 errdetail("n is %d.", n),
				 errhint("n counts the opportunities after the first purchase.")));
	if (x < 0 || t_x < 0 || t_x > n || (x > 0 && x > t_x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("x and t_x must satisfy 0 <= x <= t_x <= n"),
				 errdetail("x is %d, t_x is %d and n is %d.", x, t_x, n)));
	check_weight(w);
	add_row(st, x, t_x, n, w, NULL, NULL);
	PG_RETURN_POINTER(st);
}

/*
 * A customer's history from a summary, for the summary forms: the triple
 * as of the calibration end in units (or for BG/BB opportunities); false
 * for a customer to skip (no purchase by then, or nothing observed after
 * the first purchase).
 */
static bool
summary_row(FunctionCallInfo fcinfo, bool discrete, int32 as_of,
			double unit_days, SummaryTriple *t)
{
	SummaryView v;

	if (PG_ARGISNULL(1))
		return false;
	crm_summary_view(PG_GETARG_SUMMARY_P(1), &v);
	if (discrete)
		return btyd_discrete_history(&v, as_of, unit_days, t) && t->T >= 1;
	return crm_view_triple(&v, as_of, unit_days, t) && t->T > 0;
}

static double
unit_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
	return crm_interval_days(PG_GETARG_DATUM(argno), argname);
}

/*
 * fit_*(s summary, as_of date, unit interval [, penalty float8]): each
 * customer's triple as of the calibration end; customers who had not
 * purchased by then, or whose first purchase is on as_of (T = 0), are
 * skipped.  fit_bgbb(s, as_of, period [, penalty]) alike, with
 * opportunities of one period counted back from as_of (see
 * btyd_discrete_history()); customers without one after their first
 * purchase are skipped.
 */
static Datum
accum_summary_either(FunctionCallInfo fcinfo, bool discrete)
{
	FitState   *st = fit_state_arg(fcinfo);
	int32		as_of = crm_as_of_arg(fcinfo, 2);
	double		unit_days = unit_arg(fcinfo, 3, discrete ? "period" : "unit");
	SummaryTriple t;

	fit_state_settings(st, optional_float8(fcinfo, 4, 0, "penalty"), unit_days, true, as_of, 0, 0);
	if (summary_row(fcinfo, discrete, as_of, unit_days, &t))
		add_row(st, t.x, t.t_x, t.T, 1, NULL, NULL);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(btyd_accum_summary);
Datum
btyd_accum_summary(PG_FUNCTION_ARGS)
{
	return accum_summary_either(fcinfo, false);
}

PG_FUNCTION_INFO_V1(btyd_accum_summary_discrete);
Datum
btyd_accum_summary_discrete(PG_FUNCTION_ARGS)
{
	return accum_summary_either(fcinfo, true);
}

/* fit_*(s summary, as_of date, unit interval, trans, dropout [, penalty]) */
PG_FUNCTION_INFO_V1(btyd_accum_summary_covariates);
Datum
btyd_accum_summary_covariates(PG_FUNCTION_ARGS)
{
	FitState   *st = fit_state_arg(fcinfo);
	int32		as_of = crm_as_of_arg(fcinfo, 2);
	double		unit_days = unit_arg(fcinfo, 3, "unit");
	double		zt[BTYD_MAX_COVARIATES],
				zd[BTYD_MAX_COVARIATES];
	int			nt,
				nd;
	SummaryTriple t;

	if (PG_ARGISNULL(4) || PG_ARGISNULL(5))
	{
		fit_state_settings(st, optional_float8(fcinfo, 6, 0, "penalty"), unit_days, true, as_of, -1, -1);
		PG_RETURN_POINTER(st);
	}
	nt = btyd_covariates_arg(fcinfo, 4, "trans", zt);
	nd = btyd_covariates_arg(fcinfo, 5, "dropout", zd);
	fit_state_settings(st, optional_float8(fcinfo, 6, 0, "penalty"), unit_days, true, as_of, nt, nd);
	if (summary_row(fcinfo, false, as_of, unit_days, &t))
		add_row(st, t.x, t.t_x, t.T, 1, zt, zd);
	PG_RETURN_POINTER(st);
}

/*
 * fit_gamma_gamma(x integer, mean_spend float8 [, weight [, penalty]]):
 * rows with x = 0 carry no spend information and are skipped.
 */
PG_FUNCTION_INFO_V1(btyd_accum_spend);
Datum
btyd_accum_spend(PG_FUNCTION_ARGS)
{
	FitState   *st = fit_state_arg(fcinfo);
	double		x,
				zbar,
				w;

	fit_state_settings(st, optional_float8(fcinfo, 4, 0, "penalty"), 0, false, 0, 0, 0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	x = PG_GETARG_INT32(1);
	zbar = PG_GETARG_FLOAT8(2);
	w = optional_float8(fcinfo, 3, 1, "weight");
	crm_check_finite(zbar, "mean_spend");
	check_weight(w);
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("x must not be negative"),
				 errdetail("x is %g.", x)));
	if (x == 0)
		PG_RETURN_POINTER(st);
	if (!(zbar > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mean_spend must be positive when x > 0"),
				 errdetail("mean_spend is %g.", zbar),
				 errhint("Gamma-Gamma models positive spend; leave out customers whose repeat purchases net to zero or less.")));
	add_row(st, x, zbar, 0, w, NULL, NULL);
	PG_RETURN_POINTER(st);
}

/* fit_gamma_gamma(s summary, as_of date [, penalty]) */
PG_FUNCTION_INFO_V1(btyd_accum_summary_spend);
Datum
btyd_accum_summary_spend(PG_FUNCTION_ARGS)
{
	FitState   *st = fit_state_arg(fcinfo);
	int32		as_of = crm_as_of_arg(fcinfo, 2);
	SummaryTriple t;

	fit_state_settings(st, optional_float8(fcinfo, 3, 0, "penalty"), 0, false, 0, 0, 0);
	if (PG_ARGISNULL(1) ||
		!crm_summary_triple(PG_GETARG_SUMMARY_P(1), as_of, 1.0, &t) ||
		t.x == 0 || !(t.zbar > 0))
		PG_RETURN_POINTER(st);
	add_row(st, t.x, t.zbar, 0, 1, NULL, NULL);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(btyd_fit_combine);
Datum
btyd_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *a = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	FitState   *b = PG_ARGISNULL(1) ? NULL : (FitState *) PG_GETARG_POINTER(1);
	int64		i;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "btyd_fit_combine called in non-aggregate context");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		a = fit_state_create(aggcxt, b->used, b->stride);
	if (b->penalty >= 0)
		fit_state_settings(a, b->penalty, b->unit_days, b->has_as_of, b->as_of,
						   b->ntrans, b->ndrop);
	for (i = 0; i < b->size; i++)
		if (SLOT(b, i)[3] > 0)
			fit_state_add(a, SLOT(b, i));
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(btyd_fit_serialize);
Datum
btyd_fit_serialize(PG_FUNCTION_ARGS)
{
	FitState   *st = (FitState *) PG_GETARG_POINTER(0);
	Size		rowlen = st->stride * sizeof(double);
	Size		len = SERIAL_HEADER + st->used * rowlen;
	bytea	   *b = palloc(VARHDRSZ + len);
	char	   *p = VARDATA(b);
	int64		i;

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(p, &st->used, 8);
	memcpy(p + 8, &st->penalty, 8);
	memcpy(p + 16, &st->unit_days, 8);
	memcpy(p + 24, &st->as_of, 4);
	memcpy(p + 28, &st->has_as_of, 4);
	memcpy(p + 32, &st->ntrans, 4);
	memcpy(p + 36, &st->ndrop, 4);
	p += SERIAL_HEADER;
	for (i = 0; i < st->size; i++)
		if (SLOT(st, i)[3] > 0)
		{
			memcpy(p, SLOT(st, i), rowlen);
			p += rowlen;
		}
	PG_RETURN_BYTEA_P(b);
}

PG_FUNCTION_INFO_V1(btyd_fit_deserialize);
Datum
btyd_fit_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(b);
	int64		n,
				i;
	int32		ntrans,
				ndrop;
	int			stride;
	FitState   *st;

	if (VARSIZE_ANY_EXHDR(b) < SERIAL_HEADER)
		crm_invalid_state("btyd fit");
	memcpy(&n, p, 8);
	memcpy(&ntrans, p + 32, 4);
	memcpy(&ndrop, p + 36, 4);
	if (ntrans < 0 || ndrop < 0 || ntrans > BTYD_MAX_COVARIATES || ndrop > BTYD_MAX_COVARIATES)
		crm_invalid_state("btyd fit");
	stride = 4 + ntrans + ndrop;
	if (n < 0 ||
		n > (VARSIZE_ANY_EXHDR(b) - SERIAL_HEADER) / (stride * sizeof(double)) ||
		VARSIZE_ANY_EXHDR(b) != SERIAL_HEADER + n * stride * sizeof(double))
		crm_invalid_state("btyd fit");
	st = fit_state_create(CurrentMemoryContext, n, stride);
	memcpy(&st->penalty, p + 8, 8);
	memcpy(&st->unit_days, p + 16, 8);
	memcpy(&st->as_of, p + 24, 4);
	memcpy(&st->has_as_of, p + 28, 4);
	st->ntrans = ntrans;
	st->ndrop = ndrop;
	p += SERIAL_HEADER;
	for (i = 0; i < n; i++)
	{
		double		row[4 + 2 * BTYD_MAX_COVARIATES];

		memcpy(row, p + i * stride * sizeof(double), stride * sizeof(double));
		fit_state_add(st, row);
	}
	PG_RETURN_POINTER(st);
}

/* rows with covariates in a fixed order: by every field but the weight */
static int
cov_row_cmp(const void *pa, const void *pb, void *arg)
{
	const double *a = (const double *) pa;
	const double *b = (const double *) pb;
	int			stride = *(const int *) arg;
	int			i;

	for (i = 0; i < stride; i++)
		if (i != 3 && a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

/*
 * Fit a model of the given kind to the state.  NULL when there is no row;
 * an ERROR when the data cannot identify the model; a WARNING, and a model
 * flagged converged = false, when the optimizer stopped early.  The
 * covariance is computed when crm.standard_errors is on.
 */
static Datum
btyd_fit_final(FunctionCallInfo fcinfo, BtydKind kind)
{
	FitState   *st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	BtydOptions opt = {200, 1e-9, NULL, crm_standard_errors() ? 1 : 0};
	BtydModelValue m;
	BtydRow    *rows;
	double	   *z = NULL;
	BtydFit    *fit;
	int64		i,
				n = 0;
	int			ncov;
	int			status;

	if (st == NULL || st->used == 0)
		PG_RETURN_NULL();
	ncov = Max(st->ntrans, 0) + Max(st->ndrop, 0);
	if (ncov > 0 && !btyd_takes_covariates(kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s model takes no covariates", btyd_model_name(kind))));
	rows = palloc_extended(st->used * sizeof(BtydRow), MCXT_ALLOC_HUGE);
	if (ncov == 0)
	{
		for (i = 0; i < st->size; i++)
			if (SLOT(st, i)[3] > 0)
				memcpy(&rows[n++], SLOT(st, i), sizeof(BtydRow));
		/* a fixed row order makes the sums, and so the fit, independent of plan */
		n = btyd_group_rows(rows, n);
	}
	else
	{
		double	   *sorted = palloc_extended(st->used * st->stride * sizeof(double),
											 MCXT_ALLOC_HUGE);

		for (i = 0; i < st->size; i++)
			if (SLOT(st, i)[3] > 0)
				memcpy(sorted + (n++) * st->stride, SLOT(st, i), st->stride * sizeof(double));
		qsort_arg(sorted, n, st->stride * sizeof(double), cov_row_cmp, &st->stride);
		z = palloc_extended(n * ncov * sizeof(double), MCXT_ALLOC_HUGE);
		for (i = 0; i < n; i++)
		{
			memcpy(&rows[i], sorted + i * st->stride, sizeof(BtydRow));
			memcpy(z + i * ncov, sorted + i * st->stride + 4, ncov * sizeof(double));
		}
		pfree(sorted);
	}
	fit = palloc(sizeof(BtydFit));
	{
		BtydCovariates cov = {Max(st->ntrans, 0), Max(st->ndrop, 0), z};

		status = btyd_fit_cov(kind, rows, n, ncov > 0 ? &cov : NULL,
							  Max(st->penalty, 0), &opt, fit);
	}
	if (status == BTYD_ERR_INVALID_ROW && fit->bad_row >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit a %s model: %s", btyd_model_name(kind), btyd_status_message(status)),
				 errdetail("The input x = %g, t_x = %g, T = %g is not valid for this model.",
						   rows[fit->bad_row].x, rows[fit->bad_row].t_x, rows[fit->bad_row].T)));
	if (status != BTYD_OK && status != BTYD_ERR_NOT_CONVERGED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit a %s model: %s", btyd_model_name(kind), btyd_status_message(status)),
				 status == BTYD_ERR_NO_REPEAT_PURCHASES ?
				 errhint("With no repeat purchase in the calibration period the dropout process cannot be estimated; use a longer period.") : 0));
	if (status == BTYD_ERR_NOT_CONVERGED)
		ereport(WARNING,
				(errmsg("the %s fit did not converge after %d iterations", btyd_model_name(kind), fit->iterations),
				 errdetail("The model is returned with converged = false; its parameters are the best found."),
				 errhint("A maximum on the boundary of the parameter space often causes this; a small penalty (for example 0.001) helps.")));
	memset(&m, 0, sizeof(m));
	m.kind = kind;
	memcpy(m.params, fit->params, sizeof(m.params));
	for (i = fit->nparams; i < BTYD_MAX_PARAMS; i++)
		m.params[i] = 0;
	m.ntrans = fit->ntrans;
	m.ndrop = fit->ndrop;
	memcpy(m.coef, fit->coef, sizeof(m.coef));
	m.loglik = fit->loglik;
	m.customers = fit->n_customers;
	m.iterations = fit->iterations;
	m.converged = fit->converged ? 1 : 0;
	m.penalty = Max(st->penalty, 0);
	m.unit_days = Max(st->unit_days, 0);
	m.has_as_of = st->has_as_of != 0;
	m.as_of = st->as_of;
	m.has_vcov = fit->has_vcov != 0;
	if (m.has_vcov)
		memcpy(m.vcov, fit->vcov, sizeof(m.vcov));
	return btyd_model_result(fcinfo, &m);
}

PG_FUNCTION_INFO_V1(btyd_final_bgnbd);
Datum
btyd_final_bgnbd(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_BGNBD);
}

PG_FUNCTION_INFO_V1(btyd_final_pareto_nbd);
Datum
btyd_final_pareto_nbd(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_PARETO_NBD);
}

PG_FUNCTION_INFO_V1(btyd_final_mbgnbd);
Datum
btyd_final_mbgnbd(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_MBGNBD);
}

PG_FUNCTION_INFO_V1(btyd_final_gamma_gamma);
Datum
btyd_final_gamma_gamma(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_GAMMA_GAMMA);
}

PG_FUNCTION_INFO_V1(btyd_final_bgbb);
Datum
btyd_final_bgbb(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_BGBB);
}

/*
 * The fit aggregates over crm.agg_state (agg_state.c): the C state above,
 * updated in place, shipped flat between parallel workers and Citus nodes.
 */
static const CrmAggKind fit_kind = {CRM_AGG_BTYD_FIT, btyd_fit_serialize, btyd_fit_deserialize};

CRM_AGG_STATE_SFUNC(btyd_accum_triple_state, btyd_accum_triple, &fit_kind)
CRM_AGG_STATE_SFUNC(btyd_accum_covariates_state, btyd_accum_covariates, &fit_kind)
CRM_AGG_STATE_SFUNC(btyd_accum_discrete_state, btyd_accum_discrete, &fit_kind)
CRM_AGG_STATE_SFUNC(btyd_accum_summary_state, btyd_accum_summary, &fit_kind)
CRM_AGG_STATE_SFUNC(btyd_accum_summary_discrete_state, btyd_accum_summary_discrete, &fit_kind)
CRM_AGG_STATE_SFUNC(btyd_accum_summary_covariates_state, btyd_accum_summary_covariates, &fit_kind)
CRM_AGG_STATE_SFUNC(btyd_accum_spend_state, btyd_accum_spend, &fit_kind)
CRM_AGG_STATE_SFUNC(btyd_accum_summary_spend_state, btyd_accum_summary_spend, &fit_kind)
CRM_AGG_STATE_COMBINEFUNC(btyd_fit_combine_state, btyd_fit_combine, &fit_kind)
CRM_AGG_STATE_FINALFUNC(btyd_final_bgnbd_state, btyd_final_bgnbd, &fit_kind)
CRM_AGG_STATE_FINALFUNC(btyd_final_pareto_nbd_state, btyd_final_pareto_nbd, &fit_kind)
CRM_AGG_STATE_FINALFUNC(btyd_final_mbgnbd_state, btyd_final_mbgnbd, &fit_kind)
CRM_AGG_STATE_FINALFUNC(btyd_final_gamma_gamma_state, btyd_final_gamma_gamma, &fit_kind)
CRM_AGG_STATE_FINALFUNC(btyd_final_bgbb_state, btyd_final_bgbb, &fit_kind)
