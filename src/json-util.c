/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "json-util.h"

#include <inttypes.h>

void json_string(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void json_bytes(FILE *f, uint64_t v, int known)
{
	if (!known)
		fputs("null", f);
	else if (v == UINT64_MAX)
		fputs("\"max\"", f);
	else
		fprintf(f, "%" PRIu64, v);
}
