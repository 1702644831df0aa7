/*-------------------------------------------------------------------------
 *
 * btyd_kernel.c
 *	  "Buy till you die" (BTYD) customer-base models in pure C99:
 *	  likelihoods with analytic gradients, a maximum-likelihood optimizer,
 *	  and per-customer predictions.
 *
 * 1. THE DATA
 *
 * In a non-contractual setting (a shop, not a subscription) we never see a
 * customer leave; we only see purchases.  Each customer is summarized by
 * (x, t_x, T): x repeat purchases (purchases after the first), the last of
 * them at time t_x, observed for a time T since the first purchase
 * ("frequency", "recency", "age").  Customers with the same triple are
 * interchangeable, hence BtydRow.weight.  The models below are fitted by
 * maximizing sum_i weight_i * ln L(params | x_i, t_x_i, T_i).
 *
 * 2. THE MODELS
 *
 * Purchases.  While alive a customer buys as a Poisson process of rate
 * lambda; lambda ~ Gamma(shape r, rate alpha) across customers.  Summed
 * over the customers alive all the time, counts are negative binomial (NBD).
 *
 * BG/NBD (Fader, Hardie & Lee 2005a, "Counting Your Customers the Easy
 * Way", Marketing Science 24(2) 275-284; "FHL").  After each purchase the
 * customer drops out with probability p; p ~ Beta(a, b).  The likelihood
 * of (x, t_x, T), FHL eq. (6), is
 *
 *	L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
 *	  + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))
 *
 * which we evaluate in logs as ln L = A1 + A2 + A3 + ln(1 + exp(D)) with
 *	A1 = ln G(r+x) - ln G(r) + r ln alpha
 *	A2 = ln G(a+b) + ln G(b+x) - ln G(b) - ln G(a+b+x)
 *	A3 = -(r+x) ln(alpha+T)
 *	D  = ln a - ln(b+x-1) + (r+x) ln((alpha+T)/(alpha+t_x))	  (x > 0 only)
 * D is the log-odds of "dropped out after the last purchase" against
 * "alive at T", so P(alive | x, t_x, T) = 1 / (1 + exp(D)) (Fader, Hardie
 * & Lee 2008, "Computing P(alive) Using the BG/NBD Model", brucehardie.com
 * note 021), exactly 1 when x = 0.  The expected number
 * of purchases of a new customer in (0, t] is FHL eq. (9),
 *	E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]
 * and the conditional expectation for (T, T+t] is FHL eq. (10),
 *	E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1)
 *		* [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
 *		* P(alive | x, t_x, T).
 * Eq. (9) is eq. (10) at x = t_x = T = 0, which is how we compute it.
 *
 * MBG/NBD (Batislam, Denizel & Filiztekin 2007, "Empirical validation and
 * comparison of models for customer base analysis", IJRM 24(3) 201-209).
 * As BG/NBD, but the customer may also drop out right at time 0, after the
 * first purchase.  Every formula above holds with b+x -> b+x+1 in the beta
 * functions, b+x-1 -> b+x in D, the dropout term present also for x = 0,
 * and (a+b+x-1) -> (a+b+x) in eq. (10).  We write delta = 0 for BG/NBD and
 * delta = 1 for MBG/NBD and implement both with one set of functions.
 *
 * Pareto/NBD (Schmittlein, Morrison & Colombo 1987, "Counting Your
 * Customers: Who Are They and What Will They Do Next?", Management Science
 * 33(1) 1-24; formulas as in Fader & Hardie 2005b, "A Note on Deriving the
 * Pareto/NBD Model and Related Expressions", "FH note").  The lifetime is
 * exponential with rate mu; mu ~ Gamma(shape s, rate beta).  The
 * likelihood (FH note section 3, the expression with A_0 in 2F1 and its
 * two cases alpha >= beta, alpha <= beta; SMC 1987 give no likelihood) is,
 * with m = r+x,
 *
 *	L = G(r+x) alpha^r beta^s / G(r)
 *		* [ (alpha+T)^-m (beta+T)^-s  +  s I ],
 *	I = integral_{t_x}^{T} (alpha+tau)^-m (beta+tau)^-(s+1) dtau.
 *
 * The first bracket term is "alive at T", the second "died at tau in
 * (t_x, T]".  The FH note writes s I = s/(r+s+x) A_0 with A_0 a difference of
 * two 2F1(r+s+x, s+1 or r+x; r+s+x+1; .) terms, chosen by alpha >= beta or
 * alpha < beta so that the argument lies in [0, 1).  We use the same
 * object in a better-conditioned form.  With G(t) = integral_t^inf, so
 * I = G(t_x) - G(T), u = alpha+t, v = beta+t, n = s+1, and u >= v,
 *
 *	G(t) = u^-m v^(1-n) 2F1(1, m; m+n; z) / (m+n-1),  z = (u-v)/u in [0,1),
 *
 * which is the FH note's 2F1(r+s+x, s+1; r+s+x+1; z) after Euler's
 * transformation 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z)
 * (Abramowitz & Stegun 15.3.3).  For u < v swap (m,u) with (n,v).  The
 * series sum_k (m)_k/(m+n)_k z^k has positive terms that shrink by at
 * least the factor z, never overflows (it is at most 1/(1-z)), and its
 * derivatives in m, n and z are summed term by term in the same loop,
 * which gives the exact gradient.  alpha == beta is simply z = 0.  When
 * z > 0.75 (one of alpha+t, beta+t over 4 times the other; the series
 * would need ~40/(1-z) terms) we switch to Gauss's continued fraction for
 * the same function, whose error falls like ((1-sqrt(1-z))/(1+sqrt(1-z)))^j
 * (f1_contfrac); both agree to ~1e-12 where both apply.
 *
 * P(alive) is the "alive" share of the bracket (FH note section 5):
 *	P(alive) = 1 / (1 + s I (alpha+T)^m (beta+T)^s).
 * E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] (FH note
 * section 4) and the conditional expectation (FH note section 6) is
 *	E[Y(t) | x, t_x, T] = (r+x)(beta+T) / ((alpha+T)(s-1))
 *		* [1 - ((beta+T)/(beta+T+t))^(s-1)] * P(alive).
 * At s = 1 the ratio [1 - y^(s-1)]/(s-1) is -ln y; we evaluate it as
 * -expm1((s-1) ln y)/(s-1) so that it is continuous there.
 *
 * Gamma-Gamma (Fader, Hardie & Lee 2005c, "RFM and CLV: Using Iso-value
 * Curves for Customer Base Analysis", JMR 42(4) 415-430, the spend
 * sub-model; written up in Fader & Hardie 2013, "The Gamma-Gamma Model of
 * Monetary Value", brucehardie.com note 025).  Each purchase value
 * z_j ~ Gamma(p, nu), nu ~ Gamma(q, v).  The mean zbar of x purchases has
 * the density (note 025, the marginal of zbar; FHL 2005c appendix)
 *	f(zbar | x) = G(px+q) / (G(px) G(q)) v^q zbar^(px-1) x^(px)
 *				  / (v + x zbar)^(px+q)
 * and E[M | x, zbar] = (p (v + x zbar)) / (p x + q - 1) (note 025 eq. (5)),
 * a weighted mean of the population mean p v / (q-1) and zbar:
 *	(q-1)/(px+q-1) * p v/(q-1) + p x/(px+q-1) * zbar.
 * The likelihood is fitted over the customers with x > 0 only.
 *
 * 3. NUMERICS
 *
 * Every likelihood is evaluated in logs.  ln G(y+x) - ln G(y) and
 * psi(y+x) - psi(y) for integer x come from per-evaluation tables of
 * cumulative sums of ln(y+j) and 1/(y+j) (x below XTAB), so a row costs a
 * few logarithms; larger x falls back to lgamma() and our digamma().  The
 * BG/NBD beta part A2 is sum_j -log1p(a/(b+j)), accurate even for b >> a.
 * Log-sum-exp uses log1p(exp(.)).  The conditional expectation of BG/NBD
 * uses Euler's transformation, which turns 2F1(r+x, b+x; a+b+x-1; z) into
 * (1-z)^(a-1-r-x) 2F1(a+b-1-r, a-1; a+b+x-1; z): the upper parameters no
 * longer grow with x (no overflow for x in the thousands), and since the
 * second is a-1 we sum (2F1 - 1)/(a-1) directly, so that a -> 1 (where
 * eq. (10) is 0/0) is continuous.  See btyd_hyp2f1() for the general 2F1.
 *
 * 4. OPTIMIZER
 *
 * We minimize f(theta) = -LL(exp(theta)) / N + lambda sum exp(2 theta_i)
 * over theta = ln(params), N the total weight: positivity is automatic.
 * The penalty is lifetimes' penalizer_coef exactly (its fitters return
 * -(weights * ll).sum() / weights.sum() + penalizer_coef * sum(params**2)).
 * Reported loglik is the total weighted LL without the penalty.
 *
 * Method: BFGS on the inverse Hessian, started from the inverse of the
 * BHHH matrix (sum of outer products of per-customer scores, free while
 * summing the gradient), with a weak-Wolfe line search (Armijo c1 = 1e-4,
 * curvature c2 = 0.9) that also accepts Hager & Zhang's approximate Wolfe
 * condition near the optimum, where f no longer changes in floating
 * point.  A step moves no ln-parameter by more than MAX_STEP; points with
 * |theta_i| > LOG_BOUND, or where f or its gradient is not finite, are
 * rejected by the line search (treated as +Infinity), so the iterate is
 * always finite.  If the line search fails the BHHH matrix is recomputed
 * once at the current point.
 *
 * Convergence test (A): max_i |df/dtheta_i| <= gtol (default 1e-9), i.e.
 * the gradient of the per-customer objective in log-parameters, which is
 * the relative sensitivity of f to each parameter.  The fit also counts
 * as converged, provided max_i |df/dtheta_i| <= 1e-6, when (B) the line
 * search cannot decrease f any more (a floating-point floor), or (C) f
 * fell by less than 1e-12 (1 + |f|) over the last 5 iterations (a flat
 * objective: a maximum at a boundary, approached along ln-parameters,
 * such as a -> 0 or s, beta -> infinity with s/beta fixed; the fit then
 * stops at finite but extreme values).  Otherwise, or after
 * max_iterations (default 200), the status is BTYD_ERR_NOT_CONVERGED.
 *
 * Starting values (deterministic): with xbar and Tbar the weighted means
 * of x and T, the purchase part starts at r = 0.5 and a mean rate r/alpha
 * of twice the observed xbar/Tbar (to allow for dropout), i.e. alpha =
 * 0.25 Tbar / max(xbar, 0.01).  BG/NBD and MBG/NBD add a = 1, b = 2 (mean
 * dropout probability 1/3); Pareto/NBD adds s = 1, beta = Tbar (mean
 * lifetime about Tbar).  Gamma-Gamma starts at p = 1, q = 2, v = the
 * weighted mean of zbar over x > 0 (so that p v / (q-1) = mean spend).
 *
 * Count models need at least one customer with x > 0: otherwise dropout
 * and purchase rate cannot be told apart and btyd_fit returns
 * BTYD_ERR_NO_REPEAT_PURCHASES without fitting.
 *
 * No allocation, no mutable globals; the tables live on the stack (about
 * 11 KB).  lgamma() is the C library's (glibc's also sets the global
 * signgam, harmless in a PostgreSQL backend process).
 *
 *-------------------------------------------------------------------------
 */
