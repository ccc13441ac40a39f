/*
 * metrics.c - recording (see metrics.h).  Relaxed atomics: each counter
 * is exact on its own; a scrape may see one decision's verdict counted
 * a moment before its latency, which Prometheus' rate() does not mind.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

static struct {
	const char *program;
	uint64_t start_time_s;
	_Atomic uint64_t decisions[METRICS_VERDICTS][ACTION_KINDS];
	_Atomic uint64_t errors[METRICS_ERROR_KINDS];
	_Atomic uint64_t cache_misses;
	_Atomic uint64_t connections_now;
	_Atomic uint64_t connections_total;
	_Atomic uint64_t protocol_errors;
	_Atomic uint64_t latency[METRICS_LATENCY_BUCKETS + 1];
	_Atomic uint64_t latency_sum_us;
} m = {.program = "quotachk"};

static void
add(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static uint64_t
get(_Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

void
metrics_init(const char *program)
{
	m.program = program;
	m.start_time_s = (uint64_t)time(NULL);
}

static unsigned int
latency_bucket(uint64_t us)
{
	unsigned int b = 0;

	while (b < METRICS_LATENCY_BUCKETS && us > metrics_latency_bounds_us[b])
		b++;
	return b;
}

void
metrics_decision(int error, enum qc_verdict verdict, enum action_kind action,
		 enum qc_source source, uint64_t us)
{
	unsigned int v = error != QC_OK ? METRICS_VERDICT_ERROR :
			 (unsigned int)verdict;

	if (v > METRICS_VERDICT_ERROR)
		v = METRICS_VERDICT_ERROR;
	if ((unsigned int)action >= ACTION_KINDS)
		action = ACTION_ERROR;
	add(&m.decisions[v][action], 1);
	if (error != QC_OK) {
		unsigned int kind = error < 0 ? (unsigned int)-error : 0;

		add(&m.errors[kind < METRICS_ERROR_KINDS ? kind :
			      METRICS_ERROR_KINDS - 1], 1);
	}
	/* Asked of the cache and not found there. */
	if (source == QC_SOURCE_SERVER || source == QC_SOURCE_COALESCED ||
	    source == QC_SOURCE_BACKOFF)
		add(&m.cache_misses, 1);
	add(&m.latency[latency_bucket(us)], 1);
	add(&m.latency_sum_us, us);
}

void
metrics_connection_open(void)
{
	add(&m.connections_now, 1);
	add(&m.connections_total, 1);
}

void
metrics_connection_close(void)
{
	atomic_fetch_sub_explicit(&m.connections_now, 1, memory_order_relaxed);
}

void
metrics_protocol_error(void)
{
	add(&m.protocol_errors, 1);
}

void
metrics_snapshot(qc_engine_t *engine, struct metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->program = m.program;
	s->start_time_s = m.start_time_s;
	for (unsigned int v = 0; v < METRICS_VERDICTS; v++)
		for (unsigned int a = 0; a < ACTION_KINDS; a++)
			s->decisions[v][a] = get(&m.decisions[v][a]);
	for (unsigned int k = 0; k < METRICS_ERROR_KINDS; k++)
		s->errors[k] = get(&m.errors[k]);
	s->cache_misses = get(&m.cache_misses);
	s->connections_now = get(&m.connections_now);
	s->connections_total = get(&m.connections_total);
	s->protocol_errors = get(&m.protocol_errors);
	for (unsigned int b = 0; b <= METRICS_LATENCY_BUCKETS; b++)
		s->latency[b] = get(&m.latency[b]);
	s->latency_sum_us = get(&m.latency_sum_us);
	if (engine == NULL)
		return;
	/* With backends, each backend's counters carry its name and no
	 * unlabelled total is written beside them, so that sum() over a
	 * family stays right.  More backends than entries: the total. */
	unsigned int n = qc_engine_backend_count(engine);

	if (n == 0 || n > METRICS_ENGINES_MAX) {
		s->engines[0].labels[0] = '\0';
		for (unsigned int c = 0; c < METRICS_ENGINE_COUNTERS; c++)
			s->engines[0].counter[c] =
				qc_engine_counter(engine, (enum qc_counter)c);
		s->nengines = 1;
		return;
	}
	for (s->nengines = 0; s->nengines < n; s->nengines++) {
		struct metrics_engine *e = &s->engines[s->nengines];
		/* NULL: a reload in the meantime left fewer backends. */
		const char *name = qc_engine_backend_name(engine, s->nengines);

		if (name == NULL)
			break;
		metrics_label(e->labels, sizeof(e->labels), "backend", name);
		for (unsigned int c = 0; c < METRICS_ENGINE_COUNTERS; c++)
			e->counter[c] = qc_engine_backend_counter(
				engine, s->nengines, (enum qc_counter)c);
	}
}
