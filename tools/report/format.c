/*
 * format.c - the report as JSON (json-c), a table for people, the
 * Prometheus text exposition format (node_exporter textfile collector)
 * and a monitoring-plugin (Nagios) status line.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "json_usage.h"
#include "report.h"

double
report_percent(const struct qc_usage *u)
{
	if (!u->limited)
		return 0.0;
	if (u->limit == 0)
		return u->used > 0 ? 100.0 : 0.0;
	return (double)u->used * 100.0 / (double)u->limit;
}

static double
entry_percent(const struct report_entry *e)
{
	double s = report_percent(&e->storage), m = report_percent(&e->messages);

	return s > m ? s : m;
}

static int
by_percent(const void *a, const void *b)
{
	double pa = entry_percent(a), pb = entry_percent(b);

	if (pa != pb)
		return pa < pb ? 1 : -1;
	return strcmp(((const struct report_entry *)a)->mailbox,
		      ((const struct report_entry *)b)->mailbox);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct report_entry *)a)->mailbox,
		      ((const struct report_entry *)b)->mailbox);
}

static int
by_used(const void *a, const void *b)
{
	uint64_t ua = ((const struct report_entry *)a)->storage.used;
	uint64_t ub = ((const struct report_entry *)b)->storage.used;

	if (ua != ub)
		return ua < ub ? 1 : -1;
	return by_name(a, b);
}

void
report_sort(struct report *r, enum report_sort by)
{
	if (r->nentries == 0)
		return; /* entries may be NULL, which qsort must not get */
	qsort(r->entries, r->nentries, sizeof(*r->entries),
	      by == SORT_NAME ? by_name : by == SORT_USED ? by_used :
	      by_percent);
}

/* --over=P keeps the mailboxes at or above P percent of storage. */
void
report_keep_over(struct report *r, double percent)
{
	size_t kept = 0;

	for (size_t i = 0; i < r->nentries; i++)
		if (r->entries[i].storage.limited &&
		    report_percent(&r->entries[i].storage) >= percent)
			r->entries[kept++] = r->entries[i];
	r->nentries = kept;
}

static void
iso8601(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The shared {used, limit} object plus this report's percentage. */
static json_object *
usage_json(const struct qc_usage *u)
{
	json_object *o = tool_usage_json(u);

	if (o != NULL)
		json_object_object_add(o, "percent",
				       json_object_new_double(report_percent(u)));
	return o;
}

static json_object *
backends_json(const struct report *r)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < r->nbackends; i++) {
		const struct report_backend *b = &r->backends[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name",
				       json_object_new_string(b->name));
		json_object_object_add(o, "server",
				       json_object_new_string(b->server));
		json_object_object_add(o, "success",
				       json_object_new_boolean(!b->failed));
		if (b->failed)
			json_object_object_add(o, "failure",
					json_object_new_string(b->failure));
		json_object_array_add(a, o);
	}
	return a;
}

