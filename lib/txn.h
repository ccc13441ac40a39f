/*
 * txn.h - the messages being sent, for counting accepted mail: per
 * message, the recipients the daemon let through at RCPT, so that at
 * END-OF-MESSAGE (where Postfix names no recipient when there are
 * several) the accepted message can be counted for each of them once.
 *
 * Postfix's "instance" attribute is the same for every request of one
 * message and differs between messages (it holds the smtpd process id,
 * the time and a counter), so messages are found by instance, not by
 * connection: Postfix asks RCPT and END-OF-MESSAGE over two connections
 * when the two check_policy_service specifications differ, or when it
 * reconnected in between.  A message ended by RSET, QUIT or a refusal
 * never comes back; it ages out (the table is bounded by count and age)
 * without ever being counted.
 *
 * Pure: no I/O, no clock (the caller passes "now"); the engine owns the
 * table, under its lock.
 */
#ifndef QC_POLICYD_TXN_H
#define QC_POLICYD_TXN_H

#include <stddef.h>
#include <stdint.h>


/* Postfix's own default smtpd_recipient_limit. */
#define TXN_RECIPIENTS_MAX 1000
/*
 * The daemon's table: a message is forgotten an hour after its last
 * request (a large message over a slow link takes minutes between RCPT
 * and END-OF-MESSAGE); 65536 messages, a few MiB at most, cover more than
 * ten minutes of 100 abandoned messages a second.
 */
#define TXN_TABLE_MAX 65536
#define TXN_TTL_MS (3600 * 1000)
/* Longest message id kept, with its NUL (Postfix's are about 25). */
#define TXN_INSTANCE_MAX 64

struct txn {
	char **keys;                          /* mailboxes to count; owned */
	unsigned int nkeys, cap;
	uint64_t let_through;                 /* RCPT answers not refusing */
	unsigned int overflow:1;              /* some keys not remembered */
};

/*
 * The daemon answered an RCPT of the message: let_through says whether
 * the answer lets the recipient through (the configured action is not a
 * refusal), key names the cache entry to count the message on (NULL when
 * there is nothing to count: no quota, no mailbox, an error).  Returns -1
 * when out of memory (the message will then not be counted).
 */
int txn_rcpt(struct txn *txn, const char *key, int let_through);

/*
 * END-OF-MESSAGE with recipient_count recipients accepted by Postfix: 1
 * when txn->keys[0 .. nkeys) are exactly the mailboxes to count.  0 when
 * Postfix accepted another number of recipients than the daemon let
 * through (a later restriction refused some, and nothing says which:
 * counting a refused one would refuse good mail later, so none is
 * counted; or the daemon did not see them all).
 */
int txn_complete(const struct txn *txn, uint64_t recipient_count);

struct txn_table;

/* NULL when out of memory.  At most max_entries messages, each
 * forgotten ttl_ms after its last request. */
struct txn_table *txn_table_create(size_t max_entries, uint64_t ttl_ms);
/* Frees everything and sets *table to NULL; NULL is a no-op. */
void txn_table_destroy(struct txn_table **table);

/*
 * The message instance; with create, a new empty one when there is none
 * (the oldest message goes when the table is full).  NULL for an empty
 * instance (no message), when absent without create, or out of memory.
 * Every call counts as activity of the message.
 */
struct txn *txn_table_get(struct txn_table *table, const char *instance,
			  int create, uint64_t now_ms);
/* Forget the message instance (after its END-OF-MESSAGE). */
void txn_table_remove(struct txn_table *table, const char *instance);
size_t txn_table_count(const struct txn_table *table);

#endif
