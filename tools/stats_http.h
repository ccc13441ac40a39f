/*
 * stats_http.h - the stats_listen endpoint: a small HTTP/1.0 server in a
 * thread of its own that answers GET /metrics, so that a scrape never
 * waits on, nor delays, a policy or milter answer.
 *
 * Bounded against a hostile local client: at most STATS_HTTP_CLIENTS at
 * once (a newcomer beyond that closes the oldest), HTTP_REQUEST_MAX bytes
 * of header, and STATS_HTTP_TIMEOUT_MS for the whole exchange.
 */
#ifndef QC_TOOLS_STATS_HTTP_H
#define QC_TOOLS_STATS_HTTP_H

#include <stddef.h>

#include "metrics.h"

#define STATS_HTTP_CLIENTS 16
#define STATS_HTTP_TIMEOUT_MS 5000

struct stats_http;

/*
 * Open stats_listen of config while the process may still bind where
 * only root can: inet:HOST:PORT, or unix:PATH with listen_mode and
 * listen_group as for the policy socket.  Returns the fd, -1 when
 * stats_listen is empty (off), or -2 with err saying what failed.
 */
int stats_http_open(const qc_config_t *config, char *err, size_t err_size);

/* Fill out with the exposition; 0, or -1 (answered with 500). */
typedef int stats_http_render_fn(void *context, struct metrics_buf *out);

/* Serve fd (from stats_http_open) from a new thread, which takes the
 * calling thread's signal mask.  NULL with err on failure. */
struct stats_http *stats_http_start(int fd, stats_http_render_fn *render,
				    void *context, char *err,
				    size_t err_size);
/* Stop the thread and close every socket; NULL is a no-op. */
void stats_http_stop(struct stats_http *http);

#endif
