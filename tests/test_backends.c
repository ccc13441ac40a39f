/*
 * test_backends.c - several backends chosen by recipient domain: the
 * backend files inherit the main file's values, errors name the backend
 * file, only backend keys may be set there, routing is first match, and
 * the engine keeps a pool per backend, so a hung backend does not hold
 * up another's answers.  Real servers: tests/integration/backends.sh.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "quotachk.h"

static char dir[] = "/tmp/qc-test-backends.XXXXXX";

static void
setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	strcpy(dir + strlen(dir) - 6, "XXXXXX");
}

/* dir/name with text; returns the path (static buffer per call site). */
static const char *
put(const char *name, const char *text)
{
	static char path[8][256];
	static int next;
	char *p = path[next++ % 8];
	FILE *fp;

	snprintf(p, 256, "%s/%s", dir, name);
	fp = fopen(p, "w");
	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
	if (strcmp(name, "pw") == 0)
		chmod(p, 0600);
	return p;
}

/* The main file with the common keys, plus extra lines. */
static qc_config_t *
load_main(const char *extra, int *ret_r)
{
	char text[2048];
	qc_config_t *cfg;

	put("pw", "secret\n");
	snprintf(text, sizeof(text), "imap_user = admin\n"
		 "imap_password_file = %s/pw\nimap_tls = none\n"
		 "imap_timeout = 3s\n%s", dir, extra);
	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_assert_eq(qc_config_load_file(cfg, put("main.conf", text)), QC_OK,
		     "%s", qc_config_errmsg(cfg));
	*ret_r = qc_config_validate(cfg);
	return cfg;
}

TestSuite(backends, .init = setup, .fini = teardown);

Test(backends, a_backend_inherits_the_main_file_and_overrides)
{
	qc_config_t *cfg;
	const qc_config_t *b;
	int ret;

	put("cyrus.conf", "imap_url = imap://127.0.0.1:1143/\n"
	    "domains = a.example\nmailbox_format = user.%u\n");
	put("dovecot.conf", "imap_url = imap://127.0.0.1:2143/\n"
	    "domains = b.example\nquota_rule = dovecot\n"
	    "imap_timeout = 5s\n");
	put("pw", "x\n");
	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	put("main.conf", "");
	{
		char text[512];

		snprintf(text, sizeof(text), "imap_user = admin\n"
			 "imap_password_file = %s/pw\nimap_tls = none\n"
			 "imap_connections = 7\n"
			 "backends = cyrus.conf, dovecot.conf\n", dir);
		cr_assert_eq(qc_config_load_file(cfg, put("main.conf", text)),
			     QC_OK, "%s", qc_config_errmsg(cfg));
	}
	/* A command-line override reaches the backends that do not set
	 * the key themselves. */
	cr_assert_eq(qc_config_set(cfg, "imap-timeout", "2s"), QC_OK);
	ret = qc_config_validate(cfg);
	cr_assert_eq(ret, QC_OK, "%s", qc_config_errmsg(cfg));
	cr_assert_eq(qc_config_backend_count(cfg), 2);
	cr_expect_str_eq(qc_config_backend_name(cfg, 0), "cyrus");
	cr_expect_str_eq(qc_config_backend_name(cfg, 1), "dovecot");
	b = qc_config_backend(cfg, 0);
	cr_assert_not_null(b);
	cr_expect_str_eq(qc_config_get(b, "imap_url"),
			 "imap://127.0.0.1:1143/");
	cr_expect_str_eq(qc_config_get(b, "imap_user"), "admin");
	cr_expect_str_eq(qc_config_get(b, "imap_connections"), "7");
	cr_expect_str_eq(qc_config_get(b, "imap_timeout"), "2s");
	cr_expect_str_eq(qc_config_get(b, "mailbox_format"), "user.%u");
	cr_expect_str_eq(qc_config_get(b, "quota_rule"), "strict");
	cr_expect_str_eq(qc_config_get(b, "backends"), "");
	b = qc_config_backend(cfg, 1);
	cr_expect_str_eq(qc_config_get(b, "imap_timeout"), "5s");
	cr_expect_eq(qc_rule_kind(qc_config_rule(b)), QC_RULE_DOVECOT);
	cr_expect_eq(qc_rule_kind(qc_config_rule(cfg)), QC_RULE_STRICT);
	cr_expect_null(qc_config_backend(cfg, 2));
	cr_expect_null(qc_config_backend_name(cfg, 2));
	qc_config_free(cfg);
}

