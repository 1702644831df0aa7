/*-------------------------------------------------------------------------
 *
 * btyd.c
 *	  SQL interface of the "buy till you die" models (btyd_kernel.c): the
 *	  crm.btyd_model type, its accessors, and per-customer predictions.
 *	  The fit aggregates are in btyd_fit.c, calibration and holdout in
 *	  btyd_validation.c.
 *
 * crm.btyd_model is a varlena: the kind, its parameters and covariate
 * coefficients, what the fit said of itself (log-likelihood, customers,
 * iterations, convergence, penalty), the time unit in days and the
 * calibration end when it was fitted on summaries (so that predictions
 * from summaries use the same unit), and the covariance of the estimates.
 * Stored form, after the varlena header: ModelHeader, then the nparams
 * parameters, the ntrans + ndrop coefficients, and (flag MODEL_HAS_VCOV)
 * the lower triangle of the covariance, row by row, all float8.
 *
 * 0.3.0 stored 80 fixed bytes (BtydModelV030).  Until ALTER EXTENSION crm
 * UPDATE has converted them (through their text form, sql/upgrade/), a
 * database still has the 0.3.0 type, whose functions call this library:
 * every function here reads both forms (a 0.3.0 value starts with its
 * kind, an int32 from 1 to 4; a 0.4.0 one with a varlena header of at
 * least 60 bytes, never that), and the input functions and the fits
 * return the 0.3.0 form when the SQL type they return is the 0.3.0 one
 * (80 bytes long).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "btyd.h"

#define BTYD_MODEL_VERSION 1
#define MODEL_HAS_VCOV	0x01
#define MODEL_HAS_AS_OF 0x02

typedef struct ModelHeader
{
	uint8		version;
	uint8		kind;
	uint8		ntrans;
	uint8		ndrop;
	int32		iterations;
	int32		converged;
	int32		flags;
	int32		as_of;
	int32		reserved;
	double		loglik;
	double		customers;
	double		penalty;
	double		unit_days;
} ModelHeader;

StaticAssertDecl(sizeof(ModelHeader) == 56, "crm.btyd_model header is 56 bytes");

static const struct
{
	BtydKind	kind;
	const char *name;			/* text form and SQL names */
}			model_names[] =
{
	{BTYD_BGNBD, "bgnbd"},
	{BTYD_PARETO_NBD, "pareto_nbd"},
	{BTYD_GAMMA_GAMMA, "gamma_gamma"},
	{BTYD_MBGNBD, "mbgnbd"},
	{BTYD_BGBB, "bgbb"},
};

const char *
btyd_model_name(int kind)
{
	int			i;

	for (i = 0; i < lengthof(model_names); i++)
		if (model_names[i].kind == kind)
			return model_names[i].name;
	elog(ERROR, "unknown crm.btyd_model kind %d", kind);
	return NULL;
}

/*
 * A prediction the kernel could not carry out in double precision (NaN)
 * for arguments that passed every check: extreme counts or horizons
 * against the model's parameters.  The arguments are the client's, so
 * this is 22003, not an internal error.
 */
void
btyd_prediction_failed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the prediction cannot be computed in double precision for these arguments"),
			 errhint("Counts and horizons far beyond the history the model was fitted on overflow; check that they are in the model's time unit.")));
}

static bool
is_count_model(int kind)
{
	return kind == BTYD_BGNBD || kind == BTYD_PARETO_NBD ||
		kind == BTYD_MBGNBD || kind == BTYD_BGBB;
}

/* number of stored float8 after the header */
static int
model_ndoubles(const BtydModelValue *m)
{
	int			n = BTYD_MODEL_NTHETA(m);

	return n + (m->has_vcov ? n * (n + 1) / 2 : 0);
}

/* the 0.3.0 form */
typedef struct BtydModelV030
{
	int32		kind;
	int32		iterations;
	int32		converged;
	int32		reserved;
	double		params[BTYD_MAX_PARAMS];
	double		loglik;
	double		customers;
	double		penalty;
	double		unit_days;
} BtydModelV030;

StaticAssertDecl(sizeof(BtydModelV030) == 80, "the 0.3.0 crm.btyd_model is 80 bytes");

static bool
is_v030(Datum d)
{
	int32		first;

	memcpy(&first, DatumGetPointer(d), sizeof(first));
	return first >= 1 && first <= 4;
}

/* whether the type typid is the 0.3.0 crm.btyd_model (80 bytes long) */
static bool
is_v030_type(Oid typid)
{
	return OidIsValid(typid) && get_typlen(typid) == sizeof(BtydModelV030);
}

static void
model_corrupt(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid crm.btyd_model value")));
}

/* a binary input (recv) that is no model: the client sent it, 22P03 */
static void
model_recv_invalid(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid external crm.btyd_model value"),
			 errdetail("%s", detail)));
}

/* a model in the 0.3.0 form, which holds no covariates, covariance or as_of */
static Datum
pack_v030(const BtydModelValue *m)
{
	BtydModelV030 *old = palloc0(sizeof(BtydModelV030));

	if (m->kind == BTYD_BGBB || m->ntrans + m->ndrop > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a crm.btyd_model of 0.3.0 holds a bgnbd, pareto_nbd, gamma_gamma or mbgnbd model without covariates"),
				 errhint("Run ALTER EXTENSION crm UPDATE.")));
	old->kind = m->kind;
	memcpy(old->params, m->params, sizeof(old->params));
	old->iterations = m->iterations;
	old->converged = m->converged;
	old->loglik = m->loglik;
	old->customers = m->customers;
	old->penalty = m->penalty;
	old->unit_days = m->unit_days;
	return PointerGetDatum(old);
}

static bool
unpack_v030(Datum d, BtydModelValue *m)
{
	BtydModelV030 old;

	memcpy(&old, DatumGetPointer(d), sizeof(old));
	memset(m, 0, sizeof(*m));
	m->kind = old.kind;
	if (btyd_nparams(m->kind) == 0)
		return false;
	memcpy(m->params, old.params, sizeof(m->params));
	m->iterations = old.iterations;
	m->converged = old.converged;
	m->loglik = old.loglik;
	m->customers = old.customers;
	m->penalty = old.penalty;
	m->unit_days = old.unit_days;
	return true;
}

static Datum btyd_model_pack(const BtydModelValue *m);

Datum
btyd_model_result(FunctionCallInfo fcinfo, const BtydModelValue *m)
{
	if (is_v030_type(get_func_rettype(fcinfo->flinfo->fn_oid)))
		return pack_v030(m);
	return btyd_model_pack(m);
}

