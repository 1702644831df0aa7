/*-------------------------------------------------------------------------
 *
 * btyd_math_kernel.h
 *	  Special functions of the "buy till you die" models, in pure C99:
 *	  digamma and trigamma, the Gauss hypergeometric function and the
 *	  2F1(1, b; c; z) family with its derivatives, the regularized
 *	  incomplete beta function, the normal quantile, and adaptive
 *	  Gauss-Kronrod quadrature.
 *
 * Used by btyd_kernel.c (the models); btyd_math_kernel.c explains the
 * numerics.  Same contract as the other kernels: no PostgreSQL headers, no
 * allocation, no mutable global state; invalid arguments give NaN.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_BTYD_MATH_KERNEL_H
#define CRM_BTYD_MATH_KERNEL_H

#include <math.h>

/* ln(1 + exp(d)) without overflow */
static inline double
btyd_log1pexp(double d)
{
	if (d > 0.0)
		return d + log1p(exp(-d));
	return log1p(exp(d));
}

/* 1 / (1 + exp(-d)) */
static inline double
btyd_logistic(double d)
{
	return 1.0 / (1.0 + exp(-d));
}

/* (1 - exp(c L)) / c, continuous at c = 0 where it is -L */
static inline double
btyd_one_minus_exp_over(double c, double L)
{
	if (c == 0.0)
		return -L;
	return -expm1(c * L) / c;
}

/* psi(x) and psi'(x) for x > 0 */
extern double btyd_digamma(double x);
extern double btyd_trigamma(double x);

/* ln B(a, b) = ln G(a) + ln G(b) - ln G(a+b), a, b > 0 */
extern double btyd_lbeta(double a, double b);

/*
 * F(b, c, z) = 2F1(1, b; c; z) for 0 <= z < 1, 0 < b < c, with its
 * logarithmic derivatives d ln F / d{b, c, z}: the series for small z,
 * Gauss's continued fraction near 1 (see btyd_math_kernel.c).
 */
typedef struct BtydF1
{
	double		f;
	double		dlb;
	double		dlc;
	double		dlz;
} BtydF1;

extern void btyd_f1(double b, double c, double z, BtydF1 *out);

/*
 * S = sum_{k>=1} (a)_k (b+1)_{k-1} / ((c)_k k!) z^k, so that
 * 2F1(a, b; c; z) = 1 + b S, as mantissa * exp(*lscale).  |z| <= 1 (z = 1
 * only for a terminating series), c not a non-positive integer.
 */
extern double btyd_hyp_tail_series(double a, double b, double c, double z,
								   double *lscale);

/*
 * Regularized incomplete beta I_x(a, b) for a, b > 0, 0 <= x <= 1; its
 * complement 1 - I_x(a, b) = I_{1-x}(b, a) is stored in *complement, both
 * to full relative accuracy (neither is computed as 1 minus the other).
 * NaN for invalid arguments.
 */
extern double btyd_beta_inc(double a, double b, double x, double *complement);

/* z with Phi(z) = p, the standard normal quantile, 0 < p < 1 */
extern double btyd_normal_quantile(double p);

/*
 * Adaptive Gauss-Kronrod (7-15) quadrature of f over [a, b]: subdivides
 * until the error estimate of every piece is below max(abs_tol, rel_tol *
 * |integral|) in total, or the interval budget is spent (then *err says
 * how far it got).  Returns the integral; NaN if f returns NaN.
 */
typedef double (*BtydIntegrand) (double u, const void *arg);

extern double btyd_integrate(BtydIntegrand f, const void *arg, double a,
							 double b, double abs_tol, double rel_tol,
							 double *err);

#endif							/* CRM_BTYD_MATH_KERNEL_H */
