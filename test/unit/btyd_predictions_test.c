/*-------------------------------------------------------------------------
 *
 * btyd_predictions_test.c
 *	  Standalone TAP test of what issue 18 added to the BTYD kernels: the
 *	  special functions behind it (btyd_math_kernel.c), the covariance of
 *	  the estimates, BG/BB, the distributions of the counts, intervals,
 *	  covariates, the AUC of the validation report, and predictions that
 *	  stay finite for the inputs that broke the peers.
 *
 * argv[1] is the CDNOW summary csv, as for btyd_kernel_test.c; the
 * donations summary of Fader, Hardie & Shang (2010) is written out below
 * (22 patterns, the same as test/data/donations/donations_summary.csv).
 * Reference values come from formulas written out again here in long
 * double, from quadrature, or from simulation with known parameters; the
 * published figures are quoted where they are checked.
 *
 *-------------------------------------------------------------------------
 */
/* the kernel's static functions and test entry points are tested too */
#define CRM_KERNEL_TESTS
#include "btyd_kernel.c"
#include "btyd_test.h"

#define COV_N		100000

/* ----------------------------------------------------------------
 * Special functions
 * ----------------------------------------------------------------
 */

/* ln of the negative binomial pmf, independently, in long double */
static long double
ref_nb_logpmf(long double r, long double alpha, long double t, int k)
{
	return lgammal(r + k) - lgammal(r) - lgammal(k + 1.0L)
		+ r * logl(alpha / (alpha + t)) + k * logl(t / (alpha + t));
}

static double
sin_integrand(double u, const void *arg)
{
	(void) arg;
	return sin(u);
}

static double
power_integrand(double u, const void *arg)
{
	const double *e = arg;

	return pow(u, e[0]) * pow(1.0 - u, e[1]);
}

static void
test_math(void)
{
	double		xs[] = {0.01, 0.3, 1.0, 2.5, 9.99, 10.0, 57.0, 1e4};
	double		worst = 0.0;
	int			i;

	for (i = 0; i < 8; i++)
	{
		double		h = 1e-5 * xs[i];
		double		fd = (btyd_digamma(xs[i] + h) - btyd_digamma(xs[i] - h)) / (2 * h);

		worst = fmax(worst, relerr(btyd_trigamma(xs[i]), fd));
	}
	ok(worst < 1e-7 && relerr(btyd_trigamma(1.0), M_PI * M_PI / 6) < 1e-14,
	   "trigamma = d digamma / dx to %.1e, trigamma(1) = pi^2/6", worst);

	/* I_x(k, r) is the negative binomial tail P(N >= k), summed directly */
	{
		double		r = 0.73,
					alpha = 4.2,
					t = 39.0;
		double		x = t / (alpha + t);
		double		w1 = 0.0,
					w2 = 0.0;
		int			k;

		for (k = 1; k < 60; k += 7)
		{
			long double below = 0.0L;
			int			j;
			double		comp;
			double		I = btyd_beta_inc(k, r, x, &comp);

			for (j = 0; j < k; j++)
				below += expl(ref_nb_logpmf(r, alpha, t, j));
			w1 = fmax(w1, relerr(comp, (double) below));
			w1 = fmax(w1, relerr(I, (double) (1.0L - below)));
			w2 = fmax(w2, fabs(I + comp - 1.0));
		}
		ok(w1 < 1e-12 && w2 < 1e-15,
		   "incomplete beta = negative binomial tails summed directly (max rel. err %.1e), I + 1 - I = 1 (%.1e)",
		   w1, w2);
		ok(relerr(btyd_beta_inc(3.5, 200.0, 0.001, &x), 1.0 - btyd_beta_inc(200.0, 3.5, 0.999, &x)) < 1e-9 &&
		   btyd_beta_inc(2.0, 3.0, 0.0, &x) == 0.0 && isnan(btyd_beta_inc(-1.0, 2.0, 0.5, &x)),
		   "incomplete beta: I_x(a, b) = 1 - I_(1-x)(b, a), I_0 = 0, NaN for a < 0");
	}

	{
		double		ps[] = {1e-10, 0.01, 0.3, 0.5, 0.9, 1 - 1e-9};
		double		w = 0.0;

		for (i = 0; i < 6; i++)
		{
			double		z = btyd_normal_quantile(ps[i]);
			double		p = 0.5 * erfc(-z / sqrt(2.0));

			w = fmax(w, relerr(p, ps[i]));
		}
		ok(fabs(btyd_normal_quantile(0.975) - 1.959963984540054) < 1e-12 && w < 1e-10 &&
		   isnan(btyd_normal_quantile(1.0)),
		   "normal quantile: z(0.975) = 1.959963984540054, Phi(z(p)) = p to %.1e", w);
	}

	{
		double		e22[2] = {22, 0},
					peak[2] = {500, 3};
		double		err;
		double		v1 = btyd_integrate(power_integrand, e22, 0, 1, 1e-16, 1e-15, &err);
		double		v2 = btyd_integrate(sin_integrand, NULL, 0, M_PI, 1e-16, 1e-15, &err);
		double		v3 = btyd_integrate(power_integrand, peak, 0, 1, 1e-30, 1e-13, &err);
		double		b3 = exp(lgamma(501) + lgamma(4) - lgamma(505));

		ok(relerr(v1, 1.0 / 23) < 1e-14 && relerr(v2, 2.0) < 1e-14 && relerr(v3, b3) < 1e-11,
		   "Gauss-Kronrod: x^22 on [0,1] = 1/23, sin on [0,pi] = 2, x^500 (1-x)^3 = B(501, 4) (rel. errs %.1e %.1e %.1e)",
		   relerr(v1, 1.0 / 23), relerr(v2, 2.0), relerr(v3, b3));
	}
}

/* ----------------------------------------------------------------
 * Covariance of the estimates
 * ----------------------------------------------------------------
 */
