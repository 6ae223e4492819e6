/*
 * commit.c - save_text's output commit (see commit.h). Pure file-system
 * work on a directory the client and every worker see at the same path;
 * no daemon state. Task attempts write under DIR/_temporary and never
 * rename into DIR themselves: the client renames the attempts the driver
 * says won, after the job succeeded, so a failed job shows no part and a
 * retried partition shows exactly one.
 */
#include "commit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

char *commit_temp_dir(const char *dir)
{
    return xasprintf("%s/_temporary", dir);
}

char *commit_temp_path(const char *dir, uint32_t part, uint64_t task_id, uint32_t attempt)
{
    return xasprintf("%s/_temporary/part-%05u-%llu-%u", dir, part, (unsigned long long)task_id, attempt);
}

/* rm_rf of a directory a late task attempt may still be creating a file in:
 * a few tries, so one creation between the listing and the rmdir does not
 * leave it behind. */
static void remove_temporary(const char *dir)
{
    char *tmp = commit_temp_dir(dir);
    for (int i = 0; i < 5 && rm_rf(tmp) < 0 && errno != ENOENT; i++)
        usleep(20000);
    free(tmp);
}

int commit_job(const char *dir, const uint64_t *task_ids, const uint32_t *attempts, size_t n, char *err, size_t errlen)
{
    return commit_job_ext(dir, "", task_ids, attempts, n, err, errlen);
}

int commit_job_ext(const char *dir, const char *ext, const uint64_t *task_ids, const uint32_t *attempts, size_t n,
                   char *err, size_t errlen)
{
    size_t done = 0;
    int rc = 0;
    for (; done < n; done++) {
        char *from = commit_temp_path(dir, (uint32_t)done, task_ids[done], attempts[done]);
        char *to = xasprintf("%s/part-%05zu%s", dir, done, ext);
        if (rename(from, to) < 0) rc = errf(err, errlen, "cannot commit %s: %s", from, strerror(errno));
        free(from);
        free(to);
        if (rc < 0) break;
    }
    if (rc == 0) {
        remove_temporary(dir);
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
    commit_abort(dir);
    return -1;
}

void commit_abort(const char *dir)
{
    remove_temporary(dir);
    rmdir(dir); /* only when empty: never anything the job did not write */
}
