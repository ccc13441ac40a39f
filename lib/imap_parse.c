/*
 * imap_parse.c - pure parsers for the IMAP responses libquotachk reads:
 * response framing (lines and {N} literals), tagged status, QUOTAROOT and
 * QUOTA (RFC 9208 section 5), LIST (RFC 9051 7.3.1).  No I/O, no
 * allocation: every byte comes from a server we do not control, so these
 * are table-tested and fuzzed.
 *
 * Robustness rules taken from what real servers send: mailbox and root
 * names may be atoms, quoted strings or literals (Dovecot's root is
 * "User quota"); a root may list unknown resources (X-NUM-FOLDERS,
 * MAILBOX, ...); numbers are 64-bit; Dovecot answers "OK No quota" with no
 * untagged line at all; QUOTA lines for roots not announced in QUOTAROOT
 * are unsolicited and ignored.
 */
#include <string.h>
#include <strings.h>

#include "qc_private.h"

#define LITERAL_MAX (1024 * 1024)
#define ROOTS_MAX 16

long
qc_imap_response_length(const char *buf, size_t len)
{
	size_t pos = 0;

	for (;;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t line_end, n = 0, digits = 0, i;

		if (nl == NULL)
			return 0;
		line_end = (size_t)(nl - buf);
		pos = line_end + 1;
		/* Does the line (before CR LF) end with {N} or {N+}? */
		i = line_end;
		if (i > 0 && buf[i - 1] == '\r')
			i--;
		if (i == 0 || buf[i - 1] != '}')
			return (long)pos;
		i--;
		if (i > 0 && buf[i - 1] == '+')
			i--;
		while (i > 0 && buf[i - 1] >= '0' && buf[i - 1] <= '9') {
			i--;
			digits++;
		}
		if (digits == 0 || i == 0 || buf[i - 1] != '{')
			return (long)pos;
		if (digits > 7)
			return -1;
		for (size_t d = 0; d < digits; d++)
			n = n * 10 + (size_t)(buf[i + d] - '0');
		if (n > LITERAL_MAX)
			return -1;
		if (len - pos < n)
			return 0;
		pos += n;
	}
}

/* A cursor over one response. */
struct cursor {
	const char *p, *end;
};

static int
at_end(const struct cursor *c)
{
	return c->p >= c->end || *c->p == '\r' || *c->p == '\n';
}

static void
skip_spaces(struct cursor *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

static int
atom_char(char ch)
{
	return (unsigned char)ch > 0x20 && (unsigned char)ch < 0x7f &&
	       ch != '(' && ch != ')' && ch != '{' && ch != '"' && ch != '\\';
}

/*
 * An astring (atom, quoted string or literal) into out; NIL is returned as
 * the atom "NIL" (callers that care test for it).  -1 on malformed input
 * or a name too long for out.
 */
static int
read_astring(struct cursor *c, char *out, size_t outsize)
{
	size_t n = 0;

	skip_spaces(c);
	if (c->p >= c->end)
		return -1;
	if (*c->p == '"') {
		for (c->p++; c->p < c->end && *c->p != '"'; c->p++) {
			if (*c->p == '\\' && c->p + 1 < c->end)
				c->p++;
			if (*c->p == '\r' || *c->p == '\n' || n + 1 >= outsize)
				return -1;
			out[n++] = *c->p;
		}
		if (c->p >= c->end)
			return -1;
		c->p++;
	} else if (*c->p == '{') {
		size_t len = 0;

		for (c->p++; c->p < c->end && *c->p >= '0' && *c->p <= '9';
		     c->p++) {
			len = len * 10 + (size_t)(*c->p - '0');
			if (len > LITERAL_MAX)
				return -1;
		}
		if (c->p < c->end && *c->p == '+')
			c->p++;
		if (c->end - c->p < 3 || c->p[0] != '}' )
			return -1;
		c->p++;
		if (*c->p == '\r')
			c->p++;
		if (c->p >= c->end || *c->p != '\n')
			return -1;
		c->p++;
		if ((size_t)(c->end - c->p) < len || len >= outsize)
			return -1;
		memcpy(out, c->p, len);
		n = len;
		c->p += len;
	} else {
		while (c->p < c->end && (atom_char(*c->p) ||
		       (*c->p == ']' && n > 0))) {
			if (n + 1 >= outsize)
				return -1;
			out[n++] = *c->p++;
		}
		if (n == 0)
			return -1;
	}
	out[n] = '\0';
	return 0;
}

static int
read_number(struct cursor *c, uint64_t *n_r)
{
	uint64_t n = 0;
	int digits = 0;

	skip_spaces(c);
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
		c->p++;
		digits++;
	}
	*n_r = n;
	return digits > 0 ? 0 : -1;
}

/* Keep printable ASCII of a server text for messages. */
static void
copy_text(char *out, size_t outsize, const char *text, size_t len)
{
	size_t n = 0;

	if (outsize == 0)
		return;
	for (size_t i = 0; i < len && n + 1 < outsize; i++) {
		if (text[i] == '\r' || text[i] == '\n')
			break;
		out[n++] = (unsigned char)text[i] >= 0x20 &&
			   (unsigned char)text[i] < 0x7f ? text[i] : '?';
	}
	out[n] = '\0';
}

