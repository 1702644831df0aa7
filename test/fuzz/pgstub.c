/*-------------------------------------------------------------------------
 *
 * pgstub.c
 *	  Just enough of the PostgreSQL backend for the extension's type input,
 *	  receive and aggregate deserialize functions to run in a libFuzzer
 *	  process: memory (malloc, all freed after each input), ereport (an
 *	  ERROR long-jumps back to the harness, its SQLSTATE kept), StringInfo
 *	  and the pq_getmsg readers, detoasting of in-line values, and the date
 *	  conversions the parsers call.  Everything else of the server the
 *	  extension's files refer to is left unresolved at link time
 *	  (--unresolved-symbols=ignore-all): reaching it from a parser would
 *	  crash, which the fuzzer reports like any other crash.
 *
 *	  Written for these tests after the server's own definitions (utils/
 *	  mmgr, utils/error/elog.c, lib/stringinfo.c, libpq/pqformat.c); the
 *	  semantics that matter to a parser (what is an error, which SQLSTATE)
 *	  are kept.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* qsort_r */
#include "postgres.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "pgtime.h"
#include "nodes/execnodes.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#include "pgstub.h"

/*
 * The server's code calls PostgreSQL's own printf family (port.h maps
 * snprintf and friends to pg_snprintf ...); here they are the C library's.
 */
#undef vsnprintf
#undef snprintf
#undef sprintf
#undef vfprintf
#undef fprintf
#undef printf

int
pg_vsnprintf(char *str, size_t count, const char *fmt, va_list args)
{
	return vsnprintf(str, count, fmt, args);
}

int
pg_snprintf(char *str, size_t count, const char *fmt,...)
{
	va_list		args;
	int			n;

	va_start(args, fmt);
	n = vsnprintf(str, count, fmt, args);
	va_end(args);
	return n;
}

int
pg_sprintf(char *str, const char *fmt,...)
{
	va_list		args;
	int			n;

	va_start(args, fmt);
	n = vsprintf(str, fmt, args);
	va_end(args);
	return n;
}

int
pg_fprintf(FILE *stream, const char *fmt,...)
{
	va_list		args;
	int			n;

	va_start(args, fmt);
	n = vfprintf(stream, fmt, args);
	va_end(args);
	return n;
}

/* globals of the backend the extension's code reads */
sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;
MemoryContext CurrentMemoryContext = NULL;
MemoryContext TopMemoryContext = NULL;
volatile sig_atomic_t InterruptPending = false;
int			extra_float_digits = 0;
int			DateStyle = USE_ISO_DATES;
int			DateOrder = DATEORDER_MDY;

/* ---------------------------------------------------------------- memory */

/* every allocation since stub_reset(), freed by it */
typedef struct Chunk
{
	struct Chunk *next;
	Size		size;
	/* then the data, max-aligned */
} Chunk;

#define CHUNK_HDR MAXALIGN(sizeof(Chunk))

static Chunk *chunks = NULL;

static void *
stub_alloc(Size size, bool zero)
{
	Chunk	   *c;

	if (size > MaxAllocHugeSize)
		stub_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "invalid memory alloc request size");
	c = malloc(CHUNK_HDR + size);
	if (c == NULL)
		abort();
	c->next = chunks;
	c->size = size;
	chunks = c;
	if (zero)
		memset((char *) c + CHUNK_HDR, 0, size);
	return (char *) c + CHUNK_HDR;
}

void
stub_reset(void)
{
	while (chunks)
	{
		Chunk	   *next = chunks->next;

		free(chunks);
		chunks = next;
	}
}

void *
palloc(Size size)
{
	return stub_alloc(size, false);
}

void *
palloc0(Size size)
{
	return stub_alloc(size, true);
}

void *
palloc_extended(Size size, int flags)
{
	return stub_alloc(size, (flags & MCXT_ALLOC_ZERO) != 0);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return stub_alloc(size, false);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return stub_alloc(size, true);
}

