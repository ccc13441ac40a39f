/*
 * output.c - write a report atomically: a textfile collector or a web
 * server must never read half a report, so a file is written under a
 * temporary name in the same directory, flushed to disk, and renamed
 * over the target only when complete.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

struct report_output {
	FILE *fp;
	char *path, *tmp;
};

FILE *
report_output_open(const char *path, struct report_output **out_r)
{
	struct report_output *out = calloc(1, sizeof(*out));
	int fd;

	*out_r = NULL;
	if (out == NULL)
		return NULL;
	if (path == NULL || strcmp(path, "-") == 0) {
		out->fp = stdout;
		*out_r = out;
		return stdout;
	}
	out->path = strdup(path);
	if (out->path == NULL ||
	    asprintf(&out->tmp, "%s.tmp.XXXXXX", path) < 0) {
		free(out->path);
		free(out);
		return NULL;
	}
	fd = mkstemp(out->tmp);
	if (fd < 0 || fchmod(fd, 0644) < 0 ||
	    (out->fp = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "quotachk-report: cannot create %s: %s\n",
			out->tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(out->tmp);
		}
		free(out->tmp);
		free(out->path);
		free(out);
		return NULL;
	}
	*out_r = out;
	return out->fp;
}

int
report_output_commit(struct report_output *out)
{
	int ret = 0;

	if (out->fp == stdout) {
		ret = fflush(stdout) == 0 ? 0 : -1;
		free(out);
		return ret;
	}
	if (fflush(out->fp) != 0 || fsync(fileno(out->fp)) != 0)
		ret = -1;
	if (fclose(out->fp) != 0)
		ret = -1;
	if (ret < 0 || rename(out->tmp, out->path) != 0) {
		fprintf(stderr, "quotachk-report: cannot write %s: %s\n",
			out->path, strerror(errno));
		unlink(out->tmp);
		ret = -1;
	}
	free(out->tmp);
	free(out->path);
	free(out);
	return ret;
}
