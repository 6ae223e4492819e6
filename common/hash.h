/*
 * hash.h - content hashes: hex SHA-256 (libcrypto) names libraries,
 * broadcast values and stage functions everywhere in kiln.
 */
#ifndef KILN_HASH_H
#define KILN_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_HEX_LEN 64

void hash_sha256(const void *p, size_t n, uint8_t out[32]);
/* Writes 64 hex chars and a NUL into hex[65]. */
void hash_sha256_hex(const void *p, size_t n, char hex[HASH_HEX_LEN + 1]);
void hash_to_hex(const uint8_t bin[32], char hex[HASH_HEX_LEN + 1]);
/* 0, or -1 when hex is not 64 lowercase hex digits. */
int hash_from_hex(const char *hex, uint8_t bin[32]);

#endif
