/*
 * config_backends.c - several backends chosen by recipient domain.
 *
 * "backends" names one file per backend.  Each is read into a config that
 * starts as a copy of the main file's final values (command-line
 * overrides included), so a key a backend file does not set is the main
 * file's; a backend file may only set the keys that describe a server
 * and its mailboxes.  Routing is the first backend whose domains list
 * the recipient's domain: it lives here once, for every tool.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qc_private.h"

#define DOMAIN_MAX 256

static const char *const backend_keys[] = {
	"mailbox_format", "recipient_delimiter", "domains", "quota_rule",
	"quota_grace"
};

int
qc_backend_key_allowed(const char *key)
{
	if (strncmp(key, "imap_", 5) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(backend_keys) / sizeof(backend_keys[0]);
	     i++)
		if (strcmp(key, backend_keys[i]) == 0)
			return 1;
	return 0;
}

void
qc_backends_clear(struct qc_backends *b)
{
	for (unsigned int i = 0; i < b->count; i++)
		qc_config_free(b->config[i]);
	memset(b, 0, sizeof(*b));
}

/* Names appear in log lines, JSON and Prometheus labels: keep them plain. */
int
qc_backend_name(const char *path, char *name_r, size_t size)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base != NULL ? base + 1 : path;
	len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".conf") == 0)
		len -= 5;
	if (len == 0 || len >= size)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = base[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return -1;
	}
	memcpy(name_r, base, len);
	name_r[len] = '\0';
	return 0;
}

