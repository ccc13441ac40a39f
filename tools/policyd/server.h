/*
 * server.h - the daemon around the event loop: signals (through a
 * signalfd, so handlers never run inside library code), the listening
 * socket, configuration reload, the stats line and orderly shutdown.
 */
#ifndef QC_POLICYD_SERVER_H
#define QC_POLICYD_SERVER_H

#include "policyd.h"

/*
 * Block the daemon's signals in this thread (threads started later
 * inherit the mask) and create the loop, cache, lookup table and worker
 * pool.  Returns 0 or -1 with err filled.
 */
int server_setup(struct policyd *d, char *err, size_t err_size);

/* Serve listen_fd (>= 0) or, in spawn mode, stdin/stdout. */
int server_start(struct policyd *d, int listen_fd, const char *listen_name,
		 char *err, size_t err_size);

/* Run until SIGTERM/SIGINT (or, in spawn mode, the client leaves) and
 * every request in hand is answered.  Returns 0, or -1 on a loop error. */
int server_run(struct policyd *d, int argc, char **argv);

/* Free everything; waits briefly for workers. */
void server_teardown(struct policyd *d);

/* The log destination for config: "stderr" turns into "syslog" when
 * stderr is the Postfix connection itself (spawn(8) does that). */
const char *server_log_mode(const qc_config_t *config, int spawn_mode);

#endif
