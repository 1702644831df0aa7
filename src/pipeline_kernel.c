/*-------------------------------------------------------------------------
 *
 * pipeline_kernel.c
 *	  The sales pipeline's numbers: stage moves, spell counts, the absorbing
 *	  semi-Markov chain learned from them, time to close, the forecast and
 *	  the Brier score.  The model, its assumptions and its sources are in
 *	  pipeline_kernel.h.
 *
 *-------------------------------------------------------------------------
 */
#include "pipeline_kernel.h"

#include <math.h>
#include <string.h>

/* two-sided 95% normal quantile */
#define PIPE_Z95	1.959963984540054

static const char *const stage_names[PIPE_NSTAGES] = {
	"lead", "qualified", "presentation", "negotiation", "bidding", "won", "lost"
};

const char *
pipeline_stage_name(int stage)
{
	return stage >= 0 && stage < PIPE_NSTAGES ? stage_names[stage] : NULL;
}

int
pipeline_stage_from_name(const char *name)
{
	int			s;

	for (s = 0; s < PIPE_NSTAGES; s++)
		if (strcmp(name, stage_names[s]) == 0)
			return s;
	return -1;
}

bool
pipeline_is_open(int stage)
{
	return stage >= 0 && stage < PIPE_NOPEN;
}

/*
 * One step forward or back between open stages, any open stage to lost,
 * bidding to won; staying is always legal.
 */
bool
pipeline_move_legal(int from, int to)
{
	if (from < 0 || from >= PIPE_NSTAGES || to < 0 || to >= PIPE_NSTAGES)
		return false;
	if (from == to)
		return true;
	if (!pipeline_is_open(from))
		return false;
	if (pipeline_is_open(to))
		return to == from + 1 || to == from - 1;
	return to == PIPE_LOST || from == PIPE_BIDDING;
}

bool
pipeline_reopen_legal(int from, int to)
{
	return from >= PIPE_NOPEN && from < PIPE_NSTAGES && pipeline_is_open(to);
}

/* the bin of a stay of "days" days (>= 0) */
static int
pipeline_bin(double days)
{
	double		w = floor(days / PIPE_BIN_DAYS + 0.5);

	if (!(w >= 0))
		return 0;
	return w >= PIPE_NBINS - 1 ? PIPE_NBINS - 1 : (int) w;
}

void
pipeline_counts_init(PipelineCounts *c)
{
	memset(c, 0, sizeof(*c));
}

PipelineStatus
pipeline_count_row(PipelineCounts *c, int from, int to, double since_ago, double changed_ago)
{
	bool		ends;

	if (to < 0 || to >= PIPE_NSTAGES || from < -1 || from >= PIPE_NSTAGES)
		return PIPE_BAD_STAGE;
	if (!(changed_ago > 0) || from == to)
		return PIPE_OK;
	ends = pipeline_is_open(from);
	if (ends && !(since_ago >= changed_ago))
		return PIPE_STAY_NEGATIVE;
	if (pipeline_is_open(to))
		c->open[to][pipeline_bin(changed_ago)]++;
	if (ends)
	{
		c->open[from][pipeline_bin(since_ago)]--;
		c->moves[from][to][pipeline_bin(since_ago - changed_ago)]++;
	}
	return PIPE_OK;
}

void
pipeline_counts_merge(PipelineCounts *into, const PipelineCounts *from)
{
	int64_t    *a = &into->moves[0][0][0];
	const int64_t *b = &from->moves[0][0][0];
	size_t		n = sizeof(PipelineCounts) / sizeof(int64_t);
	size_t		i;

	/* the struct is int64_t arrays only */
	for (i = 0; i < n; i++)
		a[i] += b[i];
}

/*
 * (I - Q) B = R by Gaussian elimination with partial pivoting.  A pivot
 * below 1e-12 (entries are probabilities) means a set of transient states
 * that never leaves itself.
 */
