/*-------------------------------------------------------------------------
 *
 * segment_kernel.h
 *	  Customer segmentation schemes as pure functions: grids of boxes over a
 *	  few numeric features and ordered rule lists, compiled once and then
 *	  used to classify (and explain) one customer at a time; plus rank
 *	  cut-offs and the Pareto share for value tiers.
 *
 * No PostgreSQL headers here: this layer is compiled into the extension
 * and, on its own, into test/unit/segment_kernel_test.c.
 *
 * Contract for the caller (the fmgr glue):
 *	- nothing here prints, exits, aborts, allocates, or keeps mutable global
 *	  state; classification touches only the compiled struct, the caller's
 *	  table and the caller's feature array;
 *	- the compile functions validate everything, write a precise message
 *	  into the caller's buffer and return a SegStatus; the caller turns an
 *	  error status into an ERROR with that message;
 *	- a compiled struct is position-independent except for SegGrid.table,
 *	  which points at the caller's table: keep both in the same memory
 *	  context (fn_extra) for the life of the query;
 *	- every number shown to a person (messages, reasons) counts cells,
 *	  rules, dimensions, features and labels from 1, as SQL arrays do; the
 *	  structs and return values count from 0.
 *
 *
 * Two kinds of scheme cover all presets.
 *
 * GRID.  Up to SEG_MAX_DIMS numeric features (dimensions), each with a
 * domain [dom_lo, dom_hi), and up to SEG_MAX_CELLS cells.  A cell is a box,
 * one closed-open interval [lo, hi) per dimension, and a label index.
 * Bounds may be infinite; an upper bound of +Infinity means "unbounded
 * above" and then +Infinity itself belongs to the interval (so a domain of
 * (-Infinity, +Infinity) holds every number but NaN).  A grid is valid only
 * if its cells tile the domain: every point of the domain lies in exactly
 * one cell.  Scores are integers, so "scores 1 and 2" is [1, 3).  Closed-open
 * intervals also give fractional scores a place: an FM score of 2.5 (the
 * mean of F = 2 and M = 3) falls in the band of its integer part.
 *
 * Validation by coordinate compression.  Per dimension, the distinct cell
 * bounds strictly inside the domain cut it into elementary intervals; the
 * products of these intervals, the elementary boxes, are the coarsest
 * boxes no cell boundary crosses, so each lies entirely inside or entirely
 * outside every cell.  The grid tiles its domain iff every elementary box
 * is covered by exactly one cell.  Compilation paints each cell's
 * elementary boxes into a table in cell order: a box already painted is an
 * overlap (the message names both cells and a point of the box), a box
 * left unpainted at the end is a gap (the message names a point no cell
 * covers).  The work is proportional to the table, at most
 * SEG_GRID_MAX_TABLE entries.
 *
 * Classification then needs no search over cells: per dimension, the
 * number of compressed bounds <= x is the elementary interval of x; the
 * intervals index the table, row-major, whose entry is the cell.  That is
 * a few compares and one byte load per dimension whatever the number of
 * cells.  Measured (one core, -O2, random customers, call included): the
 * RFM preset classifies about 200 million points a second through the
 * table against 55 million for a linear scan of its 12 cells (2 compares
 * per cell and dimension), so the table it is, even for few cells.  The
 * count is branch-free up to 32 bounds in a dimension (every score grid
 * has at most 8); beyond, a binary search whose steps are arithmetic, not
 * branches; the two meet near 32 bounds (about 85 million a second),
 * while a branchy search would mispredict on random customers and fall
 * to 30 million.  A point outside the domain, or with a NaN feature, is
 * "no match" (SEG_NO_MATCH): the SQL layer applies the scheme's default
 * label or returns NULL.
 *
 * The table is the caller's: one byte per elementary box, the product of
 * the per-dimension interval counts.  For the 5 x 5 RFM chart that is 20,
 * not 25: no cell separates FM 4 from FM 5, so FM 4-5 is one interval.
 * seg_grid_compile() reports the size it needs in SegGrid.table_size and
 * returns SEG_ERR_TABLE when the caller's table is smaller, after every
 * other check on the cells has passed: call it with no table, allocate
 * table_size bytes, call it again (or allocate SEG_GRID_MAX_TABLE bytes
 * up front).
 *
 * RULES.  An ordered list of up to SEG_MAX_RULES rules; the first rule
 * whose conditions all hold decides; when none holds the default label
 * applies, or no match when there is none (default_label = SEG_NO_MATCH).
 * A rule is a conjunction of up to SEG_MAX_CONDS conditions
 * "feature[f] op value" with op one of < <= > >= = <>; a rule with no
 * conditions always holds (a catch-all).  A NaN feature (unknown, NULL)
 * makes every condition on it false, "<>" included, as in SQL, so a rule
 * that needs an unknown input never fires.
 *
 * Compilation checks feature indices, operators, values (no NaN) and
 * labels, then looks for rules that can never fire: a rule whose
 * conditions contradict each other (share > 0.5 and share < 0.2), and a
 * rule that an earlier single rule shadows because every customer it
 * matches is matched first by that rule: a catch-all shadows everything
 * after it, "share >= 0.3" shadows a later "share >= 0.5", "x <> 1"
 * shadows a later "x > 1".  Per feature a conjunction is an interval with
 * open or closed ends minus a few points, so "shadows" is an exact set
 * inclusion test (a rule constraining a feature the later rule leaves
 * free never shadows it: that feature may be NaN).  Shadowing by several
 * earlier rules together is not detected.  An unreachable rule yields
 * SEG_UNREACHABLE with a message naming it; the struct is fully compiled
 * and usable, so the caller may warn instead of failing.
 *
 * For speed each condition is compiled to "a <= x <= b" (x < v becomes
 * x <= the double just below v), "<>" to its negation; NaN fails both
 * forms.
 *
 *
 * Reasons.  seg_grid_explain() and seg_rules_explain() classify and fill a
 * small struct saying why: the cell and, per dimension, the value and the
 * cell's interval; or the rule and, per condition, the feature, operator,
 * the value tested and the threshold; or the default.  The formatters
 * write it for people, given the feature names:
 *
 *	cell 3: recency_score 4 in [4, 6), fm_score 2 in [2, 4)
 *	no cell: recency_score 7 outside [1, 6)
 *	rule 2: consumption_share 0.31 >= 0.3
 *	rule 3: non_residential 1 = 1 and voltage_kv 10 <= 10
 *	rule 4: always
 *	default: no rule matched
 *
 * Numbers are written in the shortest form that reads back as the same
 * double ("0.1" not "0.10000000000000001"), "Infinity", "-Infinity" and
 * "NaN" as PostgreSQL spells them.  Missing names (NULL) read "x1", "x2".
 * Explaining costs little next to classifying: filling the struct is
 * about 1.3 times the label form (160 against 210 million a second on the
 * RFM preset), and the formatters use no printf on their common path, so
 * the full text is still about 10 million a second.
 *
 *
 * Value tiers by rank share.  seg_rank_cutoffs() turns shares such as
 * {0.05, 0.20} (top 5%: the most valuable customers; top 20%: the key
 * customers of the 2/8 rule) into value thresholds t_i such that
 * "value >= t_i" selects the top share_i of the customers: t_i is the
 * k-th largest value with k = ceil(share_i x n) (at least 1).  Ties at the
 * threshold are all included, so a tier can hold more than share_i of the
 * customers (when 60% of them share the lowest value, "top 70%" is
 * everybody), never fewer.  A threshold is a comparison, not a rank, so
 * equal values always land in the same tier.  Selection (Hoare's, as in
 * rfm_kernel.c) finds each threshold in O(n) on average; the shares may
 * come in any order and each selection works only between the positions
 * found before.  seg_pareto_share() gives the share of the total value
 * held by the top p fraction of the customers (0.8 for the textbook
 * 80/20).  Both skip NaN values (customers without a value) and rearrange
 * the values array.  Share products that are whole numbers up to rounding
 * (0.05 x 20) are taken as whole.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SEGMENT_KERNEL_H
#define CRM_SEGMENT_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEG_MAX_DIMS	4
#define SEG_MAX_CELLS	64
#define SEG_MAX_BOUNDS	(2 * SEG_MAX_CELLS) /* interior bounds per dimension */
#define SEG_GRID_MAX_TABLE ((size_t) 1 << 20)	/* elementary boxes */

