/*
 * transport.c - one IMAP connection: libcurl connects, does STARTTLS or
 * implicit TLS and logs in (CURLOPT_CONNECT_ONLY); then this module sends
 * tagged commands and reads the responses itself over curl_easy_send/recv.
 *
 * Why not CURLOPT_CUSTOMREQUEST: libcurl 7.88.1 logs out and drops the
 * connection after any tagged NO, so every unknown recipient would cost a
 * new connect and login; it hides NO vs BAD behind one error code; and its
 * literal handling changed between versions.  Reading the raw responses
 * here keeps the connection after NO, tells every outcome apart and
 * bounds what a hostile server can make us buffer.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "qc_private.h"

#define SERVER_LINE_MAX 256

struct qc_transport {
	CURL *easy;
	curl_socket_t sock;
	char *buf;
	size_t cap, len, consumed;
	size_t max_response; /* of the exchange under way */
	unsigned int tag_counter;
	int fresh;
	char authzid[256];
	char server_line[SERVER_LINE_MAX]; /* last line read during login */
	char curl_error[CURL_ERROR_SIZE];
};

/* Monotonic milliseconds: deadlines must not move with the wall clock. */
uint64_t
qc_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Keeps the server's last line during connect and login, to tell
 * [AUTHORIZATIONFAILED] (no such user) from [AUTHENTICATIONFAILED]. */
static int
debug_cb(CURL *easy, curl_infotype type, char *data, size_t size, void *ctx)
{
	struct qc_transport *t = ctx;
	size_t n = 0;

	(void)easy;
	if (type != CURLINFO_HEADER_IN)
		return 0;
	for (size_t i = 0; i < size && n + 1 < sizeof(t->server_line); i++) {
		if (data[i] == '\r' || data[i] == '\n')
			break;
		t->server_line[n++] = (unsigned char)data[i] >= 0x20 &&
				      (unsigned char)data[i] < 0x7f ? data[i] :
				      '?';
	}
	t->server_line[n] = '\0';
	return 0;
}

static int
map_curl_error(CURLcode code)
{
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return QC_ERR_TIMEOUT;
	case CURLE_LOGIN_DENIED:
		return QC_ERR_AUTH;
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
		return QC_ERR_TLS;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
		return QC_ERR_PROTOCOL;
	case CURLE_OUT_OF_MEMORY:
		return QC_ERR_NOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return QC_ERR_CONFIG;
	default:
		return QC_ERR_CONNECT;
	}
}

int
qc_transport_open(const struct qc_transport_params *p,
		  struct qc_transport **transport_r, char *errmsg)
{
	struct qc_transport *t = calloc(1, sizeof(*t));
	CURLcode code;
	curl_socket_t sock;
	int ret;

