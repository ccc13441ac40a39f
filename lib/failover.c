/*
 * failover.c - which of several imap_url servers a client tries, in what
 * order, and when one that failed is tried again.
 *
 * Each URL that fails (no connection, no login, connection lost) is
 * skipped for a backoff that starts at 1 s and doubles up to 10 s, and is
 * tried again once it has passed, so a recovered frontend gets its share
 * back within seconds.  A client starts at its preferred URL (the daemon
 * spreads its workers over the list) and returns to it once its backoff
 * has passed.  When every URL is backing off, they are still tried, the
 * soonest-due first: skipping all of them would turn an outage of a few
 * seconds into refusals for the whole backoff.  Pure: the caller passes
 * the clock, so the unit tests can move it.
 */
#include <string.h>

#include "qc_private.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 10000

void
qc_failover_init(struct qc_failover *f, unsigned int count)
{
	memset(f, 0, sizeof(*f));
	f->count = count < 1 ? 1 : count > QC_URLS_MAX ? QC_URLS_MAX : count;
}

void
qc_failover_prefer(struct qc_failover *f, unsigned int index)
{
	f->preferred = index % f->count;
}

static int
due(const struct qc_failover *f, unsigned int i, uint64_t now_ms)
{
	return f->url[i].retry_at_ms <= now_ms;
}

unsigned int
qc_failover_order(const struct qc_failover *f, uint64_t now_ms,
		  unsigned int order_r[QC_URLS_MAX])
{
	unsigned int n = 0, i, j;

	/* Due URLs first, in list order from the preferred one. */
	for (i = 0; i < f->count; i++) {
		unsigned int u = (f->preferred + i) % f->count;

		if (due(f, u, now_ms))
			order_r[n++] = u;
	}
	/* Then the others, soonest due first (insertion sort: n <= 8). */
	for (i = 0; i < f->count; i++) {
		unsigned int u = (f->preferred + i) % f->count;

		if (due(f, u, now_ms))
			continue;
		for (j = n; j > 0 && !due(f, order_r[j - 1], now_ms) &&
		     f->url[order_r[j - 1]].retry_at_ms >
		     f->url[u].retry_at_ms; j--)
			order_r[j] = order_r[j - 1];
		order_r[j] = u;
		n++;
	}
	return n;
}

void
qc_failover_failed(struct qc_failover *f, unsigned int index,
		   uint64_t now_ms)
{
	struct qc_failover_url *u = &f->url[index % f->count];

	u->backoff_ms = u->backoff_ms == 0 ? BACKOFF_FIRST_MS :
			u->backoff_ms >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS :
			u->backoff_ms * 2;
	u->retry_at_ms = now_ms + u->backoff_ms;
}

void
qc_failover_succeeded(struct qc_failover *f, unsigned int index)
{
	struct qc_failover_url *u = &f->url[index % f->count];

	u->backoff_ms = 0;
	u->retry_at_ms = 0;
}

int
qc_failover_should_return(const struct qc_failover *f, unsigned int current,
			  uint64_t now_ms)
{
	return f->count > 1 && current != f->preferred &&
	       due(f, f->preferred, now_ms);
}
