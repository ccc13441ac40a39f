/*
 * hash.h - SipHash-2-4 of a string under a random per-process key.
 * Recipient addresses come from remote SMTP clients; a keyed hash keeps
 * them from aiming a flood of addresses at one hash bucket.
 */
#ifndef QC_POLICYD_HASH_H
#define QC_POLICYD_HASH_H

#include <stdint.h>

uint64_t hash_string(const char *s);

#endif
