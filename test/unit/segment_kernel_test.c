/*
 * segment_kernel_test.c
 *	  Unit tests of src/segment_kernel.c, without a server.  TAP output.
 *
 * Expected labels, messages and thresholds are worked out by hand in the
 * comments; the randomized tests compare the compiled grid with a brute
 * force scan over the cells, and the selection with a full sort.  Timings
 * are printed as "# ..." diagnostics and never asserted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the kernel's source, so that its static functions can be tested too */
#include "segment_kernel.c"
#include "tap.h"

/*
 * The cell holds the integer scores first .. last (inclusive) in dimension
 * dim: the interval [first, last + 1).
 */
static void
seg_cell_set_scores(SegCell *cell, int dim, int first, int last)
{
	seg_cell_set(cell, dim, (double) first, (double) last + 1.0);
}

#define LEN(a)	((int) (sizeof(a) / sizeof((a)[0])))

/* ------------------------------------------------------------------------
 * The RFM segments preset
 * ------------------------------------------------------------------------
 *
 * The eleven segments and their published (R, FM) score ranges, from the
 * widely reproduced RFM segment table (Putler, "RFM Analysis For
 * Successful Customer Segmentation"; the same ranges are in the Churned
 * documentation, docs.churned.io, "RFM-Model"):
 *
 *	Champions 4-5 / 4-5, Loyal Customers 2-5 / 3-5, Potential Loyalist
 *	3-5 / 1-3, New Customers 4-5 / <=1, Promising 3-4 / <=1, Need
 *	Attention 2-3 / 2-3, About To Sleep 2-3 / <=2, At Risk <=2 / 2-5,
 *	Can't Lose Them <=1 / 4-5, Hibernating 1-2 / 1-2, Lost <=2 / <=2.
 *
 * Those ranges overlap (Hibernating and Lost are the same square), so
 * they are a description, not a scheme.  The layout below resolves them
 * into a tiling in which every point keeps a segment whose published
 * range holds it, following the common 5 x 5 chart (the "seg_map" of the
 * RFM tutorials: New Customers 5/1, Promising 4/1, Need Attention 3/3,
 * About To Sleep 3/1-2, Can't Lose Them in the high-FM corner of R 1,
 * At Risk beside it) and giving Lost the R = 1 end of the old low-FM
 * square that Hibernating shares:
 *
 *	FM 5 | Can't Lose  At Risk   Loyal      Champions  Champions
 *	FM 4 | Can't Lose  At Risk   Loyal      Champions  Champions
 *	FM 3 | At Risk     At Risk   Need Att.  Pot. Loy.  Pot. Loy.
 *	FM 2 | Lost        Hibern.   About to S Pot. Loy.  Pot. Loy.
 *	FM 1 | Lost        Hibern.   About to S Promising  New Cust.
 *	     +------------------------------------------------------
 *	       R 1         R 2       R 3        R 4        R 5
 *
 * 12 boxes (At Risk takes two), 4+2+4+1+1+1+2+3+1+2+2+2 = 25 points.
 */
enum
{
	CH, LC, PL, NC, PR, NA, AS, AR, CL, HI, LO, NRFM
};

static const char *const rfm_labels[NRFM] = {
	"Champions", "Loyal Customers", "Potential Loyalists", "New Customers",
	"Promising", "Need Attention", "About to Sleep", "At Risk",
	"Can't Lose Them", "Hibernating", "Lost"
};

static const char *const rfm_dims[2] = {"recency_score", "fm_score"};

/* label, R first..last, FM first..last (inclusive scores) */
static const int rfm_cells[][5] = {
	{CH, 4, 5, 4, 5},			/* cell 1 */
	{LC, 3, 3, 4, 5},			/* cell 2 */
	{PL, 4, 5, 2, 3},			/* cell 3 */
	{NC, 5, 5, 1, 1},			/* cell 4 */
	{PR, 4, 4, 1, 1},			/* cell 5 */
	{NA, 3, 3, 3, 3},			/* cell 6 */
	{AS, 3, 3, 1, 2},			/* cell 7 */
	{AR, 2, 2, 3, 5},			/* cell 8 */
	{AR, 1, 1, 3, 3},			/* cell 9 */
	{CL, 1, 1, 4, 5},			/* cell 10 */
	{HI, 2, 2, 1, 2},			/* cell 11 */
	{LO, 1, 1, 1, 2}			/* cell 12 */
};

#define NRFM_CELLS LEN(rfm_cells)

static const double score_lo[2] = {1, 1};
static const double score_hi[2] = {6, 6};

/* the chart above, row FM = 5 first, column R = 1 first */
static const int rfm_expect[5][5] = {
	{CL, AR, LC, CH, CH},		/* FM 5 */
	{CL, AR, LC, CH, CH},		/* FM 4 */
	{AR, AR, NA, PL, PL},		/* FM 3 */
	{LO, HI, AS, PL, PL},		/* FM 2 */
	{LO, HI, AS, PR, NC}		/* FM 1 */
};

static void
rfm_cells_build(SegCell *cells)
{
	int			i;

	for (i = 0; i < NRFM_CELLS; i++)
	{
		seg_cell_init(&cells[i], rfm_cells[i][0]);
		seg_cell_set_scores(&cells[i], 0, rfm_cells[i][1], rfm_cells[i][2]);
		seg_cell_set_scores(&cells[i], 1, rfm_cells[i][3], rfm_cells[i][4]);
	}
}

/*
 * Compile the RFM preset into g with table; aborts if it does not compile
 * (the tests below would be meaningless).
 */
static void
rfm_grid(SegGrid *g, uint8_t *table, size_t cap)
{
	SegCell		cells[NRFM_CELLS];
	char		msg[SEG_MSG_MAXLEN];

	rfm_cells_build(cells);
	if (seg_grid_compile(cells, NRFM_CELLS, 2, score_lo, score_hi, NRFM,
						 table, cap, g, msg, sizeof(msg)) != SEG_OK)
		abort();
}

static void
test_rfm_preset(void)
{
	SegCell		cells[NRFM_CELLS];
	SegGrid		g;
	uint8_t		table[64];
	char		msg[SEG_MSG_MAXLEN];
	int			r,
				fm,
				wrong = 0;
	double		x[2];

	rfm_cells_build(cells);

	/*
	 * The two-call protocol: no table first, then one of the size asked.
	 * R is cut at 2, 3, 4 and 5 (5 intervals), FM only at 2, 3 and 4: no
	 * cell separates FM 4 from FM 5, so FM has 4 intervals and the table
	 * 5 x 4 = 20 entries.
	 */
	ok(seg_grid_compile(cells, NRFM_CELLS, 2, score_lo, score_hi, NRFM,
						NULL, 0, &g, msg, sizeof(msg)) == SEG_ERR_TABLE &&
	   g.table_size == 20 &&
	   strcmp(msg, "the grid needs a table of 20 entries, not 0") == 0,
	   "rfm: without a table, compile asks for 5 x 4 = 20 entries");
	ok(seg_grid_compile(cells, NRFM_CELLS, 2, score_lo, score_hi, NRFM,
						table, 20, &g, msg, sizeof(msg)) == SEG_OK &&
	   msg[0] == '\0' && g.nbounds[0] == 4 && g.nbounds[1] == 3,
	   "rfm: the 12 boxes tile the 5 x 5 score grid");

	for (fm = 1; fm <= 5; fm++)
	{
		for (r = 1; r <= 5; r++)
		{
			x[0] = r;
			x[1] = fm;
			if (seg_grid_classify(&g, x) != rfm_expect[5 - fm][r - 1])
				wrong++;
		}
	}
	ok(wrong == 0, "rfm: all 25 (R, FM) points land in the segment of the chart");

	x[0] = 5;
	x[1] = 5;
	ok(strcmp(rfm_labels[seg_grid_classify(&g, x)], "Champions") == 0,
	   "rfm: (5, 5) is Champions");

	/* FM = (F + M) / 2 may be fractional: 2.5 is in [1, 3), band 2 */
	x[0] = 3;
	x[1] = 2.5;
	ok(seg_grid_classify(&g, x) == AS, "rfm: FM 2.5 falls in band 2 (About to Sleep at R 3)");
	x[1] = 5.999;
	ok(seg_grid_classify(&g, x) == LC, "rfm: FM 5.999 is still band 5");

	/* outside [1, 6) x [1, 6), or NaN: no match */
	x[0] = 6;
	x[1] = 3;
	ok(seg_grid_classify(&g, x) == SEG_NO_MATCH, "rfm: R 6 is outside [1, 6)");
	x[0] = 0.999;
	ok(seg_grid_classify(&g, x) == SEG_NO_MATCH, "rfm: R 0.999 is outside");
	x[0] = 1;
	x[1] = NAN;
	ok(seg_grid_classify(&g, x) == SEG_NO_MATCH, "rfm: NaN FM is no match");
	x[0] = NAN;
	x[1] = 3;
	ok(seg_grid_locate(&g, x) == SEG_NO_MATCH, "rfm: NaN R is no match");
}

