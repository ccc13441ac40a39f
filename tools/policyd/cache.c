/*
 * cache.c - a chained hash table plus an age-ordered list (see cache.h).
 *
 * Keys are recipient addresses, which a remote SMTP client chooses, so
 * they are hashed with a keyed hash (hash.h).  The table doubles as it
 * fills; an entry costs about 100 bytes plus its key and mailbox name.
 */
#include <stdlib.h>
#include <string.h>
#include "cache.h"
#include "hash.h"

struct entry {
	struct entry *hnext;          /* hash chain */
	struct entry *older, *newer;  /* age list */
	uint64_t hash;
	uint64_t expires_ms;
	enum qc_verdict verdict;
	struct qc_usage storage, messages;
	char *mailbox;
	char key[];
};

struct cache {
	struct entry **buckets;
	size_t nbuckets;              /* a power of two */
	size_t count, max_entries;
	uint64_t ttl_ms;
	struct entry *oldest, *newest;
};

struct cache *
cache_create(size_t max_entries, uint64_t ttl_ms)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->nbuckets = 64;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return NULL;
	}
	c->max_entries = max_entries > 0 ? max_entries : 1;
	c->ttl_ms = ttl_ms;
	return c;
}

static void
entry_unlink(struct cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	c->count--;
	free(e->mailbox);
	free(e);
}

void
cache_flush(struct cache *c)
{
	while (c->oldest != NULL)
		entry_unlink(c, c->oldest);
}

void
cache_destroy(struct cache **cp)
{
	struct cache *c = *cp;

	if (c == NULL)
		return;
	cache_flush(c);
	free(c->buckets);
	free(c);
	*cp = NULL;
}

void
cache_configure(struct cache *c, size_t max_entries, uint64_t ttl_ms)
{
	c->max_entries = max_entries > 0 ? max_entries : 1;
	c->ttl_ms = ttl_ms;
	while (c->count > c->max_entries)
		entry_unlink(c, c->oldest);
	if (ttl_ms == 0)
		cache_flush(c);
}

size_t
cache_count(const struct cache *c)
{
	return c->count;
}

static struct entry *
find(struct cache *c, const char *key, uint64_t hash)
{
	struct entry *e = c->buckets[hash & (c->nbuckets - 1)];

	for (; e != NULL; e = e->hnext)
		if (e->hash == hash && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* The entry for key if it is fresh; drops it if it is not. */
static struct entry *
find_fresh(struct cache *c, const char *key, uint64_t now_ms)
{
	uint64_t hash = hash_string(key);
	struct entry *e = find(c, key, hash);

	if (e != NULL && now_ms >= e->expires_ms) {
		entry_unlink(c, e);
		return NULL;
	}
	return e;
}

int
cache_get(struct cache *c, const char *key, uint64_t now_ms,
	  struct cache_value *value_r)
{
	struct entry *e;
	size_t len;

	if (c->ttl_ms == 0 || (e = find_fresh(c, key, now_ms)) == NULL)
		return 0;
	value_r->verdict = e->verdict;
	value_r->storage = e->storage;
	value_r->messages = e->messages;
	len = strlen(e->mailbox);
	if (len >= sizeof(value_r->mailbox))
		len = sizeof(value_r->mailbox) - 1;
	memcpy(value_r->mailbox, e->mailbox, len);
	value_r->mailbox[len] = '\0';
	return 1;
}

static void
grow(struct cache *c)
{
	size_t n = c->nbuckets * 2;
	struct entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

int
cache_put(struct cache *c, const char *key, int error,
	  const struct cache_value *v, uint64_t now_ms)
{
	size_t klen = strlen(key);
	uint64_t hash;
	struct entry *e, **bucket;

	if (c->ttl_ms == 0 || error != QC_OK)
		return -1;
	if (v->verdict != QC_VERDICT_FITS && v->verdict != QC_VERDICT_NO_QUOTA &&
	    v->verdict != QC_VERDICT_NO_MAILBOX)
		return -1;
	hash = hash_string(key);
	if ((e = find(c, key, hash)) != NULL)
		entry_unlink(c, e);
	while (c->count >= c->max_entries)
		entry_unlink(c, c->oldest);
	e = malloc(sizeof(*e) + klen + 1);
	if (e == NULL)
		return -1;
	e->mailbox = strdup(v->mailbox);
	if (e->mailbox == NULL) {
		free(e);
		return -1;
	}
	memcpy(e->key, key, klen + 1);
	e->hash = hash;
	e->expires_ms = now_ms + c->ttl_ms;
	e->verdict = v->verdict;
	e->storage = v->storage;
	e->messages = v->messages;
	if (c->count >= c->nbuckets)
		grow(c);
	bucket = &c->buckets[hash & (c->nbuckets - 1)];
	e->hnext = *bucket;
	*bucket = e;
	e->newer = NULL;
	e->older = c->newest;
	if (c->newest != NULL)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
	c->count++;
	return 0;
}

static void
add_saturating(uint64_t *x, uint64_t n)
{
	*x = *x > UINT64_MAX - n ? UINT64_MAX : *x + n;
}

void
cache_value_charge(struct cache_value *v, uint64_t size)
{
	if (v->verdict != QC_VERDICT_FITS)
		return;
	if (v->storage.limited)
		add_saturating(&v->storage.used, size > 0 ? size : 1);
	if (v->messages.limited)
		add_saturating(&v->messages.used, 1);
}

void
cache_charge(struct cache *c, const char *key, uint64_t size,
	     uint64_t now_ms)
{
	struct entry *e;
	struct cache_value v;

	if (c->ttl_ms == 0 || (e = find_fresh(c, key, now_ms)) == NULL)
		return;
	v.verdict = e->verdict;
	v.storage = e->storage;
	v.messages = e->messages;
	cache_value_charge(&v, size);
	e->storage = v.storage;
	e->messages = v.messages;
}
