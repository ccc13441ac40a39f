/*
 * fuzz_policy_request.c - libFuzzer target for the Postfix policy request
 * parser of quotachk-policyd (tools/policyd/request.c), the first code
 * that touches bytes from the network.
 *
 * The input is a byte stream as a Postfix client (or an attacker) would
 * send it.  It is parsed three ways, the way conn.c drives the parser
 * (keep the unfinished tail, present it again with the next bytes):
 * all at once, in pseudo-random chunks, and one byte at a time (small
 * inputs).  Besides "no crash, no leak, no sanitizer report":
 *   - the three agree on every request and on the final status, and all
 *     agree with a small independent model of request.h's rules, so
 *     chunking never changes an outcome;
 *   - no request whose bytes hold a NUL is ever accepted;
 *   - no request has more than POLICY_ATTRS_MAX attributes;
 *   - of a repeated attribute the first one counts (the model says so);
 *   - the caller never has to hold more than POLICY_LINE_MAX + 2 bytes;
 *   - errors are sticky and consume nothing;
 *   - the cache key of an accepted recipient is NUL-terminated, fits,
 *     and holds only lower-case printable ASCII.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "policyd/request.h"

#define MAX_REQS 64          /* requests compared per input */
#define BYTEWISE_MAX 2048    /* byte-at-a-time only below this size */

/* One parsed request as compared between the ways of parsing. */
struct outcome {
	char *recipient;      /* copy; NULL if absent */
	size_t recipient_len;
	uint64_t size;
	char request[POLICY_NAME_MAX];
	char state[POLICY_NAME_MAX];
	unsigned int nattrs;
	unsigned int has_recipient, has_size, has_request, has_state;
	unsigned int bad_size;
};

struct run {
	struct outcome reqs[MAX_REQS];
	unsigned int nreqs;              /* may exceed MAX_REQS */
	enum policy_status final;
};

static void
run_free(struct run *r)
{
	unsigned int n = r->nreqs < MAX_REQS ? r->nreqs : MAX_REQS;

	for (unsigned int i = 0; i < n; i++)
		free(r->reqs[i].recipient);
}

static void
check_key(const char *recipient)
{
	static const char *const delims[] = {"+", "+-", "", "@", "+=%"};
	char key[64];

	for (size_t d = 0; d < sizeof(delims) / sizeof(delims[0]); d++) {
		memset(key, 'X', sizeof(key));
		if (cache_key(recipient, delims[d], key,
					 sizeof(key)) < 0)
			continue;
		if (memchr(key, '\0', sizeof(key)) == NULL)
			abort();
		if (key[0] == '\0')
			abort();  /* never cut to nothing */
		for (const char *k = key; *k != '\0'; k++)
			if (*k < 0x21 || *k > 0x7e || (*k >= 'A' && *k <= 'Z'))
				abort();
	}
}

/* Record a taken request; span is the bytes it was parsed from. */
static void
record(struct run *r, struct policy_request *req, const char *span,
       size_t span_len)
{
	struct outcome *o;

	/* A request is accepted only from NUL-free bytes. */
	if (span != NULL && memchr(span, '\0', span_len) != NULL)
		abort();
	if (req->nattrs > POLICY_ATTRS_MAX)
		abort();
	if (req->recipient != NULL && !req->has_recipient)
		abort();
	if (memchr(req->request, '\0', POLICY_NAME_MAX) == NULL ||
	    memchr(req->protocol_state, '\0', POLICY_NAME_MAX) == NULL)
		abort();
	(void)policy_request_kind(req);
	if (req->recipient != NULL)
		check_key(req->recipient);
	if (r->nreqs < MAX_REQS) {
		o = &r->reqs[r->nreqs];
		memset(o, 0, sizeof(*o));
		if (req->recipient != NULL) {
			o->recipient_len = strlen(req->recipient);
			o->recipient = strdup(req->recipient);
			if (o->recipient == NULL)
				abort();
		}
		o->size = req->size;
		memcpy(o->request, req->request, POLICY_NAME_MAX);
		memcpy(o->state, req->protocol_state, POLICY_NAME_MAX);
		o->nattrs = req->nattrs;
		o->has_recipient = req->has_recipient;
		o->has_size = req->has_size;
		o->has_request = req->has_request;
		o->has_state = req->has_state;
		o->bad_size = req->bad_size;
	}
	r->nreqs++;
	policy_request_clear(req);
	policy_request_clear(req);  /* documented as safe twice */
}

