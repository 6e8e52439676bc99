#include "train/plot.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/canvas.h"
#include "base/error.h"
#include "base/file.h"
#include "base/png.h"

typedef struct { double x, y; } pt;
typedef struct { pt *p; int n, cap; } series;
typedef struct { double x; char name[32]; } boundary;

static int push(series *s, double x, double y) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        pt *np = realloc(s->p, (size_t)cap * sizeof(pt));
        if (!np) return 0;
        s->p = np;
        s->cap = cap;
    }
    s->p[s->n++] = (pt){x, y};
    return 1;
}

/* "nice" tick step: 1, 2 or 5 times a power of ten, giving about `want` ticks over range */
static double nice_step(double range, int want) {
    double raw = range / want, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void fmt_tick(char *buf, size_t n, double v, double step) {
    if (fabs(v) < step * 1e-6) v = 0;
    if (step >= 1 && fabs(v) < 1e7) snprintf(buf, n, "%.0f", v);
    else {
        int dec = (int)ceil(-log10(step));
        if (dec < 0) dec = 0;
        if (dec > 6) dec = 6;
        snprintf(buf, n, "%.*f", dec, v);
    }
}

afm_status afm_plot_loss(const char *run, const char *out_png, int W, int H, afm_plot_summary *summary) {
    char path[4096];
    if (afm_is_dir(run)) snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    else snprintf(path, sizeof path, "%s", run);
    char *text;
    size_t len;
    AFM_TRY(afm_read_file(path, &text, &len));
    series tr = {0}, va = {0};
    boundary bd[64];
    int nb = 0, bad = 0;
    char stage[32] = "";
    afm_status s = AFM_OK;
    for (char *line = text, *next; line && *line && s == AFM_OK; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (!*line) continue;
        cJSON *j = cJSON_Parse(line);
        cJSON *split = cJSON_GetObjectItem(j, "split"), *step = cJSON_GetObjectItem(j, "step"), *loss = cJSON_GetObjectItem(j, "loss");
        if (!cJSON_IsObject(j) || !cJSON_IsNumber(step) || !cJSON_IsNumber(loss) || !isfinite(loss->valuedouble)) {
            bad++;
            cJSON_Delete(j);
            continue;
        }
        bool is_val = cJSON_IsString(split) && !strcmp(split->valuestring, "val");
        if (!push(is_val ? &va : &tr, step->valuedouble, loss->valuedouble)) s = afm_error(AFM_ERR_NOMEM, "out of memory");
        cJSON *st = cJSON_GetObjectItem(j, "stage");
        if (!is_val && cJSON_IsString(st) && strncmp(st->valuestring, stage, sizeof stage - 1) && nb < 64) {
            snprintf(stage, sizeof stage, "%s", st->valuestring);
            bd[nb].x = step->valuedouble;
            snprintf(bd[nb].name, sizeof bd[nb].name, "%s", st->valuestring);
            nb++;
        }
        cJSON_Delete(j);
    }
    free(text);
    if (s == AFM_OK && tr.n + va.n == 0)
        s = afm_error(AFM_ERR_FORMAT, "%s has no training or validation losses to plot (%d unreadable lines)", path, bad);
    afm_canvas c = {0};
    if (s == AFM_OK) s = afm_canvas_create(&c, W, H, (afm_rgb){255, 255, 255});
    if (s == AFM_OK) {
        double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
        series *all[2] = {&tr, &va};
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < all[k]->n; i++) {
                x0 = fmin(x0, all[k]->p[i].x); x1 = fmax(x1, all[k]->p[i].x);
                y0 = fmin(y0, all[k]->p[i].y); y1 = fmax(y1, all[k]->p[i].y);
            }
        if (x1 <= x0) x1 = x0 + 1;
        if (y1 <= y0) { y0 -= 0.5; y1 += 0.5; }
        double pad = (y1 - y0) * 0.05;
        y0 -= pad;
        y1 += pad;
        int L = 90, R = W - 24, T = 48, B = H - 64; /* plot area */
        afm_rgb ink = {40, 40, 40}, grid = {225, 225, 225}, blue = {31, 119, 180}, lblue = {160, 200, 230},
                red = {214, 39, 40}, gray = {120, 120, 120};
#define PX(x) (L + ((x) - x0) / (x1 - x0) * (R - L))
#define PY(y) (B - ((y) - y0) / (y1 - y0) * (B - T))
        char buf[64];
        double xs = nice_step(x1 - x0, 8), ys = nice_step(y1 - y0, 6);
        for (double v = ceil(x0 / xs) * xs; v <= x1 + 1e-9 * xs; v += xs) {
            afm_canvas_line(&c, PX(v), T, PX(v), B, 1, 0, grid);
            fmt_tick(buf, sizeof buf, v, xs);
            afm_canvas_text(&c, (int)PX(v) - afm_canvas_text_width(buf, 2) / 2, B + 8, buf, 2, ink);
        }
        for (double v = ceil(y0 / ys) * ys; v <= y1 + 1e-9 * ys; v += ys) {
            afm_canvas_line(&c, L, PY(v), R, PY(v), 1, 0, grid);
            fmt_tick(buf, sizeof buf, v, ys);
            afm_canvas_text(&c, L - 8 - afm_canvas_text_width(buf, 2), (int)PY(v) - 7, buf, 2, ink);
        }
        for (int i = 0; i < nb; i++) {
            if (i > 0) afm_canvas_line(&c, PX(bd[i].x), T, PX(bd[i].x), B, 2, 6, gray);
            int tx = (int)PX(bd[i].x) + 6, tw = afm_canvas_text_width(bd[i].name, 2);
            if (tx + tw > R) tx = (int)PX(bd[i].x) - 6 - tw; /* keep the label inside the plot */
            afm_canvas_text(&c, tx, T + 6 + (i % 2) * 18, bd[i].name, 2, gray);
        }
        /* raw train loss, then its moving average over ~1/40 of the run */
        for (int i = 1; i < tr.n; i++) afm_canvas_line(&c, PX(tr.p[i - 1].x), PY(tr.p[i - 1].y), PX(tr.p[i].x), PY(tr.p[i].y), 1, 0, lblue);
        int win = tr.n / 40 > 1 ? tr.n / 40 : 1;
        double prev_x = 0, prev_y = 0, acc = 0;
        for (int i = 0; i < tr.n; i++) {
            acc += tr.p[i].y;
            if (i >= win) acc -= tr.p[i - win].y;
            double avg = acc / (i + 1 < win ? i + 1 : win);
            if (i > 0) afm_canvas_line(&c, PX(prev_x), PY(prev_y), PX(tr.p[i].x), PY(avg), 3, 0, blue);
            prev_x = tr.p[i].x;
            prev_y = avg;
        }
        for (int i = 0; i < va.n; i++) {
            if (i > 0) afm_canvas_line(&c, PX(va.p[i - 1].x), PY(va.p[i - 1].y), PX(va.p[i].x), PY(va.p[i].y), 2, 0, red);
            afm_canvas_rect(&c, (int)PX(va.p[i].x) - 4, (int)PY(va.p[i].y) - 4, (int)PX(va.p[i].x) + 4, (int)PY(va.p[i].y) + 4, red);
        }
#undef PX
#undef PY
        afm_canvas_line(&c, L, B, R, B, 2, 0, ink);
        afm_canvas_line(&c, L, T, L, B, 2, 0, ink);
        afm_canvas_text(&c, (L + R) / 2 - afm_canvas_text_width("step", 2) / 2, H - 26, "step", 2, ink);
        afm_canvas_text(&c, 8, 12, "loss", 2, ink);
        /* legend */
        int lx = R - 230, ly = 10;
        afm_canvas_rect(&c, lx, ly + 6, lx + 24, ly + 8, blue);
        afm_canvas_text(&c, lx + 30, ly, "train (avg)", 2, ink);
        if (va.n) {
            afm_canvas_rect(&c, lx + 170, ly + 3, lx + 178, ly + 11, red);
            afm_canvas_text(&c, lx + 186, ly, "val", 2, ink);
        }
        s = afm_png_write_rgb(out_png, W, H, c.rgb);
    }
    if (summary) {
        summary->n_train = tr.n;
        summary->n_val = va.n;
        summary->n_stages = nb;
        summary->n_bad_lines = bad;
        summary->last_train = tr.n ? tr.p[tr.n - 1].y : NAN;
        summary->last_val = va.n ? va.p[va.n - 1].y : NAN;
    }
    afm_canvas_free(&c);
    free(tr.p);
    free(va.p);
    return s;
}
