/*-------------------------------------------------------------------------
 *
 * refresh.c
 *	  Rescoring customers without an order: the nightly crm.refresh() and
 *	  crm.score_customers(), through the order trigger's writer; and an
 *	  attach's single write of each customer, crm.attach_summaries().
 *
 * Time moves a customer's recency, its stage and its level even when it
 * does not order.  Both functions here recompute, for each customer, what
 * the order trigger computes for a customer who orders: the RFM score
 * against the stored cutpoints, the segment, and the stage walked from the
 * day it was last evaluated to the business date (customer.c,
 * derive_state()), and in addition the relationship level from the
 * service signals of crm.level_signals() (interactions, late complaints,
 * satisfaction).  One writer, one derivation: a customer refreshed and a
 * customer who just ordered are scored by the same code.
 *
 * crm.refresh(as_of, batch_size, fit_model, commit_batches) first computes
 * the population's cutpoints (one aggregate over the summaries, no row
 * locks) and, when asked or when none is stored, fits the BTYD model the
 * stage inference reads; it stores both in crm.scoring, and keeps the
 * stored model's validation report for the views of
 * sql/install/95_model_validation.sql.  Then it rescores
 * the customers in customer_id order, batch_size at a time.  Called
 * outside a transaction block (CALL crm.refresh()), it commits after each
 * batch, so it never holds locks on all customers and a failure keeps the
 * batches done; inside one (or with commit_batches => false) everything is
 * one transaction.  A customer changed by an order meanwhile is written
 * after that order commits, as the order trigger writes it (the writer
 * waits, then applies to the latest version).  Last, on a single node, it
 * rolls the stage history up into the kept counts crm.stage_transitions
 * reads (crm.roll_up_stage_history(), sql/install/78_transition_counts.sql).
 *
 * Each run is logged in crm.refresh_runs (progress.c): its row is
 * committed before the first step, and updated in each batch's
 * transaction.  When the batches commit, each step (the population state,
 * each batch, the roll-up) runs in a subtransaction, so that an error can be caught,
 * the step rolled back and the failure written and committed before the
 * error is raised again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "utils/date.h"
#include "lib/stringinfo.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "config.h"
#include "customer.h"
#include "progress.h"
#include "shard.h"
#include "summary.h"

/* one customer's service signals, from crm.level_signals() */
typedef struct ServiceSignals
{
	int64		customer;
	LevelSignals level;
} ServiceSignals;

/*
 * The service signals of the customers ids[0..n-1] (ascending) as of
 * as_of, in the same order: from crm.level_signals(), which gives a row
 * for every customer with any interaction, complaint or survey; the
 * others had none in the window (counts 0, satisfaction unknown).  Read
 * with a new snapshot (not read-only): from the service tables' AFTER
 * trigger, the statement's own rows must be seen.  With read false (the
 * caller knows the service tables are empty) nobody has any, and nothing
 * is read.
 */
