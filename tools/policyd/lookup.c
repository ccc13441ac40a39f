/*
 * lookup.c - from a policy request to libquotachk's check engine and
 * back: the request becomes a check, its answer becomes the configured
 * action, a decision log line and the counters (see lookup.h).  The
 * engine does the cache, coalescing, deadlines, backoff and accounting.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "decision.h"
#include "log.h"
#include "lookup.h"
#include "metrics.h"

/* ---- the decision: log line, counters, hand over to the connection ---- */

/*
 * r is answered: error and verdict as the engine (or the daemon itself,
 * with check NULL) gave them.  Logs, counts, and for an RCPT that the
 * reply lets through tells the engine, for the message's END-OF-MESSAGE.
 */
static void
finish(struct policyd *d, struct request *r, const qc_check_t *check,
       int error, enum qc_verdict verdict, const char *errmsg)
{
	enum action_kind action = reply_action_for(error, verdict);
	const char *action_text = reply_action_text(d->config, action);
	uint64_t us = loop_now_us() - r->start_us;
	char eom[80] = "";
	struct decision line = {
		.recipient = r->recipient, .check = check, .error = error,
		.verdict = verdict, .errmsg = errmsg, .size = r->size,
		.extra = eom, .action = action_text, .us = us,
	};

	if (r->kind == POLICY_CHECK && check != NULL &&
	    !reply_action_refuses(action_text) &&
	    qc_engine_let_through(d->engine, check) != QC_OK)
		msg_warn("out of memory: message %s will not be counted",
			 r->instance);
	r->action = action;
	r->done = 1;
	d->stats.requests++;
	d->stats.actions[action]++;
	if (error != QC_OK)
		d->stats.errors++;
	else
		d->stats.verdicts[verdict]++;
	stats_latency(&d->stats, us);
	metrics_decision(error, verdict, action, check != NULL ?
			 qc_check_source(check) : QC_SOURCE_NONE, us);
	if (r->kind == POLICY_CHECK_COMMIT || r->kind == POLICY_COMMIT)
		snprintf(eom, sizeof(eom), " state=END-OF-MESSAGE "
			 "recipients=%" PRIu64 " counted=%u",
			 r->recipient_count, r->counted);
	decision_log(&line);
	conn_request_done(r);
}

static void
on_answer(qc_check_t *check, void *context)
{
	struct request *r = context;

	r->counted = qc_check_counted(check);
	finish(r->d, r, check, qc_check_error(check), qc_check_verdict(check),
	       qc_check_errmsg(check));
}

void
lookup_start(struct policyd *d, struct request *r)
{
	int ret;

	if (r->check == NULL && (ret = qc_check_new(&r->check)) != QC_OK) {
		finish(d, r, NULL, ret, QC_VERDICT_FITS, NULL);
		return;
	}
	qc_check_reset(r->check);
	ret = qc_check_set_recipient(r->check, r->recipient);
	if (ret == QC_OK)
		ret = qc_check_set_size(r->check, r->size);
	if (ret == QC_OK)
		ret = qc_check_set_stage(r->check, r->kind == POLICY_CHECK ?
					 QC_STAGE_RCPT :
					 QC_STAGE_END_OF_MESSAGE);
	/* The parser keeps no instance it would have to cut. */
	if (ret == QC_OK && r->instance[0] != '\0')
		ret = qc_check_set_instance(r->check, r->instance);
	if (ret == QC_OK)
		ret = qc_engine_submit(d->engine, r->check, on_answer, r);
	if (ret != QC_OK)
		finish(d, r, NULL, ret, QC_VERDICT_FITS, NULL);
}

void
lookup_skip(struct policyd *d, struct request *r, enum policy_kind kind)
{
	d->stats.skipped++;
	/* Counted as notchecked: the action is action_fits. */
	(void)kind; /* the connection's one warning says which */
	finish(d, r, NULL, QC_OK, QC_VERDICT_NOT_CHECKED, NULL);
}

int
lookup_commit(struct policyd *d, struct request *r)
{
	enum qc_commit_outcome outcome = QC_COMMIT_UNKNOWN_MESSAGE;

	if (r->instance[0] != '\0')
		qc_engine_commit(d->engine, r->instance, r->recipient_count,
				 r->size, &outcome, &r->counted);
	if (outcome == QC_COMMIT_RECIPIENTS_DIFFER)
		msg_info("instance=%s: Postfix accepted %" PRIu64 " recipients, "
			 "not the number let through (a later restriction "
			 "refused some, or more than the daemon keeps); not "
			 "counting the message", r->instance,
			 r->recipient_count);
	d->stats.skipped++;
	finish(d, r, NULL, QC_OK, QC_VERDICT_NOT_CHECKED, NULL);
	return outcome == QC_COMMIT_UNKNOWN_MESSAGE ? -1 : 0;
}

void
lookup_release(struct policyd *d, struct request *r)
{
	if (r->check != NULL) {
		if (!r->done)
			qc_engine_cancel(d->engine, r->check);
		qc_check_free(r->check);
	}
	free(r->recipient);
	free(r);
}

static void
on_event(enum qc_event_level level, const char *text, void *context)
{
	char clean[600];

	(void)context;
	log_sanitize(text, clean, sizeof(clean), 1);
	if (level == QC_EVENT_WARNING)
		msg_warn("%s", clean);
	else
		msg_info("%s", clean);
}

void
lookup_events_to_log(struct policyd *d)
{
	qc_engine_set_event_fn(d->engine, on_event, d);
}
