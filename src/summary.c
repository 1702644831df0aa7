/*-------------------------------------------------------------------------
 *
 * summary.c
 *	  SQL interface of crm.summary: type I/O, the summarize() aggregates,
 *	  maintenance functions (add, remove, merge) and accessors.
 *
 * The representation and its rules live in summary_kernel.c.  This file
 * turns kernel status codes into errors and keeps memory where the
 * executor expects it.
 *
 * The aggregate's transition state (SummaryState) is an appendable run of
 * days in the aggregate context.  Rows of one customer usually arrive in
 * date order, so a transaction either folds into the last day or is
 * appended; an out-of-order row only clears the "normalized" flag, and the
 * run is sorted and folded (summary_normalize) when it has to be read: on
 * growth, at the final function and before a merge.  Partial states cross
 * process boundaries serialized in exactly the on-disk layout of
 * crm.summary, so serializing is one memcpy and a parallel plan reaches
 * the same bytes as a serial one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/tuplestore.h"

#include "agg_state.h"
#include "summary.h"

/*
 * State sizes are chosen so that header plus days fill a power-of-two
 * allocation exactly (16 + 7 * 16 = 128 bytes, then 256, 512 ...): the
 * allocator rounds requests up to a power of two anyway, and most customers
 * then never need a second allocation.
 */
#define SUMMARY_INITIAL_CAPACITY	7

typedef struct SummaryState
{
	int32		ndays;
	int32		capacity;
	bool		normalized;		/* days strictly increasing, none empty */
	SummaryDay	days[FLEXIBLE_ARRAY_MEMBER];
} SummaryState;

#define STATE_SIZE(cap) (offsetof(SummaryState, days) + (cap) * sizeof(SummaryDay))
StaticAssertDecl(offsetof(SummaryState, days) == 16, "the state header is 16 bytes");

/* the range of purchase dates the text form can spell: 0001-01-01 .. 9999-12-31 */
#define SUMMARY_MIN_DAY (-730119)	/* date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE */
#define SUMMARY_MAX_DAY (2921939)	/* date2j(9999, 12, 31) - POSTGRES_EPOCH_JDATE */

/*
 * Raise the error matching a kernel status.  "what" names the argument or
 * operation for the message.
 */
void
crm_summary_check(SummaryStatus st, const char *what)
{
	switch (st)
	{
		case SUMMARY_OK:
			return;
		case SUMMARY_MONEY_OVERFLOW:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("summary amount out of range in %s", what),
					 errdetail("A day's or a customer's total must lie within +/-922337203685477.")));
			break;
		case SUMMARY_COUNT_OVERFLOW:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("too many purchases on one day in %s", what)));
			break;
		case SUMMARY_NOT_PRESENT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: the summary holds no such transaction", what),
					 errhint("A transaction can only be removed from a summary it was added to.")));
			break;
		case SUMMARY_SEALED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s needs days that this crm.summary holds only as sealed totals", what),
					 errdetail("A sealed summary answers questions about its history as of its seal date or later; the sealed days of a customer are kept in crm.summary_blocks."),
					 errhint("Use crm.full_summary(customer_id, summary) for the full history of a customer.")));
			break;
		case SUMMARY_UNSORTED:
		case SUMMARY_BAD_DAY:
		case SUMMARY_BAD_SEAL:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("corrupt crm.summary in %s", what)));
			break;
	}
}

static void
check_purchase_day(int32 day, const char *argname)
{
	crm_check_finite_date(day, argname);
	if (day < SUMMARY_MIN_DAY || day > SUMMARY_MAX_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range for a crm.summary", argname),
				 errdetail("Purchase dates must lie between 0001-01-01 and 9999-12-31.")));
}

/*
 * Detoast a summary and check that this release can read it.  Small
 * summaries are stored with a short varlena header; PG_DETOAST_DATUM copies
 * those to an aligned buffer, which days[] needs.
 */
Summary *
crm_summary_from_datum(Datum d)
{
	Summary    *s = (Summary *) PG_DETOAST_DATUM(d);

	if (s->version != SUMMARY_VERSION && s->version != SUMMARY_VERSION_SEALED)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("unsupported crm.summary version %d", s->version),
				 errhint("The value was written by another release of crm; run ALTER EXTENSION crm UPDATE.")));
	return s;
}

Summary *
crm_summary_build(const SummaryDay *days, int ndays)
{
	Summary    *s = palloc(SUMMARY_SIZE(ndays));

	SET_VARSIZE(s, SUMMARY_SIZE(ndays));
	s->version = SUMMARY_VERSION;
	s->flags = 0;
	s->reserved = 0;
	s->ndays = ndays;
	s->reserved2 = 0;
	if (ndays > 0)
		memcpy(s->days, days, ndays * sizeof(SummaryDay));
	return s;
}

/*
 * A sealed summary: the totals of the days on or before "through" and the
 * run of days after it.
 */
Summary *
crm_summary_build_sealed(const SummaryStats *sealed, int32 through,
						 const SummaryDay *days, int ndays)
{
	Summary    *s = palloc0(SUMMARY_SEALED_SIZE(ndays));
	SummarySeal *seal;

	SET_VARSIZE(s, SUMMARY_SEALED_SIZE(ndays));
	s->version = SUMMARY_VERSION_SEALED;
	s->ndays = ndays;
	if (ndays > 0)
		memcpy(s->days, days, ndays * sizeof(SummaryDay));
	seal = SUMMARY_SEAL(s);
	seal->through = through;
	seal->purchase_days = sealed->purchase_days;
	seal->first_purchase = sealed->purchase_days > 0 ? sealed->first_purchase : 0;
	seal->last_purchase = sealed->purchase_days > 0 ? sealed->last_purchase : 0;
	seal->purchases = sealed->purchases;
	seal->total = sealed->total;
	seal->repeat_total = sealed->repeat_total;
	seal->first_amount = sealed->first_amount;
	return s;
}

