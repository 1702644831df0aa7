/*
 * stage_kernel_test.c
 *	  Unit tests of src/stage_kernel.c, without a server.  TAP output.
 *
 * Day numbers are used directly (days since 2000-01-01); amounts are whole
 * currency units through CU().  Unless a case says otherwise the thresholds
 * are the defaults: windows of 90 days, so with as_of = A the recent window
 * is (A - 90, A] and the previous one (A - 180, A - 90].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the kernel's source, so that its static functions can be tested too */
#include "stage_kernel.c"
#include "tap.h"

/* whole currency units as crm_money */
#define CU(x)	((crm_money) (x) * CRM_MONEY_SCALE)
#define NDAYS(a)	((int) (sizeof(a) / sizeof((a)[0])))

/* stage_signals_from_view() of a run of days with nothing sealed */
static SummaryStatus
signals_of_days(const SummaryDay *days, int ndays, int32_t as_of, int w,
				StageSignals *s)
{
	SummaryView v;

	summary_view_init(&v, days, ndays);
	return stage_signals_from_view(&v, as_of, w, s);
}

/*
 * Signals of a run of days as of a date, default window.
 */
static StageSignals
signals(const SummaryDay *days, int ndays, int32_t as_of)
{
	StageSignals s;

	if (signals_of_days(days, ndays, as_of, 90, &s) != SUMMARY_OK)
		abort();
	return s;
}

/*
 * Infer with the default thresholds; returns the proposal.
 */
static StageProposal
infer(CrmStage current, const StageSignals *s)
{
	StageThresholds t;
	StageProposal p;

	stage_default_thresholds(&t);
	stage_infer(current, s, &t, &p);
	return p;
}

/*
 * Infer with the default thresholds but min_stage_days (cases that are
 * about another rule than holding a stage).
 */
static StageProposal
infer_unheld(CrmStage current, const StageSignals *s)
{
	StageThresholds t;
	StageProposal p;

	stage_default_thresholds(&t);
	t.min_stage_days = 0;
	stage_infer(current, s, &t, &p);
	return p;
}

/* proposal is "stage" for "reason"? */
static int
proposes(const StageProposal *p, CrmStage stage, StageReason reason)
{
	return p->stage == stage && p->reason == reason;
}

/*
 * The transition table, written out independently of the kernel's: for
 * each stage, its legal targets (itself included) as a string of stage
 * digits.
 */
static void
test_transitions(void)
{
	static const char *const legal_to[CRM_NSTAGES] = {
		"01",					/* prospect -> exploration */
		"125",					/* exploration -> formation | terminated */
		"234",					/* formation -> stable | decline */
		"34",					/* stable -> decline */
		"345",					/* decline -> stable | terminated */
		"15"					/* terminated -> exploration */
	};
	int			from;
	int			to;
	int			nlegal = 0;
	char		desc[128];

	for (from = 0; from < CRM_NSTAGES; from++)
	{
		for (to = 0; to < CRM_NSTAGES; to++)
		{
			bool		expect = strchr(legal_to[from], '0' + to) != NULL;

			nlegal += expect;
			snprintf(desc, sizeof(desc), "%s -> %s is %s",
					 stage_name(from), stage_name(to),
					 expect ? "legal" : "illegal");
			ok(stage_transition_legal(from, to) == expect, desc);
		}
	}
	ok(nlegal == 15, "15 of the 36 pairs are legal (6 no-change, 9 moves)");
	ok(!stage_transition_legal(-1, 1) && !stage_transition_legal(0, 6) &&
	   !stage_transition_legal(6, 6),
	   "out-of-range stages are never legal");
}

static void
test_names(void)
{
	int			i;
	int			round_trip = 1;

	for (i = 0; i < CRM_NSTAGES; i++)
		round_trip &= stage_from_name(stage_name(i)) == i;
	ok(round_trip, "stage names round-trip");
	ok(strcmp(stage_name(CRM_STAGE_PROSPECT), "prospect") == 0 &&
	   strcmp(stage_name(CRM_STAGE_EXPLORATION), "exploration") == 0 &&
	   strcmp(stage_name(CRM_STAGE_FORMATION), "formation") == 0 &&
	   strcmp(stage_name(CRM_STAGE_STABLE), "stable") == 0 &&
	   strcmp(stage_name(CRM_STAGE_DECLINE), "decline") == 0 &&
	   strcmp(stage_name(CRM_STAGE_TERMINATED), "terminated") == 0,
	   "stage names in order, lower case");
	ok(stage_from_name("Stable") == -1 && stage_from_name("") == -1 &&
	   stage_from_name("stable ") == -1 && stage_from_name(NULL) == -1,
	   "unknown stage names (case and space matter) give -1");
	ok(stage_name(-1) == NULL && stage_name(CRM_NSTAGES) == NULL,
	   "no name for an out-of-range stage");

	round_trip = 1;
	for (i = 0; i < STAGE_NREASONS; i++)
		round_trip &= stage_reason_code(i) != NULL;
	ok(round_trip && stage_reason_code(STAGE_NREASONS) == NULL &&
	   strcmp(stage_reason_code(STAGE_REASON_NO_CHANGE), "no_change") == 0 &&
	   strcmp(stage_reason_code(STAGE_REASON_WON_BACK), "won_back") == 0 &&
	   strcmp(stage_reason_code(STAGE_REASON_ABANDON_COST_EXCEEDS_VALUE),
			  "abandon_cost_exceeds_value") == 0,
	   "every reason has a short code");
}

