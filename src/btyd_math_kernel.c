/*-------------------------------------------------------------------------
 *
 * btyd_math_kernel.c
 *	  Special functions of the "buy till you die" models (btyd_kernel.c),
 *	  in pure C99.
 *
 * 1. GAMMA FAMILY
 *
 * digamma psi and trigamma psi' by the recurrences psi(x) = psi(x+1) - 1/x,
 * psi'(x) = psi'(x+1) + 1/x^2 up to x >= 10 and then their asymptotic
 * series (Abramowitz & Stegun 6.3.18 and 6.4.12), whose truncation errors
 * there are below 1e-16 relative.  ln B(a, b) from the C library's lgamma().
 *
 * 2. HYPERGEOMETRIC FUNCTIONS
 *
 * The Pareto/NBD likelihood needs F(b, c, z) = 2F1(1, b; c; z) =
 * sum_k (b)_k / (c)_k z^k for 0 <= z < 1, 0 < b < c, with its derivatives.
 * The series has positive terms that shrink by at least the factor z, never
 * overflows (it is at most 1/(1-z)), and its derivatives in b, c and z are
 * summed term by term in the same loop.  When z > 0.75 (the series would
 * need ~40/(1-z) terms) we switch to Gauss's continued fraction for the
 * same function, whose error falls like ((1-sqrt(1-z))/(1+sqrt(1-z)))^j
 * (f1_contfrac); both agree to ~1e-12 where both apply.
 *
 * btyd_hyp2f1() is the general 2F1(a, b; c; z) for z <= 1 (predictions and
 * the tests): Pfaff's and Euler's transformations map the argument and
 * shrink the upper parameters, and the series is summed with rescaling so
 * that growing terms cannot overflow; see the function.
 *
 * 3. INCOMPLETE BETA, NORMAL QUANTILE, QUADRATURE
 *
 * The regularized incomplete beta I_x(a, b) (negative binomial tails in the
 * BG/NBD distribution of counts) is the continued fraction of DLMF 8.17.22
 * evaluated by the modified Lentz method on whichever of I_x(a, b) and
 * I_{1-x}(b, a) it converges fast for (x below (a+1)/(a+b+2)); the other
 * is 1 minus it, so the smaller of the two is always accurate to its last
 * digits.  The normal quantile is Acklam's rational approximation polished
 * by two Newton steps on erfc(), accurate to ~1e-15.  Quadrature (the
 * Pareto/NBD distribution of counts) is adaptive Gauss-Kronrod 7-15 that
 * always splits the piece with the largest error estimate, over at most
 * QUAD_PIECES pieces kept on the stack.
 *
 *-------------------------------------------------------------------------
 */
#include "btyd_math_kernel.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define SERIES_EPS	1e-17
#define CF_EPS		4e-16
#define CF_MIN_Z	0.75		/* continued fraction above this z */
#define CF_MAX		4000L		/* exact for 1 - z > ~3e-5, see f1_contfrac */
#define SERIES_MAX	2000000L	/* cap on series terms (z extremely near 1) */
#define HYP_BIG		1e250
#define BETA_CF_MAX 10000		/* incomplete beta continued fraction terms */
#define QUAD_PIECES 200			/* adaptive quadrature intervals */
#define SQRT_HALF	0.70710678118654752440
#define INV_SQRT_2PI	0.39894228040143267794

/* ----------------------------------------------------------------
 * Special functions
 * ----------------------------------------------------------------
 */

/*
 * Digamma psi(x) for x > 0: recurrence psi(x) = psi(x+1) - 1/x up to
 * x >= 10, then the asymptotic series (A&S 6.3.18) through x^-14, whose
 * truncation error there is below 1e-17.
 */
double
btyd_digamma(double x)
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

/*
 * Trigamma psi'(x) for x > 0: recurrence psi'(x) = psi'(x+1) + 1/x^2 up to
 * x >= 10, then the asymptotic series (A&S 6.4.12) through x^-15.
 */