/* the sealed totals of a seal */
static void
seal_stats(const SummarySeal *seal, SummaryStats *st)
{
	st->purchase_days = seal->purchase_days;
	st->first_purchase = seal->first_purchase;
	st->last_purchase = seal->last_purchase;
	st->purchases = seal->purchases;
	st->total = seal->total;
	st->repeat_total = seal->repeat_total;
	st->first_amount = seal->first_amount;
}

/*
 * How the readers see s (NULL: no history): sealed or not, see
 * summary_kernel.c, "Sealed histories".
 */
void
crm_summary_view(Summary *s, SummaryView *v)
{
	summary_view_init(v, s ? s->days : NULL, s ? s->ndays : 0);
	if (s != NULL && SUMMARY_IS_SEALED(s))
	{
		seal_stats(SUMMARY_SEAL(s), &v->sealed);
		v->through = SUMMARY_SEAL(s)->through;
		v->known_after = v->through;
	}
}

/* ---------------------------------------------------------------------
 * Text and binary I/O
 *
 * Text form: {YYYY-MM-DD:amount[xN], ...} in increasing date order, where
 * amount is the day's net amount and N the number of purchases that day
 * (written only when it is not 1; x0 marks a refund-only day).  The empty
 * summary is {}.  A sealed summary starts with its seal:
 * {sealed 2024-06-30: days 812, orders 900, total 12345.5, first
 * 2001-01-02:19.9, last 2024-06-28, repeat 12325.6; 2024-07-01:19.9}
 * (first, last and repeat only when the sealed days hold a purchase day;
 * "first" carries that day's net amount).
 * ---------------------------------------------------------------------
 */

static void
summary_syntax_error(const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.summary: \"%s\"", str),
			 errdetail("%s", detail),
			 errhint("A summary reads like {2024-01-31:19.90,2024-02-14:5.50x2}.")));
}

static const char *
skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static bool
parse_digits(const char **pp, int n, int *value)
{
	const char *p = *pp;
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*pp = p + n;
	*value = v;
	return true;
}

/*
 * Parse a strict ISO date YYYY-MM-DD into a DateADT; false if malformed or
 * not a calendar day.
 */
static bool
parse_iso_date(const char **pp, int32 *day)
{
	const char *p = *pp;
	int			y,
				m,
				d,
				yy,
				mm,
				dd;
	int			jd;

	if (!parse_digits(&p, 4, &y) || *p++ != '-' ||
		!parse_digits(&p, 2, &m) || *p++ != '-' ||
		!parse_digits(&p, 2, &d))
		return false;
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	jd = date2j(y, m, d);
	j2date(jd, &yy, &mm, &dd);
	if (yy != y || mm != m || dd != d)
		return false;
	*day = jd - POSTGRES_EPOCH_JDATE;
	*pp = p;
	return true;
}

#define SEAL_SYNTAX "The seal reads \"sealed DATE: days N, orders N, total AMOUNT[, first DATE:AMOUNT, last DATE, repeat AMOUNT];\"."

/* the keyword kw (after white space) at p, or a syntax error */
static const char *
expect_keyword(const char *str, const char *p, const char *kw)
{
	size_t		len = strlen(kw);

	p = skip_space(p);
	if (strncmp(p, kw, len) != 0)
		summary_syntax_error(str, SEAL_SYNTAX);
	return skip_space(p + len);
}

static const char *
seal_count(const char *str, const char *p, int64 max, int64 *value)
{
	char	   *end;

	if (*p < '0' || *p > '9')
		summary_syntax_error(str, SEAL_SYNTAX);
	errno = 0;
	*value = strtoll(p, &end, 10);
	if (errno != 0 || *value > max)
		summary_syntax_error(str, "A sealed count is out of range.");
	return end;
}

static const char *
seal_amount(const char *str, const char *p, crm_money *value)
{
	if (!crm_money_parse(p, &p, value))
		summary_syntax_error(str, "An amount is a decimal number with at most 4 decimals.");
	return p;
}

static const char *
seal_date(const char *str, const char *p, int32 *day)
{
	if (!parse_iso_date(&p, day))
		summary_syntax_error(str, SEAL_SYNTAX);
	return p;
}

/* the seal after "sealed", up to and with its ";" */
static const char *
parse_seal(const char *str, const char *p, SummaryStats *st, int32 *through)
{
	int64		count;

	memset(st, 0, sizeof(*st));
	p = seal_date(str, skip_space(p), through);
	p = expect_keyword(str, p, ":");
	p = expect_keyword(str, p, "days");
	p = seal_count(str, p, PG_INT32_MAX, &count);
	st->purchase_days = (int32) count;
	p = expect_keyword(str, p, ",");
	p = expect_keyword(str, p, "orders");
	p = seal_count(str, p, PG_INT64_MAX, &st->purchases);
	p = expect_keyword(str, p, ",");
	p = seal_amount(str, expect_keyword(str, p, "total"), &st->total);
	p = skip_space(p);
	if (*p == ',')
	{
		p = seal_date(str, expect_keyword(str, p + 1, "first"), &st->first_purchase);
		p = seal_amount(str, expect_keyword(str, p, ":"), &st->first_amount);
		p = expect_keyword(str, p, ",");
		p = seal_date(str, expect_keyword(str, p, "last"), &st->last_purchase);
		p = expect_keyword(str, p, ",");
		p = seal_amount(str, expect_keyword(str, p, "repeat"), &st->repeat_total);
	}
	p = expect_keyword(str, p, ";");
	if (summary_seal_validate(st, *through) != SUMMARY_OK)
		summary_syntax_error(str, "The sealed totals are not those of any history (purchase days between first and last, orders at least purchase days, last on or before the seal date).");
	return p;
}

