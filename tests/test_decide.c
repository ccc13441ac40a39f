/*
 * test_decide.c - the pure fit decision, with overflow edge rows: the
 * legacy qc_decide() and qc_decide_rule() under every rule, rounding and
 * grace, including the rounding window flag.
 */
#include <inttypes.h>
#include <criterion/criterion.h>

#include "qc_private.h"

#define MAX UINT64_MAX
#define NONE {0, 0, 0}
#define LIM(u, l) {1, (u), (l)}

struct row {
	struct qc_usage storage, messages;
	uint64_t size;
	enum qc_verdict expect;
};

static const struct row rows[] = {
	/* storage used/limit      messages           size  verdict */
	{NONE,             NONE,           100, QC_VERDICT_NO_QUOTA},
	{LIM(0, 1000),     NONE,           0,   QC_VERDICT_FITS},
	{LIM(999, 1000),   NONE,           0,   QC_VERDICT_FITS},  /* 0 = 1 */
	{LIM(1000, 1000),  NONE,           0,   QC_VERDICT_OVER_QUOTA},
	{LIM(900, 1000),   NONE,           100, QC_VERDICT_FITS},  /* at limit */
	{LIM(900, 1000),   NONE,           101, QC_VERDICT_OVER_QUOTA},
	{LIM(0, 1000),     NONE,           1000, QC_VERDICT_FITS},
	{LIM(0, 1000),     NONE,           1001, QC_VERDICT_TOO_LARGE},
	{LIM(5000, 1000),  NONE,           1,   QC_VERDICT_OVER_QUOTA},
	{LIM(MAX, MAX),    NONE,           1,   QC_VERDICT_OVER_QUOTA},
	{LIM(MAX - 1, MAX), NONE,          1,   QC_VERDICT_FITS},
	{LIM(10, MAX),     NONE,           MAX, QC_VERDICT_OVER_QUOTA},
	{LIM(1, 100),      NONE,           MAX, QC_VERDICT_TOO_LARGE},
	{LIM(0, 0),        NONE,           0,   QC_VERDICT_TOO_LARGE},
	{NONE,             LIM(1, 2),      5,   QC_VERDICT_FITS},
	{NONE,             LIM(2, 2),      5,   QC_VERDICT_OVER_QUOTA},
	{NONE,             LIM(3, 2),      5,   QC_VERDICT_OVER_QUOTA},
	{NONE,             LIM(0, 0),      5,   QC_VERDICT_OVER_QUOTA},
	{NONE,             LIM(MAX, MAX),  5,   QC_VERDICT_OVER_QUOTA},
	{LIM(0, 1000),     LIM(3, 2),      5,   QC_VERDICT_OVER_QUOTA},
	{LIM(0, 1000),     LIM(1, 2),      5000, QC_VERDICT_TOO_LARGE},
};

Test(decide, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct qc_quota q;

		memset(&q, 0, sizeof(q));
		q.storage = rows[i].storage;
		q.messages = rows[i].messages;
		cr_expect_eq(qc_decide(&q, rows[i].size), rows[i].expect,
			     "row %zu: got %s, expected %s", i,
			     qc_verdict_name(qc_decide(&q, rows[i].size)),
			     qc_verdict_name(rows[i].expect));
	}
}

/* The legacy table again through the new entry point: strict + exact
 * must be the old decision, and never report a window. */
Test(decide_rule, strict_exact_equals_qc_decide)
{
	qc_rule_t *rule;

	cr_assert_eq(qc_rule_new(QC_RULE_STRICT, &rule), QC_OK);
	cr_assert_eq(qc_rule_set_rounding(rule, QC_ROUNDING_EXACT), QC_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct qc_quota q;
		enum qc_verdict v;
		unsigned int flags = 99;

		memset(&q, 0, sizeof(q));
		q.storage = rows[i].storage;
		q.messages = rows[i].messages;
		cr_assert_eq(qc_decide_rule(rule, &q, rows[i].size, &v,
					    &flags), QC_OK);
		cr_expect_eq(v, rows[i].expect, "row %zu: got %s", i,
			     qc_verdict_name(v));
		cr_expect_eq(flags, 0, "row %zu: window", i);
	}
	qc_rule_free(rule);
}

