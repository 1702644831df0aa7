/*-------------------------------------------------------------------------
 *
 * config.c
 *	  crm's configuration, as the C code reads it: the settings the
 *	  library defines when it is loaded, the business date, and the
 *	  configuration tables the order trigger reads on every write,
 *	  kept per backend.
 *
 * Settings (pg_settings lists them once the library is loaded; empty
 * means unset):
 *	crm.as_of			the business date scores are measured on
 *						(crm_business_date(), SQL crm.business_date());
 *						set for replays and backfills, else current_date;
 *	crm.change_source	the source of stage history rows (SQL
 *						crm.change_source(), the default of
 *						crm.stage_history.source), else 'user';
 *	crm.change_time		their time (crm_change_time(), SQL
 *						crm.change_time(), the default of
 *						crm.stage_history.changed_at; the pipeline's
 *						history too), else now();
 *	crm.standard_errors	whether the BTYD fits compute standard errors
 *						(crm_standard_errors(); boolean, default on);
 *	crm.stage_override	"on" for the transaction of crm.override_stage()
 *						and crm.override_level() (crm_stage_override());
 *	crm.pipeline_reopen	the reason crm.reopen_opportunity() gives, for
 *						its transaction (crm_pipeline_reopen_reason()).
 * The last two are the procedures' own: a session that sets them itself
 * gains nothing its privileges do not already allow (the guards check).
 *
 * Configuration tables, cached per backend: crm.scoring's cutpoints and
 * model (crm_stored_cutpoints(), crm_stored_model()), the setting
 * complaint_trend_days, the stage and level thresholds
 * (crm_stage_thresholds(), crm_level_thresholds(); the site's overrides in
 * crm.stage_thresholds over the built-in defaults), and, in segment.c, the
 * rfm_segments scheme.  Every copy is kept until the configuration
 * generation (crm_config_generation()) moves, which happens on a relcache
 * invalidation of crm.scoring or crm.stage_thresholds: their statement
 * triggers send one (crm.config_changed() on crm.scoring, crm.settings
 * and the segment tables, crm.check_stage_thresholds() on the thresholds),
 * and
 * every backend receives it at its next command once the change commits
 * (this one at once).  The tables are read with the latest snapshot, so a
 * REPEATABLE READ transaction never keeps an older version of them.  A
 * parallel query cannot take one: there they are read with the query's
 * snapshot, which serves the query, and read again with the latest by the
 * first use outside parallel mode.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "config.h"
#include "level_kernel.h"
#include "sqlnames.h"

/* ---------------------------------------------------------------------
 * Settings and the business date
 * ---------------------------------------------------------------------
 */

static char *as_of_setting = NULL;
static char *change_source_setting = NULL;
static char *change_time_setting = NULL;
static char *stage_override_setting = NULL;
static bool standard_errors_setting = true;
static char *pipeline_reopen_setting = NULL;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("crm.as_of",
							   "The business date scores are measured on; empty: current_date.",
							   "Set it for replays and backfills, as a date.",
							   &as_of_setting, "", PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.change_source",
							   "The source recorded in crm.stage_history for stage changes; empty: user.",
							   NULL,
							   &change_source_setting, "", PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.change_time",
							   "The time recorded in crm.stage_history for stage changes; empty: now().",
							   "Set it for replays and backfills, as a timestamp with time zone.",
							   &change_time_setting, "", PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("crm.standard_errors",
							 "Whether the BTYD fits compute standard errors and the covariance of their estimates.",
							 "Off saves the Hessian of the likelihood at the optimum.",
							 &standard_errors_setting, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.stage_override",
							   "Set by crm.override_stage() and crm.override_level() for their transaction.",
							   NULL,
							   &stage_override_setting, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.pipeline_reopen",
							   "Set by crm.reopen_opportunity() to its reason for its transaction.",
							   NULL,
							   &pipeline_reopen_setting, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
}

/*
 * The business date: the setting crm.as_of when set, else current_date.
 * The order trigger asks for it once per statement, so the last ISO date
 * parsed is kept (YYYY-MM-DD reads the same under every DateStyle and time
 * zone; any other form is parsed every time).
 */
int32
crm_business_date(void)
{
	static char last[11];
	static DateADT last_date;
	const char *s = as_of_setting;

	if (s == NULL || s[0] == '\0')
		return GetSQLCurrentDate();
	if (strcmp(s, last) == 0)
		return last_date;
	last[0] = '\0';
	last_date = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(s)));
	if (strlen(s) == 10 && strspn(s, "0123456789") == 4 && s[4] == '-' &&
		strspn(s + 5, "0123456789") == 2 && s[7] == '-' && strspn(s + 8, "0123456789") == 2)
		memcpy(last, s, sizeof(last));
	return last_date;
}