double
btyd_trigamma(double x)
{
	double		result = 0.0;
	double		inv;
	double		inv2;

	while (x < 10.0)
	{
		result += 1.0 / (x * x);
		x += 1.0;
	}
	inv = 1.0 / x;
	inv2 = inv * inv;
	result += inv + 0.5 * inv2
		+ inv * inv2 * (1.0 / 6 - inv2 * (1.0 / 30 - inv2 * (1.0 / 42
			- inv2 * (1.0 / 30 - inv2 * (5.0 / 66 - inv2 * (691.0 / 2730
															 - inv2 * 7.0 / 6))))));
	return result;
}

double
btyd_lbeta(double a, double b)
{
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

#ifdef CRM_KERNEL_TESTS
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
#endif

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
static void
f1_series(double b, double c, double z, BtydF1 *out)
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
f1_contfrac(double b, double c, double z, BtydF1 *out)
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

/* F(b, c, z) by the continued fraction near z = 1, else the series */
void
btyd_f1(double b, double c, double z, BtydF1 *out)
{
	if (!(z > CF_MIN_Z && f1_contfrac(b, c, z, out)))
		f1_series(b, c, z, out);
}

/*
 * S = sum_{k>=1} (a)_k (b+1)_{k-1} / ((c)_k k!) z^k, so that
 * 2F1(a, b; c; z) = 1 + b S; returned as mantissa * exp(*lscale) so that
 * growing terms cannot overflow.  Needs |z| <= 1 (z = 1 only for a
 * terminating series) and c not a non-positive integer.
 */
double
btyd_hyp_tail_series(double a, double b, double c, double z, double *lscale)
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

#ifdef CRM_KERNEL_TESTS
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
		s = btyd_hyp_tail_series(a, b, c, 1.0, &lscale);
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
		/* the unit tests' check of the series */
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
static double
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
	s = btyd_hyp_tail_series(a, b, c, z, &lscale);
	mant = exp(-lscale) + b * s;
	if (mant == 0.0)
		return 0.0;
	return copysign(exp(log(fabs(mant)) + lscale + pre), mant);
}
#endif


/* ----------------------------------------------------------------
 * Incomplete beta, normal quantile, quadrature
 * ----------------------------------------------------------------
 */

/*
 * The continued fraction of I_x(a, b) (DLMF 8.17.22) without its
 * prefactor, by the modified Lentz method:
 *	1 / (1 + d1 / (1 + d2 / (1 + ...))),
 *	d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)),
 *	d_{2m}	 = m(b-m) x / ((a+2m-1)(a+2m)).
 */
static double
beta_cf(double a, double b, double x)
{
	const double tiny = 1e-300;
	double		f = 1.0,
				C = 1.0,
				D = 0.0;
	int			j;

	for (j = 1; j <= BETA_CF_MAX; j++)
	{
		int			m = j / 2;
		double		d,
					delta;

		if (j % 2 == 1)
			d = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
		else
			d = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
		D = 1.0 + d * D;
		if (fabs(D) < tiny)
			D = tiny;
		C = 1.0 + d / C;
		if (fabs(C) < tiny)
			C = tiny;
		D = 1.0 / D;
		delta = C * D;
		f *= delta;
		if (fabs(delta - 1.0) < 1e-16)
			break;
	}
	return 1.0 / f;
}

double
btyd_beta_inc(double a, double b, double x, double *complement)
{
	double		lpre,
				small;
	int			swap;

	if (!(a > 0.0 && b > 0.0 && x >= 0.0 && x <= 1.0) || !isfinite(a) ||
		!isfinite(b))
	{
		*complement = NAN;
		return NAN;
	}
	if (x == 0.0 || x == 1.0)
	{
		*complement = 1.0 - x;
		return x;
	}
	swap = !(x < (a + 1.0) / (a + b + 2.0));
	if (swap)
	{
		double		t = a;

		a = b;
		b = t;
		x = 1.0 - x;
	}
	/* x^a (1-x)^b / (a B(a, b)) */
	lpre = a * log(x) + b * log1p(-x) - log(a) - btyd_lbeta(a, b);
	small = fmin(exp(lpre) * beta_cf(a, b, x), 1.0);
	*complement = swap ? small : 1.0 - small;
	return swap ? 1.0 - small : small;
}