/*
 * Parse data delivered in chunks: chunk_of(i) gives the size of the
 * i-th delivery (0 = the rest at once).  The caller's buffer holds the
 * unfinished tail plus the new bytes, as in conn.c.
 */
static void
parse_chunked(const uint8_t *data, size_t size, uint32_t seed, int bytewise,
	      struct run *r)
{
	struct policy_parser p;
	char *buf = malloc(size + 1);
	size_t held = 0, fed = 0;
	/* Bytes of the current request already consumed, for the NUL
	 * check: the request spans [req_start, consumed end). */
	size_t req_start = 0, stream_pos = 0;
	enum policy_status st = POLICY_MORE;

	if (buf == NULL)
		abort();
	memset(r, 0, sizeof(*r));
	policy_parser_init(&p);
	while (fed < size) {
		size_t add, pos = 0, used;

		if (bytewise) {
			add = 1;
		} else if (seed == 0) {
			add = size - fed;
		} else {
			seed = seed * 1103515245u + 12345u;
			add = 1 + (seed >> 8) % 700;
			if ((seed >> 20) % 5 == 0)
				add = 1 + (seed >> 4) % 7;  /* tiny ones too */
		}
		if (add > size - fed)
			add = size - fed;
		memcpy(buf + held, data + fed, add);
		held += add;
		fed += add;
		while (pos < held) {
			st = policy_parser_feed(&p, buf + pos, held - pos, &used);
			if (used > held - pos)
				abort();
			pos += used;
			stream_pos += used;
			if (st == POLICY_MORE)
				break;
			if (st != POLICY_REQUEST)
				break;
			{
				struct policy_request req;

				policy_parser_take(&p, &req);
				record(r, &req, (const char *)data + req_start,
				       stream_pos - req_start);
				req_start = stream_pos;
			}
		}
		if (st != POLICY_MORE && st != POLICY_REQUEST) {
			size_t again;

			/* Sticky: the same error, nothing consumed. */
			if (policy_parser_feed(&p, "x=y\n\n", 5, &again) != st ||
			    again != 0)
				abort();
			break;
		}
		memmove(buf, buf + pos, held - pos);
		held -= pos;
		if (held > POLICY_LINE_MAX + 2)
			abort();
	}
	r->final = st == POLICY_REQUEST ? POLICY_MORE : st;
	policy_parser_deinit(&p);
	free(buf);
}

/* ---- the model: request.h's rules, written out plainly ---- */

static int
model_size(const char *v, size_t len, uint64_t *n_r)
{
	uint64_t n = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (__builtin_mul_overflow(n, 10, &n) ||
		    __builtin_add_overflow(n, (uint64_t)(v[i] - '0'), &n))
			return -1;
	}
	*n_r = n;
	return 0;
}

static void
model_name(char *dst, const char *v, size_t len)
{
	size_t n = len < POLICY_NAME_MAX - 1 ? len : POLICY_NAME_MAX - 1;

	memcpy(dst, v, n);
	dst[n] = '\0';
}

