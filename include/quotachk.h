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
	X(QC_ERR_NO_QUOTA_SUPPORT, -13, "the IMAP server does not offer the QUOTA extension; enable quota on the server") \
	X(QC_ERR_ANSWER, -14, "the IMAP server answered the quota query for this mailbox with BAD or figures that could not be read; other mailboxes are not affected")

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
typedef struct qc_rule qc_rule_t; /* see "the pure fit decision" below */

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

/*
 * For a program that drops privileges after start-up (quotachk-policyd):
 * fd is a descriptor of imap_password_file it opened while it could.
 * qc_client_new() reads the file itself when it can, and reads fd (from
 * its start) only when opening the file is refused (EACCES) and fd is
 * still that file (same inode; a replaced file is refused with an error
 * that asks for a restart).  The caller keeps fd open as long as clients
 * may be created from this config, and closes it; -1 forgets it.
 */
QC_EXPORT int qc_config_set_password_fd(qc_config_t *config, int fd);

/*
 * The decision rule that quota_rule and quota_grace describe.  Owned by
 * the config; valid until either key is set again or the config is freed.
 */
QC_EXPORT const qc_rule_t *qc_config_rule(const qc_config_t *config);

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

/*
 * Several backends chosen by recipient domain (key "backends"): for sites
 * that run a server per domain, or Cyrus for some domains and Dovecot for
 * others.  qc_config_validate() reads each file listed (a relative name
 * is relative to the directory of the file last loaded with
 * qc_config_load_file()) into a config that starts as a copy of this
 * one's values, overrides included; a backend file may set only the
 * imap_* keys, mailbox_format, recipient_delimiter, domains, quota_rule
 * and quota_grace.  Each backend must end up with the required imap_*
 * keys; the main config then need not have them.  A backend is named
 * after its file: the base name without ".conf" (letters, digits, '-',
 * '_', '.'), unique.  A backend whose domains are empty serves every
 * domain: it may only be the last (the catch-all).
 *
 * With no "backends" the count is 0 and the config itself is the server.
 * qc_config_backend() and qc_config_backend_name() return NULL for an
 * index out of range; both are owned by config, valid until the next
 * qc_config_validate() or qc_config_free().
 */
#define QC_BACKEND_NONE ((unsigned int)-1)
QC_EXPORT unsigned int qc_config_backend_count(const qc_config_t *config);
QC_EXPORT const qc_config_t *qc_config_backend(const qc_config_t *config,
					       unsigned int index);
QC_EXPORT const char *qc_config_backend_name(const qc_config_t *config,
					     unsigned int index);
/*
 * The backend that serves address: the first whose domains list its
 * domain (an address without a domain: only a catch-all).  QC_OK with
 * *index_r = QC_BACKEND_NONE when none does (the recipient is not
 * checked: QC_VERDICT_NOT_CHECKED); QC_ERR_ADDRESS for an address that
 * cannot be split; QC_ERR_INVALID when no backends are configured.
 * Pure: no I/O.
 */
QC_EXPORT int qc_config_backend_for(const qc_config_t *config,
				    const char *address,
				    unsigned int *index_r);

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
 * The pure "strict" decision on exact figures (no rounding window): a
 * size of 0 counts as 1 byte; too large if size > storage limit; over
 * quota if used + size > limit or messages + 1 > message limit (computed
 * without overflow); otherwise fits, or noquota when no resource is
 * limited.  Kept for existing callers; qc_decide_rule() follows a server.
 */
QC_EXPORT enum qc_verdict qc_decide(const struct qc_quota *quota,
				    uint64_t size);

/*
 * Which server's delivery rule a verdict follows (config key quota_rule).
 * Pick the rule of the path the mail really takes into the mailbox:
 *
 *   QC_RULE_STRICT  "strict"  (default) IMAP APPEND on either server, and
 *                   Cyrus lmtpd with lmtp_strict_quota: yes.  Fits iff
 *                   used + size <= limit and messages + 1 <= message
 *                   limit; too large iff size > limit.
 *   QC_RULE_CYRUS   "cyrus"   Cyrus 3.x lmtpd with the default
 *                   lmtp_strict_quota: no.  Fits while the mailbox is at
 *                   or under quota before the message: used <= limit and
 *                   messages <= message limit, whatever the size.  Never
 *                   too large: lmtpd delivers even a message bigger than
 *                   the whole limit into a mailbox under quota.
 *   QC_RULE_DOVECOT "dovecot" Dovecot 2.3 LMTP/LDA.  Fits iff used < limit,
 *                   used + size <= limit + grace and messages + 1 <=
 *                   message limit; too large iff size > limit + grace.
 *                   Grace (quota_grace) defaults to 10% of the limit.
 *
 * New rules are added at the end; the values never change.
 */
