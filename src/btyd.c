/*-------------------------------------------------------------------------
 *
 * btyd.c
 *	  SQL interface of the "buy till you die" models (btyd_kernel.c): the
 *	  crm.btyd_model type, the fit aggregates, and per-customer predictions.
 *
 * A fit aggregate's state is a hash table of distinct inputs, (x, t_x, T)
 * for the count models and (x, zbar) for Gamma-Gamma, each with the number
 * of customers (the summed weights) that share it.  A million customers
 * cost what their distinct triples cost, partial states from parallel
 * workers merge by adding weights, and the likelihood is evaluated once per
 * distinct triple.  The kind of model is chosen by the final function, so
 * every model shares one state, one set of transition functions and one
 * framework (the kernel's).
 *
 * crm.btyd_model is fixed-length (80 bytes): the kind, its parameters, and
 * what the fit said of itself (log-likelihood, customers, iterations,
 * convergence, penalty), plus the time unit in days when it was fitted on
 * summaries, so that predictions from summaries use the same unit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "btyd.h"
#include "btyd_kernel.h"

typedef struct BtydModelValue
{
	int32		kind;			/* BtydKind */
	int32		iterations;		/* 0 when not fitted */
	int32		converged;		/* 1, 0, or -1 when not fitted */
	int32		reserved;
	double		params[BTYD_MAX_PARAMS];	/* unused slots are 0 */
	double		loglik;			/* NaN when not fitted */
	double		customers;		/* 0 when not fitted */
	double		penalty;
	double		unit_days;		/* 0 when unknown */
} BtydModelValue;

StaticAssertDecl(sizeof(BtydModelValue) == 80, "crm.btyd_model is 80 bytes");

#define PG_GETARG_BTYD_MODEL(n) ((BtydModelValue *) PG_GETARG_POINTER(n))

static const struct
{
	BtydKind	kind;
	const char *name;			/* text form and SQL names */
}			model_names[] =
{
	{BTYD_BGNBD, "bgnbd"},
	{BTYD_PARETO_NBD, "pareto_nbd"},
	{BTYD_GAMMA_GAMMA, "gamma_gamma"},
	{BTYD_MBGNBD, "mbgnbd"},
};

static const char *
model_name(int kind)
{
	int			i;

	for (i = 0; i < lengthof(model_names); i++)
		if (model_names[i].kind == kind)
			return model_names[i].name;
	elog(ERROR, "unknown crm.btyd_model kind %d", kind);
	return NULL;
}

static bool
is_count_model(int kind)
{
	return kind == BTYD_BGNBD || kind == BTYD_PARETO_NBD || kind == BTYD_MBGNBD;
}

/* ---------------------------------------------------------------------
 * crm.btyd_model I/O
 *
 * Text: bgnbd(r=0.2426,alpha=4.414,a=0.7929,b=2.426), optionally followed
 * by fit(loglik=-9582.43,customers=2357,iterations=14,converged=true,
 * penalty=0,unit_days=7).  Numbers are written in their shortest exact
 * form, so text round trips are lossless.
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(btyd_model_out);
Datum
btyd_model_out(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = PG_GETARG_BTYD_MODEL(0);
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s(", model_name(m->kind));
	for (i = 0; i < btyd_nparams(m->kind); i++)
		appendStringInfo(&buf, "%s%s=%s", i > 0 ? "," : "",
						 btyd_param_name(m->kind, i), float8out_internal(m->params[i]));
	appendStringInfoChar(&buf, ')');
	if (m->converged >= 0)
		appendStringInfo(&buf, " fit(loglik=%s,customers=%s,iterations=%d,converged=%s,penalty=%s,unit_days=%s)",
						 float8out_internal(m->loglik), float8out_internal(m->customers),
						 m->iterations, m->converged ? "true" : "false",
						 float8out_internal(m->penalty), float8out_internal(m->unit_days));
	PG_RETURN_CSTRING(buf.data);
}

static void
model_syntax_error(const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.btyd_model: \"%s\"", str),
			 errdetail("%s", detail),
			 errhint("A model reads like bgnbd(r=0.243,alpha=4.414,a=0.793,b=2.426); the kinds are bgnbd, pareto_nbd, gamma_gamma and mbgnbd.")));
}

/* parse "name=<float8>" at *pp, the name given */
static bool
parse_named_number(const char **pp, const char *name, double *v)
{
	size_t		len = strlen(name);
	char	   *end;

	if (strncmp(*pp, name, len) != 0 || (*pp)[len] != '=')
		return false;
	*pp += len + 1;
	errno = 0;
	*v = strtod(*pp, &end);
	if (end == *pp || errno == ERANGE)
		return false;
	*pp = end;
	return true;
}

