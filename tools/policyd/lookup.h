/*
 * lookup.h - from a request to its answer: the cache first, then one
 * IMAP lookup per recipient however many requests want it (coalescing),
 * a deadline on every lookup, and a backoff while the server fails.
 * Every answer passes through here, so this is also where the decision
 * is logged and counted.
 *
 * Backoff: the first failure that says "the server is not usable"
 * (connect, TLS, login, timeout, dropped connection, protocol) starts an
 * interval of BACKOFF_MIN_MS during which new lookups are answered with
 * action_error at once; then one lookup (the probe) goes through; if it
 * fails too the interval doubles up to BACKOFF_MAX_MS; any other outcome
 * (an answer, a NO, a BAD about one mailbox) ends the backoff.  Cached
 * answers keep being served throughout, within cache_ttl, so a recipient
 * asked shortly before the server went down is still checked.
 *
 * BACKOFF_MAX_MS bounds how long right answers stay away after the server
 * is back: the first probe after recovery ends the backoff.  A 10 s cap
 * kept answering action_error (letting mail for full mailboxes in) for up
 * to 10 s after a restart; tests/integration/policyd-faults.sh requires
 * right answers within 2 s.  One probe a second costs a failing server
 * nothing (a refused connect, or one connection waiting out imap_timeout),
 * so the cap equals the start: the interval stays at 1 s.
 */
#ifndef QC_POLICYD_LOOKUP_H
#define QC_POLICYD_LOOKUP_H

#include <stdint.h>

#include "policyd.h"
#include "request.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 1000

struct lookup *lookup_create(void);
void lookup_destroy(struct lookup **lookup);

/* Answer req (now, from the cache, or later, from a worker). */
void lookup_start(struct policyd *d, struct request *req);
/*
 * END-OF-MESSAGE with several recipients (Postfix names none): count the
 * message, with its real size, on the mailboxes its RCPTs were let
 * through to, when Postfix accepted every recipient the daemon let
 * through; answer action_fits (one full mailbox must not hold up the
 * others) and forget the message.  Returns -1 when the daemon did not
 * see the message's RCPTs (it then counts nothing).
 */
int lookup_commit(struct policyd *d, struct request *req);
/* Answer a request the daemon does not check: action_fits. */
void lookup_skip(struct policyd *d, struct request *req,
		 enum policy_kind kind);
/* The request's connection is going away: forget the request. */
void lookup_cancel(struct request *req);

/* The workers' eventfd is readable: answer finished lookups. */
void lookup_results(struct policyd *d);
/* Answer lookups whose deadline passed. */
void lookup_tick(struct policyd *d, uint64_t now_ms);
/* New configuration: forget the backoff; answers of lookups started
 * before now are still given, but no longer cached. */
void lookup_new_config(struct lookup *lookup);
unsigned int lookup_pending(const struct lookup *lookup);

#endif