static void
test_thresholds(void)
{
	StageThresholds t;
	StageThresholds bad;
	const char *msg;

	stage_default_thresholds(&t);
	ok(t.window_days == 90 && t.min_stage_days == 28 && t.formation_min_purchase_days == 2 &&
	   t.stable_min_purchase_days == 3 && t.stable_spend_floor == 0.8 &&
	   t.stable_rhythm_factor == 1.0 && t.stable_p_alive == 0.5 && t.decline_rhythm_factor == 1.5 &&
	   t.decline_floor_days == 30 && t.decline_spend_ratio == 0.7 &&
	   t.decline_min_complaints == 2 && t.decline_cost_ratio == 1.25 && t.decline_p_alive == 0.3 &&
	   t.winback_rhythm_factor == 1.0 && t.terminate_rhythm_factor == 4.0 &&
	   t.terminate_floor_days == 365 && t.terminate_p_alive == 0.1 &&
	   t.terminate_p_buy == 0.1 && t.terminate_horizon_days == 365,
	   "documented defaults");
	ok(stage_thresholds_check(&t) == NULL, "defaults pass the check");

	bad = t;
	bad.window_days = 0;
	msg = stage_thresholds_check(&bad);
	ok(msg != NULL && strncmp(msg, "window_days", 11) == 0,
	   "window_days 0 rejected, by name");
	bad = t;
	bad.decline_spend_ratio = NAN;
	msg = stage_thresholds_check(&bad);
	ok(msg != NULL && strncmp(msg, "decline_spend_ratio", 19) == 0,
	   "NaN ratio rejected, by name");
	bad = t;
	bad.formation_min_purchase_days = 1;
	ok(stage_thresholds_check(&bad) != NULL,
	   "formation needs a repeat purchase: minimum 1 rejected");
	bad = t;
	bad.terminate_p_alive = 1.5;
	ok(stage_thresholds_check(&bad) != NULL, "P(alive) threshold above 1 rejected");
	bad = t;
	bad.decline_p_alive = 0.6;
	msg = stage_thresholds_check(&bad);
	ok(msg != NULL && strncmp(msg, "decline_p_alive", 15) == 0,
	   "decline_p_alive above stable_p_alive (no hysteresis, or worse) rejected, by name");
	bad = t;
	bad.min_stage_days = -1;
	ok(stage_thresholds_check(&bad) != NULL, "negative min_stage_days rejected");
}

static void
test_signals(void)
{
	/*
	 * Monthly buyer with a refund.  As of 1100: the recent window is
	 * (1010, 1100], the previous (920, 1010].  Day 1200 is after as_of and
	 * must be ignored; day 1065 is refund-only (not a purchase day).
	 */
	SummaryDay	d1[] = {
		{1000, 1, CU(100)},
		{1030, 2, CU(50)},
		{1060, 1, CU(80)},
		{1065, 0, CU(-20)},
		{1090, 1, CU(120)},
		{1200, 1, CU(999)}
	};

	/* window edges: 920 is in neither window, 1010 in the previous one */
	SummaryDay	d2[] = {
		{920, 1, CU(1)},
		{921, 1, CU(2)},
		{1010, 1, CU(4)},
		{1011, 1, CU(8)},
		{1100, 1, CU(16)}
	};
	SummaryDay	d3[] = {{1000, 1, CU(10)}, {1020, 0, CU(-3)}};
	SummaryDay	big[] = {{1000, 1, INT64_MAX / 2 + 1}, {1010, 1, INT64_MAX / 2 + 1}};
	SummaryDay	edge[] = {{INT32_MIN + 1, 1, CU(5)}, {INT32_MIN + 3, 1, CU(7)}};
	StageSignals s;

	s = signals(d1, NDAYS(d1), 1100);
	/* purchase days 1000, 1030, 1060, 1090: 90 days over 3 gaps */
	ok(s.purchase_days == 4 && s.repeat_purchase_days == 3 && s.purchases == 5,
	   "4 purchase days (the refund-only day and the day after as_of do not count), 5 purchases");
	ok(s.first_purchase == 1000 && s.last_purchase == 1090 &&
	   s.days_since_last == 10,
	   "first 1000, last 1090, 10 days since the last purchase as of 1100");
	ok(close_to(s.rhythm, 30.0, 1e-12), "rhythm = (1090 - 1000) / 3 = 30 days");
	/* recent: 50 + 80 - 20 + 120 = 230 on 3 purchase days, 4 purchases */
	ok(s.recent_spend == CU(230) && s.recent_purchase_days == 3 &&
	   s.recent_purchases == 4,
	   "recent window (1010, 1100]: spend 230 net of the refund, 3 purchase days, 4 purchases");
	ok(s.previous_spend == CU(100) && s.previous_purchase_days == 1 &&
	   s.previous_purchases == 1,
	   "previous window (920, 1010]: spend 100, 1 purchase day");
	ok(s.recent_complaints == -1 && s.previous_complaints == -1 &&
	   isnan(s.recent_cost) && isnan(s.previous_cost) && isnan(s.p_alive) &&
	   isnan(s.redevelopment_cost) && isnan(s.long_term_value) &&
	   s.stage_since == STAGE_SINCE_UNKNOWN,
	   "caller-supplied signals start unknown");

	s = signals(d1, NDAYS(d1), 1300);
	ok(s.purchase_days == 5 && s.last_purchase == 1200 && s.days_since_last == 100 &&
	   s.recent_spend == 0 && s.previous_spend == CU(999),
	   "as of 1300 the day 1200 counts: in the previous window (1120, 1210]");

	s = signals(d2, NDAYS(d2), 1100);
	ok(s.recent_spend == CU(24) && s.previous_spend == CU(6),
	   "window edges: (1010, 1100] holds 1011 and 1100; (920, 1010] holds 921 and 1010");
	ok(s.days_since_last == 0 && close_to(s.rhythm, 45.0, 1e-12),
	   "a purchase on as_of: 0 days since; rhythm (1100 - 920) / 4 = 45");

	s = signals(d1, NDAYS(d1), 999);
	ok(s.purchase_days == 0 && s.days_since_last == -1 && isnan(s.rhythm) &&
	   s.recent_spend == 0 && s.previous_spend == 0 && s.purchases == 0,
	   "as of a date before the first purchase: nothing");

	s = signals(d3, NDAYS(d3), 1030);
	ok(s.purchase_days == 1 && isnan(s.rhythm) && s.last_purchase == 1000 &&
	   s.days_since_last == 30 && s.recent_spend == CU(7),
	   "one purchase day: no rhythm; a later refund lowers spend but not recency");

	s = signals(NULL, 0, 1000);
	ok(s.purchase_days == 0 && s.days_since_last == -1, "empty history");

	ok(signals_of_days(big, NDAYS(big), 1010, 90, &s) == SUMMARY_MONEY_OVERFLOW,
	   "a window whose net amount overflows is reported");

	s = signals(edge, NDAYS(edge), INT32_MIN + 5);
	ok(s.purchase_days == 2 && s.recent_spend == CU(12) && s.previous_spend == 0 &&
	   s.days_since_last == 2,
	   "windows reaching below the int32 range are clamped");
}

/*
 * Brute-force oracle for stage_signals_from_view() on random runs.
 */
static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static int
rng_int(int lo, int hi)
{
	return lo + (int) (rng() % (uint64_t) (hi - lo + 1));
}