#define SEG_MAX_RULES	64
#define SEG_MAX_CONDS	4
#define SEG_MAX_FEATURES 64

/* classification found no cell, no rule and no default */
#define SEG_NO_MATCH	(-1)

/* enough for any compile message, terminator included */
#define SEG_MSG_MAXLEN	256
/* enough for a reason when every feature name is under 64 bytes */
#define SEG_REASON_MAXLEN 1024

typedef enum SegStatus
{
	SEG_OK = 0,
	SEG_UNREACHABLE,			/* rules compiled, but one can never fire */
	SEG_ERR_LIMIT,				/* too many or too few dims, cells, rules,
								 * conditions, labels; grid too fine */
	SEG_ERR_VALUE,				/* NaN bound or threshold, lo >= hi */
	SEG_ERR_DOMAIN,				/* a cell reaches outside the domain */
	SEG_ERR_LABEL,				/* label index out of range */
	SEG_ERR_CONDITION,			/* feature index or operator out of range */
	SEG_ERR_OVERLAP,			/* two cells share a point */
	SEG_ERR_GAP,				/* a point of the domain is in no cell */
	SEG_ERR_TABLE				/* the caller's table is too small */
} SegStatus;

typedef enum SegOp
{
	SEG_OP_LT = 0,				/* < */
	SEG_OP_LE,					/* <= */
	SEG_OP_GT,					/* > */
	SEG_OP_GE,					/* >= */
	SEG_OP_EQ,					/* = */
	SEG_OP_NE					/* <> */
} SegOp;

#define SEG_NOPS 6

/* ---- grids ---- */

