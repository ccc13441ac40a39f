/*
 * callbacks.c - the milter protocol side of quotachk-milter (see
 * milter.h): RCPT is checked on the library's engine and answered with
 * the configured action; the accepted message is counted at end of
 * message, once per recipient let through, with its real size (headers
 * and body as they came).
 *
 * libmilter calls these from many threads at once; the engine is
 * thread-safe, and each connection's state is its own (smfi_setpriv).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "mreply.h"
#include "reply.h"

/* One SMTP connection, and the message in it. */
struct mconn {
	unsigned long protocol;     /* negotiated SMFIP_* flags */
	int in_message;
	char instance[48];          /* this milter's id of the message */
	uint64_t declared_size;     /* MAIL FROM SIZE=, or 0 */
	uint64_t size;              /* headers and body seen */
	uint64_t let_through;       /* recipients continued */
};

static sfsistat
no_reply(const struct mconn *m, unsigned long flag)
{
	return m != NULL && (m->protocol & flag) ? SMFIS_NOREPLY :
	       SMFIS_CONTINUE;
}

static void
new_message(struct mconn *m)
{
	static uint64_t seq;
	uint64_t n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);

	/* Unique in this process: the engine ties RCPT checks to the
	 * commit by it. */
	snprintf(m->instance, sizeof(m->instance), "milter.%" PRIu64, n);
	m->in_message = 1;
	m->declared_size = 0;
	m->size = 0;
	m->let_through = 0;
}

static sfsistat
on_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
	     unsigned long f2, unsigned long f3, unsigned long *pf0,
	     unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	/* Steps this milter has no use for are not asked for; headers and
	 * body (for the real size) need no reply when the MTA allows. */
	unsigned long want = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOUNKNOWN |
			     SMFIP_NODATA | SMFIP_NR_HDR | SMFIP_NR_EOH |
			     SMFIP_NR_BODY;
	struct mconn *m = calloc(1, sizeof(*m));

	(void)f0;
	(void)f2;
	(void)f3;
	if (m == NULL)
		return SMFIS_TEMPFAIL;
	metrics_connection_open();
	m->protocol = f1 & want;
	smfi_setpriv(ctx, m);
	*pf0 = 0;        /* no modifications of the message */
	*pf1 = m->protocol;
	*pf2 = *pf3 = 0;
	return SMFIS_CONTINUE;
}

static struct mconn *
conn_of(SMFICTX *ctx)
{
	struct mconn *m = smfi_getpriv(ctx);

	/* An MTA that does not negotiate (milter protocol 2) still gets
	 * served. */
	if (m == NULL && (m = calloc(1, sizeof(*m))) != NULL) {
		metrics_connection_open();
		smfi_setpriv(ctx, m);
	}
	return m;
}

static uint64_t
size_argument(char **argv)
{
	for (int i = 1; argv[i] != NULL; i++) {
		if (strncasecmp(argv[i], "SIZE=", 5) == 0) {
			char *end;
			unsigned long long n = strtoull(argv[i] + 5, &end, 10);

			return *end == '\0' ? (uint64_t)n : 0;
		}
	}
	return 0;
}

static sfsistat
on_envfrom(SMFICTX *ctx, char **argv)
{
	struct mconn *m = conn_of(ctx);

	if (m == NULL)
		return SMFIS_TEMPFAIL;
	new_message(m);
	m->declared_size = size_argument(argv);
	return SMFIS_CONTINUE;
}

/* "<a@b>" -> "a@b" into out; the macro when the MTA gives it. */
static void
recipient_of(SMFICTX *ctx, char **argv, char *out, size_t size)
{
	const char *r = smfi_getsymval(ctx, "{rcpt_addr}");
	size_t n;

	if (r == NULL || r[0] == '\0')
		r = argv[0] != NULL ? argv[0] : "";
	if (r[0] == '<')
		r++;
	n = strcspn(r, ">");
	if (n >= size)
		n = size - 1;
	memcpy(out, r, n);
	out[n] = '\0';
}

static sfsistat
apply(SMFICTX *ctx, const char *action, int *let_through_r)
{
	struct mreply reply;

	mreply_from_action(action, &reply);
	*let_through_r = reply.kind == MREPLY_CONTINUE;
	switch (reply.kind) {
	case MREPLY_CONTINUE:
		return SMFIS_CONTINUE;
	case MREPLY_DISCARD:
		return SMFIS_DISCARD;
	case MREPLY_TEMPFAIL:
	case MREPLY_REJECT:
		if (smfi_setreply(ctx, reply.rcode, reply.xcode[0] ?
				  reply.xcode : NULL, reply.text[0] ?
				  reply.text : NULL) != MI_SUCCESS)
			msg_warn("libmilter refused the reply \"%s\"", action);
		break;
	}
	return reply.kind == MREPLY_TEMPFAIL ? SMFIS_TEMPFAIL : SMFIS_REJECT;
}

