/*
 * hash.c - see hash.h.  The key is drawn on first use; without kernel
 * randomness a fixed key still hashes well, it is only predictable, which
 * is not worth refusing to start over.
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "hash.h"

static uint64_t k0 = 0x0123456789abcdefULL, k1 = 0xfedcba9876543210ULL;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void
key_init(void)
{
	uint64_t key[2];

	if (getrandom(key, sizeof(key), GRND_NONBLOCK) == sizeof(key)) {
		k0 = key[0];
		k1 = key[1];
	}
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

static uint64_t
siphash(const char *s, size_t len)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, full = len & ~(size_t)7;

	for (i = 0; i < full; i += 8) {
		memcpy(&m, s + i, 8);  /* little-endian hosts; any order works */
		v3 ^= m;
		SIPROUND; SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND; SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND; SIPROUND; SIPROUND; SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
hash_string(const char *s)
{
	pthread_once(&key_once, key_init);
	return siphash(s, strlen(s));
}