/* ------------------------------------------------------------------------
 * Value x loyalty: a 2 x 2 matrix on continuous features
 * ------------------------------------------------------------------------
 *
 * Reinartz and Kumar's loyalty/profitability matrix ("The Mismanagement
 * of Customer Loyalty", HBR 2002): customer value (say a lifetime value
 * in currency units, any real number, negative for loss makers) against
 * loyalty (a repeat rate, 0 or more), cut at value 1000 and loyalty 0.5:
 *
 *	loyalty >= 0.5 | barnacles (3)     true friends (1)
 *	loyalty <  0.5 | strangers (4)     butterflies (2)
 *	               +---------------------------------
 *	                 value < 1000      value >= 1000
 *
 * The domain is value in (-Infinity, Infinity), loyalty in [0, Infinity).
 */
enum
{
	FRIENDS, BUTTERFLIES, BARNACLES, STRANGERS
};

static const char *const vl_dims[2] = {"clv", "loyalty"};

static void
vl_cells(SegCell *c)
{
	seg_cell_init(&c[0], FRIENDS);
	seg_cell_set(&c[0], 0, 1000, INFINITY);
	seg_cell_set(&c[0], 1, 0.5, INFINITY);
	seg_cell_init(&c[1], BUTTERFLIES);
	seg_cell_set(&c[1], 0, 1000, INFINITY);
	seg_cell_set(&c[1], 1, 0, 0.5);
	seg_cell_init(&c[2], BARNACLES);
	seg_cell_set(&c[2], 0, -INFINITY, 1000);
	seg_cell_set(&c[2], 1, 0.5, INFINITY);
	seg_cell_init(&c[3], STRANGERS);
	seg_cell_set(&c[3], 0, -INFINITY, 1000);
	seg_cell_set(&c[3], 1, 0, 0.5);
}

static const double vl_lo[2] = {-INFINITY, 0};
static const double vl_hi[2] = {INFINITY, INFINITY};

static int
vl_at(const SegGrid *g, double value, double loyalty)
{
	double		x[2];

	x[0] = value;
	x[1] = loyalty;
	return seg_grid_classify(g, x);
}

static void
test_value_loyalty(void)
{
	SegCell		c[4];
	SegGrid		g;
	uint8_t		table[16];
	char		msg[SEG_MSG_MAXLEN];
	double		below1000 = nextafter(1000, 0);
	double		below_half = nextafter(0.5, 0);

	vl_cells(c);
	ok(seg_grid_compile(c, 4, 2, vl_lo, vl_hi, 4, table, sizeof(table), &g,
						msg, sizeof(msg)) == SEG_OK && g.table_size == 4,
	   "value x loyalty: 4 cells tile the half-plane; 2 x 2 = 4 boxes");

	/* [lo, hi): a value on a threshold belongs to the upper cell */
	ok(vl_at(&g, 1000, 0.5) == FRIENDS, "value 1000, loyalty 0.5: both on the cut, true friend");
	ok(vl_at(&g, below1000, 0.5) == BARNACLES, "value just below 1000: barnacle");
	ok(vl_at(&g, 999.99, 0.5) == BARNACLES, "value 999.99: barnacle");
	ok(vl_at(&g, 1000.01, 0.5) == FRIENDS, "value 1000.01: true friend");
	ok(vl_at(&g, 1000, below_half) == BUTTERFLIES, "loyalty just below 0.5: butterfly");
	ok(vl_at(&g, 1000, 0.4999) == BUTTERFLIES && vl_at(&g, 1000, 0.5001) == FRIENDS,
	   "loyalty 0.4999 / 0.5001 either side of the cut");
	ok(vl_at(&g, 999, 0.49) == STRANGERS, "value 999, loyalty 0.49: stranger");

	/* the domain's ends: loyalty 0 is in, below it is not; infinities */
	ok(vl_at(&g, 5000, 0) == BUTTERFLIES, "loyalty 0 is in the domain [0, Infinity)");
	ok(vl_at(&g, 5000, -0.01) == SEG_NO_MATCH, "loyalty -0.01 is outside the domain");
	ok(vl_at(&g, -INFINITY, 0.2) == STRANGERS && vl_at(&g, -1e300, 0.9) == BARNACLES,
	   "value -Infinity and -1e300 are low value (the domain is closed at -Infinity)");
	ok(vl_at(&g, INFINITY, INFINITY) == FRIENDS,
	   "value and loyalty +Infinity are in the cells unbounded above");
	ok(vl_at(&g, NAN, 0.9) == SEG_NO_MATCH, "NaN value: no match");
}

/* ------------------------------------------------------------------------
 * Invalid grids
 * ------------------------------------------------------------------------
 */

/* compile cells over the 5 x 5 score domain; message into msg */
static SegStatus
score_compile(const SegCell *cells, int ncells, char *msg, size_t msglen)
{
	SegGrid		g;
	uint8_t		table[SEG_GRID_MAX_TABLE / 1024];

	return seg_grid_compile(cells, ncells, 2, score_lo, score_hi, NRFM,
							table, sizeof(table), &g, msg, msglen);
}

