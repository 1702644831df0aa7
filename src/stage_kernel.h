/*-------------------------------------------------------------------------
 *
 * stage_kernel.h
 *	  The customer-relationship life cycle as pure functions: stages and
 *	  their legal transitions, the signals a purchase history gives as of
 *	  a date, and the rules that propose the next stage.
 *
 * No PostgreSQL headers here: this layer is compiled into the extension
 * and, on its own, into test/unit/stage_kernel_test.c.
 *
 * Contract for the caller (the fmgr glue):
 *	- nothing here prints, exits, aborts, allocates, or keeps mutable global
 *	  state;
 *	- stage_signals_from_view() returns a SummaryStatus (money overflow is
 *	  the only failure), which the caller turns into an ERROR;
 *	- stage_thresholds_check() names the first bad threshold, or returns
 *	  NULL; the caller checks user-supplied thresholds with it before
 *	  calling stage_infer();
 *	- stage_infer() only ever proposes a legal transition from the current
 *	  stage (or no change), whatever the signals and thresholds hold.
 *
 *
 * The life cycle (stages in order; the numbers are the enum values)
 *
 *	0 prospect		not yet a customer.
 *	1 exploration	考察期: trial orders; either side may still abort.
 *	2 formation		形成期: the customer commits, value is rising.
 *	3 stable		稳定期: value, loyalty and volume at their peak.
 *	4 decline		衰退期: complaints up, volume down, the cost of keeping
 *					the customer up.
 *	5 terminated	the relationship has ended.
 *
 * Legal transitions (any stage to itself is "no change" and also legal;
 * the other 36 - 6 - 9 = 21 pairs are illegal):
 *
 *	prospect	-> exploration						first purchase
 *	exploration -> formation | terminated			commits, or aborts
 *	formation	-> stable | decline					peak reached, or falls back
 *	stable		-> decline
 *	decline		-> stable | terminated				win-back (二次开发), or abandon
 *	terminated	-> exploration						re-acquired
 *
 * There are no overnight jumps: a prospect with a rich history becomes an
 * exploration customer first, and only a later inference (the next time the
 * glue runs it) can move it on.
 *
 *
 * The signals (StageSignals), as of a date "as_of"
 *
 * Only the days on or before as_of count.  With w = window_days, the
 * recent window is the days in (as_of - w, as_of] and the previous window
 * the days in (as_of - 2w, as_of - w].  Spend is the net amount of the
 * days (refunds included); purchase days are days with purchases > 0
 * (refund-only days are not purchases).  The customer's own rhythm is the
 * mean gap between purchase days, (last - first) / (purchase_days - 1),
 * undefined (NaN) with fewer than 2 purchase days.  Every rule that looks
 * at inactivity measures it against this rhythm, so a monthly buyer and a
 * yearly buyer are judged each by their own clock.
 *
 * Some signals do not come from the purchase history; the glue fills them
 * in (stage_signals_from_view() sets them to "unknown", and a rule whose
 * input is unknown never fires):
 *	complaints		count per window; -1 when unknown.
 *	cost to serve	per window, in currency units; NaN when unknown.
 *	p_alive			P(alive) as of as_of under the stored BTYD model; NaN
 *					when there is no model, or when the model carries no
 *					evidence of dropout for the customer (BG/NBD and a
 *					one-time buyer: P(alive) is 1 by construction).
 *	p_buy			P(at least one purchase in the next
 *					terminate_horizon_days) under the same model; NaN
 *					likewise.
 *	redevelopment_cost, long_term_value
 *					currency units; NaN when unknown.
 *	stage_since		day the customer entered the current stage;
 *					STAGE_SINCE_UNKNOWN (INT32_MIN, i.e. -infinity) when
 *					unknown.  "Bought again" (win-back, re-acquisition)
 *					means a purchase day after it.
 *
 *
 * Two families of rules.  When the model is known (p_alive not NaN) the
 * rules that judge whether the customer is still buying ask the model:
 * P(alive) is the best summary of recency and frequency against the
 * population's own behaviour (it predicts who buys again better than the
 * rhythm rules: on the CDNOW sample the model rules give a stage AUC of
 * 0.758 for "buys again in the 39-week holdout", against 0.740 for the
 * rhythm rules; see test/pgtap/stage_cdnow.sql).  Without a model the
 * rhythm rules decide, as before.  Complaints, cost to serve and the
 * abandon rule apply in both.
 *
 * The rules and their thresholds (StageThresholds; defaults from
 * stage_default_thresholds(), with the evidence for each in the README).
 * Only the rules for the current stage's legal successors are evaluated;
 * the first rule that holds, in the order below, decides; none holding
 * means no change.
 *
 * Every stage but prospect: "held"
 *	a customer who entered the current stage fewer than min_stage_days
 *	(28) days ago does not move: stages change gradually, never overnight
 *	(the texts), and the same inference run twice on one day moves nobody
 *	the second time.
 *
 * prospect -> exploration
 *	"first_purchase": purchase_days >= 1.  A prospect with no purchase stays
 *	a prospect.
 *
 * exploration -> formation, then exploration -> terminated
 *	With a model, "repeat_purchase": purchase_days >=
 *	formation_min_purchase_days (2: at least one repeat purchase) and
 *	P(alive) >= decline_p_alive (0.3): the customer committed and is still
 *	buying.  Without, "repeat_rising_spend": the same purchase days, at
 *	least one purchase day in the recent window, and recent spend >=
 *	previous spend (rising, or the first window with spend).  Rationale:
 *	formation is the customer committing, so the text's sign is repeat
 *	business.  Then the termination rules below (the trial aborted).
 *
 * formation -> decline, then formation -> stable
 *	The decline rules below come first: a warning sign outranks a peak.
 *	With a model, "steady_buyer": purchase_days >= stable_min_purchase_days
 *	(3) and P(alive) >= stable_p_alive (0.5).  Without, "sustained_peak":
 *	purchase_days >= stable_min_purchase_days, recent spend > 0 and recent
 *	spend + the phase allowance (see spend_falling) >= stable_spend_floor
 *	(0.8) x previous spend (spend within the band or rising: at its peak,
 *	neither dropping nor still small), and days since the last purchase <=
 *	stable_rhythm_factor (1.0) x rhythm (still buying to the customer's
 *	own clock).  No upper bound applies to the spend ratio: a trend above
 *	1.25 is "rising", which qualifies too.
 *
 * stable -> decline
 *	The decline rules, in this order.  With a model:
 *	"p_alive_falling": P(alive) < decline_p_alive (0.3).  A steady buyer's
 *		P(alive) dips in every long gap between two purchases; below 0.5 it
 *		would swing between stable and decline three times as often
 *		(test/pgtap/stage_replay.sql), and below 0.2 the stage predicts
 *		less well (test/pgtap/stage_cdnow.sql).  Coming back takes a new
 *		purchase (won_back), after which P(alive) is high: stable_p_alive
 *		(0.5) above decline_p_alive is a margin, not what stops the swing.
 *	Without a model:
 *	"inactive_beyond_rhythm": days since the last purchase >
 *		max(decline_rhythm_factor (1.5) x rhythm, decline_floor_days (30));
 *		with no rhythm (fewer than 2 purchase days) the floor alone.  The
 *		floor keeps a very frequent buyer from "declining" over a few days.
 *	"spend_falling": previous spend > 0 and recent spend + the phase
 *		allowance < decline_spend_ratio (0.7) x previous spend (volume down).
 *
 *		The phase allowance: a window holds one purchase day more or less
 *		depending on where the customer's rhythm falls (a perfectly regular
 *		monthly buyer has 3 or 2 purchase days in 90 days, i.e. "spend
 *		200 < 0.7 x 300" every other month).  So when the recent window has
 *		fewer purchase days than the previous one, one purchase day is
 *		credited to it, at the recent window's mean spend per purchase day
 *		(the previous window's when the recent one has none).  The customer
 *		is not overdue when this rule runs (inactive_beyond_rhythm comes
 *		first), so that purchase may simply not be due yet; a purchase that
 *		stays missing is caught by the inactivity rule.  What remains is
 *		smaller orders, or more than one purchase missing.
 *	In both:
 *	"complaints_rising": both counts known, recent > previous and recent >=
 *		decline_min_complaints (2) (complaints up; one complaint is noise).
 *	"cost_rising": both costs known, previous > 0, recent cost >
 *		decline_cost_ratio (1.25) x previous cost, while recent spend <=
 *		previous spend (the cost of keeping the customer up, value not).
 *
 * decline -> stable, then decline -> terminated
 *	"won_back": the customer bought again (a purchase day in the recent
 *	window and after stage_since), complaints not rising, and with a model
 *	P(alive) >= stable_p_alive (0.5); without, days since the last purchase
 *	<= winback_rhythm_factor (1.0) x rhythm (back to their own clock) and
 *	recent spend >= previous spend.  A customer who came back on their own
 *	needs no redevelopment, so this comes before the abandon rules.
 *	Then the termination rules.
 *
 * Termination rules (from exploration and from decline), in this order:
 *	"long_inactive": days since the last purchase > max(
 *		terminate_rhythm_factor (4) x rhythm, terminate_floor_days (365));
 *		with no rhythm the floor alone; and, when the model can tell, the
 *		model agrees: P(a purchase in the next terminate_horizon_days (365))
 *		< terminate_p_buy (0.1), or without that P(alive) <
 *		terminate_p_alive (0.1).  The model alone does not terminate: on
 *		the CDNOW sample the customers BG/NBD gives P(alive) < 0.1 after a
 *		burst of early purchases bought again in the holdout 44% of the
 *		time; and inactivity of 180 to 272 days alone still saw 11% to 20%
 *		come back, so the floor is a year.
 *	"abandon_cost_exceeds_value": redevelopment cost and long-term value
 *		both known and cost > value: winning the customer back costs more
 *		than the customer's long-term value, so the text says abandon.
 *	A customer with no purchase day at all gives no inactivity: only the
 *	last rule can terminate them.
 *
 * terminated -> exploration
 *	"reacquired": a purchase day in the recent window and after stage_since
 *	(a new trial after the end).
 *
 *
 * The walk (stage_walk()).  A stage is inferred from the history step by
 * step, as a refresh at every month end would have: the checkpoints are
 * every month end strictly between "from" (the day the customer was last
 * evaluated, or the day before its first purchase) and as_of, then as_of
 * itself; at each one the signals as of that day give at most one move.
 * So a customer attached with three years of orders reaches the stage a
 * month-by-month replay would give, one legal move at a time, and a
 * customer evaluated yesterday takes one step at most.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_STAGE_KERNEL_H
#define CRM_STAGE_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "summary_kernel.h"

/* Life-cycle stages, in order. */
typedef enum CrmStage
{
	CRM_STAGE_PROSPECT = 0,
	CRM_STAGE_EXPLORATION = 1,
	CRM_STAGE_FORMATION = 2,
	CRM_STAGE_STABLE = 3,
	CRM_STAGE_DECLINE = 4,
	CRM_STAGE_TERMINATED = 5
} CrmStage;

