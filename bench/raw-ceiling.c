/*
 * raw-ceiling - the fastest a single client can ask one IMAP server for
 * quotas: one plain TCP connection, one LOGIN, then GETQUOTAROOT after
 * GETQUOTAROOT, each waiting for its tagged answer, nothing parsed beyond
 * finding that tag.  libquotachk is measured against this number.
 *
 * Usage: raw-ceiling HOST PORT USER PASSWORD_FILE REPEAT < MAILBOXES
 * Prints: lookups=N seconds=S rate=R no=N (tagged NO answers: unknown
 * mailboxes, which a benchmark expects for its unknown recipients only)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char rbuf[1 << 16];
static size_t rlen;
static unsigned long no_answers;

/* Read until a line starting with tag (or any line if tag is NULL). */
static int
wait_tag(int fd, const char *tag)
{
	size_t tlen = tag != NULL ? strlen(tag) : 0;

	for (;;) {
		char *nl;

		while ((nl = memchr(rbuf, '\n', rlen)) != NULL) {
			size_t line = (size_t)(nl - rbuf) + 1;
			int done = tag == NULL ||
				   (line > tlen && memcmp(rbuf, tag, tlen) == 0 &&
				    rbuf[tlen] == ' ');
			int ok = done && (tag == NULL ||
					  strncmp(rbuf + tlen + 1, "OK", 2) == 0 ||
					  strncmp(rbuf + tlen + 1, "NO", 2) == 0);

			if (done && tag != NULL &&
			    strncmp(rbuf + tlen + 1, "NO", 2) == 0)
				no_answers++;
			memmove(rbuf, rbuf + line, rlen - line);
			rlen -= line;
			if (done)
				return ok ? 0 : -1;
		}
		ssize_t n = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
		if (n <= 0)
			return -1;
		rlen += (size_t)n;
	}
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char pw[256], cmd[1024], **names = NULL, line[512];
	size_t n = 0, cap = 0;
	unsigned long repeat, lookups = 0, tag = 0;
	int fd, one = 1;
	FILE *fp;
	double start;

	if (argc != 6) {
		fprintf(stderr, "usage: raw-ceiling HOST PORT USER "
			"PASSWORD_FILE REPEAT < MAILBOXES\n");
		return 64;
	}
	fp = fopen(argv[4], "r");
	if (fp == NULL || fgets(pw, sizeof(pw), fp) == NULL)
		return 78;
	fclose(fp);
	pw[strcspn(pw, "\r\n")] = '\0';
	repeat = strtoul(argv[5], NULL, 10);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			names = realloc(names, cap * sizeof(*names));
		}
		names[n++] = strdup(line);
	}
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		return 3;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (wait_tag(fd, NULL) < 0)
		return 3;
	snprintf(cmd, sizeof(cmd), "L LOGIN \"%s\" \"%s\"\r\n", argv[3], pw);
	if (write(fd, cmd, strlen(cmd)) < 0 || wait_tag(fd, "L") < 0) {
		fprintf(stderr, "raw-ceiling: login failed\n");
		return 3;
	}
	start = now();
	for (unsigned long r = 0; r < repeat; r++) {
		for (size_t i = 0; i < n; i++) {
			char t[32];
			int len;

			snprintf(t, sizeof(t), "R%lu", ++tag);
			len = snprintf(cmd, sizeof(cmd),
				       "%s GETQUOTAROOT \"%s\"\r\n", t,
				       names[i]);
			if (write(fd, cmd, (size_t)len) != len) {
				perror("write");
				return 3;
			}
			if (wait_tag(fd, t) < 0) {
				fprintf(stderr, "raw-ceiling: %s failed\n", t);
				return 3;
			}
			lookups++;
		}
	}
	printf("lookups=%lu seconds=%.3f rate=%.0f no=%lu\n", lookups,
	       now() - start, lookups / (now() - start), no_answers);
	close(fd);
	return 0;
}
