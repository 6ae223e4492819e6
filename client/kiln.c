/*
 * kiln.c - the `kiln` command: submit an application, or ask the driver
 * about its workers, applications and jobs, or kill an application.
 *
 *   kiln submit [--master HOST:PORT | --master local[N]] [--conf K=V]... APP.so [ARGS...]
 *   kiln status | workers | jobs | apps [--master HOST:PORT]
 *   kiln kill APP-ID [--master HOST:PORT]
 *   kiln logs APP-ID [--job J] [--task T] [--follow] [--master HOST:PORT]   (logs.c)
 *
 * local[N] starts a private kiln-driver and one kiln-worker with N slots in
 * a temporary directory (binaries next to this one, else on PATH), waits
 * until the worker has registered, and removes everything afterwards.
 *
 * --secret-file FILE (or $KILN_SECRET_FILE) names the cluster's shared
 * secret; without either, the default secret is used (this user's, or
 * the service's for the kiln user and group: common/secret.h), as the
 * daemons do. It is loaded once here (refused when empty or others may
 * read it) and lent to every connection. local[N] makes a fresh secret
 * for its private daemons instead, or passes them the one named.
 */
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "conf.h"
#include "version.h"
#include "httpd.h"
#include "secret.h"
#include "util.h"

static const char usage[] = "usage: kiln submit [--master MASTER] [--conf KEY=VALUE]... [--verbose] APP.so [ARGS...]\n"
                            "       kiln submit [--master ...] [--conf ...] [--py-files A.zip,b.py] [--files x.ini]\n"
                            "                   [--verbose] JOB.py [ARGS...]\n"
                            "       kiln status|workers|jobs|apps [--master HOST:PORT]\n"
                            "       kiln kill APP-ID [--master HOST:PORT]\n"
                            "       kiln logs APP-ID [--job J] [--task T] [--follow] [--master HOST:PORT]\n"
                            "       kiln ui [--master HOST:PORT]   the web UI's login URLs (driver, workers)\n"
                            "       kiln token                     the bearer token of the HTTP ports (scrapers)\n"
                            "Every command takes --secret-file FILE (default $KILN_SECRET_FILE, else the\n"
                            "default secret the daemons use too: ~/.config/kiln/secret, or /var/lib/kiln/secret\n"
                            "for the service's user and group; local[N] makes a fresh one).\n"
                            "The master defaults to $KILN_MASTER, then 127.0.0.1:7077 (local[2] for JOB.py, as\n"
                            "kiln.Context() does). MASTER is HOST:PORT, kiln://HOST:PORT, spark://HOST:PORT (the\n"
                            "scheme dropped), local, local[N] or local[*]. On a terminal, or with --verbose, submit\n"
                            "first says on stderr the application id, where it runs and its UI page.\n";

/* Loads the secret named by path (may be NULL or empty: the default
 * secret). 0, or -1 after saying why on stderr. */
static int load_secret(const char *cmd, const char *path, auth_secret *s)
{
    char err[1024];
    if (secret_resolve(s, path, NULL, 0, err, sizeof err) == 0) return 0;
    fprintf(stderr, "kiln %s: %s\n", cmd, err);
    return -1;
}

static char *join_list(char **v, size_t n, const char *sep)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + strlen(sep);
    char *s = xcalloc(1, len);
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(s, sep);
        strcat(s, v[i]);
    }
    return s;
}

/* The Python script kiln submit waits for (a signal handler's one piece of
 * state). */
static volatile pid_t script_pid;

static void forward_signal(int sig, siginfo_t *si, void *ctx)
{
    if (si->si_code != SI_KERNEL && script_pid > 0) kill(script_pid, sig); /* not the terminal's: pass it on */
}

/*
 * A Python job: runs the script with the interpreter the package was built
 * for (KILN_PYTHON, Debian's, never the first python3 on PATH), telling
 * kiln.Context the master, secret, --conf settings and shipped files
 * through the environment, and waits for it. Returns its exit status.
 * banner: the local[N] it runs on ("": a cluster) for the banner the
 * script's Context prints, NULL for none.
 */