static PipelineStatus
pipeline_absorb(int k, const double *q, const double *r, int nabs, double *b)
{
	double		a[16][16];
	double		x[16][16];
	int			i,
				j,
				col;

	if (k < 1 || k > 16 || nabs < 1 || nabs > 16)
		return PIPE_BAD_STAGE;
	for (i = 0; i < k; i++)
	{
		for (j = 0; j < k; j++)
			a[i][j] = (i == j ? 1.0 : 0.0) - q[i * k + j];
		for (j = 0; j < nabs; j++)
			x[i][j] = r[i * nabs + j];
	}
	for (col = 0; col < k; col++)
	{
		int			p = col;
		double		t;

		for (i = col + 1; i < k; i++)
			if (fabs(a[i][col]) > fabs(a[p][col]))
				p = i;
		if (fabs(a[p][col]) < 1e-12)
			return PIPE_SINGULAR;
		if (p != col)
		{
			for (j = 0; j < k; j++)
			{
				t = a[p][j];
				a[p][j] = a[col][j];
				a[col][j] = t;
			}
			for (j = 0; j < nabs; j++)
			{
				t = x[p][j];
				x[p][j] = x[col][j];
				x[col][j] = t;
			}
		}
		for (i = col + 1; i < k; i++)
		{
			double		m = a[i][col] / a[col][col];

			if (m == 0)
				continue;
			for (j = col; j < k; j++)
				a[i][j] -= m * a[col][j];
			for (j = 0; j < nabs; j++)
				x[i][j] -= m * x[col][j];
		}
	}
	for (i = k - 1; i >= 0; i--)
	{
		for (j = 0; j < nabs; j++)
		{
			double		s = x[i][j];
			int			c;

			for (c = i + 1; c < k; c++)
				s -= a[i][c] * b[c * nabs + j];
			b[i * nabs + j] = s / a[i][i];
		}
	}
	return PIPE_OK;
}

/*
 * Kaplan-Meier with competing risks over the bins, in its life-table form:
 * events[d][w] moves to destination d after w bins, open[w] censored
 * spells of w bins (negatives read as 0), each counted at risk for half its
 * bin (the actuarial estimator: a spell censored in a bin was observed, on
 * average, for half of it).  f[d][w] receives the probability of leaving for d in bin w;
 * returns S after the last bin (the mass never seen to leave).
 */
static double
km_subdensities(int ndest, const int64_t *events, const int64_t *open, double *f)
{
	double		at_risk[PIPE_NBINS];
	double		r = 0;
	double		s = 1;
	int			w,
				d;

	for (w = PIPE_NBINS - 1; w >= 0; w--)
	{
		double		censored = open[w] > 0 ? (double) open[w] : 0;

		for (d = 0; d < ndest; d++)
			r += (double) events[d * PIPE_NBINS + w];
		r += censored;
		/* a spell censored within the bin was at risk for half of it */
		at_risk[w] = r - censored / 2;
	}
	for (w = 0; w < PIPE_NBINS; w++)
	{
		double		left = 0;

		for (d = 0; d < ndest; d++)
		{
			double		h = at_risk[w] > 0 ? (double) events[d * PIPE_NBINS + w] / at_risk[w] : 0;

			f[d * PIPE_NBINS + w] = s * h;
			left += h;
		}
		s *= 1 - (left > 1 ? 1 : left);
	}
	return s;
}

/*
 * Where the spells that outlast the data go: the destinations of the
 * longest stays seen, the last bins back to where they hold
 * PIPE_TAIL_MOVES moves (fewer if there are not that many).  mix[] sums to
 * 1, or is all 0 without a move.
 */
#define PIPE_TAIL_MOVES 20

static void
tail_mix(const int64_t *events, double *mix)
{
	double		total = 0;
	int			w,
				d;

	for (d = 0; d < PIPE_NSTAGES; d++)
		mix[d] = 0;
	for (w = PIPE_NBINS - 1; w >= 0 && total < PIPE_TAIL_MOVES; w--)
		for (d = 0; d < PIPE_NSTAGES; d++)
		{
			mix[d] += (double) events[d * PIPE_NBINS + w];
			total += (double) events[d * PIPE_NBINS + w];
		}
	for (d = 0; d < PIPE_NSTAGES && total > 0; d++)
		mix[d] /= total;
}