PG_FUNCTION_INFO_V1(summary_in);
Datum
summary_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	const char *p = skip_space(str);
	SummaryDay *days;
	int			ndays = 0;
	int			capacity = 8;
	bool		sealed = false;
	SummaryStats seal;
	int32		through = 0;

	days = palloc(capacity * sizeof(SummaryDay));
	if (*p++ != '{')
		summary_syntax_error(str, "A summary starts with \"{\".");
	p = skip_space(p);
	if (strncmp(p, "sealed", 6) == 0)
	{
		sealed = true;
		p = skip_space(parse_seal(str, p + 6, &seal, &through));
	}
	if (*p == '}')
		p++;
	else
	{
		for (;;)
		{
			SummaryDay	d;
			long		count = 1;

			p = skip_space(p);
			if (!parse_iso_date(&p, &d.day))
				summary_syntax_error(str, "Each day starts with a date written YYYY-MM-DD.");
			if (*p++ != ':')
				summary_syntax_error(str, "A date is followed by \":\" and the day's amount.");
			if (!crm_money_parse(p, &p, &d.amount))
				summary_syntax_error(str, "An amount is a decimal number with at most 4 decimals.");
			if (*p == 'x')
			{
				char	   *end;

				p++;
				if (*p < '0' || *p > '9')
					summary_syntax_error(str, "\"x\" is followed by the number of purchases.");
				errno = 0;
				count = strtol(p, &end, 10);
				if (errno != 0 || count > PG_INT32_MAX)
					summary_syntax_error(str, "The number of purchases is out of range.");
				p = end;
			}
			d.purchases = (int32) count;
			if (ndays > 0 && d.day <= days[ndays - 1].day)
				summary_syntax_error(str, "Days must be in strictly increasing order.");
			if (sealed && d.day <= through)
				summary_syntax_error(str, "The days of a sealed summary come after its seal date.");
			if (d.purchases == 0 && d.amount >= 0)
				summary_syntax_error(str, "A day without purchases (x0) holds refunds only, so its amount must be negative.");
			if (ndays == capacity)
			{
				capacity *= 2;
				days = repalloc(days, capacity * sizeof(SummaryDay));
			}
			days[ndays++] = d;
			p = skip_space(p);
			if (*p == ',')
			{
				p++;
				continue;
			}
			if (*p++ != '}')
				summary_syntax_error(str, "Days are separated by \",\" and the list ends with \"}\".");
			break;
		}
	}
	p = skip_space(p);
	if (*p != '\0')
		summary_syntax_error(str, "Unexpected text after \"}\".");
	if (sealed)
		PG_RETURN_SUMMARY_P(crm_summary_build_sealed(&seal, through, days, ndays));
	PG_RETURN_SUMMARY_P(crm_summary_build(days, ndays));
}

static void
append_date(StringInfo buf, int32 day)
{
	int			y,
				m,
				d;

	j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	appendStringInfo(buf, "%04d-%02d-%02d", y, m, d);
}

static void
append_money(StringInfo buf, crm_money amount)
{
	char		money[CRM_MONEY_MAXLEN];

	crm_money_format(amount, money);
	appendStringInfoString(buf, money);
}

PG_FUNCTION_INFO_V1(summary_out);
Datum
summary_out(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (SUMMARY_IS_SEALED(s))
	{
		const SummarySeal *seal = SUMMARY_SEAL(s);

		appendStringInfoString(&buf, "sealed ");
		append_date(&buf, seal->through);
		appendStringInfo(&buf, ": days %d, orders " INT64_FORMAT ", total ",
						 seal->purchase_days, seal->purchases);
		append_money(&buf, seal->total);
		if (seal->purchase_days > 0)
		{
			appendStringInfoString(&buf, ", first ");
			append_date(&buf, seal->first_purchase);
			appendStringInfoChar(&buf, ':');
			append_money(&buf, seal->first_amount);
			appendStringInfoString(&buf, ", last ");
			append_date(&buf, seal->last_purchase);
			appendStringInfoString(&buf, ", repeat ");
			append_money(&buf, seal->repeat_total);
		}
		appendStringInfoString(&buf, s->ndays > 0 ? "; " : ";");
	}
	for (i = 0; i < s->ndays; i++)
	{
		const SummaryDay *d = &s->days[i];

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		append_date(&buf, d->day);
		appendStringInfoChar(&buf, ':');
		append_money(&buf, d->amount);
		if (d->purchases != 1)
			appendStringInfo(&buf, "x%d", d->purchases);
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

/*
 * Binary form: version (1 byte), number of days (int4), then per day the
 * date (int4, days since 2000-01-01), purchases (int4) and amount (int8, in
 * 1/10000 units).  A sealed summary (version 2) has its seal between the
 * version and the number of days: seal date, purchase days, first and last
 * purchase day (int4 each), purchases, total, repeat total and the first
 * purchase day's amount (int8 each).
 */
PG_FUNCTION_INFO_V1(summary_recv);
Datum
summary_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version = pq_getmsgbyte(buf);
	int			ndays;
	SummaryDay *days;
	SummaryStats seal;
	int32		through = 0;
	int			i;

	if (version != SUMMARY_VERSION && version != SUMMARY_VERSION_SEALED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported crm.summary binary version %d", version)));
	if (version == SUMMARY_VERSION_SEALED)
	{
		memset(&seal, 0, sizeof(seal));
		through = pq_getmsgint(buf, 4);
		seal.purchase_days = pq_getmsgint(buf, 4);
		seal.first_purchase = pq_getmsgint(buf, 4);
		seal.last_purchase = pq_getmsgint(buf, 4);
		seal.purchases = pq_getmsgint64(buf);
		seal.total = pq_getmsgint64(buf);
		seal.repeat_total = pq_getmsgint64(buf);
		seal.first_amount = pq_getmsgint64(buf);
		if (through < SUMMARY_MIN_DAY || through > SUMMARY_MAX_DAY ||
			(seal.purchase_days > 0 && seal.first_purchase < SUMMARY_MIN_DAY) ||
			summary_seal_validate(&seal, through) != SUMMARY_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid seal in external crm.summary value")));
	}
	ndays = pq_getmsgint(buf, 4);
	if (ndays < 0 || ndays > (buf->len - buf->cursor) / 16)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid number of days in external crm.summary value: %d", ndays)));
	days = palloc(Max(ndays, 1) * sizeof(SummaryDay));
	for (i = 0; i < ndays; i++)
	{
		days[i].day = pq_getmsgint(buf, 4);
		days[i].purchases = pq_getmsgint(buf, 4);
		days[i].amount = pq_getmsgint64(buf);
		if (days[i].day < SUMMARY_MIN_DAY || days[i].day > SUMMARY_MAX_DAY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("date out of range in external crm.summary value")));
	}
	if (summary_validate(days, ndays) != SUMMARY_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external crm.summary value"),
				 errdetail("Days must be strictly increasing, and a day without purchases must have a negative amount.")));
	if (version == SUMMARY_VERSION_SEALED)
	{
		if (ndays > 0 && days[0].day <= through)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid external crm.summary value"),
					 errdetail("The days of a sealed summary come after its seal date.")));
		PG_RETURN_SUMMARY_P(crm_summary_build_sealed(&seal, through, days, ndays));
	}
	PG_RETURN_SUMMARY_P(crm_summary_build(days, ndays));
}

