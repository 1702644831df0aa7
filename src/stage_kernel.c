/*-------------------------------------------------------------------------
 *
 * stage_kernel.c
 *	  The customer-relationship life cycle: names, legal transitions,
 *	  signals from a purchase history, and the inference of the next stage.
 *
 * The rules, their order and their thresholds are documented in
 * stage_kernel.h.  Two properties hold by construction here:
 *
 * 1. stage_infer() evaluates, for each current stage, only the rules whose
 *	  target is one of that stage's legal successors, and checks the result
 *	  against the transition table once more before returning it: whatever
 *	  the signals (NaN, negative, huge) and thresholds, the proposal is a
 *	  legal transition.
 * 2. A rule whose input is unknown (NaN, -1, no purchase day) never fires;
 *	  every comparison is written so that NaN makes it false.
 *
 *-------------------------------------------------------------------------
 */
#include "stage_kernel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const stage_names[CRM_NSTAGES] = {
	"prospect", "exploration", "formation", "stable", "decline", "terminated"
};

static const char *const reason_codes[STAGE_NREASONS] = {
	"no_change",
	"held",
	"first_purchase",
	"repeat_purchase",
	"repeat_rising_spend",
	"steady_buyer",
	"sustained_peak",
	"p_alive_falling",
	"inactive_beyond_rhythm",
	"spend_falling",
	"complaints_rising",
	"cost_rising",
	"won_back",
	"long_inactive",
	"abandon_cost_exceeds_value",
	"reacquired"
};

/*
 * legal_table[from][to]: the transitions of the life cycle (see the header
 * comment of stage_kernel.h).  The diagonal is "no change".
 */
static const bool legal_table[CRM_NSTAGES][CRM_NSTAGES] = {
	/* to: pros   expl   form   stab   decl   term */
	{true, true, false, false, false, false},	/* from prospect */
	{false, true, true, false, false, true},	/* from exploration */
	{false, false, true, true, true, false},	/* from formation */
	{false, false, false, true, true, false},	/* from stable */
	{false, false, false, true, true, true},	/* from decline */
	{false, true, false, false, false, true}	/* from terminated */
};

/*
 * Index of "name" in "names" (exact, lower-case match), or -1.
 */
