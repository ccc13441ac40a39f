/*
 * test_policy_request.c - the pure policy request parser of
 * quotachk-policyd (tools/policyd/request.c): framing, the attributes it
 * keeps, the first-one-counts rule, input limits, classification and the
 * recipient cache key.  Tables print the failing row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "policyd/request.h"
#include "cache.h"

/* Feed all of input in chunks of chunk bytes, as a socket would deliver
 * it, keeping partial lines as the daemon does.  Returns the number of
 * complete requests and the final status; fills up to 8 requests. */
static int
feed_all(const char *input, size_t len, size_t chunk,
	 struct policy_request *reqs, int max, enum policy_status *last_r)
{
	struct policy_parser p;
	char *held = malloc(len + 1);
	size_t held_len = 0, fed = 0;
	int n = 0;
	enum policy_status st = POLICY_MORE;

	policy_parser_init(&p);
	while (fed < len && st == POLICY_MORE) {
		size_t add = len - fed < chunk ? len - fed : chunk;
		size_t used;

		memcpy(held + held_len, input + fed, add);
		held_len += add;
		fed += add;
		for (;;) {
			st = policy_parser_feed(&p, held, held_len, &used);
			memmove(held, held + used, held_len - used);
			held_len -= used;
			if (st != POLICY_REQUEST)
				break;
			if (n < max)
				policy_parser_take(&p, &reqs[n]);
			else {
				struct policy_request tmp;
				policy_parser_take(&p, &tmp);
				policy_request_clear(&tmp);
			}
			n++;
		}
	}
	policy_parser_deinit(&p);
	free(held);
	*last_r = st;
	return n;
}

static const char postfix_request[] =
	"request=smtpd_access_policy\n"
	"protocol_state=RCPT\n"
	"protocol_name=ESMTP\n"
	"client_address=127.0.0.1\n"
	"sender=sender@remote.test\n"
	"recipient=Bob+Tag@Example.TEST\n"
	"recipient_count=0\n"
	"queue_id=\n"
	"size=123456\n"
	"etrn_domain=\n"
	"policy_context=\n"
	"\n";

Test(policy_request, postfix_request_in_any_chunking)
{
	static const size_t chunks[] = {1, 2, 3, 7, 64, 4096};

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct policy_request r[8];
		enum policy_status st;
		int n = feed_all(postfix_request, strlen(postfix_request),
				 chunks[i], r, 8, &st);

		cr_assert_eq(n, 1, "chunk %zu: %d requests", chunks[i], n);
		cr_assert_eq(st, POLICY_MORE, "chunk %zu", chunks[i]);
		cr_assert_str_eq(r[0].recipient, "Bob+Tag@Example.TEST");
		cr_assert_eq(r[0].size, 123456);
		cr_assert_str_eq(r[0].protocol_state, "RCPT");
		cr_assert_str_eq(r[0].request, "smtpd_access_policy");
		cr_assert_eq(r[0].nattrs, 11, "chunk %zu: nattrs %u",
			     chunks[i], r[0].nattrs);
		cr_assert_eq(policy_request_kind(&r[0]), POLICY_CHECK);
		policy_request_clear(&r[0]);
	}
}

Test(policy_request, pipelined_requests_keep_their_order)
{
	const char *in =
		"protocol_state=RCPT\nrecipient=a@x\nsize=1\n\n"
		"protocol_state=RCPT\nrecipient=b@x\nsize=2\n\n"
		"protocol_state=RCPT\nrecipient=c@x\n\n"
		"protocol_state=RCPT\nrecipient=d@x\n";   /* unfinished */
	struct policy_request r[8];
	enum policy_status st;
	int n = feed_all(in, strlen(in), 5, r, 8, &st);

	cr_assert_eq(n, 3);
	cr_assert_eq(st, POLICY_MORE);
	cr_assert_str_eq(r[0].recipient, "a@x");
	cr_assert_str_eq(r[1].recipient, "b@x");
	cr_assert_str_eq(r[2].recipient, "c@x");
	cr_assert_eq(r[1].size, 2);
	cr_assert_eq(r[2].has_size, 0);
	cr_assert_eq(r[2].size, 0);
	for (int i = 0; i < n; i++)
		policy_request_clear(&r[i]);
}