#define CRM_NSTAGES 6

/* Why stage_infer() proposed what it did; codes by stage_reason_code(). */
typedef enum StageReason
{
	STAGE_REASON_NO_CHANGE = 0, /* "no_change" */
	STAGE_REASON_HELD,			/* "held" */
	STAGE_REASON_FIRST_PURCHASE,	/* "first_purchase" */
	STAGE_REASON_REPEAT_PURCHASE,	/* "repeat_purchase" */
	STAGE_REASON_REPEAT_RISING_SPEND,	/* "repeat_rising_spend" */
	STAGE_REASON_STEADY_BUYER,	/* "steady_buyer" */
	STAGE_REASON_SUSTAINED_PEAK,	/* "sustained_peak" */
	STAGE_REASON_P_ALIVE_FALLING,	/* "p_alive_falling" */
	STAGE_REASON_INACTIVE_BEYOND_RHYTHM,	/* "inactive_beyond_rhythm" */
	STAGE_REASON_SPEND_FALLING, /* "spend_falling" */
	STAGE_REASON_COMPLAINTS_RISING, /* "complaints_rising" */
	STAGE_REASON_COST_RISING,	/* "cost_rising" */
	STAGE_REASON_WON_BACK,		/* "won_back" */
	STAGE_REASON_LONG_INACTIVE, /* "long_inactive" */
	STAGE_REASON_ABANDON_COST_EXCEEDS_VALUE,	/* "abandon_cost_exceeds_value" */
	STAGE_REASON_REACQUIRED		/* "reacquired" */
} StageReason;