static int run_python(char **argv, const char *master, const char *banner, const char *secret_file,
                      char **conf, size_t nconf, const char *py_files, const char *files)
{
    char dir[PATH_MAX + 32];
    /* the in-tree package next to this binary (build/python), or none when installed */
    const char *tree = exe_sibling("python/kiln/__init__.py", R_OK, dir, sizeof dir);
    if (tree) dir[strlen(dir) - strlen("/kiln/__init__.py")] = 0;
    /* the pyspark compat package's folder (in the tree, or installed), put on
     * this script's path only: kiln's modules under PySpark's names */
    char cdir[PATH_MAX + 64];
    const char *compat = exe_sibling("python-compat/pyspark/__init__.py", R_OK, cdir, sizeof cdir);
    if (!compat) compat = exe_sibling("../lib/kiln/python-compat/pyspark/__init__.py", R_OK, cdir, sizeof cdir);
    if (compat) cdir[strlen(cdir) - strlen("/pyspark/__init__.py")] = 0;
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "kiln submit: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* the script ends with `kiln submit` */
        setenv("KILN_MASTER", master, 1);
        /* the Context prints the banner (application, where, UI) first */
        if (banner) setenv("KILN_SUBMIT_BANNER", banner, 1);
        if (secret_file && *secret_file) setenv("KILN_SECRET_FILE", secret_file, 1);
        char *c = join_list(conf, nconf, "\n");
        setenv("KILN_CONF", c, 1);
        if (py_files) setenv("KILN_PY_FILES", py_files, 1);
        if (files) setenv("KILN_FILES", files, 1);
        if (tree) {
            const char *old = getenv("PYTHONPATH");
            char *pp = xcalloc(1, strlen(tree) + (old ? strlen(old) : 0) + 2);
            sprintf(pp, "%s%s%s", tree, old && *old ? ":" : "", old ? old : "");
            setenv("PYTHONPATH", pp, 1);
        }
        if (compat) {
            const char *old = getenv("PYTHONPATH");
            char *pp = xcalloc(1, strlen(compat) + (old ? strlen(old) : 0) + 2);
            sprintf(pp, "%s%s%s", old ? old : "", old && *old ? ":" : "", compat);
            setenv("PYTHONPATH", pp, 1);
        }
        size_t n = 0;
        while (argv[n])
            n++;
        char **pargv = xcalloc(n + 2, sizeof *pargv);
        pargv[0] = KILN_PYTHON;
        memcpy(pargv + 1, argv, n * sizeof *argv);
        execv(KILN_PYTHON, pargv);
        fprintf(stderr, "kiln submit: cannot run %s: %s\n", KILN_PYTHON, strerror(errno));
        _exit(127);
    }
    /* SIGINT and SIGTERM sent to `kiln submit` go on to the script (the
     * terminal's ^C reaches it already, with the whole process group), and
     * we wait for it, so the local cluster is stopped in order */
    script_pid = pid;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "kiln submit: %s ended by signal %d (%s)\n", argv[0], WTERMSIG(st), strsignal(WTERMSIG(st)));
        return 128 + WTERMSIG(st);
    }
    return WEXITSTATUS(st);
}

#define DEFAULT_MASTER "127.0.0.1:7077"

/* Edit distance of a and b (short strings: config keys), for did-you-mean. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[128];
    if (lb >= sizeof row / sizeof row[0]) return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

/* Checks one --conf KEY=VALUE before anything runs: a per-job key with a
 * value of its kind. 0, or -1 after saying what is wrong (the valid keys,
 * or the one meant) on stderr. */
