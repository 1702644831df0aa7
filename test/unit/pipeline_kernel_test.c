/*
 * pipeline_kernel_test.c
 *	  Unit tests of src/pipeline_kernel.c, without a server.  TAP output.
 *
 * The expected values are written out here: the legal moves as a table,
 * absorbing chains solved by hand in fractions, counts of small histories
 * worked through spell by spell, and simulations of a pipeline with known
 * probabilities (its own simulator, not the kernel's code) whose truth is
 * the hand-solved 5-stage chain.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the kernel's static functions are tested too */
#include "pipeline_kernel.c"
#include "tap.h"

enum
{
	L = PIPE_LEAD, Q = PIPE_QUALIFIED, P = PIPE_PRESENTATION, N = PIPE_NEGOTIATION,
	B = PIPE_BIDDING, W = PIPE_WON, X = PIPE_LOST
};

static PipelineFit fit;			/* large: not on the stack */

/* ---------------------------------------------------------------------
 * Stages and moves
 * ---------------------------------------------------------------------
 */
static void
test_moves(void)
{
	/* legal targets of each stage (itself included), as stage digits */
	static const char *const legal_to[PIPE_NSTAGES] = {
		"016",					/* lead -> qualified | lost */
		"0126",					/* qualified -> lead | presentation | lost */
		"1236",					/* presentation -> qualified | negotiation | lost */
		"2346",					/* negotiation -> presentation | bidding | lost */
		"3456",					/* bidding -> negotiation | won | lost */
		"5",					/* won: final */
		"6"						/* lost: final */
	};
	int			from,
				to,
				bad = 0,
				nlegal = 0,
				reopen_bad = 0;

	for (from = 0; from < PIPE_NSTAGES; from++)
		for (to = 0; to < PIPE_NSTAGES; to++)
		{
			bool		expect = strchr(legal_to[from], '0' + to) != NULL;

			bad += pipeline_move_legal(from, to) != expect;
			nlegal += expect && from != to;
			reopen_bad += pipeline_reopen_legal(from, to) != (from >= W && to < W);
		}
	ok(bad == 0 && nlegal == 14, "the legal moves are exactly the 14 of the table, plus staying");
	ok(reopen_bad == 0, "a reopen goes from won or lost to an open stage, nothing else");
	ok(!pipeline_move_legal(-1, 0) && !pipeline_move_legal(0, 7) && !pipeline_reopen_legal(W, 7),
	   "stage numbers out of range are never legal");
	ok(strcmp(pipeline_stage_name(N), "negotiation") == 0 && pipeline_stage_from_name("bidding") == B &&
	   pipeline_stage_from_name("closed") == -1 && pipeline_stage_name(7) == NULL,
	   "stage names both ways");
}

static void
test_bins(void)
{
	ok(pipeline_bin(0) == 0 && pipeline_bin(3.49) == 0 && pipeline_bin(3.5) == 1 &&
	   pipeline_bin(7) == 1 && pipeline_bin(10.49) == 1 && pipeline_bin(10.5) == 2,
	   "stays are rounded to the nearest week");
	ok(pipeline_bin(51 * 7) == 51 && pipeline_bin(52 * 7) == 52 && pipeline_bin(1e9) == 52 &&
	   pipeline_bin(-1) == 0, "the last bin holds 52 weeks and more");
}

/* ---------------------------------------------------------------------
 * Absorbing chains solved by hand
 * ---------------------------------------------------------------------
 */

/*
 * Three transient stages a, b, c and won, lost:
 *	a -> b 1/2, lost 1/2
 *	b -> a 1/4, c 1/2, lost 1/4
 *	c -> b 1/5, won 3/5, lost 1/5
 * Win: x_a = x_b / 2, x_b = x_a / 4 + x_c / 2, x_c = x_b / 5 + 3/5.
 * The second with the first: (7/8) x_b = x_c / 2, so x_c = (7/4) x_b;
 * into the third: (7/4 - 1/5) x_b = 3/5, x_b = (3/5)(20/31) = 12/31;
 * x_a = 6/31, x_c = 21/31.  Every stage ends somewhere: lost = 1 - won.
 */