#define STAGE_NREASONS 16

/* stage_since when the day the current stage began is not known */
#define STAGE_SINCE_UNKNOWN INT32_MIN

/*
 * What the rules look at.  The first block is computed from the purchase
 * history by stage_signals_from_view(); the second is supplied by the
 * caller ("unknown" as noted when not).
 */
typedef struct StageSignals
{
	/* from the purchase history, as of as_of */
	int32_t		as_of;			/* the date (days since 2000-01-01) */
	int32_t		window_days;	/* w: windows are (as_of-w, as_of] and
								 * (as_of-2w, as_of-w] */
	int32_t		purchase_days;	/* days with purchases > 0, <= as_of */
	int32_t		repeat_purchase_days;	/* purchase days after the first */
	int64_t		purchases;		/* purchase transactions, <= as_of */
	int32_t		first_purchase; /* valid only if purchase_days > 0 */
	int32_t		last_purchase;	/* likewise */
	int32_t		days_since_last;	/* as_of - last_purchase; -1 if none */
	double		rhythm;			/* mean days between purchase days; NaN if
								 * purchase_days < 2 */
	crm_money	recent_spend;	/* net amount in the recent window */
	crm_money	previous_spend; /* net amount in the previous window */
	int32_t		recent_purchase_days;	/* purchase days in each window */
	int32_t		previous_purchase_days;
	int64_t		recent_purchases;	/* purchase transactions in each window */
	int64_t		previous_purchases;

	/* supplied by the caller */
	int32_t		recent_complaints;	/* -1 when unknown */
	int32_t		previous_complaints;	/* -1 when unknown */
	double		recent_cost;	/* cost to serve, currency units; NaN unknown */
	double		previous_cost;	/* NaN when unknown */
	double		p_alive;		/* in [0, 1]; NaN when there is no model */
	double		p_buy;			/* P(a purchase within terminate_horizon_days),
								 * in [0, 1]; NaN likewise */
	double		redevelopment_cost; /* currency units; NaN when unknown */
	double		long_term_value;	/* currency units; NaN when unknown */
	int32_t		stage_since;	/* day the current stage began, or
								 * STAGE_SINCE_UNKNOWN */
} StageSignals;