static void
test_covariance(void)
{
	BtydOptions opt = {200, 1e-9, NULL, 1};
	BtydFit		fit;
	double		pub[4] = {0.0476, 0.8427, 0.1873, 6.2105};
	int			i,
				k;

	if (cd_n != 2357)
	{
		ok(0, "covariance tests need the CDNOW data");
		return;
	}

	/* Pareto/NBD against the published standard errors */
	btyd_fit_ex(BTYD_PARETO_NBD, cd_rows, cd_n, 0.0, &opt, &fit);
	for (i = 0; i < 4; i++)
		ok(fit.has_vcov && relerr(sqrt(fit.vcov[i * 4 + i]), pub[i]) < 0.02,
		   "CDNOW Pareto/NBD standard error of %s = %.4f (published %.4f, within 2%%)",
		   btyd_param_name(BTYD_PARETO_NBD, i), sqrt(fit.vcov[i * 4 + i]), pub[i]);

	/* every model against an independent observed information */
	for (k = 0; k < 4; k++)
	{
		BtydKind	kinds[4] = {BTYD_BGNBD, BTYD_MBGNBD, BTYD_PARETO_NBD, BTYD_GAMMA_GAMMA};
		const BtydRow *rows = kinds[k] == BTYD_GAMMA_GAMMA ? cd_gg : cd_rows;
		double		se[4];
		double		worst = 0.0;
		int			np = btyd_nparams(kinds[k]);

		btyd_fit_ex(kinds[k], rows, cd_n, 0.0, &opt, &fit);
		std_errors(kinds[k], fit.params, rows, cd_n, se);
		for (i = 0; i < np; i++)
			worst = fmax(worst, relerr(sqrt(fit.vcov[i * np + i]), se[i] * fit.params[i]));
		ok(fit.has_vcov && worst < 1e-4,
		   "%s standard errors = the inverse of a central-difference observed information (max rel. diff %.1e)",
		   btyd_kind_name(kinds[k]), worst);
	}

	/* the analytic Hessian against central differences of the gradient */
	{
		double		pts[3][4] = {{0.243, 4.414, 0.793, 2.426}, {1.7, 0.8, 0.05, 30.0}, {0.5, 5.0, 1.0, 1.0}};
		BtydKind	kinds[2] = {BTYD_BGNBD, BTYD_MBGNBD};
		int			j,
					m,
					q;

		for (m = 0; m < 2; m++)
		{
			double		worst = 0.0;

			for (q = 0; q < 3; q++)
			{
				double		H[16];

				btyd_loglik_hessian(kinds[m], pts[q], cd_rows, cd_n, H);
				for (j = 0; j < 4; j++)
				{
					double		up[4],
								dn[4],
								gu[4],
								gd[4];
					double		h = 1e-5;

					memcpy(up, pts[q], sizeof(up));
					memcpy(dn, pts[q], sizeof(dn));
					up[j] *= exp(h);
					dn[j] *= exp(-h);
					btyd_loglik_grad(kinds[m], up, cd_rows, cd_n, gu);
					btyd_loglik_grad(kinds[m], dn, cd_rows, cd_n, gd);
					for (i = 0; i < 4; i++)
					{
						/* d/dln p_j of (p_i dLL/dp_i) */
						double		fd = (up[i] * gu[i] - dn[i] * gd[i]) / (2 * h);

						worst = fmax(worst, fabs(H[i * 4 + j] - fd) / fmax(1.0, fabs(fd)));
					}
				}
			}
			ok(worst < 1e-5,
			   "%s analytic Hessian in ln-parameters = central differences of the gradient at 3 points (max scaled err %.1e)",
			   btyd_kind_name(kinds[m]), worst);
		}
		ok(isnan((btyd_loglik_hessian(BTYD_PARETO_NBD, pts[0], cd_rows, cd_n, (double[16]) {0}))),
		   "Pareto/NBD has no analytic Hessian (its covariance comes from differences of the gradient)");
	}

	/* without the option, no covariance; a boundary fit has none either or a valid one */
	{
		BtydFit		plain;
		static BtydRow nodrop[3000];
		Rng			g;

		btyd_fit(BTYD_BGNBD, cd_rows, cd_n, 0.0, &plain);
		btyd_fit_ex(BTYD_BGNBD, cd_rows, cd_n, 0.0, &opt, &fit);
		ok(!plain.has_vcov && memcmp(plain.params, fit.params, sizeof(fit.params)) == 0 &&
		   plain.loglik == fit.loglik,
		   "the covariance option leaves the estimates as they are, bit for bit");
		rng_seed(&g, 11);
		for (i = 0; i < 3000; i++)
		{
			double		lambda = rgamma(&g, 0.5, 6.0);
			double		T = 26 + 52 * runif(&g);
			double		t = 0,
						t_x = 0;
			int			x = 0;

			for (;;)
			{
				t += rexp(&g) / lambda;
				if (t > T)
					break;
				x++;
				t_x = t;
			}
			nodrop[i].x = x;
			nodrop[i].t_x = t_x;
			nodrop[i].T = T;
			nodrop[i].weight = 1;
		}
		btyd_fit_ex(BTYD_BGNBD, nodrop, 3000, 0.0, &opt, &fit);
		ok(!fit.has_vcov || (fit.vcov[0] > 0 && fit.vcov[5] > 0),
		   "no dropout in the data (a maximum on the boundary): no covariance or a positive one (has_vcov %d)",
		   fit.has_vcov);
	}
}

/* ----------------------------------------------------------------
 * BG/BB on the donations of Fader, Hardie & Shang (2010)
 * ----------------------------------------------------------------
 */
static const double donations[22][4] = {
	{0, 0, 6, 3464}, {1, 1, 6, 1091}, {1, 2, 6, 277}, {1, 3, 6, 129}, {1, 4, 6, 78},
	{1, 5, 6, 119}, {1, 6, 6, 129}, {2, 2, 6, 613}, {2, 3, 6, 255}, {2, 4, 6, 155},
	{2, 5, 6, 173}, {2, 6, 6, 234}, {3, 3, 6, 322}, {3, 4, 6, 181}, {3, 5, 6, 225},
	{3, 6, 6, 357}, {4, 4, 6, 240}, {4, 5, 6, 284}, {4, 6, 6, 512}, {5, 5, 6, 335},
	{5, 6, 6, 728}, {6, 6, 6, 1203}
};

static long double
lbetal(long double a, long double b)
{
	return lgammal(a) + lgammal(b) - lgammal(a + b);
}

/* FHS eq. (5), term by term with lgammal */
static long double
ref_bgbb_lik(const double *p, int x, int t_x, int n)
{
	long double al = p[0],
				be = p[1],
				ga = p[2],
				de = p[3];
	long double L = expl(lbetal(al + x, be + n - x) - lbetal(al, be)
						 + lbetal(ga, de + n) - lbetal(ga, de));
	int			i;

	for (i = 0; i <= n - t_x - 1; i++)
		L += expl(lbetal(al + x, be + t_x - x + i) - lbetal(al, be)
				  + lbetal(ga + 1, de + t_x + i) - lbetal(ga, de));
	return L;
}