	*transport_r = NULL;
	if (t == NULL)
		return QC_ERR_NOMEM;
	t->easy = curl_easy_init();
	t->cap = 4096;
	t->buf = malloc(t->cap);
	if (t->easy == NULL || t->buf == NULL) {
		qc_transport_close(&t);
		return QC_ERR_NOMEM;
	}
	t->fresh = 1;
	qc_strlcpy(t->authzid, p->authzid != NULL ? p->authzid : "",
		   sizeof(t->authzid));
	curl_easy_setopt(t->easy, CURLOPT_URL, p->url);
#if CURL_AT_LEAST_VERSION(7, 85, 0)
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "imap,imaps");
#endif
	curl_easy_setopt(t->easy, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(t->easy, CURLOPT_USERNAME, p->user);
	curl_easy_setopt(t->easy, CURLOPT_PASSWORD, p->password);
	if (p->authzid != NULL && p->authzid[0] != '\0')
		curl_easy_setopt(t->easy, CURLOPT_SASL_AUTHZID, p->authzid);
	/* STARTTLS must succeed or nothing, the password least, is sent. */
	curl_easy_setopt(t->easy, CURLOPT_USE_SSL, p->tls_required ?
			 (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
	if (p->ca_file != NULL && p->ca_file[0] != '\0')
		curl_easy_setopt(t->easy, CURLOPT_CAINFO, p->ca_file);
	curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)p->timeout_ms);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->curl_error);
	curl_easy_setopt(t->easy, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(t->easy, CURLOPT_DEBUGDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_VERBOSE, 1L);

	code = curl_easy_perform(t->easy);
	curl_easy_setopt(t->easy, CURLOPT_VERBOSE, 0L);
	if (code != CURLE_OK) {
		ret = map_curl_error(code);
		if (ret == QC_ERR_AUTH &&
		    strstr(t->server_line, "[AUTHORIZATIONFAILED]") != NULL &&
		    p->authzid != NULL && p->authzid[0] != '\0') {
			qc_errmsg_set(errmsg, "login as %s for %s: %s",
				      p->user, p->authzid, t->server_line);
			ret = QC_TRANSPORT_NO_USER;
		} else if (ret == QC_ERR_TLS) {
			/* The server's last line ("OK Begin TLS negotiation
			 * now") says nothing about why TLS failed: say what
			 * to check instead.  curl stopped before the login. */
			qc_errmsg_set(errmsg, "%s: TLS failed, not logging in: "
				      "%s; %s", p->url, t->curl_error[0] ?
				      t->curl_error : curl_easy_strerror(code),
				      code == CURLE_USE_SSL_FAILED ?
				      "the server offers no STARTTLS and "
				      "imap_tls = required (use imaps://, or "
				      "enable TLS on the server)" :
				      "check imap_ca_file and that the server "
				      "certificate names the host in imap_url");
		} else {
			qc_errmsg_set(errmsg, "%s: %s%s%s", p->url,
				      t->curl_error[0] ? t->curl_error :
				      curl_easy_strerror(code),
				      t->server_line[0] ? "; server said: " : "",
				      t->server_line);
		}
		qc_transport_close(&t);
		return ret;
	}
	if (curl_easy_getinfo(t->easy, CURLINFO_ACTIVESOCKET, &sock) !=
	    CURLE_OK || sock == CURL_SOCKET_BAD) {
		qc_errmsg_set(errmsg, "%s: no socket after login", p->url);
		qc_transport_close(&t);
		return QC_ERR_CONNECT;
	}
	t->sock = sock;
	*transport_r = t;
	return QC_OK;
}

/*
 * Never waits for the server: libcurl (7.88.1, measured with strace)
 * treats a CONNECT_ONLY connection as dead at cleanup and closes the
 * socket without a LOGOUT, so a server frozen with the connection open
 * costs no more than the exchange's deadline.  Do not add a polite LOGOUT
 * here without a short deadline: libcurl's own would wait up to its
 * 120 s server-response timeout (tests/integration/policyd-freeze.sh).
 */
void
qc_transport_close(struct qc_transport **tp)
{
	struct qc_transport *t = *tp;

	if (t == NULL)
		return;
	if (t->easy != NULL)
		curl_easy_cleanup(t->easy);
	free(t->buf);
	free(t);
	*tp = NULL;
}

int
qc_transport_is_fresh(const struct qc_transport *t)
{
	return t->fresh;
}

const char *
qc_transport_authzid(const struct qc_transport *t)
{
	return t->authzid;
}

static int
wait_socket(struct qc_transport *t, short events, uint64_t deadline)
{
	struct pollfd pfd = {.fd = t->sock, .events = events};
	uint64_t now = qc_clock_ms();
	int r;

	if (now >= deadline)
		return QC_ERR_TIMEOUT;
	r = poll(&pfd, 1, (int)(deadline - now));
	if (r == 0)
		return QC_ERR_TIMEOUT;
	return QC_OK; /* errors and hang-ups surface in send/recv */
}

static int
send_all(struct qc_transport *t, const char *data, size_t len,
	 uint64_t deadline, char *errmsg)
{
	while (len > 0) {
		size_t sent = 0;
		CURLcode code = curl_easy_send(t->easy, data, len, &sent);

		if (code == CURLE_AGAIN) {
			if (wait_socket(t, POLLOUT, deadline) != QC_OK) {
				qc_errmsg_set(errmsg, "timed out sending to "
					      "the IMAP server");
				return QC_ERR_TIMEOUT;
			}
			continue;
		}
		if (code != CURLE_OK) {
			qc_errmsg_set(errmsg, "sending to the IMAP server: %s",
				      curl_easy_strerror(code));
			return QC_ERR_CLOSED;
		}
		data += sent;
		len -= sent;
	}
	return QC_OK;
}

