/*-------------------------------------------------------------------------
 *
 * btyd_optim_kernel.c
 *	  The maximum-likelihood optimizer of the "buy till you die" models
 *	  (btyd_kernel.c), in pure C99.
 *
 * The caller's objective f(theta) is, for the BTYD models, the negative
 * log-likelihood per customer plus the penalty, over theta = ln(params)
 * (and the covariate coefficients as they are); see btyd_kernel.c "4.
 * OPTIMIZER".
 *
 * Method: BFGS on the inverse Hessian, started from the inverse of the
 * BHHH matrix (sum of outer products of per-customer scores, free while
 * summing the gradient), with a weak-Wolfe line search (Armijo c1 = 1e-4,
 * curvature c2 = 0.9) that also accepts Hager & Zhang's approximate Wolfe
 * condition near the optimum, where f no longer changes in floating
 * point.  A step moves no component of theta by more than MAX_STEP; points
 * where f or its gradient is not finite (the objective's way of saying
 * "infeasible") are rejected by the line search, so the iterate is always
 * finite.  If the line search fails the BHHH matrix is recomputed once at
 * the current point.
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
 * max_iterations, it has not converged.
 *
 * The Hessian at the optimum, for standard errors, comes from forward
 * differences of the analytic gradient when the model has no analytic
 * second derivatives (btyd_fd_hessian): n more evaluations, with steps
 * h_j = 1e-6 (1 + |theta_j|), whose truncation error (about h/2 times the
 * third derivative) and rounding error (the gradient's ~1e-13 relative
 * accuracy over h) both stay near 1e-6 relative.
 *
 *-------------------------------------------------------------------------
 */
#include "btyd_optim_kernel.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define MAX_STEP	4.0			/* max change of a theta_i per iteration */
#define GTOL_FLOOR	1e-6
#define FLAT_ITERS	5			/* criterion C window */
#define FLAT_RTOL	1e-12		/* criterion C relative decrease */
#define LS_MAX		40			/* line-search trials */
#define LS_PATIENCE 8			/* trials before taking any Armijo point */
#define LS_C1		1e-4
#define LS_C2		0.9
#define F_NOISE		1e-13		/* relative f noise for approximate Wolfe */
#define FD_STEP		1e-6		/* relative step of btyd_fd_hessian */

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
 * Cholesky factorization of A + ridge I and the inverse from it; 0 if a
 * pivot is not above "tiny".
 */