/* FHS eq. (11): P(alive in period n + 1) */
static long double
ref_bgbb_palive(const double *p, int x, int t_x, int n)
{
	return expl(lbetal(p[0] + x, p[1] + n - x) - lbetal(p[0], p[1])
				+ lbetal(p[2], p[3] + n + 1) - lbetal(p[2], p[3]))
		/ ref_bgbb_lik(p, x, t_x, n);
}

/* FHS eq. (13): E[X(n, n + ns) | x, t_x, n] */
static long double
ref_bgbb_expect(const double *p, int x, int t_x, int n, int ns)
{
	long double al = p[0],
				be = p[1],
				ga = p[2],
				de = p[3];

	return 1.0L / ref_bgbb_lik(p, x, t_x, n)
		* expl(lbetal(al + x + 1, be + n - x) - lbetal(al, be))
		* de / (ga - 1) * expl(lgammal(ga + de) - lgammal(1 + de))
		* (expl(lgammal(1 + de + n) - lgammal(ga + de + n))
		   - expl(lgammal(1 + de + n + ns) - lgammal(ga + de + n + ns)));
}

/* FHS eq. (8) at k = 0: P(X(n) = 0) of a new customer, with products */
static long double
ref_bgbb_p0(const double *p, int n)
{
	long double al = p[0],
				be = p[1],
				ga = p[2],
				de = p[3];
	long double nobuy = 1.0L,	/* B(al, be+i)/B(al, be) */
				alive = 1.0L;	/* B(ga, de+i)/B(ga, de) */
	long double P = 0.0L;
	int			i;

	for (i = 0; i < n; i++)
	{
		/* dead at the start of opportunity i + 1: B(ga+1, de+i)/B(ga, de) */
		P += nobuy * alive * ga / (ga + de + i);
		nobuy *= (be + i) / (al + be + i);
		alive *= (de + i) / (ga + de + i);
	}
	return P + nobuy * alive;
}

static void
test_bgbb(void)
{
	BtydRow		rows[22];
	BtydOptions opt = {200, 1e-9, NULL, 1};
	BtydFit		fit;
	double		pub[4] = {1.204, 0.750, 0.657, 2.783};
	double		total = 0.0,
				w = 0.0,
				worst = 0.0;
	double		t0,
				ms;
	int			i,
				st;

	for (i = 0; i < 22; i++)
	{
		rows[i].x = donations[i][0];
		rows[i].t_x = donations[i][1];
		rows[i].T = donations[i][2];
		rows[i].weight = donations[i][3];
		w += rows[i].weight;
	}
	t0 = now_sec();
	st = btyd_fit_ex(BTYD_BGBB, rows, 22, 0.0, &opt, &fit);
	ms = (now_sec() - t0) * 1e3;
	ok(st == BTYD_OK && fit.converged && w == 11104,
	   "donations BG/BB fit converged on %g donors (%d iterations, %.2f ms with covariance)",
	   fit.n_customers, fit.iterations, ms);
	for (i = 0; i < 4; i++)
		ok(fabs(fit.params[i] - pub[i]) <= 0.005,
		   "donations BG/BB %s = %.4f (published %.3f, within 0.005; standard error %.4f)",
		   btyd_param_name(BTYD_BGBB, i), fit.params[i], pub[i], sqrt(fit.vcov[i * 4 + i]));
	ok(fabs(fit.loglik + 33225.6) < 0.1, "donations BG/BB log-likelihood %.2f (published about -33,225.6)",
	   fit.loglik);
	{
		double		ll = 0.0;

		for (i = 0; i < 22; i++)
			ll += rows[i].weight * (double) logl(ref_bgbb_lik(fit.params, rows[i].x, rows[i].t_x, rows[i].T));
		ok(relerr(fit.loglik, ll) < 1e-12, "BG/BB log-likelihood = FHS eq. (5) term by term (%.10g vs %.10g)",
		   fit.loglik, ll);
	}
	{
		double		pa[3] = {btyd_p_alive(BTYD_BGBB, fit.params, 0, 0, 6),
			btyd_p_alive(BTYD_BGBB, fit.params, 2, 4, 6),
		btyd_p_alive(BTYD_BGBB, fit.params, 6, 6, 6)};
		double		want[3] = {0.11, 0.59, 0.93};
		int			hx[3][2] = {{0, 0}, {2, 4}, {6, 6}};

		for (i = 0; i < 3; i++)
			ok(round(pa[i] * 100) / 100 == want[i] &&
			   relerr(pa[i], (double) ref_bgbb_palive(fit.params, hx[i][0], hx[i][1], 6)) < 1e-12,
			   "P(alive in 2002 | x = %d, t_x = %d) = %.4f, rounds to %.2f as published; = FHS eq. (11)",
			   hx[i][0], hx[i][1], pa[i], want[i]);
	}
	for (i = 0; i < 22; i++)
	{
		double		e = btyd_expected_purchases(BTYD_BGBB, fit.params, 5, rows[i].x, rows[i].t_x, rows[i].T);

		total += rows[i].weight * e;
		worst = fmax(worst, relerr(e, (double) ref_bgbb_expect(fit.params, rows[i].x, rows[i].t_x, 6, 5)));
	}
	ok(fabs(total / 12884 - 1) < 0.01,
	   "expected repeat donations 2002-2006: %.1f (published about 12,884, within 1%%)", total);
	ok(worst < 1e-10, "BG/BB conditional expectation = FHS eq. (13) for every pattern (max rel. err %.1e)", worst);

	/* gradient, on the 22 patterns with weight 1, at two points */
	{
		BtydRow		unit[22];
		double		pts[2][4] = {{1.204, 0.750, 0.657, 2.783}, {0.4, 3.0, 2.2, 0.5}};
		double		wg = 0.0;
		int			q;

		for (i = 0; i < 22; i++)
		{
			unit[i] = rows[i];
			unit[i].weight = 1;
		}
		for (q = 0; q < 2; q++)
		{
			double		g[4];

			btyd_loglik_grad(BTYD_BGBB, pts[q], unit, 22, g);
			for (i = 0; i < 4; i++)
			{
				double		up[4],
							dn[4];
				double		h = 1e-5 * pts[q][i];
				double		fd;

				memcpy(up, pts[q], sizeof(up));
				memcpy(dn, pts[q], sizeof(dn));
				up[i] += h;
				dn[i] -= h;
				fd = (btyd_loglik(BTYD_BGBB, up, unit, 22) - btyd_loglik(BTYD_BGBB, dn, unit, 22)) / (2 * h);
				wg = fmax(wg, fabs(fd - g[i]) * pts[q][i] / fmax(1.0, fabs(g[i] * pts[q][i])));
			}
		}
		ok(wg < 1e-6, "BG/BB analytic gradient = central differences at 2 points (max scaled err %.1e)", wg);
	}

	/* distributions */
	{
		double		sum = 0,
					mean = 0,
					csum = 0,
					cmean = 0;
		int			k;

		for (k = 0; k <= 6; k++)
		{
			double		p = btyd_pmf(BTYD_BGBB, fit.params, 6, k);
			double		c = btyd_pmf_conditional(BTYD_BGBB, fit.params, 5, k, 2, 4, 6);

			sum += p;
			mean += k * p;
			csum += c;
			cmean += k * c;
		}
		ok(fabs(sum - 1) < 1e-12 && fabs(csum - 1) < 1e-12 &&
		   relerr(mean, btyd_expected_purchases_new(BTYD_BGBB, fit.params, 6)) < 1e-12 &&
		   relerr(cmean, btyd_expected_purchases(BTYD_BGBB, fit.params, 5, 2, 4, 6)) < 1e-12,
		   "BG/BB P(X = k) sums to 1 (new %.1e, given (2, 4, 6) %.1e off) and its mean is E[X]",
		   fabs(sum - 1), fabs(csum - 1));
		ok(relerr(btyd_pmf(BTYD_BGBB, fit.params, 6, 0), (double) ref_bgbb_p0(fit.params, 6)) < 1e-13 &&
		   relerr(btyd_pmf(BTYD_BGBB, fit.params, 11, 0), (double) ref_bgbb_p0(fit.params, 11)) < 1e-13 &&
		   btyd_pmf(BTYD_BGBB, fit.params, 6, 7) == 0.0,
		   "BG/BB P(X(n) = 0) = the closed form (alive and never buying, or dead first); P(X(6) = 7) = 0");
	}
	ok(isnan(btyd_expected_purchases(BTYD_BGBB, fit.params, 2.5, 1, 1, 6)) &&
	   isnan(btyd_p_alive(BTYD_BGBB, fit.params, 3, 2, 6)) &&
	   isnan(btyd_p_alive(BTYD_BGBB, fit.params, 1, 1.5, 6)),
	   "BG/BB: t not whole, x > t_x, t_x not whole -> NaN");
}

