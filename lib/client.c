/*
 * client.c - qc_client_t: one IMAP connection kept across queries.
 *
 * A Cyrus admin login serves every recipient, so the connection is reused
 * until the server drops it.  With a per-recipient authorisation identity
 * (Dovecot master users, imap_authzid = %a) each recipient needs its own
 * login; the connection is then replaced when the identity changes.  A
 * connection found closed (idle autologout) is reopened once,
 * transparently; any other failure closes it, so the next query starts in
 * a known state.  With several imap_url servers a failure of one moves
 * the lookup on to the next (failover.c decides the order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qc_private.h"

/*
 * A GETQUOTAROOT or LIST "" "" answer is well under 1 KiB; 64 KiB leaves
 * room for many roots and unsolicited lines.  Every connection may grow
 * its buffer to this size and the allocator keeps the high-water mark, so
 * the limit is also what a hostile server (one endless line) can make the
 * daemon hold per connection: it was 2 MiB, 8 MiB of RSS with 4
 * connections (tests/integration/policyd-faults.sh checks RSS).
 */
#define QUOTA_RESPONSE_MAX (64u * 1024)
#define LIST_RESPONSE_MAX (256u * 1024 * 1024)
#define TAG_MAX 16

struct qc_client {
	struct qc_settings s;
	char *password;
	struct qc_transport *transport;
	unsigned int url_index;        /* of transport, or the last tried */
	struct qc_failover failover;   /* which imap_url to try, and when */
	char separator; /* discovered; 0 until then */
	uint64_t connects;
	char errmsg[QC_ERRMSG_MAX];
};

int
qc_client_new(const qc_config_t *config, qc_client_t **client_r)
{
	qc_client_t *c;
	int ret;

	if (config == NULL || client_r == NULL)
		return QC_ERR_INVALID;
	*client_r = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return QC_ERR_NOMEM;
	qc_config_settings(config, &c->s);
	qc_failover_init(&c->failover, c->s.nurls);
	ret = qc_password_read(c->s.password_file, c->s.password_fd,
			       &c->password, c->errmsg);
	/* Even on failure the handle is returned, so its errmsg can say
	 * which file is wrong and why. */
	*client_r = c;
	return ret;
}

void
qc_client_free(qc_client_t *c)
{
	if (c == NULL)
		return;
	qc_transport_close(&c->transport);
	qc_password_free(&c->password);
	free(c);
}

void
qc_client_disconnect(qc_client_t *c)
{
	if (c != NULL)
		qc_transport_close(&c->transport);
}

int
qc_client_prefer_url(qc_client_t *c, unsigned int index)
{
	if (c == NULL)
		return QC_ERR_INVALID;
	qc_failover_prefer(&c->failover, index);
	return QC_OK;
}

uint64_t
qc_client_connect_count(const qc_client_t *c)
{
	return c == NULL ? 0 : c->connects;
}

const char *
qc_client_errmsg(const qc_client_t *c)
{
	return c == NULL ? "no client" : c->errmsg;
}

static uint64_t
remaining_ms(uint64_t deadline)
{
	uint64_t now = qc_clock_ms();

	return deadline > now ? deadline - now : 0;
}

/* Failures that say "this server, now" rather than "this request". */
static int
url_failed(int ret)
{
	return ret == QC_ERR_CONNECT || ret == QC_ERR_TIMEOUT ||
	       ret == QC_ERR_CLOSED || ret == QC_ERR_TLS ||
	       ret == QC_ERR_AUTH || ret == QC_ERR_PROTOCOL;
}

static int
open_url(qc_client_t *c, unsigned int u, const char *authzid,
	 uint64_t timeout_ms, struct qc_transport **t_r, char *errmsg)
{
	struct qc_transport_params params = {
		.url = c->s.urls[u],
		.tls_required = c->s.tls_required,
		.ca_file = c->s.ca_file,
		.user = c->s.user,
		.password = c->password,
		.authzid = authzid,
		.timeout_ms = timeout_ms > 0 ? timeout_ms : 1,
	};

	c->connects++;
	return qc_transport_open(&params, t_r, errmsg);
}

/* Add one server's failure to the client's message (several URLs may
 * each have failed in one lookup: the sysadmin needs all of them). */
