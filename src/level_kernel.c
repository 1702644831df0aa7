/*-------------------------------------------------------------------------
 *
 * level_kernel.c
 *	  Relationship levels: the rules that move a level one step up or down.
 *
 * The rules, their order and their thresholds are documented in
 * level_kernel.h.  As in stage_kernel.c, a rule whose input is unknown
 * (-1) never fires, and the proposal is never more than one step from the
 * current level.
 *
 *-------------------------------------------------------------------------
 */
#include "level_kernel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const reason_codes[LEVEL_NREASONS] = {
	"no_change",
	"held",
	"contact_and_repeat",
	"regular_contact",
	"sustained_satisfaction",
	"dedicated_manager",
	"relationship_ended",
	"manager_withdrawn",
	"loyalty_broken",
	"in_decline",
	"complaint_late",
	"contact_lost"
};

/* Stable short code of a reason, or NULL when out of range. */
const char *
level_reason_code(int reason)
{
	if (reason < 0 || reason >= LEVEL_NREASONS)
		return NULL;
	return reason_codes[reason];
}

/* The documented defaults (see level_kernel.h and the README's evidence). */
void
level_default_thresholds(LevelThresholds *t)
{
	t->level_window_days = 365;
	t->level_min_days = 28;
	t->trust_min_interactions = 1;
	t->cooperation_min_tenure_days = 180;
	t->cooperation_min_interactions = 3;
	t->cooperation_min_channels = 2;
	t->loyalty_min_tenure_days = 365;
	t->partnership_min_tenure_days = 730;
	t->partnership_min_interactions = 6;
	t->partnership_min_channels = 3;
}

/*
 * Check thresholds supplied by a user: NULL when usable, else the first
 * bad one and what it must be.
 */
const char *
level_thresholds_check(const LevelThresholds *t)
{
	if (t->level_window_days < 1)
		return "level_window_days must be at least 1";
	if (t->level_min_days < 0)
		return "level_min_days must not be negative";
	if (t->trust_min_interactions < 0)
		return "trust_min_interactions must not be negative";
	if (t->cooperation_min_tenure_days < 0 || t->loyalty_min_tenure_days < 0 ||
		t->partnership_min_tenure_days < 0)
		return "the level tenures must not be negative";
	if (t->cooperation_min_interactions < 1 || t->partnership_min_interactions < 1)
		return "cooperation_min_interactions and partnership_min_interactions must be at least 1";
	if (t->cooperation_min_channels < 1 || t->partnership_min_channels < 1)
		return "cooperation_min_channels and partnership_min_channels must be at least 1";
	return NULL;
}

/* Every signal unknown. */
void
level_signals_init(LevelSignals *s)
{
	s->as_of = 0;
	s->level_since = STAGE_SINCE_UNKNOWN;
	s->stage = CRM_STAGE_PROSPECT;
	s->tenure_days = -1;
	s->purchase_days = -1;
	s->interactions = -1;
	s->channels = -1;
	s->complaints_late = -1;
	s->last_satisfied = -1;
	s->loyal = -1;
	s->account_manager = -1;
}

/* the proposal: level, why, and the number that decided */
static void
propose(LevelProposal *out, CrmLevel level, LevelReason reason, double value, double limit)
{
	out->level = level;
	out->reason = reason;
	out->value = value;
	out->limit = limit;
}

/* the stage says the customer buys again and is alive */
static bool
committed(const LevelSignals *s)
{
	return s->stage == CRM_STAGE_FORMATION || s->stage == CRM_STAGE_STABLE;
}

/* at least n of a known count */
static bool
at_least(int32_t count, int32_t n)
{
	return count >= 0 && count >= n;
}

/* a known count of zero */
static bool
known_zero(int32_t count)
{
	return count == 0;
}

/*
 * One step down from current, if a rule of level_kernel.h says so.
 */
static bool
rule_down(CrmLevel current, const LevelSignals *s, LevelProposal *out)
{
	CrmLevel	below = (CrmLevel) (current - 1);

	if (current == CRM_LEVEL_TRANSACTION)
		return false;
	if (s->stage == CRM_STAGE_TERMINATED)
	{
		propose(out, below, LEVEL_REASON_RELATIONSHIP_ENDED, NAN, NAN);
		return true;
	}
	switch (current)
	{
		case CRM_LEVEL_PARTNERSHIP:
			if (s->account_manager == 0)
			{
				propose(out, below, LEVEL_REASON_MANAGER_WITHDRAWN, NAN, NAN);
				return true;
			}
			if (s->loyal == 0)
			{
				propose(out, below, LEVEL_REASON_LOYALTY_BROKEN, NAN, NAN);
				return true;
			}
			break;
		case CRM_LEVEL_LOYALTY:
			if (s->loyal == 0)
			{
				propose(out, below, LEVEL_REASON_LOYALTY_BROKEN, NAN, NAN);
				return true;
			}
			if (s->stage == CRM_STAGE_DECLINE)
			{
				propose(out, below, LEVEL_REASON_IN_DECLINE, NAN, NAN);
				return true;
			}
			break;
		case CRM_LEVEL_COOPERATION:
			if (s->stage == CRM_STAGE_DECLINE)
			{
				propose(out, below, LEVEL_REASON_IN_DECLINE, NAN, NAN);
				return true;
			}
			if (at_least(s->complaints_late, 1))
			{
				propose(out, below, LEVEL_REASON_COMPLAINT_LATE, s->complaints_late, 0);
				return true;
			}
			if (known_zero(s->interactions))
			{
				propose(out, below, LEVEL_REASON_CONTACT_LOST, 0, 1);
				return true;
			}
			break;
		case CRM_LEVEL_TRUST:
			if (known_zero(s->interactions) && known_zero(s->purchase_days))
			{
				propose(out, below, LEVEL_REASON_CONTACT_LOST, 0, 1);
				return true;
			}
			break;
		case CRM_LEVEL_TRANSACTION:
			break;
	}
	return false;
}

