/* afm plot RUN -o loss.png: the loss curves of a training run. */
#include <stdio.h>
#include <string.h>
#include "args.h"
#include "cli.h"
#include "train/plot.h"

int cmd_plot(int argc, char **argv) {
    const char *run = NULL, *out = "loss.png";
    long w = 1000, h = 560;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: afm plot RUN [-o loss.png] [--width W] [--height H]\n"
                   "  Draws train loss (raw, and a moving average) and validation loss against the step,\n"
                   "  with stage boundaries marked, from RUN/metrics.jsonl (or a metrics.jsonl file).\n");
            return 0;
        }
        if (arg_str(argc, argv, &i, "-o", "--output", &out, &bad)) continue;
        if (arg_int(argc, argv, &i, "--width", NULL, &w, &bad)) continue;
        if (arg_int(argc, argv, &i, "--height", NULL, &h, &bad)) continue;
        if (argv[i][0] == '-' || run) { fprintf(stderr, "error: unexpected argument '%s'\n", argv[i]); return 2; }
        run = argv[i];
    }
    if (bad) return 2;
    if (!run) { fprintf(stderr, "usage: afm plot RUN [-o loss.png]\n"); return 2; }
    if (w < 200 || h < 150 || w > 8000 || h > 8000) { fprintf(stderr, "error: size %ldx%ld out of range (200..8000 x 150..8000)\n", w, h); return 2; }
    afm_plot_summary sm;
    if (afm_plot_loss(run, out, (int)w, (int)h, &sm) != AFM_OK) return cli_fail("plot");
    fprintf(stderr, "wrote %s: %d train and %d validation points, %d stages", out, sm.n_train, sm.n_val, sm.n_stages);
    if (sm.n_bad_lines) fprintf(stderr, ", %d unreadable lines skipped", sm.n_bad_lines);
    fprintf(stderr, "; last train loss %.4f, last val loss %.4f\n", sm.last_train, sm.last_val);
    return 0;
}