/* which stages have an answer: see pipeline_fit() */
static void
answerable(const PipelineFit *fit, bool *good)
{
	bool		closable[PIPE_NOPEN];
	bool		changed;
	int			i,
				j;

	for (i = 0; i < PIPE_NOPEN; i++)
	{
		good[i] = !isnan(fit->move[i][0]);
		closable[i] = good[i] && fit->move[i][PIPE_WON] + fit->move[i][PIPE_LOST] > 0;
	}
	/* a stage can close if it can reach one that does */
	do
	{
		changed = false;
		for (i = 0; i < PIPE_NOPEN; i++)
			for (j = 0; j < PIPE_NOPEN && good[i] && !closable[i]; j++)
				if (fit->move[i][j] > 0 && closable[j])
					closable[i] = changed = true;
	} while (changed);
	for (i = 0; i < PIPE_NOPEN; i++)
		good[i] = good[i] && closable[i];
	/* and has an answer only if every stage it can reach has one */
	do
	{
		changed = false;
		for (i = 0; i < PIPE_NOPEN; i++)
			for (j = 0; j < PIPE_NOPEN && good[i]; j++)
				if (fit->move[i][j] > 0 && !good[j])
				{
					good[i] = false;
					changed = true;
				}
	} while (changed);
}

/*
 * Solve (I - Q) X = R over the stages good[] marks, Q = m[i][j] for open
 * j, R = m[i][c] for the nabs closed stages c (won, lost); X is written to
 * out[i * 2 + c] for those stages.
 */
static PipelineStatus
solve_good(const bool *good, double m[PIPE_NOPEN][PIPE_NSTAGES], double *out)
{
	int			idx[PIPE_NOPEN];
	int			k = 0,
				i,
				j;
	double		q[PIPE_NOPEN * PIPE_NOPEN] = {0};
	double		r[PIPE_NOPEN * 2] = {0};
	double		b[PIPE_NOPEN * 2];
	PipelineStatus st;

	for (i = 0; i < PIPE_NOPEN; i++)
		if (good[i])
			idx[k++] = i;
	if (k == 0)
		return PIPE_OK;
	for (i = 0; i < k; i++)
	{
		for (j = 0; j < k; j++)
			q[i * k + j] = m[idx[i]][idx[j]];
		r[i * 2] = m[idx[i]][PIPE_WON];
		r[i * 2 + 1] = m[idx[i]][PIPE_LOST];
	}
	if ((st = pipeline_absorb(k, q, r, 2, b)) != PIPE_OK)
		return st;
	for (i = 0; i < k; i++)
	{
		out[idx[i] * 2] = b[i * 2];
		out[idx[i] * 2 + 1] = b[i * 2 + 1];
	}
	return PIPE_OK;
}

/* the days bin w stands for: [0, 3.5) for bin 0, [7w - 3.5, 7w + 3.5) after */
static void
bin_edges(int w, double *lo, double *hi)
{
	*lo = w == 0 ? 0 : PIPE_BIN_DAYS * (w - 0.5);
	*hi = PIPE_BIN_DAYS * (w + 0.5);
}

/*
 * The rest of a stay in open stage i that has lasted age days: g[j][t] the
 * probability of leaving for j after t more weeks (t = 0 .. PIPE_NBINS),
 * tail[j] of leaving for j after a time the history cannot tell; not
 * normalized (the total, returned, is the share of stays that last age
 * days or more).  A stay is taken to be spread evenly over its bin, and a
 * remaining time of x weeks goes to weeks floor(x) and floor(x) + 1 in the
 * proportions that keep its mean.
 */
static double
residual(const PipelineFit *fit, int i, double age, double g[PIPE_NSTAGES][PIPE_NBINS + 1],
		 double *tail)
{
	double		total = 0;
	int			w,
				j;

	memset(g, 0, sizeof(double) * PIPE_NSTAGES * (PIPE_NBINS + 1));
	for (w = 0; w < PIPE_NBINS; w++)
	{
		double		lo,
					hi,
					share,
					x,
					frac;
		int			t;

		bin_edges(w, &lo, &hi);
		if (hi <= age)
			continue;
		share = lo >= age ? 1 : (hi - age) / (hi - lo);
		x = ((lo >= age ? (lo + hi) / 2 : (hi + age) / 2) - age) / PIPE_BIN_DAYS;
		t = (int) floor(x);
		frac = x - t;
		if (t >= PIPE_NBINS)
		{
			t = PIPE_NBINS;
			frac = 0;
		}
		for (j = 0; j < PIPE_NSTAGES; j++)
		{
			double		m = fit->sub[i][j][w] * share;

			if (!(m > 0))
				continue;
			g[j][t] += m * (1 - frac);
			if (frac > 0)
				g[j][t + 1] += m * frac;
			total += m;
		}
	}
	for (j = 0; j < PIPE_NSTAGES; j++)
	{
		tail[j] = fit->tail[i][j];
		total += tail[j];
	}
	return total;
}

