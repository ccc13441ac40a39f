/*
 * lookup.c - cache, coalescing, deadlines, backoff and the decision log
 * line (see lookup.h).
 *
 * After an answer, a message that fits is counted against the usage the
 * next request sees (cache_charge): within one TTL a burst of messages
 * stops at the limit instead of each being compared with the same stale
 * usage.  Requests that waited on one lookup are decided one after the
 * other on one value, for the same reason.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "hash.h"
#include "log.h"
#include "lookup.h"
#include "workers.h"

#define INFLIGHT_BUCKETS 4096  /* a power of two */

struct inflight {
	struct inflight *hnext;
	struct inflight *older, *newer;   /* creation order = deadline order */
	struct request *waiters, *waiters_tail;
	uint64_t hash;
	uint64_t job_id;
	uint64_t deadline_ms;
	char key[QC_MAILBOX_MAX];
};

struct backoff {
	uint64_t interval_ms;             /* 0: not backing off */
	uint64_t until_ms;
	uint64_t probe_id;                /* job probing the server, or 0 */
	unsigned int failures;
	int last_error;
	char last_errmsg[320];
};

struct lookup {
	struct inflight *buckets[INFLIGHT_BUCKETS];
	struct inflight *oldest, *newest;
	unsigned int count;
	uint64_t next_job_id;
	struct backoff backoff;
};

struct lookup *
lookup_create(void)
{
	return calloc(1, sizeof(struct lookup));
}

void
lookup_destroy(struct lookup **lp)
{
	struct lookup *l = *lp;

	if (l == NULL)
		return;
	while (l->oldest != NULL) {
		struct inflight *inf = l->oldest;

		l->oldest = inf->newer;
		free(inf);
	}
	free(l);
	*lp = NULL;
}

unsigned int
lookup_pending(const struct lookup *l)
{
	return l->count;
}

void
lookup_reset_backoff(struct lookup *l)
{
	memset(&l->backoff, 0, sizeof(l->backoff));
}

/* ---- the decision: log line, counters, hand over to the connection ---- */

static void
usage_text(const struct qc_usage *u, int used, char *out, size_t size)
{
	if (u == NULL || !u->limited)
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%" PRIu64, used ? u->used : u->limit);
}

/* window: the verdict fell inside the KiB rounding window (logged). */
static void
finish_window(struct policyd *d, struct request *r, int error,
	      enum qc_verdict verdict, const struct cache_value *v,
	      const char *cached, const char *errmsg, int window)
{
	enum action_kind action = reply_action_for(error, verdict);
	uint64_t us = loop_now_us() - r->start_us;
	char rcpt[256], mbox[256], used[24], limit[24], msgs[48] = "";
	char err[400] = "", text[320];

	r->action = action;
	r->done = 1;
	d->stats.requests++;
	d->stats.actions[action]++;
	if (error != QC_OK)
		d->stats.errors++;
	else
		d->stats.verdicts[verdict]++;
	stats_latency(&d->stats, us);

	usage_text(v != NULL ? &v->storage : NULL, 1, used, sizeof(used));
	usage_text(v != NULL ? &v->storage : NULL, 0, limit, sizeof(limit));
	if (v != NULL && v->messages.limited)
		snprintf(msgs, sizeof(msgs), " messages=%" PRIu64 "/%" PRIu64,
			 v->messages.used, v->messages.limit);
	if (error != QC_OK)
		snprintf(err, sizeof(err), " error=%s detail=\"%s\"",
			 qc_error_name(error), log_sanitize(errmsg != NULL ?
			 errmsg : qc_strerror(error), text, sizeof(text), 1));
	msg_info("recipient=%s mailbox=%s used=%s limit=%s%s size=%" PRIu64
		 " verdict=%s action=\"%s\" cached=%s ms=%" PRIu64 ".%03" PRIu64
		 "%s%s",
		 log_sanitize(r->recipient != NULL ? r->recipient : "",
			      rcpt, sizeof(rcpt), 0),
		 v != NULL && v->mailbox[0] ?
		 log_sanitize(v->mailbox, mbox, sizeof(mbox), 0) : "-",
		 used, limit, msgs, r->size,
		 error != QC_OK ? "error" : qc_verdict_name(verdict),
		 reply_action_text(d->config, action), cached, us / 1000,
		 us % 1000, err, window ? " window=yes" : "");
	conn_request_done(r);
}

