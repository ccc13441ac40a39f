/*
 * conn.c - Postfix client connections (see conn.h).
 *
 * Memory per idle connection is the struct alone: reads go through one
 * shared buffer and only the unfinished tail of a line is kept per
 * connection (at most POLICY_LINE_MAX + 2 bytes, the parser sees to it);
 * the output buffer exists only while answers are unsent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "lookup.h"
#include "metrics.h"
#include "request.h"

#define READ_SIZE 16384

enum conn_state { CONN_READING, CONN_DRAINING, CONN_CLOSED };

struct conn {
	struct policyd *d;
	struct loop_watch in_w, out_w;    /* out_w unused when in_fd == out_fd */
	int in_fd, out_fd;
	enum conn_state state;
	char peer[64];
	struct policy_parser parser;
	char *in;                         /* unfinished line */
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	struct request *head, *tail;      /* in arrival order */
	unsigned int npending;
	uint64_t nrequests;               /* complete requests read */
	struct conn *older, *newer;       /* activity order */
	struct conn *flush_next;
	int on_flush_list;
	struct conn *dead_next;
	uint64_t last_active_ms;
	const char *close_reason;
	unsigned int warned_skip:1;
};

static void conn_close(struct conn *c, const char *reason);

/* The only place that changes c->state. */
static void
conn_enter(struct conn *c, enum conn_state state)
{
	c->state = state;
}

static void
update_events(struct conn *c)
{
	struct policyd *d = c->d;
	int want_read = c->state == CONN_READING &&
			c->npending < CONN_PENDING_MAX &&
			c->out_len - c->out_off < CONN_OUT_HIGH;
	int want_write = c->out_len > c->out_off;

	if (c->state == CONN_CLOSED)
		return;
	if (c->in_fd == c->out_fd) {
		loop_set(d->loop, &c->in_w, (want_read ? LOOP_READ : 0) |
			 (want_write ? LOOP_WRITE : 0));
	} else {
		loop_set(d->loop, &c->in_w, want_read ? LOOP_READ : 0);
		loop_set(d->loop, &c->out_w, want_write ? LOOP_WRITE : 0);
	}
}

static void
schedule_flush(struct conn *c)
{
	if (c->on_flush_list)
		return;
	c->on_flush_list = 1;
	c->flush_next = c->d->flush_list;
	c->d->flush_list = c;
}

/* ---- activity list (oldest first), for idle timeouts ---- */

static void
activity_unlink(struct policyd *d, struct conn *c)
{
	if (c->older != NULL)
		c->older->newer = c->newer;
	else
		d->conns = c->newer;
	if (c->newer != NULL)
		c->newer->older = c->older;
	else
		d->conns_tail = c->older;
	c->older = c->newer = NULL;
}

static void
activity_touch(struct policyd *d, struct conn *c, uint64_t now_ms)
{
	c->last_active_ms = now_ms;
	if (d->conns_tail == c)
		return;
	if (c->older != NULL || c->newer != NULL || d->conns == c)
		activity_unlink(d, c);
	c->older = d->conns_tail;
	if (d->conns_tail != NULL)
		d->conns_tail->newer = c;
	else
		d->conns = c;
	d->conns_tail = c;
}

/* ---- requests ---- */

static void
warn_skip(struct conn *c, const struct policy_request *req,
	  enum policy_kind kind)
{
	char text[64];

	if (c->warned_skip)
		return;
	c->warned_skip = 1;
	switch (kind) {
	case POLICY_SKIP_REQUEST:
		msg_warn("client %s: request=%s is not an access policy "
			 "request; answering action_fits (is this a Postfix "
			 "check_policy_service client?)", c->peer,
			 log_sanitize(req->request, text, sizeof(text), 0));
		break;
	case POLICY_SKIP_STATE:
		msg_warn("client %s: unexpected protocol_state \"%s\"; answering "
			 "action_fits (use check_policy_service only in "
			 "smtpd_recipient_restrictions, or in "
			 "smtpd_end_of_data_restrictions for the real size)",
			 c->peer, log_sanitize(req->protocol_state, text,
					       sizeof(text), 0));
		break;
	case POLICY_SKIP_NO_RECIPIENT:
		msg_warn("client %s: RCPT request without a recipient; "
			 "answering action_fits", c->peer);
		break;
	case POLICY_COMMIT:
		msg_warn("client %s: END-OF-MESSAGE with several recipients "
			 "of a message whose RCPTs this daemon did not check; "
			 "not counting it (use check_policy_service with this "
			 "daemon in smtpd_recipient_restrictions too)", c->peer);
		break;
	case POLICY_CHECK:
	case POLICY_CHECK_COMMIT:
		break;
	}
}