void *
MemoryContextAllocZeroAligned(MemoryContext context, Size size)
{
	return stub_alloc(size, true);
}

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return stub_alloc(size, false);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return stub_alloc(size, (flags & MCXT_ALLOC_ZERO) != 0);
}

static void *
stub_realloc(void *pointer, Size size)
{
	Chunk	   *old = (Chunk *) ((char *) pointer - CHUNK_HDR);
	void	   *p = stub_alloc(size, false);

	memcpy(p, pointer, Min(old->size, size));
	return p;
}

void *
repalloc(void *pointer, Size size)
{
	return stub_realloc(pointer, size);
}

void *
repalloc_huge(void *pointer, Size size)
{
	return stub_realloc(pointer, size);
}

/* freed by stub_reset() */
void
pfree(void *pointer)
{
}

char *
pstrdup(const char *in)
{
	size_t		len = strlen(in);
	char	   *out = palloc(len + 1);

	memcpy(out, in, len + 1);
	return out;
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	char	   *out;
	int			n;

	va_start(args, fmt);
	n = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	out = palloc(n + 1);
	va_start(args, fmt);
	vsnprintf(out, n + 1, fmt, args);
	va_end(args);
	return out;
}

/* ---------------------------------------------------------------- errors */

static int	err_level;
static int	err_code;
int			stub_last_sqlstate;
char		stub_last_message[256];

bool
errstart(int elevel, const char *domain)
{
	err_level = elevel;
	err_code = elevel >= ERROR ? ERRCODE_INTERNAL_ERROR : 0;
	stub_last_message[0] = '\0';
	return elevel >= ERROR;		/* below ERROR: nothing to report */
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	err_code = sqlerrcode;
	return 0;
}

int
errmsg(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vsnprintf(stub_last_message, sizeof(stub_last_message), fmt, args);
	va_end(args);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vsnprintf(stub_last_message, sizeof(stub_last_message), fmt, args);
	va_end(args);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	return 0;
}

int
errhint(const char *fmt,...)
{
	return 0;
}

int
errcontext_msg(const char *fmt,...)
{
	return 0;
}

bool
errcontext_domain(const char *domain)
{
	return true;
}

int
errmsg_plural(const char *fmt_singular, const char *fmt_plural, unsigned long n,...)
{
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (err_level < ERROR)
		return;
	stub_last_sqlstate = err_code;
	if (PG_exception_stack == NULL)
		abort();
	siglongjmp(*PG_exception_stack, 1);
}

void
stub_error(int sqlstate, const char *message)
{
	errstart(ERROR, NULL);
	errcode(sqlstate);
	errmsg("%s", message);
	errfinish(__FILE__, __LINE__, __func__);
	pg_unreachable();
}

void
ProcessInterrupts(void)
{
}

/* ------------------------------------------------------------ StringInfo */

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

StringInfo
makeStringInfo(void)
{
	StringInfo	s = palloc(sizeof(StringInfoData));

	initStringInfo(s);
	return s;
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0 || ((Size) needed) >= (MaxAllocSize - (Size) str->len))
		stub_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "out of memory");
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendBinaryStringInfoNT(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	appendBinaryStringInfo(str, &ch, 1);
}

void
appendStringInfoSpaces(StringInfo str, int count)
{
	while (count-- > 0)
		appendStringInfoChar(str, ' ');
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		args;
	int			n;
	char	   *tmp;

	va_start(args, fmt);
	n = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	tmp = palloc(n + 1);
	va_start(args, fmt);
	vsnprintf(tmp, n + 1, fmt, args);
	va_end(args);
	appendBinaryStringInfo(str, tmp, n);
}

/* ------------------------------------------------- pqformat: the readers */

static void
insufficient(void)
{
	stub_error(ERRCODE_PROTOCOL_VIOLATION, "insufficient data left in message");
}

int
pq_getmsgbyte(StringInfo msg)
{
	if (msg->cursor >= msg->len)
		insufficient();
	return (unsigned char) msg->data[msg->cursor++];
}