static void
check_params(const BtydModelValue *m)
{
	int			i;

	for (i = 0; i < btyd_nparams(m->kind); i++)
		if (!(m->params[i] > 0) || isinf(m->params[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter %s of a %s model must be a finite positive number",
							btyd_param_name(m->kind, i), model_name(m->kind))));
}

PG_FUNCTION_INFO_V1(btyd_model_in);
Datum
btyd_model_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	const char *p = str;
	BtydModelValue *m = palloc0(sizeof(BtydModelValue));
	int			i;

	while (*p == ' ')
		p++;
	m->kind = 0;
	for (i = 0; i < lengthof(model_names); i++)
	{
		size_t		len = strlen(model_names[i].name);

		if (strncmp(p, model_names[i].name, len) == 0 && p[len] == '(')
		{
			m->kind = model_names[i].kind;
			p += len + 1;
			break;
		}
	}
	if (m->kind == 0)
		model_syntax_error(str, "It starts with the kind of model and \"(\".");
	for (i = 0; i < btyd_nparams(m->kind); i++)
	{
		if (i > 0 && *p++ != ',')
			model_syntax_error(str, psprintf("A %s model has %d parameters, separated by commas.",
											 model_name(m->kind), btyd_nparams(m->kind)));
		if (!parse_named_number(&p, btyd_param_name(m->kind, i), &m->params[i]))
			model_syntax_error(str, psprintf("Expected %s=<number>.", btyd_param_name(m->kind, i)));
	}
	if (*p++ != ')')
		model_syntax_error(str, "The parameters end with \")\".");
	check_params(m);
	m->converged = -1;
	m->loglik = get_float8_nan();
	while (*p == ' ')
		p++;
	if (strncmp(p, "fit(", 4) == 0)
	{
		double		iterations;
		bool		conv;

		p += 4;
		if (!parse_named_number(&p, "loglik", &m->loglik) || *p++ != ',' ||
			!parse_named_number(&p, "customers", &m->customers) || *p++ != ',' ||
			!parse_named_number(&p, "iterations", &iterations) || *p++ != ',')
			model_syntax_error(str, "fit(...) reads loglik=, customers=, iterations=, converged=, penalty=, unit_days=.");
		if (strncmp(p, "converged=true", 14) == 0)
			conv = true, p += 14;
		else if (strncmp(p, "converged=false", 15) == 0)
			conv = false, p += 15;
		else
			model_syntax_error(str, "converged is true or false.");
		if (*p++ != ',' || !parse_named_number(&p, "penalty", &m->penalty) || *p++ != ',' ||
			!parse_named_number(&p, "unit_days", &m->unit_days) || *p++ != ')')
			model_syntax_error(str, "fit(...) reads loglik=, customers=, iterations=, converged=, penalty=, unit_days=.");
		m->converged = conv ? 1 : 0;
		m->iterations = (int32) iterations;
	}
	while (*p == ' ')
		p++;
	if (*p != '\0')
		model_syntax_error(str, "Unexpected text after the model.");
	PG_RETURN_POINTER(m);
}

PG_FUNCTION_INFO_V1(btyd_model_recv);
Datum
btyd_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	BtydModelValue *m = palloc0(sizeof(BtydModelValue));
	int			i;

	m->kind = pq_getmsgint(buf, 4);
	(void) model_name(m->kind);
	m->iterations = pq_getmsgint(buf, 4);
	m->converged = pq_getmsgint(buf, 4);
	for (i = 0; i < BTYD_MAX_PARAMS; i++)
		m->params[i] = pq_getmsgfloat8(buf);
	m->loglik = pq_getmsgfloat8(buf);
	m->customers = pq_getmsgfloat8(buf);
	m->penalty = pq_getmsgfloat8(buf);
	m->unit_days = pq_getmsgfloat8(buf);
	check_params(m);
	PG_RETURN_POINTER(m);
}

