/*
 * fuzz.h - what every libFuzzer target in fuzz/ shares: the entry point's
 * shape and an assertion that stops the run with a message.
 *
 * A target is a program of its own (built by fuzz/fuzz.mk, never linked
 * into kiln); like a main.c it may keep state in globals. Besides "no
 * crash, no sanitizer report", each target checks properties of what it
 * decodes with FUZZ_ASSERT, so a wrong answer is a finding too.
 */
#ifndef KILN_FUZZ_H
#define KILN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property: report where, then abort (libFuzzer saves the input). */
#define FUZZ_ASSERT(cond)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);                                \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

#endif
