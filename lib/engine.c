/*
 * engine.c - the check engine (quotachk.h): cache, coalescing,
 * deadlines, backoff and accounting around the worker pool.
 *
 * Accounting: a refusal rests only on the server's own figures plus
 * messages really accepted.  A check never counts anything (a probe, an
 * RSET, a recipient refused later or a crowd of concurrent checks leave
 * the figures as the server gave them); a message is counted when it is
 * accepted, with its real size, on the cache entry of each mailbox it
 * went to, until the entry is refreshed from the server.
 *
 * Backoff: the first failure that says "the server is not usable"
 * (connect, TLS, login, timeout, dropped connection, garbled stream)
 * starts an interval of ENGINE_BACKOFF_MIN_MS during which new lookups
 * are answered with that error at once; then one lookup (the probe) goes
 * through; any outcome but such a failure ends the backoff.  Cached
 * answers are served throughout.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "engine.h"
#include "hash.h"
#include "qc_private.h"

#define TIMER_IDLE_MS 1000

uint64_t
engine_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
engine_now_ms(void)
{
	return engine_now_us() / 1000u;
}

/* ---- settings ---- */

static int
read_settings(qc_engine_t *e, const qc_config_t *config, struct engine_settings *s)
{
	if (qc_config_get_number(config, "imap_timeout", &s->timeout_ms) ||
	    qc_config_get_number(config, "imap_connections",
				 &s->nconnections) ||
	    qc_config_get_number(config, "cache_ttl", &s->cache_ttl_ms) ||
	    qc_config_get_number(config, "cache_size", &s->cache_size)) {
		qc_errmsg_set(e->errmsg, "cannot read the engine's numbers "
			      "from the configuration");
		return QC_ERR_CONFIG;
	}
	qc_strlcpy(s->delimiters, qc_config_get(config, "recipient_delimiter"),
		   sizeof(s->delimiters));
	s->rule = *qc_config_rule(config);
	return QC_OK;
}

/* Lock held (or no thread started yet). */
static void
apply_settings(qc_engine_t *e, const struct engine_settings *s)
{
	e->timeout_ms = s->timeout_ms;
	e->rule = s->rule;
	e->nconnections = s->nconnections;
	memcpy(e->delimiters, s->delimiters, sizeof(e->delimiters));
}

/* ---- answering a check (lock held) ---- */

/* An eventfd write never blocks short of 2^64 - 2 pending. */
static void ring(qc_engine_t *e);

/* The check has its answer: hand it back. */
static void
answer(qc_engine_t *e, qc_check_t *c)
{
	c->elapsed_us = engine_now_us() - c->start_us;
	e->counters[QC_COUNTER_CHECKS]++;
	if (c->stage == QC_STAGE_END_OF_MESSAGE)
		txn_table_remove(e->txns, c->instance); /* the message ends */
	if (c->blocking) {
		c->state = CHECK_DONE;
		pthread_cond_broadcast(&e->answered_cond);
		return;
	}
	c->state = CHECK_ANSWERED;
	c->answered_next = NULL;
	if (e->answered_tail != NULL) {
		e->answered_tail->answered_next = c;
	} else {
		e->answered = c;
		ring(e);
	}
	e->answered_tail = c;
}

static void
set_error(qc_check_t *c, int error, const char *errmsg)
{
	c->error = error;
	c->verdict = error == QC_ERR_ADDRESS ? QC_VERDICT_NO_MAILBOX :
		     QC_VERDICT_FITS;
	snprintf(c->errmsg, sizeof(c->errmsg), "%s",
		 errmsg != NULL ? errmsg : qc_strerror(error));
}

