/*
 * address.c - recipient address -> IMAP mailbox name.
 *
 * Postfix hands the recipient over verbatim (Bob+Tag@Example.TEST), so the
 * extension is stripped and the address lower-cased here.  Only printable
 * ASCII survives: control and 8-bit bytes cannot name a mailbox this
 * library can quote safely, and such an address is refused rather than
 * guessed at.
 */
#include <string.h>
#include <strings.h>

#include "qc_private.h"

#define LOCAL_MAX 256
#define DOMAIN_MAX 256

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int
printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int
qc_address_split(const char *address, const char *delimiters, char *local_r,
		 size_t local_size, char *domain_r, size_t domain_size)
{
	const char *at = strrchr(address, '@');
	size_t local_len = at != NULL ? (size_t)(at - address) : strlen(address);
	const char *domain = at != NULL ? at + 1 : "";
	size_t domain_len = strlen(domain);

	if (!printable(address, strlen(address)))
		return QC_ERR_ADDRESS;
	/* Postfix strips at the first delimiter, but never to nothing. */
	for (size_t i = 1; i < local_len; i++) {
		if (strchr(delimiters, address[i]) != NULL) {
			local_len = i;
			break;
		}
	}
	if (domain_len > 0 && domain[domain_len - 1] == '.')
		domain_len--;
	if (local_len == 0 || local_len >= local_size ||
	    domain_len >= domain_size || (at != NULL && domain_len == 0))
		return QC_ERR_ADDRESS;
	for (size_t i = 0; i < local_len; i++)
		local_r[i] = lower(address[i]);
	local_r[local_len] = '\0';
	for (size_t i = 0; i < domain_len; i++)
		domain_r[i] = lower(domain[i]);
	domain_r[domain_len] = '\0';
	return QC_OK;
}

/* domains: names separated by commas or white space; ".x" matches below x. */
int
qc_domain_listed(const char *domains, const char *domain)
{
	const char *p = domains;
	size_t dlen = strlen(domain);
	int any = 0;

	while (*p != '\0') {
		size_t n;

		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		any = 1;
		if (n == dlen && strncasecmp(p, domain, n) == 0)
			return 1;
		if (p[0] == '.' && dlen > n &&
		    strncasecmp(p, domain + dlen - n, n) == 0)
			return 1;
		p += n;
	}
	return !any;
}

static int
append(char *out, size_t outsize, size_t *pos, const char *s, size_t len)
{
	if (len >= outsize - *pos)
		return QC_ERR_ADDRESS;
	memcpy(out + *pos, s, len);
	*pos += len;
	out[*pos] = '\0';
	return QC_OK;
}

/*
 * A local part in a name whose hierarchy separator is sep.  It must stay
 * one level of the hierarchy, or bob.smith@ would ask for user.bob.smith,
 * a folder of bob, and get bob's quota.  Cyrus with "." writes a dot in a
 * user name as "^" (what lmtpd delivers bob.smith@ to); with "/" a dot is
 * an ordinary character and a "/" cannot be written in a user name at
 * all: such an address is refused (QC_ERR_ADDRESS, "no such mailbox").
 */
static int
append_local(char *out, size_t outsize, size_t *pos, const char *local,
	     char sep)
{
	size_t len = strlen(local);

	if (sep == '/' && strchr(local, '/') != NULL)
		return QC_ERR_ADDRESS;
	if (append(out, outsize, pos, local, len) != QC_OK)
		return QC_ERR_ADDRESS;
	if (sep == '.')
		for (char *p = out + *pos - len; *p != '\0'; p++)
			if (*p == '.')
				*p = '^';
	return QC_OK;
}

/* A domain in a name: on a "/" server a "/" in it would start a folder. */
static int
append_domain(char *out, size_t outsize, size_t *pos, const char *domain,
	      char sep)
{
	if (domain[0] == '\0' || (sep == '/' && strchr(domain, '/') != NULL))
		return QC_ERR_ADDRESS;
	return append(out, outsize, pos, domain, strlen(domain));
}