static sfsistat
on_envrcpt(SMFICTX *ctx, char **argv)
{
	struct mconn *m = conn_of(ctx);
	char rcpt[512], action[512];
	qc_check_t *check = NULL;
	enum action_kind kind;
	int error, let_through;
	sfsistat status;

	if (m == NULL)
		return SMFIS_TEMPFAIL;
	if (!m->in_message)
		new_message(m);
	recipient_of(ctx, argv, rcpt, sizeof(rcpt));
	error = qc_check_new(&check);
	if (error == QC_OK)
		error = qc_check_set_recipient(check, rcpt);
	if (error == QC_OK)
		qc_check_set_size(check, m->declared_size);
	if (error == QC_OK)
		qc_check_set_instance(check, m->instance);
	if (error == QC_OK)
		error = qc_engine_check(milter_engine(), check);
	kind = check != NULL && qc_check_error(check) == QC_OK ?
	       reply_action_for(QC_OK, qc_check_verdict(check)) :
	       reply_action_for(error, QC_VERDICT_FITS);
	milter_action(kind, action, sizeof(action));
	status = apply(ctx, action, &let_through);
	if (let_through) {
		m->let_through++;
		if (check != NULL &&
		    qc_engine_let_through(milter_engine(), check) != QC_OK)
			msg_warn("out of memory: message %s will not be "
				 "counted", m->instance);
	}
	milter_log_decision(rcpt, check, error, m->declared_size, kind,
			    action);
	qc_check_free(check);
	return status;
}

static sfsistat
on_header(SMFICTX *ctx, char *name, char *value)
{
	struct mconn *m = conn_of(ctx);

	/* "Name: value" CRLF, as the message holds it. */
	if (m != NULL)
		m->size += strlen(name) + 2 + strlen(value) + 2;
	return no_reply(m, SMFIP_NR_HDR);
}

static sfsistat
on_eoh(SMFICTX *ctx)
{
	struct mconn *m = conn_of(ctx);

	if (m != NULL)
		m->size += 2;
	return no_reply(m, SMFIP_NR_EOH);
}

static sfsistat
on_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct mconn *m = conn_of(ctx);

	(void)chunk;
	if (m != NULL)
		m->size += len;
	return no_reply(m, SMFIP_NR_BODY);
}

static sfsistat
on_eom(SMFICTX *ctx)
{
	struct mconn *m = conn_of(ctx);
	enum qc_commit_outcome outcome;
	unsigned int counted = 0;

	if (m == NULL || !m->in_message)
		return SMFIS_CONTINUE;
	/* The MTA accepts the message on this answer: count it once for
	 * every recipient this milter let through. */
	qc_engine_commit(milter_engine(), m->instance, m->let_through,
			 m->size, &outcome, &counted);
	msg_info("instance=%s state=END-OF-MESSAGE recipients=%" PRIu64
		 " size=%" PRIu64 " counted=%u", m->instance, m->let_through,
		 m->size, counted);
	m->in_message = 0;
	return SMFIS_CONTINUE;
}

static sfsistat
on_abort(SMFICTX *ctx)
{
	struct mconn *m = smfi_getpriv(ctx);

	/* RSET, or the message refused: nothing is counted; the engine
	 * forgets the message's RCPTs in time. */
	if (m != NULL)
		m->in_message = 0;
	return SMFIS_CONTINUE;
}

static sfsistat
on_close(SMFICTX *ctx)
{
	struct mconn *m = smfi_getpriv(ctx);

	if (m != NULL)
		metrics_connection_close();
	free(m);
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

struct smfiDesc milter_desc = {
	.xxfi_name = "quotachk-milter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = 0,
	.xxfi_envfrom = on_envfrom,
	.xxfi_envrcpt = on_envrcpt,
	.xxfi_header = on_header,
	.xxfi_eoh = on_eoh,
	.xxfi_body = on_body,
	.xxfi_eom = on_eom,
	.xxfi_abort = on_abort,
	.xxfi_close = on_close,
	.xxfi_negotiate = on_negotiate,
};
