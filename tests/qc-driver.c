/*
 * qc-driver - runs many lookups through one qc_client_t, for the
 * integration tests and the benchmark.  Reads recipients from stdin, one
 * per line, with C escapes (\r \n \t \\ \xHH) so tests can feed hostile
 * bytes; prints one tab-separated result line per lookup, or with
 * --summary only the totals:
 *   lookups=N seconds=S rate=R connects=C errors=E
 * A line "!sleep SECONDS" pauses, so a test can act on the server while
 * the client holds an idle connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "options.h"

static const struct tool_option options[] = {
	{"size", 1, "message size checked for every recipient"},
	{"repeat", 1, "run the whole input this many times"},
	{"summary", 0, "print only the totals"},
};
enum { OPT_SIZE, OPT_REPEAT, OPT_SUMMARY };

static size_t
unescape(const char *in, char *out)
{
	size_t n = 0;

	while (*in != '\0') {
		if (*in != '\\' || in[1] == '\0') {
			out[n++] = *in++;
			continue;
		}
		in++;
		switch (*in) {
		case 'r': out[n++] = '\r'; in++; break;
		case 'n': out[n++] = '\n'; in++; break;
		case 't': out[n++] = '\t'; in++; break;
		case 'x': {
			char hex[3] = {in[1], in[1] ? in[2] : 0, 0};
			out[n++] = (char)strtol(hex, NULL, 16);
			in += 1 + strlen(hex);
			break;
		}
		default: out[n++] = *in++; break;
		}
	}
	out[n] = '\0';
	return n;
}

static void
print_escaped(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
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
	struct tool_args args;
	qc_client_t *client = NULL;
	char **lines = NULL, buf[4096];
	size_t nlines = 0, cap = 0;
	unsigned long repeat = 1, lookups = 0, errors = 0;
	uint64_t size = 0;
	double start;
	int ret, summary;

	ret = tool_parse_args("qc-driver", "[OPTIONS] < RECIPIENTS",
			      "Look up many recipients on one connection.",
			      argc, argv, options, 3, 0, &args);
	if (ret != 0)
		return ret < 0 ? 0 : ret;
	if (args.values[OPT_SIZE] != NULL)
		size = strtoull(args.values[OPT_SIZE], NULL, 10);
	if (args.values[OPT_REPEAT] != NULL)
		repeat = strtoul(args.values[OPT_REPEAT], NULL, 10);
	summary = args.values[OPT_SUMMARY] != NULL;
	while (fgets(buf, sizeof(buf), stdin) != NULL) {
		char raw[4096];

		buf[strcspn(buf, "\n")] = '\0';
		unescape(buf, raw);
		if (nlines == cap) {
			cap = cap ? cap * 2 : 64;
			lines = realloc(lines, cap * sizeof(*lines));
			if (lines == NULL)
				return 3;
		}
		lines[nlines++] = strdup(raw);
	}
	qc_library_init();
	ret = qc_client_new(args.config, &client);
	if (ret != QC_OK) {
		fprintf(stderr, "qc-driver: %s\n", qc_client_errmsg(client));
		return EXIT_CONFIG;
	}
	start = now();
	for (unsigned long r = 0; r < repeat; r++) {
		for (size_t i = 0; i < nlines; i++) {
			struct qc_quota q;
			enum qc_verdict v = QC_VERDICT_FITS;

			if (strncmp(lines[i], "!sleep ", 7) == 0) {
				sleep((unsigned)atoi(lines[i] + 7));
				continue;
			}
			ret = qc_client_check(client, lines[i], size, &q, &v);
			lookups++;
			if (ret != QC_OK)
				errors++;
			if (summary)
				continue;
			print_escaped(lines[i]);
			printf("\t%s\t%s\t%s\t%llu/%llu\t%llu/%llu\t%s\n",
			       qc_error_name(ret),
			       ret == QC_OK ? qc_verdict_name(v) : "-",
			       ret == QC_OK && q.mailbox[0] ? q.mailbox : "-",
			       (unsigned long long)q.storage.used,
			       (unsigned long long)q.storage.limit,
			       (unsigned long long)q.messages.used,
			       (unsigned long long)q.messages.limit,
			       ret == QC_OK ? "" : qc_client_errmsg(client));
			fflush(stdout);
		}
	}
	printf("lookups=%lu seconds=%.3f rate=%.0f connects=%llu errors=%lu\n",
	       lookups, now() - start, lookups / (now() - start),
	       (unsigned long long)qc_client_connect_count(client), errors);
	for (size_t i = 0; i < nlines; i++)
		free(lines[i]);
	free(lines);
	qc_client_free(client);
	tool_args_free(&args);
	qc_library_cleanup();
	return 0;
}
