/* test_config.c - the name = value parser, ranges and error messages. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "qc_private.h"

static char *
write_file(const char *text)
{
	static char path[64];
	FILE *fp;

	snprintf(path, sizeof(path), "/tmp/qc-test-config-%d.conf",
		 (int)getpid());
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

Test(config, defaults_match_the_contract)
{
	qc_config_t *cfg;
	uint64_t n;

	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_expect_str_eq(qc_config_get(cfg, "imap_tls"), "required");
	cr_expect_str_eq(qc_config_get(cfg, "mailbox_format"), "auto");
	cr_expect_str_eq(qc_config_get(cfg, "recipient_delimiter"), "+");
	cr_expect_str_eq(qc_config_get(cfg, "action_fits"), "DUNNO");
	cr_expect_str_eq(qc_config_get(cfg, "action_overquota"),
			 "452 4.2.2 Mailbox full");
	cr_expect_str_eq(qc_config_get(cfg, "action_toolarge"),
			 "552 5.2.3 Message larger than the mailbox quota");
	cr_expect_str_eq(qc_config_get(cfg, "action_nouser"), "DUNNO");
	cr_expect_str_eq(qc_config_get(cfg, "action_error"), "DUNNO");
	cr_expect_eq(qc_config_get_number(cfg, "imap_timeout", &n), QC_OK);
	cr_expect_eq(n, 10000);
	cr_expect_eq(qc_config_get_number(cfg, "cache_ttl", &n), QC_OK);
	cr_expect_eq(n, 30000);
	cr_expect_eq(qc_config_get_number(cfg, "imap_connections", &n), QC_OK);
	cr_expect_eq(n, 4);
	cr_expect_null(qc_config_get(cfg, "no_such_key"));
	qc_config_free(cfg);
}

Test(config, file_with_comments_continuations_and_dashes)
{
	qc_config_t *cfg;
	uint64_t n;
	const char *path = write_file(
		"# quotachk.conf\n"
		"\n"
		"imap_url = imap://127.0.0.1:1143/\n"
		"   # an indented comment\n"
		"imap_user=cyrus\n"
		"imap_password_file = /etc/quotachk.pass\n"
		"action_overquota = 452 4.2.2\n"
		"   Mailbox is full\n"
		"imap_timeout = 2500ms\n"
		"cache_ttl = 0\n");

	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_assert_eq(qc_config_load_file(cfg, path), QC_OK, "%s",
		     qc_config_errmsg(cfg));
	cr_expect_str_eq(qc_config_get(cfg, "imap_user"), "cyrus");
	cr_expect_str_eq(qc_config_get(cfg, "action_overquota"),
			 "452 4.2.2 Mailbox is full");
	cr_expect_eq(qc_config_get_number(cfg, "imap_timeout", &n), QC_OK);
	cr_expect_eq(n, 2500);
	cr_expect_eq(qc_config_get_number(cfg, "cache_ttl", &n), QC_OK);
	cr_expect_eq(n, 0);
	cr_expect_eq(qc_config_set(cfg, "imap-timeout", "1m"), QC_OK);
	cr_expect_eq(qc_config_get_number(cfg, "imap_timeout", &n), QC_OK);
	cr_expect_eq(n, 60000);
	cr_expect_eq(qc_config_validate(cfg), QC_OK, "%s",
		     qc_config_errmsg(cfg));
	qc_config_free(cfg);
	unlink(path);
}

struct bad {
	const char *text;
	const char *expect_in_message;
};

static const struct bad bad_files[] = {
	{"imap_url = imap://x/\nfoo = bar\n", "line 2: unknown key \"foo\""},
	{"imap_timeout = 0s\n", "line 1: imap_timeout = 0s: must be a time"},
	{"imap_timeout = soon\n", "imap_timeout = soon"},
	{"imap_tls = maybe\n", "\"required\" or \"none\""},
	{"imap_url = http://x/\n", "must be imap://"},
	{"imap_url = imap://cyrus:secret@x/\n", "must not contain credentials"},
	{"imap_url = imap://a/, http://b/\n", "line 1: imap_url = imap://a/, "
	 "http://b/: URL 2 (http://b/) must be imap://"},
	{"imap_url = imap://a/ imap://u:pw@b/\n", "URL 2 must not contain "
	 "credentials"},
	{"imap_url = imap://a/,,imap://b/\n", "empty entry"},
	{"imap_url = , imap://b/\n", "empty entry"},
	{"imap_url = imap://a/,\n", "ends with a comma"},
	{"imap_url = imap://1/ imap://2/ imap://3/ imap://4/ imap://5/ "
	 "imap://6/ imap://7/ imap://8/ imap://9/\n", "more than 8 URLs"},
	{"# a comment\nimap_url = imap://a/,\n  imap://b/ imaps://c/ ftp://d/\n",
	 "line 2: imap_url = imap://a/, imap://b/ imaps://c/ ftp://d/: URL 4"},
	{"imap_connections = 0\n", "between 1 and 256"},
	{"mailbox_format = user.%x\n", "allowed escapes"},
	{"action_error =\n", "must not be empty"},
	{"listen = tcp:1\n", "inet:HOST:PORT or unix:PATH"},
	{"just a line\n", "line 1: expected \"name = value\""},
};

Test(config, bad_values_name_file_line_key_and_what_is_allowed)
{
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		qc_config_t *cfg;
		const char *path = write_file(bad_files[i].text);

		cr_assert_eq(qc_config_new(&cfg), QC_OK);
		cr_expect_eq(qc_config_load_file(cfg, path), QC_ERR_CONFIG,
			     "row %zu", i);
		cr_expect_not_null(strstr(qc_config_errmsg(cfg), path),
				   "row %zu: %s", i, qc_config_errmsg(cfg));
		cr_expect_not_null(strstr(qc_config_errmsg(cfg),
					  bad_files[i].expect_in_message),
				   "row %zu: %s", i, qc_config_errmsg(cfg));
		qc_config_free(cfg);
		unlink(path);
	}
}

Test(config, unknown_key_error_does_not_echo_the_value)
{
	qc_config_t *cfg;
	const char *path = write_file("imap_password = hunter2\n");

	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_expect_eq(qc_config_load_file(cfg, path), QC_ERR_CONFIG);
	cr_expect_null(strstr(qc_config_errmsg(cfg), "hunter2"));
	cr_expect_eq(qc_config_set(cfg, "imap_password", "hunter2"),
		     QC_ERR_CONFIG);
	cr_expect_null(strstr(qc_config_errmsg(cfg), "hunter2"));
	qc_config_free(cfg);
	unlink(path);
}

Test(config, validate_requires_url_user_password_file)
{
	qc_config_t *cfg;

	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_expect_eq(qc_config_validate(cfg), QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "imap_url"));
	qc_config_set(cfg, "imap_url", "imaps://mail.example/");
	qc_config_set(cfg, "imap_user", "cyrus");
	cr_expect_eq(qc_config_validate(cfg), QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "imap_password_file"));
	qc_config_set(cfg, "imap_password_file", "/x");
	qc_config_set(cfg, "imap_tls", "none");
	cr_expect_eq(qc_config_validate(cfg), QC_ERR_CONFIG);
	qc_config_set(cfg, "imap_tls", "required");
	cr_expect_eq(qc_config_validate(cfg), QC_OK);
	qc_config_free(cfg);
}

Test(config, missing_file)
{
	qc_config_t *cfg;

	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_expect_eq(qc_config_load_file(cfg, "/nonexistent/q.conf"),
		     QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "/nonexistent/q.conf"));
	qc_config_free(cfg);
}

Test(password, world_readable_file_is_refused)
{
	char path[64], *pw = NULL, errmsg[QC_ERRMSG_MAX] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "/tmp/qc-test-pw-%d", (int)getpid());
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs("s3cret\nsecond line\n", fp);
	fclose(fp);
	chmod(path, 0644);
	cr_expect_eq(qc_password_read(path, &pw, errmsg), QC_ERR_PASSWORD_FILE);
	cr_expect_null(pw);
	cr_expect_not_null(strstr(errmsg, "readable by everyone"));
	cr_expect_null(strstr(errmsg, "s3cret"));
	chmod(path, 0640);
	cr_expect_eq(qc_password_read(path, &pw, errmsg), QC_OK);
	cr_expect_str_eq(pw, "s3cret");
	qc_password_free(&pw);
	cr_expect_null(pw);
	unlink(path);
	cr_expect_eq(qc_password_read(path, &pw, errmsg), QC_ERR_PASSWORD_FILE);
}

/* Every separator the contract allows, and a continuation line. */
Test(config, imap_url_lists_split_on_commas_and_white_space)
{
	static const struct {
		const char *value;
		unsigned int count;
		const char *last;
	} rows[] = {
		{"imap://a/", 1, "imap://a/"},
		{"imap://a/,imap://b:144/", 2, "imap://b:144/"},
		{"imap://a/, imap://b/", 2, "imap://b/"},
		{"imap://a/ ,\timaps://b/ imap://c/", 3, "imap://c/"},
		{"  imap://a/   imap://b/  ", 2, "imap://b/"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char urls[QC_URLS_MAX][QC_URL_MAX], why[160] = "";
		unsigned int n = 99;

		cr_expect_eq(qc_url_list_split(rows[i].value, urls, &n, why,
					       sizeof(why)), 0, "row %zu: %s",
			     i, why);
		cr_expect_eq(n, rows[i].count, "row %zu: %u URLs", i, n);
		if (n == rows[i].count)
			cr_expect_str_eq(urls[n - 1], rows[i].last,
					 "row %zu", i);
	}
}

Test(config, imaps_in_any_listed_url_contradicts_imap_tls_none)
{
	qc_config_t *cfg;

	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_assert_eq(qc_config_set(cfg, "imap_url",
				   "imap://a/, imaps://b/"), QC_OK);
	cr_assert_eq(qc_config_set(cfg, "imap_tls", "none"), QC_OK);
	cr_assert_eq(qc_config_set(cfg, "imap_user", "cyrus"), QC_OK);
	cr_assert_eq(qc_config_set(cfg, "imap_password_file", "/x"), QC_OK);
	cr_expect_eq(qc_config_validate(cfg), QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "imaps://b/"),
			   "%s", qc_config_errmsg(cfg));
	qc_config_free(cfg);
}