Test(backends, errors_name_the_backend_file_and_line)
{
	qc_config_t *cfg;
	int ret;

	put("one.conf", "domains = a.example\n\nimap_timeout = forever\n");
	cfg = load_main("backends = one.conf\n", &ret);
	cr_assert_eq(ret, QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "one.conf line 3"),
			   "%s", qc_config_errmsg(cfg));
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "imap_timeout"));
	cr_expect_eq(qc_config_backend_count(cfg), 0);
	qc_config_free(cfg);

	cfg = load_main("backends = missing.conf\n", &ret);
	cr_assert_eq(ret, QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "missing.conf"),
			   "%s", qc_config_errmsg(cfg));
	qc_config_free(cfg);

	/* A required key neither file sets. */
	put("nourl.conf", "domains = a.example\n");
	cfg = load_main("backends = nourl.conf\n", &ret);
	cr_assert_eq(ret, QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "backend nourl ("),
			   "%s", qc_config_errmsg(cfg));
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "imap_url is not "
				  "set"), "%s", qc_config_errmsg(cfg));
	qc_config_free(cfg);
}

Test(backends, only_backend_keys_in_a_backend_file)
{
	static const char *const refused[] = {
		"listen = inet:127.0.0.1:1\n", "action_error = REJECT no\n",
		"cache_ttl = 1s\n", "backends = other.conf\n", "log = stderr\n"
	};
	qc_config_t *cfg;
	int ret;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), "imap_url = imap://h/\n%s",
			 refused[i]);
		put("bad.conf", text);
		cfg = load_main("backends = bad.conf\n", &ret);
		cr_assert_eq(ret, QC_ERR_CONFIG, "%s accepted", refused[i]);
		cr_expect_not_null(strstr(qc_config_errmsg(cfg),
					  "bad.conf line 2"), "%s",
				   qc_config_errmsg(cfg));
		cr_expect_not_null(strstr(qc_config_errmsg(cfg), "cannot be "
					  "set in a backend file"), "%s",
				   qc_config_errmsg(cfg));
		qc_config_free(cfg);
	}
	/* Every server key is allowed. */
	put("good.conf", "imap_url = imap://h/\nimap_user = u\n"
	    "imap_authzid = %a\nimap_ca_file = /x\nmailbox_format = INBOX\n"
	    "recipient_delimiter = -\ndomains = a.example\n"
	    "quota_rule = dovecot\nquota_grace = 0\nimap_connections = 2\n");
	cfg = load_main("backends = good.conf\n", &ret);
	cr_expect_eq(ret, QC_OK, "%s", qc_config_errmsg(cfg));
	qc_config_free(cfg);
}

Test(backends, names_must_be_plain_and_unique)
{
	qc_config_t *cfg;
	int ret;

	cr_assert_eq(mkdir(strcat(strcpy((char[256]){0}, dir), "/sub"), 0700),
		     0);
	put("x.conf", "imap_url = imap://h1/\ndomains = a.example\n");
	put("sub/x.conf", "imap_url = imap://h2/\ndomains = b.example\n");
	cfg = load_main("backends = x.conf sub/x.conf\n", &ret);
	cr_assert_eq(ret, QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "named x is listed "
				  "already"), "%s", qc_config_errmsg(cfg));
	qc_config_free(cfg);

	put("b@d.conf", "imap_url = imap://h1/\n");
	cfg = load_main("backends = b@d.conf\n", &ret);
	cr_assert_eq(ret, QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "named after its "
				  "file"), "%s", qc_config_errmsg(cfg));
	qc_config_free(cfg);
}