#include "btyd_kernel.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XTAB		256			/* per-x table length */
#define LOG_BOUND	40.0		/* |ln param| beyond this is infeasible */
#define MAX_STEP	4.0			/* max change of a ln-param per iteration */
#define GTOL_DEFAULT	1e-9
#define GTOL_FLOOR	1e-6
#define FLAT_ITERS	5			/* criterion C window */
#define FLAT_RTOL	1e-12		/* criterion C relative decrease */
#define MAXIT_DEFAULT	200
#define LS_MAX		40			/* line-search trials */
#define LS_PATIENCE 8			/* trials before taking any Armijo point */
#define LS_C1		1e-4
#define LS_C2		0.9
#define F_NOISE		1e-13		/* relative f noise for approximate Wolfe */
#define SERIES_EPS	1e-17
#define CF_EPS		4e-16
#define CF_MIN_Z	0.75		/* continued fraction above this z */
#define CF_MAX		4000L		/* exact for 1 - z > ~3e-5, see f1_contfrac */
#define SERIES_MAX	2000000L	/* cap on series terms (z extremely near 1) */
#define HYP_BIG		1e250
#define MAX_X		1e9

/* ----------------------------------------------------------------
 * Special functions
 * ----------------------------------------------------------------
 */

/*
 * Digamma psi(x) for x > 0: recurrence psi(x) = psi(x+1) - 1/x up to
 * x >= 10, then the asymptotic series (A&S 6.3.18) through x^-14, whose
 * truncation error there is below 1e-17.
 */
static double
digamma(double x)
{
	double		result = 0.0;
	double		inv;
	double		inv2;

	while (x < 10.0)
	{
		result -= 1.0 / x;
		x += 1.0;
	}
	inv = 1.0 / x;
	inv2 = inv * inv;
	result += log(x) - 0.5 * inv
		- inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252
		 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132 - inv2 * (691.0 / 32760
															- inv2 / 12))))));
	return result;
}

/* ln(1 + exp(d)) without overflow */
static double
log1pexp(double d)
{
	if (d > 0.0)
		return d + log1p(exp(-d));
	return log1p(exp(d));
}

/* 1 / (1 + exp(-d)) */
static double
logistic(double d)
{
	return 1.0 / (1.0 + exp(-d));
}

/* (1 - exp(c L)) / c, continuous at c = 0 where it is -L */
static double
one_minus_exp_over(double c, double L)
{
	if (c == 0.0)
		return -L;
	return -expm1(c * L) / c;
}

static int
is_nonpos_int(double v)
{
	return v <= 0.0 && v == floor(v);
}

/* ln|Gamma(v)| and the sign of Gamma(v), v not a non-positive integer */
static double
lgamma_signed(double v, int *sign)
{
	*sign = 1;
	if (v < 0.0 && ((long) ceil(-v)) % 2 == 1)
		*sign = -1;
	return lgamma(v);
}

/* ----------------------------------------------------------------
 * Hypergeometric series
 * ----------------------------------------------------------------
 */

/*
 * F(b, c, z) = 2F1(1, b; c; z) = sum_k (b)_k / (c)_k z^k for 0 <= z < 1,
 * 0 < b < c, and the logarithmic derivatives d ln F / d{b, c, z}.  Terms
 * are positive and t_{k+1}/t_k = z (b+k)/(c+k) < z, so the tail after a
 * term t is below t z / (1-z); we stop when that, weighted for the
 * derivative sums, is below SERIES_EPS of the sum.
 */
typedef struct F1Value
{
	double		f;
	double		dlb;
	double		dlc;
	double		dlz;
} F1Value;

static void
f1_series(double b, double c, double z, F1Value *out)
{
	double		t = 1.0;
	double		sum = 1.0;
	double		sb = 0.0;
	double		sc = 0.0;
	double		sz = 0.0;
	double		hb = 0.0;
	double		hc = 0.0;
	long		k;

	for (k = 0; k < SERIES_MAX; k++)
	{
		double		ib = 1.0 / (b + k);
		double		ic = 1.0 / (c + k);
		double		tz = t * (b + k) * ic;	/* t_{k+1} / z */
		double		tn = tz * z;

		hb += ib;
		hc += ic;
		sb += tn * hb;
		sc -= tn * hc;
		sz += (k + 1) * tz;
		sum += tn;
		t = tn;
		if (tn * (k + 2 + hb + hc) <= SERIES_EPS * sum * (1.0 - z))
			break;
	}
	out->f = sum;
	out->dlb = sb / sum;
	out->dlc = sc / sum;
	out->dlz = sz / sum;
}

/*
 * The same F(b, c, z) = 2F1(1, b; c; z) and log-derivatives by Gauss's
 * continued fraction (see e.g. Cuyt et al. 2008, "Handbook of Continued
 * Fractions for Special Functions", on 2F1 ratios; with a = 0 in
 * 2F1(a+1, b; c'+1; z) / 2F1(a, b; c'; z), c' = c - 1):
 *	F = 1 / (1 + k1 z / (1 + k2 z / (1 + ...)))
 *	k_{2i+1} = -(c'+i)(b+i) / ((c'+2i)(c'+2i+1)),
 *	k_{2i}	 = -i (c'+i-b) / ((c'+2i-1)(c'+2i)).
 * For 0 < b < c all k_j z lie in (-1, 0) and tend to -z/4, so the
 * convergents stay positive and the error shrinks like
 * ((1 - sqrt(1-z)) / (1 + sqrt(1-z)))^j: far faster than the power series
 * when z is near 1.  The derivatives are carried through the three-term
 * recurrences A_j = A_{j-1} + a_j A_{j-2} (same for B) by the product rule.
 * Returns 0 if a convergent is not positive (then the caller uses the
 * series).  At most CF_MAX levels are used: full accuracy needs about
 * 20 / sqrt(1-z) of them, so beyond 1 - z ~ 3e-5 (alpha+t and beta+t over
 * 30000 times apart, reached when a fit runs off to s, beta -> infinity)
 * the result is a truncated, still positive and finite, approximation;
 * this bounds the cost of such evaluations.
 */