PG_FUNCTION_INFO_V1(btyd_model_send);
Datum
btyd_model_send(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = PG_GETARG_BTYD_MODEL(0);
	StringInfoData buf;
	int			i;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, m->kind);
	pq_sendint32(&buf, m->iterations);
	pq_sendint32(&buf, m->converged);
	for (i = 0; i < BTYD_MAX_PARAMS; i++)
		pq_sendfloat8(&buf, m->params[i]);
	pq_sendfloat8(&buf, m->loglik);
	pq_sendfloat8(&buf, m->customers);
	pq_sendfloat8(&buf, m->penalty);
	pq_sendfloat8(&buf, m->unit_days);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------
 * Accessors
 * ---------------------------------------------------------------------
 */

/* param(model, name): one parameter by name, e.g. param(m, 'alpha') */
PG_FUNCTION_INFO_V1(btyd_model_param);
Datum
btyd_model_param(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = PG_GETARG_BTYD_MODEL(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int			i;

	for (i = 0; i < btyd_nparams(m->kind); i++)
		if (strcmp(name, btyd_param_name(m->kind, i)) == 0)
			PG_RETURN_FLOAT8(m->params[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a %s model has no parameter \"%s\"", model_name(m->kind), name)));
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(btyd_model_kind);
Datum
btyd_model_kind(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(model_name(PG_GETARG_BTYD_MODEL(0)->kind)));
}

PG_FUNCTION_INFO_V1(btyd_model_loglik);
Datum
btyd_model_loglik(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = PG_GETARG_BTYD_MODEL(0);

	if (m->converged < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(m->loglik);
}

PG_FUNCTION_INFO_V1(btyd_model_customers);
Datum
btyd_model_customers(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = PG_GETARG_BTYD_MODEL(0);

	if (m->converged < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(m->customers);
}

PG_FUNCTION_INFO_V1(btyd_model_converged);
Datum
btyd_model_converged(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = PG_GETARG_BTYD_MODEL(0);

	if (m->converged < 0)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(m->converged == 1);
}

PG_FUNCTION_INFO_V1(btyd_model_iterations);
Datum
btyd_model_iterations(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = PG_GETARG_BTYD_MODEL(0);

	if (m->converged < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(m->iterations);
}

/* ---------------------------------------------------------------------
 * Fit aggregates: a hash table of distinct inputs with their weights
 * ---------------------------------------------------------------------
 */

typedef struct FitState
{
	int64		used;			/* distinct inputs */
	int64		size;			/* slots, a power of two */
	double		penalty;
	double		unit_days;		/* 0: inputs were raw triples */
	BtydRow    *slots;			/* weight 0 marks an empty slot */
} FitState;

static uint32
row_hash(const BtydRow *r)
{
	uint64		bits[3];

	memcpy(&bits[0], &r->x, 8);
	memcpy(&bits[1], &r->t_x, 8);
	memcpy(&bits[2], &r->T, 8);
	return hash_bytes((const unsigned char *) bits, sizeof(bits));
}

static FitState *
fit_state_create(MemoryContext cxt, int64 expected)
{
	FitState   *st = MemoryContextAllocZero(cxt, sizeof(FitState));

	st->size = 256;
	while (st->size < 2 * expected)
		st->size *= 2;
	st->slots = MemoryContextAllocHuge(cxt, st->size * sizeof(BtydRow));
	memset(st->slots, 0, st->size * sizeof(BtydRow));
	st->penalty = -1;			/* not set yet */
	st->unit_days = -1;
	return st;
}

static void fit_state_add(FitState *st, const BtydRow *row);

static void
fit_state_grow(FitState *st)
{
	BtydRow    *old = st->slots;
	int64		oldsize = st->size;
	int64		i;

	st->size *= 2;
	st->slots = MemoryContextAllocHuge(GetMemoryChunkContext(old), st->size * sizeof(BtydRow));
	memset(st->slots, 0, st->size * sizeof(BtydRow));
	st->used = 0;
	for (i = 0; i < oldsize; i++)
		if (old[i].weight > 0)
			fit_state_add(st, &old[i]);
	pfree(old);
}

static void
fit_state_add(FitState *st, const BtydRow *row)
{
	uint64		i;

	if (2 * (st->used + 1) > st->size)
		fit_state_grow(st);
	for (i = row_hash(row) & (st->size - 1);; i = (i + 1) & (st->size - 1))
	{
		BtydRow    *s = &st->slots[i];

		if (s->weight == 0)
		{
			*s = *row;
			st->used++;
			return;
		}
		if (s->x == row->x && s->t_x == row->t_x && s->T == row->T)
		{
			s->weight += row->weight;
			return;
		}
	}
}

/* the penalty and the unit must be the same on every row */
static void
fit_state_settings(FitState *st, double penalty, double unit_days)
{
	if (st->penalty < 0)
	{
		if (!(penalty >= 0) || isinf(penalty))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("penalty must be a finite number >= 0")));
		st->penalty = penalty;
		st->unit_days = unit_days;
	}
	else if (st->penalty != penalty || st->unit_days != unit_days)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("penalty and unit must be the same for every row of a fit")));
}

