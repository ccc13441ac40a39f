/* test_address.c - recipient -> mailbox mapping and templates. */
#include <criterion/criterion.h>

#include "qc_private.h"

struct row {
	const char *format, *delimiter, *domains, *address;
	const char *authzid;
	char separator;
	int ret, checked;
	const char *mailbox;
};

static const struct row rows[] = {
	{"auto", "+", "", "alice@example.test", "", '.', QC_OK, 1, "user.alice"},
	{"auto", "+", "", "alice@example.test", "", '/', QC_OK, 1, "user/alice"},
	{"auto", "+", "", "Bob+Tag@Example.TEST", "", '.', QC_OK, 1, "user.bob"},
	{"auto", "+", "", "john.doe@x.test", "", '.', QC_OK, 1, "user.john^doe"},
	{"auto", "+", "", "john.doe@x.test", "", '/', QC_OK, 1, "user/john.doe"},
	{"auto", "+-", "", "bob-lists@x.test", "", '.', QC_OK, 1, "user.bob"},
	{"auto", "+", "", "+tag@x.test", "", '.', QC_OK, 1, "user.+tag"},
	{"user.%u", "+", "", "ALICE@x.test", "", 0, QC_OK, 1, "user.alice"},
	{"user/%u@%d", "+", "", "Bob+x@Example.Test", "", 0, QC_OK, 1,
	 "user/bob@example.test"},
	{"user.%u@%d", "+", "", "bob@example.test.", "", 0, QC_OK, 1,
	 "user.bob@example.test"},
	{"INBOX", "+", "", "bob@example.test", "", 0, QC_OK, 1, "INBOX"},
	{"%a", "+", "", "bob@example.test", "", 0, QC_OK, 1, "bob@example.test"},
	{"100%%/%u", "+", "", "bob@example.test", "", 0, QC_OK, 1, "100%/bob"},
	{"user.%u", "+", "", "bob", "", 0, QC_OK, 1, "user.bob"},
	{"user.%u@%d", "+", "", "bob", "", 0, QC_ERR_ADDRESS, 1, NULL},
	{"user.%u", "+", "example.test", "bob@other.test", "", 0, QC_OK, 0, NULL},
	{"user.%u", "+", "a.test, example.test", "bob@EXAMPLE.test", "", 0, QC_OK,
	 1, "user.bob"},
	{"user.%u", "+", ".example.test", "bob@mx.example.test", "", 0, QC_OK, 1,
	 "user.bob"},
	{"user.%u", "+", "", "@example.test", "", 0, QC_ERR_ADDRESS, 1, NULL},
	{"user.%u", "+", "", "bob@", "", 0, QC_ERR_ADDRESS, 1, NULL},
	{"user.%u", "+", "", "", "", 0, QC_ERR_ADDRESS, 1, NULL},
	{"user.%u", "+", "", "b\r\nQ9 DELETE x@x.test", "", 0, QC_ERR_ADDRESS, 1,
	 NULL},
	{"user.%u", "+", "", "caf\xc3\xa9@x.test", "", 0, QC_ERR_ADDRESS, 1, NULL},
	{"user.%u", "+", "", "a\"b\\c{5}@x.test", "", 0, QC_OK, 1,
	 "user.a\"b\\c{5}"},
	{"user.%u", "+", "", "\"a@b\"@x.test", "", 0, QC_OK, 1, "user.\"a@b\""},
	/* Logged in as the recipient: auto asks for the login's INBOX. */
	{"auto", "+", "", "Bob+x@example.test", "%u", '.', QC_OK, 1, "INBOX"},
	{"auto", "+", "", "bob@example.test", "%a", 0, QC_OK, 1, "INBOX"},
	{"auto", "+", "", "bob@example.test", "qcadmin", '/', QC_OK, 1,
	 "user/bob"},
	/*
	 * A local part never names a folder of another mailbox (issue 8.4):
	 * on a "." server a dot is written "^" as Cyrus does, whether the
	 * format is auto or explicit (the separator is the one before %u);
	 * a "/" cannot be written in a user name on a "/" server: refused.
	 */
	{"user.%u", "+", "", "bob.smith@x.test", "", 0, QC_OK, 1,
	 "user.bob^smith"},
	{"user.%u", "+", "", "bob.smith@x.test", "", '/', QC_OK, 1,
	 "user.bob^smith"},
	{"user.%u@%d", "+", "", "Bob.Smith@Example.Test", "", 0, QC_OK, 1,
	 "user.bob^smith@example.test"},
	{"user.%u", "+", "", "bob.@x.test", "", 0, QC_OK, 1, "user.bob^"},
	{"user/%u", "+", "", "bob/x@x.test", "", 0, QC_ERR_ADDRESS, 1, NULL},
	{"user/%u@%d", "+", "", "bob/x@example.test", "", 0, QC_ERR_ADDRESS, 1,
	 NULL},
	{"user/%u@%d", "+", "", "bob@example.test/x", "", 0, QC_ERR_ADDRESS, 1,
	 NULL},
	{"auto", "+", "", "bob/x@x.test", "", '/', QC_ERR_ADDRESS, 1, NULL},
	{"auto", "+", "", "/x@x.test", "", '/', QC_ERR_ADDRESS, 1, NULL},
	{"user/%u", "+", "", "frank.smith@x.test", "", 0, QC_OK, 1,
	 "user/frank.smith"},
	/* Harmless on the other kind of server: */
	{"auto", "+", "", "bob/x@x.test", "", '.', QC_OK, 1, "user.bob/x"},
	{"user.%u", "+", "", "bob/x@x.test", "", 0, QC_OK, 1, "user.bob/x"},
};