/* week by week times to close from a fresh entry (header comment) */
static PipelineStatus
fit_times(PipelineFit *fit, const bool *good)
{
	double		g[PIPE_NOPEN][PIPE_NSTAGES][PIPE_NBINS + 1];
	double		tail[PIPE_NSTAGES];
	double		f0[PIPE_NOPEN][PIPE_NSTAGES];
	double		x[PIPE_NOPEN * 2];
	int			t,
				i,
				j,
				w;

	for (i = 0; i < PIPE_NOPEN; i++)
		if (good[i])
			residual(fit, i, 0, g[i], tail);
	memset(f0, 0, sizeof(f0));
	for (i = 0; i < PIPE_NOPEN; i++)
		for (j = 0; j < PIPE_NOPEN; j++)
			f0[i][j] = good[i] ? g[i][j][0] : 0;
	for (t = 0; t < PIPE_HORIZON; t++)
	{
		PipelineStatus st;

		/* the closing moves of week t and the moves that took w >= 1 weeks */
		for (i = 0; i < PIPE_NOPEN; i++)
		{
			if (!good[i])
				continue;
			f0[i][PIPE_WON] = t <= PIPE_NBINS ? g[i][PIPE_WON][t] : 0;
			f0[i][PIPE_LOST] = t <= PIPE_NBINS ? g[i][PIPE_LOST][t] : 0;
			for (j = 0; j < PIPE_NOPEN; j++)
			{
				if (!good[j])
					continue;
				for (w = 1; w <= t && w <= PIPE_NBINS; w++)
				{
					f0[i][PIPE_WON] += g[i][j][w] * fit->time_won[j][t - w];
					f0[i][PIPE_LOST] += g[i][j][w] * fit->time_lost[j][t - w];
				}
			}
		}
		if ((st = solve_good(good, f0, x)) != PIPE_OK)
			return st;
		for (i = 0; i < PIPE_NOPEN; i++)
		{
			fit->time_won[i][t] = good[i] ? x[i * 2] : NAN;
			fit->time_lost[i][t] = good[i] ? x[i * 2 + 1] : NAN;
		}
	}
	return PIPE_OK;
}