/* crm.business_date() */
PG_FUNCTION_INFO_V1(business_date);
Datum
business_date(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATEADT(crm_business_date());
}

/* crm.change_source(): the default source of a stage history row */
PG_FUNCTION_INFO_V1(change_source);
Datum
change_source(PG_FUNCTION_ARGS)
{
	const char *s = change_source_setting;

	PG_RETURN_TEXT_P(cstring_to_text(s != NULL && s[0] != '\0' ? s : "user"));
}

/*
 * The time a change is recorded at: crm.change_time when set (backfills,
 * replays), else the transaction's start.  The last setting parsed is
 * kept with its text.
 */
TimestampTz
crm_change_time(void)
{
	static char *last = NULL;
	static TimestampTz last_value;
	const char *s = change_time_setting;

	if (s == NULL || s[0] == '\0')
		return GetCurrentTransactionStartTimestamp();
	if (last == NULL || strcmp(last, s) != 0)
	{
		TimestampTz v = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
																ObjectIdGetDatum(InvalidOid),
																Int32GetDatum(-1)));

		if (TIMESTAMP_NOT_FINITE(v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("crm.change_time must be a finite timestamp, not \"%s\"", s),
					 errhint("Set it to the time changes are to be recorded at, or to '' for now().")));
		if (last != NULL)
			pfree(last);
		last = MemoryContextStrdup(TopMemoryContext, s);
		last_value = v;
	}
	return last_value;
}

/* crm.change_time(): the default time of a stage history row */
PG_FUNCTION_INFO_V1(change_time);
Datum
change_time(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(crm_change_time());
}

/* Do the BTYD fits compute standard errors (crm.standard_errors)? */
bool
crm_standard_errors(void)
{
	return standard_errors_setting;
}

/* Is crm.stage_override on (crm.override_stage(), crm.override_level())? */
bool
crm_stage_override(void)
{
	return stage_override_setting != NULL && strcmp(stage_override_setting, "on") == 0;
}

/* The reason crm.reopen_opportunity() gives, or NULL outside it. */
const char *
crm_pipeline_reopen_reason(void)
{
	const char *r = pipeline_reopen_setting;

	return r != NULL && r[0] != '\0' ? r : NULL;
}

/* ---------------------------------------------------------------------
 * The configuration generation
 * ---------------------------------------------------------------------
 */

static uint64 config_generation = 1;
static Oid	scoring_relid = InvalidOid;
static Oid	thresholds_relid = InvalidOid;
static bool config_callback = false;

static void
config_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == scoring_relid || relid == thresholds_relid)
	{
		config_generation++;
		/* the tables themselves may be gone (DROP EXTENSION): find them again */
		scoring_relid = InvalidOid;
		thresholds_relid = InvalidOid;
	}
}

/*
 * A number that moves whenever crm.scoring, a segment table or
 * crm.stage_thresholds changes: a copy of them made at one generation is
 * good until it moves.
 */
uint64
crm_config_generation(void)
{
	if (!config_callback)
	{
		CacheRegisterRelcacheCallback(config_invalidate, (Datum) 0);
		config_callback = true;
	}
	if (!OidIsValid(scoring_relid))
		scoring_relid = crm_relid(CRM_SCORING);
	if (!OidIsValid(thresholds_relid))
		thresholds_relid = crm_relid(CRM_STAGE_THRESHOLDS);
	return config_generation;
}

