/*
 * milter.h - quotachk-milter's shared parts: the milter callbacks
 * (callbacks.c) and what they need from the process (main.c).
 */
#ifndef QC_MILTER_MILTER_H
#define QC_MILTER_MILTER_H

#include <stddef.h>
#include <stdint.h>
#include <libmilter/mfapi.h>

#include "quotachk.h"
#include "reply.h"

extern struct smfiDesc milter_desc;

/* The engine every callback checks on. */
qc_engine_t *milter_engine(void);
/* The configured action text of kind (a reload may change it). */
void milter_action(enum action_kind kind, char *out, size_t size);
/* One key=value line per decision, as quotachk-policyd writes, and its
 * metrics (kind: the action that applied). */
void milter_log_decision(const char *recipient, const qc_check_t *check,
			 int error, uint64_t size, enum action_kind kind,
			 const char *action);

#endif
