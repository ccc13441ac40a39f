/*
 * password.c - the IMAP password, read from imap_password_file only.
 *
 * A password on a command line shows in ps(1) and shell history, so there
 * is no option for it.  A file anyone may read is refused outright rather
 * than warned about: the admin password opens every mailbox.  The copy in
 * memory is wiped before it is freed.
 *
 * A daemon that starts as root and drops to an unprivileged user cannot
 * open a root-only file again on reload; it may hand over a descriptor it
 * opened while still root (qc_config_set_password_fd).  That descriptor
 * is read only when the file itself cannot be opened, and only while it
 * still is the file at imap_password_file: a file edited in place is
 * re-read, one replaced by another (rename, install, most editors) is
 * refused with a message that asks for a restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qc_private.h"

/* Longer first lines are refused, not cut: a cut password fails the
 * login with nothing to say why. */
#define PASSWORD_MAX 1024

/*
 * Is kept_fd still the file at path?  When path cannot even be looked up
 * (a directory only root may search), a descriptor whose file still has a
 * name is taken to be it.
 */
static int
still_the_file(const char *path, int kept_fd)
{
	struct stat now, kept;

	if (fstat(kept_fd, &kept) < 0)
		return 0;
	if (stat(path, &now) == 0)
		return now.st_dev == kept.st_dev && now.st_ino == kept.st_ino;
	return errno == EACCES && kept.st_nlink > 0;
}

/* The first line of fd (read from its start) into buf. */
static int
read_first_line(int fd, const char *path, char *buf, size_t bufsize,
		char *errmsg)
{
	ssize_t n = pread(fd, buf, bufsize - 1, 0);
	size_t len;

	if (n < 0) {
		qc_errmsg_set(errmsg, "imap_password_file %s: %s", path,
			      strerror(errno));
		return QC_ERR_PASSWORD_FILE;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len > PASSWORD_MAX) {
		qc_errmsg_set(errmsg, "imap_password_file %s: the first line "
			      "is longer than %d bytes; the password must fit "
			      "in %d bytes", path, PASSWORD_MAX, PASSWORD_MAX);
		return QC_ERR_PASSWORD_FILE;
	}
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		qc_errmsg_set(errmsg, "imap_password_file %s: the first line "
			      "is empty; put the password there", path);
		return QC_ERR_PASSWORD_FILE;
	}
	return QC_OK;
}

/* Open path, or fall back on kept_fd as the header above says. */
static int
open_password_file(const char *path, int kept_fd, int *fd_r, char *errmsg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	*fd_r = -1;
	if (fd >= 0) {
		*fd_r = fd;
		return QC_OK;
	}
	if ((errno != EACCES && errno != EPERM) || kept_fd < 0) {
		qc_errmsg_set(errmsg, "imap_password_file %s: %s", path,
			      strerror(errno));
		return QC_ERR_PASSWORD_FILE;
	}
	if (!still_the_file(path, kept_fd)) {
		qc_errmsg_set(errmsg, "imap_password_file %s: %s, and it is no "
			      "longer the file opened at start (replaced, or "
			      "another path): restart the daemon to read it, "
			      "or make it readable by the user the daemon "
			      "runs as", path, strerror(EACCES));
		return QC_ERR_PASSWORD_FILE;
	}
	*fd_r = kept_fd;
	return QC_OK;
}

int
qc_password_read(const char *path, int kept_fd, char **password_r,
		 char *errmsg)
{
	char buf[PASSWORD_MAX + 2];  /* one byte more shows a longer line */
	struct stat st;
	int fd, ret;

	*password_r = NULL;
	ret = open_password_file(path, kept_fd, &fd, errmsg);
	if (ret != QC_OK)
		return ret;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		qc_errmsg_set(errmsg, "imap_password_file %s: not a regular "
			      "file", path);
		ret = QC_ERR_PASSWORD_FILE;
	} else if (st.st_mode & S_IROTH) {
		qc_errmsg_set(errmsg, "imap_password_file %s is readable by "
			      "everyone; run chmod o-rwx %s", path, path);
		ret = QC_ERR_PASSWORD_FILE;
	} else {
		ret = read_first_line(fd, path, buf, sizeof(buf), errmsg);
	}
	if (fd != kept_fd)
		close(fd);
	if (ret == QC_OK) {
		*password_r = strdup(buf);
		if (*password_r == NULL)
			ret = QC_ERR_NOMEM;
	}
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

void
qc_password_free(char **password)
{
	if (*password == NULL)
		return;
	explicit_bzero(*password, strlen(*password));
	free(*password);
	*password = NULL;
}