PG_FUNCTION_INFO_V1(summary_send);
Datum
summary_send(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	StringInfoData buf;
	int			i;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, s->version);
	if (SUMMARY_IS_SEALED(s))
	{
		const SummarySeal *seal = SUMMARY_SEAL(s);

		pq_sendint32(&buf, seal->through);
		pq_sendint32(&buf, seal->purchase_days);
		pq_sendint32(&buf, seal->first_purchase);
		pq_sendint32(&buf, seal->last_purchase);
		pq_sendint64(&buf, seal->purchases);
		pq_sendint64(&buf, seal->total);
		pq_sendint64(&buf, seal->repeat_total);
		pq_sendint64(&buf, seal->first_amount);
	}
	pq_sendint32(&buf, s->ndays);
	for (i = 0; i < s->ndays; i++)
	{
		pq_sendint32(&buf, s->days[i].day);
		pq_sendint32(&buf, s->days[i].purchases);
		pq_sendint64(&buf, s->days[i].amount);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * Equal histories have equal bytes (summary_kernel.c, invariant 3).
 */
static bool
summary_equal(Summary *a, Summary *b)
{
	return a->version == b->version && a->ndays == b->ndays &&
		memcmp(a->days, b->days, a->ndays * sizeof(SummaryDay)) == 0 &&
		(!SUMMARY_IS_SEALED(a) ||
		 memcmp(SUMMARY_SEAL(a), SUMMARY_SEAL(b), sizeof(SummarySeal)) == 0);
}

PG_FUNCTION_INFO_V1(summary_eq);
Datum
summary_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(summary_equal(PG_GETARG_SUMMARY_P(0), PG_GETARG_SUMMARY_P(1)));
}

PG_FUNCTION_INFO_V1(summary_ne);
Datum
summary_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!summary_equal(PG_GETARG_SUMMARY_P(0), PG_GETARG_SUMMARY_P(1)));
}

/* ---------------------------------------------------------------------
 * Aggregate support
 * ---------------------------------------------------------------------
 */

static SummaryState *
state_create(MemoryContext cxt, int capacity)
{
	SummaryState *st;

	if (capacity < SUMMARY_INITIAL_CAPACITY)
		capacity = SUMMARY_INITIAL_CAPACITY;
	st = MemoryContextAlloc(cxt, STATE_SIZE(capacity));
	st->ndays = 0;
	st->capacity = capacity;
	st->normalized = true;
	return st;
}

static void
state_normalize(SummaryState *st)
{
	if (!st->normalized)
	{
		crm_summary_check(summary_normalize(st->days, &st->ndays), "crm.summarize");
		st->normalized = true;
	}
}

/* make room for "extra" more days; the state keeps its memory context */
static SummaryState *
state_reserve(SummaryState *st, int extra)
{
	int			needed = st->ndays + extra;
	int			capacity = st->capacity;

	if (needed <= capacity)
		return st;
	while (capacity < needed)
		capacity = 2 * capacity + 1;
	st = repalloc(st, STATE_SIZE(capacity));
	st->capacity = capacity;
	return st;
}

static SummaryState *
state_add(SummaryState *st, MemoryContext aggcxt, int32 day, crm_money amount)
{
	if (st == NULL)
		st = state_create(aggcxt, SUMMARY_INITIAL_CAPACITY);
	else if (st->ndays == st->capacity)
	{
		/* folding repeated days may free room without growing */
		state_normalize(st);
		st = state_reserve(st, 1);
	}
	crm_summary_check(summary_append(st->days, &st->ndays, &st->normalized,
								 day, amount),
				  "crm.summarize");
	return st;
}

/* merge a normalized run of days into the state */
static SummaryState *
state_merge(SummaryState *st, const SummaryDay *days, int ndays)
{
	state_normalize(st);
	st = state_reserve(st, ndays);
	crm_summary_check(summary_merge_into(st->days, &st->ndays, days, ndays),
				  "crm.summarize");
	return st;
}

static MemoryContext
summary_aggcontext(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "%s called in non-aggregate context", fname);
	return aggcxt;
}

/* the amount argument, numeric or float8, as crm_money */
static crm_money
amount_arg(FunctionCallInfo fcinfo, int argno, bool is_numeric)
{
	if (is_numeric)
		return crm_numeric_to_money(PG_GETARG_DATUM(argno), "amount");
	return crm_float8_to_money(PG_GETARG_FLOAT8(argno), "amount");
}

/*
 * summarize(purchased_at date, amount numeric | float8): rows with a NULL
 * date or amount are skipped, as sum() skips NULLs.
 */