int
qc_template_expand(const char *tmpl, const char *local, const char *domain,
		   char separator, char *out, size_t outsize)
{
	size_t pos = 0;
	int ret = QC_OK;

	if (outsize == 0)
		return QC_ERR_INVALID;
	out[0] = '\0';
	for (const char *p = tmpl; *p != '\0' && ret == QC_OK; p++) {
		if (*p != '%') {
			ret = append(out, outsize, &pos, p, 1);
			continue;
		}
		switch (*++p) {
		case 'u':
			ret = append_local(out, outsize, &pos, local,
					   separator);
			break;
		case 'd':
			ret = append_domain(out, outsize, &pos, domain,
					    separator);
			break;
		case 'a':
			ret = append_local(out, outsize, &pos, local,
					   separator);
			if (ret == QC_OK && domain[0] != '\0') {
				ret = append(out, outsize, &pos, "@", 1);
				if (ret == QC_OK)
					ret = append_domain(out, outsize, &pos,
							    domain, separator);
			}
			break;
		case '%':
			ret = append(out, outsize, &pos, "%", 1);
			break;
		default:
			return QC_ERR_CONFIG;
		}
	}
	return ret;
}

/*
 * The hierarchy separator an explicit mailbox_format uses for %u: the
 * character before the first %u or %a ("user.%u" -> '.', "user/%u@%d"
 * -> '/'), or 0 when there is none (INBOX, %a alone: not a hierarchy).
 */
char
qc_template_separator(const char *tmpl)
{
	for (const char *p = tmpl; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] == 'u' || p[1] == 'a')
			return p > tmpl && (p[-1] == '.' || p[-1] == '/') ?
			       p[-1] : 0;
		if (p[1] == '\0')
			break;
		p++;
	}
	return 0;
}

int
qc_template_needs_address(const char *tmpl)
{
	for (const char *p = tmpl; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == 'u' || *p == 'd' || *p == 'a')
			return 1;
		if (*p == '\0')
			break;
	}
	return 0;
}

int
qc_settings_map_address(const struct qc_settings *s, const char *address,
			char separator, char *mailbox_r, size_t mailbox_size,
			int *checked_r)
{
	char local[LOCAL_MAX], domain[DOMAIN_MAX];
	int ret;

	*checked_r = 1;
	ret = qc_address_split(address, s->recipient_delimiter, local,
			       sizeof(local), domain, sizeof(domain));
	if (ret != QC_OK)
		return ret;
	if (domain[0] != '\0' && !qc_domain_listed(s->domains, domain)) {
		*checked_r = 0;
		return QC_OK;
	}
	/*
	 * Logged in as the recipient (a Dovecot master user with authzid
	 * %u or %a), the only mailbox to ask about is one's own INBOX:
	 * Dovecot answers a Cyrus-style name with the login's quota anyway.
	 */
	if (strcmp(s->mailbox_format, "auto") == 0 &&
	    qc_template_needs_address(s->authzid))
		return qc_template_expand("INBOX", local, domain, 0, mailbox_r,
					  mailbox_size);
	if (strcmp(s->mailbox_format, "auto") == 0) {
		char tmpl[8] = {'u', 's', 'e', 'r', separator, '%', 'u', '\0'};

		if (separator == '\0' || separator == '%')
			return QC_ERR_INVALID;
		return qc_template_expand(tmpl, local, domain, separator,
					  mailbox_r, mailbox_size);
	}
	return qc_template_expand(s->mailbox_format, local, domain,
				  qc_template_separator(s->mailbox_format),
				  mailbox_r, mailbox_size);
}

int
qc_address_to_mailbox(const qc_config_t *config, const char *address,
		      char separator, char *mailbox_r, size_t mailbox_size,
		      int *checked_r)
{
	struct qc_settings s;

	if (config == NULL || address == NULL || mailbox_r == NULL ||
	    checked_r == NULL || mailbox_size == 0)
		return QC_ERR_INVALID;
	qc_config_settings(config, &s);
	return qc_settings_map_address(&s, address, separator, mailbox_r,
				       mailbox_size, checked_r);
}