/* Read more bytes into the buffer; QC_ERR_CLOSED at end of stream. */
static int
receive_more(struct qc_transport *t, uint64_t deadline, char *errmsg)
{
	for (;;) {
		size_t got = 0;
		CURLcode code;

		if (t->len == t->cap) {
			size_t ncap = t->cap * 2;
			char *nbuf;

			if (t->cap >= t->max_response) {
				qc_errmsg_set(errmsg, "IMAP response longer "
					      "than %zu bytes", t->max_response);
				return QC_ERR_PROTOCOL;
			}
			nbuf = realloc(t->buf, ncap);
			if (nbuf == NULL)
				return QC_ERR_NOMEM;
			t->buf = nbuf;
			t->cap = ncap;
		}
		code = curl_easy_recv(t->easy, t->buf + t->len,
				      t->cap - t->len, &got);
		if (code == CURLE_AGAIN) {
			if (wait_socket(t, POLLIN, deadline) != QC_OK) {
				qc_errmsg_set(errmsg, "the IMAP server did "
					      "not answer in time");
				return QC_ERR_TIMEOUT;
			}
			continue;
		}
		if (code != CURLE_OK || got == 0) {
			qc_errmsg_set(errmsg, "the IMAP server closed the "
				      "connection%s%s", code != CURLE_OK ?
				      ": " : "", code != CURLE_OK ?
				      curl_easy_strerror(code) : "");
			return QC_ERR_CLOSED;
		}
		t->len += got;
		return QC_OK;
	}
}

int
qc_transport_exchange(struct qc_transport *t, const char *command,
		      uint64_t timeout_ms, size_t max_response,
		      const char **resp_r,
		      size_t *resp_len_r, char *tag_r, size_t tag_size,
		      char *errmsg)
{
	uint64_t deadline = qc_clock_ms() + timeout_ms;
	char line[QC_MAILBOX_MAX * 2 + 64];
	size_t start, scan;
	int n, ret;

	/* Forget the previous exchange; keep bytes that came after it. */
	if (t->consumed > 0) {
		memmove(t->buf, t->buf + t->consumed, t->len - t->consumed);
		t->len -= t->consumed;
		t->consumed = 0;
	}
	t->max_response = max_response;
	snprintf(tag_r, tag_size, "Q%u", ++t->tag_counter);
	n = snprintf(line, sizeof(line), "%s %s\r\n", tag_r, command);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		qc_errmsg_set(errmsg, "IMAP command too long");
		return QC_ERR_INVALID;
	}
	ret = send_all(t, line, (size_t)n, deadline, errmsg);
	if (ret != QC_OK)
		return ret;
	t->fresh = 0;
	start = scan = 0;
	for (;;) {
		long rlen = qc_imap_response_length(t->buf + scan,
						    t->len - scan);
		const char *text;
		size_t text_len;

		if (rlen < 0) {
			qc_errmsg_set(errmsg, "malformed literal in IMAP "
				      "response");
			return QC_ERR_PROTOCOL;
		}
		if (rlen == 0) {
			ret = receive_more(t, deadline, errmsg);
			if (ret != QC_OK)
				return ret;
			continue;
		}
		switch (qc_imap_classify(t->buf + scan, (size_t)rlen, tag_r,
					 &text, &text_len)) {
		case QC_IMAP_OK:
		case QC_IMAP_NO:
		case QC_IMAP_BAD:
			scan += (size_t)rlen;
			*resp_r = t->buf + start;
			*resp_len_r = scan - start;
			t->consumed = scan;
			return QC_OK;
		default:
			scan += (size_t)rlen;
			break;
		}
	}
}

/*
 * Between exchanges a server only speaks to say goodbye (autologout BYE)
 * or to close.  TLS may also deliver records that carry no data (session
 * tickets), so readable alone does not mean closed: read and look.
 */
int
qc_transport_idle_closed(struct qc_transport *t)
{
	struct pollfd pfd = {.fd = t->sock, .events = POLLIN};

	while (poll(&pfd, 1, 0) > 0) {
		size_t got = 0;
		CURLcode code;

		if (t->consumed > 0) {
			memmove(t->buf, t->buf + t->consumed,
				t->len - t->consumed);
			t->len -= t->consumed;
			t->consumed = 0;
		}
		if (t->len == t->cap)
			return 1; /* chatter we never asked for */
		code = curl_easy_recv(t->easy, t->buf + t->len,
				      t->cap - t->len, &got);
		if (code == CURLE_AGAIN)
			return 0;
		if (code != CURLE_OK || got == 0)
			return 1;
		t->len += got;
		if (memmem(t->buf, t->len, "* BYE", 5) != NULL)
			return 1;
	}
	return 0;
}

int
qc_library_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? QC_OK :
	       QC_ERR_NOMEM;
}

void
qc_library_cleanup(void)
{
	curl_global_cleanup();
}