Test(address, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		qc_config_t *cfg;
		char mailbox[QC_MAILBOX_MAX] = "";
		int checked = -1, ret;

		cr_assert_eq(qc_config_new(&cfg), QC_OK);
		cr_assert_eq(qc_config_set(cfg, "mailbox_format", r->format),
			     QC_OK);
		cr_assert_eq(qc_config_set(cfg, "recipient_delimiter",
					   r->delimiter), QC_OK);
		cr_assert_eq(qc_config_set(cfg, "domains", r->domains), QC_OK);
		cr_assert_eq(qc_config_set(cfg, "imap_authzid", r->authzid),
			     QC_OK);
		ret = qc_address_to_mailbox(cfg, r->address, r->separator,
					    mailbox, sizeof(mailbox), &checked);
		cr_expect_eq(ret, r->ret, "row %zu: %s: ret %d (%s), wanted %d",
			     i, r->address, ret, ret == QC_OK ? mailbox : "-",
			     r->ret);
		if (ret == QC_OK) {
			cr_expect_eq(checked, r->checked, "row %zu", i);
			if (r->mailbox != NULL)
				cr_expect_str_eq(mailbox, r->mailbox,
						 "row %zu: %s -> %s, wanted %s",
						 i, r->address, mailbox,
						 r->mailbox);
		}
		qc_config_free(cfg);
	}
}

Test(address, too_long_is_refused)
{
	char address[600], mailbox[64];
	qc_config_t *cfg;
	int checked;

	memset(address, 'a', 300);
	strcpy(address + 300, "@x.test");
	cr_assert_eq(qc_config_new(&cfg), QC_OK);
	cr_assert_eq(qc_config_set(cfg, "mailbox_format", "user.%u"), QC_OK);
	cr_expect_eq(qc_address_to_mailbox(cfg, address, 0, mailbox,
					   sizeof(mailbox), &checked),
		     QC_ERR_ADDRESS);
	cr_expect_eq(qc_address_to_mailbox(cfg, "abc@x.test", 0, mailbox, 8,
					   &checked), QC_ERR_ADDRESS);
	qc_config_free(cfg);
}
