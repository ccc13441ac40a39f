/*
 * quotachk.h - the public interface of libquotachk.
 *
 * libquotachk asks an IMAP server for a recipient's quota (RFC 9208
 * GETQUOTAROOT) and decides whether a message of a given size fits, so a
 * mail server can refuse mail for a full mailbox while the sender is still
 * connected instead of bouncing it later (backscatter).
 *
 * Conventions:
 *  - Every function that can fail returns an int: QC_OK (0) or one of the
 *    negative enum qc_error codes.  qc_strerror() turns any of them into a
 *    sentence that says what to check; the handle's *_errmsg() adds the
 *    details (file and line, server text, curl message).
 *  - Output parameters end in _r and come last.  On failure they are left
 *    in a defined but unspecified state; do not use them.
 *  - Handles are opaque.  *_free(NULL) is a no-op.
 *  - Threads: distinct handles may be used from distinct threads at the
 *    same time.  One handle must never be used by two threads at once.
 *    A qc_config_t that is no longer modified may be shared read-only.
 *    Call qc_library_init() once, before any thread is started.
 *  - Secrets: the IMAP password is only ever read from imap_password_file;
 *    it never appears in any message this library produces.
 */
#ifndef QUOTACHK_H
#define QUOTACHK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define QC_EXPORT __attribute__((visibility("default")))
#else
#define QC_EXPORT
#endif

/* Compile-time version; compare QC_VERSION_NUM with >=. */
#define QC_VERSION_MAJOR 0
#define QC_VERSION_MINOR 1
#define QC_VERSION_PATCH 0
#define QC_VERSION_STRING "0.1.0"
#define QC_VERSION_NUM \
	((QC_VERSION_MAJOR << 16) | (QC_VERSION_MINOR << 8) | QC_VERSION_PATCH)

/* Run-time version of the library actually loaded. */
QC_EXPORT unsigned int qc_version(void);
QC_EXPORT const char *qc_version_string(void);

/*
 * Errors.  One X-macro list generates the enum and qc_strerror(), so the
 * two cannot drift.  An error means "could not tell"; answers such as
 * "over quota" or "no such mailbox" are verdicts, not errors.
 */
#define QC_ERRORS(X) \
	X(QC_OK, 0, "success") \
	X(QC_ERR_NOMEM, -1, "out of memory") \
	X(QC_ERR_INVALID, -2, "invalid argument passed to libquotachk") \
	X(QC_ERR_CONFIG, -3, "configuration error; see the message for the file, line and key to fix") \
	X(QC_ERR_PASSWORD_FILE, -4, "cannot use imap_password_file; it must exist, be readable by this user and not be world-readable") \
	X(QC_ERR_ADDRESS, -5, "the recipient address cannot be mapped to a safe IMAP mailbox name") \
	X(QC_ERR_CONNECT, -6, "cannot connect to the IMAP server; check imap_url, that the server runs and firewalls") \
	X(QC_ERR_TLS, -7, "TLS failed; check imap_tls, imap_ca_file and that the certificate matches the host in imap_url") \
	X(QC_ERR_AUTH, -8, "IMAP login refused; check imap_user, imap_password_file and imap_authzid") \
	X(QC_ERR_TIMEOUT, -9, "the IMAP server did not answer within imap_timeout") \
	X(QC_ERR_CLOSED, -10, "the IMAP server closed the connection unexpectedly") \
	X(QC_ERR_PROTOCOL, -11, "the IMAP server sent an answer that could not be understood (BAD or malformed)") \
	X(QC_ERR_SERVER, -12, "the IMAP server refused the quota query (tagged NO); is imap_user an IMAP admin, or a master user?") \
	X(QC_ERR_NO_QUOTA_SUPPORT, -13, "the IMAP server does not offer the QUOTA extension; enable quota on the server")

enum qc_error {
#define QC_ERROR_ENUM(name, value, text) name = value,
	QC_ERRORS(QC_ERROR_ENUM)
#undef QC_ERROR_ENUM
};

/* A sentence for any value returned by this library; never NULL. */
QC_EXPORT const char *qc_strerror(int error);
/* The enumerator's name, e.g. "QC_ERR_TIMEOUT"; never NULL. */
QC_EXPORT const char *qc_error_name(int error);

/*
 * Process-wide set-up (initialises libcurl).  Call once from main() before
 * threads start; returns QC_OK or QC_ERR_NOMEM.  qc_library_cleanup()
 * undoes it when no handle remains.
 */
QC_EXPORT int qc_library_init(void);
QC_EXPORT void qc_library_cleanup(void);

