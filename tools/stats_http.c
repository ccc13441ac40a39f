/*
 * stats_http.c - see stats_http.h.  One poll() loop over the listening
 * socket, an eventfd to stop it, and the clients; every socket is
 * non-blocking, so no client can hold the thread.  Nothing is logged for
 * a client: a flood of bad requests must not become a flood of lines.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "http_request.h"
#include "policyd/listen.h"
#include "stats_http.h"

#define EMFILE_PAUSE_MS 100
#define DRAIN_MS 1000

enum client_state { FREE = 0, READING, WRITING, DRAINING };

struct client {
	int fd;
	enum client_state state;
	uint64_t since_ms;                /* accepted; oldest goes first */
	uint64_t deadline_ms;
	size_t in_len;
	char in[HTTP_REQUEST_MAX];
	char *out;
	size_t out_len, out_off;
};

struct stats_http {
	int listen_fd;
	int wake_fd;
	pthread_t thread;
	stats_http_render_fn *render;
	void *context;
	uint64_t accept_resume_ms;        /* 0: accepting */
	struct client clients[STATS_HTTP_CLIENTS];
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
stats_http_open(const qc_config_t *config, char *err, size_t err_size)
{
	const char *spec = qc_config_get(config, "stats_listen");
	const char *group = qc_config_get(config, "listen_group");
	uint64_t mode = 0660;
	long gid = -1;
	int fd;

	if (spec == NULL || spec[0] == '\0')
		return -1;
	if (strncmp(spec, "unix:", 5) == 0 && group[0] != '\0') {
		struct group *gr = getgrnam(group);

		if (gr == NULL) {
			snprintf(err, err_size, "listen_group = %s: no such "
				 "group (for stats_listen = %s)", group, spec);
			return -2;
		}
		gid = (long)gr->gr_gid;
	}
	if (qc_config_get_number(config, "listen_mode", &mode))
		mode = 0660;
	fd = listen_open("stats_listen", spec, (unsigned int)mode, gid, err,
			 err_size);
	return fd < 0 ? -2 : fd;
}

/* ---- one client ---- */

static void
client_close(struct client *c)
{
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->state = FREE;
}

static void
respond(struct stats_http *h, struct client *c, int status, int head)
{
	struct metrics_buf body = {0};
	const char *type = "text/plain; version=0.0.4; charset=utf-8";
	char header[300];
	int n;

	if (status == 200 && h->render(h->context, &body) < 0)
		status = 500;
	if (status != 200) {
		metrics_buf_free(&body);
		body.text = malloc(64);
		if (body.text != NULL)
			body.len = (size_t)snprintf(body.text, 64, "%d %s\n",
						    status,
						    http_reason(status));
		type = "text/plain; charset=utf-8";
	}
	n = snprintf(header, sizeof(header), "HTTP/1.0 %d %s\r\n"
		     "Content-Type: %s\r\nContent-Length: %zu\r\n%s"
		     "Connection: close\r\n\r\n", status, http_reason(status),
		     type, body.len, status == 405 ? "Allow: GET, HEAD\r\n" :
		     "");
	c->out = malloc((size_t)n + body.len);
	if (c->out == NULL || body.text == NULL) {
		metrics_buf_free(&body);
		client_close(c);
		return;
	}
	memcpy(c->out, header, (size_t)n);
	c->out_len = (size_t)n;
	if (!head) {
		memcpy(c->out + n, body.text, body.len);
		c->out_len += body.len;
	}
	metrics_buf_free(&body);
	c->out_off = 0;
	c->state = WRITING;
}

static void
client_read(struct stats_http *h, struct client *c)
{
	ssize_t n;
	int status, head;

	if (c->state == DRAINING) {
		char scratch[4096];
		int rounds = 16;

		/* Until the client closes: closing on unread input would
		 * reset the connection under the answer it is reading.  A
		 * bounded number of reads a pass, so that a client sending
		 * without end cannot keep the thread to itself. */
		while ((n = read(c->fd, scratch, sizeof(scratch))) > 0 &&
		       --rounds > 0)
			;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	c->in_len += (size_t)n;
	status = http_request_status(c->in, c->in_len, sizeof(c->in), &head);
	if (status != 0)
		respond(h, c, status, head);
}

static void
client_write(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off,
				  c->out_len - c->out_off);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				client_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	free(c->out);
	c->out = NULL;
	c->state = DRAINING;
	c->deadline_ms = now_ms() + DRAIN_MS;
}

/* ---- the loop ---- */

static struct client *
free_slot(struct stats_http *h)
{
	struct client *oldest = NULL;

	for (int i = 0; i < STATS_HTTP_CLIENTS; i++) {
		struct client *c = &h->clients[i];

		if (c->state == FREE)
			return c;
		if (oldest == NULL || c->since_ms < oldest->since_ms)
			oldest = c;
	}
	/* A scrape takes milliseconds: the oldest is the likeliest to be
	 * a client that holds a slot on purpose. */
	client_close(oldest);
	return oldest;
}

static void
accept_clients(struct stats_http *h, uint64_t now)
{
	for (int i = 0; i < STATS_HTTP_CLIENTS; i++) {
		int fd = accept4(h->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				h->accept_resume_ms = now + EMFILE_PAUSE_MS;
			return;
		}
		c = free_slot(h);
		memset(c, 0, offsetof(struct client, in));
		c->fd = fd;
		c->state = READING;
		c->since_ms = now;
		c->deadline_ms = now + STATS_HTTP_TIMEOUT_MS;
	}
}

static void *
serve(void *arg)
{
	struct stats_http *h = arg;
	struct pollfd fds[2 + STATS_HTTP_CLIENTS];
	struct client *polled[2 + STATS_HTTP_CLIENTS];

	for (;;) {
		uint64_t now = now_ms(), next = now + 1000;
		nfds_t n = 0;
		int accepting;

		if (h->accept_resume_ms != 0 && now >= h->accept_resume_ms)
			h->accept_resume_ms = 0;
		accepting = h->accept_resume_ms == 0;
		fds[n++] = (struct pollfd){.fd = h->wake_fd, .events = POLLIN};
		fds[n++] = (struct pollfd){.fd = accepting ? h->listen_fd : -1,
					   .events = POLLIN};
		if (!accepting && h->accept_resume_ms < next)
			next = h->accept_resume_ms;
		for (int i = 0; i < STATS_HTTP_CLIENTS; i++) {
			struct client *c = &h->clients[i];

			if (c->state == FREE)
				continue;
			if (now >= c->deadline_ms) {
				client_close(c);
				continue;
			}
			if (c->deadline_ms < next)
				next = c->deadline_ms;
			polled[n] = c;
			fds[n++] = (struct pollfd){.fd = c->fd,
				.events = c->state == WRITING ? POLLOUT :
					  POLLIN};
		}
		if (poll(fds, n, (int)(next - now)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents & POLLIN)
			break;
		for (nfds_t i = 2; i < n; i++) {
			struct client *c = polled[i];

			if (fds[i].revents == 0 || c->state == FREE)
				continue;
			if (c->state != WRITING)
				client_read(h, c);
			/* Just answered, too: most clients never wait. */
			if (c->state == WRITING)
				client_write(c);
		}
		if (fds[1].revents & POLLIN)
			accept_clients(h, now_ms());
	}
	return NULL;
}

struct stats_http *
stats_http_start(int fd, stats_http_render_fn *render, void *context,
		 char *err, size_t err_size)
{
	struct stats_http *h = calloc(1, sizeof(*h));
	int e = 0;

	if (h == NULL) {
		snprintf(err, err_size, "stats_listen: out of memory");
		return NULL;
	}
	h->listen_fd = fd;
	h->render = render;
	h->context = context;
	for (int i = 0; i < STATS_HTTP_CLIENTS; i++)
		h->clients[i].fd = -1;
	h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->wake_fd < 0 ||
	    (e = pthread_create(&h->thread, NULL, serve, h)) != 0) {
		snprintf(err, err_size, "stats_listen: cannot start its "
			 "thread: %s", strerror(h->wake_fd < 0 ? errno : e));
		if (h->wake_fd >= 0)
			close(h->wake_fd);
		free(h);
		return NULL;
	}
	return h;
}

void
stats_http_stop(struct stats_http *h)
{
	uint64_t one = 1;

	if (h == NULL)
		return;
	if (write(h->wake_fd, &one, sizeof(one)) < 0) {
		/* an eventfd counter cannot overflow from one write */
	}
	pthread_join(h->thread, NULL);
	for (int i = 0; i < STATS_HTTP_CLIENTS; i++)
		if (h->clients[i].state != FREE)
			client_close(&h->clients[i]);
	close(h->wake_fd);
	close(h->listen_fd);
	free(h);
}
