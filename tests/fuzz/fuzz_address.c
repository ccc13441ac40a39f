/*
 * fuzz_address.c - libFuzzer target for recipient -> mailbox mapping and
 * IMAP quoting.  The first bytes choose the mailbox_format; the rest is
 * the recipient.  Invariant: whatever is accepted quotes to one IMAP
 * quoted string of printable ASCII, with no CR, LF or NUL, that ends in
 * its closing quote: nothing a hostile recipient sends can become a
 * second command or a literal.
 */
#include <stdlib.h>
#include <string.h>

#include "qc_private.h"

static const char *const formats[] = {
	"auto", "user.%u", "user/%u@%d", "INBOX", "%a", "x%%%u%d",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static qc_config_t *cfgs[sizeof(formats) / sizeof(formats[0])];
	char address[1024], mailbox[QC_MAILBOX_MAX], quoted[QC_MAILBOX_MAX * 2 + 3];
	size_t nf = sizeof(formats) / sizeof(formats[0]), choice;
	int checked;

	if (size < 2 || size > sizeof(address))
		return 0;
	choice = data[0] % nf;
	if (cfgs[choice] == NULL) {
		qc_config_new(&cfgs[choice]);
		qc_config_set(cfgs[choice], "mailbox_format", formats[choice]);
		qc_config_set(cfgs[choice], "recipient_delimiter", "+-");
	}
	memcpy(address, data + 1, size - 1);
	address[size - 1] = '\0';
	if (qc_address_to_mailbox(cfgs[choice], address,
				  data[0] & 0x80 ? '/' : '.', mailbox,
				  sizeof(mailbox), &checked) != QC_OK ||
	    !checked)
		return 0;
	if (qc_imap_quote(mailbox, quoted, sizeof(quoted)) != QC_OK)
		return 0;
	size_t len = strlen(quoted);
	if (len < 2 || quoted[0] != '"' || quoted[len - 1] != '"')
		abort();
	for (size_t i = 1; i + 1 < len; i++) {
		unsigned char c = (unsigned char)quoted[i];

		if (c < 0x20 || c > 0x7e)
			abort();
		if (c == '\\' && ++i + 1 >= len)
			abort(); /* the closing quote would be escaped */
		else if (c == '"')
			abort(); /* unescaped quote would end the string */
	}
	return 0;
}