static void
test_absorb_3(void)
{
	double		q[9] = {0, 0.5, 0, 0.25, 0, 0.5, 0, 0.2, 0};
	double		r[6] = {0, 0.5, 0, 0.25, 0.6, 0.2};
	double		b[6];

	ok(pipeline_absorb(3, q, r, 2, b) == PIPE_OK &&
	   close_to(b[0], 6.0 / 31, 1e-14) && close_to(b[2], 12.0 / 31, 1e-14) && close_to(b[4], 21.0 / 31, 1e-14),
	   "3 stages: won from a, b, c = 6/31, 12/31, 21/31");
	ok(close_to(b[1], 25.0 / 31, 1e-14) && close_to(b[3], 19.0 / 31, 1e-14) && close_to(b[5], 10.0 / 31, 1e-14),
	   "3 stages: lost = 25/31, 19/31, 10/31");
}

/*
 * The default pipeline with the probabilities of test/gen/crm_gen.c:
 *	lead		 -> qualified 0.70, lost 0.30
 *	qualified	 -> presentation 0.75, lead 0.05, lost 0.20
 *	presentation -> negotiation 0.80, qualified 0.05, lost 0.15
 *	negotiation  -> bidding 0.80, presentation 0.05, lost 0.15
 *	bidding		 -> won 0.60, negotiation 0.10, lost 0.30
 * Win, x0 (lead) .. x4 (bidding), eliminated from the top:
 *	x4 = 3/5 + x3 / 10
 *	x3 = 4/5 x4 + 1/20 x2			= 12/23 + 5/92 x2
 *	x2 = 4/5 x3 + 1/20 x1			= 24/55 + 23/440 x1
 *	x1 = 3/4 x2 + 1/20 x0			= 576/1691 + 88/1691 x0
 *	x0 = 7/10 x1					= 2016/8147
 * and back: x1 = 2880/8147, x2 = 18528/40735, x3 = 4452/8147,
 * x4 = 26667/40735.
 */
static const double truth_win[PIPE_NOPEN] = {
	2016.0 / 8147, 2880.0 / 8147, 18528.0 / 40735, 4452.0 / 8147, 26667.0 / 40735
};
static const double truth_move[PIPE_NOPEN][PIPE_NSTAGES] = {
	{0, 0.70, 0, 0, 0, 0, 0.30},
	{0.05, 0, 0.75, 0, 0, 0, 0.20},
	{0, 0.05, 0, 0.80, 0, 0, 0.15},
	{0, 0, 0.05, 0, 0.80, 0, 0.15},
	{0, 0, 0, 0.10, 0, 0.60, 0.30}
};

static void
test_absorb_5(void)
{
	double		q[25],
				r[10],
				b[10];
	int			i,
				j,
				good = 0;

	for (i = 0; i < 5; i++)
	{
		for (j = 0; j < 5; j++)
			q[i * 5 + j] = truth_move[i][j];
		r[i * 2] = truth_move[i][W];
		r[i * 2 + 1] = truth_move[i][X];
	}
	ok(pipeline_absorb(5, q, r, 2, b) == PIPE_OK, "5 stages: solved");
	for (i = 0; i < 5; i++)
		good += close_to(b[i * 2], truth_win[i], 1e-14) && close_to(b[i * 2 + 1], 1 - truth_win[i], 1e-14);
	ok(good == 5, "5 stages: won = 2016/8147, 2880/8147, 18528/40735, 4452/8147, 26667/40735, lost the rest");

	/* two stages that only ever move to each other never close */
	{
		double		q2[4] = {0, 1, 1, 0};
		double		r2[4] = {0, 0, 0, 0};

		ok(pipeline_absorb(2, q2, r2, 2, b) == PIPE_SINGULAR, "a closed loop is reported, not divided by zero");
	}
}

/* ---------------------------------------------------------------------
 * Counting spells
 * ---------------------------------------------------------------------
 */
/* the sum of |v| over n counts: a cancelled +1/-1 leaves nothing */
static int64_t
total(const int64_t *v, size_t n)
{
	int64_t		sum = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		sum += v[i] < 0 ? -v[i] : v[i];
	return sum;
}

#define total_moves(c)	total(&(c)->moves[0][0][0], sizeof((c)->moves) / sizeof(int64_t))
#define total_open(c)	total(&(c)->open[0][0], sizeof((c)->open) / sizeof(int64_t))

/* a row at day "at", ending a spell begun at day "since", cut-off at day "cut" */
static PipelineStatus
row(PipelineCounts *c, int from, int to, double since, double at, double cut)
{
	return pipeline_count_row(c, from, to, cut - since, cut - at);
}