static int check_conf(const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "kiln submit: --conf %s: expected KEY=VALUE\n", kv);
        return -1;
    }
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    if (!strncmp(key, "spark.", 6)) return 0; /* a Python job's SparkConf key (kiln/conf.py); a C job refuses it */
    if (conf_is_job_key(key)) {
        kiln_conf c;
        conf_init(&c);
        char err[512];
        int rc = conf_set(&c, key, eq + 1, err, sizeof err);
        conf_release(&c);
        if (rc < 0) fprintf(stderr, "kiln submit: --conf %s: %s\n", kv, err);
        return rc;
    }
    const char *best = NULL;
    size_t bestd = 4; /* at most 3 edits away */
    char jobkeys[1024] = "";
    for (size_t i = 0; conf_key_name(i); i++) {
        const char *name = conf_key_name(i);
        if (!conf_is_job_key(name)) continue;
        size_t used = strlen(jobkeys);
        snprintf(jobkeys + used, sizeof jobkeys - used, "%s%s", used ? ", " : "", name);
        size_t d = edit_distance(key, name);
        if (d < bestd) {
            bestd = d;
            best = name;
        }
    }
    int known = 0;
    for (size_t i = 0; conf_key_name(i); i++)
        known |= !strcmp(conf_key_name(i), key);
    if (best)
        fprintf(stderr, "kiln submit: --conf %s: unknown per-job key '%s'; did you mean '%s'?\n", kv, key, best);
    else
        fprintf(stderr, "kiln submit: --conf %s: %s '%s'; the keys a job may set are: %s\n", kv,
                known ? "a daemon's setting, not a per-job one:" : "unknown key", key, jobkeys);
    return -1;
}

/* The master a client connects to: HOST:PORT as given, kiln://HOST:PORT and
 * spark://HOST:PORT without their scheme (*spark set for the latter, whose
 * note is printed after the banner), local[...] as given. NULL for another
 * scheme (yarn, k8s://, mesos://), after saying so on stderr. */
static const char *master_address(const char *m, int *spark)
{
    int slots;
    *spark = 0;
    if (local_parse(m, &slots)) return m; /* local[...], a malformed one refused by its caller */
    const char *addr = m, *sep = strstr(m, "://");
    if (sep && sep - m == 4 && !strncmp(m, "kiln", 4))
        addr = sep + 3;
    else if (sep && sep - m == 5 && !strncmp(m, "spark", 5)) {
        *spark = 1;
        addr = sep + 3;
    } else if (sep)
        addr = NULL;
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (colon && colon != addr && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) return addr;
    fprintf(stderr, "kiln: master %s: kiln runs on local, local[N], local[*], HOST:PORT, kiln://HOST:PORT or "
                    "spark://HOST:PORT\n", m);
    return NULL;
}

/* What `kiln submit` prints first on stderr when banner is set (on a
 * terminal, or --verbose; kiln/context.py prints the same for a Python
 * job): the application, where it runs, its UI page. The note on a
 * spark:// master's scheme comes after it, always. */
static void print_banner(const kiln_ctx *ctx, const char *master, int local, const char *spark_master, int banner)
{
    const char *ui = *ctx->ui ? ctx->ui : "(none)";
    if (banner && local)
        fprintf(stderr, "kiln: application %s running on %s (a private driver and worker), UI %s\n", ctx->app_id,
                master, ui);
    else if (banner)
        fprintf(stderr, "kiln: application %s running on the kiln driver at %s, UI %s\n", ctx->app_id, master, ui);
    if (spark_master)
        fprintf(stderr, "kiln: master %s: the spark:// scheme is dropped; kiln's driver at %s\n", spark_master,
                master);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* 1 when path is not an ELF object (with what it is instead in why), so
 * the loader's "invalid ELF header" or "file too short" is not all the
 * user sees; 0 when it is one or cannot be read (dlopen then says why). */
static int not_elf(const char *path, char *why, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char b[64];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n >= 4 && !memcmp(b, "\x7f" "ELF", 4)) return 0;
    int text = n > 0;
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x09 || (b[i] > 0x0d && b[i] < 0x20)) text = 0;
    snprintf(why, len, "%s", n == 0 ? "it is empty"
                             : n >= 2 && b[0] == '#' && b[1] == '!' ? "it is a script"
                             : text ? "it is text (source code?), not a compiled library"
                                    : "it does not start with the ELF magic bytes");
    return 1;
}

