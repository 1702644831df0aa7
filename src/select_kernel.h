/*-------------------------------------------------------------------------
 *
 * select_kernel.h
 *	  Selection of the k-th smallest value, for the quantile and rank
 *	  cut-off computations of the RFM and segment kernels.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SELECT_KERNEL_H
#define CRM_SELECT_KERNEL_H

#include <stddef.h>
#include <stdint.h>

extern void crm_select_int64(int64_t *v, size_t lo, size_t hi, size_t kth);
extern void crm_select_double(double *v, size_t lo, size_t hi, size_t kth);

#endif							/* CRM_SELECT_KERNEL_H */
