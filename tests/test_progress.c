/*
 * test_progress.c - quotachk-report's progress line: the pure formatter
 * (table of done/total/elapsed rows), when progress is wanted, and the
 * writer's redraws into a memory stream: rate-limited, padded over a
 * longer line, ended with a newline, or cleared after a failure.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>

#include "progress.h"

struct row {
	size_t done, total;
	double elapsed;
	const char *expect;
};

static const struct row rows[] = {
	/* done    total     elapsed  line after "quotachk-report: " */
	{0,        1007,     0.0,    "0/1007 mailboxes (0%)"},
	{0,        1007,     3.0,    "0/1007 mailboxes (0%)"},  /* no rate */
	{512,      1007,     0.0,    "512/1007 mailboxes (50%)"},
	{512,      1007,     512.0 / 2480,
	 "512/1007 mailboxes (50%), 2480/s, 0:00 left"},
	{1006,     1007,     1.0,    "1006/1007 mailboxes (99%), 1006/s, 0:00 left"},
	{1007,     1007,     0.5,    "1007/1007 mailboxes (100%), 2014/s, 0:00 left"},
	{5,        100,      2.0,    "5/100 mailboxes (5%), 2.5/s, 0:38 left"},
	{1000,     61000,    10.0,   "1000/61000 mailboxes (1%), 100/s, 10:00 left"},
	{1000,     4600,     10.0,   "1000/4600 mailboxes (21%), 100/s, 0:36 left"},
	{100,      1000000,  100.0,
	 "100/1000000 mailboxes (0%), 1.0/s, 277:45:00 left"},
	{3600,     7200,     1.0,    "3600/7200 mailboxes (50%), 3600/s, 0:01 left"},
	{1,        3601,     1.0,    "1/3601 mailboxes (0%), 1.0/s, 1:00:00 left"},
	{0,        0,        0.0,    "0/0 mailboxes (100%)"},
	{12,       10,       1.0,    "12/10 mailboxes (100%), 12/s, 0:00 left"},
};

Test(progress, format_rows)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[160], want[160];

		snprintf(want, sizeof(want), "quotachk-report: %s",
			 rows[i].expect);
		cr_expect_eq(progress_format(buf, sizeof(buf), rows[i].done,
					     rows[i].total, rows[i].elapsed),
			     (int)strlen(want), "row %zu length", i);
		cr_expect_str_eq(buf, want, "row %zu", i);
	}
}

Test(progress, format_truncates_and_terminates)
{
	char buf[12];
	int need = progress_format(buf, sizeof(buf), 512, 1007, 0.2);

	cr_expect_gt(need, (int)sizeof(buf));
	cr_expect_str_eq(buf, "quotachk-re");
	memset(buf, 'x', sizeof(buf));
	progress_format_counting(buf, sizeof(buf), 42);
	cr_expect_str_eq(buf, "quotachk-re");
}

Test(progress, counting)
{
	char buf[160];

	progress_format_counting(buf, sizeof(buf), 1234);
	cr_expect_str_eq(buf, "quotachk-report: listing mailboxes, 1234 so "
			 "far");
}

Test(progress, wanted)
{
	cr_expect_eq(progress_wanted(PROGRESS_AUTO, 1), 1);
	cr_expect_eq(progress_wanted(PROGRESS_AUTO, 0), 0);  /* cron */
	cr_expect_eq(progress_wanted(PROGRESS_ON, 0), 1);
	cr_expect_eq(progress_wanted(PROGRESS_ON, 1), 1);
	cr_expect_eq(progress_wanted(PROGRESS_OFF, 1), 0);
	cr_expect_eq(progress_wanted(PROGRESS_OFF, 0), 0);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};

	nanosleep(&ts, NULL);
}

