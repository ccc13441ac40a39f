/*
 * progress.c - the progress line of quotachk-report (see progress.h).
 *
 * The line is redrawn with a carriage return, not terminal escapes, so it
 * also reads sensibly in a file when --progress forces it there; a shorter
 * line is padded with blanks over the longer one before it.  Redraws are
 * limited by a monotonic clock, so a fast server costs a few writes a
 * second rather than one per mailbox, and a clock step (NTP) cannot
 * freeze or flood the line.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "progress.h"

#define PROGRESS_INTERVAL 0.2 /* seconds between redraws: 5 a second */
#define PREFIX "quotachk-report: "

int
progress_wanted(enum progress_mode mode, int stderr_is_tty)
{
	return mode == PROGRESS_ON || (mode == PROGRESS_AUTO && stderr_is_tty);
}

/* 0:42, 12:05, 3:07:09: minutes need no hours column until they do. */
static int
format_duration(char *buf, size_t size, double seconds)
{
	long long s = (long long)(seconds + 0.5);

	if (s >= 3600)
		return snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600,
				s / 60 % 60, s % 60);
	return snprintf(buf, size, "%lld:%02lld", s / 60, s % 60);
}

int
progress_format(char *buf, size_t size, size_t done, size_t total,
		double elapsed)
{
	/* Whole percent, rounded down: 100% only when it is all done. */
	unsigned percent = total == 0 ? 100 :
		(unsigned)((unsigned long long)(done < total ? done : total) *
			   100 / total);
	char left[32];
	double rate;

	if (done == 0 || elapsed <= 0.0)
		return snprintf(buf, size, PREFIX "%zu/%zu mailboxes (%u%%)",
				done, total, percent);
	rate = (double)done / elapsed;
	format_duration(left, sizeof(left),
			done < total ? (double)(total - done) / rate : 0.0);
	return snprintf(buf, size, PREFIX "%zu/%zu mailboxes (%u%%), "
			"%.*f/s, %s left", done, total, percent,
			rate < 10.0 ? 1 : 0, rate, left);
}

int
progress_format_counting(char *buf, size_t size, size_t found)
{
	return snprintf(buf, size, PREFIX "listing mailboxes, %zu so far",
			found);
}

enum phase { PHASE_NONE, PHASE_COUNTING, PHASE_ASKING };

struct progress {
	FILE *fp;
	enum phase phase;
	double start;     /* of the asking phase */
	double last_draw;
	size_t width;     /* columns written so far, padding included */
	size_t done, total;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct progress *
progress_new(FILE *fp)
{
	struct progress *p = calloc(1, sizeof(*p));

	/* Without memory the report still runs, only without progress. */
	if (p != NULL)
		p->fp = fp;
	return p;
}

static void
draw(struct progress *p, const char *line, double t)
{
	size_t len = strlen(line);

	/* One write per redraw: stderr is unbuffered. */
	char out[256];
	int n = snprintf(out, sizeof(out), "\r%s%*s", line,
			 p->width > len ? (int)(p->width - len) : 0, "");

	if (n > 0)
		fwrite(out, 1, (size_t)n < sizeof(out) ? (size_t)n :
		       sizeof(out) - 1, p->fp);
	fflush(p->fp);
	/* The columns written so far, padding included: what a blank must
	 * cover (a shorter line leaves the padding of a longer one). */
	if (len > p->width)
		p->width = len;
	p->last_draw = t;
}

/* A new phase is drawn at once; within a phase at most every interval. */
static int
due(struct progress *p, enum phase phase, double t)
{
	if (p->phase != phase) {
		p->phase = phase;
		return 1;
	}
	return t - p->last_draw >= PROGRESS_INTERVAL;
}

void
progress_counting(struct progress *p, size_t found)
{
	char line[160];
	double t;

	if (p == NULL)
		return;
	t = now();
	if (!due(p, PHASE_COUNTING, t))
		return;
	progress_format_counting(line, sizeof(line), found);
	draw(p, line, t);
}

void
progress_update(struct progress *p, size_t done, size_t total)
{
	char line[160];
	double t;

	if (p == NULL)
		return;
	t = now();
	if (p->phase != PHASE_ASKING)
		p->start = t;
	p->done = done;
	p->total = total;
	if (!due(p, PHASE_ASKING, t))
		return;
	progress_format(line, sizeof(line), done, total, t - p->start);
	draw(p, line, t);
}

void
progress_finish(struct progress *p, int failed)
{
	char line[160];
	double t;

	if (p == NULL)
		return;
	t = now();
	if (failed) {
		if (p->width > 0)
			fprintf(p->fp, "\r%*s\r", (int)p->width, "");
	} else if (p->phase == PHASE_ASKING) {
		progress_format(line, sizeof(line), p->done, p->total,
				t - p->start);
		draw(p, line, t);
		fputc('\n', p->fp);
	} else if (p->width > 0) {
		fputc('\n', p->fp);
	}
	fflush(p->fp);
	free(p);
}
