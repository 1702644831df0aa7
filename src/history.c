/*-------------------------------------------------------------------------
 *
 * history.c
 *	  A customer's stored history as the order trigger's writer changes it:
 *	  the row's crm.summary, sealed when it grows long, and the sealed days
 *	  kept one calendar month a row in crm.summary_blocks.
 *
 * Every order rewrites the customer's row, so the row must not grow with
 * the relationship.  A summary with more than SUMMARY_SEAL_FIRST days (or,
 * once sealed, more than SUMMARY_SEAL_AGAIN days after its seal) is sealed
 * by the writer: all but its SUMMARY_SEAL_KEEP newest days (and none after
 * the business date) move to crm.summary_blocks, and the row keeps their
 * exact totals (summary_kernel.c, "Sealed histories").  So the row of a
 * customer with ten thousand purchase days holds at most 16 days and the
 * totals, and an order writes the row alone, plus one or two block rows
 * every twelve purchase days when it seals.
 *
 * What each order reads and writes, for a sealed customer:
 *	- an order after the seal date changes the row's recent days only;
 *	- the stage windows of the business date, (as_of - 2w, as_of], reach
 *	  back before the seal date: the blocks of those months are read (not
 *	  written) and lent to the view the score and the stage read, so both
 *	  are what the full day list gives;
 *	- an order on or before the seal date (a late correction, a deleted
 *	  old order) is applied to its month's block, and the sealed totals are
 *	  summed again over every block (read, not written; such orders are
 *	  rare, and a removed first or last purchase day cannot be mended from
 *	  the totals alone);
 *	- a business date before the seal date reads every block (a replay).
 * The blocks are read through the primary key with the latest snapshot,
 * as the writer reads the row, and written (through SPI: rare) after the
 * row: a concurrent writer of the same
 * customer waits on the row and then reads both anew (customer.c), so a
 * customer's blocks change only under its row's lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "parser/parse_type.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "history.h"
#include "sqlnames.h"

/*
 * Whether the writer seals long histories: not when it writes a shard of
 * crm.customers on Citus (shard.c), whose blocks are not in reach
 * (crm.summary_blocks by name is the distributed table, not the shard).
 */
bool		crm_history_sealing = true;

#define NONE_LOADED		PG_INT32_MAX	/* loaded_from: no month read */
#define EARLIEST_MONTH	PG_INT32_MIN	/* load_months(): from the first */

static SPIPlanPtr upsert_plan = NULL;
static SPIPlanPtr delete_plan = NULL;

static SPIPlanPtr
prepare_plan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "crm: could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/* the plans that write blocks, prepared once per backend (inside SPI) */
static void
prepare_plans(void)
{
	Oid			types[3] = {INT8OID, DATEOID, InvalidOid};
	int32		typmod;

	if (upsert_plan != NULL)
		return;
	parseTypeString(CRM_TYPE_SUMMARY, &types[2], &typmod, false);
	upsert_plan = prepare_plan("INSERT INTO crm." CRM_SUMMARY_BLOCKS " AS b (" CRM_BLOCK_CUSTOMER ", "
							   CRM_BLOCK_MONTH ", " CRM_BLOCK_DAYS ") VALUES ($1, $2, $3)"
							   " ON CONFLICT (" CRM_BLOCK_CUSTOMER ", " CRM_BLOCK_MONTH ")"
							   " DO UPDATE SET " CRM_BLOCK_DAYS " = excluded." CRM_BLOCK_DAYS, 3, types);
	delete_plan = prepare_plan("DELETE FROM crm." CRM_SUMMARY_BLOCKS " WHERE " CRM_BLOCK_CUSTOMER " = $1"
							   " AND " CRM_BLOCK_MONTH " = $2", 2, types);
}

/* the error of a change the history cannot take */
static void
history_check(SummaryStatus st, int64 customer, const char *relname)
{
	if (st == SUMMARY_NOT_PRESENT)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the summary of customer " INT64_FORMAT " does not hold an order removed from \"%s\"",
						customer, relname),
				 errdetail("Likely causes: orders written while the table's triggers were off (session_replication_role = replica, ALTER TABLE ... DISABLE TRIGGER), the filter, amount or zone of the table changed by hand in crm.tracked_tables or crm.settings, or the summary edited in crm.customers."),
				 errhint("Recompute every customer from the orders with CALL crm.rebuild_summaries(), then repeat the statement.")));
	else if (st != SUMMARY_OK)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the summary of customer " INT64_FORMAT " is out of range", customer)));
}

