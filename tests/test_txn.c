/*
 * test_txn.c - the message a Postfix connection is in
 * (tools/policyd/txn.c) and which actions let a recipient through
 * (reply_action_refuses, tools/policyd/reply.c): together they decide
 * which mailboxes an accepted message is counted on.
 */
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>

#include "policyd/reply.h"
#include "policyd/txn.h"

Test(txn, counts_the_let_through_mailboxes_once)
{
	struct txn t;

	txn_init(&t);
	cr_assert_eq(txn_rcpt(&t, "m1", "alice@x", 1), 0);
	cr_assert_eq(txn_rcpt(&t, "m1", NULL, 1), 0);      /* no quota */
	cr_assert_eq(txn_rcpt(&t, "m1", NULL, 0), 0);      /* refused */
	cr_assert_eq(txn_rcpt(&t, "m1", "alice@x", 1), 0); /* alice+tag */
	cr_assert_eq(t.nkeys, 1, "one mailbox, one copy");
	cr_assert_str_eq(t.keys[0], "alice@x");
	cr_assert_eq(t.let_through, 3);
	cr_assert(txn_complete(&t, "m1", 3));
	txn_clear(&t);
	cr_assert_eq(t.nkeys, 0);
	cr_assert_str_eq(t.instance, "");
}

Test(txn, a_later_refusal_means_nothing_is_counted)
{
	struct txn t;

	txn_init(&t);
	txn_rcpt(&t, "m1", "alice@x", 1);
	txn_rcpt(&t, "m1", "bob@x", 1);
	cr_assert_not(txn_complete(&t, "m1", 1),
		      "Postfix refused one of the two: which is unknown");
	cr_assert_not(txn_complete(&t, "m1", 3),
		      "recipients the daemon never saw");
	cr_assert(txn_complete(&t, "m1", 2));
	txn_clear(&t);
}

Test(txn, another_message_starts_afresh)
{
	struct txn t;

	txn_init(&t);
	/* RCPT, then RSET: the next message has another instance. */
	txn_rcpt(&t, "m1", "alice@x", 1);
	txn_rcpt(&t, "m2", "bob@x", 1);
	cr_assert_eq(t.nkeys, 1);
	cr_assert_str_eq(t.keys[0], "bob@x");
	cr_assert_not(txn_complete(&t, "m1", 1), "m1 ended without DATA");
	cr_assert(txn_complete(&t, "m2", 1));
	txn_clear(&t);
}

Test(txn, no_instance_no_message)
{
	struct txn t;

	txn_init(&t);
	txn_rcpt(&t, "", "alice@x", 1);
	cr_assert_eq(t.nkeys, 0);
	cr_assert_not(txn_complete(&t, "", 0));
	cr_assert_not(txn_complete(&t, "", 1));
	txn_clear(&t);
}

Test(txn, bounded)
{
	struct txn t;
	char key[32];

	txn_init(&t);
	for (int i = 0; i < TXN_RECIPIENTS_MAX + 5; i++) {
		snprintf(key, sizeof(key), "u%d@x", i);
		cr_assert_eq(txn_rcpt(&t, "m", key, 1), 0);
	}
	cr_assert_eq(t.nkeys, TXN_RECIPIENTS_MAX);
	cr_assert_not(txn_complete(&t, "m", TXN_RECIPIENTS_MAX + 5),
		      "some mailboxes were not remembered");
	txn_clear(&t);
}

struct refuse_case {
	const char *text;
	int refuses;
};

Test(reply, which_actions_refuse)
{
	static const struct refuse_case cases[] = {
		{"DUNNO", 0}, {"dunno", 0}, {"OK", 0}, {"PREPEND X-Q: 1", 0},
		{"HOLD", 0}, {"WARN full", 0}, {"DEFER_IF_REJECT x", 0},
		{"REDIRECT a@x", 0}, {"FILTER smtp:x", 0},
		{"452 4.2.2 Mailbox full", 1}, {"552 5.2.3 Too big", 1},
		{"450", 1}, {"REJECT", 1}, {"reject full", 1}, {"DEFER", 1},
		{"DEFER_IF_PERMIT Service unavailable", 1},
		{"DISCARD", 1}, {"REJECTED", 0}, {"4x2 no", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(reply_action_refuses(cases[i].text),
			     cases[i].refuses, "\"%s\"", cases[i].text);
}
