/*
 * options.h - the command line every quotachk tool shares: -c FILE /
 * --config=FILE, every config key as --key=value, --help, --version, plus
 * a tool's own options.  The config file is read first and the command
 * line overrides it, whatever the order of the arguments.
 */
#ifndef QC_TOOLS_OPTIONS_H
#define QC_TOOLS_OPTIONS_H

#include <stdio.h>

#include "quotachk.h"

#define EXIT_USAGE 64  /* sysexits EX_USAGE */
#define EXIT_CONFIG 78 /* sysexits EX_CONFIG */

#define TOOL_OPTIONS_MAX 16
#define TOOL_REPEATABLE 2

struct tool_option {
	const char *name;  /* long name without "--" */
	int takes_value;   /* --name=VALUE; TOOL_REPEATABLE: may be given
			    * again, the values joined with commas */
	const char *help;
};

struct tool_args {
	qc_config_t *config;
	const char *values[TOOL_OPTIONS_MAX]; /* tool options, NULL if unset */
	char **positional;
	int npositional;
	char *joined[TOOL_OPTIONS_MAX];       /* owned values of repeats */
};

/*
 * Returns 0 to go on, -1 when --help or --version was answered (exit 0),
 * or the exit status EXIT_USAGE or EXIT_CONFIG.  Messages go to stderr prefixed by progname.
 * The config is loaded and validated unless skip_validate is set.
 */
int tool_parse_args(const char *progname, const char *synopsis,
		    const char *description, int argc, char **argv,
		    const struct tool_option *options, int noptions,
		    int skip_validate, struct tool_args *args_r);
void tool_args_free(struct tool_args *args);

#endif