static void
test_invalid_grids(void)
{
	SegCell		cells[SEG_MAX_CELLS + 1];
	SegCell		vl[4];
	SegGrid		g;
	uint8_t		table[64];
	char		msg[SEG_MSG_MAXLEN];
	int			i;

	/*
	 * Overlap: Champions widened to R 3-5 takes (3, 4) and (3, 5), which are
	 * Loyal's (cell 2).  Cell 1 paints first, cell 2 finds (3, 4) taken.
	 */
	rfm_cells_build(cells);
	seg_cell_set_scores(&cells[0], 0, 3, 5);
	ok(score_compile(cells, NRFM_CELLS, msg, sizeof(msg)) == SEG_ERR_OVERLAP &&
	   strcmp(msg, "cells 1 and 2 overlap, e.g. at (3, 4)") == 0,
	   "overlap: cells 1 and 2, at (3, 4)");

	/* Gap: without New Customers (cell 4: R 5, FM 1) nobody covers (5, 1) */
	rfm_cells_build(cells);
	memmove(&cells[3], &cells[4], sizeof(SegCell) * (NRFM_CELLS - 4));
	ok(score_compile(cells, NRFM_CELLS - 1, msg, sizeof(msg)) == SEG_ERR_GAP &&
	   strcmp(msg, "no cell covers (5, 1)") == 0,
	   "gap: no cell covers (5, 1)");

	/* Gap at infinity: true friends stop at value 1e9 */
	vl_cells(vl);
	vl[0].hi[0] = 1e9;
	ok(seg_grid_compile(vl, 4, 2, vl_lo, vl_hi, 4, table, sizeof(table), &g,
						msg, sizeof(msg)) == SEG_ERR_GAP &&
	   strcmp(msg, "no cell covers (1000000000, 0.5)") == 0,
	   "gap: value [1e9, Infinity) x loyalty [0.5, Infinity) is uncovered");

	/* lo >= hi: Need Attention (cell 6) as FM [3, 3) */
	rfm_cells_build(cells);
	seg_cell_set(&cells[5], 1, 3, 3);
	ok(score_compile(cells, NRFM_CELLS, msg, sizeof(msg)) == SEG_ERR_VALUE &&
	   strcmp(msg, "cell 6 is empty in dimension 2: [3, 3) needs lo < hi") == 0,
	   "lo >= hi: cell 6 is empty in dimension 2");
	seg_cell_set(&cells[5], 1, 4, 3);
	ok(score_compile(cells, NRFM_CELLS, msg, sizeof(msg)) == SEG_ERR_VALUE &&
	   strstr(msg, "cell 6 ") != NULL && strstr(msg, "[4, 3)") != NULL,
	   "lo > hi: cell 6, [4, 3)");

	/* out of domain: New Customers (cell 4) as R 5-6, i.e. [5, 7) */
	rfm_cells_build(cells);
	seg_cell_set_scores(&cells[3], 0, 5, 6);
	ok(score_compile(cells, NRFM_CELLS, msg, sizeof(msg)) == SEG_ERR_DOMAIN &&
	   strcmp(msg, "cell 4 reaches outside the domain in dimension 1: [5, 7) is not inside [1, 6)") == 0,
	   "out of domain: cell 4, [5, 7) not inside [1, 6)");
	rfm_cells_build(cells);
	seg_cell_set(&cells[11], 1, -INFINITY, 3);
	ok(score_compile(cells, NRFM_CELLS, msg, sizeof(msg)) == SEG_ERR_DOMAIN &&
	   strstr(msg, "cell 12 ") != NULL && strstr(msg, "[-Infinity, 3)") != NULL,
	   "out of domain: cell 12 reaching -Infinity");

	/* NaN bound, label out of range */
	rfm_cells_build(cells);
	cells[2].hi[1] = NAN;
	ok(score_compile(cells, NRFM_CELLS, msg, sizeof(msg)) == SEG_ERR_VALUE &&
	   strcmp(msg, "cell 3 has a NaN bound in dimension 2") == 0,
	   "NaN bound: cell 3, dimension 2");
	rfm_cells_build(cells);
	cells[4].label = NRFM;
	ok(score_compile(cells, NRFM_CELLS, msg, sizeof(msg)) == SEG_ERR_LABEL &&
	   strcmp(msg, "cell 5 has label 12; the labels are 1 to 11") == 0,
	   "bad label: cell 5 has label 12 of 11");
	cells[4].label = -1;
	ok(score_compile(cells, NRFM_CELLS, msg, sizeof(msg)) == SEG_ERR_LABEL,
	   "bad label: negative");

	/* limits: 65 cells, 0 and 5 dimensions, an empty or NaN domain */
	for (i = 0; i < SEG_MAX_CELLS + 1; i++)
	{
		seg_cell_init(&cells[i], 0);
		seg_cell_set(&cells[i], 0, i, i + 1);
	}
	{
		double		lo1 = 0,
					hi1 = SEG_MAX_CELLS,
					hi2 = SEG_MAX_CELLS + 1;
		uint8_t		big[128];

		ok(seg_grid_compile(cells, SEG_MAX_CELLS, 1, &lo1, &hi1, 1, big, sizeof(big),
							&g, msg, sizeof(msg)) == SEG_OK,
		   "64 slabs of [0, 64) compile");
		ok(seg_grid_compile(cells, SEG_MAX_CELLS + 1, 1, &lo1, &hi2, 1, big, sizeof(big),
							&g, msg, sizeof(msg)) == SEG_ERR_LIMIT &&
		   strcmp(msg, "a grid has 1 to 64 cells, not 65") == 0,
		   "65 cells: too many");
		ok(seg_grid_compile(cells, 1, 0, &lo1, &hi1, 1, big, sizeof(big),
							&g, msg, sizeof(msg)) == SEG_ERR_LIMIT &&
		   seg_grid_compile(cells, 1, 5, score_lo, score_hi, 1, big, sizeof(big),
							&g, msg, sizeof(msg)) == SEG_ERR_LIMIT &&
		   strcmp(msg, "a grid has 1 to 4 dimensions, not 5") == 0,
		   "0 or 5 dimensions: rejected");
		ok(seg_grid_compile(cells, 1, 1, &hi1, &lo1, 1, big, sizeof(big),
							&g, msg, sizeof(msg)) == SEG_ERR_VALUE &&
		   strcmp(msg, "the domain of dimension 1, [64, 0), is empty") == 0,
		   "empty domain: rejected");
		lo1 = NAN;
		ok(seg_grid_compile(cells, 1, 1, &lo1, &hi1, 1, big, sizeof(big),
							&g, msg, sizeof(msg)) == SEG_ERR_VALUE,
		   "NaN domain: rejected");
	}

	/* a table one entry short */
	rfm_cells_build(cells);
	ok(seg_grid_compile(cells, NRFM_CELLS, 2, score_lo, score_hi, NRFM,
						table, 19, &g, msg, sizeof(msg)) == SEG_ERR_TABLE &&
	   g.table_size == 20,
	   "a table of 19 entries is refused; 20 reported");
}

/* ------------------------------------------------------------------------
 * Rules: utility customer classes
 * ------------------------------------------------------------------------
 *
 * Precedence important > large > general > residential, first match
 * wins:
 *	rule 1: is_important = 1                          -> important
 *	rule 2: consumption_share >= 0.3                  -> large
 *	rule 3: non_residential = 1 and voltage_kv <= 10  -> general
 *	default                                           -> residential
 */
enum
{
	F_IMPORTANT, F_SHARE, F_NONRES, F_VOLTAGE, NFEAT
};
enum
{
	IMPORTANT, LARGE, GENERAL, RESIDENTIAL, NCLASS
};

static const char *const util_features[NFEAT] = {
	"is_important", "consumption_share", "non_residential", "voltage_kv"
};

static SegRule
rule1(int label, int f, SegOp op, double v)
{
	SegRule		r;

	memset(&r, 0, sizeof(r));
	r.label = label;
	r.nconds = 1;
	r.cond[0].feature = f;
	r.cond[0].op = op;
	r.cond[0].value = v;
	return r;
}

static SegRule
rule_and(SegRule r, int f, SegOp op, double v)
{
	r.cond[r.nconds].feature = f;
	r.cond[r.nconds].op = op;
	r.cond[r.nconds].value = v;
	r.nconds++;
	return r;
}

static SegRule
rule_always(int label)
{
	SegRule		r;

	memset(&r, 0, sizeof(r));
	r.label = label;
	return r;
}

static void
util_rules(SegRule *r)
{
	r[0] = rule1(IMPORTANT, F_IMPORTANT, SEG_OP_EQ, 1);
	r[1] = rule1(LARGE, F_SHARE, SEG_OP_GE, 0.3);
	r[2] = rule_and(rule1(GENERAL, F_NONRES, SEG_OP_EQ, 1), F_VOLTAGE, SEG_OP_LE, 10);
}

static int
util_at(const SegRules *rs, double imp, double share, double nonres, double kv)
{
	double		f[NFEAT];

	f[F_IMPORTANT] = imp;
	f[F_SHARE] = share;
	f[F_NONRES] = nonres;
	f[F_VOLTAGE] = kv;
	return seg_rules_classify(rs, f);
}

