/* test_config.c - the name = value parser, ranges and error messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	/* Not every local user may ask quotas (issue 8). */
	cr_expect_str_eq(qc_config_get(cfg, "listen_mode"), "0660");
	cr_expect_str_eq(qc_config_get(cfg, "listen_group"), "");
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
	{"# rules\nquota_rule = lmtp\n",
	 "line 2: quota_rule = lmtp: must be \"strict\", \"cyrus\" or \"dovecot\""},
	{"quota_grace = 10 %\n",
	 "line 1: quota_grace = 10 %: must be 0, a percentage of the limit"},
	{"quota_grace = 1001%\n", "from 0% to 1000%"},
	{"quota_grace = 10MB\n", "optional K, M, G or T suffix"},
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

/* The parsed rule follows the keys, as every tool and the daemon use it. */
Test(config, quota_rule_and_grace_make_the_rule)
{
	qc_config_t *cfg;
	const qc_rule_t *rule;
	struct qc_quota q;
	enum qc_verdict v;
	unsigned int flags;

	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_expect_str_eq(qc_config_get(cfg, "quota_rule"), "strict");
	cr_expect_str_eq(qc_config_get(cfg, "quota_grace"), "10%");
	rule = qc_config_rule(cfg);
	cr_assert_not_null(rule);
	cr_expect_eq(qc_rule_kind(rule), QC_RULE_STRICT);

	memset(&q, 0, sizeof(q));
	q.storage.limited = 1;
	q.storage.used = 1000 * 1024;
	q.storage.limit = 1000 * 1024;
	cr_expect_eq(qc_config_set(cfg, "quota-rule", "cyrus"), QC_OK);
	cr_expect_eq(qc_rule_kind(qc_config_rule(cfg)), QC_RULE_CYRUS);
	cr_expect_eq(qc_decide_rule(qc_config_rule(cfg), &q, 5000, &v, &flags),
		     QC_OK);
	cr_expect_eq(v, QC_VERDICT_FITS);

	/* dovecot, "STORAGE 1000 1000" (used may be 1023 bytes less): a
	 * 1023 + 10% message may fit with the default grace, not with 0. */
	cr_expect_eq(qc_config_set(cfg, "quota_rule", "dovecot"), QC_OK);
	cr_expect_eq(qc_decide_rule(qc_config_rule(cfg), &q, 2000, &v, &flags),
		     QC_OK);
	cr_expect_eq(v, QC_VERDICT_FITS);
	cr_expect_eq(qc_config_set(cfg, "quota_grace", "0"), QC_OK);
	cr_expect_eq(qc_decide_rule(qc_config_rule(cfg), &q, 2000, &v, &flags),
		     QC_OK);
	cr_expect_eq(v, QC_VERDICT_OVER_QUOTA);
	/* A bad value leaves the rule as it was. */
	cr_expect_eq(qc_config_set(cfg, "quota_grace", "lots"), QC_ERR_CONFIG);
	cr_expect_eq(qc_config_set(cfg, "quota_rule", "exchange"),
		     QC_ERR_CONFIG);
	cr_expect_eq(qc_rule_kind(qc_config_rule(cfg)), QC_RULE_DOVECOT);
	cr_expect_eq(qc_decide_rule(qc_config_rule(cfg), &q, 2000, &v, &flags),
		     QC_OK);
	cr_expect_eq(v, QC_VERDICT_OVER_QUOTA);
	cr_expect_eq(qc_config_set(cfg, "quota_grace", "1M"), QC_OK);
	cr_expect_eq(qc_decide_rule(qc_config_rule(cfg), &q, 2000, &v, &flags),
		     QC_OK);
	cr_expect_eq(v, QC_VERDICT_FITS);
	qc_config_free(cfg);
	cr_expect_null(qc_config_rule(NULL));
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
	cr_expect_eq(qc_password_read(path, -1, &pw, errmsg), QC_ERR_PASSWORD_FILE);
	cr_expect_null(pw);
	cr_expect_not_null(strstr(errmsg, "readable by everyone"));
	cr_expect_null(strstr(errmsg, "s3cret"));
	chmod(path, 0640);
	cr_expect_eq(qc_password_read(path, -1, &pw, errmsg), QC_OK);
	cr_expect_str_eq(pw, "s3cret");
	qc_password_free(&pw);
	cr_expect_null(pw);
	unlink(path);
	cr_expect_eq(qc_password_read(path, -1, &pw, errmsg), QC_ERR_PASSWORD_FILE);
}