static void
add_failure(qc_client_t *c, unsigned int u, const char *msg)
{
	size_t n = strlen(c->errmsg);
	int named = strstr(msg, c->s.urls[u]) != NULL;

	snprintf(c->errmsg + n, sizeof(c->errmsg) - n, "%s%s%s%s",
		 n > 0 ? "; " : "", named || c->failover.count == 1 ? "" :
		 c->s.urls[u], named || c->failover.count == 1 ? "" : ": ",
		 msg);
}

/*
 * Back on the preferred URL once its backoff has passed: the new
 * connection is opened before the working one is given up, and gets at
 * most a second, so a server that is still down costs one refused
 * connect, not the lookup.
 */
#define PROBE_MAX_MS 1000

static void
try_preferred(qc_client_t *c, const char *authzid, uint64_t deadline)
{
	struct qc_transport *t;
	unsigned int u = c->failover.preferred;
	uint64_t budget = remaining_ms(deadline) / 2;
	char msg[QC_ERRMSG_MAX];

	if (budget > PROBE_MAX_MS)
		budget = PROBE_MAX_MS;
	if (open_url(c, u, authzid, budget, &t, msg) != QC_OK) {
		qc_failover_failed(&c->failover, u, qc_clock_ms());
		return;
	}
	qc_failover_succeeded(&c->failover, u);
	qc_transport_close(&c->transport);
	c->transport = t;
	c->url_index = u;
}

/*
 * Run one command on a connection logged in with authzid, opening or
 * replacing the connection as needed.  Returns QC_TRANSPORT_NO_USER when
 * the login itself said the authorisation identity does not exist.
 *
 * imap_timeout bounds the whole lookup (every connect, login and retry)
 * on the monotonic clock.  With several URLs each attempt gets an equal
 * share of what is left, so a server that accepts connections but never
 * answers (hung) still leaves time for the next one; a refused
 * connection costs nothing and leaves the rest to the next.
 */
static int
exchange(qc_client_t *c, const char *authzid, const char *command,
	 size_t max_response, const char **resp_r, size_t *len_r, char *tag)
{
	uint64_t deadline = qc_clock_ms() + c->s.timeout_ms;
	unsigned int order[QC_URLS_MAX], n, first = c->url_index;
	unsigned int count = c->failover.count;
	char msg[QC_ERRMSG_MAX];
	int ret = QC_ERR_TIMEOUT, skip_first = 0;

	c->errmsg[0] = '\0';
	if (c->transport != NULL &&
	    (strcmp(qc_transport_authzid(c->transport), authzid) != 0 ||
	     qc_transport_idle_closed(c->transport)))
		qc_transport_close(&c->transport);
	if (c->transport != NULL &&
	    qc_failover_should_return(&c->failover, c->url_index,
				      qc_clock_ms()))
		try_preferred(c, authzid, deadline);
	if (c->transport != NULL) {
		uint64_t budget = remaining_ms(deadline);

		first = c->url_index;
		ret = qc_transport_exchange(c->transport, command,
					    count > 1 ? budget / count : budget,
					    max_response, resp_r, len_r, tag,
					    TAG_MAX, msg);
		if (ret == QC_OK)
			return QC_OK;
		qc_transport_close(&c->transport);
		/* A reused connection that closed may only have been idle
		 * too long: its server is tried again first.  Anything else
		 * is that server's answer, or its failure. */
		if (ret != QC_ERR_CLOSED) {
			if (url_failed(ret))
				qc_failover_failed(&c->failover, first,
						   qc_clock_ms());
			if (count == 1 || !url_failed(ret)) {
				qc_strlcpy(c->errmsg, msg, sizeof(c->errmsg));
				return ret;
			}
			add_failure(c, first, msg);
			skip_first = 1; /* it just failed: the others now */
		}
	}
	n = qc_failover_order(&c->failover, qc_clock_ms(), order);
	if (skip_first) {
		unsigned int k = 0;

		for (unsigned int i = 0; i < n; i++)
			if (order[i] != first)
				order[k++] = order[i];
		n = k;
	}
	if (ret == QC_ERR_CLOSED) {
		/* Move the server of the closed connection to the front. */
		for (unsigned int i = 0; i < n; i++) {
			if (order[i] != first)
				continue;
			memmove(order + 1, order, i * sizeof(order[0]));
			order[0] = first;
			break;
		}
	}
	for (unsigned int i = 0; i < n; i++) {
		unsigned int u = order[i];
		uint64_t left = remaining_ms(deadline);

		if (left == 0) {
			ret = QC_ERR_TIMEOUT;
			break;
		}
		ret = open_url(c, u, authzid, left / (n - i), &c->transport,
			       msg);
		if (ret == QC_OK) {
			c->url_index = u;
			ret = qc_transport_exchange(c->transport, command,
						    remaining_ms(deadline),
						    max_response, resp_r,
						    len_r, tag, TAG_MAX, msg);
			if (ret == QC_OK) {
				qc_failover_succeeded(&c->failover, u);
				return QC_OK;
			}
			qc_transport_close(&c->transport);
		}
		if (!url_failed(ret)) {
			/* An answer (no such user), or a problem no other
			 * server would solve (memory, configuration). */
			qc_strlcpy(c->errmsg, msg, sizeof(c->errmsg));
			return ret;
		}
		qc_failover_failed(&c->failover, u, qc_clock_ms());
		add_failure(c, u, msg);
	}
	if (ret == QC_ERR_TIMEOUT && c->errmsg[0] == '\0')
		qc_errmsg_set(c->errmsg, "no answer within imap_timeout "
			      "(%llu ms)", (unsigned long long)c->s.timeout_ms);
	return ret;
}

