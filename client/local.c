/*
 * local.c - local[N]: a private kiln-driver and one kiln-worker with N
 * slots in a temporary directory, on loopback ports picked by the kernel
 * (port 0 and the daemons' ports files). Used by `kiln submit` and by the
 * Python package (a script run as `python3 job.py`). The daemons are
 * children of the calling process; local_stop ends them and removes the
 * directory (kept when $KILN_KEEP_LOCAL is set).
 *
 * However the caller ends (SIGTERM, SIGINT, SIGKILL, a crash in user
 * code), nothing stays: each daemon gets SIGTERM when its parent dies
 * (PR_SET_PDEATHSIG), and a cleaner (a shell started at once, so nothing
 * of a possibly multi-threaded caller runs after the fork) waits on a pipe
 * only the caller holds; at its end of file it waits for the daemons to go
 * (SIGKILL after 10 s) and removes the directory. The private cluster has
 * a private secret: a fresh one in its directory (mode 0700, the file
 * 0600) unless the caller named one, passed to both daemons and lent to
 * the caller's connections, so no other user of the host can reach it.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "secret.h"
#include "util.h"

static void sibling(const char *bindir, const char *name, char *out, size_t len)
{
    if (bindir)
        snprintf(out, len, "%s/%s", bindir, name);
    else if (!exe_sibling(name, X_OK, out, len))
        snprintf(out, len, "%s", name); /* from PATH */
}

static pid_t spawn(char *const argv[])
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);  /* the daemons end with their caller */
        if (getppid() != parent) _exit(0); /* it died before the line above */
        execvp(argv[0], argv);
        fprintf(stderr, "kiln: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* Waits for dir/ports and returns the port called name, or -1. */
static int wait_port(const char *dir, const char *name, pid_t pid)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/ports", dir);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            char key[32];
            int port;
            while (fscanf(f, "%31s %d", key, &port) == 2)
                if (!strcmp(key, name)) {
                    fclose(f);
                    return port;
                }
            fclose(f);
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) return -1;
        usleep(10000);
    }
    return -1;
}

/* Starts the cleaner (see the top of the file). */
static void cleaner_start(local_cluster *lc)
{
    int p[2];
    lc->cleaner_fd = -1;
    if (pipe2(p, O_CLOEXEC) < 0) return;
    static const char script[] = "trap '' INT TERM HUP\n"
                                 "cat > /dev/null\n" /* until the caller is gone */
                                 "shift\n"
                                 "alive() { for pid; do kill -0 \"$pid\" 2>/dev/null && return 0; done; return 1; }\n"
                                 "i=0\n"
                                 "while [ $i -lt 100 ] && alive \"$@\"; do sleep 0.1; i=$((i + 1)); done\n"
                                 "[ $i -lt 100 ] || for pid; do kill -9 \"$pid\" 2>/dev/null; done\n"
                                 "[ -n \"$KILN_KEEP_LOCAL\" ] || rm -rf \"$0\"\n";
    char d[16], w[16];
    snprintf(d, sizeof d, "%d", (int)lc->driver);
    snprintf(w, sizeof w, "%d", (int)lc->worker);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[0], 0);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        setsid(); /* the terminal's signals are not its */
        execl("/bin/sh", "sh", "-c", script, lc->dir, "--", d, w, (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return;
    }
    lc->cleaner = pid;
    lc->cleaner_fd = p[1];
}

void local_stop(local_cluster *lc)
{
    if (lc->worker > 0) kill(lc->worker, SIGTERM);
    if (lc->driver > 0) kill(lc->driver, SIGTERM);
    if (lc->worker > 0) waitpid(lc->worker, NULL, 0);
    if (lc->driver > 0) waitpid(lc->driver, NULL, 0);
    if (lc->cleaner > 0) {
        close(lc->cleaner_fd);
        waitpid(lc->cleaner, NULL, 0);
        lc->cleaner = 0;
    }
    if (getenv("KILN_KEEP_LOCAL"))
        fprintf(stderr, "kiln: local cluster files kept in %s\n", lc->dir);
    else
        rm_rf(lc->dir);
    auth_secret_release(&lc->secret);
}

