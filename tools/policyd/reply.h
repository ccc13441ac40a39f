/*
 * reply.h - from a lookup's outcome to the configured Postfix action
 * (DESIGN section 5), and the reply line itself.
 */
#ifndef QC_POLICYD_REPLY_H
#define QC_POLICYD_REPLY_H

#include "quotachk.h"

enum action_kind {
	ACTION_FITS = 0,
	ACTION_OVERQUOTA,
	ACTION_TOOLARGE,
	ACTION_NOUSER,
	ACTION_ERROR
};
#define ACTION_KINDS 5

/*
 * fits, noquota, notchecked -> fits; overquota; toolarge;
 * nouser and an address that names no mailbox (QC_ERR_ADDRESS) ->
 * nouser; any other error -> error.
 */
enum action_kind reply_action_for(int error, enum qc_verdict verdict);

/* The config key holding the action text, e.g. "action_overquota". */
const char *reply_action_key(enum action_kind kind);

/*
 * 1 when Postfix refuses the recipient on this action text: a reply code
 * (4xx, 5xx) or REJECT, DEFER, DEFER_IF_PERMIT, DISCARD.  DUNNO, OK,
 * PREPEND, HOLD, ... let it through.  Pure; for counting only the
 * recipients a message really went to.
 */
int reply_action_refuses(const char *text);

/* The action text from config (never NULL, falls back to DUNNO). */
const char *reply_action_text(const qc_config_t *config,
			      enum action_kind kind);

#endif