static void
test_counts(void)
{
	static PipelineCounts c,
				a,
				b;

	/*
	 * Opportunity 1: created at day 0 in lead, qualified at day 10, its
	 * amount changed at day 12, lost at day 30.  Opportunity 2: created at
	 * day 5, still in lead.  As of day 40: lead -> qualified after 10
	 * days (week 1), qualified -> lost after 20 days (week 3), one lead
	 * spell open for 35 days (week 5).
	 */
	pipeline_counts_init(&c);
	ok(row(&c, -1, L, 0, 0, 40) == PIPE_OK && row(&c, L, Q, 0, 10, 40) == PIPE_OK &&
	   row(&c, Q, Q, 10, 12, 40) == PIPE_OK && row(&c, Q, X, 10, 30, 40) == PIPE_OK &&
	   row(&c, -1, L, 0, 5, 40) == PIPE_OK, "a small history counts");
	ok(c.moves[L][Q][1] == 1 && c.moves[Q][X][3] == 1 && total_moves(&c) == 2,
	   "complete spells: lead -> qualified in week 1, qualified -> lost in week 3, nothing else");
	ok(c.open[L][5] == 1 && total_open(&c) == 1,
	   "open spells: the one lead spell 35 days old; opportunity 1's cancel out");

	/* as of day 20 the loss has not happened: qualified is open, 10 days old */
	pipeline_counts_init(&c);
	row(&c, -1, L, 0, 0, 20);
	row(&c, L, Q, 0, 10, 20);
	row(&c, Q, Q, 10, 12, 20);
	row(&c, Q, X, 10, 30, 20);
	row(&c, -1, L, 0, 5, 20);
	ok(c.moves[L][Q][1] == 1 && total_moves(&c) == 1 && c.open[Q][1] == 1 && c.open[L][2] == 1 &&
	   total_open(&c) == 2, "as of day 20: the qualified spell is open (censored), not lost");

	/* a row ending before its spell began: refused, nothing counted */
	pipeline_counts_init(&c);
	ok(row(&c, L, Q, 10, 5, 40) == PIPE_STAY_NEGATIVE && total_moves(&c) == 0 && total_open(&c) == 0,
	   "a stay that ends before it begins is refused and counts nothing");
	ok(row(&c, 7, Q, 0, 5, 40) == PIPE_BAD_STAGE && row(&c, L, -1, 0, 5, 40) == PIPE_BAD_STAGE,
	   "stage numbers out of range are refused");
	/* closed -> open (a reopen) begins a spell, ends none */
	ok(row(&c, W, Q, 0, 5, 40) == PIPE_OK && c.open[Q][5] == 1 && total_moves(&c) == 0,
	   "a reopen begins a spell in the stage reopened to");

	/* merge of two halves = all rows */
	pipeline_counts_init(&a);
	pipeline_counts_init(&b);
	pipeline_counts_init(&c);
	row(&a, -1, L, 0, 0, 40);
	row(&b, L, Q, 0, 10, 40);
	row(&a, Q, X, 10, 30, 40);
	row(&b, -1, L, 0, 5, 40);
	pipeline_counts_merge(&a, &b);
	row(&c, -1, L, 0, 0, 40);
	row(&c, L, Q, 0, 10, 40);
	row(&c, Q, X, 10, 30, 40);
	row(&c, -1, L, 0, 5, 40);
	ok(memcmp(&a, &c, sizeof(c)) == 0, "counts of two halves merge into the counts of the whole");
}

/* ---------------------------------------------------------------------
 * Fits of counts worked out by hand
 * ---------------------------------------------------------------------
 */