static int
chol_inverse(const double *A, int n, double ridge, double tiny, double *Ainv)
{
	double		L[BTYD_MAX_THETA * BTYD_MAX_THETA];
	int			i,
				j,
				k;

	for (i = 0; i < n; i++)
	{
		for (j = 0; j <= i; j++)
		{
			double		s = A[i * n + j] + (i == j ? ridge : 0.0);

			for (k = 0; k < j; k++)
				s -= L[i * n + k] * L[j * n + k];
			if (i == j)
			{
				if (!(s > tiny))
					return 0;
				L[i * n + i] = sqrt(s);
			}
			else
				L[i * n + j] = s / L[j * n + j];
		}
	}
	/* solve L L' X = I column by column */
	for (k = 0; k < n; k++)
	{
		double		y[BTYD_MAX_THETA];

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
	return 1;
}

static double
max_diag(const double *A, int n)
{
	double		scale = 0.0;
	int			i;

	for (i = 0; i < n; i++)
		scale = fmax(scale, fabs(A[i * n + i]));
	return scale;
}

int
btyd_cholesky_inverse(const double *A, int n, double *Ainv)
{
	double		scale = max_diag(A, n);
	double		tmp[BTYD_MAX_THETA * BTYD_MAX_THETA];

	if (!(scale > 0.0) || !isfinite(scale) ||
		!chol_inverse(A, n, 0.0, 1e-14 * scale, tmp))
		return 0;
	memcpy(Ainv, tmp, sizeof(double) * n * n);
	return 1;
}

/*
 * Inverse of a symmetric positive (semi)definite n x n matrix via
 * Cholesky, with a growing ridge if it is not numerically positive
 * definite.  Falls back to a scaled identity.
 */
static void
spd_inverse(const double *A, int n, double *Ainv)
{
	double		scale = max_diag(A, n);
	double		ridge = 0.0;
	int			attempt,
				i;

	if (!(scale > 0.0) || !isfinite(scale))
	{
		memset(Ainv, 0, sizeof(double) * n * n);
		for (i = 0; i < n; i++)
			Ainv[i * n + i] = 1.0;
		return;
	}
	for (attempt = 0; attempt < 12; attempt++)
	{
		if (chol_inverse(A, n, ridge, 1e-14 * scale, Ainv))
			return;
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
line_search(const BtydObjective *obj, const BtydPoint *cur, const double *d, BtydPoint *next)
{
	int			np = obj->n;
	double		gd = dot(cur->g, d, np);
	double		lo = 0.0;
	double		hi = INFINITY;
	double		t = 1.0;
	double		dmax = fmax(max_abs(d, np), DBL_MIN);
	double		tmax = MAX_STEP / dmax;
	BtydPoint		trial;
	BtydPoint		armijo;
	int			have_armijo = 0;
	int			it,
				i;

	for (it = 0; it < LS_MAX; it++)
	{
		double		gtd;
		int			armijo_ok;

		for (i = 0; i < np; i++)
			trial.theta[i] = cur->theta[i] + t * d[i];
		obj->evaluate(obj->arg, &trial, NULL);
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
	double		Hy[BTYD_MAX_THETA];
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
 * Minimize from *cur (theta set): see the header comment.  Returns 1 if
 * converged; *cur holds the best point, *iters the number of iterations.
 */
int
btyd_minimize(const BtydObjective *obj, BtydPoint *cur, int maxit, double gtol, int *iters)
{
	int			np = obj->n;
	double		B[BTYD_MAX_THETA * BTYD_MAX_THETA];
	double		H[BTYD_MAX_THETA * BTYD_MAX_THETA];
	double		fhist[FLAT_ITERS];
	int			fresh = 1;
	int			stalled = 0;
	int			flat = 0;
	int			it,
				i;

	obj->evaluate(obj->arg, cur, B);
	if (!isfinite(cur->f))
	{
		*iters = 0;
		return 0;
	}
	spd_inverse(B, np, H);
	for (it = 0; it < maxit; it++)
	{
		double		d[BTYD_MAX_THETA];
		double		s[BTYD_MAX_THETA];
		double		y[BTYD_MAX_THETA];
		double		dmax;
		BtydPoint		next;

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
			BtydPoint		again = *cur;

			obj->evaluate(obj->arg, &again, B);
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
		if (!line_search(obj, cur, d, &next))
		{
			if (fresh)
			{
				stalled = 1;
				break;
			}
			/* retry once from a fresh BHHH inverse */
			{
				BtydPoint		again = *cur;

				obj->evaluate(obj->arg, &again, B);
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
		return 1;
	if ((stalled || flat) && max_abs(cur->g, np) <= GTOL_FLOOR)
		return 1;
	return 0;
}


int
btyd_fd_hessian(const BtydObjective *obj, const BtydPoint *at, double *H)
{
	int			n = obj->n;
	int			i,
				j;

	for (j = 0; j < n; j++)
	{
		BtydPoint	shifted = *at;
		double		h = FD_STEP * (1.0 + fabs(at->theta[j]));

		/* the step actually taken, after rounding theta_j + h */
		shifted.theta[j] = at->theta[j] + h;
		h = shifted.theta[j] - at->theta[j];
		obj->evaluate(obj->arg, &shifted, NULL);
		if (!isfinite(shifted.f))
			return 0;
		for (i = 0; i < n; i++)
			H[i * n + j] = (shifted.g[i] - at->g[i]) / h;
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
		{
			double		v = 0.5 * (H[i * n + j] + H[j * n + i]);

			H[i * n + j] = v;
			H[j * n + i] = v;
		}
	return 1;
}
