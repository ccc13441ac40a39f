/*
 * lookup.c - cache, coalescing, deadlines, backoff, accounting and the
 * decision log line (see lookup.h).
 *
 * Accounting: a refusal rests only on the server's own figures plus
 * messages Postfix really accepted.  An RCPT check never counts anything
 * (a probe, an RSET, a recipient refused later or a crowd of concurrent
 * RCPTs leave the figures as the server gave them); a message is counted
 * at END-OF-MESSAGE, with its real size, on the cache entry of each
 * recipient it went to, until the entry is refreshed from the server.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "hash.h"
#include "log.h"
#include "lookup.h"
#include "txn.h"
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
	/* Lookups up to this id were started under an older configuration:
	 * their answers are given but not cached (job ids are the cache's
	 * stamps, cache.h). */
	uint64_t stale_up_to;
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

static void
reset_backoff(struct lookup *l)
{
	memset(&l->backoff, 0, sizeof(l->backoff));
}

void
lookup_new_config(struct lookup *l)
{
	reset_backoff(l);
	l->stale_up_to = l->next_job_id;
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

/* Remember an RCPT answer for the message's END-OF-MESSAGE (txn.h). */
static void
note_rcpt(struct policyd *d, struct request *r, int countable,
	  enum action_kind action)
{
	int let_through = !reply_action_refuses(reply_action_text(d->config,
								  action));
	struct txn *txn = txn_table_get(d->txns, r->instance, 1,
					loop_now_ms());

	if (txn == NULL && r->instance[0] == '\0')
		return; /* not a Postfix message: nothing to tie it to */
	if (txn == NULL ||
	    txn_rcpt(txn, countable ? r->key : NULL, let_through) < 0)
		msg_warn("out of memory: message %s will not be counted",
			 r->instance);
}

static void
finish(struct policyd *d, struct request *r, int error,
       enum qc_verdict verdict, const struct cache_value *v,
       const char *cached, const char *errmsg)
{
	enum action_kind action = reply_action_for(error, verdict);
	uint64_t us = loop_now_us() - r->start_us;
	char rcpt[256], mbox[256], used[24], limit[24], msgs[48] = "";
	char err[400] = "", text[320], eom[80] = "", since[48] = "";
	struct qc_quota seen;

	if (r->kind == POLICY_CHECK)
		note_rcpt(d, r, error == QC_OK && verdict == QC_VERDICT_FITS,
			  action);
	else if (r->kind == POLICY_CHECK_COMMIT)
		txn_table_remove(d->txns, r->instance); /* the message ends */
	r->action = action;
	r->done = 1;
	d->stats.requests++;
	d->stats.actions[action]++;
	if (error != QC_OK)
		d->stats.errors++;
	else
		d->stats.verdicts[verdict]++;
	stats_latency(&d->stats, us);

	if (v != NULL)
		cache_value_quota(v, &seen);
	usage_text(v != NULL ? &seen.storage : NULL, 1, used, sizeof(used));
	usage_text(v != NULL ? &seen.storage : NULL, 0, limit, sizeof(limit));
	if (v != NULL && v->messages.limited)
		snprintf(msgs, sizeof(msgs), " messages=%" PRIu64 "/%" PRIu64,
			 seen.messages.used, seen.messages.limit);
	if (v != NULL && v->counted_messages > 0)
		snprintf(since, sizeof(since), " accepted_since=%" PRIu64,
			 v->counted_bytes);
	if (r->kind == POLICY_CHECK_COMMIT || r->kind == POLICY_COMMIT)
		snprintf(eom, sizeof(eom), " state=END-OF-MESSAGE "
			 "recipients=%" PRIu64 " counted=%u",
			 r->recipient_count, r->counted);
	if (error != QC_OK)
		snprintf(err, sizeof(err), " error=%s detail=\"%s\"",
			 qc_error_name(error), log_sanitize(errmsg != NULL ?
			 errmsg : qc_strerror(error), text, sizeof(text), 1));
	msg_info("recipient=%s mailbox=%s used=%s limit=%s%s%s size=%" PRIu64
		 "%s verdict=%s action=\"%s\" cached=%s ms=%" PRIu64 ".%03"
		 PRIu64 "%s%s",
		 log_sanitize(r->recipient != NULL ? r->recipient : "",
			      rcpt, sizeof(rcpt), 0),
		 v != NULL && v->mailbox[0] ?
		 log_sanitize(v->mailbox, mbox, sizeof(mbox), 0) : "-",
		 used, limit, msgs, since, r->size, eom,
		 error != QC_OK ? "error" : qc_verdict_name(verdict),
		 reply_action_text(d->config, action), cached, us / 1000,
		 us % 1000, err, r->in_window ? " window=yes" : "");
	conn_request_done(r);
}

/*
 * Decide r on a quota answer v (the server's figures plus what was
 * counted).  A message that fits at END-OF-MESSAGE is counted on the
 * cache entry: Postfix accepts it on this answer.
 */
static void
answer_from_value(struct policyd *d, struct request *r,
		  const struct cache_value *v, const char *cached)
{
	enum qc_verdict verdict = v->verdict;
	unsigned int flags = 0;

	if (verdict == QC_VERDICT_FITS) {
		struct qc_quota q;

		cache_value_quota(v, &q);
		/* quota_rule/quota_grace; the config outlives this call. */
		qc_decide_rule(qc_config_rule(d->config), &q, r->size, &verdict,
			       &flags);
	}
	if (r->kind == POLICY_CHECK_COMMIT && verdict == QC_VERDICT_FITS)
		r->counted = (unsigned int)cache_charge(d->cache, r->key,
							r->size, loop_now_ms());
	/* Logs the usage the decision saw; r is not to be touched after. */
	r->in_window = (flags & QC_DECISION_IN_WINDOW) != 0;
	finish(d, r, QC_OK, verdict, v, cached, NULL);
}

void
lookup_skip(struct policyd *d, struct request *r, enum policy_kind kind)
{
	d->stats.skipped++;
	/* Counted as notchecked: the action is action_fits. */
	(void)kind; /* the connection's one warning says which */
	finish(d, r, QC_OK, QC_VERDICT_NOT_CHECKED, NULL, "no", NULL);
}

int
lookup_commit(struct policyd *d, struct request *r)
{
	uint64_t now = loop_now_ms();
	struct txn *txn = txn_table_get(d->txns, r->instance, 0, now);

	if (txn != NULL && txn_complete(txn, r->recipient_count))
		for (unsigned int i = 0; i < txn->nkeys; i++)
			r->counted += (unsigned int)cache_charge(d->cache,
						txn->keys[i], r->size, now);
	else if (txn != NULL)
		msg_info("instance=%s: Postfix accepted %" PRIu64 " of the %"
			 PRIu64 " recipients let through (a later restriction "
			 "refused some, or more than %d); not counting the "
			 "message", r->instance, r->recipient_count,
			 txn->let_through, TXN_RECIPIENTS_MAX);
	txn_table_remove(d->txns, r->instance);
	d->stats.skipped++;
	finish(d, r, QC_OK, QC_VERDICT_NOT_CHECKED, NULL, "no", NULL);
	return txn != NULL ? 0 : -1;
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

/*
 * Errors that say the server as a whole is not usable.  Not among them:
 * a tagged NO (QC_ERR_SERVER: the server answers; a Murder frontend
 * whose backend is down says so for some mailboxes) and a BAD or an
 * unreadable answer about one mailbox (QC_ERR_ANSWER): one recipient
 * must not switch checking off for everyone.
 */
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
	reset_backoff(l);
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
	char *key = r->key, mailbox[QC_MAILBOX_MAX], why[400];
	uint64_t now = loop_now_ms(), hash;
	int checked = 1, ret;

	if (policy_recipient_key(r->recipient, d->set.recipient_delimiter,
				 key, sizeof(r->key)) < 0) {
		key[0] = '\0';
		finish(d, r, QC_ERR_ADDRESS, QC_VERDICT_NO_MAILBOX, NULL, "no",
		       "recipient cannot name a mailbox");
		return;
	}
	if (cache_get(d->cache, key, now, &v)) {
		d->stats.cache_hits++;
		answer_from_value(d, r, &v, "yes");
		return;
	}
	/* Cheap checks that need no server.  '.' stands in for the
	 * separator: it refuses nothing ("." is written "^"), whereas '/'
	 * would refuse a "/" in the local part that a "." server takes;
	 * the worker maps again with the server's own separator. */
	ret = qc_address_to_mailbox(d->config, r->recipient, '.', mailbox,
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
	memcpy(inf->key, key, sizeof(inf->key));
	inf->hash = hash;
	inf->job_id = job->id = ++l->next_job_id;
	inf->deadline_ms = job->deadline_ms = now + d->set.imap_timeout_ms;
	memcpy(job->key, key, sizeof(job->key));
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
	v->counted_bytes = v->counted_messages = 0;  /* the server's own */
	memcpy(v->mailbox, job->mailbox, sizeof(v->mailbox));
}

static void
job_done(struct policyd *d, struct job *job, uint64_t now)
{
	struct lookup *l = d->lookup;
	uint64_t hash = hash_string(job->key);
	struct inflight *inf = inflight_find(l, job->key, hash);
	struct cache_value v, cached;
	struct request *r;
	int first = 1;

	if (inf != NULL && inf->job_id != job->id)
		inf = NULL; /* timed out earlier; a newer lookup owns the key */
	if (!job->not_started) {
		d->stats.lookups++;
		if (job->error != QC_OK)
			d->stats.imap_errors++;
		/* Any other outcome, a NO included, is an answer: the
		 * server is reachable, and the backoff (its probe above
		 * all) ends; a probe left open would keep every uncached
		 * recipient on action_error until a restart. */
		if (job->error != QC_OK && server_failure(job->error))
			backoff_fail(l, job->id, job->error, job->errmsg, now);
		else
			backoff_ok(l);
	} else if (job->id == l->backoff.probe_id) {
		l->backoff.probe_id = 0; /* the next lookup probes */
	}
	if (job->error == QC_OK) {
		value_from_job(job, &v);
		/* Cached first, so that END-OF-MESSAGE requests among the
		 * waiters count their message on the entry the next request
		 * sees.  Not from before a reload, not over a newer answer. */
		if (job->id > l->stale_up_to)
			cache_put(d->cache, job->key, QC_OK, &v, now, job->id);
	}
	if (inf == NULL)
		return;
	while ((r = unwait_first(inf)) != NULL) {
		const char *how = first ? "no" : "coalesced";

		first = 0;
		if (job->error != QC_OK)
			finish(d, r, job->error, QC_VERDICT_FITS, NULL, how,
			       job->errmsg);
		else if (cache_get(d->cache, job->key, now, &cached))
			answer_from_value(d, r, &cached, how);
		else
			answer_from_value(d, r, &v, how);
	}
	inflight_remove(l, inf);
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
