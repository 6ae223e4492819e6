/*
 * client.h - libkiln's inside: the context behind kiln_ctx, the session with
 * the driver (session.c), and what the CLI (kiln.c) calls to set one up.
 *
 * The client is synchronous: one connection to the driver, blocking frame
 * I/O, one action at a time, as the public API is.
 */
#ifndef KILN_CLIENT_H
#define KILN_CLIENT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "hash.h"
#include "kiln.h"
#include "kiln.pb-c.h"
#include "msg.h"
#include "split.h"

struct kiln_rdd {
    kiln_ctx *ctx;
    uint32_t id;
    Kiln__NodeKind kind;
    kiln_rdd *parents[2];
    size_t nparents;
    char *symbol; /* owned */
    char *label;  /* owned, or NULL: what messages call the function (a Python stage's functions) */
    int builtin;
    uint8_t *env; /* owned copy */
    size_t env_len;
    uint32_t partitions;
    text_split_list splits; /* text_file */
    uint8_t **blocks;       /* parallelize: sealed blocks, owned */
    size_t *block_lens;
    size_t nblocks;
    int64_t range_start, range_end;
    int ascending; /* sort_by_key */
    int cached;    /* kiln_cache */
    int barrier;   /* its stage runs all its tasks at once (Python's rdd.barrier()) */
};

typedef struct client_term {
    char *name;    /* owned */
    uint8_t *data; /* owned */
    size_t len;
} client_term;

typedef struct client_bcast {
    uint8_t id[32];
    char hex[HASH_HEX_LEN + 1];
    uint8_t *data; /* the client's own copy, for kiln_bcast_value here */
    size_t len;
} client_bcast;

struct kiln_ctx {
    int fd;
    msg_reader rd;
    seal seal; /* with a secret: the connection's keys (rd opens with seal.rx) */
    char app_id[64];
    char ui[160]; /* the application's page on the driver's UI, or "" */
    const void *app_base; /* load address of the application's library */
    char app_path[4096];
    char err[4096];
    kiln_rdd **rdds;
    size_t nrdds;
    client_bcast *bcasts;
    size_t nbcasts;
    Kiln__Conf **conf;
    size_t nconf;
    char **counter_names;
    int64_t *counter_values;
    double *counter_reals;
    size_t ncounters;
    /* custom accumulators' task values (Counter.terms) received and not
     * yet taken by the package (python/_kiln.c take_terms), in arrival order */
    client_term *terms;
    size_t nterms;
    uint32_t http_port; /* the driver's HTTP port, from AppRegistered.ui_port (0: not told) */
    uint32_t job_seq;
    int progress; /* stderr is a terminal */
    int dead;     /* the connection failed: every action fails */
};

/* Connects to the driver at hostport, authenticating with secret (borrowed;
 * NULL or empty: none), registers the application whose library is at
 * lib_path (uploading it when the driver lacks it; NULL: an application
 * without a library, whose stages call built-ins only: a Python job) under
 * app_name (NULL: the library's file name).
 * conf: "key=value" strings for every job. NULL with a message. */
/* kiln_save_text with a codec: NULL or "" plain text, "gzip" for
 * DIR/part-NNNNN.gz parts; any other fails. 0, or -1 (kiln_errmsg). */
int client_save_text(kiln_rdd *rdd, const char *dir, const char *codec);

kiln_ctx *client_ctx_new(const char *hostport, const auth_secret *secret, const char *app_name, const char *lib_path,
                         const void *app_base, char *const *conf, size_t nconf, char *err, size_t errlen);
void client_ctx_free(kiln_ctx *ctx);

/* The narrow and reduce transformations with a built-in named by name
 * rather than a function pointer: the built-ins of Python jobs live in the
 * executor only (executor/python.c), so the client knows them by name.
 * label (copied; NULL: none) is what the driver's messages call it. */
kiln_rdd *client_map_partitions_builtin(kiln_rdd *rdd, const char *name, kiln_slice env, const char *label);
kiln_rdd *client_reduce_by_key_builtin(kiln_rdd *rdd, const char *name, kiln_slice env, int partitions);
/* A shuffle into partitions whose records each name their partition: a
 * key is the partition number (4 bytes big-endian) then the key kept. */
