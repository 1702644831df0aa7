/*-------------------------------------------------------------------------
 *
 * rfm.c
 *	  The crm.rfm type (recency, frequency and monetary scores), the
 *	  crm.rfm_cutpoints type, the rfm_quantiles() aggregate that computes
 *	  cutpoints over a population of summaries, and rfm_score().
 *
 * crm.rfm is four bytes passed by value: the three scores and the scale k
 * they were given on (2..9), so values of different scales never compare
 * equal by accident.  Its text form is "r-f-m" for the default scale 5 and
 * "r-f-m/k" otherwise; the type modifier crm.rfm(k) makes a column accept
 * values of scale k only.  (PostgreSQL reads a literal before applying the
 * type modifier, so "3-3-3" is a scale-5 value even when cast to
 * crm.rfm(3): it must be written 3-3-3/3.)
 *
 * crm.rfm_cutpoints is fixed-length (216 bytes): k, the as-of date the
 * population was measured on, the number of customers behind quantile
 * cutpoints (0 for fixed business thresholds) and k - 1 cutpoints per
 * dimension (rfm_kernel.c says how scores follow from them).  Scoring a
 * customer is one comparison per cutpoint; the population is read once by
 * the aggregate, whose state keeps the three values of every customer
 * (24 bytes each) so that the quantiles are exact and partial states from
 * parallel workers merge by concatenation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/numeric.h"

#include "agg_state.h"
#include "rfm.h"

/* ---------------------------------------------------------------------
 * crm.rfm
 * ---------------------------------------------------------------------
 */

static void
check_scale(int k, const char *what)
{
	if (k < RFM_MIN_SCALE || k > RFM_MAX_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d", what, RFM_MIN_SCALE, RFM_MAX_SCALE),
				 errdetail("%s is %d.", what, k)));
}

static int32
rfm_make(int r, int f, int m, int k)
{
	int			s[3] = {r, f, m};
	static const char *const names[] = {"recency score", "frequency score", "monetary score"};
	int			i;

	if (k < RFM_MIN_SCALE || k > RFM_MAX_SCALE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("crm.rfm scale %d is out of range", k),
				 errdetail("The scale is between %d and %d.", RFM_MIN_SCALE, RFM_MAX_SCALE)));
	for (i = 0; i < 3; i++)
		if (s[i] < 1 || s[i] > k)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s %d is out of range for a crm.rfm on a 1..%d scale", names[i], s[i], k)));
	return RFM_PACK(r, f, m, k);
}

/*
 * rfm_in(cstring, oid, typmod): "5-4-3", "543", optionally "/k".
 */
PG_FUNCTION_INFO_V1(rfm_in);
Datum
rfm_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	const char *p = str;
	int			s[3];
	int			k;
	int			i;
	bool		dashed;

	while (*p == ' ')
		p++;
	dashed = (p[0] != '\0' && p[1] == '-');
	for (i = 0; i < 3; i++)
	{
		if (i > 0 && dashed && *p++ != '-')
			goto syntax;
		if (*p < '0' || *p > '9')
			goto syntax;
		s[i] = *p++ - '0';
	}
	k = typmod >= 0 ? typmod : RFM_DEFAULT_SCALE;
	if (*p == '/')
	{
		p++;
		if (*p < '0' || *p > '9')
			goto syntax;
		k = *p++ - '0';
		if (typmod >= 0 && k != typmod)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("crm.rfm value on a 1..%d scale does not fit crm.rfm(%d)", k, typmod)));
	}
	while (*p == ' ')
		p++;
	if (*p != '\0')
		goto syntax;
	PG_RETURN_INT32(rfm_make(s[0], s[1], s[2], k));

