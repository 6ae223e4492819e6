/*
 * test_auth.c - the shared secret and the handshake, without sockets:
 * loading the secret file (permissions, the service's group rule, owner,
 * empty, newline), the default secret (which file, creating it 0600 or
 * 0640 atomically, reusing it, refusing one others can read, several
 * programs making it at once), the MACs' domain
 * separation, and the Hello/HelloAck/Auth state machines fed with
 * envelopes that went through the wire encoding: a good exchange, a wrong
 * secret, a secret on one side only, a replayed or reflected proof, and
 * messages out of order.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "frame.h"
#include "handshake.h"
#include "msg.h"
#include "secret.h"
#include "util.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-auth-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    rm_rf(dir);
}

/* Writes dir/name with mode; returns the path (static buffer). */
static const char *secret_file(const char *name, const char *text, size_t n, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write_all(fd, text, n), 0);
    close(fd);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

static void make_secret(auth_secret *s, const char *text)
{
    s->len = strlen(text);
    s->key = xmalloc(s->len);
    memcpy(s->key, text, s->len);
}

START_TEST(test_load_secret)
{
    auth_secret s;
    char err[512];
    ck_assert_int_eq(auth_secret_load(&s, secret_file("good", "s3cret\n", 7, 0600), err, sizeof err), 0);
    ck_assert(auth_enabled(&s));
    ck_assert_uint_eq(s.len, 6); /* the trailing newline is not part of it */
    ck_assert_int_eq(memcmp(s.key, "s3cret", 6), 0);
    auth_secret_release(&s);
    ck_assert(!auth_enabled(&s));

    ck_assert_int_eq(auth_secret_load(&s, secret_file("crlf", "ab\r\n", 4, 0400), err, sizeof err), 0);
    ck_assert_uint_eq(s.len, 2);
    auth_secret_release(&s);
    /* binary bytes are kept as they are */
    ck_assert_int_eq(auth_secret_load(&s, secret_file("bin", "a\0b\n\n", 5, 0600), err, sizeof err), 0);
    ck_assert_uint_eq(s.len, 4);
    auth_secret_release(&s);

    /* no path: no secret, no error */
    ck_assert_int_eq(auth_secret_load(&s, "", err, sizeof err), 0);
    ck_assert(!auth_enabled(&s));
    ck_assert_int_eq(auth_secret_load(&s, NULL, err, sizeof err), 0);
    ck_assert(!auth_enabled(&s));
}
END_TEST

START_TEST(test_load_refusals)
{
    auth_secret s;
    char err[512];
    const char *p = secret_file("open", "s3cret", 6, 0644);
    ck_assert_int_eq(auth_secret_load(&s, p, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "group or others") && strstr(err, "chmod 600") && strstr(err, p), "%s", err);
    ck_assert(!auth_enabled(&s));
    ck_assert_int_eq(auth_secret_load(&s, secret_file("grp", "s3cret", 6, 0640), err, sizeof err), -1);
    ck_assert_int_eq(auth_secret_load(&s, secret_file("oth", "s3cret", 6, 0602), err, sizeof err), -1);

    ck_assert_int_eq(auth_secret_load(&s, secret_file("empty", "", 0, 0600), err, sizeof err), -1);
    ck_assert_msg(strstr(err, "empty"), "%s", err);
    ck_assert_int_eq(auth_secret_load(&s, secret_file("nl", "\n", 1, 0600), err, sizeof err), -1);
    ck_assert_msg(strstr(err, "empty"), "%s", err);

    static char big[AUTH_SECRET_MAX + 10];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(auth_secret_load(&s, secret_file("big", big, sizeof big, 0600), err, sizeof err), -1);
    ck_assert_msg(strstr(err, "larger"), "%s", err);

    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    ck_assert_int_eq(auth_secret_load(&s, missing, err, sizeof err), -1);
    ck_assert_msg(strstr(err, missing), "%s", err);
    ck_assert_int_eq(auth_secret_load(&s, dir, err, sizeof err), -1); /* a directory (mode 700) */
    ck_assert_msg(strstr(err, "regular"), "%s", err);
}
END_TEST

