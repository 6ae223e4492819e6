/*
 * metrics.c - the Prometheus text format (see metrics.h): families,
 * samples, label escaping, fixed-bucket histograms. No daemon state; the
 * daemons own their counters and call these to print them. The one idea:
 * a histogram keeps per-bucket counts and is made cumulative only when
 * printed, so an observation touches one bucket.
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "build_commit.h"
#include "version.h"

const double histogram_bounds[HISTOGRAM_NBOUNDS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                    1,     2.5,  5,     10,   30,  60,   300};

void histogram_observe(histogram *h, double v)
{
    size_t i = 0;
    while (i < HISTOGRAM_NBOUNDS && v > histogram_bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum += v;
}

void metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    fprintf(f, "\n# TYPE %s %s\n", name, type);
}

static void put_value(FILE *f, double v)
{
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", f);
    else if (v == floor(v) && fabs(v) < 9e15)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.9g", v);
}

void metrics_sample(FILE *f, const char *name, const char *labels, double v)
{
    if (labels && *labels)
        fprintf(f, "%s{%s} ", name, labels);
    else
        fprintf(f, "%s ", name);
    put_value(f, v);
    fputc('\n', f);
}

char *metrics_label(char *buf, size_t len, const char *key, const char *value)
{
    if (!len) return buf;
    size_t k = (size_t)snprintf(buf, len, "%s=\"", key);
    if (k >= len) k = len - 1;
    for (const char *p = value ? value : ""; *p && k + 3 < len; p++) {
        if (*p == '\\' || *p == '"') {
            buf[k++] = '\\';
            buf[k++] = *p;
        } else if (*p == '\n') {
            buf[k++] = '\\';
            buf[k++] = 'n';
        } else {
            buf[k++] = *p;
        }
    }
    if (k + 1 < len) buf[k++] = '"';
    buf[k] = '\0';
    return buf;
}

void metrics_histogram(FILE *f, const char *name, const char *labels, const histogram *h)
{
    char series[256], lab[512];
    const char *sep = labels && *labels ? "," : "";
    snprintf(series, sizeof series, "%s_bucket", name);
    uint64_t cum = 0;
    for (size_t i = 0; i <= HISTOGRAM_NBOUNDS; i++) {
        cum += h->buckets[i];
        if (i < HISTOGRAM_NBOUNDS)
            snprintf(lab, sizeof lab, "%s%sle=\"%g\"", labels ? labels : "", sep, histogram_bounds[i]);
        else
            snprintf(lab, sizeof lab, "%s%sle=\"+Inf\"", labels ? labels : "", sep);
        metrics_sample(f, series, lab, (double)cum);
    }
    snprintf(series, sizeof series, "%s_sum", name);
    metrics_sample(f, series, labels, h->sum);
    snprintf(series, sizeof series, "%s_count", name);
    metrics_sample(f, series, labels, (double)h->count);
}

uint64_t metrics_rss_bytes(pid_t pid)
{
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/statm");
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long size = 0, rss = 0;
    int n = fscanf(f, "%llu %llu", &size, &rss);
    fclose(f);
    if (n != 2) return 0;
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

void metrics_counter(FILE *f, const char *name, const char *help, uint64_t v)
{
    metrics_family(f, name, "counter", help);
    metrics_sample(f, name, NULL, (double)v);
}

void metrics_gauge(FILE *f, const char *name, const char *help, double v)
{
    metrics_family(f, name, "gauge", help);
    metrics_sample(f, name, NULL, v);
}

void metrics_process(FILE *f, uint64_t started_wall_ms)
{
    char lab[256], v[96], c[96];
    metrics_family(f, "kiln_build_info", "gauge", "The kiln version and commit this program was built from.");
    snprintf(lab, sizeof lab, "%s,%s", metrics_label(v, sizeof v, "version", KILN_VERSION),
             metrics_label(c, sizeof c, "commit", KILN_COMMIT));
    metrics_sample(f, "kiln_build_info", lab, 1);
    metrics_gauge(f, "process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.",
                  (double)(started_wall_ms / 1000)); /* whole seconds: no exponent in the text */
}