static void
new_request(struct conn *c, struct policy_request *req)
{
	struct request *r = calloc(1, sizeof(*r));
	enum policy_kind kind = policy_request_kind(req);

	if (r == NULL) {
		policy_request_clear(req);
		conn_close(c, "out of memory");
		return;
	}
	r->conn = c;
	r->d = c->d;
	r->recipient = req->recipient;   /* ownership moves */
	req->recipient = NULL;
	r->size = req->size;
	r->recipient_count = req->recipient_count;
	r->kind = kind;
	memcpy(r->instance, req->instance, sizeof(r->instance));
	r->start_us = loop_now_us();
	c->nrequests++;
	if (c->tail != NULL)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->npending++;
	if (kind == POLICY_CHECK || kind == POLICY_CHECK_COMMIT) {
		lookup_start(c->d, r);
	} else if (kind == POLICY_COMMIT) {
		if (lookup_commit(c->d, r) < 0)
			warn_skip(c, req, kind);
	} else {
		warn_skip(c, req, kind);
		lookup_skip(c->d, r, kind);
	}
	policy_request_clear(req);
}

void
conn_request_done(struct request *r)
{
	schedule_flush(r->conn);
}

/* Room for len more bytes of output; -1 when out of memory. */
static int
out_reserve(struct conn *c, size_t len)
{
	size_t cap = c->out_cap ? c->out_cap : 512;
	char *out;

	if (c->out_len + len <= c->out_cap)
		return 0;
	while (cap < c->out_len + len)
		cap *= 2;
	out = realloc(c->out, cap);
	if (out == NULL)
		return -1;
	c->out = out;
	c->out_cap = cap;
	return 0;
}

static void
out_append(struct conn *c, const char *s, size_t len)
{
	memcpy(c->out + c->out_len, s, len);
	c->out_len += len;
}

/*
 * Move the answers that are due, in order, to the output buffer.  The
 * buffer holds bytes, not a string: nothing is written after the last
 * answer (sprintf's NUL once ran one byte past a buffer filled exactly).
 */
static int
emit_answers(struct conn *c)
{
	while (c->head != NULL && c->head->done) {
		struct request *r = c->head;
		const char *text = reply_action_text(c->d->config, r->action);
		size_t len = strlen(text);

		if (out_reserve(c, sizeof("action=") - 1 + len + 2) < 0)
			return -1;
		out_append(c, "action=", sizeof("action=") - 1);
		out_append(c, text, len);
		out_append(c, "\n\n", 2);
		c->head = r->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->npending--;
		lookup_release(c->d, r);
	}
	return 0;
}

static void
write_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->out_fd, c->out + c->out_off,
				  c->out_len - c->out_off);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(c, errno == EPIPE ? "client went away" :
				   "write error");
			return;
		}
		c->out_off += (size_t)n;
		/* A client reading its answers is active; one that stops
		 * reading is closed by conn_tick() like an idle one. */
		activity_touch(c->d, c, loop_now_ms());
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->out_cap > 16384) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
}

static void
flush(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	if (emit_answers(c) < 0) {
		conn_close(c, "out of memory");
		return;
	}
	write_out(c);
	if (c->state == CONN_DRAINING && c->npending == 0 &&
	    c->out_len == 0) {
		conn_close(c, c->close_reason);
		return;
	}
	if (c->state != CONN_CLOSED)
		update_events(c);
}

/* ---- input ---- */

/* Parse buf; keep an unfinished line.  Returns -1 when c was closed. */
static int
process_input(struct conn *c, const char *buf, size_t len)
{
	size_t pos = 0, used;

	while (pos < len && c->state == CONN_READING) {
		struct policy_request req;
		enum policy_status st = policy_parser_feed(&c->parser, buf + pos,
							   len - pos, &used);

		pos += used;
		if (st == POLICY_MORE)
			break;
		if (st != POLICY_REQUEST) {
			/* Requests complete before the trouble still get
			 * their answer; nothing after it is read. */
			c->d->stats.protocol_errors++;
			metrics_protocol_error();
			msg_warn("client %s: %s; disconnecting", c->peer,
				 policy_status_text(st));
			c->close_reason = "bad input";
			conn_enter(c, CONN_DRAINING);
			break;
		}
		policy_parser_take(&c->parser, &req);
		new_request(c, &req);
	}
	if (c->state == CONN_CLOSED)
		return -1;
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	if (pos < len && c->state == CONN_READING) {
		c->in = malloc(len - pos);
		if (c->in == NULL) {
			conn_close(c, "out of memory");
			return -1;
		}
		memcpy(c->in, buf + pos, len - pos);
		c->in_len = len - pos;
	}
	return 0;
}

/* A request has begun but not ended: part of a line or some lines. */
static int
in_request(const struct conn *c)
{
	return c->in_len > 0 || c->parser.req.nattrs > 0;
}

