/*
 * test_metrics.c - the Prometheus exposition (tools/metrics_render.c)
 * from a known snapshot, and the endpoint's request judgement
 * (tools/http_request.c).  The integration tests (metrics.sh) check the
 * same text with promtool and against real decisions.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http_request.h"
#include "metrics.h"

static char *
render(const struct metrics_snapshot *s)
{
	struct metrics_buf b = {0};

	cr_assert_eq(metrics_render(s, &b), 0);
	cr_assert_not_null(b.text);
	cr_assert_eq(strlen(b.text), b.len);
	return b.text;
}

static void
has_line(const char *text, const char *line)
{
	char want[300];

	snprintf(want, sizeof(want), "\n%s\n", line);
	cr_assert_not_null(strstr(text, want), "missing line: %s\n--- in:\n%s",
			   line, text);
}

static int
count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
sample_snapshot(struct metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->program = "quotachk-policyd";
	s->start_time_s = 1700000000;
	s->decisions[QC_VERDICT_FITS][ACTION_FITS] = 5;
	s->decisions[QC_VERDICT_OVER_QUOTA][ACTION_OVERQUOTA] = 3;
	s->decisions[QC_VERDICT_NO_MAILBOX][ACTION_NOUSER] = 2;
	s->decisions[METRICS_VERDICT_ERROR][ACTION_ERROR] = 1;
	s->decisions[METRICS_VERDICT_ERROR][ACTION_NOUSER] = 4;
	/* Cannot happen today; shown because it did. */
	s->decisions[QC_VERDICT_TOO_LARGE][ACTION_ERROR] = 7;
	s->errors[-QC_ERR_TIMEOUT] = 1;
	s->errors[-QC_ERR_ADDRESS] = 4;
	s->cache_misses = 9;
	s->connections_now = 2;
	s->connections_total = 11;
	s->protocol_errors = 1;
	s->latency[0] = 1;                         /* <= 0.5 ms */
	s->latency[3] = 2;                         /* <= 5 ms */
	s->latency[METRICS_LATENCY_BUCKETS] = 1;   /* > 10 s */
	s->latency_sum_us = 12004500;
	s->engines[0].labels[0] = '\0';
	s->engines[0].counter[QC_COUNTER_CHECKS] = 15;
	s->engines[0].counter[QC_COUNTER_CACHE_HITS] = 6;
	s->engines[0].counter[QC_COUNTER_COALESCED] = 2;
	s->engines[0].counter[QC_COUNTER_LOOKUPS] = 7;
	s->engines[0].counter[QC_COUNTER_IMAP_ERRORS] = 1;
	s->engines[0].counter[QC_COUNTER_PENDING] = 3;
	s->engines[0].counter[QC_COUNTER_CACHE_ENTRIES] = 4;
	s->engines[0].counter[QC_COUNTER_BACKING_OFF] = 1;
	s->engines[0].counter[QC_COUNTER_COUNTED] = 8;
	s->nengines = 1;
}

Test(metrics_render, decisions_and_errors)
{
	struct metrics_snapshot s;
	char *text;

	sample_snapshot(&s);
	text = render(&s);
	has_line(text, "quotachk_decisions_total{verdict=\"fits\","
		 "action=\"fits\"} 5");
	has_line(text, "quotachk_decisions_total{verdict=\"overquota\","
		 "action=\"overquota\"} 3");
	has_line(text, "quotachk_decisions_total{verdict=\"nouser\","
		 "action=\"nouser\"} 2");
	has_line(text, "quotachk_decisions_total{verdict=\"error\","
		 "action=\"error\"} 1");
	has_line(text, "quotachk_decisions_total{verdict=\"error\","
		 "action=\"nouser\"} 4");
	has_line(text, "quotachk_decisions_total{verdict=\"toolarge\","
		 "action=\"error\"} 7");
	/* The pairs that can occur are there at 0, others are not. */
	has_line(text, "quotachk_decisions_total{verdict=\"noquota\","
		 "action=\"fits\"} 0");
	has_line(text, "quotachk_decisions_total{verdict=\"notchecked\","
		 "action=\"fits\"} 0");
	cr_assert_null(strstr(text, "verdict=\"fits\",action=\"overquota\""));
	has_line(text, "quotachk_decision_errors_total{kind=\"QC_ERR_TIMEOUT\"} 1");
	has_line(text, "quotachk_decision_errors_total{kind=\"QC_ERR_ADDRESS\"} 4");
	has_line(text, "quotachk_decision_errors_total{kind=\"QC_ERR_ANSWER\"} 0");
	cr_assert_null(strstr(text, "kind=\"QC_OK\""));
	has_line(text, "quotachk_cache_misses_total 9");
	has_line(text, "quotachk_client_connections 2");
	has_line(text, "quotachk_client_connections_total 11");
	has_line(text, "quotachk_protocol_errors_total 1");
	has_line(text, "quotachk_start_time_seconds 1700000000");
	cr_assert_not_null(strstr(text, "quotachk_info{program=\"quotachk-policyd\","
				  "version=\""));
	free(text);
}

