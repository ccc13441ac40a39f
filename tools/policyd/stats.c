/*
 * stats.c - counters and a latency histogram.  Buckets are log-linear
 * (four per power of two), good to about 20 % from 1 us to hours, in
 * 2 KiB: enough for p50/p99 without keeping samples.
 */
#include <inttypes.h>

#include "log.h"
#include "stats.h"

static unsigned int
bucket_of(uint64_t us)
{
	unsigned int msb, b;

	if (us < 8)
		return (unsigned int)us;
	msb = 63 - (unsigned int)__builtin_clzll(us);
	b = (msb - 1) * 4 + (unsigned int)((us >> (msb - 2)) & 3);
	return b < STATS_LATENCY_BUCKETS ? b : STATS_LATENCY_BUCKETS - 1;
}

static uint64_t
bucket_top(unsigned int b)
{
	unsigned int msb;

	if (b < 8)
		return b;
	msb = b / 4 + 1;
	return ((uint64_t)(4 + (b & 3) + 1) << (msb - 2)) - 1;
}

void
stats_latency(struct stats *s, uint64_t us)
{
	s->latency[bucket_of(us)]++;
	if (us > s->latency_max_us)
		s->latency_max_us = us;
}

uint64_t
stats_percentile(const struct stats *s, double q)
{
	uint64_t total = 0, seen = 0, want;

	for (unsigned int b = 0; b < STATS_LATENCY_BUCKETS; b++)
		total += s->latency[b];
	if (total == 0)
		return 0;
	want = (uint64_t)(q * (double)total);
	if (want == 0)
		want = 1;
	for (unsigned int b = 0; b < STATS_LATENCY_BUCKETS; b++) {
		seen += s->latency[b];
		if (seen >= want)
			return bucket_top(b) < s->latency_max_us ?
			       bucket_top(b) : s->latency_max_us;
	}
	return s->latency_max_us;
}

void
stats_from_engine(struct stats *s, qc_engine_t *e)
{
	s->cache_hits = qc_engine_counter(e, QC_COUNTER_CACHE_HITS);
	s->coalesced = qc_engine_counter(e, QC_COUNTER_COALESCED);
	s->lookups = qc_engine_counter(e, QC_COUNTER_LOOKUPS);
	s->imap_errors = qc_engine_counter(e, QC_COUNTER_IMAP_ERRORS);
	s->timeouts = qc_engine_counter(e, QC_COUNTER_TIMEOUTS);
	s->backoff_answers = qc_engine_counter(e, QC_COUNTER_BACKOFF_ANSWERS);
}

void
stats_log(const struct stats *s, unsigned int connections_now,
	  unsigned long cache_entries, uint64_t now_ms)
{
	msg_info("stats: uptime=%" PRIu64 "s requests=%" PRIu64
		 " fits=%" PRIu64 " no_quota=%" PRIu64 " over_quota=%" PRIu64
		 " too_large=%" PRIu64 " no_mailbox=%" PRIu64
		 " not_checked=%" PRIu64 " errors=%" PRIu64 " skipped=%" PRIu64
		 " cache_hits=%" PRIu64 " cache_entries=%lu coalesced=%" PRIu64
		 " lookups=%" PRIu64 " imap_errors=%" PRIu64
		 " timeouts=%" PRIu64 " backoff_answers=%" PRIu64
		 " connections=%u connections_total=%" PRIu64
		 " protocol_errors=%" PRIu64 " latency_p50_us=%" PRIu64
		 " latency_p99_us=%" PRIu64 " latency_max_us=%" PRIu64,
		 (now_ms - s->started_ms) / 1000, s->requests,
		 s->verdicts[QC_VERDICT_FITS], s->verdicts[QC_VERDICT_NO_QUOTA],
		 s->verdicts[QC_VERDICT_OVER_QUOTA],
		 s->verdicts[QC_VERDICT_TOO_LARGE],
		 s->verdicts[QC_VERDICT_NO_MAILBOX],
		 s->verdicts[QC_VERDICT_NOT_CHECKED], s->errors, s->skipped,
		 s->cache_hits, cache_entries, s->coalesced, s->lookups,
		 s->imap_errors, s->timeouts, s->backoff_answers,
		 connections_now, s->connections, s->protocol_errors,
		 stats_percentile(s, 0.50), stats_percentile(s, 0.99),
		 s->latency_max_us);
}
