/*
 * txn.c - see txn.h.  The table is a chained hash (keyed hash: instances
 * come from the policy client) plus a list in order of last activity,
 * the oldest first, like the answer cache.
 */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "txn.h"

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
txn_rcpt(struct txn *t, const char *key, int let_through)
{
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
txn_complete(const struct txn *t, uint64_t recipient_count)
{
	return !t->overflow && recipient_count == t->let_through;
}

/* ---- the table ---- */

#define TXN_BUCKETS 4096  /* a power of two */

struct entry {
	struct entry *hnext;
	struct entry *older, *newer;
	uint64_t hash;
	uint64_t expires_ms;
	struct txn txn;
	char instance[TXN_INSTANCE_MAX];
};

struct txn_table {
	struct entry *buckets[TXN_BUCKETS];
	struct entry *oldest, *newest;
	size_t count, max_entries;
	uint64_t ttl_ms;
};

struct txn_table *
txn_table_create(size_t max_entries, uint64_t ttl_ms)
{
	struct txn_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->max_entries = max_entries > 0 ? max_entries : 1;
	t->ttl_ms = ttl_ms;
	return t;
}

static void
list_unlink(struct txn_table *t, struct entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void
list_append(struct txn_table *t, struct entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest != NULL)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void
entry_free(struct txn_table *t, struct entry *e)
{
	struct entry **pp = &t->buckets[e->hash & (TXN_BUCKETS - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(t, e);
	for (unsigned int i = 0; i < e->txn.nkeys; i++)
		free(e->txn.keys[i]);
	free(e->txn.keys);
	free(e);
	t->count--;
}

void
txn_table_destroy(struct txn_table **tp)
{
	struct txn_table *t = *tp;

	if (t == NULL)
		return;
	while (t->oldest != NULL)
		entry_free(t, t->oldest);
	free(t);
	*tp = NULL;
}

static struct entry *
find(struct txn_table *t, const char *instance, uint64_t hash)
{
	struct entry *e = t->buckets[hash & (TXN_BUCKETS - 1)];

	for (; e != NULL; e = e->hnext)
		if (e->hash == hash && strcmp(e->instance, instance) == 0)
			return e;
	return NULL;
}

struct txn *
txn_table_get(struct txn_table *t, const char *instance, int create,
	      uint64_t now_ms)
{
	size_t len = strlen(instance);
	uint64_t hash;
	struct entry *e;

	if (len == 0 || len >= TXN_INSTANCE_MAX)
		return NULL;
	/* Messages abandoned by RSET or QUIT go here, oldest first. */
	while (t->oldest != NULL && t->oldest->expires_ms <= now_ms)
		entry_free(t, t->oldest);
	hash = hash_string(instance);
	e = find(t, instance, hash);
	if (e == NULL) {
		if (!create)
			return NULL;
		while (t->count >= t->max_entries)
			entry_free(t, t->oldest);
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return NULL;
		memcpy(e->instance, instance, len + 1);
		e->hash = hash;
		e->hnext = t->buckets[hash & (TXN_BUCKETS - 1)];
		t->buckets[hash & (TXN_BUCKETS - 1)] = e;
		t->count++;
	} else {
		list_unlink(t, e);
	}
	e->expires_ms = now_ms + t->ttl_ms;
	list_append(t, e);
	return &e->txn;
}

void
txn_table_remove(struct txn_table *t, const char *instance)
{
	struct entry *e;

	if (instance[0] == '\0')
		return;
	if ((e = find(t, instance, hash_string(instance))) != NULL)
		entry_free(t, e);
}

size_t
txn_table_count(const struct txn_table *t)
{
	return t->count;
}