static double
rng_unit(void)
{
	return (double) (rng() >> 11) / 9007199254740992.0;
}

static void
test_signals_oracle(void)
{
	int			iter;
	int			bad = 0;

	rng_state = UINT64_C(0x5eed5eed12345678);
	for (iter = 0; iter < 10000; iter++)
	{
		SummaryDay	days[40];
		int			n = rng_int(0, 40);
		int			w = rng_int(1, 120);
		int32_t		as_of = rng_int(-50, 900);
		int32_t		day = rng_int(-300, 100);
		StageSignals s;
		int			i;
		int			pd = 0;
		int			rpd = 0;
		int			ppd = 0;
		int32_t		first = 0;
		int32_t		last = 0;
		crm_money	rs = 0;
		crm_money	ps = 0;

		for (i = 0; i < n; i++)
		{
			day += rng_int(1, 60);
			days[i].day = day;
			days[i].purchases = rng_int(0, 3);
			days[i].amount = days[i].purchases > 0 ? CU(rng_int(0, 500)) :
				-CU(rng_int(1, 50));
		}
		if (signals_of_days(days, n, as_of, w, &s) != SUMMARY_OK)
		{
			bad++;
			continue;
		}
		for (i = 0; i < n; i++)
		{
			if (days[i].day > as_of)
				continue;
			if (days[i].purchases > 0)
			{
				if (pd == 0)
					first = days[i].day;
				last = days[i].day;
				pd++;
			}
			if (days[i].day > as_of - w)
			{
				rs += days[i].amount;
				rpd += days[i].purchases > 0;
			}
			else if (days[i].day > as_of - 2 * w)
			{
				ps += days[i].amount;
				ppd += days[i].purchases > 0;
			}
		}
		if (s.purchase_days != pd || s.recent_spend != rs ||
			s.previous_spend != ps || s.recent_purchase_days != rpd ||
			s.previous_purchase_days != ppd ||
			s.days_since_last != (pd > 0 ? as_of - last : -1) ||
			(pd >= 2 ? !close_to(s.rhythm, (double) (last - first) / (pd - 1), 1e-12)
			 : !isnan(s.rhythm)))
			bad++;
	}
	ok(bad == 0, "signals match a brute-force count on 10000 random runs");
}

/*
 * Monthly buyer: 100 on each of 5000, 5030, ..., 5180 (7 purchase days,
 * rhythm 30).  As of 5185 the recent window (5095, 5185] holds 5120, 5150,
 * 5180 = 300 and the previous one (5005, 5095] holds 5030, 5060, 5090 = 300.
 */
static const SummaryDay monthly_template[] = {
	{5000, 1, CU(100)}, {5030, 1, CU(100)}, {5060, 1, CU(100)},
	{5090, 1, CU(100)}, {5120, 1, CU(100)}, {5150, 1, CU(100)},
	{5180, 1, CU(100)}
};

static void
test_early_stages(void)
{
	SummaryDay	trial[] = {{5000, 1, CU(80)}};
	SummaryDay	later[] = {{5100, 1, CU(80)}};
	SummaryDay	rising[] = {{5000, 1, CU(50)}, {5060, 1, CU(80)}};
	SummaryDay	falling[] = {{5000, 1, CU(100)}, {5060, 1, CU(50)}};
	SummaryDay	early[] = {{5000, 1, CU(100)}, {5030, 1, CU(100)}, {5060, 1, CU(100)}};
	StageSignals s;
	StageProposal p;

	/* a first trial order makes a prospect an exploration customer */
	s = signals(trial, 1, 5010);
	p = infer(CRM_STAGE_PROSPECT, &s);
	ok(proposes(&p, CRM_STAGE_EXPLORATION, STAGE_REASON_FIRST_PURCHASE) &&
	   p.detail.value == 1 && p.detail.limit == 1,
	   "first trial order: prospect -> exploration (first_purchase)");

	/* no purchase (or only one after as_of): still a prospect */
	s = signals(NULL, 0, 5010);
	p = infer(CRM_STAGE_PROSPECT, &s);
	ok(proposes(&p, CRM_STAGE_PROSPECT, STAGE_REASON_NO_CHANGE),
	   "prospect without a purchase stays prospect");
	s = signals(later, 1, 5010);
	p = infer(CRM_STAGE_PROSPECT, &s);
	ok(proposes(&p, CRM_STAGE_PROSPECT, STAGE_REASON_NO_CHANGE),
	   "a purchase after as_of does not count");

	/*
	 * Repeat purchase with rising spend: as of 5100 the recent window
	 * (5010, 5100] holds 80, the previous (4920, 5010] holds 50.
	 */
	s = signals(rising, 2, 5100);
	p = infer(CRM_STAGE_EXPLORATION, &s);
	ok(proposes(&p, CRM_STAGE_FORMATION, STAGE_REASON_REPEAT_RISING_SPEND) &&
	   p.detail.value == 80 && p.detail.reference == 50,
	   "repeat purchase, spend 80 >= 50: exploration -> formation");

	/* the second order smaller than the first: not committing yet */
	s = signals(falling, 2, 5100);
	p = infer(CRM_STAGE_EXPLORATION, &s);
	ok(proposes(&p, CRM_STAGE_EXPLORATION, STAGE_REASON_NO_CHANGE),
	   "repeat purchase with falling spend 50 < 100 stays exploration");

	/* a single trial order 400 days ago: beyond the 365-day floor */
	s = signals(trial, 1, 5400);
	p = infer(CRM_STAGE_EXPLORATION, &s);
	ok(proposes(&p, CRM_STAGE_TERMINATED, STAGE_REASON_LONG_INACTIVE) &&
	   p.detail.value == 400 && p.detail.limit == 365,
	   "trial aborted: exploration inactive 400 > 365 days -> terminated");
	s = signals(trial, 1, 5300);
	p = infer(CRM_STAGE_EXPLORATION, &s);
	ok(proposes(&p, CRM_STAGE_EXPLORATION, STAGE_REASON_NO_CHANGE),
	   "exploration inactive 300 days (no rhythm, floor 365): no change");

	/* sustained peak: monthly, 300 vs 300, 5 days since the last purchase */
	s = signals(monthly_template, NDAYS(monthly_template), 5185);
	p = infer(CRM_STAGE_FORMATION, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_SUSTAINED_PEAK) &&
	   close_to(p.detail.limit, 240, 1e-12),
	   "sustained peak: formation -> stable (300 >= 0.8 x 300, within rhythm 30)");
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "the same customer already stable: no change");

	/* only 2 purchase days: not enough history for the peak (needs 3) */
	s = signals(early, 2, 5035);
	p = infer(CRM_STAGE_FORMATION, &s);
	ok(proposes(&p, CRM_STAGE_FORMATION, STAGE_REASON_NO_CHANGE),
	   "2 purchase days: formation stays formation");

	/* 35 days since the last purchase > 1.0 x rhythm 30: not yet stable */
	s = signals(monthly_template, NDAYS(monthly_template), 5215);
	p = infer(CRM_STAGE_FORMATION, &s);
	ok(proposes(&p, CRM_STAGE_FORMATION, STAGE_REASON_NO_CHANGE),
	   "formation customer 35 days out of a 30-day rhythm: no change yet");
}

