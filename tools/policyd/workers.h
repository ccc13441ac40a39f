/*
 * workers.h - the IMAP side: a pool of threads, each owning exactly one
 * qc_client_t (a client is never used by two threads), taking lookup
 * jobs from one queue and handing them back through a second queue and
 * an eventfd the event loop watches.  The library's API stays
 * synchronous; the loop never blocks on IMAP.
 *
 * A reload starts a new generation of workers with the new config; the
 * old ones finish the job in hand and exit.  Jobs carry their deadline:
 * one that waited in the queue past it is returned untouched
 * (not_started), as the loop has already answered its requests.
 */
#ifndef QC_POLICYD_WORKERS_H
#define QC_POLICYD_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "quotachk.h"

struct job {
	struct job *next;
	uint64_t id;
	uint64_t deadline_ms;            /* loop_now_ms() clock */
	char key[QC_MAILBOX_MAX];        /* normalised recipient */
	/* Filled by the worker: */
	int error;                       /* enum qc_error */
	int not_started;
	enum qc_verdict verdict;         /* from qc_client_query() */
	struct qc_usage storage, messages;
	char mailbox[QC_MAILBOX_MAX];
	char errmsg[320];
	uint64_t us;                     /* time the query took */
};

struct workers;

/* NULL when out of memory or no eventfd. */
struct workers *workers_create(void);
/* Readable when finished jobs wait; watch it for reading. */
int workers_fd(const struct workers *workers);

/*
 * Create n clients for config (reading its password file now, with the
 * caller's privileges).  Returns 0, or -1 with err saying why; the
 * running generation is untouched either way.
 */
int workers_prepare(struct workers *workers, const qc_config_t *config,
		    unsigned int n, char *err, size_t err_size);
/* Start the prepared clients' threads; the previous generation retires. */
int workers_launch(struct workers *workers, char *err, size_t err_size);

/* Queue a job (ownership passes until it comes back from workers_take). */
void workers_submit(struct workers *workers, struct job *job);
/* Every finished job, oldest first; the caller frees them. */
struct job *workers_take(struct workers *workers);

/*
 * Stop all workers, waiting up to wait_ms for those in the middle of a
 * query; a worker stuck on a hung server is left behind (the process is
 * about to exit).  Sets *workers to NULL.  Returns how many were left
 * behind: libcurl must not be cleaned up under their feet.
 */
unsigned int workers_destroy(struct workers **workers, uint64_t wait_ms);

#endif