static FitState *
fit_state_arg(FunctionCallInfo fcinfo, MemoryContext *aggcxt)
{
	if (!AggCheckCallContext(fcinfo, aggcxt))
		elog(ERROR, "btyd fit function called in non-aggregate context");
	if (PG_ARGISNULL(0))
		return fit_state_create(*aggcxt, 0);
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

/*
 * fit_*(x integer, t_x float8, T float8 [, weight float8 [, penalty float8]])
 * Rows with a NULL x, t_x or T are skipped.
 */
PG_FUNCTION_INFO_V1(btyd_accum_triple);
Datum
btyd_accum_triple(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *st = fit_state_arg(fcinfo, &aggcxt);
	BtydRow		row;

	fit_state_settings(st, optional_float8(fcinfo, 5, 0, "penalty"), 0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(st);
	row.x = PG_GETARG_INT32(1);
	row.t_x = PG_GETARG_FLOAT8(2);
	row.T = PG_GETARG_FLOAT8(3);
	row.weight = optional_float8(fcinfo, 4, 1, "weight");
	check_triple(row.x, row.t_x, row.T);
	check_weight(row.weight);
	if (row.x == 0)
		row.t_x = 0;
	fit_state_add(st, &row);
	PG_RETURN_POINTER(st);
}

/*
 * fit_*(s summary, as_of date, unit interval [, penalty float8]): each
 * customer's triple as of the calibration end; customers who had not
 * purchased by then, or whose first purchase is on as_of (T = 0), are
 * skipped.
 */
PG_FUNCTION_INFO_V1(btyd_accum_summary);
Datum
btyd_accum_summary(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *st = fit_state_arg(fcinfo, &aggcxt);
	int32		as_of = crm_as_of_arg(fcinfo, 2);
	double		unit_days;
	BtydRow		row;
	SummaryTriple t;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("unit must not be NULL")));
	unit_days = crm_interval_days(PG_GETARG_DATUM(3), "unit");
	fit_state_settings(st, optional_float8(fcinfo, 4, 0, "penalty"), unit_days);
	if (PG_ARGISNULL(1) ||
		!crm_summary_triple(PG_GETARG_SUMMARY_P(1), as_of, unit_days, &t) ||
		t.T == 0)
		PG_RETURN_POINTER(st);
	row.x = t.x;
	row.t_x = t.t_x;
	row.T = t.T;
	row.weight = 1;
	if (row.x == 0)
		row.t_x = 0;
	fit_state_add(st, &row);
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
	MemoryContext aggcxt;
	FitState   *st = fit_state_arg(fcinfo, &aggcxt);
	BtydRow		row;

	fit_state_settings(st, optional_float8(fcinfo, 4, 0, "penalty"), 0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	row.x = PG_GETARG_INT32(1);
	row.t_x = PG_GETARG_FLOAT8(2);
	row.T = 0;
	row.weight = optional_float8(fcinfo, 3, 1, "weight");
	crm_check_finite(row.t_x, "mean_spend");
	check_weight(row.weight);
	if (row.x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("x must not be negative"),
				 errdetail("x is %g.", row.x)));
	if (row.x == 0)
		PG_RETURN_POINTER(st);
	if (!(row.t_x > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mean_spend must be positive when x > 0"),
				 errdetail("mean_spend is %g.", row.t_x),
				 errhint("Gamma-Gamma models positive spend; leave out customers whose repeat purchases net to zero or less.")));
	fit_state_add(st, &row);
	PG_RETURN_POINTER(st);
}