#define K 1024u
#define L100 (100u * K)   /* a 100 KiB limit, as both servers report it */
#define FIT QC_VERDICT_FITS
#define OVER QC_VERDICT_OVER_QUOTA
#define BIG QC_VERDICT_TOO_LARGE
#define NOQ QC_VERDICT_NO_QUOTA
#define EX QC_ROUNDING_EXACT
#define FL QC_ROUNDING_USED_FLOOR
#define CE QC_ROUNDING_CEIL
#define W 1  /* in the rounding window */

struct rule_row {
	enum qc_quota_rule kind;
	enum qc_rounding rounding;
	const char *grace;
	struct qc_usage storage, messages;
	uint64_t size;
	enum qc_verdict expect;
	int window;
};

static const struct rule_row rule_rows[] = {
	/* strict on Cyrus figures: the true usage is up to 1023 more. */
	{QC_RULE_STRICT, FL, "0", LIM(0, L100), NONE, L100 - 1023, FIT, 0},
	{QC_RULE_STRICT, FL, "0", LIM(0, L100), NONE, L100 - 1022, FIT, W},
	{QC_RULE_STRICT, FL, "0", LIM(0, L100), NONE, L100, FIT, W},
	{QC_RULE_STRICT, FL, "0", LIM(0, L100), NONE, L100 + 1, BIG, 0},
	{QC_RULE_STRICT, FL, "0", LIM(50 * K, L100), NONE, 50 * K, FIT, W},
	{QC_RULE_STRICT, FL, "0", LIM(50 * K, L100), NONE, 50 * K + 1, OVER, 0},
	{QC_RULE_STRICT, FL, "0", LIM(L100, L100), NONE, 0, OVER, 0},
	{QC_RULE_STRICT, FL, "0", LIM(L100 + K, L100), NONE, 1, OVER, 0},
	{QC_RULE_STRICT, FL, "0", LIM(0, L100), LIM(1, 2), 5, FIT, 0},
	{QC_RULE_STRICT, FL, "0", LIM(0, L100), LIM(2, 2), 5, OVER, 0},
	{QC_RULE_STRICT, FL, "0", NONE, NONE, 5, NOQ, 0},
	/* used near UINT64_MAX: the window's top end saturates. */
	{QC_RULE_STRICT, FL, "0", LIM(MAX - 1023, MAX), NONE, 1, FIT, W},
	{QC_RULE_STRICT, FL, "0", LIM(MAX, MAX), NONE, 1, OVER, 0},
	{QC_RULE_STRICT, FL, "0", LIM(0, MAX), NONE, MAX, FIT, W},

	/* cyrus (lmtpd, lmtp_strict_quota: no): the size does not count. */
	{QC_RULE_CYRUS, FL, "0", LIM(0, L100), NONE, 10 * L100, FIT, 0},
	{QC_RULE_CYRUS, FL, "0", LIM(0, L100), NONE, MAX, FIT, 0},
	{QC_RULE_CYRUS, FL, "0", LIM(L100 - K, L100), NONE, L100, FIT, 0},
	/* Reported at the limit: exactly at it (fits) or up to 1023 over. */
	{QC_RULE_CYRUS, FL, "0", LIM(L100, L100), NONE, 1, FIT, W},
	{QC_RULE_CYRUS, FL, "0", LIM(L100 + K, L100), NONE, 1, OVER, 0},
	{QC_RULE_CYRUS, FL, "0", LIM(0, 0), NONE, 1, FIT, W},
	{QC_RULE_CYRUS, EX, "0", LIM(L100, L100), NONE, 1, FIT, 0},
	{QC_RULE_CYRUS, EX, "0", LIM(L100 + 1, L100), NONE, 1, OVER, 0},
	/* Messages: at most the limit before this one. */
	{QC_RULE_CYRUS, FL, "0", NONE, LIM(2, 2), 5, FIT, 0},
	{QC_RULE_CYRUS, FL, "0", NONE, LIM(3, 2), 5, OVER, 0},
	{QC_RULE_CYRUS, FL, "0", NONE, LIM(0, 0), 5, FIT, 0},
	{QC_RULE_CYRUS, FL, "0", LIM(0, L100), LIM(3, 2), 5, OVER, 0},
	{QC_RULE_CYRUS, FL, "0", LIM(MAX, MAX), LIM(MAX, MAX), MAX, FIT, 0},
	{QC_RULE_CYRUS, FL, "0", NONE, NONE, 5, NOQ, 0},

	/* dovecot on exact figures: used < L and used + s <= L + grace. */
	{QC_RULE_DOVECOT, EX, "0", LIM(0, 1000), NONE, 1000, FIT, 0},
	{QC_RULE_DOVECOT, EX, "0", LIM(0, 1000), NONE, 1001, BIG, 0},
	{QC_RULE_DOVECOT, EX, "0", LIM(999, 1000), NONE, 1, FIT, 0},
	{QC_RULE_DOVECOT, EX, "0", LIM(999, 1000), NONE, 2, OVER, 0},
	{QC_RULE_DOVECOT, EX, "0", LIM(1000, 1000), NONE, 0, OVER, 0},
	{QC_RULE_DOVECOT, EX, "10%", LIM(999, 1000), NONE, 101, FIT, 0},
	{QC_RULE_DOVECOT, EX, "10%", LIM(999, 1000), NONE, 102, OVER, 0},
	{QC_RULE_DOVECOT, EX, "10%", LIM(1000, 1000), NONE, 1, OVER, 0},
	{QC_RULE_DOVECOT, EX, "10%", LIM(0, 1000), NONE, 1100, FIT, 0},
	{QC_RULE_DOVECOT, EX, "10%", LIM(0, 1000), NONE, 1101, BIG, 0},
	{QC_RULE_DOVECOT, EX, "512K", LIM(999, 1000), NONE, 512 * K + 1, FIT, 0},
	{QC_RULE_DOVECOT, EX, "512K", LIM(999, 1000), NONE, 512 * K + 2, OVER, 0},
	{QC_RULE_DOVECOT, EX, "0", NONE, LIM(1, 2), 5, FIT, 0},
	{QC_RULE_DOVECOT, EX, "0", NONE, LIM(2, 2), 5, OVER, 0},
	{QC_RULE_DOVECOT, EX, "0", NONE, LIM(0, 0), 5, OVER, 0},
	/* A limit + grace past UINT64_MAX saturates instead of wrapping. */
	{QC_RULE_DOVECOT, EX, "10%", LIM(0, MAX), NONE, MAX, FIT, 0},
	{QC_RULE_DOVECOT, EX, "1000%", LIM(MAX - 1, MAX), NONE, 1, FIT, 0},
	{QC_RULE_DOVECOT, EX, "18446744073709551615", LIM(1, 2), NONE, MAX, OVER, 0},
	{QC_RULE_DOVECOT, EX, "17179869183G", LIM(1, 2), NONE, MAX, BIG, 0},
	/*
	 * dovecot on Dovecot figures (used and limit rounded up): used is
	 * in (U - 1024, U], the limit in (L - 1024, L]; 10% of the limit.
	 * Best end: 112640 - 50177 = 62463; worst end: 101377 + 10137 -
	 * 51200 = 60314.
	 */
	{QC_RULE_DOVECOT, CE, "10%", LIM(50 * K, L100), NONE, 60314, FIT, 0},
	{QC_RULE_DOVECOT, CE, "10%", LIM(50 * K, L100), NONE, 60315, FIT, W},
	{QC_RULE_DOVECOT, CE, "10%", LIM(50 * K, L100), NONE, 62463, FIT, W},
	{QC_RULE_DOVECOT, CE, "10%", LIM(50 * K, L100), NONE, 62464, OVER, 0},
	/* "STORAGE 100 100" may still take a message: used can be L - 1023. */
	{QC_RULE_DOVECOT, CE, "10%", LIM(L100, L100), NONE, 1, FIT, W},
	{QC_RULE_DOVECOT, CE, "0", LIM(L100, L100), NONE, 1023, FIT, W},
	{QC_RULE_DOVECOT, CE, "0", LIM(L100, L100), NONE, 1024, OVER, 0},
	{QC_RULE_DOVECOT, CE, "10%", LIM(L100 + K, L100), NONE, 1, OVER, 0},
	{QC_RULE_DOVECOT, CE, "0", LIM(0, L100), NONE, L100 - 1023, FIT, 0},
	{QC_RULE_DOVECOT, CE, "0", LIM(0, L100), NONE, L100, FIT, W},
	{QC_RULE_DOVECOT, CE, "0", LIM(0, L100), NONE, L100 + 1, BIG, 0},
	{QC_RULE_DOVECOT, CE, "10%", LIM(0, L100), NONE, 112640, FIT, W},
	{QC_RULE_DOVECOT, CE, "10%", LIM(0, L100), NONE, 112641, BIG, 0},
	{QC_RULE_DOVECOT, CE, "10%", LIM(K, L100), LIM(2, 2), 1, OVER, 0},
	{QC_RULE_DOVECOT, CE, "10%", LIM(0, 0), NONE, 1, BIG, 0},
	{QC_RULE_DOVECOT, CE, "10%", NONE, NONE, 1, NOQ, 0},
};

