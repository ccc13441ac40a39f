/*
 * request.h - the Postfix policy protocol, request side: a pure,
 * incremental parser (no I/O, no logging) and the small pure helpers that
 * classify a request and turn its recipient into a cache key.
 *
 * Protocol (Postfix SMTPD_POLICY_README): "name=value" lines ended by
 * "\n", an empty line ends a request.  Unknown attributes are ignored; of
 * a repeated attribute the first one counts.  Input is bounded before it
 * is interpreted: a line over POLICY_LINE_MAX bytes, more than
 * POLICY_ATTRS_MAX attributes in one request, a NUL byte or a line
 * without "=" is an error after which nothing more may be fed.
 */
#ifndef QC_POLICYD_REQUEST_H
#define QC_POLICYD_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define POLICY_LINE_MAX 4096  /* bytes in one line, without "\n" / "\r\n" */
#define POLICY_ATTRS_MAX 100  /* attributes in one request */
#define POLICY_NAME_MAX 32    /* stored length of request= / protocol_state= */
#define POLICY_INSTANCE_MAX 64 /* stored length of instance= (Postfix: ~25) */

enum policy_status {
	POLICY_MORE = 0,           /* no complete request yet: feed more */
	POLICY_REQUEST,            /* a request is complete: take it */
	POLICY_ERR_LINE_TOO_LONG,
	POLICY_ERR_TOO_MANY_ATTRS,
	POLICY_ERR_NUL,
	POLICY_ERR_SYNTAX,         /* a line without "=" */
	POLICY_ERR_EMPTY,          /* an empty line that ends no request */
	POLICY_ERR_NOMEM
};

struct policy_request {
	char *recipient;                     /* NULL if absent; owned */
	uint64_t size;                       /* 0 if absent or unparsable */
	uint64_t recipient_count;            /* accepted so far; 0 if absent */
	char request[POLICY_NAME_MAX];       /* "" if absent */
	char protocol_state[POLICY_NAME_MAX];
	/* Postfix's id of the message: the same for every request of one
	 * MAIL FROM .. END-OF-MESSAGE; "" if absent or too long. */
	char instance[POLICY_INSTANCE_MAX];
	unsigned int nattrs;
	unsigned int has_recipient:1, has_size:1, has_request:1, has_state:1;
	unsigned int has_instance:1, has_recipient_count:1;
	unsigned int bad_size:1;             /* size= was not a number */
};

struct policy_parser {
	struct policy_request req;           /* the request being read */
	enum policy_status error;            /* sticky once an error is seen */
};

/* What the daemon does with a complete request. */
enum policy_kind {
	POLICY_CHECK = 0,          /* RCPT: look the recipient up, count nothing */
	POLICY_CHECK_COMMIT,       /* END-OF-MESSAGE, one recipient: check the
				    * real size, count the message if it fits */
	POLICY_COMMIT,             /* END-OF-MESSAGE, several recipients (no
				    * recipient=): count it for those of its
				    * RCPTs that were let through */
	POLICY_SKIP_REQUEST,       /* request= is not smtpd_access_policy */
	POLICY_SKIP_STATE,         /* protocol_state is not RCPT/END-OF-MESSAGE */
	POLICY_SKIP_NO_RECIPIENT   /* RCPT without a recipient */
};

void policy_parser_init(struct policy_parser *p);
/* Frees what the request under construction holds. */
void policy_parser_deinit(struct policy_parser *p);

/*
 * Parse complete lines of buf[0..len).  Returns POLICY_REQUEST after the
 * empty line that ends a request, with *consumed_r counting the bytes up
 * to and including it; call policy_parser_take() and feed the rest.
 * Returns POLICY_MORE when no complete line is left: *consumed_r counts
 * the lines used, and the caller presents the rest (a partial line) again
 * together with the next bytes.  A partial line that is already too long
 * is an error at once, so a caller never buffers more than
 * POLICY_LINE_MAX + 2 bytes of one line.  Errors are sticky.
 */
enum policy_status policy_parser_feed(struct policy_parser *p,
				      const char *buf, size_t len,
				      size_t *consumed_r);

/* Move the completed request to *req_r (caller owns it) and start anew. */
void policy_parser_take(struct policy_parser *p, struct policy_request *req_r);

/* Free what a taken request holds; safe to call twice. */
void policy_request_clear(struct policy_request *req);

enum policy_kind policy_request_kind(const struct policy_request *req);

/* A phrase for an error status, for log lines ("line longer than ..."). */
const char *policy_status_text(enum policy_status status);

#endif