int local_start(local_cluster *lc, const char *bindir, int slots, const char *secret_file, char *err, size_t errlen)
{
    memset(lc, 0, sizeof *lc);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(lc->dir, sizeof lc->dir, "%s/kiln-local-XXXXXX", tmp);
    if (!mkdtemp(lc->dir)) return errf(err, errlen, "cannot create a directory in %s: %s", tmp, strerror(errno));
    char e2[1024];
    if (secret_file && *secret_file) {
        snprintf(lc->secret_file, sizeof lc->secret_file, "%s", secret_file);
    } else {
        snprintf(lc->secret_file, sizeof lc->secret_file, "%s/secret", lc->dir);
        if (secret_create(lc->secret_file, 0600, -1, e2, sizeof e2) < 0) {
            local_stop(lc);
            return errf(err, errlen, "local cluster: %s", e2);
        }
    }
    if (auth_secret_load(&lc->secret, lc->secret_file, e2, sizeof e2) < 0) {
        local_stop(lc);
        return errf(err, errlen, "%s", e2);
    }
    char drv[PATH_MAX], wrk[PATH_MAX], ddir[PATH_MAX + 16], wdir[PATH_MAX + 16], dlog[PATH_MAX + 16],
        wlog[PATH_MAX + 16], slotbuf[16], driver_addr[64];
    sibling(bindir, "kiln-driver", drv, sizeof drv);
    sibling(bindir, "kiln-worker", wrk, sizeof wrk);
    snprintf(ddir, sizeof ddir, "%s/driver", lc->dir);
    snprintf(wdir, sizeof wdir, "%s/worker", lc->dir);
    snprintf(dlog, sizeof dlog, "%s/driver.log", lc->dir);
    snprintf(wlog, sizeof wlog, "%s/worker.log", lc->dir);
    snprintf(slotbuf, sizeof slotbuf, "%d", slots);
    mkdir(ddir, 0755);
    mkdir(wdir, 0755);
    char *sf = lc->secret_file;
    char *dargv[] = {drv,          "--listen", "127.0.0.1:0",   "--http", "127.0.0.1:0", "--state-dir", ddir,
                     "--log-file", dlog,       "--secret-file", sf,       NULL};
    lc->driver = spawn(dargv);
    int port = wait_port(ddir, "rpc", lc->driver);
    if (port < 0) {
        local_stop(lc);
        return errf(err, errlen, "the local driver did not start (see %s)", dlog);
    }
    snprintf(driver_addr, sizeof driver_addr, "127.0.0.1:%d", port);
    snprintf(lc->master, sizeof lc->master, "%s", driver_addr);
    char *wargv[] = {wrk,           "--driver",      driver_addr, "--listen",   "127.0.0.1:0", "--http",
                     "127.0.0.1:0", "--slots",       slotbuf,     "--work-dir", wdir,          "--log-file",
                     wlog,          "--secret-file", sf,          NULL};
    lc->worker = spawn(wargv);
    cleaner_start(lc);
    /* wait until the driver knows the worker */
    for (int i = 0; i < 1000; i++) {
        Kiln__Envelope req = KILN__ENVELOPE__INIT;
        Kiln__InfoRequest ir = KILN__INFO_REQUEST__INIT;
        ir.what = "workers";
        MSG_BODY(req, info_request, INFO_REQUEST, &ir);
        Kiln__Envelope *m = client_query(lc->master, &lc->secret, &req, e2, sizeof e2);
        int ready = m && m->body_case == KILN__ENVELOPE__BODY_INFO_REPLY && m->info_reply->n_workers > 0;
        msg_free(m);
        if (ready) return 0;
        if (waitpid(lc->worker, NULL, WNOHANG) == lc->worker) break;
        usleep(10000);
    }
    local_stop(lc);
    return errf(err, errlen, "the local worker did not register (see %s)", wlog);
}

int local_parse(const char *m, int *slots)
{
    if (strncmp(m, "local", 5) || (m[5] && m[5] != '[')) return 0; /* "localhost:7077" is a driver */
    *slots = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (m[5] == 0 || !strcmp(m + 5, "[*]")) return 1;
    char *end;
    long n = strtol(m + 6, &end, 10);
    if (end == m + 6 || strcmp(end, "]") || n < 1 || n > 1024) return -1;
    *slots = (int)n;
    return 1;
}