Test(decide_rule, table)
{
	for (size_t i = 0; i < sizeof(rule_rows) / sizeof(rule_rows[0]); i++) {
		const struct rule_row *row = &rule_rows[i];
		qc_rule_t *rule;
		struct qc_quota q;
		enum qc_verdict v;
		unsigned int flags = 99;

		cr_assert_eq(qc_rule_new(row->kind, &rule), QC_OK);
		cr_assert_eq(qc_rule_set_rounding(rule, row->rounding), QC_OK);
		cr_assert_eq(qc_rule_set_grace(rule, row->grace), QC_OK,
			     "row %zu: grace %s", i, row->grace);
		memset(&q, 0, sizeof(q));
		q.storage = row->storage;
		q.messages = row->messages;
		cr_assert_eq(qc_decide_rule(rule, &q, row->size, &v, &flags),
			     QC_OK);
		cr_expect_eq(v, row->expect, "row %zu (%s): got %s, expected "
			     "%s", i, qc_quota_rule_name(row->kind),
			     qc_verdict_name(v), qc_verdict_name(row->expect));
		cr_expect_eq(flags == QC_DECISION_IN_WINDOW, row->window,
			     "row %zu (%s): window flag %u, expected %d", i,
			     qc_quota_rule_name(row->kind), flags, row->window);
		qc_rule_free(rule);
	}
}

