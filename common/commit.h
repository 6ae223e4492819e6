/*
 * commit.h - the output commit of save_text: where a task attempt writes
 * its part, and how the client makes the winning attempts visible once the
 * job succeeded (or removes every trace when it failed).
 *
 * Layout of an output directory DIR while its job runs:
 *   DIR/_temporary/part-NNNNN-TASK-ATTEMPT   one file per task attempt
 * and after commit_job:
 *   DIR/part-NNNNN ... DIR/_SUCCESS          (_SUCCESS last)
 */
#ifndef KILN_COMMIT_H
#define KILN_COMMIT_H

#include <stddef.h>
#include <stdint.h>

/* Returns a new string: DIR/_temporary, the attempts' directory. */
char *commit_temp_dir(const char *dir);
/* Returns a new string: the file task attempt (task_id, attempt) of
 * partition part writes. */
char *commit_temp_path(const char *dir, uint32_t part, uint64_t task_id, uint32_t attempt);

/* Renames, for every partition i < n, the attempt (task_ids[i],
 * attempts[i]) to DIR/part-i, removes DIR/_temporary (the losers and the
 * crashed attempts with it) and writes DIR/_SUCCESS last. On failure the
 * parts renamed so far are removed again, so no part is visible without
 * _SUCCESS; -1 with a message. Borrows everything. */
int commit_job(const char *dir, const uint64_t *task_ids, const uint32_t *attempts, size_t n, char *err, size_t errlen);
/* commit_job naming the parts DIR/part-NNNNN<ext> (".gz" for gzip parts). */
int commit_job_ext(const char *dir, const char *ext, const uint64_t *task_ids, const uint32_t *attempts, size_t n,
                   char *err, size_t errlen);

/* The job failed: removes DIR/_temporary and then DIR itself when nothing
 * else is in it (the caller created it), so the same job can run again. */
void commit_abort(const char *dir);

#endif
