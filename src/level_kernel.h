/*-------------------------------------------------------------------------
 *
 * level_kernel.h
 *	  Relationship levels as pure functions: the signals that measure a
 *	  relationship, and the rules that move its level one step up or down.
 *
 * No PostgreSQL headers here: this layer is compiled into the extension
 * and, on its own, into test/unit/level_kernel_test.c.
 *
 * The levels (in order; the numbers are the enum values, as the SQL enum
 * crm.relationship_level orders them):
 *
 *	0 transaction	every customer starts here: buying, nothing more.
 *	1 trust			the customer keeps buying and is in contact.
 *	2 cooperation	regular contact on several channels, problems handled
 *					within their time limits.
 *	3 loyalty		satisfaction sustained over the latest surveys.
 *	4 partnership	a dedicated account manager, long tenure, loyalty and
 *					close contact.
 *
 * The texts (000 L21) measure a relationship's level by contact and by the
 * relational benefit the customer perceives: higher levels mean more
 * contact and more perceived benefit.  So the signals are contact
 * (interactions and their channels in the last level_window_days), the
 * perceived benefit (surveys: the latest satisfied or not, satisfaction
 * sustained: loyal), how problems were handled (complaints answered or
 * visited late), behaviour (the life-cycle stage, tenure since the first
 * purchase) and the account manager the important customers get
 * (专人负责).  A signal the caller does not know is -1 and its rules do not
 * fire.
 *
 * Contract: nothing here allocates or keeps state; level_infer() proposes
 * the current level or one step up or down, never more (a move of two
 * levels at once is refused in the database too, like an illegal stage
 * move).
 *
 * The rules (thresholds in LevelThresholds; defaults from
 * level_default_thresholds()).  First "held": a level entered fewer than
 * level_min_days (28) days ago does not move.  Then the rules that take
 * the level one step down, checked first because a weakened relationship
 * outranks a new sign of strength; the first that holds decides:
 *
 *	"relationship_ended"	(any level above transaction) the stage is
 *							terminated.
 *	"manager_withdrawn"		(partnership) no account manager any more.
 *	"loyalty_broken"		(partnership, loyalty) satisfaction no longer
 *							sustained (loyal known and false).
 *	"in_decline"			(loyalty, cooperation) the stage is decline.
 *	"complaint_late"		(cooperation) a complaint of the window was
 *							answered, visited or resolved past its limit.
 *	"contact_lost"			(cooperation) no interaction in the window;
 *							(trust) no interaction and no purchase in it.
 *
 * Then one step up, when the next level's conditions all hold:
 *
 *	"contact_and_repeat"	transaction -> trust: the stage is formation or
 *							stable (buying again, alive) and at least
 *							trust_min_interactions (1) interaction in the
 *							window.
 *	"regular_contact"		trust -> cooperation: stage formation or stable,
 *							tenure >= cooperation_min_tenure_days (180),
 *							>= cooperation_min_interactions (3) interactions
 *							on >= cooperation_min_channels (2) channels, no
 *							late complaint, the latest survey not
 *							unsatisfied.
 *	"sustained_satisfaction"	cooperation -> loyalty: stage stable, tenure
 *							>= loyalty_min_tenure_days (365), loyal (the
 *							latest loyal_after_surveys surveys satisfied),
 *							no late complaint.
 *	"dedicated_manager"		loyalty -> partnership: stage stable, an
 *							account manager, tenure >=
 *							partnership_min_tenure_days (730), loyal, >=
 *							partnership_min_interactions (6) interactions on
 *							>= partnership_min_channels (3) channels.
 *
 * The conditions to keep a level are weaker than those to reach it (one
 * interaction keeps cooperation, three reach it), so a level does not
 * swing on the noise of one window.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_LEVEL_KERNEL_H
#define CRM_LEVEL_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stage_kernel.h"

/* Relationship levels, in order. */
typedef enum CrmLevel
{
	CRM_LEVEL_TRANSACTION = 0,
	CRM_LEVEL_TRUST = 1,
	CRM_LEVEL_COOPERATION = 2,
	CRM_LEVEL_LOYALTY = 3,
	CRM_LEVEL_PARTNERSHIP = 4
} CrmLevel;