Test(backends, routing_is_first_match_and_unmatched_is_none)
{
	qc_config_t *cfg;
	unsigned int i;
	int ret;

	put("one.conf", "imap_url = imap://h1/\ndomains = a.example\n");
	put("two.conf", "imap_url = imap://h2/\n"
	    "domains = a.example, b.example .sub.example\n");
	put("rest.conf", "imap_url = imap://h3/\n");
	cfg = load_main("backends = one.conf two.conf rest.conf\n", &ret);
	cr_assert_eq(ret, QC_OK, "%s", qc_config_errmsg(cfg));
	cr_assert_eq(qc_config_backend_for(cfg, "bob@a.example", &i), QC_OK);
	cr_expect_eq(i, 0, "the first match wins");
	cr_assert_eq(qc_config_backend_for(cfg, "Bob+x@B.Example", &i), QC_OK);
	cr_expect_eq(i, 1);
	cr_assert_eq(qc_config_backend_for(cfg, "bob@x.sub.example", &i),
		     QC_OK);
	cr_expect_eq(i, 1);
	cr_assert_eq(qc_config_backend_for(cfg, "bob@c.example", &i), QC_OK);
	cr_expect_eq(i, 2, "the catch-all serves the rest");
	cr_assert_eq(qc_config_backend_for(cfg, "bob", &i), QC_OK);
	cr_expect_eq(i, 2, "no domain: only the catch-all");
	cr_expect_eq(qc_config_backend_for(cfg, "@a.example", &i),
		     QC_ERR_ADDRESS);
	qc_config_free(cfg);

	cfg = load_main("backends = one.conf two.conf\n", &ret);
	cr_assert_eq(ret, QC_OK, "%s", qc_config_errmsg(cfg));
	cr_assert_eq(qc_config_backend_for(cfg, "bob@c.example", &i), QC_OK);
	cr_expect_eq(i, QC_BACKEND_NONE, "no backend serves c.example");
	cr_assert_eq(qc_config_backend_for(cfg, "bob", &i), QC_OK);
	cr_expect_eq(i, QC_BACKEND_NONE);
	qc_config_free(cfg);

	/* A catch-all before another backend would hide it. */
	cfg = load_main("backends = rest.conf one.conf\n", &ret);
	cr_assert_eq(ret, QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_config_errmsg(cfg), "backend rest has "
				  "no domains"), "%s", qc_config_errmsg(cfg));
	qc_config_free(cfg);

	/* Without backends there is nothing to route. */
	cfg = load_main("imap_url = imap://h/\n", &ret);
	cr_assert_eq(ret, QC_OK, "%s", qc_config_errmsg(cfg));
	cr_expect_eq(qc_config_backend_count(cfg), 0);
	cr_expect_eq(qc_config_backend_for(cfg, "bob@a.example", &i),
		     QC_ERR_INVALID);
	qc_config_free(cfg);
}

/* ---- the engine ---- */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A server that accepts connections (the kernel does) and never says a
 * word: a hung backend. */
static int
hung_server(int *port_r)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(0x7f000001);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port_r = ntohs(sa.sin_port);
	return fd;
}

