/*
 * policy-load - load generator for a Postfix policy server (quotachk-policyd,
 * Dovecot quota-status, ...): persistent connections, pipelined requests,
 * recipients from a file; prints decisions/s and latency percentiles.
 *
 *   policy-load -p PORT [-c CONNS] [-w DEPTH] [-d SECONDS] [-s SIZE]
 *               [-i IDLE] [-L LATE_MS] [-D DRAIN_SECONDS] -f RECIPIENTS
 *
 * One epoll thread keeps DEPTH requests in flight on each of CONNS
 * connections; latency is from sending a request to reading its answer.
 * -i opens IDLE extra connections that send nothing (memory measurements).
 * Loopback only, bounded: CONNS + IDLE <= 2048, SECONDS <= 3600.
 *
 * Checks, for fault-injection tests: -L counts answers slower than LATE_MS
 * ("late"); after SECONDS the requests still outstanding get DRAIN_SECONDS
 * (default 30) to be answered, the rest count as "unanswered", and so do
 * those on a connection the server closed ("closed" counts connections).
 * A RECIPIENTS line may carry a TAB and the expected action text (e.g.
 * "bob@example.test<TAB>452 4.2.2 Mailbox full"); other answers for that
 * recipient count as "wrong" (the first few are printed on stderr).
 *
 * Output, one line: decisions= seconds= rate= p50_us= p99_us= max_us=
 * conns= depth= idle=, counts of each distinct action, then late=
 * unanswered= closed= wrong=.  Exit 1 when the server closed a connection
 * or left requests unanswered (the summary is printed first).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define DEPTH_MAX 64
#define ACTIONS_MAX 8

struct client {
	int fd;
	int closed;
	uint64_t sent_us[DEPTH_MAX];   /* ring of outstanding send times */
	size_t rcpt_of[DEPTH_MAX];     /* ... and their recipients */
	unsigned int head, count;
	char in[8192];
	size_t in_len;
};