/* fit_gamma_gamma(s summary, as_of date [, penalty]) */
PG_FUNCTION_INFO_V1(btyd_accum_summary_spend);
Datum
btyd_accum_summary_spend(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *st = fit_state_arg(fcinfo, &aggcxt);
	int32		as_of = crm_as_of_arg(fcinfo, 2);
	BtydRow		row;
	SummaryTriple t;

	fit_state_settings(st, optional_float8(fcinfo, 3, 0, "penalty"), 0);
	if (PG_ARGISNULL(1) ||
		!crm_summary_triple(PG_GETARG_SUMMARY_P(1), as_of, 1.0, &t) ||
		t.x == 0 || !(t.zbar > 0))
		PG_RETURN_POINTER(st);
	row.x = t.x;
	row.t_x = t.zbar;
	row.T = 0;
	row.weight = 1;
	fit_state_add(st, &row);
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
		a = fit_state_create(aggcxt, b->used);
	if (b->penalty >= 0)
		fit_state_settings(a, b->penalty, b->unit_days);
	for (i = 0; i < b->size; i++)
		if (b->slots[i].weight > 0)
			fit_state_add(a, &b->slots[i]);
	PG_RETURN_POINTER(a);
}

/* serialized: used, penalty, unit_days, then the used rows */
PG_FUNCTION_INFO_V1(btyd_fit_serialize);
Datum
btyd_fit_serialize(PG_FUNCTION_ARGS)
{
	FitState   *st = (FitState *) PG_GETARG_POINTER(0);
	Size		len = 24 + st->used * sizeof(BtydRow);
	bytea	   *b = palloc(VARHDRSZ + len);
	char	   *p = VARDATA(b);
	int64		i;

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(p, &st->used, 8);
	memcpy(p + 8, &st->penalty, 8);
	memcpy(p + 16, &st->unit_days, 8);
	p += 24;
	for (i = 0; i < st->size; i++)
		if (st->slots[i].weight > 0)
		{
			memcpy(p, &st->slots[i], sizeof(BtydRow));
			p += sizeof(BtydRow);
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
	FitState   *st;

	memcpy(&n, p, 8);
	if (n < 0 || VARSIZE_ANY_EXHDR(b) != 24 + n * sizeof(BtydRow))
		elog(ERROR, "invalid serialized btyd fit state");
	st = fit_state_create(CurrentMemoryContext, n);
	memcpy(&st->penalty, p + 8, 8);
	memcpy(&st->unit_days, p + 16, 8);
	p += 24;
	for (i = 0; i < n; i++)
	{
		BtydRow		row;

		memcpy(&row, p + i * sizeof(BtydRow), sizeof(BtydRow));
		fit_state_add(st, &row);
	}
	PG_RETURN_POINTER(st);
}

/*
 * Fit a model of the given kind to the state.  NULL when there is no row;
 * an ERROR when the data cannot identify the model; a WARNING, and a model
 * flagged converged = false, when the optimizer stopped early.
 */
static Datum
btyd_fit_final(FunctionCallInfo fcinfo, BtydKind kind)
{
	FitState   *st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	BtydRow    *rows;
	BtydFit		fit;
	BtydModelValue *m;
	int64		i,
				n = 0;
	int			status;

	if (st == NULL || st->used == 0)
		PG_RETURN_NULL();
	rows = palloc_extended(st->used * sizeof(BtydRow), MCXT_ALLOC_HUGE);
	for (i = 0; i < st->size; i++)
		if (st->slots[i].weight > 0)
			rows[n++] = st->slots[i];
	/* a fixed row order makes the sums, and so the fit, independent of plan */
	n = btyd_group_rows(rows, n);
	status = btyd_fit(kind, rows, n, Max(st->penalty, 0), &fit);
	if (status != BTYD_OK && status != BTYD_ERR_NOT_CONVERGED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit a %s model: %s", model_name(kind), btyd_status_message(status)),
				 status == BTYD_ERR_NO_REPEAT_PURCHASES ?
				 errhint("With no repeat purchase in the calibration period the dropout process cannot be estimated; use a longer period.") : 0));
	if (status == BTYD_ERR_NOT_CONVERGED)
		ereport(WARNING,
				(errmsg("the %s fit did not converge after %d iterations", model_name(kind), fit.iterations),
				 errdetail("The model is returned with converged = false; its parameters are the best found."),
				 errhint("A maximum on the boundary of the parameter space often causes this; a small penalty (for example 0.001) helps.")));
	m = palloc0(sizeof(BtydModelValue));
	m->kind = kind;
	for (i = 0; i < fit.nparams; i++)
		m->params[i] = fit.params[i];
	m->loglik = fit.loglik;
	m->customers = fit.n_customers;
	m->iterations = fit.iterations;
	m->converged = fit.converged ? 1 : 0;
	m->penalty = Max(st->penalty, 0);
	m->unit_days = Max(st->unit_days, 0);
	PG_RETURN_POINTER(m);
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

/* ---------------------------------------------------------------------
 * Predictions
 * ---------------------------------------------------------------------
 */

static BtydModelValue *
count_model_arg(FunctionCallInfo fcinfo, int argno)
{
	BtydModelValue *m = PG_GETARG_BTYD_MODEL(argno);

	if (!is_count_model(m->kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s model does not predict purchases", model_name(m->kind)),
				 errhint("Use a bgnbd, pareto_nbd or mbgnbd model.")));
	return m;
}

/* the triple of prediction arguments (x, t_x, T) at argno */
static void
triple_args(FunctionCallInfo fcinfo, int argno, double *x, double *t_x, double *T)
{
	*x = PG_GETARG_INT32(argno);
	*t_x = PG_GETARG_FLOAT8(argno + 1);
	*T = PG_GETARG_FLOAT8(argno + 2);
	crm_check_finite(*t_x, "t_x");
	crm_check_finite(*T, "T");
	if (*x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("x must not be negative")));
	if (*T < 0 || *t_x < 0 || *t_x > *T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("t_x and T must satisfy 0 <= t_x <= T"),
				 errdetail("t_x is %g and T is %g.", *t_x, *T)));
	if (*x == 0)
		*t_x = 0;
}

