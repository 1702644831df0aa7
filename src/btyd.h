/*-------------------------------------------------------------------------
 *
 * btyd.h
 *	  The BTYD models as the other rooms see them (btyd.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_BTYD_H
#define CRM_BTYD_H

#include "summary.h"

extern bool crm_btyd_outlook(Datum model, const SummaryView *v, int32 as_of, double horizon_days,
							 double *p_alive, double *p_buy);

#endif							/* CRM_BTYD_H */
