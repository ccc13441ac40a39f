/*
 * privs.h - give up root after binding, and never serve as root.
 */
#ifndef QC_POLICYD_PRIVS_H
#define QC_POLICYD_PRIVS_H

#include <stddef.h>

/*
 * As root: become user (its groups, gid, uid) for good.  As anyone else:
 * nothing to drop.  Either way it fails (-1, err says why) when user
 * names root (uid 0) or the process would still run as root.
 */
int privs_drop(const char *user, char *err, size_t err_size);

#endif
