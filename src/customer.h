/*-------------------------------------------------------------------------
 *
 * customer.h
 *	  Writing customers' maintained state without a query (customer.c),
 *	  for the order trigger (track.c).
 *
 * A writer lives for one trigger call: begin, apply each customer's order
 * changes in customer_id order, end (which fires the row triggers the
 * writes queued).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_CUSTOMER_H
#define CRM_CUSTOMER_H

#include "utils/array.h"

#include "level_kernel.h"
#include "summary.h"

typedef struct CustomerWriter CustomerWriter;

/*
 * The relations a writer writes instead of crm.customers, crm.stage_history
 * and reads instead of crm.complaints and its customer index: on Citus,
 * a shard of crm.customers and its co-located shards (shard.c).
 */
typedef struct CrmWriterTarget
{
	Oid			customers;
	Oid			history;
	Oid			complaints;
	Oid			complaints_index;
} CrmWriterTarget;

/* source: of the history rows it writes; NULL for the table's default */
extern CustomerWriter *crm_writer_begin(const char *source);
extern CustomerWriter *crm_writer_begin_on(const char *source, const CrmWriterTarget *target);

/*
 * Apply changes to customer's row as of the business date as_of (relname:
 * the order table, for errors).  False, nothing written, when the customer
 * is not in crm.customers and create is false.
 */
extern bool crm_writer_apply(CustomerWriter *w, int64 customer, const SummaryChange *changes,
							 int nchanges, int32 as_of, const char *relname, bool create);
extern bool crm_writer_merge(CustomerWriter *w, int64 customer, const SummaryChange *changes,
							 int nchanges, int32 as_of, const char *relname, bool create,
							 const LevelSignals *level);
extern bool crm_writer_rescore(CustomerWriter *w, int64 customer, int32 as_of,
							   const LevelSignals *level);
extern void crm_writer_changes(const CustomerWriter *w, int64 *stages, int64 *levels);
extern void crm_writer_end(CustomerWriter *w);

/*
 * Customer ids as writers take them, ascending and each once: from an
 * int8[] (NULLs skipped), from the first column of the query SPI just
 * ran, or ids[0..n-1] sorted in place (the new count returned).
 */
extern int64 *crm_customer_ids_from_array(ArrayType *ids, int *n);
extern int64 *crm_customer_ids_from_spi(int *n);
extern int	crm_customer_ids_sort(int64 *ids, int n);

#endif							/* CRM_CUSTOMER_H */
