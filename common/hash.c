/*
 * hash.c - SHA-256 content hashes via libcrypto's EVP interface.
 */
#include "hash.h"

#include <openssl/evp.h>
#include <string.h>

void hash_sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

void hash_to_hex(const uint8_t bin[32], char hex[HASH_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[bin[i] >> 4];
        hex[2 * i + 1] = digits[bin[i] & 15];
    }
    hex[HASH_HEX_LEN] = 0;
}

void hash_sha256_hex(const void *p, size_t n, char hex[HASH_HEX_LEN + 1])
{
    uint8_t bin[32];
    hash_sha256(p, n, bin);
    hash_to_hex(bin, hex);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int hash_from_hex(const char *hex, uint8_t bin[32])
{
    if (strlen(hex) != HASH_HEX_LEN) return -1;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        bin[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
