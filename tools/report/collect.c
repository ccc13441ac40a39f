/*
 * collect.c - which mailboxes a report covers, and their quotas.
 *
 * On Cyrus an admin may LIST every user's mailbox: the pattern comes from
 * mailbox_format with %u replaced by the PATTERN arguments (default "%",
 * one hierarchy level) and %d by "*".  Sub-folders share their user's
 * quota root and are skipped.  On any server a users file (one address
 * per line) is asked through the normal address mapping, e.g. a Dovecot
 * master user logging in as each user.  One client, hence one connection
 * (per identity), serves the whole run.
 */
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "report.h"

static void *
grow(void *array, size_t *cap, size_t n, size_t size)
{
	void *bigger;

	if (n < *cap)
		return array;
	*cap = *cap ? *cap * 2 : 256;
	bigger = realloc(array, *cap * size);
	if (bigger == NULL) {
		perror("quotachk-report");
		exit(3);
	}
	return bigger;
}

/* Names from a users file may hold any byte: keep reports plain ASCII
 * (and JSON valid) by writing other bytes as \xHH. */
static void
copy_printable(char *out, size_t size, const char *in)
{
	size_t n = 0;

	for (; *in != '\0' && n + 5 < size; in++) {
		unsigned char c = (unsigned char)*in;

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", c);
	}
	out[n] = '\0';
}

static void
add_error(struct report *r, const char *mailbox, const char *message)
{
	r->errors = grow(r->errors, &r->errors_cap, r->nerrors,
			 sizeof(*r->errors));
	copy_printable(r->errors[r->nerrors].mailbox, QC_MAILBOX_MAX,
		       mailbox);
	snprintf(r->errors[r->nerrors].message,
		 sizeof(r->errors[0].message), "%s", message);
	snprintf(r->errors[r->nerrors].backend,
		 sizeof(r->errors[0].backend), "%s",
		 r->backend != NULL ? r->backend : "");
	r->nerrors++;
}

static void
add_entry(struct report *r, const char *name, const struct qc_quota *q)
{
	struct report_entry *e;

	r->entries = grow(r->entries, &r->entries_cap, r->nentries,
			  sizeof(*r->entries));
	e = &r->entries[r->nentries++];
	memset(e, 0, sizeof(*e));
	copy_printable(e->mailbox, sizeof(e->mailbox), name);
	copy_printable(e->root, sizeof(e->root), q->root);
	e->storage = q->storage;
	e->messages = q->messages;
	snprintf(e->backend, sizeof(e->backend), "%s",
		 r->backend != NULL ? r->backend : "");
}

/* A backend that could not be asked at all: an error of the report,
 * which goes on with the other backends. */
void
report_backend_failed(struct report *r)
{
	char name[QC_MAILBOX_MAX];

	snprintf(name, sizeof(name), "(backend %s)", r->backend);
	add_error(r, name, r->failure);
}

/* A lookup's outcome: an entry, an error, or nothing (no mailbox). */
static int
record(qc_client_t *client, struct report *r, const char *name, int ret,
       const struct qc_quota *q, enum qc_verdict verdict)
{
	if (ret != QC_OK) {
		char message[256];

		snprintf(message, sizeof(message), "%s: %s", qc_strerror(ret),
			 qc_client_errmsg(client));
		add_error(r, name, message);
		/* Without a server every further lookup fails the same way. */
		return ret == QC_ERR_CONNECT || ret == QC_ERR_AUTH ||
		       ret == QC_ERR_TLS ? -1 : 0;
	}
	if (verdict == QC_VERDICT_NO_MAILBOX)
		add_error(r, name, "no such mailbox");
	else if (verdict != QC_VERDICT_NOT_CHECKED)
		add_entry(r, name, q);
	return 0;
}

struct list_state {
	char **names;
	size_t n, cap;
	size_t prefix_len; /* bytes before %u in the pattern */
	char separator;
	struct progress *progress;
};

static int
collect_name(const char *mailbox, void *context)
{
	struct list_state *ls = context;

	/* user.alice.Sent shares user.alice's quota root: skip folders. */
	if (ls->separator != '\0' && strlen(mailbox) > ls->prefix_len &&
	    strchr(mailbox + ls->prefix_len, ls->separator) != NULL)
		return 0;
	ls->names = grow(ls->names, &ls->cap, ls->n, sizeof(*ls->names));
	ls->names[ls->n] = strdup(mailbox);
	if (ls->names[ls->n] != NULL)
		ls->n++;
	progress_counting(ls->progress, ls->n);
	return 0;
}

