/*
 * config.c - Postfix-style configuration: "name = value" lines, '#'
 * comments, blank lines, continuation lines that start with white space.
 *
 * One table holds every key with its type, default, range and a short
 * description, so the parser, the validation, --help and the man page
 * speak of the same keys.  Errors name the origin (file and line, or the
 * command line), the key, the value and what is allowed.  The password
 * itself is never a config value, so no message can leak it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qc_private.h"

enum key_type { T_STRING, T_TIME, T_COUNT, T_MODE, T_TLS, T_TEMPLATE,
		T_ACTION, T_URL, T_LISTEN, T_LOG, T_RULE, T_GRACE };

struct key_def {
	const char *name;
	enum key_type type;
	const char *def;
	uint64_t min, max; /* T_TIME: milliseconds; T_COUNT, T_MODE: value */
	const char *description;
	size_t max_len;    /* longest value; 0: no limit */
};

/* A value the library copies into struct qc_settings must fit there:
 * a longer one is refused, never cut (a cut domains list lost domains). */
#define SETTING_MAX(field) (sizeof(((struct qc_settings *)0)->field) - 1)

static const struct key_def keys[] = {
	{"imap_url", T_URL, "", 0, 0,
	 "imap://host[:port]/ or imaps://host[:port]/ (required); several, "
	 "separated by commas or spaces, are tried in turn (failover)",
	 0},
	{"imap_tls", T_TLS, "required", 0, 0,
	 "required (STARTTLS on imap://) or none", 0},
	{"imap_ca_file", T_STRING, "", 0, 0,
	 "CA bundle for server certificate checks (default: system store)",
	 SETTING_MAX(ca_file)},
	{"imap_user", T_STRING, "", 0, 0,
	 "admin (Cyrus) or master user (Dovecot) (required)",
	 SETTING_MAX(user)},
	{"imap_password_file", T_STRING, "", 0, 0,
	 "file whose first line is the password; not world-readable (required)",
	 SETTING_MAX(password_file)},
	{"imap_authzid", T_TEMPLATE, "", 0, 0,
	 "authorisation identity template, e.g. %a for Dovecot master users",
	 SETTING_MAX(authzid)},
	{"mailbox_format", T_TEMPLATE, "auto", 0, 0,
	 "mailbox asked for: user.%u, user/%u@%d, INBOX, or auto",
	 SETTING_MAX(mailbox_format)},
	{"recipient_delimiter", T_STRING, "+", 0, 0,
	 "characters that start an address extension (stripped)",
	 SETTING_MAX(recipient_delimiter)},
	{"domains", T_STRING, "", 0, 0,
	 "only these domains are checked (empty: all)",
	 SETTING_MAX(domains)},
	{"backends", T_STRING, "", 0, 0,
	 "files, one per backend, chosen by recipient domain (empty: one "
	 "server, the imap_* keys here)", 0},
	{"quota_rule", T_RULE, "strict", 0, 0,
	 "server rule the verdict follows: strict, cyrus or dovecot", 0},
	{"quota_grace", T_GRACE, "10%", 0, 0,
	 "grace of the dovecot rule: 0, N% of the limit, or a size (10M)", 0},
	{"imap_timeout", T_TIME, "10s", 100, 90000,
	 "connect + response limit for one lookup", 0},
	{"imap_connections", T_COUNT, "4", 1, 256,
	 "most IMAP connections the daemon keeps open", 0},
	{"cache_ttl", T_TIME, "30s", 0, 3600000,
	 "how long a quota answer is reused (0 = off)", 0},
	{"cache_size", T_COUNT, "100000", 16, 10000000,
	 "most cached answers", 0},
	{"action_fits", T_ACTION, "DUNNO", 0, 0,
	 "action when the message fits", 0},
	{"action_overquota", T_ACTION, "452 4.2.2 Mailbox full", 0, 0,
	 "action when the mailbox is full", 0},
	{"action_toolarge", T_ACTION,
	 "552 5.2.3 Message larger than the mailbox quota", 0, 0,
	 "action when the message is bigger than the whole limit", 0},
	{"action_nouser", T_ACTION, "DUNNO", 0, 0,
	 "action for unknown mailboxes or unusable addresses", 0},
	{"action_error", T_ACTION, "DUNNO", 0, 0,
	 "action when the quota cannot be told (fail open)", 0},
	{"listen", T_LISTEN, "", 0, 0,
	 "inet:HOST:PORT or unix:PATH (empty: one client on stdin/stdout)", 0},
	{"stats_listen", T_LISTEN, "", 0, 0,
	 "Prometheus metrics over HTTP (GET /metrics): inet:HOST:PORT or "
	 "unix:PATH (empty: off)", 0},
	{"milter_socket", T_STRING, "", 0, 0,
	 "quotachk-milter's socket: inet:PORT@HOST or unix:PATH", 0},
	{"listen_mode", T_MODE, "0660", 0, 07777,
	 "permissions of a unix listen socket (octal)", 0},
	{"listen_group", T_STRING, "", 0, 0,
	 "group of a unix listen socket, e.g. postfix (empty: the daemon's "
	 "group at start)", 0},
	{"user", T_STRING, "nobody", 0, 0,
	 "user the daemon runs as after binding its socket", 0},
	{"max_clients", T_COUNT, "4096", 1, 100000,
	 "most Postfix connections served at once", 0},
	{"client_idle_timeout", T_TIME, "600s", 1000, 86400000,
	 "close a Postfix connection idle this long", 0},
	{"log", T_LOG, "syslog", 0, 0,
	 "syslog (mail facility) or stderr", 0},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct qc_config {
	char *values[NKEYS];
	int password_fd;                  /* not owned; -1: none */
	struct qc_rule rule; /* quota_rule and quota_grace, parsed */
	int backend_file;    /* only backend keys may be set from a file */
	char *dir;           /* of the file last loaded: for "backends" */
	struct qc_backends backends;
	char errmsg[QC_ERRMSG_MAX];
};

static int
key_index(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const char *k = keys[i].name;
		size_t j;

		if (strlen(k) != len)
			continue;
		for (j = 0; j < len; j++) {
			char c = name[j] == '-' ? '_' : name[j];
			if (c != k[j])
				break;
		}
		if (j == len)
			return (int)i;
	}
	return -1;
}