static void
test_prospect_no_jump(void)
{
	StageSignals s = signals(monthly_template, NDAYS(monthly_template), 5185);
	StageProposal p;
	CrmStage	stage = CRM_STAGE_PROSPECT;
	CrmStage	path[8];
	int			steps = 0;

	/* a rich history: every rule up to "stable" holds */
	p = infer(CRM_STAGE_PROSPECT, &s);
	ok(proposes(&p, CRM_STAGE_EXPLORATION, STAGE_REASON_FIRST_PURCHASE),
	   "prospect with 7 monthly purchases only reaches exploration");

	/* re-running inference walks the stages one legal step at a time */
	path[steps++] = stage;
	while (steps < 8)
	{
		p = infer(stage, &s);
		if (p.stage == stage)
			break;
		stage = p.stage;
		path[steps++] = stage;
	}
	ok(steps == 4 && path[1] == CRM_STAGE_EXPLORATION &&
	   path[2] == CRM_STAGE_FORMATION && path[3] == CRM_STAGE_STABLE,
	   "repeated inference: prospect -> exploration -> formation -> stable, then stays");
}

static void
test_decline(void)
{
	SummaryDay	d[10];
	SummaryDay	quarterly[] = {
		{4520, 1, CU(100)}, {4640, 1, CU(100)}, {4760, 1, CU(100)},
		{4880, 1, CU(100)}, {5000, 1, CU(100)}
	};
	SummaryDay	fmt[] = {{4950, 1, CU(60)}, {4980, 1, CU(60)}, {5040, 1, CU(35)}, {5070, 1, CU(35)}};
	StageSignals s;
	StageProposal p;
	char		buf[STAGE_PROPOSAL_MAXLEN];

	/*
	 * Falling volume with rising complaints: the last three monthly orders
	 * shrink to 40, 30, 30, so recent spend 100 < 0.7 x previous 300, and
	 * complaints go from 0 to 3.  Spend is checked first.
	 */
	memcpy(d, monthly_template, sizeof(monthly_template));
	d[4].amount = CU(40);
	d[5].amount = CU(30);
	d[6].amount = CU(30);
	s = signals(d, 7, 5185);
	s.recent_complaints = 3;
	s.previous_complaints = 0;
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_SPEND_FALLING) &&
	   close_to(p.detail.value, 100, 1e-12) && close_to(p.detail.limit, 210, 1e-12),
	   "falling volume and rising complaints: stable -> decline (spend 100 < 210)");
	p = infer(CRM_STAGE_FORMATION, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_SPEND_FALLING),
	   "the same from formation: decline outranks the peak");

	/* complaints alone: spend flat at 300/300, complaints 1 -> 3 */
	s = signals(monthly_template, NDAYS(monthly_template), 5185);
	s.recent_complaints = 3;
	s.previous_complaints = 1;
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_COMPLAINTS_RISING),
	   "complaints 3 > 1 and >= 2: stable -> decline");
	s.recent_complaints = 1;
	s.previous_complaints = 0;
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "one complaint after none is below the minimum of 2: no change");
	s.recent_complaints = 5;
	s.previous_complaints = -1;
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "previous complaints unknown: the rule does not fire");

	/* cost to serve up 30% while spend is flat */
	s = signals(monthly_template, NDAYS(monthly_template), 5185);
	s.recent_cost = 130;
	s.previous_cost = 100;
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_COST_RISING) &&
	   close_to(p.detail.limit, 125, 1e-12),
	   "cost to serve 130 > 1.25 x 100 with flat spend: stable -> decline");
	s.recent_cost = 120;
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "cost up 20% only: no change");
	memcpy(d, monthly_template, sizeof(monthly_template));
	d[6].amount = CU(200);
	s = signals(d, 7, 5185);
	s.recent_cost = 130;
	s.previous_cost = 100;
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "cost up 30% while spend rises 400 > 300: no change");

	/* 50 days since the last purchase > max(1.5 x 30, 30) = 45 */
	s = signals(monthly_template, NDAYS(monthly_template), 5230);
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_INACTIVE_BEYOND_RHYTHM) &&
	   p.detail.value == 50 && close_to(p.detail.limit, 45, 1e-12),
	   "inactive 50 > 1.5 x rhythm 30: stable -> decline");

	/*
	 * Buyer every 120 days.  As of 5100 the recent window (5010, 5100] is
	 * empty and the previous one holds 100, but the customer is 100 days
	 * into a 120-day rhythm: that is no decline.
	 */
	s = signals(quarterly, 5, 5100);
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "120-day buyer between two orders, empty recent window: no change");
	/*
	 * 130 days: a little late, but within 1.5 x 120; the one purchase the
	 * recent window misses is credited (phase allowance): 0 + 100 >= 70.
	 */
	s = signals(quarterly, 5, 5130);
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "120-day buyer 130 days out (< 1.5 x rhythm): no change yet");
	/* 190 days > max(1.5 x 120, 30) = 180 */
	s = signals(quarterly, 5, 5190);
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_INACTIVE_BEYOND_RHYTHM),
	   "120-day buyer 190 days out: inactive beyond 1.5 x rhythm");

	/*
	 * Phase: the regular monthly buyer as of 5215 has 2 purchase days
	 * (5150, 5180) in the recent window (5125, 5215] against 3 in the
	 * previous one: 200 < 0.7 x 300, but one purchase is credited at the
	 * recent mean 100, and 300 >= 210.
	 */
	s = signals(monthly_template, NDAYS(monthly_template), 5215);
	p = infer(CRM_STAGE_STABLE, &s);
	ok(s.recent_spend == CU(200) && s.previous_spend == CU(300) &&
	   proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "regular monthly buyer, window holding 2 purchases instead of 3: not a decline");

	/* the same phase with smaller orders: 2 x 60 + 60 = 180 < 210 */
	memcpy(d, monthly_template, sizeof(monthly_template));
	d[5].amount = CU(60);
	d[6].amount = CU(60);
	s = signals(d, 7, 5215);
	p = infer(CRM_STAGE_STABLE, &s);
	stage_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_SPEND_FALLING) &&
	   p.detail.adjustment == 60 &&
	   strcmp(buf, "recent spend 120 + 60 for a purchase not yet due < 0.7 x previous spend 300") == 0,
	   "smaller orders: spend falls even with the allowance, and the text says so");

	/*
	 * Two of three purchases missing: 5120 and 5150 dropped, so as of 5185
	 * the recent window holds 5180 only: 100 + 100 = 200 < 210.
	 */
	memcpy(d, monthly_template, sizeof(monthly_template));
	d[4] = d[6];
	s = signals(d, 5, 5185);
	p = infer(CRM_STAGE_STABLE, &s);
	ok(s.recent_purchase_days == 1 && s.previous_purchase_days == 3 &&
	   proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_SPEND_FALLING),
	   "two purchases missing from the recent window: decline despite the allowance");

	/* the explanation the glue prints: recent 35 + 35 vs previous 60 + 60 */
	s = signals(fmt, 4, 5100);
	p = infer(CRM_STAGE_STABLE, &s);
	stage_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_SPEND_FALLING) &&
	   strcmp(buf, "recent spend 70 < 0.7 x previous spend 120") == 0,
	   "explanation: \"recent spend 70 < 0.7 x previous spend 120\"");
	ok(stage_proposal_format(&p, buf, 8) > 8 && strlen(buf) == 7,
	   "explanation truncates to the buffer, snprintf-style");
}

