/*-------------------------------------------------------------------------
 *
 * level.c
 *	  Relationship levels (level_kernel.c) for SQL: the enum
 *	  crm.relationship_level read and written in C, and crm.infer_level().
 *
 * crm.relationship_level is an SQL enum, so a value is the OID of its
 * label.  The OIDs of the five labels (sqlnames.h, in the order of
 * CrmLevel) are looked up once per backend and again when the
 * configuration generation moves (config.c; a DROP and CREATE EXTENSION
 * moves it, as the configuration tables go with the extension).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/syscache.h"

#include "config.h"
#include "level.h"
#include "sqlnames.h"

static bool level_oids_valid = false;
static uint64 level_oids_generation = 0;
static Oid	level_oids[CRM_NLEVELS];

static void
load_level_oids(void)
{
	static const char *const labels[CRM_NLEVELS] = {
#define CRM_LABEL(l) l,
		CRM_LEVEL_LABELS(CRM_LABEL)
#undef CRM_LABEL
	};
	Oid			type;
	int			i;
	uint64		generation = crm_config_generation();

	if (level_oids_valid && level_oids_generation == generation)
		return;
	type = crm_type_oid(CRM_TYPE_LEVEL);
	for (i = 0; i < CRM_NLEVELS; i++)
	{
		HeapTuple	tup = SearchSysCache2(ENUMTYPOIDNAME, ObjectIdGetDatum(type),
										  CStringGetDatum(labels[i]));

		if (!HeapTupleIsValid(tup))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s has no label \"%s\"", CRM_TYPE_LEVEL, labels[i]),
					 errhint(CRM_OBJECT_MISSING_HINT)));
		level_oids[i] = ((Form_pg_enum) GETSTRUCT(tup))->oid;
		ReleaseSysCache(tup);
	}
	level_oids_generation = generation;
	level_oids_valid = true;
}

/* the CrmLevel of a crm.relationship_level value */
CrmLevel
crm_level_from_datum(Datum d)
{
	Oid			oid = DatumGetObjectId(d);
	int			i;

	load_level_oids();
	for (i = 0; i < CRM_NLEVELS; i++)
		if (level_oids[i] == oid)
			return (CrmLevel) i;
	elog(ERROR, "crm: unknown relationship level %u", oid);
	return CRM_LEVEL_TRANSACTION;
}

/* the crm.relationship_level value of a CrmLevel */
Datum
crm_level_datum(CrmLevel level)
{
	load_level_oids();
	Assert((int) level >= 0 && (int) level < CRM_NLEVELS);
	return ObjectIdGetDatum(level_oids[level]);
}

/* an optional boolean argument: -1 (unknown) when NULL, else 0 or 1 */
static int32
flag_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? -1 : PG_GETARG_BOOL(argno) ? 1 : 0;
}

/*
 * infer_level(current, stage, as_of, level_since, tenure_days,
 * purchase_days, interactions, channels, complaints_late, last_satisfied,
 * loyal, account_manager) -> (level, reason, detail): the level the rules
 * of level_kernel.h propose; NULL signals are unknown, and their rules do
 * not fire.  NULL when current, stage or as_of is NULL.
 */
PG_FUNCTION_INFO_V1(infer_level);
Datum
infer_level(PG_FUNCTION_ARGS)
{
	LevelSignals s;
	LevelProposal p;
	char		detail[LEVEL_PROPOSAL_MAXLEN];
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	level_signals_init(&s);
	s.stage = (CrmStage) DatumGetChar(PG_GETARG_DATUM(1));	/* crm.stage: one byte */
	s.as_of = PG_GETARG_DATEADT(2);
	crm_check_finite_date(s.as_of, "as_of");
	if (!PG_ARGISNULL(3) && !DATE_NOT_FINITE(PG_GETARG_DATEADT(3)))
		s.level_since = PG_GETARG_DATEADT(3);
	s.tenure_days = crm_optional_count(fcinfo, 4, "tenure_days");
	s.purchase_days = crm_optional_count(fcinfo, 5, "purchase_days");
	s.interactions = crm_optional_count(fcinfo, 6, "interactions");
	s.channels = crm_optional_count(fcinfo, 7, "channels");
	s.complaints_late = crm_optional_count(fcinfo, 8, "complaints_late");
	s.last_satisfied = flag_arg(fcinfo, 9);
	s.loyal = flag_arg(fcinfo, 10);
	s.account_manager = flag_arg(fcinfo, 11);
	level_infer(crm_level_from_datum(PG_GETARG_DATUM(0)), &s, crm_level_thresholds(), &p);
	level_proposal_format(&p, detail, sizeof(detail));
	values[0] = crm_level_datum(p.level);
	values[1] = CStringGetTextDatum(level_reason_code(p.reason));
	values[2] = CStringGetTextDatum(detail);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(CRM_RESULT_TUPDESC(fcinfo), values, nulls)));
}