START_TEST(test_service_group_rule)
{
    auth_secret s;
    char err[512];
    long g = (long)getegid(); /* the test's files' group stands for kiln */
    ck_assert_int_eq(auth_secret_load_as(&s, secret_file("svc", "s3cret\n", 7, 0640), g, -1, err, sizeof err), 0);
    ck_assert_uint_eq(s.len, 6);
    auth_secret_release(&s);
    /* group read only, and only for the service's group */
    ck_assert_int_eq(auth_secret_load_as(&s, secret_file("svc", "s3cret", 6, 0640), g + 1, -1, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "group or others") && strstr(err, "group kiln"), "%s", err);
    ck_assert_int_eq(auth_secret_load_as(&s, secret_file("svc", "s3cret", 6, 0640), -1, -1, err, sizeof err), -1);
    ck_assert_int_eq(auth_secret_load_as(&s, secret_file("svc", "s3cret", 6, 0660), g, -1, err, sizeof err), -1);
    ck_assert_int_eq(auth_secret_load_as(&s, secret_file("svc", "s3cret", 6, 0650), g, -1, err, sizeof err), -1);
    ck_assert_int_eq(auth_secret_load_as(&s, secret_file("svc", "s3cret", 6, 0644), g, -1, err, sizeof err), -1);
    ck_assert_int_eq(auth_secret_load_as(&s, secret_file("svc", "s3cret", 6, 0604), g, -1, err, sizeof err), -1);
    ck_assert(!auth_enabled(&s));
    /* the owner, when one is required */
    long me = (long)geteuid();
    ck_assert_int_eq(auth_secret_load_as(&s, secret_file("own", "s3cret", 6, 0600), -1, me, err, sizeof err), 0);
    auth_secret_release(&s);
    ck_assert_int_eq(auth_secret_load_as(&s, secret_file("own", "s3cret", 6, 0600), -1, me + 1, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "belongs to uid"), "%s", err);
}
END_TEST

/* An environment for the default-secret choice, all inside dir: no kiln
 * user or group, the service's file at dir/svc/secret. */
static void test_env(secret_env *e, char *service, size_t len)
{
    memset(e, 0, sizeof *e);
    snprintf(service, len, "%s/svc/secret", dir);
    e->service_path = service;
    e->service_uid = -1;
    e->service_gid = -1;
    e->euid = (long)geteuid();
}

/* dir/name, in one of 16 static buffers used in turn: for comparisons;
 * what a secret_env keeps gets a buffer of its own. */