static ServiceSignals *
service_signals(const int64 *ids, int n, int32 as_of, bool read)
{
	ServiceSignals *out = palloc(Max(n, 1) * sizeof(ServiceSignals));
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));
	Oid			types[2] = {INT8ARRAYOID, DATEOID};
	Datum		args[2];
	uint64		r = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		elems[i] = Int64GetDatum(ids[i]);
		out[i].customer = ids[i];
		level_signals_init(&out[i].level);
		out[i].level.interactions = 0;
		out[i].level.channels = 0;
		out[i].level.complaints_late = 0;
	}
	if (!read)
		return out;
	args[0] = PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = DateADTGetDatum(as_of);
	if (SPI_execute_with_args("SELECT s.customer_id, s.interactions, s.channels, s.complaints_late, "
							  "s.last_satisfied, s.loyal FROM crm.level_signals($1, $2) s ORDER BY 1",
							  2, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read crm.level_signals()");
	for (i = 0; i < n && r < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		c = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		Datum		d;

		if (c < ids[i])
		{
			/* not asked for: skip the row, stay on the customer */
			r++;
			i--;
			continue;
		}
		if (c > ids[i])
			continue;
		out[i].level.interactions = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		out[i].level.channels = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		out[i].level.complaints_late = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		d = SPI_getbinval(tup, desc, 5, &isnull);
		out[i].level.last_satisfied = isnull ? -1 : DatumGetBool(d) ? 1 : 0;
		d = SPI_getbinval(tup, desc, 6, &isnull);
		out[i].level.loyal = isnull ? -1 : DatumGetBool(d) ? 1 : 0;
		r++;
	}
	return out;
}

/*
 * Rescore the customers ids[0..n-1] (ascending, distinct) as of as_of
 * with one writer; history rows get source (NULL: crm.change_source()).
 * Returns how many exist; adds the stage and level changes recorded to
 * *stages and *levels when given.
 */
static int64
rescore(const int64 *ids, int n, int32 as_of, const char *source, int64 *stages, int64 *levels)
{
	ServiceSignals *signals = service_signals(ids, n, as_of, true);
	CustomerWriter *w;
	MemoryContext each,
				old;
	int64		done = 0;
	int			i;

	w = crm_writer_begin(source);
	each = AllocSetContextCreate(CurrentMemoryContext, "crm rescore", ALLOCSET_DEFAULT_SIZES);
	old = CurrentMemoryContext;
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		/* each time: an SPI call of the writer's returns to SPI's memory */
		MemoryContextSwitchTo(each);
		done += crm_writer_rescore(w, ids[i], as_of, &signals[i].level);
		MemoryContextReset(each);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(each);
	if (stages != NULL)
	{
		int64		s,
					l;

		crm_writer_changes(w, &s, &l);
		*stages += s;
		*levels += l;
	}
	crm_writer_end(w);
	return done;
}

/*
 * score_customers(customers bigint[], as_of date) -> bigint: rescore the
 * customers given (NULL: every customer) as of as_of, in one transaction;
 * returns how many there were.  Stage changes are recorded with the source
 * crm.change_source() (import for an attach, user by default).
 */
PG_FUNCTION_INFO_V1(score_customers);
Datum
score_customers(PG_FUNCTION_ARGS)
{
	int32		as_of;
	int64	   *ids;
	int			n = 0,
				k;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL")));
	as_of = PG_GETARG_DATEADT(1);
	crm_check_finite_date(as_of, "as_of");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (PG_ARGISNULL(0))
	{
		if (SPI_execute("SELECT customer_id FROM crm.customers ORDER BY 1", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read crm.customers");
		ids = crm_customer_ids_from_spi(&n);
	}
	else
		ids = crm_customer_ids_from_array(PG_GETARG_ARRAYTYPE_P(0), &n);
	k = n > 0 ? (int) rescore(ids, n, as_of, NULL, NULL, NULL) : 0;
	SPI_finish();
	PG_RETURN_INT64(k);
}

/*
 * service_changed(): AFTER statement trigger with transition tables on
 * crm.interactions, crm.complaints, crm.surveys and crm.survey_answers: a
 * service signal arriving moves the level (and, for complaints, the stage)
 * at once, so the customers the changed rows concern are rescored on the
 * business date, as the refresh would rescore them.  Nothing while a
 * pg_dump script is restored (crm_restoring_dump(): the dump holds the
 * customers as maintained); for that the function pins no search_path
 * in its definition, but in C once it has looked (crm_pin_search_path()).
 */
PG_FUNCTION_INFO_V1(service_changed);
Datum
service_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Tuplestorestate *tables[2];
	TupleDesc	desc;
	bool		answers;
	int			key;
	int64	   *ids = NULL;
	int			n = 0,
				cap = 0,
				t,
				i,
				k,
				nestlevel;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.service_changed must be an AFTER statement trigger with transition tables")));
	if (crm_restoring_dump())
		return PointerGetDatum(NULL);
	nestlevel = crm_pin_search_path();
	desc = RelationGetDescr(trigdata->tg_relation);
	answers = strcmp(RelationGetRelationName(trigdata->tg_relation), "survey_answers") == 0;
	key = SPI_fnumber(desc, answers ? "survey_id" : "customer_id");
	if (key <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("crm.service_changed needs a column customer_id or survey_id")));
	tables[0] = trigdata->tg_oldtable;
	tables[1] = trigdata->tg_newtable;
	for (t = 0; t < 2; t++)
	{
		CrmTransitionReader r;

		if (tables[t] == NULL)
			continue;
		crm_transition_open(&r, tables[t], desc);
		while (crm_transition_next(&r))
		{
			bool		isnull;
			Datum		v = slot_getattr(r.slot, key, &isnull);

			if (isnull)
				continue;
			if (n == cap)
			{
				cap = cap ? 2 * cap : 64;
				ids = ids ? repalloc_huge(ids, cap * sizeof(int64)) : palloc(cap * sizeof(int64));
			}
			ids[n++] = DatumGetInt64(v);
		}
		crm_transition_close(&r);
	}
	if (n == 0)
	{
		crm_unpin_search_path(nestlevel);
		return PointerGetDatum(NULL);
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (answers)
	{
		/* answers name their survey: the customers are the surveys' */
		Datum	   *elems = palloc(n * sizeof(Datum));
		Oid			types[1] = {INT8ARRAYOID};
		Datum		args[1];

		for (i = 0; i < n; i++)
			elems[i] = Int64GetDatum(ids[i]);
		args[0] = PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		if (SPI_execute_with_args("SELECT DISTINCT s.customer_id FROM crm.surveys s WHERE s.survey_id = ANY ($1)",
								  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read crm.surveys");
		ids = crm_customer_ids_from_spi(&n);
	}
	k = crm_customer_ids_sort(ids, n);
	if (k > 0)
		rescore(ids, k, crm_business_date(), "inference", NULL, NULL);
	SPI_finish();
	crm_unpin_search_path(nestlevel);
	return PointerGetDatum(NULL);
}

/*
 * The population state as of day: the cutpoints over every summary and,
 * when asked (or when none is stored), a new fit of the model named by
 * the setting btyd_model in the unit of btyd_unit; stored in crm.scoring.
 * population: a FROM item giving the summaries (column summary), the
 * customers' (CUSTOMER_SUMMARIES) but for an attach (attach_summaries()).
 */
#define CUSTOMER_SUMMARIES "crm.customers"

static void
refresh_population(int32 day, bool fit, bool fit_if_none, const char *population)
{
	Oid			types[1] = {DATEOID};
	Datum		args[1] = {DateADTGetDatum(day)};
	StringInfoData sql;

	initStringInfo(&sql);

	/*
	 * Fit when asked, or when no model is stored and there are enough
	 * customers with repeat purchases to identify one (the setting
	 * btyd_min_repeat_buyers): with fewer, the stage rules without a model
	 * are the better guide.
	 */
	if (!fit && fit_if_none)
	{
		appendStringInfo(&sql,
						 "SELECT NOT EXISTS (SELECT 1 FROM crm.scoring s WHERE s.model IS NOT NULL) "
						 "AND (SELECT count(*) FROM %s c "
						 "     WHERE crm.purchase_days(crm.as_of(c.summary, $1)) >= 2) "
						 "    >= crm.setting('btyd_min_repeat_buyers')::integer", population);
		if (SPI_execute_with_args(sql.data, 1, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read crm.scoring");
		fit = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &fit_if_none));
	}
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH cp AS (SELECT crm.rfm_quantiles(c.summary, $1) AS cp FROM %s c "
					 "            WHERE c.summary IS NOT NULL) ", population);
	if (fit)
	{
		char	   *kind;

		/* the setting is one of three names (crm.check_setting()) */
		if (SPI_execute("SELECT crm.setting('btyd_model'), crm.setting('btyd_unit')", true, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not read the settings btyd_model and btyd_unit");
		kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (strcmp(kind, "bgnbd") != 0 && strcmp(kind, "pareto_nbd") != 0 && strcmp(kind, "mbgnbd") != 0)
			elog(ERROR, "crm: unexpected btyd_model setting \"%s\"", kind);
		appendStringInfo(&sql,
						 ", m AS (SELECT crm.fit_%s(c.summary, $1, %s::interval) AS m FROM %s c "
						 "        WHERE crm.first_purchase(c.summary) <= $1) "
						 "INSERT INTO crm.scoring (singleton, cutpoints, model, refreshed_at) "
						 "SELECT true, cp.cp, m.m, pg_catalog.now() FROM cp, m WHERE cp.cp IS NOT NULL "
						 "ON CONFLICT (singleton) DO UPDATE SET cutpoints = excluded.cutpoints, "
						 "model = excluded.model, refreshed_at = excluded.refreshed_at",
						 kind, quote_literal_cstr(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
						 population);
	}
	else
		appendStringInfoString(&sql,
							   "INSERT INTO crm.scoring (singleton, cutpoints, refreshed_at) "
							   "SELECT true, cp.cp, pg_catalog.now() FROM cp WHERE cp.cp IS NOT NULL "
							   "ON CONFLICT (singleton) DO UPDATE SET cutpoints = excluded.cutpoints, "
							   "refreshed_at = excluded.refreshed_at");
	if (SPI_execute_with_args(sql.data, 1, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write crm.scoring");
}

/* compute_scoring(as_of, fit_model): refresh_population() for SQL */
PG_FUNCTION_INFO_V1(compute_scoring);
Datum
compute_scoring(PG_FUNCTION_ARGS)
{
	int32		day;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL")));
	day = PG_GETARG_DATEADT(0);
	crm_check_finite_date(day, "as_of");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	refresh_population(day, !PG_ARGISNULL(1) && PG_GETARG_BOOL(1), PG_ARGISNULL(1), CUSTOMER_SUMMARIES);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * The days of an unsealed summary as the changes that make them from
 * nothing, for the writer: a day's purchases each as an order (the first
 * with the day's net amount when it is not negative, the others of zero),
 * and a negative net amount as a refund row (which counts no purchase).
 * *n gets how many.
 */
static SummaryChange *
summary_as_changes(const Summary *s, int64 customer, int *n)
{
	SummaryChange *changes;
	int64		total = 0;
	int			i,
				k = 0;

	if (SUMMARY_IS_SEALED(s))
		elog(ERROR, "crm: the attached summary of customer " INT64_FORMAT " is sealed", customer);
	for (i = 0; i < s->ndays; i++)
		total += (int64) Max(s->days[i].purchases, 0) + 1;
	if (total > MaxAllocSize / sizeof(SummaryChange))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("customer " INT64_FORMAT " has too many orders to attach at once", customer)));
	changes = palloc(Max(total, 1) * sizeof(SummaryChange));
	for (i = 0; i < s->ndays; i++)
	{
		const SummaryDay *d = &s->days[i];
		int32		p;

		if (d->purchases < 0 || (d->purchases == 0 && d->amount >= 0))
			elog(ERROR, "crm: a day of the attached summary of customer " INT64_FORMAT " has no order", customer);
		for (p = 0; p < d->purchases; p++)
			changes[k++] = (SummaryChange) {d->day, false, p == 0 && d->amount >= 0 ? d->amount : 0};
		if (d->amount < 0)
			changes[k++] = (SummaryChange) {d->day, false, d->amount};
	}
	*n = k;
	return changes;
}

/* customers an attach writes with one writer (and one signals query) */
#define ATTACH_BATCH 10000

/*
 * attach_summaries(summaries text, relname text, create_customers boolean,
 * first_contact boolean) -> bigint: an attach's single write of each
 * customer.  summaries names a table (customer_id bigint, summary
 * crm.summary) with one row per customer: the orders of relname, counted.
 * With first_contact and no population state stored, the state is
 * computed first over the population as it is about to be (the
 * customers' summaries with these merged in, and the new customers'), so
 * that each customer is scored as it is written.  Then, in customer_id
 * order, ATTACH_BATCH customers at a time, each one's days are applied to
 * its row as the order trigger applies a statement's orders (a customer
 * not there is created with create_customers, walked from prospect), its
 * state derived on the business date and its level from
 * crm.level_signals(), as crm.score_customers() derives them: one write
 * of the row, and its history.  Returns how many customers there were.
 */
PG_FUNCTION_INFO_V1(attach_summaries);
Datum
attach_summaries(PG_FUNCTION_ARGS)
{
	const char *table;
	char	   *relname;
	bool		create;
	int32		as_of;
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext batch,
				each;
	int64		done = 0;
	bool		any_signals;
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("crm.attach_summaries() takes no NULL argument")));
	table = quote_identifier(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	relname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	create = PG_GETARG_BOOL(2);
	as_of = crm_business_date();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (PG_GETARG_BOOL(3))
	{
		if (SPI_execute("SELECT EXISTS (SELECT FROM crm.scoring)", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read crm.scoring");
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			refresh_population(as_of, false, true,
							   psprintf("(SELECT CASE WHEN c.customer_id IS NULL THEN b.summary "
										"             WHEN b.customer_id IS NULL THEN c.summary "
										"             ELSE crm.merge(crm.full_summary(c.customer_id, c.summary), b.summary) END "
										"        AS summary "
										" FROM crm.customers c FULL JOIN %s b ON b.customer_id = c.customer_id)", table));
	}
	/*
	 * The level signals come from these three tables (crm.level_signals()):
	 * when they are empty, as when a new database is attached, nobody has
	 * any, and the query (planned for each batch's ids) is not asked.
	 */
	if (SPI_execute("SELECT EXISTS (SELECT FROM crm.interactions) OR EXISTS (SELECT FROM crm.complaints) "
					"OR EXISTS (SELECT FROM crm.surveys)", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the service tables");
	any_signals = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	plan = SPI_prepare(psprintf("SELECT customer_id, summary FROM %s ORDER BY 1", table), 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not read %s", table);
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	batch = AllocSetContextCreate(CurrentMemoryContext, "crm attach batch", ALLOCSET_DEFAULT_SIZES);
	each = AllocSetContextCreate(CurrentMemoryContext, "crm attach customer", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPITupleTable *tt;
		int			n,
					i;
		int64	   *ids;
		ServiceSignals *signals;
		CustomerWriter *w;

		SPI_cursor_fetch(portal, true, ATTACH_BATCH);
		tt = SPI_tuptable;
		n = (int) SPI_processed;
		if (n == 0)
			break;
		MemoryContextSwitchTo(batch);
		ids = palloc(n * sizeof(int64));
		for (i = 0; i < n; i++)
		{
			ids[i] = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			if (isnull)
				elog(ERROR, "crm: a summary of %s has no customer", relname);
		}
		signals = service_signals(ids, n, as_of, any_signals);
		/* (an SPI call returns to SPI's memory) */
		MemoryContextSwitchTo(batch);
		w = crm_writer_begin(NULL);
		for (i = 0; i < n; i++)
		{
			Datum		d;
			SummaryChange *changes;
			int			nchanges;

			CHECK_FOR_INTERRUPTS();
			MemoryContextSwitchTo(each);
			d = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
			if (!isnull)
			{
				changes = summary_as_changes(DatumGetSummaryP(d), ids[i], &nchanges);
				if (!crm_writer_merge(w, ids[i], changes, nchanges, as_of, relname, create, &signals[i].level))
					ereport(ERROR,
							(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
							 errmsg("customer " INT64_FORMAT " of an order in %s is not in crm.customers",
									ids[i], relname),
							 errhint("Insert the customers first, or attach with unknown_customers => 'create'.")));
			}
			MemoryContextReset(each);
		}
		MemoryContextSwitchTo(batch);
		crm_writer_end(w);
		SPI_freetuptable(tt);
		MemoryContextReset(batch);
		done += n;
	}
	SPI_cursor_close(portal);
	SPI_finish();
	PG_RETURN_INT64(done);
}

/* where a refresh is, from one step to the next */
typedef struct RefreshState
{
	int32		day;
	int32		batch_size;
	bool		commit;
	bool		fit;			/* fit_model => true */
	bool		fit_if_none;	/* fit_model NULL */
	bool		population_done;
	bool		distributed;	/* on Citus: the shards rescored (shard.c) */
	bool		batches_done;	/* every customer rescored: the roll-up next */
	int64		last;			/* the last customer rescored */
	int64		done;
	int64		stages;
	int64		levels;
} RefreshState;

/*
 * One step of a refresh: the population state first, then each batch of
 * batch_size customers after st->last, then the roll-up of the stage
 * history the refresh wrote into the kept counts of crm.stage_transitions
 * (crm.roll_up_stage_history(), 78_transition_counts.sql).  False after
 * the last.
 */
static bool
refresh_step(RefreshState *st)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2];
	MemoryContext batch_cxt,
				old;
	int64	   *ids;
	int			n;

	if (!st->population_done)
	{
		/* after the run log's commit there is no snapshot: one of our own */
		if (st->commit)
			PushActiveSnapshot(GetTransactionSnapshot());
		refresh_population(st->day, st->fit, st->fit_if_none, CUSTOMER_SUMMARIES);
		/*
		 * the model's validation report kept for the views (one pass; not
		 * on Citus, where they compute it as they read, untried there)
		 */
		if (!st->distributed &&
			SPI_execute("SELECT crm.keep_model_validation()", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not write crm.scoring_validation");
		if (st->commit)
			PopActiveSnapshot();
		st->population_done = true;
		return true;
	}
	if (st->batches_done)
	{
		if (st->commit)
			PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_execute("SELECT crm.roll_up_stage_history()", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not roll up crm.stage_history");
		if (st->commit)
			PopActiveSnapshot();
		return false;
	}
	if (st->distributed)
	{
		/* one step: every shard on its node, in a transaction of its own */
		PushActiveSnapshot(GetTransactionSnapshot());
		crm_refresh_shards(st->day, &st->done, &st->stages, &st->levels);
		PopActiveSnapshot();
		return false;
	}
	/* in the transaction's memory: a commit follows */
	batch_cxt = AllocSetContextCreate(TopTransactionContext, "crm refresh batch", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(batch_cxt);
	if (st->commit)
		PushActiveSnapshot(GetTransactionSnapshot());
	args[0] = Int64GetDatum(st->last);
	args[1] = Int32GetDatum(st->batch_size);
	if (SPI_execute_with_args("SELECT c.customer_id FROM crm.customers c WHERE c.customer_id > $1 "
							  "ORDER BY c.customer_id LIMIT $2",
							  2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read crm.customers");
	ids = crm_customer_ids_from_spi(&n);
	if (n > 0)
	{
		rescore(ids, n, st->day, "inference", &st->stages, &st->levels);
		st->last = ids[n - 1];
		st->done += n;
	}
	if (st->commit)
		PopActiveSnapshot();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(batch_cxt);
	if (n == 0)
		st->batches_done = true;
	return true;
}

/*
 * One step in a subtransaction, when the refresh commits its batches: an
 * error rolls the step back, is recorded in the run log in a transaction
 * of its own (the batches before stay done), then raised again.  A refresh
 * that is one transaction needs no such care: its run log row goes with it.
 */
static bool
refresh_step_logged(RefreshState *st, RunLog *run, MemoryContext keep)
{
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool more = false;

	if (!st->commit)
		return refresh_step(st);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(old);
	PG_TRY();
	{
		more = refresh_step(st);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(keep);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
		crm_run_failed(run, edata);
		SPI_commit();
		ReThrowError(edata);
	}
	PG_END_TRY();
	return more;
}

/*
 * CALL crm.refresh(as_of, batch_size, fit_model, commit_batches): see the
 * header comment.  The run is logged in crm.refresh_runs (progress.c).
 */
PG_FUNCTION_INFO_V1(refresh);
Datum
refresh(PG_FUNCTION_ARGS)
{
	bool		atomic = !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
						   !castNode(CallContext, fcinfo->context)->atomic);
	MemoryContext keep = CurrentMemoryContext;
	RefreshState st;
	RunLog		run;

	memset(&st, 0, sizeof(st));
	st.day = PG_ARGISNULL(0) ? crm_business_date() : PG_GETARG_DATEADT(0);
	crm_check_finite_date(st.day, "as_of");
	if (PG_ARGISNULL(1) || PG_GETARG_INT32(1) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1")));
	st.batch_size = PG_GETARG_INT32(1);
	if (PG_ARGISNULL(3))
		st.commit = !atomic;
	else if ((st.commit = PG_GETARG_BOOL(3)) && atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("crm.refresh() cannot commit its batches inside a transaction block"),
				 errhint("Call it on its own (CALL crm.refresh(), not inside BEGIN or a multi-statement command), "
						 "or with commit_batches => false to run it as one transaction.")));
	st.fit = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	st.fit_if_none = PG_ARGISNULL(2);
	st.last = PG_INT64_MIN;

	if (SPI_connect_ext(st.commit ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	st.distributed = crm_distributed();
	if (st.distributed && !st.commit)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("crm.refresh() cannot run as one transaction on a distributed CRM"),
				 errdetail("Each shard of crm.customers is rescored in a transaction of its own on its node."),
				 errhint("Call it on its own (CALL crm.refresh(), not inside BEGIN), with commit_batches left NULL or true.")));
	crm_run_begin(&run, st.day, st.batch_size, st.commit);
	if (st.commit)
		SPI_commit();
	/* the population state, then the batches */
	while (refresh_step_logged(&st, &run, keep))
	{
		if (st.population_done && st.done > 0)
			crm_run_progress(&run, st.done, st.stages, st.levels);
		if (st.commit)
			SPI_commit();
	}
	if (st.distributed)
		crm_run_progress(&run, st.done, st.stages, st.levels);
	crm_run_finish(&run);
	SPI_finish();
	PG_RETURN_VOID();
}
