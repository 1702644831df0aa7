/*-------------------------------------------------------------------------
 *
 * value_kernel.c
 *	  The textbook customer-value formulas of the CRM texts, as pure
 *	  functions (no PostgreSQL headers; unit-tested on their own).
 *
 * Customer lifetime value (the texts' 客户终身价值; e.g. Kumar & Reinartz,
 * "Customer Relationship Management", ch. 5):
 *
 *		CLV = sum_{t=0..T} (p_t - c_t) * r_t / (1 + i)^t  -  AC
 *
 * with price p_t and direct cost c_t in period t, r_t the probability that
 * the customer is still a customer in period t (cumulative survival, r_0 =
 * 1 for a customer we have), discount rate i per period, horizon T periods
 * after the current one, and acquisition cost AC.  With a constant margin m
 * and a constant retention rate r, r_t = r^t and the sum is geometric:
 *
 *		CLV = m * sum_{t=0..T} q^t - AC,	q = r / (1 + i)
 *			= m * (1 - q^(T+1)) / (1 - q) - AC		(q != 1)
 *
 * evaluated as expm1((T+1) ln q) / expm1(ln q), which stays accurate when q
 * is close to 1 and gives 1 for q = 0 (retention 0: only period 0 counts).
 *
 * Current value (当前价值): the last period's profit continued for n more
 * periods, discounted: sum_{t=1..n} profit / (1 + d)^t.
 *
 * Potential value (潜在价值): this project's definition, since the texts
 * describe it only as the value a customer would add if the relationship
 * developed: the CLV with an uplifted margin m (1 + u_m) and retention
 * min(1, r + u_r), minus the CLV as things are.  Acquisition cost is sunk
 * and cancels.
 *
 *-------------------------------------------------------------------------
 */
#include "value_kernel.h"

#include <math.h>

/*
 * sum_{t=0..periods-1} ratio^t, for ratio >= 0.
 */
static double
value_discounted_sum(double ratio, long periods)
{
	double		lq;

	if (periods <= 0)
		return 0.0;
	if (ratio == 1.0)
		return (double) periods;
	lq = log(ratio);
	return expm1((double) periods * lq) / expm1(lq);
}

double
value_clv(double margin, double retention, double discount_rate,
		  long horizon, double acquisition_cost)
{
	double		q = retention / (1.0 + discount_rate);

	return margin * value_discounted_sum(q, horizon + 1) - acquisition_cost;
}

/*
 * The general form: per-period price, cost and cumulative survival for
 * t = 0..n-1.
 */
double
value_clv_series(const double *price, const double *cost,
				 const double *survival, int n,
				 double discount_rate, double acquisition_cost)
{
	double		sum = 0.0;
	double		discount = 1.0;
	int			t;

	for (t = 0; t < n; t++)
	{
		sum += (price[t] - cost[t]) * survival[t] / discount;
		discount *= 1.0 + discount_rate;
	}
	return sum - acquisition_cost;
}

double
value_current(double profit, long periods, double discount_rate)
{
	double		v = 1.0 / (1.0 + discount_rate);

	/* sum_{t=1..n} v^t = v * sum_{t=0..n-1} v^t */
	return profit * v * value_discounted_sum(v, periods);
}

double
value_potential(double margin, double retention, double discount_rate,
				long horizon, double margin_uplift, double retention_uplift)
{
	double		r = retention + retention_uplift;

	if (r > 1.0)
		r = 1.0;
	return value_clv(margin * (1.0 + margin_uplift), r, discount_rate, horizon, 0.0) -
		value_clv(margin, retention, discount_rate, horizon, 0.0);
}
