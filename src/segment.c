/*-------------------------------------------------------------------------
 *
 * segment.c
 *	  Segmentation schemes stored in tables, compiled once per query by
 *	  segment_kernel.c, and classification with or without the reason.
 *
 * A scheme is a row of crm.segment_schemes (kind grid or rules, the
 * feature names in order, for a grid its domain, an optional default
 * label), its labels (crm.segment_labels), and its cells
 * (crm.segment_cells: per feature an interval [lo, hi)) or ordered rules
 * (crm.segment_rules: conditions written "feature op number").  The
 * functions here read a scheme through SPI the first time a query calls
 * them and keep the compiled form in fn_extra: a changed scheme is seen by
 * the next statement, in every session, and never mid-statement.
 *
 * The maintained segment of a customer is its RFM score's rfm_segments
 * label (crm_rfm_segment(), crm.rfm_segment()): the order trigger keeps
 * that scheme compiled per backend, until the segment tables change
 * (config.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "config.h"
#include "segment.h"
#include "sqlnames.h"

#define SEG_MAX_LABELS 64

typedef struct CompiledScheme
{
	char	   *name;
	text	   *name_text;		/* the name as the text argument carries it */
	text	   *label_text[SEG_MAX_LABELS];	/* labels ready to return */
	bool		is_grid;
	int			nfeatures;
	char	   *features[SEG_MAX_FEATURES];
	int			nlabels;
	char	   *labels[SEG_MAX_LABELS];
	int			default_label;	/* grid: applied when no cell matches */
	SegGrid		grid;
	uint8_t    *table;
	SegRules	rules;
	TupleDesc	tupdesc;		/* explain_segment's result row */
} CompiledScheme;

static void
scheme_error(const char *scheme, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid segment scheme \"%s\": %s", scheme, what)));
}

static int
label_index(CompiledScheme *c, const char *label)
{
	int			i;

	for (i = 0; i < c->nlabels; i++)
		if (strcmp(c->labels[i], label) == 0)
			return i;
	scheme_error(c->name, psprintf("unknown label \"%s\"", label));
	return -1;
}

static int
feature_index(CompiledScheme *c, const char *feature)
{
	int			i;

	for (i = 0; i < c->nfeatures; i++)
		if (strcmp(c->features[i], feature) == 0)
			return i;
	scheme_error(c->name, psprintf("unknown feature \"%s\"; the scheme's features are listed in crm.segment_schemes.features", feature));
	return -1;
}

/* a float8[] column value of exactly n elements; NULL elements become dflt */
static void
float8_array_value(Datum d, int n, double dflt, double *out, CompiledScheme *c,
				   const char *what)
{
	ArrayType  *a = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	int			count,
				i;

	deconstruct_array(a, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &count);
	if (count != n)
		scheme_error(c->name, psprintf("%s has %d values for %d features", what, count, n));
	for (i = 0; i < n; i++)
		out[i] = nulls[i] ? dflt : DatumGetFloat8(elems[i]);
}

/*
 * Parse "feature op number" (op: < <= > >= = <> !=) into a condition.
 */
static void
parse_condition(CompiledScheme *c, const char *text, SegCond *cond)
{
	char	   *copy = pstrdup(text);
	char	   *feature = strtok(copy, " \t");
	char	   *op = strtok(NULL, " \t");
	char	   *value = strtok(NULL, " \t");
	char	   *end;
	int			o;

	if (feature == NULL || op == NULL || value == NULL || strtok(NULL, " \t") != NULL)
		scheme_error(c->name, psprintf("condition \"%s\" is not written \"feature op number\"", text));
	cond->feature = feature_index(c, feature);
	o = seg_op_from_name(op);
	if (o < 0)
		scheme_error(c->name, psprintf("unknown operator \"%s\" in \"%s\"", op, text));
	cond->op = (SegOp) o;
	errno = 0;
	cond->value = strtod(value, &end);
	if (*end != '\0' || errno != 0 || isnan(cond->value))
		scheme_error(c->name, psprintf("\"%s\" in \"%s\" is not a number", value, text));
}

static SPITupleTable *
spi_query(const char *sql, const char *scheme)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(scheme)};

	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read segment scheme \"%s\"", scheme);
	return SPI_tuptable;
}