struct attr_case {
	const char *name;
	const char *input;
	const char *recipient;   /* NULL: absent */
	uint64_t size;
	int bad_size;
	const char *state;
};

static const struct attr_case attr_cases[] = {
	{"first recipient counts", "recipient=a@x\nrecipient=b@x\n\n",
	 "a@x", 0, 0, ""},
	{"first size counts", "size=5\nsize=9\n\n", NULL, 5, 0, ""},
	{"first state counts",
	 "protocol_state=RCPT\nprotocol_state=DATA\n\n", NULL, 0, 0, "RCPT"},
	{"crlf line ends", "recipient=a@x\r\nsize=7\r\n\r\n", "a@x", 7, 0, ""},
	{"empty recipient", "recipient=\n\n", "", 0, 0, ""},
	{"value with =", "recipient=a=b@x\n\n", "a=b@x", 0, 0, ""},
	{"size zero", "size=0\n\n", NULL, 0, 0, ""},
	{"size max", "size=18446744073709551615\n\n", NULL, UINT64_MAX, 0, ""},
	{"size overflow", "size=18446744073709551616\n\n", NULL, 0, 1, ""},
	{"size not a number", "size=12k\n\n", NULL, 0, 1, ""},
	{"size negative", "size=-1\n\n", NULL, 0, 1, ""},
	{"size empty", "size=\n\n", NULL, 0, 1, ""},
	{"unknown attributes ignored", "x=1\nrecipientx=q\nrecipient=r@x\n\n",
	 "r@x", 0, 0, ""},
	{"long state cut, matches nothing",
	 "protocol_state=RCPTRCPTRCPTRCPTRCPTRCPTRCPTRCPTRCPT\n\n", NULL, 0, 0,
	 "RCPTRCPTRCPTRCPTRCPTRCPTRCPTRCP"},
};

Test(policy_request, attributes_table)
{
	for (size_t i = 0; i < sizeof(attr_cases) / sizeof(attr_cases[0]); i++) {
		const struct attr_case *c = &attr_cases[i];
		struct policy_request r[8];
		enum policy_status st;
		int n = feed_all(c->input, strlen(c->input), 3, r, 8, &st);

		cr_assert_eq(n, 1, "row %zu (%s): %d requests", i, c->name, n);
		if (c->recipient == NULL)
			cr_assert_null(r[0].recipient, "row %zu (%s)", i, c->name);
		else
			cr_assert_str_eq(r[0].recipient, c->recipient,
					 "row %zu (%s)", i, c->name);
		cr_assert_eq(r[0].size, c->size, "row %zu (%s)", i, c->name);
		cr_assert_eq(r[0].bad_size, c->bad_size, "row %zu (%s)", i,
			     c->name);
		cr_assert_str_eq(r[0].protocol_state, c->state, "row %zu (%s)",
				 i, c->name);
		policy_request_clear(&r[0]);
	}
}

/* Input that must end the connection, with the status it must give. */
struct error_case {
	const char *name;
	char *input;
	size_t len;
	enum policy_status status;
	int requests_before;
};

static char *
repeat(const char *prefix, char c, size_t n, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + n + sl + 1);

	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	memcpy(s + pl + n, suffix, sl + 1);
	return s;
}

static char *
many_attrs(int n)
{
	char *s = malloc((size_t)n * 8 + 2), *p = s;

	for (int i = 0; i < n; i++)
		p += sprintf(p, "a%03d=x\n", i % 1000);
	strcpy(p, "\n");
	return s;
}

