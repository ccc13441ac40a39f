/*
 * test_imap_parse.c - response framing and the QUOTAROOT/QUOTA/LIST
 * parsers, on real server transcripts and on hand-made edge cases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <criterion/criterion.h>

#include "qc_private.h"

#ifndef TRANSCRIPT_DIR
#define TRANSCRIPT_DIR "tests/data/transcripts"
#endif

/*
 * From a curl -v transcript, the server lines ("< ") answering the first
 * "> TAG GETQUOTAROOT" command, joined with CRLF as they came.
 */
static size_t
load_exchange(const char *file, char *tag, char *buf, size_t size)
{
	char path[512], line[4096];
	FILE *fp;
	size_t len = 0;
	int in_exchange = 0;

	snprintf(path, sizeof(path), "%s/%s", TRANSCRIPT_DIR, file);
	fp = fopen(path, "r");
	cr_assert_not_null(fp, "%s", path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!in_exchange) {
			if (sscanf(line, "> %15s GETQUOTAROOT", tag) == 1 &&
			    strstr(line, "GETQUOTAROOT") != NULL)
				in_exchange = 1;
			continue;
		}
		if (strncmp(line, "< ", 2) != 0)
			continue;
		len += (size_t)snprintf(buf + len, size - len, "%s\r\n",
					line + 2);
		if (strncmp(line + 2, tag, strlen(tag)) == 0)
			break;
	}
	fclose(fp);
	cr_assert(in_exchange, "%s: no GETQUOTAROOT exchange", file);
	return len;
}

struct transcript_row {
	const char *file;
	int ret;
	enum qc_verdict verdict;
	int storage_limited;
	uint64_t used, limit;
	int messages_limited;
	uint64_t msg_used, msg_limit;
	const char *root;
};

#define K 1024ull
static const struct transcript_row transcripts[] = {
	{"cyrus-getquotaroot-under-quota.txt", QC_OK, QC_VERDICT_FITS,
	 1, 300 * K, 1000 * K, 0, 0, 0, "user.alice"},
	{"cyrus-getquotaroot-over-quota.txt", QC_OK, QC_VERDICT_FITS,
	 1, 300 * K, 100 * K, 0, 0, 0, "user.bob"},
	{"cyrus-getquotaroot-message-quota.txt", QC_OK, QC_VERDICT_FITS,
	 1, 3 * K, 5000 * K, 1, 3, 2, "user.dave"},
	{"cyrus-getquotaroot-no-quota.txt", QC_OK, QC_VERDICT_NO_QUOTA,
	 0, 0, 0, 0, 0, 0, ""},
	{"cyrus-getquotaroot-nonexistent.txt", QC_OK, QC_VERDICT_NO_MAILBOX,
	 0, 0, 0, 0, 0, 0, ""},
	{"cyrus-dot-vd-getquotaroot-domain-user.txt", QC_OK, QC_VERDICT_FITS,
	 1, 200 * K, 50 * K, 0, 0, 0, "user.bob@example.test"},
	{"cyrus-slash-vd-getquotaroot-domain-user.txt", QC_OK,
	 QC_VERDICT_FITS, 1, 200 * K, 50 * K, 0, 0, 0,
	 "user/bob@example.test"},
	{"cyrus-slash-vd-getquotaroot-dot-name-rejected.txt", QC_OK,
	 QC_VERDICT_NO_MAILBOX, 0, 0, 0, 0, 0, 0, ""},
	{"cyrus-slash-vd-getquotaroot-plain-user.txt", QC_OK, QC_VERDICT_FITS,
	 1, 300 * K, 1000 * K, 0, 0, 0, "user/alice"},
	{"dovecot-master-star-getquotaroot-under-quota.txt", QC_OK,
	 QC_VERDICT_FITS, 1, 300 * K, 1000 * K, 0, 0, 0, "User quota"},
	{"dovecot-master-star-getquotaroot-over-quota.txt", QC_OK,
	 QC_VERDICT_FITS, 1, 300 * K, 100 * K, 0, 0, 0, "User quota"},
	{"dovecot-master-star-getquotaroot-message-quota.txt", QC_OK,
	 QC_VERDICT_FITS, 1, 3 * K, 5000 * K, 1, 3, 2, "User quota"},
	{"dovecot-master-star-getquotaroot-no-quota.txt", QC_OK,
	 QC_VERDICT_NO_QUOTA, 0, 0, 0, 0, 0, 0, ""},
	{"dovecot-sasl-authzid-getquotaroot-over-quota.txt", QC_OK,
	 QC_VERDICT_FITS, 1, 300 * K, 100 * K, 0, 0, 0, "User quota"},
	{"murder-frontend-getquotaroot-alice.txt", QC_OK, QC_VERDICT_FITS,
	 1, 148 * K, 1000 * K, 0, 0, 0, "user.alice"},
	{"murder-frontend-getquotaroot-nonexistent.txt", QC_OK,
	 QC_VERDICT_NO_MAILBOX, 0, 0, 0, 0, 0, 0, ""},
	{"murder-frontend-backend-down.txt", QC_ERR_SERVER, 0,
	 0, 0, 0, 0, 0, 0, ""},
	{"cyrus-user-getquotaroot-inbox.txt", QC_OK, QC_VERDICT_FITS,
	 1, 300 * K, 1000 * K, 0, 0, 0, "INBOX"},
};

