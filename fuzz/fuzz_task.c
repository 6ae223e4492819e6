/*
 * fuzz_task.c - libFuzzer target: the executor's side of a task
 * (executor/task.c): stage_prog_new decoding and resolving a serialized
 * StageFunc, then task_run over one task input, with the built-in
 * functions only (no application library is loaded).
 *
 * Input: a little-endian u16 L, then L bytes of StageFunc, then a packed
 * TaskInput. Only what stays in memory runs: the task's pipeline must read
 * parallelized records or a range (of at most 100000 numbers), cache
 * nothing, and end in count, collect, take or reduce. Text files, shuffles,
 * cached partitions and save_text touch files and are skipped. So are stages
 * that call the Python built-ins (kiln_py_stage, kiln_py_add): they would
 * start the embedded interpreter and unpickle whatever bytes the mutation
 * left in their env; fuzz_pycodec covers the decoders on that side.
 *
 * Properties: a refused stage or a failed task comes with a message; every
 * result block the task sends opens and reads to its end.
 *
 * Seeds: fuzz/corpus/task/, stages the driver serializes for narrow jobs of
 * built-ins, with their task inputs (fuzz/mkcorpus.c).
 */
#include <string.h>

#include "block.h"
#include "fuzz.h"
#include "python.h"
#include "task.h"

#define MAX_RANGE 100000

/* Whether fn is one of the built-ins that run Python. */
static int is_python(const void *fn)
{
    static const char *const names[] = {"kiln_py_stage", "kiln_py_add"};
    for (size_t i = 0; fn && i < sizeof names / sizeof names[0]; i++)
        if (py_builtin_by_name(names[i])->fn == fn) return 1;
    return 0;
}

/* Whether any function of stage p runs Python. */
static int uses_python(const stage_prog *p)
{
    if (is_python(p->combine_fn) || is_python(p->write_combine.fn)) return 1;
    for (size_t i = 0; i < p->npipes; i++) {
        const rpipeline *pl = &p->pipes[i];
        if (is_python(pl->read_combine.fn)) return 1;
        for (size_t j = 0; j < pl->nops; j++)
            if (is_python(pl->ops[j].fn)) return 1;
    }
    return 0;
}

/* Whether task input `in` of stage p runs in memory only, without Python. */
static int in_memory(const stage_prog *p, const Kiln__TaskInput *in)
{
    if (uses_python(p)) return 0;
    if (in->pipeline >= p->npipes) return 1; /* refused by task_run itself */
    const rpipeline *pl = &p->pipes[in->pipeline];
    if (pl->source == KILN__NODE_KIND__NODE_RANGE) {
        if (in->range_end > in->range_start && (uint64_t)in->range_end - (uint64_t)in->range_start > MAX_RANGE)
            return 0;
    } else if (pl->source != KILN__NODE_KIND__NODE_PARALLELIZE) {
        return 0;
    }
    for (size_t i = 0; i < pl->nops; i++)
        if (pl->ops[i].kind == KILN__OP_KIND__OP_CACHE) return 0;
    switch (p->sf->output->kind) {
    case KILN__ACTION_KIND__ACTION_COUNT:
    case KILN__ACTION_KIND__ACTION_COLLECT:
    case KILN__ACTION_KIND__ACTION_TAKE:
    case KILN__ACTION_KIND__ACTION_REDUCE:
        return 1;
    default:
        return 0;
    }
}

/* The task's result blocks: each must be a good block. */
static int check_block(void *arg, const uint8_t *p, size_t n)
{
    char err[512];
    block_reader r;
    kiln_rec rec;
    int st;
    FUZZ_ASSERT(block_reader_open(&r, p, n, err, sizeof err) == 0);
    while ((st = block_reader_next(&r, &rec, err, sizeof err)) == 1)
        ;
    FUZZ_ASSERT(st == 0);
    block_reader_close(&r);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t len = (size_t)data[0] | (size_t)data[1] << 8;
    if (len > size - 2) return 0;
    char err[1024] = "";
    stage_prog *p = stage_prog_new(data + 2, len, NULL, err, sizeof err);
    if (!p) {
        FUZZ_ASSERT(err[0] != '\0');
        return 0;
    }
    Kiln__TaskInput *in = kiln__task_input__unpack(NULL, size - 2 - len, data + 2 + len);
    if (in && in_memory(p, in)) {
        Kiln__TaskLaunch t = KILN__TASK_LAUNCH__INIT;
        t.task_id = 1;
        t.app_id = "fuzz";
        t.work_dir = "/nonexistent";
        t.cache_dir = "/nonexistent";
        t.memory = 1u << 20;
        t.input = in;
        task_sink sink = {.block = check_block};
        task_result res;
        if (task_run(p, &t, &sink, NULL, &res) < 0) FUZZ_ASSERT(res.error[0] != '\0');
        task_result_release(&res);
    }
    if (in) kiln__task_input__free_unpacked(in, NULL);
    stage_prog_free(p);
    return 0;
}
