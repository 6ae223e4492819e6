/*
 * text.h - text for people: escaping strings from the network for HTML
 * pages, numbers with grouped digits and sizes for messages. Pure.
 */
#ifndef KILN_TEXT_H
#define KILN_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Returns a new string (caller frees): s with &, <, >, " and ' replaced by
 * their character references, safe inside HTML text and quoted attribute
 * values. NULL reads as "". */
char *html_escape(const char *s);

/* Writes v in decimal with a comma between groups of three digits
 * ("100,001") into buf (27 bytes hold any uint64_t); returns buf. */
char *fmt_grouped(uint64_t v, char *buf, size_t len);

/* Writes a size as a person would write it ("64 MiB", "1.5 GiB", "100000
 * bytes") into buf; returns buf. */
char *fmt_size(uint64_t n, char *buf, size_t len);

#endif
