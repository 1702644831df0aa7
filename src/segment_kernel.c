/*-------------------------------------------------------------------------
 *
 * segment_kernel.c
 *	  Segmentation schemes: grid and rule-list compilation, validation,
 *	  classification and reasons; rank cut-offs and the Pareto share.
 *
 * The schemes, their semantics and the design are documented in
 * segment_kernel.h.  Three properties hold by construction here:
 *
 * 1. A compiled grid classifies every point of its domain into exactly one
 *	  cell: compilation paints every elementary box of the coordinate
 *	  compression once and fails on the first overlap or gap, and the
 *	  classification looks the point's elementary box up in that very
 *	  table.  Only the domain test and the bound count stand between a
 *	  point and its box, and both use the closed-open convention of the
 *	  cells (with +Infinity inside an interval whose upper bound is
 *	  +Infinity).
 * 2. NaN is never in a domain and never satisfies a condition: every test
 *	  is written as a comparison that NaN makes false.
 * 3. Classification reads only the compiled struct and the caller's
 *	  arrays, writes nothing but the reason struct, and cannot fail.
 *
 *-------------------------------------------------------------------------
 */
#include "segment_kernel.h"
#include "select_kernel.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* table entry of an elementary box no cell has painted yet */
#define TABLE_EMPTY 0xFF

/* per dimension, up to this many bounds are counted, beyond it searched */
#define LINEAR_BOUNDS 32

/* room for one number as format_number() writes it */
#define NUMBUF 32

static const char *const op_names[SEG_NOPS] = {"<", "<=", ">", ">=", "=", "<>"};

/*
 * Write the integer m (|m| < 2^53) with d decimals, e.g. 5 with 2:
 * "0.05".  Returns the length.
 */
