/*-------------------------------------------------------------------------
 *
 * crm.c
 *	  The module, and the glue helpers every room shares.
 *
 * Money enters the extension as numeric or float8 and is kept as crm_money,
 * an exact int64 count of 1/10000 of the currency unit (summary_kernel.h).
 * Converting a numeric through the numeric operators would cost several
 * pallocs per row in the summary aggregate's hot loop, so
 * crm_numeric_to_money() reads the numeric's on-disk format directly.  That
 * format (a varlena header, a 16-bit header word holding sign, display
 * scale and weight, or in the long form a sign/scale word and a separate
 * 16-bit weight, then base-10000 digits, most significant first) is the
 * stored representation of every numeric column since PostgreSQL 9.1 and
 * has only gained the NaN/infinity special values since (14); it cannot
 * change without breaking pg_upgrade.  One base-10000 digit after the
 * decimal point is exactly our 1/10000 unit, which is why the conversion is
 * a few multiply-adds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "datatype/timestamp.h"
#include "utils/date.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "catalog/namespace.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "crm.h"
#include "sqlnames.h"

PG_MODULE_MAGIC;

/* the bits of the numeric header word (see the comment above) */
#define CRM_NUMERIC_FORM_MASK		0xC000
#define CRM_NUMERIC_NEG				0x4000
#define CRM_NUMERIC_SHORT			0x8000
#define CRM_NUMERIC_SPECIAL			0xC000
#define CRM_NUMERIC_SHORT_NEG		0x2000
#define CRM_NUMERIC_SHORT_WSIGN		0x0040
#define CRM_NUMERIC_SHORT_WMASK		0x003F
#define CRM_NUMERIC_NBASE			10000

static void
money_out_of_range(const char *argname)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("%s is out of range for a crm amount", argname),
			 errdetail("Amounts are kept to 1/10000 of the currency unit and must lie within +/-922337203685477.")));
}

/*
 * numeric -> crm_money, rounding half away from zero at the fourth decimal.
 * NaN and infinities are rejected: an amount must be a number.
 */
crm_money
crm_numeric_to_money(Datum num, const char *argname)
{
	struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(num));
	const char *data = VARDATA_ANY(v);
	int			len = VARSIZE_ANY_EXHDR(v);
	uint16		head;
	int			weight;
	bool		neg;
	const char *digits;
	int			ndigits;
	int			i;
	int64		result = 0;

	memcpy(&head, data, sizeof(uint16));
	if ((head & CRM_NUMERIC_FORM_MASK) == CRM_NUMERIC_SPECIAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", argname)));
	if ((head & CRM_NUMERIC_FORM_MASK) == CRM_NUMERIC_SHORT)
	{
		neg = (head & CRM_NUMERIC_SHORT_NEG) != 0;
		/* a 7-bit two's complement weight */
		weight = head & CRM_NUMERIC_SHORT_WMASK;
		if (head & CRM_NUMERIC_SHORT_WSIGN)
			weight -= CRM_NUMERIC_SHORT_WMASK + 1;
		digits = data + sizeof(uint16);
	}
	else
	{
		int16		w;

		neg = (head & CRM_NUMERIC_FORM_MASK) == CRM_NUMERIC_NEG;
		memcpy(&w, data + sizeof(uint16), sizeof(int16));
		weight = w;
		digits = data + 2 * sizeof(uint16);
	}
	ndigits = (len - (digits - data)) / (int) sizeof(int16);

	/* digit i has weight (weight - i); weight -1 is our unit */
	for (i = 0; i < ndigits; i++)
	{
		int16		d;
		int			w = weight - i;

		memcpy(&d, digits + i * sizeof(int16), sizeof(int16));
		if (w >= -1)
		{
			if (pg_mul_s64_overflow(result, CRM_NUMERIC_NBASE, &result) ||
				pg_add_s64_overflow(result, d, &result))
				money_out_of_range(argname);
		}
		else
		{
			/* first digit past our unit decides the rounding */
			if (w == -2 && d >= CRM_NUMERIC_NBASE / 2)
			{
				if (pg_add_s64_overflow(result, 1, &result))
					money_out_of_range(argname);
			}
			break;
		}
	}
	/* digits that end above the unit position: scale up the missing places */
	if (ndigits > 0)
	{
		for (i = weight - ndigits + 1; i > -1; i--)
		{
			if (pg_mul_s64_overflow(result, CRM_NUMERIC_NBASE, &result))
				money_out_of_range(argname);
		}
	}
	return neg ? -result : result;
}