static char **rcpts, **expected; /* expected[i]: NULL = any answer */
static size_t nrcpts, next_rcpt;
static uint64_t late_us, late, wrong, unanswered, closed;
static uint64_t size_arg, *samples;
static size_t nsamples, samples_cap;
static char actions[ACTIONS_MAX][80];
static uint64_t action_counts[ACTIONS_MAX];

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
die(const char *what)
{
	fprintf(stderr, "policy-load: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
load_rcpts(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[512];

	if (fp == NULL)
		die(path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *tab;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		rcpts = realloc(rcpts, (nrcpts + 1) * sizeof(*rcpts));
		expected = realloc(expected, (nrcpts + 1) * sizeof(*expected));
		if (rcpts == NULL || expected == NULL)
			die("realloc");
		tab = strchr(line, '\t');
		if (tab != NULL)
			*tab++ = '\0';
		expected[nrcpts] = tab != NULL ? strdup(tab) : NULL;
		rcpts[nrcpts++] = strdup(line);
	}
	fclose(fp);
	if (nrcpts == 0) {
		fprintf(stderr, "policy-load: %s has no recipients\n", path);
		exit(64);
	}
}

static int
connect_to(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect to 127.0.0.1");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void
send_request(struct client *c)
{
	char buf[768];
	size_t i = next_rcpt++ % nrcpts;
	int n = snprintf(buf, sizeof(buf), "request=smtpd_access_policy\n"
			 "protocol_state=RCPT\nprotocol_name=ESMTP\n"
			 "client_address=192.0.2.1\nsender=load@remote.test\n"
			 "recipient=%s\nsize=%llu\n\n", rcpts[i],
			 (unsigned long long)size_arg);

	/* A request is far below the socket buffer: a short write means
	 * the server stopped reading, which is a failure worth stopping. */
	if (write(c->fd, buf, (size_t)n) != n)
		die("write");
	c->sent_us[(c->head + c->count) % DEPTH_MAX] = now_us();
	c->rcpt_of[(c->head + c->count) % DEPTH_MAX] = i;
	c->count++;
}

static void
record(const char *action, size_t len, uint64_t us, size_t rcpt)
{
	const char *want = expected[rcpt];
	int i;

	if (late_us != 0 && us > late_us)
		late++;
	/* An answer is "action=TEXT"; compare TEXT with the expectation. */
	if (want != NULL && (len < 7 || strlen(want) != len - 7 ||
			     memcmp(action + 7, want, len - 7) != 0)) {
		if (wrong++ < 5)
			fprintf(stderr, "policy-load: %s: got \"%.*s\", "
				"expected \"action=%s\"\n", rcpts[rcpt],
				(int)len, action, want);
	}

	if (nsamples == samples_cap) {
		samples_cap = samples_cap ? samples_cap * 2 : 65536;
		samples = realloc(samples, samples_cap * sizeof(*samples));
	}
	samples[nsamples++] = us;
	if (len >= sizeof(actions[0]))
		len = sizeof(actions[0]) - 1;
	for (i = 0; i < ACTIONS_MAX && actions[i][0]; i++)
		if (strncmp(actions[i], action, len) == 0 && !actions[i][len])
			break;
	if (i == ACTIONS_MAX)
		i = ACTIONS_MAX - 1;
	if (!actions[i][0])
		memcpy(actions[i], action, len);
	action_counts[i]++;
}

/* Returns answers consumed; -1 when the server closed. */
static int
on_readable(struct client *c, int keep_going)
{
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	char *p, *end;
	int answers = 0;

	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	c->in_len += (size_t)n;
	p = c->in;
	while ((end = memmem(p, c->in_len - (size_t)(p - c->in), "\n\n", 2))
	       != NULL) {
		uint64_t t = now_us();

		record(p, (size_t)(end - p), t - c->sent_us[c->head],
		       c->rcpt_of[c->head]);
		c->head = (c->head + 1) % DEPTH_MAX;
		c->count--;
		answers++;
		p = end + 2;
		if (keep_going)
			send_request(c);
	}
	c->in_len -= (size_t)(p - c->in);
	memmove(c->in, p, c->in_len);
	return answers;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	int port = 0, conns = 8, depth = 1, seconds = 10, idle = 0, opt, ep;
	int drain = 30;
	const char *file = NULL;
	struct client *cl;
	struct epoll_event evs[256];
	uint64_t start, stop, elapsed;

	while ((opt = getopt(argc, argv, "p:c:w:d:s:i:f:L:D:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'c': conns = atoi(optarg); break;
		case 'w': depth = atoi(optarg); break;
		case 'd': seconds = atoi(optarg); break;
		case 's': size_arg = strtoull(optarg, NULL, 10); break;
		case 'i': idle = atoi(optarg); break;
		case 'f': file = optarg; break;
		case 'L': late_us = strtoull(optarg, NULL, 10) * 1000; break;
		case 'D': drain = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (port <= 0 || port > 65535 || file == NULL || conns < 0 ||
	    idle < 0 || conns + idle > 2048 || depth < 1 ||
	    depth > DEPTH_MAX || seconds < 1 || seconds > 3600 ||
	    drain < 0 || drain > 3600)
		goto usage;
	load_rcpts(file);
	cl = calloc((size_t)(conns + idle), sizeof(*cl));
	ep = epoll_create1(0);
	for (int i = 0; i < conns + idle; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cl[i]};

		cl[i].fd = connect_to(port);
		if (i < conns && epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev) < 0)
			die("epoll_ctl");
	}
	start = now_us();
	stop = start + (uint64_t)seconds * 1000000;
	for (int i = 0; i < conns; i++)
		for (int k = 0; k < depth; k++)
			send_request(&cl[i]);
	for (;;) {
		uint64_t t = now_us();
		int n, outstanding = 0;

		for (int i = 0; i < conns; i++)
			outstanding += (int)cl[i].count;
		if (outstanding == 0 || t > stop + (uint64_t)drain * 1000000)
			break;
		n = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;

			if (c->closed || on_readable(c, now_us() < stop) >= 0)
				continue;
			/* Its outstanding requests will never be answered. */
			fprintf(stderr, "policy-load: server closed a "
				"connection with %u requests outstanding\n",
				c->count);
			closed++;
			unanswered += c->count;
			c->count = 0;
			c->closed = 1;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		}
	}
	for (int i = 0; i < conns; i++)
		unanswered += cl[i].count;
	elapsed = now_us() - start;
	/* Free what is freed nowhere else, so a sanitizer build of this
	 * tool reports no leak (LeakSanitizer's exit would also drop the
	 * unflushed summary). */
	for (int i = 0; i < conns + idle; i++)
		close(cl[i].fd);
	close(ep);
	free(cl);
	if (nsamples == 0) {
		fprintf(stderr, "policy-load: no answers\n");
		printf("decisions=0 unanswered=%llu closed=%llu\n",
		       (unsigned long long)unanswered,
		       (unsigned long long)closed);
		return 1;
	}
	qsort(samples, nsamples, sizeof(*samples), cmp_u64);
	printf("decisions=%zu seconds=%.2f rate=%.0f p50_us=%llu p99_us=%llu "
	       "max_us=%llu conns=%d depth=%d idle=%d", nsamples,
	       (double)elapsed / 1e6, (double)nsamples * 1e6 / (double)elapsed,
	       (unsigned long long)samples[nsamples / 2],
	       (unsigned long long)samples[nsamples * 99 / 100],
	       (unsigned long long)samples[nsamples - 1], conns, depth, idle);
	for (int i = 0; i < ACTIONS_MAX && actions[i][0]; i++)
		printf(" [%s]=%llu", actions[i],
		       (unsigned long long)action_counts[i]);
	printf(" late=%llu unanswered=%llu closed=%llu wrong=%llu\n",
	       (unsigned long long)late, (unsigned long long)unanswered,
	       (unsigned long long)closed, (unsigned long long)wrong);
	fflush(stdout);
	return closed > 0 || unanswered > 0 ? 1 : 0;
usage:
	fprintf(stderr, "usage: policy-load -p PORT [-c CONNS] [-w DEPTH] "
		"[-d SECONDS] [-s SIZE] [-i IDLE] [-L LATE_MS] "
		"[-D DRAIN_SECONDS] -f RECIPIENTS\n"
		"  CONNS + IDLE <= 2048, DEPTH <= %d, SECONDS <= 3600; "
		"127.0.0.1 only\n", DEPTH_MAX);
	return 64;
}
