/*
 * test_blobrecv.c - receiving a blob in ordered pieces: a whole blob lands
 * under its hash; pieces out of order, a wrong hash or a short blob leave
 * nothing behind.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobrecv.h"
#include "hash.h"
#include "util.h"

static char dir[64];
static uint8_t data[3000];
static char hex[HASH_HEX_LEN + 1];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-blobrecv-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    hash_sha256_hex(data, sizeof data, hex);
}

static void teardown(void)
{
    rm_rf(dir);
}

static int exists(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static int dir_entries(void)
{
    int n = 0;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
    FILE *f = popen(cmd, "r");
    if (f && fscanf(f, "%d", &n) != 1) n = -1;
    if (f) pclose(f);
    return n;
}

START_TEST(test_whole_blob_in_pieces)
{
    blob_recv r;
    char err[256];
    blob_recv_init(&r);
    ck_assert_int_eq(blob_recv_start(&r, dir, hex, ".part", sizeof data, err, sizeof err), 0);
    ck_assert(blob_recv_active(&r));
    ck_assert_int_eq(blob_recv_piece(&r, hex, sizeof data, 0, data, 1000, 0, err, sizeof err), 0);
    ck_assert_int_eq(blob_recv_piece(&r, hex, sizeof data, 1000, data + 1000, 1000, 0, err, sizeof err), 0);
    ck_assert_int_eq(blob_recv_piece(&r, hex, sizeof data, 2000, data + 2000, 1000, 1, err, sizeof err), 1);
    ck_assert(!blob_recv_active(&r));
    ck_assert(exists(hex));
    ck_assert_int_eq(dir_entries(), 1); /* no temporary left */
    uint8_t *back;
    size_t n;
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, hex);
    ck_assert_int_eq(read_file(path, &back, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, sizeof data);
    ck_assert_int_eq(memcmp(back, data, n), 0);
    free(back);
}
END_TEST

START_TEST(test_refusals_leave_nothing)
{
    blob_recv r;
    char err[256];
    blob_recv_init(&r);
    /* out of order */
    ck_assert_int_eq(blob_recv_start(&r, dir, hex, ".part", sizeof data, err, sizeof err), 0);
    ck_assert_int_eq(blob_recv_piece(&r, hex, sizeof data, 1000, data, 1000, 0, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "out of order"));
    ck_assert_int_eq(dir_entries(), 0);
    /* content that does not match the hash */
    char other[HASH_HEX_LEN + 1];
    memset(other, 'a', HASH_HEX_LEN);
    other[HASH_HEX_LEN] = 0;
    ck_assert_int_eq(blob_recv_start(&r, dir, other, ".part", sizeof data, err, sizeof err), 0);
    ck_assert_int_eq(blob_recv_piece(&r, other, sizeof data, 0, data, sizeof data, 1, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "does not match"));
    ck_assert_int_eq(dir_entries(), 0);
    /* a last piece that leaves the blob short */
    ck_assert_int_eq(blob_recv_start(&r, dir, hex, ".part", sizeof data, err, sizeof err), 0);
    ck_assert_int_eq(blob_recv_piece(&r, hex, sizeof data, 0, data, 100, 1, err, sizeof err), -1);
    ck_assert_int_eq(dir_entries(), 0);
    /* a piece of another blob */
    ck_assert_int_eq(blob_recv_start(&r, dir, hex, ".part", sizeof data, err, sizeof err), 0);
    ck_assert_int_eq(blob_recv_piece(&r, other, sizeof data, 0, data, 100, 0, err, sizeof err), -1);
    ck_assert(!blob_recv_active(&r));
    /* an abort removes the temporary */
    ck_assert_int_eq(blob_recv_start(&r, dir, hex, ".part", sizeof data, err, sizeof err), 0);
    ck_assert_int_eq(blob_recv_piece(&r, hex, sizeof data, 0, data, 100, 0, err, sizeof err), 0);
    ck_assert_int_eq(dir_entries(), 1);
    blob_recv_abort(&r);
    ck_assert_int_eq(dir_entries(), 0);
    /* a directory that does not exist */
    ck_assert_int_eq(blob_recv_start(&r, "/nonexistent/dir", hex, ".part", 1, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blobrecv");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_whole_blob_in_pieces);
    tcase_add_test(tc, test_refusals_leave_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
