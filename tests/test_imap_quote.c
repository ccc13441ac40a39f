/* test_imap_quote.c - hostile names never leave a quoted string. */
#include <criterion/criterion.h>

#include "qc_private.h"

struct row {
	const char *name;
	int ret;
	const char *quoted;
};

static const struct row rows[] = {
	{"user.alice", QC_OK, "\"user.alice\""},
	{"user/bob@example.test", QC_OK, "\"user/bob@example.test\""},
	{"a\"b", QC_OK, "\"a\\\"b\""},
	{"a\\b", QC_OK, "\"a\\\\b\""},
	{"x\" DELETE \"user.canary", QC_OK,
	 "\"x\\\" DELETE \\\"user.canary\""},
	{"user.x {40+}", QC_OK, "\"user.x {40+}\""},
	{"user.x {5}", QC_OK, "\"user.x {5}\""},
	{"50%*", QC_OK, "\"50%*\""},
	{"", QC_OK, "\"\""},
	{"a\rb", QC_ERR_ADDRESS, NULL},
	{"a\nQ1 DELETE user.canary", QC_ERR_ADDRESS, NULL},
	{"a\tb", QC_ERR_ADDRESS, NULL},
	{"caf\xc3\xa9", QC_ERR_ADDRESS, NULL},
	{"\x7f", QC_ERR_ADDRESS, NULL},
};

Test(imap_quote, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[128];
		int ret = qc_imap_quote(rows[i].name, out, sizeof(out));

		cr_expect_eq(ret, rows[i].ret, "row %zu: ret %d", i, ret);
		if (rows[i].quoted != NULL && ret == QC_OK)
			cr_expect_str_eq(out, rows[i].quoted, "row %zu", i);
	}
}

Test(imap_quote, output_is_bounded)
{
	char out[8];

	cr_expect_eq(qc_imap_quote("abcd", out, sizeof(out)), QC_OK);
	cr_expect_str_eq(out, "\"abcd\"");
	cr_expect_eq(qc_imap_quote("abcde", out, sizeof(out)), QC_ERR_ADDRESS);
	cr_expect_eq(qc_imap_quote("ab\"c", out, sizeof(out)), QC_ERR_ADDRESS);
}

Test(imap_quote, every_byte)
{
	/* Whatever the byte, the result is a single quoted string without
	 * CR, LF or NUL, or a refusal. */
	for (int b = 1; b < 256; b++) {
		char name[4] = {'a', (char)b, 'z', '\0'}, out[16];
		int ret = qc_imap_quote(name, out, sizeof(out));

		if (b < 0x20 || b > 0x7e) {
			cr_expect_eq(ret, QC_ERR_ADDRESS, "byte %d", b);
			continue;
		}
		cr_expect_eq(ret, QC_OK, "byte %d", b);
		cr_expect_null(strpbrk(out, "\r\n"));
		cr_expect_eq(out[0], '"');
		cr_expect_eq(out[strlen(out) - 1], '"');
	}
}
