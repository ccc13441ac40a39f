/*
 * loop.c - see loop.h.  Callbacks may delete any watch, their own
 * included, while a pass is dispatched: a deleted watch is skipped
 * through its "added" flag, so owners must keep the memory of a deleted
 * watch until the pass ends (conn.c frees closed connections afterwards).
 *
 * A watch that asks for nothing is taken out of the epoll set: epoll
 * reports EPOLLHUP and EPOLLERR whatever is asked, so a client that hung
 * up while its lookup was pending (no input wanted, no output yet) woke
 * every epoll_wait at once and the daemon spun at 100 % CPU until the
 * lookup ended.  It goes back in when its owner asks for something again;
 * a hang-up then shows in the write that follows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "loop.h"

#define LOOP_BATCH 256

struct loop {
	int epfd;
	unsigned int nalways;           /* always-ready watches */
	struct loop_watch *always;      /* list of them */
	struct epoll_event events[LOOP_BATCH];
};

uint64_t
loop_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
loop_now_ms(void)
{
	return loop_now_us() / 1000;
}

struct loop *
loop_create(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void
loop_destroy(struct loop **lp)
{
	if (*lp == NULL)
		return;
	close((*lp)->epfd);
	free(*lp);
	*lp = NULL;
}

static uint32_t
to_epoll(unsigned int events)
{
	return (events & LOOP_READ ? EPOLLIN : 0) |
	       (events & LOOP_WRITE ? EPOLLOUT : 0);
}

int
loop_add(struct loop *l, struct loop_watch *w, int fd, unsigned int events,
	 loop_fn *fn, void *context)
{
	struct epoll_event ev = {.events = to_epoll(events), .data.ptr = w};

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->context = context;
	/* Added even when nothing is asked: only the add tells whether
	 * epoll can watch the fd at all (EPERM for regular files). */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		if (errno != EPERM)
			return -1;
		w->always_ready = 1;
		w->ready_next = l->always;
		l->always = w;
		l->nalways++;
	} else if (events == 0) {
		(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	} else {
		w->in_epoll = 1;
	}
	w->added = 1;
	return 0;
}

int
loop_set(struct loop *l, struct loop_watch *w, unsigned int events)
{
	struct epoll_event ev = {.events = to_epoll(events), .data.ptr = w};

	if (!w->added || w->events == events)
		return 0;
	w->events = events;
	if (w->always_ready)
		return 0;
	if (events == 0) {
		w->in_epoll = 0;
		return epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	}
	if (!w->in_epoll) {
		w->in_epoll = 1;
		return epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev);
	}
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void
loop_del(struct loop *l, struct loop_watch *w)
{
	if (!w->added)
		return;
	w->added = 0;
	if (w->always_ready) {
		struct loop_watch **pp = &l->always;

		while (*pp != NULL && *pp != w)
			pp = &(*pp)->ready_next;
		if (*pp != NULL)
			*pp = w->ready_next;
		l->nalways--;
		return;
	}
	if (w->in_epoll)
		(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->in_epoll = 0;
}

static int
always_wanted(const struct loop *l)
{
	for (const struct loop_watch *w = l->always; w != NULL;
	     w = w->ready_next)
		if (w->events != 0)
			return 1;
	return 0;
}

int
loop_run_once(struct loop *l, int timeout_ms)
{
	int n;

	if (l->nalways > 0 && always_wanted(l))
		timeout_ms = 0;
	n = epoll_wait(l->epfd, l->events, LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		struct loop_watch *w = l->events[i].data.ptr;
		uint32_t e = l->events[i].events;
		unsigned int what = 0;

		if (!w->added)
			continue;
		if (e & EPOLLIN)
			what |= LOOP_READ;
		if (e & EPOLLOUT)
			what |= LOOP_WRITE;
		if (e & (EPOLLERR | EPOLLHUP))
			what |= LOOP_ERROR | (w->events & (LOOP_READ | LOOP_WRITE));
		if (what & (w->events | LOOP_ERROR))
			w->fn(w->context, what);
	}
	if (l->nalways > 0) {
		/* Copy first: a callback may delete watches from the list. */
		struct loop_watch *ready[64];
		unsigned int k = 0;

		for (struct loop_watch *w = l->always; w != NULL && k < 64;
		     w = w->ready_next)
			if (w->events != 0)
				ready[k++] = w;
		for (unsigned int i = 0; i < k; i++)
			if (ready[i]->added && ready[i]->events != 0)
				ready[i]->fn(ready[i]->context,
					     ready[i]->events);
	}
	return 0;
}