static void
test_decline_exits(void)
{
	SummaryDay	d[10];
	SummaryDay	yearly[] = {{4000, 1, CU(500)}, {4365, 1, CU(500)}, {4730, 1, CU(500)}};
	StageSignals s;
	StageProposal p;
	char		buf[STAGE_PROPOSAL_MAXLEN];

	/*
	 * Won back: the monthly customer declined on 5200 (stage_since), then
	 * bought 150 on 5250 and 5280.  As of 5285: recent (5195, 5285] = 300,
	 * previous (5105, 5195] = 300; rhythm (5280 - 5000) / 8 = 35, 5 days
	 * since the last purchase.
	 */
	memcpy(d, monthly_template, sizeof(monthly_template));
	d[7].day = 5250;
	d[7].purchases = 1;
	d[7].amount = CU(150);
	d[8].day = 5280;
	d[8].purchases = 1;
	d[8].amount = CU(150);
	s = signals(d, 9, 5285);
	s.stage_since = 5200;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_WON_BACK) &&
	   p.detail.value == 5 && close_to(p.detail.reference, 35, 1e-12),
	   "declined customer buys again within rhythm, spend 300 >= 300: decline -> stable (won_back)");

	/* the same, but redevelopment would cost more than the value: came back anyway */
	s.redevelopment_cost = 500;
	s.long_term_value = 300;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_WON_BACK),
	   "a customer who came back needs no redevelopment: won_back first");

	/* the orders after the decline began were small: not won back yet */
	d[7].amount = CU(50);
	d[8].amount = CU(50);
	s = signals(d, 9, 5285);
	s.stage_since = 5200;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "bought again but spend 100 < 300: stays decline");

	/* purchases before the decline began are not "again" */
	d[7].amount = CU(150);
	d[8].amount = CU(150);
	s = signals(d, 9, 5285);
	s.stage_since = 5282;
	p = infer_unheld(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "last purchase 5280 before the decline began on 5282: no win-back");

	/*
	 * Abandon: monthly customer whose orders shrank (recent 100 < 300), 40
	 * days since the last purchase (not long inactive), redevelopment cost
	 * 500 > long-term value 300.
	 */
	memcpy(d, monthly_template, sizeof(monthly_template));
	d[4].amount = CU(40);
	d[5].amount = CU(30);
	d[6].amount = CU(30);
	s = signals(d, 7, 5220);
	s.redevelopment_cost = 500;
	s.long_term_value = 300;
	p = infer(CRM_STAGE_DECLINE, &s);
	stage_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_STAGE_TERMINATED, STAGE_REASON_ABANDON_COST_EXCEEDS_VALUE) &&
	   strcmp(buf, "redevelopment cost 500 > long-term value 300") == 0,
	   "redevelopment cost 500 > long-term value 300: decline -> terminated");
	s.redevelopment_cost = 300;
	s.long_term_value = 500;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "redevelopment cheaper than the value: keep trying (no change)");
	s.redevelopment_cost = 500;
	s.long_term_value = NAN;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "long-term value unknown: the abandon rule does not fire");

	/* the model alone does not terminate a customer who bought 40 days ago */
	s.redevelopment_cost = NAN;
	s.p_alive = 0.05;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "P(alive) 0.05, last purchase 40 days ago: the model alone does not terminate");

	/* monthly customer 400 days out: > max(4 x 30, 365) = 365 */
	s = signals(monthly_template, NDAYS(monthly_template), 5580);
	p = infer(CRM_STAGE_DECLINE, &s);
	stage_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_STAGE_TERMINATED, STAGE_REASON_LONG_INACTIVE) &&
	   p.detail.value == 400 && p.detail.limit == 365 &&
	   strcmp(buf, "days since last purchase 400 > 365 (floor)") == 0,
	   "decline customer inactive 400 days, far beyond rhythm 30, no model: terminated (floor 365 decides)");
	s.p_alive = 0.2;
	s.p_buy = 0.3;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "the same, but the model gives P(buy) 0.3 >= 0.1: not terminated");
	s.p_buy = 0.05;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_TERMINATED, STAGE_REASON_LONG_INACTIVE),
	   "and with P(buy) 0.05 < 0.1 the model agrees: terminated");
	s.p_buy = NAN;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "P(buy) unknown, P(alive) 0.2 >= terminate_p_alive 0.1: not terminated");
	s.p_alive = 0.05;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_TERMINATED, STAGE_REASON_LONG_INACTIVE),
	   "P(buy) unknown, P(alive) 0.05 < 0.1: terminated");

	/* a yearly buyer is judged by their own clock: 4 x 365 = 1460 */
	s = signals(yearly, 3, 4730 + 400);
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "yearly buyer 400 days out: not terminated (limit 4 x 365)");
	s = signals(yearly, 3, 4730 + 1500);
	p = infer(CRM_STAGE_DECLINE, &s);
	stage_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_STAGE_TERMINATED, STAGE_REASON_LONG_INACTIVE) &&
	   close_to(p.detail.limit, 1460, 1e-12) &&
	   strcmp(buf, "days since last purchase 1500 > 4 x rhythm 365") == 0,
	   "yearly buyer 1500 days out: terminated (1500 > 4 x 365)");
}

