/*-------------------------------------------------------------------------
 *
 * pipeline_kernel.h
 *	  The sales pipeline as pure functions: stages and their legal moves,
 *	  the counts a stage history gives as of a date, the win probabilities
 *	  and times to close learned from them (an absorbing semi-Markov chain
 *	  with censored spells and a prior), the forecast they give, and the
 *	  Brier score that checks them.
 *
 * No PostgreSQL headers here: this layer is compiled into the extension and,
 * on its own, into test/unit/pipeline_kernel_test.c.
 *
 * Contract for the caller (the fmgr glue, src/pipeline.c):
 *	- nothing here prints, exits, aborts, allocates, or keeps mutable global
 *	  state;
 *	- functions that can fail return a PipelineStatus, which the caller turns
 *	  into an ERROR;
 *	- times are passed in days (doubles), dates as day numbers (days since
 *	  2000-01-01, PostgreSQL's date).
 *
 *
 * The pipeline (the stages in order; the numbers are PipelineStage values
 * and the order of the enum crm.pipeline_stage)
 *
 *	0 lead			an opportunity captured (商机获取, 002 L15)
 *	1 qualified		the customer's need and budget confirmed
 *	2 presentation	the solution presented (方案展示)
 *	3 negotiation	terms negotiated (商务谈判)
 *	4 bidding		the bid or final offer made (投标)
 *	5 won			closed, won			}  closed stages: absorbing
 *	6 lost			closed, lost		}
 *
 * Legal moves (staying is always legal): one step forward (lead ->
 * qualified -> presentation -> negotiation -> bidding), one step back
 * (qualified -> lead, ..., bidding -> negotiation), any open stage ->
 * lost, and bidding -> won.  Won and lost are final; the one way out is a
 * reopen (pipeline_reopen_legal(): a closed stage -> any open stage),
 * which the glue allows only when asked for explicitly.
 *
 *
 * What the history gives (PipelineCounts), as of a cut-off instant
 *
 * A spell is a stay of one opportunity in one open stage: it begins with
 * the history row that moved the opportunity into the stage (or created it
 * there) and ends with the row that moved it out.  A history row
 * (from, to, from_since, changed_at) says both: it begins a spell in "to"
 * at changed_at, and ends the spell in "from" that began at from_since.
 * As of a cut-off c (only rows with changed_at < c count), every spell is
 * either complete (it ended before c, after a stay of changed_at -
 * from_since, with destination "to") or open at c (censored: it had lasted
 * c - begin by then, and where it goes is not known yet).  One pass over
 * the rows counts both without knowing which rows end which spells:
 *
 *	row begins a spell in an open stage t:		open[t][bin(c - changed_at)] += 1
 *	row ends a spell in an open stage f:		open[f][bin(c - from_since)] -= 1
 *												moves[f][t][bin(changed_at - from_since)] += 1
 *
 * The -1 cancels the +1 of the row that began the spell, because that
 * row's changed_at is this row's from_since (the guard trigger keeps the
 * two equal).  Rows where from = to (an amount or close date changed) are
 * neither.  The counts are sums, so partial counts merge by adding
 * (pipeline_counts_merge): the aggregate is parallel safe and mergeable.
 *
 * Durations are counted in bins of PIPE_BIN_DAYS days, rounded to the
 * nearest (bin w holds stays of [7w - 3.5, 7w + 3.5) days, bin 0 stays
 * under 3.5 days), the last bin holding every longer stay.  Rounding
 * rather than truncating keeps sums of stays (the time to close over
 * several stages) unbiased.
 *
 *
 * The model (pipeline_fit), per open stage i
 *
 * Where a spell goes and how long it lasts are learned together, as
 * competing risks (the Aalen-Johansen estimator, Aalen & Johansen 1978, here in
 * discrete time):
 *
 *	r(w)	 = spells of i still in i at the start of bin w (complete ones
 *			   that ended in bin w or later, open ones that had lasted w
 *			   bins or more), those censored in bin w counting one half
 *			   (the actuarial life table: a spell censored within a bin
 *			   was observed for half of it on average; counting it whole
 *			   understates the hazards of the first weeks, where the young
 *			   open spells are);
 *	h_j(w)	 = moves[i][j][w] / r(w), the hazard of leaving for j in bin w;
 *	S(w)	 = prod_{v < w} (1 - sum_j h_j(v)), the share still in i at w
 *			   (Kaplan-Meier);
 *	f_j(w)	 = S(w) h_j(w), the probability of leaving for j in bin w.
 *
 * Open spells count in the risk set as long as they have been observed
 * and never as a destination: still-open opportunities are censored, not
 * lost.  This matters because losses come early (an opportunity can be
 * lost from its first stage) and wins late (after every stage): counting
 * open opportunities as lost, or leaving them out (won / (won + lost) over
 * the closed ones) both understate the win probability while many are
 * open.  The mass S(W) still unresolved after the last bin ("tail": stays
 * longer than any the history could show) goes to the destinations of the
 * longest stays seen (the last bins back to where they hold 20 moves): the
 * hazards are taken to keep, beyond the data, the ratio they had at its
 * end.  A young history (every stay cut short) leans on this; over a
 * history longer than the stays the tail is empty.
 *
 * The prior (prior_weight = a >= 0, default 1): a stage seen rarely is
 * shrunk toward "every legal move equally likely, with the stay of all
 * stages pooled":
 *
 *	f_ij(w) = (n_i f^_j(w) + (a / L_i) s(w)) / (n_i + a)
 *
 * where n_i is the number of moves observed out of i, L_i the number of
 * legal destinations of i, and s(w) the Kaplan-Meier stay distribution of
 * all open stages pooled (its unresolved mass likewise in the tail).  It is
 * a Dirichlet(a / L_i, ...) prior on the destinations (the posterior mean
 * when the AJ estimate is read as n_i observed moves), with a weight of
 * one opportunity by default: a stage with no move observed gets equal
 * chances for its legal moves instead of no answer, and a stage with n
 * moves is moved by at most a / (n + a) from what it showed (0.01 from
 * 99 moves on).  a = 0 is the data alone; a stage with no move then has
 * no probabilities (NaN), nor have the stages whose chain passes through
 * it.
 *
 * The destination probabilities P_ij = sum_w f_ij(w) + tail_ij make the
 * embedded chain; with Q its open-to-open part and R its open-to-closed
 * part, the probabilities of ending won or lost from a fresh entry into i
 * are B = (I - Q)^-1 R, the absorbing-chain formula with the fundamental
 * matrix (I - Q)^-1 (Kemeny & Snell, Finite Markov Chains, 1960, ch. III),
 * solved by Gaussian elimination with partial pivoting (pipeline_absorb).
 *
 * An opportunity that has already been in i for A days is one of the
 * stays that lasted that long, so its destinations are those of the stays
 * of A days or more, a stay taken to be spread evenly over its bin (so the
 * bin holding A counts in part):
 *
 *	P(j | i, A) = (sum of f_ij over the stays longer than A + tail_ij)
 *				  / (the same summed over j)
 *	win(i, A)	= sum_j P(j | i, A) win(j)	  (win(won) = 1, win(lost) = 0)
 *
 * (fit->win_at_day, per whole day up to 371).  When no stay of i lasted A
 * days, the fresh probabilities stand.
 *
 * Time to close (semi-Markov: the stay and the destination drawn together,
 * then the next stage afresh).  The rest of a stay after A days is
 * g_ij(t), the probability of leaving for j after t more weeks: each bin's
 * share beyond A, at its mean remaining time x weeks split between weeks
 * floor(x) and floor(x) + 1 so as to keep the mean (a fresh entry's bin 0,
 * a stay under half a week, has its mean of 1.75 days).  The probability
 * of ending won in week t after a fresh entry into i is then
 *
 *	T_i(t) = g_i,won(t) + sum_{j open} sum_{w <= t} g_ij(w) T_j(t - w)
 *
 * (g at A = 0; alike for lost), computed week by week up to PIPE_HORIZON
 * weeks; the w = 0 terms make a small linear system per week, (I - G0)
 * T(t) = rest.  Mass in the tail has no known time and is left out of the
 * weeks, so sum_t T_i(t) <= win(i), the rest being "later than the history
 * shows".  An opportunity A days into i is won in week t with
 * probability g_i,won(t) + sum_j sum_d g_ij(d) T_j(t - d) with g at A,
 * renormalized (pipeline_win_weeks).
 *
 *
 * The forecast (pipeline_forecast_add) spreads each open opportunity's
 * amount x P(won in week t) over the calendar months of the weeks after
 * the as-of date.  Whether an opportunity is won in a given month is a
 * Bernoulli trial, independent between opportunities, so the variance of a
 * month's won revenue is sum amount^2 p (1 - p) and the interval is the
 * normal one, mean +/- 1.96 sd (lower end at least 0).  It leaves out the
 * uncertainty of the learned probabilities themselves (small next to the
 * outcomes' once a stage has a few hundred moves).
 *
 * The Brier score (Brier 1950) of probabilities p_k against outcomes y_k
 * in {0, 1} is mean (p_k - y_k)^2: 0 is perfect, 0.25 what always saying
 * 0.5 scores.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_PIPELINE_KERNEL_H
#define CRM_PIPELINE_KERNEL_H

#include <stdbool.h>
#include <stdint.h>

typedef enum PipelineStage
{
	PIPE_LEAD = 0,
	PIPE_QUALIFIED,
	PIPE_PRESENTATION,
	PIPE_NEGOTIATION,
	PIPE_BIDDING,
	PIPE_WON,
	PIPE_LOST
} PipelineStage;

#define PIPE_NOPEN		5		/* open stages: lead .. bidding */
#define PIPE_NSTAGES	7		/* with won and lost */
#define PIPE_BIN_DAYS	7.0		/* a bin is a week */
#define PIPE_NBINS		53		/* stays of 0 .. 51 weeks, then 52 or more */
#define PIPE_HORIZON	157		/* weeks of time to close computed (3 years) */
#define PIPE_AGE_DAYS	371		/* days in a stage the win probability is kept for */
#define PIPE_MAX_MONTHS 36		/* months a forecast may cover */