static Datum
btyd_model_pack(const BtydModelValue *m)
{
	int			np = btyd_nparams(m->kind);
	int			n = BTYD_MODEL_NTHETA(m);
	int			nd = model_ndoubles(m);
	Size		len = VARHDRSZ + sizeof(ModelHeader) + nd * sizeof(double);
	char	   *v = palloc0(len);
	ModelHeader h;
	double	   *d = palloc(nd * sizeof(double));
	int			i,
				j,
				k = 0;

	memset(&h, 0, sizeof(h));
	h.version = BTYD_MODEL_VERSION;
	h.kind = m->kind;
	h.ntrans = m->ntrans;
	h.ndrop = m->ndrop;
	h.iterations = m->iterations;
	h.converged = m->converged;
	h.flags = (m->has_vcov ? MODEL_HAS_VCOV : 0) | (m->has_as_of ? MODEL_HAS_AS_OF : 0);
	h.as_of = m->has_as_of ? m->as_of : 0;
	h.loglik = m->loglik;
	h.customers = m->customers;
	h.penalty = m->penalty;
	h.unit_days = m->unit_days;
	for (i = 0; i < np; i++)
		d[k++] = m->params[i];
	for (i = 0; i < m->ntrans + m->ndrop; i++)
		d[k++] = m->coef[i];
	if (m->has_vcov)
		for (i = 0; i < n; i++)
			for (j = 0; j <= i; j++)
				d[k++] = m->vcov[i * n + j];
	SET_VARSIZE(v, len);
	memcpy(VARDATA(v), &h, sizeof(h));
	memcpy(VARDATA(v) + sizeof(h), d, nd * sizeof(double));
	pfree(d);
	PG_RETURN_POINTER(v);
}

/*
 * Read a stored model into *m; false when the bytes are no model of this
 * release (the caller says what kind of error that is).
 */
bool
btyd_model_try_unpack(Datum datum, BtydModelValue *m)
{
	struct varlena *v;
	const char *p;
	Size		len;
	ModelHeader h;
	int			np,
				n,
				i,
				j,
				k = 0;
	double		d[BTYD_MAX_THETA + BTYD_MAX_THETA * (BTYD_MAX_THETA + 1) / 2];

	if (is_v030(datum))
	{
		return unpack_v030(datum, m);
	}
	v = PG_DETOAST_DATUM_PACKED(datum);
	p = VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	if (len < sizeof(h))
		return false;
	memcpy(&h, p, sizeof(h));
	memset(m, 0, sizeof(*m));
	m->kind = h.kind;
	m->ntrans = h.ntrans;
	m->ndrop = h.ndrop;
	np = btyd_nparams(m->kind);
	if (h.version != BTYD_MODEL_VERSION || np == 0 ||
		m->ntrans > BTYD_MAX_COVARIATES || m->ndrop > BTYD_MAX_COVARIATES)
		return false;
	m->iterations = h.iterations;
	m->converged = h.converged;
	m->has_vcov = (h.flags & MODEL_HAS_VCOV) != 0;
	m->has_as_of = (h.flags & MODEL_HAS_AS_OF) != 0;
	m->as_of = h.as_of;
	m->loglik = h.loglik;
	m->customers = h.customers;
	m->penalty = h.penalty;
	m->unit_days = h.unit_days;
	n = BTYD_MODEL_NTHETA(m);
	if (len != sizeof(h) + model_ndoubles(m) * sizeof(double))
		return false;
	memcpy(d, p + sizeof(h), model_ndoubles(m) * sizeof(double));
	for (i = 0; i < np; i++)
		m->params[i] = d[k++];
	for (i = 0; i < m->ntrans + m->ndrop; i++)
		m->coef[i] = d[k++];
	if (m->has_vcov)
		for (i = 0; i < n; i++)
			for (j = 0; j <= i; j++)
			{
				m->vcov[i * n + j] = d[k];
				m->vcov[j * n + i] = d[k++];
			}
	if ((Pointer) v != DatumGetPointer(datum))
		pfree(v);
	return true;
}

void
btyd_model_unpack(Datum datum, BtydModelValue *m)
{
	if (!btyd_model_try_unpack(datum, m))
		model_corrupt();
}

/*
 * A date as YYYY-MM-DD whatever DateStyle says, so that text forms that
 * hold dates (the model's as_of, the validation report) read back the same
 * in any session.  Dates here are within 0001-01-01 .. 9999-12-31.
 */
char *
btyd_iso_date(int32 date)
{
	int			y,
				m,
				d;

	j2date(date + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	return psprintf("%04d-%02d-%02d", y, m, d);
}

/* the name of (params, coef) entry i: "r", ..., "trans_1", "dropout_2" */
static char *
theta_name(const BtydModelValue *m, int i)
{
	int			np = btyd_nparams(m->kind);

	if (i < np)
		return pstrdup(btyd_param_name(m->kind, i));
	if (i < np + m->ntrans)
		return psprintf("trans_%d", i - np + 1);
	return psprintf("dropout_%d", i - np - m->ntrans + 1);
}

/* ---------------------------------------------------------------------
 * crm.btyd_model I/O
 *
 * Text: bgnbd(r=0.2426,alpha=4.414,a=0.7929,b=2.426), then optionally
 *	covariates(trans={0.49},dropout={-0.44,0.1})
 *	fit(loglik=-9582.43,customers=2357,iterations=14,converged=true,
 *		penalty=0,unit_days=7,as_of=1997-09-30)	(as_of optional)
 *	vcov({...},{...},...)	(the covariance, one row per entry)
 * in that order.  Numbers are written in their shortest exact form, so
 * text round trips are lossless.
 * ---------------------------------------------------------------------
 */

static void
append_numbers(StringInfo buf, const double *v, int n)
{
	int			i;

	appendStringInfoChar(buf, '{');
	for (i = 0; i < n; i++)
		appendStringInfo(buf, "%s%s", i > 0 ? "," : "", float8out_internal(v[i]));
	appendStringInfoChar(buf, '}');
}

static char *
model_to_text(const BtydModelValue *m)
{
	StringInfoData buf;
	int			n = BTYD_MODEL_NTHETA(m);
	int			i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s(", btyd_model_name(m->kind));
	for (i = 0; i < btyd_nparams(m->kind); i++)
		appendStringInfo(&buf, "%s%s=%s", i > 0 ? "," : "",
						 btyd_param_name(m->kind, i), float8out_internal(m->params[i]));
	appendStringInfoChar(&buf, ')');
	if (m->ntrans + m->ndrop > 0)
	{
		appendStringInfoString(&buf, " covariates(trans=");
		append_numbers(&buf, m->coef, m->ntrans);
		appendStringInfoString(&buf, ",dropout=");
		append_numbers(&buf, m->coef + m->ntrans, m->ndrop);
		appendStringInfoChar(&buf, ')');
	}
	if (m->converged >= 0)
	{
		appendStringInfo(&buf, " fit(loglik=%s,customers=%s,iterations=%d,converged=%s,penalty=%s,unit_days=%s",
						 float8out_internal(m->loglik), float8out_internal(m->customers),
						 m->iterations, m->converged ? "true" : "false",
						 float8out_internal(m->penalty), float8out_internal(m->unit_days));
		if (m->has_as_of)
			appendStringInfo(&buf, ",as_of=%s", btyd_iso_date(m->as_of));
		appendStringInfoChar(&buf, ')');
	}
	if (m->has_vcov)
	{
		appendStringInfoString(&buf, " vcov(");
		for (i = 0; i < n; i++)
		{
			if (i > 0)
				appendStringInfoChar(&buf, ',');
			append_numbers(&buf, m->vcov + i * n, n);
		}
		appendStringInfoChar(&buf, ')');
	}
	return buf.data;
}

PG_FUNCTION_INFO_V1(btyd_model_out);
Datum
btyd_model_out(PG_FUNCTION_ARGS)
{
	BtydModelValue m;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	PG_RETURN_CSTRING(model_to_text(&m));
}

static void
model_syntax_error(const char *str, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type crm.btyd_model: \"%s\"", str),
			 errdetail("%s", detail),
			 errhint("A model reads like bgnbd(r=0.243,alpha=4.414,a=0.793,b=2.426); the kinds are bgnbd, pareto_nbd, gamma_gamma, mbgnbd and bgbb.")));
}