static Datum
summary_accum(FunctionCallInfo fcinfo, bool is_numeric)
{
	MemoryContext aggcxt = summary_aggcontext(fcinfo, "summary_accum");
	SummaryState *st = PG_ARGISNULL(0) ? NULL : (SummaryState *) PG_GETARG_POINTER(0);
	int32		day;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	day = PG_GETARG_DATEADT(1);
	check_purchase_day(day, "purchased_at");
	st = state_add(st, aggcxt, day, amount_arg(fcinfo, 2, is_numeric));
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(summary_accum_numeric);
Datum
summary_accum_numeric(PG_FUNCTION_ARGS)
{
	return summary_accum(fcinfo, true);
}

PG_FUNCTION_INFO_V1(summary_accum_float8);
Datum
summary_accum_float8(PG_FUNCTION_ARGS)
{
	return summary_accum(fcinfo, false);
}

/*
 * summarize(summary): merge stored summaries.  Over internal for a 0.3.0
 * database not yet updated; crm.summarize(crm.summary) of 0.4.0 calls it
 * over crm.agg_state (summary_state_accum, below).
 */
PG_FUNCTION_INFO_V1(summary_accum_summary);
Datum
summary_accum_summary(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = summary_aggcontext(fcinfo, "summary_accum_summary");
	SummaryState *st = PG_ARGISNULL(0) ? NULL : (SummaryState *) PG_GETARG_POINTER(0);
	Summary    *s;

	if (PG_ARGISNULL(1))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	s = PG_GETARG_SUMMARY_P(1);
	if (SUMMARY_IS_SEALED(s))
		crm_summary_check(SUMMARY_SEALED, "crm.summarize");
	if (st == NULL)
		st = state_create(aggcxt, s->ndays);
	st = state_merge(st, s->days, s->ndays);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(summary_combine);
Datum
summary_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = summary_aggcontext(fcinfo, "summary_combine");
	SummaryState *st1 = PG_ARGISNULL(0) ? NULL : (SummaryState *) PG_GETARG_POINTER(0);
	SummaryState *st2 = PG_ARGISNULL(1) ? NULL : (SummaryState *) PG_GETARG_POINTER(1);

	if (st2 == NULL)
	{
		if (st1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st1);
	}
	state_normalize(st2);
	if (st1 == NULL)
	{
		/* st2 may live in a short-lived context: copy it */
		st1 = state_create(aggcxt, st2->ndays);
		memcpy(st1->days, st2->days, st2->ndays * sizeof(SummaryDay));
		st1->ndays = st2->ndays;
		PG_RETURN_POINTER(st1);
	}
	st1 = state_merge(st1, st2->days, st2->ndays);
	PG_RETURN_POINTER(st1);
}

static Summary *
state_to_summary(SummaryState *st)
{
	state_normalize(st);
	return crm_summary_build(st->days, st->ndays);
}

PG_FUNCTION_INFO_V1(summary_final);
Datum
summary_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_SUMMARY_P(state_to_summary((SummaryState *) PG_GETARG_POINTER(0)));
}

/* the serialized state is a crm.summary in a bytea */
PG_FUNCTION_INFO_V1(summary_serialize);
Datum
summary_serialize(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P((bytea *) state_to_summary((SummaryState *) PG_GETARG_POINTER(0)));
}

/*
 * The bytea usually arrives with a short varlena header straight from a
 * gathered tuple; reading it packed saves the detoast copy, and the days are
 * copied (unaligned) into the new state once.  The state lives in the
 * current context (short-lived: summary_combine() copies what it keeps).
 * The days must be a summary's: strictly increasing, none empty.
 */
PG_FUNCTION_INFO_V1(summary_deserialize);
Datum
summary_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const char *data = VARDATA_ANY(b);
	Summary		head;
	SummaryState *st;
	const int	hdr = offsetof(Summary, days) - VARHDRSZ;

	if (VARSIZE_ANY_EXHDR(b) < hdr)
		crm_invalid_state("crm.summary");
	memcpy((char *) &head + VARHDRSZ, data, hdr);
	if (head.version != SUMMARY_VERSION || head.ndays < 0 ||
		VARSIZE_ANY_EXHDR(b) != hdr + (Size) head.ndays * sizeof(SummaryDay))
		crm_invalid_state("crm.summary");
	st = state_create(CurrentMemoryContext, head.ndays);
	memcpy(st->days, data + hdr, head.ndays * sizeof(SummaryDay));
	st->ndays = head.ndays;
	if (summary_validate(st->days, st->ndays) != SUMMARY_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid serialized crm.summary state")));
	PG_RETURN_POINTER(st);
}

/*
 * crm.summarize(crm.summary) over crm.agg_state (agg_state.c), so that a
 * merge of summaries splits across Citus workers; the date-and-amount forms
 * keep internal (they run per customer, pushed down whole).
 */
static const CrmAggKind summary_kind = {CRM_AGG_SUMMARY, summary_serialize, summary_deserialize};

CRM_AGG_STATE_SFUNC(summary_state_accum, summary_accum_summary, &summary_kind)
CRM_AGG_STATE_COMBINEFUNC(summary_state_combine, summary_combine, &summary_kind)
CRM_AGG_STATE_FINALFUNC(summary_state_final, summary_final, &summary_kind)

/* ---------------------------------------------------------------------
 * Maintenance: add, remove, merge, as_of
 * ---------------------------------------------------------------------
 */

/*
 * A summary of the run of days, sealed as "like" is (NULL: not sealed).
 */
static Summary *
build_like(Summary *like, const SummaryDay *days, int ndays)
{
	SummaryStats st;

	if (like == NULL || !SUMMARY_IS_SEALED(like))
		return crm_summary_build(days, ndays);
	seal_stats(SUMMARY_SEAL(like), &st);
	return crm_summary_build_sealed(&st, SUMMARY_SEAL(like)->through, days, ndays);
}

/*
 * Whether a change of s on "day" reaches into its sealed days (s NULL:
 * empty, not sealed).
 */
static bool
sealed_day(Summary *s, int32 day)
{
	return s != NULL && SUMMARY_IS_SEALED(s) && day <= SUMMARY_SEAL(s)->through;
}

/*
 * Apply one transaction to a copy of s (NULL = empty summary): add it, or
 * with "remove", take it back out.  A sealed summary takes transactions
 * after its seal date only.
 */
static Summary *
summary_apply(Summary *s, int32 day, crm_money amount, bool remove,
			  const char *fname)
{
	int			n = s ? s->ndays : 0;
	SummaryDay *days = palloc((n + 1) * sizeof(SummaryDay));
	bool		found;
	int			idx;

	if (sealed_day(s, day))
		crm_summary_check(SUMMARY_SEALED, fname);
	if (n > 0)
		memcpy(days, s->days, n * sizeof(SummaryDay));
	idx = summary_find_day(days, n, day, &found);
	if (remove)
	{
		if (!found)
			crm_summary_check(SUMMARY_NOT_PRESENT, fname);
		crm_summary_check(summary_day_remove(&days[idx], amount), fname);
		if (summary_day_is_empty(&days[idx]))
		{
			memmove(&days[idx], &days[idx + 1], (n - idx - 1) * sizeof(SummaryDay));
			n--;
		}
	}
	else
	{
		if (!found)
		{
			memmove(&days[idx + 1], &days[idx], (n - idx) * sizeof(SummaryDay));
			days[idx].day = day;
			days[idx].purchases = 0;
			days[idx].amount = 0;
			n++;
		}
		crm_summary_check(summary_day_add(&days[idx], amount), fname);
	}
	return build_like(s, days, n);
}

