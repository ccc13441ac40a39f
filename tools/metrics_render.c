/*
 * metrics_render.c - a snapshot as the Prometheus text exposition format
 * 0.0.4 (see metrics.h): every family once, with HELP and TYPE, its
 * samples together; counters end in _total; the histogram's buckets are
 * cumulative and end in +Inf, which equals _count.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define P "quotachk_"

/* 0.5 ms (a cache hit) to 10 s (beyond the longest imap_timeout most
 * set): where a policy answer's time can fall. */
const uint64_t metrics_latency_bounds_us[METRICS_LATENCY_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 5000000, 10000000
};

static const char *const verdict_names[METRICS_VERDICTS] = {
	"fits", "noquota", "overquota", "toolarge", "nouser", "notchecked",
	"error"
};
/* The action_* key that applied, less "action_". */
static const char *const action_names[ACTION_KINDS] = {
	"fits", "overquota", "toolarge", "nouser", "error"
};
/* The action each verdict takes with no error (reply_action_for()). */
static const enum action_kind natural_action[METRICS_VERDICTS] = {
	ACTION_FITS, ACTION_FITS, ACTION_OVERQUOTA, ACTION_TOOLARGE,
	ACTION_NOUSER, ACTION_FITS, ACTION_ERROR
};

_Static_assert(QC_VERDICT_NOT_CHECKED == 5, "verdict_names follows enum "
	       "qc_verdict");
_Static_assert(ACTION_KINDS == 5, "action_names follows enum action_kind");
_Static_assert(-QC_ERR_ANSWER == METRICS_ERROR_KINDS - 1,
	       "METRICS_ERROR_KINDS covers every error");

struct engine_family {
	enum qc_counter counter;
	const char *name;
	const char *type;
	const char *help;
};

static const struct engine_family engine_families[] = {
	{QC_COUNTER_CHECKS, P "checks_total", "counter",
	 "Checks the engine answered."},
	{QC_COUNTER_CACHE_HITS, P "cache_hits_total", "counter",
	 "Checks answered from the cache."},
	{QC_COUNTER_COALESCED, P "coalesced_lookups_total", "counter",
	 "Checks that shared another check's IMAP command for the same "
	 "mailbox."},
	{QC_COUNTER_LOOKUPS, P "imap_lookups_total", "counter",
	 "IMAP quota commands finished, successful or not."},
	{QC_COUNTER_IMAP_ERRORS, P "imap_errors_total", "counter",
	 "IMAP quota commands that failed."},
	{QC_COUNTER_TIMEOUTS, P "timeouts_total", "counter",
	 "Checks answered by their deadline (imap_timeout) before the "
	 "server."},
	{QC_COUNTER_BACKOFF_ANSWERS, P "backoff_answers_total", "counter",
	 "Checks answered at once, without asking, while the server was "
	 "backed off from."},
	{QC_COUNTER_PENDING, P "pending_checks", "gauge",
	 "Checks waiting for an answer now."},
	{QC_COUNTER_CACHE_ENTRIES, P "cache_entries", "gauge",
	 "Answers in the cache now."},
	{QC_COUNTER_BACKING_OFF, P "backoff", "gauge",
	 "1 while the IMAP server is backed off from (lookups failed), "
	 "else 0."},
	{QC_COUNTER_COUNTED, P "messages_counted_total", "counter",
	 "Accepted messages counted against a mailbox's cached figures, "
	 "once per mailbox."},
};

void
metrics_buf_free(struct metrics_buf *b)
{
	free(b->text);
	memset(b, 0, sizeof(*b));
}

char *
metrics_label(char *out, size_t size, const char *name, const char *value)
{
	size_t n = (size_t)snprintf(out, size, "%s=\"", name);

	if (n + 2 > size) {
		out[0] = '\0';
		return out;
	}
	for (; *value != '\0'; value++) {
		const char *esc = *value == '\\' ? "\\\\" : *value == '"' ?
				  "\\\"" : *value == '\n' ? "\\n" : NULL;
		size_t len = esc != NULL ? 2 : 1;

		if (n + len + 2 > size)  /* room for the closing quote */
			break;
		if (esc != NULL)
			memcpy(out + n, esc, 2);
		else
			out[n] = *value;
		n += len;
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}

__attribute__((format(printf, 2, 3)))
static void
put(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->size - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->text != NULL ? b->text + b->len : NULL, room,
			      fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t want = b->size * 2 > b->len + (size_t)n + 1 ?
			      b->size * 2 : b->len + (size_t)n + 4096;
		char *text = realloc(b->text, want);

		if (text == NULL) {
			b->failed = 1;
			return;
		}
		b->text = text;
		b->size = want;
	}
}

