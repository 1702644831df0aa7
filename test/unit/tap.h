/*
 * tap.h: the few lines of TAP the kernel unit tests share.
 *
 * ok(cond, description) prints "ok N - description" or "not ok N - ...";
 * tap_done() prints the plan and returns the exit status.
 */
#ifndef CRM_TAP_H
#define CRM_TAP_H

#include <math.h>
#include <stdio.h>

static int	tap_count = 0;
static int	tap_failed = 0;

static inline void
ok(int cond, const char *description)
{
	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_count, description);
}

/* |a - b| <= tol * max(1, |b|) */
static inline int
close_to(double a, double b, double tol)
{
	return fabs(a - b) <= tol * fmax(1.0, fabs(b));
}

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed != 0;
}

#endif							/* CRM_TAP_H */
