/*-------------------------------------------------------------------------
 *
 * level.h
 *	  Relationship levels as the other rooms see them (level.c): the SQL
 *	  enum crm.relationship_level in C, and level inference.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_LEVEL_H
#define CRM_LEVEL_H

#include "level_kernel.h"

extern CrmLevel crm_level_from_datum(Datum d);
extern Datum crm_level_datum(CrmLevel level);

#endif							/* CRM_LEVEL_H */