static void
test_fit_exact(void)
{
	static PipelineCounts c;
	int			i,
				j,
				good;

	/*
	 * Complete spells only (nothing censored), in the exact proportions of
	 * the 5-stage chain above: with no prior the fit is that chain.
	 */
	pipeline_counts_init(&c);
	for (i = 0; i < PIPE_NOPEN; i++)
		for (j = 0; j < PIPE_NSTAGES; j++)
			c.moves[i][j][2 + i] = (int64_t) (truth_move[i][j] * 400 + 0.5);
	ok(pipeline_fit(&c, 0, &fit) == PIPE_OK, "fit without censoring");
	good = 0;
	for (i = 0; i < PIPE_NOPEN; i++)
		good += close_to(fit.win[i], truth_win[i], 1e-12) && close_to(fit.lost[i], 1 - truth_win[i], 1e-12);
	ok(good == 5, "with prior 0 and no open spell, the learned win probabilities are the hand-solved chain's");
	ok(close_to(fit.move[Q][P], 0.75, 1e-12) && close_to(fit.move[B][W], 0.60, 1e-12) && fit.departures[L] == 400,
	   "and the destination probabilities the observed shares");
	/* every stay lasts exactly 2 + i weeks: the quantiles sit in that bin */
	ok(close_to(pipeline_stay_quantile(&fit, L, 0.5), 14.0, 1e-12) &&
	   close_to(pipeline_stay_quantile(&fit, B, 0.5), 42.0, 1e-12) &&
	   close_to(pipeline_stay_quantile(&fit, L, 0.25), 12.25, 1e-12),
	   "stay quantiles interpolate within the bin (lead: every stay in week 2, [10.5, 17.5) days)");

	/*
	 * Prior only (no history at all): every legal move equally likely.  Win
	 * from the top: x4 = 1/3 + x3/3, x3 = x2/3 + x4/3, x2 = x1/3 + x3/3,
	 * x1 = x0/3 + x2/3, x0 = x1/2, which gives the Fibonacci fractions
	 * 1/89, 2/89, 5/89, 13/89, 34/89 (x_{k+1} = 3 x_k - x_{k-1}).
	 */
	pipeline_counts_init(&c);
	ok(pipeline_fit(&c, 1, &fit) == PIPE_OK && close_to(fit.move[L][Q], 0.5, 1e-12) &&
	   close_to(fit.move[Q][L], 1.0 / 3, 1e-12) && close_to(fit.move[B][W], 1.0 / 3, 1e-12) &&
	   fit.move[L][W] == 0, "with no history, the prior gives each legal move the same chance");
	ok(close_to(fit.win[L], 1.0 / 89, 1e-12) && close_to(fit.win[Q], 2.0 / 89, 1e-12) &&
	   close_to(fit.win[P], 5.0 / 89, 1e-12) && close_to(fit.win[N], 13.0 / 89, 1e-12) &&
	   close_to(fit.win[B], 34.0 / 89, 1e-12), "and wins of 1/89, 2/89, 5/89, 13/89, 34/89");
	ok(isnan(pipeline_stay_quantile(&fit, L, 0.5)), "with no stay seen, no stay quantile");
	ok(pipeline_fit(&c, 0, &fit) == PIPE_OK && isnan(fit.win[L]) && isnan(fit.win[B]),
	   "with no history and no prior there is no answer (NaN), not a made-up one");

	/* shrinkage: 9 moves lead -> qualified, prior 1: (9 + 1/2) / 10 */
	c.moves[L][Q][1] = 9;
	ok(pipeline_fit(&c, 1, &fit) == PIPE_OK && close_to(fit.move[L][Q], 0.95, 1e-12) &&
	   close_to(fit.move[L][X], 0.05, 1e-12), "9 moves and the prior: P(lead -> qualified) = 9.5 / 10");
	/* prior 0: lead answered, but it leads to qualified, which has none */
	ok(pipeline_fit(&c, 0, &fit) == PIPE_OK && close_to(fit.move[L][Q], 1, 1e-12) && isnan(fit.win[L]),
	   "with prior 0, a stage whose chain passes through a stage without data has no answer");

	/*
	 * Time to close, deterministic stays: lead -> qualified after 1 week,
	 * qualified -> presentation after 2, presentation -> negotiation after
	 * 1, negotiation -> bidding after 1, bidding -> won after 3 (60%) or
	 * lost within half a week (40%): won in week 1 + 2 + 1 + 1 + 3 = 8
	 * from lead; lost after 5 weeks and a stay of bin 0, whose mean of 1.75
	 * days puts 3/4 of it in week 5 and 1/4 in week 6.
	 */
	pipeline_counts_init(&c);
	c.moves[L][Q][1] = 10;
	c.moves[Q][P][2] = 10;
	c.moves[P][N][1] = 10;
	c.moves[N][B][1] = 10;
	c.moves[B][W][3] = 6;
	c.moves[B][X][0] = 4;
	ok(pipeline_fit(&c, 0, &fit) == PIPE_OK && close_to(fit.win[L], 0.6, 1e-12) &&
	   close_to(fit.time_won[L][8], 0.6, 1e-12) && close_to(fit.time_lost[L][5], 0.3, 1e-12) &&
	   close_to(fit.time_lost[L][6], 0.1, 1e-12),
	   "time to close: from lead, won in week 8 with 0.6, lost in weeks 5 and 6 with 0.3 and 0.1");
	{
		double		s = 0,
					weeks[PIPE_HORIZON];
		int			t;

		for (t = 0; t < PIPE_HORIZON; t++)
			s += fit.time_won[L][t] + fit.time_lost[L][t];
		/*
		 * qualified stays are all in bin 2, [10.5, 17.5) days: 14 days in,
		 * what is left of the stay is 0 to 3.5 days, 1.75 on average (week
		 * 0.25), then 1 + 1 + 3 weeks: won in week 5 (3/4) or 6 (1/4)
		 */
		pipeline_win_weeks(&fit, Q, 14, weeks);
		ok(close_to(s, 1, 1e-12) && close_to(weeks[5], 0.45, 1e-12) && close_to(weeks[6], 0.15, 1e-12),
		   "the times add up to 1; a qualified opportunity 14 days in is won 5 or 6 weeks from now");
		ok(close_to(pipeline_win_at(&fit, Q, 14), 0.6, 1e-12) && close_to(pipeline_win_at(&fit, Q, 30), 0.6, 1e-12),
		   "and its win probability stays 0.6, past every stay seen too (the fresh one stands)");
	}
}