static int
name_index(const char *const *names, int n, const char *name)
{
	int			i;

	if (name == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/*
 * Name of a stage, or NULL when "stage" is out of range.
 */
const char *
stage_name(int stage)
{
	if (stage < 0 || stage >= CRM_NSTAGES)
		return NULL;
	return stage_names[stage];
}

/*
 * Stage of a name ("prospect" .. "terminated", lower case), or -1.
 */
int
stage_from_name(const char *name)
{
	return name_index(stage_names, CRM_NSTAGES, name);
}

/*
 * Is from -> to a legal transition?  Out-of-range stages are never legal.
 */
bool
stage_transition_legal(int from, int to)
{
	if (from < 0 || from >= CRM_NSTAGES || to < 0 || to >= CRM_NSTAGES)
		return false;
	return legal_table[from][to];
}

/*
 * Stable short code of a reason, or NULL when out of range.
 */
const char *
stage_reason_code(int reason)
{
	if (reason < 0 || reason >= STAGE_NREASONS)
		return NULL;
	return reason_codes[reason];
}

/*
 * The documented defaults (see stage_kernel.h for each rationale).
 */
void
stage_default_thresholds(StageThresholds *t)
{
	t->window_days = 90;
	t->min_stage_days = 28;
	t->formation_min_purchase_days = 2;
	t->stable_min_purchase_days = 3;
	t->stable_spend_floor = 0.8;
	t->stable_rhythm_factor = 1.0;
	t->stable_p_alive = 0.5;
	t->decline_rhythm_factor = 1.5;
	t->decline_floor_days = 30;
	t->decline_spend_ratio = 0.7;
	t->decline_min_complaints = 2;
	t->decline_cost_ratio = 1.25;
	t->decline_p_alive = 0.3;
	t->winback_rhythm_factor = 1.0;
	t->terminate_rhythm_factor = 4.0;
	t->terminate_floor_days = 365;
	t->terminate_p_alive = 0.1;
	t->terminate_p_buy = 0.1;
	t->terminate_horizon_days = 365;
}

/* true for a finite double > 0 */
static bool
positive_finite(double x)
{
	return isfinite(x) && x > 0.0;
}

/*
 * Check thresholds supplied by a user.  Returns NULL when they are usable,
 * else the name of the first bad field and what it must be.  stage_infer()
 * stays legal with bad thresholds, but its proposals then mean little.
 */
const char *
stage_thresholds_check(const StageThresholds *t)
{
	if (t->window_days < 1)
		return "window_days must be at least 1";
	if (t->min_stage_days < 0)
		return "min_stage_days must not be negative";
	if (t->formation_min_purchase_days < 2)
		return "formation_min_purchase_days must be at least 2";
	if (t->stable_min_purchase_days < 2)
		return "stable_min_purchase_days must be at least 2";
	if (!positive_finite(t->stable_spend_floor))
		return "stable_spend_floor must be a finite number > 0";
	if (!positive_finite(t->stable_rhythm_factor))
		return "stable_rhythm_factor must be a finite number > 0";
	if (!(t->stable_p_alive >= 0.0 && t->stable_p_alive <= 1.0))
		return "stable_p_alive must be between 0 and 1";
	if (!(t->decline_p_alive >= 0.0 && t->decline_p_alive <= t->stable_p_alive))
		return "decline_p_alive must be between 0 and stable_p_alive";
	if (!positive_finite(t->decline_rhythm_factor))
		return "decline_rhythm_factor must be a finite number > 0";
	if (t->decline_floor_days < 0)
		return "decline_floor_days must not be negative";
	if (!positive_finite(t->decline_spend_ratio))
		return "decline_spend_ratio must be a finite number > 0";
	if (t->decline_min_complaints < 1)
		return "decline_min_complaints must be at least 1";
	if (!positive_finite(t->decline_cost_ratio))
		return "decline_cost_ratio must be a finite number > 0";
	if (!positive_finite(t->winback_rhythm_factor))
		return "winback_rhythm_factor must be a finite number > 0";
	if (!positive_finite(t->terminate_rhythm_factor))
		return "terminate_rhythm_factor must be a finite number > 0";
	if (t->terminate_floor_days < 0)
		return "terminate_floor_days must not be negative";
	if (!(t->terminate_p_alive >= 0.0 && t->terminate_p_alive <= 1.0))
		return "terminate_p_alive must be between 0 and 1";
	if (!(t->terminate_p_buy >= 0.0 && t->terminate_p_buy <= 1.0))
		return "terminate_p_buy must be between 0 and 1";
	if (t->terminate_horizon_days < 1)
		return "terminate_horizon_days must be at least 1";
	return NULL;
}

/*
 * Set every signal to "nothing known": no purchases, unknown caller-supplied
 * signals.
 */
static void
stage_signals_init(StageSignals *s)
{
	memset(s, 0, sizeof(*s));
	s->days_since_last = -1;
	s->rhythm = NAN;
	s->recent_complaints = -1;
	s->previous_complaints = -1;
	s->recent_cost = NAN;
	s->previous_cost = NAN;
	s->p_alive = NAN;
	s->p_buy = NAN;
	s->redevelopment_cost = NAN;
	s->long_term_value = NAN;
	s->stage_since = STAGE_SINCE_UNKNOWN;
}

/*
 * The signals of a purchase history as of "as_of", with windows of
 * window_days (>= 1; the glue checks it with stage_thresholds_check()).
 * "v" views a normalized run (strictly increasing, as summary_validate()
 * checks), sealed in part or not (summary_kernel.c, "Sealed histories").
 * The caller-supplied signals are set to unknown.  Fails with
 * SUMMARY_MONEY_OVERFLOW when a window's net amount leaves the crm_money
 * range, and with SUMMARY_SEALED when the windows reach into days the
 * view knows only by their totals.
 */
SummaryStatus
stage_signals_from_view(const SummaryView *v, int32_t as_of,
						int window_days, StageSignals *out)
{
	int64_t		w = window_days > 0 ? window_days : 0;
	SummaryStats all;
	SummaryStats recent;
	SummaryStats previous;
	SummaryStatus st;

	stage_signals_init(out);
	out->as_of = as_of;
	out->window_days = window_days;

	st = summary_view_stats(v, as_of, &all);
	if (st != SUMMARY_OK)
		return st;
	st = summary_view_range(v, (int64_t) as_of - w, as_of, &recent);
	if (st != SUMMARY_OK)
		return st;
	st = summary_view_range(v, (int64_t) as_of - 2 * w, (int64_t) as_of - w, &previous);
	if (st != SUMMARY_OK)
		return st;

	out->purchase_days = all.purchase_days;
	out->repeat_purchase_days = all.purchase_days > 0 ? all.purchase_days - 1 : 0;
	out->purchases = all.purchases;
	if (all.purchase_days > 0)
	{
		int64_t		since = (int64_t) as_of - all.last_purchase;

		out->first_purchase = all.first_purchase;
		out->last_purchase = all.last_purchase;
		out->days_since_last = since > INT32_MAX ? INT32_MAX : (int32_t) since;
	}
	if (all.purchase_days >= 2)
		out->rhythm = ((double) all.last_purchase - (double) all.first_purchase) /
			(all.purchase_days - 1);

	out->recent_spend = recent.total;
	out->previous_spend = previous.total;
	out->recent_purchase_days = recent.purchase_days;
	out->previous_purchase_days = previous.purchase_days;
	out->recent_purchases = recent.purchases;
	out->previous_purchases = previous.purchases;
	return SUMMARY_OK;
}

/* A detail with nothing in it. */
static StageDetail
no_detail(void)
{
	StageDetail d;

	d.value = NAN;
	d.factor = NAN;
	d.reference = NAN;
	d.limit = NAN;
	d.adjustment = NAN;
	return d;
}

/* A detail "value <op> factor x reference (= limit)". */
static StageDetail
make_detail(double value, double factor, double reference, double limit)
{
	StageDetail d;

	d.value = value;
	d.factor = factor;
	d.reference = reference;
	d.limit = limit;
	d.adjustment = NAN;
	return d;
}

/* Money as a double in currency units, for the details. */
static double
money(crm_money m)
{
	return crm_money_to_double(m);
}

/*
 * Days since the last purchase beyond max(factor x rhythm, floor_days)?
 * With no rhythm the floor alone; with no purchase day, never.  On true,
 * fills *d.
 */
static bool
inactive_beyond(const StageSignals *s, double factor, int32_t floor_days,
				StageDetail *d)
{
	double		limit = floor_days;

	if (s->purchase_days < 1 || s->days_since_last < 0)
		return false;
	if (!isnan(s->rhythm))
	{
		double		by_rhythm = factor * s->rhythm;

		/* NaN factor: by_rhythm is NaN, and fmax() returns the floor */
		limit = fmax(by_rhythm, limit);
	}
	if (!(s->days_since_last > limit))
		return false;
	*d = make_detail(s->days_since_last, factor, s->rhythm, limit);
	return true;
}

/*
 * Has the customer bought since entering the current stage, within the
 * recent window?  (Win-back and re-acquisition.)
 */
static bool
bought_again(const StageSignals *s)
{
	return s->purchase_days > 0 && s->recent_purchase_days > 0 &&
		s->last_purchase > s->stage_since;
}

/*
 * Is the customer still within their own rhythm (days since the last
 * purchase <= factor x rhythm)?  False when either is unknown.
 */
static bool
within_rhythm(const StageSignals *s, double factor)
{
	return s->purchase_days > 0 && s->days_since_last >= 0 &&
		!isnan(s->rhythm) && s->days_since_last <= factor * s->rhythm;
}

/*
 * The phase allowance of the spend trend, in currency units.  A window of
 * w days holds one purchase day more or less depending on where the
 * customer's rhythm falls (a monthly buyer has 3 or 2 purchase days in 90
 * days), so when the recent window has fewer purchase days than the
 * previous one, one purchase day is credited to it: at the recent window's
 * mean spend per purchase day, or the previous window's when the recent one
 * has none; never negative.  The rules that use it (spend_falling,
 * sustained_peak) only run while the customer is not overdue by their own
 * rhythm, so the missing purchase may simply not be due yet; a purchase that
 * stays missing is the inactivity rule's business.
 */
static double
phase_allowance(const StageSignals *s)
{
	double		mean;

	if (s->recent_purchase_days < 0 ||
		s->recent_purchase_days >= s->previous_purchase_days)
		return 0.0;
	if (s->recent_purchase_days > 0)
		mean = money(s->recent_spend) / s->recent_purchase_days;
	else
		mean = money(s->previous_spend) / s->previous_purchase_days;
	return mean > 0.0 ? mean : 0.0;
}

/* Does the stored model speak for this customer?  (p_alive known) */
static bool
model_known(const StageSignals *s)
{
	return !isnan(s->p_alive);
}

/* A detail "P(alive) value <op> limit", decided by the model. */
static void
model_detail(StageProposal *out, double value, double limit)
{
	out->detail = make_detail(value, NAN, NAN, limit);
	out->by_model = true;
}

/* recent complaints above previous ones, and at least the minimum? */
static bool
complaints_rising(const StageSignals *s, const StageThresholds *t)
{
	return s->recent_complaints >= 0 && s->previous_complaints >= 0 &&
		s->recent_complaints > s->previous_complaints &&
		s->recent_complaints >= t->decline_min_complaints;
}

/*
 * The decline rules (formation or stable -> decline), first that holds.
 */
static bool
rule_decline(const StageSignals *s, const StageThresholds *t,
			 StageProposal *out)
{
	double		recent = money(s->recent_spend);
	double		previous = money(s->previous_spend);
	double		allowance;

	if (model_known(s))
	{
		if (s->p_alive < t->decline_p_alive)
		{
			out->reason = STAGE_REASON_P_ALIVE_FALLING;
			model_detail(out, s->p_alive, t->decline_p_alive);
			return true;
		}
	}
	else
	{
		if (inactive_beyond(s, t->decline_rhythm_factor, t->decline_floor_days,
							&out->detail))
		{
			out->reason = STAGE_REASON_INACTIVE_BEYOND_RHYTHM;
			return true;
		}

		/*
		 * Volume down.  The customer is not overdue here (the rule above
		 * did not fire), so a purchase missing from the recent window may
		 * not be due yet: it is credited (phase_allowance()).
		 */
		allowance = phase_allowance(s);
		if (s->previous_spend > 0 &&
			recent + allowance < t->decline_spend_ratio * previous)
		{
			out->reason = STAGE_REASON_SPEND_FALLING;
			out->detail = make_detail(recent, t->decline_spend_ratio, previous,
									  t->decline_spend_ratio * previous);
			out->detail.adjustment = allowance;
			return true;
		}
	}

	if (complaints_rising(s, t))
	{
		out->reason = STAGE_REASON_COMPLAINTS_RISING;
		out->detail = make_detail(s->recent_complaints, NAN,
								  s->previous_complaints,
								  t->decline_min_complaints);
		return true;
	}

	if (isfinite(s->recent_cost) && isfinite(s->previous_cost) &&
		s->previous_cost > 0.0 &&
		s->recent_cost > t->decline_cost_ratio * s->previous_cost &&
		s->recent_spend <= s->previous_spend)
	{
		out->reason = STAGE_REASON_COST_RISING;
		out->detail = make_detail(s->recent_cost, t->decline_cost_ratio,
								  s->previous_cost,
								  t->decline_cost_ratio * s->previous_cost);
		return true;
	}
	return false;
}

/*
 * Does the model, where it can tell, agree that the customer is gone?
 * P(buy) when known, else P(alive); true when the model cannot tell.
 */
static bool
model_agrees_gone(const StageSignals *s, const StageThresholds *t)
{
	if (!isnan(s->p_buy))
		return s->p_buy < t->terminate_p_buy;
	if (!isnan(s->p_alive))
		return s->p_alive < t->terminate_p_alive;
	return true;
}

/*
 * The termination rules (exploration or decline -> terminated), first that
 * holds.
 */
static bool
rule_terminate(const StageSignals *s, const StageThresholds *t,
			   StageProposal *out)
{
	StageDetail d;

	if (inactive_beyond(s, t->terminate_rhythm_factor, t->terminate_floor_days, &d) &&
		model_agrees_gone(s, t))
	{
		out->reason = STAGE_REASON_LONG_INACTIVE;
		out->detail = d;
		return true;
	}
	if (!isnan(s->redevelopment_cost) && !isnan(s->long_term_value) &&
		s->redevelopment_cost > s->long_term_value)
	{
		out->reason = STAGE_REASON_ABANDON_COST_EXCEEDS_VALUE;
		out->detail = make_detail(s->redevelopment_cost, NAN,
								  s->long_term_value, s->long_term_value);
		return true;
	}
	return false;
}

/*
 * exploration -> formation: repeat purchases, and either the model says
 * the customer is alive, or (without one) the latest window with spend,
 * not below the window before.
 */
static bool
rule_formation(const StageSignals *s, const StageThresholds *t,
			   StageProposal *out)
{
	if (s->purchase_days < t->formation_min_purchase_days)
		return false;
	if (model_known(s))
	{
		if (s->p_alive >= t->decline_p_alive)
		{
			out->reason = STAGE_REASON_REPEAT_PURCHASE;
			model_detail(out, s->p_alive, t->decline_p_alive);
			return true;
		}
		return false;
	}
	if (s->recent_purchase_days > 0 &&
		s->recent_spend >= s->previous_spend)
	{
		out->reason = STAGE_REASON_REPEAT_RISING_SPEND;
		out->detail = make_detail(money(s->recent_spend), 1.0,
								  money(s->previous_spend),
								  money(s->previous_spend));
		return true;
	}
	return false;
}

/*
 * formation -> stable: enough history, and either the model says the
 * customer is alive, or (without one) spend in the band or rising and
 * buying to the customer's own rhythm.
 */
static bool
rule_stable(const StageSignals *s, const StageThresholds *t,
			StageProposal *out)
{
	double		recent = money(s->recent_spend);
	double		previous = money(s->previous_spend);
	double		limit = t->stable_spend_floor * previous;
	double		allowance = phase_allowance(s);

	if (s->purchase_days < t->stable_min_purchase_days)
		return false;
	if (model_known(s))
	{
		if (s->p_alive >= t->stable_p_alive)
		{
			out->reason = STAGE_REASON_STEADY_BUYER;
			model_detail(out, s->p_alive, t->stable_p_alive);
			return true;
		}
		return false;
	}
	if (s->recent_spend > 0 &&
		recent + allowance >= limit &&
		within_rhythm(s, t->stable_rhythm_factor))
	{
		out->reason = STAGE_REASON_SUSTAINED_PEAK;
		out->detail = make_detail(recent, t->stable_spend_floor, previous,
								  limit);
		out->detail.adjustment = allowance;
		return true;
	}
	return false;
}

/*
 * decline -> stable: bought again since the decline began, complaints not
 * rising, and either the model says the customer is alive again or
 * (without one) back within rhythm with spend recovered.
 */
static bool
rule_won_back(const StageSignals *s, const StageThresholds *t,
			  StageProposal *out)
{
	if (!bought_again(s) || complaints_rising(s, t))
		return false;
	if (model_known(s))
	{
		if (s->p_alive >= t->stable_p_alive)
		{
			out->reason = STAGE_REASON_WON_BACK;
			model_detail(out, s->p_alive, t->stable_p_alive);
			return true;
		}
		return false;
	}
	if (within_rhythm(s, t->winback_rhythm_factor) &&
		s->recent_spend >= s->previous_spend)
	{
		out->reason = STAGE_REASON_WON_BACK;
		out->detail = make_detail(s->days_since_last, t->winback_rhythm_factor,
								  s->rhythm,
								  t->winback_rhythm_factor * s->rhythm);
		return true;
	}
	return false;
}

/*
 * Propose the next stage of a customer in stage "current", given its
 * signals and the thresholds.  Only the rules leading to a legal successor
 * of "current" are evaluated, in the order documented in stage_kernel.h;
 * when none holds, the proposal is "no change".  Fills *out and returns
 * out->stage; returns -1 (out->stage = current, no change) when "current"
 * is not a valid stage.
 */
int
stage_infer(CrmStage current, const StageSignals *s,
			const StageThresholds *t, StageProposal *out)
{
	CrmStage	next = current;
	bool		fired = false;

	out->stage = current;
	out->reason = STAGE_REASON_NO_CHANGE;
	out->detail = no_detail();
	out->by_model = false;

	if ((int) current < 0 || (int) current >= CRM_NSTAGES)
		return -1;

	/* no overnight moves: a stage is held for min_stage_days */
	if (current != CRM_STAGE_PROSPECT && s->stage_since != STAGE_SINCE_UNKNOWN &&
		(int64_t) s->as_of - s->stage_since < t->min_stage_days)
	{
		out->reason = STAGE_REASON_HELD;
		out->detail = make_detail((double) ((int64_t) s->as_of - s->stage_since),
								  NAN, NAN, t->min_stage_days);
		return (int) current;
	}

	switch (current)
	{
		case CRM_STAGE_PROSPECT:
			if (s->purchase_days >= 1)
			{
				out->reason = STAGE_REASON_FIRST_PURCHASE;
				out->detail = make_detail(s->purchase_days, NAN, NAN, 1.0);
				next = CRM_STAGE_EXPLORATION;
				fired = true;
			}
			break;
		case CRM_STAGE_EXPLORATION:
			if ((fired = rule_formation(s, t, out)))
				next = CRM_STAGE_FORMATION;
			else if ((fired = rule_terminate(s, t, out)))
				next = CRM_STAGE_TERMINATED;
			break;
		case CRM_STAGE_FORMATION:
			if ((fired = rule_decline(s, t, out)))
				next = CRM_STAGE_DECLINE;
			else if ((fired = rule_stable(s, t, out)))
				next = CRM_STAGE_STABLE;
			break;
		case CRM_STAGE_STABLE:
			if ((fired = rule_decline(s, t, out)))
				next = CRM_STAGE_DECLINE;
			break;
		case CRM_STAGE_DECLINE:
			if ((fired = rule_won_back(s, t, out)))
				next = CRM_STAGE_STABLE;
			else if ((fired = rule_terminate(s, t, out)))
				next = CRM_STAGE_TERMINATED;
			break;
		case CRM_STAGE_TERMINATED:
			if (bought_again(s))
			{
				out->reason = STAGE_REASON_REACQUIRED;
				out->detail = make_detail(s->days_since_last, NAN, NAN,
										  s->window_days);
				next = CRM_STAGE_EXPLORATION;
				fired = true;
			}
			break;
	}

	/* belt and braces: never hand out an illegal transition */
	if (!fired || !stage_transition_legal((int) current, (int) next))
	{
		out->reason = STAGE_REASON_NO_CHANGE;
		out->detail = no_detail();
		out->by_model = false;
		next = current;
	}
	out->stage = next;
	return (int) next;
}

/* ------------------------------------------------------------------------
 * The walk
 * ------------------------------------------------------------------------
 */

/* days since 2000-01-01 of the civil date y-m-d (H. Hinnant's algorithm) */
static int64_t
civil_days(int64_t y, int m, int d)
{
	int64_t		era,
				yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468 - 10957;
}

/* the last day of the month of "day" (days since 2000-01-01) */
static int64_t
month_end(int64_t day)
{
	int64_t		z = day + 10957 + 719468,
				era,
				doe,
				yoe,
				y,
				doy,
				mp;
	int			m;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = (int) (mp < 10 ? mp + 3 : mp - 9);
	y += m <= 2;
	/* the first of the next month, less a day */
	return m == 12 ? civil_days(y + 1, 1, 1) - 1 : civil_days(y, m + 1, 1) - 1;
}

/*
 * The number of checkpoints of a walk from "from" to as_of (see
 * stage_walk()), which bounds its moves.
 */
int
stage_walk_checkpoints(int32_t from, int32_t as_of)
{
	int64_t		d;
	int			n = 0;

	if (as_of <= from)
		return 1;
	for (d = month_end((int64_t) from + 1); d < as_of; d = month_end(d + 1))
		n++;
	return n + 1;
}

/*
 * Walk a customer in stage "current" (entered on stage_since, or
 * STAGE_SINCE_UNKNOWN) from the day after "from" to as_of: at every month
 * end strictly between from and as_of, then at as_of, ask signals() for
 * the signals as of that day and apply stage_infer() once.  The moves are
 * stored in moves[] (room for stage_walk_checkpoints(from, as_of) of
 * them), the proposal at as_of (the final stage, with why it stays or
 * moved) in *last.  Returns the number of moves, or -1 when signals()
 * failed or current is not a valid stage.  With as_of <= from (evaluated
 * again on the same day, or asked about an earlier one) as_of is the only
 * checkpoint: a customer that just moved is held there
 * (min_stage_days), so evaluating twice moves nobody twice.
 */
int
stage_walk(CrmStage current, int32_t stage_since, int32_t from, int32_t as_of,
		   const StageThresholds *t, StageSignalsAt signals, void *arg,
		   StageMove *moves, StageProposal *last)
{
	int			nmoves = 0;
	int64_t		day;
	bool		done = false;

	last->stage = current;
	last->reason = STAGE_REASON_NO_CHANGE;
	last->detail = no_detail();
	last->by_model = false;
	if ((int) current < 0 || (int) current >= CRM_NSTAGES)
		return -1;
	if (as_of <= from)
		from = as_of - 1;
	for (day = month_end((int64_t) from + 1); !done; day = month_end(day + 1))
	{
		StageSignals s;

		if (day >= as_of)
		{
			day = as_of;
			done = true;
		}
		if (!signals((int32_t) day, arg, &s))
			return -1;
		s.stage_since = stage_since;
		stage_infer(current, &s, t, last);
		if (last->stage != current)
		{
			moves[nmoves].day = (int32_t) day;
			moves[nmoves].from = current;
			moves[nmoves].proposal = *last;
			nmoves++;
			current = last->stage;
			stage_since = (int32_t) day;
		}
	}
	return nmoves;
}

/*
 * Short text of a number for the explanations: up to 4 decimals without
 * trailing zeros, "unknown" for NaN.
 */
static void
format_number(double x, char *buf, size_t len)
{
	char	   *p;

	if (isnan(x))
	{
		snprintf(buf, len, "unknown");
		return;
	}
	if (!(fabs(x) < 1e15))
	{
		snprintf(buf, len, "%.6g", x);
		return;
	}
	snprintf(buf, len, "%.4f", x);
	p = buf + strlen(buf) - 1;
	while (*p == '0')
		*p-- = '\0';
	if (*p == '.')
		*p = '\0';
	if (strcmp(buf, "-0") == 0)
		snprintf(buf, len, "0");
}

/*
 * Why a proposal was made, in words, e.g. "recent spend 70 < 0.7 x previous
 * spend 120".  Writes at most buflen bytes, terminator included
 * (STAGE_PROPOSAL_MAXLEN is always enough); returns what snprintf()
 * returns.
 */
int
stage_proposal_format(const StageProposal *p, char *buf, size_t buflen)
{
	char		v[32];
	char		f[32];
	char		r[32];
	char		l[32];
	char		a[64];
	const StageDetail *d = &p->detail;
	bool		by_floor;

	format_number(d->value, v, sizeof(v));
	format_number(d->factor, f, sizeof(f));
	format_number(d->reference, r, sizeof(r));
	format_number(d->limit, l, sizeof(l));
	a[0] = '\0';
	if (d->adjustment > 0.0)
	{
		char		n[32];

		format_number(d->adjustment, n, sizeof(n));
		snprintf(a, sizeof(a), " + %s for a purchase not yet due", n);
	}

	/* for the inactivity rules: did the floor decide, not the rhythm? */
	by_floor = isnan(d->reference) || isnan(d->factor) ||
		d->limit > d->factor * d->reference;

	switch (p->reason)
	{
		case STAGE_REASON_NO_CHANGE:
			return snprintf(buf, buflen, "no rule fired");
		case STAGE_REASON_HELD:
			return snprintf(buf, buflen, "in the stage %s days < %s", v, l);
		case STAGE_REASON_REPEAT_PURCHASE:
			return snprintf(buf, buflen, "repeat purchases, P(alive) %s >= %s", v, l);
		case STAGE_REASON_STEADY_BUYER:
			return snprintf(buf, buflen, "enough purchase days, P(alive) %s >= %s", v, l);
		case STAGE_REASON_P_ALIVE_FALLING:
			return snprintf(buf, buflen, "P(alive) %s < %s", v, l);
		case STAGE_REASON_FIRST_PURCHASE:
			return snprintf(buf, buflen, "purchase days %s >= %s", v, l);
		case STAGE_REASON_REPEAT_RISING_SPEND:
			return snprintf(buf, buflen,
							"repeat purchases, recent spend %s >= previous spend %s",
							v, r);
		case STAGE_REASON_SUSTAINED_PEAK:
			return snprintf(buf, buflen,
							"recent spend %s%s >= %s x previous spend %s, within rhythm",
							v, a, f, r);
		case STAGE_REASON_SPEND_FALLING:
			return snprintf(buf, buflen,
							"recent spend %s%s < %s x previous spend %s",
							v, a, f, r);
		case STAGE_REASON_COMPLAINTS_RISING:
			return snprintf(buf, buflen,
							"complaints %s > previous %s, and >= %s", v, r, l);
		case STAGE_REASON_COST_RISING:
			return snprintf(buf, buflen,
							"cost to serve %s > %s x previous %s, spend not rising",
							v, f, r);
		case STAGE_REASON_INACTIVE_BEYOND_RHYTHM:
		case STAGE_REASON_LONG_INACTIVE:
			if (by_floor)
				return snprintf(buf, buflen,
								"days since last purchase %s > %s (floor)", v, l);
			return snprintf(buf, buflen,
							"days since last purchase %s > %s x rhythm %s",
							v, f, r);
		case STAGE_REASON_WON_BACK:
			if (p->by_model)
				return snprintf(buf, buflen, "bought again, P(alive) %s >= %s", v, l);
			return snprintf(buf, buflen,
							"bought again: days since last purchase %s <= %s x rhythm %s, spend recovered",
							v, f, r);
		case STAGE_REASON_ABANDON_COST_EXCEEDS_VALUE:
			return snprintf(buf, buflen,
							"redevelopment cost %s > long-term value %s", v, r);
		case STAGE_REASON_REACQUIRED:
			return snprintf(buf, buflen,
							"bought again %s days ago, within the %s-day window",
							v, l);
	}
	return snprintf(buf, buflen, "unknown reason");
}