static void
parse_model(const uint8_t *data, size_t size, struct run *r)
{
	const char *s = (const char *)data;
	struct outcome cur;
	size_t pos = 0;

	memset(r, 0, sizeof(*r));
	memset(&cur, 0, sizeof(cur));
	r->final = POLICY_MORE;
	while (pos < size) {
		const char *nl = memchr(s + pos, '\n', size - pos);
		const char *line = s + pos, *eq;
		size_t len;

		if (nl == NULL) {
			if (size - pos > POLICY_LINE_MAX + 1)
				r->final = POLICY_ERR_LINE_TOO_LONG;
			break;
		}
		len = (size_t)(nl - line);
		pos += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len > POLICY_LINE_MAX) {
			r->final = POLICY_ERR_LINE_TOO_LONG;
			break;
		}
		if (memchr(line, '\0', len) != NULL) {
			r->final = POLICY_ERR_NUL;
			break;
		}
		if (len == 0 && cur.nattrs == 0) {
			r->final = POLICY_ERR_EMPTY;
			break;
		}
		if (len == 0) {
			if (r->nreqs < MAX_REQS)
				r->reqs[r->nreqs] = cur;
			else
				free(cur.recipient);
			r->nreqs++;
			memset(&cur, 0, sizeof(cur));
			continue;
		}
		if (++cur.nattrs > POLICY_ATTRS_MAX) {
			r->final = POLICY_ERR_TOO_MANY_ATTRS;
			break;
		}
		eq = memchr(line, '=', len);
		if (eq == NULL || eq == line) {
			r->final = POLICY_ERR_SYNTAX;
			break;
		}
		{
			size_t nlen = (size_t)(eq - line), vlen = len - nlen - 1;
			const char *v = eq + 1;

			/* First one counts: later repeats change nothing. */
			if (nlen == 9 && memcmp(line, "recipient", 9) == 0 &&
			    !cur.has_recipient) {
				cur.has_recipient = 1;
				cur.recipient = strndup(v, vlen);
				cur.recipient_len = vlen;
			} else if (nlen == 4 && memcmp(line, "size", 4) == 0 &&
				   !cur.has_size) {
				cur.has_size = 1;
				if (model_size(v, vlen, &cur.size) < 0) {
					cur.bad_size = 1;
					cur.size = 0;
				}
			} else if (nlen == 7 && memcmp(line, "request", 7) == 0 &&
				   !cur.has_request) {
				cur.has_request = 1;
				model_name(cur.request, v, vlen);
			} else if (nlen == 14 &&
				   memcmp(line, "protocol_state", 14) == 0 &&
				   !cur.has_state) {
				cur.has_state = 1;
				model_name(cur.state, v, vlen);
			}
		}
	}
	free(cur.recipient);
}

static void
compare(const struct run *a, const struct run *b)
{
	unsigned int n;

	if (a->nreqs != b->nreqs || a->final != b->final)
		abort();
	n = a->nreqs < MAX_REQS ? a->nreqs : MAX_REQS;
	for (unsigned int i = 0; i < n; i++) {
		const struct outcome *x = &a->reqs[i], *y = &b->reqs[i];

		if ((x->recipient == NULL) != (y->recipient == NULL) ||
		    x->recipient_len != y->recipient_len ||
		    (x->recipient != NULL &&
		     memcmp(x->recipient, y->recipient, x->recipient_len) != 0) ||
		    x->size != y->size || x->nattrs != y->nattrs ||
		    x->has_recipient != y->has_recipient ||
		    x->has_size != y->has_size ||
		    x->has_request != y->has_request ||
		    x->has_state != y->has_state || x->bad_size != y->bad_size ||
		    strcmp(x->request, y->request) != 0 ||
		    strcmp(x->state, y->state) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, chunked, bytewise, model;
	uint32_t seed = 2166136261u;

	for (size_t i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 16777619u;
	seed |= 1;

	parse_model(data, size, &model);
	parse_chunked(data, size, 0, 0, &whole);
	compare(&model, &whole);
	parse_chunked(data, size, seed, 0, &chunked);
	compare(&model, &chunked);
	run_free(&chunked);
	if (size <= BYTEWISE_MAX) {
		parse_chunked(data, size, 0, 1, &bytewise);
		compare(&model, &bytewise);
		run_free(&bytewise);
	}
	if (policy_status_text(whole.final) == NULL)
		abort();
	run_free(&whole);
	run_free(&model);
	return 0;
}