enum qc_quota_rule {
	QC_RULE_STRICT = 0,
	QC_RULE_CYRUS,
	QC_RULE_DOVECOT
};

/*
 * How the server rounded the storage figures it reported (RFC 9208 counts
 * STORAGE in KiB).  The true figures lie in a window around the reported
 * ones, and a verdict whose outcome depends on where in the window they
 * are is resolved towards accepting (see qc_decide_rule()).
 *
 *   QC_ROUNDING_EXACT       the figures are exact bytes (no window)
 *   QC_ROUNDING_USED_FLOOR  Cyrus: used rounded down, limit exact, so the
 *                           true usage is up to 1023 bytes more
 *   QC_ROUNDING_CEIL        Dovecot: used and limit rounded up, so each is
 *                           up to 1023 bytes less
 */
enum qc_rounding {
	QC_ROUNDING_EXACT = 0,
	QC_ROUNDING_USED_FLOOR,
	QC_ROUNDING_CEIL
};

/*
 * qc_rule_t (declared with the config above) is a decision rule: the kind,
 * its grace and the rounding of the figures.  It is an opaque handle
 * rather than a struct or a list of arguments, so that later knobs (new
 * rules, per-resource grace, a rounding learnt from the server) need
 * neither a new structure layout nor a new decide function: no ABI break.
 * Create it once, then share it read-only between threads.
 *
 * A rule of this kind with the defaults: grace 10% of the limit (used by
 * QC_RULE_DOVECOT only), rounding of the server the kind belongs to
 * (strict and cyrus: QC_ROUNDING_USED_FLOOR, dovecot: QC_ROUNDING_CEIL).
 * Returns QC_OK, QC_ERR_INVALID (unknown kind) or QC_ERR_NOMEM; the
 * caller frees the rule with qc_rule_free().
 */
QC_EXPORT int qc_rule_new(enum qc_quota_rule kind, qc_rule_t **rule_r);
QC_EXPORT void qc_rule_free(qc_rule_t *rule); /* NULL is a no-op */

/*
 * Grace in the syntax of quota_grace: "0", "N%" (of the storage limit,
 * 0 to 1000) or a size in bytes with an optional K, M, G or T suffix
 * (powers of 1024, e.g. "512K", "10M").  QC_ERR_INVALID for anything else;
 * the rule is then unchanged.
 */
QC_EXPORT int qc_rule_set_grace(qc_rule_t *rule, const char *grace);
QC_EXPORT int qc_rule_set_rounding(qc_rule_t *rule,
				   enum qc_rounding rounding);
QC_EXPORT enum qc_quota_rule qc_rule_kind(const qc_rule_t *rule);

/* "strict", "cyrus", "dovecot"; "unknown" for any other value. */
QC_EXPORT const char *qc_quota_rule_name(enum qc_quota_rule kind);
/* The inverse; QC_ERR_INVALID for an unknown name. */
QC_EXPORT int qc_quota_rule_parse(const char *name,
				  enum qc_quota_rule *kind_r);

/* Set in *flags_r: the figures' KiB rounding left the outcome open. */
#define QC_DECISION_IN_WINDOW 0x1u

/*
 * The pure decision under "rule" (no I/O; safe from any thread).  A size
 * of 0 counts as 1 byte; no limit at all gives QC_VERDICT_NO_QUOTA.  The
 * storage figures are taken as rounded by the rule's qc_rounding: the
 * verdict is computed at the most accepting and at the least accepting
 * end of that window; when the two differ, *verdict_r is the accepting
 * one and QC_DECISION_IN_WINDOW is set in *flags_r (flags_r may be NULL).
 * Returns QC_OK, or QC_ERR_INVALID for a NULL rule, quota or verdict_r.
 */
QC_EXPORT int qc_decide_rule(const qc_rule_t *rule,
			     const struct qc_quota *quota, uint64_t size,
			     enum qc_verdict *verdict_r,
			     unsigned int *flags_r);