/* make room for "extra" more days in a block */
static void
block_reserve(HistoryBlock *b, int extra)
{
	int			needed = b->ndays + extra;

	if (needed <= b->capacity)
		return;
	b->capacity = Max(needed, 2 * b->capacity);
	b->days = b->days ? repalloc(b->days, b->capacity * sizeof(SummaryDay))
		: palloc(b->capacity * sizeof(SummaryDay));
}

/*
 * The block of "month" among those in memory; with create, an empty one
 * is made when it is not there (the caller knows it is not stored, or has
 * read its month).
 */
static HistoryBlock *
find_block(CustomerHistory *h, int32 month, bool create)
{
	int			i;

	for (i = 0; i < h->nblocks && h->blocks[i].month <= month; i++)
		if (h->blocks[i].month == month)
			return &h->blocks[i];
	if (!create)
		return NULL;
	if (h->nblocks == h->maxblocks)
	{
		h->maxblocks = Max(8, 2 * h->maxblocks);
		h->blocks = h->blocks ? repalloc(h->blocks, h->maxblocks * sizeof(HistoryBlock))
			: palloc(h->maxblocks * sizeof(HistoryBlock));
	}
	memmove(&h->blocks[i + 1], &h->blocks[i], (h->nblocks - i) * sizeof(HistoryBlock));
	h->nblocks++;
	memset(&h->blocks[i], 0, sizeof(HistoryBlock));
	h->blocks[i].month = month;
	return &h->blocks[i];
}

/*
 * Read the stored blocks of the months from "from" up to the months read
 * already (or all on), through the primary key with the latest snapshot,
 * as the writer reads the row (no query: the stage windows read these for
 * every order of a sealed customer).  Blocks in memory are newer than
 * their stored rows and are kept.
 */
static void
load_months(CustomerHistory *h, int32 from)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData keys[3];
	Snapshot	snapshot;
	HeapTuple	tup;
	AttrNumber	customer_att;
	AttrNumber	month_att;
	AttrNumber	days_att;

	if (from >= h->loaded_from)
		return;
	rel = table_open(crm_relid(CRM_SUMMARY_BLOCKS), AccessShareLock);
	customer_att = get_attnum(RelationGetRelid(rel), CRM_BLOCK_CUSTOMER);
	month_att = get_attnum(RelationGetRelid(rel), CRM_BLOCK_MONTH);
	days_att = get_attnum(RelationGetRelid(rel), CRM_BLOCK_DAYS);
	if (customer_att == InvalidAttrNumber || month_att == InvalidAttrNumber || days_att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("crm." CRM_SUMMARY_BLOCKS " lacks a column the order trigger reads"),
				 errhint(CRM_OBJECT_MISSING_HINT)));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&keys[0], customer_att, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(h->customer));
	ScanKeyInit(&keys[1], month_att, BTGreaterEqualStrategyNumber, F_DATE_GE,
				DateADTGetDatum(from == EARLIEST_MONTH ? DATEVAL_NOBEGIN : from));
	ScanKeyInit(&keys[2], month_att, BTLessEqualStrategyNumber, F_DATE_LE,
				DateADTGetDatum(h->loaded_from == NONE_LOADED ? DATEVAL_NOEND : h->loaded_from - 1));
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true, snapshot, 3, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		int32		month = DatumGetDateADT(heap_getattr(tup, month_att, RelationGetDescr(rel), &isnull));
		Summary    *s = DatumGetSummaryP(heap_getattr(tup, days_att, RelationGetDescr(rel), &isnull));
		HistoryBlock *b;

		if (SUMMARY_IS_SEALED(s) || (s->ndays > 0 && crm_month_start(s->days[0].day) != month) ||
			(s->ndays > 0 && crm_month_start(s->days[s->ndays - 1].day) != month))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("crm.summary_blocks of customer " INT64_FORMAT " holds days outside their month", h->customer),
					 errhint("Recompute with CALL crm.rebuild_summaries().")));
		b = find_block(h, month, false);
		if (b == NULL)
		{
			b = find_block(h, month, true);
			block_reserve(b, s->ndays);
			memcpy(b->days, s->days, s->ndays * sizeof(SummaryDay));
			b->ndays = s->ndays;
		}
		b->stored = true;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	h->loaded_from = from;
}

/* apply the changes of a month to its block (read first) */
static void
change_block(CustomerHistory *h, int32 month, const SummaryChange *changes, int n,
			 const char *relname)
{
	HistoryBlock *b = find_block(h, month, true);
	int			nadd = 0;
	int			i;

	for (i = 0; i < n; i++)
		nadd += !changes[i].remove;
	block_reserve(b, nadd + 1);
	history_check(summary_apply_changes(b->days, &b->ndays, changes, n), h->customer, relname);
	b->dirty = true;
}

