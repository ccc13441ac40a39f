/*
 * password.c - the IMAP password, read from imap_password_file only.
 *
 * A password on a command line shows in ps(1) and shell history, so there
 * is no option for it.  A file anyone may read is refused outright rather
 * than warned about: the admin password opens every mailbox.  The copy in
 * memory is wiped before it is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qc_private.h"

#define PASSWORD_MAX 1024

int
qc_password_read(const char *path, char **password_r, char *errmsg)
{
	char buf[PASSWORD_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	*password_r = NULL;
	if (fd < 0) {
		qc_errmsg_set(errmsg, "imap_password_file %s: %s", path,
			      strerror(errno));
		return QC_ERR_PASSWORD_FILE;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		qc_errmsg_set(errmsg, "imap_password_file %s: not a regular "
			      "file", path);
		close(fd);
		return QC_ERR_PASSWORD_FILE;
	}
	if (st.st_mode & S_IROTH) {
		qc_errmsg_set(errmsg, "imap_password_file %s is readable by "
			      "everyone; run chmod o-rwx %s", path, path);
		close(fd);
		return QC_ERR_PASSWORD_FILE;
	}
	n = read(fd, buf, PASSWORD_MAX);
	close(fd);
	if (n < 0) {
		qc_errmsg_set(errmsg, "imap_password_file %s: %s", path,
			      strerror(errno));
		return QC_ERR_PASSWORD_FILE;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		qc_errmsg_set(errmsg, "imap_password_file %s: the first line "
			      "is empty; put the password there", path);
		explicit_bzero(buf, sizeof(buf));
		return QC_ERR_PASSWORD_FILE;
	}
	*password_r = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *password_r == NULL ? QC_ERR_NOMEM : QC_OK;
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