static void
finish(struct policyd *d, struct request *r, int error,
       enum qc_verdict verdict, const struct cache_value *v,
       const char *cached, const char *errmsg)
{
	finish_window(d, r, error, verdict, v, cached, errmsg, 0);
}

/* Decide r on a quota answer v; a message let through is charged to v
 * (a value the caller holds) or to the cache entry for key. */
static void
answer_from_value(struct policyd *d, struct request *r, const char *key,
		  struct cache_value *v, const char *cached, int charge_cache)
{
	enum qc_verdict verdict = v->verdict;
	uint64_t size = r->size;
	unsigned int flags = 0;

	if (verdict == QC_VERDICT_FITS) {
		struct qc_quota q;

		q.storage = v->storage;
		q.messages = v->messages;
		/* quota_rule/quota_grace; the config outlives this call. */
		qc_decide_rule(qc_config_rule(d->config), &q, size, &verdict,
			       &flags);
	}
	/* Logs the usage the decision saw; r is not to be touched after. */
	finish_window(d, r, QC_OK, verdict, v, cached, NULL,
		      (flags & QC_DECISION_IN_WINDOW) != 0);
	if (verdict != QC_VERDICT_FITS)
		return;
	if (charge_cache)
		cache_charge(d->cache, key, size, loop_now_ms());
	else
		cache_value_charge(v, size);
}

void
lookup_skip(struct policyd *d, struct request *r, enum policy_kind kind)
{
	d->stats.skipped++;
	/* Counted as notchecked: the action is action_fits. */
	(void)kind; /* the connection's one warning says which */
	finish(d, r, QC_OK, QC_VERDICT_NOT_CHECKED, NULL, "no", NULL);
}

/* ---- in-flight lookups ---- */

static struct inflight *
inflight_find(struct lookup *l, const char *key, uint64_t hash)
{
	struct inflight *inf = l->buckets[hash & (INFLIGHT_BUCKETS - 1)];

	for (; inf != NULL; inf = inf->hnext)
		if (inf->hash == hash && strcmp(inf->key, key) == 0)
			return inf;
	return NULL;
}

static void
inflight_remove(struct lookup *l, struct inflight *inf)
{
	struct inflight **pp = &l->buckets[inf->hash & (INFLIGHT_BUCKETS - 1)];

	while (*pp != inf)
		pp = &(*pp)->hnext;
	*pp = inf->hnext;
	if (inf->older != NULL)
		inf->older->newer = inf->newer;
	else
		l->oldest = inf->newer;
	if (inf->newer != NULL)
		inf->newer->older = inf->older;
	else
		l->newest = inf->older;
	l->count--;
	free(inf);
}

static void
wait_on(struct inflight *inf, struct request *r)
{
	r->inflight = inf;
	r->wait_next = NULL;
	r->wait_prev = inf->waiters_tail;
	if (inf->waiters_tail != NULL)
		inf->waiters_tail->wait_next = r;
	else
		inf->waiters = r;
	inf->waiters_tail = r;
}

static struct request *
unwait_first(struct inflight *inf)
{
	struct request *r = inf->waiters;

	if (r != NULL)
		lookup_cancel(r);
	return r;
}

void
lookup_cancel(struct request *r)
{
	struct inflight *inf = r->inflight;

	if (inf == NULL)
		return;
	if (r->wait_prev != NULL)
		r->wait_prev->wait_next = r->wait_next;
	else
		inf->waiters = r->wait_next;
	if (r->wait_next != NULL)
		r->wait_next->wait_prev = r->wait_prev;
	else
		inf->waiters_tail = r->wait_prev;
	r->inflight = NULL;
	r->wait_prev = r->wait_next = NULL;
	/* The lookup goes on without waiters: its answer still fills the
	 * cache, and a new request for the key may join it. */
}

