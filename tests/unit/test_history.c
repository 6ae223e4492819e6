/*
 * test_history.c - unit tests of the driver's UI records (driver/history.c)
 * and pages (driver/ui.c) over hand-made jobs: every stage's tasks are
 * counted, per-stage progress reads map stages first, a worker never runs
 * more than its slots, outcomes, the stage graph (an edge that skips
 * columns crosses no box; planned stages are named so), and names with
 * markup stay escaped.
 */
#include <check.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "http.h"

/* A job of a 16-map stage (index 1, writes shuffle 7) and a 4-task result stage reading it. */
static job *two_stage_job(app *a)
{
    job *j = calloc(1, sizeof *j);
    j->app = a;
    j->job_id = 1;
    j->state = JOB_RUNNING;
    j->nstages = 2;
    j->stages = calloc(2, sizeof *j->stages);
    for (size_t i = 0; i < 2; i++) {
        j->stages[i].job = j;
        j->stages[i].index = i;
    }
    dstage *res = &j->stages[0], *map = &j->stages[1];
    res->rec.ntasks = 4;
    snprintf(res->rec.kind, sizeof res->rec.kind, "count");
    res->rec.nreads = 1;
    res->rec.reads = calloc(1, sizeof *res->rec.reads);
    res->rec.reads[0] = 7;
    map->rec.ntasks = 16;
    map->rec.is_map = 1;
    map->rec.writes = 7;
    snprintf(map->rec.kind, sizeof map->rec.kind, "shuffle_write");
    map->state = STAGE_RUNNING;
    map->ndone = 5;
    map->id = 1;
    return j;
}

static void free_job(job *j)
{
    for (size_t i = 0; i < j->nstages; i++)
        stage_record_release(&j->stages[i].rec);
    free(j->stages);
    free(j);
}

START_TEST(test_counts_every_stage)
{
    app a;
    memset(&a, 0, sizeof a);
    job *j = two_stage_job(&a);
    size_t total, done;
    char buf[64];
    job_task_counts(j, &total, &done);
    ck_assert_uint_eq(total, 20); /* not the result stage's 4 */
    ck_assert_uint_eq(done, 5);
    ck_assert_str_eq(job_stage_progress(j, buf, sizeof buf), "5/16 0/4");
    /* the map stage finished, the result stage runs */
    j->stages[1].state = STAGE_DONE;
    j->stages[0].state = STAGE_RUNNING;
    j->stages[0].ndone = 1;
    job_task_counts(j, &total, &done);
    ck_assert_uint_eq(done, 17);
    ck_assert_str_eq(job_stage_progress(j, buf, sizeof buf), "16/16 1/4");
    /* a stage an earlier job wrote is not counted */
    j->stages[1].rec.skipped = 1;
    job_task_counts(j, &total, &done);
    ck_assert_uint_eq(total, 4);
    ck_assert_str_eq(job_stage_progress(j, buf, sizeof buf), "skipped 1/4");
    /* a sampling pass is not the stage's progress */
    j->stages[1].rec.skipped = 0;
    j->stages[1].state = STAGE_SAMPLING;
    j->stages[0].state = STAGE_WAITING;
    job_task_counts(j, &total, &done);
    ck_assert_uint_eq(done, 0);
    /* a short buffer is cut */
    char small[4];
    job_stage_progress(j, small, sizeof small);
    ck_assert_uint_lt(strlen(small), sizeof small);
    free_job(j);
}
END_TEST

START_TEST(test_worker_running_within_slots)
{
    dworker w;
    memset(&w, 0, sizeof w);
    w.slots = 2;
    w.running = 4; /* two in flight per slot */
    ck_assert_uint_eq(worker_running(&w), 2);
    ck_assert_uint_eq(worker_queued(&w), 2);
    w.running = 1;
    ck_assert_uint_eq(worker_running(&w), 1);
    ck_assert_uint_eq(worker_queued(&w), 0);
}
END_TEST

