/*
 * quotachk-report - quota report for cron and monitoring.
 *
 * Exit status (formats json, table, prometheus): 0 complete; 1 partial
 * (some mailboxes could not be read: listed under "errors"); 3 the server
 * could not be asked at all; 64 usage; 78 configuration.  With
 * --format=nagios the monitoring-plugin convention instead: 0 OK,
 * 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "options.h"
#include "progress.h"
#include "report.h"

static const struct tool_option options[] = {
	{"format", 1, "json (default), table, prometheus or nagios"},
	{"over", 1, "keep only mailboxes at or above PERCENT of storage"},
	{"users-file", 1, "ask these addresses (one per line) instead of "
			  "listing mailboxes"},
	{"sort", 1, "percent (default, descending), name or used"},
	{"warning", 1, "nagios: WARNING at this percent (default 80)"},
	{"critical", 1, "nagios: CRITICAL at this percent (default 95)"},
	{"output", 1, "write to FILE atomically (default: standard output)"},
	{"progress", 0, "show progress on stderr even when it is not a "
			"terminal"},
	{"quiet", 0, "no progress, even on a terminal"},
	{"backend", TOOL_REPEATABLE, "with backends: report only these "
				     "(NAME[,NAME...]; repeatable)"},
};
enum { OPT_FORMAT, OPT_OVER, OPT_USERS, OPT_SORT, OPT_WARNING,
       OPT_CRITICAL, OPT_OUTPUT, OPT_PROGRESS, OPT_QUIET, OPT_BACKEND,
       NOPTIONS };

enum format { FMT_JSON, FMT_TABLE, FMT_PROMETHEUS, FMT_NAGIOS };

static int
parse_percent(const char *text, double *value_r)
{
	char *end;

	*value_r = strtod(text, &end);
	return end != text && *end == '\0' && *value_r >= 0.0 ? 0 : -1;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
usage_error(const char *what)
{
	fprintf(stderr, "quotachk-report: %s; try --help\n", what);
	return EXIT_USAGE;
}

/* Fill r from the server of config; -1 when it could not be asked, -2
 * when no client could be made for it (configuration). */
static int
collect(struct report *r, const qc_config_t *config, struct tool_args *a)
{
	qc_client_t *client = NULL;
	int ret = qc_client_new(config, &client);

	if (ret != QC_OK) {
		snprintf(r->failure, sizeof(r->failure), "%s",
			 qc_client_errmsg(client));
		r->failed = 1;
		qc_client_free(client);
		return -2;
	}
	if (a->values[OPT_USERS] != NULL)
		ret = report_collect_users(client, a->values[OPT_USERS], r);
	else
		ret = report_collect_list(client, config, a->positional,
					  a->npositional, r);
	qc_client_free(client);
	return ret;
}

/* Is backend name among --backend's list (none given: all are)? */
static int
selected(const char *list, const char *name)
{
	size_t len = strlen(name);

	if (list == NULL)
		return 1;
	for (const char *p = list; *p != '\0'; ) {
		size_t n = strcspn(p, ", ");

		if (n == len && strncmp(p, name, len) == 0)
			return 1;
		p += n;
		p += strspn(p, ", ");
	}
	return 0;
}

/* Every name --backend gives must be a backend: a typo is no report. */
static int
check_backend_names(const qc_config_t *config, const char *list)
{
	unsigned int n = qc_config_backend_count(config);

	if (list != NULL && n == 0)
		return usage_error("--backend needs backends in the "
				   "configuration (the backends key)");
	for (const char *p = list != NULL ? list : ""; *p != '\0'; ) {
		size_t len = strcspn(p, ", ");
		unsigned int i;

		for (i = 0; i < n; i++) {
			const char *name = qc_config_backend_name(config, i);

			if (strlen(name) == len && strncmp(p, name, len) == 0)
				break;
		}
		if (len > 0 && i == n) {
			fprintf(stderr, "quotachk-report: --backend: no "
				"backend is named %.*s; the backends are:",
				(int)len, p);
			for (i = 0; i < n; i++)
				fprintf(stderr, " %s",
					qc_config_backend_name(config, i));
			fputc('\n', stderr);
			return EXIT_USAGE;
		}
		p += len;
		p += strspn(p, ", ");
	}
	return 0;
}

/*
 * Every selected backend in turn, each with its own client.  One that
 * cannot be asked becomes an error of the report (partial) while the
 * others are reported; only when none could be asked did it fail.
 */
static int
collect_backends(struct report *r, const qc_config_t *config,
		 struct tool_args *a)
{
	unsigned int n = qc_config_backend_count(config);
	size_t asked = 0, failed = 0;

