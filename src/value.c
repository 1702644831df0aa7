/*-------------------------------------------------------------------------
 *
 * value.c
 *	  SQL interface of the textbook value formulas (value_kernel.c):
 *	  clv, current_value, potential_value, profitability, should_abandon.
 *
 * Every function is strict (NULL in, NULL out) and checks its arguments
 * here, raising 22023 invalid_parameter_value with the argument's name:
 * money must be finite, rates non-negative, retention within [0, 1],
 * horizons and periods non-negative.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "crm.h"
#include "value_kernel.h"

static double
finite_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	return crm_check_finite(PG_GETARG_FLOAT8(argno), argname);
}

static void
check_rate(double v, const char *argname)
{
	if (v < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname),
				 errdetail("%s is %g.", argname, v)));
}

static void
check_probability(double v, const char *argname)
{
	if (v < 0.0 || v > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1", argname),
				 errdetail("%s is %g.", argname, v)));
}

static long
periods_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	int32		v = PG_GETARG_INT32(argno);

	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname),
				 errdetail("%s is %d.", argname, v)));
	return v;
}

/*
 * clv(margin, retention, discount_rate, horizon, acquisition_cost)
 */
PG_FUNCTION_INFO_V1(clv);
Datum
clv(PG_FUNCTION_ARGS)
{
	double		margin = finite_arg(fcinfo, 0, "margin");
	double		retention = finite_arg(fcinfo, 1, "retention");
	double		rate = finite_arg(fcinfo, 2, "discount_rate");
	long		horizon = periods_arg(fcinfo, 3, "horizon");
	double		ac = finite_arg(fcinfo, 4, "acquisition_cost");

	check_probability(retention, "retention");
	check_rate(rate, "discount_rate");
	PG_RETURN_FLOAT8(value_clv(margin, retention, rate, horizon, ac));
}

/*
 * Unpack a float8[] argument: one dimension, no NULLs.
 */
static double *
float8_array_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
				 int *n)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);
	Datum	   *elems;
	bool	   *nulls;
	double	   *result;
	int			i;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", argname)));
	deconstruct_array(a, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, n);
	result = palloc(Max(*n, 1) * sizeof(double));
	for (i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain NULLs", argname),
					 errdetail("Element %d is NULL.", i + 1)));
		result[i] = DatumGetFloat8(elems[i]);
		if (isnan(result[i]) || isinf(result[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must contain finite numbers", argname),
					 errdetail("Element %d is %g.", i + 1, result[i])));
	}
	return result;
}

/*
 * clv(price[], cost[], survival[], discount_rate, acquisition_cost): the
 * general form, element t (from 0) being period t.  survival[t] is the
 * cumulative probability that the customer is still there in period t, so
 * it lies in [0, 1] and never increases.
 */
PG_FUNCTION_INFO_V1(clv_series);
Datum
clv_series(PG_FUNCTION_ARGS)
{
	int			np,
				nc,
				nr,
				t;
	double	   *price = float8_array_arg(fcinfo, 0, "price", &np);
	double	   *cost = float8_array_arg(fcinfo, 1, "cost", &nc);
	double	   *survival = float8_array_arg(fcinfo, 2, "survival", &nr);
	double		rate = finite_arg(fcinfo, 3, "discount_rate");
	double		ac = finite_arg(fcinfo, 4, "acquisition_cost");

	if (np != nc || np != nr)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("price, cost and survival must have the same length"),
				 errdetail("They have %d, %d and %d elements.", np, nc, nr)));
	for (t = 0; t < nr; t++)
	{
		check_probability(survival[t], "survival");
		if (t > 0 && survival[t] > survival[t - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("survival must not increase"),
					 errdetail("survival[%d] = %g follows survival[%d] = %g.",
							   t + 1, survival[t], t, survival[t - 1]),
					 errhint("survival[t] is the cumulative probability of keeping the customer until period t, e.g. retention^t.")));
	}
	check_rate(rate, "discount_rate");
	PG_RETURN_FLOAT8(value_clv_series(price, cost, survival, np, rate, ac));
}

/* current_value(profit, periods, discount_rate) */
PG_FUNCTION_INFO_V1(current_value);
Datum
current_value(PG_FUNCTION_ARGS)
{
	double		profit = finite_arg(fcinfo, 0, "profit");
	long		periods = periods_arg(fcinfo, 1, "periods");
	double		rate = finite_arg(fcinfo, 2, "discount_rate");

	check_rate(rate, "discount_rate");
	PG_RETURN_FLOAT8(value_current(profit, periods, rate));
}

/*
 * potential_value(margin, retention, discount_rate, horizon, margin_uplift,
 * retention_uplift)
 */
PG_FUNCTION_INFO_V1(potential_value);
Datum
potential_value(PG_FUNCTION_ARGS)
{
	double		margin = finite_arg(fcinfo, 0, "margin");
	double		retention = finite_arg(fcinfo, 1, "retention");
	double		rate = finite_arg(fcinfo, 2, "discount_rate");
	long		horizon = periods_arg(fcinfo, 3, "horizon");
	double		mu = finite_arg(fcinfo, 4, "margin_uplift");
	double		ru = finite_arg(fcinfo, 5, "retention_uplift");

	check_probability(retention, "retention");
	check_rate(rate, "discount_rate");
	if (retention + ru < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention_uplift must not take retention below 0"),
				 errdetail("retention + retention_uplift is %g.", retention + ru)));
	PG_RETURN_FLOAT8(value_potential(margin, retention, rate, horizon, mu, ru));
}

/*
 * profitability(revenue, discounts, cost_of_goods, order_cost,
 * marketing_cost, technical_cost, admin_cost) -> (gross_margin,
 * cost_to_serve, profit, profitable)
 *
 * gross margin = revenue - discounts and allowances - cost of goods;
 * cost to serve = order + marketing + technical + administrative costs;
 * profit = gross margin - cost to serve; profitable = profit > 0.
 */
PG_FUNCTION_INFO_V1(profitability);
Datum
profitability(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"revenue", "discounts", "cost_of_goods",
	"order_cost", "marketing_cost", "technical_cost", "admin_cost"};
	double		v[7];
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	double		gross,
				serve;
	int			i;

	for (i = 0; i < 7; i++)
		v[i] = finite_arg(fcinfo, i, names[i]);
	gross = v[0] - v[1] - v[2];
	serve = v[3] + v[4] + v[5] + v[6];
	values[0] = Float8GetDatum(gross);
	values[1] = Float8GetDatum(serve);
	values[2] = Float8GetDatum(gross - serve);
	values[3] = BoolGetDatum(gross - serve > 0.0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(CRM_RESULT_TUPDESC(fcinfo),
												   values, nulls)));
}

/*
 * should_abandon(redevelopment_cost, long_term_value): the life-cycle
 * texts' rule for a declining customer: let go when winning the customer
 * back costs more than the customer's long-term value, else redevelop.
 */
PG_FUNCTION_INFO_V1(should_abandon);
Datum
should_abandon(PG_FUNCTION_ARGS)
{
	double		cost = finite_arg(fcinfo, 0, "redevelopment_cost");
	double		value = finite_arg(fcinfo, 1, "long_term_value");

	PG_RETURN_BOOL(cost > value);
}