/* Acklam's rational approximation, then two Newton steps on erfc */
double
btyd_normal_quantile(double p)
{
	static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
		-2.759285104469687e+02, 1.383577518672690e+02,
	-3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02,
		-1.556989798598866e+02, 6.680131188771972e+01,
	-1.328068155288572e+01};
	static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
		-2.400758277161838e+00, -2.549732539343734e+00,
	4.374664141464968e+00, 2.938163982698783e+00};
	static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01,
	2.445134137142996e+00, 3.754408661907416e+00};
	double		q,
				r,
				z;
	int			i;

	if (!(p > 0.0 && p < 1.0))
		return NAN;
	if (p < 0.02425 || p > 1.0 - 0.02425)
	{
		q = sqrt(-2.0 * log(p < 0.5 ? p : 1.0 - p));
		z = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
		if (p > 0.5)
			z = -z;
	}
	else
	{
		q = p - 0.5;
		r = q * q;
		z = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
			(((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
	}
	for (i = 0; i < 2; i++)
	{
		/* Phi(z) - p, from the tail that keeps its digits */
		double		e = z < 0.0 ? 0.5 * erfc(-z * SQRT_HALF) - p
			: (1.0 - p) - 0.5 * erfc(z * SQRT_HALF);
		double		dens = exp(-0.5 * z * z) * INV_SQRT_2PI;

		z -= e / dens;
	}
	return z;
}

/* Kronrod 15-point nodes and weights, and the embedded Gauss 7-point weights */
static const double gk_x[8] = {
	0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
	0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
	0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
	0.207784955007898467600689403773245, 0.0
};
static const double gk_wk[8] = {
	0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
	0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
	0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
	0.204432940075298892414161999234649, 0.209482141084727828012999174891714
};
static const double gk_wg[4] = {
	0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
	0.381830050505118944950369775488975, 0.417959183673469387755102040816327
};

/* GK15 on [a, b]: the Kronrod value and |Kronrod - Gauss| */
static double
gk15(BtydIntegrand f, const void *arg, double a, double b, double *err)
{
	double		mid = 0.5 * (a + b);
	double		half = 0.5 * (b - a);
	double		fc = f(mid, arg);
	double		rk = fc * gk_wk[7];
	double		rg = fc * gk_wg[3];
	int			j;

	for (j = 0; j < 7; j++)
	{
		double		dx = half * gk_x[j];
		double		f1 = f(mid - dx, arg);
		double		f2 = f(mid + dx, arg);

		rk += gk_wk[j] * (f1 + f2);
		if (j % 2 == 1)
			rg += gk_wg[j / 2] * (f1 + f2);
	}
	*err = fabs((rk - rg) * half);
	return rk * half;
}

double
btyd_integrate(BtydIntegrand f, const void *arg, double a, double b,
			   double abs_tol, double rel_tol, double *err)
{
	double		lo[QUAD_PIECES],
				hi[QUAD_PIECES],
				val[QUAD_PIECES],
				est[QUAD_PIECES];
	int			n = 1;
	double		total,
				total_err;
	int			i;

	val[0] = gk15(f, arg, a, b, &est[0]);
	lo[0] = a;
	hi[0] = b;
	for (;;)
	{
		int			worst = 0;
		double		m;

		total = 0.0;
		total_err = 0.0;
		for (i = 0; i < n; i++)
		{
			total += val[i];
			total_err += est[i];
			if (est[i] > est[worst])
				worst = i;
		}
		if (isnan(total) || total_err <= fmax(abs_tol, rel_tol * fabs(total)) ||
			n == QUAD_PIECES)
			break;
		/* split the piece with the largest error estimate */
		m = 0.5 * (lo[worst] + hi[worst]);
		if (!(m > lo[worst] && m < hi[worst]))
			break;
		lo[n] = m;
		hi[n] = hi[worst];
		hi[worst] = m;
		val[worst] = gk15(f, arg, lo[worst], hi[worst], &est[worst]);
		val[n] = gk15(f, arg, lo[n], hi[n], &est[n]);
		n++;
	}
	if (err)
		*err = total_err;
	return total;
}