int
report_json(FILE *fp, const struct report *r)
{
	json_object *top = json_object_new_object();
	json_object *boxes = json_object_new_array();
	json_object *errors = json_object_new_array();
	json_object *totals = json_object_new_object();
	uint64_t used = 0, limit = 0, over = 0;
	char when[32];

	iso8601(r->generated, when, sizeof(when));
	json_object_object_add(top, "generated", json_object_new_string(when));
	json_object_object_add(top, "server", json_object_new_string(r->server));
	json_object_object_add(top, "success",
			       json_object_new_boolean(!r->failed));
	if (r->failed)
		json_object_object_add(top, "failure",
				       json_object_new_string(r->failure));
	for (size_t i = 0; i < r->nentries; i++) {
		const struct report_entry *e = &r->entries[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "mailbox",
				       json_object_new_string(e->mailbox));
		if (r->with_backends)
			json_object_object_add(o, "backend",
					json_object_new_string(e->backend));
		json_object_object_add(o, "quota_root", e->root[0] ?
				       json_object_new_string(e->root) : NULL);
		json_object_object_add(o, "storage", usage_json(&e->storage));
		json_object_object_add(o, "messages", usage_json(&e->messages));
		json_object_array_add(boxes, o);
		if (e->storage.limited) {
			used += e->storage.used;
			limit += e->storage.limit;
		}
		if ((e->storage.limited && e->storage.used >= e->storage.limit) ||
		    (e->messages.limited &&
		     e->messages.used >= e->messages.limit))
			over++;
	}
	for (size_t i = 0; i < r->nerrors; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "mailbox",
				       json_object_new_string(r->errors[i].mailbox));
		if (r->with_backends)
			json_object_object_add(o, "backend",
				json_object_new_string(r->errors[i].backend));
		json_object_object_add(o, "message",
				       json_object_new_string(r->errors[i].message));
		json_object_array_add(errors, o);
	}
	json_object_object_add(totals, "mailboxes",
			       json_object_new_uint64(r->nentries));
	json_object_object_add(totals, "errors",
			       json_object_new_uint64(r->nerrors));
	json_object_object_add(totals, "full", json_object_new_uint64(over));
	json_object_object_add(totals, "storage_used_bytes",
			       json_object_new_uint64(used));
	json_object_object_add(totals, "storage_limit_bytes",
			       json_object_new_uint64(limit));
	json_object_object_add(totals, "duration_seconds",
			       json_object_new_double(r->duration));
	if (r->with_backends)
		json_object_object_add(top, "backends", backends_json(r));
	json_object_object_add(top, "mailboxes", boxes);
	json_object_object_add(top, "errors", errors);
	json_object_object_add(top, "totals", totals);
	fprintf(fp, "%s\n", json_object_to_json_string_ext(top,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(top);
	return 0;
}

static void
human(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB",
					    "PiB", "EiB"};
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024.0 && u < 6) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

int
report_table(FILE *fp, const struct report *r)
{
	size_t width = strlen("MAILBOX"), bwidth = strlen("BACKEND");

	for (size_t i = 0; i < r->nentries; i++) {
		if (strlen(r->entries[i].mailbox) > width)
			width = strlen(r->entries[i].mailbox);
		if (strlen(r->entries[i].backend) > bwidth)
			bwidth = strlen(r->entries[i].backend);
	}
	if (r->with_backends)
		fprintf(fp, "%-*s ", (int)bwidth, "BACKEND");
	fprintf(fp, "%-*s %12s %12s %8s %14s\n", (int)width, "MAILBOX",
		"USED", "LIMIT", "PERCENT", "MESSAGES");
	for (size_t i = 0; i < r->nentries; i++) {
		const struct report_entry *e = &r->entries[i];
		char used[32] = "-", limit[32] = "-", pct[16] = "-";
		char msgs[40] = "-";

		if (e->storage.limited) {
			human(e->storage.used, used, sizeof(used));
			human(e->storage.limit, limit, sizeof(limit));
			snprintf(pct, sizeof(pct), "%.1f%%",
				 report_percent(&e->storage));
		}
		if (e->messages.limited)
			snprintf(msgs, sizeof(msgs), "%llu/%llu",
				 (unsigned long long)e->messages.used,
				 (unsigned long long)e->messages.limit);
		if (r->with_backends)
			fprintf(fp, "%-*s ", (int)bwidth, e->backend);
		fprintf(fp, "%-*s %12s %12s %8s %14s\n", (int)width,
			e->mailbox, used, limit, pct, msgs);
	}
	for (size_t i = 0; i < r->nerrors; i++) {
		fprintf(fp, "error: ");
		if (r->with_backends)
			fprintf(fp, "backend %s: ", r->errors[i].backend);
		fprintf(fp, "%s: %s\n", r->errors[i].mailbox,
			r->errors[i].message);
	}
	if (r->failed)
		fprintf(fp, "error: %s\n", r->failure);
	return 0;
}

/* Label values: backslash, double quote and newline are escaped. */
static void
prom_label(FILE *fp, const char *value)
{
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			fprintf(fp, "\\%c", *value);
		else if (*value == '\n')
			fputs("\\n", fp);
		else
			fputc(*value, fp);
	}
}