/*
 * A number argument must be finite: 22023 naming it otherwise.
 */
double
crm_check_finite(double value, const char *argname)
{
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", argname)));
	return value;
}

crm_money
crm_float8_to_money(double value, const char *argname)
{
	crm_money	result;

	crm_check_finite(value, argname);
	if (!crm_money_from_double(value, &result))
		money_out_of_range(argname);
	return result;
}

/*
 * crm_money -> numeric with the fewest decimals that keep it exact, so that
 * 29.33 reads 29.33, not 29.3300.
 */
Datum
crm_money_to_numeric(crm_money value)
{
	int			scale = 4;

	while (scale > 0 && value % 10 == 0)
	{
		value /= 10;
		scale--;
	}
	return NumericGetDatum(int64_div_fast_to_numeric(value, scale));
}

/*
 * crm.round_float(value, places) -> round(value::numeric, places), the same
 * numeric (digits and display scale), without printing value as text and
 * parsing it back where crm_round_decimal() can decide the digits from the
 * binary value (nearly always); the views show probabilities with it.
 */
PG_FUNCTION_INFO_V1(crm_round_float);
Datum
crm_round_float(PG_FUNCTION_ARGS)
{
	float8		value = PG_GETARG_FLOAT8(0);
	int32		places = PG_GETARG_INT32(1);
	int64		digits;

	if (crm_round_decimal(value, places, &digits))
		PG_RETURN_NUMERIC(places == 0 ? int64_to_numeric(digits) :
						  int64_div_fast_to_numeric(digits, places));
	return DirectFunctionCall2(numeric_round,
							   DirectFunctionCall1(float8_numeric, Float8GetDatum(value)),
							   Int32GetDatum(places));
}

/*
 * The length of a time unit in days.  Months count as 30.4375 days (the
 * average Gregorian month, as extract(epoch from interval) counts them).
 */
double
crm_interval_days(Datum interval, const char *argname)
{
	Interval   *iv = DatumGetIntervalP(interval);
	double		days;

	days = iv->month * (DAYS_PER_YEAR / MONTHS_PER_YEAR) + iv->day +
		(double) iv->time / USECS_PER_DAY;
	if (!(days > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", argname),
				 errhint("Use a time unit such as '1 day' or '1 week'.")));
	return days;
}

/*
 * An as_of date argument: not NULL (for non-strict callers) and finite.
 */
int32
crm_as_of_arg(FunctionCallInfo fcinfo, int argno)
{
	int32		as_of;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL")));
	as_of = PG_GETARG_DATEADT(argno);
	crm_check_finite_date(as_of, "as_of");
	return as_of;
}

/*
 * An optional count argument (a signal of the stage or level rules): -1,
 * unknown, when absent or NULL; never negative.
 */
int32
crm_optional_count(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	int32		v;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return -1;
	v = PG_GETARG_INT32(argno);
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname)));
	return v;
}

void
crm_check_finite_date(int32 date, const char *argname)
{
	if (DATE_NOT_FINITE(date))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite date", argname)));
}

/*
 * A serialized aggregate state that cannot be read back: the deserialize
 * functions read a bytea, so a bad one is invalid binary data (22P03),
 * never an internal error.
 */
void
crm_invalid_state(const char *aggregate)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid serialized %s state", aggregate)));
}

/*
 * The blessed row type of a function returning a composite, looked up once
 * per call site and kept in *cache, which lives as long as the FmgrInfo:
 * a function with nothing else to cache passes its fn_extra
 * (CRM_RESULT_TUPDESC below).
 */