static void
test_rules(void)
{
	SegRule		r[8];
	SegRules	rs;
	char		msg[SEG_MSG_MAXLEN];

	util_rules(r);
	ok(seg_rules_compile(r, 3, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg)) == SEG_OK &&
	   msg[0] == '\0', "utility classes compile");

	ok(util_at(&rs, 1, 0.9, 1, 5) == IMPORTANT, "important outranks large and general");
	ok(util_at(&rs, 0, 0.3, 1, 5) == LARGE, "share exactly 0.3 is large (>=)");
	ok(util_at(&rs, 0, nextafter(0.3, 0), 1, 5) == GENERAL,
	   "share just below 0.3 falls through to general");
	ok(util_at(&rs, 0, 0.29, 0, 5) == RESIDENTIAL, "share 0.29, residential: the default");
	ok(util_at(&rs, 0, 0.1, 1, 10) == GENERAL, "voltage exactly 10 kV is general (<=)");
	ok(util_at(&rs, 0, 0.1, 1, 10.0001) == RESIDENTIAL, "voltage 10.0001 kV is not general");
	ok(util_at(&rs, 0.5, 0.1, 1, 0.4) == GENERAL, "is_important 0.5 is not = 1");

	/* NaN (unknown) makes every condition on it false */
	ok(util_at(&rs, NAN, 0.5, 0, 0) == LARGE, "unknown importance: the next rule decides");
	ok(util_at(&rs, 0, NAN, 1, 0.4) == GENERAL, "unknown share: not large");
	ok(util_at(&rs, 0, 0.1, 1, NAN) == RESIDENTIAL, "unknown voltage: not general");

	/* <> is false for NaN too; without a default, no match */
	r[0] = rule1(IMPORTANT, F_IMPORTANT, SEG_OP_NE, 0);
	ok(seg_rules_compile(r, 1, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_OK &&
	   util_at(&rs, 2, 0, 0, 0) == IMPORTANT && util_at(&rs, 0, 0, 0, 0) == SEG_NO_MATCH &&
	   util_at(&rs, NAN, 0, 0, 0) == SEG_NO_MATCH,
	   "<>: 2 <> 0 holds, 0 <> 0 does not, NaN <> 0 does not; no default: no match");

	/* every operator on its boundary, and the infinities */
	{
		static const struct
		{
			SegOp		op;
			double		v;
			double		x;
			int			expect;
		}			cases[] = {
			{SEG_OP_LT, 5, 5, 0}, {SEG_OP_LT, 5, 4.999, 1},
			{SEG_OP_LE, 5, 5, 1}, {SEG_OP_LE, 5, 5.001, 0},
			{SEG_OP_GT, 5, 5, 0}, {SEG_OP_GT, 5, 5.001, 1},
			{SEG_OP_GE, 5, 5, 1}, {SEG_OP_GE, 5, 4.999, 0},
			{SEG_OP_EQ, 5, 5, 1}, {SEG_OP_EQ, 5, 5.000001, 0},
			{SEG_OP_NE, 5, 5, 0}, {SEG_OP_NE, 5, -5, 1},
			{SEG_OP_LT, -INFINITY, -INFINITY, 0}, {SEG_OP_LE, -INFINITY, -INFINITY, 1},
			{SEG_OP_GT, INFINITY, INFINITY, 0}, {SEG_OP_GE, INFINITY, INFINITY, 1},
			{SEG_OP_LT, INFINITY, 1e308, 1}, {SEG_OP_LT, INFINITY, INFINITY, 0},
			{SEG_OP_GT, -INFINITY, -1e308, 1}, {SEG_OP_GT, -INFINITY, -INFINITY, 0},
			{SEG_OP_LT, 5, NAN, 0}, {SEG_OP_GE, -INFINITY, NAN, 0}
		};
		int			i,
					wrong = 0;

		for (i = 0; i < LEN(cases); i++)
		{
			double		f[1];
			SegStatus	st;

			/* x < -Infinity and x > Infinity compile, but are unreachable */
			r[0] = rule1(0, 0, cases[i].op, cases[i].v);
			f[0] = cases[i].x;
			st = seg_rules_compile(r, 1, 1, 1, SEG_NO_MATCH, &rs, msg, sizeof(msg));
			if (st != (i == 12 || i == 14 ? SEG_UNREACHABLE : SEG_OK) ||
				(seg_rules_classify(&rs, f) == 0) != cases[i].expect)
				wrong++;
		}
		ok(wrong == 0, "22 operator cases on and beside their thresholds, infinities, NaN");
	}

	/* the large threshold from the ranks: top 20% of 10 shares */
	{
		double		shares[10] = {0.01, 0.30, 0.02, 0.12, 0.05, 0.25, 0.03, 0.08, 0.10, 0.04};
		double		top20 = 0.2;
		double		t;
		int			i,
					nlarge = 0;
		double		copy[10];

		memcpy(copy, shares, sizeof(copy));
		seg_rank_cutoffs(copy, 10, &top20, 1, &t);
		util_rules(r);
		r[1].cond[0].value = t;
		seg_rules_compile(r, 3, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg));
		for (i = 0; i < 10; i++)
			nlarge += util_at(&rs, 0, shares[i], 0, 0) == LARGE;
		/* sorted: .30 .25 .12 ...; the 2nd largest is 0.25 */
		ok(t == 0.25 && nlarge == 2, "rank-based large: share >= 0.25 picks the top 2 of 10");
	}
}