static int
f1_contfrac(double b, double c, double z, F1Value *out)
{
	double		cp = c - 1.0;

	/*
	 * Convergents F_n = A_n / B_n of 0 + 1/(1 + a_1/(1 + a_2/(1 + ...)))
	 * with a_j = k_j z: (A_0, B_0) = (0, 1), (A_1, B_1) = (1, 1), then
	 * X_n = X_{n-1} + a_{n-1} X_{n-2}.  Index 0 of each array is the value,
	 * 1..3 its derivatives with respect to b, c and z.
	 */
	double		A1[4] = {1.0, 0.0, 0.0, 0.0},
				A2[4] = {0.0, 0.0, 0.0, 0.0};
	double		B1[4] = {1.0, 0.0, 0.0, 0.0},
				B2[4] = {1.0, 0.0, 0.0, 0.0};
	double		prev[4] = {1.0, 0.0, 0.0, 0.0};
	long		j;
	int			i;

	for (j = 1; j < CF_MAX; j++)
	{
		long		h = j / 2;
		double		k,
					kb,
					kc,
					a[4];
		double		An[4],
					Bn[4];
		double		cur[4];
		double		big;
		int			done = 1;

		if (j % 2 == 1)
		{
			double		den = (cp + 2 * h) * (cp + 2 * h + 1);

			k = -(cp + h) * (b + h) / den;
			kb = -(cp + h) / den;
			kc = k * (1.0 / (cp + h) - 1.0 / (cp + 2 * h)
					  - 1.0 / (cp + 2 * h + 1));
		}
		else
		{
			double		den = (cp + 2 * h - 1) * (cp + 2 * h);

			k = -h * (cp + h - b) / den;
			kb = h / den;
			kc = -h / den - k * (1.0 / (cp + 2 * h - 1) + 1.0 / (cp + 2 * h));
		}
		a[0] = k * z;
		a[1] = kb * z;
		a[2] = kc * z;
		a[3] = k;
		An[0] = A1[0] + a[0] * A2[0];
		Bn[0] = B1[0] + a[0] * B2[0];
		for (i = 1; i < 4; i++)
		{
			An[i] = A1[i] + a[i] * A2[0] + a[0] * A2[i];
			Bn[i] = B1[i] + a[i] * B2[0] + a[0] * B2[i];
		}
		if (!(An[0] > 0.0 && Bn[0] > 0.0))
			return 0;
		cur[0] = An[0] / Bn[0];
		for (i = 1; i < 4; i++)
			cur[i] = An[i] / An[0] - Bn[i] / Bn[0];
		/* stop when the value and the derivatives no longer move */
		if (fabs(cur[0] - prev[0]) > CF_EPS * cur[0])
			done = 0;
		for (i = 1; i < 4 && done; i++)
			if (fabs(cur[i] - prev[i]) > CF_EPS * (1.0 + fabs(cur[i])))
				done = 0;
		memcpy(prev, cur, sizeof(prev));
		if (done)
			break;
		memcpy(A2, A1, sizeof(A1));
		memcpy(B2, B1, sizeof(B1));
		memcpy(A1, An, sizeof(An));
		memcpy(B1, Bn, sizeof(Bn));
		big = fmax(An[0], Bn[0]);
		if (big > 1e100 || big < 1e-100)
		{
			for (i = 0; i < 4; i++)
			{
				A1[i] /= big;
				A2[i] /= big;
				B1[i] /= big;
				B2[i] /= big;
			}
		}
	}
	out->f = prev[0];
	out->dlb = prev[1];
	out->dlc = prev[2];
	out->dlz = prev[3];
	return 1;
}

/*
 * S = sum_{k>=1} (a)_k (b+1)_{k-1} / ((c)_k k!) z^k, so that
 * 2F1(a, b; c; z) = 1 + b S; returned as mantissa * exp(*lscale) so that
 * growing terms cannot overflow.  Needs |z| <= 1 (z = 1 only for a
 * terminating series) and c not a non-positive integer.
 */
static double
hyp_tail_series(double a, double b, double c, double z, double *lscale)
{
	double		t = a * z / c;
	double		s = 0.0;
	long		k;

	*lscale = 0.0;
	for (k = 1; k <= SERIES_MAX; k++)
	{
		double		ratio;

		s += t;
		if (t == 0.0)
			break;
		ratio = z * ((a + k) / (c + k)) * ((b + k) / (k + 1));
		if (fabs(ratio) < 1.0 && fabs(z) < 1.0)
		{
			double		q = fmax(fabs(ratio), fabs(z));

			if (fabs(t) * q <= SERIES_EPS * fabs(s) * (1.0 - q))
				break;
		}
		t *= ratio;
		if (fabs(t) > HYP_BIG)
		{
			t /= HYP_BIG;
			s /= HYP_BIG;
			*lscale += log(HYP_BIG);
		}
	}
	return s;
}

/* 2F1(a, b; c; 1): Gauss's sum (A&S 15.1.20), or the terminating series */
static double
hyp2f1_at_one(double a, double b, double c)
{
	double		lg;
	int			s1,
				s2,
				s3,
				s4;
	double		lscale;
	double		s;

	if (is_nonpos_int(a) || is_nonpos_int(b))
	{
		s = hyp_tail_series(a, b, c, 1.0, &lscale);
		return (exp(-lscale) + b * s) * exp(lscale);
	}
	if (c - a - b <= 0.0)
		return NAN;
	if (is_nonpos_int(c - a) || is_nonpos_int(c - b))
		return 0.0;
	lg = lgamma_signed(c, &s1) + lgamma_signed(c - a - b, &s2)
		- lgamma_signed(c - a, &s3) - lgamma_signed(c - b, &s4);
	return s1 * s2 * s3 * s4 * exp(lg);
}

/*
 * Gauss hypergeometric 2F1(a, b; c; z), real arguments, z <= 1.
 *
 * z < 0 is mapped into (0, 1) by Pfaff's transformation (A&S 15.3.4)
 *	2F1(a,b;c;z) = (1-z)^-a 2F1(a, c-b; c; z/(z-1)),
 * keeping a terminating parameter if there is one, else the form with the
 * smaller |c-b|.  For 0 < z < 1 Euler's transformation (A&S 15.3.3)
 *	2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z)
 * is used when it makes the upper parameters smaller.  The series is then
 * summed with rescaling (no intermediate overflow) and the prefactor is
 * applied in logs.  Convergence slows as z -> 1 (terms decay like z^k);
 * at most SERIES_MAX terms are summed, enough for 1 - z > 2e-5.
 */
double
btyd_hyp2f1(double a, double b, double c, double z)
{
	double		pre = 0.0;
	double		lscale;
	double		s;
	double		mant;

	if (!isfinite(a) || !isfinite(b) || !isfinite(c) || !isfinite(z))
		return NAN;
	if (is_nonpos_int(c) || z > 1.0)
		return NAN;
	if (a == 0.0 || b == 0.0 || z == 0.0)
		return 1.0;
	if (z == 1.0)
		return hyp2f1_at_one(a, b, c);
	if (z < 0.0)
	{
		int			use_b;

		if (is_nonpos_int(a))
			use_b = 0;
		else if (is_nonpos_int(b))
			use_b = 1;
		else
			use_b = fabs(c - a) < fabs(c - b);
		if (use_b)
		{
			double		tmp = a;

			a = b;
			b = tmp;
		}
		pre = -a * log1p(-z);
		b = c - b;
		z = z / (z - 1.0);
	}
	else if (!is_nonpos_int(a) && !is_nonpos_int(b) &&
			 fabs(c - a) + fabs(c - b) < fabs(a) + fabs(b))
	{
		pre = (c - a - b) * log1p(-z);
		a = c - a;
		b = c - b;
	}
	s = hyp_tail_series(a, b, c, z, &lscale);
	mant = exp(-lscale) + b * s;
	if (mant == 0.0)
		return 0.0;
	return copysign(exp(log(fabs(mant)) + lscale + pre), mant);
}

/* ----------------------------------------------------------------
 * Model framework
 * ----------------------------------------------------------------
 */

struct BtydModel;

/* Everything a row function needs for one parameter vector. */
typedef struct EvalCtx
{
	const struct BtydModel *model;
	double		p[BTYD_MAX_PARAMS];
	double		lp[BTYD_MAX_PARAMS];	/* ln p */
	int			ntab;			/* x < ntab is looked up in tab */
	double		aux[8];			/* model-specific constants */
	double		tab[5][XTAB];	/* model-specific per-x values */
} EvalCtx;

/* Weighted means used for starting values. */
typedef struct DataSummary
{
	double		w;				/* total weight of used rows */
	double		wx;				/* sum of weight * x */
	double		wT;				/* sum of weight * T */
	double		wz;				/* sum of weight * t_x (zbar for GG) */
	double		wpos;			/* weight of rows with x > 0 */
	double		xmax;
} DataSummary;

