/*
 * report.h - quotachk-report: what one run found, and the pieces that
 * gather it (collect.c), print it (format.c) and write it (output.c).
 */
#ifndef QC_REPORT_H
#define QC_REPORT_H

#include <stdio.h>

#include "quotachk.h"

struct report_entry {
	char mailbox[QC_MAILBOX_MAX]; /* as listed, or the address asked */
	char root[QC_MAILBOX_MAX];    /* "" when the mailbox has no quota */
	struct qc_usage storage;      /* bytes */
	struct qc_usage messages;
	char backend[QC_MAILBOX_MAX / 8]; /* its backend; "" without */
};

struct progress;

struct report_error {
	char mailbox[QC_MAILBOX_MAX];
	char message[256];
	char backend[QC_MAILBOX_MAX / 8];
};

/* With several backends: one per backend reported. */
struct report_backend {
	char name[QC_MAILBOX_MAX / 8];
	char server[512];
	int failed;              /* it could not be asked at all */
	char failure[600];
};

struct report {
	char server[512];        /* imap_url: it never holds credentials */
	long long generated;     /* Unix time of the start */
	double duration;         /* seconds */
	int failed;              /* the server could not be asked at all */
	char failure[600];
	struct report_entry *entries;
	size_t nentries, entries_cap;
	struct report_error *errors;
	size_t nerrors, errors_cap;
	struct progress *progress; /* progress.h; NULL: none shown */
	/* Several backends: entries and errors name theirs, and the
	 * outputs gain a backend field, column or label. */
	int with_backends;
	const char *backend;     /* the one being collected, or "" */
	const qc_config_t *backends_of;  /* routes --users-file lines */
	unsigned int backend_index;
	int first_pass;          /* the first backend collected */
	struct report_backend *backends;
	size_t nbackends;
};

/* Percent of a limit used; 0 for an unlimited resource. */
double report_percent(const struct qc_usage *usage);

/* collect.c: fill the report; 0, or -1 with report->failed set. */
int report_collect_list(qc_client_t *client, const qc_config_t *config,
			char **patterns, int npatterns, struct report *r);
int report_collect_users(qc_client_t *client, const char *users_file,
			 struct report *r);
void report_free(struct report *r);
/* r->backend could not be asked (r->failure says why): make that an
 * error of the report, which goes on with the other backends. */
void report_backend_failed(struct report *r);

/* format.c */
enum report_sort { SORT_PERCENT, SORT_NAME, SORT_USED };
void report_sort(struct report *r, enum report_sort by);
void report_keep_over(struct report *r, double percent);
int report_json(FILE *fp, const struct report *r);
int report_table(FILE *fp, const struct report *r);
int report_prometheus(FILE *fp, const struct report *r);
/* Returns the monitoring-plugin status: 0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN. */
int report_nagios(FILE *fp, const struct report *r, double warning,
		  double critical);

/* output.c: "-" is stdout; a file is written to a temporary name in the
 * same directory and renamed over FILE only when complete. */
struct report_output;
FILE *report_output_open(const char *path, struct report_output **out_r);
int report_output_commit(struct report_output *out);

#endif