Test(policy_request, limits_table)
{
	struct error_case cases[] = {
		{"line of 4096 is fine", repeat("recipient=", 'a', 4086, "\n\n"),
		 0, POLICY_MORE, 1},
		{"line of 4096 + CRLF is fine",
		 repeat("recipient=", 'a', 4086, "\r\n\n"), 0, POLICY_MORE, 1},
		{"line of 4097", repeat("recipient=", 'a', 4087, "\n\n"), 0,
		 POLICY_ERR_LINE_TOO_LONG, 0},
		{"partial line too long, no newline yet",
		 repeat("recipient=", 'a', 5000, ""), 0,
		 POLICY_ERR_LINE_TOO_LONG, 0},
		{"100 attributes are fine", many_attrs(100), 0, POLICY_MORE, 1},
		{"101 attributes", many_attrs(101), 0,
		 POLICY_ERR_TOO_MANY_ATTRS, 0},
		{"line without =", strdup("recipient=a@x\nhello\n\n"), 0,
		 POLICY_ERR_SYNTAX, 0},
		{"line starting with =", strdup("=x\n\n"), 0, POLICY_ERR_SYNTAX, 0},
		{"NUL byte", NULL, 0, POLICY_ERR_NUL, 0},
		{"error after a good request",
		 strdup("recipient=a@x\n\nbad line\n\n"), 0, POLICY_ERR_SYNTAX, 1},
		{"lone empty line", strdup("\n"), 0, POLICY_ERR_EMPTY, 0},
		{"empty line after a good request",
		 strdup("recipient=a@x\n\n\r\n"), 0, POLICY_ERR_EMPTY, 1},
	};
	static const char nul_input[] = "recipient=a\0b@x\n\n";

	cases[8].input = malloc(sizeof(nul_input));
	memcpy(cases[8].input, nul_input, sizeof(nul_input));
	cases[8].len = sizeof(nul_input) - 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct error_case *c = &cases[i];
		struct policy_request r[8];
		enum policy_status st;
		size_t len = c->len ? c->len : strlen(c->input);
		int n = feed_all(c->input, len, 1000, r, 8, &st);

		cr_assert_eq(st, c->status, "row %zu (%s): status %d, not %d",
			     i, c->name, st, c->status);
		cr_assert_eq(n, c->requests_before, "row %zu (%s): %d requests",
			     i, c->name, n);
		for (int j = 0; j < n && j < 8; j++)
			policy_request_clear(&r[j]);
		free(c->input);
	}
}

Test(policy_request, errors_are_sticky)
{
	struct policy_parser p;
	size_t used;

	policy_parser_init(&p);
	cr_assert_eq(policy_parser_feed(&p, "junk\n", 5, &used),
		     POLICY_ERR_SYNTAX);
	cr_assert_eq(policy_parser_feed(&p, "recipient=a@x\n\n", 15, &used),
		     POLICY_ERR_SYNTAX);
	cr_assert_eq(used, 0);
	policy_parser_deinit(&p);
}

struct kind_case {
	const char *input;
	enum policy_kind kind;
};

static const struct kind_case kind_cases[] = {
	{"request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=a@x\n\n",
	 POLICY_CHECK},
	{"protocol_state=END-OF-MESSAGE\nrecipient=a@x\nsize=9\n\n",
	 POLICY_CHECK_COMMIT},
	{"protocol_state=end-of-message\nrecipient=a@x\n\n",
	 POLICY_CHECK_COMMIT},
	{"protocol_state=rcpt\nrecipient=a@x\n\n", POLICY_CHECK},
	{"request=junk\nprotocol_state=RCPT\nrecipient=a@x\n\n",
	 POLICY_SKIP_REQUEST},
	{"protocol_state=DATA\nrecipient=a@x\n\n", POLICY_SKIP_STATE},
	{"protocol_state=MAIL\n\n", POLICY_SKIP_STATE},
	{"recipient=a@x\n\n", POLICY_SKIP_STATE},
	{"protocol_state=END-OF-MESSAGE\nrecipient=\nrecipient_count=3\n\n",
	 POLICY_COMMIT},
	{"protocol_state=END-OF-MESSAGE\nrecipient_count=3\n\n",
	 POLICY_COMMIT},
	{"request=junk\nprotocol_state=END-OF-MESSAGE\n\n",
	 POLICY_SKIP_REQUEST},
	{"protocol_state=RCPT\n\n", POLICY_SKIP_NO_RECIPIENT},
};

