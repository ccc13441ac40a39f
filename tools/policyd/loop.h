/*
 * loop.h - a small epoll event loop (level-triggered), in the spirit of
 * redis' ae and Postfix' events: watch a file descriptor for reading
 * and/or writing, call back.  Timers are left to the caller, which runs
 * its deadline checks after every pass (loop_run_once takes a timeout).
 *
 * Descriptors epoll cannot watch (regular files, e.g. stdin redirected
 * from a file in spawn mode tests) are treated as always ready.
 */
#ifndef QC_POLICYD_LOOP_H
#define QC_POLICYD_LOOP_H

#include <stdint.h>

#define LOOP_READ 1u
#define LOOP_WRITE 2u
#define LOOP_ERROR 4u  /* reported only: hang-up or error on the fd */

typedef void loop_fn(void *context, unsigned int events);

/* Embedded in the owner's struct; the owner keeps it alive while added. */
struct loop_watch {
	int fd;
	unsigned int events;     /* what is asked now */
	int always_ready;        /* epoll refused the fd (EPERM) */
	int in_epoll;            /* in the epoll set: events != 0 */
	int added;
	loop_fn *fn;
	void *context;
	struct loop_watch *ready_next;
};

struct loop;

struct loop *loop_create(void);
void loop_destroy(struct loop **loop);

/* Returns 0, or -1 with errno set. */
int loop_add(struct loop *loop, struct loop_watch *w, int fd,
	     unsigned int events, loop_fn *fn, void *context);
/* Change what is asked; cheap when nothing changes.  Asking for nothing
 * also stops hang-up and error reports until something is asked again. */
int loop_set(struct loop *loop, struct loop_watch *w, unsigned int events);
/* Stop watching (before the fd is closed). */
void loop_del(struct loop *loop, struct loop_watch *w);

/* Wait up to timeout_ms for events and dispatch them; -1 on error. */
int loop_run_once(struct loop *loop, int timeout_ms);

/* Monotonic clock. */
uint64_t loop_now_ms(void);
uint64_t loop_now_us(void);

#endif