/*
 * Long values (issue 8): never cut silently.  A domains list of a few
 * thousand characters (a hosting provider's) works to its last domain;
 * beyond what the library holds, a value is refused with the file, line
 * and key; a password line longer than the library reads is refused.
 */
static char *
domain_list(size_t min_len, const char *last)
{
	size_t cap = min_len + 64, len = 0;
	char *s = malloc(cap);

	cr_assert_not_null(s);
	for (int i = 0; len < min_len; i++)
		len += (size_t)snprintf(s + len, cap - len, "d%05d.test, ", i);
	snprintf(s + len, cap - len, "%s", last);
	return s;
}

Test(config, long_domains_list_is_used_to_its_end)
{
	qc_config_t *cfg;
	char *domains = domain_list(3000, "last.test"), mailbox[64];
	int checked = -1;

	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_assert_eq(qc_config_set(cfg, "domains", domains), QC_OK);
	cr_assert_eq(qc_config_set(cfg, "mailbox_format", "user.%u"), QC_OK);
	cr_expect_eq(qc_address_to_mailbox(cfg, "bob@last.test", 0, mailbox,
					   sizeof(mailbox), &checked), QC_OK);
	cr_expect_eq(checked, 1, "the last of %zu characters of domains was "
		     "not seen", strlen(domains));
	qc_config_free(cfg);
	free(domains);
}

Test(config, too_long_value_names_file_line_and_key)
{
	qc_config_t *cfg;
	char *domains = domain_list(9000, "last.test");
	char *text = malloc(strlen(domains) + 64);
	const char *path;

	sprintf(text, "imap_user = cyrus\ndomains = %s\n", domains);
	path = write_file(text);
	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_expect_eq(qc_config_load_file(cfg, path), QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), path), "%s",
			   qc_config_errmsg(cfg));
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "line 2: domains"),
			   "%s", qc_config_errmsg(cfg));
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "at most 8191"),
			   "%s", qc_config_errmsg(cfg));
	memcpy(domains, "imap://", 7);
	memset(domains + 7, 'h', 600);
	strcpy(domains + 607, "/");
	cr_expect_eq(qc_config_set(cfg, "imap_url", domains), QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "command line: "
				  "imap_url"), "%s", qc_config_errmsg(cfg));
	/* Each URL of the failover list is bounded on its own. */
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "URL 1 is longer "
				  "than 255 bytes"), "%s", qc_config_errmsg(cfg));
	qc_config_free(cfg);
	unlink(path);
	free(text);
	free(domains);
}

static int
password_of_length(size_t len, char **pw, char *errmsg)
{
	char path[64];
	FILE *fp;
	int ret;

	snprintf(path, sizeof(path), "/tmp/qc-test-pwlen-%d", (int)getpid());
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	for (size_t i = 0; i < len; i++)
		fputc('p', fp);
	fputs("\nsecond line\n", fp);
	fclose(fp);
	chmod(path, 0600);
	ret = qc_password_read(path, -1, pw, errmsg);
	unlink(path);
	return ret;
}

Test(password, long_line_is_refused_not_cut)
{
	char *pw = NULL, errmsg[QC_ERRMSG_MAX] = "";

	cr_expect_eq(password_of_length(1024, &pw, errmsg), QC_OK, "%s",
		     errmsg);
	cr_expect_eq(pw != NULL ? strlen(pw) : 0, 1024);
	qc_password_free(&pw);
	cr_expect_eq(password_of_length(1025, &pw, errmsg),
		     QC_ERR_PASSWORD_FILE, "a 1025-byte password was taken as "
		     "%zu bytes", pw != NULL ? strlen(pw) : 0);
	cr_expect_null(pw);
	cr_expect_not_null(strstr(errmsg, "longer than 1024 bytes"), "%s",
			   errmsg);
	qc_password_free(&pw);
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