Test(quota_parse, real_transcripts)
{
	for (size_t i = 0; i < sizeof(transcripts) / sizeof(transcripts[0]);
	     i++) {
		const struct transcript_row *r = &transcripts[i];
		char buf[8192], tag[16], errtext[200];
		struct qc_quota q;
		enum qc_verdict verdict = (enum qc_verdict)-1;
		size_t len = load_exchange(r->file, tag, buf, sizeof(buf));
		int ret = qc_quota_parse(buf, len, tag, "mbox", &q, &verdict,
					 errtext, sizeof(errtext));

		cr_expect_eq(ret, r->ret, "%s: ret %d (%s)", r->file, ret,
			     errtext);
		if (ret != QC_OK)
			continue;
		cr_expect_eq(verdict, r->verdict, "%s: verdict %s", r->file,
			     qc_verdict_name(verdict));
		cr_expect_eq(q.storage.limited, r->storage_limited, "%s",
			     r->file);
		cr_expect_eq(q.storage.used, r->used, "%s", r->file);
		cr_expect_eq(q.storage.limit, r->limit, "%s", r->file);
		cr_expect_eq(q.messages.limited, r->messages_limited, "%s",
			     r->file);
		cr_expect_eq(q.messages.used, r->msg_used, "%s", r->file);
		cr_expect_eq(q.messages.limit, r->msg_limit, "%s", r->file);
		cr_expect_str_eq(q.root, r->root, "%s", r->file);
	}
}

Test(quota_parse, backend_down_is_an_error_with_the_server_text)
{
	char buf[8192], tag[16], errtext[200];
	struct qc_quota q;
	enum qc_verdict v;
	size_t len = load_exchange("murder-frontend-backend-down.txt", tag,
				   buf, sizeof(buf));

	cr_expect_eq(qc_quota_parse(buf, len, tag, "m", &q, &v, errtext,
				    sizeof(errtext)), QC_ERR_SERVER);
	cr_expect_not_null(strstr(errtext, "Server(s) unavailable"));
}

struct edge_row {
	const char *name, *resp;
	int ret;
	enum qc_verdict verdict;
	uint64_t used, limit, msg_used, msg_limit;
	const char *root;
};

