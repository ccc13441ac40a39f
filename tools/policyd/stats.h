/*
 * stats.h - counters for the SIGUSR1 stats line.  Only the event loop
 * updates them, so they need no locking.
 */
#ifndef QC_POLICYD_STATS_H
#define QC_POLICYD_STATS_H

#include <stdint.h>

#include "reply.h"

#define STATS_LATENCY_BUCKETS 256

struct stats {
	uint64_t started_ms;
	uint64_t requests;           /* answered */
	uint64_t verdicts[6];        /* by enum qc_verdict */
	uint64_t errors;             /* answered with action_error */
	uint64_t skipped;            /* wrong state, no recipient, ... */
	uint64_t actions[ACTION_KINDS];
	uint64_t cache_hits;
	uint64_t coalesced;          /* requests that joined a lookup */
	uint64_t lookups;            /* IMAP lookups finished */
	uint64_t imap_errors;
	uint64_t timeouts;           /* answered by the loop's deadline */
	uint64_t backoff_answers;    /* answered at once while backing off */
	uint64_t connections;        /* accepted in total */
	uint64_t protocol_errors;    /* clients dropped for bad input */
	uint64_t latency[STATS_LATENCY_BUCKETS]; /* microseconds, log scale */
	uint64_t latency_max_us;
};

void stats_latency(struct stats *stats, uint64_t us);
/* The upper bound, in microseconds, below which fraction q of answers fell. */
uint64_t stats_percentile(const struct stats *stats, double q);
/* Copy the engine's counters (cache hits, lookups, ...) into stats. */
void stats_from_engine(struct stats *stats, qc_engine_t *engine);
/* One key=value line at info level. */
void stats_log(const struct stats *stats, unsigned int connections_now,
	       unsigned long cache_entries, uint64_t now_ms);

#endif