static void
test_reacquired(void)
{
	SummaryDay	d[] = {{5000, 1, CU(100)}, {5290, 1, CU(20)}, {5350, 1, CU(60)}};
	StageSignals s;
	StageProposal p;

	/* terminated on 5300; bought on 5350, within the recent window of 5360 */
	s = signals(d, 3, 5360);
	s.stage_since = 5300;
	p = infer(CRM_STAGE_TERMINATED, &s);
	ok(proposes(&p, CRM_STAGE_EXPLORATION, STAGE_REASON_REACQUIRED),
	   "purchase after termination in the recent window: terminated -> exploration");

	/* as of 5310 the last purchase (5290) is before the termination */
	s = signals(d, 3, 5310);
	s.stage_since = 5300;
	p = infer_unheld(CRM_STAGE_TERMINATED, &s);
	ok(proposes(&p, CRM_STAGE_TERMINATED, STAGE_REASON_NO_CHANGE),
	   "only purchases before termination: stays terminated");

	/* termination date unknown: any purchase in the recent window */
	s = signals(d, 3, 5310);
	p = infer(CRM_STAGE_TERMINATED, &s);
	ok(proposes(&p, CRM_STAGE_EXPLORATION, STAGE_REASON_REACQUIRED),
	   "termination date unknown: a purchase in the recent window re-acquires");

	/* last purchase 5350, as of 5450: outside (5360, 5450] */
	s = signals(d, 3, 5450);
	p = infer(CRM_STAGE_TERMINATED, &s);
	ok(proposes(&p, CRM_STAGE_TERMINATED, STAGE_REASON_NO_CHANGE),
	   "no purchase in the recent window: stays terminated");

	p.stage = CRM_STAGE_STABLE;
	ok(infer((CrmStage) 9, &s).reason == STAGE_REASON_NO_CHANGE &&
	   stage_infer((CrmStage) 9, &s, NULL, &p) == -1,
	   "an invalid current stage gives -1");
}

/*
 * Random signals: each field drawn from typical values, with a chance of
 * unknown (NaN, -1) and of extremes.
 */
static double
random_double(double scale)
{
	switch (rng_int(0, 9))
	{
		case 0:
			return NAN;
		case 1:
			return 0.0;
		case 2:
			return -scale * rng_unit();
		case 3:
			return rng_int(0, 1) ? INFINITY : 1e300;
		default:
			return scale * rng_unit();
	}
}

static crm_money
random_money(void)
{
	switch (rng_int(0, 9))
	{
		case 0:
			return 0;
		case 1:
			return -CU(rng_int(1, 1000));
		case 2:
			return rng_int(0, 1) ? INT64_MAX : INT64_MIN;
		default:
			return CU(rng_int(0, 2000));
	}
}

static void
random_signals(StageSignals *s)
{
	stage_signals_init(s);
	s->as_of = rng_int(-10000, 10000);
	s->window_days = rng_int(0, 10) == 0 ? rng_int(-5, 0) : rng_int(1, 365);
	s->purchase_days = rng_int(0, 10) == 0 ? rng_int(-3, 0) : rng_int(0, 12);
	s->repeat_purchase_days = s->purchase_days > 0 ? s->purchase_days - 1 : 0;
	s->purchases = s->purchase_days + rng_int(0, 5);
	s->last_purchase = s->as_of - rng_int(-5, 2000);
	s->first_purchase = s->last_purchase - rng_int(0, 3000);
	s->days_since_last = rng_int(0, 9) == 0 ? rng_int(-2, -1) :
		rng_int(0, 9) == 0 ? INT32_MAX : rng_int(0, 2000);
	s->rhythm = random_double(200.0);
	s->recent_spend = random_money();
	s->previous_spend = random_money();
	s->recent_purchase_days = rng_int(-1, 6);
	s->previous_purchase_days = rng_int(-1, 6);
	s->recent_purchases = rng_int(-1, 10);
	s->previous_purchases = rng_int(-1, 10);
	s->recent_complaints = rng_int(-2, 6);
	s->previous_complaints = rng_int(-2, 6);
	s->recent_cost = random_double(500.0);
	s->previous_cost = random_double(500.0);
	/* half the time no model; p_buy alone (model knows the customer only by P(buy)) too */
	s->p_alive = rng_int(0, 1) ? random_double(1.0) : NAN;
	s->p_buy = rng_int(0, 2) ? random_double(1.0) : NAN;
	s->redevelopment_cost = random_double(1000.0);
	s->long_term_value = random_double(1000.0);
	s->stage_since = rng_int(0, 3) == 0 ? STAGE_SINCE_UNKNOWN :
		s->as_of - rng_int(-10, 2000);
}

static void
random_thresholds(StageThresholds *t)
{
	stage_default_thresholds(t);
	if (rng_int(0, 4) == 0)
	{
		/* garbage: the proposal must stay legal even so */
		t->window_days = rng_int(-10, 400);
		t->formation_min_purchase_days = rng_int(-2, 6);
		t->stable_min_purchase_days = rng_int(-2, 8);
		t->stable_spend_floor = random_double(2.0);
		t->stable_rhythm_factor = random_double(3.0);
		t->decline_rhythm_factor = random_double(3.0);
		t->decline_floor_days = rng_int(-10, 100);
		t->decline_spend_ratio = random_double(1.5);
		t->decline_min_complaints = rng_int(-1, 5);
		t->decline_cost_ratio = random_double(2.0);
		t->winback_rhythm_factor = random_double(3.0);
		t->terminate_rhythm_factor = random_double(8.0);
		t->terminate_floor_days = rng_int(-10, 400);
		t->terminate_p_alive = random_double(1.0);
		t->min_stage_days = rng_int(-10, 100);
		t->stable_p_alive = random_double(1.0);
		t->decline_p_alive = random_double(1.0);
		t->terminate_p_buy = random_double(1.0);
		t->terminate_horizon_days = rng_int(-10, 400);
	}
	else
	{
		/* plausible variations of the defaults */
		t->stable_spend_floor = 0.5 + 0.5 * rng_unit();
		t->decline_spend_ratio = 0.5 + 0.4 * rng_unit();
		t->decline_rhythm_factor = 1.0 + rng_unit();
		t->terminate_rhythm_factor = 2.0 + 4.0 * rng_unit();
		t->decline_p_alive = 0.1 + 0.3 * rng_unit();
		t->stable_p_alive = t->decline_p_alive + 0.3 * rng_unit();
		t->min_stage_days = rng_int(0, 3) == 0 ? 0 : rng_int(1, 60);
	}
}

