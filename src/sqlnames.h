/*-------------------------------------------------------------------------
 *
 * sqlnames.h
 *	  The SQL objects of the install script that the C code finds by name,
 *	  all in one place.
 *
 * Renaming one of these in sql/install/ without changing it here breaks
 * the C code that relies on it (or, for the constraint and trigger names,
 * silently turns off a shortcut of the order trigger's writer).  So the
 * list below is also what crm.c_dependencies() returns, and the suite
 * (test/pgtap/extension.sql) checks that every object in it exists as the
 * C code expects.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SQLNAMES_H
#define CRM_SQLNAMES_H

/* tables in schema crm (crm_relid() takes the bare name) */
#define CRM_CUSTOMERS			"customers"
#define CRM_STAGE_HISTORY		"stage_history"
#define CRM_SCORING				"scoring"
#define CRM_STAGE_THRESHOLDS	"stage_thresholds"
#define CRM_SUMMARY_BLOCKS		"summary_blocks"

/* the columns of crm.summary_blocks (history.c) */
#define CRM_BLOCK_CUSTOMER		"customer_id"
#define CRM_BLOCK_MONTH			"month"
#define CRM_BLOCK_DAYS			"days"

/*
 * crm's own CHECK constraints the writer need not evaluate (customer.c,
 * needs_constraints() and learn_history()), and the stage guard it need
 * not fire (has_before_triggers())
 */
#define CRM_CUSTOMERS_KIND_CHECK	"customers_kind_check"
#define CRM_CUSTOMERS_SERVICE_LEVEL_CHECK "customers_service_level_check"
#define CRM_HISTORY_SOURCE_CHECK	"stage_history_source_check"
#define CRM_STAGE_GUARD				"stage_guard"

/* types */
#define CRM_TYPE_STAGE			"crm.stage"
#define CRM_TYPE_LEVEL			"crm.relationship_level"
#define CRM_TYPE_SUMMARY		"crm.summary"

/* the labels of crm.relationship_level, in order (level_kernel.h's CrmLevel) */
#define CRM_LEVEL_LABELS(X) \
	X("transaction") X("trust") X("cooperation") X("loyalty") X("partnership")

/* complaints: the writer reads a customer's through this index */
#define CRM_COMPLAINTS			"complaints"
#define CRM_COMPLAINTS_INDEX	"complaints_customer"

/* the segment scheme the maintained segment is classified by */
#define CRM_RFM_SCHEME			"rfm_segments"

/*
 * The columns of crm.customers and crm.stage_history the writer reads and
 * writes (customer.c builds its column enums from these lists).
 */
#define CRM_CUSTOMER_COLUMNS(X) \
	X(CUST_ID, "customer_id") \
	X(CUST_SUMMARY, "summary") \
	X(CUST_RFM, "rfm") \
	X(CUST_SEGMENT, "segment") \
	X(CUST_SCORED_ON, "scored_on") \
	X(CUST_STAGE, "stage") \
	X(CUST_STAGE_REASON, "stage_reason") \
	X(CUST_STAGE_SINCE, "stage_since") \
	X(CUST_LEVEL, "level") \
	X(CUST_LEVEL_REASON, "level_reason") \
	X(CUST_LEVEL_SINCE, "level_since") \
	X(CUST_ACCOUNT_MANAGER, "account_manager")

#define CRM_HISTORY_COLUMNS(X) \
	X(HIST_CUSTOMER, "customer_id") \
	X(HIST_FROM_STAGE, "from_stage") \
	X(HIST_TO_STAGE, "to_stage") \
	X(HIST_FROM_LEVEL, "from_level") \
	X(HIST_TO_LEVEL, "to_level") \
	X(HIST_SOURCE, "source") \
	X(HIST_REASON, "reason") \
	X(HIST_CHANGED_AT, "changed_at")

#define CRM_COLUMN_ID(id, name) id,
#define CRM_COLUMN_NAME(id, name) name,

typedef enum CustomerColumn
{
	CRM_CUSTOMER_COLUMNS(CRM_COLUMN_ID)
	CUST_NCOLS
} CustomerColumn;

typedef enum HistoryColumn
{
	CRM_HISTORY_COLUMNS(CRM_COLUMN_ID)
	HIST_NCOLS
} HistoryColumn;

static inline const char *
crm_customer_column(CustomerColumn c)
{
	static const char *const names[] = {CRM_CUSTOMER_COLUMNS(CRM_COLUMN_NAME)};

	return names[c];
}

static inline const char *
crm_history_column(HistoryColumn c)
{
	static const char *const names[] = {CRM_HISTORY_COLUMNS(CRM_COLUMN_NAME)};

	return names[c];
}

/*
 * Every object above as (kind, name) for crm.c_dependencies(); columns and
 * constraints as table.name, triggers as table.name.
 */
#define CRM_SQL_OBJECTS(X) \
	X("table", "crm." CRM_CUSTOMERS) \
	X("table", "crm." CRM_STAGE_HISTORY) \
	X("table", "crm." CRM_SCORING) \
	X("table", "crm." CRM_STAGE_THRESHOLDS) \
	X("table", "crm." CRM_COMPLAINTS) \
	X("index", "crm." CRM_COMPLAINTS_INDEX) \
	X("column", "crm." CRM_COMPLAINTS ".customer_id") \
	X("column", "crm." CRM_COMPLAINTS ".opened_at") \
	X("table", "crm." CRM_SUMMARY_BLOCKS) \
	X("column", "crm." CRM_SUMMARY_BLOCKS "." CRM_BLOCK_CUSTOMER) \
	X("column", "crm." CRM_SUMMARY_BLOCKS "." CRM_BLOCK_MONTH) \
	X("column", "crm." CRM_SUMMARY_BLOCKS "." CRM_BLOCK_DAYS) \
	X("column", "crm." CRM_SCORING ".cutpoints") \
	X("column", "crm." CRM_STAGE_THRESHOLDS ".name") \
	X("column", "crm." CRM_STAGE_THRESHOLDS ".value") \
	X("constraint", "crm." CRM_CUSTOMERS "." CRM_CUSTOMERS_KIND_CHECK) \
	X("constraint", "crm." CRM_CUSTOMERS "." CRM_CUSTOMERS_SERVICE_LEVEL_CHECK) \
	X("constraint", "crm." CRM_STAGE_HISTORY "." CRM_HISTORY_SOURCE_CHECK) \
	X("trigger", "crm." CRM_CUSTOMERS "." CRM_STAGE_GUARD) \
	X("type", CRM_TYPE_STAGE) \
	X("type", CRM_TYPE_LEVEL) \
	X("type", CRM_TYPE_SUMMARY) \
	X("segment scheme", CRM_RFM_SCHEME)

#endif							/* CRM_SQLNAMES_H */