/* ----------------------------------------------------------------
 * Distributions of the counts
 * ----------------------------------------------------------------
 */

/* Pareto/NBD P(X(t) = k) of a new customer: death time integrated in tau */
typedef struct PmfTauArg
{
	long double r,
				alpha,
				s,
				beta;
	int			k;
} PmfTauArg;

static long double
pmf_tau_integrand(long double tau, long double xa, long double bx, const void *arg)
{
	const PmfTauArg *e = arg;

	(void) xa;
	(void) bx;
	/* Pareto death density times the NB count of a customer alive to tau */
	return e->s / e->beta * powl(e->beta / (e->beta + tau), e->s + 1)
		* expl(ref_nb_logpmf(e->r, e->alpha, tau, e->k));
}

static long double
ref_pnbd_pmf(const double *p, double t, int k)
{
	PmfTauArg	e = {p[0], p[1], p[2], p[3], k};

	return expl(ref_nb_logpmf(p[0], p[1], t, k)) * powl(p[3] / (p[3] + t), p[2])
		+ ref_quad(pmf_tau_integrand, &e, 0.0L, t);
}

static void
test_distributions(void)
{
	double		bg[4] = {0.243, 4.414, 0.793, 2.426};
	double		mbg[4] = {0.525, 6.183, 0.891, 1.614};
	double		pn[4] = {0.553, 10.58, 0.606, 11.67};
	double		pn2[4] = {0.8, 7.0, 1.3, 3.0};
	struct
	{
		BtydKind	kind;
		const double *p;
	}			models[4] = {{BTYD_BGNBD, bg}, {BTYD_MBGNBD, mbg}, {BTYD_PARETO_NBD, pn}, {BTYD_PARETO_NBD, pn2}};
	struct
	{
		double		x,
					t_x,
					T;
	}			h[5] = {{0, 0, 0}, {0, 0, 38.86}, {2, 30.43, 38.86}, {20, 31.0, 32.0}, {1, 1.71, 5.0}};
	double		ts[3] = {1, 39, 78};
	double		worst_sum = 0,
				worst_mean = 0;
	int			m,
				i,
				j,
				k;

	for (m = 0; m < 4; m++)
		for (i = 0; i < 5; i++)
			for (j = 0; j < 3; j++)
			{
				double		sum = 0,
							mean = 0;

				for (k = 0; k < 3000; k++)
				{
					double		p = h[i].T == 0 && h[i].x == 0
						? btyd_pmf(models[m].kind, models[m].p, ts[j], k)
						: btyd_pmf_conditional(models[m].kind, models[m].p, ts[j], k,
											   h[i].x, h[i].t_x, h[i].T);

					sum += p;
					mean += k * p;
					if (p < 1e-18 && k > 10 * (mean + 1))
						break;
				}
				worst_sum = fmax(worst_sum, fabs(sum - 1));
				worst_mean = fmax(worst_mean,
								  relerr(mean, btyd_expected_purchases(models[m].kind, models[m].p, ts[j],
																	   h[i].x, h[i].t_x, h[i].T)));
			}
	ok(worst_sum < 1e-9, "P(X(t) = k) sums to 1 over k for BG/NBD, MBG/NBD, Pareto/NBD, new and given 4 histories, t = 1, 39, 78 (worst %.1e)",
	   worst_sum);
	ok(worst_mean < 1e-8, "the mean of P(X(t) = k) is the expected number of purchases (worst rel. diff %.1e)",
	   worst_mean);

	/* P(X(t) = 0), closed forms */
	{
		double		wb = 0,
					wm = 0,
					wp = 0,
					wc = 0;

		for (j = 0; j < 3; j++)
		{
			long double t = ts[j];
			long double p0_bg = powl(bg[1] / (bg[1] + t), bg[0]);
			long double p0_mbg = mbg[2] / (mbg[2] + mbg[3])
			+ mbg[3] / (mbg[2] + mbg[3]) * powl(mbg[1] / (mbg[1] + t), mbg[0]);
			/* alive through t, or dead at tau before a purchase: quadrature in tau */
			long double p0_pn = ref_pnbd_pmf(pn, ts[j], 0);
			/* given (x, t_x, T): dead, or alive with the posterior (r+x, alpha+T) */
			long double w = ref_bg_palive(bg, 0, 2, 30.43, 38.86);
			long double c_bg = 1 - w + w * powl((bg[1] + 38.86L) / (bg[1] + 38.86L + t), bg[0] + 2);

			wb = fmax(wb, relerr(btyd_pmf(BTYD_BGNBD, bg, ts[j], 0), (double) p0_bg));
			wm = fmax(wm, relerr(btyd_pmf(BTYD_MBGNBD, mbg, ts[j], 0), (double) p0_mbg));
			wp = fmax(wp, relerr(btyd_pmf(BTYD_PARETO_NBD, pn, ts[j], 0), (double) p0_pn));
			wc = fmax(wc, relerr(btyd_pmf_conditional(BTYD_BGNBD, bg, ts[j], 0, 2, 30.43, 38.86), (double) c_bg));
		}
		ok(wb < 1e-13, "BG/NBD P(X(t) = 0) = (alpha/(alpha+t))^r (max rel. err %.1e)", wb);
		ok(wm < 1e-13, "MBG/NBD P(X(t) = 0) = a/(a+b) + b/(a+b) (alpha/(alpha+t))^r (max rel. err %.1e)", wm);
		ok(wp < 1e-10, "Pareto/NBD P(X(t) = 0) = its death-time integral by quadrature (max rel. err %.1e)", wp);
		ok(wc < 1e-12, "BG/NBD P(no purchase in t | x, t_x, T) = 1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x) (max rel. err %.1e)",
		   wc);
	}
	{
		double		w = 0;

		for (k = 1; k < 12; k += 3)
		{
			w = fmax(w, relerr(btyd_pmf(BTYD_PARETO_NBD, pn, 39, k), (double) ref_pnbd_pmf(pn, 39, k)));
			w = fmax(w, relerr(btyd_pmf(BTYD_PARETO_NBD, pn2, 78, k), (double) ref_pnbd_pmf(pn2, 78, k)));
		}
		ok(w < 1e-9, "Pareto/NBD P(X(t) = k), k >= 1 = quadrature over the death time in tau (max rel. err %.1e)", w);
	}
	ok(isnan(btyd_pmf(BTYD_BGNBD, bg, 39, -1)) && isnan(btyd_pmf(BTYD_BGNBD, bg, 39, 1.5)) &&
	   isnan(btyd_pmf(BTYD_GAMMA_GAMMA, bg, 39, 1)) && btyd_pmf(BTYD_PARETO_NBD, pn, 0, 0) == 1.0 &&
	   btyd_pmf(BTYD_PARETO_NBD, pn, 0, 3) == 0.0,
	   "P(X(t) = k): NaN for k < 0, k not whole, a spend model; at t = 0 all mass on 0");
}