static void
test_rules_invalid(void)
{
	SegRule		r[8];
	SegRules	rs;
	char		msg[SEG_MSG_MAXLEN];
	SegStatus	st;

	/*
	 * A catch-all in second place: rule 3 can never fire.  The struct is
	 * still compiled, and the catch-all does catch everything not important.
	 */
	r[0] = rule1(IMPORTANT, F_IMPORTANT, SEG_OP_EQ, 1);
	r[1] = rule_always(RESIDENTIAL);
	r[2] = rule1(LARGE, F_SHARE, SEG_OP_GE, 0.3);
	st = seg_rules_compile(r, 3, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg));
	ok(st == SEG_UNREACHABLE &&
	   strcmp(msg, "rule 3 can never fire: rule 2 before it has no conditions and matches everything") == 0,
	   "catch-all before rule 3 is reported");
	ok(util_at(&rs, 0, 0.9, 0, 0) == RESIDENTIAL && util_at(&rs, 1, 0.9, 0, 0) == IMPORTANT,
	   "... and the compiled list still works: the catch-all wins over rule 3");
	ok(seg_rules_compile(r, 2, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_OK,
	   "a catch-all in last place is fine");

	/* shadowing by a single earlier rule */
	r[0] = rule1(LARGE, F_SHARE, SEG_OP_GE, 0.3);
	r[1] = rule1(IMPORTANT, F_SHARE, SEG_OP_GE, 0.5);
	ok(seg_rules_compile(r, 2, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_UNREACHABLE &&
	   strcmp(msg, "rule 2 can never fire: every customer it matches is matched first by rule 1") == 0,
	   "share >= 0.3 shadows a later share >= 0.5");
	r[0] = rule1(IMPORTANT, F_SHARE, SEG_OP_GE, 0.5);
	r[1] = rule1(LARGE, F_SHARE, SEG_OP_GE, 0.3);
	ok(seg_rules_compile(r, 2, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_OK,
	   "share >= 0.5 before share >= 0.3: both can fire");
	r[0] = rule1(LARGE, F_SHARE, SEG_OP_GE, 0.3);
	r[1] = rule_and(rule1(GENERAL, F_SHARE, SEG_OP_GE, 0.3), F_NONRES, SEG_OP_EQ, 1);
	ok(seg_rules_compile(r, 2, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_UNREACHABLE,
	   "a narrower conjunction on the same share is shadowed");
	r[0] = rule_and(rule1(GENERAL, F_SHARE, SEG_OP_GE, 0.3), F_NONRES, SEG_OP_EQ, 1);
	r[1] = rule1(LARGE, F_SHARE, SEG_OP_GE, 0.3);
	ok(seg_rules_compile(r, 2, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_OK,
	   "a rule on an extra feature does not shadow (that feature may differ, or be NaN)");

	/* x <> 1 shadows x = 2 and x > 1, not x >= 1 (1 itself gets through) */
	r[0] = rule1(0, 0, SEG_OP_NE, 1);
	r[1] = rule1(1, 0, SEG_OP_EQ, 2);
	ok(seg_rules_compile(r, 2, 1, 2, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_UNREACHABLE,
	   "x <> 1 shadows x = 2");
	r[1] = rule1(1, 0, SEG_OP_GT, 1);
	ok(seg_rules_compile(r, 2, 1, 2, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_UNREACHABLE,
	   "x <> 1 shadows x > 1");
	r[1] = rule1(1, 0, SEG_OP_GE, 1);
	ok(seg_rules_compile(r, 2, 1, 2, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_OK,
	   "x <> 1 does not shadow x >= 1");
	r[0] = rule1(0, 0, SEG_OP_GT, 1);
	r[1] = rule_and(rule1(1, 0, SEG_OP_GE, 1), 0, SEG_OP_NE, 1);
	ok(seg_rules_compile(r, 2, 1, 2, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_UNREACHABLE,
	   "x > 1 shadows x >= 1 and x <> 1 (the same set)");
	r[0] = rule_and(rule1(0, 0, SEG_OP_GE, 0), 0, SEG_OP_LT, 10);
	r[1] = rule1(1, 0, SEG_OP_EQ, 10);
	ok(seg_rules_compile(r, 2, 1, 2, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_OK,
	   "[0, 10) does not shadow x = 10");
	r[1] = rule1(1, 0, SEG_OP_EQ, 9.5);
	ok(seg_rules_compile(r, 2, 1, 2, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_UNREACHABLE,
	   "[0, 10) shadows x = 9.5");

	/* contradictions */
	r[0] = rule_and(rule1(LARGE, F_SHARE, SEG_OP_GT, 0.5), F_SHARE, SEG_OP_LT, 0.2);
	ok(seg_rules_compile(r, 1, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_UNREACHABLE &&
	   strcmp(msg, "rule 1 can never fire: its conditions on feature 2 contradict each other") == 0,
	   "share > 0.5 and share < 0.2 contradict");
	r[0] = rule_and(rule1(LARGE, F_SHARE, SEG_OP_EQ, 0.5), F_SHARE, SEG_OP_NE, 0.5);
	ok(seg_rules_compile(r, 1, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_UNREACHABLE,
	   "share = 0.5 and share <> 0.5 contradict");
	r[0] = rule_and(rule1(LARGE, F_SHARE, SEG_OP_GE, 0.5), F_SHARE, SEG_OP_LE, 0.5);
	ok(seg_rules_compile(r, 1, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_OK,
	   "share >= 0.5 and share <= 0.5 is the point 0.5, not a contradiction");
	r[0] = rule1(LARGE, F_SHARE, SEG_OP_LT, -INFINITY);
	ok(seg_rules_compile(r, 1, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_UNREACHABLE,
	   "share < -Infinity matches nothing");

	/* errors */
	util_rules(r);
	r[1].cond[0].feature = NFEAT;
	ok(seg_rules_compile(r, 3, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg)) == SEG_ERR_CONDITION &&
	   strcmp(msg, "condition 1 of rule 2 reads feature 5; the features are 1 to 4") == 0,
	   "feature index out of range");
	util_rules(r);
	r[2].cond[1].value = NAN;
	ok(seg_rules_compile(r, 3, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg)) == SEG_ERR_VALUE &&
	   strcmp(msg, "condition 2 of rule 3 compares with NaN") == 0,
	   "NaN threshold");
	util_rules(r);
	r[2].label = NCLASS;
	ok(seg_rules_compile(r, 3, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg)) == SEG_ERR_LABEL &&
	   strcmp(msg, "rule 3 has label 5; the labels are 1 to 4") == 0,
	   "rule label out of range");
	util_rules(r);
	ok(seg_rules_compile(r, 3, NFEAT, NCLASS, NCLASS, &rs, msg, sizeof(msg)) == SEG_ERR_LABEL,
	   "default label out of range");
	r[0].cond[0].op = (SegOp) 6;
	ok(seg_rules_compile(r, 3, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg)) == SEG_ERR_CONDITION,
	   "unknown operator");
	util_rules(r);
	r[0].nconds = SEG_MAX_CONDS + 1;
	ok(seg_rules_compile(r, 3, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg)) == SEG_ERR_LIMIT,
	   "five conditions: too many");
	ok(seg_rules_compile(r, 0, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg)) == SEG_ERR_LIMIT &&
	   seg_rules_compile(r, 0, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg)) == SEG_OK &&
	   util_at(&rs, 1, 1, 1, 1) == RESIDENTIAL,
	   "no rules: needs a default, which then applies to everybody");
	ok(seg_op_from_name(">=") == SEG_OP_GE && seg_op_from_name("!=") == SEG_OP_NE &&
	   seg_op_from_name("=>") == -1 && strcmp(seg_op_name(SEG_OP_NE), "<>") == 0 &&
	   seg_op_name((SegOp) SEG_NOPS) == NULL && seg_op_from_name("<>") == SEG_OP_NE,
	   "operator names, both ways");
}

/* ------------------------------------------------------------------------
 * Reasons
 * ------------------------------------------------------------------------
 */
static void
test_reasons(void)
{
	SegGrid		g;
	uint8_t		table[20];
	SegGridReason gr;
	SegRules	rs;
	SegRuleReason rr;
	SegRule		r[4];
	SegCell		vl[4];
	uint8_t		vtable[4];
	char		msg[SEG_MSG_MAXLEN];
	char		buf[SEG_REASON_MAXLEN];
	char		small[12];
	double		x[2];
	double		f[NFEAT];
	int			n;

	/* grid: (R 4, FM 2) is Potential Loyalists, cell 3: R 4-5, FM 2-3 */
	rfm_grid(&g, table, sizeof(table));
	x[0] = 4;
	x[1] = 2;
	ok(seg_grid_explain(&g, x, &gr) == PL && gr.cell == 2 &&
	   gr.lo[0] == 4 && gr.hi[0] == 6 && gr.lo[1] == 2 && gr.hi[1] == 4,
	   "grid reason: cell 3 (0-based 2) with its intervals");
	n = seg_grid_reason_format(&gr, rfm_dims, buf, sizeof(buf));
	ok(strcmp(buf, "cell 3: recency_score 4 in [4, 6), fm_score 2 in [2, 4)") == 0 &&
	   n == (int) strlen(buf),
	   "grid reason text: cell 3: recency_score 4 in [4, 6), fm_score 2 in [2, 4)");
	x[0] = 5;
	x[1] = 3.5;
	seg_grid_explain(&g, x, &gr);
	seg_grid_reason_format(&gr, NULL, buf, sizeof(buf));
	ok(strcmp(buf, "cell 3: x1 5 in [4, 6), x2 3.5 in [2, 4)") == 0,
	   "grid reason without names: x1, x2");
	x[0] = 7;
	x[1] = 2;
	ok(seg_grid_explain(&g, x, &gr) == SEG_NO_MATCH && gr.outside == 0, "grid reason: R 7 is outside");
	seg_grid_reason_format(&gr, rfm_dims, buf, sizeof(buf));
	ok(strcmp(buf, "no cell: recency_score 7 outside [1, 6)") == 0,
	   "grid reason text: no cell: recency_score 7 outside [1, 6)");
	x[0] = 3;
	x[1] = NAN;
	seg_grid_explain(&g, x, &gr);
	seg_grid_reason_format(&gr, rfm_dims, buf, sizeof(buf));
	ok(strcmp(buf, "no cell: fm_score is NaN") == 0, "grid reason text: no cell: fm_score is NaN");

	vl_cells(vl);
	seg_grid_compile(vl, 4, 2, vl_lo, vl_hi, 4, vtable, sizeof(vtable), &g, msg, sizeof(msg));
	x[0] = 1234.5;
	x[1] = 0.1 + 0.2;
	seg_grid_explain(&g, x, &gr);
	seg_grid_reason_format(&gr, vl_dims, buf, sizeof(buf));
	ok(strcmp(buf, "cell 2: clv 1234.5 in [1000, Infinity), loyalty 0.30000000000000004 in [0, 0.5)") == 0,
	   "grid reason text: Infinity, and 0.1 + 0.2 written so that it reads back exactly");

	/* truncation: returns the full length, writes a terminated prefix */
	n = seg_grid_reason_format(&gr, vl_dims, small, sizeof(small));
	ok(n == (int) strlen(buf) && strcmp(small, "cell 2: clv") == 0,
	   "a short buffer gets a terminated prefix; the return is the full length");

	/* rules */
	util_rules(r);
	seg_rules_compile(r, 3, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg));
	f[F_IMPORTANT] = 0;
	f[F_SHARE] = 0.31;
	f[F_NONRES] = 1;
	f[F_VOLTAGE] = 10;
	ok(seg_rules_explain(&rs, f, &rr) == LARGE && rr.rule == 1 && rr.nconds == 1 &&
	   rr.cond[0].feature == F_SHARE && rr.cond[0].op == SEG_OP_GE &&
	   rr.cond[0].value == 0.31 && rr.cond[0].threshold == 0.3,
	   "rule reason: rule 2 (0-based 1), share 0.31 >= 0.3");
	seg_rules_reason_format(&rr, util_features, buf, sizeof(buf));
	ok(strcmp(buf, "rule 2: consumption_share 0.31 >= 0.3") == 0,
	   "rule reason text: rule 2: consumption_share 0.31 >= 0.3");
	f[F_SHARE] = 0.1;
	seg_rules_explain(&rs, f, &rr);
	seg_rules_reason_format(&rr, util_features, buf, sizeof(buf));
	ok(strcmp(buf, "rule 3: non_residential 1 = 1 and voltage_kv 10 <= 10") == 0,
	   "rule reason text: rule 3: non_residential 1 = 1 and voltage_kv 10 <= 10");
	seg_rules_reason_format(&rr, NULL, buf, sizeof(buf));
	ok(strcmp(buf, "rule 3: x3 1 = 1 and x4 10 <= 10") == 0, "rule reason without names");
	f[F_NONRES] = 0;
	ok(seg_rules_explain(&rs, f, &rr) == RESIDENTIAL && rr.rule == SEG_NO_MATCH && rr.is_default,
	   "rule reason: the default");
	seg_rules_reason_format(&rr, util_features, buf, sizeof(buf));
	ok(strcmp(buf, "default: no rule matched") == 0, "rule reason text: default: no rule matched");

	seg_rules_compile(r, 3, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg));
	ok(seg_rules_explain(&rs, f, &rr) == SEG_NO_MATCH && !rr.is_default, "rule reason: no default, no match");
	seg_rules_reason_format(&rr, util_features, buf, sizeof(buf));
	ok(strcmp(buf, "no rule matched") == 0, "rule reason text: no rule matched");

	r[1] = rule_always(RESIDENTIAL);
	seg_rules_compile(r, 2, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg));
	seg_rules_explain(&rs, f, &rr);
	seg_rules_reason_format(&rr, util_features, buf, sizeof(buf));
	ok(strcmp(buf, "rule 2: always") == 0, "rule reason text: a catch-all is 'always'");
	r[0] = rule1(IMPORTANT, F_SHARE, SEG_OP_NE, 0);
	seg_rules_compile(r, 1, NFEAT, NCLASS, SEG_NO_MATCH, &rs, msg, sizeof(msg));
	f[F_SHARE] = -1e-7;
	seg_rules_explain(&rs, f, &rr);
	seg_rules_reason_format(&rr, util_features, buf, sizeof(buf));
	ok(strcmp(buf, "rule 1: consumption_share -1e-07 <> 0") == 0, "rule reason text: <> and a small number");
}

/* ------------------------------------------------------------------------
 * Rank cut-offs and the Pareto share
 * ------------------------------------------------------------------------
 */

static int
count_at_least(const double *v, int n, double t)
{
	int			i,
				c = 0;

	for (i = 0; i < n; i++)
		c += v[i] >= t;
	return c;
}

static void
test_rank_cutoffs(void)
{
	double		v[10] = {5, 1, 9, 3, 7, 10, 2, 8, 4, 6};
	double		shares[2] = {0.2, 0.5};
	double		rev[2] = {0.5, 0.2};
	double		t[4];
	double		heavy[10] = {1, 2, 1, 7, 1, 3, 1, 2, 1, 1};
	double		hshares[3] = {0.2, 0.3, 0.5};
	double		copy[10];
	double		nan4[4] = {NAN, 4, NAN, 2};
	double		half = 0.5;
	double		bad[3] = {0, 1.5, NAN};
	double		pv[10] = {5, 1, 20, 3, 1, 50, 10, 4, 5, 1};
	int			i;

	/*
	 * 1..10: top 20% = 2 customers, the 2nd largest is 9 (10 and 9);
	 * top 50% = 5 customers, the 5th largest is 6 (10, 9, 8, 7, 6).
	 */
	ok(seg_rank_cutoffs(v, 10, shares, 2, t) == 10 && t[0] == 9 && t[1] == 6,
	   "1..10, shares 0.2 and 0.5: thresholds 9 and 6");
	ok(seg_rank_cutoffs(v, 10, rev, 2, t) == 10 && t[0] == 6 && t[1] == 9,
	   "shares in the other order: same thresholds, in their order");
	t[0] = 0.05;
	t[1] = 1.0;
	seg_rank_cutoffs(v, 10, t, 2, t + 2);
	ok(t[2] == 10 && t[3] == 1,
	   "top 5% of 10 is at least the top customer (10); top 100% is the minimum (1)");

	/*
	 * Heavy ties, sorted down: 7 3 2 2 1 1 1 1 1 1.  Top 20%: k = 2, the
	 * 2nd largest is 3 and ">= 3" selects exactly 2.  Top 30%: k = 3, the
	 * 3rd largest is 2, and ">= 2" selects 4 (both 2s): 40% > 30%.  Top
	 * 50%: k = 5, the 5th largest is 1, which selects all ten.
	 */
	memcpy(copy, heavy, sizeof(copy));
	seg_rank_cutoffs(copy, 10, hshares, 3, t);
	ok(t[0] == 3 && t[1] == 2 && t[2] == 1, "heavy ties: thresholds 3, 2, 1");
	ok(count_at_least(heavy, 10, t[0]) == 2 && count_at_least(heavy, 10, t[1]) == 4 &&
	   count_at_least(heavy, 10, t[2]) == 10,
	   "heavy ties: ties at the threshold are all in, 2 / 4 / 10 selected");

	/* NaN values do not count: 2 values, top half = 1 customer: 4 */
	ok(seg_rank_cutoffs(nan4, 4, &half, 1, t) == 2 && t[0] == 4, "NaN values are skipped");
	ok(seg_rank_cutoffs(nan4, 0, &half, 1, t) == 0 && isnan(t[0]), "no values: NaN threshold");
	ok(seg_rank_cutoffs(v, 10, bad, 1, t) == -1 && seg_rank_cutoffs(v, 10, bad + 1, 1, t) == -1 &&
	   seg_rank_cutoffs(v, 10, bad + 2, 1, t) == -1,
	   "shares 0, 1.5 and NaN are refused");

	/*
	 * Pareto: total 100; sorted down 50 20 10 5 5 4 3 1 1 1.  Top 20% =
	 * 2 customers hold 70; top 10% = 50; top 25% = ceil(2.5) = 3 hold 80.
	 */
	ok(close_to(seg_pareto_share(pv, 10, 0.2), 0.7, 1e-15), "Pareto: the top 20% hold 70%");
	ok(close_to(seg_pareto_share(pv, 10, 0.1), 0.5, 1e-15) &&
	   close_to(seg_pareto_share(pv, 10, 0.25), 0.8, 1e-15) &&
	   close_to(seg_pareto_share(pv, 10, 1.0), 1.0, 1e-15),
	   "Pareto: 10% hold 50%, 25% (3 customers) hold 80%, everybody 100%");
	ok(isnan(seg_pareto_share(pv, 10, 0)) && isnan(seg_pareto_share(pv, 0, 0.2)),
	   "Pareto: share 0 or no values is NaN");
	for (i = 0; i < 10; i++)
		copy[i] = 0.0;
	ok(isnan(seg_pareto_share(copy, 10, 0.2)), "Pareto: a zero total is NaN");
}

/* a fixed-seed PRNG for the randomized tests (PCG-style LCG, top bits) */
static uint64_t
rnd_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static double
rnd_unit(uint64_t *s)
{
	return (double) rnd_next(s) / 2147483648.0;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* cut-offs by selection equal the k-th largest of the sorted array */
static void
test_rank_random(void)
{
	static double v[3000],
				sorted[3000];
	uint64_t	s = 4242;
	int			trial,
				all = 1,
				pareto = 1;

	for (trial = 0; trial < 300; trial++)
	{
		size_t		n = 1 + rnd_next(&s) % 3000;
		int			nshares = 1 + (int) (rnd_next(&s) % 5);
		double		shares[5];
		double		t[5];
		double		top = 0,
					total = 0,
					p;
		size_t		i;
		int			j;

		for (i = 0; i < n; i++)
		{
			/* few distinct values on odd trials: heavy ties */
			v[i] = (double) (rnd_next(&s) % (trial % 2 ? 5 : 100000));
			sorted[i] = v[i];
		}
		qsort(sorted, n, sizeof(double), cmp_double);
		for (j = 0; j < nshares; j++)
			shares[j] = (1 + rnd_next(&s) % 100) / 100.0;
		seg_rank_cutoffs(v, n, shares, nshares, t);
		for (j = 0; j < nshares; j++)
		{
			size_t		k = (size_t) ceil(shares[j] * n - 1e-9);

			if (k < 1)
				k = 1;
			if (t[j] != sorted[n - k])
				all = 0;
		}
		p = shares[0];
		{
			size_t		k = (size_t) ceil(p * n - 1e-9);

			if (k < 1)
				k = 1;
			for (i = 0; i < n; i++)
			{
				total += sorted[i];
				if (i >= n - k)
					top += sorted[i];
			}
			if (total > 0 && !close_to(seg_pareto_share(v, n, p), top / total, 1e-12))
				pareto = 0;
		}
	}
	ok(all, "300 random arrays, 1-5 shares in any order: cut-offs equal the sorted array's k-th largest");
	ok(pareto, "300 random arrays: the Pareto share equals the sorted array's");
}

/* ------------------------------------------------------------------------
 * Random grids against a brute-force scan
 * ------------------------------------------------------------------------
 *
 * Grids are built by recursive splitting: start from the domain, and
 * repeatedly split a random cell along a random dimension at a half
 * integer strictly inside it.  Split values are few (half integers in
 * [-10, 10]), so bounds are shared across cells and random points hit
 * them often.  The domain per dimension is [-10, 10), (-Infinity,
 * Infinity), [-10, Infinity) or (-Infinity, 10).
 */

/* is x in [lo, hi), with +Infinity in an interval unbounded above? */
static int
in_interval(double x, double lo, double hi)
{
	return x >= lo && (x < hi || (hi == INFINITY && x == INFINITY));
}

/* the cells holding point x: their number; the first in *which */
static int
brute_force(const SegCell *cells, int ncells, int ndims, const double *x, int *which)
{
	int			i,
				d,
				count = 0;

	*which = SEG_NO_MATCH;
	for (i = 0; i < ncells; i++)
	{
		for (d = 0; d < ndims; d++)
			if (!in_interval(x[d], cells[i].lo[d], cells[i].hi[d]))
				break;
		if (d == ndims)
		{
			if (count++ == 0)
				*which = i;
		}
	}
	return count;
}

static int
random_grid(uint64_t *s, int ndims, double *dom_lo, double *dom_hi, SegCell *cells, int target)
{
	int			n = 1,
				d,
				tries;

	for (d = 0; d < ndims; d++)
	{
		int			kind = (int) (rnd_next(s) % 4);

		dom_lo[d] = kind == 0 || kind == 2 ? -10 : -INFINITY;
		dom_hi[d] = kind == 0 || kind == 3 ? 10 : INFINITY;
	}
	seg_cell_init(&cells[0], 0);
	for (d = 0; d < ndims; d++)
		seg_cell_set(&cells[0], d, dom_lo[d], dom_hi[d]);
	for (tries = 0; n < target && tries < 1000; tries++)
	{
		int			c = (int) (rnd_next(s) % n);
		double		v;

		d = (int) (rnd_next(s) % ndims);
		v = (double) ((int64_t) (rnd_next(s) % 41) - 20) / 2;
		if (!(v > cells[c].lo[d] && v < cells[c].hi[d]))
			continue;
		cells[n] = cells[c];
		cells[c].hi[d] = v;
		cells[n].lo[d] = v;
		n++;
	}
	/* shuffle, then random labels */
	for (d = n - 1; d > 0; d--)
	{
		int			j = (int) (rnd_next(s) % (d + 1));
		SegCell		t = cells[d];

		cells[d] = cells[j];
		cells[j] = t;
	}
	for (d = 0; d < n; d++)
		cells[d].label = (int) (rnd_next(s) % 7);
	return n;
}

/* a coordinate: uniform, on a bound, just beside one, infinite or NaN */
static double
random_coord(uint64_t *s)
{
	int			kind = (int) (rnd_next(s) % 20);
	double		b = (double) ((int64_t) (rnd_next(s) % 49) - 24) / 2;

	if (kind < 6)
		return rnd_unit(s) * 26 - 13;
	if (kind < 14)
		return b;
	if (kind < 16)
		return nextafter(b, kind == 14 ? -INFINITY : INFINITY);
	if (kind == 16)
		return INFINITY;
	if (kind == 17)
		return -INFINITY;
	if (kind == 18)
		return NAN;
	return 1e300 * (rnd_unit(s) - 0.5);
}

/*
 * The point "(a, b, ...)" at the end of a message; returns the number of
 * coordinates read.
 */
static int
message_point(const char *msg, double *x)
{
	const char *p = strrchr(msg, '(');
	int			n = 0;
	char	   *end;

	if (p == NULL)
		return 0;
	p++;
	while (n < SEG_MAX_DIMS)
	{
		x[n++] = strtod(p, &end);
		if (end == p)
			return 0;
		p = end;
		if (*p != ',')
			break;
		p += 2;
	}
	return n;
}

static void
test_random_grids(void)
{
	static uint8_t table[SEG_GRID_MAX_TABLE];
	uint64_t	s = 20240601;
	int			trial,
				compiled = 0,
				points = 0,
				boundary_points = 0,
				wrong = 0,
				not_tiled = 0,
				gap_ok = 0,
				overlap_ok = 0,
				mutations = 0;

	for (trial = 0; trial < 400; trial++)
	{
		SegCell		cells[SEG_MAX_CELLS];
		SegGrid		g;
		double		dom_lo[SEG_MAX_DIMS],
					dom_hi[SEG_MAX_DIMS];
		char		msg[SEG_MSG_MAXLEN];
		int			ndims = 1 + trial % SEG_MAX_DIMS;
		int			target = 1 + (int) (rnd_next(&s) % SEG_MAX_CELLS);
		int			ncells = random_grid(&s, ndims, dom_lo, dom_hi, cells, target);
		int			p,
					d,
					c;

		if (seg_grid_compile(cells, ncells, ndims, dom_lo, dom_hi, 7, table,
							 sizeof(table), &g, msg, sizeof(msg)) != SEG_OK)
			continue;
		compiled++;
		for (p = 0; p < 2000; p++)
		{
			double		x[SEG_MAX_DIMS];
			int			which,
						count,
						in_domain = 1,
						on_bound = 0;

			for (d = 0; d < ndims; d++)
			{
				x[d] = random_coord(&s);
				in_domain &= in_interval(x[d], dom_lo[d], dom_hi[d]);
				on_bound |= x[d] == floor(x[d] * 2) / 2 && fabs(x[d]) <= 10;
			}
			count = brute_force(cells, ncells, ndims, x, &which);
			points++;
			boundary_points += on_bound;
			if (count != in_domain)
				not_tiled++;
			if (seg_grid_locate(&g, x) != which ||
				seg_grid_classify(&g, x) != (which < 0 ? SEG_NO_MATCH : cells[which].label))
				wrong++;
		}

		/*
		 * Mutations: shrink a cell's finite upper bound (a gap opens in
		 * what it left), or extend it into its neighbour (an overlap).
		 * Check that the point the message names is really uncovered, or
		 * really in both cells it names.
		 */
		c = (int) (rnd_next(&s) % ncells);
		for (d = 0; d < ndims; d++)
		{
			if (cells[c].hi[d] < dom_hi[d])
			{
				SegCell		saved = cells[c];
				double		x[SEG_MAX_DIMS];
				int			a,
							b,
							which;

				mutations++;
				cells[c].hi[d] = isfinite(cells[c].lo[d]) ?
					(cells[c].lo[d] + cells[c].hi[d]) / 2 : cells[c].hi[d] - 0.25;
				if (seg_grid_compile(cells, ncells, ndims, dom_lo, dom_hi, 7, table,
									 sizeof(table), &g, msg, sizeof(msg)) == SEG_ERR_GAP &&
					message_point(msg, x) == ndims &&
					brute_force(cells, ncells, ndims, x, &which) == 0)
					gap_ok++;
				cells[c] = saved;
				cells[c].hi[d] = fmin(dom_hi[d], cells[c].hi[d] + 0.5);
				if (seg_grid_compile(cells, ncells, ndims, dom_lo, dom_hi, 7, table,
									 sizeof(table), &g, msg, sizeof(msg)) == SEG_ERR_OVERLAP &&
					sscanf(msg, "cells %d and %d", &a, &b) == 2 &&
					message_point(msg, x) == ndims)
				{
					int			da;

					for (da = 0; da < ndims; da++)
						if (!in_interval(x[da], cells[a - 1].lo[da], cells[a - 1].hi[da]) ||
							!in_interval(x[da], cells[b - 1].lo[da], cells[b - 1].hi[da]))
							break;
					if (da == ndims)
						overlap_ok++;
				}
				cells[c] = saved;
				break;
			}
		}
	}
	ok(compiled == 400, "400 random grids (1-4 dimensions, 1-64 cells) all compile");
	ok(not_tiled == 0, "brute force: every domain point is in exactly one cell, others in none");
	ok(wrong == 0 && points == 800000,
	   "800000 random points (on bounds, beside them, infinite, NaN, far out) classify as the brute-force scan does");
	ok(boundary_points > 200000, "more than a quarter of the points sit on a bound");
	ok(mutations > 300 && gap_ok == mutations && overlap_ok == mutations,
	   "shrunk cells open a gap, extended cells overlap: the named point is uncovered / in both named cells");
}

/* ------------------------------------------------------------------------
 * Timing: median of several runs, diagnostics only
 * ------------------------------------------------------------------------
 */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define TIMING_N 10000000
#define TIMING_RUNS 5
#define POINTS 65536			/* a ring of points, 1 MB, in cache */

static volatile long sink;

static double
median(double *t, int n)
{
	qsort(t, (size_t) n, sizeof(double), cmp_double);
	return t[n / 2];
}

/* the alternative to the table: scan the cells, first hit */
static int
scan_classify(const SegCell *cells, int ncells, const double *x)
{
	int			i;

	for (i = 0; i < ncells; i++)
		if (x[0] >= cells[i].lo[0] && x[0] < cells[i].hi[0] &&
			x[1] >= cells[i].lo[1] && x[1] < cells[i].hi[1])
			return cells[i].label;
	return SEG_NO_MATCH;
}

static void
report(const char *what, double *t, long n)
{
	double		m = median(t, TIMING_RUNS);

	printf("# %-38s %ld in %.3f s: %6.1f M/s (median of %d)\n",
		   what, n, m, n / m / 1e6, TIMING_RUNS);
}

static void
test_timing(void)
{
	static double pts[POINTS * 2];
	static double feats[POINTS * NFEAT];
	SegGrid		g;
	uint8_t		table[20];
	SegCell		cells[NRFM_CELLS];
	SegRules	rs;
	SegRule		r[3];
	SegGridReason gr;
	SegRuleReason rr;
	char		msg[SEG_MSG_MAXLEN];
	char		buf[SEG_REASON_MAXLEN];
	uint64_t	s = 99;
	double		t[6][TIMING_RUNS];
	int			run,
				i;
	long		acc = 0;

	rfm_grid(&g, table, sizeof(table));
	rfm_cells_build(cells);
	util_rules(r);
	seg_rules_compile(r, 3, NFEAT, NCLASS, RESIDENTIAL, &rs, msg, sizeof(msg));
	for (i = 0; i < POINTS; i++)
	{
		/* R 1..5; FM = (F + M) / 2 with F, M in 1..5 */
		pts[2 * i] = 1 + (double) (rnd_next(&s) % 5);
		pts[2 * i + 1] = (2 + (double) (rnd_next(&s) % 5) + (double) (rnd_next(&s) % 5)) / 2;
		feats[NFEAT * i + F_IMPORTANT] = rnd_next(&s) % 50 == 0;
		feats[NFEAT * i + F_SHARE] = rnd_unit(&s) * 0.4;
		feats[NFEAT * i + F_NONRES] = rnd_next(&s) % 3 == 0;
		feats[NFEAT * i + F_VOLTAGE] = rnd_next(&s) % 2 ? 0.4 : 35;
	}
	for (run = 0; run < TIMING_RUNS; run++)
	{
		double		t0;

		t0 = now();
		for (i = 0; i < TIMING_N; i++)
			acc += seg_grid_classify(&g, &pts[2 * (i & (POINTS - 1))]);
		t[0][run] = now() - t0;

		t0 = now();
		for (i = 0; i < TIMING_N; i++)
			acc += seg_grid_explain(&g, &pts[2 * (i & (POINTS - 1))], &gr);
		t[1][run] = now() - t0;

		t0 = now();
		for (i = 0; i < TIMING_N / 10; i++)
		{
			seg_grid_explain(&g, &pts[2 * (i & (POINTS - 1))], &gr);
			acc += seg_grid_reason_format(&gr, rfm_dims, buf, sizeof(buf));
		}
		t[2][run] = now() - t0;

		t0 = now();
		for (i = 0; i < TIMING_N; i++)
			acc += scan_classify(cells, NRFM_CELLS, &pts[2 * (i & (POINTS - 1))]);
		t[3][run] = now() - t0;

		t0 = now();
		for (i = 0; i < TIMING_N; i++)
			acc += seg_rules_classify(&rs, &feats[NFEAT * (i & (POINTS - 1))]);
		t[4][run] = now() - t0;

		t0 = now();
		for (i = 0; i < TIMING_N; i++)
			acc += seg_rules_explain(&rs, &feats[NFEAT * (i & (POINTS - 1))], &rr);
		t[5][run] = now() - t0;
	}
	sink = acc;
	report("rfm grid, label (table):", t[0], TIMING_N);
	report("rfm grid, reason struct:", t[1], TIMING_N);
	report("rfm grid, reason + text:", t[2], TIMING_N / 10);
	report("rfm grid, label (scan of 12 cells):", t[3], TIMING_N);
	report("utility rules, label:", t[4], TIMING_N);
	report("utility rules, reason struct:", t[5], TIMING_N);
}

int
main(void)
{
	test_rfm_preset();
	test_value_loyalty();
	test_invalid_grids();
	test_rules();
	test_rules_invalid();
	test_reasons();
	test_rank_cutoffs();
	test_rank_random();
	test_random_grids();
	test_timing();
	return tap_done();
}
