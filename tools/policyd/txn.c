/*
 * txn.c - see txn.h.
 */
#include <stdlib.h>
#include <string.h>

#include "txn.h"

void
txn_init(struct txn *t)
{
	memset(t, 0, sizeof(*t));
}

void
txn_clear(struct txn *t)
{
	for (unsigned int i = 0; i < t->nkeys; i++)
		free(t->keys[i]);
	free(t->keys);
	txn_init(t);
}

static int
has_key(const struct txn *t, const char *key)
{
	for (unsigned int i = 0; i < t->nkeys; i++)
		if (strcmp(t->keys[i], key) == 0)
			return 1;
	return 0;
}

static int
add_key(struct txn *t, const char *key)
{
	char *copy;

	if (t->nkeys == t->cap) {
		unsigned int cap = t->cap ? t->cap * 2 : 4;
		char **keys = realloc(t->keys, cap * sizeof(*keys));

		if (keys == NULL)
			return -1;
		t->keys = keys;
		t->cap = cap;
	}
	if ((copy = strdup(key)) == NULL)
		return -1;
	t->keys[t->nkeys++] = copy;
	return 0;
}

int
txn_rcpt(struct txn *t, const char *instance, const char *key,
	 int let_through)
{
	if (instance[0] == '\0')
		return 0;
	if (strcmp(t->instance, instance) != 0) {
		txn_clear(t);
		strcpy(t->instance, instance); /* both POLICY_INSTANCE_MAX */
	}
	if (!let_through)
		return 0;
	t->let_through++;
	/* Two addresses of one mailbox (bob and bob+tag) are one copy. */
	if (key == NULL || has_key(t, key))
		return 0;
	if (t->nkeys >= TXN_RECIPIENTS_MAX) {
		t->overflow = 1;
		return 0;
	}
	if (add_key(t, key) < 0) {
		t->overflow = 1;
		return -1;
	}
	return 0;
}

int
txn_complete(const struct txn *t, const char *instance,
	     uint64_t recipient_count)
{
	return instance[0] != '\0' && strcmp(t->instance, instance) == 0 &&
	       !t->overflow && recipient_count == t->let_through;
}
