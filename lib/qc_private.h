/*
 * qc_private.h - declarations shared between libquotachk's modules.
 * Never installed; nothing here is part of the ABI.
 */
#ifndef QC_PRIVATE_H
#define QC_PRIVATE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "quotachk.h"

#define QC_PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))

/* A message buffer owned by a handle (config, client). */
#define QC_ERRMSG_MAX 512
void qc_errmsg_set(char *errmsg, const char *fmt, ...) QC_PRINTFLIKE(2, 3);

/* Copy src into dst of size dstsize; returns -1 (dst truncated) if too long. */
int qc_strlcpy(char *dst, const char *src, size_t dstsize);

/* ---- rule.c, decide.c ---- */
/* Embedded by value in the config and the client (no allocation); the
 * public side only ever sees a pointer. */
struct qc_rule {
	enum qc_quota_rule kind;
	enum qc_rounding rounding;
	int grace_percent;  /* grace is a percentage of the storage limit */
	uint64_t grace;     /* percent, or bytes */
};
/* The defaults of qc_rule_new() for kind (which must be valid). */
void qc_rule_init(struct qc_rule *rule, enum qc_quota_rule kind);
/* Parse quota_grace syntax into rule; -1 (rule unchanged) when invalid. */
int qc_grace_parse(const char *text, struct qc_rule *rule);
/* The grace in bytes for a storage limit (saturating). */
uint64_t qc_rule_grace_bytes(const struct qc_rule *rule, uint64_t limit);

/* ---- url_list.c ---- */
#define QC_URLS_MAX 8    /* imap_url entries */
#define QC_URL_MAX 256   /* bytes of one URL, with its NUL */
/*
 * Split imap_url (URLs separated by commas and/or white space) into
 * urls_r.  Each must be imap:// or imaps:// without credentials.  Returns
 * 0, or -1 with why filled (which entry is wrong and how to fix it).
 * An empty value gives *count_r = 0.
 */
int qc_url_list_split(const char *value, char urls_r[][QC_URL_MAX],
		      unsigned int *count_r, char *why, size_t why_size);

/* ---- failover.c: pure, the caller passes the clock ---- */
struct qc_failover_url {
	uint64_t retry_at_ms; /* skipped until then; 0: never failed */
	uint64_t backoff_ms;  /* 0 after a success */
};
struct qc_failover {
	unsigned int count, preferred;
	struct qc_failover_url url[QC_URLS_MAX];
};
void qc_failover_init(struct qc_failover *f, unsigned int count);
/* Start at URL index mod count. */
void qc_failover_prefer(struct qc_failover *f, unsigned int index);
/* Every URL once, in the order to try them now; returns count. */
unsigned int qc_failover_order(const struct qc_failover *f, uint64_t now_ms,
			       unsigned int order_r[QC_URLS_MAX]);
void qc_failover_failed(struct qc_failover *f, unsigned int index,
			uint64_t now_ms);
void qc_failover_succeeded(struct qc_failover *f, unsigned int index);
/* Non-zero when a client on URL current should try its preferred again. */
int qc_failover_should_return(const struct qc_failover *f,
			      unsigned int current, uint64_t now_ms);

/* ---- config.c ---- */
/*
 * Values the library itself uses, resolved once from a qc_config_t so the
 * client does not parse strings per query.
 */
struct qc_settings {
	char urls[QC_URLS_MAX][QC_URL_MAX]; /* imap_url, split */
	unsigned int nurls;
	int tls_required;
	char ca_file[512];
	char user[256];
	char password_file[512];
	int password_fd;        /* qc_config_set_password_fd(), or -1 */
	char authzid[256];
	char mailbox_format[256];
	char recipient_delimiter[32];
	char domains[8192];     /* a hosting provider's list */
	uint64_t timeout_ms;
	struct qc_rule rule;
};
void qc_config_settings(const qc_config_t *config, struct qc_settings *s_r);
int qc_parse_time_ms(const char *text, uint64_t *ms_r);
/* qc_config_load_file() on an open stream; path names it in messages. */
int qc_config_load_stream(qc_config_t *config, FILE *fp, const char *path);

/* ---- config_backends.c: several backends chosen by recipient domain ---- */
#define QC_BACKENDS_MAX 64
#define QC_BACKEND_NAME_MAX 64   /* with its NUL */
#define QC_BACKEND_KEYS_TEXT "the imap_* keys, mailbox_format, " \
	"recipient_delimiter, domains, quota_rule and quota_grace"
struct qc_backends {
	unsigned int count;
	qc_config_t *config[QC_BACKENDS_MAX];   /* owned */
	char name[QC_BACKENDS_MAX][QC_BACKEND_NAME_MAX];
};
/* Free every backend config; the set is then empty. */
void qc_backends_clear(struct qc_backends *b);
/* Read the files of main's "backends" (relative to main's directory),
 * each into a config inheriting main's values; validate each. */
int qc_backends_load(qc_config_t *main_cfg);
/* May a backend file set this key? */
int qc_backend_key_allowed(const char *key);
/* The name of a backend file: its base name without ".conf"; -1 when
 * it is not a usable name. */
int qc_backend_name(const char *path, char *name_r, size_t size);

/* config.c, for config_backends.c */
/* A config holding main's values, refusing non-backend keys from files. */
int qc_config_inherit(const qc_config_t *main_cfg, qc_config_t **config_r);
struct qc_backends *qc_config_backends_of(const qc_config_t *config);
const char *qc_config_dir(const qc_config_t *config); /* NULL: none */
char *qc_config_errbuf(qc_config_t *config);         /* QC_ERRMSG_MAX */
/* The checks of qc_config_validate() for one server (required keys). */
int qc_config_validate_server(qc_config_t *config);