	r->with_backends = 1;
	r->backends_of = config;
	r->backends = calloc(n, sizeof(*r->backends));
	if (r->backends == NULL)
		return -1;
	r->server[0] = '\0';
	for (unsigned int i = 0; i < n; i++) {
		const qc_config_t *bc = qc_config_backend(config, i);
		struct report_backend *b = &r->backends[r->nbackends];
		const char *name = qc_config_backend_name(config, i);
		size_t len = strlen(r->server);

		if (!selected(a->values[OPT_BACKEND], name))
			continue;
		r->nbackends++;
		snprintf(b->name, sizeof(b->name), "%s", name);
		snprintf(b->server, sizeof(b->server), "%s",
			 qc_config_get(bc, "imap_url"));
		snprintf(r->server + len, sizeof(r->server) - len, "%s%s",
			 len > 0 ? ", " : "", b->server);
		r->backend = b->name;
		r->backend_index = i;
		r->first_pass = asked == 0;
		asked++;
		r->failed = 0;
		r->failure[0] = '\0';
		if (collect(r, bc, a) < 0 && r->failed) {
			b->failed = 1;
			snprintf(b->failure, sizeof(b->failure), "%s",
				 r->failure);
			fprintf(stderr, "quotachk-report: backend %s: %s\n",
				name, r->failure);
			report_backend_failed(r);
			failed++;
		}
	}
	r->backend = "";
	r->failed = asked > 0 && failed == asked;
	if (r->failed)
		snprintf(r->failure, sizeof(r->failure), "no backend could "
			 "be asked (%s)", r->errors[r->nerrors - 1].message);
	else
		r->failure[0] = '\0';
	return r->failed ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct tool_args args;
	struct report r;
	struct report_output *out;
	enum format format = FMT_JSON;
	enum report_sort sort = SORT_PERCENT;
	enum progress_mode progress = PROGRESS_AUTO;
	double over = -1.0, warning = 80.0, critical = 95.0, start;
	const char *v;
	FILE *fp;
	int ret, status;

	ret = tool_parse_args("quotachk-report", "[OPTIONS] [PATTERN...]",
			      "Report IMAP quotas of many mailboxes (JSON, "
			      "table, Prometheus, Nagios).\nPATTERN replaces "
			      "%u of mailbox_format in an IMAP LIST pattern "
			      "(default %).\nExit: 0 complete, 1 partial, 3 "
			      "server not reached, 64 usage, 78 configuration;"
			      "\nwith --format=nagios: 0 OK, 1 WARNING, 2 "
			      "CRITICAL, 3 UNKNOWN.",
			      argc, argv, options, NOPTIONS, 0, &args);
	if (ret != 0)
		return ret < 0 ? 0 : ret;
	if ((v = args.values[OPT_FORMAT]) != NULL) {
		if (strcmp(v, "json") == 0) format = FMT_JSON;
		else if (strcmp(v, "table") == 0) format = FMT_TABLE;
		else if (strcmp(v, "prometheus") == 0) format = FMT_PROMETHEUS;
		else if (strcmp(v, "nagios") == 0) format = FMT_NAGIOS;
		else return usage_error("--format must be json, table, "
					"prometheus or nagios");
	}
	if ((v = args.values[OPT_SORT]) != NULL) {
		if (strcmp(v, "percent") == 0) sort = SORT_PERCENT;
		else if (strcmp(v, "name") == 0) sort = SORT_NAME;
		else if (strcmp(v, "used") == 0) sort = SORT_USED;
		else return usage_error("--sort must be percent, name or used");
	}
	if ((args.values[OPT_OVER] != NULL &&
	     parse_percent(args.values[OPT_OVER], &over) < 0) ||
	    (args.values[OPT_WARNING] != NULL &&
	     parse_percent(args.values[OPT_WARNING], &warning) < 0) ||
	    (args.values[OPT_CRITICAL] != NULL &&
	     parse_percent(args.values[OPT_CRITICAL], &critical) < 0))
		return usage_error("--over, --warning and --critical take a "
				   "percentage, e.g. 90");
	if (args.values[OPT_USERS] != NULL && args.npositional > 0)
		return usage_error("PATTERN and --users-file exclude each "
				   "other");
	if (args.values[OPT_PROGRESS] != NULL &&
	    args.values[OPT_QUIET] != NULL) {
		tool_args_free(&args);
		return usage_error("--progress and --quiet exclude each other");
	}
	if (args.values[OPT_PROGRESS] != NULL) progress = PROGRESS_ON;
	if (args.values[OPT_QUIET] != NULL) progress = PROGRESS_OFF;

	if ((ret = check_backend_names(args.config,
				       args.values[OPT_BACKEND])) != 0) {
		tool_args_free(&args);
		return ret;
	}

	memset(&r, 0, sizeof(r));
	r.backend = "";
	snprintf(r.server, sizeof(r.server), "%s",
		 qc_config_get(args.config, "imap_url"));
	r.generated = (long long)time(NULL);
	start = now();
	qc_library_init();
	if (progress_wanted(progress, isatty(STDERR_FILENO)))
		r.progress = progress_new(stderr);
	if (qc_config_backend_count(args.config) > 0) {
		collect_backends(&r, args.config, &args);
	} else if (collect(&r, args.config, &args) == -2) {
		progress_finish(r.progress, 1);
		fprintf(stderr, "quotachk-report: %s\n", r.failure);
		report_free(&r);
		tool_args_free(&args);
		return EXIT_CONFIG;
	}
	r.duration = now() - start;
	progress_finish(r.progress, r.failed);
	r.progress = NULL;
	if (r.failed)
		fprintf(stderr, "quotachk-report: %s\n", r.failure);
	if (over >= 0.0)
		report_keep_over(&r, over);
	report_sort(&r, sort);

	status = r.failed ? 3 : r.nerrors > 0 ? 1 : 0;
	fp = report_output_open(args.values[OPT_OUTPUT], &out);
	if (fp == NULL) {
		status = 3;
	} else {
		switch (format) {
		case FMT_JSON: report_json(fp, &r); break;
		case FMT_TABLE: report_table(fp, &r); break;
		case FMT_PROMETHEUS: report_prometheus(fp, &r); break;
		case FMT_NAGIOS:
			status = report_nagios(fp, &r, warning, critical);
			break;
		}
		if (report_output_commit(out) < 0)
			status = 3;
	}
	report_free(&r);
	tool_args_free(&args);
	qc_library_cleanup();
	return status;
}
