/*-------------------------------------------------------------------------
 *
 * btyd_kernel.c
 *	  "Buy till you die" (BTYD) customer-base models in pure C99:
 *	  likelihoods with analytic gradients, maximum-likelihood fits with
 *	  standard errors and covariates, per-customer predictions and their
 *	  distributions.
 *
 * 1. THE DATA
 *
 * In a non-contractual setting (a shop, not a subscription) we never see a
 * customer leave; we only see purchases.  Each customer is summarized by
 * (x, t_x, T): x repeat purchases (purchases after the first), the last of
 * them at time t_x, observed for a time T since the first purchase
 * ("frequency", "recency", "age").  Customers with the same triple are
 * interchangeable, hence BtydRow.weight.  The models below are fitted by
 * maximizing sum_i weight_i * ln L(params | x_i, t_x_i, T_i).  In discrete
 * time (BG/BB) the same triple counts opportunities: x of the n = T
 * opportunities after the first purchase had a purchase, the last of them
 * t_x.
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
 * The distribution of a new customer's count is FHL eq. (8),
 *	P(X(t) = k) = B(a, b+k)/B(a, b) NB(k; r, alpha, t)
 *		+ [k > 0] B(a+1, b+k-1)/B(a, b) P(NB(r, alpha, t) >= k),
 * NB(k; r, alpha, t) = G(r+k)/(G(r) k!) (alpha/(alpha+t))^r (t/(alpha+t))^k,
 * the negative binomial tail being the regularized incomplete beta
 * I_{t/(alpha+t)}(k, r).
 *
 * MBG/NBD (Batislam, Denizel & Filiztekin 2007, "Empirical validation and
 * comparison of models for customer base analysis", IJRM 24(3) 201-209).
 * As BG/NBD, but the customer may also drop out right at time 0, after the
 * first purchase.  Every formula above holds with b+x -> b+x+1 in the beta
 * functions, b+x-1 -> b+x in D, the dropout term present also for x = 0,
 * and (a+b+x-1) -> (a+b+x) in eq. (10).  We write delta = 0 for BG/NBD and
 * delta = 1 for MBG/NBD and implement both with one set of functions.  A
 * new customer's count is 0 with probability a/(a+b) (gone at once), else
 * distributed as a BG/NBD customer's with b+1.
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
 * 2F1(1, m; m+n; z) and its derivatives come from btyd_f1()
 * (btyd_math_kernel.c), which gives the exact gradient.  alpha == beta is
 * simply z = 0.
 *
 * P(alive) is the "alive" share of the bracket (FH note section 5):
 *	P(alive) = 1 / (1 + s I (alpha+T)^m (beta+T)^s).
 * E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] (FH note
 * section 4) and the conditional expectation (FH note section 6) is
 *	E[Y(t) | x, t_x, T] = (r+x)(beta+T) / ((alpha+T)(s-1))
 *		* [1 - ((beta+T)/(beta+T+t))^(s-1)] * P(alive).
 * At s = 1 the ratio [1 - y^(s-1)]/(s-1) is -ln y; we evaluate it as
 * -expm1((s-1) ln y)/(s-1) so that it is continuous there.  A new
 * customer's count, alive through t or dead at tau, is
 *	P(X(t) = k) = NB(k; r, alpha, t) (beta/(beta+t))^s
 *		+ s beta^s alpha G(r+k)/(G(r) k!)
 *		  * integral_0^U u^k (1-u)^(r+s-1) (beta + (alpha-beta) u)^-(s+1) du,
 * U = t/(alpha+t), the death time mixed over its Pareto density and
 * substituted u = tau/(alpha+tau).  For k = 0 the integral is G(0) - G(t)
 * above (with m = r); for k > 0 we integrate numerically
 * (btyd_integrate(), to 1e-15 absolute).
 *
 * BG/BB (Fader, Hardie & Shang 2010, "Customer-Base Analysis in a
 * Discrete-Time Noncontractual Setting", Marketing Science 29(6)
 * 1086-1108; "FHS").  At each of n opportunities after the first purchase
 * a customer alive at its start buys with probability p, p ~ Beta(alpha,
 * beta), and a customer dies at the start of an opportunity with
 * probability theta, theta ~ Beta(gamma, delta).  FHS eq. (5):
 *	L = B(alpha+x, beta+n-x)/B(alpha, beta) * B(gamma, delta+n)/B(gamma, delta)
 *	  + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i)/B(alpha, beta)
 *		  * B(gamma+1, delta+t_x+i)/B(gamma, delta),
 * alive through n, or alive through t_x + i and dead at the start of the
 * next.  We evaluate the terms in logs, each from the previous by one
 * ratio, and sum them as a log-sum-exp.  P(alive at n+1) is the first term
 * times (delta+n)/(gamma+delta+n) over L (FHS eq. (11)), E[X(n)] of a new
 * customer FHS eq. (9),
 *	alpha/(alpha+beta) delta/(gamma-1)
 *		[1 - G(gamma+delta) G(1+delta+n) / (G(gamma+delta+n) G(1+delta))],
 * with the bracket over gamma-1 summed as -expm1(sum_j -log1p((gamma-1)/
 * (1+delta+j)))/(gamma-1), continuous at gamma = 1, and P(X(n) = k) FHS
 * eq. (8),
 *	C(n,k) B(alpha+k, beta+n-k)/B(alpha, beta) B(gamma, delta+n)/B(gamma, delta)
 *	+ sum_{i=k}^{n-1} C(i,k) B(alpha+k, beta+i-k)/B(alpha, beta)
 *		  B(gamma+1, delta+i)/B(gamma, delta).
 *
 * Conditional on the history.  Given (x, t_x, T), the customer is alive at
 * T with the probability w above (for BG/BB: alive at n), and then alive
 * with the posterior of the latent rates: lambda ~ Gamma(r+x, alpha+T),
 * p ~ Beta(a, b+x+delta) (BG/NBD, MBG/NBD), mu ~ Gamma(s, beta+T)
 * (Pareto/NBD), p ~ Beta(alpha+x, beta+n-x), theta ~ Beta(gamma, delta+n)
 * (BG/BB).  From T on, such a customer behaves like a new BG/NBD,
 * Pareto/NBD or BG/BB customer with those parameters (the MBG/NBD one
 * without its drop at time 0), so every conditional prediction is
 *	E[X(T, T+t) | history] = w E_new(t; posterior),
 *	P(X(T, T+t) = k | history) = [k = 0] (1 - w) + w P_new(k; posterior),
 * which is eq. (10) and FHS eq. (13) for the expectations; the code keeps
 * the formulas above for them.
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
 * It is the posterior mean p E[1/nu], finite only when p x + q > 1 (for a
 * customer without repeat purchases, q > 1): otherwise the mean is
 * infinite, and we say so (+Infinity) rather than return the formula's
 * negative number.  The likelihood is fitted over the customers with
 * x > 0 only.
 *
 * Covariates (time-invariant; Fader & Hardie 2007, "Incorporating
 * Time-Invariant Covariates into the Pareto/NBD and BG/NBD Models",
 * brucehardie.com note 019, in the parametrization of CLVTools).  Customer
 * i has its own alpha_i = alpha exp(-gamma_trans' z_i), and for dropout
 * beta_i = beta exp(-gamma_drop' z_i) (Pareto/NBD) or a_i = a
 * exp(gamma_drop' z_i), b_i = b exp(gamma_drop' z_i) (BG/NBD, MBG/NBD);
 * everything else about the customer is the model above with these
 * parameters.  The log of each customer parameter is linear in (ln
 * params, gamma), ln q_i = M_i theta, so the gradient and Hessian in theta
 * are M_i' times those in ln q_i (times M_i), and the covariance of a
 * customer's parameters is M_i Cov(theta) M_i'.
 *
 * 3. NUMERICS
 *
 * Every likelihood is evaluated in logs.  ln G(y+x) - ln G(y), psi(y+x) -
 * psi(y) and psi'(y+x) - psi'(y) for integer x come from per-evaluation
 * tables of cumulative sums of ln(y+j), 1/(y+j) and 1/(y+j)^2 (x below
 * XTAB), so a row costs a few logarithms; larger x falls back to lgamma()
 * and our digamma and trigamma.  The BG/NBD beta part A2 is
 * sum_j -log1p(a/(b+j)), accurate even for b >> a.  Log-sum-exp uses
 * log1p(exp(.)).  The conditional expectation of BG/NBD uses Euler's
 * transformation, which turns 2F1(r+x, b+x; a+b+x-1; z) into
 * (1-z)^(a-1-r-x) 2F1(a+b-1-r, a-1; a+b+x-1; z): the upper parameters no
 * longer grow with x (no overflow for x in the thousands), and since the
 * second is a-1 we sum (2F1 - 1)/(a-1) directly, so that a -> 1 (where
 * eq. (10) is 0/0) is continuous.  Probabilities are clamped to [0, 1]
 * against rounding.  The special functions live in btyd_math_kernel.c.
 *
 * 4. FITTING
 *
 * We minimize f(theta) = -LL(exp(theta)) / N + lambda sum exp(2 theta_i)
 * over theta = ln(params), N the total weight: positivity is automatic.
 * The penalty is lifetimes' penalizer_coef exactly (its fitters return
 * -(weights * ll).sum() / weights.sum() + penalizer_coef * sum(params**2)).
 * With covariates theta also holds the coefficients, as they are, and the
 * penalty adds lambda gamma^2 for each.  Reported loglik is the total
 * weighted LL without the penalty.  Points with |theta_i| > LOG_BOUND are
 * infeasible.  The optimizer (BFGS) is btyd_optim_kernel.c's.
 *
 * Starting values (deterministic): with xbar and Tbar the weighted means
 * of x and T, the purchase part starts at r = 0.5 and a mean rate r/alpha
 * of twice the observed xbar/Tbar (to allow for dropout), i.e. alpha =
 * 0.25 Tbar / max(xbar, 0.01).  BG/NBD and MBG/NBD add a = 1, b = 2 (mean
 * dropout probability 1/3); Pareto/NBD adds s = 1, beta = Tbar (mean
 * lifetime about Tbar).  Gamma-Gamma starts at p = 1, q = 2, v = the
 * weighted mean of zbar over x > 0 (so that p v / (q-1) = mean spend).
 * BG/BB starts at alpha = 1 and a mean purchase probability
 * alpha/(alpha+beta) of min(0.9, 2 xbar/nbar), gamma = delta = 1.
 * Covariate coefficients start at 0.  A covariate that is 0 for every row
 * cannot be identified: its coefficient stays 0 and is not fitted, so a
 * fit whose covariates are all 0 is exactly the fit without them.
 *
 * Count models need at least one customer with x > 0: otherwise dropout
 * and purchase rate cannot be told apart and btyd_fit returns
 * BTYD_ERR_NO_REPEAT_PURCHASES without fitting.
 *
 * Standard errors.  On request (BtydOptions.covariance) the fit also
 * returns the covariance of the estimates, the inverse of the observed
 * information N H, H the Hessian of f in theta at the optimum (with a
 * penalty, its curvature is included: the covariance is then that of the
 * penalized estimate), mapped to the natural scale by the delta method,
 * Cov(params) = diag(params) Cov(theta) diag(params), which at the
 * optimum is the inverse Hessian in the natural parameters.  H is
 * analytic for BG/NBD and MBG/NBD (one pass over the rows with second
 * derivatives, about the cost of one gradient) and comes from forward
 * differences of the analytic gradient otherwise (btyd_fd_hessian(): one
 * gradient per free parameter).  If H is not positive definite (a maximum
 * on the boundary) there is no covariance (has_vcov = 0).
 *
 * No allocation, no mutable globals; the tables live on the stack (about
 * 16 KB).  lgamma() is the C library's (glibc's also sets the global
 * signgam, harmless in a PostgreSQL backend process).
 *
 *-------------------------------------------------------------------------
 */
