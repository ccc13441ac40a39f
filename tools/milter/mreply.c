/*
 * mreply.c - see mreply.h.  smfi_setreply() wants the reply code and the
 * enhanced status code apart, and refuses a code of the wrong class, so
 * both are checked here; text is cut to what fits (a reply line is
 * bounded anyway) and "%" is left out (libmilter formats it).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mreply.h"

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "452 " at text: a three-digit code of class 4 or 5. */
static int
reply_code(const char *t)
{
	return (t[0] == '4' || t[0] == '5') && is_digit(t[1]) &&
	       is_digit(t[2]) && (t[3] == ' ' || t[3] == '\0');
}

/* "4.2.2 " at t, of class c: returns its length, or 0. */
static size_t
status_code(const char *t, char c)
{
	size_t n = 0;
	int dots = 0;

	if (t[0] != c || t[1] != '.')
		return 0;
	for (n = 0; t[n] != '\0' && t[n] != ' '; n++) {
		if (t[n] == '.')
			dots++;
		else if (!is_digit(t[n]))
			return 0;
	}
	return dots == 2 && n < 16 ? n : 0;
}

static const char *
skip_word(const char *t)
{
	while (*t != '\0' && *t != ' ')
		t++;
	while (*t == ' ')
		t++;
	return t;
}

static void
copy_text(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 1 < size; src++)
		if (*src != '%' && (unsigned char)*src >= 0x20)
			dst[n++] = *src;
	dst[n] = '\0';
}

static int
word_is(const char *t, const char *word)
{
	size_t n = strlen(word);

	return strncasecmp(t, word, n) == 0 && (t[n] == '\0' || t[n] == ' ');
}

void
mreply_from_action(const char *action, struct mreply *r)
{
	const char *t = action;
	size_t n;

	memset(r, 0, sizeof(*r));
	while (*t == ' ')
		t++;
	if (reply_code(t)) {
		r->kind = t[0] == '4' ? MREPLY_TEMPFAIL : MREPLY_REJECT;
		memcpy(r->rcode, t, 3);
		t = skip_word(t);
		if ((n = status_code(t, r->rcode[0])) > 0) {
			memcpy(r->xcode, t, n);
			t = skip_word(t);
		}
		copy_text(r->text, sizeof(r->text), t);
		return;
	}
	if (word_is(t, "DEFER") || word_is(t, "DEFER_IF_PERMIT")) {
		r->kind = MREPLY_TEMPFAIL;
		strcpy(r->rcode, "450");
		strcpy(r->xcode, "4.7.1");
	} else if (word_is(t, "REJECT")) {
		r->kind = MREPLY_REJECT;
		strcpy(r->rcode, "550");
		strcpy(r->xcode, "5.7.1");
	} else if (word_is(t, "DISCARD")) {
		r->kind = MREPLY_DISCARD;
	} else {
		return; /* DUNNO, OK, PREPEND ...: let it through */
	}
	copy_text(r->text, sizeof(r->text), skip_word(t));
}
