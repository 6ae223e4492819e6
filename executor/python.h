/*
 * python.h - the built-ins that run Python inside the executor.
 *
 * A Python job's stages are ordinary kiln stages whose functions are these
 * built-ins; their env carries the client's pickled Python function
 * (python/kiln/_stage.py says how it is laid out). The interpreter is
 * embedded (CPython's C API), started on the first Python task of an
 * executor and kept for the application's later tasks.
 *
 *   kiln_py_stage  map_partitions: runs a composed Python stage function
 *                  over the partition, records in and out in batches
 *   kiln_py_add    combine: a + b of encoded values, in C for ints and
 *                  floats, through Python's + for anything else
 */
#ifndef KILN_PYTHON_H
#define KILN_PYTHON_H

#include "kiln.h"
#include "runtime.h"

/* The Python built-in called name, or NULL. */
const rt_builtin *py_builtin_by_name(const char *name);

/* Flushes Python's sys.stdout and sys.stderr when the interpreter runs,
 * so what a task printed lands in its section of the executor log. */
void py_flush_stdio(void);

#endif