/* ------------------------------------------------------------------ */
/* Address mapping.                                                    */

/*
 * The IMAP mailbox name asked for a recipient: extension after a
 * recipient_delimiter character stripped, local part lower-cased, then
 * mailbox_format expanded (%u %d %a %%).  "separator" is the server's
 * hierarchy separator, used only when mailbox_format is "auto" (then the
 * name is "user" SEP "%u"; with a per-recipient imap_authzid such as %u
 * it is "INBOX", the login's own mailbox); an explicit format's separator
 * is the character before its %u.  A local part stays one level of the
 * hierarchy: with "." a dot in %u becomes "^" as Cyrus spells it, with
 * "/" a "/" in the local part (or domain) is refused.  Returns
 * QC_ERR_ADDRESS for an address that cannot be named safely (empty local
 * part, control or 8-bit bytes, too long, a "/" on a "/" server).
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
 *   limit), QC_VERDICT_FITS (limits found; call qc_decide_rule() with a
 *   size and qc_client_rule()), QC_VERDICT_NO_MAILBOX or
 *   QC_VERDICT_NOT_CHECKED.
 *   Anything else: could not tell; qc_client_errmsg() has the details.
 */
QC_EXPORT int qc_client_query(qc_client_t *client, const char *address,
			      struct qc_quota *quota_r,
			      enum qc_verdict *verdict_r);

/*
 * qc_client_query() followed by qc_decide_rule() with the client's rule
 * (the config's quota_rule and quota_grace when the client was made):
 * the whole check.
 */
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

/*
 * The rule qc_client_check() applies: a copy of the config's, owned by
 * the client, valid until the client is freed.
 */
QC_EXPORT const qc_rule_t *qc_client_rule(const qc_client_t *client);

/* Details of the last error on this client; owned by it; never NULL. */
QC_EXPORT const char *qc_client_errmsg(const qc_client_t *client);

/* ------------------------------------------------------------------ */
/* The check engine: pooled, cached, coalesced, backed-off checks.     */
/*
 * What quotachk-policyd and quotachk-milter run on, for any program that
 * checks many recipients: imap_connections worker threads, each with one
 * persistent IMAP connection; answers cached for cache_ttl; concurrent
 * checks of one mailbox share one IMAP command; a failing server is backed
 * off from (action_error answers at once, one probe a second); every
 * check is answered within imap_timeout (or its own shorter timeout).
 *
 * Accounting (the check/commit split): a check never changes the figures
 * anyone sees.  A message counts when the mail server accepts it: an
 * END-OF-MESSAGE check of one recipient counts it when it fits;
 * qc_engine_commit() counts a message of several recipients on those whose
 * RCPT check the frontend let through (qc_engine_let_through()).  Counted
 * messages hold until the server's figures are asked again.
 *
 * Threads: every qc_engine_* and qc_check_* call may come from any thread
 * at once, except qc_engine_new/start/reconfigure/free (one controlling
 * thread) and calls on one qc_check_t (one owner at a time).
 *
 * Two ways to wait:
 *  - blocking: qc_engine_check() returns when the check is answered;
 *  - event loop: qc_engine_submit() with a callback; watch qc_engine_fd()
 *    for reading and call qc_engine_process(), which runs the callbacks of
 *    answered checks in the calling thread.  A check answered at once
 *    (from the cache, say) has its callback run inside qc_engine_submit().
 *    A callback may submit checks and cancel or free other checks.
 */
typedef struct qc_engine qc_engine_t;
typedef struct qc_check qc_check_t;

enum qc_stage {
	QC_STAGE_RCPT = 0,           /* may the recipient be accepted? */
	QC_STAGE_END_OF_MESSAGE      /* the real size; counts the message */
};

/* Where an answer came from (log lines, stats). */
enum qc_source {
	QC_SOURCE_NONE = 0,          /* no server needed (domains, address) */
	QC_SOURCE_SERVER,            /* this check's own IMAP command */
	QC_SOURCE_CACHE,
	QC_SOURCE_COALESCED,         /* another check's IMAP command */
	QC_SOURCE_BACKOFF            /* not asked: the server is failing */
};

enum qc_commit_outcome {
	QC_COMMIT_COUNTED = 0,       /* counted on every mailbox let through */
	QC_COMMIT_UNKNOWN_MESSAGE,   /* no RCPT of it was let through here */
	QC_COMMIT_RECIPIENTS_DIFFER  /* the server accepted another number of
				      * recipients than were let through:
				      * nothing says which, nothing counted */
};