typedef struct BtydModel
{
	BtydKind	kind;
	const char *name;
	int			nparams;
	int			delta;			/* MBG/NBD: 1, else 0 */
	const char *pnames[BTYD_MAX_PARAMS];
	int			(*check_row) (const BtydRow *row);
	int			(*uses_row) (const BtydRow *row);
	void		(*prepare) (EvalCtx *ctx, double xmax);
	double		(*row_loglik) (const EvalCtx *ctx, const BtydRow *row,
							   double *grad);
	void		(*start) (const DataSummary *sum, double *params);
} BtydModel;

static int
valid_count(double x)
{
	return isfinite(x) && x >= 0.0 && x <= MAX_X && x == floor(x);
}

static int
check_count_row(const BtydRow *row)
{
	if (!valid_count(row->x) || !isfinite(row->t_x) || !isfinite(row->T) ||
		!isfinite(row->weight))
		return BTYD_ERR_INVALID_ROW;
	if (!(row->weight > 0.0) || !(row->T > 0.0))
		return BTYD_ERR_INVALID_ROW;
	if (row->t_x < 0.0 || row->t_x > row->T)
		return BTYD_ERR_INVALID_ROW;
	return BTYD_OK;
}

static int
check_gg_row(const BtydRow *row)
{
	if (!valid_count(row->x) || !isfinite(row->weight) ||
		!(row->weight > 0.0))
		return BTYD_ERR_INVALID_ROW;
	if (row->x > 0.0 && !(isfinite(row->t_x) && row->t_x > 0.0))
		return BTYD_ERR_INVALID_ROW;
	return BTYD_OK;
}

static int
uses_all_rows(const BtydRow *row)
{
	(void) row;
	return 1;
}

static int
uses_repeat_rows(const BtydRow *row)
{
	return row->x > 0.0;
}

static int
table_len(double xmax, int extra)
{
	double		n = xmax + 1.0 + extra;

	return n < XTAB ? (int) n : XTAB;
}

/*
 * Fill lsum[k] = ln G(y+k) - ln G(y) and rsum[k] = psi(y+k) - psi(y),
 * k < n, by cumulative sums of ln(y+j) and 1/(y+j).
 */
static void
poch_fill(double y, int n, double *lsum, double *rsum)
{
	double		l = 0.0;
	double		r = 0.0;
	int			k;

	for (k = 0; k < n; k++)
	{
		lsum[k] = l;
		rsum[k] = r;
		l += log(y + k);
		r += 1.0 / (y + k);
	}
}

/* ln G(y+x) - ln G(y) and psi(y+x) - psi(y), from the table if x < ntab */
static void
poch_get(const EvalCtx *ctx, int which, double y, double x,
		 double *l, double *r)
{
	if (x < ctx->ntab)
	{
		int			k = (int) x;

		*l = ctx->tab[which][k];
		*r = ctx->tab[which + 1][k];
	}
	else
	{
		*l = lgamma(y + x) - lgamma(y);
		*r = digamma(y + x) - digamma(y);
	}
}

/* ----------------------------------------------------------------
 * BG/NBD and MBG/NBD (delta = 0 / 1)
 * ----------------------------------------------------------------
 */

/*
 * The dropout term: D = ln a - ln(b+x-1+delta) + (r+x) ln((alpha+T)/(alpha+t_x)),
 * present iff x > 0 or delta = 1 (returns 0 if absent, else 1).
 * lratio and bx are the intermediate values the gradient needs.
 */
static int
bg_dropout(const double *p, int delta, double x, double t_x, double T,
		   double *D, double *lratio, double *bx)
{
	if (x == 0.0 && delta == 0)
		return 0;
	if (x == 0.0)
		t_x = 0.0;
	*bx = p[3] + x - 1.0 + delta;
	*lratio = log1p((T - t_x) / (p[1] + t_x));
	*D = log(p[2]) - log(*bx) + (p[0] + x) * (*lratio);
	return 1;
}

/*
 * tab[0..1]: ln G(r+k) - ln G(r), psi(r+k) - psi(r);
 * tab[2]: A2 at k + delta = sum_j -log1p(a/(b+j));
 * tab[3]: d A2 / d b = sum_j a / ((b+j)(a+b+j));
 * tab[4]: d A2 / d a = -sum_j 1/(a+b+j).
 */
static void
bg_prepare(EvalCtx *ctx, double xmax)
{
	double		a = ctx->p[2];
	double		b = ctx->p[3];
	int			delta = ctx->model->delta;
	double		l2 = 0.0;
	double		p2 = 0.0;
	double		pab = 0.0;
	int			j;
	int			k;

	ctx->ntab = table_len(xmax, 0);
	poch_fill(ctx->p[0], ctx->ntab, ctx->tab[0], ctx->tab[1]);
	for (j = 0; j < delta; j++)
	{
		l2 -= log1p(a / (b + j));
		p2 += a / ((b + j) * (a + b + j));
		pab -= 1.0 / (a + b + j);
	}
	for (k = 0; k < ctx->ntab; k++)
	{
		j = k + delta;
		ctx->tab[2][k] = l2;
		ctx->tab[3][k] = p2;
		ctx->tab[4][k] = pab;
		l2 -= log1p(a / (b + j));
		p2 += a / ((b + j) * (a + b + j));
		pab -= 1.0 / (a + b + j);
	}
}

/* the beta part A2 and its a, b derivatives at x (table or direct) */
static void
bg_beta_terms(const EvalCtx *ctx, double x, double *a2, double *da,
			  double *db)
{
	double		a = ctx->p[2];
	double		b = ctx->p[3];
	double		xd = x + ctx->model->delta;

	if (x < ctx->ntab)
	{
		int			k = (int) x;

		*a2 = ctx->tab[2][k];
		*db = ctx->tab[3][k];
		*da = ctx->tab[4][k];
		return;
	}
	*a2 = lgamma(a + b) + lgamma(b + xd) - lgamma(b) - lgamma(a + b + xd);
	*da = digamma(a + b) - digamma(a + b + xd);
	*db = *da + digamma(b + xd) - digamma(b);
}

static double
bg_row(const EvalCtx *ctx, const BtydRow *row, double *grad)
{
	const double *p = ctx->p;
	double		r = p[0];
	double		alpha = p[1];
	double		x = row->x;
	double		T = row->T;
	double		t_x = x > 0.0 ? row->t_x : 0.0;
	double		lr,
				pr,
				a2,
				da,
				db;
	double		lat = log(alpha + T);
	double		D = 0.0,
				lratio = 0.0,
				bx = 1.0,
				w = 0.0;
	double		ll;

	poch_get(ctx, 0, r, x, &lr, &pr);
	bg_beta_terms(ctx, x, &a2, &da, &db);
	ll = lr + r * ctx->lp[1] - (r + x) * lat + a2;
	if (bg_dropout(p, ctx->model->delta, x, t_x, T, &D, &lratio, &bx))
	{
		ll += log1pexp(D);
		w = logistic(D);		/* posterior P(dropped out) */
	}
	if (grad)
	{
		grad[0] = pr + ctx->lp[1] - lat + w * lratio;
		grad[1] = r / alpha - (r + x) / (alpha + T)
			- w * (r + x) * (T - t_x) / ((alpha + T) * (alpha + t_x));
		grad[2] = da + w / p[2];
		grad[3] = db - w / bx;
	}
	return ll;
}

static void
bg_start(const DataSummary *sum, double *params)
{
	double		xbar = sum->wx / sum->w;
	double		Tbar = sum->wT / sum->w;

	params[0] = 0.5;
	params[1] = 0.25 * Tbar / fmax(xbar, 0.01);
	params[2] = 1.0;
	params[3] = 2.0;
}

/* ----------------------------------------------------------------
 * Pareto/NBD
 * ----------------------------------------------------------------
 */

/*
 * ln G(t) for G(t) = integral_t^inf (u+tau)^-m (v+tau)^-n dtau with
 * u = alpha+t, v = beta+t (so diff = u - v = alpha - beta exactly; lu, lv
 * are ln u, ln v), and, if d is not NULL, d ln G / d{m, u, n, v} in d[0..3].  See the header
 * comment: for u >= v, G = u^-m v^(1-n) 2F1(1, m; m+n; (u-v)/u) / (m+n-1).
 */
static double
pnbd_log_tail(double m, double u, double n, double v, double diff,
			  double lu, double lv, double *d)
{
	F1Value		f;
	double		k = m + n - 1.0;

	if (diff < 0.0)
	{
		double		e[4];
		double		lg = pnbd_log_tail(n, v, m, u, -diff, lv, lu,
									   d ? e : NULL);

		if (d)
		{
			d[0] = e[2];
			d[1] = e[3];
			d[2] = e[0];
			d[3] = e[1];
		}
		return lg;
	}
	if (!(diff / u > CF_MIN_Z && f1_contfrac(m, m + n, diff / u, &f)))
		f1_series(m, m + n, diff / u, &f);
	if (d)
	{
		d[0] = -lu + f.dlb + f.dlc - 1.0 / k;
		d[1] = -m / u + f.dlz * v / (u * u);
		d[2] = -lv + f.dlc - 1.0 / k;
		d[3] = (1.0 - n) / v - f.dlz / u;
	}
	return -m * lu + (1.0 - n) * lv + log(f.f) - log(k);
}

