/*
 * engine.h - the check engine's insides, shared by engine.c (checks,
 * coalescing, deadlines, backoff, accounting), engine_pool.c (the worker
 * threads) and check.c (the check object).
 *
 * One mutex (engine->lock) guards everything here but the fields of a
 * check that its owner fills in before submitting it.  Workers hold it
 * only to take a job and to hand its answer over, never during an IMAP
 * command; callbacks never run under it.
 */
#ifndef QC_ENGINE_H
#define QC_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#include "quotachk.h"
#include "cache.h"
#include "qc_private.h"
#include "txn.h"

#define ENGINE_INFLIGHT_BUCKETS 4096  /* a power of two */
#define ENGINE_ERRMSG_MAX 320

/* The backoff of lookup.h's old description: BACKOFF_MIN_MS after the
 * first failure, then one probe; the cap equals the start, so right
 * answers are back within about a second of the server's recovery. */
#define ENGINE_BACKOFF_MIN_MS 1000
#define ENGINE_BACKOFF_MAX_MS 1000

enum check_state {
	CHECK_IDLE = 0,      /* the owner's */
	CHECK_WAITING,       /* on an in-flight lookup */
	CHECK_ANSWERED,      /* in the engine's answered queue */
	CHECK_DONE           /* answered, handed back */
};

struct inflight;

struct qc_check {
	/* Filled in by the owner. */
	char *recipient;
	uint64_t size;
	enum qc_stage stage;
	uint64_t timeout_ms;
	char instance[TXN_INSTANCE_MAX];
	/* The answer. */
	int error;
	enum qc_verdict verdict;
	unsigned int flags;
	enum qc_source source;
	int has_usage;
	struct qc_usage storage, messages;
	uint64_t counted_bytes;
	unsigned int counted;
	uint64_t start_us, elapsed_us;
	char key[QC_MAILBOX_MAX];
	char mailbox[QC_MAILBOX_MAX];
	char errmsg[ENGINE_ERRMSG_MAX];
	/* The engine's, under its lock. */
	enum check_state state;
	int blocking;
	qc_check_done_fn *done;
	void *context;
	uint64_t deadline_ms;
	struct inflight *inflight;
	struct qc_check *wait_prev, *wait_next;   /* the lookup's waiters */
	struct qc_check *answered_next;
	/* Several backends: the sub-engine serving it, or NULL (answered
	 * by the engine it was submitted to); route_error: the address
	 * could not be routed.  Set by the top engine at submission. */
	struct qc_engine *sub;
	int route_error;
	char backend[QC_BACKEND_NAME_MAX];
};

/* One IMAP command, from the engine to a worker and back. */
struct job {
	struct job *next;
	uint64_t id;
	uint64_t deadline_ms;
	unsigned int generation;         /* of the config it was asked under */
	char key[QC_MAILBOX_MAX];
	/* Filled by the worker: */
	int error;
	int not_started;
	enum qc_verdict verdict;
	struct qc_usage storage, messages;
	char mailbox[QC_MAILBOX_MAX];
	char errmsg[ENGINE_ERRMSG_MAX];
};

struct inflight {
	struct inflight *hnext;
	struct inflight *older, *newer;   /* creation order = deadline order */
	struct qc_check *waiters, *waiters_tail;
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
	char last_errmsg[ENGINE_ERRMSG_MAX];
};

struct worker;

/* Events for the frontend's log, delivered by qc_engine_process(). */
#define ENGINE_EVENTS_MAX 16
struct engine_event {
	int level;                        /* enum qc_event_level */
	char text[ENGINE_ERRMSG_MAX + 160];
};

