/*
 * decision.c - see decision.h.
 */
#include <inttypes.h>
#include <stdio.h>

#include "decision.h"
#include "log.h"

static void
usage_text(const struct qc_usage *u, int used, char *out, size_t size)
{
	if (u == NULL || !u->limited)
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%" PRIu64, used ? u->used : u->limit);
}

static const char *
source_text(const qc_check_t *check)
{
	switch (check != NULL ? qc_check_source(check) : QC_SOURCE_NONE) {
	case QC_SOURCE_CACHE:
		return "yes";
	case QC_SOURCE_COALESCED:
		return "coalesced";
	default:
		return "no";
	}
}

void
decision_log(const struct decision *d)
{
	struct qc_usage storage, messages;
	uint64_t counted_bytes = 0;
	int usage = d->check != NULL &&
		    qc_check_usage(d->check, &storage, &messages,
				   &counted_bytes) == QC_OK;
	const char *mailbox = d->check != NULL ? qc_check_mailbox(d->check) :
			      "";
	char rcpt[256], mbox[256], used[24], limit[24], msgs[48] = "";
	char err[400] = "", text[320], since[48] = "", backend[96] = "";
	const char *bname = d->check != NULL ? qc_check_backend(d->check) : "";

	usage_text(usage ? &storage : NULL, 1, used, sizeof(used));
	usage_text(usage ? &storage : NULL, 0, limit, sizeof(limit));
	if (usage && messages.limited)
		snprintf(msgs, sizeof(msgs), " messages=%" PRIu64 "/%" PRIu64,
			 messages.used, messages.limit);
	/* Names are plain (letters, digits, - _ .): no sanitising needed. */
	if (bname[0] != '\0')
		snprintf(backend, sizeof(backend), " backend=%s", bname);
	if (counted_bytes > 0)
		snprintf(since, sizeof(since), " accepted_since=%" PRIu64,
			 counted_bytes);
	if (d->error != QC_OK)
		snprintf(err, sizeof(err), " error=%s detail=\"%s\"",
			 qc_error_name(d->error), log_sanitize(d->errmsg !=
			 NULL && d->errmsg[0] ? d->errmsg :
			 qc_strerror(d->error), text, sizeof(text), 1));
	msg_info("recipient=%s mailbox=%s%s used=%s limit=%s%s%s size=%" PRIu64
		 "%s verdict=%s action=\"%s\" cached=%s ms=%" PRIu64 ".%03"
		 PRIu64 "%s%s",
		 log_sanitize(d->recipient != NULL ? d->recipient : "", rcpt,
			      sizeof(rcpt), 0),
		 mailbox[0] ? log_sanitize(mailbox, mbox, sizeof(mbox), 0) :
		 "-", backend, used, limit, msgs, since, d->size, d->extra,
		 d->error != QC_OK ? "error" : qc_verdict_name(d->verdict),
		 d->action, source_text(d->check), d->us / 1000, d->us % 1000,
		 err, d->check != NULL && (qc_check_flags(d->check) &
		 QC_DECISION_IN_WINDOW) ? " window=yes" : "");
}

void
decision_log_backends(qc_engine_t *engine)
{
	for (unsigned int i = 0; i < qc_engine_backend_count(engine); i++)
		msg_info("stats: backend=%s checks=%" PRIu64 " cache_hits=%"
			 PRIu64 " lookups=%" PRIu64 " imap_errors=%" PRIu64
			 " timeouts=%" PRIu64 " backoff_answers=%" PRIu64
			 " backing_off=%" PRIu64 " pending=%" PRIu64
			 " counted=%" PRIu64 " cache_entries=%" PRIu64,
			 qc_engine_backend_name(engine, i),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_CHECKS),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_CACHE_HITS),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_LOOKUPS),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_IMAP_ERRORS),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_TIMEOUTS),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_BACKOFF_ANSWERS),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_BACKING_OFF),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_PENDING),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_COUNTED),
			 qc_engine_backend_counter(engine, i,
						   QC_COUNTER_CACHE_ENTRIES));
}
