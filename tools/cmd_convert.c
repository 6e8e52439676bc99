/* afm convert INPUT -o OUT.gguf [--tokenizer TOK] [--type T] */
#include <stdio.h>
#include <string.h>
#include "args.h"
#include "cli.h"
#include "model/convert.h"
#include "tensor/dtype.h"

static const char *USAGE =
    "usage: afm convert INPUT -o OUT.gguf [--tokenizer TOK] [--type f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q6_k]\n"
    "  INPUT        llama2.c checkpoint (.bin), HF safetensors folder (config.json + *.safetensors), or GGUF\n"
    "  --tokenizer  tokenizer to embed (llama2.c tokenizer.bin, HF tokenizer.json); required for llama2.c input\n"
    "  --type       type of the 2-D weights (default: keep; f32 for llama2.c). Norms stay f32; a weight\n"
    "               whose rows do not fit the type's block size is stored as f16.\n";

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *tok = NULL, *type = NULL;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (arg_str(argc, argv, &i, "-o", "--output", &out, &bad)) continue;
        if (arg_str(argc, argv, &i, "--tokenizer", NULL, &tok, &bad)) continue;
        if (arg_str(argc, argv, &i, "--type", NULL, &type, &bad)) continue;
        if (argv[i][0] == '-' || in) { fprintf(stderr, "error: unexpected argument '%s'\n%s", argv[i], USAGE); return 2; }
        in = argv[i];
    }
    if (bad) return 2;
    if (!in || !out) { fprintf(stderr, "error: INPUT and -o OUT.gguf are required\n%s", USAGE); return 2; }
    afm_convert_options o = {tok, -1};
    if (type) {
        o.out_type = afm_dtype_from_name(type);
        if (o.out_type < 0) { fprintf(stderr, "error: unknown type '%s'\n%s", type, USAGE); return 2; }
    }
    int fallback = 0;
    if (afm_convert(in, out, &o, &fallback) != AFM_OK) return cli_fail("convert");
    if (fallback) fprintf(stderr, "note: %d weight matrices have rows that do not fit %s blocks and were stored as f16\n", fallback, type);
    fprintf(stderr, "wrote %s\n", out);
    return 0;
}
