/*
 * agg.h - external aggregation within a memory budget: the engine behind
 * map-side combining, reduce_by_key, group_by_key, join, distinct and sort.
 *
 * Records are copied into an arena as they are added. In AGG_COMBINE mode
 * a hash table keeps one entry per key and folds each new value into it
 * with the combine callback. When the bytes held pass opts.memory, the
 * held records are either handed to opts.flush (map-side combining: the
 * partial result simply goes out, the reduce side combines again) or
 * sorted by key and written to a run file in opts.spill_dir as LZ4 record
 * blocks (common/block.h). agg_finish then streams the result: from memory
 * when nothing was spilled, else by a k-way merge of the runs and what is
 * still in memory, folding equal keys together as the mode asks.
 *
 * Ownership: agg borrows opts (strings included) for its lifetime; emitted
 * slices are valid only during the emit call. agg_free removes every spill
 * file it made.
 */
#ifndef KILN_AGG_H
#define KILN_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

typedef enum agg_mode {
    AGG_SORT,    /* every record, in key order (ties: value order), reversed when descending */
    AGG_COMBINE, /* one record per key: the values folded by combine */
    AGG_GROUP,   /* one record per key: its values as a packed list
                    (varint(len) bytes, repeated; read with kiln_list_next) */
} agg_mode;

/* 0, or -1 to stop (the callback has recorded why). */
typedef int (*agg_emit_fn)(void *arg, kiln_slice key, kiln_slice val);
/* Folds b into a, writing the result to out. 0, or -1 to stop. */
typedef int (*agg_combine_fn)(void *arg, kiln_slice a, kiln_slice b, kiln_buf *out);

typedef struct agg_opts {
    agg_mode mode;
    size_t memory;          /* budget for held records, arena + index + table */
    const char *spill_dir;  /* created on the first spill; runs are unique files in it */
    int descending;         /* the whole order reversed: keys, and values in AGG_SORT */
    agg_combine_fn combine; /* AGG_COMBINE */
    void *combine_arg;
    /* AGG_COMBINE only, optional: instead of spilling, hand every held
     * record to flush (in no particular order) and start afresh. */
    agg_emit_fn flush;
    void *flush_arg;
} agg_opts;

typedef struct agg agg;

/* A new aggregator. NULL with a message when opts make no sense. */
agg *agg_new(const agg_opts *opts, char *err, size_t errlen);
/* Adds one record (copied). 0, or -1 with a message (out of memory, a
 * spill that cannot be written, combine or flush failing). */
int agg_add(agg *a, kiln_slice key, kiln_slice val, char *err, size_t errlen);
/* Ends input and emits the result in key order (AGG_COMBINE without spills
 * or with flush: any order). May be called once. 0, or -1 with a message
 * (err is left empty when emit stopped it). */
int agg_finish(agg *a, agg_emit_fn emit, void *arg, char *err, size_t errlen);
/* Frees everything and removes spill files. */
void agg_free(agg *a);

/* What it cost: runs written and their bytes (compressed, on disk). */
uint64_t agg_spills(const agg *a);
uint64_t agg_spill_bytes(const agg *a);

#endif