/*
 * The triple of a summary for a model fitted on summaries (its unit); false
 * if the customer had not purchased by as_of.
 */
static bool
summary_args(FunctionCallInfo fcinfo, BtydModelValue *m, int argno,
			 SummaryTriple *triple)
{
	Summary    *s = PG_GETARG_SUMMARY_P(argno);
	int32		as_of = crm_as_of_arg(fcinfo, argno + 1);
	double		unit = m->kind == BTYD_GAMMA_GAMMA ? 1.0 : m->unit_days;

	if (!(unit > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model was not fitted on summaries, so its time unit is unknown"),
				 errhint("Pass the customer's x, t_x and T in the model's unit instead.")));
	return crm_summary_triple(s, as_of, unit, triple);
}

static double
horizon_arg(FunctionCallInfo fcinfo, int argno)
{
	double		t = PG_GETARG_FLOAT8(argno);

	crm_check_finite(t, "t");
	if (t < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("t must not be negative")));
	return t;
}

/* p_alive(model, x, t_x, T) */
PG_FUNCTION_INFO_V1(p_alive);
Datum
p_alive(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = count_model_arg(fcinfo, 0);
	double		x,
				t_x,
				T;

	triple_args(fcinfo, 1, &x, &t_x, &T);
	PG_RETURN_FLOAT8(btyd_p_alive(m->kind, m->params, x, t_x, T));
}

/* p_alive(model, s, as_of) */
PG_FUNCTION_INFO_V1(p_alive_summary);
Datum
p_alive_summary(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = count_model_arg(fcinfo, 0);
	SummaryTriple t;

	if (!summary_args(fcinfo, m, 1, &t))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(btyd_p_alive(m->kind, m->params, t.x, t.t_x, t.T));
}

/* expected_purchases(model, t, x, t_x, T) */
PG_FUNCTION_INFO_V1(expected_purchases);
Datum
expected_purchases(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = count_model_arg(fcinfo, 0);
	double		t = horizon_arg(fcinfo, 1);
	double		x,
				t_x,
				T;

	triple_args(fcinfo, 2, &x, &t_x, &T);
	PG_RETURN_FLOAT8(btyd_expected_purchases(m->kind, m->params, t, x, t_x, T));
}

/* expected_purchases(model, t, s, as_of) */
PG_FUNCTION_INFO_V1(expected_purchases_summary);
Datum
expected_purchases_summary(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = count_model_arg(fcinfo, 0);
	double		horizon = horizon_arg(fcinfo, 1);
	SummaryTriple t;

	if (!summary_args(fcinfo, m, 2, &t))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(btyd_expected_purchases(m->kind, m->params, horizon, t.x, t.t_x, t.T));
}

