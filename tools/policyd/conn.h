/*
 * conn.h - one Postfix client connection: non-blocking reads into the
 * request parser, a FIFO of requests answered strictly in order, and
 * buffered writes.  States (only conn_enter() changes them):
 *
 *   READING   reading and parsing requests; reading pauses (the state
 *             stays) while CONN_PENDING_MAX requests wait or
 *             CONN_OUT_HIGH bytes of answers are unsent.
 *   DRAINING  no more input (end of stream, or shutdown): answer what
 *             was asked, then close.
 *   CLOSED    fds closed, requests forgotten; freed after the loop pass.
 *
 * Bad input (limits of request.h) logs a warning naming the client,
 * stops reading and closes once the requests complete before it are
 * answered: the protocol has no error reply, but every request that was
 * made gets its one answer.
 *
 * client_idle_timeout bounds three things: a connection with nothing to
 * do, one request from its first byte to its empty line (a client that
 * sends a byte now and then is closed: slowloris), and answers the
 * client leaves unread.  The last two are logged as warnings naming the
 * client; a connection waiting on a lookup is never idle.
 */
#ifndef QC_POLICYD_CONN_H
#define QC_POLICYD_CONN_H

#include <stdint.h>

#include "policyd.h"

#define CONN_PENDING_MAX 64
#define CONN_OUT_HIGH (64 * 1024)

/* Serve a client on in_fd / out_fd (the same fd for a socket); the
 * connection owns the fds.  peer names it in log lines.  NULL on ENOMEM. */
struct conn *conn_create(struct policyd *d, int in_fd, int out_fd,
			 const char *peer);

/* req now has its answer (lookup.c calls this). */
void conn_request_done(struct request *req);

/* After every loop pass: write answers that became due, free the dead. */
void conn_after_pass(struct policyd *d);
/* Close clients idle longer than client_idle_timeout. */
void conn_tick(struct policyd *d, uint64_t now_ms);
/* SIGTERM: stop reading everywhere; close whoever has nothing pending. */
void conn_shutdown_all(struct policyd *d);

#endif