/*
 * Read scheme "name" and compile it into memory of cxt.  Errors name the
 * scheme and what is wrong with it.
 */
static CompiledScheme *
load_scheme(const char *name, MemoryContext cxt)
{
	CompiledScheme *c = MemoryContextAllocZero(cxt, sizeof(CompiledScheme));
	MemoryContext old;
	SPITupleTable *tt;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;
	char		msg[SEG_MSG_MAXLEN];
	uint64		i;
	char	   *default_label = NULL;
	double		dom_lo[SEG_MAX_DIMS],
				dom_hi[SEG_MAX_DIMS];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(cxt);
	c->name = pstrdup(name);
	MemoryContextSwitchTo(old);

	tt = spi_query("SELECT kind, features, domain_lo, domain_hi, default_label "
				   "FROM crm.segment_schemes WHERE scheme = $1", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown segment scheme \"%s\"", name),
				 errhint("The schemes are the rows of crm.segment_schemes.")));
	tup = tt->vals[0];
	c->is_grid = strcmp(SPI_getvalue(tup, tt->tupdesc, 1), "grid") == 0;
	{
		ArrayType  *a = DatumGetArrayTypeP(SPI_getbinval(tup, tt->tupdesc, 2, &isnull));
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		if (n < 1 || n > (c->is_grid ? SEG_MAX_DIMS : SEG_MAX_FEATURES))
			scheme_error(name, psprintf("a %s scheme takes 1 to %d features", c->is_grid ? "grid" : "rules",
										c->is_grid ? SEG_MAX_DIMS : SEG_MAX_FEATURES));
		c->nfeatures = n;
		for (i = 0; i < (uint64) n; i++)
			c->features[i] = MemoryContextStrdup(cxt, TextDatumGetCString(elems[i]));
	}
	if (c->is_grid)
	{
		d = SPI_getbinval(tup, tt->tupdesc, 3, &isnull);
		if (isnull)
			for (i = 0; i < (uint64) c->nfeatures; i++)
				dom_lo[i] = -get_float8_infinity();
		else
			float8_array_value(d, c->nfeatures, -get_float8_infinity(), dom_lo, c, "domain_lo");
		d = SPI_getbinval(tup, tt->tupdesc, 4, &isnull);
		if (isnull)
			for (i = 0; i < (uint64) c->nfeatures; i++)
				dom_hi[i] = get_float8_infinity();
		else
			float8_array_value(d, c->nfeatures, get_float8_infinity(), dom_hi, c, "domain_hi");
	}
	(void) SPI_getbinval(tup, tt->tupdesc, 5, &isnull);
	if (!isnull)
		default_label = SPI_getvalue(tup, tt->tupdesc, 5);

	tt = spi_query("SELECT label FROM crm.segment_labels WHERE scheme = $1 ORDER BY position, label", name);
	if (SPI_processed == 0 || SPI_processed > SEG_MAX_LABELS)
		scheme_error(name, psprintf("a scheme has 1 to %d labels", SEG_MAX_LABELS));
	c->nlabels = (int) SPI_processed;
	for (i = 0; i < SPI_processed; i++)
		c->labels[i] = MemoryContextStrdup(cxt, SPI_getvalue(tt->vals[i], tt->tupdesc, 1));
	c->default_label = default_label ? label_index(c, default_label) : SEG_NO_MATCH;

	if (c->is_grid)
	{
		SegCell    *cells;
		SegStatus	st;
		int			ncells;

		tt = spi_query("SELECT label, lo, hi FROM crm.segment_cells WHERE scheme = $1 ORDER BY cell", name);
		if (SPI_processed == 0 || SPI_processed > SEG_MAX_CELLS)
			scheme_error(name, psprintf("a grid has 1 to %d cells", SEG_MAX_CELLS));
		ncells = (int) SPI_processed;
		cells = palloc0(ncells * sizeof(SegCell));
		for (i = 0; i < SPI_processed; i++)
		{
			double		lo[SEG_MAX_DIMS],
						hi[SEG_MAX_DIMS];
			int			dim;

			seg_cell_init(&cells[i], label_index(c, SPI_getvalue(tt->vals[i], tt->tupdesc, 1)));
			float8_array_value(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull), c->nfeatures,
							   -get_float8_infinity(), lo, c, "a cell's lo");
			float8_array_value(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull), c->nfeatures,
							   get_float8_infinity(), hi, c, "a cell's hi");
			for (dim = 0; dim < c->nfeatures; dim++)
				seg_cell_set(&cells[i], dim, lo[dim], hi[dim]);
		}
		/* first call sizes the lookup table, the second fills it */
		st = seg_grid_compile(cells, ncells, c->nfeatures, dom_lo, dom_hi, c->nlabels,
							  NULL, 0, &c->grid, msg, sizeof(msg));
		if (st == SEG_ERR_TABLE)
		{
			c->table = MemoryContextAlloc(cxt, Max(c->grid.table_size, 1));
			st = seg_grid_compile(cells, ncells, c->nfeatures, dom_lo, dom_hi, c->nlabels,
								  c->table, c->grid.table_size, &c->grid, msg, sizeof(msg));
		}
		if (st != SEG_OK)
			scheme_error(name, msg);
	}
	else
	{
		SegRule    *rules;
		SegStatus	st;
		int			nrules;

		tt = spi_query("SELECT label, conditions FROM crm.segment_rules WHERE scheme = $1 ORDER BY rule", name);
		if (SPI_processed > SEG_MAX_RULES)
			scheme_error(name, psprintf("a scheme has at most %d rules", SEG_MAX_RULES));
		nrules = (int) SPI_processed;
		rules = palloc0(Max(nrules, 1) * sizeof(SegRule));
		for (i = 0; i < SPI_processed; i++)
		{
			ArrayType  *a = DatumGetArrayTypeP(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
			Datum	   *elems;
			bool	   *nulls;
			int			n,
						k;

			rules[i].label = label_index(c, SPI_getvalue(tt->vals[i], tt->tupdesc, 1));
			deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
			if (n > SEG_MAX_CONDS)
				scheme_error(name, psprintf("rule %d has more than %d conditions", (int) i + 1, SEG_MAX_CONDS));
			rules[i].nconds = n;
			for (k = 0; k < n; k++)
			{
				if (nulls[k])
					scheme_error(name, psprintf("rule %d has a NULL condition", (int) i + 1));
				parse_condition(c, TextDatumGetCString(elems[k]), &rules[i].cond[k]);
			}
		}
		st = seg_rules_compile(rules, nrules, c->nfeatures, c->nlabels, c->default_label,
							   &c->rules, msg, sizeof(msg));
		if (st != SEG_OK)
			scheme_error(name, msg);
	}
	SPI_finish();
	return c;
}