/* ---- backoff ---- */

static int
server_failure(int error)
{
	switch (error) {
	case QC_ERR_CONNECT:
	case QC_ERR_TLS:
	case QC_ERR_AUTH:
	case QC_ERR_TIMEOUT:
	case QC_ERR_CLOSED:
	case QC_ERR_PROTOCOL:
	case QC_ERR_NO_QUOTA_SUPPORT:
		return 1;
	default:
		return 0;
	}
}

static void
backoff_fail(struct lookup *l, uint64_t job_id, int error, const char *errmsg,
	     uint64_t now_ms)
{
	struct backoff *b = &l->backoff;
	char text[320];

	if (b->interval_ms == 0)
		b->interval_ms = BACKOFF_MIN_MS;
	else if (job_id == b->probe_id)
		b->interval_ms = b->interval_ms * 2 > BACKOFF_MAX_MS ?
				 BACKOFF_MAX_MS : b->interval_ms * 2;
	else
		return; /* started before the backoff: already counted */
	b->failures++;
	b->until_ms = now_ms + b->interval_ms;
	b->probe_id = 0;
	b->last_error = error;
	snprintf(b->last_errmsg, sizeof(b->last_errmsg), "%s", errmsg);
	msg_warn("IMAP lookups fail (%s: %s); answering action_error for "
		 "%" PRIu64 " ms before trying the server again",
		 qc_error_name(error),
		 log_sanitize(errmsg, text, sizeof(text), 1), b->interval_ms);
}

static void
backoff_ok(struct lookup *l)
{
	if (l->backoff.interval_ms != 0)
		msg_info("IMAP server answers again after %u failed attempts",
			 l->backoff.failures);
	lookup_reset_backoff(l);
}

/* ---- starting a lookup ---- */

void
lookup_start(struct policyd *d, struct request *r)
{
	struct lookup *l = d->lookup;
	struct backoff *b = &l->backoff;
	struct cache_value v;
	struct inflight *inf;
	struct job *job;
	char key[QC_MAILBOX_MAX], mailbox[QC_MAILBOX_MAX], why[400];
	uint64_t now = loop_now_ms(), hash;
	int checked = 1, ret;

	if (policy_recipient_key(r->recipient, d->set.recipient_delimiter,
				 key, sizeof(key)) < 0) {
		finish(d, r, QC_ERR_ADDRESS, QC_VERDICT_NO_MAILBOX, NULL, "no",
		       "recipient cannot name a mailbox");
		return;
	}
	if (cache_get(d->cache, key, now, &v)) {
		d->stats.cache_hits++;
		answer_from_value(d, r, key, &v, "yes", 1);
		return;
	}
	/* Cheap checks that need no server ('/' stands in for the
	 * separator, which only matters to the name, not to these). */
	ret = qc_address_to_mailbox(d->config, r->recipient, '/', mailbox,
				    sizeof(mailbox), &checked);
	if (ret == QC_ERR_ADDRESS) {
		finish(d, r, QC_ERR_ADDRESS, QC_VERDICT_NO_MAILBOX, NULL, "no",
		       "recipient cannot be mapped to a mailbox name");
		return;
	}
	if (ret == QC_OK && !checked) {
		finish(d, r, QC_OK, QC_VERDICT_NOT_CHECKED, NULL, "no", NULL);
		return;
	}
	hash = hash_string(key);
	inf = inflight_find(l, key, hash);
	if (inf != NULL) {
		d->stats.coalesced++;
		wait_on(inf, r);
		return;
	}
	if (b->interval_ms != 0 && (now < b->until_ms || b->probe_id != 0)) {
		d->stats.backoff_answers++;
		snprintf(why, sizeof(why), "not asking the IMAP server for "
			 "%" PRIu64 " ms after: %s", b->until_ms > now ?
			 b->until_ms - now : 0, b->last_errmsg);
		finish(d, r, b->last_error, QC_VERDICT_FITS, NULL, "no", why);
		return;
	}
	inf = calloc(1, sizeof(*inf));
	job = calloc(1, sizeof(*job));
	if (inf == NULL || job == NULL) {
		free(inf);
		free(job);
		finish(d, r, QC_ERR_NOMEM, QC_VERDICT_FITS, NULL, "no", NULL);
		return;
	}
	memcpy(inf->key, key, sizeof(key));
	inf->hash = hash;
	inf->job_id = job->id = ++l->next_job_id;
	inf->deadline_ms = job->deadline_ms = now + d->set.imap_timeout_ms;
	memcpy(job->key, key, sizeof(key));
	if (b->interval_ms != 0)
		b->probe_id = job->id;
	inf->hnext = l->buckets[hash & (INFLIGHT_BUCKETS - 1)];
	l->buckets[hash & (INFLIGHT_BUCKETS - 1)] = inf;
	inf->older = l->newest;
	if (l->newest != NULL)
		l->newest->newer = inf;
	else
		l->oldest = inf;
	l->newest = inf;
	l->count++;
	wait_on(inf, r);
	workers_submit(d->workers, job);
}