syntax:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.rfm: \"%s\"", str),
			 errhint("An RFM score reads like 5-4-3 (or 543), with /k after it for a scale other than 5, like 7-2-9/9.")));
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(rfm_out);
Datum
rfm_out(PG_FUNCTION_ARGS)
{
	int32		v = PG_GETARG_INT32(0);

	if (RFM_K(v) == RFM_DEFAULT_SCALE)
		PG_RETURN_CSTRING(psprintf("%d-%d-%d", RFM_R(v), RFM_F(v), RFM_M(v)));
	PG_RETURN_CSTRING(psprintf("%d-%d-%d/%d", RFM_R(v), RFM_F(v), RFM_M(v), RFM_K(v)));
}

PG_FUNCTION_INFO_V1(rfm_recv);
Datum
rfm_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			r = pq_getmsgbyte(buf);
	int			f = pq_getmsgbyte(buf);
	int			m = pq_getmsgbyte(buf);
	int			k = pq_getmsgbyte(buf);

	if (typmod >= 0 && k != typmod)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("crm.rfm value on a 1..%d scale does not fit crm.rfm(%d)", k, typmod)));
	PG_RETURN_INT32(rfm_make(r, f, m, k));
}

PG_FUNCTION_INFO_V1(rfm_send);
Datum
rfm_send(PG_FUNCTION_ARGS)
{
	int32		v = PG_GETARG_INT32(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, RFM_R(v));
	pq_sendbyte(&buf, RFM_F(v));
	pq_sendbyte(&buf, RFM_M(v));
	pq_sendbyte(&buf, RFM_K(v));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* crm.rfm(k): the scale, 2..9 */
PG_FUNCTION_INFO_V1(rfm_typmod_in);
Datum
rfm_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *tl;
	int			n;

	tl = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.rfm takes one type modifier, the scale")));
	check_scale(tl[0], "crm.rfm scale");
	PG_RETURN_INT32(tl[0]);
}

PG_FUNCTION_INFO_V1(rfm_typmod_out);
Datum
rfm_typmod_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(psprintf("(%d)", PG_GETARG_INT32(0)));
}

/* the length-coercion cast crm.rfm -> crm.rfm(k) */
PG_FUNCTION_INFO_V1(rfm_enforce_scale);
Datum
rfm_enforce_scale(PG_FUNCTION_ARGS)
{
	int32		v = PG_GETARG_INT32(0);
	int32		typmod = PG_GETARG_INT32(1);

	if (typmod >= 0 && RFM_K(v) != typmod)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("crm.rfm value on a 1..%d scale does not fit crm.rfm(%d)", RFM_K(v), typmod),
				 errhint("Text without a scale is read on the default scale 5; write the scale after the scores, like 1-2-3/%d.", typmod)));
	PG_RETURN_INT32(v);
}

/* crm.rfm(r, f, m, k) */
PG_FUNCTION_INFO_V1(rfm_construct);
Datum
rfm_construct(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(rfm_make(PG_GETARG_INT32(0), PG_GETARG_INT32(1),
							 PG_GETARG_INT32(2), PG_GETARG_INT32(3)));
}

/* order: recency, then frequency, then monetary score, then scale */
static int
rfm_compare(int32 a, int32 b)
{
	int			d;

	if ((d = RFM_R(a) - RFM_R(b)) != 0 ||
		(d = RFM_F(a) - RFM_F(b)) != 0 ||
		(d = RFM_M(a) - RFM_M(b)) != 0 ||
		(d = RFM_K(a) - RFM_K(b)) != 0)
		return d > 0 ? 1 : -1;
	return 0;
}

#define RFM_CMP_FN(name, expr) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = rfm_compare(PG_GETARG_INT32(0), PG_GETARG_INT32(1)); \
	PG_RETURN_BOOL(expr); \
}

RFM_CMP_FN(rfm_lt, c < 0)
RFM_CMP_FN(rfm_le, c <= 0)
RFM_CMP_FN(rfm_eq, c == 0)
RFM_CMP_FN(rfm_ne, c != 0)
RFM_CMP_FN(rfm_ge, c >= 0)
RFM_CMP_FN(rfm_gt, c > 0)

PG_FUNCTION_INFO_V1(rfm_cmp);
Datum
rfm_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(rfm_compare(PG_GETARG_INT32(0), PG_GETARG_INT32(1)));
}

