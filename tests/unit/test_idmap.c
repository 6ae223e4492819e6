/*
 * test_idmap.c - unit tests of common/idmap.c: ids to pointers, checked
 * against a plain array through random puts and removals (the removal's
 * backward shift is where such a table breaks), growing and shrinking.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "idmap.h"

START_TEST(test_idmap_basic)
{
    idmap m;
    idmap_init(&m);
    int a, b;
    ck_assert_ptr_null(idmap_get(&m, 0));
    ck_assert_ptr_null(idmap_del(&m, 7));
    idmap_put(&m, 0, &a); /* 0 is a key like any other */
    idmap_put(&m, 7, &b);
    ck_assert_ptr_eq(idmap_get(&m, 0), &a);
    ck_assert_ptr_eq(idmap_get(&m, 7), &b);
    idmap_put(&m, 7, &a); /* replaces */
    ck_assert_uint_eq(idmap_count(&m), 2);
    ck_assert_ptr_eq(idmap_del(&m, 7), &a);
    ck_assert_ptr_null(idmap_get(&m, 7));
    ck_assert_uint_eq(idmap_count(&m), 1);
    idmap_release(&m);
}
END_TEST

/* Random operations on keys from a small range (so that runs collide and
 * removals shift), compared with an array after every step. */
START_TEST(test_idmap_random)
{
    enum { KEYS = 3000, STEPS = 200000 };
    static int vals[KEYS];
    void *ref[KEYS] = {0};
    size_t n = 0;
    idmap m;
    idmap_init(&m);
    uint64_t x = 12345;
    for (int step = 0; step < STEPS; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t k = (x >> 33) % KEYS;
        /* keys far apart too: the high bits must not be ignored */
        uint64_t key = k % 3 ? k : k << 40;
        if ((x >> 20) % 3) {
            if (!ref[k]) n++;
            ref[k] = &vals[k];
            idmap_put(&m, key, &vals[k]);
        } else {
            ck_assert_ptr_eq(idmap_del(&m, key), ref[k]);
            if (ref[k]) n--;
            ref[k] = NULL;
        }
        ck_assert_uint_eq(idmap_count(&m), n);
        if (step % 1000 == 0)
            for (uint64_t i = 0; i < KEYS; i++)
                ck_assert_ptr_eq(idmap_get(&m, i % 3 ? i : i << 40), ref[i]);
    }
    /* empty it: the table shrinks and stays right */
    for (uint64_t i = 0; i < KEYS; i++)
        idmap_del(&m, i % 3 ? i : i << 40);
    ck_assert_uint_eq(idmap_count(&m), 0);
    ck_assert_uint_le(m.cap, 32);
    idmap_put(&m, 5, &vals[5]);
    ck_assert_ptr_eq(idmap_get(&m, 5), &vals[5]);
    idmap_release(&m);
}
END_TEST

/* Sequential keys (task ids): ids counting up, each removed at a random
 * time within a window of the last LIVE ids, compared with an array; and
 * the random test's keys too (correct, if slow, when they collide). */
START_TEST(test_idmap_sequential)
{
    enum { LIVE = 5000, STEPS = 300000 };
    static int vals[LIVE];
    uint64_t live[LIVE]; /* the ids alive, in no order */
    size_t n = 0;
    uint64_t next = 1u << 20;
    idmap m;
    idmap_init_sequential(&m);
    uint64_t x = 777;
    for (int step = 0; step < STEPS; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        if (n < LIVE && ((x >> 30) % 3 || n == 0)) {
            live[n] = next;
            idmap_put(&m, next, &vals[next % LIVE]);
            next++;
            n++;
        } else {
            size_t i = (size_t)(x >> 33) % n;
            ck_assert_ptr_eq(idmap_del(&m, live[i]), &vals[live[i] % LIVE]);
            ck_assert_ptr_null(idmap_get(&m, live[i]));
            live[i] = live[--n];
        }
        ck_assert_uint_eq(idmap_count(&m), n);
        if (step % 5000 == 0)
            for (size_t i = 0; i < n; i++)
                ck_assert_ptr_eq(idmap_get(&m, live[i]), &vals[live[i] % LIVE]);
    }
    idmap_release(&m);
    ck_assert_int_eq(m.sequential, 1); /* release keeps the kind */
    int a;
    for (uint64_t k = 0; k < 64; k++) /* all equal modulo any size: they collide */
        idmap_put(&m, k << 40, &a);
    for (uint64_t k = 0; k < 64; k++)
        ck_assert_ptr_eq(idmap_get(&m, k << 40), &a);
    for (uint64_t k = 0; k < 64; k += 2)
        ck_assert_ptr_eq(idmap_del(&m, k << 40), &a);
    for (uint64_t k = 0; k < 64; k++)
        ck_assert_ptr_eq(idmap_get(&m, k << 40), k % 2 ? &a : NULL);
    idmap_release(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idmap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_idmap_basic);
    tcase_add_test(tc, test_idmap_random);
    tcase_add_test(tc, test_idmap_sequential);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
