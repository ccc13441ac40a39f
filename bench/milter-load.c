/*
 * milter-load.c - load generator for quotachk-milter: speaks the MTA's
 * side of the milter protocol (as Postfix does) over CONNS connections,
 * one thread each, one RCPT in flight per connection, for SECONDS.
 *
 *   milter-load -p PORT [-c CONNS] [-d SECONDS] -f RCPT_FILE
 *
 * Each connection negotiates, sends MAIL FROM with SIZE=1000, then
 * RCPT after RCPT (recipients cycling through the file, each connection
 * starting elsewhere), an ABORT (RSET) and a new MAIL every 100 RCPTs.
 * Output, one line, as bench/policy-load prints it:
 *   decisions= seconds= rate= p50_us= p99_us= max_us= continue= refused=
 *   other= closed=
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RCPTS_PER_MAIL 100
#define MAX_SAMPLES (1u << 22)

static char **rcpts;
static size_t nrcpts;
static int port;
static double seconds = 5;
static volatile int stop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *samples;
static size_t nsamples;
static unsigned long long answers_continue, answers_refused, answers_other,
	closed;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int
send_packet(int fd, char cmd, const void *data, size_t len)
{
	unsigned char buf[1024];
	uint32_t n = htonl((uint32_t)len + 1);

	if (len + 5 > sizeof(buf))
		return -1;
	memcpy(buf, &n, 4);
	buf[4] = (unsigned char)cmd;
	memcpy(buf + 5, data, len);
	return send(fd, buf, len + 5, 0) == (ssize_t)(len + 5) ? 0 : -1;
}

static int
read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, 0);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* The reply's command byte; -1 when the connection is gone. */
static int
read_reply(int fd)
{
	unsigned char hdr[5], body[1024];
	uint32_t len;

	if (read_all(fd, hdr, 5) < 0)
		return -1;
	memcpy(&len, hdr, 4);
	len = ntohl(len);
	if (len < 1 || len - 1 > sizeof(body) || read_all(fd, body, len - 1) < 0)
		return -1;
	return hdr[4];
}

static int
connect_milter(void)
{
	struct sockaddr_in sa;
	uint32_t neg[3] = {htonl(6), htonl(0x1ff), htonl(0x1fffff)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (send_packet(fd, 'O', neg, sizeof(neg)) < 0 || read_reply(fd) != 'O') {
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_mail(int fd)
{
	static const char mail[] = "<bench@remote.test>\0SIZE=1000";

	return send_packet(fd, 'M', mail, sizeof(mail)) < 0 ||
	       read_reply(fd) != 'c' ? -1 : 0;
}

static void *
connection(void *arg)
{
	size_t next = (size_t)(uintptr_t)arg % nrcpts;
	int fd = connect_milter(), sent = 0;

	if (fd < 0 || send_mail(fd) < 0) {
		pthread_mutex_lock(&lock);
		closed++;
		pthread_mutex_unlock(&lock);
		return NULL;
	}
	while (!stop) {
		char rcpt[600];
		int len = snprintf(rcpt, sizeof(rcpt), "<%s>", rcpts[next]);
		uint64_t start = now_us();
		int reply;

		next = (next + 1) % nrcpts;
		if (send_packet(fd, 'R', rcpt, (size_t)len + 1) < 0 ||
		    (reply = read_reply(fd)) < 0)
			break;
		pthread_mutex_lock(&lock);
		if (nsamples < MAX_SAMPLES)
			samples[nsamples++] = (uint32_t)(now_us() - start);
		if (reply == 'c')
			answers_continue++;
		else if (reply == 'y' || reply == 't' || reply == 'r')
			answers_refused++;
		else
			answers_other++;
		pthread_mutex_unlock(&lock);
		if (++sent % RCPTS_PER_MAIL == 0 &&
		    (send_packet(fd, 'A', "", 0) < 0 || send_mail(fd) < 0))
			break;
	}
	if (!stop) {
		pthread_mutex_lock(&lock);
		closed++;
		pthread_mutex_unlock(&lock);
	}
	send_packet(fd, 'Q', "", 0);
	close(fd);
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
read_rcpts(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	size_t cap = 0;

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\t\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (nrcpts == cap) {
			cap = cap ? cap * 2 : 256;
			rcpts = realloc(rcpts, cap * sizeof(*rcpts));
		}
		rcpts[nrcpts++] = strdup(line);
	}
	fclose(f);
	if (nrcpts == 0) {
		fprintf(stderr, "milter-load: %s has no recipients\n", path);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	int conns = 64, opt;
	pthread_t *threads;
	uint64_t start, took;
	const char *file = NULL;

	while ((opt = getopt(argc, argv, "p:c:d:f:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'c': conns = atoi(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'f': file = optarg; break;
		default:
			fprintf(stderr, "usage: milter-load -p PORT [-c CONNS] "
				"[-d SECONDS] -f RCPT_FILE\n");
			return 2;
		}
	}
	if (port <= 0 || file == NULL || conns < 1)
		return 2;
	read_rcpts(file);
	samples = malloc(MAX_SAMPLES * sizeof(*samples));
	threads = calloc((size_t)conns, sizeof(*threads));
	if (samples == NULL || threads == NULL)
		return 2;
	start = now_us();
	for (int i = 0; i < conns; i++)
		pthread_create(&threads[i], NULL, connection,
			       (void *)(uintptr_t)((size_t)i * nrcpts /
						   (size_t)conns));
	usleep((useconds_t)(seconds * 1e6));
	stop = 1;
	for (int i = 0; i < conns; i++)
		pthread_join(threads[i], NULL);
	took = now_us() - start;
	if (nsamples == 0) {
		printf("decisions=0 closed=%llu\n", closed);
		return 1;
	}
	qsort(samples, nsamples, sizeof(*samples), cmp_u32);
	printf("decisions=%zu seconds=%.2f rate=%.0f p50_us=%u p99_us=%u "
	       "max_us=%u continue=%llu refused=%llu other=%llu closed=%llu\n",
	       nsamples, took / 1e6, nsamples / (took / 1e6),
	       samples[nsamples / 2], samples[nsamples * 99 / 100],
	       samples[nsamples - 1], answers_continue, answers_refused,
	       answers_other, closed);
	return 0;
}