PG_FUNCTION_INFO_V1(rfm_hash);
Datum
rfm_hash(PG_FUNCTION_ARGS)
{
	return hash_uint32((uint32) PG_GETARG_INT32(0));
}

PG_FUNCTION_INFO_V1(rfm_recency_score);
Datum
rfm_recency_score(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(RFM_R(PG_GETARG_INT32(0)));
}

PG_FUNCTION_INFO_V1(rfm_frequency_score);
Datum
rfm_frequency_score(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(RFM_F(PG_GETARG_INT32(0)));
}

PG_FUNCTION_INFO_V1(rfm_monetary_score);
Datum
rfm_monetary_score(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(RFM_M(PG_GETARG_INT32(0)));
}

PG_FUNCTION_INFO_V1(rfm_scale);
Datum
rfm_scale(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(RFM_K(PG_GETARG_INT32(0)));
}

PG_FUNCTION_INFO_V1(rfm_total);
Datum
rfm_total(PG_FUNCTION_ARGS)
{
	int32		v = PG_GETARG_INT32(0);

	PG_RETURN_INT32(RFM_R(v) + RFM_F(v) + RFM_M(v));
}

/* ---------------------------------------------------------------------
 * crm.rfm_cutpoints
 * ---------------------------------------------------------------------
 */

StaticAssertDecl(sizeof(RfmCutpoints) == RFM_CUTPOINTS_SIZE, "crm.rfm_cutpoints is 216 bytes");

static const char *const dim_name[3] = {"recency", "frequency", "monetary"};


static RfmCutpoints *
cutpoints_validate(RfmCutpoints *c, const char *context)
{
	int			d;

	check_scale(c->cuts.k, "k");
	crm_check_finite_date(c->as_of, "as_of");
	/* the text form writes as_of with four digits of year */
	if (c->as_of < CRM_MIN_STORED_DATE || c->as_of > CRM_MAX_STORED_DATE)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("as_of of %s must lie between 0001-01-01 and 9999-12-31", context)));
	for (d = 0; d < 3; d++)
		if (!rfm_cuts_ordered(c->cuts.cut[d], c->cuts.k - 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s thresholds must be in ascending order in %s", dim_name[d], context)));
	return c;
}

/*
 * Text form: k=5 as_of=1997-09-30 customers=2357 recency=10,20,30,40
 * frequency=1,1,2,3 monetary=15.5,30,60,120 (recency in days, monetary
 * in currency units; customers=0 for fixed thresholds).
 */
PG_FUNCTION_INFO_V1(rfm_cutpoints_out);
Datum
rfm_cutpoints_out(PG_FUNCTION_ARGS)
{
	RfmCutpoints *c = (RfmCutpoints *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int			y,
				m,
				dd,
				d,
				j;

	initStringInfo(&buf);
	j2date(c->as_of + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
	appendStringInfo(&buf, "k=%d as_of=%04d-%02d-%02d customers=" INT64_FORMAT,
					 c->cuts.k, y, m, dd, c->n_customers);
	for (d = 0; d < 3; d++)
	{
		appendStringInfo(&buf, " %s=", dim_name[d]);
		for (j = 0; j < c->cuts.k - 1; j++)
		{
			if (j > 0)
				appendStringInfoChar(&buf, ',');
			if (d == RFM_MONETARY)
			{
				char		money[CRM_MONEY_MAXLEN];

				crm_money_format(c->cuts.cut[d][j], money);
				appendStringInfoString(&buf, money);
			}
			else
				appendStringInfo(&buf, INT64_FORMAT, c->cuts.cut[d][j]);
		}
	}
	PG_RETURN_CSTRING(buf.data);
}

static void
cutpoints_syntax_error(const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.rfm_cutpoints: \"%s\"", str),
			 errdetail("%s", detail),
			 errhint("Cutpoints read like k=3 as_of=2024-12-31 customers=0 recency=30,90 frequency=1,3 monetary=50,200.")));
}