static void
family(struct metrics_buf *b, const char *name, const char *type,
       const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Labels "{a,b}" from up to two parts, either of which may be empty. */
static void
sample(struct metrics_buf *b, const char *name, const char *l1,
       const char *l2, uint64_t value)
{
	int any1 = l1 != NULL && l1[0], any2 = l2 != NULL && l2[0];

	put(b, "%s%s%s%s%s%s %" PRIu64 "\n", name, any1 || any2 ? "{" : "",
	    any1 ? l1 : "", any1 && any2 ? "," : "", any2 ? l2 : "",
	    any1 || any2 ? "}" : "", value);
}

/* Microseconds as seconds, without trailing zeros: "0.0005", "10". */
static void
seconds_text(uint64_t us, char *out, size_t size)
{
	size_t n;

	snprintf(out, size, "%" PRIu64 ".%06" PRIu64, us / 1000000,
		 us % 1000000);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
}

void
metrics_render_engines(const struct metrics_engine *engines,
		       unsigned int count, struct metrics_buf *b)
{
	for (size_t f = 0; f < sizeof(engine_families) /
	     sizeof(engine_families[0]); f++) {
		const struct engine_family *ef = &engine_families[f];

		if (count == 0)
			return;
		family(b, ef->name, ef->type, ef->help);
		for (unsigned int e = 0; e < count; e++)
			sample(b, ef->name, engines[e].labels, NULL,
			       engines[e].counter[ef->counter]);
	}
}

static void
render_decisions(const struct metrics_snapshot *s, struct metrics_buf *b)
{
	char l1[64], l2[64];

	family(b, P "decisions_total", "counter",
	       "Requests answered, by verdict (error: could not tell) and the "
	       "action_* key that applied.");
	for (unsigned int v = 0; v < METRICS_VERDICTS; v++)
		for (unsigned int a = 0; a < ACTION_KINDS; a++) {
			/* The pairs that can occur, and any other that did. */
			if (s->decisions[v][a] == 0 &&
			    natural_action[v] != (enum action_kind)a &&
			    !(v == METRICS_VERDICT_ERROR && a == ACTION_NOUSER))
				continue;
			snprintf(l1, sizeof(l1), "verdict=\"%s\"",
				 verdict_names[v]);
			snprintf(l2, sizeof(l2), "action=\"%s\"",
				 action_names[a]);
			sample(b, P "decisions_total", l1, l2,
			       s->decisions[v][a]);
		}
	family(b, P "decision_errors_total", "counter",
	       "Requests the engine could not tell, by error (qc_error_name; "
	       "QC_ERR_ADDRESS is answered with action_nouser).");
	for (int k = 1; k < METRICS_ERROR_KINDS; k++) {
		snprintf(l1, sizeof(l1), "kind=\"%s\"", qc_error_name(-k));
		sample(b, P "decision_errors_total", l1, NULL, s->errors[k]);
	}
	family(b, P "cache_misses_total", "counter",
	       "Requests whose check was not in the cache (asked the server, "
	       "joined another's lookup, or backed off).");
	sample(b, P "cache_misses_total", NULL, NULL, s->cache_misses);
}

static void
render_latency(const struct metrics_snapshot *s, struct metrics_buf *b)
{
	const char *name = P "decision_duration_seconds";
	uint64_t total = 0;
	char le[48], sum[40];

	family(b, name, "histogram",
	       "Time from a request to its answer, in seconds.");
	for (unsigned int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		total += s->latency[i];
		seconds_text(metrics_latency_bounds_us[i], sum, sizeof(sum));
		snprintf(le, sizeof(le), "le=\"%s\"", sum);
		sample(b, P "decision_duration_seconds_bucket", le, NULL, total);
	}
	total += s->latency[METRICS_LATENCY_BUCKETS];
	sample(b, P "decision_duration_seconds_bucket", "le=\"+Inf\"", NULL,
	       total);
	seconds_text(s->latency_sum_us, sum, sizeof(sum));
	put(b, "%s_sum %s\n", name, sum);
	put(b, "%s_count %" PRIu64 "\n", name, total);
}

int
metrics_render(const struct metrics_snapshot *s, struct metrics_buf *b)
{
	family(b, P "info", "gauge", "The program and its library version.");
	put(b, P "info{program=\"%s\",version=\"%s\"} 1\n", s->program,
	    qc_version_string());
	family(b, P "start_time_seconds", "gauge",
	       "When the process started, in seconds since the Unix epoch.");
	sample(b, P "start_time_seconds", NULL, NULL, s->start_time_s);
	render_decisions(s, b);
	render_latency(s, b);
	family(b, P "client_connections", "gauge",
	       "Clients connected now (Postfix policy connections, or MTA "
	       "milter connections).");
	sample(b, P "client_connections", NULL, NULL, s->connections_now);
	family(b, P "client_connections_total", "counter",
	       "Client connections accepted.");
	sample(b, P "client_connections_total", NULL, NULL,
	       s->connections_total);
	family(b, P "protocol_errors_total", "counter",
	       "Clients dropped for input that broke the protocol.");
	sample(b, P "protocol_errors_total", NULL, NULL, s->protocol_errors);
	metrics_render_engines(s->engines, s->nengines, b);
	return b->failed ? -1 : 0;
}