/* ---------------------------------------------------------------------
 * Simulation with known probabilities and censoring
 * ---------------------------------------------------------------------
 */
static uint64_t sim_state;

/* splitmix64 */
static double
sim_uniform(void)
{
	uint64_t	z = (sim_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return ((z >> 11) + 0.5) / 9007199254740992.0;
}

/* mean stay in days before a move from i to j: losses come early */
static double
sim_mean_stay(int from, int to)
{
	static const double forward[PIPE_NOPEN] = {14, 21, 28, 21, 30};
	static const double lost[PIPE_NOPEN] = {7, 12, 15, 12, 20};

	if (to == X)
		return lost[from];
	if (to < from)
		return 14;
	return forward[from];
}

#define SIM_MAX_SPELLS 300000

typedef struct SimResult
{
	double		naive[PIPE_NOPEN];	/* won / (won + lost) of the closed that reached the stage */
	double		share_open;
	double		naive_chain[PIPE_NOPEN];	/* moves / departures, time ignored */
	double		stay_p90_true[PIPE_NOPEN];
	double		stay_p90_completed[PIPE_NOPEN];
} SimResult;

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static double
quantile_of(double *v, int n, double q)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n > 0 ? v[(int) (q * (n - 1))] : NAN;
}

/*
 * n opportunities created uniformly over the "window" days before "cut",
 * but a share "burst" of them over the last "burst_days" days (a campaign),
 * each walked through truth_move with gamma(2) stays of sim_mean_stay();
 * every row counted as of "cut".
 */
