/*
 * http_request.c - see http_request.h.  Only the request line matters:
 * headers are read to their end (so that closing the connection does
 * not reset it before the client has the answer) and then ignored.
 */
#include <string.h>

#include "http_request.h"

/* The end of the header: an empty line, CRLF or bare LF. */
static int
header_complete(const char *buf, size_t len)
{
	for (size_t i = 1; i < len; i++)
		if (buf[i] == '\n' && (buf[i - 1] == '\n' ||
		    (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')))
			return 1;
	return 0;
}

static int
token_char(char c)
{
	return c > ' ' && c < 127;
}

int
http_request_status(const char *buf, size_t len, size_t max, int *head_r)
{
	const char *p = buf, *end, *method, *target, *version;
	size_t mlen, tlen, plen;

	*head_r = 0;
	if (!header_complete(buf, len))
		return len >= max ? 431 : 0;
	end = memchr(buf, '\n', len);
	if (end > buf && end[-1] == '\r')
		end--;
	method = p;
	while (p < end && token_char(*p))
		p++;
	mlen = (size_t)(p - method);
	if (mlen == 0 || p >= end || *p++ != ' ')
		return 400;
	target = p;
	while (p < end && token_char(*p))
		p++;
	tlen = (size_t)(p - target);
	if (tlen == 0 || p >= end || *p++ != ' ')
		return 400;
	version = p;
	if ((size_t)(end - version) != 8 || strncmp(version, "HTTP/1.", 7) != 0 ||
	    (version[7] != '0' && version[7] != '1'))
		return 400;
	if (!(mlen == 3 && memcmp(method, "GET", 3) == 0) &&
	    !(mlen == 4 && memcmp(method, "HEAD", 4) == 0))
		return 405;
	*head_r = mlen == 4;
	for (plen = 0; plen < tlen && target[plen] != '?'; plen++)
		;
	return plen == 8 && memcmp(target, "/metrics", 8) == 0 ? 200 : 404;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	default: return "Error";
	}
}