/* ---- address.c ---- */
/*
 * Expand a template (%u %d %a %%) for a normalised local part and domain.
 * separator is the hierarchy separator of the name (0: none, as for an
 * authorisation identity): with '.' a dot in %u becomes '^' (Cyrus), with
 * '/' a '/' in %u or %d is refused, so a local part never names another
 * mailbox's folder.  Returns QC_OK, QC_ERR_ADDRESS (too long, %d without
 * domain, a separator in the local part) or QC_ERR_CONFIG (unknown escape).
 */
int qc_template_expand(const char *tmpl, const char *local,
		       const char *domain, char separator, char *out,
		       size_t outsize);
/* The separator before %u/%a in an explicit mailbox_format, or 0. */
char qc_template_separator(const char *tmpl);
/* Split and normalise an address: strip the extension, lower-case. */
int qc_address_split(const char *address, const char *delimiters,
		     char *local_r, size_t local_size, char *domain_r,
		     size_t domain_size);
int qc_domain_listed(const char *domains, const char *domain);
int qc_template_needs_address(const char *tmpl);
/* qc_address_to_mailbox() on resolved settings (used per query). */
int qc_settings_map_address(const struct qc_settings *s, const char *address,
			    char separator, char *mailbox_r,
			    size_t mailbox_size, int *checked_r);

/* ---- imap_quote.c ---- */
/*
 * Write name as an IMAP quoted string ("..." with \ and " escaped) into
 * out.  Refuses (QC_ERR_ADDRESS) NUL, CR, LF, any control or 8-bit byte,
 * so the result can never end a command line or open a literal.
 */
int qc_imap_quote(const char *name, char *out, size_t outsize);

/* ---- imap_parse.c: pure, no I/O ---- */
/*
 * Length of the first complete server response in buf (a line ending in
 * CRLF, with any {N} literals and the text after them), or 0 when more
 * bytes are needed, or -1 when the response is malformed (a literal size
 * out of range).
 */
long qc_imap_response_length(const char *buf, size_t len);

enum qc_imap_status { QC_IMAP_OK, QC_IMAP_NO, QC_IMAP_BAD, QC_IMAP_BYE,
		      QC_IMAP_UNTAGGED, QC_IMAP_OTHER };

/* Classify one complete response; for tagged ones compare with tag. */
enum qc_imap_status qc_imap_classify(const char *resp, size_t len,
				     const char *tag, const char **text_r,
				     size_t *text_len_r);

/*
 * Fold every response of one GETQUOTAROOT exchange (the untagged lines and
 * the tagged completion, concatenated) into a quota.  Returns QC_OK with
 * *verdict_r = QC_VERDICT_FITS / NO_QUOTA / NO_MAILBOX, QC_ERR_SERVER for
 * another NO, QC_ERR_PROTOCOL for BAD or garbage, QC_ERR_CLOSED for BYE.
 * The server's text of a failure is copied to errtext.
 */
int qc_quota_parse(const char *buf, size_t len, const char *tag,
		   const char *mailbox, struct qc_quota *quota_r,
		   enum qc_verdict *verdict_r, char *errtext,
		   size_t errtext_size);

/*
 * LIST responses: calls fn for each "* LIST (flags) SEP NAME" with the
 * separator (0 for NIL) and the decoded name.
 */
typedef int qc_list_line_fn(char separator, const char *name, void *ctx);
int qc_list_parse(const char *buf, size_t len, const char *tag,
		  qc_list_line_fn *fn, void *ctx, char *errtext,
		  size_t errtext_size);

/* ---- password.c ---- */
/*
 * Read the first line of a password file that must not be readable by
 * others.  When path cannot be opened for lack of permission, kept_fd
 * (>= 0: a descriptor of the file opened earlier with more privileges) is
 * read instead, as long as it still is the file at path.  The caller
 * wipes and frees the returned string.
 */
int qc_password_read(const char *path, int kept_fd, char **password_r,
		     char *errmsg);
void qc_password_free(char **password);

/* ---- transport.c ---- */
uint64_t qc_clock_ms(void);
struct qc_transport;
struct qc_transport_params {
	const char *url;
	int tls_required;
	const char *ca_file;
	const char *user;
	const char *password;
	const char *authzid; /* NULL or "" for none */
	uint64_t timeout_ms;
};
int qc_transport_open(const struct qc_transport_params *params,
		      struct qc_transport **transport_r, char *errmsg);
void qc_transport_close(struct qc_transport **transport);
/*
 * Send one command (the tag is added) and collect every response up to
 * its tagged completion into *resp_r / *resp_len_r (owned by the
 * transport, valid until the next exchange).  tag_r gets the tag used.
 */
int qc_transport_exchange(struct qc_transport *transport,
			  const char *command, uint64_t timeout_ms,
			  size_t max_response, const char **resp_r, size_t *resp_len_r,
			  char *tag_r, size_t tag_size, char *errmsg);
int qc_transport_is_fresh(const struct qc_transport *transport);
const char *qc_transport_authzid(const struct qc_transport *transport);
/* Non-zero when an idle connection has something to read: between
 * exchanges that can only be a BYE (autologout) or end of stream. */
int qc_transport_idle_closed(struct qc_transport *transport);
/* qc_transport_open() result for "login refused: no such user". */
#define QC_TRANSPORT_NO_USER 1

#endif