typedef enum PipelineStatus
{
	PIPE_OK = 0,
	PIPE_STAY_NEGATIVE,			/* a row ends before it begins */
	PIPE_BAD_STAGE,				/* a stage number out of range */
	PIPE_SINGULAR				/* a chain with no way out of some stages */
} PipelineStatus;

/* the stages */
extern const char *pipeline_stage_name(int stage);
extern int	pipeline_stage_from_name(const char *name);
extern bool pipeline_is_open(int stage);
extern bool pipeline_move_legal(int from, int to);
extern bool pipeline_reopen_legal(int from, int to);

/*
 * Spells as of a cut-off: complete ones by origin, destination and length,
 * open ones by stage and age (see the header comment).  open[][] may be
 * negative in a bin only if the history's from_since and changed_at do not
 * match (a history written by hand); the fit reads negatives as 0.
 */
typedef struct PipelineCounts
{
	int64_t		moves[PIPE_NOPEN][PIPE_NSTAGES][PIPE_NBINS];
	int64_t		open[PIPE_NOPEN][PIPE_NBINS];
} PipelineCounts;

extern void pipeline_counts_init(PipelineCounts *c);

/*
 * Count one history row: from (-1 for a row that created the opportunity),
 * to, and how many days before the cut-off from_since and changed_at were
 * (since_ago is ignored when from is -1).  A row at or after the cut-off
 * (changed_ago <= 0) counts nothing.  PIPE_STAY_NEGATIVE when the row ends
 * a spell before it began.
 */
