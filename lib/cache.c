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
	uint64_t stamp;               /* the lookup that filled it */
	enum qc_verdict verdict;
	struct qc_usage storage, messages;
	uint64_t counted_bytes, counted_messages;
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
	value_r->counted_bytes = e->counted_bytes;
	value_r->counted_messages = e->counted_messages;
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
	  const struct cache_value *v, uint64_t now_ms, uint64_t stamp)
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
	if ((e = find(c, key, hash)) != NULL) {
		if (e->stamp > stamp)
			return -1;
		entry_unlink(c, e);
	}
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
	e->stamp = stamp;
	e->counted_bytes = e->counted_messages = 0;
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

static uint64_t
add_saturating(uint64_t x, uint64_t n)
{
	return x > UINT64_MAX - n ? UINT64_MAX : x + n;
}

void
cache_value_quota(const struct cache_value *v, struct qc_quota *q)
{
	/* Only the figures: clearing the two name buffers would cost more
	 * than the decision itself. */
	q->mailbox[0] = q->root[0] = '\0';
	q->nroots = 0;
	q->storage = v->storage;
	q->messages = v->messages;
	q->storage.used = add_saturating(q->storage.used, v->counted_bytes);
	q->messages.used = add_saturating(q->messages.used,
					  v->counted_messages);
}

int
cache_charge(struct cache *c, const char *key, uint64_t size,
	     uint64_t now_ms)
{
	struct entry *e;

	if (c->ttl_ms == 0 || (e = find_fresh(c, key, now_ms)) == NULL ||
	    e->verdict != QC_VERDICT_FITS)
		return 0;
	e->counted_bytes = add_saturating(e->counted_bytes,
					  size > 0 ? size : 1);
	e->counted_messages = add_saturating(e->counted_messages, 1);
	return 1;
}