enum qc_imap_status
qc_imap_classify(const char *resp, size_t len, const char *tag,
		 const char **text_r, size_t *text_len_r)
{
	struct cursor c = {resp, resp + len};
	char first[64], status[8];
	int untagged;
	enum qc_imap_status st;

	*text_r = resp;
	*text_len_r = 0;
	if (read_astring(&c, first, sizeof(first)) < 0)
		return QC_IMAP_OTHER;
	untagged = strcmp(first, "*") == 0;
	if (!untagged && strcmp(first, tag) != 0)
		return QC_IMAP_OTHER;
	if (read_astring(&c, status, sizeof(status)) < 0)
		return untagged ? QC_IMAP_UNTAGGED : QC_IMAP_OTHER;
	skip_spaces(&c);
	*text_r = c.p;
	*text_len_r = (size_t)(c.end - c.p);
	if (untagged)
		return strcasecmp(status, "BYE") == 0 ? QC_IMAP_BYE :
		       QC_IMAP_UNTAGGED;
	if (strcasecmp(status, "OK") == 0)
		st = QC_IMAP_OK;
	else if (strcasecmp(status, "NO") == 0)
		st = QC_IMAP_NO;
	else if (strcasecmp(status, "BAD") == 0)
		st = QC_IMAP_BAD;
	else
		st = QC_IMAP_OTHER;
	return st;
}

static int
text_contains(const char *text, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(text + i, needle, n) == 0)
			return 1;
	return 0;
}

/* The resource with less headroom limits more. */
static void
merge_usage(struct qc_usage *into, uint64_t used, uint64_t limit, int *won)
{
	uint64_t room = limit > used ? limit - used : 0;
	uint64_t have = into->limit > into->used ? into->limit - into->used : 0;

	*won = 0;
	if (!into->limited || room < have) {
		into->limited = 1;
		into->used = used;
		into->limit = limit;
		*won = 1;
	}
}

static uint64_t
kib_to_bytes(uint64_t kib)
{
	return kib > UINT64_MAX / 1024 ? UINT64_MAX : kib * 1024;
}

struct quota_state {
	char roots[ROOTS_MAX][QC_MAILBOX_MAX];
	int nroots;
	int seen_quotaroot;
	struct qc_quota *quota;
};

static int
root_announced(const struct quota_state *st, const char *root)
{
	for (int i = 0; i < st->nroots; i++)
		if (strcmp(st->roots[i], root) == 0)
			return 1;
	return 0;
}

static int
parse_quotaroot(struct cursor *c, struct quota_state *st)
{
	char name[QC_MAILBOX_MAX];

	if (read_astring(c, name, sizeof(name)) < 0)
		return -1;
	if (st->seen_quotaroot)
		return 0; /* duplicate QUOTAROOT: the first one counts */
	st->seen_quotaroot = 1;
	skip_spaces(c);
	while (!at_end(c)) {
		if (read_astring(c, name, sizeof(name)) < 0)
			return -1;
		if (st->nroots < ROOTS_MAX)
			memcpy(st->roots[st->nroots++], name, sizeof(name));
		st->quota->nroots++;
		skip_spaces(c);
	}
	return 0;
}

static int
parse_quota(struct cursor *c, struct quota_state *st)
{
	char root[QC_MAILBOX_MAX], resource[64];
	int wanted;

	if (read_astring(c, root, sizeof(root)) < 0)
		return -1;
	/* Before any QUOTAROOT line every root is taken (GETQUOTA replies). */
	wanted = !st->seen_quotaroot || root_announced(st, root);
	skip_spaces(c);
	if (c->p >= c->end || *c->p != '(')
		return -1;
	c->p++;
	for (;;) {
		uint64_t used, limit;
		int won = 0;

		skip_spaces(c);
		if (c->p < c->end && *c->p == ')')
			break;
		if (read_astring(c, resource, sizeof(resource)) < 0 ||
		    read_number(c, &used) < 0 || read_number(c, &limit) < 0)
			return -1;
		if (!wanted)
			continue;
		if (strcasecmp(resource, "STORAGE") == 0)
			merge_usage(&st->quota->storage, kib_to_bytes(used),
				    kib_to_bytes(limit), &won);
		else if (strcasecmp(resource, "MESSAGE") == 0) {
			merge_usage(&st->quota->messages, used, limit, &won);
			if (won && st->quota->storage.limited)
				won = 0; /* storage names the root first */
		}
		if (won)
			qc_strlcpy(st->quota->root, root,
				   sizeof(st->quota->root));
	}
	return 0;
}

/* One complete response of a buffer, classified. */
struct response {
	const char *p;
	size_t len;
	enum qc_imap_status status;
	const char *text;
	size_t text_len;
};

/* The response at *pos: 1 and *pos advanced, 0 at the end, -1 malformed. */
static int
next_response(const char *buf, size_t len, size_t *pos, const char *tag,
	      struct response *r)
{
	long rlen;