/* ----------------------------------------------------------------
 * Intervals
 * ----------------------------------------------------------------
 */
static void
test_intervals(void)
{
	BtydOptions opt = {200, 1e-9, NULL, 1};
	BtydKind	kinds[3] = {BTYD_BGNBD, BTYD_PARETO_NBD, BTYD_MBGNBD};
	int			m;

	if (cd_n != 2357)
	{
		ok(0, "interval tests need the CDNOW data");
		return;
	}
	for (m = 0; m < 3; m++)
	{
		BtydFit		fit;
		double		out[4];
		double		g[4];
		long double var = 0;
		int			i,
					j;

		btyd_fit_ex(kinds[m], cd_rows, cd_n, 0.0, &opt, &fit);
		btyd_expected_interval(kinds[m], fit.params, fit.vcov, 39, 2, 30.43, 38.86, 0.95, out);
		/* the delta method again: the gradient in the natural parameters by differences */
		for (j = 0; j < 4; j++)
		{
			double		up[4],
						dn[4];
			double		h = 1e-6 * fit.params[j];

			memcpy(up, fit.params, sizeof(up));
			memcpy(dn, fit.params, sizeof(dn));
			up[j] += h;
			dn[j] -= h;
			g[j] = (btyd_expected_purchases(kinds[m], up, 39, 2, 30.43, 38.86)
					- btyd_expected_purchases(kinds[m], dn, 39, 2, 30.43, 38.86)) / (2 * h);
		}
		for (i = 0; i < 4; i++)
			for (j = 0; j < 4; j++)
				var += (long double) g[i] * g[j] * fit.vcov[i * 4 + j];
		ok(relerr(out[1], (double) sqrtl(var)) < 1e-5 &&
		   out[2] < out[0] && out[0] < out[3] &&
		   relerr(out[2] * out[3], out[0] * out[0]) < 1e-12 &&
		   relerr(log(out[3] / out[0]), 1.959963984540054 * out[1] / out[0]) < 1e-12,
		   "%s: E[X(39) | 2, 30.43, 38.86] = %.4f, standard error %.4f = sqrt(g' V g) by differences, 95%% interval [%.4f, %.4f] symmetric on the log scale",
		   btyd_kind_name(kinds[m]), out[0], out[1], out[2], out[3]);
		if (m == 0)
		{
			double		bad[16];

			memcpy(bad, fit.vcov, sizeof(bad));
			bad[5] = NAN;
			ok(!btyd_expected_interval(kinds[m], fit.params, bad, 39, 2, 30.43, 38.86, 0.95, out) &&
			   !btyd_expected_interval(kinds[m], fit.params, fit.vcov, 39, 2, 30.43, 38.86, 1.0, out),
			   "no interval from a covariance with NaN, or at level 1");
		}
	}
}

/* ----------------------------------------------------------------
 * Covariates
 * ----------------------------------------------------------------
 */
static BtydRow cov_rows[COV_N];
static double cov_z[COV_N * 2];