static int cmd_submit(int argc, char **argv, const char *master, const char *secret_file)
{
    char **conf = xcalloc((size_t)argc + 1, sizeof *conf);
    size_t nconf = 0;
    const char *py_files = NULL, *files = NULL;
    int i = 0, banner = isatty(2); /* quiet off a terminal, as a job's progress line */
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            free(conf);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("kiln %s\n", KILN_VERSION);
            free(conf);
            return 0;
        } else if (!strcmp(argv[i], "--master") && i + 1 < argc)
            master = argv[++i];
        else if (!strncmp(argv[i], "--master=", 9))
            master = argv[i] + 9;
        else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v"))
            banner = 1;
        else if (!strcmp(argv[i], "--conf") && i + 1 < argc)
            conf[nconf++] = argv[++i];
        else if (!strncmp(argv[i], "--conf=", 7))
            conf[nconf++] = argv[i] + 7;
        else if (!strcmp(argv[i], "--secret-file") && i + 1 < argc)
            secret_file = argv[++i];
        else if (!strncmp(argv[i], "--secret-file=", 14))
            secret_file = argv[i] + 14;
        else if (!strcmp(argv[i], "--py-files") && i + 1 < argc)
            py_files = argv[++i];
        else if (!strncmp(argv[i], "--py-files=", 11))
            py_files = argv[i] + 11;
        else if (!strcmp(argv[i], "--files") && i + 1 < argc)
            files = argv[++i];
        else if (!strncmp(argv[i], "--files=", 8))
            files = argv[i] + 8;
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "kiln submit: unknown option %s\n%s", argv[i], usage);
            free(conf);
            return 2;
        } else
            break;
    }
    if (i >= argc) {
        fputs(usage, stderr);
        free(conf);
        return 2;
    }
    for (size_t k = 0; k < nconf; k++)
        if (check_conf(conf[k]) < 0) {
            free(conf);
            return 2;
        }
    int slots0, spark_scheme = 0;
    const char *given_master = master; /* a Python job's script drops the scheme itself, after its banner */
    if (master && !(master = master_address(master, &spark_scheme))) {
        free(conf);
        return 2;
    }
    if (master && local_parse(master, &slots0) < 0) {
        fprintf(stderr,
                "kiln submit: --master %s: expected HOST:PORT, local, local[N] (N from 1 to 1024) or local[*]\n",
                master);
        free(conf);
        return 2;
    }
    if (ends_with(argv[i], ".py")) {
        if (!master) master = "local[2]";
        local_cluster lc;
        int slots, local = local_parse(master, &slots);
        char err[2048];
        if (local && local_start(&lc, NULL, slots, secret_file, err, sizeof err) < 0) {
            fprintf(stderr, "kiln submit: %s\n", err);
            free(conf);
            return 1;
        }
        if (!local) { /* refuse a bad secret here rather than in the script */
            auth_secret secret;
            if (load_secret("submit", secret_file, &secret) < 0) {
                free(conf);
                return 2;
            }
            auth_secret_release(&secret);
        }
        int rc = run_python(argv + i, local ? lc.master : given_master, banner ? (local ? master : "") : NULL,
                            local ? lc.secret_file : secret_file, conf, nconf, py_files, files);
        if (local) local_stop(&lc);
        free(conf);
        return rc;
    }
    if (py_files || files) {
        fprintf(stderr, "kiln submit: --py-files and --files are for Python jobs (job.py)\n");
        free(conf);
        return 2;
    }
    for (size_t k = 0; k < nconf; k++)
        if (!strncmp(conf[k], "spark.", 6)) {
            fprintf(stderr, "kiln submit: --conf %s: spark.* keys are for Python jobs (SparkConf); a C application "
                            "takes kiln's own keys\n", conf[k]);
            free(conf);
            return 2;
        }
    if (!master) master = given_master = DEFAULT_MASTER;
    char lib_path[PATH_MAX];
    if (!realpath(argv[i], lib_path)) {
        fprintf(stderr, "kiln submit: %s: %s\n", argv[i], strerror(errno));
        free(conf);
        return 2;
    }
    char why[256];
    if (not_elf(lib_path, why, sizeof why)) {
        fprintf(stderr, "kiln submit: %s is not a shared object: %s; an application is C built with "
                        "`cc -shared -fPIC -o app.so app.c`, or a Python job ending in .py\n",
                lib_path, why);
        free(conf);
        return 2;
    }
    void *h = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "kiln submit: cannot load %s: %s\n", lib_path, dlerror());
        free(conf);
        return 2;
    }
    int (*app_main)(kiln_ctx *, int, char **) = (int (*)(kiln_ctx *, int, char **))dlsym(h, "kiln_main");
    Dl_info info;
    if (!app_main || !dladdr((void *)app_main, &info)) {
        fprintf(stderr, "kiln submit: %s does not export kiln_main (declare it KILN_EXPORT)\n", lib_path);
        free(conf);
        return 2;
    }
    auth_secret secret = {0};
    const auth_secret *use = &secret; /* the local cluster's own, or this one */
    local_cluster lc;
    int slots, local = local_parse(master, &slots);
    char err[2048];
    if (local) {
        if (local_start(&lc, NULL, slots, secret_file, err, sizeof err) < 0) {
            fprintf(stderr, "kiln submit: %s\n", err);
            free(conf);
            return 1;
        }
        master = lc.master;
        use = &lc.secret;
    } else if (load_secret("submit", secret_file, &secret) < 0) {
        free(conf);
        return 2;
    }
    int rc;
    kiln_ctx *ctx = client_ctx_new(master, use, NULL, lib_path, info.dli_fbase, conf, nconf, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "kiln submit: %s\n", err);
        rc = 1;
    } else {
        print_banner(ctx, local ? given_master : master, local, spark_scheme ? given_master : NULL, banner);
        argv[i] = lib_path;
        rc = app_main(ctx, argc - i, argv + i);
        client_ctx_free(ctx);
    }
    if (local) local_stop(&lc);
    auth_secret_release(&secret);
    free(conf);
    return rc;
}