#include "btyd_kernel.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef CRM_KERNEL_TESTS
/*
 * Entry points for the unit tests, which define CRM_KERNEL_TESTS and
 * include this file: not part of the kernel's interface, not built into
 * crm.so.  A test need not call every one.
 */
#define TEST_ENTRY static __attribute__((unused))

/* Short model name ("BG/NBD", ...), or NULL for an unknown kind. */
TEST_ENTRY const char *btyd_kind_name(BtydKind kind);

/*
 * Validate one row for a kind: BTYD_OK or BTYD_ERR_INVALID_ROW (also for a
 * NULL row), BTYD_ERR_ARGUMENT for an unknown kind.  Rules, all kinds:
 * every field used is finite, weight > 0, x >= 0 and integral (x <= 1e9).
 * Continuous count models also: T > 0, 0 <= t_x <= T (t_x is ignored when
 * x == 0).  BG/BB: t_x and T integral, 1 <= T <= BTYD_MAX_OPPORTUNITIES,
 * 0 <= t_x <= T, x <= t_x when x > 0.  Gamma-Gamma: t_x (zbar) > 0 when
 * x > 0.
 */
TEST_ENTRY int	btyd_check_row(BtydKind kind, const BtydRow *row);

/*
 * Fit a model by maximum likelihood.  Minimizes
 *		-loglik(params) / n_customers + l2_penalty * sum(theta_free^2)
 * over log(params) and the covariate coefficients (the penalty is on the
 * params and the coefficients, as the Python package lifetimes'
 * penalizer_coef is on its parameters).  Returns a BtydStatus.  *out is
 * always initialized (params NaN unless a point was evaluated).  The rows
 * are not modified.  l2_penalty must be finite and >= 0.  cov may be
 * NULL (no covariates); BTYD_ERR_ARGUMENT if the kind takes none, or for
 * more than BTYD_MAX_COVARIATES per process, or non-finite values.
 */
TEST_ENTRY int	btyd_fit(BtydKind kind, const BtydRow *rows, size_t nrows,
					 double l2_penalty, BtydFit *out);
TEST_ENTRY int	btyd_fit_ex(BtydKind kind, const BtydRow *rows, size_t nrows,
						double l2_penalty, const BtydOptions *options,
						BtydFit *out);

/*
 * Total weighted log-likelihood (no penalty).  NaN if the kind is unknown,
 * a parameter is not finite and > 0, or a row is invalid.  Gamma-Gamma rows
 * with x == 0 contribute 0.  If grad is not NULL, btyd_loglik_grad() also
 * stores the gradient with respect to the natural parameters, and
 * btyd_loglik_hessian() the Hessian with respect to ln(params) into hess
 * (nparams x nparams; analytic where the model has second derivatives,
 * else NaN).
 */
TEST_ENTRY double btyd_loglik(BtydKind kind, const double *params,
						  const BtydRow *rows, size_t nrows);
TEST_ENTRY double btyd_loglik_grad(BtydKind kind, const double *params,
							   const BtydRow *rows, size_t nrows,
							   double *grad);
TEST_ENTRY double btyd_loglik_hessian(BtydKind kind, const double *params,
								  const BtydRow *rows, size_t nrows,
								  double *hess);

/*
 * The same with covariates: LL at (params, coef), coef holding
 * cov->ntrans + cov->ndrop coefficients; grad (if not NULL) with respect
 * to (ln params, coef).
 */
TEST_ENTRY double btyd_loglik_cov(BtydKind kind, const double *params,
							  const double *coef, const BtydRow *rows,
							  size_t nrows, const BtydCovariates *cov,
							  double *grad);
#endif

#define XTAB		256			/* per-x table length */
#define NTAB		8			/* tables per evaluation */
#define LOG_BOUND	40.0		/* |theta_i| beyond this is infeasible */
#define GTOL_DEFAULT	1e-9
#define MAXIT_DEFAULT	200
#define MAX_X		1e9
#define PMF_ABS_TOL 1e-15		/* Pareto/NBD P(X = k) quadrature */
#define FD_PRED_STEP 1e-5		/* delta-method derivative step, ln scale */
#define BG_FIXED_P	1e4			/* see bg_expected_fixed_p() */

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
	int			want_hess;		/* fill the second-derivative tables */
	int			per_row;		/* parameters of one row: no tables */
	double		aux[8];			/* model-specific constants */
	double		tab[NTAB][XTAB];	/* model-specific per-x values */
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

/*
 * A model: its rows, its likelihood and, for covariates, which parameters
 * the two processes scale (index and the sign of the coefficient's effect
 * on ln param).  row_loglik returns ln L of one row and, when asked, the
 * gradient and (if has_hessian) the Hessian with respect to the natural
 * parameters.
 */
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
							   double *grad, double *hess);
	void		(*start) (const DataSummary *sum, double *params);
	int			has_hessian;
	int			discrete;
	int			trans_index;	/* -1: no covariates */
	int			trans_sign;
	int			ndrop_index;
	int			drop_index[2];
	int			drop_sign;
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

/* a discrete history (x, t_x, n), n >= min_n */
static int
valid_discrete(double x, double t_x, double n, double min_n)
{
	if (!valid_count(x) || !valid_count(t_x) || !valid_count(n))
		return 0;
	if (n < min_n || n > BTYD_MAX_OPPORTUNITIES || t_x > n)
		return 0;
	return x == 0.0 || (x <= t_x);
}

