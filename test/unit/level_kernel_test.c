/*
 * level_kernel_test.c
 *	  Unit tests of src/level_kernel.c, without a server.  TAP output.
 *
 * Every move up and down is written out by hand with the reason the rules
 * of level_kernel.h give it; a random sweep checks that no signals and no
 * thresholds ever make a level move more than one step.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the kernel's source, so that its static functions can be tested too */
#include "level_kernel.c"
#include "tap.h"

/*
 * A customer who meets every condition up to partnership: stable, two and
 * a half years of tenure, loyal, an account manager, 8 interactions on 3
 * channels, nothing late, 5 purchase days in the window.
 */
static LevelSignals
strong(void)
{
	LevelSignals s;

	level_signals_init(&s);
	s.as_of = 9000;
	s.stage = CRM_STAGE_STABLE;
	s.tenure_days = 900;
	s.purchase_days = 5;
	s.interactions = 8;
	s.channels = 3;
	s.complaints_late = 0;
	s.last_satisfied = 1;
	s.loyal = 1;
	s.account_manager = 1;
	return s;
}

static LevelProposal
infer(CrmLevel current, const LevelSignals *s)
{
	LevelThresholds t;
	LevelProposal p;

	level_default_thresholds(&t);
	level_infer(current, s, &t, &p);
	return p;
}

static int
proposes(const LevelProposal *p, CrmLevel level, LevelReason reason)
{
	return p->level == level && p->reason == reason;
}

static void
test_up(void)
{
	LevelSignals s = strong();
	LevelProposal p;
	char		buf[LEVEL_PROPOSAL_MAXLEN];

	p = infer(CRM_LEVEL_TRANSACTION, &s);
	level_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_CONTACT_AND_REPEAT) &&
	   strcmp(buf, "buying again, 8 interactions >= 1") == 0,
	   "transaction -> trust: buying again and in contact (contact_and_repeat)");
	p = infer(CRM_LEVEL_TRUST, &s);
	ok(proposes(&p, CRM_LEVEL_COOPERATION, LEVEL_REASON_REGULAR_CONTACT),
	   "trust -> cooperation: 8 interactions >= 3 on 3 channels >= 2, tenure 900 >= 180, nothing late (regular_contact)");
	p = infer(CRM_LEVEL_COOPERATION, &s);
	ok(proposes(&p, CRM_LEVEL_LOYALTY, LEVEL_REASON_SUSTAINED_SATISFACTION),
	   "cooperation -> loyalty: stable, loyal, tenure 900 >= 365 (sustained_satisfaction)");
	p = infer(CRM_LEVEL_LOYALTY, &s);
	level_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_LEVEL_PARTNERSHIP, LEVEL_REASON_DEDICATED_MANAGER) &&
	   strcmp(buf, "account manager, loyal, 900 days >= 730") == 0,
	   "loyalty -> partnership: account manager, loyal, tenure 900 >= 730, 8 interactions on 3 channels (dedicated_manager)");
	p = infer(CRM_LEVEL_PARTNERSHIP, &s);
	ok(proposes(&p, CRM_LEVEL_PARTNERSHIP, LEVEL_REASON_NO_CHANGE),
	   "partnership is the top: no change");

	/* each level's conditions, one short */
	s = strong();
	s.interactions = 0;
	s.channels = 0;
	p = infer(CRM_LEVEL_TRANSACTION, &s);
	ok(proposes(&p, CRM_LEVEL_TRANSACTION, LEVEL_REASON_NO_CHANGE),
	   "no contact at all: stays at transaction however much the customer buys");
	s = strong();
	s.stage = CRM_STAGE_EXPLORATION;
	p = infer(CRM_LEVEL_TRANSACTION, &s);
	ok(proposes(&p, CRM_LEVEL_TRANSACTION, LEVEL_REASON_NO_CHANGE),
	   "in contact but only a trial buyer (exploration): stays at transaction");
	s = strong();
	s.channels = 1;
	p = infer(CRM_LEVEL_TRUST, &s);
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_NO_CHANGE),
	   "one channel only: trust stays trust");
	s = strong();
	s.tenure_days = 100;
	p = infer(CRM_LEVEL_TRUST, &s);
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_NO_CHANGE),
	   "tenure 100 < 180: trust stays trust");
	s = strong();
	s.last_satisfied = 0;
	p = infer(CRM_LEVEL_TRUST, &s);
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_NO_CHANGE),
	   "the latest survey unsatisfied: trust stays trust");
	s = strong();
	s.loyal = -1;
	p = infer(CRM_LEVEL_COOPERATION, &s);
	ok(proposes(&p, CRM_LEVEL_COOPERATION, LEVEL_REASON_NO_CHANGE),
	   "loyalty unknown (no surveys): cooperation stays cooperation");
	s = strong();
	s.stage = CRM_STAGE_FORMATION;
	p = infer(CRM_LEVEL_COOPERATION, &s);
	ok(proposes(&p, CRM_LEVEL_COOPERATION, LEVEL_REASON_NO_CHANGE),
	   "loyalty needs the stable stage: formation stays cooperation");
	s = strong();
	s.tenure_days = 700;
	p = infer(CRM_LEVEL_LOYALTY, &s);
	ok(proposes(&p, CRM_LEVEL_LOYALTY, LEVEL_REASON_NO_CHANGE),
	   "tenure 700 < 730: loyalty stays loyalty");
	s = strong();
	s.account_manager = 0;
	p = infer(CRM_LEVEL_LOYALTY, &s);
	ok(proposes(&p, CRM_LEVEL_LOYALTY, LEVEL_REASON_NO_CHANGE),
	   "no account manager: loyalty stays loyalty");
}

