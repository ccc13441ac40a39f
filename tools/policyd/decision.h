/*
 * decision.h - the one key=value log line per decision that
 * quotachk-policyd and quotachk-milter both write:
 *
 *   recipient=bob@example.test mailbox=user.bob [backend=NAME]
 *   used=307200 limit=102400
 *   [messages=U/L] [accepted_since=N] size=0 [EXTRA] verdict=overquota
 *   action="452 4.2.2 Mailbox full" cached=no ms=1.234
 *   [error=... detail="..."] [window=yes]
 *
 * used and limit are the figures the decision saw (the server's plus
 * what was counted since, accepted_since of them).  Client-supplied text
 * is sanitised.
 */
#ifndef QC_POLICYD_DECISION_H
#define QC_POLICYD_DECISION_H

#include <stdint.h>

#include "quotachk.h"

struct decision {
	const char *recipient;      /* as the client sent it; may be NULL */
	const qc_check_t *check;    /* the engine's answer; NULL if none */
	int error;
	enum qc_verdict verdict;
	const char *errmsg;         /* NULL: qc_strerror(error) */
	uint64_t size;
	const char *extra;          /* " state=..." or "" */
	const char *action;
	uint64_t us;                /* the request's time, start to answer */
};

void decision_log(const struct decision *d);
/* With several backends, one "stats: backend=NAME ..." line each (after
 * the daemon's own stats line); nothing without. */
void decision_log_backends(qc_engine_t *engine);

#endif