	if (*pos >= len)
		return 0;
	rlen = qc_imap_response_length(buf + *pos, len - *pos);
	if (rlen <= 0)
		return -1;
	r->p = buf + *pos;
	r->len = (size_t)rlen;
	*pos += r->len;
	r->status = qc_imap_classify(r->p, r->len, tag, &r->text,
				     &r->text_len);
	return 1;
}

int
qc_quota_parse(const char *buf, size_t len, const char *tag,
	       const char *mailbox, struct qc_quota *quota_r,
	       enum qc_verdict *verdict_r, char *errtext, size_t errtext_size)
{
	struct quota_state st;
	size_t pos = 0;

	memset(quota_r, 0, sizeof(*quota_r));
	memset(&st, 0, sizeof(st));
	st.quota = quota_r;
	qc_strlcpy(quota_r->mailbox, mailbox, sizeof(quota_r->mailbox));
	if (errtext_size > 0)
		errtext[0] = '\0';
	for (;;) {
		struct response r;
		int got = next_response(buf, len, &pos, tag, &r);

		if (got <= 0) {
			const char *why = got < 0 ? "truncated response" :
					  "no tagged completion";

			copy_text(errtext, errtext_size, why, strlen(why));
			return QC_ERR_PROTOCOL;
		}
		switch (r.status) {
		case QC_IMAP_UNTAGGED: {
			struct cursor c = {r.p + 1, r.p + r.len};
			char keyword[32];
			int bad = 0;

			if (read_astring(&c, keyword, sizeof(keyword)) < 0)
				break;
			if (strcasecmp(keyword, "QUOTAROOT") == 0)
				bad = parse_quotaroot(&c, &st);
			else if (strcasecmp(keyword, "QUOTA") == 0)
				bad = parse_quota(&c, &st);
			/* The response is whole (it got this far), so the
			 * connection is in step: only this answer is bad. */
			if (bad < 0) {
				copy_text(errtext, errtext_size, r.p, r.len);
				return QC_ERR_ANSWER;
			}
			break;
		}
		case QC_IMAP_BYE:
			copy_text(errtext, errtext_size, r.text, r.text_len);
			return QC_ERR_CLOSED;
		case QC_IMAP_OK:
			*verdict_r = quota_r->storage.limited ||
				     quota_r->messages.limited ?
				     QC_VERDICT_FITS : QC_VERDICT_NO_QUOTA;
			return QC_OK;
		case QC_IMAP_NO:
			copy_text(errtext, errtext_size, r.text, r.text_len);
			/*
			 * Only an explicit "no such mailbox" is one: a Murder
			 * frontend whose backend is down also says NO.
			 */
			if (text_contains(r.text, r.text_len, "[NONEXISTENT]") ||
			    text_contains(r.text, r.text_len,
					  "Mailbox does not exist")) {
				*verdict_r = QC_VERDICT_NO_MAILBOX;
				return QC_OK;
			}
			return QC_ERR_SERVER;
		case QC_IMAP_BAD:
			copy_text(errtext, errtext_size, r.text, r.text_len);
			return QC_ERR_ANSWER;
		case QC_IMAP_OTHER:
			copy_text(errtext, errtext_size, r.p, r.len);
			return QC_ERR_PROTOCOL;
		}
	}
}

int
qc_list_parse(const char *buf, size_t len, const char *tag,
	      qc_list_line_fn *fn, void *ctx, char *errtext,
	      size_t errtext_size)
{
	size_t pos = 0;

	if (errtext_size > 0)
		errtext[0] = '\0';
	for (;;) {
		struct response r;

		if (next_response(buf, len, &pos, tag, &r) <= 0)
			return QC_ERR_PROTOCOL;
		if (r.status == QC_IMAP_UNTAGGED) {
			struct cursor c = {r.p + 1, r.p + r.len};
			char keyword[16], sep[8], name[QC_MAILBOX_MAX];

			if (read_astring(&c, keyword, sizeof(keyword)) < 0 ||
			    strcasecmp(keyword, "LIST") != 0)
				continue;
			skip_spaces(&c);
			if (c.p >= c.end || *c.p != '(')
				return QC_ERR_PROTOCOL;
			while (c.p < c.end && *c.p != ')')
				c.p++;
			if (c.p >= c.end)
				return QC_ERR_PROTOCOL;
			c.p++;
			if (read_astring(&c, sep, sizeof(sep)) < 0 ||
			    read_astring(&c, name, sizeof(name)) < 0)
				return QC_ERR_PROTOCOL;
			if (strlen(sep) > 1)
				sep[0] = '\0'; /* NIL: no hierarchy */
			if (fn(sep[0], name, ctx) != 0)
				return QC_OK;
			continue;
		}
		copy_text(errtext, errtext_size, r.text, r.text_len);
		switch (r.status) {
		case QC_IMAP_OK:
			return QC_OK;
		case QC_IMAP_NO:
			return QC_ERR_SERVER;
		case QC_IMAP_BYE:
			return QC_ERR_CLOSED;
		default:
			return QC_ERR_PROTOCOL;
		}
	}
}