Test(backends, a_hung_backend_does_not_delay_another)
{
	qc_config_t *cfg;
	qc_engine_t *e = NULL;
	qc_check_t *hung, *dead, *none;
	char text[256];
	uint64_t t0, waited;
	int port, lfd = hung_server(&port), ret;

	snprintf(text, sizeof(text), "imap_url = imap://127.0.0.1:%d/\n"
		 "domains = hung.example\n", port);
	put("hung.conf", text);
	/* Port 1: refused at once, a dead backend. */
	put("dead.conf", "imap_url = imap://127.0.0.1:1/\n"
	    "domains = dead.example\n");
	cfg = load_main("imap_connections = 1\nmailbox_format = user.%u\n"
			"backends = hung.conf dead.conf\n", &ret);
	cr_assert_eq(ret, QC_OK, "%s", qc_config_errmsg(cfg));
	qc_library_init();
	cr_assert_eq(qc_engine_new(cfg, &e), QC_OK, "%s", qc_engine_errmsg(e));
	cr_assert_eq(qc_engine_start(e), QC_OK, "%s", qc_engine_errmsg(e));
	cr_assert_eq(qc_engine_backend_count(e), 2);
	cr_expect_str_eq(qc_engine_backend_name(e, 0), "hung");
	cr_expect_str_eq(qc_engine_backend_name(e, 1), "dead");
	cr_expect_null(qc_engine_backend_name(e, 2));

	qc_check_new(&hung);
	qc_check_new(&dead);
	qc_check_new(&none);
	/* The hung backend's only connection is taken... */
	qc_check_set_recipient(hung, "bob@hung.example");
	cr_assert_eq(qc_engine_submit(e, hung, NULL, NULL), QC_OK);
	usleep(100 * 1000);
	cr_expect_eq(qc_engine_backend_counter(e, 0, QC_COUNTER_PENDING), 1);
	/* ...and the other backend answers anyway, at once. */
	qc_check_set_recipient(dead, "bob@dead.example");
	t0 = now_ms();
	ret = qc_engine_check(e, dead);
	waited = now_ms() - t0;
	cr_expect_eq(ret, QC_ERR_CONNECT, "%s", qc_check_errmsg(dead));
	cr_expect_lt(waited, 1000, "the dead backend's answer took %llu ms",
		     (unsigned long long)waited);
	cr_expect_str_eq(qc_check_backend(dead), "dead");
	/* A domain no backend serves: not checked, at once. */
	qc_check_set_recipient(none, "bob@c.example");
	cr_assert_eq(qc_engine_check(e, none), QC_OK);
	cr_expect_eq(qc_check_verdict(none), QC_VERDICT_NOT_CHECKED);
	cr_expect_str_eq(qc_check_backend(none), "");
	cr_expect_eq(qc_engine_backend_counter(e, 1, QC_COUNTER_CHECKS), 1);
	cr_expect_eq(qc_engine_backend_counter(e, 1, QC_COUNTER_BACKING_OFF),
		     1);
	cr_expect_eq(qc_engine_backend_counter(e, 0, QC_COUNTER_CHECKS), 0);
	/* The sum: the dead one's and the unserved one. */
	cr_expect_eq(qc_engine_counter(e, QC_COUNTER_CHECKS), 2);
	/* The hung one is answered by its imap_timeout (3 s). */
	t0 = now_ms();
	while (qc_engine_backend_counter(e, 0, QC_COUNTER_PENDING) > 0 &&
	       now_ms() - t0 < 5000) {
		usleep(50 * 1000);
		qc_engine_process(e);
	}
	cr_expect_eq(qc_check_error(hung), QC_ERR_TIMEOUT);
	cr_expect_str_eq(qc_check_backend(hung), "hung");
	qc_check_free(hung);
	qc_check_free(dead);
	qc_check_free(none);
	/* Its worker gives up by the same imap_timeout: none is stuck. */
	cr_expect_eq(qc_engine_free(e, 5000), 0);
	qc_config_free(cfg);
	close(lfd);
}

/* A message whose recipients span backends is counted when the sum of
 * the recipients let through on each matches Postfix's count. */
