/*-------------------------------------------------------------------------
 *
 * btyd.h
 *	  The crm.btyd_model type as the glue of the BTYD room sees it, shared
 *	  by btyd.c (the type, accessors and predictions), btyd_fit.c (the fit
 *	  aggregates) and btyd_validation.c (calibration and holdout), and what
 *	  the other rooms ask of a stored model (crm_btyd_outlook()).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_BTYD_H
#define CRM_BTYD_H

#include "btyd_kernel.h"
#include "summary.h"

/*
 * A model, unpacked from its varlena (see btyd.c for the stored form):
 * the kind, its parameters and covariate coefficients, what the fit said
 * of itself, and the covariance of (params, coef) when it is known.
 */
typedef struct BtydModelValue
{
	int32		kind;			/* BtydKind */
	int32		ntrans;			/* covariate coefficients */
	int32		ndrop;
	int32		iterations;		/* 0 when not fitted */
	int32		converged;		/* 1, 0, or -1 when not fitted */
	bool		has_vcov;
	bool		has_as_of;
	int32		as_of;			/* the calibration end of a fit on summaries */
	double		params[BTYD_MAX_PARAMS];	/* unused slots are 0 */
	double		coef[2 * BTYD_MAX_COVARIATES];	/* trans, then dropout */
	double		loglik;			/* NaN when not fitted */
	double		customers;		/* 0 when not fitted */
	double		penalty;
	double		unit_days;		/* 0 when unknown */
	double		vcov[BTYD_MAX_THETA * BTYD_MAX_THETA];	/* ntheta x ntheta */
} BtydModelValue;

/* the number of (params, coef) of a model */
#define BTYD_MODEL_NTHETA(m) (btyd_nparams((m)->kind) + (m)->ntrans + (m)->ndrop)

extern void btyd_model_unpack(Datum d, BtydModelValue *m);
extern bool btyd_model_try_unpack(Datum d, BtydModelValue *m);

/* a model returned by a function: in the 0.3.0 form if its SQL type is */
extern Datum btyd_model_result(FunctionCallInfo fcinfo, const BtydModelValue *m);
extern const char *btyd_model_name(int kind);
extern void btyd_prediction_failed(void) pg_attribute_noreturn();
extern char *btyd_iso_date(int32 date);

/*
 * A float8[] of covariates at argno into out (at most
 * BTYD_MAX_COVARIATES): one-dimensional, no NULL, finite, or an ERROR
 * naming argname.  Returns the number.
 */
extern int	btyd_covariates_arg(FunctionCallInfo fcinfo, int argno,
								const char *argname, double *out);

/*
 * A customer's history in BG/BB opportunities of period_days counted from
 * the first purchase as of as_of (see btyd.c); false if the customer had
 * not purchased by as_of.
 */
extern bool btyd_discrete_history(const SummaryView *v, int32 as_of, double period_days,
								  SummaryTriple *out);

/*
 * For the stage inference: P(alive) and P(a purchase in the next
 * horizon_days) of a customer under a stored model (see btyd.c).
 */
extern bool crm_btyd_outlook(Datum model, const SummaryView *v, int32 as_of,
							 double horizon_days, double *p_alive,
							 double *p_buy);

#endif							/* CRM_BTYD_H */
