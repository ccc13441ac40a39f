/*
 * test_mreply.c - configured actions as milter replies
 * (tools/milter/mreply.c): what libmilter's smfi_setreply() is given.
 */
#include <criterion/criterion.h>

#include "milter/mreply.h"

struct mreply_case {
	const char *action;
	enum mreply_kind kind;
	const char *rcode, *xcode, *text;
};

Test(mreply, table)
{
	static const struct mreply_case cases[] = {
		{"DUNNO", MREPLY_CONTINUE, "", "", ""},
		{"OK", MREPLY_CONTINUE, "", "", ""},
		{"PREPEND X-Quota: full", MREPLY_CONTINUE, "", "", ""},
		{"452 4.2.2 Mailbox full", MREPLY_TEMPFAIL, "452", "4.2.2",
		 "Mailbox full"},
		{"552 5.2.3 Message larger than the mailbox quota",
		 MREPLY_REJECT, "552", "5.2.3",
		 "Message larger than the mailbox quota"},
		{"451 try later", MREPLY_TEMPFAIL, "451", "", "try later"},
		{"452 5.2.2 wrong class", MREPLY_TEMPFAIL, "452", "",
		 "5.2.2 wrong class"},
		{"550", MREPLY_REJECT, "550", "", ""},
		{"REJECT full", MREPLY_REJECT, "550", "5.7.1", "full"},
		{"reject", MREPLY_REJECT, "550", "5.7.1", ""},
		{"DEFER_IF_PERMIT quota server down", MREPLY_TEMPFAIL, "450",
		 "4.7.1", "quota server down"},
		{"DEFER", MREPLY_TEMPFAIL, "450", "4.7.1", ""},
		{"DISCARD", MREPLY_DISCARD, "", "", ""},
		{"452 4.2.2 100% full", MREPLY_TEMPFAIL, "452", "4.2.2",
		 "100 full"},
		{"45 no", MREPLY_CONTINUE, "", "", ""},
		{"REJECTED", MREPLY_CONTINUE, "", "", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mreply r;

		mreply_from_action(cases[i].action, &r);
		cr_assert_eq(r.kind, cases[i].kind, "\"%s\": kind %d",
			     cases[i].action, r.kind);
		cr_assert_str_eq(r.rcode, cases[i].rcode, "\"%s\"",
				 cases[i].action);
		cr_assert_str_eq(r.xcode, cases[i].xcode, "\"%s\"",
				 cases[i].action);
		cr_assert_str_eq(r.text, cases[i].text, "\"%s\"",
				 cases[i].action);
	}
}
