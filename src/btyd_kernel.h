/*-------------------------------------------------------------------------
 *
 * btyd_kernel.h
 *	  "Buy till you die" customer-base models: maximum-likelihood fitting
 *	  with standard errors and covariates, per-customer predictions and
 *	  distributions, in pure C99.
 *
 * Models: BG/NBD, MBG/NBD, Pareto/NBD (purchase counts in continuous
 * time), BG/BB (purchase counts in discrete opportunities) and
 * Gamma-Gamma (spend per purchase).  No PostgreSQL headers here: the layer
 * is compiled into the extension and, on its own, into
 * test/unit/btyd_kernel_test.c.  btyd_kernel.c explains the models, the
 * formulas and the numerics; btyd_math_kernel.c the special functions;
 * btyd_optim_kernel.c the optimizer.
 *
 * Contract for the caller (the fmgr glue):
 *	- nothing here prints, exits, aborts, or keeps mutable global state;
 *	- nothing here allocates memory: the caller owns the rows;
 *	- fitting returns a BtydStatus, which the caller turns into an ERROR
 *	  (or, for BTYD_ERR_NOT_CONVERGED, maybe a WARNING: *out is filled);
 *	- predictions return NaN exactly when their arguments are invalid, as
 *	  documented at each function.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_BTYD_KERNEL_H
#define CRM_BTYD_KERNEL_H

#include <stddef.h>

#include "btyd_math_kernel.h"
#include "btyd_optim_kernel.h"

typedef enum BtydKind
{
	BTYD_BGNBD = 1,				/* params r, alpha, a, b */
	BTYD_PARETO_NBD = 2,		/* params r, alpha, s, beta */
	BTYD_GAMMA_GAMMA = 3,		/* params p, q, v */
	BTYD_MBGNBD = 4,			/* params r, alpha, a, b */
	BTYD_BGBB = 5				/* params alpha, beta, gamma, delta */
} BtydKind;

#define BTYD_MAX_PARAMS 4
#define BTYD_MAX_COVARIATES 8	/* per process (purchase, dropout) */
#define BTYD_MAX_OPPORTUNITIES 100000	/* BG/BB: n and t at most this */

typedef enum BtydStatus
{
	BTYD_OK = 0,
	BTYD_ERR_ARGUMENT,			/* unknown kind, NULL pointer, bad penalty,
								 * options or covariates */
	BTYD_ERR_EMPTY,				/* no rows (nrows == 0) */
	BTYD_ERR_INVALID_ROW,		/* a row failed btyd_check_row(); see
								 * BtydFit.bad_row */
	BTYD_ERR_NO_REPEAT_SPEND,	/* Gamma-Gamma: no row has x > 0 */
	BTYD_ERR_NO_REPEAT_PURCHASES,	/* count model: every row has x == 0, so
									 * dropout cannot be identified */
	BTYD_ERR_NOT_CONVERGED		/* the optimizer stopped before the
								 * convergence test held; *out holds the best
								 * point found, converged = 0 */
} BtydStatus;

/*
 * One customer, or a group of "weight" customers with identical data.
 *
 * Continuous-time count models (BG/NBD, MBG/NBD, Pareto/NBD):
 *	x		number of repeat purchases (integer >= 0)
 *	t_x		time of the last repeat purchase, measured from the first
 *			purchase (0 <= t_x <= T; when x == 0 it must still be in that
 *			range, and is taken as 0)
 *	T		length of the observation period since the first purchase (> 0)
 *
 * BG/BB, discrete opportunities after the first purchase:
 *	x		opportunities with a purchase (integer >= 0)
 *	t_x		the last of them (integer, x <= t_x <= T when x > 0; taken as
 *			0 when x == 0)
 *	T		n, the opportunities observed (integer, 1..BTYD_MAX_OPPORTUNITIES)
 *
 * Gamma-Gamma reuses the struct with other meanings:
 *	x		number of repeat purchases (integer >= 0)
 *	t_x		zbar, the mean value of the x repeat purchases (> 0 if x > 0)
 *	T		unused (not validated)
 * Rows with x == 0 are valid but carry no spend information: the fit skips
 * them (and they do not count in n_customers).
 *
 * weight: number of customers the row stands for (finite, > 0; need not be
 * an integer).  Time may be in any unit (days, weeks) used consistently.
 */
typedef struct BtydRow
{
	double		x;
	double		t_x;
	double		T;
	double		weight;
} BtydRow;