static int
separator_cb(char separator, const char *name, void *ctx)
{
	(void)name;
	*(char *)ctx = separator;
	return 1;
}

int
qc_client_separator(qc_client_t *c, char *separator_r)
{
	const char *resp;
	size_t len;
	char tag[TAG_MAX], errtext[200], sep = 0;
	int ret;

	if (c == NULL || separator_r == NULL || c->password == NULL)
		return QC_ERR_INVALID;
	if (c->separator != 0) {
		*separator_r = c->separator;
		return QC_OK;
	}
	ret = exchange(c, "", "LIST \"\" \"\"", QUOTA_RESPONSE_MAX, &resp,
		       &len, tag);
	if (ret == QC_TRANSPORT_NO_USER)
		ret = QC_ERR_AUTH;
	if (ret != QC_OK)
		return ret;
	ret = qc_list_parse(resp, len, tag, separator_cb, &sep, errtext,
			    sizeof(errtext));
	if (ret == QC_OK && sep == 0) {
		qc_errmsg_set(c->errmsg, "LIST \"\" \"\" gave no hierarchy "
			      "separator; set mailbox_format explicitly");
		return QC_ERR_PROTOCOL;
	}
	if (ret != QC_OK) {
		qc_errmsg_set(c->errmsg, "LIST \"\" \"\": %s", errtext);
		qc_transport_close(&c->transport);
		return ret;
	}
	c->separator = sep;
	*separator_r = sep;
	return QC_OK;
}

static int
query_as(qc_client_t *c, const char *authzid, const char *mailbox,
	 struct qc_quota *quota_r, enum qc_verdict *verdict_r)
{
	char command[QC_MAILBOX_MAX * 2 + 32], quoted[QC_MAILBOX_MAX * 2 + 3];
	char tag[TAG_MAX], errtext[200];
	const char *resp;
	size_t len;
	int ret;

	memset(quota_r, 0, sizeof(*quota_r));
	qc_strlcpy(quota_r->mailbox, mailbox, sizeof(quota_r->mailbox));
	ret = qc_imap_quote(mailbox, quoted, sizeof(quoted));
	if (ret != QC_OK) {
		qc_errmsg_set(c->errmsg, "mailbox name has bytes that cannot "
			      "be sent safely");
		return ret;
	}
	snprintf(command, sizeof(command), "GETQUOTAROOT %s", quoted);
	ret = exchange(c, authzid, command, QUOTA_RESPONSE_MAX, &resp, &len,
		       tag);
	if (ret == QC_TRANSPORT_NO_USER) {
		*verdict_r = QC_VERDICT_NO_MAILBOX;
		return QC_OK;
	}
	if (ret != QC_OK)
		return ret;
	ret = qc_quota_parse(resp, len, tag, mailbox, quota_r, verdict_r,
			     errtext, sizeof(errtext));
	if (ret != QC_OK) {
		qc_errmsg_set(c->errmsg, "GETQUOTAROOT %.200s: %s", quoted,
			      errtext);
		/* After NO, BAD or an unreadable figure in a whole response
		 * the connection is in step; after anything else it may not
		 * be. */
		if (ret != QC_ERR_SERVER && ret != QC_ERR_ANSWER)
			qc_transport_close(&c->transport);
	}
	return ret;
}

