/*-------------------------------------------------------------------------
 *
 * btyd_optim_kernel.h
 *	  The maximum-likelihood optimizer of the "buy till you die" models:
 *	  BFGS with a weak-Wolfe line search over an objective given as a
 *	  callback, the inverse of a symmetric positive definite matrix, and
 *	  the Hessian by finite differences of the gradient.
 *
 * btyd_kernel.c supplies the objective (a model's negative log-likelihood
 * per customer, plus the penalty) and reads the optimum; btyd_optim_kernel.c
 * explains the method.  Pure C99, no allocation, no global state.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_BTYD_OPTIM_KERNEL_H
#define CRM_BTYD_OPTIM_KERNEL_H

/* most free parameters of an objective: 4 + 2 x 8 covariate coefficients */
#define BTYD_MAX_THETA 20

/* A point of the search: theta, f, the gradient of f, and a payload. */
typedef struct BtydPoint
{
	double		theta[BTYD_MAX_THETA];
	double		f;				/* +Infinity where infeasible */
	double		g[BTYD_MAX_THETA];
	double		ll;				/* the caller's (the unpenalized LL) */
} BtydPoint;

/*
 * Evaluate f and its gradient at pt->theta (f = +Infinity if the point is
 * infeasible or anything is not finite); if bhhh is not NULL, also store
 * there an n x n positive semidefinite approximation of the Hessian of f
 * (the BHHH matrix) for the first step.
 */
typedef void (*BtydEvaluate) (void *arg, BtydPoint *pt, double *bhhh);

typedef struct BtydObjective
{
	int			n;				/* free parameters, <= BTYD_MAX_THETA */
	BtydEvaluate evaluate;
	void	   *arg;
} BtydObjective;

/*
 * Minimize from *cur (theta set).  Returns 1 if the convergence test held,
 * 0 otherwise; *cur holds the best point, *iters the iterations.
 */
extern int	btyd_minimize(const BtydObjective *obj, BtydPoint *cur, int maxit,
						  double gtol, int *iters);

/*
 * Inverse of a symmetric n x n matrix by Cholesky: 1 if it is numerically
 * positive definite (pivots above 1e-14 of the largest diagonal), else 0
 * and Ainv untouched.
 */
extern int	btyd_cholesky_inverse(const double *A, int n, double *Ainv);

/*
 * The Hessian of f at *at (evaluated, finite) by forward differences of
 * the gradient, symmetrized: column j is (g(theta + h_j e_j) - g(theta)) /
 * h_j with h_j = 1e-6 (1 + |theta_j|).  n evaluations.  0 if a shifted
 * point is infeasible.
 */
extern int	btyd_fd_hessian(const BtydObjective *obj, const BtydPoint *at,
							double *H);

#endif							/* CRM_BTYD_OPTIM_KERNEL_H */