/*
 * COV_N customers with a normal covariate on purchases and a 0/1 one on
 * dropout, from the model with covariates (BG/NBD: delta 0; Pareto/NBD).
 */
static void
simulate_covariates(Rng *g, BtydKind kind, const double *p, double gt, double gd)
{
	int			i;

	for (i = 0; i < COV_N; i++)
	{
		double		zt = rnorm(g);
		double		zd = runif(g) < 0.4 ? 1.0 : 0.0;
		double		lambda = rgamma(g, p[0], p[1] * exp(-gt * zt));
		double		T = 26 + 52 * runif(g);
		double		t = 0,
					t_x = 0;
		int			x = 0;

		if (kind == BTYD_PARETO_NBD)
		{
			double		mu = rgamma(g, p[2], p[3] * exp(-gd * zd));
			double		end = fmin(T, rexp(g) / mu);

			for (;;)
			{
				t += rexp(g) / lambda;
				if (t > end)
					break;
				x++;
				t_x = t;
			}
		}
		else
		{
			double		pd = rbeta(g, p[2] * exp(gd * zd), p[3] * exp(gd * zd));

			for (;;)
			{
				t += rexp(g) / lambda;
				if (t > T)
					break;
				x++;
				t_x = t;
				if (runif(g) < pd)
					break;
			}
		}
		cov_rows[i].x = x;
		cov_rows[i].t_x = t_x;
		cov_rows[i].T = T;
		cov_rows[i].weight = 1;
		cov_z[2 * i] = zt;
		cov_z[2 * i + 1] = zd;
	}
}

static void
test_covariates(void)
{
	BtydOptions opt = {200, 1e-9, NULL, 1};
	Rng			g;
	double		bg[4] = {0.6, 9.0, 0.8, 2.5};
	double		pn[4] = {0.6, 9.0, 0.8, 12.0};
	int			m,
				i;

	rng_seed(&g, 20261201);
	for (m = 0; m < 2; m++)
	{
		BtydKind	kind = m == 0 ? BTYD_BGNBD : BTYD_PARETO_NBD;
		const double *truth = m == 0 ? bg : pn;
		double		gt = 0.5,
					gd = m == 0 ? 0.4 : -0.5;
		BtydCovariates cov = {1, 1, cov_z};
		BtydFit		fit;
		double		t0,
					ms;
		int			st;

		simulate_covariates(&g, kind, truth, gt, gd);
		t0 = now_sec();
		st = btyd_fit_cov(kind, cov_rows, COV_N, &cov, 0.0, &opt, &fit);
		ms = (now_sec() - t0) * 1e3;
		ok(st == BTYD_OK && fit.converged && fit.has_vcov,
		   "%s with covariates on %d simulated customers: converged in %d iterations, %.0f ms with covariance",
		   btyd_kind_name(kind), COV_N, fit.iterations, ms);
		ok(fabs(fit.coef[0] - gt) < 3 * sqrt(fit.vcov[4 * 6 + 4]),
		   "%s purchase coefficient %.4f, true %.1f: %.2f standard errors (%.4f) off",
		   btyd_kind_name(kind), fit.coef[0], gt, fabs(fit.coef[0] - gt) / sqrt(fit.vcov[4 * 6 + 4]),
		   sqrt(fit.vcov[4 * 6 + 4]));
		ok(fabs(fit.coef[1] - gd) < 3 * sqrt(fit.vcov[5 * 6 + 5]),
		   "%s dropout coefficient %.4f, true %.1f: %.2f standard errors (%.4f) off",
		   btyd_kind_name(kind), fit.coef[1], gd, fabs(fit.coef[1] - gd) / sqrt(fit.vcov[5 * 6 + 5]),
		   sqrt(fit.vcov[5 * 6 + 5]));
		{
			int			within = 1;

			for (i = 0; i < 4; i++)
				within &= fabs(fit.params[i] - truth[i]) < 3 * sqrt(fit.vcov[i * 6 + i]);
			ok(within, "%s base parameters %.3f %.3f %.3f %.3f within 3 standard errors of %g %g %g %g",
			   btyd_kind_name(kind), fit.params[0], fit.params[1], fit.params[2], fit.params[3],
			   truth[0], truth[1], truth[2], truth[3]);
		}
	}

	/* the gradient with covariates */
	{
		double		coef[2] = {0.3, -0.2};
		BtydCovariates cov = {1, 1, cov_z};
		BtydKind	kinds[2] = {BTYD_BGNBD, BTYD_PARETO_NBD};
		double		ps[2][4] = {{0.6, 9.0, 0.8, 2.5}, {0.6, 9.0, 0.8, 12.0}};

		for (m = 0; m < 2; m++)
		{
			double		gr[6];
			double		worst = 0;
			int			n = 2000;

			btyd_loglik_cov(kinds[m], ps[m], coef, cov_rows, n, &cov, gr);
			for (i = 0; i < 6; i++)
			{
				double		pu[4],
							pd[4],
							cu[2],
							cd[2];
				double		h = 1e-4;
				double		fd;

				memcpy(pu, ps[m], sizeof(pu));
				memcpy(pd, ps[m], sizeof(pd));
				memcpy(cu, coef, sizeof(cu));
				memcpy(cd, coef, sizeof(cd));
				if (i < 4)
				{
					pu[i] *= exp(h);
					pd[i] *= exp(-h);
				}
				else
				{
					cu[i - 4] += h;
					cd[i - 4] -= h;
				}
				fd = (btyd_loglik_cov(kinds[m], pu, cu, cov_rows, n, &cov, NULL)
					  - btyd_loglik_cov(kinds[m], pd, cd, cov_rows, n, &cov, NULL)) / (2 * h);
				worst = fmax(worst, fabs(fd - gr[i]) / fmax(1.0, fabs(fd)));
			}
			ok(worst < 1e-6, "%s gradient in (ln params, coefficients) with covariates = central differences (max scaled err %.1e)",
			   btyd_kind_name(kinds[m]), worst);
		}
	}

	/* covariates that are 0 everywhere: the fit without them, bit for bit */
	if (cd_n == 2357)
	{
		static double zeros[2357 * 3];
		BtydCovariates cov = {2, 1, zeros};
		BtydFit		plain,
					withz;
		static BtydRow grouped[MAX_CUST];
		size_t		ng;

		memcpy(grouped, cd_rows, sizeof(BtydRow) * cd_n);
		ng = btyd_group_rows(grouped, cd_n);
		btyd_fit_ex(BTYD_PARETO_NBD, grouped, ng, 0.0, &opt, &plain);
		btyd_fit_cov(BTYD_PARETO_NBD, grouped, ng, &cov, 0.0, &opt, &withz);
		ok(memcmp(plain.params, withz.params, sizeof(plain.params)) == 0 && plain.loglik == withz.loglik &&
		   withz.coef[0] == 0 && withz.coef[2] == 0 && isnan(withz.vcov[4 * 7 + 4]) &&
		   withz.vcov[0] == plain.vcov[0],
		   "covariates 0 on every row: the fit without covariates bit for bit, coefficients 0 with no standard error");
	}

	/* one customer's parameters and their covariance */
	{
		double		p[4] = {0.6, 9.0, 0.8, 12.0};
		double		coef[3] = {0.5, -0.2, -0.4};
		double		zt[2] = {1.5, -2.0},
					zd[1] = {1.0};
		double		V[49];
		double		q[4],
					Q[16];
		long double M[4][7];
		double		worst = 0;
		int			a,
					b,
					j;
		Rng			h;

		/* a positive definite covariance: A A' */
		rng_seed(&h, 3);
		{
			double		A[49];

			for (i = 0; i < 49; i++)
				A[i] = runif(&h) - 0.5;
			for (i = 0; i < 7; i++)
				for (j = 0; j < 7; j++)
				{
					V[i * 7 + j] = 0;
					for (a = 0; a < 7; a++)
						V[i * 7 + j] += A[i * 7 + a] * A[j * 7 + a];
					/* natural scale for the parameters */
					V[i * 7 + j] *= (i < 4 ? p[i] : 1) * (j < 4 ? p[j] : 1);
				}
		}
		btyd_individual(BTYD_PARETO_NBD, p, coef, 2, 1, zt, zd, V, q, Q);
		ok(relerr(q[1], 9.0 * exp(-(0.5 * 1.5 - 0.2 * -2.0))) < 1e-15 &&
		   relerr(q[3], 12.0 * exp(0.4 * 1.0)) < 1e-15 && q[0] == p[0] && q[2] == p[2],
		   "Pareto/NBD customer parameters: alpha_i = alpha exp(-gamma_trans'z), beta_i = beta exp(-gamma_drop'z)");
		/* ln q = M (ln p, coef) */
		memset(M, 0, sizeof(M));
		for (i = 0; i < 4; i++)
			M[i][i] = 1;
		M[1][4] = -zt[0];
		M[1][5] = -zt[1];
		M[3][6] = -zd[0];
		for (i = 0; i < 4; i++)
			for (j = 0; j < 4; j++)
			{
				long double v = 0;

				for (a = 0; a < 7; a++)
					for (b = 0; b < 7; b++)
						v += M[i][a] * M[j][b] * V[a * 7 + b] / ((a < 4 ? p[a] : 1) * (b < 4 ? p[b] : 1));
				worst = fmax(worst, relerr(Q[i * 4 + j], (double) (v * q[i] * q[j])));
			}
		ok(worst < 1e-12, "a customer's covariance = M Cov(ln params, coefficients) M' scaled (max rel. err %.1e)",
		   worst);
		ok(btyd_individual(BTYD_BGNBD, p, coef, 2, 1, zt, zd, NULL, q, NULL) &&
		   relerr(q[2], 0.8 * exp(-0.4)) < 1e-15 && relerr(q[3], 12.0 * exp(-0.4)) < 1e-15,
		   "BG/NBD customer parameters: a_i = a exp(gamma_drop'z), b_i = b exp(gamma_drop'z)");
	}

	/* what the kernel refuses */
	{
		double		z[3] = {1, NAN, 2};
		BtydCovariates cov = {1, 0, z};
		BtydCovariates many = {9, 0, z};
		BtydFit		fit;
		BtydRow		rows[3] = {{1, 2, 5, 1}, {0, 0, 5, 1}, {2, 4, 5, 1}};

		ok(btyd_fit_cov(BTYD_GAMMA_GAMMA, rows, 3, &cov, 0, NULL, &fit) == BTYD_ERR_ARGUMENT &&
		   btyd_fit_cov(BTYD_BGBB, rows, 3, &cov, 0, NULL, &fit) == BTYD_ERR_ARGUMENT &&
		   btyd_fit_cov(BTYD_BGNBD, rows, 3, &many, 0, NULL, &fit) == BTYD_ERR_ARGUMENT &&
		   btyd_fit_cov(BTYD_BGNBD, rows, 3, &cov, 0, NULL, &fit) == BTYD_ERR_INVALID_ROW && fit.bad_row == 1,
		   "covariates: refused for Gamma-Gamma and BG/BB, more than 8, and a NaN value (row 1)");
	}
}