static Kiln__Envelope *info(const char *master, const auth_secret *secret, char *err, size_t errlen)
{
    Kiln__Envelope req = KILN__ENVELOPE__INIT;
    Kiln__InfoRequest ir = KILN__INFO_REQUEST__INIT;
    ir.what = "status";
    MSG_BODY(req, info_request, INFO_REQUEST, &ir);
    Kiln__Envelope *m = client_query(master, secret, &req, err, errlen);
    if (m && m->body_case != KILN__ENVELOPE__BODY_INFO_REPLY) {
        errf(err, errlen, "unexpected %s from the driver", msg_name(m));
        msg_free(m);
        return NULL;
    }
    return m;
}

/* s with every control character (a name from the network) shown as '?',
 * into buf; returns buf. */
static const char *printable(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

/* `kiln apps`: one line per application, running ones first, then the
 * ended ones newest first (the driver's order), those of earlier driver
 * runs included (read from their event logs). */
static void print_apps(const Kiln__InfoReply *r)
{
    printf("%-28s %-24s %-12s %-10s %5s %-20s %s\n", "APPLICATION", "NAME", "USER", "STATE", "JOBS", "STARTED (UTC)",
           "DURATION");
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < r->n_apps; i++) {
            const Kiln__AppInfo *a = r->apps[i];
            if ((pass == 0) != !strcmp(a->state, "running")) continue;
            char started[32] = "-", name[128], user[64], dur[32];
            time_t t = (time_t)(a->started_ms / 1000);
            struct tm tm;
            if (a->started_ms && gmtime_r(&t, &tm)) strftime(started, sizeof started, "%Y-%m-%d %H:%M:%S", &tm);
            double s = (double)a->duration_ms / 1000.0;
            if (a->duration_ms < 1000)
                snprintf(dur, sizeof dur, "%llu ms", (unsigned long long)a->duration_ms);
            else if (s < 120)
                snprintf(dur, sizeof dur, "%.1f s", s);
            else
                snprintf(dur, sizeof dur, "%.1f min", s / 60);
            printf("%-28s %-24s %-12s %-10s %5u %-20s %s\n", a->app_id, printable(a->name, name, sizeof name),
                   printable(*a->user ? a->user : "-", user, sizeof user), a->state, a->jobs, started, dur);
        }
}

