/*
 * mreply.h - a configured action (the daemon's Postfix action syntax,
 * quotachk.conf) as a milter reply.  Pure.
 *
 *   DUNNO, OK, or anything else that lets mail through  -> continue
 *   4xx [x.y.z] text                                    -> tempfail
 *   5xx [x.y.z] text                                    -> reject
 *   DEFER, DEFER_IF_PERMIT [text]                       -> 450 4.7.1 text
 *   REJECT [text]                                       -> 550 5.7.1 text
 *   DISCARD [text]                                      -> discard
 */
#ifndef QC_MILTER_MREPLY_H
#define QC_MILTER_MREPLY_H

#include <stddef.h>

enum mreply_kind { MREPLY_CONTINUE = 0, MREPLY_TEMPFAIL, MREPLY_REJECT,
		   MREPLY_DISCARD };

struct mreply {
	enum mreply_kind kind;
	char rcode[4];       /* "452"; "" for continue and discard */
	char xcode[16];      /* "4.2.2"; may be "" */
	char text[256];      /* may be "" */
};

void mreply_from_action(const char *action, struct mreply *reply_r);

#endif