/*
 * The compiled scheme for this call site, reloaded if the name changes.
 * The name is compared as the argument's bytes, without a copy: this runs
 * once per classified row.
 */
static CompiledScheme *
scheme_named(FunctionCallInfo fcinfo, text *name)
{
	CompiledScheme *c = (CompiledScheme *) fcinfo->flinfo->fn_extra;
	int			i;

	if (c == NULL ||
		VARSIZE_ANY_EXHDR(name) != VARSIZE_ANY_EXHDR(c->name_text) ||
		memcmp(VARDATA_ANY(name), VARDATA_ANY(c->name_text), VARSIZE_ANY_EXHDR(name)) != 0)
	{
		MemoryContext old;

		c = load_scheme(text_to_cstring(name), fcinfo->flinfo->fn_mcxt);
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		c->name_text = cstring_to_text(c->name);
		for (i = 0; i < c->nlabels; i++)
			c->label_text[i] = cstring_to_text(c->labels[i]);
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = c;
	}
	return c;
}

/* the scheme named by the first argument */
static CompiledScheme *
scheme_for_call(FunctionCallInfo fcinfo)
{
	return scheme_named(fcinfo, PG_GETARG_TEXT_PP(0));
}

/* a copy of a label, to return */
static Datum
label_datum(CompiledScheme *c, int label)
{
	text	   *t = palloc(VARSIZE(c->label_text[label]));

	memcpy(t, c->label_text[label], VARSIZE(c->label_text[label]));
	return PointerGetDatum(t);
}

/*
 * The features argument: a float8[] with one value per feature of the
 * scheme; a NULL element is unknown (NaN: no cell and no condition holds).
 */