static void
simulate(int n, double window, double burst, double burst_days, double cut,
		 PipelineCounts *c, SimResult *res)
{
	static double all_stays[PIPE_NOPEN][SIM_MAX_SPELLS];
	static double done_stays[PIPE_NOPEN][SIM_MAX_SPELLS];
	int			nall[PIPE_NOPEN] = {0},
				ndone[PIPE_NOPEN] = {0};
	double		won[PIPE_NOPEN] = {0},
				closed[PIPE_NOPEN] = {0};
	double		moves[PIPE_NOPEN][PIPE_NSTAGES];
	int			open = 0,
				k,
				i,
				j;

	memset(moves, 0, sizeof(moves));
	pipeline_counts_init(c);
	for (k = 0; k < n; k++)
	{
		double		since = cut - (sim_uniform() < burst ? burst_days : window) * sim_uniform();
		int			stage = L;
		bool		reached[PIPE_NOPEN] = {false};
		int			outcome = -1;

		row(c, -1, L, since, since, cut);
		for (;;)
		{
			double		u = sim_uniform(),
						acc = 0,
						stay,
						at;

			if (since < cut)
				reached[stage] = true;
			for (j = 0; j < PIPE_NSTAGES - 1; j++)
			{
				acc += truth_move[stage][j];
				if (u < acc)
					break;
			}
			/* gamma(2, mean / 2): the sum of two exponentials */
			stay = -sim_mean_stay(stage, j) / 2 * (log(sim_uniform()) + log(sim_uniform()));
			at = since + stay;
			row(c, stage, j, since, at, cut);
			if (nall[stage] < SIM_MAX_SPELLS)
				all_stays[stage][nall[stage]++] = stay;
			if (at < cut && ndone[stage] < SIM_MAX_SPELLS)
				done_stays[stage][ndone[stage]++] = stay;
			if (at < cut)
			{
				moves[stage][j]++;
			}
			if (j >= W)
			{
				if (at < cut)
					outcome = j == W;
				break;
			}
			stage = j;
			since = at;
		}
		open += outcome < 0;
		for (i = 0; i < PIPE_NOPEN; i++)
			if (reached[i] && outcome >= 0)
			{
				closed[i]++;
				won[i] += outcome;
			}
	}
	res->share_open = (double) open / n;
	for (i = 0; i < PIPE_NOPEN; i++)
	{
		double		sum = 0;

		res->naive[i] = won[i] / closed[i];
		for (j = 0; j < PIPE_NSTAGES; j++)
			sum += moves[i][j];
		for (j = 0; j < PIPE_NSTAGES; j++)
			moves[i][j] /= sum;
		res->stay_p90_true[i] = quantile_of(all_stays[i], nall[i], 0.9);
		res->stay_p90_completed[i] = quantile_of(done_stays[i], ndone[i], 0.9);
	}
	/* the embedded chain of the completed moves, time ignored */
	{
		double		q[25],
					r[10],
					b[10];

		for (i = 0; i < 5; i++)
		{
			for (j = 0; j < 5; j++)
				q[i * 5 + j] = moves[i][j];
			r[i * 2] = moves[i][W];
			r[i * 2 + 1] = moves[i][X];
		}
		pipeline_absorb(5, q, r, 2, b);
		for (i = 0; i < 5; i++)
			res->naive_chain[i] = b[i * 2];
	}
}