#define BIG "18446744073709551615"
static const struct edge_row edges[] = {
	{"quoted root with space",
	 "* QUOTAROOT \"a b\" \"r 1\"\r\n* QUOTA \"r 1\" (STORAGE 1 2)\r\n"
	 "T1 OK done\r\n", QC_OK, QC_VERDICT_FITS, K, 2 * K, 0, 0, "r 1"},
	{"literal mailbox and root names",
	 "* QUOTAROOT {5}\r\nab cd {3}\r\nr\"1\r\n* QUOTA {3}\r\nr\"1 "
	 "(STORAGE 10 20)\r\nT1 OK done\r\n", QC_OK, QC_VERDICT_FITS,
	 10 * K, 20 * K, 0, 0, "r\"1"},
	{"unknown resources are skipped",
	 "* QUOTAROOT m m\r\n* QUOTA m (X-ANNOTATION-STORAGE 5 9 STORAGE 1 "
	 "4 X-NUM-FOLDERS 3 100 MAILBOX 2 50 ANNOTATION-STORAGE 0 1)\r\n"
	 "T1 OK\r\n", QC_OK, QC_VERDICT_FITS, K, 4 * K, 0, 0, "m"},
	{"only unknown resources: no quota",
	 "* QUOTAROOT m m\r\n* QUOTA m (X-NUM-FOLDERS 3 100)\r\nT1 OK\r\n",
	 QC_OK, QC_VERDICT_NO_QUOTA, 0, 0, 0, 0, ""},
	{"several roots: the tighter one counts",
	 "* QUOTAROOT m big small\r\n* QUOTA big (STORAGE 10 1000)\r\n"
	 "* QUOTA small (STORAGE 10 20 MESSAGE 1 100)\r\nT1 OK\r\n",
	 QC_OK, QC_VERDICT_FITS, 10 * K, 20 * K, 1, 100, "small"},
	{"unsolicited QUOTA for an unannounced root is ignored",
	 "* QUOTAROOT m m\r\n* QUOTA other (STORAGE 999 1)\r\n"
	 "* QUOTA m (STORAGE 1 5)\r\nT1 OK\r\n", QC_OK, QC_VERDICT_FITS,
	 K, 5 * K, 0, 0, "m"},
	{"duplicate QUOTAROOT: the first counts",
	 "* QUOTAROOT m m\r\n* QUOTAROOT m evil\r\n* QUOTA evil (STORAGE 0 "
	 "1)\r\n* QUOTA m (STORAGE 1 5)\r\nT1 OK\r\n", QC_OK,
	 QC_VERDICT_FITS, K, 5 * K, 0, 0, "m"},
	{"64-bit numbers, KiB scaling saturates",
	 "* QUOTAROOT m m\r\n* QUOTA m (STORAGE " BIG " " BIG " MESSAGE "
	 BIG " " BIG ")\r\nT1 OK\r\n", QC_OK, QC_VERDICT_FITS, UINT64_MAX,
	 UINT64_MAX, UINT64_MAX, UINT64_MAX, "m"},
	{"number beyond 64 bits is malformed",
	 "* QUOTAROOT m m\r\n* QUOTA m (STORAGE 18446744073709551616 1)\r\n"
	 "T1 OK\r\n", QC_ERR_ANSWER, 0, 0, 0, 0, 0, ""},
	{"other untagged lines are ignored",
	 "* OK [ALERT] hello\r\n* CAPABILITY IMAP4rev1\r\n* QUOTAROOT m m\r\n"
	 "* QUOTA m (STORAGE 1 5)\r\nT1 OK\r\n", QC_OK, QC_VERDICT_FITS, K,
	 5 * K, 0, 0, "m"},
	{"lower-case keywords", "* quotaroot m m\r\n* quota m (storage 1 5)"
	 "\r\nT1 ok\r\n", QC_OK, QC_VERDICT_FITS, K, 5 * K, 0, 0, "m"},
	{"bare LF line ends", "* QUOTAROOT m m\n* QUOTA m (STORAGE 1 5)\n"
	 "T1 OK\n", QC_OK, QC_VERDICT_FITS, K, 5 * K, 0, 0, "m"},
	{"NONEXISTENT response code", "T1 NO [NONEXISTENT] Unknown\r\n",
	 QC_OK, QC_VERDICT_NO_MAILBOX, 0, 0, 0, 0, ""},
	{"other NO is an error", "T1 NO Permission denied\r\n",
	 QC_ERR_SERVER, 0, 0, 0, 0, 0, ""},
	{"BAD", "T1 BAD Unexpected extra arguments\r\n", QC_ERR_ANSWER,
	 0, 0, 0, 0, 0, ""},
	{"BYE", "* BYE autologout\r\n", QC_ERR_CLOSED, 0, 0, 0, 0, 0, ""},
	{"wrong tag", "T9 OK\r\n", QC_ERR_PROTOCOL, 0, 0, 0, 0, 0, ""},
	{"continuation request", "+ go ahead\r\n", QC_ERR_PROTOCOL,
	 0, 0, 0, 0, 0, ""},
	{"no tagged completion", "* QUOTAROOT m m\r\n", QC_ERR_PROTOCOL,
	 0, 0, 0, 0, 0, ""},
	{"truncated line", "* QUOTAROOT m m", QC_ERR_PROTOCOL,
	 0, 0, 0, 0, 0, ""},
	{"unterminated list", "* QUOTAROOT m m\r\n* QUOTA m (STORAGE 1 5\r\n"
	 "T1 OK\r\n", QC_ERR_ANSWER, 0, 0, 0, 0, 0, ""},
	{"missing number", "* QUOTAROOT m m\r\n* QUOTA m (STORAGE 1)\r\n"
	 "T1 OK\r\n", QC_ERR_ANSWER, 0, 0, 0, 0, 0, ""},
	{"unterminated quoted name", "* QUOTAROOT \"m\r\nT1 OK\r\n",
	 QC_ERR_ANSWER, 0, 0, 0, 0, 0, ""},
	{"literal too large", "* QUOTAROOT {99999999}\r\nT1 OK\r\n",
	 QC_ERR_PROTOCOL, 0, 0, 0, 0, 0, ""},
	{"garbage", "\x01\x02garbage\r\n", QC_ERR_PROTOCOL, 0, 0, 0, 0, 0,
	 ""},
};

