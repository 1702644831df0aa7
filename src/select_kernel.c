/*-------------------------------------------------------------------------
 *
 * select_kernel.c
 *	  Hoare's selection for int64 (RFM cutpoints, exact money) and double
 *	  (segment rank cut-offs), from one implementation in
 *	  select_template.h.  Selection is O(n) on average where sorting a
 *	  million values costs a hundred milliseconds.
 *
 *-------------------------------------------------------------------------
 */
#include "select_kernel.h"

#include <stdlib.h>

#define SELECT_TYPE int64_t
#define SELECT_NAME crm_select_int64
#include "select_template.h"

#define SELECT_TYPE double
#define SELECT_NAME crm_select_double
#include "select_template.h"
