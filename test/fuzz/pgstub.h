/*
 * pgstub.h: the backend stand-in of test/fuzz/pgstub.c.
 */
#ifndef CRM_PGSTUB_H
#define CRM_PGSTUB_H

extern int	stub_last_sqlstate;
extern char stub_last_message[256];
extern void stub_reset(void);
extern void stub_error(int sqlstate, const char *message) pg_attribute_noreturn();

#endif