Test(metrics_render, histogram_is_cumulative)
{
	struct metrics_snapshot s;
	char *text;

	sample_snapshot(&s);
	text = render(&s);
	has_line(text, "# TYPE quotachk_decision_duration_seconds histogram");
	has_line(text, "quotachk_decision_duration_seconds_bucket{le=\"0.0005\"} 1");
	has_line(text, "quotachk_decision_duration_seconds_bucket{le=\"0.001\"} 1");
	has_line(text, "quotachk_decision_duration_seconds_bucket{le=\"0.0025\"} 1");
	has_line(text, "quotachk_decision_duration_seconds_bucket{le=\"0.005\"} 3");
	has_line(text, "quotachk_decision_duration_seconds_bucket{le=\"10\"} 3");
	has_line(text, "quotachk_decision_duration_seconds_bucket{le=\"+Inf\"} 4");
	has_line(text, "quotachk_decision_duration_seconds_sum 12.0045");
	has_line(text, "quotachk_decision_duration_seconds_count 4");
	cr_assert_eq(count(text, "quotachk_decision_duration_seconds_bucket"),
		     METRICS_LATENCY_BUCKETS + 1);
	free(text);
}

Test(metrics_render, engine_families)
{
	struct metrics_snapshot s;
	char *text;

	sample_snapshot(&s);
	text = render(&s);
	has_line(text, "quotachk_checks_total 15");
	has_line(text, "quotachk_cache_hits_total 6");
	has_line(text, "quotachk_coalesced_lookups_total 2");
	has_line(text, "quotachk_imap_lookups_total 7");
	has_line(text, "quotachk_imap_errors_total 1");
	has_line(text, "quotachk_timeouts_total 0");
	has_line(text, "quotachk_backoff_answers_total 0");
	has_line(text, "quotachk_pending_checks 3");
	has_line(text, "quotachk_cache_entries 4");
	has_line(text, "quotachk_backoff 1");
	has_line(text, "quotachk_messages_counted_total 8");
	has_line(text, "# TYPE quotachk_backoff gauge");
	has_line(text, "# TYPE quotachk_cache_hits_total counter");
	free(text);
}

/* Several engines (backends): each family still once, a sample each. */
Test(metrics_render, engines_with_labels)
{
	struct metrics_engine e[2];
	struct metrics_buf b = {0};

	memset(e, 0, sizeof(e));
	metrics_label(e[0].labels, sizeof(e[0].labels), "backend", "imap1");
	e[0].counter[QC_COUNTER_LOOKUPS] = 4;
	metrics_label(e[1].labels, sizeof(e[1].labels), "backend", "imap2");
	e[1].counter[QC_COUNTER_LOOKUPS] = 9;
	metrics_render_engines(e, 2, &b);
	cr_assert_eq(b.failed, 0);
	cr_assert_eq(count(b.text, "# HELP quotachk_imap_lookups_total "), 1);
	cr_assert_not_null(strstr(b.text, "\nquotachk_imap_lookups_total"
				  "{backend=\"imap1\"} 4\nquotachk_imap_lookups_"
				  "total{backend=\"imap2\"} 9\n"));
	metrics_buf_free(&b);
	metrics_render_engines(e, 0, &b);
	cr_assert_eq(b.len, 0);
	metrics_buf_free(&b);
}

/*
 * The format's rules that promtool also checks, on our own output: each
 * family's HELP and TYPE once, before its samples; every sample belongs
 * to the family declared last; counters end in _total.
 */
