/* afm init --shape SHAPE.json [--type T] [--seed S] [--tokenizer FILE] -o OUT.gguf */
#include <stdio.h>
#include <string.h>
#include "args.h"
#include "cli.h"
#include "model/init.h"
#include "tensor/dtype.h"

static const char *USAGE =
    "usage: afm init --shape SHAPE.json [--type f32|f16|bf16|q8_0|q4_0] [--seed S] [--tokenizer FILE] -o OUT.gguf\n"
    "  Writes a randomly initialized model (AFM initialization: linear weights N(0, 1/fan_in),\n"
    "  embedding N(0, 1/dim), norm gains 1). Shapes: configs/models/*.json. Without --tokenizer a\n"
    "  placeholder byte-level vocabulary of the shape's size is embedded.\n";

int cmd_init(int argc, char **argv) {
    const char *shape = NULL, *out = NULL, *tok = NULL, *type = "f32";
    long seed = 0;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (arg_str(argc, argv, &i, "--shape", NULL, &shape, &bad)) continue;
        if (arg_str(argc, argv, &i, "-o", "--output", &out, &bad)) continue;
        if (arg_str(argc, argv, &i, "--tokenizer", NULL, &tok, &bad)) continue;
        if (arg_str(argc, argv, &i, "--type", NULL, &type, &bad)) continue;
        if (arg_int(argc, argv, &i, "--seed", NULL, &seed, &bad)) continue;
        fprintf(stderr, "error: unexpected argument '%s'\n%s", argv[i], USAGE);
        return 2;
    }
    if (bad) return 2;
    if (!shape || !out) { fprintf(stderr, "error: --shape and -o are required\n%s", USAGE); return 2; }
    int t = afm_dtype_from_name(type);
    if (t < 0) { fprintf(stderr, "error: unknown type '%s'\n", type); return 2; }
    afm_config c;
    if (afm_shape_load(shape, &c) != AFM_OK) return cli_fail(NULL);
    fprintf(stderr, "initializing %s model: %.1f M parameters, %s\n", c.arch, afm_config_n_params(&c) / 1e6, type);
    if (afm_init_model(&c, t, (uint64_t)seed, tok, out) != AFM_OK) return cli_fail("init");
    fprintf(stderr, "wrote %s\n", out);
    return 0;
}
