/*
 * commit.h - the output commit of save_text: where a task attempt writes
 * its part, and how the client makes the winning attempts visible once the
 * job succeeded (or removes every trace when it failed).
 *
 * Layout of an output directory DIR while its job runs:
 *   DIR/_temporary/APP/part-NNNNN-TASK-ATTEMPT   one file per task attempt
 * and after commit_job:
 *   DIR/part-NNNNN ... DIR/_SUCCESS              (_SUCCESS last)
 *
 * Every attempt file lies under the application's own directory
 * DIR/_temporary/APP, which only that application's client creates, right
 * after it created DIR itself (commit_begin). So whoever removes
 * DIR/_temporary/APP knows DIR was that application's at that moment: no
 * other application can have created DIR while it existed (creating DIR
 * is exclusive). Cleanup removes DIR/_temporary and DIR only after it
 * removed that directory itself, and never touches a DIR in which the
 * application has nothing left: another application may have made it
 * since.
 */
#ifndef KILN_COMMIT_H
#define KILN_COMMIT_H

#include <stddef.h>
#include <stdint.h>

/* Returns a new string: DIR/_temporary, the attempts' directory. */
char *commit_temp_dir(const char *dir);
/* Returns a new string: DIR/_temporary/APP, application app's attempts. */
char *commit_app_dir(const char *dir, const char *app);
/* Returns a new string: the file task attempt (task_id, attempt) of
 * partition part of application app writes. */
char *commit_temp_path(const char *dir, const char *app, uint32_t part, uint64_t task_id, uint32_t attempt);

/* Creates DIR (refusing one that exists: kiln never overwrites output),
 * DIR/_temporary and DIR/_temporary/APP. On failure removes what it made;
 * -1 with a message. */
int commit_begin(const char *dir, const char *app, char *err, size_t errlen);

/* Renames, for every partition i < n, application app's attempt
 * (task_ids[i], attempts[i]) to DIR/part-i, removes DIR/_temporary/APP
 * (the losers and the crashed attempts with it) and DIR/_temporary, and
 * writes DIR/_SUCCESS last. On failure the parts renamed so far are
 * removed again, so no part is visible without _SUCCESS; -1 with a
 * message. Borrows everything. */
int commit_job(const char *dir, const char *app, const uint64_t *task_ids, const uint32_t *attempts, size_t n,
               char *err, size_t errlen);
/* commit_job naming the parts DIR/part-NNNNN<ext> (".gz" for gzip parts). */
int commit_job_ext(const char *dir, const char *app, const char *ext, const uint64_t *task_ids, const uint32_t *attempts,
                   size_t n, char *err, size_t errlen);

/* Application app's job writing DIR failed or was abandoned: removes
 * DIR/_temporary/APP and, only when this call removed it, DIR/_temporary
 * and DIR when they are empty (so the same job can run again). When app
 * has nothing under DIR (its client or another worker cleaned up first,
 * and DIR may be another application's now) it touches nothing. Returns 1
 * when it removed app's directory, 0 when there was none. */
int commit_abort(const char *dir, const char *app);

#endif