struct qc_engine {
	pthread_mutex_t lock;
	const qc_config_t *config;        /* NULL once retired */
	/* Settings of config.  The rule is a copy: a retired backend's
	 * lookups in flight still decide after its config is freed. */
	struct qc_rule rule;
	uint64_t timeout_ms;
	uint64_t nconnections;
	char delimiters[32];
	struct cache *cache;
	struct txn_table *txns;
	/* Lookups. */
	struct inflight *buckets[ENGINE_INFLIGHT_BUCKETS];
	struct inflight *oldest, *newest;
	unsigned int ninflight;
	uint64_t next_job_id;
	uint64_t stale_up_to;   /* answers of jobs up to here are not cached */
	struct backoff backoff;
	unsigned int pending;   /* checks waiting */
	/* Checks with their own timeout, scanned by the timer. */
	unsigned int nshort;
	/* Answered checks for qc_engine_process(). */
	struct qc_check *answered, *answered_tail;
	int efd;
	pthread_cond_t answered_cond;   /* blocking checks */
	/* The timer thread: deadlines. */
	pthread_t timer;
	pthread_cond_t timer_cond;
	int timer_running;
	/* The pool (engine_pool.c). */
	pthread_cond_t wake;            /* jobs queued, generation, stop */
	pthread_cond_t gone;            /* a worker exited */
	struct job *jobs, *jobs_tail;
	unsigned int generation;
	unsigned int nlive;
	int stop;
	int started;
	struct worker **prepared;
	unsigned int nprepared;
	struct engine_event events[ENGINE_EVENTS_MAX];
	unsigned int nevents;
	unsigned int events_dropped;
	qc_event_fn *event_fn;
	void *event_context;
	uint64_t counters[QC_COUNTER_COUNTED + 1];
	char errmsg[ENGINE_ERRMSG_MAX * 2];
	/*
	 * Several backends (engine_backends.c).  The top engine then has
	 * no pool and no timer of its own: a sub-engine per backend does
	 * the work, each with its own lock, pool, cache, in-flight table
	 * and backoff, so a hung backend holds up only its own checks.
	 * Sub-engines ring the top engine's eventfd; its
	 * qc_engine_process() drains them all.  A backend dropped by a
	 * reconfiguration retires: it answers what it holds and is freed
	 * with the top engine.  Lock order: top, then a sub-engine.
	 * all_subs lists every sub-engine, retired ones too; it only grows
	 * (at its head, published atomically), so any thread may walk it
	 * without the lock.
	 */
	int backends;                     /* the top engine of backends */
	struct qc_engine *parent;         /* a sub-engine's top engine */
	char name[QC_BACKEND_NAME_MAX];   /* a sub-engine's backend */
	struct qc_engine *subs[QC_BACKENDS_MAX];  /* config's order; lock */
	unsigned int nsubs;                       /* lock */
	struct qc_engine *all_subs, *all_next;
};

/* engine.c, for engine_backends.c. */
int engine_submit(qc_engine_t *engine, qc_check_t *check, int blocking,
		  qc_check_done_fn *done, void *context);
/* The events and answered checks of src, delivered with top's event_fn. */
void engine_drain(qc_engine_t *src, qc_engine_t *top);
/* A reconfiguration in two steps, so several engines change together:
 * prepare (may fail; nothing changes) then apply (cannot fail but for
 * starting threads).  engine_reconf_abort() undoes a prepare. */
struct engine_settings {
	uint64_t timeout_ms, nconnections, cache_ttl_ms, cache_size;
	char delimiters[32];
	struct qc_rule rule;
};
int engine_reconf_prepare(qc_engine_t *engine, const qc_config_t *config,
			  struct engine_settings *set);
int engine_reconf_apply(qc_engine_t *engine, const qc_config_t *config,
			const struct engine_settings *set);
void engine_reconf_abort(qc_engine_t *engine);
/* Count the message on the mailboxes of txn (engine's lock held). */
unsigned int engine_charge(qc_engine_t *engine, const struct txn *txn,
			   uint64_t size, uint64_t now_ms);
uint64_t engine_own_counter(qc_engine_t *engine, enum qc_counter counter);

/* engine_backends.c */
/* Make engine (fresh from qc_engine_new's set-up) the top engine of
 * config's backends: a sub-engine per backend. */
int backends_new(qc_engine_t *engine, const qc_config_t *config);
/* The sub-engine serving check, NULL to answer it on the top engine
 * (c->route_error set when the address cannot be routed). */
qc_engine_t *backends_route(qc_engine_t *engine, qc_check_t *check);
int backends_start(qc_engine_t *engine);
int backends_reconfigure(qc_engine_t *engine, const qc_config_t *config);
unsigned int backends_free(qc_engine_t *engine, uint64_t wait_ms);
int backends_commit(qc_engine_t *engine, const char *instance,
		    uint64_t recipient_count, uint64_t size,
		    enum qc_commit_outcome *outcome_r, unsigned int *counted_r);

/* engine.c: a worker hands its job back (lock held; job freed by it). */
void engine_job_done(qc_engine_t *engine, struct job *job);
uint64_t engine_now_ms(void);
uint64_t engine_now_us(void);

/* engine_pool.c, lock not held unless said. */
/* Create n clients for config (reads the password file). */
int pool_prepare(qc_engine_t *engine, const qc_config_t *config,
		 unsigned int n);
/* Start the prepared workers; the previous ones retire. */
int pool_launch(qc_engine_t *engine);
/* Queue a job (lock held). */
void pool_submit(qc_engine_t *engine, struct job *job);
/* Stop every worker; returns how many were stuck after wait_ms. */
unsigned int pool_stop(qc_engine_t *engine, uint64_t wait_ms);
void pool_free_prepared(qc_engine_t *engine);

#endif
