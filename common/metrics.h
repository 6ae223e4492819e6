/*
 * metrics.h - the Prometheus text exposition format (version 0.0.4) for
 * the driver's and the workers' /metrics: metric families, samples with
 * escaped label values, histograms over fixed buckets; and the resident
 * memory of a process. Formatting is pure (it writes to a FILE *, e.g. an
 * open_memstream); metrics_rss_bytes reads /proc.
 */
#ifndef KILN_METRICS_H
#define KILN_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Upper bounds (seconds) of a task-duration histogram's buckets, then +Inf. */
#define HISTOGRAM_NBOUNDS 14
extern const double histogram_bounds[HISTOGRAM_NBOUNDS];

/* Counts per bucket (not cumulative: metrics_histogram sums them), plus
 * the +Inf bucket at [HISTOGRAM_NBOUNDS]. Zeroed is empty. */
typedef struct histogram {
    uint64_t buckets[HISTOGRAM_NBOUNDS + 1];
    uint64_t count;
    double sum;
} histogram;

/* Counts one observation v (seconds) in the first bucket whose bound is >= v. */
void histogram_observe(histogram *h, double v);

/* Writes "# HELP name help" and "# TYPE name type" (type: counter, gauge,
 * histogram). help is written with backslashes and newlines escaped. */
void metrics_family(FILE *f, const char *name, const char *type, const char *help);

/* Writes one sample "name{labels} value". labels is NULL or "" for none,
 * else label pairs already escaped (metrics_label). Integral values are
 * written without an exponent. */
void metrics_sample(FILE *f, const char *name, const char *labels, double v);

/* A family of one unlabelled sample: a counter, a gauge. */
void metrics_counter(FILE *f, const char *name, const char *help, uint64_t v);
void metrics_gauge(FILE *f, const char *name, const char *help, double v);

/* Writes key="value" into buf (len bytes; truncated, never unterminated)
 * with value escaped for a label: backslash, double quote and newline.
 * Returns buf. */
char *metrics_label(char *buf, size_t len, const char *key, const char *value);

/* Writes the histogram's samples: name_bucket{labels,le="..."} (cumulative,
 * ending with le="+Inf"), name_sum and name_count. */
void metrics_histogram(FILE *f, const char *name, const char *labels, const histogram *h);

/* Resident set size of process pid (0: this process) in bytes, from
 * /proc/PID/statm; 0 when it cannot be read. */
uint64_t metrics_rss_bytes(pid_t pid);

/* What every daemon's /metrics starts with: kiln_build_info{version,
 * commit} 1 and process_start_time_seconds (started_wall_ms, the wall
 * clock at start, in ms since the epoch). */
void metrics_process(FILE *f, uint64_t started_wall_ms);

#endif