/* The next entry of a comma- or space-separated list, or NULL. */
static const char *
next_entry(const char *p, char *out, size_t size, int *too_long_r)
{
	size_t len = 0;

	*too_long_r = 0;
	while (*p == ',' || *p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	while (p[len] != '\0' && p[len] != ',' && p[len] != ' ' &&
	       p[len] != '\t')
		len++;
	if (len >= size) {
		*too_long_r = 1;
		out[0] = '\0';
		return p + len;
	}
	memcpy(out, p, len);
	out[len] = '\0';
	return p + len;
}

static int
load_one(qc_config_t *main_cfg, struct qc_backends *set, const char *entry)
{
	char *errmsg = qc_config_errbuf(main_cfg);
	const char *dir = qc_config_dir(main_cfg);
	char path[PATH_MAX], name[QC_BACKEND_NAME_MAX];
	qc_config_t *b;
	int ret;

	if (entry[0] != '/' && dir != NULL)
		ret = snprintf(path, sizeof(path), "%s/%s", dir, entry);
	else
		ret = snprintf(path, sizeof(path), "%s", entry);
	if (ret < 0 || (size_t)ret >= sizeof(path)) {
		qc_errmsg_set(errmsg, "backends: the path %.200s is too long",
			      entry);
		return QC_ERR_CONFIG;
	}
	if (qc_backend_name(path, name, sizeof(name)) < 0) {
		qc_errmsg_set(errmsg, "backends: %.300s: a backend is named "
			      "after its file (without .conf), which must be "
			      "1 to %d letters, digits, '-', '_' or '.'", path,
			      QC_BACKEND_NAME_MAX - 1);
		return QC_ERR_CONFIG;
	}
	for (unsigned int i = 0; i < set->count; i++) {
		if (strcmp(set->name[i], name) == 0) {
			qc_errmsg_set(errmsg, "backends: %.300s: a backend "
				      "named %s is listed already; backends "
				      "are named after their files, which "
				      "must differ", path, name);
			return QC_ERR_CONFIG;
		}
	}
	if (set->count == QC_BACKENDS_MAX) {
		qc_errmsg_set(errmsg, "backends: more than %d files are listed",
			      QC_BACKENDS_MAX);
		return QC_ERR_CONFIG;
	}
	ret = qc_config_inherit(main_cfg, &b);
	if (ret != QC_OK)
		return ret;
	/* b's own messages already name the file and line. */
	ret = qc_config_load_file(b, path);
	if (ret == QC_OK && (ret = qc_config_validate(b)) != QC_OK) {
		char why[QC_ERRMSG_MAX];

		qc_strlcpy(why, qc_config_errmsg(b), sizeof(why));
		qc_errmsg_set(qc_config_errbuf(b), "backend %s (%.300s): %s",
			      name, path, why);
	}
	if (ret != QC_OK) {
		qc_errmsg_set(errmsg, "%s", qc_config_errmsg(b));
		qc_config_free(b);
		return ret;
	}
	set->config[set->count] = b;
	memcpy(set->name[set->count], name, sizeof(name));
	set->count++;
	return QC_OK;
}

int
qc_backends_load(qc_config_t *main_cfg)
{
	struct qc_backends *set = qc_config_backends_of(main_cfg);
	const char *p = qc_config_get(main_cfg, "backends");
	char entry[PATH_MAX];
	int too_long, ret;

	while ((p = next_entry(p, entry, sizeof(entry), &too_long)) != NULL) {
		if (too_long) {
			qc_errmsg_set(qc_config_errbuf(main_cfg), "backends: "
				      "a file name is too long");
			ret = QC_ERR_CONFIG;
		} else {
			ret = load_one(main_cfg, set, entry);
		}
		if (ret != QC_OK) {
			qc_backends_clear(set);
			return ret;
		}
	}
	/* An empty domains list serves every domain: before another
	 * backend it would leave that one nothing. */
	for (unsigned int i = 0; i + 1 < set->count; i++) {
		if (qc_config_get(set->config[i], "domains")[0] == '\0') {
			qc_errmsg_set(qc_config_errbuf(main_cfg), "backends: "
				      "backend %s has no domains (neither its "
				      "file nor the main file sets them), so "
				      "it would serve every recipient and the "
				      "backends after it none; set its "
				      "domains, or list it last as the "
				      "catch-all", set->name[i]);
			qc_backends_clear(set);
			return QC_ERR_CONFIG;
		}
	}
	return QC_OK;
}

/* ---- the public side ---- */

unsigned int
qc_config_backend_count(const qc_config_t *cfg)
{
	return cfg != NULL ? qc_config_backends_of(cfg)->count : 0;
}

const qc_config_t *
qc_config_backend(const qc_config_t *cfg, unsigned int index)
{
	if (cfg == NULL || index >= qc_config_backends_of(cfg)->count)
		return NULL;
	return qc_config_backends_of(cfg)->config[index];
}

const char *
qc_config_backend_name(const qc_config_t *cfg, unsigned int index)
{
	if (cfg == NULL || index >= qc_config_backends_of(cfg)->count)
		return NULL;
	return qc_config_backends_of(cfg)->name[index];
}

int
qc_config_backend_for(const qc_config_t *cfg, const char *address,
		      unsigned int *index_r)
{
	const struct qc_backends *set;
	char local[QC_MAILBOX_MAX], domain[DOMAIN_MAX];

	if (cfg == NULL || address == NULL || index_r == NULL)
		return QC_ERR_INVALID;
	*index_r = QC_BACKEND_NONE;
	set = qc_config_backends_of(cfg);
	if (set->count == 0)
		return QC_ERR_INVALID;
	/* The domain is all that routes; the delimiter only shapes the
	 * local part, which must still be a usable one. */
	if (qc_address_split(address, "", local, sizeof(local), domain,
			     sizeof(domain)) != QC_OK)
		return QC_ERR_ADDRESS;
	for (unsigned int i = 0; i < set->count; i++) {
		const char *domains = qc_config_get(set->config[i], "domains");

		/* No domain (a bare local part): only a catch-all. */
		if (domains[0] == '\0' ||
		    (domain[0] != '\0' && qc_domain_listed(domains, domain))) {
			*index_r = i;
			return QC_OK;
		}
	}
	return QC_OK;
}