static void
test_property_legal(void)
{
	int			iter;
	int			illegal = 0;
	int			inconsistent = 0;
	int			moved[CRM_NSTAGES][CRM_NSTAGES];
	int			reasons[STAGE_NREASONS];
	int			all_moves_seen = 1;
	int			all_reasons_seen = 1;
	int			from;
	int			to;
	int			i;

	memset(moved, 0, sizeof(moved));
	memset(reasons, 0, sizeof(reasons));
	rng_state = UINT64_C(0x0123456789abcdef);
	for (iter = 0; iter < 100000; iter++)
	{
		StageSignals s;
		StageThresholds t;

		random_signals(&s);
		random_thresholds(&t);
		for (from = 0; from < CRM_NSTAGES; from++)
		{
			StageProposal p;
			char		buf[STAGE_PROPOSAL_MAXLEN];
			int			r = stage_infer((CrmStage) from, &s, &t, &p);
			int			len;

			if (r != (int) p.stage || !stage_transition_legal(from, r))
			{
				illegal++;
				continue;
			}
			len = stage_proposal_format(&p, buf, sizeof(buf));
			if ((p.reason == STAGE_REASON_NO_CHANGE || p.reason == STAGE_REASON_HELD) != (r == from) ||
				stage_reason_code(p.reason) == NULL ||
				len <= 0 || len >= STAGE_PROPOSAL_MAXLEN)
				inconsistent++;
			moved[from][r]++;
			reasons[p.reason]++;
		}
	}
	ok(illegal == 0,
	   "600000 proposals (100000 random signal sets x 6 stages): every one legal");
	ok(inconsistent == 0,
	   "no_change or held exactly when the stage stays; every reason has a code and a short explanation");

	/* the sweep is not vacuous: every legal move and every reason occurs */
	for (from = 0; from < CRM_NSTAGES; from++)
		for (to = 0; to < CRM_NSTAGES; to++)
			if (stage_transition_legal(from, to) && moved[from][to] == 0)
				all_moves_seen = 0;
	for (i = 0; i < STAGE_NREASONS; i++)
		if (reasons[i] == 0)
			all_reasons_seen = 0;
	ok(all_moves_seen && all_reasons_seen,
	   "the sweep proposes every legal transition and uses every reason");
}

/*
 * The rules with a model: P(alive) decides formation, stable, decline and
 * win-back, with hysteresis between decline_p_alive (0.3) and
 * stable_p_alive (0.5); P(buy) confirms termination.
 */
static void
test_model_rules(void)
{
	StageSignals s = signals(monthly_template, NDAYS(monthly_template), 5185);
	StageSignals one = signals(monthly_template, 1, 5185);
	StageProposal p;
	char		buf[STAGE_PROPOSAL_MAXLEN];

	s.p_alive = 0.9;
	p = infer(CRM_STAGE_EXPLORATION, &s);
	ok(proposes(&p, CRM_STAGE_FORMATION, STAGE_REASON_REPEAT_PURCHASE) && p.by_model,
	   "model: repeat buyer with P(alive) 0.9 >= 0.3: exploration -> formation (repeat_purchase)");
	one.p_alive = 0.9;
	p = infer(CRM_STAGE_EXPLORATION, &one);
	ok(proposes(&p, CRM_STAGE_EXPLORATION, STAGE_REASON_NO_CHANGE),
	   "model: one purchase day is no repeat, however alive");
	p = infer(CRM_STAGE_FORMATION, &s);
	stage_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_STEADY_BUYER) &&
	   strcmp(buf, "enough purchase days, P(alive) 0.9 >= 0.5") == 0,
	   "model: 7 purchase days, P(alive) 0.9 >= 0.5: formation -> stable (steady_buyer), said so");
	s.p_alive = 0.4;
	p = infer(CRM_STAGE_FORMATION, &s);
	ok(proposes(&p, CRM_STAGE_FORMATION, STAGE_REASON_NO_CHANGE),
	   "model: P(alive) 0.4, between 0.3 and 0.5: formation neither stable nor declining");
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "hysteresis: a stable customer at P(alive) 0.4 stays stable");
	s.p_alive = 0.25;
	p = infer(CRM_STAGE_STABLE, &s);
	stage_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_P_ALIVE_FALLING) &&
	   strcmp(buf, "P(alive) 0.25 < 0.3") == 0,
	   "model: P(alive) 0.25 < 0.3: stable -> decline (p_alive_falling)");

	/* won back: bought after stage_since 5140 (5150, 5180), P(alive) high */
	s.stage_since = 5140;
	s.p_alive = 0.45;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "hysteresis: bought again but P(alive) 0.45 < 0.5: stays decline");
	s.p_alive = 0.7;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_WON_BACK) && p.by_model,
	   "model: bought again, P(alive) 0.7 >= 0.5: decline -> stable (won_back)");
	s.recent_complaints = 3;
	s.previous_complaints = 0;
	p = infer(CRM_STAGE_DECLINE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_NO_CHANGE),
	   "but not while complaints are rising (3 > 0, >= 2)");

	/* the spend and rhythm rules do not speak when the model does */
	s = signals(monthly_template, NDAYS(monthly_template), 5300);	/* 120 days out */
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_DECLINE, STAGE_REASON_INACTIVE_BEYOND_RHYTHM),
	   "no model: 120 days > 1.5 x rhythm 30: stable -> decline (inactive_beyond_rhythm)");
	s.p_alive = 0.6;
	p = infer(CRM_STAGE_STABLE, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_NO_CHANGE),
	   "with a model saying P(alive) 0.6 the same customer stays stable");
}

/*
 * Holding a stage: min_stage_days (28) between two moves.
 */