static void
test_down(void)
{
	LevelSignals s;
	LevelProposal p;
	char		buf[LEVEL_PROPOSAL_MAXLEN];
	int			level,
				all_ended = 1;

	/* terminated: every level above transaction steps down */
	s = strong();
	s.stage = CRM_STAGE_TERMINATED;
	for (level = CRM_LEVEL_TRUST; level <= CRM_LEVEL_PARTNERSHIP; level++)
	{
		p = infer((CrmLevel) level, &s);
		all_ended &= proposes(&p, (CrmLevel) (level - 1), LEVEL_REASON_RELATIONSHIP_ENDED);
	}
	p = infer(CRM_LEVEL_TRANSACTION, &s);
	ok(all_ended && proposes(&p, CRM_LEVEL_TRANSACTION, LEVEL_REASON_NO_CHANGE),
	   "terminated: one step down from every level (relationship_ended), transaction stays");

	s = strong();
	s.account_manager = 0;
	p = infer(CRM_LEVEL_PARTNERSHIP, &s);
	ok(proposes(&p, CRM_LEVEL_LOYALTY, LEVEL_REASON_MANAGER_WITHDRAWN),
	   "partnership -> loyalty: no account manager any more (manager_withdrawn)");
	s = strong();
	s.loyal = 0;
	p = infer(CRM_LEVEL_PARTNERSHIP, &s);
	ok(proposes(&p, CRM_LEVEL_LOYALTY, LEVEL_REASON_LOYALTY_BROKEN),
	   "partnership -> loyalty: the latest surveys not all satisfied (loyalty_broken)");
	p = infer(CRM_LEVEL_LOYALTY, &s);
	ok(proposes(&p, CRM_LEVEL_COOPERATION, LEVEL_REASON_LOYALTY_BROKEN),
	   "loyalty -> cooperation: loyalty_broken");
	s = strong();
	s.stage = CRM_STAGE_DECLINE;
	p = infer(CRM_LEVEL_LOYALTY, &s);
	ok(proposes(&p, CRM_LEVEL_COOPERATION, LEVEL_REASON_IN_DECLINE),
	   "loyalty -> cooperation: the stage is decline (in_decline)");
	p = infer(CRM_LEVEL_COOPERATION, &s);
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_IN_DECLINE),
	   "cooperation -> trust: in_decline");
	p = infer(CRM_LEVEL_PARTNERSHIP, &s);
	ok(proposes(&p, CRM_LEVEL_PARTNERSHIP, LEVEL_REASON_NO_CHANGE),
	   "a partner in decline keeps the partnership while the manager and loyalty hold");
	s = strong();
	s.complaints_late = 2;
	p = infer(CRM_LEVEL_COOPERATION, &s);
	level_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_COMPLAINT_LATE) &&
	   strcmp(buf, "2 complaints handled late") == 0,
	   "cooperation -> trust: 2 complaints handled late (complaint_late)");
	s = strong();
	s.interactions = 0;
	s.channels = 0;
	p = infer(CRM_LEVEL_COOPERATION, &s);
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_CONTACT_LOST),
	   "cooperation -> trust: no interaction in the window (contact_lost)");
	p = infer(CRM_LEVEL_TRUST, &s);
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_NO_CHANGE),
	   "trust kept while the customer still buys, without contact");
	s.purchase_days = 0;
	p = infer(CRM_LEVEL_TRUST, &s);
	ok(proposes(&p, CRM_LEVEL_TRANSACTION, LEVEL_REASON_CONTACT_LOST),
	   "trust -> transaction: no contact and no purchase in the window (contact_lost)");

	/* keeping is easier than reaching: one interaction keeps cooperation */
	s = strong();
	s.interactions = 1;
	s.channels = 1;
	p = infer(CRM_LEVEL_COOPERATION, &s);
	ok(p.level >= CRM_LEVEL_COOPERATION,
	   "one interaction on one channel keeps cooperation (three on two reach it)");
}

