/*
 * progress.h - quotachk-report's progress on a terminal: one stderr line,
 * "quotachk-report: 512/1007 mailboxes (50%), 2480/s, 0:00 left", redrawn
 * in place a few times a second.  Never on stdout, which holds the report.
 */
#ifndef QC_REPORT_PROGRESS_H
#define QC_REPORT_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

/* Pure: whether to show progress.  Either flag set overrides the tty. */
enum progress_mode { PROGRESS_AUTO, PROGRESS_ON, PROGRESS_OFF };
int progress_wanted(enum progress_mode mode, int stderr_is_tty);

/*
 * Pure: the line for done of total mailboxes after elapsed seconds, into
 * buf (always terminated, truncated to size).  Rate and time left appear
 * once there is something to measure.  Returns the length it needed.
 */
int progress_format(char *buf, size_t size, size_t done, size_t total,
		    double elapsed);
/* Pure: the line while mailboxes are still being listed. */
int progress_format_counting(char *buf, size_t size, size_t found);

/* The writer.  Every function accepts NULL (progress off) and does
 * nothing then, so callers need no tests of their own. */
struct progress;
struct progress *progress_new(FILE *fp);
/* Mailboxes found so far, before the total is known. */
void progress_counting(struct progress *p, size_t found);
/* done of total asked; the elapsed time counts from the first call. */
void progress_update(struct progress *p, size_t done, size_t total);
/* Ends the line: with the final figures after a complete run, cleared
 * after a failure so the error starts on a clean line.  Frees p. */
void progress_finish(struct progress *p, int failed);

#endif
