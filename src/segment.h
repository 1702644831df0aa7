/*-------------------------------------------------------------------------
 *
 * segment.h
 *	  Segment classification as the other rooms see it (segment.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SEGMENT_H
#define CRM_SEGMENT_H

#include "rfm.h"
#include "segment_kernel.h"

extern text *crm_rfm_segment(int32 rfm);

#endif							/* CRM_SEGMENT_H */