/* expect "name=" at *pp */
static bool
expect_key(const char **pp, const char *name)
{
	size_t		len = strlen(name);

	while (**pp == ' ')
		(*pp)++;
	if (strncmp(*pp, name, len) != 0 || (*pp)[len] != '=')
		return false;
	*pp += len + 1;
	return true;
}

static bool
parse_int64(const char **pp, int64 *v)
{
	char	   *end;

	if (!((**pp >= '0' && **pp <= '9') || **pp == '-'))
		return false;
	errno = 0;
	*v = strtoll(*pp, &end, 10);
	if (errno != 0 || end == *pp)
		return false;
	*pp = end;
	return true;
}

PG_FUNCTION_INFO_V1(rfm_cutpoints_in);
Datum
rfm_cutpoints_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	const char *p = str;
	RfmCutpoints *c = palloc0(sizeof(RfmCutpoints));
	int64		v;
	int			d,
				j;
	char		datebuf[11];
	DateADT		as_of;

	if (!expect_key(&p, "k") || !parse_int64(&p, &v) || v < RFM_MIN_SCALE || v > RFM_MAX_SCALE)
		cutpoints_syntax_error(str, "It starts with k=<scale from 2 to 9>.");
	c->cuts.k = (int32) v;
	if (!expect_key(&p, "as_of") || strlen(p) < 10)
		cutpoints_syntax_error(str, "k is followed by as_of=YYYY-MM-DD.");
	memcpy(datebuf, p, 10);
	datebuf[10] = '\0';
	p += 10;
	as_of = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(datebuf)));
	c->as_of = as_of;
	if (!expect_key(&p, "customers") || !parse_int64(&p, &c->n_customers) || c->n_customers < 0)
		cutpoints_syntax_error(str, "as_of is followed by customers=<count, 0 for fixed thresholds>.");
	for (d = 0; d < 3; d++)
	{
		if (!expect_key(&p, dim_name[d]))
			cutpoints_syntax_error(str, "The cutpoints come as recency=..., frequency=..., monetary=..., in that order.");
		for (j = 0; j < c->cuts.k - 1; j++)
		{
			if (j > 0 && *p++ != ',')
				cutpoints_syntax_error(str, "Each dimension has k - 1 cutpoints separated by commas.");
			if (d == RFM_MONETARY ? !crm_money_parse(p, &p, &c->cuts.cut[d][j]) : !parse_int64(&p, &c->cuts.cut[d][j]))
				cutpoints_syntax_error(str, "A cutpoint is a number (monetary: at most 4 decimals).");
		}
	}
	while (*p == ' ')
		p++;
	if (*p != '\0')
		cutpoints_syntax_error(str, "Unexpected text after the monetary cutpoints.");
	PG_RETURN_POINTER(cutpoints_validate(c, "crm.rfm_cutpoints"));
}

PG_FUNCTION_INFO_V1(rfm_cutpoints_recv);
Datum
rfm_cutpoints_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	RfmCutpoints *c = palloc0(sizeof(RfmCutpoints));
	int			d,
				j;

	c->cuts.k = pq_getmsgint(buf, 4);
	c->as_of = pq_getmsgint(buf, 4);
	c->n_customers = pq_getmsgint64(buf);
	/* the text form writes as_of with four digits of year */
	if (c->n_customers < 0 || c->as_of < CRM_MIN_STORED_DATE || c->as_of > CRM_MAX_STORED_DATE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external crm.rfm_cutpoints value"),
				 errdetail("The number of customers is negative or as_of is not between 0001-01-01 and 9999-12-31.")));
	check_scale(c->cuts.k, "k");
	for (d = 0; d < 3; d++)
		for (j = 0; j < c->cuts.k - 1; j++)
			c->cuts.cut[d][j] = pq_getmsgint64(buf);
	PG_RETURN_POINTER(cutpoints_validate(c, "crm.rfm_cutpoints"));
}