static void
prom_family(FILE *fp, const struct report *r, const char *name,
	    const char *help, int messages, int limit)
{
	/* The header even without samples: dashboards and alerts then see
	 * an empty family, not a missing metric. */
	fprintf(fp, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (size_t i = 0; i < r->nentries; i++) {
		const struct report_entry *e = &r->entries[i];
		const struct qc_usage *u = messages ? &e->messages :
					   &e->storage;

		if (!u->limited)
			continue;
		fprintf(fp, "%s{", name);
		if (r->with_backends) {
			fprintf(fp, "backend=\"");
			prom_label(fp, e->backend);
			fprintf(fp, "\",");
		}
		fprintf(fp, "mailbox=\"");
		prom_label(fp, e->mailbox);
		fprintf(fp, "\"} %llu\n", (unsigned long long)(limit ?
			u->limit : u->used));
	}
}

int
report_prometheus(FILE *fp, const struct report *r)
{
	prom_family(fp, r, "quotachk_storage_used_bytes",
		    "Storage used under the mailbox's quota root, in bytes.",
		    0, 0);
	prom_family(fp, r, "quotachk_storage_limit_bytes",
		    "Storage limit of the mailbox's quota root, in bytes.",
		    0, 1);
	prom_family(fp, r, "quotachk_messages_used",
		    "Messages counted under the mailbox's quota root.", 1, 0);
	prom_family(fp, r, "quotachk_messages_limit",
		    "Message limit of the mailbox's quota root.", 1, 1);
	fprintf(fp, "# HELP quotachk_report_errors Mailboxes whose quota "
		"could not be read.\n# TYPE quotachk_report_errors gauge\n"
		"quotachk_report_errors %zu\n", r->nerrors);
	fprintf(fp, "# HELP quotachk_report_success 1 if the IMAP server "
		"was asked successfully.\n# TYPE quotachk_report_success "
		"gauge\nquotachk_report_success %d\n", r->failed ? 0 : 1);
	if (r->with_backends) {
		fprintf(fp, "# HELP quotachk_report_backend_success 1 if the "
			"backend was asked successfully.\n# TYPE "
			"quotachk_report_backend_success gauge\n");
		for (size_t i = 0; i < r->nbackends; i++) {
			fprintf(fp, "quotachk_report_backend_success{"
				"backend=\"");
			prom_label(fp, r->backends[i].name);
			fprintf(fp, "\"} %d\n", r->backends[i].failed ? 0 : 1);
		}
	}
	fprintf(fp, "# HELP quotachk_report_duration_seconds How long the "
		"report took.\n# TYPE quotachk_report_duration_seconds gauge\n"
		"quotachk_report_duration_seconds %.3f\n", r->duration);
	fprintf(fp, "# HELP quotachk_report_timestamp_seconds When the "
		"report was made (Unix time).\n# TYPE "
		"quotachk_report_timestamp_seconds gauge\n"
		"quotachk_report_timestamp_seconds %lld\n", r->generated);
	return 0;
}

int
report_nagios(FILE *fp, const struct report *r, double warning,
	      double critical)
{
	static const char *const names[] = {"OK", "WARNING", "CRITICAL",
					    "UNKNOWN"};
	size_t nwarn = 0, ncrit = 0, worst = 0;
	double max = 0.0;
	int status;

	for (size_t i = 0; i < r->nentries; i++) {
		double p = entry_percent(&r->entries[i]);

		if (p >= critical)
			ncrit++;
		else if (p >= warning)
			nwarn++;
		if (p > max) {
			max = p;
			worst = i;
		}
	}
	if (r->failed || r->nerrors > 0)
		status = 3;
	else
		status = ncrit > 0 ? 2 : nwarn > 0 ? 1 : 0;
	fprintf(fp, "QUOTA %s - ", names[status]);
	if (r->failed)
		fprintf(fp, "%s", r->failure);
	else {
		fprintf(fp, "%zu mailboxes, %zu critical (>= %.0f%%), %zu "
			"warning (>= %.0f%%)", r->nentries, ncrit, critical,
			nwarn, warning);
		if (r->nentries > 0)
			fprintf(fp, "; fullest %s %.1f%%",
				r->entries[worst].mailbox, max);
		if (r->nerrors > 0)
			fprintf(fp, "; %zu errors, first: %s: %s", r->nerrors,
				r->errors[0].mailbox, r->errors[0].message);
	}
	fprintf(fp, " | mailboxes=%zu critical=%zu warning=%zu errors=%zu "
		"max_percent=%.1f%%;%.0f;%.0f;0;100 duration=%.3fs\n",
		r->nentries, ncrit, nwarn, r->nerrors, max, warning, critical,
		r->duration);
	return status;
}
