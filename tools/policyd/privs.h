/*
 * privs.h - give up root after binding, and never serve as root.
 */
#ifndef QC_POLICYD_PRIVS_H
#define QC_POLICYD_PRIVS_H

#include <stddef.h>

#include "quotachk.h"

/*
 * As root: become user (its groups, gid, uid) for good.  As anyone else:
 * nothing to drop.  Either way it fails (-1, err says why) when user
 * names root (uid 0) or the process would still run as root.
 */
int privs_drop(const char *user, char *err, size_t err_size);

/*
 * The password file, opened with the privileges we start with (root,
 * under the shipped systemd units) and kept for the process's life:
 * after the drop to user, a root-only file cannot be opened again, and
 * every reload would fail.  The library reads the descriptor only when
 * it cannot open the file itself (see qc_config_set_password_fd).
 * Returns the fd (closed by the caller at exit), or -1 when the file
 * cannot be opened: qc_engine_new() then reports why.
 */
int privs_keep_password_fd(qc_config_t *config);

#endif
