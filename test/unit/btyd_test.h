/*-------------------------------------------------------------------------
 *
 * btyd_test.h
 *	  What the BTYD kernel unit tests share (btyd_kernel_test.c,
 *	  btyd_predictions_test.c): TAP output, timing, random numbers (splitmix64
 *	  seeding xoshiro256**, Marsaglia-Tsang gamma), direct hypergeometric
 *	  series and tanh-sinh quadrature in long double for references
 *	  independent of the kernel, and the CDNOW calibration summary.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_BTYD_TEST_H
#define CRM_BTYD_TEST_H

#include "btyd_kernel.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CUST	4000

static int	ntests = 0;
static int	nfailed = 0;

static inline int
ok(int cond, const char *fmt,...)
{
	va_list		ap;

	ntests++;
	if (!cond)
		nfailed++;
	printf("%sok %d - ", cond ? "" : "not ", ntests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

static inline void
diag(const char *fmt,...)
{
	va_list		ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline double
relerr(double got, double want)
{
	if (got == want)
		return 0.0;
	return fabs(got - want) / fmax(fabs(want), 1e-300);
}

static inline double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static inline int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* ----------------------------------------------------------------
 * Random numbers: splitmix64 seeding xoshiro256**; Marsaglia-Tsang gamma
 * ----------------------------------------------------------------
 */
typedef struct Rng
{
	uint64_t	s[4];
} Rng;