static void
ring(qc_engine_t *e)
{
	uint64_t one = 1;

	if (write(e->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
}

/* Queue a line for the frontend's log (lock held). */
static void
event(qc_engine_t *e, enum qc_event_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
event(qc_engine_t *e, enum qc_event_level level, const char *fmt, ...)
{
	struct engine_event *ev;
	va_list ap;
	int len = 0;

	if (e->nevents == ENGINE_EVENTS_MAX) {
		e->events_dropped++;
		return;
	}
	ev = &e->events[e->nevents++];
	ev->level = level;
	/* With several backends, the log must say which one fails. */
	if (e->name[0] != '\0')
		len = snprintf(ev->text, sizeof(ev->text), "backend %s: ",
			       e->name);
	va_start(ap, fmt);
	vsnprintf(ev->text + len, sizeof(ev->text) - (size_t)len, fmt, ap);
	va_end(ap);
	ring(e);
}

/*
 * Decide c on a quota answer v (the server's figures plus what was
 * counted).  A message that fits at END-OF-MESSAGE is counted on the
 * cache entry: the server accepts it on this answer.
 */
static void
decide(qc_engine_t *e, qc_check_t *c, const struct cache_value *v)
{
	struct qc_quota q;

	c->error = QC_OK;
	c->verdict = v->verdict;
	snprintf(c->mailbox, sizeof(c->mailbox), "%s", v->mailbox);
	cache_value_quota(v, &q);
	c->has_usage = v->verdict == QC_VERDICT_FITS;
	c->storage = q.storage;
	c->messages = q.messages;
	c->counted_bytes = v->counted_bytes;
	if (v->verdict != QC_VERDICT_FITS)
		return;
	qc_decide_rule(&e->rule, &q, c->size, &c->verdict, &c->flags);
	if (c->stage == QC_STAGE_END_OF_MESSAGE &&
	    c->verdict == QC_VERDICT_FITS) {
		c->counted = (unsigned int)cache_charge(e->cache, c->key,
							c->size,
							engine_now_ms());
		e->counters[QC_COUNTER_COUNTED] += c->counted;
	}
}

/* ---- in-flight lookups ---- */

static struct inflight *
inflight_find(qc_engine_t *e, const char *key, uint64_t hash)
{
	struct inflight *inf = e->buckets[hash & (ENGINE_INFLIGHT_BUCKETS - 1)];

	for (; inf != NULL; inf = inf->hnext)
		if (inf->hash == hash && strcmp(inf->key, key) == 0)
			return inf;
	return NULL;
}

static void
inflight_remove(qc_engine_t *e, struct inflight *inf)
{
	struct inflight **pp =
		&e->buckets[inf->hash & (ENGINE_INFLIGHT_BUCKETS - 1)];

	while (*pp != inf)
		pp = &(*pp)->hnext;
	*pp = inf->hnext;
	if (inf->older != NULL)
		inf->older->newer = inf->newer;
	else
		e->oldest = inf->newer;
	if (inf->newer != NULL)
		inf->newer->older = inf->older;
	else
		e->newest = inf->older;
	e->ninflight--;
	free(inf);
}

static void
wait_on(qc_engine_t *e, struct inflight *inf, qc_check_t *c)
{
	c->state = CHECK_WAITING;
	c->inflight = inf;
	c->wait_next = NULL;
	c->wait_prev = inf->waiters_tail;
	if (inf->waiters_tail != NULL)
		inf->waiters_tail->wait_next = c;
	else
		inf->waiters = c;
	inf->waiters_tail = c;
	e->pending++;
	if (c->timeout_ms > 0)
		e->nshort++;
}

/* Take c off its lookup; the lookup goes on (its answer still fills the
 * cache, and a new check of the key may join it). */
static void
unwait(qc_engine_t *e, qc_check_t *c)
{
	struct inflight *inf = c->inflight;

	if (inf == NULL)
		return;
	if (c->wait_prev != NULL)
		c->wait_prev->wait_next = c->wait_next;
	else
		inf->waiters = c->wait_next;
	if (c->wait_next != NULL)
		c->wait_next->wait_prev = c->wait_prev;
	else
		inf->waiters_tail = c->wait_prev;
	c->inflight = NULL;
	c->wait_prev = c->wait_next = NULL;
	e->pending--;
	if (c->timeout_ms > 0)
		e->nshort--;
}

/* ---- backoff ---- */

/*
 * Errors that say the server as a whole is not usable.  Not among them:
 * a tagged NO (QC_ERR_SERVER: the server answers; a Murder frontend whose
 * backend is down says so for some mailboxes) and a BAD or an unreadable
 * answer about one mailbox (QC_ERR_ANSWER): one recipient must not switch
 * checking off for everyone.
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
backoff_fail(qc_engine_t *e, uint64_t job_id, int error, const char *errmsg,
	     uint64_t now_ms)
{
	struct backoff *b = &e->backoff;

	if (b->interval_ms == 0)
		b->interval_ms = ENGINE_BACKOFF_MIN_MS;
	else if (job_id == b->probe_id)
		b->interval_ms = b->interval_ms * 2 > ENGINE_BACKOFF_MAX_MS ?
				 ENGINE_BACKOFF_MAX_MS : b->interval_ms * 2;
	else
		return; /* started before the backoff: already counted */
	b->failures++;
	b->until_ms = now_ms + b->interval_ms;
	b->probe_id = 0;
	b->last_error = error;
	snprintf(b->last_errmsg, sizeof(b->last_errmsg), "%s", errmsg);
	event(e, QC_EVENT_WARNING, "IMAP lookups fail (%s: %s); answering "
	      "with that error (action_error) for %" PRIu64 " ms before "
	      "trying the server again", qc_error_name(error), errmsg,
	      b->interval_ms);
}

static void
backoff_end(qc_engine_t *e)
{
	if (e->backoff.interval_ms != 0)
		event(e, QC_EVENT_INFO, "IMAP server answers again after %u "
		      "failed attempts", e->backoff.failures);
	memset(&e->backoff, 0, sizeof(e->backoff));
}

/* ---- a lookup's answer (lock held) ---- */

static void
value_from_job(const struct job *job, struct cache_value *v)
{
	v->verdict = job->verdict;
	v->storage = job->storage;
	v->messages = job->messages;
	v->counted_bytes = v->counted_messages = 0;  /* the server's own */
	memcpy(v->mailbox, job->mailbox, sizeof(v->mailbox));
}

void
engine_job_done(qc_engine_t *e, struct job *job)
{
	uint64_t now = engine_now_ms();
	struct inflight *inf = inflight_find(e, job->key,
					     hash_string(job->key));
	struct cache_value v, cached;
	qc_check_t *c;
	int first = 1;

	if (inf != NULL && inf->job_id != job->id)
		inf = NULL; /* timed out earlier; a newer lookup owns the key */
	if (!job->not_started) {
		e->counters[QC_COUNTER_LOOKUPS]++;
		if (job->error != QC_OK)
			e->counters[QC_COUNTER_IMAP_ERRORS]++;
		/* Any other outcome, a NO included, is an answer: the
		 * server is reachable, and the backoff (its probe above
		 * all) ends; a probe left open would keep every uncached
		 * recipient on the error until a restart. */
		if (job->error != QC_OK && server_failure(job->error))
			backoff_fail(e, job->id, job->error, job->errmsg, now);
		else
			backoff_end(e);
	} else if (job->id == e->backoff.probe_id) {
		e->backoff.probe_id = 0; /* the next lookup probes */
	}
	if (job->error == QC_OK) {
		value_from_job(job, &v);
		/* Cached first, so that END-OF-MESSAGE checks among the
		 * waiters count their message on the entry the next check
		 * sees.  Not from before a reconfiguration, not over a
		 * newer answer. */
		if (job->id > e->stale_up_to)
			cache_put(e->cache, job->key, QC_OK, &v, now, job->id);
	}
	if (inf != NULL) {
		while ((c = inf->waiters) != NULL) {
			unwait(e, c);
			c->source = first ? QC_SOURCE_SERVER :
					    QC_SOURCE_COALESCED;
			first = 0;
			if (job->error != QC_OK)
				set_error(c, job->error, job->errmsg);
			else if (cache_get(e->cache, job->key, now, &cached))
				decide(e, c, &cached);
			else
				decide(e, c, &v);
			answer(e, c);
		}
		inflight_remove(e, inf);
	}
	free(job);
}

/* ---- deadlines: the timer thread ---- */

static void
expire_lookups(qc_engine_t *e, uint64_t now)
{
	char why[200];

	while (e->oldest != NULL && e->oldest->deadline_ms <= now) {
		struct inflight *inf = e->oldest;
		qc_check_t *c;

		e->counters[QC_COUNTER_TIMEOUTS]++;
		snprintf(why, sizeof(why), "no answer from the IMAP server "
			 "within imap_timeout (%" PRIu64 " ms)", e->timeout_ms);
		backoff_fail(e, inf->job_id, QC_ERR_TIMEOUT, why, now);
		while ((c = inf->waiters) != NULL) {
			unwait(e, c);
			set_error(c, QC_ERR_TIMEOUT, why);
			answer(e, c);
		}
		inflight_remove(e, inf);
	}
}

/* Checks with a deadline of their own, shorter than their lookup's. */
static uint64_t
expire_short(qc_engine_t *e, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	if (e->nshort == 0)
		return next;
	for (struct inflight *inf = e->oldest; inf != NULL; inf = inf->newer) {
		qc_check_t *c = inf->waiters, *cnext;

		for (; c != NULL; c = cnext) {
			cnext = c->wait_next;
			if (c->timeout_ms == 0)
				continue;
			if (c->deadline_ms > now) {
				if (c->deadline_ms < next)
					next = c->deadline_ms;
				continue;
			}
			unwait(e, c);
			set_error(c, QC_ERR_TIMEOUT, "no answer within the "
				  "check's own timeout");
			answer(e, c);
		}
	}
	return next;
}

static void
timed_wait(qc_engine_t *e, uint64_t ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&e->timer_cond, &e->lock, &until);
}

static void *
timer_main(void *arg)
{
	qc_engine_t *e = arg;

	pthread_mutex_lock(&e->lock);
	while (!e->stop) {
		uint64_t now = engine_now_ms(), next, wait = TIMER_IDLE_MS;

		expire_lookups(e, now);
		next = expire_short(e, now);
		if (e->oldest != NULL && e->oldest->deadline_ms < next)
			next = e->oldest->deadline_ms;
		if (next != UINT64_MAX)
			wait = next > now ? next - now : 0;
		if (wait > TIMER_IDLE_MS)
			wait = TIMER_IDLE_MS;
		timed_wait(e, wait);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- submitting ---- */

/*
 * Answer c now if it can be (the cache, no server needed, backoff), or
 * start or join its lookup.  Returns 1 when answered now.  Lock held.
 */
static int
start(qc_engine_t *e, qc_check_t *c)
{
	struct backoff *b = &e->backoff;
	struct cache_value v;
	struct inflight *inf;
	struct job *job;
	char mailbox[QC_MAILBOX_MAX], why[ENGINE_ERRMSG_MAX];
	uint64_t now = engine_now_ms(), hash;
	int checked = 1, ret;

	if (e->backends) {
		/* No backend serves it, or no domain to route by. */
		c->key[0] = '\0';
		if (c->route_error != QC_OK)
			set_error(c, c->route_error, "recipient cannot be "
				  "mapped to a mailbox name");
		else
			c->verdict = QC_VERDICT_NOT_CHECKED;
		return 1;
	}
	if (cache_key(c->recipient, e->delimiters, c->key,
		      sizeof(c->key)) < 0) {
		c->key[0] = '\0';
		set_error(c, QC_ERR_ADDRESS, "recipient cannot name a mailbox");
		return 1;
	}
	if (cache_get(e->cache, c->key, now, &v)) {
		e->counters[QC_COUNTER_CACHE_HITS]++;
		c->source = QC_SOURCE_CACHE;
		decide(e, c, &v);
		return 1;
	}
	/* Cheap checks that need no server.  '.' stands in for the
	 * separator: it refuses nothing ("." is written "^"), whereas '/'
	 * would refuse a "/" in the local part that a "." server takes;
	 * the worker maps again with the server's own separator. */
	ret = qc_address_to_mailbox(e->config, c->recipient, '.', mailbox,
				    sizeof(mailbox), &checked);
	if (ret == QC_ERR_ADDRESS) {
		set_error(c, QC_ERR_ADDRESS, "recipient cannot be mapped to a "
			  "mailbox name");
		return 1;
	}
	if (ret == QC_OK && !checked) {
		c->error = QC_OK;
		c->verdict = QC_VERDICT_NOT_CHECKED;
		return 1;
	}
	hash = hash_string(c->key);
	inf = inflight_find(e, c->key, hash);
	if (inf != NULL) {
		e->counters[QC_COUNTER_COALESCED]++;
		wait_on(e, inf, c);
		return 0;
	}
	if (b->interval_ms != 0 && (now < b->until_ms || b->probe_id != 0)) {
		e->counters[QC_COUNTER_BACKOFF_ANSWERS]++;
		c->source = QC_SOURCE_BACKOFF;
		snprintf(why, sizeof(why), "not asking the IMAP server for "
			 "%" PRIu64 " ms after: %.200s", b->until_ms > now ?
			 b->until_ms - now : 0, b->last_errmsg);
		set_error(c, b->last_error, why);
		return 1;
	}
	inf = calloc(1, sizeof(*inf));
	job = calloc(1, sizeof(*job));
	if (inf == NULL || job == NULL) {
		free(inf);
		free(job);
		set_error(c, QC_ERR_NOMEM, NULL);
		return 1;
	}
	memcpy(inf->key, c->key, sizeof(inf->key));
	inf->hash = hash;
	inf->job_id = job->id = ++e->next_job_id;
	inf->deadline_ms = job->deadline_ms = now + e->timeout_ms;
	memcpy(job->key, c->key, sizeof(job->key));
	if (b->interval_ms != 0)
		b->probe_id = job->id;
	inf->hnext = e->buckets[hash & (ENGINE_INFLIGHT_BUCKETS - 1)];
	e->buckets[hash & (ENGINE_INFLIGHT_BUCKETS - 1)] = inf;
	inf->older = e->newest;
	if (e->newest != NULL)
		e->newest->newer = inf;
	else
		e->oldest = inf;
	e->newest = inf;
	e->ninflight++;
	wait_on(e, inf, c);
	pool_submit(e, job);
	if (e->ninflight == 1)
		pthread_cond_signal(&e->timer_cond);
	return 0;
}

int
engine_submit(qc_engine_t *e, qc_check_t *c, int blocking,
	      qc_check_done_fn *done, void *context)
{
	int now;

	if (e == NULL || c == NULL || c->recipient == NULL ||
	    c->state == CHECK_WAITING || c->state == CHECK_ANSWERED)
		return QC_ERR_INVALID;
	if (e->parent == NULL) {
		c->sub = NULL;
		c->route_error = QC_OK;
		c->backend[0] = '\0';
	}
	if (e->backends) {
		qc_engine_t *sub = backends_route(e, c);

		if (sub != NULL)
			return engine_submit(sub, c, blocking, done, context);
	}
	c->error = QC_OK;
	c->verdict = QC_VERDICT_FITS;
	c->flags = 0;
	c->source = QC_SOURCE_NONE;
	c->has_usage = 0;
	c->counted_bytes = 0;
	c->counted = 0;
	c->mailbox[0] = c->errmsg[0] = '\0';
	c->blocking = blocking;
	c->done = done;
	c->context = context;
	c->start_us = engine_now_us();
	pthread_mutex_lock(&e->lock);
	c->deadline_ms = c->start_us / 1000 + (c->timeout_ms > 0 &&
			 c->timeout_ms < e->timeout_ms ? c->timeout_ms :
			 e->timeout_ms);
	now = start(e, c);
	if (now) {
		c->elapsed_us = engine_now_us() - c->start_us;
		e->counters[QC_COUNTER_CHECKS]++;
		if (c->stage == QC_STAGE_END_OF_MESSAGE)
			txn_table_remove(e->txns, c->instance);
		c->state = CHECK_DONE;
	} else if (c->timeout_ms > 0) {
		pthread_cond_signal(&e->timer_cond);
	}
	pthread_mutex_unlock(&e->lock);
	if (now && !blocking && done != NULL)
		done(c, context);
	return QC_OK;
}

int
qc_engine_submit(qc_engine_t *e, qc_check_t *c, qc_check_done_fn *done,
		 void *context)
{
	return engine_submit(e, c, 0, done, context);
}

int
qc_engine_check(qc_engine_t *e, qc_check_t *c)
{
	int ret = engine_submit(e, c, 1, NULL, NULL);

	if (ret != QC_OK)
		return ret;
	if (c->sub != NULL)
		e = c->sub; /* it waits there */
	pthread_mutex_lock(&e->lock);
	while (c->state != CHECK_DONE)
		pthread_cond_wait(&e->answered_cond, &e->lock);
	pthread_mutex_unlock(&e->lock);
	return c->error;
}

void
qc_engine_cancel(qc_engine_t *e, qc_check_t *c)
{
	if (e == NULL || c == NULL)
		return;
	if (c->sub != NULL)
		e = c->sub;
	pthread_mutex_lock(&e->lock);
	if (c->state == CHECK_WAITING) {
		unwait(e, c);
	} else if (c->state == CHECK_ANSWERED) {
		qc_check_t **pp = &e->answered, *prev = NULL;

		while (*pp != c) {
			prev = *pp;
			pp = &(*pp)->answered_next;
		}
		*pp = c->answered_next;
		if (e->answered_tail == c)
			e->answered_tail = prev;
	}
	c->state = CHECK_IDLE;
	pthread_mutex_unlock(&e->lock);
}

int
qc_engine_fd(const qc_engine_t *e)
{
	return e != NULL ? e->efd : -1;
}

void
qc_engine_process(qc_engine_t *e)
{
	uint64_t n;

	if (e == NULL)
		return;
	/* Clear the counter first: a check answered after the queue is
	 * emptied then rings again instead of being missed. */
	if (read(e->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	engine_drain(e, e);
	/* Sub-engines ring this engine's fd. */
	for (qc_engine_t *sub = __atomic_load_n(&e->all_subs,
						 __ATOMIC_ACQUIRE);
	     sub != NULL; sub = sub->all_next)
		engine_drain(sub, e);
}

void
engine_drain(qc_engine_t *e, qc_engine_t *top)
{
	struct engine_event events[ENGINE_EVENTS_MAX];
	unsigned int nevents, dropped;

	pthread_mutex_lock(&e->lock);
	nevents = e->nevents;
	memcpy(events, e->events, nevents * sizeof(events[0]));
	dropped = e->events_dropped;
	e->nevents = e->events_dropped = 0;
	pthread_mutex_unlock(&e->lock);
	for (unsigned int i = 0; i < nevents && top->event_fn != NULL; i++)
		top->event_fn((enum qc_event_level)events[i].level,
			      events[i].text, top->event_context);
	if (dropped > 0 && top->event_fn != NULL)
		top->event_fn(QC_EVENT_WARNING, "more engine events than "
			      "could be kept; some were dropped",
			      top->event_context);
	/*
	 * One check at a time off the queue, the callback run without the
	 * lock: a callback may submit checks, or cancel (and free) another
	 * answered check, which is then simply no longer in the queue.
	 */
	for (;;) {
		qc_check_t *c;

		pthread_mutex_lock(&e->lock);
		c = e->answered;
		if (c != NULL) {
			e->answered = c->answered_next;
			if (e->answered == NULL)
				e->answered_tail = NULL;
			c->state = CHECK_DONE;
		}
		pthread_mutex_unlock(&e->lock);
		if (c == NULL)
			break;
		if (c->done != NULL)
			c->done(c, c->context);
	}
}

/* ---- accounting ---- */

int
qc_engine_let_through(qc_engine_t *e, const qc_check_t *c)
{
	struct txn *txn;
	int countable, ret = QC_OK;

	if (e == NULL || c == NULL || c->state != CHECK_DONE)
		return QC_ERR_INVALID;
	if (c->instance[0] == '\0' || c->stage != QC_STAGE_RCPT)
		return QC_OK; /* nothing to tie it to */
	/* Its mailbox is on the backend that answered; the commit adds
	 * up the recipients of every backend. */
	if (c->sub != NULL)
		e = c->sub;
	countable = c->error == QC_OK && c->verdict == QC_VERDICT_FITS;
	pthread_mutex_lock(&e->lock);
	txn = txn_table_get(e->txns, c->instance, 1, engine_now_ms());
	if (txn == NULL || txn_rcpt(txn, countable ? c->key : NULL, 1) < 0)
		ret = QC_ERR_NOMEM;
	pthread_mutex_unlock(&e->lock);
	return ret;
}

int
qc_engine_commit(qc_engine_t *e, const char *instance,
		 uint64_t recipient_count, uint64_t size,
		 enum qc_commit_outcome *outcome_r, unsigned int *counted_r)
{
	uint64_t now = engine_now_ms();
	enum qc_commit_outcome outcome = QC_COMMIT_UNKNOWN_MESSAGE;
	unsigned int counted = 0;
	struct txn *txn;

	if (e == NULL || instance == NULL)
		return QC_ERR_INVALID;
	if (e->backends)
		return backends_commit(e, instance, recipient_count, size,
				       outcome_r, counted_r);
	pthread_mutex_lock(&e->lock);
	txn = txn_table_get(e->txns, instance, 0, now);
	if (txn != NULL && txn_complete(txn, recipient_count)) {
		outcome = QC_COMMIT_COUNTED;
		counted = engine_charge(e, txn, size, now);
	} else if (txn != NULL) {
		outcome = QC_COMMIT_RECIPIENTS_DIFFER;
	}
	txn_table_remove(e->txns, instance);
	pthread_mutex_unlock(&e->lock);
	if (outcome_r != NULL)
		*outcome_r = outcome;
	if (counted_r != NULL)
		*counted_r = counted;
	return QC_OK;
}

unsigned int
engine_charge(qc_engine_t *e, const struct txn *txn, uint64_t size,
	      uint64_t now)
{
	unsigned int counted = 0;

	for (unsigned int i = 0; i < txn->nkeys; i++)
		counted += (unsigned int)cache_charge(e->cache, txn->keys[i],
						      size, now);
	e->counters[QC_COUNTER_COUNTED] += counted;
	return counted;
}

uint64_t
qc_engine_counter(qc_engine_t *e, enum qc_counter which)
{
	uint64_t n;

	if (e == NULL || (unsigned int)which > QC_COUNTER_COUNTED)
		return 0;
	n = engine_own_counter(e, which);
	/* The top engine of backends: its own (checks no backend serves)
	 * plus every backend's, retired ones too, so totals never drop. */
	for (qc_engine_t *sub = __atomic_load_n(&e->all_subs,
						 __ATOMIC_ACQUIRE);
	     sub != NULL; sub = sub->all_next)
		n += engine_own_counter(sub, which);
	return n;
}

uint64_t
engine_own_counter(qc_engine_t *e, enum qc_counter which)
{
	uint64_t n = 0;

	pthread_mutex_lock(&e->lock);
	switch (which) {
	case QC_COUNTER_PENDING:
		n = e->pending;
		break;
	case QC_COUNTER_CACHE_ENTRIES:
		n = cache_count(e->cache);
		break;
	case QC_COUNTER_BACKING_OFF:
		n = e->backoff.interval_ms != 0;
		break;
	default:
		n = e->counters[which];
		break;
	}
	pthread_mutex_unlock(&e->lock);
	return n;
}

/* ---- life cycle ---- */

static int
init_cond_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int ret;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	ret = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return ret;
}

int
qc_engine_new(const qc_config_t *config, qc_engine_t **engine_r)
{
	qc_engine_t *e;
	struct engine_settings set;
	int ret;

	if (engine_r == NULL)
		return QC_ERR_INVALID;
	*engine_r = NULL;
	if (config == NULL || (e = calloc(1, sizeof(*e))) == NULL)
		return config == NULL ? QC_ERR_INVALID : QC_ERR_NOMEM;
	e->efd = -1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->answered_cond, NULL);
	pthread_cond_init(&e->wake, NULL);
	init_cond_monotonic(&e->timer_cond);
	init_cond_monotonic(&e->gone);
	*engine_r = e;
	e->config = config;
	ret = read_settings(e, config, &set);
	if (ret != QC_OK)
		return ret;
	apply_settings(e, &set);
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->cache = cache_create((size_t)set.cache_size, set.cache_ttl_ms);
	e->txns = txn_table_create(TXN_TABLE_MAX, TXN_TTL_MS);
	if (e->efd < 0 || e->cache == NULL || e->txns == NULL) {
		qc_errmsg_set(e->errmsg, "cannot set up the engine: %s",
			      strerror(errno));
		return QC_ERR_NOMEM;
	}
	if (qc_config_backend_count(config) > 0)
		return backends_new(e, config);
	return pool_prepare(e, config, (unsigned int)e->nconnections);
}

int
qc_engine_start(qc_engine_t *e)
{
	int ret, err;

	if (e == NULL || e->started)
		return QC_ERR_INVALID;
	if (e->backends) {
		ret = backends_start(e);
		if (ret == QC_OK)
			e->started = 1;
		return ret;
	}
	ret = pool_launch(e);
	if (ret != QC_OK)
		return ret;
	err = pthread_create(&e->timer, NULL, timer_main, e);
	if (err != 0) {
		qc_errmsg_set(e->errmsg, "cannot start the timer thread: %s",
			      strerror(err));
		return QC_ERR_NOMEM;
	}
	e->timer_running = 1;
	e->started = 1;
	return QC_OK;
}

int
qc_engine_reconfigure(qc_engine_t *e, const qc_config_t *config)
{
	struct engine_settings set;
	int ret;

	if (e == NULL || config == NULL)
		return QC_ERR_INVALID;
	if (e->backends != (qc_config_backend_count(config) > 0)) {
		/* The threads of one side are not there to switch to. */
		qc_errmsg_set(e->errmsg, "a change between one IMAP server "
			      "and several backends (the backends key) needs "
			      "a restart; the running configuration stays");
		return QC_ERR_CONFIG;
	}
	if (e->backends)
		return backends_reconfigure(e, config);
	/* All or nothing: nothing changes before the new clients exist. */
	ret = engine_reconf_prepare(e, config, &set);
	if (ret != QC_OK)
		return ret;
	return engine_reconf_apply(e, config, &set);
}

int
engine_reconf_prepare(qc_engine_t *e, const qc_config_t *config,
		      struct engine_settings *set)
{
	int ret = read_settings(e, config, set);

	if (ret == QC_OK)
		ret = pool_prepare(e, config, (unsigned int)set->nconnections);
	return ret;
}

void
engine_reconf_abort(qc_engine_t *e)
{
	pool_free_prepared(e);
}

int
engine_reconf_apply(qc_engine_t *e, const qc_config_t *config,
		    const struct engine_settings *set)
{
	pthread_mutex_lock(&e->lock);
	e->config = config;
	apply_settings(e, set);
	/* The server or the mapping may have changed: old answers go, and
	 * lookups started before now answer but are not cached. */
	cache_configure(e->cache, (size_t)set->cache_size, set->cache_ttl_ms);
	cache_flush(e->cache);
	memset(&e->backoff, 0, sizeof(e->backoff));
	e->stale_up_to = e->next_job_id;
	pthread_mutex_unlock(&e->lock);
	return e->started ? pool_launch(e) : QC_OK;
}

unsigned int
qc_engine_free(qc_engine_t *e, uint64_t wait_ms)
{
	unsigned int stuck;

	if (e == NULL)
		return 0;
	if (e->backends && (stuck = backends_free(e, wait_ms)) > 0)
		return stuck; /* their workers still ring e's fd */
	stuck = pool_stop(e, wait_ms);
	if (e->timer_running) {
		pthread_mutex_lock(&e->lock);
		pthread_cond_broadcast(&e->timer_cond);
		pthread_mutex_unlock(&e->lock);
		pthread_join(e->timer, NULL);
	}
	if (stuck > 0)
		return stuck; /* workers still point at e: leave it to exit() */
	while (e->oldest != NULL) {
		struct inflight *inf = e->oldest;

		e->oldest = inf->newer;
		free(inf);
	}
	cache_destroy(&e->cache);
	txn_table_destroy(&e->txns);
	if (e->efd >= 0 && e->parent == NULL)
		close(e->efd); /* a sub-engine's is its top engine's */
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->answered_cond);
	pthread_cond_destroy(&e->wake);
	pthread_cond_destroy(&e->gone);
	pthread_cond_destroy(&e->timer_cond);
	free(e);
	return 0;
}

void
qc_engine_set_event_fn(qc_engine_t *e, qc_event_fn *fn, void *context)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->lock);
	e->event_fn = fn;
	e->event_context = context;
	pthread_mutex_unlock(&e->lock);
}

const char *
qc_engine_errmsg(const qc_engine_t *e)
{
	if (e == NULL)
		return "no engine (out of memory)";
	return e->errmsg[0] ? e->errmsg : "no error";
}
