/*
 * metrics.h - the counters quotachk-policyd and quotachk-milter expose
 * to Prometheus (stats_listen), and their text rendering.
 *
 * Two halves, apart on purpose:
 *  - recording (metrics.c): one process-wide set of atomic counters that
 *    any thread updates (the milter answers from libmilter's threads);
 *    metrics_snapshot() copies them, with the engine's counters, into a
 *    plain struct metrics_snapshot;
 *  - rendering (metrics_render.c): snapshot -> text exposition format
 *    0.0.4, pure, so the unit tests see exactly what a scrape sees.
 */
#ifndef QC_TOOLS_METRICS_H
#define QC_TOOLS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "quotachk.h"
#include "policyd/reply.h"

/* Decisions by verdict: the six enum qc_verdict values, then "error"
 * (the engine could not tell). */
#define METRICS_VERDICTS 7
#define METRICS_VERDICT_ERROR 6
/* Errors by kind: index -error, QC_OK .. QC_ERR_ANSWER; anything newer
 * is counted as the last. */
#define METRICS_ERROR_KINDS 15
/* Upper bounds of the decision time histogram, in microseconds. */
#define METRICS_LATENCY_BUCKETS 14
extern const uint64_t metrics_latency_bounds_us[METRICS_LATENCY_BUCKETS];
/* Every enum qc_counter, QC_COUNTER_CHECKS .. QC_COUNTER_COUNTED. */
#define METRICS_ENGINE_COUNTERS (QC_COUNTER_COUNTED + 1)

/* One engine's counters (or one backend's), and the labels its samples
 * carry: "" or e.g. backend="imap1" (metrics_label() escapes). */
struct metrics_engine {
	char labels[320];
	uint64_t counter[METRICS_ENGINE_COUNTERS];
};

/* The whole engine and up to 16 backends. */
#define METRICS_ENGINES_MAX 17

struct metrics_snapshot {
	const char *program;                 /* "quotachk-policyd" */
	uint64_t start_time_s;               /* Unix time */
	uint64_t decisions[METRICS_VERDICTS][ACTION_KINDS];
	uint64_t errors[METRICS_ERROR_KINDS];
	uint64_t cache_misses;
	uint64_t connections_now;
	uint64_t connections_total;
	uint64_t protocol_errors;
	uint64_t latency[METRICS_LATENCY_BUCKETS + 1]; /* not cumulative;
							* last: above all */
	uint64_t latency_sum_us;
	/* engines[0] is the whole engine; more entries are rendered as
	 * further samples of the same families. */
	struct metrics_engine engines[METRICS_ENGINES_MAX];
	unsigned int nengines;
};

/* ---- recording (any thread) ---- */

/* The process started (for quotachk_start_time_seconds). */
void metrics_init(const char *program);
/*
 * One answered request: error and verdict as the decision log line
 * gives them, the action kind that applied, where the answer came from
 * (QC_SOURCE_NONE when no check ran) and the time it took.
 */
void metrics_decision(int error, enum qc_verdict verdict,
		      enum action_kind action, enum qc_source source,
		      uint64_t us);
void metrics_connection_open(void);
void metrics_connection_close(void);
void metrics_protocol_error(void);
/* Everything now, with engine's counters (engine may be NULL). */
void metrics_snapshot(qc_engine_t *engine, struct metrics_snapshot *snap_r);

/* ---- rendering (pure) ---- */

/* A growing string; on allocation failure failed is set and text is
 * left as it was. */
struct metrics_buf {
	char *text;
	size_t len, size;
	int failed;
};

void metrics_buf_free(struct metrics_buf *buf);
/* name="value" into out, the value escaped as the format wants (\\, \",
 * \n); cut, never broken, when out is too small.  Returns out. */
char *metrics_label(char *out, size_t size, const char *name,
		    const char *value);
/* The whole exposition; returns 0, or -1 when memory ran out. */
int metrics_render(const struct metrics_snapshot *snap,
		   struct metrics_buf *out);
/*
 * The engine's families alone, for every entry of engines (HELP and TYPE
 * once per family, then one sample per entry with its labels).
 */
void metrics_render_engines(const struct metrics_engine *engines,
			    unsigned int count, struct metrics_buf *out);

#endif