/* parse a float8 at *pp */
static bool
parse_number(const char **pp, double *v)
{
	char	   *end;

	errno = 0;
	*v = strtod(*pp, &end);
	/* as float8in: an underflow to a subnormal number is that number */
	if (end == *pp || (errno == ERANGE && (*v == 0 || isinf(*v))))
		return false;
	*pp = end;
	return true;
}

/* parse "name=<float8>" at *pp, the name given */
static bool
parse_named_number(const char **pp, const char *name, double *v)
{
	size_t		len = strlen(name);

	if (strncmp(*pp, name, len) != 0 || (*pp)[len] != '=')
		return false;
	*pp += len + 1;
	return parse_number(pp, v);
}

/* skip the literal "word" at *pp; false if it is not there */
static bool
skip(const char **pp, const char *word)
{
	size_t		len = strlen(word);

	if (strncmp(*pp, word, len) != 0)
		return false;
	*pp += len;
	return true;
}

/* "{v1,v2,...}" with at most max numbers into v; -1 on a syntax error */
static int
parse_list(const char **pp, double *v, int max)
{
	int			n = 0;

	if (!skip(pp, "{"))
		return -1;
	if (skip(pp, "}"))
		return 0;
	for (;;)
	{
		if (n == max || !parse_number(pp, &v[n]))
			return -1;
		n++;
		if (skip(pp, "}"))
			return n;
		if (!skip(pp, ","))
			return -1;
	}
}

static void
check_params(const BtydModelValue *m)
{
	int			i;

	for (i = 0; i < btyd_nparams(m->kind); i++)
		if (!(m->params[i] > 0) || isinf(m->params[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter %s of a %s model must be a finite positive number",
							btyd_param_name(m->kind, i), btyd_model_name(m->kind))));
	for (i = 0; i < m->ntrans + m->ndrop; i++)
		if (!isfinite(m->coef[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("covariate coefficients must be finite numbers")));
}

/* the model in str; errors name what is wrong */
static void
model_parse(const char *str, BtydModelValue *m)
{
	const char *p = str;
	int			i;

	memset(m, 0, sizeof(*m));
	while (*p == ' ')
		p++;
	for (i = 0; i < lengthof(model_names); i++)
	{
		size_t		len = strlen(model_names[i].name);

		if (strncmp(p, model_names[i].name, len) == 0 && p[len] == '(')
		{
			m->kind = model_names[i].kind;
			p += len + 1;
			break;
		}
	}
	if (m->kind == 0)
		model_syntax_error(str, "It starts with the kind of model and \"(\".");
	for (i = 0; i < btyd_nparams(m->kind); i++)
	{
		if (i > 0 && *p++ != ',')
			model_syntax_error(str, psprintf("A %s model has %d parameters, separated by commas.",
											 btyd_model_name(m->kind), btyd_nparams(m->kind)));
		if (!parse_named_number(&p, btyd_param_name(m->kind, i), &m->params[i]))
			model_syntax_error(str, psprintf("Expected %s=<number>.", btyd_param_name(m->kind, i)));
	}
	if (*p++ != ')')
		model_syntax_error(str, "The parameters end with \")\".");
	m->converged = -1;
	m->loglik = get_float8_nan();
	while (*p == ' ')
		p++;
	if (skip(&p, "covariates("))
	{
		if (!btyd_takes_covariates(m->kind))
			model_syntax_error(str, psprintf("A %s model takes no covariates.", btyd_model_name(m->kind)));
		if (!skip(&p, "trans=") ||
			(m->ntrans = parse_list(&p, m->coef, BTYD_MAX_COVARIATES)) < 0 ||
			!skip(&p, ",dropout=") ||
			(m->ndrop = parse_list(&p, m->coef + m->ntrans, BTYD_MAX_COVARIATES)) < 0 ||
			!skip(&p, ")"))
			model_syntax_error(str, psprintf("covariates(...) reads trans={...},dropout={...}, at most %d numbers each.",
											 BTYD_MAX_COVARIATES));
		while (*p == ' ')
			p++;
	}
	check_params(m);
	if (skip(&p, "fit("))
	{
		double		iterations;
		bool		conv;

		if (!parse_named_number(&p, "loglik", &m->loglik) || *p++ != ',' ||
			!parse_named_number(&p, "customers", &m->customers) || *p++ != ',' ||
			!parse_named_number(&p, "iterations", &iterations) || *p++ != ',')
			model_syntax_error(str, "fit(...) reads loglik=, customers=, iterations=, converged=, penalty=, unit_days= and optionally as_of=.");
		if (!(iterations >= 0 && iterations <= PG_INT32_MAX) || iterations != floor(iterations))
			model_syntax_error(str, "iterations is a whole number from 0 to 2147483647.");
		if (skip(&p, "converged=true"))
			conv = true;
		else if (skip(&p, "converged=false"))
			conv = false;
		else
			model_syntax_error(str, "converged is true or false.");
		if (*p++ != ',' || !parse_named_number(&p, "penalty", &m->penalty) || *p++ != ',' ||
			!parse_named_number(&p, "unit_days", &m->unit_days))
			model_syntax_error(str, "fit(...) reads loglik=, customers=, iterations=, converged=, penalty=, unit_days= and optionally as_of=.");
		if (skip(&p, ",as_of="))
		{
			char		date[16];
			int			k = 0;

			while (k < 15 && ((*p >= '0' && *p <= '9') || *p == '-'))
				date[k++] = *p++;
			date[k] = '\0';
			if (k < 8)
				model_syntax_error(str, "as_of is a date like 2024-06-30.");
			m->as_of = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(date)));
			if (m->as_of < CRM_MIN_STORED_DATE || m->as_of > CRM_MAX_STORED_DATE)
				model_syntax_error(str, "as_of lies between 0001-01-01 and 9999-12-31.");
			m->has_as_of = true;
		}
		if (*p++ != ')')
			model_syntax_error(str, "fit(...) ends with \")\".");
		m->converged = conv ? 1 : 0;
		m->iterations = (int32) iterations;
		while (*p == ' ')
			p++;
	}
	if (skip(&p, "vcov("))
	{
		int			n = BTYD_MODEL_NTHETA(m);
		int			j;

		for (i = 0; i < n; i++)
		{
			if ((i > 0 && !skip(&p, ",")) || parse_list(&p, m->vcov + i * n, n) != n)
				model_syntax_error(str, psprintf("vcov(...) holds %d rows of %d numbers, {...},{...}.", n, n));
		}
		if (!skip(&p, ")"))
			model_syntax_error(str, "vcov(...) ends with \")\".");
		for (i = 0; i < n; i++)
			for (j = 0; j < i; j++)
				if (!(m->vcov[i * n + j] == m->vcov[j * n + i]) &&
					!(isnan(m->vcov[i * n + j]) && isnan(m->vcov[j * n + i])))
					model_syntax_error(str, "vcov(...) is a symmetric matrix.");
		m->has_vcov = true;
	}
	while (*p == ' ')
		p++;
	if (*p != '\0')
		model_syntax_error(str, "Unexpected text after the model.");
}