PG_FUNCTION_INFO_V1(rfm_cutpoints_send);
Datum
rfm_cutpoints_send(PG_FUNCTION_ARGS)
{
	RfmCutpoints *c = (RfmCutpoints *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int			d,
				j;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, c->cuts.k);
	pq_sendint32(&buf, c->as_of);
	pq_sendint64(&buf, c->n_customers);
	for (d = 0; d < 3; d++)
		for (j = 0; j < c->cuts.k - 1; j++)
			pq_sendint64(&buf, c->cuts.cut[d][j]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * Read an int[] / numeric[] argument of rfm_thresholds into cut[]; its
 * length fixes (or must match) k - 1.
 */
static void
thresholds_arg(FunctionCallInfo fcinfo, int argno, RfmDim d, RfmCutpoints *c)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);
	Oid			elemtype = ARR_ELEMTYPE(a);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				j;

	if (elemtype == NUMERICOID)
		deconstruct_array(a, NUMERICOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	else
		deconstruct_array(a, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &n);
	if (ARR_NDIM(a) > 1 || n < RFM_MIN_SCALE - 1 || n > RFM_MAX_CUTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array of 1 to %d thresholds", dim_name[d], RFM_MAX_CUTS)));
	if (c->cuts.k == 0)
		c->cuts.k = n + 1;
	else if (n != c->cuts.k - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency, frequency and monetary must have the same number of thresholds"),
				 errdetail("recency has %d, %s has %d.", c->cuts.k - 1, dim_name[d], n)));
	for (j = 0; j < n; j++)
	{
		if (nulls[j])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s thresholds must not contain NULLs", dim_name[d])));
		c->cuts.cut[d][j] = elemtype == NUMERICOID ?
			crm_numeric_to_money(elems[j], "monetary") : DatumGetInt32(elems[j]);
	}
}

/*
 * rfm_thresholds(as_of, recency int[], frequency int[], monetary numeric[]):
 * fixed business thresholds instead of quantiles, read as cutpoints
 * (rfm_kernel.c): e.g. recency {30,90,180,365} gives 5 to customers seen in
 * the last 30 days and 1 to those gone more than a year.
 */
PG_FUNCTION_INFO_V1(rfm_thresholds);
Datum
rfm_thresholds(PG_FUNCTION_ARGS)
{
	RfmCutpoints *c = palloc0(sizeof(RfmCutpoints));

	c->as_of = PG_GETARG_DATEADT(0);
	thresholds_arg(fcinfo, 1, RFM_RECENCY, c);
	thresholds_arg(fcinfo, 2, RFM_FREQUENCY, c);
	thresholds_arg(fcinfo, 3, RFM_MONETARY, c);
	PG_RETURN_POINTER(cutpoints_validate(c, "rfm_thresholds"));
}

PG_FUNCTION_INFO_V1(rfm_cutpoints_as_of);
Datum
rfm_cutpoints_as_of(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATEADT(((RfmCutpoints *) PG_GETARG_POINTER(0))->as_of);
}

/*
 * rebase(c, as_of): the same cutpoints measured from another date.  Recency
 * cutpoints are day counts, so the population's thresholds stay as they
 * were; only the date recency is counted to moves (the maintained scores of
 * crm.customers use the last refresh's cutpoints on the business date).
 */
PG_FUNCTION_INFO_V1(rfm_cutpoints_rebase);
Datum
rfm_cutpoints_rebase(PG_FUNCTION_ARGS)
{
	RfmCutpoints *c = palloc(sizeof(RfmCutpoints));

	memcpy(c, PG_GETARG_POINTER(0), sizeof(RfmCutpoints));
	c->as_of = PG_GETARG_DATEADT(1);
	crm_check_finite_date(c->as_of, "as_of");
	PG_RETURN_POINTER(c);
}

PG_FUNCTION_INFO_V1(rfm_cutpoints_k);
Datum
rfm_cutpoints_k(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(((RfmCutpoints *) PG_GETARG_POINTER(0))->cuts.k);
}

PG_FUNCTION_INFO_V1(rfm_cutpoints_customers);
Datum
rfm_cutpoints_customers(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(((RfmCutpoints *) PG_GETARG_POINTER(0))->n_customers);
}

/*
 * cutpoints(c, dimension): the cutpoints of 'recency' (days), 'frequency'
 * (purchase days) or 'monetary' (currency units) as numeric[].
 */
PG_FUNCTION_INFO_V1(rfm_cutpoints_dim);
Datum
rfm_cutpoints_dim(PG_FUNCTION_ARGS)
{
	RfmCutpoints *c = (RfmCutpoints *) PG_GETARG_POINTER(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Datum		elems[RFM_MAX_CUTS];
	int			d,
				j;

	for (d = 0; d < 3; d++)
		if (strcmp(name, dim_name[d]) == 0)
			break;
	if (d == 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown RFM dimension \"%s\"", name),
				 errhint("The dimensions are recency, frequency and monetary.")));
	for (j = 0; j < c->cuts.k - 1; j++)
		elems[j] = d == RFM_MONETARY ? crm_money_to_numeric(c->cuts.cut[d][j]) :
			NumericGetDatum(int64_to_numeric(c->cuts.cut[d][j]));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, c->cuts.k - 1, NUMERICOID, -1, false, TYPALIGN_INT));
}