/* One cell as the caller defines it; dimensions past ndims are ignored. */
typedef struct SegCell
{
	double		lo[SEG_MAX_DIMS];	/* closed */
	double		hi[SEG_MAX_DIMS];	/* open; +Infinity: unbounded */
	int			label;			/* 0 .. nlabels - 1 */
} SegCell;

/*
 * A compiled grid.  The first block is all classification reads; the
 * second serves the reasons.
 */
typedef struct SegGrid
{
	int			ndims;
	int			nbounds[SEG_MAX_DIMS];	/* interior bounds per dimension */
	double		dom_lo[SEG_MAX_DIMS];	/* in domain: dom_lo <= x <= dom_max */
	double		dom_max[SEG_MAX_DIMS];	/* largest double below dom_hi, or
										 * +Infinity */
	size_t		stride[SEG_MAX_DIMS];	/* row-major table strides */
	const uint8_t *table;		/* elementary box -> cell (caller's) */
	int			cell_label[SEG_MAX_CELLS];
	double		bound[SEG_MAX_DIMS][SEG_MAX_BOUNDS];	/* sorted, distinct */

	int			ncells;
	int			nlabels;
	size_t		table_size;		/* entries the table needs */
	double		dom_hi[SEG_MAX_DIMS];
	double		cell_lo[SEG_MAX_CELLS][SEG_MAX_DIMS];
	double		cell_hi[SEG_MAX_CELLS][SEG_MAX_DIMS];
} SegGrid;

/* Why a point got its grid label. */
typedef struct SegGridReason
{
	int			cell;			/* 0-based, or SEG_NO_MATCH */
	int			label;			/* or SEG_NO_MATCH */
	int			ndims;
	int			outside;		/* no match: first dimension whose value is
								 * NaN or outside the domain; else -1 */
	double		value[SEG_MAX_DIMS];
	double		lo[SEG_MAX_DIMS];	/* the cell's interval; the domain when
									 * there is no cell */
	double		hi[SEG_MAX_DIMS];
} SegGridReason;

extern void seg_cell_init(SegCell *cell, int label);
extern void seg_cell_set(SegCell *cell, int dim, double lo, double hi);

extern SegStatus seg_grid_compile(const SegCell *cells, int ncells, int ndims,
								  const double *dom_lo, const double *dom_hi,
								  int nlabels, uint8_t *table,
								  size_t table_cap, SegGrid *grid,
								  char *msg, size_t msglen);
extern int	seg_grid_classify(const SegGrid *grid, const double *x);
extern int	seg_grid_explain(const SegGrid *grid, const double *x,
							 SegGridReason *reason);
extern int	seg_grid_reason_format(const SegGridReason *reason,
								   const char *const *names,
								   char *buf, size_t buflen);

/* ---- rules ---- */

typedef struct SegCond
{
	int			feature;		/* 0 .. nfeatures - 1 */
	SegOp		op;
	double		value;
} SegCond;

/* One rule as the caller defines it: all conditions must hold. */
typedef struct SegRule
{
	int			nconds;			/* 0: always holds */
	SegCond		cond[SEG_MAX_CONDS];
	int			label;
} SegRule;

/* A condition compiled to a <= x <= b, or its negation for "<>". */
typedef struct SegRuleCond
{
	double		a;
	double		b;
	int			feature;
	bool		negate;
	SegOp		op;				/* as written, for the reasons */
	double		value;
} SegRuleCond;

typedef struct SegRules
{
	int			nrules;
	int			default_label;	/* or SEG_NO_MATCH */
	int			first[SEG_MAX_RULES + 1];	/* rule r: cond[first[r]] ..
											 * cond[first[r + 1] - 1] */
	int			label[SEG_MAX_RULES];
	SegRuleCond cond[SEG_MAX_RULES * SEG_MAX_CONDS];
	int			nfeatures;
	int			nlabels;
} SegRules;

typedef struct SegReasonCond
{
	int			feature;
	SegOp		op;
	double		value;			/* the customer's feature value */
	double		threshold;		/* the rule's value */
} SegReasonCond;

/* Why a customer got its rule label. */
typedef struct SegRuleReason
{
	int			rule;			/* 0-based; SEG_NO_MATCH: default or none */
	int			label;			/* or SEG_NO_MATCH */
	bool		is_default;		/* no rule held, the default applied */
	int			nconds;
	SegReasonCond cond[SEG_MAX_CONDS];
} SegRuleReason;

extern int	seg_op_from_name(const char *name);

extern SegStatus seg_rules_compile(const SegRule *rules, int nrules,
								   int nfeatures, int nlabels,
								   int default_label, SegRules *out,
								   char *msg, size_t msglen);
extern int	seg_rules_classify(const SegRules *rules, const double *features);
extern int	seg_rules_explain(const SegRules *rules, const double *features,
							  SegRuleReason *reason);
extern int	seg_rules_reason_format(const SegRuleReason *reason,
									const char *const *names,
									char *buf, size_t buflen);

/* ---- misc ---- */

extern int64_t seg_rank_cutoffs(double *values, size_t n,
								const double *shares, int nshares,
								double *thresholds);
extern double seg_pareto_share(double *values, size_t n, double top);

#endif							/* CRM_SEGMENT_KERNEL_H */
