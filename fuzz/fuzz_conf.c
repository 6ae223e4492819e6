/*
 * fuzz_conf.c - libFuzzer target: the config file parser, conf_load_text
 * (common/conf.c), the same code conf_load_file runs on
 * /etc/kiln/kiln.conf: libinih over kiln's line reader (leading
 * whitespace, trailing comments, over-long lines), then every key's value
 * parser (sizes, durations, integers, choices).
 *
 * Properties: a refused text leaves the configuration as it was (all or
 * nothing) and says where ("fuzz:LINE: ..." or "fuzz: ..."); after an
 * accepted one, every key's value formats (conf_get_text) into text that
 * conf_set takes back to the same value.
 *
 * Seeds: fuzz/corpus/conf/, written by hand: the example config, sections,
 * comments, and values of every type.
 */
#include <string.h>

#include "conf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "", a[512], b[512];
    kiln_conf c, d;
    conf_init(&c);
    conf_init(&d);
    if (conf_load_text(&c, "fuzz", (const char *)data, size, err, sizeof err) < 0) {
        FUZZ_ASSERT(strncmp(err, "fuzz:", 5) == 0);
        for (size_t i = 0; conf_key_name(i); i++) {
            FUZZ_ASSERT(conf_get_text(&c, conf_key_name(i), a, sizeof a) == 0);
            FUZZ_ASSERT(conf_get_text(&d, conf_key_name(i), b, sizeof b) == 0);
            FUZZ_ASSERT(strcmp(a, b) == 0);
        }
    } else {
        for (size_t i = 0; conf_key_name(i); i++) {
            const char *key = conf_key_name(i);
            if (conf_get_text(&c, key, a, sizeof a) < 0) continue; /* a string longer than a */
            if (conf_set(&d, key, a, err, sizeof err) < 0) fprintf(stderr, "%s = '%s': %s\n", key, a, err);
            FUZZ_ASSERT(conf_set(&d, key, a, err, sizeof err) == 0);
            FUZZ_ASSERT(conf_get_text(&d, key, b, sizeof b) == 0);
            FUZZ_ASSERT(strcmp(a, b) == 0);
        }
    }
    conf_release(&c);
    conf_release(&d);
    return 0;
}