/* ---------------------------------------------------------------------
 * Measuring a customer, scoring, and the rfm_quantiles() aggregate
 * ---------------------------------------------------------------------
 */

/*
 * A customer's recency (days), frequency (purchase days) and monetary value
 * (total net spend) as of a date; false if no purchase by then.
 */
static bool
rfm_measure(const SummaryView *v, int32 as_of, int64 values[3])
{
	SummaryStats st;

	crm_summary_check(summary_view_stats(v, as_of, &st), "rfm_score");
	if (st.purchase_days == 0)
		return false;
	values[RFM_RECENCY] = as_of - st.last_purchase;
	values[RFM_FREQUENCY] = st.purchase_days;
	values[RFM_MONETARY] = st.total;
	return true;
}

/*
 * The score of s against cutpoints, measured as of as_of (the cutpoints'
 * own date, or another: recency cutpoints are day counts, so they hold
 * from any date, as crm.rebase() says); false if no purchase by then.
 * The order trigger scores with the stored cutpoints this way.
 */
bool
crm_rfm_score_at(const SummaryView *v, const RfmCutpoints *cutpoints, int32 as_of, int32 *score)
{
	const RfmCuts *cuts = &cutpoints->cuts;
	int64		vals[3];

	crm_check_finite_date(as_of, "as_of");
	if (!rfm_measure(v, as_of, vals))
		return false;
	*score = RFM_PACK(rfm_score_dim(cuts, RFM_RECENCY, vals[0]),
					  rfm_score_dim(cuts, RFM_FREQUENCY, vals[1]),
					  rfm_score_dim(cuts, RFM_MONETARY, vals[2]),
					  cuts->k);
	return true;
}

/*
 * rfm_score(s, cutpoints): the customer's scores as of the cutpoints'
 * date; NULL if the customer had not purchased by then.
 */
PG_FUNCTION_INFO_V1(rfm_score);
Datum
rfm_score(PG_FUNCTION_ARGS)
{
	RfmCutpoints *c = (RfmCutpoints *) PG_GETARG_POINTER(1);
	int32		score;
	SummaryView v;

	crm_summary_view(PG_GETARG_SUMMARY_P(0), &v);
	if (!crm_rfm_score_at(&v, c, c->as_of, &score))
		PG_RETURN_NULL();
	PG_RETURN_INT32(score);
}

/*
 * The aggregate keeps every measured customer's three values in a list of
 * fixed-size blocks: appending never moves what is stored (growing one
 * array by doubling cost more in copies and fresh pages than the whole
 * selection), and the final function copies them once into the arrays it
 * selects the quantiles from.
 */
#define RFM_BLOCK_ROWS 8192