/* ----------------------------------------------------------------
 * The inputs that broke the peers, and big ones
 * ----------------------------------------------------------------
 */
static int
in_range(BtydKind kind, const double *p, double x, double t_x, double T, double t)
{
	double		pa = btyd_p_alive(kind, p, x, t_x, T);
	double		e = btyd_expected_purchases(kind, p, t, x, t_x, T);
	double		p0 = btyd_pmf_conditional(kind, p, t, 0, x, t_x, T);
	double		pk = btyd_pmf_conditional(kind, p, t, x, x, t_x, T);
	double		enew = btyd_expected_purchases_new(kind, p, t);
	int			fine = pa >= 0 && pa <= 1 && isfinite(e) && e >= 0 && p0 >= 0 && p0 <= 1 &&
		pk >= 0 && pk <= 1 && isfinite(enew) && enew >= 0;

	if (!fine)
		diag("%s (%g, %g, %g) x = %g, t_x = %g, T = %g, t = %g: P(alive) %g, E %g, P(0) %g, P(x) %g, E[X(t)] %g",
			 btyd_kind_name(kind), p[0], p[1], p[2], x, t_x, T, t, pa, e, p0, pk, enew);
	return fine;
}

static void
test_peer_inputs(void)
{
	/* CLVTools issue 100: Pareto/NBD */
	double		clv[4] = {0.5143, 2.8845, 0.2856, 14.1087};
	double		cx[4] = {221, 254, 161, 204},
				ctx[4] = {103.43, 97.14, 94.71, 98.57},
				cT[4] = {103.57, 97.29, 98.00, 99.43};
	/* lifetimes: BG/NBD */
	double		lt[4] = {10.465, 0.00798565, 3.0516, 2.820};
	double		lx[3] = {40, 50, 50},
				ltx[3] = {5, 1, 4},
				lT[3] = {6, 37, 37};
	BtydKind	kinds[3] = {BTYD_BGNBD, BTYD_MBGNBD, BTYD_PARETO_NBD};
	double		ts[3] = {1, 52, 520};
	int			fine = 1,
				i,
				j,
				k;

	for (k = 0; k < 3; k++)
		for (j = 0; j < 3; j++)
		{
			for (i = 0; i < 4; i++)
				fine &= in_range(kinds[k], clv, cx[i], ctx[i], cT[i], ts[j]);
			for (i = 0; i < 3; i++)
				fine &= in_range(kinds[k], lt, lx[i], ltx[i], lT[i], ts[j]);
		}
	ok(fine, "CLVTools #100 and lifetimes inputs, for every count model and t = 1, 52, 520: P(alive), P(X = 0), P(X = x) in [0, 1], expectations finite >= 0");
	{
		double		s = 0;
		int			kk;

		for (kk = 0; kk < 3000; kk++)
			s += btyd_pmf_conditional(BTYD_PARETO_NBD, clv, 52, kk, 221, 103.43, 103.57);
		ok(fabs(s - 1) < 1e-9, "CLVTools #100 customer 1 (x = 221): P(X(52) = k) sums to 1 (%.1e off)", fabs(s - 1));
	}

	/* x in the thousands */
	{
		double		daily_bg[4] = {0.25, 30.0, 0.8, 2.5};
		double		daily_pn[4] = {0.55, 70.0, 0.6, 80.0};

		fine = 1;
		for (k = 0; k < 3; k++)
		{
			const double *p = kinds[k] == BTYD_PARETO_NBD ? daily_pn : daily_bg;

			fine &= in_range(kinds[k], p, 5000, 29000, 30000, 365);
			fine &= in_range(kinds[k], p, 3000, 100, 30000, 365);
			fine &= in_range(kinds[k], p, 9000, 49999.5, 50000, 3650);
		}
		ok(fine, "x in the thousands: every prediction finite and in range");
	}

	/* BG/NBD with a huge a: the fixed-p expansion against eq. (10) summed directly */
	{
		double		p[4] = {0.7, 12.0, 2.5e4, 1.1e5};
		double		e = btyd_expected_purchases(BTYD_BGNBD, p, 26, 3, 30, 40);
		double		ref = (double) ref_bg_expect(p, 0, 26, 3, 30, 40);
		double		t0 = now_sec();
		double		big[4] = {1.19, 14.2, 1.9e9, 1.7e10};
		double		e2 = btyd_expected_purchases(BTYD_BGNBD, big, 26, 3, 30, 40);
		double		ms = (now_sec() - t0) * 1e3;
		/* p fixed at a/(a+b): (1 - (alpha'/(alpha' + p t))^r') / p times P(alive) */
		double		pf = 1.9e9 / (1.9e9 + 1.7e10);
		double		lim = -expm1(-(1.19 + 3) * log1p(pf * 26 / (14.2 + 40))) / pf
			* btyd_p_alive(BTYD_BGNBD, big, 3, 30, 40);

		ok(relerr(e, ref) < 1e-8 && relerr(e2, lim) < 1e-8 && ms < 10,
		   "BG/NBD with a = 2.5e4: E = eq. (10) summed directly (rel. err %.1e); a = 1.9e9: the fixed-p limit (%.1e), %.3f ms",
		   relerr(e, ref), relerr(e2, lim), ms);
	}

	/* Gamma-Gamma with q <= 1: an infinite mean is said, not negative */
	{
		double		gg[3] = {2.0, 0.8, 10.0};

		ok(isinf(btyd_gg_expected_spend(gg, 0, 0)) && btyd_gg_expected_spend(gg, 1, 20) > 0 &&
		   relerr(btyd_gg_expected_spend(gg, 1, 20), 2.0 * 30 / 1.8) < 1e-15,
		   "Gamma-Gamma q = 0.8: infinite mean for x = 0, finite (p (v + x zbar) / (p x + q - 1)) once p x + q > 1");
	}
}