static void
do_read(struct conn *c)
{
	static char buf[POLICY_LINE_MAX + 2 + READ_SIZE];
	ssize_t n;
	size_t held = c->in_len;
	int was_between = !in_request(c);
	uint64_t nrequests = c->nrequests;

	if (held > 0)
		memcpy(buf, c->in, held);
	n = read(c->in_fd, buf + held, READ_SIZE);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c, "read error");
		return;
	}
	if (n == 0) {
		if (!was_between)
			msg_warn("client %s: closed the connection in the "
				 "middle of a request; discarding it", c->peer);
		activity_touch(c->d, c, loop_now_ms());
		free(c->in);
		c->in = NULL;
		c->in_len = 0;
		c->close_reason = "client closed";
		conn_enter(c, CONN_DRAINING);
		schedule_flush(c);
		return;
	}
	if (process_input(c, buf, held + (size_t)n) < 0)
		return;
	schedule_flush(c);
	/*
	 * Activity is the first byte of a request, a complete request or an
	 * answer read by the client; bytes trickling in between are not.
	 * So one request must arrive within client_idle_timeout of its first
	 * byte: a client sending a byte now and then (slowloris) is closed.
	 */
	if (was_between || c->nrequests != nrequests)
		activity_touch(c->d, c, loop_now_ms());
}

static void
on_io(void *context, unsigned int events)
{
	struct conn *c = context;

	if ((events & LOOP_WRITE) && c->state != CONN_CLOSED) {
		write_out(c);
		if (c->state != CONN_CLOSED)
			schedule_flush(c);
	}
	if ((events & (LOOP_READ | LOOP_ERROR)) && c->state == CONN_READING)
		do_read(c);
}

/* ---- life cycle ---- */

struct conn *
conn_create(struct policyd *d, int in_fd, int out_fd, const char *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->d = d;
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	policy_parser_init(&c->parser);
	if (loop_add(d->loop, &c->in_w, in_fd, LOOP_READ, on_io, c) < 0 ||
	    (out_fd != in_fd &&
	     loop_add(d->loop, &c->out_w, out_fd, 0, on_io, c) < 0)) {
		msg_warn("client %s: cannot watch its connection: %m", peer);
		loop_del(d->loop, &c->in_w);
		free(c);
		return NULL;
	}
	d->nconns++;
	d->stats.connections++;
	metrics_connection_open();
	activity_touch(d, c, loop_now_ms());
	return c;
}

static void
conn_close(struct conn *c, const char *reason)
{
	struct policyd *d = c->d;
	struct request *r, *next;

	if (c->state == CONN_CLOSED)
		return;
	conn_enter(c, CONN_CLOSED);
	c->close_reason = reason;
	for (r = c->head; r != NULL; r = next) {
		next = r->next;
		lookup_release(d, r);
	}
	c->head = c->tail = NULL;
	loop_del(d->loop, &c->in_w);
	if (c->out_fd != c->in_fd) {
		loop_del(d->loop, &c->out_w);
		close(c->out_fd);
	}
	close(c->in_fd);
	policy_parser_deinit(&c->parser);
	activity_unlink(d, c);
	d->nconns--;
	metrics_connection_close();
	c->dead_next = d->dead;  /* freed after this loop pass */
	d->dead = c;
	if (d->spawn_mode)
		d->stopping = 1;
	if (d->listener_paused && d->nconns < d->set.max_clients &&
	    !d->stopping) {
		d->listener_paused = 0;
		loop_set(d->loop, &d->listener.watch, LOOP_READ);
	}
}

void
conn_after_pass(struct policyd *d)
{
	/* Flushing may close connections, which go to the dead list, which
	 * is only emptied after the flush list. */
	while (d->flush_list != NULL) {
		struct conn *c = d->flush_list;

		d->flush_list = c->flush_next;
		c->on_flush_list = 0;
		flush(c);
	}
	while (d->dead != NULL) {
		struct conn *c = d->dead;

		d->dead = c->dead_next;
		free(c->in);
		free(c->out);
		free(c);
	}
}

void
conn_tick(struct policyd *d, uint64_t now_ms)
{
	struct conn *c, *stop = NULL;

	while ((c = d->conns) != NULL && c != stop &&
	       now_ms - c->last_active_ms >= d->set.idle_timeout_ms) {
		uint64_t ms = now_ms - c->last_active_ms;

		if (c->npending > 0) {
			/* Waiting on a lookup, which ends within
			 * imap_timeout: not idle, look again later. */
			activity_touch(d, c, now_ms);
			if (stop == NULL)
				stop = c;
			continue;
		}
		if (c->out_len > c->out_off)
			msg_warn("client %s: has not read its answers for "
				 "%" PRIu64 " ms (client_idle_timeout); "
				 "disconnecting", c->peer, ms);
		else if (in_request(c))
			msg_warn("client %s: request not complete after "
				 "%" PRIu64 " ms (client_idle_timeout); "
				 "disconnecting", c->peer, ms);
		else
			msg_info("client %s: idle for %" PRIu64 " ms; closing "
				 "(client_idle_timeout)", c->peer, ms);
		conn_close(c, "idle timeout");
	}
}

void
conn_shutdown_all(struct policyd *d)
{
	struct conn *c, *next;

	for (c = d->conns; c != NULL; c = next) {
		next = c->newer;
		if (c->npending == 0 && c->out_len == 0) {
			conn_close(c, "shutdown");
			continue;
		}
		c->close_reason = "shutdown";
		conn_enter(c, CONN_DRAINING);
		update_events(c);
	}
}