/* ------------------------------------------------------------------ */
/* Configuration: Postfix-style "name = value" with defaults.          */

typedef struct qc_config qc_config_t;

/* A configuration holding every default.  Caller frees it. */
QC_EXPORT int qc_config_new(qc_config_t **config_r);
QC_EXPORT void qc_config_free(qc_config_t *config);

/*
 * Read a "name = value" file: '#' comments, blank lines, a line starting
 * with white space continues the previous one (as in Postfix).  An unknown
 * key or a bad value fails with QC_ERR_CONFIG and qc_config_errmsg() names
 * the file, line, key and what is allowed.
 */
QC_EXPORT int qc_config_load_file(qc_config_t *config, const char *path);

/*
 * Set one key, as a command-line override does.  Dashes in the key count
 * as underscores ("imap-timeout" = "imap_timeout").
 */
QC_EXPORT int qc_config_set(qc_config_t *config, const char *key,
			    const char *value);

/*
 * Check that the required keys (imap_url, imap_user, imap_password_file)
 * are set and consistent.  Call after loading the file and overrides.
 */
QC_EXPORT int qc_config_validate(qc_config_t *config);

/*
 * The normalised value of a key as a string (times as given, e.g. "10s").
 * Owned by the config, valid until the key is set again or the config is
 * freed.  NULL for an unknown key.
 */
QC_EXPORT const char *qc_config_get(const qc_config_t *config,
				    const char *key);

/*
 * A numeric key: times in milliseconds, counts as they are, octal modes
 * as numbers.  Returns QC_ERR_INVALID for an unknown or non-numeric key.
 */
QC_EXPORT int qc_config_get_number(const qc_config_t *config,
				   const char *key, uint64_t *value_r);

/* Details of the last error on this config; never NULL. */
QC_EXPORT const char *qc_config_errmsg(const qc_config_t *config);

/*
 * Visit every key in table order with its current value, e.g. to print
 * the effective configuration.  The password is never a config value, only
 * its file name, so this is safe to print.
 */
typedef void qc_config_visit_fn(const char *key, const char *value,
				const char *description, void *context);
QC_EXPORT void qc_config_foreach(const qc_config_t *config,
				 qc_config_visit_fn *fn, void *context);

/* ------------------------------------------------------------------ */
/* Quota data and the pure fit decision.                               */

#define QC_MAILBOX_MAX 512 /* bytes, including the terminating NUL */

/* One resource of a quota root; limited == 0 means no limit is set. */
struct qc_usage {
	int limited;
	uint64_t used;  /* bytes for storage, a count for messages */
	uint64_t limit; /* idem */
};

struct qc_quota {
	char mailbox[QC_MAILBOX_MAX]; /* the mailbox name that was asked */
	char root[QC_MAILBOX_MAX];    /* the quota root that limits most */
	int nroots;                   /* quota roots the server listed */
	struct qc_usage storage;      /* STORAGE, KiB scaled to bytes */
	struct qc_usage messages;     /* MESSAGE */
};

enum qc_verdict {
	QC_VERDICT_FITS = 0,      /* the message fits */
	QC_VERDICT_NO_QUOTA,      /* mailbox has no limit: fits */
	QC_VERDICT_OVER_QUOTA,    /* does not fit now; may later */
	QC_VERDICT_TOO_LARGE,     /* bigger than the whole storage limit */
	QC_VERDICT_NO_MAILBOX,    /* the server has no such mailbox */
	QC_VERDICT_NOT_CHECKED    /* recipient domain not in "domains" */
};

/* "fits", "noquota", "overquota", "toolarge", "nouser", "notchecked". */
QC_EXPORT const char *qc_verdict_name(enum qc_verdict verdict);

/*
 * The pure decision of DESIGN section 5: a size of 0 counts as 1 byte;
 * too large if size > storage limit; over quota if used + size > limit or
 * messages + 1 > message limit (computed without overflow); otherwise fits,
 * or noquota when no resource is limited.
 */
QC_EXPORT enum qc_verdict qc_decide(const struct qc_quota *quota,
				    uint64_t size);

/* ------------------------------------------------------------------ */
/* Address mapping.                                                    */

/*
 * The IMAP mailbox name asked for a recipient: extension after a
 * recipient_delimiter character stripped, local part lower-cased, then
 * mailbox_format expanded (%u %d %a %%).  "separator" is the server's
 * hierarchy separator, used only when mailbox_format is "auto" (then the
 * name is "user" SEP "%u", and on a "." server a dot in %u becomes "^" as
 * Cyrus spells it; with a per-recipient imap_authzid such as %u it is
 * "INBOX", the login's own mailbox).  Returns QC_ERR_ADDRESS for an address that cannot be
 * named safely (empty local part, control or 8-bit bytes, too long).
 * Sets *checked_r to 0 when the domain is outside "domains".
 */
