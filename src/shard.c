/*-------------------------------------------------------------------------
 *
 * shard.c
 *	  The CRM distributed on Citus (crm.distribute()): rescoring customers
 *	  on the shards, with the single-node writer.
 *
 * The writer (customer.c) opens crm.customers, crm.stage_history and
 * crm.complaints by name; on a Citus node those names are the distributed
 * tables' shells (on a worker, empty tables), not the shards that hold
 * the rows.  crm.score_shard() runs on the node of one shard of
 * crm.customers and points the same writer at that shard and its
 * co-located shards of crm.stage_history and crm.complaints
 * (crm_writer_begin_on()), so a customer on a shard is scored, walked and
 * levelled by the code that scores it on a single node.  Its level
 * signals come from the co-located shards of crm.interactions and
 * crm.complaints (crm.shard_level_signals()); the surveys stay on the
 * coordinator and give none there.  Long histories are not sealed on
 * the shards (their blocks would be the shell table's).
 *
 * crm.refresh() on a distributed CRM (crm_refresh_shards()): the
 * population state is computed once on the coordinator (the split
 * aggregates, refresh.c) and copied into crm.scoring on every worker,
 * then crm.score_shard() runs on every shard of crm.customers through
 * Citus's run_command_on_shards(), each in its own transaction on its
 * node.  The order and service triggers on the shards
 * (crm.orders_shard_changed(), crm.service_shard_changed()) call
 * crm.score_shard() for the customers they changed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/regproc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "config.h"
#include "customer.h"
#include "history.h"
#include "shard.h"

/*
 * Whether crm.customers is a Citus distributed table here: Citus loaded
 * and its metadata naming crm.customers.
 */
bool
crm_distributed(void)
{
	bool		isnull;
	Datum		d;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	if (SPI_execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition "
					"WHERE logicalrelid = 'crm.customers'::pg_catalog.regclass)", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read pg_dist_partition");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(d);
}

/* the one value of the query SPI just ran, as an Oid (InvalidOid: NULL) */
static Oid
spi_oid(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_processed != 1)
		return InvalidOid;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * The co-located shards of the shard of crm.customers given: of
 * crm.stage_history and crm.complaints, and the complaints' customer index
 * on that shard (Citus names a shard's index after the table's, with the
 * shard id).
 */
static void
shard_target(Oid customers, CrmWriterTarget *t)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		args[1] = {ObjectIdGetDatum(customers)};

	t->customers = customers;
	if (SPI_execute_with_args("SELECT crm.colocated_shard($1, 'crm.stage_history')::pg_catalog.regclass",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not find the shards");
	t->history = spi_oid();
	if (SPI_execute_with_args("SELECT crm.colocated_shard($1, 'crm.complaints')::pg_catalog.regclass",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not find the shards");
	t->complaints = spi_oid();
	if (!OidIsValid(t->history) || !OidIsValid(t->complaints))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not a shard of the distributed crm.customers",
						DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(customers)))),
				 errhint("crm.score_shard() takes a shard of crm.customers after crm.distribute().")));
	args[0] = ObjectIdGetDatum(t->complaints);
	if (SPI_execute_with_args("SELECT pg_catalog.to_regclass(pg_catalog.format('crm.%I', "
							  "'complaints_customer_' || pg_catalog.substring(c.relname, '_([0-9]+)$'))) "
							  "FROM pg_catalog.pg_class c WHERE c.oid = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not find the shards");
	t->complaints_index = spi_oid();
	if (!OidIsValid(t->complaints_index))
		elog(ERROR, "crm: the shard %s has no customer index", get_rel_name(t->complaints));
}

/*
 * The level signals of the customers ids[0..n-1] (ascending) of a shard
 * as of as_of, from crm.shard_level_signals() (those with none: counts 0,
 * satisfaction unknown), as refresh.c reads crm.level_signals().
 */
static LevelSignals *
shard_signals(Oid customers, const int64 *ids, int n, int32 as_of)
{
	LevelSignals *out = palloc(Max(n, 1) * sizeof(LevelSignals));
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));
	Oid			types[3] = {REGCLASSOID, INT8ARRAYOID, DATEOID};
	Datum		args[3];
	uint64		r;
	int			i = 0;

	for (i = 0; i < n; i++)
	{
		elems[i] = Int64GetDatum(ids[i]);
		level_signals_init(&out[i]);
		out[i].interactions = 0;
		out[i].channels = 0;
		out[i].complaints_late = 0;
	}
	args[0] = ObjectIdGetDatum(customers);
	args[1] = PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = DateADTGetDatum(as_of);
	if (SPI_execute_with_args("SELECT s.customer_id, s.interactions, s.channels, s.complaints_late "
							  "FROM crm.shard_level_signals($1, $2, $3) s ORDER BY 1",
							  3, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read crm.shard_level_signals()");
	i = 0;
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		c = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));

		while (i < n && ids[i] < c)
			i++;
		if (i == n)
			break;
		if (ids[i] != c)
			continue;
		out[i].interactions = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		out[i].channels = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		out[i].complaints_late = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	}
	return out;
}

/*
 * The customers ids[0..n-1] (ascending) rescored with one writer on the
 * target, with their level signals (NULL: the level stays); counts gets
 * {customers, stage changes, level changes}.
 */