START_TEST(test_outcomes)
{
    app a;
    memset(&a, 0, sizeof a);
    ck_assert_str_eq(app_outcome(&a), "running");
    a.ended = 1;
    ck_assert_str_eq(app_outcome(&a), "succeeded");
    a.failed = 1;
    ck_assert_str_eq(app_outcome(&a), "failed");
    a.killed = 1;
    ck_assert_str_eq(app_outcome(&a), "killed");
}
END_TEST

static char *drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

START_TEST(test_pages_escape_names)
{
    driver d;
    memset(&d, 0, sizeof d);
    app *a = calloc(1, sizeof *a);
    snprintf(a->id, sizeof a->id, "app-1");
    snprintf(a->name, sizeof a->name, "<img src=x onerror=alert(1)>.so");
    job *j = two_stage_job(a);
    snprintf(j->error, sizeof j->error, "</td><script>alert('e')</script>");
    j->state = JOB_FAILED;
    j->stages[1].rec.fn_names = strdup("<b>f</b>");
    a->jobs = j;
    a->njobs = 1;
    d.apps = a;
    dworker w;
    memset(&w, 0, sizeof w);
    snprintf(w.name, sizeof w.name, "<script>w</script>");
    snprintf(w.host, sizeof w.host, "\"><script>h</script>");
    w.http_port = 1;
    w.slots = 2;
    d.workers = &w;
    struct evbuffer *b = evbuffer_new();
    ui_apps(&d, b);
    ui_app(&d, b, a);
    ui_job(&d, b, j);
    ui_stage(&d, b, &j->stages[1]);
    ui_workers(&d, b);
    char *html = drain(b);
    ck_assert_ptr_null(strstr(html, "<img"));
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "<b>f"));
    ck_assert_ptr_nonnull(strstr(html, "&lt;img src=x onerror=alert(1)&gt;.so"));
    ck_assert_ptr_nonnull(strstr(html, "&lt;/td&gt;&lt;script&gt;alert(&#39;e&#39;)&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(html, "&quot;&gt;&lt;script&gt;h&lt;/script&gt;"));
    free(html);
    /* the graph: a box per stage, an arrow from the map stage to the result stage */
    ui_stage_graph(b, j);
    char *svg = drain(b);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    size_t rects = 0, lines = 0;
    for (char *p = svg; (p = strstr(p, "<rect")); p++)
        rects++;
    for (char *p = svg; (p = strstr(p, "<line")); p++)
        lines++;
    ck_assert_uint_eq(rects, 2);
    ck_assert_uint_eq(lines, 1);
    ck_assert_ptr_nonnull(strstr(svg, "5/16 tasks"));
    free(svg);
    evbuffer_free(b);
    free_job(j);
    free(a);
}
END_TEST

/* Whether the point (x, y) is inside one of the graph's boxes. */
static int in_box(const char *svg, double x, double y)
{
    for (const char *p = svg; (p = strstr(p, "<rect")); p++) {
        unsigned rx, ry, rw, rh;
        if (sscanf(p, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\"", &rx, &ry, &rw, &rh) == 4 && x > rx + 0.5 &&
            x < rx + rw - 0.5 && y > ry + 0.5 && y < ry + rh - 0.5)
            return 1;
    }
    return 0;
}

/* Whether the segment crosses a box (sampled densely). */
static int segment_hits_box(const char *svg, double x1, double y1, double x2, double y2)
{
    for (int t = 0; t <= 400; t++) {
        double x = x1 + (x2 - x1) * t / 400.0, y = y1 + (y2 - y1) * t / 400.0;
        if (in_box(svg, x, y)) return 1;
    }
    return 0;
}

/* stage 1 (a map) feeds stage 3, stage 3 feeds stage 4, and the result
 * stage 5 reads both 4 and 1: the edge 1 -> 5 skips two columns. */
START_TEST(test_graph_edges_avoid_boxes)
{
    app a;
    memset(&a, 0, sizeof a);
    job *j = calloc(1, sizeof *j);
    j->app = &a;
    j->job_id = 1;
    j->nstages = 4;
    j->stages = calloc(4, sizeof *j->stages);
    uint32_t reads[4][2] = {{3, 1}, {2, 0}, {1, 0}, {0, 0}};
    size_t nreads[4] = {2, 1, 1, 0};
    for (size_t i = 0; i < 4; i++) {
        dstage *st = &j->stages[i];
        st->job = j;
        st->index = i;
        st->id = i == 3 ? 1 : 0; /* the others are planned, not started */
        st->rec.ntasks = 2;
        st->rec.is_map = i > 0;
        st->rec.writes = (uint32_t)(4 - i); /* stage i writes shuffle 4 - i */
        snprintf(st->rec.kind, sizeof st->rec.kind, i ? "shuffle_write" : "collect");
        st->rec.nreads = nreads[i];
        st->rec.reads = calloc(2, sizeof *st->rec.reads);
        memcpy(st->rec.reads, reads[i], sizeof reads[i]);
    }
    struct evbuffer *b = evbuffer_new();
    ui_stage_graph(b, j);
    char *svg = drain(b);
    size_t edges = 0;
    for (char *p = svg; (p = strstr(p, "<line")); p++) {
        unsigned x1, y1, x2, y2;
        ck_assert_int_eq(sscanf(p, "<line x1=\"%u\" y1=\"%u\" x2=\"%u\" y2=\"%u\"", &x1, &y1, &x2, &y2), 4);
        ck_assert_msg(!segment_hits_box(svg, x1, y1, x2, y2), "a straight edge crosses a box: %.200s", p);
        edges++;
    }
    for (char *p = svg; (p = strstr(p, "<path class=\"edge\" d=\"")); p++) {
        unsigned x0, y0, h1, v1, h2, v2, h3;
        ck_assert_int_eq(sscanf(p, "<path class=\"edge\" d=\"M%u,%u H%u V%u H%u V%u H%u\"", &x0, &y0, &h1, &v1, &h2,
                                &v2, &h3),
                         7);
        double pts[6][2] = {{x0, y0}, {h1, y0}, {h1, v1}, {h2, v1}, {h2, v2}, {h3, v2}};
        for (int k = 0; k < 5; k++)
            ck_assert_msg(!segment_hits_box(svg, pts[k][0], pts[k][1], pts[k + 1][0], pts[k + 1][1]),
                          "a routed edge crosses a box: %.200s", p);
        edges++;
    }
    ck_assert_uint_eq(edges, 4);
    ck_assert_ptr_nonnull(strstr(svg, ">stage 1<"));
    ck_assert_ptr_nonnull(strstr(svg, ">planned stage<"));
    ck_assert_ptr_null(strstr(svg, "stage -"));
    free(svg);
    evbuffer_free(b);
    free_job(j);
}
END_TEST

START_TEST(test_prune_bounds_memory)
{
    driver d;
    memset(&d, 0, sizeof d);
    d.log.fd = -1;
    conf_init(&d.conf);
    const int max = (int)d.conf.history_max_apps;
    /* newest first, as rpc.c links them: one running, history.max_apps + 5 ended */
    for (int i = 0; i < max + 6; i++) {
        app *a = calloc(1, sizeof *a);
        snprintf(a->id, sizeof a->id, "app-%d", i);
        a->ended = i != max + 5;
        a->next = d.apps;
        d.apps = a;
    }
    history_prune(&d, NULL);
    size_t n = 0, running = 0;
    for (app *a = d.apps; a; a = a->next) {
        n++;
        running += !a->ended;
    }
    ck_assert_uint_eq(n, max + 1); /* the running one stays */
    ck_assert_uint_eq(running, 1);
    char newest[32];
    snprintf(newest, sizeof newest, "app-%d", max + 4);
    ck_assert_str_eq(d.apps->next->id, newest); /* the newest ended ones stay */
    while (d.apps) {
        app *a = d.apps;
        d.apps = a->next;
        app_free(a);
    }
    conf_release(&d.conf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_counts_every_stage);
    tcase_add_test(tc, test_worker_running_within_slots);
    tcase_add_test(tc, test_outcomes);
    tcase_add_test(tc, test_pages_escape_names);
    tcase_add_test(tc, test_graph_edges_avoid_boxes);
    tcase_add_test(tc, test_prune_bounds_memory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