PipelineStatus
pipeline_fit(const PipelineCounts *c, double prior_weight, PipelineFit *fit)
{
	int64_t		pooled_events[PIPE_NBINS];
	int64_t		pooled_open[PIPE_NBINS];
	double		pooled[PIPE_NBINS];
	double		pooled_tail;
	double		fhat[PIPE_NSTAGES * PIPE_NBINS];
	double		absorb[PIPE_NOPEN * 2];
	bool		good[PIPE_NOPEN];
	int			i,
				j,
				w;
	PipelineStatus st;

	memset(fit, 0, sizeof(*fit));
	fit->prior_weight = prior_weight;

	/* the stay of every open stage pooled: the prior's timing */
	memset(pooled_events, 0, sizeof(pooled_events));
	memset(pooled_open, 0, sizeof(pooled_open));
	for (i = 0; i < PIPE_NOPEN; i++)
		for (w = 0; w < PIPE_NBINS; w++)
		{
			for (j = 0; j < PIPE_NSTAGES; j++)
				pooled_events[w] += c->moves[i][j][w];
			pooled_open[w] += c->open[i][w] > 0 ? c->open[i][w] : 0;
		}
	pooled_tail = km_subdensities(1, pooled_events, pooled_open, pooled);

	for (i = 0; i < PIPE_NOPEN; i++)
	{
		double		n = 0;
		double		nj[PIPE_NSTAGES];
		double		tail_hat;
		double		mix[PIPE_NSTAGES];
		double		legal = 0;
		double		denom;

		for (j = 0; j < PIPE_NSTAGES; j++)
		{
			nj[j] = 0;
			for (w = 0; w < PIPE_NBINS; w++)
				nj[j] += (double) c->moves[i][j][w];
			n += nj[j];
			if (j != i && pipeline_move_legal(i, j))
				legal++;
		}
		fit->departures[i] = (int64_t) n;
		for (w = 0; w < PIPE_NBINS; w++)
			fit->open_spells[i] += c->open[i][w];
		tail_hat = km_subdensities(PIPE_NSTAGES, &c->moves[i][0][0], c->open[i], fhat);
		tail_mix(&c->moves[i][0][0], mix);
		denom = n + prior_weight;
		for (j = 0; j < PIPE_NSTAGES; j++)
		{
			double		u = (j != i && pipeline_move_legal(i, j)) ? prior_weight / legal : 0;

			fit->move[i][j] = 0;
			for (w = 0; w < PIPE_NBINS; w++)
			{
				fit->sub[i][j][w] = denom > 0 ?
					(n * fhat[j * PIPE_NBINS + w] + u * pooled[w]) / denom : NAN;
				fit->move[i][j] += fit->sub[i][j][w];
			}
			fit->tail[i][j] = denom > 0 ? (n * tail_hat * mix[j] + u * pooled_tail) / denom : NAN;
			fit->move[i][j] += fit->tail[i][j];
		}
		fit->stay_tail[i] = 0;
		for (w = 0; w < PIPE_NBINS; w++)
		{
			fit->stay[i][w] = 0;
			for (j = 0; j < PIPE_NSTAGES; j++)
				fit->stay[i][w] += fit->sub[i][j][w];
		}
		for (j = 0; j < PIPE_NSTAGES; j++)
			fit->stay_tail[i] += fit->tail[i][j];
	}

	/*
	 * A stage has an answer when it has probabilities, can reach a closed
	 * stage, and reaches no stage without an answer; the chain is solved
	 * over those stages (its I - Q is then invertible).
	 */
	answerable(fit, good);
	if ((st = solve_good(good, fit->move, absorb)) != PIPE_OK)
		return st;
	for (i = 0; i < PIPE_NOPEN; i++)
	{
		fit->win[i] = good[i] ? absorb[i * 2] : NAN;
		fit->lost[i] = good[i] ? absorb[i * 2 + 1] : NAN;
	}
	for (i = 0; i < PIPE_NOPEN; i++)
	{
		int			d;

		for (d = 0; d < PIPE_AGE_DAYS; d++)
		{
			double		g[PIPE_NSTAGES][PIPE_NBINS + 1];
			double		tail[PIPE_NSTAGES];
			double		rem,
						win = 0;

			if (!good[i])
			{
				fit->win_at_day[i][d] = NAN;
				continue;
			}
			rem = residual(fit, i, d, g, tail);
			for (j = 0; j < PIPE_NSTAGES; j++)
			{
				double		r = tail[j];

				for (w = 0; w <= PIPE_NBINS; w++)
					r += g[j][w];
				if (j == PIPE_WON)
					win += r;
				else if (pipeline_is_open(j) && r > 0)
					win += r * fit->win[j];
			}
			fit->win_at_day[i][d] = rem > 1e-12 ? win / rem : fit->win[i];
		}
	}
	return fit_times(fit, good);
}

double
pipeline_win_at(const PipelineFit *fit, int stage, double days_in_stage)
{
	if (stage == PIPE_WON)
		return 1;
	if (stage == PIPE_LOST)
		return 0;
	if (!pipeline_is_open(stage) || !(days_in_stage >= 0))
		return NAN;
	return fit->win_at_day[stage][days_in_stage < PIPE_AGE_DAYS - 1 ? (int) days_in_stage : PIPE_AGE_DAYS - 1];
}

double
pipeline_stay_quantile(const PipelineFit *fit, int stage, double q)
{
	double		below = 0;
	int			w;

	if (!pipeline_is_open(stage) || isnan(fit->stay[stage][0]) || !(q > 0 && q < 1))
		return NAN;
	/* the last bin is open-ended: a quantile there has no known value */
	for (w = 0; w < PIPE_NBINS - 1; w++)
	{
		double		p = fit->stay[stage][w];

		if (p > 0 && below + p >= q)
		{
			double		lo,
						hi;

			bin_edges(w, &lo, &hi);
			return lo + (q - below) / p * (hi - lo);
		}
		below += p;
	}
	return NAN;
}