/*
 * crm.config_changed(): statement trigger on crm.scoring and the segment
 * tables; every backend drops what it cached of them.
 */
PG_FUNCTION_INFO_V1(config_changed);
Datum
config_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.config_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(crm_relid(CRM_SCORING));
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * crm.scoring (the cutpoints and the model of the last refresh) and the
 * settings the maintenance reads
 * ---------------------------------------------------------------------
 */

typedef struct ScoringCache
{
	bool		valid;
	bool		latest;			/* read with the latest snapshot */
	uint64		generation;
	bool		has_cutpoints;
	RfmCutpoints cutpoints;
	Datum		model;			/* (Datum) 0: none; in cxt */
	int32		complaint_trend_days;
	char		time_zone[256];	/* the setting business_time_zone */
	MemoryContext cxt;
} ScoringCache;

static ScoringCache scoring;

static const ScoringCache *
current_scoring(void)
{
	uint64		generation = crm_config_generation();
	bool		latest = !IsInParallelMode();

	if (!scoring.valid || scoring.generation != generation || (latest && !scoring.latest))
	{
		bool		isnull = true;
		Datum		d;

		if (scoring.cxt == NULL)
			scoring.cxt = AllocSetContextCreate(TopMemoryContext, "crm scoring",
												ALLOCSET_SMALL_SIZES);
		MemoryContextReset(scoring.cxt);
		scoring.model = (Datum) 0;
		scoring.has_cutpoints = false;
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* the latest snapshot: a committed change is never missed (see above) */
		if (latest)
			PushActiveSnapshot(GetLatestSnapshot());
		if (SPI_execute("SELECT s.cutpoints, s.model FROM crm." CRM_SCORING " s", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read crm.%s", CRM_SCORING);
		if (SPI_processed == 1)
		{
			TupleDesc	desc = SPI_tuptable->tupdesc;
			HeapTuple	tup = SPI_tuptable->vals[0];

			d = SPI_getbinval(tup, desc, 1, &isnull);
			if (!isnull)
				memcpy(&scoring.cutpoints, DatumGetPointer(d), RFM_CUTPOINTS_SIZE);
			scoring.has_cutpoints = !isnull;
			d = SPI_getbinval(tup, desc, 2, &isnull);
			if (!isnull)
			{
				Form_pg_attribute att = TupleDescAttr(desc, 1);
				MemoryContext old = MemoryContextSwitchTo(scoring.cxt);

				scoring.model = datumCopy(d, att->attbyval, att->attlen);
				MemoryContextSwitchTo(old);
			}
		}
		if (SPI_execute("SELECT crm.setting('complaint_trend_days')::integer, crm.setting('business_time_zone')",
						true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read the settings complaint_trend_days and business_time_zone");
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		scoring.complaint_trend_days = isnull ? 90 : DatumGetInt32(d);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		/* an extension older than the library has no such setting: UTC */
		strlcpy(scoring.time_zone, isnull ? "UTC" : TextDatumGetCString(d), sizeof(scoring.time_zone));
		if (latest)
			PopActiveSnapshot();
		SPI_finish();
		scoring.generation = generation;
		scoring.latest = latest;
		scoring.valid = true;
	}
	return &scoring;
}

/* the cutpoints of the last crm.refresh(), or NULL before the first */
const RfmCutpoints *
crm_stored_cutpoints(void)
{
	const ScoringCache *c = current_scoring();

	return c->has_cutpoints ? &c->cutpoints : NULL;
}

/* the crm.btyd_model of the last crm.refresh(), or (Datum) 0 */
Datum
crm_stored_model(void)
{
	return current_scoring()->model;
}

/*
 * The setting business_time_zone: the zone a timestamptz order date is
 * turned into a purchase day in
 */
const char *
crm_business_time_zone(void)
{
	return current_scoring()->time_zone;
}

/* the setting complaint_trend_days: the window of the complaints trend */
int32
crm_complaint_trend_days(void)
{
	return current_scoring()->complaint_trend_days;
}

/* ---------------------------------------------------------------------
 * Relationship thresholds: the built-in defaults of the stage and level
 * rules, overridden by the rows of crm.stage_thresholds (name, value)
 * ---------------------------------------------------------------------
 */

typedef struct RelationshipThresholds
{
	StageThresholds stage;
	LevelThresholds level;
} RelationshipThresholds;

typedef struct ThresholdField
{
	const char *name;
	size_t		offset;
	bool		is_int;
	const char *description;
} ThresholdField;

#define TF_INT(f, d) {#f, offsetof(RelationshipThresholds, stage.f), true, d}
#define TF_DBL(f, d) {#f, offsetof(RelationshipThresholds, stage.f), false, d}
#define LF_INT(f, d) {#f, offsetof(RelationshipThresholds, level.f), true, d}

static const ThresholdField threshold_fields[] = {
	TF_INT(window_days, "length of the recent and the previous window, in days"),
	TF_INT(min_stage_days, "days a customer stays in a stage before inference moves it again"),
	TF_INT(formation_min_purchase_days, "purchase days needed to reach formation"),
	TF_INT(stable_min_purchase_days, "purchase days needed to reach stable"),
	TF_DBL(stable_spend_floor, "stable (no model): recent spend at least this share of previous spend"),
	TF_DBL(stable_rhythm_factor, "stable (no model): bought within this many rhythms"),
	TF_DBL(stable_p_alive, "stable and win-back (model): P(alive) at least this"),
	TF_DBL(decline_rhythm_factor, "decline (no model): inactive longer than this many rhythms"),
	TF_INT(decline_floor_days, "decline (no model): and longer than this many days"),
	TF_DBL(decline_spend_ratio, "decline (no model): recent spend below this share of previous spend"),
	TF_INT(decline_min_complaints, "decline: recent complaints above previous and at least this many"),
	TF_DBL(decline_cost_ratio, "decline: cost to serve up by more than this factor while spend is not rising"),
	TF_DBL(decline_p_alive, "decline (model): P(alive) below this; formation needs at least this"),
	TF_DBL(winback_rhythm_factor, "win-back (no model): bought again within this many rhythms"),
	TF_DBL(terminate_rhythm_factor, "terminated: inactive longer than this many rhythms"),
	TF_INT(terminate_floor_days, "terminated: and longer than this many days"),
	TF_DBL(terminate_p_alive, "terminated: the model confirms with P(alive) below this (when it gives no P(buy))"),
	TF_DBL(terminate_p_buy, "terminated: the model confirms with P(a purchase within the horizon) below this"),
	TF_INT(terminate_horizon_days, "terminated: the horizon of P(buy), in days"),
	LF_INT(level_window_days, "levels: the window of the contact and complaint counts, in days"),
	LF_INT(level_min_days, "levels: days at a level before it moves again"),
	LF_INT(trust_min_interactions, "trust: interactions in the window"),
	LF_INT(cooperation_min_tenure_days, "cooperation: days since the first purchase"),
	LF_INT(cooperation_min_interactions, "cooperation: interactions in the window"),
	LF_INT(cooperation_min_channels, "cooperation: their distinct channels"),
	LF_INT(loyalty_min_tenure_days, "loyalty: days since the first purchase"),
	LF_INT(partnership_min_tenure_days, "partnership: days since the first purchase"),
	LF_INT(partnership_min_interactions, "partnership: interactions in the window"),
	LF_INT(partnership_min_channels, "partnership: their distinct channels"),
};

static void
default_thresholds(RelationshipThresholds *t)
{
	stage_default_thresholds(&t->stage);
	level_default_thresholds(&t->level);
}

/*
 * stage_threshold_defaults() -> (name, default_value, description): the
 * thresholds and their built-in defaults.  crm.stage_thresholds holds only
 * the values a site overrides, so pg_dump can dump it whole and a restore
 * never collides with rows the extension script created.
 */
PG_FUNCTION_INFO_V1(stage_threshold_defaults);
Datum
stage_threshold_defaults(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RelationshipThresholds d;
	int			f;

	InitMaterializedSRF(fcinfo, 0);
	default_thresholds(&d);
	for (f = 0; f < lengthof(threshold_fields); f++)
	{
		const ThresholdField *tf = &threshold_fields[f];
		const char *field = (const char *) &d + tf->offset;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(tf->name);
		values[1] = Float8GetDatum(tf->is_int ? (double) *(const int32_t *) field :
								   *(const double *) field);
		values[2] = CStringGetTextDatum(tf->description);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * The defaults overridden by the rows of crm.stage_thresholds.  Unknown
 * names, non-integral values for integer thresholds and inconsistent sets
 * are errors: the table's trigger calls this too, so such a row cannot be
 * committed.
 */
static void
load_thresholds(RelationshipThresholds *t)
{
	uint64		i;
	const char *problem;

	default_thresholds(t);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT name, value FROM crm." CRM_STAGE_THRESHOLDS, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read crm.%s", CRM_STAGE_THRESHOLDS);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *name = SPI_getvalue(tup, desc, 1);
		bool		isnull;
		double		value = DatumGetFloat8(SPI_getbinval(tup, desc, 2, &isnull));
		int			f;

		for (f = 0; f < lengthof(threshold_fields); f++)
			if (strcmp(name, threshold_fields[f].name) == 0)
				break;
		if (f == lengthof(threshold_fields))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown stage threshold \"%s\" in crm.stage_thresholds", name),
					 errhint("See crm.stage_thresholds_in_effect for the thresholds there are.")));
		if (isnull || isnan(value) || isinf(value))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("stage threshold \"%s\" must be a finite number", name)));
		if (threshold_fields[f].is_int)
		{
			if (value != rint(value) || fabs(value) > PG_INT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("stage threshold \"%s\" must be a whole number of days or purchases", name),
						 errdetail("It is %g.", value)));
			*(int32_t *) ((char *) t + threshold_fields[f].offset) = (int32_t) value;
		}
		else
			*(double *) ((char *) t + threshold_fields[f].offset) = value;
	}
	SPI_finish();
	if ((problem = stage_thresholds_check(&t->stage)) != NULL ||
		(problem = level_thresholds_check(&t->level)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid stage thresholds in crm.stage_thresholds"),
				 errdetail("%s", problem)));
}