QC_EXPORT int qc_address_to_mailbox(const qc_config_t *config,
				    const char *address, char separator,
				    char *mailbox_r, size_t mailbox_size,
				    int *checked_r);

/* ------------------------------------------------------------------ */
/* The IMAP client.                                                    */

typedef struct qc_client qc_client_t;

/*
 * A client for the server in "config".  It copies what it needs (config
 * may be freed afterwards) and reads the password file now, so a bad file
 * is reported here.  It connects lazily, on the first query, and keeps
 * the connection for later queries (also after "no such mailbox"),
 * reconnecting once, transparently, when the server closed an idle one.
 * A client must not be used by two threads at once.
 * On QC_ERR_PASSWORD_FILE *client_r is still set, so qc_client_errmsg()
 * can name the file and the problem; the caller frees it in every case.
 * Such a client refuses queries with QC_ERR_INVALID.
 */
QC_EXPORT int qc_client_new(const qc_config_t *config,
			    qc_client_t **client_r);
/* Logs out if connected and frees everything; NULL is a no-op. */
QC_EXPORT void qc_client_free(qc_client_t *client);

/*
 * Ask the quota of the mailbox that "address" maps to.
 *   QC_OK: *quota_r is filled and *verdict_r is QC_VERDICT_NO_QUOTA (no
 *   limit), QC_VERDICT_FITS (limits found; call qc_decide() with a size),
 *   QC_VERDICT_NO_MAILBOX or QC_VERDICT_NOT_CHECKED.
 *   Anything else: could not tell; qc_client_errmsg() has the details.
 */
QC_EXPORT int qc_client_query(qc_client_t *client, const char *address,
			      struct qc_quota *quota_r,
			      enum qc_verdict *verdict_r);

/* qc_client_query() followed by qc_decide(): the whole check. */
QC_EXPORT int qc_client_check(qc_client_t *client, const char *address,
			      uint64_t size, struct qc_quota *quota_r,
			      enum qc_verdict *verdict_r);

/*
 * Ask the quota of an IMAP mailbox name as is (no address mapping), e.g.
 * "user.bob" when listing as a Cyrus admin.  Same results as above.
 */
QC_EXPORT int qc_client_query_mailbox(qc_client_t *client,
				      const char *mailbox,
				      struct qc_quota *quota_r,
				      enum qc_verdict *verdict_r);

/*
 * List mailbox names matching an IMAP LIST pattern (e.g. "user.%"),
 * calling fn once per name; fn returns 0 to go on, non-zero to stop.
 */
typedef int qc_mailbox_fn(const char *mailbox, void *context);
QC_EXPORT int qc_client_list(qc_client_t *client, const char *pattern,
			     qc_mailbox_fn *fn, void *context);

/* The server's hierarchy separator (discovered with LIST "" ""). */
QC_EXPORT int qc_client_separator(qc_client_t *client, char *separator_r);

/*
 * imap_url may list several servers (e.g. Cyrus Murder frontends).  A
 * client tries them in list order starting at its preferred one, all
 * within imap_timeout, each attempt getting an equal share of the time
 * left (so a server that accepts but never answers leaves time for the
 * next); one that fails (no connection, no login, lost connection, no
 * answer in its share) is skipped for a backoff of 1 s doubling up to
 * 10 s, and a client that had to move comes back to its preferred server
 * once that backoff has passed.  Answers, "no such mailbox" and other tagged NO
 * responses included, never make it try another server.
 *
 * qc_client_prefer_url() sets the preferred one: index modulo the number
 * of URLs, 0 (the first) by default, so a caller with N clients can give
 * client i the index i to spread connections over the servers.  It takes
 * effect at the next query.  Returns QC_OK, or QC_ERR_INVALID for a NULL
 * client.  Same threading rule as every client call.
 */
QC_EXPORT int qc_client_prefer_url(qc_client_t *client, unsigned int index);

/*
 * How many IMAP connections (each with its login) this client has opened
 * so far: for statistics, and to show that connections are reused.
 */
QC_EXPORT uint64_t qc_client_connect_count(const qc_client_t *client);

/* Close the IMAP connection now (it reopens on the next query). */
QC_EXPORT void qc_client_disconnect(qc_client_t *client);

/* Details of the last error on this client; owned by it; never NULL. */
QC_EXPORT const char *qc_client_errmsg(const qc_client_t *client);

#ifdef __cplusplus
}
#endif

#endif /* QUOTACHK_H */