Test(policy_request, kind_table)
{
	for (size_t i = 0; i < sizeof(kind_cases) / sizeof(kind_cases[0]); i++) {
		struct policy_request r[8];
		enum policy_status st;
		int n = feed_all(kind_cases[i].input,
				 strlen(kind_cases[i].input), 64, r, 8, &st);

		cr_assert_eq(n, 1, "row %zu", i);
		cr_assert_eq(policy_request_kind(&r[0]), kind_cases[i].kind,
			     "row %zu: kind %d", i, policy_request_kind(&r[0]));
		policy_request_clear(&r[0]);
	}
}

/* instance= ties the requests of one message together; recipient_count
 * says how many recipients Postfix accepted. */
Test(policy_request, instance_and_recipient_count)
{
	static const char in[] =
		"instance=1c5f.6b06a9fc.67a1d.0\nrecipient_count=12\n"
		"instance=second\nrecipient_count=1\n\n"
		"instance=" "0123456789012345678901234567890123456789"
		"0123456789012345678901234\nrecipient_count=x\n\n"
		"recipient=a@x\n\n";
	struct policy_request r[8];
	enum policy_status st;
	int n = feed_all(in, strlen(in), 7, r, 8, &st);

	cr_assert_eq(n, 3);
	cr_assert_str_eq(r[0].instance, "1c5f.6b06a9fc.67a1d.0",
			 "the first instance= counts");
	cr_assert_eq(r[0].recipient_count, 12);
	cr_assert_str_eq(r[1].instance, "", "a cut id could join messages");
	cr_assert(r[1].has_instance);
	cr_assert_eq(r[1].recipient_count, 0, "not a number");
	cr_assert_str_eq(r[2].instance, "");
	cr_assert_not(r[2].has_instance);
	for (int i = 0; i < n; i++)
		policy_request_clear(&r[i]);
}

struct key_case {
	const char *recipient;
	const char *delimiters;
	const char *key;   /* NULL: refused */
};

static const struct key_case key_cases[] = {
	{"Bob+Tag@Example.TEST", "+", "bob@example.test"},
	{"bob@example.test", "+", "bob@example.test"},
	{"bob-x+y@example.test", "+-", "bob@example.test"},
	{"+bob@example.test", "+", "+bob@example.test"},  /* never to nothing */
	{"a+b+c@x", "+", "a@x"},
	{"a+b@c@x", "+", "a@x"},      /* the last @ splits, as in the library */
	{"postmaster", "+", "postmaster"},
	{"BOB", "", "bob"},
	{"", "+", NULL},
	{"@x", "+", NULL},
	{"bo b@x", "+", NULL},
	{"b\tob@x", "+", NULL},
	{"b\xc3\xa9@x", "+", NULL},
};

Test(policy_request, recipient_key_table)
{
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		char key[64];
		int r = cache_key(c->recipient, c->delimiters, key,
					     sizeof(key));

		if (c->key == NULL) {
			cr_assert_eq(r, -1, "row %zu (%s) accepted as %s", i,
				     c->recipient, key);
			continue;
		}
		cr_assert_eq(r, 0, "row %zu (%s) refused", i, c->recipient);
		cr_assert_str_eq(key, c->key, "row %zu", i);
	}
}

Test(policy_request, recipient_key_too_long)
{
	char key[8];

	cr_assert_eq(cache_key("abc@d.ef", "+", key, 8), -1);
	cr_assert_eq(cache_key("abc@d.e", "+", key, 8), 0);
	cr_assert_str_eq(key, "abc@d.e");
}