unsigned int
pq_getmsgint(StringInfo msg, int b)
{
	unsigned char n8;
	uint16		n16;
	uint32		n32;

	switch (b)
	{
		case 1:
			pq_copymsgbytes(msg, (char *) &n8, 1);
			return n8;
		case 2:
			pq_copymsgbytes(msg, (char *) &n16, 2);
			return pg_ntoh16(n16);
		case 4:
			pq_copymsgbytes(msg, (char *) &n32, 4);
			return pg_ntoh32(n32);
	}
	stub_error(ERRCODE_INTERNAL_ERROR, "unsupported integer size");
	return 0;
}

int64
pq_getmsgint64(StringInfo msg)
{
	uint64		n64;

	pq_copymsgbytes(msg, (char *) &n64, sizeof(n64));
	return pg_ntoh64(n64);
}

float8
pq_getmsgfloat8(StringInfo msg)
{
	union
	{
		float8		f;
		int64		i;
	}			swap;

	swap.i = pq_getmsgint64(msg);
	return swap.f;
}

float4
pq_getmsgfloat4(StringInfo msg)
{
	union
	{
		float4		f;
		uint32		i;
	}			swap;

	swap.i = pq_getmsgint(msg, 4);
	return swap.f;
}

const char *
pq_getmsgbytes(StringInfo msg, int datalen)
{
	const char *result;

	if (datalen < 0 || datalen > (msg->len - msg->cursor))
		insufficient();
	result = &msg->data[msg->cursor];
	msg->cursor += datalen;
	return result;
}

void
pq_copymsgbytes(StringInfo msg, char *buf, int datalen)
{
	if (datalen < 0 || datalen > (msg->len - msg->cursor))
		insufficient();
	memcpy(buf, &msg->data[msg->cursor], datalen);
	msg->cursor += datalen;
}

/* ------------------------------------------------- pqformat: the writers */

void
pq_begintypsend(StringInfo buf)
{
	initStringInfo(buf);
	appendStringInfoSpaces(buf, VARHDRSZ);
}

bytea *
pq_endtypsend(StringInfo buf)
{
	bytea	   *result = (bytea *) buf->data;

	SET_VARSIZE(result, buf->len);
	return result;
}

void
pq_sendbytes(StringInfo buf, const char *data, int datalen)
{
	appendBinaryStringInfo(buf, data, datalen);
}

void
pq_sendfloat8(StringInfo buf, float8 f)
{
	union
	{
		float8		f;
		int64		i;
	}			swap;

	swap.f = f;
	pq_sendint64(buf, swap.i);
}

/* ------------------------------------------------------------ detoasting */

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	if (VARATT_IS_EXTERNAL(datum) || VARATT_IS_COMPRESSED(datum))
		stub_error(ERRCODE_INTERNAL_ERROR, "toasted value in the fuzz harness");
	if (VARATT_IS_SHORT(datum))
	{
		Size		len = VARSIZE_SHORT(datum) - VARHDRSZ_SHORT;
		struct varlena *v = palloc(len + VARHDRSZ);

		SET_VARSIZE(v, len + VARHDRSZ);
		memcpy(VARDATA(v), VARDATA_SHORT(datum), len);
		return v;
	}
	return datum;
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	if (VARATT_IS_EXTERNAL(datum) || VARATT_IS_COMPRESSED(datum))
		stub_error(ERRCODE_INTERNAL_ERROR, "toasted value in the fuzz harness");
	return datum;
}

struct varlena *
pg_detoast_datum_copy(struct varlena *datum)
{
	struct varlena *v = pg_detoast_datum(datum);
	struct varlena *c = palloc(VARSIZE(v));

	memcpy(c, v, VARSIZE(v));
	return c;
}

/* ---------------------------------------------------------- aggregates */

int
AggCheckCallContext(FunctionCallInfo fcinfo, MemoryContext *aggcontext)
{
	if (aggcontext)
		*aggcontext = CurrentMemoryContext;
	return AGG_CONTEXT_AGGREGATE;
}

/* -------------------------------------------------------------- dates */

