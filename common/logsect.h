/*
 * logsect.h - the sections of an executor log (pure; unit-tested).
 *
 * Before each task the executor writes one header line into its log
 * (work-dir/APP/executor-N.log):
 *
 *   === kiln task 17 job 1 stage 2 partition 0 attempt 1 at 2025-06-01T12:00:00.123Z ===
 *
 * and everything up to the next header is that task's section. `kiln logs
 * --task T` / `--job J` keep only the sections they select; the worker
 * cuts them with logsect_filter, which reads a log in pieces from any point
 * given the state it was left in there.
 */
#ifndef KILN_LOGSECT_H
#define KILN_LOGSECT_H

#include <stddef.h>
#include <stdint.h>

#define LOGSECT_PREFIX "=== kiln task "
/* A line without its newline that is at least this long is no header. */
#define LOGSECT_HEADER_MAX 256

/* Which sections to keep: 0 matches any task (job). Both 0: everything. */
typedef struct logsect_sel {
    uint64_t task;
    uint32_t job;
} logsect_sel;

/* Where a reader is: inside a kept section, and in the middle of a line.
 * A log starts at {0, 0} (lines before the first header are kept only
 * when nothing is selected). */
typedef struct logsect_state {
    int inside;
    int midline;
} logsect_state;

/* Writes the header line (with its newline) into buf (cap bytes);
 * wall_ms is the time in ms since the epoch. Returns its length. */
size_t logsect_header(char *buf, size_t cap, uint64_t task, uint32_t job, uint32_t stage, uint32_t partition,
                      uint32_t attempt, uint64_t wall_ms);

/* 1 when line (n bytes, with or without its newline) is a header, with
 * *task and *job set; 0 otherwise. */
int logsect_parse_header(const uint8_t *line, size_t n, uint64_t *task, uint32_t *job);

/*
 * Filters the n bytes at p, read from a point in state *st: the bytes of
 * kept sections are appended to out (room for n bytes), *outlen says how
 * many. Consumes whole lines; an unfinished last line is left for the
 * next call unless final (no more bytes will come) or it is all of p and
 * cannot be a header (a line longer than a piece goes in parts). Returns
 * the bytes consumed and updates *st to the state there.
 */
size_t logsect_filter(const logsect_sel *sel, logsect_state *st, const uint8_t *p, size_t n, int final, uint8_t *out,
                      size_t *outlen);

/* 1 when name is an executor log's file name, "executor-N.log" with N a
 * decimal number without leading zeros, with *index set; 0 otherwise. */
int logsect_file_name_ok(const char *name, unsigned *index);

#endif