/*
 * Time-invariant covariates of the rows (BG/NBD, MBG/NBD, Pareto/NBD), in
 * CLVTools' convention: customer i's purchase rate scale is
 * alpha_i = alpha exp(-gamma_trans' z_trans_i), and the dropout process
 * scales the same way, beta_i = beta exp(-gamma_drop' z_drop_i) for
 * Pareto/NBD and a_i = a exp(gamma_drop' z_drop_i), b_i = b
 * exp(gamma_drop' z_drop_i) for BG/NBD and MBG/NBD.  z holds nrows rows of
 * ntrans + ndrop values each (the purchase covariates first), row-major.
 */
typedef struct BtydCovariates
{
	int			ntrans;			/* 0..BTYD_MAX_COVARIATES */
	int			ndrop;			/* 0..BTYD_MAX_COVARIATES */
	const double *z;
} BtydCovariates;

/* Result of a fit. */
typedef struct BtydFit
{
	BtydKind	kind;
	int			nparams;
	double		params[BTYD_MAX_PARAMS];	/* natural scale, in the order of
											 * btyd_param_name() */
	int			ntrans;			/* covariate coefficients */
	int			ndrop;
	double		coef[2 * BTYD_MAX_COVARIATES];	/* gamma_trans, then
												 * gamma_drop; 0 for a
												 * covariate that is 0 for
												 * every row */
	double		loglik;			/* total weighted log-likelihood at params,
								 * WITHOUT the penalty */
	double		n_customers;	/* sum of the weights of the rows used */
	int			iterations;		/* optimizer iterations */
	int			evaluations;	/* likelihood+gradient evaluations */
	int			converged;		/* 1 if the convergence test held */
	double		penalty;		/* L2 penalty coefficient used */
	double		grad_max;		/* convergence measure at params; see
								 * btyd_optim_kernel.c */
	long		bad_row;		/* index of the first invalid row, or -1 */
	int			has_vcov;		/* 1 if vcov holds the covariance */

	/*
	 * Covariance of (params, coef), an (nparams + ntrans + ndrop) square
	 * matrix, row-major: the inverse of the observed information (the
	 * Hessian of the negative log-likelihood, plus the penalty's) at the
	 * optimum.  NaN in the rows and columns of a coefficient whose
	 * covariate is 0 for every row.
	 */
	double		vcov[BTYD_MAX_THETA * BTYD_MAX_THETA];
} BtydFit;

/* Optional knobs for btyd_fit_ex(); NULL means the defaults shown. */
typedef struct BtydOptions
{
	int			max_iterations; /* default 200 */
	double		gtol;			/* default 1e-9 */
	const double *start;		/* natural-scale starting values (nparams of
								 * them, all finite > 0), or NULL for the
								 * documented defaults */
	int			covariance;		/* 1: fill BtydFit.vcov; default 0 */
} BtydOptions;

/* Number of parameters of a kind (0 for an unknown kind). */
extern int	btyd_nparams(BtydKind kind);

/* Name of parameter i of a kind ("r", "alpha", ...), or NULL. */
extern const char *btyd_param_name(BtydKind kind, int i);

/* 1 for the count models in discrete time (BG/BB), else 0 */
extern int	btyd_is_discrete(BtydKind kind);

/* 1 if a kind takes covariates (BG/NBD, MBG/NBD, Pareto/NBD) */
extern int	btyd_takes_covariates(BtydKind kind);

/* Text for a BtydStatus value (never NULL). */
extern const char *btyd_status_message(int status);

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
extern int	btyd_fit_cov(BtydKind kind, const BtydRow *rows, size_t nrows,
						 const BtydCovariates *cov, double l2_penalty,
						 const BtydOptions *options, BtydFit *out);

/*
 * Sort rows by (x, t_x, T) and merge identical triples, adding their
 * weights, in place (qsort; no allocation).  Returns the new number of
 * rows.  Grouping does not change the likelihood; it makes the fit faster.
 * Rows must not contain NaN (validate first); for Gamma-Gamma set the
 * unused T to a constant.
 */
extern size_t btyd_group_rows(BtydRow *rows, size_t nrows);

/*
 * Per-customer predictions for count models (BG/NBD, MBG/NBD, Pareto/NBD,
 * BG/BB).  NaN when: the kind is not a count model; a parameter is not
 * finite and > 0; x, t_x, T are not finite; x < 0 or not integral; t_x < 0;
 * T < 0; t_x > T; (for the expectations and distributions) t is not finite
 * or t < 0; (BG/BB) t_x, T or t not integral, x > t_x, or T or t above
 * BTYD_MAX_OPPORTUNITIES.  Unlike btyd_check_row(), T == 0 is accepted (a
 * customer seen only at time 0).  For BG/BB, T is n, t counts the next
 * opportunities, and P(alive) is the probability of being alive at
 * opportunity n + 1 (Fader, Hardie & Shang 2010, eq. (11)).
 */

