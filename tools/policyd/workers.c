/*
 * workers.c - see workers.h.  One mutex guards both queues; workers hold
 * it only to pop or push a job, never during a query.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "loop.h"
#include "workers.h"

struct worker {
	struct workers *pool;
	qc_client_t *client;
	unsigned int generation;
};

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t wake;           /* jobs queued, generation changed, stop */
	pthread_cond_t gone;           /* a worker exited */
	struct job *jobs, *jobs_tail;
	struct job *done, *done_tail;
	unsigned int generation;
	unsigned int nlive;
	int stop;
	int efd;
	struct worker **prepared;
	unsigned int nprepared;
};

struct workers *
workers_create(void)
{
	struct workers *p = calloc(1, sizeof(*p));
	pthread_condattr_t attr;

	if (p == NULL)
		return NULL;
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->gone, &attr);
	pthread_condattr_destroy(&attr);
	return p;
}

int
workers_fd(const struct workers *p)
{
	return p->efd;
}

static void
free_prepared(struct workers *p)
{
	for (unsigned int i = 0; i < p->nprepared; i++) {
		qc_client_free(p->prepared[i]->client);
		free(p->prepared[i]);
	}
	free(p->prepared);
	p->prepared = NULL;
	p->nprepared = 0;
}

int
workers_prepare(struct workers *p, const qc_config_t *config, unsigned int n,
		char *err, size_t err_size)
{
	free_prepared(p);
	p->prepared = calloc(n, sizeof(*p->prepared));
	if (p->prepared == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		int ret;

		if (w == NULL) {
			snprintf(err, err_size, "out of memory");
			free_prepared(p);
			return -1;
		}
		p->prepared[p->nprepared++] = w;
		w->pool = p;
		ret = qc_client_new(config, &w->client);
		if (ret != QC_OK) {
			snprintf(err, err_size, "%s", w->client != NULL &&
				 qc_client_errmsg(w->client)[0] ?
				 qc_client_errmsg(w->client) : qc_strerror(ret));
			free_prepared(p);
			return -1;
		}
		/* Worker i starts at imap_url entry i mod count: the
		 * connections are spread over the servers listed. */
		qc_client_prefer_url(w->client, i);
	}
	return 0;
}

static void
run_job(struct worker *w, struct job *job)
{
	struct qc_quota quota;
	uint64_t start = loop_now_us();

	if (loop_now_ms() >= job->deadline_ms) {
		job->not_started = 1;
		job->error = QC_ERR_TIMEOUT;
		snprintf(job->errmsg, sizeof(job->errmsg), "waited in the "
			 "queue past imap_timeout; all IMAP connections busy");
		return;
	}
	job->error = qc_client_query(w->client, job->key, &quota,
				     &job->verdict);
	job->us = loop_now_us() - start;
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
	struct workers *p = w->pool;
	uint64_t one = 1;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct job *job;

		while (!p->stop && p->generation == w->generation &&
		       p->jobs == NULL)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stop || p->generation != w->generation)
			break;
		job = p->jobs;
		p->jobs = job->next;
		if (p->jobs == NULL)
			p->jobs_tail = NULL;
		pthread_mutex_unlock(&p->lock);

		run_job(w, job);

		pthread_mutex_lock(&p->lock);
		job->next = NULL;
		if (p->done_tail != NULL)
			p->done_tail->next = job;
		else
			p->done = job;
		p->done_tail = job;
		/* An eventfd write never blocks short of 2^64 - 2 pending. */
		if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			abort();
	}
	p->nlive--;
	pthread_cond_broadcast(&p->gone);
	pthread_mutex_unlock(&p->lock);
	qc_client_free(w->client);
	free(w);
	return NULL;
}

int
workers_launch(struct workers *p, char *err, size_t err_size)
{
	pthread_attr_t attr;
	unsigned int started = 0;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&p->lock);
	p->generation++;
	pthread_cond_broadcast(&p->wake);
	for (unsigned int i = 0; i < p->nprepared; i++) {
		struct worker *w = p->prepared[i];
		pthread_t tid;
		int e;

		w->generation = p->generation;
		e = pthread_create(&tid, &attr, worker_main, w);
		if (e != 0) {
			snprintf(err, err_size, "cannot start a worker thread: "
				 "%s", strerror(e));
			qc_client_free(w->client);
			free(w);
			continue;
		}
		p->nlive++;
		started++;
	}
	pthread_mutex_unlock(&p->lock);
	pthread_attr_destroy(&attr);
	free(p->prepared);
	p->prepared = NULL;
	p->nprepared = 0;
	return started > 0 ? 0 : -1;
}

void
workers_submit(struct workers *p, struct job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->jobs_tail != NULL)
		p->jobs_tail->next = job;
	else
		p->jobs = job;
	p->jobs_tail = job;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

struct job *
workers_take(struct workers *p)
{
	uint64_t n;
	struct job *list;

	/* Clear the counter first: a job finished after the list is taken
	 * then rings again instead of being missed. */
	if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return NULL;
	pthread_mutex_lock(&p->lock);
	list = p->done;
	p->done = p->done_tail = NULL;
	pthread_mutex_unlock(&p->lock);
	return list;
}

static void
free_jobs(struct job *j)
{
	while (j != NULL) {
		struct job *next = j->next;
		free(j);
		j = next;
	}
}

unsigned int
workers_destroy(struct workers **pp, uint64_t wait_ms)
{
	struct workers *p = *pp;
	struct timespec until;
	unsigned int stuck;

	if (p == NULL)
		return 0;
	*pp = NULL;
	free_prepared(p);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(wait_ms / 1000);
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->wake);
	while (p->nlive > 0)
		if (pthread_cond_timedwait(&p->gone, &p->lock, &until) ==
		    ETIMEDOUT)
			break;
	free_jobs(p->jobs);
	p->jobs = p->jobs_tail = NULL;
	free_jobs(p->done);
	p->done = p->done_tail = NULL;
	stuck = p->nlive;
	if (stuck > 0) {
		/* Stuck workers still point at p: leave it to exit(). */
		pthread_mutex_unlock(&p->lock);
		return stuck;
	}
	pthread_mutex_unlock(&p->lock);
	close(p->efd);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->gone);
	free(p);
	return 0;
}