static int
format_fixed(double m, int d, char *buf)
{
	char		digits[24];
	uint64_t	u = (uint64_t) fabs(m);
	int			n = 0;
	int			len = 0;

	do
	{
		digits[n++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u > 0);
	while (n <= d)
		digits[n++] = '0';		/* at least one digit before the point */
	if (m < 0)
		buf[len++] = '-';
	while (n > 0)
	{
		if (n == d)
			buf[len++] = '.';
		buf[len++] = digits[--n];
	}
	buf[len] = '\0';
	return len;
}

/*
 * A number as people read it: the shortest text that reads back as the
 * same double ("0.31", not "0.31000000000000000"), PostgreSQL's spelling
 * of the special values.  The fast path, for 1e-4 <= |x| < 1e15 (where
 * %g would not use an exponent either): the fewest decimals d <= 6 such
 * that m = round(x 10^d) gives m / 10^d == x; the quotient of two exact
 * doubles is correctly rounded, so that is exactly "the text m e-d reads
 * back as x".  Otherwise the first of 15, 16 or 17 significant digits
 * that reads back.  (The backend keeps LC_NUMERIC at "C", so the decimal
 * point is a point.)  buf needs NUMBUF bytes.
 */
static void
format_number(double x, char *buf)
{
	static const double pow10[7] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
	double		ax = fabs(x);
	int			prec;

	if (isnan(x))
	{
		strcpy(buf, "NaN");
		return;
	}
	if (isinf(x))
	{
		strcpy(buf, x > 0 ? "Infinity" : "-Infinity");
		return;
	}
	if (x == 0.0)
	{
		strcpy(buf, "0");		/* and not "-0" */
		return;
	}
	if (ax >= 1e-4 && ax < 1e15)
	{
		int			d;

		for (d = 0; d < 7; d++)
		{
			double		y = x * pow10[d];
			double		m;

			if (fabs(y) >= 4503599627370496.0)	/* 2^52 */
				break;
			/* round half away from zero; a wrong guess only fails below */
			m = (double) (int64_t) (y + (y < 0 ? -0.5 : 0.5));
			if (m / pow10[d] == x)
			{
				format_fixed(m, d, buf);
				return;
			}
		}
	}
	for (prec = 15; prec < 17; prec++)
	{
		snprintf(buf, NUMBUF, "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			return;
	}
	snprintf(buf, NUMBUF, "%.17g", x);
}

/*
 * Write a formatted message into msg (when there is one) and return the
 * status, so that a failing check is one statement.
 */
#ifdef __GNUC__
__attribute__((format(printf, 4, 5)))
#endif
static SegStatus
fail(SegStatus status, char *msg, size_t msglen, const char *fmt,...)
{
	va_list		ap;

	if (msg != NULL && msglen > 0)
	{
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return status;
}

/*
 * A text being built into the caller's buffer: buf[0..buflen-1] holds as
 * much of it as fits, always terminated (when buflen > 0); len is the
 * length of the whole text, so that a formatter returns what snprintf()
 * would and truncates safely.  Plain copies, no printf: a reason is built
 * per customer.
 */
typedef struct Text
{
	char	   *buf;
	size_t		buflen;
	size_t		len;
} Text;

static void
text_init(Text *t, char *buf, size_t buflen)
{
	t->buf = buf;
	t->buflen = buf != NULL ? buflen : 0;
	t->len = 0;
	if (t->buflen > 0)
		buf[0] = '\0';
}

static void
text_put(Text *t, const char *s)
{
	size_t		n = 0;

	/* the pieces are a few bytes: byte loops beat strlen() + memcpy() */
	if (t->len + 1 < t->buflen)
	{
		char	   *p = t->buf + t->len;
		size_t		room = t->buflen - 1 - t->len;

		while (n < room && s[n] != '\0')
		{
			p[n] = s[n];
			n++;
		}
		p[n] = '\0';
	}
	while (s[n] != '\0')
		n++;
	t->len += n;
}

static void
text_number(Text *t, double x)
{
	char		num[NUMBUF];

	format_number(x, num);
	text_put(t, num);
}

static void
text_int(Text *t, int i)
{
	char		num[NUMBUF];

	format_fixed((double) i, 0, num);
	text_put(t, num);
}

/*
 * Name of feature f for the reasons: the caller's, or "x1", "x2", ...
 */
static void
text_feature(Text *t, const char *const *names, int f)
{
	if (names != NULL && names[f] != NULL)
		text_put(t, names[f]);
	else
	{
		text_put(t, "x");
		text_int(t, f + 1);
	}
}

/*
 * Text of an operator ("<", "<=", ...), or NULL when out of range.
 */
static const char *
seg_op_name(SegOp op)
{
	if ((int) op < 0 || (int) op >= SEG_NOPS)
		return NULL;
	return op_names[op];
}

/*
 * Operator of a text ("<", "<=", ">", ">=", "=", "<>"; "!=" is taken for
 * "<>" as PostgreSQL does), or -1.
 */
int
seg_op_from_name(const char *name)
{
	int			i;

	if (name == NULL)
		return -1;
	if (strcmp(name, "!=") == 0)
		return SEG_OP_NE;
	for (i = 0; i < SEG_NOPS; i++)
		if (strcmp(op_names[i], name) == 0)
			return i;
	return -1;
}


/* ------------------------------------------------------------------------
 * Grids
 * ------------------------------------------------------------------------
 */

/*
 * A cell with the given label, unbounded in every dimension; set its
 * intervals with seg_cell_set().
 */
void
seg_cell_init(SegCell *cell, int label)
{
	int			d;

	for (d = 0; d < SEG_MAX_DIMS; d++)
	{
		cell->lo[d] = -INFINITY;
		cell->hi[d] = INFINITY;
	}
	cell->label = label;
}

/*
 * The cell's interval in dimension dim is [lo, hi).
 */
void
seg_cell_set(SegCell *cell, int dim, double lo, double hi)
{
	cell->lo[dim] = lo;
	cell->hi[dim] = hi;
}

static int
double_cmp(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * Index of v in the sorted array b[0..n-1], which holds it.
 */
static int
find_bound(const double *b, int n, double v)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (b[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A point inside elementary interval i of dimension d, for messages: its
 * lower end when finite (the interval is closed there), else a point
 * below its upper end, else 0.
 */
static double
interval_point(const SegGrid *g, int d, int i)
{
	double		lo = i == 0 ? g->dom_lo[d] : g->bound[d][i - 1];
	double		hi = i == g->nbounds[d] ? g->dom_hi[d] : g->bound[d][i];

	if (isfinite(lo))
		return lo;
	if (isfinite(hi))
		return hi - fmax(1.0, fabs(hi));
	return 0.0;
}

/*
 * "(x1, x2, ...)", a point inside elementary box e of the table.
 */
static void
format_box_point(const SegGrid *g, size_t e, char *buf, size_t len)
{
	Text		t;
	int			d;

	text_init(&t, buf, len);
	text_put(&t, "(");
	for (d = 0; d < g->ndims; d++)
	{
		int			i = (int) ((e / g->stride[d]) % (size_t) (g->nbounds[d] + 1));

		if (d > 0)
			text_put(&t, ", ");
		text_number(&t, interval_point(g, d, i));
	}
	text_put(&t, ")");
}

/*
 * Check the grid's shape, domain and cells (everything but the tiling).
 */
static SegStatus
grid_check_cells(const SegCell *cells, int ncells, int ndims,
				 const double *dom_lo, const double *dom_hi, int nlabels,
				 char *msg, size_t msglen)
{
	int			d;
	int			i;
	char		a[NUMBUF];
	char		b[NUMBUF];
	char		c[NUMBUF];
	char		e[NUMBUF];

	if (ndims < 1 || ndims > SEG_MAX_DIMS)
		return fail(SEG_ERR_LIMIT, msg, msglen,
					"a grid has 1 to %d dimensions, not %d", SEG_MAX_DIMS, ndims);
	if (ncells < 1 || ncells > SEG_MAX_CELLS)
		return fail(SEG_ERR_LIMIT, msg, msglen,
					"a grid has 1 to %d cells, not %d", SEG_MAX_CELLS, ncells);
	if (nlabels < 1)
		return fail(SEG_ERR_LIMIT, msg, msglen,
					"a scheme needs at least one label");
	for (d = 0; d < ndims; d++)
	{
		if (isnan(dom_lo[d]) || isnan(dom_hi[d]))
			return fail(SEG_ERR_VALUE, msg, msglen,
						"the domain of dimension %d has a NaN bound", d + 1);
		if (!(dom_lo[d] < dom_hi[d]))
		{
			format_number(dom_lo[d], a);
			format_number(dom_hi[d], b);
			return fail(SEG_ERR_VALUE, msg, msglen,
						"the domain of dimension %d, [%s, %s), is empty",
						d + 1, a, b);
		}
	}
	for (i = 0; i < ncells; i++)
	{
		const SegCell *cell = &cells[i];

		if (cell->label < 0 || cell->label >= nlabels)
			return fail(SEG_ERR_LABEL, msg, msglen,
						"cell %d has label %d; the labels are 1 to %d",
						i + 1, cell->label + 1, nlabels);
		for (d = 0; d < ndims; d++)
		{
			double		lo = cell->lo[d];
			double		hi = cell->hi[d];

			if (isnan(lo) || isnan(hi))
				return fail(SEG_ERR_VALUE, msg, msglen,
							"cell %d has a NaN bound in dimension %d", i + 1, d + 1);
			format_number(lo, a);
			format_number(hi, b);
			if (!(lo < hi))
				return fail(SEG_ERR_VALUE, msg, msglen,
							"cell %d is empty in dimension %d: [%s, %s) needs lo < hi",
							i + 1, d + 1, a, b);
			if (lo < dom_lo[d] || hi > dom_hi[d])
			{
				format_number(dom_lo[d], c);
				format_number(dom_hi[d], e);
				return fail(SEG_ERR_DOMAIN, msg, msglen,
							"cell %d reaches outside the domain in dimension %d: [%s, %s) is not inside [%s, %s)",
							i + 1, d + 1, a, b, c, e);
			}
		}
	}
	return SEG_OK;
}

/*
 * Compile and validate a grid of ncells cells over ndims dimensions with
 * domain [dom_lo[d], dom_hi[d]) and labels 0 .. nlabels - 1.  The table
 * (table_cap bytes, may be NULL) becomes the grid's elementary box -> cell
 * map; grid->table_size is the size it needs, set whenever the cells
 * themselves are valid.  The first problem found is described in msg:
 * shape and domain, then cells in order (label, NaN, empty interval,
 * outside the domain), then the table size, then the first overlap in
 * cell order (the two cells and a point they share), then the first
 * uncovered point in row-major order.
 */
SegStatus
seg_grid_compile(const SegCell *cells, int ncells, int ndims,
				 const double *dom_lo, const double *dom_hi, int nlabels,
				 uint8_t *table, size_t table_cap, SegGrid *g,
				 char *msg, size_t msglen)
{
	SegStatus	status;
	size_t		size = 1;
	size_t		e;
	int			d;
	int			i;
	char		point[SEG_MSG_MAXLEN];

	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	memset(g, 0, sizeof(*g));
	status = grid_check_cells(cells, ncells, ndims, dom_lo, dom_hi, nlabels,
							  msg, msglen);
	if (status != SEG_OK)
		return status;

	g->ndims = ndims;
	g->ncells = ncells;
	g->nlabels = nlabels;
	for (d = 0; d < ndims; d++)
	{
		int			n = 0;
		int			k;

		g->dom_lo[d] = dom_lo[d];
		g->dom_hi[d] = dom_hi[d];
		g->dom_max[d] = isinf(dom_hi[d]) ? INFINITY : nextafter(dom_hi[d], -INFINITY);

		/* the distinct cell bounds strictly inside the domain */
		for (i = 0; i < ncells; i++)
		{
			if (cells[i].lo[d] > dom_lo[d])
				g->bound[d][n++] = cells[i].lo[d];
			if (cells[i].hi[d] < dom_hi[d])
				g->bound[d][n++] = cells[i].hi[d];
		}
		qsort(g->bound[d], (size_t) n, sizeof(double), double_cmp);
		g->nbounds[d] = 0;
		for (k = 0; k < n; k++)
			if (k == 0 || g->bound[d][k] != g->bound[d][k - 1])
				g->bound[d][g->nbounds[d]++] = g->bound[d][k];
	}

	/* row-major strides; at most 129^4 boxes, no overflow in size_t */
	for (d = ndims - 1; d >= 0; d--)
	{
		g->stride[d] = size;
		size *= (size_t) (g->nbounds[d] + 1);
	}
	g->table_size = size;
	if (size > SEG_GRID_MAX_TABLE)
		return fail(SEG_ERR_LIMIT, msg, msglen,
					"the grid is too fine: its cell bounds cut the domain into %zu boxes, more than %zu",
					size, SEG_GRID_MAX_TABLE);
	if (table == NULL || table_cap < size)
		return fail(SEG_ERR_TABLE, msg, msglen,
					"the grid needs a table of %zu entries, not %zu",
					size, table == NULL ? (size_t) 0 : table_cap);

	/* paint each cell's elementary boxes, in cell order */
	memset(table, TABLE_EMPTY, size);
	for (i = 0; i < ncells; i++)
	{
		int			from[SEG_MAX_DIMS];
		int			to[SEG_MAX_DIMS];
		int			at[SEG_MAX_DIMS];

		for (d = 0; d < ndims; d++)
		{
			double		lo = cells[i].lo[d];
			double		hi = cells[i].hi[d];

			from[d] = lo == dom_lo[d] ? 0 : 1 + find_bound(g->bound[d], g->nbounds[d], lo);
			to[d] = hi == dom_hi[d] ? g->nbounds[d] + 1 :
				1 + find_bound(g->bound[d], g->nbounds[d], hi);
			at[d] = from[d];
		}
		for (;;)
		{
			e = 0;
			for (d = 0; d < ndims; d++)
				e += (size_t) at[d] * g->stride[d];
			if (table[e] != TABLE_EMPTY)
			{
				format_box_point(g, e, point, sizeof(point));
				return fail(SEG_ERR_OVERLAP, msg, msglen,
							"cells %d and %d overlap, e.g. at %s",
							table[e] + 1, i + 1, point);
			}
			table[e] = (uint8_t) i;
			/* next box of the cell, last dimension fastest */
			for (d = ndims - 1; d >= 0; d--)
			{
				if (++at[d] < to[d])
					break;
				at[d] = from[d];
			}
			if (d < 0)
				break;
		}
	}
	for (e = 0; e < size; e++)
	{
		if (table[e] == TABLE_EMPTY)
		{
			format_box_point(g, e, point, sizeof(point));
			return fail(SEG_ERR_GAP, msg, msglen,
						"no cell covers %s", point);
		}
	}

	for (i = 0; i < ncells; i++)
	{
		g->cell_label[i] = cells[i].label;
		for (d = 0; d < ndims; d++)
		{
			g->cell_lo[i][d] = cells[i].lo[d];
			g->cell_hi[i][d] = cells[i].hi[d];
		}
	}
	g->table = table;
	return SEG_OK;
}

/*
 * Elementary interval of v (not NaN) among the sorted bounds b[0..n-1]:
 * the number of bounds <= v.  Up to LINEAR_BOUNDS bounds, a branch-free
 * count (every score grid); beyond, a binary search whose steps are
 * conditional moves, not branches (random customers would mispredict
 * half of them).
 */
static inline int
interval_of(const double *b, int n, double v)
{
	if (n <= LINEAR_BOUNDS)
	{
		int			i = 0;
		int			k;

		for (k = 0; k < n; k++)
			i += (v >= b[k]);
		return i;
	}
	else
	{
		const double *base = b;
		int			len = n;

		/* invariant: the bounds before base are <= v, those from base + len on are > v */
		while (len > 1)
		{
			int			half = len / 2;

			base += (base[half - 1] <= v) * half;
			len -= half;
		}
		return (int) (base - b) + (*base <= v);
	}
}

/*
 * The cell (0-based) holding point x[0..ndims-1], or SEG_NO_MATCH when a
 * coordinate is NaN or outside the domain.
 */
static int
seg_grid_locate(const SegGrid *g, const double *x)
{
	size_t		e = 0;
	int			d;

	for (d = 0; d < g->ndims; d++)
	{
		double		v = x[d];

		/* false for NaN */
		if (!(v >= g->dom_lo[d] && v <= g->dom_max[d]))
			return SEG_NO_MATCH;
		e += (size_t) interval_of(g->bound[d], g->nbounds[d], v) * g->stride[d];
	}
	return g->table[e];
}

/*
 * The label of point x, or SEG_NO_MATCH.
 */
int
seg_grid_classify(const SegGrid *g, const double *x)
{
	int			c = seg_grid_locate(g, x);

	return c < 0 ? SEG_NO_MATCH : g->cell_label[c];
}

/*
 * Classify x and say why: the cell and its interval per dimension; with no
 * cell, the domain and the first dimension that is NaN or outside it.
 * Returns the label or SEG_NO_MATCH.
 */
int
seg_grid_explain(const SegGrid *g, const double *x, SegGridReason *r)
{
	int			c = seg_grid_locate(g, x);
	int			d;

	r->cell = c;
	r->ndims = g->ndims;
	r->outside = -1;
	if (c >= 0)
	{
		r->label = g->cell_label[c];
		for (d = 0; d < g->ndims; d++)
		{
			r->value[d] = x[d];
			r->lo[d] = g->cell_lo[c][d];
			r->hi[d] = g->cell_hi[c][d];
		}
		return r->label;
	}
	r->label = SEG_NO_MATCH;
	for (d = 0; d < g->ndims; d++)
	{
		r->value[d] = x[d];
		r->lo[d] = g->dom_lo[d];
		r->hi[d] = g->dom_hi[d];
		if (r->outside < 0 && !(x[d] >= g->dom_lo[d] && x[d] <= g->dom_max[d]))
			r->outside = d;
	}
	return SEG_NO_MATCH;
}

/*
 * A grid reason in words, e.g.
 *	"cell 3: recency_score 4 in [4, 6), fm_score 2 in [2, 4)"
 *	"no cell: recency_score 7 outside [1, 6)"
 *	"no cell: fm_score is NaN"
 * names[d] names dimension d (NULL, or a NULL entry: "x1", ...).  Writes
 * at most buflen bytes, terminator included; returns the length of the
 * whole text, as snprintf() does.
 */
int
seg_grid_reason_format(const SegGridReason *r, const char *const *names,
					   char *buf, size_t buflen)
{
	Text		t;
	int			d;

	text_init(&t, buf, buflen);
	if (r->cell < 0)
	{
		d = r->outside;
		text_put(&t, "no cell");
		if (d < 0 || d >= r->ndims)
			return (int) t.len;
		text_put(&t, ": ");
		text_feature(&t, names, d);
		if (isnan(r->value[d]))
		{
			text_put(&t, " is NaN");
			return (int) t.len;
		}
		text_put(&t, " ");
		text_number(&t, r->value[d]);
		text_put(&t, " outside [");
		text_number(&t, r->lo[d]);
		text_put(&t, ", ");
		text_number(&t, r->hi[d]);
		text_put(&t, ")");
		return (int) t.len;
	}
	text_put(&t, "cell ");
	text_int(&t, r->cell + 1);
	text_put(&t, ":");
	for (d = 0; d < r->ndims; d++)
	{
		text_put(&t, d > 0 ? ", " : " ");
		text_feature(&t, names, d);
		text_put(&t, " ");
		text_number(&t, r->value[d]);
		text_put(&t, " in [");
		text_number(&t, r->lo[d]);
		text_put(&t, ", ");
		text_number(&t, r->hi[d]);
		text_put(&t, ")");
	}
	return (int) t.len;
}


/* ------------------------------------------------------------------------
 * Rules
 * ------------------------------------------------------------------------
 */

/*
 * The values of one feature that a rule's conditions on it admit: the
 * interval from lo to hi (each end open or closed) minus the points
 * hole[0..nholes-1], all strictly inside it.  The values range over the
 * doubles from -Infinity to +Infinity; NaN is in no set.  "constrained"
 * false means the rule says nothing about the feature: every value and
 * NaN.
 */
typedef struct ValueSet
{
	bool		constrained;
	bool		empty;
	double		lo;
	double		hi;
	bool		lo_open;
	bool		hi_open;
	int			nholes;
	double		hole[SEG_MAX_CONDS];
} ValueSet;

/*
 * The set of values of feature f that rule admits, normalized: holes at
 * an end open that end, holes outside the interval are dropped, and an
 * interval reduced to nothing is "empty".
 */
static void
rule_value_set(const SegRule *rule, int f, ValueSet *s)
{
	int			k;
	int			h;
	int			nholes = 0;
	double		holes[SEG_MAX_CONDS];

	s->constrained = false;
	s->empty = false;
	s->lo = -INFINITY;
	s->hi = INFINITY;
	s->lo_open = false;
	s->hi_open = false;
	s->nholes = 0;
	for (k = 0; k < rule->nconds; k++)
	{
		const SegCond *c = &rule->cond[k];
		double		v = c->value;

		if (c->feature != f)
			continue;
		s->constrained = true;
		switch (c->op)
		{
			case SEG_OP_LT:
				if (v < s->hi || (v == s->hi && !s->hi_open))
				{
					s->hi = v;
					s->hi_open = true;
				}
				break;
			case SEG_OP_LE:
				if (v < s->hi)
				{
					s->hi = v;
					s->hi_open = false;
				}
				break;
			case SEG_OP_GT:
				if (v > s->lo || (v == s->lo && !s->lo_open))
				{
					s->lo = v;
					s->lo_open = true;
				}
				break;
			case SEG_OP_GE:
				if (v > s->lo)
				{
					s->lo = v;
					s->lo_open = false;
				}
				break;
			case SEG_OP_EQ:
				if (v < s->hi)
				{
					s->hi = v;
					s->hi_open = false;
				}
				if (v > s->lo)
				{
					s->lo = v;
					s->lo_open = false;
				}
				break;
			case SEG_OP_NE:
				holes[nholes++] = v;
				break;
		}
	}
	for (h = 0; h < nholes; h++)
	{
		if (holes[h] == s->lo)
			s->lo_open = true;
		if (holes[h] == s->hi)
			s->hi_open = true;
	}
	if (s->lo > s->hi || (s->lo == s->hi && (s->lo_open || s->hi_open)))
	{
		s->empty = true;
		return;
	}
	for (h = 0; h < nholes; h++)
		if (holes[h] > s->lo && holes[h] < s->hi)
			s->hole[s->nholes++] = holes[h];
}

/*
 * Is v in the (normalized, non-empty) set s?
 */
static bool
value_set_has(const ValueSet *s, double v)
{
	int			h;

	if (!s->constrained)
		return true;
	if (v < s->lo || (v == s->lo && s->lo_open))
		return false;
	if (v > s->hi || (v == s->hi && s->hi_open))
		return false;
	for (h = 0; h < s->nholes; h++)
		if (v == s->hole[h])
			return false;
	return true;
}

/*
 * Is the non-empty set a inside the set b?  NaN is in an unconstrained set
 * only.  An interval with an interior is inside b's interval iff its
 * closure, with the ends it excludes, is (its holes do not matter there);
 * a single point simply has to be in b.  And no hole of b may be in a.
 */
static bool
value_set_inside(const ValueSet *a, const ValueSet *b)
{
	int			h;

	if (!b->constrained)
		return true;
	if (!a->constrained || b->empty)
		return false;
	for (h = 0; h < b->nholes; h++)
		if (value_set_has(a, b->hole[h]))
			return false;
	if (a->lo == a->hi)
		return value_set_has(b, a->lo);
	if (a->lo < b->lo || (a->lo == b->lo && b->lo_open && !a->lo_open))
		return false;
	if (a->hi > b->hi || (a->hi == b->hi && b->hi_open && !a->hi_open))
		return false;
	return true;
}

/*
 * Does rule "earlier" match every customer rule "later" matches?  (Later
 * is known to be satisfiable.)  Only the features either rule mentions
 * need a look: on the others both admit everything.
 */
static bool
rule_shadows(const SegRule *earlier, const SegRule *later)
{
	int			k;

	for (k = 0; k < earlier->nconds + later->nconds; k++)
	{
		int			f = k < earlier->nconds ? earlier->cond[k].feature :
			later->cond[k - earlier->nconds].feature;
		ValueSet	a;
		ValueSet	b;

		rule_value_set(later, f, &a);
		rule_value_set(earlier, f, &b);
		if (!value_set_inside(&a, &b))
			return false;
	}
	return true;
}

/*
 * A feature on which rule's conditions contradict each other, or -1.
 */
static int
rule_contradiction(const SegRule *rule)
{
	int			k;

	for (k = 0; k < rule->nconds; k++)
	{
		ValueSet	s;

		rule_value_set(rule, rule->cond[k].feature, &s);
		if (s.empty)
			return rule->cond[k].feature;
	}
	return -1;
}

/*
 * Compile one condition to a <= x <= b (negated for "<>"): "x < v" is
 * "x <= the double below v", which is exact for doubles; "x < -Infinity"
 * and "x > Infinity" admit nothing (a > b).
 */
static void
compile_cond(const SegCond *c, SegRuleCond *out)
{
	double		v = c->value;

	out->feature = c->feature;
	out->op = c->op;
	out->value = v;
	out->negate = false;
	out->a = -INFINITY;
	out->b = INFINITY;
	switch (c->op)
	{
		case SEG_OP_LT:
			if (v == -INFINITY)
				out->a = INFINITY;
			out->b = v == -INFINITY ? -INFINITY : nextafter(v, -INFINITY);
			break;
		case SEG_OP_LE:
			out->b = v;
			break;
		case SEG_OP_GT:
			if (v == INFINITY)
				out->b = -INFINITY;
			out->a = v == INFINITY ? INFINITY : nextafter(v, INFINITY);
			break;
		case SEG_OP_GE:
			out->a = v;
			break;
		case SEG_OP_EQ:
			out->a = out->b = v;
			break;
		case SEG_OP_NE:
			out->a = out->b = v;
			out->negate = true;
			break;
	}
}

/*
 * Compile and validate nrules rules over nfeatures features, with labels
 * 0 .. nlabels - 1 and default_label (or SEG_NO_MATCH for none).  Errors
 * come first, in rule and condition order; then, with the struct fully
 * compiled, the first rule that can never fire (lowest index; for it, the
 * contradiction, else the lowest earlier rule shadowing it) gives
 * SEG_UNREACHABLE.
 */
SegStatus
seg_rules_compile(const SegRule *rules, int nrules, int nfeatures,
				  int nlabels, int default_label, SegRules *out,
				  char *msg, size_t msglen)
{
	int			r;
	int			j;
	int			k;
	int			n = 0;

	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (nrules < 0 || nrules > SEG_MAX_RULES)
		return fail(SEG_ERR_LIMIT, msg, msglen,
					"a rule list has 0 to %d rules, not %d", SEG_MAX_RULES, nrules);
	if (nfeatures < 0 || nfeatures > SEG_MAX_FEATURES)
		return fail(SEG_ERR_LIMIT, msg, msglen,
					"a rule list reads 0 to %d features, not %d",
					SEG_MAX_FEATURES, nfeatures);
	if (nlabels < 1)
		return fail(SEG_ERR_LIMIT, msg, msglen,
					"a scheme needs at least one label");
	if (default_label != SEG_NO_MATCH && (default_label < 0 || default_label >= nlabels))
		return fail(SEG_ERR_LABEL, msg, msglen,
					"the default label is %d; the labels are 1 to %d",
					default_label + 1, nlabels);
	if (nrules == 0 && default_label == SEG_NO_MATCH)
		return fail(SEG_ERR_LIMIT, msg, msglen,
					"a rule list with no rules needs a default label");

	for (r = 0; r < nrules; r++)
	{
		const SegRule *rule = &rules[r];

		if (rule->nconds < 0 || rule->nconds > SEG_MAX_CONDS)
			return fail(SEG_ERR_LIMIT, msg, msglen,
						"rule %d has %d conditions; a rule has 0 to %d",
						r + 1, rule->nconds, SEG_MAX_CONDS);
		if (rule->label < 0 || rule->label >= nlabels)
			return fail(SEG_ERR_LABEL, msg, msglen,
						"rule %d has label %d; the labels are 1 to %d",
						r + 1, rule->label + 1, nlabels);
		out->first[r] = n;
		out->label[r] = rule->label;
		for (k = 0; k < rule->nconds; k++)
		{
			const SegCond *c = &rule->cond[k];

			if (c->feature < 0 || c->feature >= nfeatures)
				return fail(SEG_ERR_CONDITION, msg, msglen,
							"condition %d of rule %d reads feature %d; the features are 1 to %d",
							k + 1, r + 1, c->feature + 1, nfeatures);
			if ((int) c->op < 0 || (int) c->op >= SEG_NOPS)
				return fail(SEG_ERR_CONDITION, msg, msglen,
							"condition %d of rule %d has an unknown operator (%d)",
							k + 1, r + 1, (int) c->op);
			if (isnan(c->value))
				return fail(SEG_ERR_VALUE, msg, msglen,
							"condition %d of rule %d compares with NaN",
							k + 1, r + 1);
			compile_cond(c, &out->cond[n++]);
		}
	}
	out->first[nrules] = n;
	out->nrules = nrules;
	out->default_label = default_label;
	out->nfeatures = nfeatures;
	out->nlabels = nlabels;

	for (r = 0; r < nrules; r++)
	{
		int			f = rule_contradiction(&rules[r]);

		if (f >= 0)
			return fail(SEG_UNREACHABLE, msg, msglen,
						"rule %d can never fire: its conditions on feature %d contradict each other",
						r + 1, f + 1);
		for (j = 0; j < r; j++)
		{
			if (rules[j].nconds == 0)
				return fail(SEG_UNREACHABLE, msg, msglen,
							"rule %d can never fire: rule %d before it has no conditions and matches everything",
							r + 1, j + 1);
			if (rule_shadows(&rules[j], &rules[r]))
				return fail(SEG_UNREACHABLE, msg, msglen,
							"rule %d can never fire: every customer it matches is matched first by rule %d",
							r + 1, j + 1);
		}
	}
	return SEG_OK;
}

/*
 * Does compiled condition c hold for the features?  NaN fails both forms.
 */
static inline bool
cond_holds(const SegRuleCond *c, const double *features)
{
	double		x = features[c->feature];

	if (c->negate)
		return x < c->a || x > c->b;
	return x >= c->a && x <= c->b;
}

/*
 * The first rule (0-based) whose conditions all hold, or SEG_NO_MATCH.
 */
static int
seg_rules_match(const SegRules *rs, const double *features)
{
	int			r;

	for (r = 0; r < rs->nrules; r++)
	{
		int			k = rs->first[r];
		int			end = rs->first[r + 1];

		while (k < end && cond_holds(&rs->cond[k], features))
			k++;
		if (k == end)
			return r;
	}
	return SEG_NO_MATCH;
}

/*
 * The label of the first rule that holds, else the default label (which
 * may be SEG_NO_MATCH).
 */
int
seg_rules_classify(const SegRules *rs, const double *features)
{
	int			r = seg_rules_match(rs, features);

	return r >= 0 ? rs->label[r] : rs->default_label;
}

/*
 * Classify and say why: the rule and its conditions with the values
 * tested, or the default.  Returns the label or SEG_NO_MATCH.
 */
int
seg_rules_explain(const SegRules *rs, const double *features,
				  SegRuleReason *reason)
{
	int			r = seg_rules_match(rs, features);
	int			k;

	reason->rule = r;
	reason->nconds = 0;
	if (r < 0)
	{
		reason->label = rs->default_label;
		reason->is_default = rs->default_label != SEG_NO_MATCH;
		return reason->label;
	}
	reason->label = rs->label[r];
	reason->is_default = false;
	for (k = rs->first[r]; k < rs->first[r + 1]; k++)
	{
		const SegRuleCond *c = &rs->cond[k];
		SegReasonCond *rc = &reason->cond[reason->nconds++];

		rc->feature = c->feature;
		rc->op = c->op;
		rc->value = features[c->feature];
		rc->threshold = c->value;
	}
	return reason->label;
}

/*
 * A rule reason in words, e.g.
 *	"rule 2: consumption_share 0.31 >= 0.3"
 *	"rule 3: non_residential 1 = 1 and voltage_kv 10 <= 10"
 *	"rule 4: always"  (no conditions)
 *	"default: no rule matched"
 *	"no rule matched"  (and no default)
 * names[f] names feature f (NULL, or a NULL entry: "x1", ...).  Returns
 * what snprintf() returns.
 */
int
seg_rules_reason_format(const SegRuleReason *r, const char *const *names,
						char *buf, size_t buflen)
{
	Text		t;
	int			k;

	text_init(&t, buf, buflen);
	if (r->rule < 0)
	{
		text_put(&t, r->is_default ? "default: no rule matched" : "no rule matched");
		return (int) t.len;
	}
	text_put(&t, "rule ");
	text_int(&t, r->rule + 1);
	text_put(&t, ":");
	if (r->nconds == 0)
		text_put(&t, " always");
	for (k = 0; k < r->nconds; k++)
	{
		const SegReasonCond *c = &r->cond[k];
		const char *op = seg_op_name(c->op);

		text_put(&t, k > 0 ? " and " : " ");
		text_feature(&t, names, c->feature);
		text_put(&t, " ");
		text_number(&t, c->value);
		text_put(&t, " ");
		text_put(&t, op != NULL ? op : "?");
		text_put(&t, " ");
		text_number(&t, c->threshold);
	}
	return (int) t.len;
}


/* ------------------------------------------------------------------------
 * Rank cut-offs and the Pareto share
 * ------------------------------------------------------------------------
 */

static void
swap_double(double *a, double *b)
{
	double		t = *a;

	*a = *b;
	*b = t;
}

/*
 * Move the NaNs of v[0..n-1] to the end; returns how many are not NaN.
 */
static size_t
drop_nans(double *v, size_t n)
{
	size_t		m = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		if (!isnan(v[i]))
			swap_double(&v[m++], &v[i]);
	return m;
}

/*
 * Number of customers in the top "share" of n: ceil(share x n), at least
 * 1 and at most n.  A product that is whole up to rounding (0.05 x 20 =
 * 1.0000000000000002) counts as whole.
 */
static size_t
top_count(double share, size_t n)
{
	double		t = share * (double) n;
	double		k = ceil(t - t * 4.0 * DBL_EPSILON);

	if (k < 1.0)
		return 1;
	if (k > (double) n)
		return n;
	return (size_t) k;
}

/*
 * thresholds[i] = the value such that "value >= thresholds[i]" selects
 * the top shares[i] of the customers: the k-th largest non-NaN value,
 * k = ceil(shares[i] x m) (at least 1), m the number of non-NaN values.
 * Ties at a threshold are all selected, so a tier can exceed its share.
 * values[] is rearranged.  Returns m; with m = 0 every threshold is NaN.
 * Returns -1 (thresholds untouched) if a share is not in (0, 1].
 */
int64_t
seg_rank_cutoffs(double *values, size_t n, const double *shares,
				 int nshares, double *thresholds)
{
	size_t		m;
	int			i;
	int			j;

	for (i = 0; i < nshares; i++)
		if (!(shares[i] > 0.0 && shares[i] <= 1.0))
			return -1;
	m = drop_nans(values, n);
	for (i = 0; i < nshares; i++)
	{
		size_t		pos;
		size_t		lo = 0;
		size_t		hi;
		bool		done = false;

		if (m == 0)
		{
			thresholds[i] = NAN;
			continue;
		}
		pos = m - top_count(shares[i], m);
		hi = m - 1;

		/*
		 * Every earlier selection left its position q sorted with nothing
		 * greater before it and nothing smaller after: select only between
		 * the nearest such positions around pos.
		 */
		for (j = 0; j < i; j++)
		{
			size_t		q = m - top_count(shares[j], m);

			if (q == pos)
				done = true;
			else if (q < pos && q + 1 > lo)
				lo = q + 1;
			else if (q > pos && q - 1 < hi)
				hi = q - 1;
		}
		if (!done)
			crm_select_double(values, lo, hi, pos);
		thresholds[i] = values[pos];
	}
	return (int64_t) m;
}

/*
 * Share of the total value held by the top "top" fraction of the
 * customers (k = ceil(top x m) of the m non-NaN values; which of several
 * tied customers are "in" does not change the sum).  NaN if top is not in
 * (0, 1], there are no values, or the total is not positive.  values[] is
 * rearranged.  Sums are compensated (Neumaier), so a million cents add up
 * exactly.
 */
double
seg_pareto_share(double *values, size_t n, double top)
{
	size_t		m;
	size_t		pos;
	size_t		i;
	double		sum_top = 0.0,
				c_top = 0.0,
				sum = 0.0,
				c = 0.0;

	if (!(top > 0.0 && top <= 1.0))
		return NAN;
	m = drop_nans(values, n);
	if (m == 0)
		return NAN;
	pos = m - top_count(top, m);
	crm_select_double(values, 0, m - 1, pos);
	for (i = 0; i < m; i++)
	{
		double		x = values[i];
		double		t = sum + x;

		c += fabs(sum) >= fabs(x) ? (sum - t) + x : (x - t) + sum;
		sum = t;
		if (i >= pos)
		{
			t = sum_top + x;
			c_top += fabs(sum_top) >= fabs(x) ? (sum_top - t) + x : (x - t) + sum_top;
			sum_top = t;
		}
	}
	sum += c;
	sum_top += c_top;
	if (!(sum > 0.0))
		return NAN;
	return sum_top / sum;
}
