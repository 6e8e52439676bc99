/* Minimal libafm program: load a GGUF model and stream a greedy continuation of a prompt.
 * Build: cc generate.c $(pkg-config --cflags --libs afm)
 * Usage: ./generate MODEL.gguf ["prompt"] */
#include <afm/afm.h>
#include <stdio.h>

static bool print_text(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s MODEL.gguf [PROMPT]\n", argv[0]); return 2; }
    const char *prompt = argc > 2 ? argv[2] : "Once upon a time";
    afm_model *m;
    afm_session *s;
    if (afm_model_load(argv[1], &m) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    if (afm_session_create(m, NULL, &s) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); afm_model_free(m); return 1; }
    afm_generate_params p = {.n_predict = 40, .sampler = afm_sampler_defaults()};
    p.sampler.temperature = 0; /* greedy */
    fputs(prompt, stdout);
    afm_status st = afm_generate(s, prompt, &p, print_text, NULL, NULL);
    putchar('\n');
    if (st != AFM_OK) fprintf(stderr, "error: %s\n", afm_last_error());
    afm_session_free(s);
    afm_model_free(m);
    return st == AFM_OK ? 0 : 1;
}