/* Inside the window the answer must lean towards accepting: whenever the
 * exact figures at either end of the window accept, so does the rule. */
Test(decide_rule, window_never_refuses_what_an_exact_figure_accepts)
{
	static const enum qc_quota_rule kinds[] = {
		QC_RULE_STRICT, QC_RULE_CYRUS, QC_RULE_DOVECOT
	};
	static const uint64_t sizes[] = {1, 700, 1023, 1024, 51200, 102400,
					 112640, 112641, 204800};

	for (size_t k = 0; k < 3; k++) {
		qc_rule_t *rounded, *exact;

		cr_assert_eq(qc_rule_new(kinds[k], &rounded), QC_OK);
		cr_assert_eq(qc_rule_new(kinds[k], &exact), QC_OK);
		qc_rule_set_rounding(exact, QC_ROUNDING_EXACT);
		for (uint64_t kib = 0; kib <= 101; kib++) {
			for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
				struct qc_quota shown, truth;
				enum qc_verdict vs, vt;
				uint64_t used = kib * K;
				/* A true usage the figure can stand for. */
				uint64_t real = kinds[k] == QC_RULE_DOVECOT ?
						(kib ? used - 1023 : 0) : used + 1023;

				memset(&shown, 0, sizeof(shown));
				shown.storage = (struct qc_usage)LIM(used, L100);
				truth = shown;
				truth.storage.used = real;
				qc_decide_rule(rounded, &shown, sizes[s], &vs, NULL);
				qc_decide_rule(exact, &truth, sizes[s], &vt, NULL);
				if (vt == QC_VERDICT_FITS)
					cr_expect_eq(vs, QC_VERDICT_FITS,
						     "%s used=%" PRIu64 "K size=%" PRIu64,
						     qc_quota_rule_name(kinds[k]),
						     kib, sizes[s]);
			}
		}
		qc_rule_free(rounded);
		qc_rule_free(exact);
	}
}

