/*-------------------------------------------------------------------------
 *
 * value_kernel.h
 *	  The textbook customer-value formulas, as pure functions.
 *
 * Arguments are assumed valid (finite, rates in range); the glue in
 * value.c checks them and raises the errors.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_VALUE_KERNEL_H
#define CRM_VALUE_KERNEL_H

extern double value_clv(double margin, double retention, double discount_rate,
						long horizon, double acquisition_cost);
extern double value_clv_series(const double *price, const double *cost,
							   const double *survival, int n,
							   double discount_rate, double acquisition_cost);
extern double value_current(double profit, long periods, double discount_rate);
extern double value_potential(double margin, double retention,
							  double discount_rate, long horizon,
							  double margin_uplift, double retention_uplift);

#endif							/* CRM_VALUE_KERNEL_H */