/*
 * add_transaction(s, purchased_at, amount) and remove_transaction(...),
 * with numeric or float8 amounts.  A NULL summary is the empty summary; a
 * NULL date or amount leaves the summary as it is (the aggregate skips such
 * rows too).
 */
static Datum
summary_apply_fn(FunctionCallInfo fcinfo, bool remove, bool is_numeric,
				 const char *fname)
{
	Summary    *s = PG_ARGISNULL(0) ? NULL : PG_GETARG_SUMMARY_P(0);
	int32		day;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_SUMMARY_P(s);
	}
	day = PG_GETARG_DATEADT(1);
	check_purchase_day(day, "purchased_at");
	PG_RETURN_SUMMARY_P(summary_apply(s, day, amount_arg(fcinfo, 2, is_numeric),
									  remove, fname));
}

PG_FUNCTION_INFO_V1(summary_add_numeric);
Datum
summary_add_numeric(PG_FUNCTION_ARGS)
{
	return summary_apply_fn(fcinfo, false, true, "add_transaction");
}

PG_FUNCTION_INFO_V1(summary_add_float8);
Datum
summary_add_float8(PG_FUNCTION_ARGS)
{
	return summary_apply_fn(fcinfo, false, false, "add_transaction");
}

PG_FUNCTION_INFO_V1(summary_remove_numeric);
Datum
summary_remove_numeric(PG_FUNCTION_ARGS)
{
	return summary_apply_fn(fcinfo, true, true, "remove_transaction");
}

PG_FUNCTION_INFO_V1(summary_remove_float8);
Datum
summary_remove_float8(PG_FUNCTION_ARGS)
{
	return summary_apply_fn(fcinfo, true, false, "remove_transaction");
}

/*
 * Whether the days of t (NULL: none) can be put into or taken out of s:
 * t is not sealed, and its days come after s's seal date.
 */
static void
check_unsealed_change(Summary *s, Summary *t, const char *fname)
{
	if (t == NULL)
		return;
	if (SUMMARY_IS_SEALED(t) || (t->ndays > 0 && sealed_day(s, t->days[0].day)))
		crm_summary_check(SUMMARY_SEALED, fname);
}

/*
 * s with the transactions of "added" put in and those of "removed" taken
 * out; NULL summaries are empty.  merge, subtract and apply_changes.  Of
 * sealed summaries, only s may be, and the others' days must come after
 * its seal date.
 */
static Summary *
summary_change(Summary *s, Summary *added, Summary *removed, const char *fname)
{
	int			n = s ? s->ndays : 0;
	SummaryDay *days = palloc((n + (added ? added->ndays : 0) + 1) * sizeof(SummaryDay));

	check_unsealed_change(s, added, fname);
	check_unsealed_change(s, removed, fname);
	if (n > 0)
		memcpy(days, s->days, n * sizeof(SummaryDay));
	if (added)
		crm_summary_check(summary_merge_into(days, &n, added->days, added->ndays), fname);
	if (removed)
		crm_summary_check(summary_subtract_into(days, &n, removed->days, removed->ndays), fname);
	return build_like(s, days, n);
}

/*
 * merge(a, b): the summary of both histories; NULL counts as empty.  One
 * of them may be sealed when the other's days come after its seal date.
 */
PG_FUNCTION_INFO_V1(summary_merge);
Datum
summary_merge(PG_FUNCTION_ARGS)
{
	Summary    *a;
	Summary    *b;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(PG_ARGISNULL(0) ? 1 : 0));
	}
	a = PG_GETARG_SUMMARY_P(0);
	b = PG_GETARG_SUMMARY_P(1);
	if (SUMMARY_IS_SEALED(b))
		PG_RETURN_SUMMARY_P(summary_change(b, a, NULL, "merge"));
	PG_RETURN_SUMMARY_P(summary_change(a, b, NULL, "merge"));
}

/*
 * subtract(a, b): a without b's transactions (an error if a does not hold
 * them); NULL b takes nothing out, NULL a is empty
 */
PG_FUNCTION_INFO_V1(summary_subtract);
Datum
summary_subtract(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0) && PG_GETARG_SUMMARY_P(1)->ndays == 0)
		PG_RETURN_NULL();
	PG_RETURN_SUMMARY_P(summary_change(PG_ARGISNULL(0) ? NULL : PG_GETARG_SUMMARY_P(0), NULL,
									   PG_GETARG_SUMMARY_P(1), "subtract"));
}

/*
 * apply_changes(s, added, removed): s with the transactions of "added" put
 * in and those of "removed" taken out; NULL arguments are empty, and so is
 * an empty result.  (The order trigger applies its changes in C since
 * 0.3.0: customer.c, with summary_apply_changes().)
 */
PG_FUNCTION_INFO_V1(summary_apply_changes_fn);
Datum
summary_apply_changes_fn(PG_FUNCTION_ARGS)
{
	Summary    *result = summary_change(PG_ARGISNULL(0) ? NULL : PG_GETARG_SUMMARY_P(0),
										PG_ARGISNULL(1) ? NULL : PG_GETARG_SUMMARY_P(1),
										PG_ARGISNULL(2) ? NULL : PG_GETARG_SUMMARY_P(2),
										"apply_changes");

	if (result->ndays == 0 && !SUMMARY_IS_SEALED(result))
		PG_RETURN_NULL();
	PG_RETURN_SUMMARY_P(result);
}