/*
 * Changes of sealed days (on or before the seal date, sorted by day): to
 * their blocks, after which the sealed totals are summed again over every
 * block.
 */
static void
change_sealed_days(CustomerHistory *h, SummaryChange *back, int nback,
				   SummaryStats *sealed, const char *relname)
{
	int			i = 0;
	int			j;

	load_months(h, EARLIEST_MONTH);
	while (i < nback)
	{
		int32		month = crm_month_start(back[i].day);

		for (j = i; j < nback && crm_month_start(back[j].day) == month; j++)
			;
		change_block(h, month, back + i, j - i, relname);
		i = j;
	}
	memset(sealed, 0, sizeof(*sealed));
	for (i = 0; i < h->nblocks; i++)
	{
		SummaryStats st;

		history_check(summary_stats(h->blocks[i].days, h->blocks[i].ndays, &st), h->customer, relname);
		history_check(summary_stats_concat(sealed, &st), h->customer, relname);
	}
}

/*
 * Seal days[0 .. k-1] (all after the seal date, if any): into their
 * months' blocks, their totals onto *sealed.
 */
static void
seal_days(CustomerHistory *h, const SummaryDay *days, int k, bool was_sealed,
		  SummaryStats *sealed, const char *relname)
{
	SummaryStats st;
	int			i = 0;
	int			j;

	/* only the month of the old seal date can hold stored days already */
	if (was_sealed)
		load_months(h, crm_month_start(days[0].day));
	while (i < k)
	{
		int32		month = crm_month_start(days[i].day);
		HistoryBlock *b;

		for (j = i; j < k && crm_month_start(days[j].day) == month; j++)
			;
		b = find_block(h, month, true);
		block_reserve(b, j - i);
		history_check(summary_merge_into(b->days, &b->ndays, days + i, j - i), h->customer, relname);
		b->dirty = true;
		i = j;
	}
	history_check(summary_stats(days, k, &st), h->customer, relname);
	history_check(summary_stats_concat(sealed, &st), h->customer, relname);
}

/*
 * The view the score, the stage walk and the level read, for a history
 * that was sealed before this statement: "sealed" and "through" are that
 * seal (this statement's sealing moved more days out of the row, but the
 * walk from the last evaluation may ask about days before the new seal
 * date, never before the old one: the writer's evaluation date is never
 * before the seal it wrote).  The readers ask for the stats as of
 * first_day and later, and for windows from window_from on:
 *	- the row's own view when it answers all that;
 *	- every block lent, and nothing sealed in the view, when first_day
 *	  falls before the seal date (a walk from the first purchase, after
 *	  crm.seal_customers() or an upgrade sealed a customer never scored;
 *	  a business date before the seal date);
 *	- else the blocks from window_from on lent to the old seal.
 */
static void
build_view(CustomerHistory *h, int32 first_day, int64 window_from,
		   const SummaryStats *sealed, int32 through)
{
	Summary    *s = h->summary;
	SummaryView row;
	int64		known_after;
	SummaryDay *days;
	int			n = 0;
	int			i;

	crm_summary_view(s, &row);
	if (s == NULL || !SUMMARY_IS_SEALED(s) ||
		(row.through == through && first_day >= through && window_from >= through))
	{
		h->view = row;
		return;
	}
	known_after = first_day >= through ? Max(Min(window_from, (int64) through), (int64) PG_INT32_MIN + 1)
		: PG_INT32_MIN;
	load_months(h, known_after == PG_INT32_MIN ? EARLIEST_MONTH : crm_month_start((int32) known_after + 1));
	for (i = 0; i < h->nblocks; i++)
		n += h->blocks[i].ndays;
	days = palloc((n + s->ndays + 1) * sizeof(SummaryDay));
	n = 0;
	for (i = 0; i < h->nblocks; i++)
	{
		const HistoryBlock *b = &h->blocks[i];
		int			j;

		for (j = 0; j < b->ndays; j++)
			if (b->days[j].day > known_after)
				days[n++] = b->days[j];
	}
	if (s->ndays > 0)
		memcpy(days + n, s->days, s->ndays * sizeof(SummaryDay));
	n += s->ndays;
	summary_view_init(&h->view, days, n);
	if (known_after != PG_INT32_MIN)
	{
		h->view.sealed = *sealed;
		h->view.through = through;
		h->view.known_after = (int32) known_after;
	}
}

static int
change_cmp(const void *a, const void *b)
{
	int32		da = ((const SummaryChange *) a)->day;
	int32		db = ((const SummaryChange *) b)->day;

	return (da > db) - (da < db);
}

