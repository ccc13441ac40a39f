/*
 * policyd.h - the daemon's shared state, and the one object that travels
 * between its modules: a policy request waiting for its answer.
 *
 * Threads: everything here belongs to the event-loop thread.  Workers see
 * only their own qc_client_t and the job queue (workers.h).
 */
#ifndef QC_POLICYD_POLICYD_H
#define QC_POLICYD_POLICYD_H

#include <stdint.h>

#include "quotachk.h"
#include "loop.h"
#include "reply.h"
#include "request.h"
#include "stats.h"

struct conn;
struct policyd;
struct stats_http;

/*
 * One request, queued on its connection in arrival order.  Answers go
 * out in that order: a finished request waits until those before it are
 * finished too.
 */
struct request {
	struct request *next;             /* the connection's FIFO */
	struct conn *conn;
	struct policyd *d;
	qc_check_t *check;                /* the engine's; NULL if none */
	char *recipient;                  /* as Postfix sent it; owned */
	uint64_t size;
	uint64_t recipient_count;         /* END-OF-MESSAGE: accepted ones */
	uint64_t start_us;
	enum policy_kind kind;
	char instance[POLICY_INSTANCE_MAX];
	unsigned int counted;             /* mailboxes the message was counted on */
	enum action_kind action;
	int done;
};

/* Values read from the config once per (re)load. */
struct settings {
	uint64_t imap_timeout_ms;
	uint64_t idle_timeout_ms;
	uint64_t cache_ttl_ms;
	uint64_t max_clients;
	uint64_t imap_connections;
};

struct listener {
	struct loop_watch watch;
	int fd;
	char name[128];                   /* for log lines */
};

struct policyd {
	qc_config_t *config;
	struct settings set;
	struct loop *loop;
	qc_engine_t *engine;              /* pool, cache, accounting */
	struct stats stats;
	struct listener listener;         /* fd < 0 in spawn mode */
	int listener_paused;
	unsigned int nconns;
	struct conn *conns;               /* all, oldest activity first */
	struct conn *conns_tail;
	struct conn *flush_list;          /* have new output this pass */
	struct conn *dead;                /* closed, freed after the pass */
	int stopping;                     /* SIGTERM: drain and exit */
	int spawn_mode;
	/* imap_password_file as opened while still root, so that a reload
	 * as user can re-read a root-only file (-1 if it could not be). */
	int password_fd;
	struct stats_http *stats_http;    /* stats_listen; NULL: off */
};

/* settings from config; returns 0 or -1 when a number is unreadable. */
int policyd_settings(const qc_config_t *config, struct settings *set_r);

#endif