static void
rescore_shard(const CrmWriterTarget *target, const char *source, const int64 *ids, int n,
			  int32 as_of, const LevelSignals *signals, int64 *counts)
{
	CustomerWriter *w = crm_writer_begin_on(source, target);
	MemoryContext each = AllocSetContextCreate(CurrentMemoryContext, "crm score shard", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = CurrentMemoryContext;
	int			i;

	counts[0] = 0;
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		/* each time: an SPI call of the writer's returns to SPI's memory */
		MemoryContextSwitchTo(each);
		counts[0] += crm_writer_rescore(w, ids[i], as_of, signals ? &signals[i] : NULL);
		MemoryContextReset(each);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(each);
	crm_writer_changes(w, &counts[1], &counts[2]);
	crm_writer_end(w);
}

/*
 * score_shard(shard regclass, customers bigint[], as_of date, source text,
 * levels boolean) -> bigint[]: rescore the customers given (NULL: every
 * customer of the shard) of a shard of crm.customers as of as_of, with
 * the writer pointed at the shard and its co-located shards: RFM against
 * the stored cutpoints, segment, the stage walk and, with levels, the
 * level from the shard's service signals; history rows with source
 * (NULL: the table's default).  Returns {customers, stage changes, level
 * changes}.
 */
PG_FUNCTION_INFO_V1(score_shard);
Datum
score_shard(PG_FUNCTION_ARGS)
{
	Oid			shard;
	int32		as_of;
	const char *source;
	bool		levels;
	CrmWriterTarget target;
	int64	   *ids;
	int			n = 0,
				i;
	LevelSignals *volatile signals = NULL;
	int64		counts[3];
	Datum		result[3];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("shard, as_of and levels must not be NULL")));
	shard = PG_GETARG_OID(0);
	as_of = PG_GETARG_DATEADT(2);
	crm_check_finite_date(as_of, "as_of");
	source = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	levels = PG_GETARG_BOOL(4);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	shard_target(shard, &target);
	if (PG_ARGISNULL(1))
	{
		char	   *sql = psprintf("SELECT customer_id FROM %s ORDER BY 1",
								   quote_qualified_identifier(get_namespace_name(get_rel_namespace(shard)),
															  get_rel_name(shard)));

		if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read %s", sql);
		ids = crm_customer_ids_from_spi(&n);
	}
	else
		ids = crm_customer_ids_from_array(PG_GETARG_ARRAYTYPE_P(1), &n);
	if (levels && n > 0)
		signals = shard_signals(shard, ids, n, as_of);

	crm_history_sealing = false;
	PG_TRY();
	{
		rescore_shard(&target, source, ids, n, as_of, signals, counts);
	}
	PG_FINALLY();
	{
		crm_history_sealing = true;
	}
	PG_END_TRY();
	SPI_finish();
	for (i = 0; i < 3; i++)
		result[i] = Int64GetDatum(counts[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(result, 3, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * crm.refresh()'s customers on a distributed CRM (the population state
 * stored on the coordinator already): crm.scoring copied to every worker,
 * then every shard of crm.customers rescored as of day on its node
 * (crm.score_shard(), source inference, levels too), each shard in a
 * transaction of its own there.  Adds the customers, stage and level
 * changes to *done, *stages and *levels.
 */
void
crm_refresh_shards(int32 day, int64 *done, int64 *stages, int64 *levels)
{
	Oid			types[1] = {DATEOID};
	Datum		args[1] = {DateADTGetDatum(day)};
	uint64		r;

	if (SPI_execute("SELECT n.success, n.result FROM crm.scoring s, LATERAL pg_catalog.run_command_on_workers("
					"pg_catalog.format('INSERT INTO crm.scoring (singleton, cutpoints, model, refreshed_at) "
					"VALUES (true, %L, %L, %L) ON CONFLICT (singleton) DO UPDATE SET cutpoints = excluded.cutpoints, "
					"model = excluded.model, refreshed_at = excluded.refreshed_at', s.cutpoints, s.model, s.refreshed_at)) n "
					"UNION ALL "
					"SELECT n.success, n.result FROM pg_catalog.run_command_on_workers('DELETE FROM crm.scoring') n "
					"WHERE NOT EXISTS (SELECT FROM crm.scoring)", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not copy crm.scoring to the workers");
	for (r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not copy crm.scoring to a worker: %s",
							SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2))));
	}
	if (SPI_execute_with_args("SELECT n.shardid, n.success, n.result FROM pg_catalog.run_command_on_shards("
							  "'crm.customers', pg_catalog.format('SELECT crm.score_shard(%%L, NULL, %L, ''inference'', true)', $1)) n "
							  "ORDER BY 1",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not rescore the shards of crm.customers");
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *res = SPI_getvalue(tup, desc, 3);
		int64		a,
					b,
					c;

		if (!DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not rescore shard %s of crm.customers: %s",
							SPI_getvalue(tup, desc, 1), res ? res : "")));
		if (res == NULL || sscanf(res, "{" INT64_FORMAT "," INT64_FORMAT "," INT64_FORMAT "}", &a, &b, &c) != 3)
			elog(ERROR, "crm: unexpected result of crm.score_shard(): %s", res ? res : "NULL");
		*done += a;
		*stages += b;
		*levels += c;
	}
}
