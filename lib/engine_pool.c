/*
 * engine_pool.c - the engine's IMAP side: worker threads, each owning
 * exactly one qc_client_t (a client is never used by two threads),
 * taking jobs from the engine's queue and handing the answers back under
 * the engine's lock.
 *
 * A reconfiguration starts a new generation of workers with the new
 * config; the old ones finish the job in hand and exit.  A job that
 * waited in the queue past its deadline is returned untouched
 * (not_started): its checks were answered by the deadline already.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "qc_private.h"

struct worker {
	qc_engine_t *engine;
	qc_client_t *client;
	unsigned int generation;
};

void
pool_free_prepared(qc_engine_t *e)
{
	for (unsigned int i = 0; i < e->nprepared; i++) {
		qc_client_free(e->prepared[i]->client);
		free(e->prepared[i]);
	}
	free(e->prepared);
	e->prepared = NULL;
	e->nprepared = 0;
}

int
pool_prepare(qc_engine_t *e, const qc_config_t *config, unsigned int n)
{
	pool_free_prepared(e);
	e->prepared = calloc(n, sizeof(*e->prepared));
	if (e->prepared == NULL)
		return QC_ERR_NOMEM;
	for (unsigned int i = 0; i < n; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		int ret;

		if (w == NULL) {
			pool_free_prepared(e);
			return QC_ERR_NOMEM;
		}
		e->prepared[e->nprepared++] = w;
		w->engine = e;
		ret = qc_client_new(config, &w->client);
		if (ret != QC_OK) {
			qc_errmsg_set(e->errmsg, "%s", w->client != NULL &&
				      qc_client_errmsg(w->client)[0] ?
				      qc_client_errmsg(w->client) :
				      qc_strerror(ret));
			pool_free_prepared(e);
			return ret;
		}
		/* Worker i starts at imap_url entry i mod count: the
		 * connections are spread over the servers listed. */
		qc_client_prefer_url(w->client, i);
	}
	return QC_OK;
}

static void
run_job(struct worker *w, struct job *job)
{
	struct qc_quota quota;

	if (engine_now_ms() >= job->deadline_ms) {
		job->not_started = 1;
		job->error = QC_ERR_TIMEOUT;
		snprintf(job->errmsg, sizeof(job->errmsg), "waited in the "
			 "queue past imap_timeout; all IMAP connections busy");
		return;
	}
	job->error = qc_client_query(w->client, job->key, &quota,
				     &job->verdict);
	if (job->error != QC_OK) {
		snprintf(job->errmsg, sizeof(job->errmsg), "%s",
			 qc_client_errmsg(w->client)[0] ?
			 qc_client_errmsg(w->client) :
			 qc_strerror(job->error));
		return;
	}
	job->storage = quota.storage;
	job->messages = quota.messages;
	memcpy(job->mailbox, quota.mailbox, sizeof(job->mailbox));
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	qc_engine_t *e = w->engine;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		struct job *job;

		while (!e->stop && e->generation == w->generation &&
		       e->jobs == NULL)
			pthread_cond_wait(&e->wake, &e->lock);
		if (e->stop || e->generation != w->generation)
			break;
		job = e->jobs;
		e->jobs = job->next;
		if (e->jobs == NULL)
			e->jobs_tail = NULL;
		pthread_mutex_unlock(&e->lock);

		run_job(w, job);

		pthread_mutex_lock(&e->lock);
		engine_job_done(e, job);
	}
	e->nlive--;
	pthread_cond_broadcast(&e->gone);
	pthread_mutex_unlock(&e->lock);
	qc_client_free(w->client);
	free(w);
	return NULL;
}

int
pool_launch(qc_engine_t *e)
{
	pthread_attr_t attr;
	unsigned int started = 0;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&e->lock);
	e->generation++;
	pthread_cond_broadcast(&e->wake);
	for (unsigned int i = 0; i < e->nprepared; i++) {
		struct worker *w = e->prepared[i];
		pthread_t tid;
		int err;

		w->generation = e->generation;
		err = pthread_create(&tid, &attr, worker_main, w);
		if (err != 0) {
			qc_errmsg_set(e->errmsg, "cannot start a worker "
				      "thread: %s", strerror(err));
			qc_client_free(w->client);
			free(w);
			continue;
		}
		e->nlive++;
		started++;
	}
	pthread_mutex_unlock(&e->lock);
	pthread_attr_destroy(&attr);
	free(e->prepared);
	e->prepared = NULL;
	e->nprepared = 0;
	return started > 0 ? QC_OK : QC_ERR_NOMEM;
}

void
pool_submit(qc_engine_t *e, struct job *job)
{
	job->next = NULL;
	if (e->jobs_tail != NULL)
		e->jobs_tail->next = job;
	else
		e->jobs = job;
	e->jobs_tail = job;
	pthread_cond_signal(&e->wake);
}

unsigned int
pool_stop(qc_engine_t *e, uint64_t wait_ms)
{
	struct timespec until;
	unsigned int stuck;

	pool_free_prepared(e);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(wait_ms / 1000);
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->lock);
	e->stop = 1;
	pthread_cond_broadcast(&e->wake);
	while (e->nlive > 0)
		if (pthread_cond_timedwait(&e->gone, &e->lock, &until) ==
		    ETIMEDOUT)
			break;
	while (e->jobs != NULL) {
		struct job *next = e->jobs->next;

		free(e->jobs);
		e->jobs = next;
	}
	e->jobs_tail = NULL;
	stuck = e->nlive;
	pthread_mutex_unlock(&e->lock);
	return stuck;
}
