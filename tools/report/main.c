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
};
enum { OPT_FORMAT, OPT_OVER, OPT_USERS, OPT_SORT, OPT_WARNING,
       OPT_CRITICAL, OPT_OUTPUT, OPT_PROGRESS, OPT_QUIET, NOPTIONS };

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

int
main(int argc, char **argv)
{
	struct tool_args args;
	struct report r;
	struct report_output *out;
	qc_client_t *client = NULL;
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

	memset(&r, 0, sizeof(r));
	snprintf(r.server, sizeof(r.server), "%s",
		 qc_config_get(args.config, "imap_url"));
	r.generated = (long long)time(NULL);
	start = now();
	qc_library_init();
	ret = qc_client_new(args.config, &client);
	if (ret != QC_OK) {
		fprintf(stderr, "quotachk-report: %s\n",
			qc_client_errmsg(client));
		qc_client_free(client);
		tool_args_free(&args);
		return EXIT_CONFIG;
	}
	if (progress_wanted(progress, isatty(STDERR_FILENO)))
		r.progress = progress_new(stderr);
	if (args.values[OPT_USERS] != NULL)
		report_collect_users(client, args.values[OPT_USERS], &r);
	else
		report_collect_list(client, args.config, args.positional,
				    args.npositional, &r);
	r.duration = now() - start;
	progress_finish(r.progress, r.failed);
	r.progress = NULL;
	qc_client_free(client);
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
