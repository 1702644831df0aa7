/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  The run log of crm.refresh() (crm.refresh_runs) and its progress
 *	  NOTICEs.
 *
 * A nightly refresh of a million customers runs for minutes, commits after
 * every batch, and may run inside a pg_cron job nobody watches.  So that a
 * DBA or a monitoring tool sees from another session how far it is and
 * what it moved, and afterwards whether it failed and why, each run keeps
 * one row of crm.refresh_runs up to date:
 *
 *	- crm_run_begin() inserts it (status running, the customers to do)
 *	  and holds a session-level advisory lock on it (key RUN_LOCK_KEY,
 *	  run_id) while the run lasts, so that a run whose session ended is
 *	  told from one still going: pg_locks shows the lock of a live run.
 *	  The lock is taken before the row commits, and the runs left
 *	  running without it (their session was terminated or crashed) are
 *	  marked failed at once;
 *	- crm_run_progress() writes the counts after each batch, in the
 *	  batch's transaction, so they are visible when it commits; and sends
 *	  a NOTICE with the customers done, the total and the rate at most
 *	  once per refresh_progress_interval (a setting), not one per batch;
 *	- crm_run_finish() marks it succeeded, crm_run_failed() failed with
 *	  the error, in a transaction of its own after the failed one rolled
 *	  back (refresh.c catches the error for that), and both release the
 *	  lock.
 *
 * The RunLog lives in its caller's stack frame: nothing here is allocated
 * in a transaction's memory, so it outlives the commits between batches.
 * Every function runs inside the caller's SPI connection.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "progress.h"

/* the first key of a run's advisory lock ('crm' and a zero byte), the second is run_id */
#define RUN_LOCK_KEY 0x63726D00

static void
run_lock_tag(LOCKTAG *tag, int64 run_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) RUN_LOCK_KEY, (uint32) run_id, 2);
}

/*
 * Run a statement of the run log with an active snapshot (between the
 * batches of a committing refresh there is none).
 */
static void
run_execute(const char *sql, int nargs, Oid *types, Datum *args, int expect)
{
	bool		pushed = !ActiveSnapshotSet();
	int			rc;

	if (pushed)
		PushActiveSnapshot(GetTransactionSnapshot());
	rc = SPI_execute_with_args(sql, nargs, types, args, NULL, false, 0);
	if (pushed)
		PopActiveSnapshot();
	if (rc != expect)
		elog(ERROR, "could not write crm.refresh_runs: %s", SPI_result_code_string(rc));
}

/* the value of row 0, column col of the last SPI result, as an int64 */
static int64
result_int64(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Start the log of a run as of as_of: the runs left running by a session
 * that ended are marked failed, this one's row inserted with the number of
 * customers, and its lock taken: for the session when the run commits
 * (commits), else for the transaction (the row is seen when it ends).
 */
void
crm_run_begin(RunLog *run, int32 as_of, int32 batch_size, bool commits)
{
	Oid			types[2] = {DATEOID, INT4OID};
	Datum		args[2] = {DateADTGetDatum(as_of), Int32GetDatum(batch_size)};
	LOCKTAG		tag;
	char		sql[1024];

	snprintf(sql, sizeof(sql),
			 "UPDATE crm.refresh_runs r SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), "
			 "error = 'the session running it ended before it finished' "
			 "WHERE r.status = 'running' AND NOT EXISTS (SELECT FROM pg_catalog.pg_locks l "
			 "WHERE l.locktype = 'advisory' AND l.database = %u AND l.classid = %u "
			 "AND l.objid = (r.run_id %% 4294967296)::oid AND l.objsubid = 2 AND l.granted "
			 "AND l.pid <> pg_catalog.pg_backend_pid())",
			 MyDatabaseId, (uint32) RUN_LOCK_KEY);
	run_execute(sql, 0, NULL, NULL, SPI_OK_UPDATE);
	run_execute("INSERT INTO crm.refresh_runs (as_of, batch_size, customers_total, backend_pid) "
				"SELECT $1, $2, count(*), pg_catalog.pg_backend_pid() FROM crm.customers "
				"RETURNING run_id, customers_total, "
				"(extract(epoch FROM crm.setting('refresh_progress_interval')::interval) * 1000)::bigint",
				2, types, args, SPI_OK_INSERT_RETURNING);
	run->run_id = result_int64(1);
	run->total = result_int64(2);
	run->interval_ms = result_int64(3);
	run->done = run->stages = run->levels = 0;
	run->started = run->last_notice = GetCurrentTimestamp();
	run->session_lock = commits;
	run_lock_tag(&tag, run->run_id);
	(void) LockAcquire(&tag, ExclusiveLock, commits, false);
	ereport(NOTICE,
			(errmsg("refresh run " INT64_FORMAT " as of %s: " INT64_FORMAT " customers",
					run->run_id, DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(as_of))),
					run->total)));
}

