/*
 * reload.c - see reload.h.  tools/options.c parses the command line at
 * start-up and prints to stderr; at reload time stderr may be a closed
 * terminal or, under spawn(8), the Postfix connection itself, so the few
 * forms that carry configuration are walked again here and every message
 * goes to the caller, which logs it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reload.h"

#ifndef QC_SYSCONFDIR
#define QC_SYSCONFDIR "/etc"
#endif

static int
fail(qc_config_t *config, char *err, size_t err_size)
{
	snprintf(err, err_size, "%s", qc_config_errmsg(config));
	qc_config_free(config);
	return -1;
}

int
reload_config(int argc, char **argv, qc_config_t **config_r, char *err,
	      size_t err_size)
{
	const char *path = NULL;
	qc_config_t *config;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
	}
	if (path == NULL && access(QC_SYSCONFDIR "/quotachk.conf", F_OK) == 0)
		path = QC_SYSCONFDIR "/quotachk.conf";
	if (qc_config_new(&config) != QC_OK) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (path != NULL && qc_config_load_file(config, path) != QC_OK)
		return fail(config, err, err_size);
	for (i = 1; i < argc; i++) {
		char *arg = argv[i], *eq;
		int ret;

		if (strcmp(arg, "--") == 0)
			break;
		if (strcmp(arg, "-c") == 0) {
			i++;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 ||
		    strncmp(arg, "--config=", 9) == 0 ||
		    (eq = strchr(arg, '=')) == NULL)
			continue;
		*eq = '\0';
		ret = qc_config_set(config, arg + 2, eq + 1);
		*eq = '=';
		if (ret != QC_OK)
			return fail(config, err, err_size);
	}
	if (qc_config_validate(config) != QC_OK)
		return fail(config, err, err_size);
	*config_r = config;
	return 0;
}