Test(metrics_render, well_formed)
{
	struct metrics_snapshot s;
	char *text, *line, *save = NULL, family[128] = "", type[32] = "";
	int families = 0;

	sample_snapshot(&s);
	text = render(&s);
	cr_assert_eq(text[strlen(text) - 1], '\n');
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[128];

		if (strncmp(line, "# HELP ", 7) == 0) {
			cr_assert_eq(sscanf(line + 7, "%127s", family), 1);
			type[0] = '\0';
			families++;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			cr_assert_eq(sscanf(line + 7, "%127s %31s", name, type),
				     2);
			cr_assert_str_eq(name, family);
			if (strcmp(type, "counter") == 0)
				cr_assert(strstr(family, "_total") != NULL &&
					  strcmp(strstr(family, "_total"),
						 "_total") == 0, "%s", family);
			continue;
		}
		cr_assert(type[0] != '\0', "sample before TYPE: %s", line);
		cr_assert_eq(strncmp(line, family, strlen(family)), 0,
			     "%s outside its family %s", line, family);
		cr_assert_not_null(strchr(line, ' '));
	}
	cr_assert_geq(families, 20);
	free(text);
}

Test(metrics_render, label_escaping)
{
	char out[32];

	cr_assert_str_eq(metrics_label(out, sizeof(out), "backend",
				       "imap://a/"), "backend=\"imap://a/\"");
	cr_assert_str_eq(metrics_label(out, sizeof(out), "b", "x\\y\"z\nw"),
			 "b=\"x\\\\y\\\"z\\nw\"");
	/* Cut, but still one closed, well-escaped value. */
	cr_assert_str_eq(metrics_label(out, 12, "b", "abcdefghijkl"),
			 "b=\"abcdefg\"");
	cr_assert_str_eq(metrics_label(out, 8, "b", "\"\"\"\""), "b=\"\\\"\"");
	cr_assert_str_eq(metrics_label(out, 3, "b", "x"), "");
}

struct http_case {
	const char *request;
	int status, head;
};

Test(http_request, table)
{
	static const struct http_case cases[] = {
		{"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, 0},
		{"GET /metrics HTTP/1.0\r\n\r\n", 200, 0},
		{"GET /metrics?x=1 HTTP/1.0\n\n", 200, 0},
		{"HEAD /metrics HTTP/1.0\r\n\r\n", 200, 1},
		{"GET / HTTP/1.0\r\n\r\n", 404, 0},
		{"GET /metricsx HTTP/1.0\r\n\r\n", 404, 0},
		{"GET /metrics/ HTTP/1.0\r\n\r\n", 404, 0},
		{"POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\n", 405, 0},
		{"DELETE / HTTP/1.1\r\n\r\n", 405, 0},
		{"get /metrics HTTP/1.0\r\n\r\n", 405, 0},
		{"GET /metrics\r\n\r\n", 400, 0},
		{"GET  /metrics HTTP/1.0\r\n\r\n", 400, 0},
		{"GET /metrics HTTP/2.0\r\n\r\n", 400, 0},
		{"GET /metrics HTTP/1.0 x\r\n\r\n", 400, 0},
		{"\r\n\r\n", 400, 0},
		/* Not complete yet: read on. */
		{"GET /metrics HTTP/1.0\r\n", 0, 0},
		{"GET /metr", 0, 0},
		{"", 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int head = -1;
		int status = http_request_status(cases[i].request,
						 strlen(cases[i].request),
						 HTTP_REQUEST_MAX, &head);

		cr_assert_eq(status, cases[i].status, "case %zu (%s): %d", i,
			     cases[i].request, status);
		if (status == 200)
			cr_assert_eq(head, cases[i].head, "case %zu", i);
	}
}

Test(http_request, header_limit)
{
	static char big[HTTP_REQUEST_MAX];
	int head;

	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.0\r\nX: ", 26);
	cr_assert_eq(http_request_status(big, sizeof(big) - 1, sizeof(big),
					 &head), 0);
	cr_assert_eq(http_request_status(big, sizeof(big), sizeof(big),
					 &head), 431);
	cr_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
	cr_assert_str_eq(http_reason(405), "Method Not Allowed");
}