PG_FUNCTION_INFO_V1(btyd_model_in);
Datum
btyd_model_in(PG_FUNCTION_ARGS)
{
	BtydModelValue m;

	model_parse(PG_GETARG_CSTRING(0), &m);
	if (PG_NARGS() > 1 && is_v030_type(PG_GETARG_OID(1)))
		return pack_v030(&m);
	return btyd_model_pack(&m);
}

/*
 * Binary form: version, kind, ntrans, ndrop (bytes), iterations,
 * converged, flags, as_of (int32), loglik, customers, penalty, unit_days,
 * then the float8 of the stored form.  recv also reads 0.3.0's binary form
 * (int32 kind, iterations, converged; float8 params[4], loglik,
 * customers, penalty, unit_days), which starts with a zero byte.
 */
PG_FUNCTION_INFO_V1(btyd_model_recv);
Datum
btyd_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	BtydModelValue m;
	bool		v030 = buf->len - buf->cursor > 0 && buf->data[buf->cursor] == 0;
	int			i,
				j,
				n;

	memset(&m, 0, sizeof(m));
	if (v030)
	{
		m.kind = pq_getmsgint(buf, 4);
		if (m.kind == BTYD_BGBB || btyd_nparams(m.kind) == 0)
			model_recv_invalid(psprintf("Unknown kind of model %d in the 0.3.0 binary form.", m.kind));
		m.iterations = pq_getmsgint(buf, 4);
		if (m.iterations < 0)
			model_recv_invalid("A model's iteration count is negative.");
		m.converged = pq_getmsgint(buf, 4);
		for (i = 0; i < BTYD_MAX_PARAMS; i++)
			m.params[i] = pq_getmsgfloat8(buf);
		for (i = btyd_nparams(m.kind); i < BTYD_MAX_PARAMS; i++)
			m.params[i] = 0;
	}
	else
	{
		int32		flags;
		int			version = pq_getmsgbyte(buf);

		if (version != BTYD_MODEL_VERSION)
			model_recv_invalid(psprintf("Unknown binary version %d.", version));
		m.kind = pq_getmsgbyte(buf);
		m.ntrans = pq_getmsgbyte(buf);
		m.ndrop = pq_getmsgbyte(buf);
		if (btyd_nparams(m.kind) == 0)
			model_recv_invalid(psprintf("Unknown kind of model %d.", m.kind));
		if (m.ntrans > BTYD_MAX_COVARIATES || m.ndrop > BTYD_MAX_COVARIATES ||
			(m.ntrans + m.ndrop > 0 && !btyd_takes_covariates(m.kind)))
			model_recv_invalid(psprintf("A %s model cannot hold %d purchase and %d dropout covariates.",
										btyd_model_name(m.kind), m.ntrans, m.ndrop));
		m.iterations = pq_getmsgint(buf, 4);
		if (m.iterations < 0)
			model_recv_invalid("A model's iteration count is negative.");
		m.converged = pq_getmsgint(buf, 4);
		flags = pq_getmsgint(buf, 4);
		m.has_vcov = (flags & MODEL_HAS_VCOV) != 0;
		m.has_as_of = (flags & MODEL_HAS_AS_OF) != 0;
		m.as_of = pq_getmsgint(buf, 4);
		if (m.has_as_of && (m.as_of < CRM_MIN_STORED_DATE || m.as_of > CRM_MAX_STORED_DATE))
			model_recv_invalid("The model's as_of is not between 0001-01-01 and 9999-12-31.");
	}
	m.loglik = pq_getmsgfloat8(buf);
	m.customers = pq_getmsgfloat8(buf);
	m.penalty = pq_getmsgfloat8(buf);
	m.unit_days = pq_getmsgfloat8(buf);
	if (!v030)
	{
		n = BTYD_MODEL_NTHETA(&m);
		for (i = 0; i < btyd_nparams(m.kind); i++)
			m.params[i] = pq_getmsgfloat8(buf);
		for (i = 0; i < m.ntrans + m.ndrop; i++)
			m.coef[i] = pq_getmsgfloat8(buf);
		if (m.has_vcov)
			for (i = 0; i < n; i++)
				for (j = 0; j <= i; j++)
					m.vcov[i * n + j] = m.vcov[j * n + i] = pq_getmsgfloat8(buf);
	}
	check_params(&m);
	if (PG_NARGS() > 1 && is_v030_type(PG_GETARG_OID(1)))
		return pack_v030(&m);
	return btyd_model_pack(&m);
}

PG_FUNCTION_INFO_V1(btyd_model_send);
Datum
btyd_model_send(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	StringInfoData buf;
	int			n,
				i,
				j;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	n = BTYD_MODEL_NTHETA(&m);
	pq_begintypsend(&buf);
	if (is_v030(PG_GETARG_DATUM(0)))
	{
		/* 0.3.0's binary form, for the 0.3.0 type */
		pq_sendint32(&buf, m.kind);
		pq_sendint32(&buf, m.iterations);
		pq_sendint32(&buf, m.converged);
		for (i = 0; i < BTYD_MAX_PARAMS; i++)
			pq_sendfloat8(&buf, m.params[i]);
		pq_sendfloat8(&buf, m.loglik);
		pq_sendfloat8(&buf, m.customers);
		pq_sendfloat8(&buf, m.penalty);
		pq_sendfloat8(&buf, m.unit_days);
		PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
	}
	pq_sendbyte(&buf, BTYD_MODEL_VERSION);
	pq_sendbyte(&buf, m.kind);
	pq_sendbyte(&buf, m.ntrans);
	pq_sendbyte(&buf, m.ndrop);
	pq_sendint32(&buf, m.iterations);
	pq_sendint32(&buf, m.converged);
	pq_sendint32(&buf, (m.has_vcov ? MODEL_HAS_VCOV : 0) | (m.has_as_of ? MODEL_HAS_AS_OF : 0));
	pq_sendint32(&buf, m.has_as_of ? m.as_of : 0);
	pq_sendfloat8(&buf, m.loglik);
	pq_sendfloat8(&buf, m.customers);
	pq_sendfloat8(&buf, m.penalty);
	pq_sendfloat8(&buf, m.unit_days);
	for (i = 0; i < btyd_nparams(m.kind); i++)
		pq_sendfloat8(&buf, m.params[i]);
	for (i = 0; i < m.ntrans + m.ndrop; i++)
		pq_sendfloat8(&buf, m.coef[i]);
	if (m.has_vcov)
		for (i = 0; i < n; i++)
			for (j = 0; j <= i; j++)
				pq_sendfloat8(&buf, m.vcov[i * n + j]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------
 * Accessors
 * ---------------------------------------------------------------------
 */

/* the index of entry "name" of (params, coef), or an ERROR */
static int
theta_index(const BtydModelValue *m, const char *name)
{
	int			i;

	for (i = 0; i < BTYD_MODEL_NTHETA(m); i++)
		if (strcmp(name, theta_name(m, i)) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a %s model has no parameter \"%s\"", btyd_model_name(m->kind), name),
			 m->ntrans + m->ndrop > 0 ?
			 errhint("Covariate coefficients are named trans_1, trans_2, ... and dropout_1, dropout_2, ....") : 0));
	return -1;
}

