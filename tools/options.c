/*
 * options.c - shared command-line handling of the quotachk tools.
 * There is deliberately no option for the password: it would show in
 * ps(1); the password only ever comes from imap_password_file.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "options.h"

#ifndef QC_SYSCONFDIR
#define QC_SYSCONFDIR "/etc"
#endif

struct help_ctx {
	FILE *fp;
};

static void
print_key(const char *key, const char *value, const char *description,
	  void *context)
{
	struct help_ctx *h = context;

	fprintf(h->fp, "  --%s=VALUE\n      %s (default: %s)\n", key,
		description, value[0] ? value : "empty");
}

static void
usage(FILE *fp, const char *progname, const char *synopsis,
      const char *description, const struct tool_option *options,
      int noptions)
{
	struct help_ctx h = {fp};

	fprintf(fp, "Usage: %s %s\n%s\n\nOptions:\n"
		"  -c FILE, --config=FILE\n"
		"      configuration file (default: %s/quotachk.conf)\n"
		"  --help     this text\n  --version  print the version\n",
		progname, synopsis, description, QC_SYSCONFDIR);
	for (int i = 0; i < noptions; i++)
		fprintf(fp, "  --%s%s\n      %s\n", options[i].name,
			options[i].takes_value ? "=VALUE" : "",
			options[i].help);
	fprintf(fp, "\nEvery configuration key may be given as --key=value "
		"(dashes or underscores):\n");
	qc_config_foreach(NULL, print_key, &h);
}

static int
find_option(const struct tool_option *options, int noptions,
	    const char *name, size_t len)
{
	for (int i = 0; i < noptions; i++)
		if (strlen(options[i].name) == len &&
		    strncmp(options[i].name, name, len) == 0)
			return i;
	return -1;
}

int
tool_parse_args(const char *progname, const char *synopsis,
		const char *description, int argc, char **argv,
		const struct tool_option *options, int noptions,
		int skip_validate, struct tool_args *a)
{
	const char *config_path = NULL;
	char **overrides;
	int noverrides = 0, ret, only_positional = 0;

	/*
	 * Every tool holds the IMAP password in memory: no core dump, and no
	 * ptrace by other processes of the same user, may copy it out.
	 */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	memset(a, 0, sizeof(*a));
	overrides = calloc((size_t)argc + 1, sizeof(*overrides));
	a->positional = calloc((size_t)argc + 1, sizeof(*a->positional));
	if (overrides == NULL || a->positional == NULL ||
	    qc_config_new(&a->config) != QC_OK) {
		fprintf(stderr, "%s: out of memory\n", progname);
		free(overrides);
		return EXIT_CONFIG;
	}
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i];
		const char *eq;
		size_t name_len;
		int idx;

		if (only_positional || arg[0] != '-' || arg[1] == '\0') {
			a->positional[a->npositional++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = 1;
			continue;
		}
		if (strcmp(arg, "-c") == 0) {
			if (++i >= argc) {
				fprintf(stderr, "%s: -c needs a FILE\n",
					progname);
				ret = EXIT_USAGE;
				goto out;
			}
			config_path = argv[i];
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout, progname, synopsis, description,
			      options, noptions);
			ret = 0;
			goto out_done;
		}
		if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
			printf("%s (quotachk) %s\n", progname,
			       qc_version_string());
			ret = 0;
			goto out_done;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(stderr, "%s: unknown option %s; try --help\n",
				progname, arg);
			ret = EXIT_USAGE;
			goto out;
		}
		arg += 2;
		eq = strchr(arg, '=');
		name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		if (name_len == 6 && strncmp(arg, "config", 6) == 0 &&
		    eq != NULL) {
			config_path = eq + 1;
			continue;
		}
		idx = find_option(options, noptions, arg, name_len);
		if (idx >= 0) {
			if ((options[idx].takes_value != 0) != (eq != NULL)) {
				fprintf(stderr, "%s: --%s %s\n", progname,
					options[idx].name,
					options[idx].takes_value ?
					"needs =VALUE" : "takes no value");
				ret = EXIT_USAGE;
				goto out;
			}
			if (options[idx].takes_value == TOOL_REPEATABLE &&
			    a->values[idx] != NULL) {
				char *both;

				if (asprintf(&both, "%s,%s", a->values[idx],
					     eq + 1) < 0) {
					ret = EXIT_USAGE;
					goto out;
				}
				free(a->joined[idx]);
				a->values[idx] = a->joined[idx] = both;
				continue;
			}
			a->values[idx] = eq != NULL ? eq + 1 : "yes";
			continue;
		}
		if (eq == NULL) {
			fprintf(stderr, "%s: unknown option --%s; config keys "
				"take --key=value; try --help\n", progname,
				arg);
			ret = EXIT_USAGE;
			goto out;
		}
		overrides[noverrides++] = arg;
	}
	if (config_path != NULL || access(QC_SYSCONFDIR "/quotachk.conf",
					  F_OK) == 0) {
		if (config_path == NULL)
			config_path = QC_SYSCONFDIR "/quotachk.conf";
		if (qc_config_load_file(a->config, config_path) != QC_OK) {
			fprintf(stderr, "%s: %s\n", progname,
				qc_config_errmsg(a->config));
			ret = EXIT_CONFIG;
			goto out;
		}
	}
	for (int i = 0; i < noverrides; i++) {
		char *eq = strchr(overrides[i], '=');

		*eq = '\0';
		ret = qc_config_set(a->config, overrides[i], eq + 1);
		*eq = '=';
		if (ret != QC_OK) {
			fprintf(stderr, "%s: %s\n", progname,
				qc_config_errmsg(a->config));
			ret = EXIT_CONFIG;
			goto out;
		}
	}
	if (!skip_validate && qc_config_validate(a->config) != QC_OK) {
		fprintf(stderr, "%s: %s\n", progname,
			qc_config_errmsg(a->config));
		ret = EXIT_CONFIG;
		goto out;
	}
	free(overrides);
	return 0;
out_done:
	free(overrides);
	tool_args_free(a);
	return ret == 0 ? -1 : ret;
out:
	free(overrides);
	tool_args_free(a);
	return ret;
}

void
tool_args_free(struct tool_args *a)
{
	qc_config_free(a->config);
	a->config = NULL;
	free(a->positional);
	a->positional = NULL;
	for (int i = 0; i < TOOL_OPTIONS_MAX; i++) {
		free(a->joined[i]);
		a->joined[i] = NULL;
	}
}
