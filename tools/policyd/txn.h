/*
 * txn.h - the message a Postfix connection is in, for counting accepted
 * mail: the recipients the daemon let through at RCPT, so that at
 * END-OF-MESSAGE (where Postfix names no recipient when there are
 * several) the accepted message can be counted for each of them once.
 *
 * Pure: no I/O, no clock.  One per client connection: Postfix's smtpd
 * serves one SMTP session at a time on its policy connection, and
 * "instance" (the same for every request of one message) says which
 * message a request belongs to.  A request of another instance starts
 * afresh, so a message ended by RSET, QUIT or a refusal is forgotten
 * without ever being counted.
 */
#ifndef QC_POLICYD_TXN_H
#define QC_POLICYD_TXN_H

#include <stdint.h>

#include "request.h"

/* Postfix's own default smtpd_recipient_limit. */
#define TXN_RECIPIENTS_MAX 1000

struct txn {
	char instance[POLICY_INSTANCE_MAX];   /* "" when none */
	char **keys;                          /* mailboxes to count; owned */
	unsigned int nkeys, cap;
	uint64_t let_through;                 /* RCPT answers not refusing */
	unsigned int overflow:1;              /* more than TXN_RECIPIENTS_MAX */
};

void txn_init(struct txn *txn);
/* Forget the message (and free what it holds). */
void txn_clear(struct txn *txn);

/*
 * The daemon answered an RCPT of message instance: let_through says
 * whether the answer lets the recipient through (the configured action
 * is not a refusal), key names the cache entry to count the message on
 * (NULL when there is nothing to count: no quota, no mailbox, an
 * error).  An empty instance is no message: nothing is remembered.
 * Returns -1 when out of memory (the message will then not be counted).
 */
int txn_rcpt(struct txn *txn, const char *instance, const char *key,
	     int let_through);

/*
 * END-OF-MESSAGE of instance with recipient_count recipients accepted by
 * Postfix: 1 when the keys (txn->keys[0 .. nkeys)) are exactly the
 * mailboxes to count, 0 when not.  Not when the instance is another (the
 * RCPTs were not checked here), nor when Postfix accepted fewer
 * recipients than the daemon let through (a later restriction refused
 * some, and nothing says which: counting a refused one would refuse good
 * mail later, so none is counted).
 */
int txn_complete(const struct txn *txn, const char *instance,
		 uint64_t recipient_count);

#endif