static double
theta_value(const BtydModelValue *m, int i)
{
	int			np = btyd_nparams(m->kind);

	return i < np ? m->params[i] : m->coef[i - np];
}

/* param(model, name): one parameter by name, e.g. param(m, 'alpha') */
PG_FUNCTION_INFO_V1(btyd_model_param);
Datum
btyd_model_param(PG_FUNCTION_ARGS)
{
	BtydModelValue m;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	PG_RETURN_FLOAT8(theta_value(&m, theta_index(&m, text_to_cstring(PG_GETARG_TEXT_PP(1)))));
}

/* std_error(model, name): NULL without a covariance or for an unfitted coefficient */
PG_FUNCTION_INFO_V1(btyd_model_std_error);
Datum
btyd_model_std_error(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	int			i,
				n;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	i = theta_index(&m, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	n = BTYD_MODEL_NTHETA(&m);
	if (!m.has_vcov || !(m.vcov[i * n + i] >= 0))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sqrt(m.vcov[i * n + i]));
}

/* vcov(model): the covariance as a square float8[][]; NULL without one */
PG_FUNCTION_INFO_V1(btyd_model_vcov);
Datum
btyd_model_vcov(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	Datum	   *elems;
	int			dims[2],
				lbs[2] = {1, 1};
	int			n,
				i;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	if (!m.has_vcov)
		PG_RETURN_NULL();
	n = BTYD_MODEL_NTHETA(&m);
	elems = palloc(n * n * sizeof(Datum));
	for (i = 0; i < n * n; i++)
		elems[i] = Float8GetDatum(m.vcov[i]);
	dims[0] = dims[1] = n;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, NULL, 2, dims, lbs, FLOAT8OID,
											 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * estimates(model, level): a row per parameter and coefficient with its
 * standard error and the two-sided interval of that level: on the log
 * scale for the (positive) parameters, estimate * exp(-+z se / estimate),
 * and estimate -+ z se for coefficients.
 */
PG_FUNCTION_INFO_V1(btyd_model_estimates);
Datum
btyd_model_estimates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BtydModelValue m;
	double		level = PG_GETARG_FLOAT8(1);
	double		z;
	int			np,
				n,
				i;

	if (!(level > 0 && level < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("level must lie strictly between 0 and 1"),
				 errdetail("level is %g.", level)));
	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	InitMaterializedSRF(fcinfo, 0);
	z = btyd_normal_quantile(0.5 + 0.5 * level);
	np = btyd_nparams(m.kind);
	n = BTYD_MODEL_NTHETA(&m);
	for (i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, true, true, true};
		double		est = theta_value(&m, i);

		values[0] = CStringGetTextDatum(theta_name(&m, i));
		values[1] = Float8GetDatum(est);
		if (m.has_vcov && m.vcov[i * n + i] >= 0)
		{
			double		se = sqrt(m.vcov[i * n + i]);

			values[2] = Float8GetDatum(se);
			values[3] = Float8GetDatum(i < np ? est * exp(-z * se / est) : est - z * se);
			values[4] = Float8GetDatum(i < np ? est * exp(z * se / est) : est + z * se);
			nulls[2] = nulls[3] = nulls[4] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(btyd_model_kind);
Datum
btyd_model_kind(PG_FUNCTION_ARGS)
{
	BtydModelValue m;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	PG_RETURN_TEXT_P(cstring_to_text(btyd_model_name(m.kind)));
}

PG_FUNCTION_INFO_V1(btyd_model_loglik);
Datum
btyd_model_loglik(PG_FUNCTION_ARGS)
{
	BtydModelValue m;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	if (m.converged < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(m.loglik);
}

PG_FUNCTION_INFO_V1(btyd_model_customers);
Datum
btyd_model_customers(PG_FUNCTION_ARGS)
{
	BtydModelValue m;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	if (m.converged < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(m.customers);
}

PG_FUNCTION_INFO_V1(btyd_model_converged);
Datum
btyd_model_converged(PG_FUNCTION_ARGS)
{
	BtydModelValue m;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	if (m.converged < 0)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(m.converged == 1);
}

PG_FUNCTION_INFO_V1(btyd_model_iterations);
Datum
btyd_model_iterations(PG_FUNCTION_ARGS)
{
	BtydModelValue m;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	if (m.converged < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(m.iterations);
}

/* calibration_end(model): the as_of of a fit on summaries, else NULL */
PG_FUNCTION_INFO_V1(btyd_model_calibration_end);
Datum
btyd_model_calibration_end(PG_FUNCTION_ARGS)
{
	BtydModelValue m;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	if (!m.has_as_of)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(m.as_of);
}

/* ---------------------------------------------------------------------
 * Predictions
 * ---------------------------------------------------------------------
 */

/*
 * An ERROR unless the model predicts purchases: not for a spend model, nor
 * for a model with covariates, which predicts only through
 * crm.with_covariates().
 */
static void
require_count_model(const BtydModelValue *m)
{
	if (!is_count_model(m->kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s model does not predict purchases", btyd_model_name(m->kind)),
				 errhint("Use a bgnbd, pareto_nbd, mbgnbd or bgbb model.")));
	if (m->ntrans + m->ndrop > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a model with covariates predicts for one customer's covariates"),
				 errhint("Pass crm.with_covariates(model, trans, dropout) with the customer's covariates.")));
}

/* the count model argument argno, unpacked */
static void
btyd_count_model_arg(FunctionCallInfo fcinfo, int argno, BtydModelValue *m)
{
	btyd_model_unpack(PG_GETARG_DATUM(argno), m);
	require_count_model(m);
}

/* the triple of prediction arguments (x, t_x, T) at argno */
static void
triple_args(FunctionCallInfo fcinfo, const BtydModelValue *m, int argno,
			double *x, double *t_x, double *T)
{
	*x = PG_GETARG_INT32(argno);
	*t_x = PG_GETARG_FLOAT8(argno + 1);
	*T = PG_GETARG_FLOAT8(argno + 2);
	crm_check_finite(*t_x, "t_x");
	crm_check_finite(*T, "T");
	if (*x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("x must not be negative")));
	if (*T < 0 || *t_x < 0 || *t_x > *T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("t_x and T must satisfy 0 <= t_x <= T"),
				 errdetail("t_x is %g and T is %g.", *t_x, *T)));
	if (btyd_is_discrete(m->kind) &&
		(*t_x != floor(*t_x) || *T != floor(*T) || *T > BTYD_MAX_OPPORTUNITIES ||
		 (*x > 0 && *x > *t_x)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a bgbb model takes whole numbers of opportunities with x <= t_x <= n"),
				 errdetail("x is %g, t_x is %g and n is %g.", *x, *t_x, *T),
				 errhint("n (the argument T) counts the opportunities after the first purchase, at most %d.",
						 BTYD_MAX_OPPORTUNITIES)));
	if (*x == 0)
		*t_x = 0;
}

/*
 * The discrete history of a summary as of as_of (BG/BB): opportunities of
 * period_days, counted back from as_of, so that the last one ends on as_of
 * and every one after the first purchase's is complete; with a period of a
 * year ending on December 31 they are calendar years.  The first purchase
 * falls in period k_f (0 = the one ending on as_of); the n = k_f periods
 * after it are the opportunities, a purchase in period k being in
 * opportunity j = k_f - k.  x counts the opportunities with a purchase,
 * t_x is the last of them; another purchase in the first purchase's own
 * period is no repeat.
 */
bool
btyd_discrete_history(const SummaryView *v, int32 as_of, double period_days,
					  SummaryTriple *out)
{
	int			cut;
	double		kf = 0,
				last_j = 0;
	bool		seen = false;
	int			i;

	/* which periods hold a purchase: every day is needed */
	if (v->through != SUMMARY_NOTHING_SEALED)
		crm_summary_check(SUMMARY_SEALED, "a bgbb history");
	cut = summary_cut(v->days, v->ndays, as_of);

	out->x = 0;
	out->zbar = 0;
	for (i = 0; i < cut; i++)
	{
		double		k;

		if (v->days[i].purchases <= 0)
			continue;
		k = floor((as_of - v->days[i].day) / period_days);
		if (!seen)
		{
			kf = k;
			seen = true;
			continue;
		}
		if (k < kf && kf - k > last_j)
		{
			out->x++;
			last_j = kf - k;
		}
	}
	if (!seen)
		return false;
	out->T = Min(kf, BTYD_MAX_OPPORTUNITIES);
	out->t_x = Min(last_j, out->T);
	return true;
}

/*
 * A customer's history in the model's time as of as_of: the continuous
 * triple in the model's unit, or for BG/BB the opportunities of one unit
 * counted from the first purchase.  False if the customer had not
 * purchased by as_of.
 */
static bool
btyd_history(const BtydModelValue *m, const SummaryView *v, int32 as_of,
			 SummaryTriple *out)
{
	double		unit = m->kind == BTYD_GAMMA_GAMMA ? 1.0 : m->unit_days;

	if (!(unit > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model was not fitted on summaries, so its time unit is unknown"),
				 errhint("Pass the customer's x, t_x and T in the model's unit instead.")));
	if (btyd_is_discrete(m->kind))
		return btyd_discrete_history(v, as_of, unit, out);
	return crm_view_triple(v, as_of, unit, out);
}

/* the history of a summary argument at argno (as_of at argno + 1) */
static bool
summary_args(FunctionCallInfo fcinfo, const BtydModelValue *m, int argno,
			 SummaryTriple *triple)
{
	SummaryView v;

	crm_summary_view(PG_GETARG_SUMMARY_P(argno), &v);
	return btyd_history(m, &v, crm_as_of_arg(fcinfo, argno + 1), triple);
}

static double
horizon_arg(FunctionCallInfo fcinfo, const BtydModelValue *m, int argno)
{
	double		t = PG_GETARG_FLOAT8(argno);

	crm_check_finite(t, "t");
	if (t < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("t must not be negative")));
	if (btyd_is_discrete(m->kind) && (t != floor(t) || t > BTYD_MAX_OPPORTUNITIES))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("for a bgbb model t counts opportunities and must be a whole number up to %d",
						BTYD_MAX_OPPORTUNITIES),
				 errdetail("t is %g.", t)));
	return t;
}