/* The LIST pattern for one PATTERN: mailbox_format with %u = pattern. */
static int
list_pattern(const char *format, char separator, const char *pattern,
	     char *out, size_t outsize, size_t *prefix_len_r)
{
	size_t n = 0;
	char tmpl[8] = {'u', 's', 'e', 'r', separator, '%', 'u', '\0'};

	if (strcmp(format, "auto") == 0)
		format = tmpl;
	*prefix_len_r = 0;
	for (const char *p = format; *p != '\0'; p++) {
		const char *add = NULL;
		char one[2] = {*p, '\0'};

		if (*p == '%') {
			p++;
			if (*p == 'u' || *p == 'a') {
				if (*prefix_len_r == 0)
					*prefix_len_r = n;
				add = *p == 'u' ? pattern : NULL;
				if (*p == 'a') {
					n += (size_t)snprintf(out + n,
						outsize - n, "%s@*", pattern);
					if (n >= outsize)
						return -1;
					continue;
				}
			} else if (*p == 'd')
				add = "*";
			else if (*p == '%')
				add = "%";
			else
				return -1;
		} else
			add = one;
		n += (size_t)snprintf(out + n, outsize - n, "%s", add);
		if (n >= outsize)
			return -1;
	}
	return 0;
}

int
report_collect_list(qc_client_t *client, const qc_config_t *config,
		    char **patterns, int npatterns, struct report *r)
{
	const char *format = qc_config_get(config, "mailbox_format");
	struct list_state ls;
	char pattern[QC_MAILBOX_MAX];
	int ret;

	memset(&ls, 0, sizeof(ls));
	ls.progress = r->progress;
	ret = qc_client_separator(client, &ls.separator);
	if (ret != QC_OK) {
		snprintf(r->failure, sizeof(r->failure), "%s: %s",
			 qc_strerror(ret), qc_client_errmsg(client));
		r->failed = 1;
		return -1;
	}
	for (int i = 0; i < (npatterns > 0 ? npatterns : 1); i++) {
		if (list_pattern(format, ls.separator,
				 npatterns > 0 ? patterns[i] : "%", pattern,
				 sizeof(pattern), &ls.prefix_len) < 0 ||
		    ls.prefix_len == 0) {
			snprintf(r->failure, sizeof(r->failure),
				 "cannot list mailboxes from mailbox_format = "
				 "%s; use --users-file", format);
			r->failed = 1;
			return -1;
		}
		ret = qc_client_list(client, pattern, collect_name, &ls);
		if (ret != QC_OK) {
			snprintf(r->failure, sizeof(r->failure), "LIST %s: "
				 "%s: %s", pattern, qc_strerror(ret),
				 qc_client_errmsg(client));
			r->failed = 1;
			break;
		}
	}
	if (!r->failed)
		progress_update(r->progress, 0, ls.n);
	for (size_t i = 0; i < ls.n && !r->failed; i++) {
		struct qc_quota q;
		enum qc_verdict verdict = QC_VERDICT_NO_QUOTA;

		ret = qc_client_query_mailbox(client, ls.names[i], &q,
					      &verdict);
		if (record(client, r, ls.names[i], ret, &q, verdict) < 0) {
			snprintf(r->failure, sizeof(r->failure), "%s",
				 r->errors[r->nerrors - 1].message);
			r->failed = 1;
		}
		progress_update(r->progress, i + 1, ls.n);
	}
	for (size_t i = 0; i < ls.n; i++)
		free(ls.names[i]);
	free(ls.names);
	return r->failed ? -1 : 0;
}

/* The whole file is read before the first lookup so that the progress
 * line knows its total; the names cost memory, not the quota replies. */
int
report_collect_users(qc_client_t *client, const char *users_file,
		     struct report *r)
{
	FILE *fp = fopen(users_file, "r");
	char line[1024];
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret;

	if (fp == NULL) {
		snprintf(r->failure, sizeof(r->failure), "cannot read "
			 "--users-file %s", users_file);
		r->failed = 1;
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *address = line + strspn(line, " \t");

		address[strcspn(address, " \t\r\n#")] = '\0';
		if (address[0] == '\0')
			continue;
		if (r->backends_of != NULL) {
			unsigned int index;

			/* Each backend asks only for its own addresses;
			 * an unroutable one is listed once, by the first. */
			ret = qc_config_backend_for(r->backends_of, address,
						    &index);
			if (ret == QC_ERR_ADDRESS && r->first_pass) {
				add_error(r, address, qc_strerror(ret));
				continue;
			}
			if (ret != QC_OK || index != r->backend_index)
				continue;
		}
		names = grow(names, &cap, n, sizeof(*names));
		if ((names[n] = strdup(address)) != NULL)
			n++;
	}
	fclose(fp);
	progress_update(r->progress, 0, n);
	for (size_t i = 0; i < n && !r->failed; i++) {
		struct qc_quota q;
		enum qc_verdict verdict = QC_VERDICT_NO_QUOTA;

		ret = qc_client_query(client, names[i], &q, &verdict);
		if (record(client, r, names[i], ret, &q, verdict) < 0) {
			snprintf(r->failure, sizeof(r->failure), "%s",
				 r->errors[r->nerrors - 1].message);
			r->failed = 1;
		}
		progress_update(r->progress, i + 1, n);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r->failed ? -1 : 0;
}

void
report_free(struct report *r)
{
	free(r->entries);
	free(r->errors);
	free(r->backends);
	memset(r, 0, sizeof(*r));
}