static int cmd_info(const char *what, const char *master, const auth_secret *secret)
{
    char err[1024];
    Kiln__Envelope *m = info(master, secret, err, sizeof err);
    if (!m) {
        fprintf(stderr, "kiln %s: %s\n", what, err);
        return 1;
    }
    Kiln__InfoReply *r = m->info_reply;
    if (!strcmp(what, "status")) {
        uint32_t slots = 0, running = 0;
        for (size_t i = 0; i < r->n_workers; i++) {
            slots += r->workers[i]->slots;
            running += r->workers[i]->running;
        }
        size_t apps = 0;
        for (size_t i = 0; i < r->n_apps; i++)
            apps += !strcmp(r->apps[i]->state, "running");
        printf("driver %s up %.1f s\nworkers %zu  slots %u  running tasks %u\napplications running %zu  total %zu\n"
               "stages serialized %llu  broadcast %llu  blobs served %llu (%llu bytes)\n",
               master, (double)r->uptime_ms / 1000.0, r->n_workers, slots, running, apps, r->n_apps,
               (unsigned long long)r->stages_serialized, (unsigned long long)r->broadcasts_stored,
               (unsigned long long)r->blobs_served, (unsigned long long)r->blob_bytes_served);
    } else if (!strcmp(what, "workers")) {
        printf("%-4s %-24s %-22s %5s %7s %10s %9s\n", "ID", "NAME", "DATA ADDRESS", "SLOTS", "RUNNING", "TASKS",
               "HEARTBEAT");
        for (size_t i = 0; i < r->n_workers; i++) {
            Kiln__WorkerInfo *w = r->workers[i];
            char addr[300];
            snprintf(addr, sizeof addr, strchr(w->host, ':') ? "[%s]:%u" : "%s:%u", w->host, w->data_port);
            printf("%-4u %-24s %-22s %5u %7u %10llu %7llums\n", w->id, w->name, addr, w->slots, w->running,
                   (unsigned long long)w->tasks_done, (unsigned long long)w->last_heartbeat_ms);
        }
    } else if (!strcmp(what, "apps")) {
        print_apps(r);
    } else {
        /* TASKS counts every stage's; STAGES is each stage's done/tasks, the result stage last */
        printf("%-28s %-6s %-10s %-10s %-11s %s\n", "APPLICATION", "JOB", "ACTION", "STATE", "TASKS", "STAGES");
        for (size_t i = 0; i < r->n_jobs; i++) {
            Kiln__JobInfo *j = r->jobs[i];
            char tasks[32];
            snprintf(tasks, sizeof tasks, "%u/%u", j->tasks_done, j->tasks);
            printf("%-28s %-6u %-10s %-10s %-11s %s\n", j->app_id, j->job_id, j->action, j->state, tasks, j->stages);
        }
    }
    msg_free(m);
    return 0;
}

/* `kiln ui`: the login URL of the driver's web UI, and of the workers on
 * other hosts (a browser keeps one cookie per host, whatever the port:
 * one login covers the driver and every worker on its host). */
static int cmd_ui(const char *master, const auth_secret *secret)
{
    char err[1024], token[HTTPD_TOKEN_HEX + 1];
    Kiln__Envelope *m = info(master, secret, err, sizeof err);
    if (!m) {
        fprintf(stderr, "kiln ui: %s\n", err);
        return 1;
    }
    httpd_token(secret->key, secret->len, token);
    char host[256];
    snprintf(host, sizeof host, "%s", master);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    printf("http://%s:%u/?token=%s\n", host, m->info_reply->http_port, token); /* [v6] stays bracketed */
    for (size_t i = 0; i < m->info_reply->n_workers; i++) {
        const Kiln__WorkerInfo *w = m->info_reply->workers[i];
        if (!strcmp(w->host, host) || !w->http_port) continue;
        printf("worker %s: http://%s%s%s:%u/?token=%s\n", w->name, strchr(w->host, ':') ? "[" : "", w->host,
               strchr(w->host, ':') ? "]" : "", w->http_port, token);
    }
    OPENSSL_cleanse(token, sizeof token);
    msg_free(m);
    return 0;
}