static double
count_arg(FunctionCallInfo fcinfo, int argno)
{
	int32		k = PG_GETARG_INT32(argno);

	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must not be negative"),
				 errdetail("k is %d.", k)));
	return k;
}

/*
 * Every count-model prediction, from the model and a history: which one is
 * chosen by the SQL function's C entry point below.
 */
typedef enum Prediction
{
	PRED_P_ALIVE,
	PRED_EXPECTED,
	PRED_PMF,
	PRED_NO_PURCHASE
} Prediction;

static Datum
predict(const BtydModelValue *m, Prediction what, double t, double k,
		const SummaryTriple *h)
{
	double		v = NAN;

	switch (what)
	{
		case PRED_P_ALIVE:
			v = btyd_p_alive(m->kind, m->params, h->x, h->t_x, h->T);
			break;
		case PRED_EXPECTED:
			v = btyd_expected_purchases(m->kind, m->params, t, h->x, h->t_x, h->T);
			break;
		case PRED_PMF:
			v = btyd_pmf_conditional(m->kind, m->params, t, k, h->x, h->t_x, h->T);
			break;
		case PRED_NO_PURCHASE:
			v = btyd_pmf_conditional(m->kind, m->params, t, 0, h->x, h->t_x, h->T);
			break;
	}
	if (isnan(v))
		btyd_prediction_failed();
	return Float8GetDatum(v);
}

/*
 * A model kept unpacked with the bytes it came from, so that a caller
 * asking again with the same model (a query predicting for every customer
 * with one stored model, the stage walk at every month end) compares bytes
 * instead of unpacking a few kilobytes.  The bytes are forgotten while a
 * new model is unpacked, so a bad one is never kept; a model of 0.3.0
 * (fixed length, before the update) is unpacked every time.
 */
typedef struct ModelCache
{
	Size		len;			/* of bytes */
	char	   *bytes;			/* the model's varlena, detoasted; NULL: none */
	BtydModelValue m;
} ModelCache;

static const BtydModelValue *
model_cache_get(ModelCache *c, MemoryContext cxt, Datum model)
{
	struct varlena *v;
	Size		len;

	if (is_v030(model))
	{
		btyd_model_unpack(model, &c->m);
		return &c->m;
	}
	v = PG_DETOAST_DATUM_PACKED(model);
	len = VARSIZE_ANY(v);
	if (c->bytes == NULL || c->len != len || memcmp(c->bytes, v, len) != 0)
	{
		if (c->bytes != NULL)
			pfree(c->bytes);
		c->bytes = NULL;
		c->len = 0;
		btyd_model_unpack(model, &c->m);
		c->bytes = MemoryContextAlloc(cxt, len);
		memcpy(c->bytes, v, len);
		c->len = len;
	}
	if ((Pointer) v != DatumGetPointer(model))
		pfree(v);
	return &c->m;
}

