/*
 * secret.h - which secret file a kiln program uses when none is named, and
 * making one.
 *
 * "No secret configured" does not mean "no authentication": every kiln
 * program (daemons, the CLI, the Python package) then uses a default
 * secret file, so that the programs of one user find each other and no
 * other user's do:
 *
 *   - the service's, SECRET_SERVICE_PATH (/var/lib/kiln/secret, mode 0640,
 *     group kiln): used by the kiln user, who makes it on first use, and
 *     by anyone who can read it (members of group kiln, root);
 *   - otherwise the user's own, $XDG_CONFIG_HOME/kiln/secret (by default
 *     ~/.config/kiln/secret), or $XDG_RUNTIME_DIR/kiln/secret when there is
 *     no home directory; made 0600 (its directories 0700) on first use and
 *     accepted only when this user owns it.
 *
 * local[N] does not use either: it makes a fresh one in its temporary
 * directory (client/local.c) with secret_create.
 *
 * The choice is a pure function of a secret_env (filled from the process
 * by secret_env_from_process, or by a test) and of which files exist.
 * Ownership: a secret_env borrows its strings from the environment (or
 * its caller) except home, which may point into its own home_buf.
 */
#ifndef KILN_SECRET_H
#define KILN_SECRET_H

#include <limits.h>
#include <stddef.h>

#include "auth.h"

#define SECRET_SERVICE_PATH "/var/lib/kiln/secret"
#define SECRET_SERVICE_USER "kiln"

typedef struct secret_env {
    const char *service_path; /* SECRET_SERVICE_PATH */
    long service_uid;         /* the kiln user's uid, -1 when there is none */
    long service_gid;         /* the kiln group's gid, -1 when there is none */
    long euid;                /* who we are */
    const char *config_home;  /* $XDG_CONFIG_HOME, or NULL */
    const char *home;         /* $HOME, else the passwd entry's, or NULL */
    const char *runtime_dir;  /* $XDG_RUNTIME_DIR, or NULL */
    char home_buf[PATH_MAX];
} secret_env;

typedef enum secret_kind { SECRET_SERVICE, SECRET_USER } secret_kind;

/* Fills e from this process: its environment, its euid, and the passwd
 * and group entries of SECRET_SERVICE_USER and AUTH_SERVICE_GROUP. */
void secret_env_from_process(secret_env *e);

/* The default secret file for e, into path (len bytes), and its kind:
 * the service's when e is the service user or the service's file exists
 * and is readable; else the user's: config_home/kiln/secret when
 * config_home is absolute, home/.config/kiln/secret when home is an
 * existing directory, runtime_dir/kiln/secret when runtime_dir is
 * absolute. 0, or -1 with a message when none applies. */
int secret_default_path(const secret_env *e, char *path, size_t len, secret_kind *kind, char *err, size_t errlen);

/* Creates path holding a fresh secret: 32 bytes from getrandom as 64 hex
 * digits and a newline, with mode (0600 or 0640) and group gid (-1: the
 * default). Atomic: written and synced in a temporary file made with
 * O_EXCL next to it, then hard-linked to path, so no reader ever sees it
 * half written and an existing path is never replaced. 1 when it created
 * path, 0 when path already existed (left alone), -1 with a message. */
int secret_create(const char *path, int mode, long gid, char *err, size_t errlen);

/* Loads e's default secret into s (zeroed or released), making it first
 * when it does not exist: the user's always (its directories 0700), the
 * service's only when e is the service user. The loaded file passes
 * auth_secret_load's rule, and the user's must belong to e->euid. path
 * (len bytes) gets the file's name. 0, or -1 with a message. */
int secret_load_default(auth_secret *s, const secret_env *e, char *path, size_t len, char *err, size_t errlen);

/* What every kiln program calls at start-up: loads explicit (borrowed;
 * --secret-file, secret_file or $KILN_SECRET_FILE) when it is non-empty,
 * else this process's default secret. used (usedlen bytes, may be NULL)
 * gets the file loaded. 0, or -1 with a message. */
int secret_resolve(auth_secret *s, const char *explicit_path, char *used, size_t usedlen, char *err, size_t errlen);

#endif