static void
features_arg(FunctionCallInfo fcinfo, int argno, CompiledScheme *c, double *x)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	const double *data = (const double *) ARR_DATA_PTR(a);
	bits8	   *bitmap = ARR_NULLBITMAP(a);
	int			i;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("features must be a double precision array")));
	if (n != c->nfeatures)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment scheme \"%s\" takes %d features, not %d", c->name, c->nfeatures, n),
				 errhint("Pass the features in the order of crm.segment_schemes.features.")));
	for (i = 0; i < n; i++)
	{
		if (bitmap && !(bitmap[i / 8] & (1 << (i % 8))))
			x[i] = get_float8_nan();
		else
			x[i] = *data++;
	}
}

static int
classify(CompiledScheme *c, const double *x)
{
	int			label;

	if (c->is_grid)
	{
		label = seg_grid_classify(&c->grid, x);
		if (label == SEG_NO_MATCH)
			label = c->default_label;
		return label;
	}
	return seg_rules_classify(&c->rules, x);
}

/* classify x by the rfm_segments scheme, which must take its two features */
static int
rfm_scheme_check_classify(CompiledScheme *c, const double *x)
{
	if (c->nfeatures != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment scheme \"%s\" takes %d features, not 2", c->name, c->nfeatures),
				 errhint("Restore the scheme's features, or re-create the extension's presets.")));
	return classify(c, x);
}

/*
 * For the order trigger: the rfm_segments scheme compiled per backend, in
 * its own context, and compiled again when crm_config_generation() moves
 * (a segment table changed).  It is read with the latest snapshot, so a
 * change committed before its invalidation arrived is never missed.
 */
static int
rfm_scheme_classify(const double *x, CompiledScheme **scheme)
{
	static MemoryContext cxt = NULL;
	static CompiledScheme *cached = NULL;
	static uint64 cached_generation = 0;
	uint64		generation = crm_config_generation();

	if (cached == NULL || cached_generation != generation)
	{
		CompiledScheme *c;

		if (cxt == NULL)
			cxt = AllocSetContextCreate(CacheMemoryContext, "crm segment scheme", ALLOCSET_SMALL_SIZES);
		cached = NULL;
		MemoryContextReset(cxt);
		PushActiveSnapshot(GetLatestSnapshot());
		c = load_scheme(CRM_RFM_SCHEME, cxt);
		PopActiveSnapshot();
		cached = c;
		cached_generation = generation;
	}
	*scheme = cached;
	return rfm_scheme_check_classify(cached, x);
}

/*
 * The features of the rfm_segments grid for an RFM value: the recency
 * score and FM = round((F + M) / 2), half away from zero.  False for a
 * value not on the 1..5 scale the grid is drawn for (its segment is NULL).
 * The one definition of the maintained segment: the order trigger
 * (crm_rfm_segment()), crm.rfm_segment() and so crm.score_customers()
 * classify with it.
 */
static bool
rfm_segment_features(int32 rfm, double *x)
{
	if (RFM_K(rfm) != 5)
		return false;
	x[0] = RFM_R(rfm);
	x[1] = (RFM_F(rfm) + RFM_M(rfm) + 1) / 2;
	return true;
}

/* the rfm_segments label of an RFM value (a copy), or NULL */
text *
crm_rfm_segment(int32 rfm)
{
	CompiledScheme *c;
	double		x[2];
	int			label;

	if (!rfm_segment_features(rfm, x))
		return NULL;
	label = rfm_scheme_classify(x, &c);
	return label == SEG_NO_MATCH ? NULL : cstring_to_text(c->labels[label]);
}

/* rfm_segment(rfm): the rfm_segments label, or NULL */
PG_FUNCTION_INFO_V1(rfm_segment);
Datum
rfm_segment(PG_FUNCTION_ARGS)
{
	static text *name = NULL;
	CompiledScheme *c;
	double		x[2];
	int			label;

	if (!rfm_segment_features(PG_GETARG_INT32(0), x))
		PG_RETURN_NULL();
	if (name == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		name = cstring_to_text(CRM_RFM_SCHEME);
		MemoryContextSwitchTo(old);
	}
	c = scheme_named(fcinfo, name);
	label = rfm_scheme_check_classify(c, x);
	if (label == SEG_NO_MATCH)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(label_datum(c, label));
}