/* the count model argument argno, kept across the calls of this fn_extra */
static const BtydModelValue *
cached_count_model_arg(FunctionCallInfo fcinfo, int argno)
{
	ModelCache *c = (ModelCache *) fcinfo->flinfo->fn_extra;
	const BtydModelValue *m;

	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ModelCache));
		fcinfo->flinfo->fn_extra = c;
	}
	m = model_cache_get(c, fcinfo->flinfo->fn_mcxt, PG_GETARG_DATUM(argno));
	require_count_model(m);
	return m;
}

/*
 * The SQL prediction functions all take the model first, then what the
 * prediction itself needs (the horizon t unless it is P(alive), the count k
 * for P(X(t) = k)), then the history: (x, t_x, T), or a summary and as_of
 * (NULL when the summary is).
 */
static Datum
predict_call(FunctionCallInfo fcinfo, Prediction what, bool from_summary)
{
	const BtydModelValue *m = cached_count_model_arg(fcinfo, 0);
	SummaryTriple h;
	double		t = 0,
				k = 0;
	int			arg = 1;

	if (what != PRED_P_ALIVE)
		t = horizon_arg(fcinfo, m, arg++);
	if (what == PRED_PMF)
		k = count_arg(fcinfo, arg++);
	if (from_summary)
	{
		if (!summary_args(fcinfo, m, arg, &h))
			PG_RETURN_NULL();
	}
	else
		triple_args(fcinfo, m, arg, &h.x, &h.t_x, &h.T);
	return predict(m, what, t, k, &h);
}

/* p_alive(model, x, t_x, T) and p_alive(model, s, as_of) */
PG_FUNCTION_INFO_V1(p_alive);
Datum
p_alive(PG_FUNCTION_ARGS)
{
	return predict_call(fcinfo, PRED_P_ALIVE, false);
}

PG_FUNCTION_INFO_V1(p_alive_summary);
Datum
p_alive_summary(PG_FUNCTION_ARGS)
{
	return predict_call(fcinfo, PRED_P_ALIVE, true);
}

/* expected_purchases(model, t, x, t_x, T) and (model, t, s, as_of) */
PG_FUNCTION_INFO_V1(expected_purchases);
Datum
expected_purchases(PG_FUNCTION_ARGS)
{
	return predict_call(fcinfo, PRED_EXPECTED, false);
}

PG_FUNCTION_INFO_V1(expected_purchases_summary);
Datum
expected_purchases_summary(PG_FUNCTION_ARGS)
{
	return predict_call(fcinfo, PRED_EXPECTED, true);
}

/* expected_purchases_new(model, t): E[X(t)] of a newly acquired customer */
PG_FUNCTION_INFO_V1(expected_purchases_new);
Datum
expected_purchases_new(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	SummaryTriple h = {0, 0, 0, 0};

	btyd_count_model_arg(fcinfo, 0, &m);
	return predict(&m, PRED_EXPECTED, horizon_arg(fcinfo, &m, 1), 0, &h);
}

/* p_purchases(model, t, k): P(X(t) = k) of a newly acquired customer */
PG_FUNCTION_INFO_V1(p_purchases_new);
Datum
p_purchases_new(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	double		t,
				k,
				v;

	btyd_count_model_arg(fcinfo, 0, &m);
	t = horizon_arg(fcinfo, &m, 1);
	k = count_arg(fcinfo, 2);
	v = btyd_pmf(m.kind, m.params, t, k);
	if (isnan(v))
		btyd_prediction_failed();
	PG_RETURN_FLOAT8(v);
}

/* p_purchases(model, t, k, x, t_x, T) and (model, t, k, s, as_of) */
PG_FUNCTION_INFO_V1(p_purchases);
Datum
p_purchases(PG_FUNCTION_ARGS)
{
	return predict_call(fcinfo, PRED_PMF, false);
}

PG_FUNCTION_INFO_V1(p_purchases_summary);
Datum
p_purchases_summary(PG_FUNCTION_ARGS)
{
	return predict_call(fcinfo, PRED_PMF, true);
}

/* p_no_purchase(model, t, x, t_x, T) and (model, t, s, as_of) */
PG_FUNCTION_INFO_V1(p_no_purchase);
Datum
p_no_purchase(PG_FUNCTION_ARGS)
{
	return predict_call(fcinfo, PRED_NO_PURCHASE, false);
}

PG_FUNCTION_INFO_V1(p_no_purchase_summary);
Datum
p_no_purchase_summary(PG_FUNCTION_ARGS)
{
	return predict_call(fcinfo, PRED_NO_PURCHASE, true);
}

/*
 * The interval row (expected, std_error, lower, upper) of a history; the
 * last three NULL when the model has no covariance.
 */
static Datum
interval_row(FunctionCallInfo fcinfo, const BtydModelValue *m, double t,
			 const SummaryTriple *h, double level)
{
	Datum		values[4];
	bool		nulls[4] = {false, true, true, true};
	double		out[4];
	int			i;

	if (!(level > 0 && level < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("level must lie strictly between 0 and 1"),
				 errdetail("level is %g.", level)));
	values[0] = predict(m, PRED_EXPECTED, t, 0, h);
	if (m->has_vcov &&
		btyd_expected_interval(m->kind, m->params, m->vcov, t, h->x, h->t_x, h->T, level, out))
		for (i = 1; i < 4; i++)
		{
			values[i] = Float8GetDatum(out[i]);
			nulls[i] = false;
		}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(CRM_RESULT_TUPDESC(fcinfo),
													   values, nulls)));
}

/* expected_purchases_interval(model, t, x, t_x, T, level) */
PG_FUNCTION_INFO_V1(expected_purchases_interval);
Datum
expected_purchases_interval(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	SummaryTriple h;
	double		t;

	btyd_count_model_arg(fcinfo, 0, &m);
	t = horizon_arg(fcinfo, &m, 1);
	triple_args(fcinfo, &m, 2, &h.x, &h.t_x, &h.T);
	return interval_row(fcinfo, &m, t, &h, PG_GETARG_FLOAT8(5));
}

/* expected_purchases_interval(model, t, s, as_of, level) */
PG_FUNCTION_INFO_V1(expected_purchases_interval_summary);
Datum
expected_purchases_interval_summary(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	SummaryTriple h;
	double		t;

	btyd_count_model_arg(fcinfo, 0, &m);
	t = horizon_arg(fcinfo, &m, 1);
	if (!summary_args(fcinfo, &m, 2, &h))
		PG_RETURN_NULL();
	return interval_row(fcinfo, &m, t, &h, PG_GETARG_FLOAT8(4));
}

