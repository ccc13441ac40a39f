/*
 * cache.h - quota answers by recipient key, reused for a short TTL.
 *
 * Pure: no I/O, no clock; the caller passes "now" in milliseconds, so
 * tests can walk time.  Bounded by max_entries (the oldest entry goes
 * first: every entry has the same TTL, so the oldest expires first too).
 * Only answers are cached (limits found, no quota, no such mailbox),
 * never errors.  Single-threaded: the engine owns it, under its lock.
 *
 * Accounting: an entry holds the server's own figures and, apart from
 * them, what was counted since (messages Postfix accepted at
 * END-OF-MESSAGE).  Checks never count anything; the counted part ends
 * with the entry, when the server's figures are asked again.
 */
#ifndef QC_POLICYD_CACHE_H
#define QC_POLICYD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "quotachk.h"

struct cache_value {
	enum qc_verdict verdict;       /* FITS (limits known), NO_QUOTA, NO_MAILBOX */
	struct qc_usage storage;       /* the server's figures, bytes */
	struct qc_usage messages;
	uint64_t counted_bytes;        /* accepted since those figures */
	uint64_t counted_messages;
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
 * else (errors above all) is refused.  stamp numbers the lookup (they
 * are started in increasing order): an answer whose lookup started
 * before the one that filled the entry is refused, so a late answer
 * never replaces a newer one.  Replacing an entry restarts its TTL and
 * drops what was counted on it (the server's new figures include what
 * it has received).  The value's counted_* fields are ignored.  Returns
 * 0 when stored, -1 when refused, the cache is off or memory ran out.
 */
int cache_put(struct cache *cache, const char *key, int error,
	      const struct cache_value *value, uint64_t now_ms,
	      uint64_t stamp);

/*
 * Postfix accepted a message of size bytes (0 counts as 1) for key:
 * count it on the fresh entry (storage by the size, messages by one)
 * until the entry is refreshed from the server.  Returns 1 when counted,
 * 0 without a fresh entry with limits (nothing to count against).
 */
int cache_charge(struct cache *cache, const char *key, uint64_t size,
		 uint64_t now_ms);

/*
 * The cache key of a recipient: the local part cut at the first
 * character of delimiters (never to nothing, as Postfix does), the whole
 * address lower-cased.  "Bob+Tag@Example.TEST" -> "bob@example.test".
 * Returns -1 for an empty address, control or 8-bit bytes, or one that
 * does not fit key_size.
 */
int cache_key(const char *recipient, const char *delimiters, char *key_r,
	      size_t key_size);

/* The figures a decision sees: the server's plus what was counted. */
void cache_value_quota(const struct cache_value *value,
		       struct qc_quota *quota_r);

#endif