static int cmd_kill(const char *id, const char *master, const auth_secret *secret)
{
    Kiln__Envelope req = KILN__ENVELOPE__INIT;
    Kiln__KillApp k = KILN__KILL_APP__INIT;
    k.app_id = (char *)id;
    MSG_BODY(req, kill_app, KILL_APP, &k);
    char err[1024];
    Kiln__Envelope *m = client_query(master, secret, &req, err, sizeof err);
    if (!m) {
        fprintf(stderr, "kiln kill: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (m->body_case != KILN__ENVELOPE__BODY_KILL_REPLY || !m->kill_reply->ok) {
        fprintf(stderr, "kiln kill: %s\n",
                m->body_case == KILN__ENVELOPE__BODY_KILL_REPLY ? m->kill_reply->error : "unexpected answer");
        rc = 1;
    } else {
        printf("killed %s\n", id);
    }
    msg_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kiln %s\n", KILN_VERSION);
        return 0;
    }
    /* submit's own arguments are the job's, and logs has a usage of its own */
    for (int i = 2; i < argc && strcmp(argv[1], "submit"); i++)
        if ((!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) && strcmp(argv[1], "logs")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("kiln %s\n", KILN_VERSION);
            return 0;
        }
    const char *master = getenv("KILN_MASTER");
    if (master && !*master) master = NULL;
    const char *secret_file = getenv("KILN_SECRET_FILE");
    const char *cmd = argv[1];
    /* submit: NULL when neither --master nor $KILN_MASTER names one (a C
     * application then goes to DEFAULT_MASTER, a Python job runs local[2]) */
    if (!strcmp(cmd, "submit")) return cmd_submit(argc - 2, argv + 2, master, secret_file);
    if (!master) master = DEFAULT_MASTER;
    if (!strcmp(cmd, "logs")) return client_logs_main(argc - 2, argv + 2, master, secret_file);
    /* the other commands take --master, --secret-file and one argument */
    const char *arg = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--master") && i + 1 < argc)
            master = argv[++i];
        else if (!strncmp(argv[i], "--master=", 9))
            master = argv[i] + 9;
        else if (!strcmp(argv[i], "--secret-file") && i + 1 < argc)
            secret_file = argv[++i];
        else if (!strncmp(argv[i], "--secret-file=", 14))
            secret_file = argv[i] + 14;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "kiln %s: unknown option %s\n%s", cmd, argv[i], usage);
            return 2;
        } else if (!arg)
            arg = argv[i];
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    int spark_scheme;
    if (!(master = master_address(master, &spark_scheme))) return 2;
    int info_cmd = !strcmp(cmd, "status") || !strcmp(cmd, "workers") || !strcmp(cmd, "jobs") || !strcmp(cmd, "apps");
    if (!strcmp(cmd, "token") || !strcmp(cmd, "ui")) {
        /* the token is derived from the secret alone: `kiln token` needs no driver */
        auth_secret secret;
        if (load_secret(cmd, secret_file, &secret) < 0) return 2;
        int rc = 0;
        if (!strcmp(cmd, "ui")) {
            rc = cmd_ui(master, &secret);
        } else {
            char token[HTTPD_TOKEN_HEX + 1];
            httpd_token(secret.key, secret.len, token);
            printf("%s\n", token);
            OPENSSL_cleanse(token, sizeof token);
        }
        auth_secret_release(&secret);
        return rc;
    }
    if (!info_cmd && strcmp(cmd, "kill")) {
        fprintf(stderr, "kiln: unknown command '%s'\n%s", cmd, usage);
        return 2;
    }
    if (!info_cmd && !arg) {
        fputs(usage, stderr);
        return 2;
    }
    auth_secret secret;
    if (load_secret(cmd, secret_file, &secret) < 0) return 2;
    int rc = info_cmd ? cmd_info(cmd, master, &secret) : cmd_kill(arg, master, &secret);
    auth_secret_release(&secret);
    return rc;
}
