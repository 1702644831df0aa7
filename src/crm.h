/*-------------------------------------------------------------------------
 *
 * crm.h
 *	  Glue shared by every room of the crm extension: argument checks,
 *	  money conversions and error helpers.  Only fmgr glue includes this;
 *	  the numeric kernels (*_kernel.c) stay free of PostgreSQL headers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_H
#define CRM_H

#include "postgres.h"
#include "fmgr.h"
#include "access/tupdesc.h"

#include "summary_kernel.h"

/*
 * The hint of an error about an SQL object of the extension the library
 * cannot find: the database's extension is older than the library (the
 * package was upgraded, ALTER EXTENSION not run yet), or was damaged.
 */
#define CRM_OBJECT_MISSING_HINT \
	"If the crm package was just upgraded, run ALTER EXTENSION crm UPDATE; otherwise re-create the extension crm."

extern crm_money crm_numeric_to_money(Datum num, const char *argname);
extern double crm_check_finite(double value, const char *argname);
extern crm_money crm_float8_to_money(double value, const char *argname);
extern Datum crm_money_to_numeric(crm_money value);
extern double crm_interval_days(Datum interval, const char *argname);
extern void crm_check_finite_date(int32 date, const char *argname);
extern void crm_invalid_state(const char *aggregate) pg_attribute_noreturn();
/*
 * The dates the as_of of a stored value (cutpoints, a model) may hold:
 * 0001-01-01 to 9999-12-31, the years the text forms write as four digits
 * and read back, in days from 2000-01-01.
 */
#define CRM_MIN_STORED_DATE (-730119)	/* date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE */
#define CRM_MAX_STORED_DATE (2921939)	/* date2j(9999, 12, 31) - POSTGRES_EPOCH_JDATE */

extern int32 crm_as_of_arg(FunctionCallInfo fcinfo, int argno);
extern int32 crm_optional_count(FunctionCallInfo fcinfo, int argno, const char *argname);
extern TupleDesc crm_result_tupdesc(FunctionCallInfo fcinfo, TupleDesc *cache);

/*
 * Reading a trigger's transition table with a read pointer of our own, so
 * that other triggers reading the same tuplestore are not disturbed.
 */
typedef struct CrmTransitionReader
{
	struct Tuplestorestate *store;
	int			readptr;
	struct TupleTableSlot *slot;
} CrmTransitionReader;

extern void crm_transition_open(CrmTransitionReader *r, struct Tuplestorestate *store,
								TupleDesc desc);
extern bool crm_transition_next(CrmTransitionReader *r);
extern void crm_transition_close(CrmTransitionReader *r);

/*
 * Saved SPI plans of the triggers, and the OIDs of crm's types they take as
 * parameters.  The OIDs are looked up once; crm_type_gone() (one syscache
 * probe) tells when a DROP and CREATE EXTENSION in the same backend has
 * made new ones, so that the plans are prepared again.
 */
extern bool crm_restoring_dump(void);
extern int	crm_pin_search_path(void);
extern void crm_unpin_search_path(int nestlevel);
extern Oid	crm_relid(const char *name);
extern Oid	crm_type_oid(const char *name);
extern bool crm_type_gone(Oid typid);
extern struct _SPI_plan *crm_keep_plan(const char *sql, int nargs, Oid *argtypes,
									   int cursor_options);
extern void crm_free_plan(struct _SPI_plan **plan);

#define CRM_RESULT_TUPDESC(fcinfo) \
	crm_result_tupdesc((fcinfo), (TupleDesc *) &(fcinfo)->flinfo->fn_extra)

#endif							/* CRM_H */