Test(backends, a_commit_adds_up_every_backend)
{
	qc_config_t *cfg;
	qc_engine_t *e = NULL;
	qc_check_t *c1, *c2;
	enum qc_commit_outcome outcome;
	unsigned int counted;
	int ret;

	put("one.conf", "imap_url = imap://127.0.0.1:1/\ndomains = a.example\n");
	put("two.conf", "imap_url = imap://127.0.0.1:1/\ndomains = b.example\n");
	cfg = load_main("mailbox_format = user.%u\n"
			"backends = one.conf two.conf\n", &ret);
	cr_assert_eq(ret, QC_OK, "%s", qc_config_errmsg(cfg));
	qc_library_init();
	cr_assert_eq(qc_engine_new(cfg, &e), QC_OK, "%s", qc_engine_errmsg(e));
	cr_assert_eq(qc_engine_start(e), QC_OK);
	qc_check_new(&c1);
	qc_check_new(&c2);
	qc_check_set_recipient(c1, "bob@a.example");
	qc_check_set_instance(c1, "msg1");
	qc_check_set_recipient(c2, "bob@c.example");
	qc_check_set_instance(c2, "msg1");
	qc_engine_check(e, c1);
	qc_engine_check(e, c2);
	cr_assert_eq(qc_engine_let_through(e, c1), QC_OK);
	cr_assert_eq(qc_engine_let_through(e, c2), QC_OK);
	/* Two let through (one per engine): Postfix's two match. */
	cr_assert_eq(qc_engine_commit(e, "msg1", 2, 100, &outcome, &counted),
		     QC_OK);
	cr_expect_eq(outcome, QC_COMMIT_COUNTED);
	cr_expect_eq(counted, 0, "errors and notchecked count nowhere");
	/* Again, with a count that differs. */
	qc_engine_check(e, c1);
	qc_engine_check(e, c2);
	qc_engine_let_through(e, c1);
	qc_engine_let_through(e, c2);
	cr_assert_eq(qc_engine_commit(e, "msg1", 3, 100, &outcome, &counted),
		     QC_OK);
	cr_expect_eq(outcome, QC_COMMIT_RECIPIENTS_DIFFER);
	cr_assert_eq(qc_engine_commit(e, "msg1", 2, 100, &outcome, &counted),
		     QC_OK);
	cr_expect_eq(outcome, QC_COMMIT_UNKNOWN_MESSAGE, "forgotten after "
		     "its commit");
	qc_check_free(c1);
	qc_check_free(c2);
	cr_expect_eq(qc_engine_free(e, 1000), 0);
	qc_config_free(cfg);
}

Test(backends, reconfigure_changes_backends_all_or_nothing)
{
	qc_config_t *cfg, *next, *bad, *plain;
	qc_engine_t *e = NULL;
	int ret;

	put("one.conf", "imap_url = imap://127.0.0.1:1/\ndomains = a.example\n");
	put("two.conf", "imap_url = imap://127.0.0.1:1/\ndomains = b.example\n");
	cfg = load_main("backends = one.conf\n", &ret);
	cr_assert_eq(ret, QC_OK, "%s", qc_config_errmsg(cfg));
	qc_library_init();
	cr_assert_eq(qc_engine_new(cfg, &e), QC_OK, "%s", qc_engine_errmsg(e));
	cr_assert_eq(qc_engine_start(e), QC_OK);
	next = load_main("backends = two.conf one.conf\n", &ret);
	cr_assert_eq(ret, QC_OK, "%s", qc_config_errmsg(next));
	cr_assert_eq(qc_engine_reconfigure(e, next), QC_OK, "%s",
		     qc_engine_errmsg(e));
	cr_assert_eq(qc_engine_backend_count(e), 2);
	cr_expect_str_eq(qc_engine_backend_name(e, 0), "two");
	cr_expect_str_eq(qc_engine_backend_name(e, 1), "one");
	/* A backend whose password file cannot be read: nothing changes. */
	put("three.conf", "imap_url = imap://127.0.0.1:1/\n"
	    "imap_password_file = /nonexistent/pw\ndomains = c.example\n");
	bad = load_main("backends = one.conf three.conf\n", &ret);
	cr_assert_eq(ret, QC_OK, "%s", qc_config_errmsg(bad));
	cr_expect_neq(qc_engine_reconfigure(e, bad), QC_OK);
	cr_expect_not_null(strstr(qc_engine_errmsg(e), "backend three"), "%s",
			   qc_engine_errmsg(e));
	cr_assert_eq(qc_engine_backend_count(e), 2);
	cr_expect_str_eq(qc_engine_backend_name(e, 0), "two");
	/* One server instead of backends needs a restart. */
	plain = load_main("imap_url = imap://127.0.0.1:1/\n", &ret);
	cr_expect_eq(qc_engine_reconfigure(e, plain), QC_ERR_CONFIG);
	cr_expect_not_null(strstr(qc_engine_errmsg(e), "restart"));
	cr_expect_eq(qc_engine_backend_count(e), 2);
	cr_expect_eq(qc_engine_free(e, 1000), 0);
	qc_config_free(cfg);
	qc_config_free(next);
	qc_config_free(bad);
	qc_config_free(plain);
}