/* expected_purchases_new(model, t): E[X(t)] of a newly acquired customer */
PG_FUNCTION_INFO_V1(expected_purchases_new);
Datum
expected_purchases_new(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = count_model_arg(fcinfo, 0);

	PG_RETURN_FLOAT8(btyd_expected_purchases_new(m->kind, m->params, horizon_arg(fcinfo, 1)));
}

static BtydModelValue *
spend_model_arg(FunctionCallInfo fcinfo, int argno)
{
	BtydModelValue *m = PG_GETARG_BTYD_MODEL(argno);

	if (m->kind != BTYD_GAMMA_GAMMA)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s model does not predict spend", model_name(m->kind)),
				 errhint("Use a gamma_gamma model.")));
	return m;
}

/* expected_spend(model, x, mean_spend) */
PG_FUNCTION_INFO_V1(expected_spend);
Datum
expected_spend(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = spend_model_arg(fcinfo, 0);
	int32		x = PG_GETARG_INT32(1);
	double		zbar = PG_GETARG_FLOAT8(2);

	crm_check_finite(zbar, "mean_spend");
	if (x < 0 || zbar < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("x and mean_spend must not be negative")));
	PG_RETURN_FLOAT8(btyd_gg_expected_spend(m->params, x, zbar));
}

/* expected_spend(model, s, as_of) */
PG_FUNCTION_INFO_V1(expected_spend_summary);
Datum
expected_spend_summary(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = spend_model_arg(fcinfo, 0);
	SummaryTriple t;

	if (!summary_args(fcinfo, m, 1, &t))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(btyd_gg_expected_spend(m->params, t.x, Max(t.zbar, 0)));
}

/*
 * expected_clv(model, spend_model, s, as_of, periods, discount_rate): the
 * expected spend of the next "periods" model time units, each unit's
 * expected purchases times the expected spend per purchase, discounted at
 * discount_rate per unit:
 *
 *		sum_{k=1..periods} (E[X(T, T+k)] - E[X(T, T+k-1)]) E[M] / (1 + d)^k
 *
 * This is revenue; multiply by a margin for profit.  NULL if the customer
 * had not purchased by as_of.
 */
PG_FUNCTION_INFO_V1(expected_clv);
Datum
expected_clv(PG_FUNCTION_ARGS)
{
	BtydModelValue *m = count_model_arg(fcinfo, 0);
	BtydModelValue *gg = spend_model_arg(fcinfo, 1);
	int32		periods = PG_GETARG_INT32(4);
	double		rate = PG_GETARG_FLOAT8(5);
	SummaryTriple t;
	double		spend,
				prev = 0,
				value = 0,
				discount = 1;
	int			k;

	crm_check_finite(rate, "discount_rate");
	if (rate < 0 || periods < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("periods and discount_rate must not be negative")));
	if (!summary_args(fcinfo, m, 2, &t))
		PG_RETURN_NULL();
	spend = btyd_gg_expected_spend(gg->params, t.x, Max(t.zbar, 0));
	for (k = 1; k <= periods; k++)
	{
		double		cum = btyd_expected_purchases(m->kind, m->params, k, t.x, t.t_x, t.T);

		discount *= 1 + rate;
		value += (cum - prev) * spend / discount;
		prev = cum;
	}
	PG_RETURN_FLOAT8(value);
}

/* ---------------------------------------------------------------------
 * For the stage inference (stage.c)
 * ---------------------------------------------------------------------
 */

/*
 * What a count model fitted on summaries says of a customer as of a day:
 * P(alive), and P(at least one purchase in the next horizon_days) (NaN
 * when the model does not give it).  False when the model cannot tell: a
 * spend model or one fitted on raw triples (no time unit), no purchase by
 * as_of, or a BG/NBD one-time buyer, whose P(alive) is 1 by construction
 * (the model carries no evidence of dropout for them).
 */
bool
crm_btyd_outlook(Datum model, const SummaryView *v, int32 as_of, double horizon_days,
				 double *p_alive, double *p_buy)
{
	BtydModelValue *m = (BtydModelValue *) DatumGetPointer(model);
	SummaryTriple t;

	*p_alive = *p_buy = get_float8_nan();
	if (!is_count_model(m->kind) || !(m->unit_days > 0) ||
		!crm_view_triple(v, as_of, m->unit_days, &t) ||
		(m->kind == BTYD_BGNBD && t.x == 0))
		return false;
	*p_alive = btyd_p_alive(m->kind, m->params, t.x, t.t_x, t.T);
	(void) horizon_days;
	return !isnan(*p_alive);
}