kiln_rdd *client_partition_by(kiln_rdd *rdd, int partitions);

/* Sets ctx->err; returns -1. */
int client_fail(kiln_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Uploads a blob with BlobPut pieces and waits for BlobPutDone. 0 or -1. */
int client_upload(kiln_ctx *ctx, Kiln__BlobKind kind, const char *hash, const uint8_t *p, size_t n);

/* Results of one job, per partition. */
typedef struct part_result {
    uint32_t attempt;
    uint8_t **blocks;
    size_t *lens;
    size_t n;
} part_result;

typedef struct job_result {
    uint64_t count;
    part_result *parts;
    size_t nparts;
    /* save_text: per partition, the attempt to commit (owned) */
    uint64_t *commit_tasks;
    uint32_t *commit_attempts;
    size_t ncommit;
} job_result;

/* Sends the job for target with action and waits for its end.
 * 0, or -1 with ctx->err set. */
int client_run_job(kiln_ctx *ctx, kiln_rdd *target, Kiln__Action *action, job_result *res);
/* The same for only the result partitions parts[0..nparts) (borrowed;
 * ascending, each once; NULL, 0: all). Map stages they read run whole. */
int client_run_job_parts(kiln_ctx *ctx, kiln_rdd *target, Kiln__Action *action, const uint32_t *parts, size_t nparts,
                         job_result *res);
void job_result_release(job_result *res);

/* collect (limit SIZE_MAX) or take(limit) of rdd's result partitions
 * parts[0..nparts) (borrowed, ascending; NULL, 0: all), in partition order,
 * at most limit records. 0, or -1 with the context's message. */
int client_collect_parts(kiln_rdd *rdd, size_t limit, const uint32_t *parts, size_t nparts, kiln_recs *out);

/* One InfoRequest/KillApp round trip for the CLI over a fresh connection
 * (secret as for client_ctx_new). */
/* Adds the next step to a message about reaching the driver at hostport
 * (in err, which holds errlen bytes): for a refused connection, how to
 * start kiln-driver or run local[2]; for a failed authentication of a
 * user who cannot read the service's secret, how to join its group. */
void client_hint(const char *hostport, char *err, size_t errlen);
Kiln__Envelope *client_query(const char *hostport, const auth_secret *secret, Kiln__Envelope *req, char *err,
                             size_t errlen);

/* ---- local.c: local[N] ---- */
typedef struct local_cluster {
    char dir[PATH_MAX];
    pid_t driver, worker;
    char master[64];
    char secret_file[PATH_MAX + 16]; /* the cluster's secret: the caller's, or dir/secret made for it */
    auth_secret secret;              /* loaded from secret_file, for the caller's connections (owned) */
    pid_t cleaner;                   /* removes dir once the caller is gone, however it ends */
    int cleaner_fd;                  /* the write end of its pipe: closing it (or dying) says "gone" */
} local_cluster;

/* 1 when m is "local", "local[N]" (1..1024) or "local[*]" (slots: N, or
 * the online cores); -1 when it starts "local[" but is none of these
 * ("local[abc]"); 0 for a driver's address. */
int local_parse(const char *m, int *slots);
/* Starts the private daemons (binaries in bindir; NULL: next to this
 * executable, else on PATH) and waits until the worker has registered.
 * Their secret is secret_file when given (non-empty), else a fresh one
 * made (0600) in the cluster's directory; either way lc->secret_file names
 * it and lc->secret holds it for the caller's connections. 0, or -1 with
 * err (nothing left behind). */
int local_start(local_cluster *lc, const char *bindir, int slots, const char *secret_file, char *err, size_t errlen);
/* Ends the daemons, removes the directory (and the secret made in it) and
 * releases lc->secret. */
void local_stop(local_cluster *lc);

/* logs.c: `kiln logs` with its arguments after "logs"; master and
 * secret_file are the defaults its flags override. Returns the exit status. */
int client_logs_main(int argc, char **argv, const char *master, const char *secret_file);

#endif
