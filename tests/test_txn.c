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
#include "txn.h"

static struct txn *
get(struct txn_table *t, const char *instance, uint64_t now)
{
	return txn_table_get(t, instance, 1, now);
}

Test(txn, counts_the_let_through_mailboxes_once)
{
	struct txn_table *tab = txn_table_create(16, 1000);
	struct txn *t = get(tab, "m1", 0);

	cr_assert_not_null(t);
	cr_assert_eq(txn_rcpt(t, "alice@x", 1), 0);
	cr_assert_eq(txn_rcpt(t, NULL, 1), 0);      /* no quota */
	cr_assert_eq(txn_rcpt(t, NULL, 0), 0);      /* refused */
	cr_assert_eq(txn_rcpt(t, "alice@x", 1), 0); /* alice+tag */
	cr_assert_eq(t->nkeys, 1, "one mailbox, one copy");
	cr_assert_str_eq(t->keys[0], "alice@x");
	cr_assert_eq(t->let_through, 3);
	cr_assert(txn_complete(t, 3));
	txn_table_remove(tab, "m1");
	cr_assert_eq(txn_table_count(tab), 0);
	cr_assert_null(txn_table_get(tab, "m1", 0, 1), "removed");
	txn_table_destroy(&tab);
	cr_assert_null(tab);
}

Test(txn, a_later_refusal_means_nothing_is_counted)
{
	struct txn_table *tab = txn_table_create(16, 1000);
	struct txn *t = get(tab, "m1", 0);

	txn_rcpt(t, "alice@x", 1);
	txn_rcpt(t, "bob@x", 1);
	cr_assert_not(txn_complete(t, 1),
		      "Postfix refused one of the two: which is unknown");
	cr_assert_not(txn_complete(t, 3), "recipients the daemon never saw");
	cr_assert(txn_complete(t, 2));
	txn_table_destroy(&tab);
}

/* Found by instance, whichever connection asks: RCPT and END-OF-MESSAGE
 * may come over two.  Messages are apart by instance. */
Test(txn, messages_by_instance)
{
	struct txn_table *tab = txn_table_create(16, 1000);

	txn_rcpt(get(tab, "m1", 0), "alice@x", 1);
	txn_rcpt(get(tab, "m2", 1), "bob@x", 1);
	cr_assert_eq(txn_table_count(tab), 2);
	cr_assert_str_eq(txn_table_get(tab, "m1", 0, 2)->keys[0], "alice@x");
	cr_assert_str_eq(txn_table_get(tab, "m2", 0, 2)->keys[0], "bob@x");
	cr_assert_eq(txn_table_get(tab, "m1", 0, 2)->nkeys, 1);
	cr_assert_null(txn_table_get(tab, "m3", 0, 2), "never seen");
	cr_assert_null(txn_table_get(tab, "", 1, 2), "no instance, no message");
	txn_table_destroy(&tab);
}

/* RSET and QUIT leave messages behind: they age out, and the table
 * stays bounded, the least recently active going first. */
Test(txn, abandoned_messages_age_out_bounded)
{
	struct txn_table *tab = txn_table_create(100, 1000);
	char id[32];

	txn_rcpt(get(tab, "old", 0), "alice@x", 1);
	cr_assert_not_null(txn_table_get(tab, "old", 0, 999));
	cr_assert_null(txn_table_get(tab, "old", 0, 1999 + 1),
		       "1000 ms after its last request it is gone");
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		cr_assert_not_null(get(tab, id, 5000));
		cr_assert_leq(txn_table_count(tab), 100);
		if (i % 10 == 0) /* keep m0 active */
			cr_assert_not_null(txn_table_get(tab, "m0", 0, 5000));
	}
	cr_assert_not_null(txn_table_get(tab, "m0", 0, 5000),
			   "the active message was evicted");
	cr_assert_null(txn_table_get(tab, "m5", 0, 5000));
	cr_assert_not_null(txn_table_get(tab, "m999", 0, 5000));
	txn_table_destroy(&tab);
}

Test(txn, bounded_recipients)
{
	struct txn_table *tab = txn_table_create(4, 1000);
	struct txn *t = get(tab, "m", 0);
	char key[32];

	for (int i = 0; i < TXN_RECIPIENTS_MAX + 5; i++) {
		snprintf(key, sizeof(key), "u%d@x", i);
		cr_assert_eq(txn_rcpt(t, key, 1), 0);
	}
	cr_assert_eq(t->nkeys, TXN_RECIPIENTS_MAX);
	cr_assert_not(txn_complete(t, TXN_RECIPIENTS_MAX + 5),
		      "some mailboxes were not remembered");
	txn_table_destroy(&tab);
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