Test(decide_rule, defaults_and_bad_arguments)
{
	qc_rule_t *rule = NULL;
	struct qc_quota q;
	enum qc_verdict v;
	unsigned int flags;

	memset(&q, 0, sizeof(q));
	q.storage = (struct qc_usage)LIM(0, 1000);
	cr_expect_eq(qc_rule_new((enum qc_quota_rule)3, &rule),
		     QC_ERR_INVALID);
	cr_expect_eq(qc_rule_new(QC_RULE_STRICT, NULL), QC_ERR_INVALID);
	cr_expect_eq(qc_decide_rule(NULL, &q, 1, &v, &flags), QC_ERR_INVALID);
	qc_rule_free(NULL);

	/* dovecot: 10% grace and Dovecot rounding by default. */
	cr_assert_eq(qc_rule_new(QC_RULE_DOVECOT, &rule), QC_OK);
	cr_expect_eq(qc_rule_kind(rule), QC_RULE_DOVECOT);
	q.storage = (struct qc_usage)LIM(0, L100);
	cr_expect_eq(qc_decide_rule(rule, &q, 112640, &v, &flags), QC_OK);
	cr_expect_eq(v, QC_VERDICT_FITS);
	cr_expect_eq(flags, QC_DECISION_IN_WINDOW);
	cr_expect_eq(qc_decide_rule(rule, &q, 112641, &v, NULL), QC_OK);
	cr_expect_eq(v, QC_VERDICT_TOO_LARGE);
	cr_expect_eq(qc_decide_rule(rule, NULL, 1, &v, NULL), QC_ERR_INVALID);
	cr_expect_eq(qc_decide_rule(rule, &q, 1, NULL, NULL), QC_ERR_INVALID);
	cr_expect_eq(qc_rule_set_rounding(rule, (enum qc_rounding)7),
		     QC_ERR_INVALID);
	qc_rule_free(rule);

	/* cyrus: Cyrus rounding by default. */
	cr_assert_eq(qc_rule_new(QC_RULE_CYRUS, &rule), QC_OK);
	q.storage = (struct qc_usage)LIM(L100, L100);
	cr_expect_eq(qc_decide_rule(rule, &q, 1, &v, &flags), QC_OK);
	cr_expect_eq(v, QC_VERDICT_FITS);
	cr_expect_eq(flags, QC_DECISION_IN_WINDOW);
	qc_rule_free(rule);

	/* strict: Cyrus rounding by default, so a figure right at the free
	 * space is in the window (and fits) rather than exact. */
	cr_assert_eq(qc_rule_new(QC_RULE_STRICT, &rule), QC_OK);
	q.storage = (struct qc_usage)LIM(0, L100);
	cr_expect_eq(qc_decide_rule(rule, &q, L100, &v, &flags), QC_OK);
	cr_expect_eq(v, QC_VERDICT_FITS);
	cr_expect_eq(flags, QC_DECISION_IN_WINDOW);
	qc_rule_free(rule);
}

struct grace_row {
	const char *text;
	int ok;
	uint64_t limit, bytes; /* grace in bytes for this limit */
};

