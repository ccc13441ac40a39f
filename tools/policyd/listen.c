/*
 * listen.c - see listen.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "listen.h"

#define BACKLOG 1024

static int
open_inet(const char *key, const char *hostport, char *err, size_t err_size)
{
	char host[256];
	const char *port, *colon = strrchr(hostport, ':');
	struct addrinfo hints, *res = NULL, *ai;
	size_t hlen;
	int fd = -1, e, one = 1;

	if (colon == NULL || colon[1] == '\0') {
		snprintf(err, err_size, "%s = inet:%s: expected "
			 "inet:HOST:PORT", key, hostport);
		return -1;
	}
	port = colon + 1;
	hlen = (size_t)(colon - hostport);
	if (hlen >= 2 && hostport[0] == '[' && hostport[hlen - 1] == ']') {
		hostport++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) {
		snprintf(err, err_size, "%s: host name too long", key);
		return -1;
	}
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	e = getaddrinfo(hlen == 0 || strcmp(host, "*") == 0 ? NULL : host,
			port, &hints, &res);
	if (e != 0) {
		snprintf(err, err_size, "%s = inet:%s: %s", key, hostport,
			 gai_strerror(e));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, BACKLOG) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	if (fd < 0)
		snprintf(err, err_size, "cannot listen on %s: %s", hostport,
			 strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/*
 * The socket is created with no permissions for group and others (umask
 * around bind), then given its group and mode: it is never reachable by
 * more users than listen_mode and listen_group say, not even briefly.
 */
static int
bind_private(int fd, const struct sockaddr_un *sun)
{
	mode_t old = umask(0177);
	int r = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));

	umask(old);
	return r;
}

static int
open_unix(const char *key, const char *path, unsigned int mode, long gid,
	  char *err, size_t err_size)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, err_size, "%s = unix:%s: path too long",
			 key, path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	/* Replace a socket left by an earlier run, never anything else. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind_private(fd, &sun) < 0 ||
	    (gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0) ||
	    chmod(path, (mode_t)mode) < 0 || listen(fd, BACKLOG) < 0) {
		snprintf(err, err_size, "cannot listen on unix:%s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int
listen_open(const char *key, const char *spec, unsigned int mode, long gid,
	    char *err, size_t err_size)
{
	if (strncmp(spec, "inet:", 5) == 0)
		return open_inet(key, spec + 5, err, err_size);
	if (strncmp(spec, "unix:", 5) == 0)
		return open_unix(key, spec + 5, mode, gid, err, err_size);
	snprintf(err, err_size, "%s = %s: expected inet:HOST:PORT or "
		 "unix:PATH", key, spec);
	return -1;
}

int
listen_accept(int lfd, char *peer_r, size_t peer_size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
			 SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		snprintf(peer_r, peer_size, "%s:%u", addr,
			 ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		snprintf(peer_r, peer_size, "[%s]:%u", addr,
			 ntohs(sin6->sin6_port));
	} else {
		snprintf(peer_r, peer_size, "unix:fd%d", fd);
	}
	return fd;
}