/* ----------------------------------------------------------------
 * AUC
 * ----------------------------------------------------------------
 */
static void
test_auc(void)
{
	static BtydScored a[2000],
				b[2000],
				scratch[2000];
	Rng			g;
	double		wins = 0;
	int			npos = 0,
				i,
				j;

	rng_seed(&g, 5);
	for (i = 0; i < 2000; i++)
	{
		/* scores on a coarse grid, so that there are ties */
		a[i].score = floor(runif(&g) * 50) / 50;
		a[i].label = runif(&g) < 0.2 + 0.5 * a[i].score;
		npos += a[i].label;
	}
	for (i = 0; i < 2000; i++)
		for (j = 0; j < 2000; j++)
			if (a[i].label && !a[j].label)
				wins += a[i].score > a[j].score ? 1 : a[i].score == a[j].score ? 0.5 : 0;
	memcpy(b, a, sizeof(a));
	{
		double		want = wins / ((double) npos * (2000 - npos));
		double		r = btyd_auc(a, 2000, scratch);
		double		q = btyd_auc(b, 2000, NULL);
		int			sorted = 1;

		for (i = 1; i < 2000; i++)
			sorted &= a[i - 1].score <= a[i].score;
		ok(relerr(r, want) < 1e-14 && relerr(q, want) < 1e-14 && sorted,
		   "AUC by radix sort and by qsort = the share of positive-negative pairs ordered right, ties one half (%.6f)",
		   want);
	}
	a[0].label = 1;
	for (i = 0; i < 2000; i++)
		a[i].label = 1;
	ok(isnan(btyd_auc(a, 2000, scratch)), "AUC with no negative: NaN");
}

int
main(int argc, char **argv)
{
	load_cdnow(argc > 1 ? argv[1] : NULL);
	test_math();
	test_covariance();
	test_bgbb();
	test_distributions();
	test_intervals();
	test_covariates();
	test_peer_inputs();
	test_auc();
	printf("1..%d\n", ntests);
	if (nfailed)
		diag("%d of %d tests failed", nfailed, ntests);
	return nfailed ? 1 : 0;
}