int
qc_client_query_mailbox(qc_client_t *c, const char *mailbox,
			struct qc_quota *quota_r, enum qc_verdict *verdict_r)
{
	if (c == NULL || mailbox == NULL || quota_r == NULL ||
	    verdict_r == NULL || c->password == NULL)
		return QC_ERR_INVALID;
	c->errmsg[0] = '\0';
	return query_as(c, "", mailbox, quota_r, verdict_r);
}

int
qc_client_query(qc_client_t *c, const char *address,
		struct qc_quota *quota_r, enum qc_verdict *verdict_r)
{
	char mailbox[QC_MAILBOX_MAX], authzid[256] = "";
	char local[256], domain[256];
	char separator = 0;
	int checked, ret;

	if (c == NULL || address == NULL || quota_r == NULL ||
	    verdict_r == NULL || c->password == NULL)
		return QC_ERR_INVALID;
	c->errmsg[0] = '\0';
	memset(quota_r, 0, sizeof(*quota_r));
	ret = qc_address_split(address, c->s.recipient_delimiter, local,
			       sizeof(local), domain, sizeof(domain));
	if (ret == QC_OK && domain[0] != '\0' &&
	    !qc_domain_listed(c->s.domains, domain)) {
		*verdict_r = QC_VERDICT_NOT_CHECKED;
		return QC_OK;
	}
	if (ret == QC_OK && c->s.authzid[0] != '\0')
		ret = qc_template_expand(c->s.authzid, local, domain, 0,
					 authzid, sizeof(authzid));
	if (ret != QC_OK) {
		qc_errmsg_set(c->errmsg, "recipient cannot be mapped to a "
			      "mailbox name");
		return QC_ERR_ADDRESS;
	}
	if (strcmp(c->s.mailbox_format, "auto") == 0 &&
	    !qc_template_needs_address(c->s.authzid)) {
		ret = qc_client_separator(c, &separator);
		if (ret != QC_OK)
			return ret;
	}
	ret = qc_settings_map_address(&c->s, address, separator, mailbox,
				      sizeof(mailbox), &checked);
	if (ret != QC_OK) {
		qc_errmsg_set(c->errmsg, "recipient cannot be mapped to a "
			      "mailbox name with mailbox_format = %s",
			      c->s.mailbox_format);
		return ret;
	}
	return query_as(c, authzid, mailbox, quota_r, verdict_r);
}

int
qc_client_check(qc_client_t *c, const char *address, uint64_t size,
		struct qc_quota *quota_r, enum qc_verdict *verdict_r)
{
	int ret = qc_client_query(c, address, quota_r, verdict_r);

	if (ret == QC_OK && *verdict_r == QC_VERDICT_FITS)
		ret = qc_decide_rule(&c->s.rule, quota_r, size, verdict_r,
				     NULL);
	return ret;
}

const qc_rule_t *
qc_client_rule(const qc_client_t *c)
{
	return c != NULL ? &c->s.rule : NULL;
}

struct list_ctx {
	qc_mailbox_fn *fn;
	void *context;
};

static int
list_cb(char separator, const char *name, void *ctx)
{
	struct list_ctx *lc = ctx;

	(void)separator;
	return lc->fn(name, lc->context);
}

int
qc_client_list(qc_client_t *c, const char *pattern, qc_mailbox_fn *fn,
	       void *context)
{
	char command[QC_MAILBOX_MAX * 2 + 32], quoted[QC_MAILBOX_MAX * 2 + 3];
	char tag[TAG_MAX], errtext[200];
	struct list_ctx lc = {fn, context};
	const char *resp;
	size_t len;
	int ret;

	if (c == NULL || pattern == NULL || fn == NULL || c->password == NULL)
		return QC_ERR_INVALID;
	c->errmsg[0] = '\0';
	ret = qc_imap_quote(pattern, quoted, sizeof(quoted));
	if (ret != QC_OK)
		return QC_ERR_INVALID;
	snprintf(command, sizeof(command), "LIST \"\" %s", quoted);
	ret = exchange(c, "", command, LIST_RESPONSE_MAX, &resp, &len, tag);
	if (ret == QC_TRANSPORT_NO_USER)
		ret = QC_ERR_AUTH;
	if (ret != QC_OK)
		return ret;
	ret = qc_list_parse(resp, len, tag, list_cb, &lc, errtext,
			    sizeof(errtext));
	if (ret != QC_OK) {
		qc_errmsg_set(c->errmsg, "LIST %s: %s", quoted, errtext);
		if (ret != QC_ERR_SERVER)
			qc_transport_close(&c->transport);
	}
	return ret;
}