Test(quota_parse, edge_cases)
{
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		const struct edge_row *r = &edges[i];
		char errtext[200];
		struct qc_quota q;
		enum qc_verdict verdict = (enum qc_verdict)-1;
		int ret = qc_quota_parse(r->resp, strlen(r->resp), "T1", "m",
					 &q, &verdict, errtext,
					 sizeof(errtext));

		cr_expect_eq(ret, r->ret, "%s: ret %s (%s)", r->name,
			     qc_error_name(ret), errtext);
		if (ret != QC_OK || r->ret != QC_OK)
			continue;
		cr_expect_eq(verdict, r->verdict, "%s: %s", r->name,
			     qc_verdict_name(verdict));
		cr_expect_eq(q.storage.used, r->used, "%s", r->name);
		cr_expect_eq(q.storage.limit, r->limit, "%s", r->name);
		cr_expect_eq(q.messages.used, r->msg_used, "%s", r->name);
		cr_expect_eq(q.messages.limit, r->msg_limit, "%s", r->name);
		cr_expect_str_eq(q.root, r->root, "%s", r->name);
	}
}

Test(quota_parse, failure_text_says_what_was_wrong)
{
	char errtext[200];
	struct qc_quota q;
	enum qc_verdict v;

	cr_expect_eq(qc_quota_parse("* QUOTAROOT m m", 15, "T1", "m", &q, &v,
				    errtext, sizeof(errtext)), QC_ERR_PROTOCOL);
	cr_expect_str_eq(errtext, "truncated response");
	cr_expect_eq(qc_quota_parse("* QUOTAROOT m m\r\n", 17, "T1", "m", &q,
				    &v, errtext, sizeof(errtext)),
		     QC_ERR_PROTOCOL);
	cr_expect_str_eq(errtext, "no tagged completion");
	cr_expect_eq(qc_quota_parse("T1 NO [NONEXISTENT] gone\r\n", 26, "T1",
				    "m", &q, &v, errtext, 4), QC_OK);
	cr_expect_str_eq(errtext, "[NO");
}

Test(response_length, framing)
{
	cr_expect_eq(qc_imap_response_length("", 0), 0);
	cr_expect_eq(qc_imap_response_length("* OK", 4), 0);
	cr_expect_eq(qc_imap_response_length("* OK\r\n* X\r\n", 11), 6);
	cr_expect_eq(qc_imap_response_length("* A {3}\r\nab", 11), 0);
	cr_expect_eq(qc_imap_response_length("* A {3}\r\nabc", 12), 0);
	cr_expect_eq(qc_imap_response_length("* A {3}\r\nabc x\r\n", 16), 16);
	cr_expect_eq(qc_imap_response_length("* A {3+}\r\nabc\r\n", 15), 15);
	cr_expect_eq(qc_imap_response_length("* A {99999999}\r\n", 16), -1);
	cr_expect_eq(qc_imap_response_length("* A }\r\n", 7), 7);
	cr_expect_eq(qc_imap_response_length("{3}\r\nabc\r\n", 10), 10);
}

static int
collect(char separator, const char *name, void *ctx)
{
	char *out = ctx;
	size_t n = strlen(out);

	snprintf(out + n, 256 - n, "[%c|%s]", separator ? separator : '0',
		 name);
	return 0;
}

Test(list_parse, separator_and_names)
{
	char out[256] = "", errtext[100];
	const char *resp =
		"* LIST (\\Noselect) \".\" \"\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" user/bob@example.test\r\n"
		"* LIST () NIL {5}\r\na b c\r\n"
		"* LIST (\\X) \"\\\\\" \"x\\\"y\"\r\n"
		"Q1 OK Completed\r\n";

	cr_expect_eq(qc_list_parse(resp, strlen(resp), "Q1", collect, out,
				   errtext, sizeof(errtext)), QC_OK);
	cr_expect_str_eq(out, "[.|][/|user/bob@example.test][0|a b c]"
			 "[\\|x\"y]");
	cr_expect_eq(qc_list_parse("Q1 NO nope\r\n", 12, "Q1", collect, out,
				   errtext, sizeof(errtext)), QC_ERR_SERVER);
	cr_expect_eq(qc_list_parse("* LIST x\r\nQ1 OK\r\n", 16, "Q1", collect,
				   out, errtext, sizeof(errtext)),
		     QC_ERR_PROTOCOL);
}