/* as_of(s, date): the summary of the transactions up to and on that date */
PG_FUNCTION_INFO_V1(summary_as_of);
Datum
summary_as_of(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	int32		as_of = crm_as_of_arg(fcinfo, 1);

	if (sealed_day(s, as_of + 1))
		crm_summary_check(SUMMARY_SEALED, "as_of");
	PG_RETURN_SUMMARY_P(build_like(s, s->days, summary_cut(s->days, s->ndays, as_of)));
}

/* ---------------------------------------------------------------------
 * Accessors
 * ---------------------------------------------------------------------
 */

/* the stats of s as of as_of (INT32_MAX: its whole history) */
static void
stats_of(Summary *s, int32 as_of, SummaryStats *stats, const char *what)
{
	SummaryView v;

	crm_summary_view(s, &v);
	crm_summary_check(summary_view_stats(&v, as_of, stats), what);
}

PG_FUNCTION_INFO_V1(summary_first_purchase);
Datum
summary_first_purchase(PG_FUNCTION_ARGS)
{
	SummaryStats st;

	stats_of(PG_GETARG_SUMMARY_P(0), PG_INT32_MAX, &st, "first_purchase");
	if (st.purchase_days == 0)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(st.first_purchase);
}

PG_FUNCTION_INFO_V1(summary_last_purchase);
Datum
summary_last_purchase(PG_FUNCTION_ARGS)
{
	SummaryStats st;

	stats_of(PG_GETARG_SUMMARY_P(0), PG_INT32_MAX, &st, "last_purchase");
	if (st.purchase_days == 0)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(st.last_purchase);
}

PG_FUNCTION_INFO_V1(summary_purchase_days);
Datum
summary_purchase_days(PG_FUNCTION_ARGS)
{
	SummaryStats st;

	stats_of(PG_GETARG_SUMMARY_P(0), PG_INT32_MAX, &st, "purchase_days");
	PG_RETURN_INT32(st.purchase_days);
}

/* x: purchase days after the first; NULL before the first purchase */
PG_FUNCTION_INFO_V1(summary_repeat_purchases);
Datum
summary_repeat_purchases(PG_FUNCTION_ARGS)
{
	SummaryStats st;

	stats_of(PG_GETARG_SUMMARY_P(0), PG_INT32_MAX, &st, "repeat_purchases");
	if (st.purchase_days == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(st.purchase_days - 1);
}

PG_FUNCTION_INFO_V1(summary_order_count);
Datum
summary_order_count(PG_FUNCTION_ARGS)
{
	SummaryStats st;

	stats_of(PG_GETARG_SUMMARY_P(0), PG_INT32_MAX, &st, "order_count");
	PG_RETURN_INT64(st.purchases);
}

PG_FUNCTION_INFO_V1(summary_total_spend);
Datum
summary_total_spend(PG_FUNCTION_ARGS)
{
	SummaryStats st;

	stats_of(PG_GETARG_SUMMARY_P(0), PG_INT32_MAX, &st, "total_spend");
	PG_RETURN_DATUM(crm_money_to_numeric(st.total));
}

/* zbar: mean net amount of the repeat purchase days; NULL when x = 0 */
PG_FUNCTION_INFO_V1(summary_mean_repeat_spend);
Datum
summary_mean_repeat_spend(PG_FUNCTION_ARGS)
{
	SummaryStats st;

	stats_of(PG_GETARG_SUMMARY_P(0), PG_INT32_MAX, &st, "mean_repeat_spend");
	if (st.purchase_days < 2)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(crm_money_to_double(st.repeat_total) / (st.purchase_days - 1));
}

PG_FUNCTION_INFO_V1(summary_days_since_last_purchase);
Datum
summary_days_since_last_purchase(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	int32		as_of = crm_as_of_arg(fcinfo, 1);
	SummaryStats st;

	stats_of(s, as_of, &st, "days_since_last_purchase");
	if (st.purchase_days == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(as_of - st.last_purchase);
}

/*
 * btyd_triple(s, as_of, unit) -> (x, t_x, T): the input of the
 * buy-till-you-die models for a calibration period ending on as_of,
 * counting only purchases up to that date, with times in "unit":
 * x = repeat purchase days, t_x = last - first purchase, T = as_of - first
 * purchase.  NULL when the customer had not purchased by as_of.
 */
/*
 * The triple of the history v views as of as_of in units of unit_days
 * days; false if the customer had not purchased by then.  The view must
 * know the days up to as_of (crm_summary_check() names what it lacks).
 */
bool
crm_view_triple(const SummaryView *v, int32 as_of, double unit_days, SummaryTriple *out)
{
	SummaryStats st;

	crm_summary_check(summary_view_stats(v, as_of, &st), "btyd_triple");
	if (st.purchase_days == 0)
		return false;
	out->x = st.purchase_days - 1;
	out->t_x = (st.last_purchase - st.first_purchase) / unit_days;
	out->T = (as_of - st.first_purchase) / unit_days;
	out->zbar = out->x > 0 ? crm_money_to_double(st.repeat_total) / out->x : 0;
	return true;
}

/*
 * The triple of s as of as_of (crm_view_triple()).  Shared with the model
 * fits (btyd.c), which take the same view of a summary.  A sealed summary
 * answers for as_of on or after its seal date.
 */
bool
crm_summary_triple(Summary *s, int32 as_of, double unit_days, SummaryTriple *out)
{
	SummaryView v;

	crm_summary_view(s, &v);
	return crm_view_triple(&v, as_of, unit_days, out);
}

PG_FUNCTION_INFO_V1(summary_btyd_triple);
Datum
summary_btyd_triple(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	int32		as_of = crm_as_of_arg(fcinfo, 1);
	double		unit = crm_interval_days(PG_GETARG_DATUM(2), "unit");
	SummaryTriple t;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (!crm_summary_triple(s, as_of, unit, &t))
		PG_RETURN_NULL();
	values[0] = Int32GetDatum((int32) t.x);
	values[1] = Float8GetDatum(t.t_x);
	values[2] = Float8GetDatum(t.T);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(CRM_RESULT_TUPDESC(fcinfo),
												   values, nulls)));
}