/*
 * The two parts of the Pareto/NBD bracket, in logs: l_alive =
 * ln[(alpha+T)^-m (beta+T)^-s] and l_dead = ln[s I] (-inf if t_x == T),
 * with gradients w.r.t. (r, alpha, s, beta) if want_grad.  tail0, if not
 * NULL, holds ln G(0) and its gradient for x = 0 (see pnbd_prepare).
 */
typedef struct PnbdParts
{
	double		l_alive;
	double		l_dead;
	double		d_alive[4];
	double		d_dead[4];
} PnbdParts;

static void
pnbd_parts(const double *p, double x, double t_x, double T, int want_grad,
		   const double *tail0, PnbdParts *out)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		m = r + x;
	double		n = s + 1.0;
	double		lut = log(alpha + T);
	double		lvt = log(beta + T);
	double		gx[4],
				gT[4];
	double		lgx,
				lgT,
				om;
	int			i;

	if (x == 0.0)
		t_x = 0.0;
	out->l_alive = -m * lut - s * lvt;
	if (want_grad)
	{
		out->d_alive[0] = -lut;
		out->d_alive[1] = -m / (alpha + T);
		out->d_alive[2] = -lvt;
		out->d_alive[3] = -s / (beta + T);
	}
	out->l_dead = -INFINITY;
	memset(out->d_dead, 0, sizeof(out->d_dead));
	if (!(t_x < T))
		return;
	if (x == 0.0 && tail0 != NULL)
	{
		/* G(0) for x = 0 is the same for every such row */
		lgx = tail0[0];
		memcpy(gx, tail0 + 1, sizeof(gx));
	}
	else
		lgx = pnbd_log_tail(m, alpha + t_x, n, beta + t_x, alpha - beta,
							log(alpha + t_x), log(beta + t_x),
							want_grad ? gx : NULL);
	lgT = pnbd_log_tail(m, alpha + T, n, beta + T, alpha - beta, lut, lvt,
						want_grad ? gT : NULL);
	om = -expm1(lgT - lgx);		/* 1 - G(T)/G(t_x) */
	if (!(om > 0.0))
		return;
	out->l_dead = log(s) + lgx + log(om);
	if (want_grad)
	{
		double		q = 1.0 - om;

		/* d ln(G(t_x) - G(T)) = (d ln G(t_x) - q d ln G(T)) / (1 - q) */
		for (i = 0; i < 4; i++)
			out->d_dead[i] = (gx[i] - q * gT[i]) / om;
		/*
		 * (m, u, n, v) move one-for-one with (r, alpha, s, beta); add the
		 * derivative of ln s.
		 */
		out->d_dead[2] += 1.0 / s;
	}
}

/* tables for r; aux[0..4] = ln G(0) at x = 0 and its gradient */
static void
pnbd_prepare(EvalCtx *ctx, double xmax)
{
	const double *p = ctx->p;

	ctx->ntab = table_len(xmax, 0);
	poch_fill(p[0], ctx->ntab, ctx->tab[0], ctx->tab[1]);
	ctx->aux[0] = pnbd_log_tail(p[0], p[1], p[2] + 1.0, p[3], p[1] - p[3],
								ctx->lp[1], ctx->lp[3], ctx->aux + 1);
}

static double
pnbd_row(const EvalCtx *ctx, const BtydRow *row, double *grad)
{
	PnbdParts	pp;
	double		lr,
				pr,
				hi,
				lo,
				w,
				ll;
	int			i;

	poch_get(ctx, 0, ctx->p[0], row->x, &lr, &pr);
	pnbd_parts(ctx->p, row->x, row->t_x, row->T, grad != NULL, ctx->aux,
			   &pp);
	hi = fmax(pp.l_alive, pp.l_dead);
	lo = fmin(pp.l_alive, pp.l_dead);
	ll = lr + ctx->p[0] * ctx->lp[1] + ctx->p[2] * ctx->lp[3]
		+ hi + log1p(exp(lo - hi));
	if (grad)
	{
		w = logistic(pp.l_dead - pp.l_alive);	/* P(dead | data) */
		for (i = 0; i < 4; i++)
			grad[i] = (1.0 - w) * pp.d_alive[i] + w * pp.d_dead[i];
		grad[0] += pr + ctx->lp[1];
		grad[1] += ctx->p[0] / ctx->p[1];
		grad[2] += ctx->lp[3];
		grad[3] += ctx->p[2] / ctx->p[3];
	}
	return ll;
}

static void
pnbd_start(const DataSummary *sum, double *params)
{
	double		xbar = sum->wx / sum->w;
	double		Tbar = sum->wT / sum->w;

	params[0] = 0.5;
	params[1] = 0.25 * Tbar / fmax(xbar, 0.01);
	params[2] = 1.0;
	params[3] = Tbar;
}

/* ----------------------------------------------------------------
 * Gamma-Gamma
 * ----------------------------------------------------------------
 */

/*
 * tab[0][k] = ln G(pk+q) - ln G(pk), tab[1][k] = psi(pk+q) - psi(pk),
 * tab[2][k] = psi(pk+q) - psi(q), for 1 <= k < ntab; aux[0] = ln G(q).
 */
static void
gg_xterms(const EvalCtx *ctx, double x, double *l, double *dp, double *dq)
{
	double		px = ctx->p[0] * x;
	double		q = ctx->p[1];
	double		psq = digamma(px + q);

	*l = lgamma(px + q) - lgamma(px);
	*dp = psq - digamma(px);
	*dq = psq - ctx->aux[1];
}

static void
gg_prepare(EvalCtx *ctx, double xmax)
{
	int			k;

	ctx->aux[0] = lgamma(ctx->p[1]);
	ctx->aux[1] = digamma(ctx->p[1]);
	ctx->ntab = table_len(xmax, 0);
	for (k = 1; k < ctx->ntab; k++)
		gg_xterms(ctx, k, &ctx->tab[0][k], &ctx->tab[1][k], &ctx->tab[2][k]);
}

static double
gg_row(const EvalCtx *ctx, const BtydRow *row, double *grad)
{
	double		p = ctx->p[0],
				q = ctx->p[1],
				v = ctx->p[2];
	double		x = row->x;
	double		zbar = row->t_x;
	double		xz = x * zbar;
	double		px = p * x;
	double		lg,
				dpq,
				dq;
	double		l1 = log1p(v / xz); /* ln((v + x zbar) / (x zbar)) */
	double		l2 = log1p(xz / v); /* ln((v + x zbar) / v) */

	if (x < ctx->ntab)
	{
		int			k = (int) x;

		lg = ctx->tab[0][k];
		dpq = ctx->tab[1][k];
		dq = ctx->tab[2][k];
	}
	else
		gg_xterms(ctx, x, &lg, &dpq, &dq);
	if (grad)
	{
		grad[0] = x * (dpq - l1);
		grad[1] = dq - l2;
		grad[2] = q / v - (px + q) / (v + xz);
	}
	return lg - ctx->aux[0] - q * l2 - px * l1 - log(zbar);
}

static void
gg_start(const DataSummary *sum, double *params)
{
	params[0] = 1.0;
	params[1] = 2.0;
	params[2] = sum->wz / sum->w;
}

/* ----------------------------------------------------------------
 * The model table
 * ----------------------------------------------------------------
 */

static const BtydModel models[] = {
	{BTYD_BGNBD, "BG/NBD", 4, 0, {"r", "alpha", "a", "b"},
	check_count_row, uses_all_rows, bg_prepare, bg_row, bg_start},
	{BTYD_PARETO_NBD, "Pareto/NBD", 4, 0, {"r", "alpha", "s", "beta"},
	check_count_row, uses_all_rows, pnbd_prepare, pnbd_row, pnbd_start},
	{BTYD_GAMMA_GAMMA, "Gamma-Gamma", 3, 0, {"p", "q", "v", NULL},
	check_gg_row, uses_repeat_rows, gg_prepare, gg_row, gg_start},
	{BTYD_MBGNBD, "MBG/NBD", 4, 1, {"r", "alpha", "a", "b"},
	check_count_row, uses_all_rows, bg_prepare, bg_row, bg_start},
};