/* The thresholds of the rules; see the header comment for each one. */
typedef struct StageThresholds
{
	int32_t		window_days;	/* 90: the window for the signals */
	int32_t		min_stage_days; /* 28: days in a stage before it can change */
	int32_t		formation_min_purchase_days;	/* 2 (at least 2: a repeat) */
	int32_t		stable_min_purchase_days;	/* 3 (at least 2: a rhythm) */
	double		stable_spend_floor; /* 0.8: recent >= 0.8 x previous */
	double		stable_rhythm_factor;	/* 1.0: days since last <= 1 x rhythm */
	double		stable_p_alive; /* 0.5: P(alive) to reach or regain stable */
	double		decline_rhythm_factor;	/* 1.5: inactive > 1.5 x rhythm */
	int32_t		decline_floor_days; /* 30: ... and > 30 days */
	double		decline_spend_ratio;	/* 0.7: recent < 0.7 x previous */
	int32_t		decline_min_complaints; /* 2: recent > previous, >= 2 */
	double		decline_cost_ratio; /* 1.25: cost up by more than 25% */
	double		decline_p_alive;	/* 0.3: P(alive) below: decline */
	double		winback_rhythm_factor;	/* 1.0: days since last <= 1 x rhythm */
	double		terminate_rhythm_factor;	/* 4: inactive > 4 x rhythm */
	int32_t		terminate_floor_days;	/* 365: ... and > 365 days */
	double		terminate_p_alive;	/* 0.1: model confirms: P(alive) < 0.1 */
	double		terminate_p_buy;	/* 0.1: model confirms: P(buy) < 0.1 */
	int32_t		terminate_horizon_days; /* 365: the horizon of P(buy) */
} StageThresholds;

/*
 * The numbers behind a proposal, so that the caller can say why, e.g.
 * "recent spend 70 < 0.7 x previous spend 120": value = 70, factor = 0.7,
 * reference = 120, limit = 84, adjustment = 0 (value + adjustment was
 * compared with limit).  Fields that do not apply are NaN.
 */
typedef struct StageDetail
{
	double		value;			/* the measured value */
	double		factor;			/* the threshold's multiplier */
	double		reference;		/* what the factor multiplies */
	double		limit;			/* the number value was compared with */
	double		adjustment;		/* added to value before comparing: the
								 * phase allowance of the spend rules */
} StageDetail;

typedef struct StageProposal
{
	CrmStage	stage;			/* proposed stage (== current: no change) */
	StageReason reason;
	StageDetail detail;
	bool		by_model;		/* the rule asked the model (the detail holds
								 * probabilities) */
} StageProposal;

/* One move of a walk: on "day", from -> to, and why. */
typedef struct StageMove
{
	int32_t		day;
	CrmStage	from;
	StageProposal proposal;		/* proposal.stage is "to" */
} StageMove;

/*
 * The walk asks the glue for the signals as of each checkpoint (the
 * purchase history as of that day, and what the model says of it), with
 * stage_since filled in by the walk itself.  False stops the walk (an
 * error the glue reports).
 */
typedef bool (*StageSignalsAt) (int32_t day, void *arg, StageSignals *out);

/* longest text stage_proposal_format() needs, terminator included */
#define STAGE_PROPOSAL_MAXLEN 256

extern const char *stage_name(int stage);
extern int	stage_from_name(const char *name);
extern bool stage_transition_legal(int from, int to);


extern const char *stage_reason_code(int reason);

extern void stage_default_thresholds(StageThresholds *t);
extern const char *stage_thresholds_check(const StageThresholds *t);

extern SummaryStatus stage_signals_from_view(const SummaryView *v,
											 int32_t as_of, int window_days,
											 StageSignals *out);

extern int	stage_infer(CrmStage current, const StageSignals *s,
						const StageThresholds *t, StageProposal *out);
extern int	stage_walk_checkpoints(int32_t from, int32_t as_of);
extern int	stage_walk(CrmStage current, int32_t stage_since, int32_t from,
					   int32_t as_of, const StageThresholds *t,
					   StageSignalsAt signals, void *arg,
					   StageMove *moves, StageProposal *last);
extern int	stage_proposal_format(const StageProposal *p, char *buf,
								  size_t buflen);

#endif							/* CRM_STAGE_KERNEL_H */
