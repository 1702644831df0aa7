/*-------------------------------------------------------------------------
 *
 * btyd_kernel.h
 *	  "Buy till you die" customer-base models: maximum-likelihood fitting
 *	  and per-customer predictions, in pure C99.
 *
 * Models: BG/NBD, MBG/NBD, Pareto/NBD (purchase counts) and Gamma-Gamma
 * (spend per purchase).  No PostgreSQL headers here: the layer is compiled
 * into the extension and, on its own, into test/unit/btyd_kernel_test.c.
 * btyd_kernel.c explains the models, the formulas and the numerics.
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

typedef enum BtydKind
{
	BTYD_BGNBD = 1,				/* params r, alpha, a, b */
	BTYD_PARETO_NBD = 2,		/* params r, alpha, s, beta */
	BTYD_GAMMA_GAMMA = 3,		/* params p, q, v */
	BTYD_MBGNBD = 4				/* params r, alpha, a, b */
} BtydKind;

#define BTYD_MAX_PARAMS 4

typedef enum BtydStatus
{
	BTYD_OK = 0,
	BTYD_ERR_ARGUMENT,			/* unknown kind, NULL pointer, bad penalty or
								 * options */
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
 * Count models (BG/NBD, MBG/NBD, Pareto/NBD):
 *	x		number of repeat purchases (integer >= 0)
 *	t_x		time of the last repeat purchase, measured from the first
 *			purchase (0 <= t_x <= T; when x == 0 it must still be in that
 *			range, and is taken as 0)
 *	T		length of the observation period since the first purchase (> 0)
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

/* Result of a fit. */
typedef struct BtydFit
{
	BtydKind	kind;
	int			nparams;
	double		params[BTYD_MAX_PARAMS];	/* natural scale, in the order of
											 * btyd_param_name() */
	double		loglik;			/* total weighted log-likelihood at params,
								 * WITHOUT the penalty */
	double		n_customers;	/* sum of the weights of the rows used */
	int			iterations;		/* optimizer iterations */
	int			evaluations;	/* likelihood+gradient evaluations */
	int			converged;		/* 1 if the convergence test held */
	double		penalty;		/* L2 penalty coefficient used */
	double		grad_max;		/* convergence measure at params; see
								 * btyd_kernel.c "Optimizer" */
	long		bad_row;		/* index of the first invalid row, or -1 */
} BtydFit;

/* Optional knobs for btyd_fit_ex(); NULL means the defaults shown. */
typedef struct BtydOptions
{
	int			max_iterations; /* default 200 */
	double		gtol;			/* default 1e-9 */
	const double *start;		/* natural-scale starting values (nparams of
								 * them, all finite > 0), or NULL for the
								 * documented defaults */
} BtydOptions;

/* Number of parameters of a kind (0 for an unknown kind). */
extern int	btyd_nparams(BtydKind kind);

/* Name of parameter i of a kind ("r", "alpha", ...), or NULL. */
extern const char *btyd_param_name(BtydKind kind, int i);

/* Short model name ("BG/NBD", ...), or NULL for an unknown kind. */
extern const char *btyd_kind_name(BtydKind kind);

/* Text for a BtydStatus value (never NULL). */
extern const char *btyd_status_message(int status);

/*
 * Validate one row for a kind: BTYD_OK or BTYD_ERR_INVALID_ROW (also for a
 * NULL row), BTYD_ERR_ARGUMENT for an unknown kind.  Rules, all kinds:
 * every field used is finite, weight > 0, x >= 0 and integral (x <= 1e9).
 * Count models also: T > 0, 0 <= t_x <= T (t_x is ignored when x == 0).
 * Gamma-Gamma also: t_x (zbar) > 0 when x > 0.
 */
extern int	btyd_check_row(BtydKind kind, const BtydRow *row);

/*
 * Fit a model by maximum likelihood.  Minimizes
 *		-loglik(params) / n_customers + l2_penalty * sum(params[i]^2)
 * over log(params) (the same objective as the Python package lifetimes'
 * penalizer_coef).  Returns a BtydStatus.  *out is always initialized
 * (params NaN unless a point was evaluated).  The rows are not modified.
 * l2_penalty must be finite and >= 0.
 */
extern int	btyd_fit(BtydKind kind, const BtydRow *rows, size_t nrows,
					 double l2_penalty, BtydFit *out);
extern int	btyd_fit_ex(BtydKind kind, const BtydRow *rows, size_t nrows,
						double l2_penalty, const BtydOptions *options,
						BtydFit *out);

/*
 * Total weighted log-likelihood (no penalty).  NaN if the kind is unknown,
 * a parameter is not finite and > 0, or a row is invalid.  Gamma-Gamma rows
 * with x == 0 contribute 0.  If grad is not NULL, btyd_loglik_grad() also
 * stores the gradient with respect to the natural parameters.
 */
extern double btyd_loglik(BtydKind kind, const double *params,
						  const BtydRow *rows, size_t nrows);
extern double btyd_loglik_grad(BtydKind kind, const double *params,
							   const BtydRow *rows, size_t nrows,
							   double *grad);

/*
 * Sort rows by (x, t_x, T) and merge identical triples, adding their
 * weights, in place (qsort; no allocation).  Returns the new number of
 * rows.  Grouping does not change the likelihood; it makes the fit faster.
 * Rows must not contain NaN (validate first); for Gamma-Gamma set the
 * unused T to a constant.
 */
extern size_t btyd_group_rows(BtydRow *rows, size_t nrows);

/*
 * Per-customer predictions for count models (BG/NBD, MBG/NBD, Pareto/NBD).
 * NaN when: the kind is not a count model; a parameter is not finite and
 * > 0; x, t_x, T are not finite; x < 0 or not integral; t_x < 0; T < 0;
 * t_x > T; (for the expectations) t is not finite or t < 0.  Unlike
 * btyd_check_row(), T == 0 is accepted (a customer seen only at time 0).
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
 * Gamma-Gamma: E[M | x, zbar], the expected mean spend per purchase of a
 * customer with x repeat purchases of mean value zbar (params p, q, v).
 * For x == 0 this is the population mean p v / (q - 1), +Infinity if
 * q <= 1.  NaN when a parameter is not finite and > 0, x is not finite,
 * negative or non-integral, or zbar is not finite or negative.
 */
extern double btyd_gg_expected_spend(const double *params, double x,
									 double zbar);

/*
 * Gauss hypergeometric function 2F1(a, b; c; z) for real arguments and
 * z <= 1.  NaN if an argument is not finite, z > 1, c is a non-positive
 * integer, or z == 1 and the series diverges (c - a - b <= 0, unless it
 * terminates).  Overflow gives +-Infinity.  See btyd_kernel.c.
 */
extern double btyd_hyp2f1(double a, double b, double c, double z);

#endif							/* CRM_BTYD_KERNEL_H */