static void
test_held_and_unknown(void)
{
	LevelSignals s = strong();
	LevelSignals u;
	LevelProposal p;
	int			level,
				none = 1;

	s.level_since = 8990;
	p = infer(CRM_LEVEL_TRUST, &s);
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_HELD) && p.value == 10,
	   "a level entered 10 days ago is held (28)");
	s.stage = CRM_STAGE_TERMINATED;
	p = infer(CRM_LEVEL_TRUST, &s);
	ok(proposes(&p, CRM_LEVEL_TRUST, LEVEL_REASON_HELD),
	   "held even when the relationship ended: gradual, never overnight");

	level_signals_init(&u);
	for (level = 0; level < CRM_NLEVELS; level++)
	{
		p = infer((CrmLevel) level, &u);
		none &= proposes(&p, (CrmLevel) level, LEVEL_REASON_NO_CHANGE);
	}
	ok(none, "nothing known: no level moves");
	ok(level_infer((CrmLevel) 7, &u, &(LevelThresholds) {0}, &p) == -1 &&
	   p.level == (CrmLevel) 7 && p.reason == LEVEL_REASON_NO_CHANGE,
	   "an invalid level: -1, no change");
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static int32_t
rnd(int32_t lo, int32_t hi)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return lo + (int32_t) (rng % (uint64_t) (hi - lo + 1));
}

static void
test_property(void)
{
	int			iter,
				far = 0,
				bad = 0,
				seen[LEVEL_NREASONS];
	int			all_seen = 1,
				i;

	memset(seen, 0, sizeof(seen));
	for (iter = 0; iter < 200000; iter++)
	{
		LevelSignals s;
		LevelThresholds t;
		LevelProposal p;
		char		buf[LEVEL_PROPOSAL_MAXLEN];
		int			current = rnd(0, CRM_NLEVELS - 1);
		int			len;

		s.as_of = rnd(-1000, 1000);
		s.level_since = rnd(0, 3) == 0 ? STAGE_SINCE_UNKNOWN : s.as_of - rnd(-5, 100);
		s.stage = (CrmStage) rnd(0, CRM_NSTAGES - 1);
		s.tenure_days = rnd(-1, 1000);
		s.purchase_days = rnd(-1, 6);
		s.interactions = rnd(-1, 9);
		s.channels = rnd(-1, 4);
		s.complaints_late = rnd(-1, 2);
		s.last_satisfied = rnd(-1, 1);
		s.loyal = rnd(-1, 1);
		s.account_manager = rnd(-1, 1);
		level_default_thresholds(&t);
		if (rnd(0, 3) == 0)
		{
			t.level_min_days = rnd(-5, 60);
			t.trust_min_interactions = rnd(-2, 5);
			t.cooperation_min_interactions = rnd(-2, 8);
			t.cooperation_min_channels = rnd(-2, 4);
			t.partnership_min_tenure_days = rnd(-10, 900);
		}
		level_infer((CrmLevel) current, &s, &t, &p);
		if (abs((int) p.level - current) > 1)
			far++;
		len = level_proposal_format(&p, buf, sizeof(buf));
		if (((int) p.level == current) != (p.reason == LEVEL_REASON_NO_CHANGE || p.reason == LEVEL_REASON_HELD) ||
			len <= 0 || len >= LEVEL_PROPOSAL_MAXLEN || level_reason_code(p.reason) == NULL)
			bad++;
		seen[p.reason]++;
	}
	for (i = 0; i < LEVEL_NREASONS; i++)
		all_seen &= seen[i] > 0;
	ok(far == 0, "200000 random signal sets: never more than one level at a time");
	ok(bad == 0 && all_seen,
	   "no_change or held exactly when the level stays; every reason reached, coded and explained");
}

static void
test_thresholds(void)
{
	LevelThresholds t;
	LevelThresholds bad;

	level_default_thresholds(&t);
	ok(t.level_window_days == 365 && t.level_min_days == 28 && t.trust_min_interactions == 1 &&
	   t.cooperation_min_tenure_days == 180 && t.cooperation_min_interactions == 3 &&
	   t.cooperation_min_channels == 2 && t.loyalty_min_tenure_days == 365 &&
	   t.partnership_min_tenure_days == 730 && t.partnership_min_interactions == 6 &&
	   t.partnership_min_channels == 3 && level_thresholds_check(&t) == NULL,
	   "documented defaults, which pass the check");
	bad = t;
	bad.level_window_days = 0;
	ok(level_thresholds_check(&bad) != NULL &&
	   strncmp(level_thresholds_check(&bad), "level_window_days", 17) == 0,
	   "a zero window rejected, by name");
	bad = t;
	bad.cooperation_min_channels = 0;
	ok(level_thresholds_check(&bad) != NULL, "zero channels for cooperation rejected");
}

int
main(void)
{
	test_up();
	test_down();
	test_held_and_unknown();
	test_property();
	test_thresholds();
	return tap_done();
}