static void
test_simulation(void)
{
	static PipelineCounts c;
	SimResult	res;
	double		err = 0,
				naive_gap = 0,
				chain_err = 0,
				p90_err = 0,
				p90_gap = 1;
	char		msg[512];
	int			i;

	/* 100,000 opportunities over 3 years: a few percent still open */
	sim_state = 20240601;
	simulate(100000, 3 * 365, 0, 0, 3 * 365, &c, &res);
	pipeline_fit(&c, 1, &fit);
	for (i = 0; i < PIPE_NOPEN; i++)
		err = fmax(err, fabs(fit.win[i] - truth_win[i]));
	snprintf(msg, sizeof(msg), "100,000 opportunities, %.1f%% open: learned win probabilities within 0.01 of the truth "
			 "(largest error %.4f; lead %.4f vs %.4f)", 100 * res.share_open, err, fit.win[L], truth_win[L]);
	ok(err < 0.01, msg);
	/* the weekly times agree with the win probability: nothing left in the tail over 3 years */
	{
		double		s = 0;
		int			t;

		for (t = 0; t < PIPE_HORIZON; t++)
			s += fit.time_won[L][t];
		snprintf(msg, sizeof(msg), "times to win from lead add up to its win probability (%.6f vs %.6f)", s, fit.win[L]);
		ok(fabs(s - fit.win[L]) < 1e-3, msg);
	}

	/*
	 * Half still open: a campaign brought 60% of the opportunities in the
	 * last 20 days (the rest over 3 years).
	 */
	sim_state = 7;
	simulate(100000, 3 * 365, 0.6, 20, 3 * 365, &c, &res);
	pipeline_fit(&c, 1, &fit);
	err = 0;
	for (i = 0; i < PIPE_NOPEN; i++)
	{
		err = fmax(err, fabs(fit.win[i] - truth_win[i]));
		naive_gap = fmax(naive_gap, truth_win[i] - res.naive[i]);
		chain_err = fmax(chain_err, fabs(res.naive_chain[i] - truth_win[i]));
	}
	snprintf(msg, sizeof(msg), "100,000 opportunities, %.1f%% open: learned within 0.01 (largest error %.4f)",
			 100 * res.share_open, err);
	ok(res.share_open > 0.45 && res.share_open < 0.55 && err < 0.01, msg);
	snprintf(msg, sizeof(msg), "naive won / (won + lost) of the closed is biased low, by up to %.3f "
			 "(lead %.4f vs %.4f, qualified %.4f vs %.4f, bidding %.4f vs %.4f)", naive_gap,
			 res.naive[L], truth_win[L], res.naive[Q], truth_win[Q], res.naive[B], truth_win[B]);
	ok(naive_gap > 0.05, msg);
	snprintf(msg, sizeof(msg), "the chain of completed moves, time ignored, is off by up to %.4f", chain_err);
	ok(chain_err > 0.015, msg);

	/* the estimator over 20 such histories: its bias and spread per stage */
	{
		double		mean[PIPE_NOPEN] = {0},
					sq[PIPE_NOPEN] = {0},
					worst_bias = 0,
					worst_sd = 0;
		int			rep;

		for (rep = 0; rep < 20; rep++)
		{
			sim_state = 1000 + rep;
			simulate(100000, 3 * 365, 0.6, 20, 3 * 365, &c, &res);
			pipeline_fit(&c, 1, &fit);
			for (i = 0; i < PIPE_NOPEN; i++)
			{
				mean[i] += (fit.win[i] - truth_win[i]) / 20;
				sq[i] += (fit.win[i] - truth_win[i]) * (fit.win[i] - truth_win[i]) / 20;
			}
		}
		for (i = 0; i < PIPE_NOPEN; i++)
		{
			worst_bias = fmax(worst_bias, fabs(mean[i]));
			worst_sd = fmax(worst_sd, sqrt(sq[i] - mean[i] * mean[i]));
		}
		snprintf(msg, sizeof(msg), "over 20 half-open histories of 100,000: bias at most %.4f, standard deviation "
				 "at most %.4f per stage", worst_bias, worst_sd);
		ok(worst_bias < 0.003 && worst_sd < 0.005, msg);
	}

	/*
	 * A young history (opportunities over the last 100 days only): the
	 * stays that are complete are the short ones.  The Kaplan-Meier stay
	 * quantile (what the stuck-opportunity view compares with) holds; the
	 * quantile of the completed stays does not.
	 */
	sim_state = 11;
	simulate(100000, 100, 0, 0, 3 * 365, &c, &res);
	pipeline_fit(&c, 1, &fit);
	for (i = 0; i < PIPE_NOPEN; i++)
	{
		p90_err = fmax(p90_err, fabs(pipeline_stay_quantile(&fit, i, 0.9) - res.stay_p90_true[i]) / res.stay_p90_true[i]);
		p90_gap = fmin(p90_gap, (res.stay_p90_true[i] - res.stay_p90_completed[i]) / res.stay_p90_true[i]);
	}
	snprintf(msg, sizeof(msg), "young history, %.1f%% open: stay p90 from the censored counts within 10%% of the truth "
			 "at every stage (worst %.1f%%); completed stays alone understate it by %.0f%% or more",
			 100 * res.share_open, 100 * p90_err, 100 * p90_gap);
	ok(p90_err < 0.10 && p90_gap > 0.05, msg);
}

/*
 * The prior's default: on small histories (12 opportunities over a year,
 * as of its end, many replications) the mean absolute error of the learned
 * win probabilities for prior weights 0, 1 and 5.  Printed, with the check
 * that the default (1) does better than none where none has an answer.
 */
static void
test_prior_default(void)
{
	static PipelineCounts c;
	static const double weights[3] = {0, 1, 5};
	double		mae[3] = {0, 0, 0};
	int			answered = 0;
	SimResult	res;
	char		msg[256];
	int			rep,
				k,
				i;

	sim_state = 99;
	for (rep = 0; rep < 400; rep++)
	{
		double		e[3] = {0, 0, 0};
		bool		all = true;

		simulate(12, 365, 0, 0, 365, &c, &res);
		for (k = 0; k < 3; k++)
		{
			pipeline_fit(&c, weights[k], &fit);
			for (i = 0; i < PIPE_NOPEN; i++)
			{
				all = all && !isnan(fit.win[i]);
				e[k] += fabs(fit.win[i] - truth_win[i]) / PIPE_NOPEN;
			}
		}
		/* compare the weights where prior 0 answers at every stage */
		if (all)
		{
			answered++;
			for (k = 0; k < 3; k++)
				mae[k] += e[k];
		}
	}
	snprintf(msg, sizeof(msg), "prior on 12-opportunity histories: weight 0 answers %d of 400; where it does, "
			 "mean abs error %.4f (weight 0), %.4f (1), %.4f (5)",
			 answered, mae[0] / answered, mae[1] / answered, mae[2] / answered);
	ok(answered < 400 && mae[1] <= mae[0], msg);
}