static const BtydModel *
find_model(BtydKind kind)
{
	size_t		i;

	for (i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (models[i].kind == kind)
			return &models[i];
	return NULL;
}

static int
valid_params(const BtydModel *m, const double *params)
{
	int			i;

	if (params == NULL)
		return 0;
	for (i = 0; i < m->nparams; i++)
		if (!(isfinite(params[i]) && params[i] > 0.0))
			return 0;
	return 1;
}

int
btyd_nparams(BtydKind kind)
{
	const BtydModel *m = find_model(kind);

	return m ? m->nparams : 0;
}

const char *
btyd_param_name(BtydKind kind, int i)
{
	const BtydModel *m = find_model(kind);

	if (m == NULL || i < 0 || i >= m->nparams)
		return NULL;
	return m->pnames[i];
}

const char *
btyd_kind_name(BtydKind kind)
{
	const BtydModel *m = find_model(kind);

	return m ? m->name : NULL;
}

const char *
btyd_status_message(int status)
{
	switch (status)
	{
		case BTYD_OK:
			return "success";
		case BTYD_ERR_ARGUMENT:
			return "invalid argument (unknown model, missing pointer, or negative or non-finite penalty)";
		case BTYD_ERR_EMPTY:
			return "no customers to fit";
		case BTYD_ERR_INVALID_ROW:
			return "invalid customer summary (need finite values, integral x >= 0, 0 <= t_x <= T, T > 0, weight > 0; zbar > 0 when x > 0 for Gamma-Gamma)";
		case BTYD_ERR_NO_REPEAT_SPEND:
			return "Gamma-Gamma model needs at least one customer with repeat purchases (x > 0)";
		case BTYD_ERR_NO_REPEAT_PURCHASES:
			return "no customer has repeat purchases (x > 0): purchase and dropout rates cannot be identified";
		case BTYD_ERR_NOT_CONVERGED:
			return "maximum-likelihood fit did not converge";
	}
	return "unknown status";
}

int
btyd_check_row(BtydKind kind, const BtydRow *row)
{
	const BtydModel *m = find_model(kind);

	if (m == NULL)
		return BTYD_ERR_ARGUMENT;
	if (row == NULL)
		return BTYD_ERR_INVALID_ROW;
	return m->check_row(row);
}

/* ----------------------------------------------------------------
 * Likelihood sums
 * ----------------------------------------------------------------
 */

static void
ctx_init(EvalCtx *ctx, const BtydModel *m, const double *params, double xmax)
{
	int			i;

	ctx->model = m;
	for (i = 0; i < m->nparams; i++)
	{
		ctx->p[i] = params[i];
		ctx->lp[i] = log(params[i]);
	}
	m->prepare(ctx, xmax);
}

/*
 * Weighted LL over the used rows; gradient w.r.t. the natural parameters
 * into grad if not NULL; if bhhh is not NULL (then grad must not be NULL),
 * adds sum_i w_i h_i h_i' with h_i = params .* grad_i (the per-row score in
 * ln-parameters) into the nparams x nparams matrix bhhh.
 */
static double
sum_loglik(const BtydModel *m, const double *params, const BtydRow *rows,
		   size_t nrows, double xmax, double *grad, double *bhhh)
{
	EvalCtx		ctx;
	double		ll = 0.0;
	double		g[BTYD_MAX_PARAMS];
	int			np = m->nparams;
	int			i,
				j;
	size_t		k;

	ctx_init(&ctx, m, params, xmax);
	if (grad)
		for (i = 0; i < np; i++)
			grad[i] = 0.0;
	for (k = 0; k < nrows; k++)
	{
		const BtydRow *row = &rows[k];
		double		w = row->weight;

		if (!m->uses_row(row))
			continue;
		ll += w * m->row_loglik(&ctx, row, grad ? g : NULL);
		if (grad)
		{
			for (i = 0; i < np; i++)
				grad[i] += w * g[i];
			if (bhhh)
			{
				for (i = 0; i < np; i++)
					g[i] *= params[i];
				for (i = 0; i < np; i++)
					for (j = 0; j <= i; j++)
						bhhh[i * np + j] += w * g[i] * g[j];
			}
		}
	}
	if (bhhh)
		for (i = 0; i < np; i++)
			for (j = 0; j < i; j++)
				bhhh[j * np + i] = bhhh[i * np + j];
	return ll;
}

/* validate kind/params/rows and the max x for the tables; 0 if invalid */
static int
ll_setup(BtydKind kind, const double *params, const BtydRow *rows,
		 size_t nrows, const BtydModel **mp, double *xmax)
{
	const BtydModel *m = find_model(kind);
	size_t		k;

	if (m == NULL || !valid_params(m, params) || (rows == NULL && nrows > 0))
		return 0;
	*xmax = 0.0;
	for (k = 0; k < nrows; k++)
	{
		if (m->check_row(&rows[k]) != BTYD_OK)
			return 0;
		if (m->uses_row(&rows[k]))
			*xmax = fmax(*xmax, rows[k].x);
	}
	*mp = m;
	return 1;
}

double
btyd_loglik_grad(BtydKind kind, const double *params, const BtydRow *rows,
				 size_t nrows, double *grad)
{
	const BtydModel *m;
	double		xmax;
	int			i;

	if (!ll_setup(kind, params, rows, nrows, &m, &xmax))
	{
		if (grad)
			for (i = 0; i < BTYD_MAX_PARAMS; i++)
				grad[i] = NAN;
		return NAN;
	}
	return sum_loglik(m, params, rows, nrows, xmax, grad, NULL);
}

double
btyd_loglik(BtydKind kind, const double *params, const BtydRow *rows,
			size_t nrows)
{
	return btyd_loglik_grad(kind, params, rows, nrows, NULL);
}

/* ----------------------------------------------------------------
 * Optimizer (see "4. OPTIMIZER" above)
 * ----------------------------------------------------------------
 */

typedef struct Problem
{
	const BtydModel *model;
	const BtydRow *rows;
	size_t		nrows;
	double		W;
	double		xmax;
	double		penalty;
	int			nevals;
} Problem;

/* A point of the search: theta, f, gradient of f, unpenalized LL. */
typedef struct Point
{
	double		theta[BTYD_MAX_PARAMS];
	double		f;
	double		g[BTYD_MAX_PARAMS];
	double		ll;
} Point;

/*
 * Evaluate f and its gradient at pt->theta; f = +Infinity if the point is
 * infeasible or anything is not finite.  Adds the BHHH matrix of f (plus
 * the penalty's Hessian) into bhhh if not NULL.
 */
static void
evaluate(Problem *pb, Point *pt, double *bhhh)
{
	int			np = pb->model->nparams;
	double		p[BTYD_MAX_PARAMS];
	double		grad[BTYD_MAX_PARAMS];
	double		pen = 0.0;
	int			i;

	pt->f = INFINITY;
	pt->ll = NAN;
	for (i = 0; i < np; i++)
	{
		if (!(fabs(pt->theta[i]) <= LOG_BOUND))
			return;
		p[i] = exp(pt->theta[i]);
	}
	if (bhhh)
		memset(bhhh, 0, sizeof(double) * np * np);
	pb->nevals++;
	pt->ll = sum_loglik(pb->model, p, pb->rows, pb->nrows, pb->xmax, grad,
						bhhh);
	if (!isfinite(pt->ll))
		return;
	for (i = 0; i < np; i++)
	{
		pt->g[i] = -p[i] * grad[i] / pb->W + 2.0 * pb->penalty * p[i] * p[i];
		if (!isfinite(pt->g[i]))
			return;
		pen += p[i] * p[i];
	}
	if (bhhh)
	{
		for (i = 0; i < np * np; i++)
			bhhh[i] /= pb->W;
		for (i = 0; i < np; i++)
			bhhh[i * np + i] += 4.0 * pb->penalty * p[i] * p[i];
	}
	pt->f = -pt->ll / pb->W + pb->penalty * pen;
}

static double
dot(const double *a, const double *b, int n)
{
	double		s = 0.0;
	int			i;

	for (i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static double
max_abs(const double *a, int n)
{
	double		m = 0.0;
	int			i;

	for (i = 0; i < n; i++)
		m = fmax(m, fabs(a[i]));
	return m;
}

/*
 * Inverse of a symmetric positive (semi)definite n x n matrix via
 * Cholesky, with a growing ridge if it is not numerically positive
 * definite.  Falls back to a scaled identity.
 */
static void
spd_inverse(const double *A, int n, double *Ainv)
{
	double		L[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	double		scale = 0.0;
	double		ridge = 0.0;
	int			attempt,
				i,
				j,
				k;

	for (i = 0; i < n; i++)
		scale = fmax(scale, fabs(A[i * n + i]));
	if (!(scale > 0.0) || !isfinite(scale))
	{
		memset(Ainv, 0, sizeof(double) * n * n);
		for (i = 0; i < n; i++)
			Ainv[i * n + i] = 1.0;
		return;
	}
	for (attempt = 0; attempt < 12; attempt++)
	{
		int			ok = 1;

		for (i = 0; i < n && ok; i++)
		{
			for (j = 0; j <= i; j++)
			{
				double		s = A[i * n + j] + (i == j ? ridge : 0.0);

				for (k = 0; k < j; k++)
					s -= L[i * n + k] * L[j * n + k];
				if (i == j)
				{
					if (!(s > 1e-14 * scale))
					{
						ok = 0;
						break;
					}
					L[i * n + i] = sqrt(s);
				}
				else
					L[i * n + j] = s / L[j * n + j];
			}
		}
		if (ok)
		{
			/* solve L L' X = I column by column */
			for (k = 0; k < n; k++)
			{
				double		y[BTYD_MAX_PARAMS];

				for (i = 0; i < n; i++)
				{
					double		s = (i == k) ? 1.0 : 0.0;

					for (j = 0; j < i; j++)
						s -= L[i * n + j] * y[j];
					y[i] = s / L[i * n + i];
				}
				for (i = n - 1; i >= 0; i--)
				{
					double		s = y[i];

					for (j = i + 1; j < n; j++)
						s -= L[j * n + i] * Ainv[j * n + k];
					Ainv[i * n + k] = s / L[i * n + i];
				}
			}
			return;
		}
		ridge = (ridge == 0.0) ? 1e-10 * scale : ridge * 10.0;
	}
	memset(Ainv, 0, sizeof(double) * n * n);
	for (i = 0; i < n; i++)
		Ainv[i * n + i] = 1.0 / scale;
}

/*
 * Weak-Wolfe line search from cur along d (a descent direction).  Accepts
 * t when f(t) <= f0 + c1 t g0'd and g(t)'d >= c2 g0'd, or (approximate
 * Wolfe, Hager & Zhang 2005) when f(t) <= f0 + F_NOISE (1 + |f0|) and
 * c2 g0'd <= g(t)'d <= (1 - 2 c1)|g0'd|.  Brackets by doubling (up to a
 * step of MAX_STEP), then bisection (quadratic interpolation while the
 * lower end is 0).  A point with sufficient decrease only is taken when
 * the step is at its maximum or after LS_PATIENCE trials.  Returns 1 and
 * the new point in *next, or 0 if no acceptable point was found.
 */
static int
line_search(Problem *pb, const Point *cur, const double *d, Point *next)
{
	int			np = pb->model->nparams;
	double		gd = dot(cur->g, d, np);
	double		lo = 0.0;
	double		hi = INFINITY;
	double		t = 1.0;
	double		dmax = fmax(max_abs(d, np), DBL_MIN);
	double		tmax = MAX_STEP / dmax;
	Point		trial;
	Point		armijo;
	int			have_armijo = 0;
	int			it,
				i;

	for (it = 0; it < LS_MAX; it++)
	{
		double		gtd;
		int			armijo_ok;

		for (i = 0; i < np; i++)
			trial.theta[i] = cur->theta[i] + t * d[i];
		evaluate(pb, &trial, NULL);
		gtd = isfinite(trial.f) ? dot(trial.g, d, np) : NAN;
		armijo_ok = trial.f <= cur->f + LS_C1 * t * gd;
		if (armijo_ok && gtd >= LS_C2 * gd)
		{
			*next = trial;
			return 1;
		}
		if (isfinite(trial.f) &&
			trial.f <= cur->f + F_NOISE * (1.0 + fabs(cur->f)) &&
			gtd >= LS_C2 * gd && gtd <= (1.0 - 2.0 * LS_C1) * fabs(gd))
		{
			*next = trial;
			return 1;
		}
		if (armijo_ok && trial.f < cur->f)
		{
			/* sufficient decrease but still steep: go further */
			lo = t;
			armijo = trial;
			have_armijo = 1;
			/* not beyond MAX_STEP, and not forever along an asymptote */
			if (t >= tmax || it >= LS_PATIENCE)
				break;
		}
		else
			hi = t;
		if (hi == INFINITY)
			t = fmin(2.0 * t, tmax);
		else if (lo == 0.0 && isfinite(trial.f))
		{
			/* minimizer of the quadratic through f0, g0'd and f(hi) */
			double		den = 2.0 * (trial.f - cur->f - gd * hi);
			double		tq = den > 0.0 ? -gd * hi * hi / den : 0.5 * hi;

			t = fmin(fmax(tq, 0.1 * hi), 0.5 * hi);
		}
		else
			t = 0.5 * (lo + hi);
		/* give up when the step no longer changes theta meaningfully */
		if (hi - lo < 1e-15 * hi || t * dmax < 1e-13)
			break;
	}
	if (have_armijo)
	{
		*next = armijo;
		return 1;
	}
	return 0;
}

/* BFGS update of the inverse Hessian H with step s and gradient change y */
static void
bfgs_update(double *H, const double *s, const double *y, int n)
{
	double		Hy[BTYD_MAX_PARAMS];
	double		sy = dot(s, y, n);
	double		yHy;
	int			i,
				j;

	for (i = 0; i < n; i++)
		Hy[i] = dot(&H[i * n], y, n);
	yHy = dot(y, Hy, n);
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			H[i * n + j] += (sy + yHy) * s[i] * s[j] / (sy * sy)
				- (Hy[i] * s[j] + s[i] * Hy[j]) / sy;
}

/*
 * Minimize from *cur (theta set).  Returns BTYD_OK or
 * BTYD_ERR_NOT_CONVERGED; *cur holds the best point, *iters the number
 * of iterations.
 */
static int
minimize(Problem *pb, Point *cur, int maxit, double gtol, int *iters)
{
	int			np = pb->model->nparams;
	double		B[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	double		H[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	double		fhist[FLAT_ITERS];
	int			fresh = 1;
	int			stalled = 0;
	int			flat = 0;
	int			it,
				i;

	evaluate(pb, cur, B);
	if (!isfinite(cur->f))
	{
		*iters = 0;
		return BTYD_ERR_NOT_CONVERGED;
	}
	spd_inverse(B, np, H);
	for (it = 0; it < maxit; it++)
	{
		double		d[BTYD_MAX_PARAMS];
		double		s[BTYD_MAX_PARAMS];
		double		y[BTYD_MAX_PARAMS];
		double		dmax;
		Point		next;

		if (max_abs(cur->g, np) <= gtol)
			break;
		/* criterion C: f flat over the last FLAT_ITERS iterations */
		if (it >= FLAT_ITERS &&
			fhist[it % FLAT_ITERS] - cur->f <= FLAT_RTOL * (1.0 + fabs(cur->f)) &&
			max_abs(cur->g, np) <= GTOL_FLOOR)
		{
			flat = 1;
			break;
		}
		fhist[it % FLAT_ITERS] = cur->f;
		for (i = 0; i < np; i++)
			d[i] = -dot(&H[i * np], cur->g, np);
		if (!(dot(d, cur->g, np) < 0.0))
		{
			/* not a descent direction: restart from the BHHH matrix */
			Point		again = *cur;

			evaluate(pb, &again, B);
			spd_inverse(B, np, H);
			fresh = 1;
			for (i = 0; i < np; i++)
				d[i] = -dot(&H[i * np], cur->g, np);
			if (!(dot(d, cur->g, np) < 0.0))
				for (i = 0; i < np; i++)
					d[i] = -cur->g[i];
		}
		dmax = max_abs(d, np);
		if (dmax > MAX_STEP)
			for (i = 0; i < np; i++)
				d[i] *= MAX_STEP / dmax;
		if (!line_search(pb, cur, d, &next))
		{
			if (fresh)
			{
				stalled = 1;
				break;
			}
			/* retry once from a fresh BHHH inverse */
			{
				Point		again = *cur;

				evaluate(pb, &again, B);
				spd_inverse(B, np, H);
			}
			fresh = 1;
			continue;
		}
		for (i = 0; i < np; i++)
		{
			s[i] = next.theta[i] - cur->theta[i];
			y[i] = next.g[i] - cur->g[i];
		}
		if (dot(s, y, np) > 1e-12 * sqrt(dot(s, s, np) * dot(y, y, np)))
			bfgs_update(H, s, y, np);
		fresh = 0;
		*cur = next;
	}
	*iters = it;
	if (max_abs(cur->g, np) <= gtol)
		return BTYD_OK;
	if ((stalled || flat) && max_abs(cur->g, np) <= GTOL_FLOOR)
		return BTYD_OK;
	return BTYD_ERR_NOT_CONVERGED;
}

static void
fit_init(BtydFit *out, BtydKind kind, double penalty)
{
	int			i;

	out->kind = kind;
	out->nparams = btyd_nparams(kind);
	for (i = 0; i < BTYD_MAX_PARAMS; i++)
		out->params[i] = NAN;
	out->loglik = NAN;
	out->n_customers = 0.0;
	out->iterations = 0;
	out->evaluations = 0;
	out->converged = 0;
	out->penalty = penalty;
	out->grad_max = NAN;
	out->bad_row = -1;
}

int
btyd_fit_ex(BtydKind kind, const BtydRow *rows, size_t nrows,
			double l2_penalty, const BtydOptions *options, BtydFit *out)
{
	const BtydModel *m = find_model(kind);
	DataSummary sum;
	Problem		pb;
	Point		pt;
	double		start[BTYD_MAX_PARAMS];
	int			maxit = MAXIT_DEFAULT;
	double		gtol = GTOL_DEFAULT;
	int			status;
	int			iters;
	int			i;
	size_t		k;

	if (out == NULL)
		return BTYD_ERR_ARGUMENT;
	fit_init(out, kind, l2_penalty);
	if (m == NULL || !isfinite(l2_penalty) || l2_penalty < 0.0 ||
		(rows == NULL && nrows > 0))
		return BTYD_ERR_ARGUMENT;
	if (options)
	{
		if (options->max_iterations < 0 || !(options->gtol >= 0.0) ||
			(options->start && !valid_params(m, options->start)))
			return BTYD_ERR_ARGUMENT;
		maxit = options->max_iterations;
		gtol = options->gtol;
	}
	if (nrows == 0)
		return BTYD_ERR_EMPTY;

	memset(&sum, 0, sizeof(sum));
	for (k = 0; k < nrows; k++)
	{
		const BtydRow *row = &rows[k];

		if (m->check_row(row) != BTYD_OK)
		{
			out->bad_row = (long) k;
			return BTYD_ERR_INVALID_ROW;
		}
		if (!m->uses_row(row))
			continue;
		sum.w += row->weight;
		sum.wx += row->weight * row->x;
		sum.wT += row->weight * row->T;
		sum.wz += row->weight * row->t_x;
		if (row->x > 0.0)
			sum.wpos += row->weight;
		sum.xmax = fmax(sum.xmax, row->x);
	}
	if (kind == BTYD_GAMMA_GAMMA && sum.w == 0.0)
		return BTYD_ERR_NO_REPEAT_SPEND;
	if (!(sum.w > 0.0) || !isfinite(sum.w))
		return BTYD_ERR_EMPTY;
	if (sum.wpos == 0.0)
		return BTYD_ERR_NO_REPEAT_PURCHASES;
	out->n_customers = sum.w;

	if (options && options->start)
		memcpy(start, options->start, sizeof(double) * m->nparams);
	else
		m->start(&sum, start);

	pb.model = m;
	pb.rows = rows;
	pb.nrows = nrows;
	pb.W = sum.w;
	pb.xmax = sum.xmax;
	pb.penalty = l2_penalty;
	pb.nevals = 0;
	for (i = 0; i < m->nparams; i++)
		pt.theta[i] = fmin(fmax(log(start[i]), -LOG_BOUND), LOG_BOUND);

	status = minimize(&pb, &pt, maxit, gtol, &iters);

	out->iterations = iters;
	out->evaluations = pb.nevals;
	if (isfinite(pt.f))
	{
		for (i = 0; i < m->nparams; i++)
			out->params[i] = exp(pt.theta[i]);
		out->loglik = pt.ll;
		out->grad_max = max_abs(pt.g, m->nparams);
	}
	out->converged = (status == BTYD_OK);
	return status;
}

int
btyd_fit(BtydKind kind, const BtydRow *rows, size_t nrows,
		 double l2_penalty, BtydFit *out)
{
	return btyd_fit_ex(kind, rows, nrows, l2_penalty, NULL, out);
}

/* ----------------------------------------------------------------
 * Predictions
 * ----------------------------------------------------------------
 */

/* the count model for kind with valid params and history, else NULL */
static const BtydModel *
count_model(BtydKind kind, const double *params, double x, double t_x,
			double T)
{
	const BtydModel *m = find_model(kind);

	if (m == NULL || kind == BTYD_GAMMA_GAMMA || !valid_params(m, params))
		return NULL;
	if (!valid_count(x) || !isfinite(t_x) || !isfinite(T))
		return NULL;
	if (t_x < 0.0 || T < 0.0 || t_x > T)
		return NULL;
	return m;
}

/* P(alive) of a validated history */
static double
p_alive(const BtydModel *m, const double *params, double x, double t_x,
		double T)
{
	if (m->kind == BTYD_PARETO_NBD)
	{
		PnbdParts	pp;

		pnbd_parts(params, x, t_x, T, 0, NULL, &pp);
		return logistic(pp.l_alive - pp.l_dead);
	}
	else
	{
		double		D,
					lratio,
					bx;

		if (!bg_dropout(params, m->delta, x, t_x, T, &D, &lratio, &bx))
			return 1.0;
		return logistic(-D);
	}
}

double
btyd_p_alive(BtydKind kind, const double *params, double x, double t_x,
			 double T)
{
	const BtydModel *m = count_model(kind, params, x, t_x, T);

	if (m == NULL)
		return NAN;
	return p_alive(m, params, x, t_x, T);
}

/*
 * BG/NBD and MBG/NBD, FHL eq. (10) with Euler's transformation:
 *	E = C/(a-1) [1 - (1-z)^(a-1) 2F1(P, a-1; C; z)] P(alive)
 *	  = C [ (1 - (1-z)^(a-1))/(a-1) - (1-z)^(a-1) S ] P(alive)
 * with C = a+b+x-1+delta, P = a+b-1-r+delta, z = t/(alpha+T+t) and
 * 2F1(P, a-1; C; z) = 1 + (a-1) S.
 */
static double
bg_expected(const BtydModel *m, const double *p, double t, double x,
			double t_x, double T)
{
	double		r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];
	double		C = a + b + x - 1.0 + m->delta;
	double		P = a + b - 1.0 - r + m->delta;
	double		z = t / (alpha + T + t);
	double		L = -log1p(t / (alpha + T));	/* ln(1 - z) */
	double		lscale;
	double		S = hyp_tail_series(P, a - 1.0, C, z, &lscale);
	double		bracket = one_minus_exp_over(a - 1.0, L)
		- exp((a - 1.0) * L + lscale) * S;

	return C * bracket * p_alive(m, p, x, t_x, T);
}

/* Pareto/NBD conditional expectation, FH note section 6 */
static double
pnbd_expected(const BtydModel *m, const double *p, double t, double x,
			  double t_x, double T)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		L = -log1p(t / (beta + T));	/* ln((beta+T)/(beta+T+t)) */

	return (r + x) * (beta + T) / (alpha + T)
		* one_minus_exp_over(s - 1.0, L) * p_alive(m, p, x, t_x, T);
}

double
btyd_expected_purchases(BtydKind kind, const double *params, double t,
						double x, double t_x, double T)
{
	const BtydModel *m = count_model(kind, params, x, t_x, T);

	if (m == NULL || !isfinite(t) || t < 0.0)
		return NAN;
	if (t == 0.0)
		return 0.0;
	if (kind == BTYD_PARETO_NBD)
		return pnbd_expected(m, params, t, x, t_x, T);
	return bg_expected(m, params, t, x, t_x, T);
}

double
btyd_expected_purchases_new(BtydKind kind, const double *params, double t)
{
	return btyd_expected_purchases(kind, params, t, 0.0, 0.0, 0.0);
}

double
btyd_gg_expected_spend(const double *params, double x, double zbar)
{
	const BtydModel *m = find_model(BTYD_GAMMA_GAMMA);
	double		p,
				q,
				v;

	if (!valid_params(m, params) || !valid_count(x) || !isfinite(zbar) ||
		zbar < 0.0)
		return NAN;
	p = params[0];
	q = params[1];
	v = params[2];
	if (p * x + q - 1.0 <= 0.0)
		return INFINITY;
	return p * (v + x * zbar) / (p * x + q - 1.0);
}

/* ----------------------------------------------------------------
 * Grouping identical rows
 * ----------------------------------------------------------------
 */

static int
row_cmp(const void *pa, const void *pb)
{
	const BtydRow *a = (const BtydRow *) pa;
	const BtydRow *b = (const BtydRow *) pb;

	if (a->x != b->x)
		return a->x < b->x ? -1 : 1;
	if (a->t_x != b->t_x)
		return a->t_x < b->t_x ? -1 : 1;
	if (a->T != b->T)
		return a->T < b->T ? -1 : 1;
	return 0;
}

size_t
btyd_group_rows(BtydRow *rows, size_t nrows)
{
	size_t		out = 0;
	size_t		k;

	if (rows == NULL || nrows == 0)
		return 0;
	qsort(rows, nrows, sizeof(BtydRow), row_cmp);
	for (k = 1; k < nrows; k++)
	{
		if (row_cmp(&rows[out], &rows[k]) == 0)
			rows[out].weight += rows[k].weight;
		else
			rows[++out] = rows[k];
	}
	return out + 1;
}