/*
 * One step up from current, if the next level's conditions all hold.
 */
static bool
rule_up(CrmLevel current, const LevelSignals *s, const LevelThresholds *t,
		LevelProposal *out)
{
	CrmLevel	above = (CrmLevel) (current + 1);

	switch (current)
	{
		case CRM_LEVEL_TRANSACTION:
			if (committed(s) && at_least(s->interactions, t->trust_min_interactions))
			{
				propose(out, above, LEVEL_REASON_CONTACT_AND_REPEAT,
						s->interactions, t->trust_min_interactions);
				return true;
			}
			break;
		case CRM_LEVEL_TRUST:
			if (committed(s) &&
				at_least(s->tenure_days, t->cooperation_min_tenure_days) &&
				at_least(s->interactions, t->cooperation_min_interactions) &&
				at_least(s->channels, t->cooperation_min_channels) &&
				known_zero(s->complaints_late) && s->last_satisfied != 0)
			{
				propose(out, above, LEVEL_REASON_REGULAR_CONTACT,
						s->interactions, t->cooperation_min_interactions);
				return true;
			}
			break;
		case CRM_LEVEL_COOPERATION:
			if (s->stage == CRM_STAGE_STABLE &&
				at_least(s->tenure_days, t->loyalty_min_tenure_days) &&
				s->loyal == 1 && known_zero(s->complaints_late))
			{
				propose(out, above, LEVEL_REASON_SUSTAINED_SATISFACTION,
						s->tenure_days, t->loyalty_min_tenure_days);
				return true;
			}
			break;
		case CRM_LEVEL_LOYALTY:
			if (s->stage == CRM_STAGE_STABLE && s->account_manager == 1 &&
				at_least(s->tenure_days, t->partnership_min_tenure_days) &&
				s->loyal == 1 &&
				at_least(s->interactions, t->partnership_min_interactions) &&
				at_least(s->channels, t->partnership_min_channels))
			{
				propose(out, above, LEVEL_REASON_DEDICATED_MANAGER,
						s->tenure_days, t->partnership_min_tenure_days);
				return true;
			}
			break;
		case CRM_LEVEL_PARTNERSHIP:
			break;
	}
	return false;
}

/*
 * Propose the level of a customer at "current" given its signals: held,
 * one step down, one step up, or no change, in that order.  Fills *out
 * and returns out->level; -1 (no change) for an invalid current level.
 */
int
level_infer(CrmLevel current, const LevelSignals *s, const LevelThresholds *t,
			LevelProposal *out)
{
	propose(out, current, LEVEL_REASON_NO_CHANGE, NAN, NAN);
	if ((int) current < 0 || (int) current >= CRM_NLEVELS)
		return -1;
	if (s->level_since != STAGE_SINCE_UNKNOWN &&
		(int64_t) s->as_of - s->level_since < t->level_min_days)
	{
		propose(out, current, LEVEL_REASON_HELD,
				(double) ((int64_t) s->as_of - s->level_since), t->level_min_days);
		return (int) current;
	}
	if (!rule_down(current, s, out))
		rule_up(current, s, t, out);
	return (int) out->level;
}

/*
 * Why a level moved or stayed, in words, e.g. "6 interactions >= 3".
 * snprintf-style; LEVEL_PROPOSAL_MAXLEN is always enough.
 */
int
level_proposal_format(const LevelProposal *p, char *buf, size_t buflen)
{
	switch (p->reason)
	{
		case LEVEL_REASON_NO_CHANGE:
			return snprintf(buf, buflen, "no rule fired");
		case LEVEL_REASON_HELD:
			return snprintf(buf, buflen, "at the level %.0f days < %.0f", p->value, p->limit);
		case LEVEL_REASON_CONTACT_AND_REPEAT:
			return snprintf(buf, buflen, "buying again, %.0f interactions >= %.0f", p->value, p->limit);
		case LEVEL_REASON_REGULAR_CONTACT:
			return snprintf(buf, buflen, "%.0f interactions >= %.0f on several channels, complaints on time",
							p->value, p->limit);
		case LEVEL_REASON_SUSTAINED_SATISFACTION:
			return snprintf(buf, buflen, "loyal after %.0f days >= %.0f", p->value, p->limit);
		case LEVEL_REASON_DEDICATED_MANAGER:
			return snprintf(buf, buflen, "account manager, loyal, %.0f days >= %.0f", p->value, p->limit);
		case LEVEL_REASON_RELATIONSHIP_ENDED:
			return snprintf(buf, buflen, "the customer is terminated");
		case LEVEL_REASON_MANAGER_WITHDRAWN:
			return snprintf(buf, buflen, "no account manager");
		case LEVEL_REASON_LOYALTY_BROKEN:
			return snprintf(buf, buflen, "the latest surveys are not all satisfied");
		case LEVEL_REASON_IN_DECLINE:
			return snprintf(buf, buflen, "the customer is in decline");
		case LEVEL_REASON_COMPLAINT_LATE:
			return snprintf(buf, buflen, "%.0f complaints handled late", p->value);
		case LEVEL_REASON_CONTACT_LOST:
			return snprintf(buf, buflen, "no contact in the window");
	}
	return snprintf(buf, buflen, "unknown reason");
}
