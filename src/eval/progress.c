#include "eval/progress.h"
#include <time.h>

double afm_eval_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_time(double s, char *buf, size_t cap) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
}

static void draw(afm_progress *p) {
    if (!p->f) return;
    double el = afm_eval_now_s() - p->t0;
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    int w = 30, fill = (int)(frac * w);
    char bar[64];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[w] = '\0';
    char eta[32] = "?", ela[32];
    if (p->done > 0 && p->total > 0) fmt_time(el / (double)p->done * (double)(p->total - p->done), eta, sizeof eta);
    fmt_time(el, ela, sizeof ela);
    fprintf(p->f, "\r%s [%s] %lld/%lld %5.1f%% %.2f it/s elapsed %s ETA %s ", p->label, bar, (long long)p->done,
            (long long)p->total, 100 * frac, el > 0 ? (double)p->done / el : 0.0, ela, eta);
    fflush(p->f);
}

void afm_progress_start(afm_progress *p, FILE *f, const char *label, int64_t total) {
    p->f = f;
    p->label = label;
    p->total = total;
    p->done = 0;
    p->t0 = p->last = afm_eval_now_s();
    draw(p);
}

void afm_progress_step(afm_progress *p, int64_t n) {
    p->done += n;
    double t = afm_eval_now_s();
    if (t - p->last >= 0.25 || p->done >= p->total) { p->last = t; draw(p); }
}

void afm_progress_end(afm_progress *p) {
    draw(p);
    if (p->f) fputc('\n', p->f);
}