#define CRM_NLEVELS 5

/* Why level_infer() proposed what it did; codes by level_reason_code(). */
typedef enum LevelReason
{
	LEVEL_REASON_NO_CHANGE = 0, /* "no_change" */
	LEVEL_REASON_HELD,			/* "held" */
	LEVEL_REASON_CONTACT_AND_REPEAT,	/* "contact_and_repeat" */
	LEVEL_REASON_REGULAR_CONTACT,	/* "regular_contact" */
	LEVEL_REASON_SUSTAINED_SATISFACTION,	/* "sustained_satisfaction" */
	LEVEL_REASON_DEDICATED_MANAGER, /* "dedicated_manager" */
	LEVEL_REASON_RELATIONSHIP_ENDED,	/* "relationship_ended" */
	LEVEL_REASON_MANAGER_WITHDRAWN, /* "manager_withdrawn" */
	LEVEL_REASON_LOYALTY_BROKEN,	/* "loyalty_broken" */
	LEVEL_REASON_IN_DECLINE,	/* "in_decline" */
	LEVEL_REASON_COMPLAINT_LATE,	/* "complaint_late" */
	LEVEL_REASON_CONTACT_LOST	/* "contact_lost" */
} LevelReason;

#define LEVEL_NREASONS 12

/* What measures a relationship as of a day; -1: unknown. */
typedef struct LevelSignals
{
	int32_t		as_of;			/* the day (days since 2000-01-01) */
	int32_t		level_since;	/* day the level began, or
								 * STAGE_SINCE_UNKNOWN */
	CrmStage	stage;			/* the life-cycle stage as of as_of */
	int32_t		tenure_days;	/* as_of - first purchase; -1: no purchase */
	int32_t		purchase_days;	/* purchase days in the window */
	int32_t		interactions;	/* interactions in the window */
	int32_t		channels;		/* their distinct channels */
	int32_t		complaints_late;	/* complaints of the window handled late */
	int32_t		last_satisfied; /* the latest survey: 1 satisfied, 0 not */
	int32_t		loyal;			/* 1: the latest surveys all satisfied */
	int32_t		account_manager;	/* 1: the customer has one */
} LevelSignals;

typedef struct LevelThresholds
{
	int32_t		level_window_days;	/* 365: the window of the counts */
	int32_t		level_min_days; /* 28: days at a level before it moves */
	int32_t		trust_min_interactions; /* 1 */
	int32_t		cooperation_min_tenure_days;	/* 180 */
	int32_t		cooperation_min_interactions;	/* 3 */
	int32_t		cooperation_min_channels;	/* 2 */
	int32_t		loyalty_min_tenure_days;	/* 365 */
	int32_t		partnership_min_tenure_days;	/* 730 */
	int32_t		partnership_min_interactions;	/* 6 */
	int32_t		partnership_min_channels;	/* 3 */
} LevelThresholds;

typedef struct LevelProposal
{
	CrmLevel	level;			/* proposed level (== current: no change) */
	LevelReason reason;
	double		value;			/* the number that decided, NaN if none */
	double		limit;			/* what it was compared with, NaN if none */
} LevelProposal;

/* longest text level_proposal_format() needs, terminator included */
#define LEVEL_PROPOSAL_MAXLEN 128

extern const char *level_reason_code(int reason);
extern void level_default_thresholds(LevelThresholds *t);
extern const char *level_thresholds_check(const LevelThresholds *t);
extern void level_signals_init(LevelSignals *s);
extern int	level_infer(CrmLevel current, const LevelSignals *s,
						const LevelThresholds *t, LevelProposal *out);
extern int	level_proposal_format(const LevelProposal *p, char *buf,
								  size_t buflen);

#endif							/* CRM_LEVEL_KERNEL_H */