typedef struct RfmBlock
{
	struct RfmBlock *next;
	int			n;
	int64		v[3][RFM_BLOCK_ROWS];
} RfmBlock;

typedef struct RfmState
{
	int32		k;
	int32		as_of;
	int64		n;
	MemoryContext cxt;
	RfmBlock   *head;
	RfmBlock   *tail;
} RfmState;

static RfmState *
rfm_state_create(MemoryContext cxt, int k, int32 as_of)
{
	RfmState   *st = MemoryContextAllocZero(cxt, sizeof(RfmState));

	st->k = k;
	st->as_of = as_of;
	st->cxt = cxt;
	return st;
}

/* append n rows given as three columns (which need not be aligned) */
static void
rfm_state_append(RfmState *st, const char *col[3], int64 n)
{
	int64		done = 0;

	while (done < n)
	{
		int			room,
					chunk,
					d;

		if (st->tail == NULL || st->tail->n == RFM_BLOCK_ROWS)
		{
			RfmBlock   *b = MemoryContextAlloc(st->cxt, sizeof(RfmBlock));

			b->next = NULL;
			b->n = 0;
			if (st->tail)
				st->tail->next = b;
			else
				st->head = b;
			st->tail = b;
		}
		room = RFM_BLOCK_ROWS - st->tail->n;
		chunk = (int) Min((int64) room, n - done);
		for (d = 0; d < 3; d++)
			memcpy(&st->tail->v[d][st->tail->n], col[d] + done * sizeof(int64),
				   chunk * sizeof(int64));
		st->tail->n += chunk;
		done += chunk;
	}
	st->n += n;
}

/* copy dimension d of every row to dst (which need not be aligned) */
static void
rfm_state_column(RfmState *st, int d, char *dst)
{
	RfmBlock   *b;

	for (b = st->head; b; b = b->next)
	{
		memcpy(dst, b->v[d], b->n * sizeof(int64));
		dst += b->n * sizeof(int64);
	}
}

