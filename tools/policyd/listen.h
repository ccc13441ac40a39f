/*
 * listen.h - the listening socket of standalone mode (listen = ...).
 */
#ifndef QC_POLICYD_LISTEN_H
#define QC_POLICYD_LISTEN_H

#include <stddef.h>

/*
 * Open "inet:HOST:PORT" ("inet:[::1]:PORT", "inet:*:PORT" for every
 * address) or "unix:PATH" (a stale socket at PATH is replaced, then
 * given group gid, unless gid < 0, and mode).  Non-blocking,
 * close-on-exec.  Returns the fd, or -1 with err saying what failed
 * (naming the config key, "listen" or "stats_listen").
 */
int listen_open(const char *key, const char *spec, unsigned int mode,
		long gid, char *err, size_t err_size);

/* Accept one client: fd or -1 (errno EAGAIN when none is waiting);
 * peer_r gets "ADDRESS:PORT" or "unix". */
int listen_accept(int fd, char *peer_r, size_t peer_size);

#endif
