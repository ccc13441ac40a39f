/*
 * request.c - pure parser of Postfix policy requests (see request.h).
 *
 * Limits are checked before anything is interpreted, so hostile input
 * costs at most one bounded line of work.  Values other than the three
 * the daemon uses are never copied: a request holds one malloc'd string.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "request.h"

void
policy_parser_init(struct policy_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void
policy_request_clear(struct policy_request *req)
{
	free(req->recipient);
	memset(req, 0, sizeof(*req));
}

void
policy_parser_deinit(struct policy_parser *p)
{
	policy_request_clear(&p->req);
}

void
policy_parser_take(struct policy_parser *p, struct policy_request *req_r)
{
	*req_r = p->req;
	memset(&p->req, 0, sizeof(p->req));
}

static void
copy_name(char *dst, const char *value, size_t len)
{
	/* A longer value is stored cut short; it then matches no name we
	 * know, which is the right outcome for nonsense. */
	if (len >= POLICY_NAME_MAX)
		len = POLICY_NAME_MAX - 1;
	memcpy(dst, value, len);
	dst[len] = '\0';
}

/* A decimal number; -1 when empty, not a number or too big. */
static int
parse_number(const char *value, size_t len, uint64_t *n_r)
{
	uint64_t n = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned int d = (unsigned char)value[i] - '0';

		if (d > 9 || n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*n_r = n;
	return 0;
}

static void
parse_size(struct policy_request *req, const char *value, size_t len)
{
	req->has_size = 1;
	if (parse_number(value, len, &req->size) < 0) {
		req->bad_size = 1;
		req->size = 0;
	}
}

static void
parse_instance(struct policy_request *req, const char *value, size_t len)
{
	req->has_instance = 1;
	/* Cut short, two long ids could look alike and join two messages:
	 * an id that does not fit is no id. */
	if (len >= sizeof(req->instance))
		return;
	memcpy(req->instance, value, len);
	req->instance[len] = '\0';
}

/* One complete line without its terminator. */
static enum policy_status
parse_line(struct policy_parser *p, const char *line, size_t len)
{
	struct policy_request *req = &p->req;
	const char *eq, *value;
	size_t name_len, value_len;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > POLICY_LINE_MAX)
		return POLICY_ERR_LINE_TOO_LONG;
	if (memchr(line, '\0', len) != NULL)
		return POLICY_ERR_NUL;
	/*
	 * Postfix never sends an empty request; lone empty lines would each
	 * cost an answer and a log line for one byte of input.
	 */
	if (len == 0)
		return req->nattrs == 0 ? POLICY_ERR_EMPTY : POLICY_REQUEST;
	if (++req->nattrs > POLICY_ATTRS_MAX)
		return POLICY_ERR_TOO_MANY_ATTRS;
	eq = memchr(line, '=', len);
	if (eq == NULL || eq == line)
		return POLICY_ERR_SYNTAX;
	name_len = (size_t)(eq - line);
	value = eq + 1;
	value_len = len - name_len - 1;

#define NAME_IS(s) (name_len == sizeof(s) - 1 && memcmp(line, s, name_len) == 0)
	if (NAME_IS("recipient") && !req->has_recipient) {
		req->has_recipient = 1;
		req->recipient = strndup(value, value_len);
		if (req->recipient == NULL)
			return POLICY_ERR_NOMEM;
	} else if (NAME_IS("size") && !req->has_size) {
		parse_size(req, value, value_len);
	} else if (NAME_IS("request") && !req->has_request) {
		req->has_request = 1;
		copy_name(req->request, value, value_len);
	} else if (NAME_IS("protocol_state") && !req->has_state) {
		req->has_state = 1;
		copy_name(req->protocol_state, value, value_len);
	} else if (NAME_IS("instance") && !req->has_instance) {
		parse_instance(req, value, value_len);
	} else if (NAME_IS("recipient_count") && !req->has_recipient_count) {
		req->has_recipient_count = 1;
		if (parse_number(value, value_len, &req->recipient_count) < 0)
			req->recipient_count = 0;
	}
#undef NAME_IS
	return POLICY_MORE;
}

enum policy_status
policy_parser_feed(struct policy_parser *p, const char *buf, size_t len,
		   size_t *consumed_r)
{
	size_t pos = 0;

	*consumed_r = 0;
	if (p->error != POLICY_MORE)
		return p->error;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t line_len;
		enum policy_status st;

		if (nl == NULL) {
			/* Room for a "\r" before the "\n" that has not come. */
			if (len - pos > POLICY_LINE_MAX + 1)
				return p->error = POLICY_ERR_LINE_TOO_LONG;
			break;
		}
		line_len = (size_t)(nl - (buf + pos));
		st = parse_line(p, buf + pos, line_len);
		pos += line_len + 1;
		*consumed_r = pos;
		if (st == POLICY_REQUEST)
			return POLICY_REQUEST;
		if (st != POLICY_MORE)
			return p->error = st;
	}
	return POLICY_MORE;
}

enum policy_kind
policy_request_kind(const struct policy_request *req)
{
	int has_recipient = req->recipient != NULL && req->recipient[0] != '\0';

	/* Postfix always sends request=; a client that leaves it out is
	 * given the benefit of the doubt, one that names another is not. */
	if (req->has_request &&
	    strcmp(req->request, "smtpd_access_policy") != 0)
		return POLICY_SKIP_REQUEST;
	if (strcasecmp(req->protocol_state, "END-OF-MESSAGE") == 0)
		return has_recipient ? POLICY_CHECK_COMMIT : POLICY_COMMIT;
	if (strcasecmp(req->protocol_state, "RCPT") != 0)
		return POLICY_SKIP_STATE;
	return has_recipient ? POLICY_CHECK : POLICY_SKIP_NO_RECIPIENT;
}

const char *
policy_status_text(enum policy_status status)
{
	switch (status) {
	case POLICY_MORE:
	case POLICY_REQUEST:
		return "no error";
	case POLICY_ERR_LINE_TOO_LONG:
		return "line longer than 4096 bytes";
	case POLICY_ERR_TOO_MANY_ATTRS:
		return "more than 100 attributes in one request";
	case POLICY_ERR_NUL:
		return "NUL byte in input";
	case POLICY_ERR_SYNTAX:
		return "line is not name=value";
	case POLICY_ERR_EMPTY:
		return "empty request (an empty line with no attributes before it)";
	case POLICY_ERR_NOMEM:
		return "out of memory";
	}
	return "unknown error";
}
