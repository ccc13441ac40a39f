/*
 * cache.h - quota answers by recipient key, reused for a short TTL.
 *
 * Pure: no I/O, no clock; the caller passes "now" in milliseconds, so
 * tests can walk time.  Bounded by max_entries (the oldest entry goes
 * first: every entry has the same TTL, so the oldest expires first too).
 * Only answers are cached (limits found, no quota, no such mailbox),
 * never errors.  Single-threaded: the event loop owns it.
 */
#ifndef QC_POLICYD_CACHE_H
#define QC_POLICYD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "quotachk.h"

struct cache_value {
	enum qc_verdict verdict;       /* FITS (limits known), NO_QUOTA, NO_MAILBOX */
	struct qc_usage storage;       /* bytes */
	struct qc_usage messages;
	char mailbox[QC_MAILBOX_MAX];  /* the name asked, for log lines */
};

struct cache;

/* NULL when out of memory.  ttl_ms 0 turns the cache off. */
struct cache *cache_create(size_t max_entries, uint64_t ttl_ms);
/* Frees everything and sets *cache to NULL; NULL is a no-op. */
void cache_destroy(struct cache **cache);

/* New limits (after a reload); drops the oldest entries beyond them. */
void cache_configure(struct cache *cache, size_t max_entries,
		     uint64_t ttl_ms);
void cache_flush(struct cache *cache);
size_t cache_count(const struct cache *cache);

/*
 * 1 and a copy in *value_r when key has a fresh entry, 0 otherwise (an
 * expired entry is dropped on the way).
 */
int cache_get(struct cache *cache, const char *key, uint64_t now_ms,
	      struct cache_value *value_r);

/*
 * Store the outcome of a lookup.  error is the lookup's qc_error: only
 * QC_OK with verdict FITS, NO_QUOTA or NO_MAILBOX is stored, anything
 * else (errors above all) is refused.  Replaces an older entry for key
 * and restarts its TTL.  Returns 0 when stored, -1 when refused, the
 * cache is off or memory ran out.
 */
int cache_put(struct cache *cache, const char *key, int error,
	      const struct cache_value *value, uint64_t now_ms);

/*
 * A message of size bytes (0 counts as 1) was let through for key: count
 * it against the fresh entry's usage (storage grows by the size, messages
 * by one), so a burst within one TTL cannot overfill the mailbox.  No-op
 * without a fresh entry with limits.
 */
void cache_charge(struct cache *cache, const char *key, uint64_t size,
		  uint64_t now_ms);

/* The same accounting on a value the caller holds. */
void cache_value_charge(struct cache_value *value, uint64_t size);

#endif