/* segment(scheme, features): the label, or NULL when nothing matches */
PG_FUNCTION_INFO_V1(segment);
Datum
segment(PG_FUNCTION_ARGS)
{
	CompiledScheme *c = scheme_for_call(fcinfo);
	double		x[SEG_MAX_FEATURES];
	int			label;

	features_arg(fcinfo, 1, c, x);
	label = classify(c, x);
	if (label == SEG_NO_MATCH)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(label_datum(c, label));
}

/* explain_segment(scheme, features) -> (label, reason) */
PG_FUNCTION_INFO_V1(explain_segment);
Datum
explain_segment(PG_FUNCTION_ARGS)
{
	CompiledScheme *c = scheme_for_call(fcinfo);
	double		x[SEG_MAX_FEATURES];
	char		buf[SEG_REASON_MAXLEN];
	int			label;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	TupleDesc	tupdesc;

	features_arg(fcinfo, 1, c, x);
	if (c->is_grid)
	{
		SegGridReason r;

		label = seg_grid_explain(&c->grid, x, &r);
		seg_grid_reason_format(&r, (const char *const *) c->features, buf, sizeof(buf));
		if (label == SEG_NO_MATCH && c->default_label != SEG_NO_MATCH)
		{
			label = c->default_label;
			strlcat(buf, "; the scheme's default label applies", sizeof(buf));
		}
	}
	else
	{
		SegRuleReason r;

		label = seg_rules_explain(&c->rules, x, &r);
		seg_rules_reason_format(&r, (const char *const *) c->features, buf, sizeof(buf));
	}
	if (label == SEG_NO_MATCH)
		nulls[0] = true;
	else
		values[0] = label_datum(c, label);
	values[1] = CStringGetTextDatum(buf);
	tupdesc = crm_result_tupdesc(fcinfo, &c->tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* check_segment_scheme(scheme): compile it, raising what is wrong */
PG_FUNCTION_INFO_V1(check_segment_scheme);
Datum
check_segment_scheme(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "segment scheme check",
											  ALLOCSET_DEFAULT_SIZES);

	(void) load_scheme(text_to_cstring(PG_GETARG_TEXT_PP(0)), cxt);
	MemoryContextDelete(cxt);
	PG_RETURN_VOID();
}

/* the non-NULL, finite elements of a float8[] argument */
static double *
values_arg(FunctionCallInfo fcinfo, int argno, int *n)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);
	Datum	   *elems;
	bool	   *nulls;
	double	   *v;
	int			count,
				i,
				k = 0;

	deconstruct_array(a, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &count);
	v = palloc(Max(count, 1) * sizeof(double));
	for (i = 0; i < count; i++)
		if (!nulls[i] && !isnan(DatumGetFloat8(elems[i])))
			v[k++] = DatumGetFloat8(elems[i]);
	*n = k;
	return v;
}

/*
 * rank_cutoffs(values, shares): for each share s, the value threshold t
 * such that "value >= t" selects the top s of the values (ties at t all
 * included); NULL elements are ignored; NULL when there are no values.
 */
PG_FUNCTION_INFO_V1(rank_cutoffs);
Datum
rank_cutoffs(PG_FUNCTION_ARGS)
{
	int			n,
				nshares;
	double	   *values = values_arg(fcinfo, 0, &n);
	double	   *shares = values_arg(fcinfo, 1, &nshares);
	double	   *thresholds = palloc(Max(nshares, 1) * sizeof(double));
	Datum	   *elems = palloc(Max(nshares, 1) * sizeof(Datum));
	int			i;

	if (n == 0)
		PG_RETURN_NULL();
	if (seg_rank_cutoffs(values, n, shares, nshares, thresholds) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shares must lie in (0, 1]")));
	for (i = 0; i < nshares; i++)
		elems[i] = Float8GetDatum(thresholds[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, nshares, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* pareto_share(values, top): the share of the total held by the top fraction */
PG_FUNCTION_INFO_V1(pareto_share);
Datum
pareto_share(PG_FUNCTION_ARGS)
{
	int			n;
	double	   *values = values_arg(fcinfo, 0, &n);
	double		top = PG_GETARG_FLOAT8(1);

	if (!(top > 0 && top <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top must lie in (0, 1]")));
	if (n == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(seg_pareto_share(values, n, top));
}
