/*
 * fuzz_jobplan.c - libFuzzer target: what the driver does with a client's
 * JobSubmit (driver/sched.c, job_start): msg_decode and msg_validate, then
 * job_plan_make (driver/stages.c) cutting the lineage graph into stages,
 * and stage_serialize of every stage with its output (the job's action, or
 * the shuffle write of a map stage), as the scheduler launches them. The
 * graph is hostile input: cycles, unknown parents, unions that double
 * pipelines, huge partition counts.
 *
 * Input: one envelope (a frame payload); anything but a job_submit is
 * skipped after decoding. Nodes with an odd id count as cached on the
 * workers, so NODE_CACHED sources are planned too.
 *
 * Properties: a refused graph comes with a message; each serialized stage
 * decodes as a StageFunc with the plan's pipelines, one task input per
 * task, and a hash of its bytes.
 *
 * Seeds: fuzz/corpus/jobplan/, job submits of narrow and wide graphs
 * (fuzz/mkcorpus.c).
 */
#include <string.h>

#include "fuzz.h"
#include "hash.h"
#include "msg.h"
#include "stages.h"

static int odd_is_cached(void *arg, const job_plan *jp, const Kiln__Node *n)
{
    (void)plan_partitions(jp, n);
    return n->id & 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    Kiln__Envelope *e = msg_decode(data, size, err, sizeof err);
    if (!e) return 0;
    if (e->body_case != KILN__ENVELOPE__BODY_JOB_SUBMIT) {
        msg_free(e);
        return 0;
    }
    const Kiln__JobSubmit *js = e->job_submit;
    job_plan jp;
    if (job_plan_make(js, odd_is_cached, NULL, &jp, err, sizeof err) < 0) {
        FUZZ_ASSERT(err[0] != '\0');
        msg_free(e);
        return 0;
    }
    FUZZ_ASSERT(jp.nstages >= 1 && !jp.stages[0].is_map);
    stage_stats stats = {0};
    for (size_t i = 0; i < jp.nstages; i++) {
        const plan_stage *ps = &jp.stages[i];
        Kiln__ShuffleWrite sw;
        Kiln__Action shuffle_out = KILN__ACTION__INIT;
        const Kiln__Action *output = js->action;
        if (ps->is_map) {
            plan_shuffle_write(ps, &sw);
            shuffle_out.kind = KILN__ACTION_KIND__ACTION_SHUFFLE_WRITE;
            shuffle_out.shuffle = &sw;
            output = &shuffle_out;
        }
        stage_plan sp;
        err[0] = '\0';
        if (stage_serialize(&jp, i, (uint32_t)i + 1, output, 1u << 20, &stats, &sp, err, sizeof err) < 0) {
            FUZZ_ASSERT(err[0] != '\0');
            continue;
        }
        FUZZ_ASSERT(sp.ntasks == ps->ntasks && (sp.ntasks == 0 || sp.inputs != NULL));
        for (size_t t = 0; t < sp.ntasks; t++)
            FUZZ_ASSERT(sp.inputs != NULL && sp.inputs[t].pipeline < ps->npipes);
        char hex[HASH_HEX_LEN + 1];
        hash_sha256_hex(sp.bytes, sp.len, hex);
        FUZZ_ASSERT(strcmp(hex, sp.hash) == 0);
        Kiln__StageFunc *sf = kiln__stage_func__unpack(NULL, sp.len, sp.bytes);
        FUZZ_ASSERT(sf != NULL);
        FUZZ_ASSERT(sf->n_pipelines == ps->npipes && sf->output != NULL);
        kiln__stage_func__free_unpacked(sf, NULL);
        stage_plan_release(&sp);
    }
    job_plan_release(&jp);
    msg_free(e);
    return 0;
}
