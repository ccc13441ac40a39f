/*
 * reload.h - read the configuration again for SIGHUP, from the same
 * command line the daemon was started with: the file (-c FILE,
 * --config=FILE or the default), then the --key=value overrides.
 */
#ifndef QC_POLICYD_RELOAD_H
#define QC_POLICYD_RELOAD_H

#include <stddef.h>

#include "quotachk.h"

/*
 * A new, validated config in *config_r (caller frees), or -1 with err
 * naming the file, line and key at fault.  The arguments were checked at
 * start-up, so only the file's contents can have changed.
 */
int reload_config(int argc, char **argv, qc_config_t **config_r, char *err,
		  size_t err_size);

#endif