/*
 * purchase_history(s): the summary's days as rows (day, purchases, net
 * amount), oldest first; refund-only days have purchases = 0.
 */
PG_FUNCTION_INFO_V1(summary_days);
Datum
summary_days(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	int			i;

	if (SUMMARY_IS_SEALED(s))
		crm_summary_check(SUMMARY_SEALED, "purchase_history");
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < s->ndays; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = DateADTGetDatum(s->days[i].day);
		values[1] = Int32GetDatum(s->days[i].purchases);
		values[2] = crm_money_to_numeric(s->days[i].amount);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/* ---------------------------------------------------------------------
 * Sealing (summary_kernel.c, "Sealed histories")
 * ---------------------------------------------------------------------
 */

/*
 * s with its days up to "through" sealed (s may be sealed already, up to
 * an earlier date or the same).
 */
static Summary *
summary_seal(Summary *s, int32 through, const char *fname)
{
	SummaryView v;
	SummaryStats sealed;
	int			k = summary_cut(s->days, s->ndays, through);

	crm_summary_view(s, &v);
	if (v.through != SUMMARY_NOTHING_SEALED && through < v.through)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the summary is sealed through a later date", fname),
				 errhint("A seal date can only move forward; crm.unseal() gives the days back.")));
	crm_summary_check(summary_view_stats(&v, through, &sealed), fname);
	return crm_summary_build_sealed(&sealed, through, s->days + k, s->ndays - k);
}

/* seal(s, through): s with the days up to and on "through" sealed */
PG_FUNCTION_INFO_V1(summary_seal_fn);
Datum
summary_seal_fn(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	int32		through = PG_GETARG_DATEADT(1);

	check_purchase_day(through, "through");
	PG_RETURN_SUMMARY_P(summary_seal(s, through, "seal"));
}

/* sealed_through(s): the seal date, NULL when s is not sealed */
PG_FUNCTION_INFO_V1(summary_sealed_through);
Datum
summary_sealed_through(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);

	if (!SUMMARY_IS_SEALED(s))
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(SUMMARY_SEAL(s)->through);
}

/*
 * seal_point(s, as_of): the date through which the order trigger's writer
 * seals s on the business date as_of (summary_seal_point(), never a day
 * after as_of: history.c), NULL when it leaves s as it is.
 */
PG_FUNCTION_INFO_V1(summary_seal_point_fn);
Datum
summary_seal_point_fn(PG_FUNCTION_ARGS)
{
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	int32		as_of = crm_as_of_arg(fcinfo, 1);
	int			k = Min(summary_seal_point(s->ndays, SUMMARY_IS_SEALED(s)),
						summary_cut(s->days, s->ndays, as_of));

	if (k == 0)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(s->days[k - 1].day);
}

/*
 * unseal(s, sealed_days): the full summary of a sealed one, given the days
 * it sealed (NULL: none).  They must be exactly those the seal holds the
 * totals of: every day on or before the seal date, with the same totals.
 */
PG_FUNCTION_INFO_V1(summary_unseal);
Datum
summary_unseal(PG_FUNCTION_ARGS)
{
	Summary    *s;
	Summary    *d;
	int			nd;
	SummaryView v;
	SummaryStats want;
	SummaryStats have;
	SummaryDay *days;

	/* not strict: NULL sealed days are none; a NULL summary gives NULL */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = PG_GETARG_SUMMARY_P(0);
	d = PG_ARGISNULL(1) ? NULL : PG_GETARG_SUMMARY_P(1);
	nd = d ? d->ndays : 0;
	if (d != NULL && SUMMARY_IS_SEALED(d))
		crm_summary_check(SUMMARY_SEALED, "unseal");
	if (!SUMMARY_IS_SEALED(s))
	{
		if (nd > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unseal: the summary is not sealed")));
		PG_RETURN_SUMMARY_P(s);
	}
	crm_summary_view(s, &v);
	want = v.sealed;
	crm_summary_check(summary_stats(d ? d->days : NULL, nd, &have), "unseal");
	if ((nd > 0 && d->days[nd - 1].day > v.through) ||
		have.purchase_days != want.purchase_days || have.purchases != want.purchases ||
		have.total != want.total || have.repeat_total != want.repeat_total ||
		(have.purchase_days > 0 &&
		 (have.first_purchase != want.first_purchase ||
		  have.last_purchase != want.last_purchase ||
		  have.first_amount != want.first_amount)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("unseal: the days given are not those the summary sealed"),
				 errdetail("The sealed days must lie on or before the seal date and add up to the sealed totals."),
				 errhint("Recompute with CALL crm.rebuild_summaries().")));
	days = palloc((nd + s->ndays + 1) * sizeof(SummaryDay));
	if (nd > 0)
		memcpy(days, d->days, nd * sizeof(SummaryDay));
	if (s->ndays > 0)
		memcpy(days + nd, s->days, s->ndays * sizeof(SummaryDay));
	PG_RETURN_SUMMARY_P(crm_summary_build(days, nd + s->ndays));
}

/* first day of the calendar month of a DateADT */
int32
crm_month_start(int32 day)
{
	int			y,
				m,
				d;

	j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	return date2j(y, m, 1) - POSTGRES_EPOCH_JDATE;
}

/*
 * split_by_month(s) -> (month, days): the days of a summary that is not
 * sealed, one summary per calendar month (as crm.summary_blocks keeps the
 * sealed days), oldest first.
 */
PG_FUNCTION_INFO_V1(summary_split_by_month);
Datum
summary_split_by_month(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Summary    *s = PG_GETARG_SUMMARY_P(0);
	int			i = 0;

	if (SUMMARY_IS_SEALED(s))
		crm_summary_check(SUMMARY_SEALED, "split_by_month");
	InitMaterializedSRF(fcinfo, 0);
	while (i < s->ndays)
	{
		int32		month = crm_month_start(s->days[i].day);
		int			j = i;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		while (j < s->ndays && crm_month_start(s->days[j].day) == month)
			j++;
		values[0] = DateADTGetDatum(month);
		values[1] = PointerGetDatum(crm_summary_build(s->days + i, j - i));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		i = j;
	}
	PG_RETURN_NULL();
}
