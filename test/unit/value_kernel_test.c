/*
 * value_kernel_test.c
 *	  Unit tests of src/value_kernel.c against sums written out term by
 *	  term (long double loops), without a server.  TAP output.
 */
#include "value_kernel.h"
#include "tap.h"

/* the textbook sum, term by term */
static double
clv_naive(double m, double r, double i, long T, double ac)
{
	long double sum = 0,
				surv = 1,
				disc = 1;
	long		t;

	for (t = 0; t <= T; t++)
	{
		sum += (long double) m * surv / disc;
		surv *= r;
		disc *= 1 + (long double) i;
	}
	return (double) (sum - ac);
}

int
main(void)
{
	double		price[4] = {150, 150, 150, 150};
	double		cost[4] = {50, 50, 50, 50};
	double		surv[4] = {1, 0.8, 0.64, 0.512};
	double		rs[] = {0, 0.3, 0.8, 0.999999, 1};
	double		is[] = {0, 0.05, 0.1, 1e-9};
	long		Ts[] = {0, 1, 3, 60, 2000};
	int			all = 1;
	size_t		a,
				b,
				c;

	/* 100 + 72.727273 + 52.892562 + 38.467318 - 50 */
	ok(close_to(value_clv(100, 0.8, 0.1, 3, 50), 214.0871525, 1e-9),
	   "clv(100, 0.8, 10%, T=3, AC=50) = 214.0871525");
	ok(value_clv(100, 0.8, 0.1, 0, 50) == 50, "T = 0: margin - AC");
	ok(value_clv(100, 0, 0.1, 5, 0) == 100, "retention 0: period 0 only");
	ok(close_to(value_clv(100, 1, 0, 3, 0), 400, 1e-12), "retention 1, no discount: margin * (T + 1)");
	for (a = 0; a < sizeof(rs) / sizeof(rs[0]); a++)
		for (b = 0; b < sizeof(is) / sizeof(is[0]); b++)
			for (c = 0; c < sizeof(Ts) / sizeof(Ts[0]); c++)
				if (!close_to(value_clv(37.5, rs[a], is[b], Ts[c], 3),
							  clv_naive(37.5, rs[a], is[b], Ts[c], 3), 1e-9))
					all = 0;
	ok(all, "closed form equals the term-by-term sum to 1e-9 over 100 cases, q near 1 included");
	ok(close_to(value_clv_series(price, cost, surv, 4, 0.1, 50), 214.0871525, 1e-9),
	   "the per-period form equals the constant form when survival = r^t");
	ok(close_to(value_current(100, 3, 0.1), 248.6851991, 1e-9),
	   "current value: 100/1.1 + 100/1.21 + 100/1.331");
	ok(value_current(100, 0, 0.1) == 0 && close_to(value_current(100, 4, 0), 400, 1e-12),
	   "current value: no periods is 0; undiscounted is profit * periods");
	ok(close_to(value_potential(100, 0.8, 0.1, 3, 0.2, 0.1),
				clv_naive(120, 0.9, 0.1, 3, 0) - clv_naive(100, 0.8, 0.1, 3, 0), 1e-9),
	   "potential value: uplifted clv minus clv");
	ok(close_to(value_potential(100, 0.95, 0, 2, 0, 0.1), 300 - clv_naive(100, 0.95, 0, 2, 0), 1e-12),
	   "potential value: retention capped at 1");
	return tap_done();
}
