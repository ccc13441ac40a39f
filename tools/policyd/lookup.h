/*
 * lookup.h - from a policy request to its answer through libquotachk's
 * check engine (qc_engine_*): the cache, one IMAP lookup per recipient
 * however many requests want it, a deadline on every lookup, a backoff
 * while the server fails, and the accounting of accepted messages all
 * live there.  Every answer passes through here, so this is where the
 * decision is logged and counted.
 */
#ifndef QC_POLICYD_LOOKUP_H
#define QC_POLICYD_LOOKUP_H

#include <stdint.h>

#include "policyd.h"
#include "request.h"

/* Answer req (now, from the cache, or later, from the engine). */
void lookup_start(struct policyd *d, struct request *req);
/*
 * END-OF-MESSAGE with several recipients (Postfix names none): count the
 * message, with its real size, on the mailboxes its RCPTs were let
 * through to, when Postfix accepted every recipient the daemon let
 * through; answer action_fits (one full mailbox must not hold up the
 * others).  Returns -1 when the daemon did not see the message's RCPTs
 * (it then counts nothing).
 */
int lookup_commit(struct policyd *d, struct request *req);
/* Answer a request the daemon does not check: action_fits. */
void lookup_skip(struct policyd *d, struct request *req,
		 enum policy_kind kind);
/* Free req (answered, or its connection went away: then its check is
 * cancelled). */
void lookup_release(struct policyd *d, struct request *req);
/* The engine's own lines (backoff) go to the daemon's log. */
void lookup_events_to_log(struct policyd *d);

#endif