/*
 * A customer's history with a statement's changes applied, sealed as the
 * policy says (summary_seal_point(), never past as_of), and the view the
 * score, the stage walk and the level of as_of read: it answers the stats
 * as of first_day and later and every day after needed_from (the
 * caller's earliest window start); nothing is written yet
 * (crm_history_write()).  old: the row's summary, NULL when none.
 */
void
crm_history_apply(CustomerHistory *h, int64 customer, Summary *old,
				  const SummaryChange *changes, int nchanges,
				  int32 as_of, int32 first_day, int64 needed_from, const char *relname)
{
	bool		was_sealed = old != NULL && SUMMARY_IS_SEALED(old);
	bool		sealed_now;
	SummaryView v;
	SummaryStats sealed;
	SummaryStats sealed_before;
	int32		through_before;
	SummaryDay *days;
	int			n = old ? old->ndays : 0;
	int			nadd = 0;
	int			k;
	int			i;

	memset(h, 0, sizeof(*h));
	h->customer = customer;
	h->loaded_from = NONE_LOADED;
	for (i = 0; i < nchanges; i++)
		nadd += !changes[i].remove;
	days = palloc((n + nadd + 1) * sizeof(SummaryDay));
	if (n > 0)
		memcpy(days, old->days, n * sizeof(SummaryDay));
	crm_summary_view(old, &v);
	sealed = v.sealed;
	if (!was_sealed)
		history_check(summary_apply_changes(days, &n, changes, nchanges), customer, relname);
	else
	{
		SummaryChange *late = palloc((nchanges + 1) * sizeof(SummaryChange));
		SummaryChange *back = palloc((nchanges + 1) * sizeof(SummaryChange));
		int			nlate = 0;
		int			nback = 0;

		for (i = 0; i < nchanges; i++)
		{
			if (changes[i].day > v.through)
				late[nlate++] = changes[i];
			else
				back[nback++] = changes[i];
		}
		history_check(summary_apply_changes(days, &n, late, nlate), customer, relname);
		if (nback > 0)
		{
			qsort(back, nback, sizeof(SummaryChange), change_cmp);
			change_sealed_days(h, back, nback, &sealed, relname);
		}
	}

	/* the seal before this statement's, for the view (build_view()) */
	sealed_before = sealed;
	through_before = v.through;

	/* seal what the policy says, never a day after as_of (and not on a shard) */
	k = crm_history_sealing ? Min(summary_seal_point(n, was_sealed), summary_cut(days, n, as_of)) : 0;
	sealed_now = was_sealed;
	if (k > 0)
	{
		seal_days(h, days, k, was_sealed, &sealed, relname);
		v.through = days[k - 1].day;
		days += k;
		n -= k;
		sealed_now = true;
	}
	/* every sealed day gone (their blocks are empty, and deleted) */
	if (sealed_now && sealed.purchase_days == 0 && sealed.total == 0)
		sealed_now = false;

	if (!sealed_now)
		h->summary = n > 0 ? crm_summary_build(days, n) : NULL;
	else
		h->summary = crm_summary_build_sealed(&sealed, v.through, days, n);
	if (!was_sealed && sealed_now)
	{
		/* every day is still at hand: the view of the full run */
		summary_view_init(&h->view, days - k, n + k);
		return;
	}
	build_view(h, Min(first_day, as_of), needed_from, &sealed_before, through_before);
}

/*
 * Write the blocks crm_history_apply() changed, once the customer's row
 * is written (and locked by that write).
 */
void
crm_history_write(CustomerHistory *h)
{
	Datum		args[3];
	int			i;

	for (i = 0; i < h->nblocks && !h->blocks[i].dirty; i++)
		;
	if (i == h->nblocks)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm: SPI_connect failed");
	prepare_plans();
	args[0] = Int64GetDatum(h->customer);
	for (; i < h->nblocks; i++)
	{
		HistoryBlock *b = &h->blocks[i];
		int			rc;

		if (!b->dirty || (b->ndays == 0 && !b->stored))
			continue;
		args[1] = DateADTGetDatum(b->month);
		if (b->ndays == 0)
			rc = SPI_execute_snapshot(delete_plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
									  false, true, 0) == SPI_OK_DELETE;
		else
		{
			args[2] = PointerGetDatum(crm_summary_build(b->days, b->ndays));
			rc = SPI_execute_snapshot(upsert_plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
									  false, true, 0) == SPI_OK_INSERT;
		}
		if (!rc)
			elog(ERROR, "crm: could not write crm." CRM_SUMMARY_BLOCKS);
	}
	SPI_finish();
}