void
pipeline_win_weeks(const PipelineFit *fit, int stage, double age_days, double *out)
{
	double		g[PIPE_NSTAGES][PIPE_NBINS + 1];
	double		tail[PIPE_NSTAGES];
	double		rem;
	int			t,
				j,
				d;

	if (!pipeline_is_open(stage) || isnan(fit->win[stage]))
	{
		for (t = 0; t < PIPE_HORIZON; t++)
			out[t] = NAN;
		return;
	}
	rem = residual(fit, stage, age_days > 0 ? age_days : 0, g, tail);
	if (!(rem > 1e-12))
	{
		/* no stay lasted that long: the fresh entry's times stand */
		memcpy(out, fit->time_won[stage], sizeof(double) * PIPE_HORIZON);
		return;
	}
	for (t = 0; t < PIPE_HORIZON; t++)
	{
		double		p = t <= PIPE_NBINS ? g[PIPE_WON][t] : 0;

		for (j = 0; j < PIPE_NOPEN; j++)
			for (d = 0; d <= t && d <= PIPE_NBINS; d++)
				if (g[j][d] > 0)
					p += g[j][d] * fit->time_won[j][t - d];
		out[t] = p / rem;
	}
}

/* days since 2000-01-01 -> year * 12 + month - 1 (H. Hinnant's civil_from_days) */
static int
month_number(int32_t pg_day)
{
	int64_t		z = (int64_t) pg_day + 10957 + 719468;	/* 2000-01-01 is Unix day 10957 */
	int64_t		era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t		doe = z - era * 146097;
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;
	int64_t		m = mp < 10 ? mp + 3 : mp - 9;
	int64_t		y = yoe + era * 400 + (m <= 2);

	return (int) (y * 12 + m - 1);
}

/* the month (0 = as_of's) a day falls in, -1 from "months" on */
static int
month_of_day(int32_t as_of_day, int32_t day, int months)
{
	int			m = month_number(day) - month_number(as_of_day);

	return m < months ? m : -1;
}

/*
 * Weekly probabilities into months: week t >= 1 spread evenly over the
 * seven days around as_of + 7t (a week is no date), week 0 (a close within
 * half a week) on the day after as_of, the first a close can fall on.
 */
void
pipeline_weeks_to_months(const double *weeks, int32_t as_of_day, int months, double *month_p)
{
	int			t,
				k;

	for (t = 0; t < months; t++)
		month_p[t] = 0;
	for (t = 0; t < PIPE_HORIZON; t++)
	{
		if (weeks[t] == 0)
			continue;
		if (t == 0)
		{
			int			m = month_of_day(as_of_day, as_of_day + 1, months);

			if (m >= 0)
				month_p[m] += weeks[0];
			continue;
		}
		if (month_of_day(as_of_day, as_of_day + 7 * t - 3, months) < 0)
			break;
		for (k = -3; k <= 3; k++)
		{
			int			m = month_of_day(as_of_day, as_of_day + 7 * t + k, months);

			if (m >= 0)
				month_p[m] += weeks[t] / 7;
		}
	}
}

void
pipeline_forecast_add(double *mean, double *variance, int months, const double *month_p,
					  double amount)
{
	int			m;

	for (m = 0; m < months; m++)
	{
		double		p = month_p[m];

		mean[m] += amount * p;
		variance[m] += amount * amount * p * (1 - p);
	}
}

void
pipeline_forecast_interval(double mean, double variance, double *low, double *high)
{
	double		half = PIPE_Z95 * sqrt(variance > 0 ? variance : 0);

	*low = mean - half > 0 ? mean - half : 0;
	*high = mean + half;
}

void
pipeline_brier_add(double *state, double p, bool outcome)
{
	double		e = p - (outcome ? 1.0 : 0.0);

	state[0] += 1;
	state[1] += e * e;
}

double
pipeline_brier_score(const double *state)
{
	return state[0] > 0 ? state[1] / state[0] : NAN;
}