static const struct grace_row grace_rows[] = {
	{"0", 1, 1000, 0},
	{"0%", 1, 1000, 0},
	{"10%", 1, 1000, 100},
	{"10%", 1, 1009, 100},          /* rounded down, as Dovecot does */
	{"10%", 1, 101377, 10137},
	{"1000%", 1, 1000, 10000},
	{"10%", 1, MAX, MAX / 10},      /* no overflow in limit * 10 */
	{"1000%", 1, MAX, MAX},         /* saturates */
	{"512", 1, 1000, 512},
	{"512B", 1, 1000, 512},
	{"512K", 1, 1000, 512 * 1024},
	{"10M", 1, 0, 10u * 1024 * 1024},
	{"10m", 1, 0, 10u * 1024 * 1024},
	{"1G", 1, 0, 1024u * 1024 * 1024},
	{"2T", 1, 0, 2ull << 40},
	{"18446744073709551615", 1, 0, MAX},
	{"1001%", 0, 0, 0},
	{"18446744073709551616", 0, 0, 0},
	{"16777216T", 0, 0, 0},        /* 2^64 */
	{"", 0, 0, 0},
	{"%", 0, 0, 0},
	{"10%%", 0, 0, 0},
	{"-1", 0, 0, 0},
	{" 10%", 0, 0, 0},
	{"10 %", 0, 0, 0},
	{"10X", 0, 0, 0},
	{"10KB", 0, 0, 0},
	{"ten", 0, 0, 0},
};

Test(decide_rule, grace_syntax_and_bytes)
{
	for (size_t i = 0; i < sizeof(grace_rows) / sizeof(grace_rows[0]); i++) {
		struct qc_rule rule;

		qc_rule_init(&rule, QC_RULE_DOVECOT);
		cr_expect_eq(qc_rule_set_grace(&rule, grace_rows[i].text),
			     grace_rows[i].ok ? QC_OK : QC_ERR_INVALID,
			     "row %zu: \"%s\"", i, grace_rows[i].text);
		if (grace_rows[i].ok)
			cr_expect_eq(qc_rule_grace_bytes(&rule,
							 grace_rows[i].limit),
				     grace_rows[i].bytes, "row %zu: \"%s\"",
				     i, grace_rows[i].text);
		else /* unchanged: still the default 10% */
			cr_expect_eq(qc_rule_grace_bytes(&rule, 1000), 100,
				     "row %zu", i);
	}
	cr_expect_eq(qc_rule_set_grace(NULL, "10%"), QC_ERR_INVALID);
	{
		struct qc_rule r;

		qc_rule_init(&r, QC_RULE_DOVECOT);
		cr_expect_eq(qc_rule_set_grace(&r, NULL), QC_ERR_INVALID);
	}
}

Test(decide_rule, names)
{
	enum qc_quota_rule kind;

	cr_expect_str_eq(qc_quota_rule_name(QC_RULE_STRICT), "strict");
	cr_expect_str_eq(qc_quota_rule_name(QC_RULE_CYRUS), "cyrus");
	cr_expect_str_eq(qc_quota_rule_name(QC_RULE_DOVECOT), "dovecot");
	cr_expect_str_eq(qc_quota_rule_name((enum qc_quota_rule)9), "unknown");
	cr_expect_eq(qc_quota_rule_parse("cyrus", &kind), QC_OK);
	cr_expect_eq(kind, QC_RULE_CYRUS);
	cr_expect_eq(qc_quota_rule_parse("dovecot", &kind), QC_OK);
	cr_expect_eq(kind, QC_RULE_DOVECOT);
	cr_expect_eq(qc_quota_rule_parse("Cyrus", &kind), QC_ERR_INVALID);
	cr_expect_eq(qc_quota_rule_parse("", &kind), QC_ERR_INVALID);
	cr_expect_eq(qc_quota_rule_parse(NULL, &kind), QC_ERR_INVALID);
}

Test(errors, every_code_has_a_sentence_and_name)
{
	static const int codes[] = {
#define CODE(name, value, text) name,
		QC_ERRORS(CODE)
#undef CODE
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		cr_expect_neq(strcmp(qc_strerror(codes[i]),
				     "unknown libquotachk error code"), 0);
		cr_expect_eq(strncmp(qc_error_name(codes[i]), "QC_", 3), 0);
	}
	cr_expect_str_eq(qc_strerror(12345), "unknown libquotachk error code");
	cr_expect_str_eq(qc_error_name(QC_ERR_TIMEOUT), "QC_ERR_TIMEOUT");
	cr_expect_str_eq(qc_verdict_name(QC_VERDICT_OVER_QUOTA), "overquota");
}

Test(version, runtime_matches_header)
{
	cr_expect_eq(qc_version(), QC_VERSION_NUM);
	cr_expect_str_eq(qc_version_string(), QC_VERSION_STRING);
}