int
qc_parse_time_ms(const char *text, uint64_t *ms_r)
{
	char *end;
	unsigned long long n;
	uint64_t unit;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		unit = 1000;
	else if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "m") == 0)
		unit = 60000;
	else if (strcmp(end, "h") == 0)
		unit = 3600000;
	else
		return -1;
	if (n > UINT64_MAX / unit)
		return -1;
	*ms_r = n * unit;
	return 0;
}

static int
parse_count(const char *text, int base, uint64_t *n_r)
{
	char *end;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	*n_r = strtoull(text, &end, base);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

static int
has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* NULL when value is acceptable for def, else what is allowed. */
static const char *
check_value(const struct key_def *def, const char *value, char *why,
	    size_t why_size)
{
	uint64_t n;

	if (has_control(value))
		return "control characters are not allowed";
	if (def->max_len != 0 && strlen(value) > def->max_len) {
		snprintf(why, why_size, "is %zu characters long; at most %zu "
			 "are allowed", strlen(value), def->max_len);
		return why;
	}
	switch (def->type) {
	case T_STRING:
		return NULL;
	case T_TIME:
		if (qc_parse_time_ms(value, &n) < 0 || n < def->min ||
		    n > def->max) {
			snprintf(why, why_size,
				 "must be a time between %llums and %llus "
				 "(units: ms, s, m, h; e.g. %s)",
				 (unsigned long long)def->min,
				 (unsigned long long)def->max / 1000,
				 def->def);
			return why;
		}
		return NULL;
	case T_COUNT:
	case T_MODE:
		if (parse_count(value, def->type == T_MODE ? 8 : 10, &n) < 0 ||
		    n < def->min || n > def->max) {
			snprintf(why, why_size, "must be %s between %llu and "
				 "%llu", def->type == T_MODE ? "an octal mode" :
				 "a whole number", (unsigned long long)def->min,
				 (unsigned long long)def->max);
			return why;
		}
		return NULL;
	case T_TLS:
		if (strcmp(value, "required") != 0 && strcmp(value, "none") != 0)
			return "must be \"required\" or \"none\"";
		return NULL;
	case T_LOG:
		if (strcmp(value, "syslog") != 0 && strcmp(value, "stderr") != 0)
			return "must be \"syslog\" or \"stderr\"";
		return NULL;
	case T_TEMPLATE:
		for (const char *p = value; *p; p++) {
			if (*p != '%')
				continue;
			p++;
			if (*p != 'u' && *p != 'd' && *p != 'a' && *p != '%')
				return "allowed escapes are %u (local part), "
				       "%d (domain), %a (%u@%d) and %%";
		}
		return NULL;
	case T_ACTION:
		if (value[0] == '\0')
			return "must not be empty; e.g. DUNNO, DEFER_IF_PERMIT "
			       "text, or 452 4.2.2 text";
		return NULL;
	case T_URL: {
		char urls[QC_URLS_MAX][QC_URL_MAX];
		unsigned int count;

		return qc_url_list_split(value, urls, &count, why,
					 why_size) < 0 ? why : NULL;
	}
	case T_LISTEN:
		if (value[0] != '\0' && strncmp(value, "inet:", 5) != 0 &&
		    strncmp(value, "unix:", 5) != 0)
			return "must be inet:HOST:PORT or unix:PATH";
		return NULL;
	case T_RULE: {
		enum qc_quota_rule kind;

		if (qc_quota_rule_parse(value, &kind) != QC_OK)
			return "must be \"strict\", \"cyrus\" or \"dovecot\"";
		return NULL;
	}
	case T_GRACE: {
		struct qc_rule scratch;

		if (qc_grace_parse(value, &scratch) < 0)
			return "must be 0, a percentage of the limit from 0% "
			       "to 1000% (e.g. 10%), or a size in bytes with "
			       "an optional K, M, G or T suffix (e.g. 512K, "
			       "10M)";
		return NULL;
	}
	}
	return "unknown key type";
}

/* The parsed rule follows the two string values (both already checked). */
static void
sync_rule(qc_config_t *cfg)
{
	enum qc_quota_rule kind = QC_RULE_STRICT;

	qc_quota_rule_parse(qc_config_get(cfg, "quota_rule"), &kind);
	qc_rule_init(&cfg->rule, kind);
	qc_grace_parse(qc_config_get(cfg, "quota_grace"), &cfg->rule);
}

static int
set_value(qc_config_t *cfg, int idx, const char *value, const char *origin)
{
	const struct key_def *def = &keys[idx];
	char why[160];
	const char *problem = check_value(def, value, why, sizeof(why));
	char *copy;

	if (problem != NULL) {
		/* Values are not secret (the password lives in a file). */
		qc_errmsg_set(cfg->errmsg, "%s: %s = %.100s: %s", origin,
			      def->name, value, problem);
		return QC_ERR_CONFIG;
	}
	copy = strdup(value);
	if (copy == NULL)
		return QC_ERR_NOMEM;
	free(cfg->values[idx]);
	cfg->values[idx] = copy;
	if (def->type == T_RULE || def->type == T_GRACE)
		sync_rule(cfg);
	return QC_OK;
}

int
qc_config_new(qc_config_t **config_r)
{
	qc_config_t *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return QC_ERR_NOMEM;
	cfg->password_fd = -1;
	for (size_t i = 0; i < NKEYS; i++) {
		cfg->values[i] = strdup(keys[i].def);
		if (cfg->values[i] == NULL) {
			qc_config_free(cfg);
			return QC_ERR_NOMEM;
		}
	}
	sync_rule(cfg);
	*config_r = cfg;
	return QC_OK;
}

void
qc_config_free(qc_config_t *cfg)
{
	if (cfg == NULL)
		return;
	qc_backends_clear(&cfg->backends);
	for (size_t i = 0; i < NKEYS; i++)
		free(cfg->values[i]);
	free(cfg->dir);
	free(cfg);
}

int
qc_config_inherit(const qc_config_t *main_cfg, qc_config_t **config_r)
{
	qc_config_t *cfg;
	int ret = qc_config_new(&cfg);

	if (ret != QC_OK)
		return ret;
	for (size_t i = 0; i < NKEYS; i++) {
		char *copy = strdup(main_cfg->values[i]);

		if (copy == NULL) {
			qc_config_free(cfg);
			return QC_ERR_NOMEM;
		}
		free(cfg->values[i]);
		cfg->values[i] = copy;
	}
	/* A backend's own "backends" would nest: it starts empty, and a
	 * backend file may not set it. */
	free(cfg->values[key_index("backends", 8)]);
	cfg->values[key_index("backends", 8)] = NULL;
	if ((cfg->values[key_index("backends", 8)] = strdup("")) == NULL) {
		qc_config_free(cfg);
		return QC_ERR_NOMEM;
	}
	cfg->password_fd = main_cfg->password_fd;
	cfg->backend_file = 1;
	sync_rule(cfg);
	*config_r = cfg;
	return QC_OK;
}

struct qc_backends *
qc_config_backends_of(const qc_config_t *cfg)
{
	return (struct qc_backends *)&cfg->backends;
}

const char *
qc_config_dir(const qc_config_t *cfg)
{
	return cfg->dir;
}

char *
qc_config_errbuf(qc_config_t *cfg)
{
	return cfg->errmsg;
}

int
qc_config_set(qc_config_t *cfg, const char *key, const char *value)
{
	int idx;

	if (cfg == NULL || key == NULL || value == NULL)
		return QC_ERR_INVALID;
	idx = key_index(key, strlen(key));
	if (idx < 0) {
		qc_errmsg_set(cfg->errmsg, "unknown configuration key \"%.64s\";"
			      " see quotachk.conf(5) or --help", key);
		return QC_ERR_CONFIG;
	}
	return set_value(cfg, idx, value, "command line");
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* One logical line (continuations already joined). */
static int
parse_entry(qc_config_t *cfg, char *line, const char *path, int lineno)
{
	char origin[600];
	char *eq = strchr(line, '=');
	char *name, *value;
	int idx;

	snprintf(origin, sizeof(origin), "%s line %d", path, lineno);
	if (eq == NULL) {
		qc_errmsg_set(cfg->errmsg, "%s: expected \"name = value\"",
			      origin);
		return QC_ERR_CONFIG;
	}
	*eq = '\0';
	name = trim(line);
	value = trim(eq + 1);
	idx = key_index(name, strlen(name));
	if (idx < 0) {
		qc_errmsg_set(cfg->errmsg, "%s: unknown key \"%.64s\"; see "
			      "quotachk.conf(5) for the keys", origin, name);
		return QC_ERR_CONFIG;
	}
	if (cfg->backend_file && !qc_backend_key_allowed(keys[idx].name)) {
		qc_errmsg_set(cfg->errmsg, "%s: %s cannot be set in a backend "
			      "file; a backend file sets only %s (the other "
			      "keys belong in the main file)", origin,
			      keys[idx].name, QC_BACKEND_KEYS_TEXT);
		return QC_ERR_CONFIG;
	}
	return set_value(cfg, idx, value, origin);
}

int
qc_config_load_stream(qc_config_t *cfg, FILE *fp, const char *path)
{
	char *line = NULL, *entry = NULL;
	size_t cap = 0, entry_len = 0;
	ssize_t n;
	int lineno = 0, entry_line = 0, ret = QC_OK;

	while (ret == QC_OK && (n = getline(&line, &cap, fp)) >= 0) {
		char *body;

		lineno++;
		if ((size_t)n != strlen(line)) {
			qc_errmsg_set(cfg->errmsg, "%s line %d: NUL byte in "
				      "line", path, lineno);
			ret = QC_ERR_CONFIG;
			break;
		}
		body = trim(line);
		if (*body == '#' || *body == '\0')
			continue;
		if (isspace((unsigned char)line[0]) && entry != NULL) {
			/* Continuation: append with one space. */
			size_t add = strlen(body);
			char *grown = realloc(entry, entry_len + add + 2);
			if (grown == NULL) {
				ret = QC_ERR_NOMEM;
				break;
			}
			entry = grown;
			entry[entry_len++] = ' ';
			memcpy(entry + entry_len, body, add + 1);
			entry_len += add;
			continue;
		}
		if (entry != NULL)
			ret = parse_entry(cfg, entry, path, entry_line);
		free(entry);
		entry = NULL;
		if (ret != QC_OK)
			break;
		entry = strdup(body);
		if (entry == NULL) {
			ret = QC_ERR_NOMEM;
			break;
		}
		entry_len = strlen(entry);
		entry_line = lineno;
	}
	if (ret == QC_OK && entry != NULL)
		ret = parse_entry(cfg, entry, path, entry_line);
	free(entry);
	free(line);
	return ret;
}

int
qc_config_load_file(qc_config_t *cfg, const char *path)
{
	FILE *fp;
	int ret;

	if (cfg == NULL || path == NULL)
		return QC_ERR_INVALID;
	fp = fopen(path, "r");
	if (fp == NULL) {
		qc_errmsg_set(cfg->errmsg, "cannot open configuration file "
			      "%s: %s", path, strerror(errno));
		return QC_ERR_CONFIG;
	}
	if (!cfg->backend_file) {
		const char *slash = strrchr(path, '/');
		char *dir = slash == NULL ? strdup(".") :
			    strndup(path, slash == path ? 1 :
				    (size_t)(slash - path));

		if (dir == NULL) {
			fclose(fp);
			return QC_ERR_NOMEM;
		}
		free(cfg->dir);
		cfg->dir = dir;
	}
	ret = qc_config_load_stream(cfg, fp, path);
	fclose(fp);
	return ret;
}

const char *
qc_config_get(const qc_config_t *cfg, const char *key)
{
	int idx;

	if (cfg == NULL || key == NULL)
		return NULL;
	idx = key_index(key, strlen(key));
	return idx < 0 ? NULL : cfg->values[idx];
}

int
qc_config_get_number(const qc_config_t *cfg, const char *key,
		     uint64_t *value_r)
{
	int idx;

	if (cfg == NULL || key == NULL)
		return QC_ERR_INVALID;
	idx = key_index(key, strlen(key));
	if (idx < 0)
		return QC_ERR_INVALID;
	switch (keys[idx].type) {
	case T_TIME:
		return qc_parse_time_ms(cfg->values[idx], value_r) < 0 ?
		       QC_ERR_INVALID : QC_OK;
	case T_COUNT:
	case T_MODE:
		return parse_count(cfg->values[idx],
				   keys[idx].type == T_MODE ? 8 : 10,
				   value_r) < 0 ? QC_ERR_INVALID : QC_OK;
	default:
		return QC_ERR_INVALID;
	}
}

int
qc_config_validate(qc_config_t *cfg)
{
	if (cfg == NULL)
		return QC_ERR_INVALID;
	if (cfg->backend_file)
		return qc_config_validate_server(cfg);
	/* Read the backend files now, after every override of the main
	 * file: a backend starts from the main file's final values. */
	qc_backends_clear(&cfg->backends);
	if (qc_config_get(cfg, "backends")[0] != '\0')
		return qc_backends_load(cfg);
	return qc_config_validate_server(cfg);
}

int
qc_config_validate_server(qc_config_t *cfg)
{
	static const char *const required[] = {
		"imap_url", "imap_user", "imap_password_file"
	};
	char urls[QC_URLS_MAX][QC_URL_MAX], why[160];
	unsigned int n;

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (qc_config_get(cfg, required[i])[0] == '\0') {
			qc_errmsg_set(cfg->errmsg, "%s is not set; it is "
				      "required (see quotachk.conf(5))",
				      required[i]);
			return QC_ERR_CONFIG;
		}
	}
	if (qc_url_list_split(qc_config_get(cfg, "imap_url"), urls, &n, why,
			      sizeof(why)) < 0) {
		qc_errmsg_set(cfg->errmsg, "imap_url: %s", why);
		return QC_ERR_CONFIG;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (strncmp(urls[i], "imaps://", 8) == 0 &&
		    strcmp(qc_config_get(cfg, "imap_tls"), "none") == 0) {
			qc_errmsg_set(cfg->errmsg, "imap_tls = none "
				      "contradicts imap_url = %.200s; use "
				      "imap:// for a plain connection",
				      urls[i]);
			return QC_ERR_CONFIG;
		}
	}
	return QC_OK;
}

int
qc_config_set_password_fd(qc_config_t *cfg, int fd)
{
	if (cfg == NULL || fd < -1)
		return QC_ERR_INVALID;
	cfg->password_fd = fd;
	/* The descriptor is of the main file's imap_password_file: a
	 * backend with the same file may use it too. */
	for (unsigned int i = 0; i < cfg->backends.count; i++) {
		qc_config_t *b = cfg->backends.config[i];

		if (strcmp(qc_config_get(b, "imap_password_file"),
			   qc_config_get(cfg, "imap_password_file")) == 0)
			b->password_fd = fd;
	}
	return QC_OK;
}

const qc_rule_t *
qc_config_rule(const qc_config_t *cfg)
{
	return cfg != NULL ? &cfg->rule : NULL;
}

const char *
qc_config_errmsg(const qc_config_t *cfg)
{
	return cfg == NULL ? "no configuration" : cfg->errmsg;
}

void
qc_config_foreach(const qc_config_t *cfg, qc_config_visit_fn *fn,
		  void *context)
{
	for (size_t i = 0; i < NKEYS; i++)
		fn(keys[i].name, cfg != NULL ? cfg->values[i] : keys[i].def,
		   keys[i].description, context);
}

void
qc_config_settings(const qc_config_t *cfg, struct qc_settings *s)
{
	char why[160];

	memset(s, 0, sizeof(*s));
	/* The value was checked when it was set: this cannot fail. */
	if (qc_url_list_split(qc_config_get(cfg, "imap_url"), s->urls,
			      &s->nurls, why, sizeof(why)) < 0)
		s->nurls = 0;
	s->tls_required = strcmp(qc_config_get(cfg, "imap_tls"), "none") != 0;
	qc_strlcpy(s->ca_file, qc_config_get(cfg, "imap_ca_file"),
		   sizeof(s->ca_file));
	qc_strlcpy(s->user, qc_config_get(cfg, "imap_user"), sizeof(s->user));
	qc_strlcpy(s->password_file, qc_config_get(cfg, "imap_password_file"),
		   sizeof(s->password_file));
	s->password_fd = cfg->password_fd;
	qc_strlcpy(s->authzid, qc_config_get(cfg, "imap_authzid"),
		   sizeof(s->authzid));
	qc_strlcpy(s->mailbox_format, qc_config_get(cfg, "mailbox_format"),
		   sizeof(s->mailbox_format));
	qc_strlcpy(s->recipient_delimiter,
		   qc_config_get(cfg, "recipient_delimiter"),
		   sizeof(s->recipient_delimiter));
	qc_strlcpy(s->domains, qc_config_get(cfg, "domains"),
		   sizeof(s->domains));
	if (qc_config_get_number(cfg, "imap_timeout", &s->timeout_ms) != QC_OK)
		s->timeout_ms = 10000;
	s->rule = cfg->rule;
}