static void
test_held(void)
{
	StageSignals s = signals(monthly_template, NDAYS(monthly_template), 5185);
	StageProposal p;
	char		buf[STAGE_PROPOSAL_MAXLEN];

	s.stage_since = 5170;
	p = infer(CRM_STAGE_FORMATION, &s);
	stage_proposal_format(&p, buf, sizeof(buf));
	ok(proposes(&p, CRM_STAGE_FORMATION, STAGE_REASON_HELD) &&
	   strcmp(buf, "in the stage 15 days < 28") == 0,
	   "formation entered 15 days ago: held, though stable would hold");
	s.stage_since = 5157;
	p = infer(CRM_STAGE_FORMATION, &s);
	ok(proposes(&p, CRM_STAGE_STABLE, STAGE_REASON_SUSTAINED_PEAK),
	   "entered 28 days ago: it moves");
	s.stage_since = 5185;
	p = infer(CRM_STAGE_PROSPECT, &s);
	ok(proposes(&p, CRM_STAGE_EXPLORATION, STAGE_REASON_FIRST_PURCHASE),
	   "a prospect is never held: the first purchase counts at once");
}

/* the signals of monthly_template as of a day, for the walk */
static bool
template_signals(int32_t day, void *arg, StageSignals *out)
{
	const double *p_alive = arg;

	*out = signals(monthly_template, NDAYS(monthly_template), day);
	if (p_alive)
		out->p_alive = *p_alive;
	return true;
}

static bool
failing_signals(int32_t day, void *arg, StageSignals *out)
{
	(void) arg;
	(void) out;
	return day < 0;
}

/*
 * The walk: month ends between "from" and as_of, then as_of, one move at
 * most at each; the same as calling stage_infer() at those days by hand.
 */
static void
test_walk(void)
{
	StageThresholds t;
	StageMove	moves[64];
	StageProposal last;
	StageSignals s;
	CrmStage	stage = CRM_STAGE_PROSPECT;
	int32_t		since = STAGE_SINCE_UNKNOWN;
	/* 2013-09-09 (day 5000) .. ; month ends 2013-09-30 = 5021, 10-31 = 5052, 11-30 = 5082, 12-31 = 5113 */
	int32_t		hand[] = {5021, 5052, 5082, 5113, 5144, 5172, 5203};
	int			n,
				i,
				same = 1,
				nmanual = 0;

	stage_default_thresholds(&t);
	ok(month_end(5000) == 5021 && month_end(5021) == 5021 && month_end(5022) == 5052 &&
	   month_end(civil_days(2024, 2, 10)) == civil_days(2024, 2, 29) &&
	   month_end(civil_days(2023, 2, 10)) == civil_days(2023, 2, 28) &&
	   month_end(civil_days(1999, 12, 31)) == civil_days(1999, 12, 31) && civil_days(2000, 1, 1) == 0,
	   "month ends: 30, 31, leap and common February, across the year 2000");
	ok(stage_walk_checkpoints(4999, 5210) == 8 && stage_walk_checkpoints(5020, 5021) == 1 &&
	   stage_walk_checkpoints(5021, 5021) == 1 && stage_walk_checkpoints(5021, 5052) == 1 &&
	   stage_walk_checkpoints(5021, 5053) == 2 && stage_walk_checkpoints(5100, 5021) == 1,
	   "checkpoints: the month ends strictly between from and as_of, then as_of; as_of alone when from is not before it");

	n = stage_walk(CRM_STAGE_PROSPECT, STAGE_SINCE_UNKNOWN, 4999, 5210, &t,
				   template_signals, NULL, moves, &last);
	/* the same by hand: stage_infer() at 5021, 5052, ..., 5203, then 5210 */
	for (i = 0; i <= NDAYS(hand); i++)
	{
		StageProposal p;

		s = signals(monthly_template, NDAYS(monthly_template), i < NDAYS(hand) ? hand[i] : 5210);
		s.stage_since = since;
		stage_infer(stage, &s, &t, &p);
		if (p.stage != stage)
		{
			same &= nmanual < n && moves[nmanual].day == s.as_of && moves[nmanual].from == stage &&
				moves[nmanual].proposal.stage == p.stage && moves[nmanual].proposal.reason == p.reason;
			nmanual++;
			stage = p.stage;
			since = s.as_of;
		}
	}
	ok(n >= 3 && n == nmanual && same && last.stage == stage,
	   "walk from before the first purchase equals stage_infer() at each month end by hand");
	ok(n >= 3 && moves[0].day == 5021 && moves[0].proposal.stage == CRM_STAGE_EXPLORATION &&
	   moves[1].proposal.stage == CRM_STAGE_FORMATION && moves[2].proposal.stage == CRM_STAGE_STABLE &&
	   moves[1].day > moves[0].day && moves[2].day > moves[1].day,
	   "a rich history climbs prospect -> exploration -> formation -> stable, one month end at a time");

	n = stage_walk(stage, 5210, 5210, 5210, &t, template_signals, NULL, moves, &last);
	ok(n == 0 && last.stage == stage && last.reason == STAGE_REASON_HELD,
	   "walking again to the same day, just moved: held there, no second move");
	n = stage_walk(CRM_STAGE_PROSPECT, STAGE_SINCE_UNKNOWN, 5210, 5210, &t, template_signals, NULL, moves, &last);
	ok(n == 1 && moves[0].day == 5210 && last.stage == CRM_STAGE_EXPLORATION,
	   "evaluated on the same day before the purchases arrived: as_of is evaluated again, one move");
	n = stage_walk(CRM_STAGE_FORMATION, 5200, 5205, 5210, &t, template_signals, NULL, moves, &last);
	ok(n == 0 && last.stage == CRM_STAGE_FORMATION && last.reason == STAGE_REASON_HELD,
	   "a customer evaluated 5 days ago, in its stage since 10: held");
	ok(stage_walk(CRM_STAGE_PROSPECT, STAGE_SINCE_UNKNOWN, 4999, 5210, &t,
				  failing_signals, NULL, moves, &last) == -1 &&
	   stage_walk((CrmStage) 9, STAGE_SINCE_UNKNOWN, 4999, 5210, &t,
				  template_signals, NULL, moves, &last) == -1,
	   "a failing signals callback or an invalid stage: -1");
}

int
main(void)
{
	test_transitions();
	test_names();
	test_thresholds();
	test_signals();
	test_signals_oracle();
	test_early_stages();
	test_prospect_no_jump();
	test_decline();
	test_decline_exits();
	test_reacquired();
	test_model_rules();
	test_held();
	test_walk();
	test_property_legal();
	return tap_done();
}