/*
 * The thresholds in effect, read once per backend and kept until the
 * configuration generation moves.  So a single-row write pays no query
 * for them.
 */
static const RelationshipThresholds *
current_thresholds(void)
{
	static RelationshipThresholds cached;
	static bool valid = false;
	static bool valid_latest = false;
	static uint64 valid_generation = 0;
	uint64		generation = crm_config_generation();
	bool		latest = !IsInParallelMode();

	if (!valid || valid_generation != generation || (latest && !valid_latest))
	{
		RelationshipThresholds t;

		/* the latest snapshot when it can (see the header comment) */
		if (latest)
			PushActiveSnapshot(GetLatestSnapshot());
		load_thresholds(&t);
		if (latest)
			PopActiveSnapshot();
		cached = t;
		valid = true;
		valid_latest = latest;
		valid_generation = generation;
	}
	return &cached;
}

const StageThresholds *
crm_stage_thresholds(void)
{
	return &current_thresholds()->stage;
}

const LevelThresholds *
crm_level_thresholds(void)
{
	return &current_thresholds()->level;
}

/*
 * crm.check_stage_thresholds(): validate the table as it is now, and tell
 * every backend to read it again.
 */
PG_FUNCTION_INFO_V1(stage_thresholds_validate);
Datum
stage_thresholds_validate(PG_FUNCTION_ARGS)
{
	RelationshipThresholds t;

	load_thresholds(&t);
	CacheInvalidateRelcacheByRelid(crm_relid(CRM_STAGE_THRESHOLDS));
	PG_RETURN_VOID();
}