static const char *in_dir(const char *name)
{
    static char bufs[16][256];
    static int k;
    char *b = bufs[k++ % 16];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

START_TEST(test_default_path)
{
    secret_env e;
    char svc[256], home[256], run[256], cfg[256], path[512], err[512];
    secret_kind kind;
    test_env(&e, svc, sizeof svc);
    snprintf(home, sizeof home, "%s", in_dir("home"));
    snprintf(run, sizeof run, "%s", in_dir("run"));
    snprintf(cfg, sizeof cfg, "%s", in_dir("cfg"));
    /* nowhere to keep one */
    ck_assert_int_eq(secret_default_path(&e, path, sizeof path, &kind, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "--secret-file") && strstr(err, "XDG_RUNTIME_DIR"), "%s", err);
    /* the runtime dir when there is no home */
    e.home = home; /* not made yet */
    e.runtime_dir = run;
    ck_assert_int_eq(secret_default_path(&e, path, sizeof path, &kind, err, sizeof err), 0);
    ck_assert_int_eq(kind, SECRET_USER);
    ck_assert_str_eq(path, in_dir("run/kiln/secret"));
    /* the home's config dir when it exists; a relative XDG_CONFIG_HOME is ignored */
    ck_assert_int_eq(mkdir(home, 0700), 0);
    e.config_home = "relative/config";
    ck_assert_int_eq(secret_default_path(&e, path, sizeof path, &kind, err, sizeof err), 0);
    ck_assert_str_eq(path, in_dir("home/.config/kiln/secret"));
    /* $XDG_CONFIG_HOME first */
    e.config_home = cfg;
    ck_assert_int_eq(secret_default_path(&e, path, sizeof path, &kind, err, sizeof err), 0);
    ck_assert_str_eq(path, in_dir("cfg/kiln/secret"));
    /* the service's when it is there to read */
    ck_assert_int_eq(mkdir(in_dir("svc"), 0755), 0);
    ck_assert_int_eq(secret_create(svc, 0640, -1, err, sizeof err), 1);
    ck_assert_int_eq(secret_default_path(&e, path, sizeof path, &kind, err, sizeof err), 0);
    ck_assert_int_eq(kind, SECRET_SERVICE);
    ck_assert_str_eq(path, svc);
    /* and always for the service user, before it exists */
    ck_assert_int_eq(unlink(svc), 0);
    ck_assert_int_eq(secret_default_path(&e, path, sizeof path, &kind, err, sizeof err), 0);
    ck_assert_int_eq(kind, SECRET_USER);
    e.service_uid = e.euid;
    ck_assert_int_eq(secret_default_path(&e, path, sizeof path, &kind, err, sizeof err), 0);
    ck_assert_int_eq(kind, SECRET_SERVICE);
    ck_assert_str_eq(path, svc);
}
END_TEST

/* Reads path whole into buf (NUL-terminated); its length. */
static size_t slurp(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    ck_assert_int_ge(n, 0);
    buf[n] = 0;
    return (size_t)n;
}

static int entries(const char *d)
{
    DIR *dp = opendir(d);
    ck_assert_ptr_nonnull(dp);
    int n = 0;
    for (struct dirent *de; (de = readdir(dp));)
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(dp);
    return n;
}

START_TEST(test_create)
{
    char err[512], a[256], b[256];
    const char *p = in_dir("secret");
    ck_assert_int_eq(secret_create(p, 0600, -1, err, sizeof err), 1);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_uint_eq(slurp(p, a, sizeof a), 65); /* 32 random bytes in hex, a newline */
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 64);
    ck_assert_int_eq(a[64], '\n');
    /* an existing file is never replaced; no temporary file is left */
    ck_assert_int_eq(secret_create(p, 0600, -1, err, sizeof err), 0);
    slurp(p, b, sizeof b);
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(entries(dir), 1);
    /* the service's layout; another file gets another secret */
    const char *q = in_dir("svc-secret");
    ck_assert_int_eq(secret_create(q, 0640, (long)getegid(), err, sizeof err), 1);
    ck_assert_int_eq(stat(q, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    ck_assert_uint_eq(st.st_gid, getegid());
    slurp(q, b, sizeof b);
    ck_assert_str_ne(a, b);
    /* a directory that is not there */
    ck_assert_int_eq(secret_create(in_dir("no/such/secret"), 0600, -1, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "no/such"), "%s", err);
}
END_TEST

START_TEST(test_load_default)
{
    secret_env e;
    char svc[256], cfg[256], path[512], err[1024], text[256];
    auth_secret s, t;
    test_env(&e, svc, sizeof svc);
    snprintf(cfg, sizeof cfg, "%s", in_dir("cfg"));
    e.config_home = cfg;
    /* first use: made 0600 in directories made 0700, and loaded */
    ck_assert_int_eq(secret_load_default(&s, &e, path, sizeof path, err, sizeof err), 0);
    ck_assert_str_eq(path, in_dir("cfg/kiln/secret"));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(in_dir("cfg/kiln"), &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(stat(in_dir("cfg"), &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    ck_assert_uint_eq(slurp(path, text, sizeof text), 65);
    ck_assert_uint_eq(s.len, 64);
    ck_assert_int_eq(memcmp(s.key, text, 64), 0);
    /* later programs reuse it */
    ck_assert_int_eq(secret_load_default(&t, &e, path, sizeof path, err, sizeof err), 0);
    ck_assert_int_eq(memcmp(s.key, t.key, 64), 0);
    auth_secret_release(&t);
    /* one others can read is refused, saying it is the default secret */
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(secret_load_default(&t, &e, path, sizeof path, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "group or others") && strstr(err, path) && strstr(err, "default secret"), "%s", err);
    ck_assert_int_eq(chmod(path, 0600), 0);
    /* one that is not this user's is refused */
    e.euid += 1;
    ck_assert_int_eq(secret_load_default(&t, &e, path, sizeof path, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "belongs to uid"), "%s", err);
    e.euid -= 1;
    auth_secret_release(&s);

    /* the service user makes the service's: 0640, group kiln */
    ck_assert_int_eq(mkdir(in_dir("svc"), 0755), 0);
    e.service_uid = e.euid;
    e.service_gid = (long)getegid();
    ck_assert_int_eq(secret_load_default(&s, &e, path, sizeof path, err, sizeof err), 0);
    ck_assert_str_eq(path, svc);
    ck_assert_int_eq(stat(svc, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    ck_assert_uint_eq(st.st_gid, getegid());
    /* a member of the group reads the same one and makes nothing */
    e.service_uid = e.euid + 1;
    ck_assert_int_eq(secret_load_default(&t, &e, path, sizeof path, err, sizeof err), 0);
    ck_assert_str_eq(path, svc);
    ck_assert_int_eq(memcmp(s.key, t.key, s.len), 0);
    auth_secret_release(&s);
    auth_secret_release(&t);
    /* others may not make the service's: without it, a member falls back to its own */
    ck_assert_int_eq(unlink(svc), 0);
    ck_assert_int_eq(secret_load_default(&t, &e, path, sizeof path, err, sizeof err), 0);
    ck_assert_str_eq(path, in_dir("cfg/kiln/secret"));
    ck_assert_int_eq(access(svc, F_OK), -1);
    auth_secret_release(&t);
}
END_TEST

/* Several programs of one user starting at once all make, or read, the
 * same default secret: none sees it half written or replaces another's. */
START_TEST(test_default_made_at_once)
{
    enum { N = 8 };
    int fds[N][2];
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(pipe(fds[i]), 0);
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            secret_env e;
            char svc[256], path[512], err[1024];
            auth_secret s;
            test_env(&e, svc, sizeof svc);
            e.config_home = in_dir("cfg"); /* this child's only in_dir */
            char out[80] = "";
            if (secret_load_default(&s, &e, path, sizeof path, err, sizeof err) == 0 && s.len == 64)
                memcpy(out, s.key, 64);
            _exit(write_all(fds[i][1], out, sizeof out) == 0 ? 0 : 1);
        }
        close(fds[i][1]);
    }
    char first[80] = "";
    for (int i = 0; i < N; i++) {
        char got[80];
        ck_assert_int_eq(read_all(fds[i][0], got, sizeof got), 0);
        close(fds[i][0]);
        int st;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        ck_assert_msg(got[0], "child %d could not load the default secret", i);
        if (i == 0) memcpy(first, got, sizeof got);
        ck_assert_int_eq(memcmp(first, got, sizeof got), 0);
    }
    ck_assert_int_eq(entries(in_dir("cfg/kiln")), 1); /* no temporary file left */
}
END_TEST

START_TEST(test_mac_domain_separation)
{
    auth_secret a, b;
    make_secret(&a, "alpha");
    make_secret(&b, "beta");
    uint8_t nc[AUTH_NONCE_LEN], ns[AUTH_NONCE_LEN], m1[AUTH_MAC_LEN], m2[AUTH_MAC_LEN];
    char err[128];
    ck_assert_int_eq(auth_nonce(nc, err, sizeof err), 0);
    ck_assert_int_eq(auth_nonce(ns, err, sizeof err), 0);
    ck_assert_int_ne(memcmp(nc, ns, AUTH_NONCE_LEN), 0); /* fresh each time */

    auth_mac(&a, AUTH_SERVER, nc, ns, 1, 3, m1);
    ck_assert(auth_verify(&a, AUTH_SERVER, nc, ns, 1, 3, m1, AUTH_MAC_LEN));
    /* the other direction, the other secret, swapped nonces, other roles */
    ck_assert(!auth_verify(&a, AUTH_CLIENT, nc, ns, 1, 3, m1, AUTH_MAC_LEN));
    ck_assert(!auth_verify(&b, AUTH_SERVER, nc, ns, 1, 3, m1, AUTH_MAC_LEN));
    ck_assert(!auth_verify(&a, AUTH_SERVER, ns, nc, 1, 3, m1, AUTH_MAC_LEN));
    ck_assert(!auth_verify(&a, AUTH_SERVER, nc, ns, 2, 3, m1, AUTH_MAC_LEN));
    ck_assert(!auth_verify(&a, AUTH_SERVER, nc, ns, 1, 3, m1, AUTH_MAC_LEN - 1));
    ck_assert(!auth_verify(&a, AUTH_SERVER, nc, ns, 1, 3, NULL, 0));
    ck_assert(!auth_verify(NULL, AUTH_SERVER, nc, ns, 1, 3, m1, AUTH_MAC_LEN));
    /* even with the same nonce on both sides, the directions differ */
    auth_mac(&a, AUTH_SERVER, nc, nc, 1, 3, m1);
    auth_mac(&a, AUTH_CLIENT, nc, nc, 1, 3, m2);
    ck_assert_int_ne(memcmp(m1, m2, AUTH_MAC_LEN), 0);
    /* a flipped bit fails */
    auth_mac(&a, AUTH_CLIENT, nc, ns, 1, 3, m2);
    m2[7] ^= 1;
    ck_assert(!auth_verify(&a, AUTH_CLIENT, nc, ns, 1, 3, m2, AUTH_MAC_LEN));

    auth_secret c;
    auth_secret_copy(&c, &a);
    ck_assert_uint_eq(c.len, a.len);
    ck_assert_ptr_ne(c.key, a.key);
    auth_secret_release(&c);
    auth_secret_release(&a);
    auth_secret_release(&b);
}
END_TEST

/* ---- the handshake ---- */

/* A copy of e as the peer would decode it (NULL when it is refused). */
static Kiln__Envelope *wire(const Kiln__Envelope *e)
{
    size_t n;
    uint8_t *f = msg_pack_frame(e, &n);
    char err[256];
    Kiln__Envelope *d = msg_decode(f + FRAME_HEADER, n - FRAME_HEADER, err, sizeof err);
    free(f);
    return d;
}

#define DRIVER_ROLES (HS_ROLE(KILN__ROLE__ROLE_CLIENT) | HS_ROLE(KILN__ROLE__ROLE_WORKER))

/* Client -> server: feeds the client's message to the server; returns the
 * server's verdict and its answer (decoded, caller frees) in *answer. */
static int to_server(handshake *srv, const Kiln__Envelope *m, Kiln__Envelope **answer, char *err, size_t errlen)
{
    Kiln__Envelope *in = wire(m);
    ck_assert_ptr_nonnull(in);
    const Kiln__Envelope *out;
    int st = hs_server_msg(srv, in, &out, err, errlen);
    msg_free(in);
    *answer = out ? wire(out) : NULL;
    return st;
}

static int to_client(handshake *cli, const Kiln__Envelope *m, Kiln__Envelope **answer, char *err, size_t errlen)
{
    const Kiln__Envelope *out;
    int st = hs_client_msg(cli, m, &out, err, errlen);
    *answer = out ? wire(out) : NULL;
    return st;
}

START_TEST(test_handshake_ok)
{
    auth_secret s;
    make_secret(&s, "shared");
    handshake cli, srv;
    const Kiln__Envelope *hello;
    char err[512];
    hs_server_init(&srv, &s, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(hs_client_start(&cli, &s, KILN__ROLE__ROLE_CLIENT, "test", &hello, err, sizeof err), 0);
    ck_assert_uint_eq(hello->hello->nonce.len, AUTH_NONCE_LEN);
    Kiln__Envelope *ack, *auth, *none;
    ck_assert_int_eq(to_server(&srv, hello, &ack, err, sizeof err), 0); /* waits for the proof */
    ck_assert_int_eq(ack->body_case, KILN__ENVELOPE__BODY_HELLO_ACK);
    ck_assert_uint_eq(ack->hello_ack->nonce.len, AUTH_NONCE_LEN);
    ck_assert_uint_eq(ack->hello_ack->mac.len, AUTH_MAC_LEN);
    ck_assert_int_eq(to_client(&cli, ack, &auth, err, sizeof err), 1);
    ck_assert_int_eq(auth->body_case, KILN__ENVELOPE__BODY_AUTH);
    ck_assert_int_eq(to_server(&srv, auth, &none, err, sizeof err), 1);
    ck_assert_ptr_null(none);
    ck_assert_int_eq(srv.state, HS_DONE);
    ck_assert_int_eq(srv.peer_role, KILN__ROLE__ROLE_CLIENT);
    /* the secret itself never appears in what was sent */
    ck_assert_ptr_null(memmem(ack->hello_ack->mac.data, ack->hello_ack->mac.len, "shared", 6));
    msg_free(ack);
    msg_free(auth);
    auth_secret_release(&s);
}
END_TEST

START_TEST(test_handshake_without_secrets)
{
    handshake cli, srv;
    const Kiln__Envelope *hello;
    char err[512];
    hs_server_init(&srv, NULL, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(hs_client_start(&cli, NULL, KILN__ROLE__ROLE_WORKER, "w", &hello, err, sizeof err), 0);
    ck_assert_uint_eq(hello->hello->nonce.len, 0);
    Kiln__Envelope *ack, *none;
    ck_assert_int_eq(to_server(&srv, hello, &ack, err, sizeof err), 1); /* done at once */
    ck_assert_uint_eq(ack->hello_ack->mac.len, 0);
    ck_assert_int_eq(to_client(&cli, ack, &none, err, sizeof err), 1);
    ck_assert_ptr_null(none); /* no Auth */
    msg_free(ack);
}
END_TEST

START_TEST(test_handshake_wrong_secret)
{
    auth_secret a, b;
    make_secret(&a, "right");
    make_secret(&b, "wrong");
    handshake cli, srv;
    const Kiln__Envelope *hello;
    char err[512], serr[512];
    hs_server_init(&srv, &a, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(hs_client_start(&cli, &b, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
    Kiln__Envelope *ack, *out, *none;
    ck_assert_int_eq(to_server(&srv, hello, &ack, serr, sizeof serr), 0);
    /* the client sees the server cannot prove the same secret: it sends no
     * proof of its own, only an Error so the server logs the refusal */
    ck_assert_int_eq(to_client(&cli, ack, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "authentication failed") && strstr(err, "--secret-file"), "%s", err);
    ck_assert_int_eq(out->body_case, KILN__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(to_server(&srv, out, &none, serr, sizeof serr), -1);
    ck_assert_msg(strstr(serr, "refused us"), "%s", serr);
    ck_assert_ptr_null(none);
    msg_free(ack);
    msg_free(out);

    /* a forged Auth (wrong secret) is refused by the server */
    hs_server_init(&srv, &a, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(hs_client_start(&cli, &a, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
    ck_assert_int_eq(to_server(&srv, hello, &ack, serr, sizeof serr), 0);
    Kiln__Envelope *auth;
    ck_assert_int_eq(to_client(&cli, ack, &auth, err, sizeof err), 1);
    auth->auth->mac.data[0] ^= 0x80;
    ck_assert_int_eq(to_server(&srv, auth, &out, serr, sizeof serr), -1);
    ck_assert_msg(strstr(serr, "authentication failed"), "%s", serr);
    ck_assert_int_eq(out->body_case, KILN__ENVELOPE__BODY_ERROR);
    msg_free(ack);
    msg_free(auth);
    msg_free(out);
    auth_secret_release(&a);
    auth_secret_release(&b);
}
END_TEST

START_TEST(test_handshake_one_side_only)
{
    auth_secret s;
    make_secret(&s, "only-here");
    handshake cli, srv;
    const Kiln__Envelope *hello;
    char err[512];
    Kiln__Envelope *out;
    /* the server has a secret, the client none */
    hs_server_init(&srv, &s, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(hs_client_start(&cli, NULL, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
    ck_assert_int_eq(to_server(&srv, hello, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "requires the shared secret"), "%s", err);
    ck_assert_int_eq(out->body_case, KILN__ENVELOPE__BODY_ERROR);
    Kiln__Envelope *none;
    ck_assert_int_eq(to_client(&cli, out, &none, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "refused: authentication failed"), "%s", err);
    ck_assert_ptr_null(none);
    msg_free(out);
    /* the client has a secret, the server none */
    hs_server_init(&srv, NULL, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(hs_client_start(&cli, &s, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
    ck_assert_int_eq(to_server(&srv, hello, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "has a shared secret but this driver has none"), "%s", err);
    msg_free(out);
    /* a server answering without a proof to a client with a secret */
    Kiln__Envelope ack = KILN__ENVELOPE__INIT;
    Kiln__HelloAck ha = KILN__HELLO_ACK__INIT;
    ha.version = PROTOCOL_VERSION;
    ha.role = KILN__ROLE__ROLE_DRIVER;
    MSG_BODY(ack, hello_ack, HELLO_ACK, &ha);
    ck_assert_int_eq(hs_client_start(&cli, &s, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
    ck_assert_int_eq(to_client(&cli, &ack, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "no shared secret"), "%s", err);
    msg_free(out);
    auth_secret_release(&s);
}
END_TEST

/* Each client checks the role the server answers with, before its proof:
 * a server of another role, even one holding the secret (its proof is right
 * for the role it names), gets an Error and no Auth. */
START_TEST(test_handshake_wrong_role)
{
    static const struct {
        Kiln__Role client, server;
        const char *says;
    } cases[] = {
        {KILN__ROLE__ROLE_CLIENT, KILN__ROLE__ROLE_WORKER, "the server is a worker, not the driver"},
        {KILN__ROLE__ROLE_WORKER, KILN__ROLE__ROLE_CLIENT, "the server is a client, not the driver"},
        {KILN__ROLE__ROLE_WORKER, KILN__ROLE__ROLE_WORKER, "the server is a worker, not the driver"},
        {KILN__ROLE__ROLE_PEER, KILN__ROLE__ROLE_DRIVER, "the server is a driver, not a worker"},
    };
    auth_secret s;
    make_secret(&s, "shared");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int with_secret = 0; with_secret < 2; with_secret++) {
            const auth_secret *sec = with_secret ? &s : NULL;
            handshake cli, srv;
            const Kiln__Envelope *hello;
            char err[512];
            Kiln__Envelope *ack, *out;
            hs_server_init(&srv, sec, cases[i].server, HS_ROLE(cases[i].client));
            ck_assert_int_eq(hs_client_start(&cli, sec, cases[i].client, "c", &hello, err, sizeof err), 0);
            ck_assert_int_ge(to_server(&srv, hello, &ack, err, sizeof err), 0);
            ck_assert_int_eq(to_client(&cli, ack, &out, err, sizeof err), -1);
            ck_assert_msg(strstr(err, cases[i].says), "case %zu: %s", i, err);
            ck_assert_ptr_nonnull(out);
            ck_assert_int_eq(out->body_case, KILN__ENVELOPE__BODY_ERROR);
            ck_assert_int_eq(cli.state, HS_FAILED);
            msg_free(ack);
            msg_free(out);
        }
    auth_secret_release(&s);
}
END_TEST

START_TEST(test_handshake_replay_and_reflection)
{
    auth_secret s;
    make_secret(&s, "shared");
    handshake cli, srv, srv2;
    const Kiln__Envelope *hello;
    char err[512];
    Kiln__Envelope *ack, *auth, *ack2, *out;
    hs_server_init(&srv, &s, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(hs_client_start(&cli, &s, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
    Kiln__Envelope *hello_copy = wire(hello);
    ck_assert_int_eq(to_server(&srv, hello, &ack, err, sizeof err), 0);
    ck_assert_int_eq(to_client(&cli, ack, &auth, err, sizeof err), 1);
    /* replay: the same hello and the same proof to a new connection, which
     * picks a fresh nonce */
    hs_server_init(&srv2, &s, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(to_server(&srv2, hello_copy, &ack2, err, sizeof err), 0);
    ck_assert_int_ne(memcmp(ack->hello_ack->nonce.data, ack2->hello_ack->nonce.data, AUTH_NONCE_LEN), 0);
    ck_assert_int_eq(to_server(&srv2, auth, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "authentication failed"), "%s", err);
    msg_free(out);
    msg_free(ack2);
    /* reflection: the server's own proof sent back as the client's */
    hs_server_init(&srv2, &s, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(to_server(&srv2, hello_copy, &ack2, err, sizeof err), 0);
    Kiln__Envelope refl = KILN__ENVELOPE__INIT;
    Kiln__Auth ra = KILN__AUTH__INIT;
    ra.mac = ack2->hello_ack->mac;
    MSG_BODY(refl, auth, AUTH, &ra);
    ck_assert_int_eq(to_server(&srv2, &refl, &out, err, sizeof err), -1);
    msg_free(out);
    msg_free(ack2);
    msg_free(hello_copy);
    msg_free(ack);
    msg_free(auth);
    auth_secret_release(&s);
}
END_TEST

START_TEST(test_handshake_out_of_order)
{
    auth_secret s;
    make_secret(&s, "shared");
    handshake cli, srv;
    const Kiln__Envelope *hello;
    char err[512];
    Kiln__Envelope *out, *ack;
    Kiln__Envelope js = KILN__ENVELOPE__INIT;
    Kiln__InfoRequest ir = KILN__INFO_REQUEST__INIT;
    MSG_BODY(js, info_request, INFO_REQUEST, &ir);
    /* anything before the hello */
    hs_server_init(&srv, &s, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(to_server(&srv, &js, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "first message must be a hello"), "%s", err);
    msg_free(out);
    /* anything but the proof after the hello, a second hello included */
    for (int second_hello = 0; second_hello < 2; second_hello++) {
        hs_server_init(&srv, &s, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
        ck_assert_int_eq(hs_client_start(&cli, &s, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
        ck_assert_int_eq(to_server(&srv, hello, &ack, err, sizeof err), 0);
        ck_assert_int_eq(to_server(&srv, second_hello ? hello : &js, &out, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "expected auth"), "%s", err);
        ck_assert_int_eq(srv.state, HS_FAILED);
        msg_free(out);
        msg_free(ack);
    }
    /* a role the server does not serve, a wrong version */
    hs_server_init(&srv, NULL, KILN__ROLE__ROLE_WORKER, HS_ROLE(KILN__ROLE__ROLE_PEER));
    ck_assert_int_eq(hs_client_start(&cli, NULL, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
    ck_assert_int_eq(to_server(&srv, hello, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "may not connect here"), "%s", err);
    msg_free(out);
    hs_server_init(&srv, NULL, KILN__ROLE__ROLE_DRIVER, DRIVER_ROLES);
    ck_assert_int_eq(hs_client_start(&cli, NULL, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
    cli.hello.version = PROTOCOL_VERSION + 1;
    ck_assert_int_eq(to_server(&srv, hello, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "protocol version"), "%s", err);
    msg_free(out);
    /* a client that gets something other than the ack */
    ck_assert_int_eq(hs_client_start(&cli, &s, KILN__ROLE__ROLE_CLIENT, "c", &hello, err, sizeof err), 0);
    ck_assert_int_eq(to_client(&cli, &js, &out, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "expected hello_ack"), "%s", err);
    msg_free(out);
    auth_secret_release(&s);
}
END_TEST

START_TEST(test_validate_lengths)
{
    char err[256];
    uint8_t junk[40] = {0};
    Kiln__Envelope e = KILN__ENVELOPE__INIT;
    Kiln__Auth a = KILN__AUTH__INIT;
    MSG_BODY(e, auth, AUTH, &a);
    a.mac.data = junk;
    a.mac.len = 31;
    ck_assert_int_eq(msg_validate(&e, err, sizeof err), -1);
    a.mac.len = AUTH_MAC_LEN;
    ck_assert_int_eq(msg_validate(&e, err, sizeof err), 0);
    Kiln__Hello h = KILN__HELLO__INIT;
    h.name = "";
    MSG_BODY(e, hello, HELLO, &h);
    h.nonce.data = junk;
    h.nonce.len = 40;
    ck_assert_int_eq(msg_validate(&e, err, sizeof err), -1);
    h.nonce.len = AUTH_NONCE_LEN;
    ck_assert_int_eq(msg_validate(&e, err, sizeof err), 0);
    Kiln__HelloAck ha = KILN__HELLO_ACK__INIT;
    MSG_BODY(e, hello_ack, HELLO_ACK, &ha);
    ha.mac.data = junk;
    ha.mac.len = 5;
    ck_assert_int_eq(msg_validate(&e, err, sizeof err), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("secret");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_load_secret);
    tcase_add_test(tc, test_load_refusals);
    tcase_add_test(tc, test_service_group_rule);
    tcase_add_test(tc, test_default_path);
    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_load_default);
    tcase_add_test(tc, test_default_made_at_once);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("handshake");
    tcase_add_test(th, test_mac_domain_separation);
    tcase_add_test(th, test_handshake_ok);
    tcase_add_test(th, test_handshake_without_secrets);
    tcase_add_test(th, test_handshake_wrong_secret);
    tcase_add_test(th, test_handshake_one_side_only);
    tcase_add_test(th, test_handshake_wrong_role);
    tcase_add_test(th, test_handshake_replay_and_reflection);
    tcase_add_test(th, test_handshake_out_of_order);
    tcase_add_test(th, test_validate_lengths);
    suite_add_tcase(s, th);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