/* rfm_quantiles(s, as_of [, k]) */
PG_FUNCTION_INFO_V1(rfm_quantiles_accum);
Datum
rfm_quantiles_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RfmState   *st = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	int32		as_of;
	int			k = RFM_DEFAULT_SCALE;
	int64		v[3];
	SummaryView view;
	int			d;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "rfm_quantiles_accum called in non-aggregate context");
	if (PG_ARGISNULL(2) || (PG_NARGS() > 3 && PG_ARGISNULL(3)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of and k of rfm_quantiles must not be NULL")));
	as_of = PG_GETARG_DATEADT(2);
	if (PG_NARGS() > 3)
		k = PG_GETARG_INT32(3);
	if (st == NULL)
	{
		check_scale(k, "k");
		crm_check_finite_date(as_of, "as_of");
		st = rfm_state_create(aggcxt, k, as_of);
	}
	else if (st->as_of != as_of || st->k != k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of and k of rfm_quantiles must be the same for every row")));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(st);
	crm_summary_view(PG_GETARG_SUMMARY_P(1), &view);
	if (!rfm_measure(&view, as_of, v))
		PG_RETURN_POINTER(st);
	if (st->tail == NULL || st->tail->n == RFM_BLOCK_ROWS)
	{
		const char *col[3] = {(char *) &v[0], (char *) &v[1], (char *) &v[2]};

		rfm_state_append(st, col, 1);
	}
	else
	{
		for (d = 0; d < 3; d++)
			st->tail->v[d][st->tail->n] = v[d];
		st->tail->n++;
		st->n++;
	}
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(rfm_quantiles_combine);
Datum
rfm_quantiles_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RfmState   *a = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	RfmState   *b = PG_ARGISNULL(1) ? NULL : (RfmState *) PG_GETARG_POINTER(1);
	RfmBlock   *blk;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "rfm_quantiles_combine called in non-aggregate context");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		a = rfm_state_create(aggcxt, b->k, b->as_of);
	else if (a->as_of != b->as_of || a->k != b->k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of and k of rfm_quantiles must be the same for every row")));
	/* b may live in a short-lived context: copy its rows */
	for (blk = b->head; blk; blk = blk->next)
	{
		const char *col[3] = {(char *) blk->v[0], (char *) blk->v[1], (char *) blk->v[2]};

		rfm_state_append(a, col, blk->n);
	}
	PG_RETURN_POINTER(a);
}

/* serialized: k, as_of, n, then the three arrays */
PG_FUNCTION_INFO_V1(rfm_quantiles_serialize);
Datum
rfm_quantiles_serialize(PG_FUNCTION_ARGS)
{
	RfmState   *st = (RfmState *) PG_GETARG_POINTER(0);
	Size		len = 16 + 3 * st->n * sizeof(int64);
	bytea	   *b = palloc(VARHDRSZ + len);
	char	   *p = VARDATA(b);
	int			d;

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(p, &st->k, 4);
	memcpy(p + 4, &st->as_of, 4);
	memcpy(p + 8, &st->n, 8);
	p += 16;
	for (d = 0; d < 3; d++)
	{
		rfm_state_column(st, d, p);
		p += st->n * sizeof(int64);
	}
	PG_RETURN_BYTEA_P(b);
}

PG_FUNCTION_INFO_V1(rfm_quantiles_deserialize);
Datum
rfm_quantiles_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(b);
	int32		k,
				as_of;
	int64		n;
	RfmState   *st;
	const char *col[3];

	if (VARSIZE_ANY_EXHDR(b) < 16)
		crm_invalid_state("crm.rfm_quantiles");
	memcpy(&k, p, 4);
	memcpy(&as_of, p + 4, 4);
	memcpy(&n, p + 8, 8);
	if (k < RFM_MIN_SCALE || k > RFM_MAX_SCALE || n < 0 ||
		n > (VARSIZE_ANY_EXHDR(b) - 16) / (3 * sizeof(int64)) ||
		VARSIZE_ANY_EXHDR(b) != 16 + 3 * n * sizeof(int64))
		crm_invalid_state("crm.rfm_quantiles");
	st = rfm_state_create(CurrentMemoryContext, k, as_of);
	p += 16;
	col[0] = p;
	col[1] = p + n * sizeof(int64);
	col[2] = p + 2 * n * sizeof(int64);
	rfm_state_append(st, col, n);
	PG_RETURN_POINTER(st);
}

/* quantile cutpoints; NULL when no customer had purchased by as_of */
PG_FUNCTION_INFO_V1(rfm_quantiles_final);
Datum
rfm_quantiles_final(PG_FUNCTION_ARGS)
{
	RfmState   *st = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	RfmCutpoints *c;
	int64	   *values;
	int			d;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();
	c = palloc0(sizeof(RfmCutpoints));
	c->cuts.k = st->k;
	c->as_of = st->as_of;
	c->n_customers = st->n;
	values = palloc_extended(st->n * sizeof(int64), MCXT_ALLOC_HUGE);
	for (d = 0; d < 3; d++)
	{
		rfm_state_column(st, d, (char *) values);
		rfm_quantile_cuts(values, st->n, st->k, c->cuts.cut[d]);
	}
	pfree(values);
	PG_RETURN_POINTER(c);
}

/*
 * crm.rfm_quantiles over crm.agg_state (agg_state.c): the C state above,
 * updated in place, shipped flat between parallel workers and Citus nodes.
 */
static const CrmAggKind quantiles_kind = {
	CRM_AGG_RFM_QUANTILES, rfm_quantiles_serialize, rfm_quantiles_deserialize
};

CRM_AGG_STATE_SFUNC(rfm_quantiles_accum_state, rfm_quantiles_accum, &quantiles_kind)
CRM_AGG_STATE_COMBINEFUNC(rfm_quantiles_combine_state, rfm_quantiles_combine, &quantiles_kind)
CRM_AGG_STATE_FINALFUNC(rfm_quantiles_final_state, rfm_quantiles_final, &quantiles_kind)
