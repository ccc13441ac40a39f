/*
 * http_request.h - the one request the metrics endpoint understands,
 * judged from the bytes received so far.  Pure, for the unit tests.
 */
#ifndef QC_TOOLS_HTTP_REQUEST_H
#define QC_TOOLS_HTTP_REQUEST_H

#include <stddef.h>

/* Most bytes of request line and headers the endpoint reads. */
#define HTTP_REQUEST_MAX 8192

/*
 * 0 while the header is incomplete (read more), else the status to
 * answer: 200 for GET or HEAD of /metrics (a query string is ignored),
 * 404 for another path, 405 for another method, 400 for a malformed
 * request line, 431 when no complete header came within max bytes.
 * *head_r is set to 1 for HEAD (answer without the body).
 */
int http_request_status(const char *buf, size_t len, size_t max,
			int *head_r);

/* The reason phrase of a status http_request_status() returns. */
const char *http_reason(int status);

#endif