static size_t
count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* A fast run: one line per phase, none per mailbox, then the final one. */
Test(progress, writer_is_rate_limited_and_ends_with_a_newline)
{
	char *text = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);
	struct progress *p = progress_new(fp);
	const char *pad, *first;

	cr_assert_not_null(p);
	for (size_t i = 1; i <= 1000; i++)
		progress_counting(p, i);
	for (size_t i = 0; i <= 1000; i++)
		progress_update(p, i, 1000);
	progress_finish(p, 0);
	fclose(fp);
	cr_expect_eq(count(text, "\r"), 3, "draws: %s", text);
	first = "\rquotachk-report: listing mailboxes, 1 so far"
		"\rquotachk-report: 0/1000 mailboxes (0%)";
	cr_expect_eq(strncmp(text, first, strlen(first)), 0, "%s", text);
	/* The shorter line blanks out the rest of the longer one. */
	pad = strstr(text, "(0%)");
	cr_assert_not_null(pad);
	cr_expect_eq(strspn(pad + 4, " "), strlen("listing mailboxes, 1 so far")
		     - strlen("0/1000 mailboxes (0%)"));
	cr_expect_not_null(strstr(text, "\rquotachk-report: 1000/1000 "
				  "mailboxes (100%), "), "%s", text);
	cr_expect_not_null(strstr(text, "/s, 0:00 left"), "%s", text);
	cr_expect_eq(text[size - 1], '\n');
	cr_expect_eq(count(text, "\n"), 1);
	free(text);
}

/* A slow run is redrawn as it goes, at most about five times a second. */
Test(progress, writer_redraws_a_slow_run)
{
	char *text = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);
	struct progress *p = progress_new(fp);

	for (size_t i = 0; i <= 30; i++) {
		progress_update(p, i, 30);
		sleep_ms(20);
	}
	progress_finish(p, 0);
	fclose(fp);
	/* 0.6 s: the first, two or three redraws, the final line. */
	cr_expect_geq(count(text, "\r"), 3, "%s", text);
	cr_expect_leq(count(text, "\r"), 6, "%s", text);
	cr_expect_not_null(strstr(text, "/30 mailboxes ("), "%s", text);
	cr_expect_not_null(strstr(text, "/s, 0:0"), "%s", text);
	free(text);
}

Test(progress, writer_clears_the_line_after_a_failure)
{
	char *text = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);
	struct progress *p = progress_new(fp);
	char want[160];
	int n;

	progress_update(p, 0, 1000);
	progress_finish(p, 1);
	fclose(fp);
	n = snprintf(want, sizeof(want), "\rquotachk-report: 0/1000 mailboxes "
		     "(0%%)\r%*s\r", (int)strlen("quotachk-report: 0/1000 "
						  "mailboxes (0%)"), "");
	cr_expect_eq(size, (size_t)n);
	cr_expect_str_eq(text, want);
	free(text);
}

/* A shorter line after a longer one leaves the longer one's padding on
 * screen: the blank after a failure covers all of it. */
Test(progress, writer_blank_covers_the_widest_line)
{
	char *text = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);
	struct progress *p = progress_new(fp);
	const char *tail;
	size_t wide = strlen("quotachk-report: listing mailboxes, "
			     "123456 so far");

	progress_counting(p, 123456);
	progress_update(p, 0, 5);  /* a new phase: drawn at once */
	progress_finish(p, 1);
	fclose(fp);
	tail = strrchr(text, '\r');
	cr_assert_not_null(tail);
	while (tail > text && tail[-1] == ' ')
		tail--;
	cr_assert(tail > text && tail[-1] == '\r', "%s", text);
	cr_expect_geq(strspn(tail, " "), wide, "blank of %zu, line of %zu",
		      strspn(tail, " "), wide);
	free(text);
}

/* Nothing drawn (the server failed before the LIST): nothing written. */
Test(progress, writer_writes_nothing_when_nothing_was_drawn)
{
	char *text = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);

	progress_finish(progress_new(fp), 1);
	progress_finish(progress_new(fp), 0);
	fclose(fp);
	cr_expect_eq(size, 0);
	free(text);
	/* Progress off: every call takes NULL. */
	progress_counting(NULL, 1);
	progress_update(NULL, 1, 2);
	progress_finish(NULL, 0);
}
