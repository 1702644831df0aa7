/*-------------------------------------------------------------------------
 *
 * agg_state.h
 *	  crm.agg_state, the transition type of crm's global aggregates
 *	  (agg_state.c): how an aggregate family plugs its C state in.
 *
 * An aggregate over internal cannot be split by Citus 13, which ships a
 * worker's partial state to the coordinator as text, through the
 * transition type's output and input functions.  crm.agg_state is a
 * varlena type whose value, inside an aggregate, is an expanded object
 * holding the family's C state as it always was (no copy per row: the
 * transition function updates it in place); outside, flattened, it is the
 * family's serialized bytes, with exact text (hex) and binary forms.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_AGG_STATE_H
#define CRM_AGG_STATE_H

#include "postgres.h"
#include "fmgr.h"

/* the families; the number is the first byte of the flat form */
typedef enum CrmAggFamily
{
	CRM_AGG_SUMMARY = 1,
	CRM_AGG_RFM_QUANTILES = 2,
	CRM_AGG_BTYD_FIT = 3,
	CRM_AGG_VALIDATE = 4,
	CRM_AGG_LEARN_PIPELINE = 5,
	CRM_AGG_FORECAST_REVENUE = 6,
	CRM_AGG_MONTHLY_ACTIVITY = 7
} CrmAggFamily;

/*
 * A family: its serialize function (C state -> bytea, any memory context,
 * no aggregate context needed) and deserialize function (bytea -> C state
 * allocated in CurrentMemoryContext; it must reject any malformed bytes
 * with an ERROR, since the flat form can come from a user).
 */
typedef struct CrmAggKind
{
	CrmAggFamily family;
	PGFunction	serialize;
	PGFunction	deserialize;
} CrmAggKind;

extern Datum crm_agg_state_advance(FunctionCallInfo fcinfo, PGFunction inner,
								   const CrmAggKind *kind);
extern Datum crm_agg_state_combine(FunctionCallInfo fcinfo, PGFunction inner,
								   const CrmAggKind *kind);
extern Datum crm_agg_state_finish(FunctionCallInfo fcinfo, PGFunction inner,
								  const CrmAggKind *kind);

/*
 * The SQL-callable transition, combine and final functions of a family
 * over crm.agg_state: each hands its inner function (which works on the C
 * state as an internal argument, as before) the C state in argument 0.
 */
#define CRM_AGG_STATE_SFUNC(name, inner, kind) \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS) { return crm_agg_state_advance(fcinfo, inner, kind); }
#define CRM_AGG_STATE_COMBINEFUNC(name, inner, kind) \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS) { return crm_agg_state_combine(fcinfo, inner, kind); }
#define CRM_AGG_STATE_FINALFUNC(name, inner, kind) \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS) { return crm_agg_state_finish(fcinfo, inner, kind); }

#endif							/* CRM_AGG_STATE_H */
