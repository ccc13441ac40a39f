/*
 * test_engine.c - the check engine's contract where no IMAP server is
 * needed, or where its absence is the point (lib/engine.c): answers at
 * hand come at once, with the callback run inside qc_engine_submit();
 * a refused connection is an error within imap_timeout and starts the
 * backoff; misuse is refused; a commit of an unknown message counts
 * nothing.  Answers from real servers: tests/integration/engine-cyrus.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "quotachk.h"

static char password_file[] = "/tmp/qc-test-engine.XXXXXX";

static qc_engine_t *
new_engine(qc_config_t **config_r)
{
	int fd = mkstemp(password_file);
	qc_engine_t *e = NULL;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "pw\n", 3), 3);
	close(fd);
	qc_library_init();
	cr_assert_eq(qc_config_new(config_r), QC_OK);
	/* Port 1 on loopback: connections are refused at once. */
	qc_config_set(*config_r, "imap_url", "imap://127.0.0.1:1/");
	qc_config_set(*config_r, "imap_tls", "none");
	qc_config_set(*config_r, "imap_user", "cyrus");
	qc_config_set(*config_r, "imap_password_file", password_file);
	qc_config_set(*config_r, "mailbox_format", "user.%u");
	qc_config_set(*config_r, "domains", "example.test");
	qc_config_set(*config_r, "imap_timeout", "2s");
	cr_assert_eq(qc_config_validate(*config_r), QC_OK, "%s",
		     qc_config_errmsg(*config_r));
	cr_assert_eq(qc_engine_new(*config_r, &e), QC_OK, "%s",
		     qc_engine_errmsg(e));
	cr_assert_eq(qc_engine_start(e), QC_OK);
	return e;
}

static void
free_engine(qc_engine_t *e, qc_config_t *config)
{
	cr_assert_eq(qc_engine_free(e, 1000), 0);
	qc_config_free(config);
	unlink(password_file);
	strcpy(password_file + strlen(password_file) - 6, "XXXXXX");
}

struct seen {
	int calls;
	qc_check_t *check;
};

static void
on_done(qc_check_t *check, void *context)
{
	struct seen *seen = context;

	seen->calls++;
	seen->check = check;
}

Test(engine, answers_at_hand_come_inside_submit)
{
	qc_config_t *config;
	qc_engine_t *e = new_engine(&config);
	qc_check_t *c;
	struct seen seen = {0, NULL};

	cr_assert_eq(qc_check_new(&c), QC_OK);
	/* Another domain: not checked, no server needed. */
	qc_check_set_recipient(c, "someone@elsewhere.test");
	cr_assert_eq(qc_engine_submit(e, c, on_done, &seen), QC_OK);
	cr_assert_eq(seen.calls, 1, "the callback did not run at once");
	cr_assert_eq(seen.check, c);
	cr_assert_eq(qc_check_error(c), QC_OK);
	cr_assert_eq(qc_check_verdict(c), QC_VERDICT_NOT_CHECKED);
	cr_assert_eq(qc_check_source(c), QC_SOURCE_NONE);
	/* An address that names no mailbox: nouser, as an error. */
	qc_check_reset(c);
	qc_check_set_recipient(c, "bad\001x@example.test");
	cr_assert_eq(qc_engine_check(e, c), QC_ERR_ADDRESS);
	cr_assert_eq(qc_check_verdict(c), QC_VERDICT_NO_MAILBOX);
	cr_assert_eq(qc_engine_counter(e, QC_COUNTER_CHECKS), 2);
	cr_assert_eq(qc_engine_counter(e, QC_COUNTER_LOOKUPS), 0);
	qc_check_free(c);
	free_engine(e, config);
}

Test(engine, refused_server_is_an_error_then_backoff)
{
	qc_config_t *config;
	qc_engine_t *e = new_engine(&config);
	qc_check_t *c;

	qc_check_new(&c);
	qc_check_set_recipient(c, "bob@example.test");
	cr_assert_eq(qc_engine_check(e, c), QC_ERR_CONNECT, "%s",
		     qc_check_errmsg(c));
	cr_assert_eq(qc_check_source(c), QC_SOURCE_SERVER);
	cr_assert_lt(qc_check_elapsed_us(c), 2000000u, "not within imap_timeout");
	cr_assert_eq(qc_engine_counter(e, QC_COUNTER_BACKING_OFF), 1);
	/* While backing off, the next one is answered without asking. */
	qc_check_reset(c);
	qc_check_set_recipient(c, "alice@example.test");
	cr_assert_eq(qc_engine_check(e, c), QC_ERR_CONNECT);
	cr_assert_eq(qc_check_source(c), QC_SOURCE_BACKOFF);
	cr_assert_not_null(strstr(qc_check_errmsg(c), "not asking"), "%s",
			   qc_check_errmsg(c));
	cr_assert_eq(qc_engine_counter(e, QC_COUNTER_LOOKUPS), 1);
	cr_assert_eq(qc_engine_counter(e, QC_COUNTER_BACKOFF_ANSWERS), 1);
	qc_check_free(c);
	free_engine(e, config);
}

Test(engine, misuse_is_refused)
{
	qc_config_t *config;
	qc_engine_t *e = new_engine(&config);
	qc_check_t *c;
	enum qc_commit_outcome outcome;
	unsigned int counted = 9;

	qc_check_new(&c);
	cr_assert_eq(qc_engine_submit(e, c, on_done, NULL), QC_ERR_INVALID,
		     "a check without recipient");
	cr_assert_eq(qc_engine_let_through(e, c), QC_ERR_INVALID,
		     "let through before an answer");
	cr_assert_eq(qc_check_set_instance(c, "an id of more than sixty-four "
		     "characters, which would be cut and so joined to another"),
		     QC_ERR_INVALID);
	cr_assert_eq(qc_check_set_stage(c, (enum qc_stage)7), QC_ERR_INVALID);
	cr_assert_eq(qc_engine_commit(e, "never-seen", 1, 1000, &outcome,
				      &counted), QC_OK);
	cr_assert_eq(outcome, QC_COMMIT_UNKNOWN_MESSAGE);
	cr_assert_eq(counted, 0);
	cr_assert_eq(qc_check_usage(c, NULL, NULL, NULL), QC_ERR_INVALID);
	qc_check_free(c);
	free_engine(e, config);
}