static int
check_bgbb_row(const BtydRow *row)
{
	if (!isfinite(row->weight) || !(row->weight > 0.0) ||
		!valid_discrete(row->x, row->t_x, row->T, 1.0))
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
 * k < n, by cumulative sums of ln(y+j) and 1/(y+j); and, if ssum is not
 * NULL, ssum[k] = psi'(y+k) - psi'(y) = -sum_{j<k} 1/(y+j)^2.
 */
static void
poch_fill(double y, int n, double *lsum, double *rsum, double *ssum)
{
	double		l = 0.0;
	double		r = 0.0;
	double		q = 0.0;
	int			k;

	for (k = 0; k < n; k++)
	{
		lsum[k] = l;
		rsum[k] = r;
		l += log(y + k);
		r += 1.0 / (y + k);
		if (ssum)
		{
			ssum[k] = q;
			q -= 1.0 / ((y + k) * (y + k));
		}
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
		*r = btyd_digamma(y + x) - btyd_digamma(y);
	}
}

/* psi'(y+x) - psi'(y), from table "which" if x < ntab */
static double
poch_second(const EvalCtx *ctx, int which, double y, double x)
{
	if (x < ctx->ntab)
		return ctx->tab[which][(int) x];
	return btyd_trigamma(y + x) - btyd_trigamma(y);
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
 * tab[4]: d A2 / d a = -sum_j 1/(a+b+j);
 * for the Hessian, tab[5]: psi'(r+k) - psi'(r);
 * tab[6]: d2 A2 / da2 = d2 A2 / da db = sum_j 1/(a+b+j)^2;
 * tab[7]: d2 A2 / db2 = sum_j 1/(a+b+j)^2 - 1/(b+j)^2.
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
	double		sab = 0.0;
	double		sbb = 0.0;
	int			j;
	int			k;

	ctx->ntab = ctx->per_row ? 0 : table_len(xmax, 0);
	poch_fill(ctx->p[0], ctx->ntab, ctx->tab[0], ctx->tab[1],
			  ctx->want_hess ? ctx->tab[5] : NULL);
	for (j = 0; j < delta; j++)
	{
		l2 -= log1p(a / (b + j));
		p2 += a / ((b + j) * (a + b + j));
		pab -= 1.0 / (a + b + j);
		sab += 1.0 / ((a + b + j) * (a + b + j));
		sbb -= 1.0 / ((b + j) * (b + j));
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
		if (ctx->want_hess)
		{
			ctx->tab[6][k] = sab;
			ctx->tab[7][k] = sab + sbb;
			sab += 1.0 / ((a + b + j) * (a + b + j));
			sbb -= 1.0 / ((b + j) * (b + j));
		}
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
	*da = btyd_digamma(a + b) - btyd_digamma(a + b + xd);
	*db = *da + btyd_digamma(b + xd) - btyd_digamma(b);
}

/* the second derivatives of A2: d2/da2 (= d2/da db), d2/db2 */
static void
bg_beta_second(const EvalCtx *ctx, double x, double *s2)
{
	double		a = ctx->p[2];
	double		b = ctx->p[3];
	double		xd = x + ctx->model->delta;

	if (x < ctx->ntab)
	{
		s2[0] = ctx->tab[6][(int) x];
		s2[1] = ctx->tab[7][(int) x];
		return;
	}
	s2[0] = btyd_trigamma(a + b) - btyd_trigamma(a + b + xd);
	s2[1] = s2[0] - (btyd_trigamma(b) - btyd_trigamma(b + xd));
}

/*
 * The Hessian of one BG/NBD row in the natural parameters, from the parts
 * bg_row() computed: d2 ln(1 + e^D) = w(1-w) dD dD' + w d2D, with dD =
 * (lratio, dD/dalpha, 1/a, -1/bx) and d2D nonzero in (r, alpha),
 * (alpha, alpha), (a, a) and (b, b) only.
 */
static void
bg_hessian(const EvalCtx *ctx, double x, double t_x, double T, int dropout,
		   double w, double lratio, double bx, double *hess)
{
	const double *p = ctx->p;
	double		r = p[0];
	double		alpha = p[1];
	double		s2[2];
	double		dD[4];
	double		ww = w * (1.0 - w);
	double		ia = 1.0 / (alpha + T);
	double		ix = 1.0 / (alpha + t_x);
	int			i,
				j;

	bg_beta_second(ctx, x, s2);
	memset(hess, 0, sizeof(double) * 16);
	hess[0] = poch_second(ctx, 5, r, x);
	hess[1] = 1.0 / alpha - ia;
	hess[5] = -r / (alpha * alpha) + (r + x) * ia * ia;
	hess[10] = s2[0];
	hess[11] = s2[0];
	hess[15] = s2[1];
	if (dropout)
	{
		dD[0] = lratio;
		dD[1] = (r + x) * (ia - ix);
		dD[2] = 1.0 / p[2];
		dD[3] = -1.0 / bx;
		for (i = 0; i < 4; i++)
			for (j = i; j < 4; j++)
				hess[i * 4 + j] += ww * dD[i] * dD[j];
		hess[1] += w * (ia - ix);
		hess[5] += w * (r + x) * (ix * ix - ia * ia);
		hess[10] -= w / (p[2] * p[2]);
		hess[15] += w / (bx * bx);
	}
	for (i = 0; i < 4; i++)
		for (j = 0; j < i; j++)
			hess[i * 4 + j] = hess[j * 4 + i];
}

static double
bg_row(const EvalCtx *ctx, const BtydRow *row, double *grad, double *hess)
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
	int			dropout;

	poch_get(ctx, 0, r, x, &lr, &pr);
	bg_beta_terms(ctx, x, &a2, &da, &db);
	ll = lr + r * ctx->lp[1] - (r + x) * lat + a2;
	dropout = bg_dropout(p, ctx->model->delta, x, t_x, T, &D, &lratio, &bx);
	if (dropout)
	{
		ll += btyd_log1pexp(D);
		w = btyd_logistic(D);	/* posterior P(dropped out) */
	}
	if (grad)
	{
		grad[0] = pr + ctx->lp[1] - lat + w * lratio;
		grad[1] = r / alpha - (r + x) / (alpha + T)
			- w * (r + x) * (T - t_x) / ((alpha + T) * (alpha + t_x));
		grad[2] = da + w / p[2];
		grad[3] = db - w / bx;
	}
	if (hess)
		bg_hessian(ctx, x, t_x, T, dropout, w, lratio, bx, hess);
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
	BtydF1		f;
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
	btyd_f1(m, m + n, diff / u, &f);
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

/*
 * tables for r; aux[0..4] = ln G(0) at x = 0 and its gradient (not for the
 * parameters of a single row)
 */
static void
pnbd_prepare(EvalCtx *ctx, double xmax)
{
	const double *p = ctx->p;

	ctx->ntab = ctx->per_row ? 0 : table_len(xmax, 0);
	poch_fill(p[0], ctx->ntab, ctx->tab[0], ctx->tab[1], NULL);
	if (ctx->per_row)
		return;
	ctx->aux[0] = pnbd_log_tail(p[0], p[1], p[2] + 1.0, p[3], p[1] - p[3],
								ctx->lp[1], ctx->lp[3], ctx->aux + 1);
}

static double
pnbd_row(const EvalCtx *ctx, const BtydRow *row, double *grad, double *hess)
{
	PnbdParts	pp;
	double		lr,
				pr,
				hi,
				lo,
				w,
				ll;
	int			i;

	(void) hess;				/* no analytic Hessian: see btyd_fd_hessian() */
	poch_get(ctx, 0, ctx->p[0], row->x, &lr, &pr);
	pnbd_parts(ctx->p, row->x, row->t_x, row->T, grad != NULL,
			   ctx->per_row ? NULL : ctx->aux, &pp);
	hi = fmax(pp.l_alive, pp.l_dead);
	lo = fmin(pp.l_alive, pp.l_dead);
	ll = lr + ctx->p[0] * ctx->lp[1] + ctx->p[2] * ctx->lp[3]
		+ hi + log1p(exp(lo - hi));
	if (grad)
	{
		w = btyd_logistic(pp.l_dead - pp.l_alive);	/* P(dead | data) */
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
	double		psq = btyd_digamma(px + q);

	*l = lgamma(px + q) - lgamma(px);
	*dp = psq - btyd_digamma(px);
	*dq = psq - ctx->aux[1];
}

static void
gg_prepare(EvalCtx *ctx, double xmax)
{
	int			k;

	ctx->aux[0] = lgamma(ctx->p[1]);
	ctx->aux[1] = btyd_digamma(ctx->p[1]);
	ctx->ntab = table_len(xmax, 0);
	for (k = 1; k < ctx->ntab; k++)
		gg_xterms(ctx, k, &ctx->tab[0][k], &ctx->tab[1][k], &ctx->tab[2][k]);
}

static double
gg_row(const EvalCtx *ctx, const BtydRow *row, double *grad, double *hess)
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

	(void) hess;
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
 * BG/BB
 * ----------------------------------------------------------------
 */

/*
 * ln L of a discrete history (x, t_x, n) under BG/BB (FHS eq. (5)) as a
 * log-sum-exp of its terms, each from the previous by one ratio; *l_alive
 * is the log of the first term (alive through n).  If grad is not NULL, the
 * gradient with respect to (alpha, beta, gamma, delta).
 */
static double
bgbb_loglik(const double *p, double x, double t_x, double n,
			double *l_alive, double *grad)
{
	double		al = p[0],
				be = p[1],
				ga = p[2],
				de = p[3];
	double		lab = btyd_lbeta(al, be);
	double		lgd = btyd_lbeta(ga, de);
	double		ps_a = btyd_digamma(al),
				ps_b = btyd_digamma(be),
				ps_ab = btyd_digamma(al + be),
				ps_g = btyd_digamma(ga),
				ps_d = btyd_digamma(de),
				ps_gd = btyd_digamma(ga + de),
				ps_ax = btyd_digamma(al + x);
	double		lt,
				gt[4];
	double		top,
				sum,
				gsum[4];
	int			i,
				j,
				nterms;

	if (x == 0.0)
		t_x = 0.0;
	/* alive through n */
	lt = btyd_lbeta(al + x, be + n - x) - lab + btyd_lbeta(ga, de + n) - lgd;
	*l_alive = lt;
	top = lt;
	sum = 1.0;
	gt[0] = ps_ax - btyd_digamma(al + be + n) - ps_a + ps_ab;
	gt[1] = btyd_digamma(be + n - x) - btyd_digamma(al + be + n) - ps_b + ps_ab;
	gt[2] = ps_gd - btyd_digamma(ga + de + n);
	gt[3] = btyd_digamma(de + n) - btyd_digamma(ga + de + n) - ps_d + ps_gd;
	memcpy(gsum, gt, sizeof(gsum));

	/* dead at the start of opportunity t_x + i + 1, i = 0 .. n - t_x - 1 */
	nterms = (int) (n - t_x);
	if (nterms > 0)
	{
		lt = btyd_lbeta(al + x, be + t_x - x) - lab
			+ btyd_lbeta(ga + 1.0, de + t_x) - lgd;
		gt[0] = ps_ax - btyd_digamma(al + be + t_x) - ps_a + ps_ab;
		gt[1] = btyd_digamma(be + t_x - x) - btyd_digamma(al + be + t_x)
			- ps_b + ps_ab;
		gt[2] = btyd_digamma(ga + 1.0) - btyd_digamma(ga + de + 1.0 + t_x)
			- ps_g + ps_gd;
		gt[3] = btyd_digamma(de + t_x) - btyd_digamma(ga + de + 1.0 + t_x)
			- ps_d + ps_gd;
	}
	for (i = 0; i < nterms; i++)
	{
		double		e;

		if (i > 0)
		{
			double		k = t_x + i - 1.0;	/* the previous term's i */
			double		iab = 1.0 / (al + be + k);
			double		igd = 1.0 / (ga + de + 1.0 + k);

			lt += log(be + k - x) - log(al + be + k)
				+ log(de + k) - log(ga + de + 1.0 + k);
			gt[0] -= iab;
			gt[1] += 1.0 / (be + k - x) - iab;
			gt[2] -= igd;
			gt[3] += 1.0 / (de + k) - igd;
		}
		if (lt > top)
		{
			/* rescale the sums to the new largest term */
			double		f = exp(top - lt);

			sum *= f;
			for (j = 0; j < 4; j++)
				gsum[j] *= f;
			top = lt;
		}
		e = exp(lt - top);
		sum += e;
		for (j = 0; j < 4; j++)
			gsum[j] += e * gt[j];
	}
	if (grad)
		for (j = 0; j < 4; j++)
			grad[j] = gsum[j] / sum;
	return top + log(sum);
}

static void
bgbb_prepare(EvalCtx *ctx, double xmax)
{
	(void) xmax;
	ctx->ntab = 0;
}

static double
bgbb_row(const EvalCtx *ctx, const BtydRow *row, double *grad, double *hess)
{
	double		l_alive;

	(void) hess;
	return bgbb_loglik(ctx->p, row->x, row->t_x, row->T, &l_alive, grad);
}

static void
bgbb_start(const DataSummary *sum, double *params)
{
	double		xbar = sum->wx / sum->w;
	double		nbar = sum->wT / sum->w;
	double		mean = fmin(0.9, fmax(2.0 * xbar / nbar, 0.01));

	params[0] = 1.0;
	params[1] = (1.0 - mean) / mean;
	params[2] = 1.0;
	params[3] = 1.0;
}

/* ----------------------------------------------------------------
 * The model table
 * ----------------------------------------------------------------
 */

static const BtydModel models[] = {
	{BTYD_BGNBD, "BG/NBD", 4, 0, {"r", "alpha", "a", "b"},
		check_count_row, uses_all_rows, bg_prepare, bg_row, bg_start,
	1, 0, 1, -1, 2, {2, 3}, 1},
	{BTYD_PARETO_NBD, "Pareto/NBD", 4, 0, {"r", "alpha", "s", "beta"},
		check_count_row, uses_all_rows, pnbd_prepare, pnbd_row, pnbd_start,
	0, 0, 1, -1, 1, {3, -1}, -1},
	{BTYD_GAMMA_GAMMA, "Gamma-Gamma", 3, 0, {"p", "q", "v", NULL},
		check_gg_row, uses_repeat_rows, gg_prepare, gg_row, gg_start,
	0, 0, -1, 0, 0, {-1, -1}, 0},
	{BTYD_MBGNBD, "MBG/NBD", 4, 1, {"r", "alpha", "a", "b"},
		check_count_row, uses_all_rows, bg_prepare, bg_row, bg_start,
	1, 0, 1, -1, 2, {2, 3}, 1},
	{BTYD_BGBB, "BG/BB", 4, 0, {"alpha", "beta", "gamma", "delta"},
		check_bgbb_row, uses_all_rows, bgbb_prepare, bgbb_row, bgbb_start,
	0, 1, -1, 0, 0, {-1, -1}, 0},
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

#ifdef CRM_KERNEL_TESTS
static const char *
btyd_kind_name(BtydKind kind)
{
	const BtydModel *m = find_model(kind);

	return m ? m->name : NULL;
}
#endif

int
btyd_is_discrete(BtydKind kind)
{
	const BtydModel *m = find_model(kind);

	return m ? m->discrete : 0;
}

int
btyd_takes_covariates(BtydKind kind)
{
	const BtydModel *m = find_model(kind);

	return m ? m->trans_index >= 0 : 0;
}

const char *
btyd_status_message(int status)
{
	switch (status)
	{
		case BTYD_OK:
			return "success";
		case BTYD_ERR_ARGUMENT:
			return "invalid argument (unknown model, missing pointer, negative or non-finite penalty, or covariates the model does not take)";
		case BTYD_ERR_EMPTY:
			return "no customers to fit";
		case BTYD_ERR_INVALID_ROW:
			return "invalid customer summary (need finite values, integral x >= 0, 0 <= t_x <= T, T > 0, weight > 0; zbar > 0 when x > 0 for Gamma-Gamma; whole numbers with x <= t_x <= n for BG/BB)";
		case BTYD_ERR_NO_REPEAT_SPEND:
			return "Gamma-Gamma model needs at least one customer with repeat purchases (x > 0)";
		case BTYD_ERR_NO_REPEAT_PURCHASES:
			return "no customer has repeat purchases (x > 0): purchase and dropout rates cannot be identified";
		case BTYD_ERR_NOT_CONVERGED:
			return "maximum-likelihood fit did not converge";
	}
	return "unknown status";
}

#ifdef CRM_KERNEL_TESTS
static int
btyd_check_row(BtydKind kind, const BtydRow *row)
{
	const BtydModel *m = find_model(kind);

	if (m == NULL)
		return BTYD_ERR_ARGUMENT;
	if (row == NULL)
		return BTYD_ERR_INVALID_ROW;
	return m->check_row(row);
}
#endif

/* ----------------------------------------------------------------
 * Likelihood sums
 * ----------------------------------------------------------------
 */

static void
ctx_init(EvalCtx *ctx, const BtydModel *m, const double *params, double xmax,
		 int want_hess, int per_row)
{
	int			i;

	ctx->model = m;
	ctx->want_hess = want_hess;
	ctx->per_row = per_row;
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

	ctx_init(&ctx, m, params, xmax, 0, 0);
	if (grad)
		for (i = 0; i < np; i++)
			grad[i] = 0.0;
	for (k = 0; k < nrows; k++)
	{
		const BtydRow *row = &rows[k];
		double		w = row->weight;

		if (!m->uses_row(row))
			continue;
		ll += w * m->row_loglik(&ctx, row, grad ? g : NULL, NULL);
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

/*
 * One row's gradient g and Hessian h in the natural parameters q, turned
 * into those in ln q: gl = q .* g, hl = diag(q) h diag(q) + diag(gl).
 */
static void
to_log_scale(const double *q, int np, const double *g, const double *h,
			 double *gl, double *hl)
{
	int			i,
				j;

	for (i = 0; i < np; i++)
		gl[i] = q[i] * g[i];
	if (hl)
		for (i = 0; i < np; i++)
			for (j = 0; j < np; j++)
				hl[i * np + j] = q[i] * q[j] * h[i * np + j] + (i == j ? gl[i] : 0.0);
}

/*
 * Weighted Hessian of the LL in ln(params), analytic (the model must have
 * second derivatives), into H (nparams x nparams).
 */
static double
sum_hessian(const BtydModel *m, const double *params, const BtydRow *rows,
			size_t nrows, double xmax, double *H)
{
	EvalCtx		ctx;
	double		ll = 0.0;
	double		g[BTYD_MAX_PARAMS],
				gl[BTYD_MAX_PARAMS];
	double		h[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS],
				hl[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	int			np = m->nparams;
	int			i;
	size_t		k;

	ctx_init(&ctx, m, params, xmax, 1, 0);
	memset(H, 0, sizeof(double) * np * np);
	for (k = 0; k < nrows; k++)
	{
		const BtydRow *row = &rows[k];

		if (!m->uses_row(row))
			continue;
		ll += row->weight * m->row_loglik(&ctx, row, g, h);
		to_log_scale(params, np, g, h, gl, hl);
		for (i = 0; i < np * np; i++)
			H[i] += row->weight * hl[i];
	}
	return ll;
}

/* ----------------------------------------------------------------
 * Covariates
 * ----------------------------------------------------------------
 */

/*
 * The covariates of a fit and the columns that are fitted (not 0 on every
 * row).  theta = (ln params, gamma of the active purchase columns, gamma
 * of the active dropout columns).
 */
typedef struct CovSpec
{
	int			ntrans;
	int			ndrop;
	const double *z;			/* stride ntrans + ndrop */
	int			nact_t;
	int			nact_d;
	int			act_t[BTYD_MAX_COVARIATES];
	int			act_d[BTYD_MAX_COVARIATES];
} CovSpec;

/*
 * Row k's parameters q from (params, gamma) and its map M (nparams x
 * ntheta, row-major): ln q = M theta.  0 if q is not finite and positive.
 */
static int
cov_row_params(const BtydModel *m, const double *params, const double *gam,
			   const CovSpec *cs, size_t k, double *q, double *M)
{
	const double *z = cs->z + k * (cs->ntrans + cs->ndrop);
	int			np = m->nparams;
	int			n = np + cs->nact_t + cs->nact_d;
	double		et = 0.0,
				ed = 0.0;
	int			a,
				j;

	memset(M, 0, sizeof(double) * np * n);
	for (j = 0; j < np; j++)
	{
		q[j] = params[j];
		M[j * n + j] = 1.0;
	}
	for (a = 0; a < cs->nact_t; a++)
	{
		double		zv = z[cs->act_t[a]];

		et += gam[a] * zv;
		M[m->trans_index * n + np + a] = m->trans_sign * zv;
	}
	for (a = 0; a < cs->nact_d; a++)
	{
		double		zv = z[cs->ntrans + cs->act_d[a]];

		ed += gam[cs->nact_t + a] * zv;
		for (j = 0; j < m->ndrop_index; j++)
			M[m->drop_index[j] * n + np + cs->nact_t + a] = m->drop_sign * zv;
	}
	q[m->trans_index] *= exp(m->trans_sign * et);
	for (j = 0; j < m->ndrop_index; j++)
		q[m->drop_index[j]] *= exp(m->drop_sign * ed);
	for (j = 0; j < np; j++)
		if (!(isfinite(q[j]) && q[j] > 0.0))
			return 0;
	return 1;
}

/*
 * Weighted LL with covariates at natural params and coefficients gam; its
 * gradient in theta into gt, the BHHH matrix of the per-row scores in
 * theta into bhhh, the Hessian in theta (model with second derivatives)
 * into H, each if not NULL.  NaN if a row's parameters are not valid.
 */
static double
sum_loglik_cov(const BtydModel *m, const double *params, const double *gam,
			   const CovSpec *cs, const BtydRow *rows, size_t nrows,
			   double *gt, double *bhhh, double *H)
{
	int			np = m->nparams;
	int			n = np + cs->nact_t + cs->nact_d;
	double		ll = 0.0;
	int			want_grad = gt != NULL || bhhh != NULL || H != NULL;
	int			i,
				j,
				l;
	size_t		k;

	if (gt)
		memset(gt, 0, sizeof(double) * n);
	if (bhhh)
		memset(bhhh, 0, sizeof(double) * n * n);
	if (H)
		memset(H, 0, sizeof(double) * n * n);
	for (k = 0; k < nrows; k++)
	{
		const BtydRow *row = &rows[k];
		double		w = row->weight;
		double		q[BTYD_MAX_PARAMS];
		double		M[BTYD_MAX_PARAMS * BTYD_MAX_THETA];
		double		g[BTYD_MAX_PARAMS],
					gl[BTYD_MAX_PARAMS],
					s[BTYD_MAX_THETA];
		double		h[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS],
					hl[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
		EvalCtx		ctx;

		if (!m->uses_row(row))
			continue;
		if (!cov_row_params(m, params, gam, cs, k, q, M))
			return NAN;
		ctx_init(&ctx, m, q, row->x, H != NULL, 1);
		ll += w * m->row_loglik(&ctx, row, want_grad ? g : NULL, H ? h : NULL);
		if (!want_grad)
			continue;
		to_log_scale(q, np, g, H ? h : NULL, gl, H ? hl : NULL);
		/* the score in theta: M' gl */
		for (i = 0; i < n; i++)
		{
			s[i] = 0.0;
			for (j = 0; j < np; j++)
				s[i] += M[j * n + i] * gl[j];
		}
		if (gt)
			for (i = 0; i < n; i++)
				gt[i] += w * s[i];
		if (bhhh)
			for (i = 0; i < n; i++)
				for (j = 0; j < n; j++)
					bhhh[i * n + j] += w * s[i] * s[j];
		if (H)
		{
			/* M' hl M */
			for (i = 0; i < n; i++)
				for (l = 0; l < n; l++)
				{
					double		v = 0.0;
					int			a,
								b;

					for (a = 0; a < np; a++)
					{
						if (M[a * n + i] == 0.0)
							continue;
						for (b = 0; b < np; b++)
							v += M[a * n + i] * hl[a * np + b] * M[b * n + l];
					}
					H[i * n + l] += w * v;
				}
		}
	}
	return ll;
}

/*
 * Validate covariates for a model and rows and find the active columns;
 * BTYD_OK, BTYD_ERR_ARGUMENT, or BTYD_ERR_INVALID_ROW (*bad_row set) for a
 * value that is not finite.
 */
static int
cov_setup(const BtydModel *m, const BtydCovariates *cov, const BtydRow *rows,
		  size_t nrows, CovSpec *cs, long *bad_row)
{
	int			stride;
	int			c;
	size_t		k;

	memset(cs, 0, sizeof(*cs));
	if (cov == NULL || (cov->ntrans == 0 && cov->ndrop == 0))
		return BTYD_OK;
	if (m->trans_index < 0 || cov->ntrans < 0 || cov->ndrop < 0 ||
		cov->ntrans > BTYD_MAX_COVARIATES || cov->ndrop > BTYD_MAX_COVARIATES ||
		(cov->z == NULL && nrows > 0))
		return BTYD_ERR_ARGUMENT;
	cs->ntrans = cov->ntrans;
	cs->ndrop = cov->ndrop;
	cs->z = cov->z;
	stride = cov->ntrans + cov->ndrop;
	for (c = 0; c < stride; c++)
	{
		int			active = 0;

		for (k = 0; k < nrows; k++)
		{
			double		v = cov->z[k * stride + c];

			if (!isfinite(v))
			{
				*bad_row = (long) k;
				return BTYD_ERR_INVALID_ROW;
			}
			if (v != 0.0 && m->uses_row(&rows[k]))
				active = 1;
		}
		if (!active)
			continue;
		if (c < cov->ntrans)
			cs->act_t[cs->nact_t++] = c;
		else
			cs->act_d[cs->nact_d++] = c - cov->ntrans;
	}
	return BTYD_OK;
}

#ifdef CRM_KERNEL_TESTS
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

static double
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

static double
btyd_loglik(BtydKind kind, const double *params, const BtydRow *rows,
			size_t nrows)
{
	return btyd_loglik_grad(kind, params, rows, nrows, NULL);
}

static double
btyd_loglik_hessian(BtydKind kind, const double *params, const BtydRow *rows,
					size_t nrows, double *hess)
{
	const BtydModel *m;
	double		xmax;
	int			i;

	if (!ll_setup(kind, params, rows, nrows, &m, &xmax) || !m->has_hessian)
	{
		for (i = 0; i < BTYD_MAX_PARAMS * BTYD_MAX_PARAMS; i++)
			hess[i] = NAN;
		return NAN;
	}
	return sum_hessian(m, params, rows, nrows, xmax, hess);
}

static double
btyd_loglik_cov(BtydKind kind, const double *params, const double *coef,
				const BtydRow *rows, size_t nrows, const BtydCovariates *cov,
				double *grad)
{
	const BtydModel *m;
	double		xmax;
	CovSpec		cs;
	int			c;

	if (!ll_setup(kind, params, rows, nrows, &m, &xmax) || cov == NULL ||
		m->trans_index < 0 || cov->ntrans < 0 || cov->ndrop < 0 ||
		cov->ntrans > BTYD_MAX_COVARIATES || cov->ndrop > BTYD_MAX_COVARIATES ||
		cov->z == NULL)
		return NAN;
	/* every column counts, zero or not */
	memset(&cs, 0, sizeof(cs));
	cs.ntrans = cov->ntrans;
	cs.ndrop = cov->ndrop;
	cs.z = cov->z;
	for (c = 0; c < cov->ntrans; c++)
		cs.act_t[cs.nact_t++] = c;
	for (c = 0; c < cov->ndrop; c++)
		cs.act_d[cs.nact_d++] = c;
	return sum_loglik_cov(m, params, coef, &cs, rows, nrows, grad, NULL, NULL);
}
#endif

/* ----------------------------------------------------------------
 * Fitting (see "4. FITTING" above)
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
	const CovSpec *cov;			/* NULL: no covariate is fitted */
	int			ntheta;
} Problem;

/*
 * Evaluate f and its gradient at pt->theta; f = +Infinity if the point is
 * infeasible or anything is not finite.  Adds the BHHH matrix of f (plus
 * the penalty's Hessian) into bhhh if not NULL.  (btyd_optim_kernel.h's
 * BtydEvaluate.)
 */
static void
evaluate(void *arg, BtydPoint *pt, double *bhhh)
{
	Problem    *pb = (Problem *) arg;
	int			np = pb->model->nparams;
	int			n = pb->ntheta;
	double		p[BTYD_MAX_PARAMS];
	double		grad[BTYD_MAX_THETA];
	double		pen = 0.0;
	int			i;

	pt->f = INFINITY;
	pt->ll = NAN;
	for (i = 0; i < n; i++)
		if (!(fabs(pt->theta[i]) <= LOG_BOUND))
			return;
	for (i = 0; i < np; i++)
		p[i] = exp(pt->theta[i]);
	if (bhhh)
		memset(bhhh, 0, sizeof(double) * n * n);
	pb->nevals++;
	if (pb->cov == NULL)
		pt->ll = sum_loglik(pb->model, p, pb->rows, pb->nrows, pb->xmax, grad,
							bhhh);
	else
		pt->ll = sum_loglik_cov(pb->model, p, pt->theta + np, pb->cov,
								pb->rows, pb->nrows, grad, bhhh, NULL);
	if (!isfinite(pt->ll))
		return;
	for (i = 0; i < n; i++)
	{
		double		v = i < np ? p[i] : pt->theta[i];

		/* grad is in natural params without covariates, else in theta */
		if (pb->cov == NULL)
			pt->g[i] = -p[i] * grad[i] / pb->W + 2.0 * pb->penalty * p[i] * p[i];
		else
			pt->g[i] = -grad[i] / pb->W
				+ 2.0 * pb->penalty * (i < np ? p[i] * p[i] : v);
		if (!isfinite(pt->g[i]))
			return;
		pen += v * v;
	}
	if (bhhh)
	{
		for (i = 0; i < n * n; i++)
			bhhh[i] /= pb->W;
		for (i = 0; i < n; i++)
			bhhh[i * n + i] += i < np ? 4.0 * pb->penalty * p[i] * p[i]
				: 2.0 * pb->penalty;
	}
	pt->f = -pt->ll / pb->W + pb->penalty * pen;
}

/*
 * The Hessian of f in theta at pt (evaluated): analytic for a model with
 * second derivatives, else forward differences of the gradient.  0 if it
 * cannot be computed.
 */
static int
objective_hessian(Problem *pb, const BtydObjective *obj, const BtydPoint *pt,
				  double *H)
{
	int			np = pb->model->nparams;
	int			n = pb->ntheta;
	double		p[BTYD_MAX_PARAMS];
	double		ll;
	int			i;

	if (!pb->model->has_hessian)
		return btyd_fd_hessian(obj, pt, H);
	for (i = 0; i < np; i++)
		p[i] = exp(pt->theta[i]);
	pb->nevals++;
	if (pb->cov == NULL)
		ll = sum_hessian(pb->model, p, pb->rows, pb->nrows, pb->xmax, H);
	else
		ll = sum_loglik_cov(pb->model, p, pt->theta + np, pb->cov, pb->rows,
							pb->nrows, NULL, NULL, H);
	if (!isfinite(ll))
		return 0;
	for (i = 0; i < n * n; i++)
	{
		H[i] = -H[i] / pb->W;
		if (!isfinite(H[i]))
			return 0;
	}
	for (i = 0; i < n; i++)
		H[i * n + i] += i < np ? 4.0 * pb->penalty * p[i] * p[i]
			: 2.0 * pb->penalty;
	return 1;
}

/*
 * The covariance of the estimates into out->vcov (see the header comment,
 * "Standard errors"), in the layout of BtydFit: params, then every
 * purchase and every dropout coefficient, NaN for those not fitted.
 */
static void
fit_covariance(Problem *pb, const BtydObjective *obj, const BtydPoint *pt,
			   BtydFit *out)
{
	int			np = pb->model->nparams;
	int			n = pb->ntheta;
	int			nfull = np + out->ntrans + out->ndrop;
	double		H[BTYD_MAX_THETA * BTYD_MAX_THETA];
	double		C[BTYD_MAX_THETA * BTYD_MAX_THETA];
	int			pos[BTYD_MAX_THETA];	/* theta index -> layout index */
	double		d[BTYD_MAX_THETA];
	int			i,
				j;

	if (!objective_hessian(pb, obj, pt, H) || !btyd_cholesky_inverse(H, n, C))
		return;
	for (i = 0; i < n; i++)
	{
		d[i] = i < np ? exp(pt->theta[i]) : 1.0;
		if (i < np)
			pos[i] = i;
		else if (i < np + pb->cov->nact_t)
			pos[i] = np + pb->cov->act_t[i - np];
		else
			pos[i] = np + out->ntrans + pb->cov->act_d[i - np - pb->cov->nact_t];
	}
	for (i = 0; i < nfull * nfull; i++)
		out->vcov[i] = NAN;
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			out->vcov[pos[i] * nfull + pos[j]] = C[i * n + j] / pb->W * d[i] * d[j];
	out->has_vcov = 1;
}

static void
fit_init(BtydFit *out, BtydKind kind, double penalty)
{
	int			i;

	memset(out, 0, sizeof(*out));
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
	out->has_vcov = 0;
}

int
btyd_fit_cov(BtydKind kind, const BtydRow *rows, size_t nrows,
			 const BtydCovariates *cov, double l2_penalty,
			 const BtydOptions *options, BtydFit *out)
{
	const BtydModel *m = find_model(kind);
	DataSummary sum;
	CovSpec		cs;
	Problem		pb;
	BtydObjective obj;
	BtydPoint	pt;
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
	status = cov_setup(m, cov, rows, nrows, &cs, &out->bad_row);
	if (status != BTYD_OK)
		return status;
	if (cov)
	{
		out->ntrans = cov->ntrans;
		out->ndrop = cov->ndrop;
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
	pb.cov = (cs.nact_t + cs.nact_d > 0) ? &cs : NULL;
	pb.ntheta = m->nparams + cs.nact_t + cs.nact_d;
	obj.n = pb.ntheta;
	obj.evaluate = evaluate;
	obj.arg = &pb;
	memset(&pt, 0, sizeof(pt));
	for (i = 0; i < m->nparams; i++)
		pt.theta[i] = fmin(fmax(log(start[i]), -LOG_BOUND), LOG_BOUND);

	status = btyd_minimize(&obj, &pt, maxit, gtol, &iters) ? BTYD_OK
		: BTYD_ERR_NOT_CONVERGED;

	out->iterations = iters;
	if (isfinite(pt.f))
	{
		int			a;

		for (i = 0; i < m->nparams; i++)
			out->params[i] = exp(pt.theta[i]);
		for (a = 0; a < cs.nact_t; a++)
			out->coef[cs.act_t[a]] = pt.theta[m->nparams + a];
		for (a = 0; a < cs.nact_d; a++)
			out->coef[out->ntrans + cs.act_d[a]] =
				pt.theta[m->nparams + cs.nact_t + a];
		out->loglik = pt.ll;
		out->grad_max = 0.0;
		for (i = 0; i < pb.ntheta; i++)
			out->grad_max = fmax(out->grad_max, fabs(pt.g[i]));
		if (options && options->covariance)
			fit_covariance(&pb, &obj, &pt, out);
	}
	out->evaluations = pb.nevals;
	out->converged = (status == BTYD_OK);
	return status;
}

#ifdef CRM_KERNEL_TESTS
static int
btyd_fit_ex(BtydKind kind, const BtydRow *rows, size_t nrows,
			double l2_penalty, const BtydOptions *options, BtydFit *out)
{
	return btyd_fit_cov(kind, rows, nrows, NULL, l2_penalty, options, out);
}

static int
btyd_fit(BtydKind kind, const BtydRow *rows, size_t nrows,
		 double l2_penalty, BtydFit *out)
{
	return btyd_fit_ex(kind, rows, nrows, l2_penalty, NULL, out);
}
#endif

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
	if (m->discrete)
		return valid_discrete(x, t_x, T, 0.0) ? m : NULL;
	if (!valid_count(x) || !isfinite(t_x) || !isfinite(T))
		return NULL;
	if (t_x < 0.0 || T < 0.0 || t_x > T)
		return NULL;
	return m;
}

/* a valid horizon t for model m */
static int
valid_horizon(const BtydModel *m, double t)
{
	if (!isfinite(t) || t < 0.0)
		return 0;
	return !m->discrete || (t == floor(t) && t <= BTYD_MAX_OPPORTUNITIES);
}

/*
 * P(alive at T) of a validated history: the weight of the "alive" branch
 * of every conditional prediction (for BG/BB, alive at n).
 */
static double
p_alive(const BtydModel *m, const double *params, double x, double t_x,
		double T)
{
	if (m->kind == BTYD_PARETO_NBD)
	{
		PnbdParts	pp;

		pnbd_parts(params, x, t_x, T, 0, NULL, &pp);
		return btyd_logistic(pp.l_alive - pp.l_dead);
	}
	else if (m->kind == BTYD_BGBB)
	{
		double		l_alive,
					ll;

		if (T == 0.0)
			return 1.0;
		ll = bgbb_loglik(params, x, t_x, T, &l_alive, NULL);
		return fmin(1.0, exp(l_alive - ll));
	}
	else
	{
		double		D,
					lratio,
					bx;

		if (!bg_dropout(params, m->delta, x, t_x, T, &D, &lratio, &bx))
			return 1.0;
		return btyd_logistic(-D);
	}
}

double
btyd_p_alive(BtydKind kind, const double *params, double x, double t_x,
			 double T)
{
	const BtydModel *m = count_model(kind, params, x, t_x, T);
	double		w;

	if (m == NULL)
		return NAN;
	w = p_alive(m, params, x, t_x, T);
	if (m->kind == BTYD_BGBB)
	{
		/* and survives the start of opportunity n + 1 (FHS eq. (11)) */
		w *= (params[3] + T) / (params[2] + params[3] + T);
	}
	return w;
}

double
btyd_alive_weight(BtydKind kind, const double *params, double x, double t_x,
				  double T)
{
	const BtydModel *m = count_model(kind, params, x, t_x, T);

	return m ? p_alive(m, params, x, t_x, T) : NAN;
}

/*
 * The parameters of a customer alive at T with history (x, T), from which
 * it behaves like a new customer of the "alive" family: BG/NBD for BG/NBD
 * and MBG/NBD, Pareto/NBD, BG/BB (see "Conditional on the history").
 */
static void
posterior(const BtydModel *m, const double *p, double x, double T, double *q)
{
	if (m->kind == BTYD_BGBB)
	{
		q[0] = p[0] + x;
		q[1] = p[1] + T - x;
		q[2] = p[2];
		q[3] = p[3] + T;
		return;
	}
	q[0] = p[0] + x;
	q[1] = p[1] + T;
	q[2] = p[2];
	q[3] = m->kind == BTYD_PARETO_NBD ? p[3] + T : p[3] + x + m->delta;
}

/*
 * E[X(t)] of a BG/NBD customer alive at 0 with (r, alpha, a, b) when a is
 * so large that the dropout probability p ~ Beta(a, b) barely varies:
 * given p, E = h(p) = (1 - (alpha/(alpha + p t))^r) / p (the geometric
 * number of purchases before dropout, mixed over lambda), and
 * E[h(p)] = h(m) + h''(m) Var(p) / 2 + O(1/a^2) relative, m = a/(a+b),
 * Var(p) = m (1-m)/(a+b+1), whose relative size is about 1/a.  Used when
 * the series of eq. (10) would need more than BG_FIXED_P terms (they grow
 * until about z (a-1)); there a > BG_FIXED_P, so the neglected terms are
 * below 1e-8 relative.
 */
static double
bg_h(double r, double alpha, double t, double p)
{
	return -expm1(-r * log1p(p * t / alpha)) / p;
}

static double
bg_expected_fixed_p(double r, double alpha, double a, double b, double t)
{
	double		m = a / (a + b);
	double		var = m * (1.0 - m) / (a + b + 1.0);
	double		d = 1e-4 * fmin(m, 1.0 - m);
	double		h0 = bg_h(r, alpha, t, m);
	double		h2 = (bg_h(r, alpha, t, m + d) - 2.0 * h0 + bg_h(r, alpha, t, m - d)) / (d * d);

	return h0 + 0.5 * h2 * var;
}

/*
 * BG/NBD and MBG/NBD, FHL eq. (10) without the P(alive) factor, with
 * Euler's transformation:
 *	C/(a-1) [1 - (1-z)^(a-1) 2F1(P, a-1; C; z)]
 *	  = C [ (1 - (1-z)^(a-1))/(a-1) - (1-z)^(a-1) S ]
 * with C = a+b+x-1+delta, P = a+b-1-r+delta, z = t/(alpha+T+t) and
 * 2F1(P, a-1; C; z) = 1 + (a-1) S.
 */
static double
bg_expected_alive(const BtydModel *m, const double *p, double t, double x,
				  double T)
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
	double		S;
	double		bracket;

	if (a - 1.0 > BG_FIXED_P && z * (a - 1.0) > BG_FIXED_P)
		return bg_expected_fixed_p(r + x, alpha + T, a, b + x + m->delta, t);
	S = btyd_hyp_tail_series(P, a - 1.0, C, z, &lscale);
	bracket = btyd_one_minus_exp_over(a - 1.0, L)
		- exp((a - 1.0) * L + lscale) * S;
	return C * bracket;
}

/* Pareto/NBD conditional expectation without P(alive), FH note section 6 */
static double
pnbd_expected_alive(const double *p, double t, double x, double T)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		L = -log1p(t / (beta + T));	/* ln((beta+T)/(beta+T+t)) */

	return (r + x) * (beta + T) / (alpha + T)
		* btyd_one_minus_exp_over(s - 1.0, L);
}

/* BG/BB E[X(n)] of a new customer, FHS eq. (9); n = t whole */
static double
bgbb_expected_new(const double *q, double t)
{
	double		c = q[2] - 1.0;
	double		sum = 0.0;
	int			j;

	for (j = 0; j < (int) t; j++)
		sum += c == 0.0 ? 1.0 / (1.0 + q[3] + j) : -log1p(c / (1.0 + q[3] + j));
	if (c != 0.0)
		sum = -expm1(sum) / c;
	return q[0] / (q[0] + q[1]) * q[3] * sum;
}

/* expectation given alive at T with history (x, T), t > 0 */
static double
expected_alive(const BtydModel *m, const double *params, double t, double x,
			   double T)
{
	double		q[BTYD_MAX_PARAMS];

	if (m->kind == BTYD_PARETO_NBD)
		return pnbd_expected_alive(params, t, x, T);
	if (m->kind == BTYD_BGBB)
	{
		posterior(m, params, x, T, q);
		return bgbb_expected_new(q, t);
	}
	return bg_expected_alive(m, params, t, x, T);
}

double
btyd_expected_purchases(BtydKind kind, const double *params, double t,
						double x, double t_x, double T)
{
	const BtydModel *m = count_model(kind, params, x, t_x, T);
	double		alive;

	if (m == NULL || !valid_horizon(m, t))
		return NAN;
	if (t == 0.0)
		return 0.0;
	alive = expected_alive(m, params, t, x, T);
	return fmax(0.0, alive * p_alive(m, params, x, t_x, T));
}

double
btyd_expected_purchases_new(BtydKind kind, const double *params, double t)
{
	return btyd_expected_purchases(kind, params, t, 0.0, 0.0, 0.0);
}

double
btyd_expected_alive(BtydKind kind, const double *params, double t, double x,
					double T)
{
	const BtydModel *m = count_model(kind, params, x, 0.0, T);

	if (m == NULL || !valid_horizon(m, t))
		return NAN;
	if (t == 0.0)
		return 0.0;
	return fmax(0.0, expected_alive(m, params, t, x, T));
}

/* ----------------------------------------------------------------
 * Distributions of the counts
 * ----------------------------------------------------------------
 */

/* ln NB(k; r, alpha, t), the negative binomial count of a live customer */
static double
nb_logpmf(double r, double alpha, double t, double k)
{
	if (t == 0.0)
		return k == 0.0 ? 0.0 : -INFINITY;
	return lgamma(r + k) - lgamma(r) - lgamma(k + 1.0)
		- r * log1p(t / alpha) - k * log1p(alpha / t);
}

/* BG/NBD P(X(t) = k) of a new customer, FHL eq. (8); q = (r, alpha, a, b) */
static double
bg_pmf_new(const double *q, double t, double k)
{
	double		r = q[0],
				alpha = q[1],
				a = q[2],
				b = q[3];
	double		lratio = 0.0;	/* ln B(a, b+k-1)/B(a, b) as sum -log1p(a/(b+j)) */
	double		P;
	double		j;

	for (j = 0; j < k - 1.0; j++)
		lratio -= log1p(a / (b + j));
	if (k == 0.0)
		P = exp(nb_logpmf(r, alpha, t, k));
	else
		P = exp(lratio - log1p(a / (b + k - 1.0)) + nb_logpmf(r, alpha, t, k));
	if (k > 0.0 && t > 0.0)
	{
		double		below;
		double		tail = btyd_beta_inc(k, r, t / (alpha + t), &below);

		/* B(a+1, b+k-1)/B(a, b) = a/(a+b+k-1) B(a, b+k-1)/B(a, b) */
		P += exp(log(a) - log(a + b + k - 1.0) + lratio) * tail;
	}
	return P;
}

/* the Pareto/NBD integrand of P(X(t) = k) in u = tau / (alpha + tau) */
typedef struct PnbdPmfArg
{
	double		lc;				/* log of the constant factor */
	double		k;
	double		c;				/* r + s - 1 */
	double		s1;				/* s + 1 */
	double		ratio;			/* alpha / beta - 1 */
} PnbdPmfArg;

/*
 * s beta^s alpha G(r+k)/(G(r) k!) u^k (1-u)^(r+s-1) (beta + (alpha-beta) u)^-(s+1)
 * with beta^s (beta + (alpha-beta) u)^-(s+1) = (1 + (alpha/beta - 1) u)^-(s+1)
 * / beta, so that no power of beta is formed (s can be huge)
 */
static double
pnbd_pmf_integrand(double u, const void *varg)
{
	const PnbdPmfArg *a = (const PnbdPmfArg *) varg;

	if (u <= 0.0)
		return 0.0;
	return exp(a->lc + a->k * log(u) + a->c * log1p(-u)
			   - a->s1 * log1p(a->ratio * u));
}

/* Pareto/NBD P(X(t) = k) of a new customer; q = (r, alpha, s, beta) */
static double
pnbd_pmf_new(const double *q, double t, double k)
{
	double		r = q[0],
				alpha = q[1],
				s = q[2],
				beta = q[3];
	double		P;

	if (t == 0.0)
		return k == 0.0 ? 1.0 : 0.0;
	/* alive through t */
	P = exp(nb_logpmf(r, alpha, t, k) - s * log1p(t / beta));
	if (k == 0.0)
	{
		/* dead before t: s alpha^r beta^s (G(0) - G(t)), G with m = r */
		double		lg0 = pnbd_log_tail(r, alpha, s + 1.0, beta, alpha - beta,
										log(alpha), log(beta), NULL);
		double		lgt = pnbd_log_tail(r, alpha + t, s + 1.0, beta + t,
										alpha - beta, log(alpha + t),
										log(beta + t), NULL);

		P += exp(log(s) + r * log(alpha) + s * log(beta) + lg0)
			* -expm1(lgt - lg0);
	}
	else
	{
		PnbdPmfArg	a;
		double		err;

		a.lc = log(s) - log(beta) + log(alpha) + lgamma(r + k) - lgamma(r)
			- lgamma(k + 1.0);
		a.k = k;
		a.c = r + s - 1.0;
		a.s1 = s + 1.0;
		a.ratio = alpha / beta - 1.0;
		P += btyd_integrate(pnbd_pmf_integrand, &a, 0.0, t / (alpha + t),
							PMF_ABS_TOL, 1e-13, &err);
	}
	return P;
}

/* BG/BB P(X(n) = k) of a new customer, FHS eq. (8); n = t whole */
static double
bgbb_pmf_new(const double *q, double t, double k)
{
	double		al = q[0],
				be = q[1],
				ga = q[2],
				de = q[3];
	double		lab = btyd_lbeta(al, be);
	double		lgd = btyd_lbeta(ga, de);
	double		lk1 = lgamma(k + 1.0);
	double		P;
	double		i;

	if (k > t)
		return 0.0;
	P = exp(lgamma(t + 1.0) - lk1 - lgamma(t - k + 1.0)
			+ btyd_lbeta(al + k, be + t - k) - lab
			+ btyd_lbeta(ga, de + t) - lgd);
	for (i = k; i < t; i++)
		P += exp(lgamma(i + 1.0) - lk1 - lgamma(i - k + 1.0)
				 + btyd_lbeta(al + k, be + i - k) - lab
				 + btyd_lbeta(ga + 1.0, de + i) - lgd);
	return P;
}

/* P(X(t) = k) of a new customer of the "alive" family of m */
static double
pmf_new_alive(const BtydModel *m, const double *q, double t, double k)
{
	if (m->kind == BTYD_PARETO_NBD)
		return pnbd_pmf_new(q, t, k);
	if (m->kind == BTYD_BGBB)
		return bgbb_pmf_new(q, t, k);
	return bg_pmf_new(q, t, k);
}

static double
clamp01(double v)
{
	return fmin(1.0, fmax(0.0, v));
}

double
btyd_pmf(BtydKind kind, const double *params, double t, double k)
{
	const BtydModel *m = count_model(kind, params, 0.0, 0.0, 0.0);

	if (m == NULL || !valid_horizon(m, t) || !valid_count(k))
		return NAN;
	if (m->kind == BTYD_MBGNBD)
	{
		/* gone at time 0 with probability a/(a+b), else BG/NBD with b+1 */
		double		q[BTYD_MAX_PARAMS];
		double		keep = params[3] / (params[2] + params[3]);

		memcpy(q, params, sizeof(q));
		q[3] += 1.0;
		return clamp01((k == 0.0 ? 1.0 - keep : 0.0) + keep * bg_pmf_new(q, t, k));
	}
	return clamp01(pmf_new_alive(m, params, t, k));
}

double
btyd_pmf_alive(BtydKind kind, const double *params, double t, double k,
			   double x, double T)
{
	const BtydModel *m = count_model(kind, params, x, 0.0, T);
	double		q[BTYD_MAX_PARAMS];

	if (m == NULL || !valid_horizon(m, t) || !valid_count(k))
		return NAN;
	posterior(m, params, x, T, q);
	return clamp01(pmf_new_alive(m, q, t, k));
}

double
btyd_pmf_conditional(BtydKind kind, const double *params, double t,
					 double k, double x, double t_x, double T)
{
	const BtydModel *m = count_model(kind, params, x, t_x, T);
	double		q[BTYD_MAX_PARAMS];
	double		w;

	if (m == NULL || !valid_horizon(m, t) || !valid_count(k))
		return NAN;
	w = p_alive(m, params, x, t_x, T);
	posterior(m, params, x, T, q);
	return clamp01((k == 0.0 ? 1.0 - w : 0.0) + w * pmf_new_alive(m, q, t, k));
}

/* ----------------------------------------------------------------
 * Uncertainty
 * ----------------------------------------------------------------
 */

int
btyd_expected_interval(BtydKind kind, const double *params,
					   const double *vcov, double t, double x, double t_x,
					   double T, double level, double *out)
{
	const BtydModel *m = count_model(kind, params, x, t_x, T);
	double		g[BTYD_MAX_PARAMS];
	double		E,
				var = 0.0,
				se,
				z;
	int			np,
				i,
				j;

	for (i = 0; i < 4; i++)
		out[i] = NAN;
	if (m == NULL || vcov == NULL || !(level > 0.0 && level < 1.0))
		return 0;
	np = m->nparams;
	for (i = 0; i < np * np; i++)
		if (!isfinite(vcov[i]))
			return 0;
	E = btyd_expected_purchases(kind, params, t, x, t_x, T);
	if (!isfinite(E))
		return 0;
	/* dE / d ln param_j by central differences */
	for (j = 0; j < np; j++)
	{
		double		up[BTYD_MAX_PARAMS],
					dn[BTYD_MAX_PARAMS];

		memcpy(up, params, sizeof(up));
		memcpy(dn, params, sizeof(dn));
		up[j] *= exp(FD_PRED_STEP);
		dn[j] *= exp(-FD_PRED_STEP);
		g[j] = (btyd_expected_purchases(kind, up, t, x, t_x, T)
				- btyd_expected_purchases(kind, dn, t, x, t_x, T))
			/ (2.0 * FD_PRED_STEP);
	}
	for (i = 0; i < np; i++)
		for (j = 0; j < np; j++)
			var += g[i] * g[j] * vcov[i * np + j] / (params[i] * params[j]);
	if (!isfinite(var))
		return 0;
	se = sqrt(fmax(var, 0.0));
	z = btyd_normal_quantile(0.5 + 0.5 * level);
	out[0] = E;
	out[1] = se;
	out[2] = E > 0.0 ? E * exp(-z * se / E) : 0.0;
	out[3] = E > 0.0 ? E * exp(z * se / E) : 0.0;
	return 1;
}

int
btyd_individual(BtydKind kind, const double *params, const double *coef,
				int ntrans, int ndrop, const double *z_trans,
				const double *z_drop, const double *vcov, double *out_params,
				double *out_vcov)
{
	const BtydModel *m = find_model(kind);
	double		M[BTYD_MAX_PARAMS * BTYD_MAX_THETA];
	double		et = 0.0,
				ed = 0.0;
	int			np,
				n,
				a,
				i,
				j;

	if (m == NULL || !valid_params(m, params) || ntrans < 0 || ndrop < 0 ||
		ntrans > BTYD_MAX_COVARIATES || ndrop > BTYD_MAX_COVARIATES ||
		(m->trans_index < 0 && ntrans + ndrop > 0))
		return 0;
	np = m->nparams;
	n = np + ntrans + ndrop;
	memset(M, 0, sizeof(M));
	for (j = 0; j < np; j++)
	{
		out_params[j] = params[j];
		M[j * n + j] = 1.0;
	}
	for (a = 0; a < ntrans; a++)
	{
		if (!isfinite(coef[a]) || !isfinite(z_trans[a]))
			return 0;
		et += coef[a] * z_trans[a];
		M[m->trans_index * n + np + a] = m->trans_sign * z_trans[a];
	}
	for (a = 0; a < ndrop; a++)
	{
		if (!isfinite(coef[ntrans + a]) || !isfinite(z_drop[a]))
			return 0;
		ed += coef[ntrans + a] * z_drop[a];
		for (j = 0; j < m->ndrop_index; j++)
			M[m->drop_index[j] * n + np + ntrans + a] = m->drop_sign * z_drop[a];
	}
	if (ntrans > 0)
		out_params[m->trans_index] *= exp(m->trans_sign * et);
	if (ndrop > 0)
		for (j = 0; j < m->ndrop_index; j++)
			out_params[m->drop_index[j]] *= exp(m->drop_sign * ed);
	if (!valid_params(m, out_params))
		return 0;
	if (vcov == NULL || out_vcov == NULL)
		return 1;
	if (n == np)
	{
		/* no covariates: the customer's parameters are the model's */
		memcpy(out_vcov, vcov, sizeof(double) * np * np);
		return 1;
	}
	/* Cov(ln q) = M Cov(theta) M', theta = (ln params, coef) */
	for (i = 0; i < np; i++)
		for (j = 0; j < np; j++)
		{
			double		v = 0.0;
			int			b;

			for (a = 0; a < n; a++)
			{
				if (M[i * n + a] == 0.0)
					continue;
				for (b = 0; b < n; b++)
				{
					double		da = a < np ? params[a] : 1.0;
					double		db = b < np ? params[b] : 1.0;

					if (M[j * n + b] == 0.0)
						continue;
					v += M[i * n + a] * vcov[a * n + b] / (da * db) * M[j * n + b];
				}
			}
			out_vcov[i * np + j] = v * out_params[i] * out_params[j];
		}
	return 1;
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
 * Validation: the area under the ROC curve
 * ----------------------------------------------------------------
 */

static int
scored_cmp(const void *pa, const void *pb)
{
	double		a = ((const BtydScored *) pa)->score;
	double		b = ((const BtydScored *) pb)->score;

	return (a > b) - (a < b);
}

/* the bits of a double as an unsigned key in the order of the doubles */
static uint64_t
sort_key(double v)
{
	uint64_t	u;

	memcpy(&u, &v, sizeof(u));
	return (u >> 63) ? ~u : u | UINT64_C(0x8000000000000000);
}

/* LSD radix sort by score, 11 bits a pass, through scratch */
static void
radix_sort_scored(BtydScored *pairs, size_t n, BtydScored *scratch)
{
	BtydScored *from = pairs,
			   *to = scratch;
	int			shift;

	for (shift = 0; shift < 64; shift += 11)
	{
		size_t		count[2048];
		size_t		i,
					sum = 0;

		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[(sort_key(from[i].score) >> shift) & 2047]++;
		for (i = 0; i < 2048; i++)
		{
			size_t		c = count[i];

			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			to[count[(sort_key(from[i].score) >> shift) & 2047]++] = from[i];
		from = to;
		to = (to == scratch) ? pairs : scratch;
	}
	if (from != pairs)
		memcpy(pairs, from, n * sizeof(BtydScored));
}

/*
 * Mann-Whitney: with the pairs sorted by score and tied scores given their
 * mean rank, AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg).
 */
double
btyd_auc(BtydScored *pairs, size_t n, BtydScored *scratch)
{
	double		npos = 0.0,
				rank_sum = 0.0;
	size_t		i = 0;

	for (i = 0; i < n; i++)
		if (isnan(pairs[i].score))
			return NAN;
	i = 0;
	if (scratch)
		radix_sort_scored(pairs, n, scratch);
	else
		qsort(pairs, n, sizeof(BtydScored), scored_cmp);
	while (i < n)
	{
		size_t		j = i;
		double		pos = 0.0;

		while (j < n && pairs[j].score == pairs[i].score)
		{
			pos += pairs[j].label != 0;
			j++;
		}
		/* ranks i+1 .. j, mean (i + 1 + j) / 2 */
		rank_sum += pos * 0.5 * ((double) i + 1.0 + (double) j);
		npos += pos;
		i = j;
	}
	if (npos == 0.0 || npos == (double) n)
		return NAN;
	return (rank_sum - npos * (npos + 1.0) / 2.0) / (npos * ((double) n - npos));
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
