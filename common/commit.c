/*
 * commit.c - save_text's output commit (see commit.h). Pure file-system
 * work on a directory the client and every worker see at the same path;
 * no daemon state. Task attempts write under DIR/_temporary/APP and never
 * rename into DIR themselves: the client renames the attempts the driver
 * says won, after the job succeeded, so a failed job shows no part and a
 * retried partition shows exactly one. Nothing here removes a directory
 * it cannot prove is its application's (the rule is in commit.h).
 */
#include "commit.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

char *commit_temp_dir(const char *dir)
{
    return xasprintf("%s/_temporary", dir);
}

char *commit_app_dir(const char *dir, const char *app)
{
    return xasprintf("%s/_temporary/%s", dir, app);
}

char *commit_temp_path(const char *dir, const char *app, uint32_t part, uint64_t task_id, uint32_t attempt)
{
    return xasprintf("%s/_temporary/%s/part-%05u-%llu-%u", dir, app, part, (unsigned long long)task_id, attempt);
}

int commit_begin(const char *dir, const char *app, char *err, size_t errlen)
{
    if (mkdir(dir, 0755) < 0)
        return errf(err, errlen, "cannot create %s: %s", dir,
                    errno == EEXIST ? "it already exists (kiln never overwrites output)" : strerror(errno));
    char *tmp = commit_temp_dir(dir), *mine = commit_app_dir(dir, app);
    int rc = 0;
    if (mkdir(tmp, 0755) < 0 || mkdir(mine, 0755) < 0) {
        int e = errno;
        rc = errf(err, errlen, "cannot create %s: %s", mine, strerror(e));
        rmdir(tmp);
        rmdir(dir);
    }
    free(tmp);
    free(mine);
    return rc;
}

/* Removes the files in app's attempt directory and then the directory: 1
 * when this call's rmdir removed it, 0 when it was not there (or another
 * cleaner removed it first), -1 on another error. A late task attempt may
 * still be creating a file in it, so a few tries. */
static int remove_app_dir(const char *dir, const char *app)
{
    char *mine = commit_app_dir(dir, app);
    int rc = -1;
    for (int i = 0; i < 5; i++) {
        DIR *d = opendir(mine);
        if (!d) {
            rc = errno == ENOENT ? 0 : -1;
            break;
        }
        for (struct dirent *de; (de = readdir(d));) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char *f = xasprintf("%s/%s", mine, de->d_name);
            unlink(f); /* attempts are plain files; tasks never make directories */
            free(f);
        }
        closedir(d);
        if (rmdir(mine) == 0) {
            rc = 1;
            break;
        }
        if (errno == ENOENT) {
            rc = 0;
            break;
        }
        usleep(20000);
    }
    free(mine);
    return rc;
}

int commit_job(const char *dir, const char *app, const uint64_t *task_ids, const uint32_t *attempts, size_t n,
               char *err, size_t errlen)
{
    return commit_job_ext(dir, app, "", task_ids, attempts, n, err, errlen);
}

int commit_job_ext(const char *dir, const char *app, const char *ext, const uint64_t *task_ids, const uint32_t *attempts,
                   size_t n, char *err, size_t errlen)
{
    size_t done = 0;
    int rc = 0;
    for (; done < n; done++) {
        char *from = commit_temp_path(dir, app, (uint32_t)done, task_ids[done], attempts[done]);
        char *to = xasprintf("%s/part-%05zu%s", dir, done, ext);
        if (rename(from, to) < 0) rc = errf(err, errlen, "cannot commit %s: %s", from, strerror(errno));
        free(from);
        free(to);
        if (rc < 0) break;
    }
    int owned = 0; /* app's directory removed: DIR is known to be the job's */
    if (rc == 0) {
        owned = remove_app_dir(dir, app) == 1;
        char *tmp = commit_temp_dir(dir);
        rmdir(tmp);
        free(tmp);
        char *ok = xasprintf("%s/_SUCCESS", dir);
        rc = write_file_atomic(ok, "", 0, err, errlen);
        free(ok);
        if (rc == 0) return 0;
    }
    for (size_t i = 0; i < done; i++) {
        char *to = xasprintf("%s/part-%05zu%s", dir, i, ext);
        unlink(to);
        free(to);
    }
    if (owned)
        rmdir(dir); /* only when empty */
    else
        commit_abort(dir, app);
    return -1;
}

int commit_abort(const char *dir, const char *app)
{
    if (remove_app_dir(dir, app) != 1) return 0; /* DIR may be someone else's by now */
    char *tmp = commit_temp_dir(dir);
    rmdir(tmp); /* only when empty: never anything the job did not write */
    free(tmp);
    rmdir(dir);
    return 1;
}
