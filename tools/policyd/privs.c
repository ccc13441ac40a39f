/*
 * privs.c - see privs.h.  An IMAP admin password and a socket open to
 * the network are reason enough not to keep root: a bug in the request
 * path must not become a root compromise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>

#include "privs.h"

int
privs_drop(const char *user, char *err, size_t err_size)
{
	struct passwd *pw;

	if (geteuid() == 0) {
		errno = 0;
		pw = getpwnam(user);
		if (pw == NULL) {
			snprintf(err, err_size, "user = %s: no such user%s%s; "
				 "set user to an unprivileged account", user,
				 errno ? ": " : "", errno ? strerror(errno) : "");
			return -1;
		}
		if (pw->pw_uid == 0) {
			snprintf(err, err_size, "user = %s is root; refusing to "
				 "serve as root: set user to an unprivileged "
				 "account", user);
			return -1;
		}
		if (initgroups(pw->pw_name, pw->pw_gid) < 0 ||
		    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
			snprintf(err, err_size, "cannot become user %s: %s",
				 user, strerror(errno));
			return -1;
		}
		/* Must be for good: getting root back has to fail. */
		if (setuid(0) == 0) {
			snprintf(err, err_size, "could regain root after "
				 "becoming %s; refusing to serve", user);
			return -1;
		}
		/*
		 * setuid() set the dumpable flag to fs.suid_dumpable: with 1,
		 * any process of user could now ptrace us or read our memory,
		 * the IMAP password in it.  tools/options.c cleared it at
		 * start; clear it again for the user we became.
		 */
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
			snprintf(err, err_size, "prctl(PR_SET_DUMPABLE): %s; "
				 "refusing to serve", strerror(errno));
			return -1;
		}
	}
	if (geteuid() == 0 || getuid() == 0) {
		snprintf(err, err_size, "still running as root (uid %u); "
			 "refusing to serve as root", (unsigned)geteuid());
		return -1;
	}
	return 0;
}

int
privs_keep_password_fd(qc_config_t *config)
{
	int fd = open(qc_config_get(config, "imap_password_file"),
		      O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd >= 0)
		qc_config_set_password_fd(config, fd);
	return fd;
}