/* after the server's date2j and j2date (utils/adt/datetime.c) */
int
date2j(int y, int m, int d)
{
	int			julian;
	int			century;

	if (m > 2)
	{
		m += 1;
		y += 4800;
	}
	else
	{
		m += 13;
		y += 4799;
	}
	century = y / 100;
	julian = y * 365 - 32167;
	julian += y / 4 - century + century / 4;
	julian += 7834 * m / 256 + d;
	return julian;
}

void
j2date(int jd, int *year, int *month, int *day)
{
	unsigned int julian;
	unsigned int quad;
	unsigned int extra;
	int			y;

	julian = jd;
	julian += 32044;
	quad = julian / 146097;
	extra = (julian - quad * 146097) * 4 + 3;
	julian += 60 + quad * 3 + extra / 146097;
	quad = julian / 1461;
	julian -= quad * 1461;
	y = julian * 4 / 1461;
	julian = ((y != 0) ? ((julian + 305) % 365) : ((julian + 306) % 366)) + 123;
	y += quad * 4;
	*year = y - 4800;
	quad = julian * 2141 / 65536;
	*day = julian - 7834 * quad / 256;
	*month = (quad + 10) % MONTHS_PER_YEAR + 1;
}

/* date_in for ISO dates YYYY-MM-DD only: what the parsers hand it */
Datum
date_in(PG_FUNCTION_ARGS)
{
	const char *s = PG_GETARG_CSTRING(0);
	int			y,
				m,
				d,
				n = 0;

	if (sscanf(s, "%d-%d-%d%n", &y, &m, &d, &n) != 3 || s[n] != '\0' ||
		y < 1 || y > 5874897 || m < 1 || m > 12 || d < 1 || d > 31)
		stub_error(ERRCODE_INVALID_DATETIME_FORMAT, "invalid input syntax for type date");
	PG_RETURN_DATEADT(date2j(y, m, d) - POSTGRES_EPOCH_JDATE);
}

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, collation, NULL, NULL);
	fcinfo->args[0].value = arg1;
	fcinfo->args[0].isnull = false;
	result = (*func) (fcinfo);
	if (fcinfo->isnull)
		stub_error(ERRCODE_INTERNAL_ERROR, "function returned NULL");
	return result;
}

/* ------------------------------------------------------ output helpers */

/* the shortest "%.*g" text that reads back exactly (the server uses Ryu) */
char *
float8out_internal(double num)
{
	char		buf[64];
	int			prec;

	if (isnan(num))
		return pstrdup("NaN");
	if (isinf(num))
		return pstrdup(num > 0 ? "Infinity" : "-Infinity");
	for (prec = 1; prec <= 17; prec++)
	{
		snprintf(buf, sizeof(buf), "%.*g", prec, num);
		if (strtod(buf, NULL) == num)
			break;
	}
	return pstrdup(buf);
}

/* ISO dates only, as EncodeDateOnly(tm, USE_ISO_DATES, str) writes them */
void
EncodeDateOnly(struct pg_tm *tm, int style, char *str)
{
	if (tm->tm_year > 0)
		sprintf(str, "%04d-%02d-%02d", tm->tm_year, tm->tm_mon, tm->tm_mday);
	else
		sprintf(str, "%04d-%02d-%02d BC", -(tm->tm_year - 1), tm->tm_mon, tm->tm_mday);
}

/* FNV-1a: any hash will do for the hash tables of the aggregate states */
uint32
hash_bytes(const unsigned char *k, int keylen)
{
	uint32		h = 2166136261u;
	int			i;

	for (i = 0; i < keylen; i++)
		h = (h ^ k[i]) * 16777619u;
	return h;
}

uint32
hash_bytes_uint32(uint32 k)
{
	return hash_bytes((const unsigned char *) &k, sizeof(k));
}

void
qsort_arg(void *base, size_t nel, size_t elsize, qsort_arg_comparator cmp, void *arg)
{
	qsort_r(base, nel, elsize, cmp, arg);
}

void
pg_qsort(void *base, size_t nel, size_t elsize, int (*cmp) (const void *, const void *))
{
	qsort(base, nel, elsize, cmp);
}
