/*
 * cache_key.c - recipient addresses to cache keys (see cache.h).  Pure.
 */
#include <string.h>

#include "cache.h"

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int
cache_key(const char *recipient, const char *delimiters, char *key_r,
	  size_t key_size)
{
	const char *at = strrchr(recipient, '@');
	size_t local_len = at != NULL ? (size_t)(at - recipient) :
			   strlen(recipient);
	const char *rest = recipient + local_len;
	size_t cut = local_len, rest_len = strlen(rest), n = 0;

	for (const char *s = recipient; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return -1;
	for (size_t i = 1; i < local_len; i++) {
		if (strchr(delimiters, recipient[i]) != NULL) {
			cut = i;
			break;
		}
	}
	if (cut == 0 || cut + rest_len >= key_size)
		return -1;
	for (size_t i = 0; i < cut; i++)
		key_r[n++] = lower(recipient[i]);
	for (size_t i = 0; i < rest_len; i++)
		key_r[n++] = lower(rest[i]);
	key_r[n] = '\0';
	return 0;
}