/* ---------------------------------------------------------------------
 * Forecast and Brier score
 * ---------------------------------------------------------------------
 */
static void
test_forecast(void)
{
	double		weeks[PIPE_HORIZON];
	double		months[3],
				mean[3] = {0, 0, 0},
				var[3] = {0, 0, 0},
				lo,
				hi,
				brier[2] = {0, 0};
	int			t;

	/*
	 * 2024-02-22 is day 8818, in a leap year: week 0 is Feb 23, week 1 the
	 * seven days around Feb 29, Feb 26 - Mar 3: four in February (the 29th
	 * among them), three in March
	 */
	for (t = 0; t < PIPE_HORIZON; t++)
		weeks[t] = 0;
	weeks[0] = 0.7;
	weeks[1] = 0.07;
	pipeline_weeks_to_months(weeks, 8818, 2, months);
	ok(close_to(months[0], 0.74, 1e-15) && close_to(months[1], 0.03, 1e-15),
	   "weeks fall in calendar months after the as-of date, across a leap day");
	/* as of the last day of a month (2025-01-31, day 9162), week 0 (the day after) is in the next */
	weeks[1] = 0;
	pipeline_weeks_to_months(weeks, 9162, 2, months);
	ok(months[0] == 0 && close_to(months[1], 0.7, 1e-15), "a close in week 0 falls after the as-of date");
	for (t = 0; t < PIPE_HORIZON; t++)
		weeks[t] = 0;
	/*
	 * As of 2025-01-30: week 0 -> Jan 31; week 1 = Feb 3-9; week 3 = Feb
	 * 17-23; week 4 = Feb 24 - Mar 2, 5 days in February and 2 in March;
	 * week 20 = June, beyond 3 months.
	 */
	weeks[0] = 0.1;
	weeks[1] = 0.2;
	weeks[3] = 0.3;
	weeks[4] = 0.14;
	weeks[20] = 0.05;
	pipeline_weeks_to_months(weeks, 9161, 3, months);
	ok(close_to(months[0], 0.1, 1e-15) && close_to(months[1], 0.6, 1e-15) && close_to(months[2], 0.04, 1e-15),
	   "weekly probabilities add up per month, a week across months shared by its days; beyond the horizon left out");
	pipeline_forecast_add(mean, var, 3, months, 1000);
	pipeline_forecast_add(mean, var, 3, months, 200);
	/* January: 0.1 x 1200 = 120; variance 0.09 x (1000^2 + 200^2) = 93600 */
	ok(close_to(mean[0], 120, 1e-12) && close_to(var[0], 93600, 1e-12) &&
	   close_to(mean[1], 720, 1e-12) && close_to(var[1], 0.24 * 1040000, 1e-12),
	   "expected won revenue and its variance per month add over opportunities");
	pipeline_forecast_interval(100, 400, &lo, &hi);
	ok(close_to(lo, 100 - 1.959964 * 20, 1e-6) && close_to(hi, 100 + 1.959964 * 20, 1e-6),
	   "95% interval: mean +/- 1.96 sd");
	pipeline_forecast_interval(10, 400, &lo, &hi);
	ok(lo == 0 && close_to(hi, 10 + 1.959964 * 20, 1e-6), "the lower end is at least 0");

	/* (0.8 - 1)^2 + (0.3 - 0)^2 + (0.5 - 1)^2 = 0.38, over 3 */
	pipeline_brier_add(brier, 0.8, true);
	pipeline_brier_add(brier, 0.3, false);
	pipeline_brier_add(brier, 0.5, true);
	ok(close_to(pipeline_brier_score(brier), 0.38 / 3, 1e-15), "Brier score: mean squared error of the probabilities");
	brier[0] = brier[1] = 0;
	ok(isnan(pipeline_brier_score(brier)), "no outcome, no score");
}

int
main(void)
{
	test_moves();
	test_bins();
	test_absorb_3();
	test_absorb_5();
	test_counts();
	test_fit_exact();
	test_simulation();
	test_prior_default();
	test_forecast();
	return tap_done();
}