/* the float8[] covariates argument at argno: 1-D, no NULL, finite */
int
btyd_covariates_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
					double *out)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argname)));
	deconstruct_array(a, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (n > BTYD_MAX_COVARIATES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has %d covariates, more than the %d allowed", argname, n,
						BTYD_MAX_COVARIATES)));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", argname),
					 errhint("Impute missing covariates, for example with 0 and an indicator covariate.")));
		out[i] = crm_check_finite(DatumGetFloat8(elems[i]), argname);
	}
	return n;
}

/*
 * with_covariates(model, trans, dropout): the model of one customer with
 * these covariates, without covariates (alpha_i and the dropout
 * parameters of the customer), with the covariance of those parameters.
 */
PG_FUNCTION_INFO_V1(btyd_with_covariates);
Datum
btyd_with_covariates(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	BtydModelValue out;
	double		zt[BTYD_MAX_COVARIATES],
				zd[BTYD_MAX_COVARIATES];
	int			nt,
				nd;

	btyd_model_unpack(PG_GETARG_DATUM(0), &m);
	nt = btyd_covariates_arg(fcinfo, 1, "trans", zt);
	nd = btyd_covariates_arg(fcinfo, 2, "dropout", zd);
	if (nt != m.ntrans || nd != m.ndrop)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model has %d purchase and %d dropout covariates, not %d and %d",
						m.ntrans, m.ndrop, nt, nd)));
	out = m;
	out.ntrans = out.ndrop = 0;
	memset(out.coef, 0, sizeof(out.coef));
	if (!btyd_individual(m.kind, m.params, m.coef, nt, nd, zt, zd,
						 m.has_vcov ? m.vcov : NULL, out.params,
						 m.has_vcov ? out.vcov : NULL))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the customer's parameters are out of range for these covariates")));
	PG_RETURN_DATUM(btyd_model_pack(&out));
}

static void
spend_model_arg(FunctionCallInfo fcinfo, int argno, BtydModelValue *m)
{
	btyd_model_unpack(PG_GETARG_DATUM(argno), m);
	if (m->kind != BTYD_GAMMA_GAMMA)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s model does not predict spend", btyd_model_name(m->kind)),
				 errhint("Use a gamma_gamma model.")));
}

/* expected_spend(model, x, mean_spend); NULL where the mean is infinite */
PG_FUNCTION_INFO_V1(expected_spend);
Datum
expected_spend(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	int32		x = PG_GETARG_INT32(1);
	double		zbar = PG_GETARG_FLOAT8(2);
	double		v;

	spend_model_arg(fcinfo, 0, &m);
	crm_check_finite(zbar, "mean_spend");
	if (x < 0 || zbar < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("x and mean_spend must not be negative")));
	v = btyd_gg_expected_spend(m.params, x, zbar);
	if (isinf(v))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(v);
}

/* expected_spend(model, s, as_of) */
PG_FUNCTION_INFO_V1(expected_spend_summary);
Datum
expected_spend_summary(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	SummaryTriple t;
	double		v;

	spend_model_arg(fcinfo, 0, &m);
	if (!summary_args(fcinfo, &m, 1, &t))
		PG_RETURN_NULL();
	v = btyd_gg_expected_spend(m.params, t.x, Max(t.zbar, 0));
	if (isinf(v))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(v);
}

/*
 * expected_clv(model, spend_model, s, as_of, periods, discount_rate): the
 * expected spend of the next "periods" model time units, each unit's
 * expected purchases times the expected spend per purchase, discounted at
 * discount_rate per unit:
 *
 *		sum_{k=1..periods} (E[X(T, T+k)] - E[X(T, T+k-1)]) E[M] / (1 + d)^k
 *
 * This is revenue; multiply by a margin for profit.  NULL if the customer
 * had not purchased by as_of, or if the expected spend is infinite.
 */
PG_FUNCTION_INFO_V1(expected_clv);
Datum
expected_clv(PG_FUNCTION_ARGS)
{
	BtydModelValue m;
	BtydModelValue gg;
	int32		periods = PG_GETARG_INT32(4);
	double		rate = PG_GETARG_FLOAT8(5);
	SummaryView v;
	int32		as_of = crm_as_of_arg(fcinfo, 3);
	SummaryTriple t,
				sp;
	double		spend,
				prev = 0,
				value = 0,
				discount = 1;
	int			k;

	btyd_count_model_arg(fcinfo, 0, &m);
	spend_model_arg(fcinfo, 1, &gg);
	crm_check_finite(rate, "discount_rate");
	if (rate < 0 || periods < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("periods and discount_rate must not be negative")));
	crm_summary_view(PG_GETARG_SUMMARY_P(2), &v);
	if (!btyd_history(&m, &v, as_of, &t))
		PG_RETURN_NULL();
	/* the spend model sees purchase days, whatever the count model counts */
	crm_view_triple(&v, as_of, 1.0, &sp);
	spend = btyd_gg_expected_spend(gg.params, sp.x, Max(sp.zbar, 0));
	if (isinf(spend))
		PG_RETURN_NULL();
	for (k = 1; k <= periods; k++)
	{
		double		cum = btyd_expected_purchases(m.kind, m.params, k, t.x, t.t_x, t.T);

		discount *= 1 + rate;
		value += (cum - prev) * spend / discount;
		prev = cum;
	}
	PG_RETURN_FLOAT8(value);
}

/* ---------------------------------------------------------------------
 * For the stage inference (stage.c)
 * ---------------------------------------------------------------------
 */

/*
 * The model of the stage inference, kept for the backend: a walk asks it of
 * every customer at every month end.
 */
static ModelCache outlook_cache;

/*
 * What a count model fitted on summaries says of a customer as of a day:
 * P(alive), and P(at least one purchase in the next horizon_days).  False
 * when the model cannot tell: a spend model, one with covariates, one
 * fitted on raw triples (no time unit), no purchase by as_of, or a BG/NBD
 * one-time buyer, whose P(alive) is 1 by construction (the model carries
 * no evidence of dropout for them).  For BG/BB the horizon is rounded down
 * to whole opportunities.
 */
bool
crm_btyd_outlook(Datum model, const SummaryView *v, int32 as_of, double horizon_days,
				 double *p_alive, double *p_buy)
{
	const BtydModelValue *m;
	SummaryTriple t;
	double		horizon;

	*p_alive = *p_buy = get_float8_nan();
	m = model_cache_get(&outlook_cache, TopMemoryContext, model);
	if (!is_count_model(m->kind) || m->ntrans + m->ndrop > 0 || !(m->unit_days > 0) ||
		!btyd_history(m, v, as_of, &t) ||
		(m->kind == BTYD_BGNBD && t.x == 0))
		return false;
	*p_alive = btyd_p_alive(m->kind, m->params, t.x, t.t_x, t.T);
	horizon = horizon_days / m->unit_days;
	if (btyd_is_discrete(m->kind))
		horizon = floor(horizon);
	if (horizon_days > 0 && isfinite(horizon))
		*p_buy = 1 - btyd_pmf_conditional(m->kind, m->params, horizon, 0, t.x, t.t_x, t.T);
	return !isnan(*p_alive);
}