enum qc_counter {
	QC_COUNTER_CHECKS = 0,       /* answered */
	QC_COUNTER_CACHE_HITS,
	QC_COUNTER_COALESCED,
	QC_COUNTER_LOOKUPS,          /* IMAP commands finished */
	QC_COUNTER_IMAP_ERRORS,
	QC_COUNTER_TIMEOUTS,         /* answered by a deadline */
	QC_COUNTER_BACKOFF_ANSWERS,
	QC_COUNTER_PENDING,          /* now: checks waiting for an answer */
	QC_COUNTER_CACHE_ENTRIES,    /* now */
	QC_COUNTER_BACKING_OFF,      /* now: 1 while the server is backed off */
	QC_COUNTER_COUNTED           /* messages counted, per mailbox */
};

/*
 * An engine for config: creates its IMAP clients (reading
 * imap_password_file now, with the caller's privileges) but starts no
 * thread: call qc_engine_start() (after dropping privileges, say).
 * config must stay valid and unchanged until the engine is freed or
 * reconfigured with another.  On failure *engine_r may still be set, for
 * qc_engine_errmsg(); free it.
 */
QC_EXPORT int qc_engine_new(const qc_config_t *config,
			    qc_engine_t **engine_r);
QC_EXPORT int qc_engine_start(qc_engine_t *engine);
/*
 * A new configuration (a reload): new clients (all or nothing: on failure
 * the running configuration stays), the cache emptied, the backoff
 * forgotten; checks in hand are still answered.
 */
QC_EXPORT int qc_engine_reconfigure(qc_engine_t *engine,
				    const qc_config_t *config);
/*
 * Stops the threads, waiting up to wait_ms for IMAP commands in hand;
 * checks still waiting are dropped without their callbacks.  Returns how
 * many workers were stuck on a hung server (then the engine's memory is
 * left to the process exit, and qc_library_cleanup() must not be called).
 */
QC_EXPORT unsigned int qc_engine_free(qc_engine_t *engine, uint64_t wait_ms);
/* Details of the last failed new/start/reconfigure; never NULL. */
QC_EXPORT const char *qc_engine_errmsg(const qc_engine_t *engine);
QC_EXPORT uint64_t qc_engine_counter(qc_engine_t *engine,
				     enum qc_counter counter);

/*
 * Several backends (the "backends" key): the engine keeps a whole engine
 * per backend (imap_connections workers, cache, coalescing, backoff of its
 * own), so a slow or dead backend never delays the answers for another's
 * domains; a recipient no backend serves is answered at once with
 * QC_VERDICT_NOT_CHECKED.  Events (backoff) name the backend.
 * qc_engine_counter() is the sum over the backends (QC_COUNTER_BACKING_OFF:
 * how many back off); these give one backend's.  index follows the
 * config's order; the count is 0 without backends.  Names are owned by
 * the engine, valid until it is freed.  They may be called from any
 * thread, also during a reconfiguration (a metrics thread does), which
 * may change the count and order.  A reconfiguration may change
 * the backends (a backend no longer listed answers what it holds, then
 * idles until the engine is freed) but not switch between one server and
 * backends: that is refused (QC_ERR_CONFIG) and needs a restart.
 */
QC_EXPORT unsigned int qc_engine_backend_count(const qc_engine_t *engine);
QC_EXPORT const char *qc_engine_backend_name(const qc_engine_t *engine,
					     unsigned int index);
QC_EXPORT uint64_t qc_engine_backend_counter(qc_engine_t *engine,
					     unsigned int index,
					     enum qc_counter counter);

/* A check: fill it in, submit it, read the answer.  Reusable after its
 * answer (or qc_engine_cancel()); qc_check_reset() clears it. */
QC_EXPORT int qc_check_new(qc_check_t **check_r);
QC_EXPORT void qc_check_free(qc_check_t *check);
QC_EXPORT void qc_check_reset(qc_check_t *check);
QC_EXPORT int qc_check_set_recipient(qc_check_t *check, const char *address);
/* 0 (unknown) counts as 1 byte. */
QC_EXPORT int qc_check_set_size(qc_check_t *check, uint64_t size);
QC_EXPORT int qc_check_set_stage(qc_check_t *check, enum qc_stage stage);
/* The mail server's id of the message (Postfix's instance, a milter's
 * queue id or session): ties RCPT checks to the commit. */