extern PipelineStatus pipeline_count_row(PipelineCounts *c, int from, int to,
										 double since_ago, double changed_ago);
extern void pipeline_counts_merge(PipelineCounts *into, const PipelineCounts *from);

/*
 * Everything learned from counts and a prior weight.  For an open stage i:
 * move[i][j] = P_ij; win[i], lost[i] from a fresh entry; win_at_day[i][d]
 * after d days in i (the last entry for d >= 370); sub[i][j][w] = f_ij(w) and tail[i][j]; stay[i][w]
 * the stay's distribution (all destinations) and stay_tail[i]; time_won
 * and time_lost[i][t] the probability of closing so in week t after a
 * fresh entry; departures and open spells as counted.  NaN where the data
 * and the prior give no answer (prior_weight 0 and no move seen).
 */
typedef struct PipelineFit
{
	double		prior_weight;
	int64_t		departures[PIPE_NOPEN];
	int64_t		open_spells[PIPE_NOPEN];
	double		move[PIPE_NOPEN][PIPE_NSTAGES];
	double		win[PIPE_NOPEN];
	double		lost[PIPE_NOPEN];
	double		win_at_day[PIPE_NOPEN][PIPE_AGE_DAYS];
	double		sub[PIPE_NOPEN][PIPE_NSTAGES][PIPE_NBINS];
	double		tail[PIPE_NOPEN][PIPE_NSTAGES];
	double		stay[PIPE_NOPEN][PIPE_NBINS];
	double		stay_tail[PIPE_NOPEN];
	double		time_won[PIPE_NOPEN][PIPE_HORIZON];
	double		time_lost[PIPE_NOPEN][PIPE_HORIZON];
} PipelineFit;

extern PipelineStatus pipeline_fit(const PipelineCounts *c, double prior_weight,
								   PipelineFit *fit);

/* P(won eventually) of an opportunity days_in_stage days into stage */
extern double pipeline_win_at(const PipelineFit *fit, int stage, double days_in_stage);

/*
 * The q-quantile (0 < q < 1) of the stay in an open stage, in days,
 * interpolated within its bin; NaN when more than 1 - q of the stays last
 * longer than the history shows.
 */
extern double pipeline_stay_quantile(const PipelineFit *fit, int stage, double q);

/*
 * Probability of being won in each week t = 0 .. PIPE_HORIZON - 1 from now,
 * for an opportunity age_days days into open stage "stage" (out[t]).
 */
extern void pipeline_win_weeks(const PipelineFit *fit, int stage, double age_days, double *out);

/*
 * The forecast: per month m = 0 .. months - 1 after the as-of date (month
 * 0 the as-of date's own), the expected won revenue and its variance.
 * pipeline_weeks_to_months() sums weekly probabilities from as_of into
 * those months (week t >= 1 spread over the seven days around as_of + 7t,
 * week 0 on the day after as_of; what falls beyond is left out);
 * pipeline_forecast_add() adds one opportunity whose monthly win
 * probabilities are month_p[].
 */
extern void pipeline_weeks_to_months(const double *weeks, int32_t as_of_day, int months,
									 double *month_p);
extern void pipeline_forecast_add(double *mean, double *variance, int months,
								  const double *month_p, double amount);
extern void pipeline_forecast_interval(double mean, double variance, double *low, double *high);

/* Brier score: state[0] = n, state[1] = sum of squared errors */
extern void pipeline_brier_add(double *state, double p, bool outcome);
extern double pipeline_brier_score(const double *state);

#endif							/* CRM_PIPELINE_KERNEL_H */