/* the rate so far, in customers per second */
static double
run_rate(const RunLog *run, TimestampTz now)
{
	double		secs = (double) (now - run->started) / USECS_PER_SEC;

	return secs > 0 ? run->done / secs : 0;
}

/*
 * The counts after a batch (totals so far), written to the run's row; a
 * NOTICE when refresh_progress_interval has passed since the last one.
 */
void
crm_run_progress(RunLog *run, int64 done, int64 stages, int64 levels)
{
	Oid			types[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		args[4];
	TimestampTz now = GetCurrentTimestamp();

	run->done = done;
	run->stages = stages;
	run->levels = levels;
	args[0] = Int64GetDatum(run->run_id);
	args[1] = Int64GetDatum(done);
	args[2] = Int64GetDatum(stages);
	args[3] = Int64GetDatum(levels);
	run_execute("UPDATE crm.refresh_runs SET customers_done = $2, stages_changed = $3, levels_changed = $4, "
				"updated_at = pg_catalog.clock_timestamp() WHERE run_id = $1",
				4, types, args, SPI_OK_UPDATE);
	if ((now - run->last_notice) / 1000 >= run->interval_ms)
	{
		run->last_notice = now;
		ereport(NOTICE,
				(errmsg("refresh run " INT64_FORMAT ": " INT64_FORMAT " of " INT64_FORMAT " customers (%.0f%%), %.0f per second",
						run->run_id, done, run->total, run->total > 0 ? 100.0 * done / run->total : 100.0,
						run_rate(run, now))));
	}
}

static void
run_unlock(RunLog *run)
{
	LOCKTAG		tag;

	run_lock_tag(&tag, run->run_id);
	(void) LockRelease(&tag, ExclusiveLock, run->session_lock);
}

/* the run ended well: succeeded, with its duration */
void
crm_run_finish(RunLog *run)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(run->run_id)};
	TimestampTz now = GetCurrentTimestamp();

	run_execute("UPDATE crm.refresh_runs SET status = 'succeeded', finished_at = pg_catalog.clock_timestamp(), "
				"updated_at = pg_catalog.clock_timestamp() WHERE run_id = $1",
				1, types, args, SPI_OK_UPDATE);
	run_unlock(run);
	ereport(NOTICE,
			(errmsg("refresh run " INT64_FORMAT " succeeded: " INT64_FORMAT " customers in %.1f s (%.0f per second), "
					INT64_FORMAT " stage and " INT64_FORMAT " level changes",
					run->run_id, run->done, (double) (now - run->started) / USECS_PER_SEC, run_rate(run, now),
					run->stages, run->levels)));
}

/*
 * The run failed with edata: recorded with its message and SQLSTATE, and
 * the counts of the batches that committed.  Called in a transaction
 * that is not the failed one.
 */
void
crm_run_failed(RunLog *run, const ErrorData *edata)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		args[3];

	args[0] = Int64GetDatum(run->run_id);
	args[1] = CStringGetTextDatum(edata->message ? edata->message : "unknown error");
	args[2] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	run_execute("UPDATE crm.refresh_runs SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), "
				"updated_at = pg_catalog.clock_timestamp(), error = $2, sqlstate = $3 WHERE run_id = $1",
				3, types, args, SPI_OK_UPDATE);
	run_unlock(run);
}