QC_EXPORT int qc_check_set_instance(qc_check_t *check, const char *instance);
/* A deadline shorter than imap_timeout for this check; 0: imap_timeout. */
QC_EXPORT int qc_check_set_timeout(qc_check_t *check, uint64_t timeout_ms);

/* The answer.  error is QC_OK or why the engine could not tell (the
 * verdict is then meaningless; fail open or closed as you choose). */
QC_EXPORT int qc_check_error(const qc_check_t *check);
QC_EXPORT enum qc_verdict qc_check_verdict(const qc_check_t *check);
/* QC_DECISION_IN_WINDOW and future flags. */
QC_EXPORT unsigned int qc_check_flags(const qc_check_t *check);
QC_EXPORT enum qc_source qc_check_source(const qc_check_t *check);
/* The figures the decision saw: the server's plus what was counted since
 * (counted_bytes of them).  Returns QC_ERR_INVALID when there are none. */
QC_EXPORT int qc_check_usage(const qc_check_t *check,
			     struct qc_usage *storage_r,
			     struct qc_usage *messages_r,
			     uint64_t *counted_bytes_r);
/* The mailbox name asked; "" when none.  Owned by the check. */
QC_EXPORT const char *qc_check_mailbox(const qc_check_t *check);
/* The backend that answered (its name); "" without backends or when no
 * backend serves the recipient.  Owned by the check. */
QC_EXPORT const char *qc_check_backend(const qc_check_t *check);
/* Why error is not QC_OK; "" otherwise.  Owned by the check. */
QC_EXPORT const char *qc_check_errmsg(const qc_check_t *check);
/* END-OF-MESSAGE: 1 when the message was counted. */
QC_EXPORT unsigned int qc_check_counted(const qc_check_t *check);
QC_EXPORT uint64_t qc_check_elapsed_us(const qc_check_t *check);

typedef void qc_check_done_fn(qc_check_t *check, void *context);
/*
 * Start check; done(check, context) runs once it is answered: inside this
 * call when the answer is at hand, else from qc_engine_process().  Until
 * then the check belongs to the engine.  Returns QC_OK, or QC_ERR_INVALID
 * (no recipient; a check already submitted).
 */
QC_EXPORT int qc_engine_submit(qc_engine_t *engine, qc_check_t *check,
			       qc_check_done_fn *done, void *context);
/* Submit and wait for the answer; returns qc_check_error(check). */
QC_EXPORT int qc_engine_check(qc_engine_t *engine, qc_check_t *check);
/* Forget a submitted check: its callback will not run (a client went
 * away).  Not for a check another thread waits on in qc_engine_check(). */
QC_EXPORT void qc_engine_cancel(qc_engine_t *engine, qc_check_t *check);
/*
 * What the engine has to say for a log: the backoff starting ("IMAP
 * lookups fail (...)") and ending.  fn runs from qc_engine_process(), in
 * its caller's thread.  Set it before qc_engine_start().
 */
enum qc_event_level { QC_EVENT_INFO = 0, QC_EVENT_WARNING };
typedef void qc_event_fn(enum qc_event_level level, const char *text,
			 void *context);
QC_EXPORT void qc_engine_set_event_fn(qc_engine_t *engine, qc_event_fn *fn,
				      void *context);

/* Readable when answered checks (or events) wait for qc_engine_process(). */
QC_EXPORT int qc_engine_fd(const qc_engine_t *engine);
QC_EXPORT void qc_engine_process(qc_engine_t *engine);

/*
 * The frontend let the recipient of an answered RCPT check through (its
 * reply did not refuse it): remember it for the message's commit.
 */
QC_EXPORT int qc_engine_let_through(qc_engine_t *engine,
				    const qc_check_t *check);
/*
 * The mail server accepted message instance of size bytes for
 * recipient_count recipients: count it, once per mailbox, on those let
 * through, and forget the message.  *counted_r: mailboxes counted on.
 */
QC_EXPORT int qc_engine_commit(qc_engine_t *engine, const char *instance,
			       uint64_t recipient_count, uint64_t size,
			       enum qc_commit_outcome *outcome_r,
			       unsigned int *counted_r);

#ifdef __cplusplus
}
#endif

#endif /* QUOTACHK_H */