/* Probability that the customer is still alive at T, given (x, t_x, T). */
extern double btyd_p_alive(BtydKind kind, const double *params,
						   double x, double t_x, double T);

/* E[X(T, T+t) | x, t_x, T]: expected repeat purchases in (T, T+t]. */
extern double btyd_expected_purchases(BtydKind kind, const double *params,
									  double t, double x, double t_x,
									  double T);

/* E[X(t)]: expected repeat purchases in (0, t] of a new customer. */
extern double btyd_expected_purchases_new(BtydKind kind, const double *params,
										  double t);

/*
 * P(X(t) = k), k a non-negative integer: repeat purchases in (0, t] of a
 * new customer, and in (T, T+t] given the history (x, t_x, T).  NaN for
 * invalid arguments (k negative or not integral included).
 */
extern double btyd_pmf(BtydKind kind, const double *params, double t,
					   double k);
extern double btyd_pmf_conditional(BtydKind kind, const double *params,
								   double t, double k, double x, double t_x,
								   double T);

/*
 * The parts the conditional predictions are made of, for callers that
 * reuse them across customers (the validation report): w = P(alive at T |
 * x, t_x, T) (for BG/BB alive at n, not n+1), and the expectation and
 * P(X = k) of a customer known to be alive at T, which depend on x and T
 * only.  Then E[X(T, T+t) | history] = w * btyd_expected_alive() and
 * P(X(T, T+t) = k | history) = [k = 0] (1 - w) + w * btyd_pmf_alive().
 */
extern double btyd_alive_weight(BtydKind kind, const double *params,
								double x, double t_x, double T);
extern double btyd_expected_alive(BtydKind kind, const double *params,
								  double t, double x, double T);
extern double btyd_pmf_alive(BtydKind kind, const double *params, double t,
							 double k, double x, double T);

/*
 * Delta-method interval for E[X(T, T+t) | x, t_x, T] from the parameters'
 * covariance vcov (nparams x nparams, natural scale): out[0] the
 * expectation, out[1] its standard error, out[2], out[3] the bounds of
 * the two-sided interval of the given level (0 < level < 1), formed on the
 * log scale, E exp(-+z se / E), so that they stay positive.  Returns 0
 * (out NaN) for invalid arguments or a covariance with NaN.
 */
extern int	btyd_expected_interval(BtydKind kind, const double *params,
								   const double *vcov, double t, double x,
								   double t_x, double T, double level,
								   double *out);

/*
 * The parameters of one customer with covariates z_trans (ntrans values)
 * and z_drop (ndrop values) under a model with coefficients coef (see
 * BtydCovariates), into out_params; if vcov (the fit's, of params and
 * coef) and out_vcov are not NULL, also the covariance of the customer's
 * parameters, by the delta method (exact here: the log-parameters are
 * linear in the coefficients).  Returns 0 for invalid arguments.
 */
extern int	btyd_individual(BtydKind kind, const double *params,
							const double *coef, int ntrans, int ndrop,
							const double *z_trans, const double *z_drop,
							const double *vcov, double *out_params,
							double *out_vcov);

/*
 * Gamma-Gamma: E[M | x, zbar], the expected mean spend per purchase of a
 * customer with x repeat purchases of mean value zbar (params p, q, v).
 * +Infinity when the mean is infinite (p x + q <= 1; for x == 0, q <= 1).
 * NaN when a parameter is not finite and > 0, x is not finite, negative
 * or non-integral, or zbar is not finite or negative.
 */
extern double btyd_gg_expected_spend(const double *params, double x,
									 double zbar);

/*
 * Area under the ROC curve of scores against 0/1 labels (ties count one
 * half): the probability that a random positive scores above a random
 * negative.  Sorts the pairs in place, by radix sort through scratch (n
 * pairs) when it is not NULL, else with qsort().  NaN if either class is
 * empty or a score is NaN.
 */
typedef struct BtydScored
{
	double		score;
	int			label;
} BtydScored;

extern double btyd_auc(BtydScored *pairs, size_t n, BtydScored *scratch);

#endif							/* CRM_BTYD_KERNEL_H */