TupleDesc
crm_result_tupdesc(FunctionCallInfo fcinfo, TupleDesc *cache)
{
	if (*cache == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		TupleDesc	tupdesc;

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("function returning a row called in a context that cannot accept one")));
		*cache = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
		MemoryContextSwitchTo(old);
	}
	return *cache;
}

void
crm_transition_open(CrmTransitionReader *r, Tuplestorestate *store, TupleDesc desc)
{
	r->store = store;
	r->slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	r->readptr = tuplestore_alloc_read_pointer(store, 0);
	tuplestore_select_read_pointer(store, r->readptr);
	tuplestore_rescan(store);
}

/* the next row into r->slot; false at the end */
bool
crm_transition_next(CrmTransitionReader *r)
{
	CHECK_FOR_INTERRUPTS();
	tuplestore_select_read_pointer(r->store, r->readptr);
	return tuplestore_gettupleslot(r->store, true, false, r->slot);
}

void
crm_transition_close(CrmTransitionReader *r)
{
	tuplestore_select_read_pointer(r->store, 0);
	ExecDropSingleTupleTableSlot(r->slot);
}

/*
 * Is this session restoring a pg_dump script?  A session with row_security
 * off and an empty search_path is: pg_dump writes both settings first.
 * The dump already holds crm.customers as maintained, so the triggers that
 * maintain it apply nothing then.  (A trigger function that asks must not
 * pin search_path with a SET clause, or it sees its own.)
 */
bool
crm_restoring_dump(void)
{
	return !row_security && namespace_search_path != NULL && namespace_search_path[0] == '\0';
}

/*
 * Pin search_path to pg_catalog, crm until crm_unpin_search_path(), as
 * SET search_path on a function does: for the SECURITY DEFINER triggers
 * that read the caller's search_path first (crm_restoring_dump()).  Their
 * queries qualify every name, but operators and functions are still
 * resolved through search_path, and a caller's schema before pg_catalog
 * could otherwise lend them an operator to run with the owner's rights.
 * An error undoes the setting with the (sub)transaction.
 */
int
crm_pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, crm", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
crm_unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/* the OID of a type named like "crm.summary" or "crm.summary[]" */
Oid
crm_type_oid(const char *name)
{
	return DatumGetObjectId(DirectFunctionCall1(regtypein, CStringGetDatum(name)));
}

bool
crm_type_gone(Oid typid)
{
	return !OidIsValid(typid) || !SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(typid));
}

/* prepare a plan and keep it for the backend's life */
SPIPlanPtr
crm_keep_plan(const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

void
crm_free_plan(SPIPlanPtr *plan)
{
	if (*plan != NULL)
		SPI_freeplan(*plan);
	*plan = NULL;
}

/* the OID of table crm.<name>; an error naming it if it is gone */
Oid
crm_relid(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("crm", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table crm.%s does not exist", name),
				 errhint(CRM_OBJECT_MISSING_HINT)));
	return relid;
}

/*
 * crm.c_dependencies() -> (object_type, object_name): the SQL objects the
 * C code finds by name (sqlnames.h), for the test that they all exist.
 */
PG_FUNCTION_INFO_V1(c_dependencies);
Datum
c_dependencies(PG_FUNCTION_ARGS)
{
	static const char *const objects[][2] = {
#define CRM_OBJECT(kind, name) {kind, name},
		CRM_SQL_OBJECTS(CRM_OBJECT)
#undef CRM_OBJECT
#define CRM_COLUMN(id, name) {"column", "crm." CRM_CUSTOMERS "." name},
		CRM_CUSTOMER_COLUMNS(CRM_COLUMN)
#undef CRM_COLUMN
#define CRM_COLUMN(id, name) {"column", "crm." CRM_STAGE_HISTORY "." name},
		CRM_HISTORY_COLUMNS(CRM_COLUMN)
#undef CRM_COLUMN
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < lengthof(objects); i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(objects[i][0]);
		values[1] = CStringGetTextDatum(objects[i][1]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
