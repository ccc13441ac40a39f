/*
 * client.c - qc_client_t: one IMAP connection kept across queries.
 *
 * A Cyrus admin login serves every recipient, so the connection is reused
 * until the server drops it.  With a per-recipient authorisation identity
 * (Dovecot master users, imap_authzid = %a) each recipient needs its own
 * login; the connection is then replaced when the identity changes.  A
 * connection found closed (idle autologout) is reopened once,
 * transparently; any other failure closes it, so the next query starts in
 * a known state.
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

/*
 * Run one command on a connection logged in with authzid, opening or
 * replacing the connection as needed.  Returns QC_TRANSPORT_NO_USER when
 * the login itself said the authorisation identity does not exist.
 */
static int
exchange(qc_client_t *c, const char *authzid, const char *command,
	 size_t max_response, const char **resp_r, size_t *len_r, char *tag)
{
	struct qc_transport_params params = {
		.url = c->s.imap_url,
		.tls_required = c->s.tls_required,
		.ca_file = c->s.ca_file,
		.user = c->s.user,
		.password = c->password,
		.authzid = authzid,
		.timeout_ms = c->s.timeout_ms,
	};
	/* imap_timeout bounds the whole lookup: connect, login, a retry. */
	uint64_t deadline = qc_clock_ms() + c->s.timeout_ms;
	int ret = QC_OK, reused;

	for (int attempt = 0; attempt < 2; attempt++) {
		uint64_t now = qc_clock_ms();

		if (now >= deadline) {
			qc_errmsg_set(c->errmsg, "no answer within imap_timeout "
				      "(%llu ms)",
				      (unsigned long long)c->s.timeout_ms);
			ret = QC_ERR_TIMEOUT;
			break;
		}
		params.timeout_ms = deadline - now;
		if (c->transport != NULL &&
		    (strcmp(qc_transport_authzid(c->transport), authzid) != 0 ||
		     qc_transport_idle_closed(c->transport)))
			qc_transport_close(&c->transport);
		if (c->transport == NULL) {
			c->connects++;
			ret = qc_transport_open(&params, &c->transport,
						c->errmsg);
			if (ret != QC_OK)
				return ret;
		}
		reused = !qc_transport_is_fresh(c->transport);
		ret = qc_transport_exchange(c->transport, command,
					    remaining_ms(deadline), max_response,
					    resp_r, len_r, tag, TAG_MAX,
					    c->errmsg);
		if (ret == QC_OK)
			return QC_OK;
		/*
		 * A reused connection may have died while idle: retry once.
		 * A connection opened for this very command that closes is
		 * the server's answer; retrying would double the load on it.
		 */
		if (ret == QC_ERR_CLOSED && reused && attempt == 0) {
			qc_transport_close(&c->transport);
			continue;
		}
		break;
	}
	qc_transport_close(&c->transport);
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