static inline uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void
rng_seed(Rng *g, uint64_t seed)
{
	int			i;

	for (i = 0; i < 4; i++)
		g->s[i] = splitmix64(&seed);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t
xoshiro(Rng *g)
{
	uint64_t   *s = g->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* uniform on (0, 1) */
static inline double
runif(Rng *g)
{
	return ((xoshiro(g) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static inline double
rexp(Rng *g)
{
	return -log(runif(g));
}

static inline double
rnorm(Rng *g)
{
	/* Marsaglia polar method */
	double		u,
				v,
				s;

	do
	{
		u = 2.0 * runif(g) - 1.0;
		v = 2.0 * runif(g) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	return u * sqrt(-2.0 * log(s) / s);
}

/* Gamma(shape, rate 1), Marsaglia & Tsang (2000); shape < 1 by boosting */
static inline double
rgamma1(Rng *g, double shape)
{
	double		d,
				c;

	if (shape < 1.0)
		return rgamma1(g, shape + 1.0) * pow(runif(g), 1.0 / shape);
	d = shape - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;)
	{
		double		x = rnorm(g);
		double		v = 1.0 + c * x;
		double		u;

		if (v <= 0.0)
			continue;
		v = v * v * v;
		u = runif(g);
		if (u < 1.0 - 0.0331 * x * x * x * x)
			return d * v;
		if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
			return d * v;
	}
}

static inline double
rgamma(Rng *g, double shape, double rate)
{
	return rgamma1(g, shape) / rate;
}

static inline double
rbeta(Rng *g, double a, double b)
{
	double		x = rgamma1(g, a);
	double		y = rgamma1(g, b);

	return x / (x + y);
}

/* ----------------------------------------------------------------
 * Independent references in long double
 * ----------------------------------------------------------------
 */

/* direct Gauss series, no transformation; only where it converges well */
static inline long double
ref_hyp2f1_series(long double a, long double b, long double c, long double z)
{
	long double t = 1.0L;
	long double s = 1.0L;
	int			k;

	for (k = 0; k < 200000; k++)
	{
		t *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z;
		s += t;
		if (fabsl(t) < 1e-22L * fabsl(s) && k > 5)
			break;
		if (t == 0.0L)
			break;
	}
	return s;
}

typedef long double (*Integrand) (long double x, long double xa,
								  long double bx, const void *arg);

/*
 * tanh-sinh quadrature of f over [a, b]; f also gets x - a and b - x,
 * computed without cancellation, for endpoint singularities.
 */
static inline long double
ref_quad(Integrand f, const void *arg, long double a, long double b)
{
	long double half = (b - a) / 2.0L;
	long double h = 0.5L;
	long double prev = 0.0L;
	long double sum = 0.0L;
	int			level;

	for (level = 0; level < 12; level++)
	{
		long double s = 0.0L;
		int			k;
		int			kmax = (int) (4.5L / h);

		for (k = -kmax; k <= kmax; k++)
		{
			long double t = k * h;
			long double u = 1.5707963267948966192313216916397514L * sinhl(t);
			long double w = 1.5707963267948966192313216916397514L * coshl(t)
				/ (coshl(u) * coshl(u));
			long double xa = 2.0L * half / (1.0L + expl(-2.0L * u));
			long double bx = 2.0L * half / (1.0L + expl(2.0L * u));
			long double v;

			if (w < 1e-300L || xa <= 0.0L || bx <= 0.0L)
				continue;
			v = f(a + xa, xa, bx, arg);
			if (isfinite((double) v))
				s += w * v;
		}
		sum = s * h * half;
		if (level > 2 && fabsl(sum - prev) <= 1e-17L * fabsl(sum))
			break;
		prev = sum;
		h /= 2.0L;
	}
	return sum;
}

/* BG/NBD (delta 0) and MBG/NBD (delta 1) P(alive), written out directly */
static inline long double
ref_bg_palive(const double *p, int delta, double x, double t_x, double T)
{
	long double r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];

	if (x == 0 && !delta)
		return 1.0L;
	return 1.0L / (1.0L + a / (b + x - 1 + delta)
				   * powl((alpha + T) / (alpha + t_x), r + x));
}

/* FHL 2005 eq. (10) (and its MBG/NBD form), direct 2F1 series */
static inline long double
ref_bg_expect(const double *p, int delta, double t, double x, double t_x,
			  double T)
{
	long double r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];
	long double z = t / (alpha + T + t);
	long double f = ref_hyp2f1_series(r + x, b + x + delta,
									  a + b + x - 1 + delta, z);
	long double br = 1.0L - powl((alpha + T) / (alpha + T + t), r + x) * f;

	return (a + b + x - 1 + delta) / (a - 1) * br
		* ref_bg_palive(p, delta, x, t_x, T);
}

/* ----------------------------------------------------------------
 * CDNOW
 * ----------------------------------------------------------------
 */
static BtydRow cd_rows[MAX_CUST];	/* x, t_x, T */
static BtydRow cd_gg[MAX_CUST];	/* x, zbar */
static int	cd_n = 0;

static inline int
load_cdnow(const char *path)
{
	FILE	   *f;
	char		line[512];
	int			lineno = 0;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
	{
		int			id;
		double		x,
					t_x,
					T,
					zbar;

		if (lineno++ == 0)
			continue;			/* header */
		if (sscanf(line, "%d,%lf,%lf,%lf,%lf", &id, &x, &t_x, &T, &zbar) != 5)
			continue;
		if (cd_n >= MAX_CUST)
			break;
		cd_rows[cd_n].x = x;
		cd_rows[cd_n].t_x = t_x;
		cd_rows[cd_n].T = T;
		cd_rows[cd_n].weight = 1.0;
		cd_gg[cd_n].x = x;
		cd_gg[cd_n].t_x = zbar;
		cd_gg[cd_n].T = 0.0;
		cd_gg[cd_n].weight = 1.0;
		cd_n++;
	}
	fclose(f);
	return cd_n;
}

/*
 * Standard errors from the observed information: numerical Jacobian of
 * the analytic gradient (in ln-parameters), inverted by Gauss-Jordan.
 */
static inline void
std_errors(BtydKind kind, const double *params, const BtydRow *rows,
		   size_t n, double *se)
{
	int			np = btyd_nparams(kind);
	double		H[4][8];
	int			i,
				j,
				k;

	for (j = 0; j < np; j++)
	{
		double		pp[4],
					pm[4],
					gp[4],
					gm[4];
		double		h = 1e-4;

		memcpy(pp, params, sizeof(pp));
		memcpy(pm, params, sizeof(pm));
		pp[j] *= exp(h);
		pm[j] *= exp(-h);
		btyd_loglik_grad(kind, pp, rows, n, gp);
		btyd_loglik_grad(kind, pm, rows, n, gm);
		for (i = 0; i < np; i++)
			H[i][j] = -(gp[i] * pp[i] - gm[i] * pm[i]) / (2 * h);
	}
	for (i = 0; i < np; i++)
	{
		for (j = 0; j < np; j++)
			H[i][np + j] = (i == j);
		H[i][i] += 0.0;
	}
	for (i = 0; i < np; i++)
	{
		double		piv = H[i][i];

		for (j = 0; j < 2 * np; j++)
			H[i][j] /= piv;
		for (k = 0; k < np; k++)
			if (k != i)
			{
				double		f = H[k][i];

				for (j = 0; j < 2 * np; j++)
					H[k][j] -= f * H[i][j];
			}
	}
	for (i = 0; i < np; i++)
		se[i] = sqrt(fabs(H[i][np + i]));	/* relative SE (ln scale) */
}

#endif							/* CRM_BTYD_TEST_H */