/* ---- answers ---- */

static void
value_from_job(const struct job *job, struct cache_value *v)
{
	v->verdict = job->verdict;
	v->storage = job->storage;
	v->messages = job->messages;
	memcpy(v->mailbox, job->mailbox, sizeof(v->mailbox));
}

static void
job_done(struct policyd *d, struct job *job, uint64_t now)
{
	struct lookup *l = d->lookup;
	uint64_t hash = hash_string(job->key);
	struct inflight *inf = inflight_find(l, job->key, hash);
	struct cache_value v;
	struct request *r;
	int first = 1;

	if (inf != NULL && inf->job_id != job->id)
		inf = NULL; /* timed out earlier; a newer lookup owns the key */
	if (!job->not_started) {
		d->stats.lookups++;
		if (job->error != QC_OK)
			d->stats.imap_errors++;
		if (job->error == QC_OK)
			backoff_ok(l);
		else if (server_failure(job->error))
			backoff_fail(l, job->id, job->error, job->errmsg, now);
	}
	if (job->error == QC_OK)
		value_from_job(job, &v);
	if (inf != NULL) {
		while ((r = unwait_first(inf)) != NULL) {
			const char *cached = first ? "no" : "coalesced";

			first = 0;
			if (job->error != QC_OK)
				finish(d, r, job->error, QC_VERDICT_FITS, NULL,
				       cached, job->errmsg);
			else
				answer_from_value(d, r, job->key, &v, cached, 0);
		}
		inflight_remove(l, inf);
	}
	if (job->error == QC_OK)
		cache_put(d->cache, job->key, QC_OK, &v, now);
}

void
lookup_results(struct policyd *d)
{
	struct job *job = workers_take(d->workers), *next;
	uint64_t now = loop_now_ms();

	for (; job != NULL; job = next) {
		next = job->next;
		job_done(d, job, now);
		free(job);
	}
}

void
lookup_tick(struct policyd *d, uint64_t now_ms)
{
	struct lookup *l = d->lookup;
	char why[200];

	while (l->oldest != NULL && l->oldest->deadline_ms <= now_ms) {
		struct inflight *inf = l->oldest;
		struct request *r;

		d->stats.timeouts++;
		snprintf(why, sizeof(why), "no answer from the IMAP server "
			 "within imap_timeout (%" PRIu64 " ms)",
			 d->set.imap_timeout_ms);
		backoff_fail(l, inf->job_id, QC_ERR_TIMEOUT, why, now_ms);
		while ((r = unwait_first(inf)) != NULL)
			finish(d, r, QC_ERR_TIMEOUT, QC_VERDICT_FITS, NULL, "no",
			       why);
		inflight_remove(l, inf);
	}
}
