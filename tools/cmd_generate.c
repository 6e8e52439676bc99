/* afm generate: stdout carries the prompt followed by the generated text and nothing else;
 * timings go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afm/afm.h"
#include "args.h"
#include "cli.h"

static const char *USAGE =
    "usage: afm generate -m MODEL -p PROMPT [options]\n"
    "  -m, --model FILE      GGUF model\n"
    "  -p, --prompt TEXT     prompt (may be empty)\n"
    "  -f, --file FILE       read the prompt from a file\n"
    "  -n, --n-predict N     new tokens to generate (default 128; -1: until the context is full)\n"
    "  --temp T              temperature (default 0.8; 0: greedy)\n"
    "  --top-k K             top-k (default 40; 0: off)\n"
    "  --top-p P             top-p (default 0.95; 1: off)\n"
    "  --min-p P             min-p (default 0.05; 0: off)\n"
    "  --repeat-penalty R    repetition penalty (default 1: off)\n"
    "  --repeat-last-n N     tokens the penalty looks back over (default 64)\n"
    "  --seed S              RNG seed (default 0)\n"
    "  --stop TEXT           stop string (repeatable)\n"
    "  --special             match special-token texts in the prompt\n"
    "  -c, --ctx-size N      context length (default: the model's, at most 4096)\n"
    "  -t, --threads N       threads (default: all cores)\n"
    "  --adapter FILE        LoRA adapter (llama.cpp GGUF LoRA format)\n"
    "  --kv-type f32|f16     KV-cache element type (default f32; f16 halves its memory)\n"
    "  --adapter-scale S     its scale (default 1)\n";

static bool write_out(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

int cmd_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL, *stops[16];
    int n_stop = 0;
    long n_predict = 128, threads = 0, ctx = 0;
    afm_sampler_params sp = afm_sampler_defaults();
    cli_adapter lora = CLI_ADAPTER_INIT;
    afm_kv_type kv_type = AFM_KV_F32;
    bool bad = false, special = false;
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i], *sv;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (arg_str(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (arg_sampler(argc, argv, &i, &sp, &bad)) continue;
        if (arg_adapter(argc, argv, &i, &lora, &bad)) continue;
        if (arg_kv_type(argc, argv, &i, &kv_type, &bad)) continue;
        if (arg_str(argc, argv, &i, "-p", "--prompt", &prompt, &bad)) continue;
        if (arg_str(argc, argv, &i, "-f", "--file", &file, &bad)) continue;
        if (arg_int(argc, argv, &i, "-n", "--n-predict", &n_predict, &bad)) continue;
        if (arg_int(argc, argv, &i, "-t", "--threads", &threads, &bad)) continue;
        if (arg_int(argc, argv, &i, "-c", "--ctx-size", &ctx, &bad)) continue;
        if (arg_str(argc, argv, &i, "--stop", NULL, &sv, &bad)) {
            if (n_stop == 16) { fprintf(stderr, "error: at most 16 stop strings\n"); return 2; }
            if (!bad) stops[n_stop++] = sv;
            continue;
        }
        if (!strcmp(a, "--special")) { special = true; continue; }
        fprintf(stderr, "error: unknown option '%s'\n%s", a, USAGE);
        return 2;
    }
    if (bad) return 2;
    if (!model) { fprintf(stderr, "error: -m MODEL is required\n%s", USAGE); return 2; }
    char *file_text = NULL;
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) { fprintf(stderr, "error: cannot open prompt file '%s'\n", file); return 1; }
        size_t cap = 1 << 16, n = 0;
        file_text = malloc(cap);
        for (size_t r; file_text && (r = fread(file_text + n, 1, cap - n - 1, f)) > 0;) {
            n += r;
            if (n + 1 == cap) file_text = realloc(file_text, cap *= 2);
        }
        fclose(f);
        if (!file_text) { fprintf(stderr, "error: out of memory\n"); return 1; }
        file_text[n] = 0;
        prompt = file_text;
    }
    if (!prompt) prompt = "";
    if (threads < 0 || ctx < 0 || n_predict < -1) { fprintf(stderr, "error: threads, ctx-size and n-predict must be >= 0\n"); return 2; }

    afm_model *m;
    if (afm_model_load(model, &m) != AFM_OK) return cli_fail(NULL);
    afm_session_options so = {.n_ctx = (int32_t)ctx, .n_threads = (int32_t)threads, .kv_type = kv_type};
    afm_session *s;
    if (afm_session_create(m, &so, &s) != AFM_OK) { afm_model_free(m); return cli_fail(NULL); }
    if (cli_adapter_attach(&lora, m, s)) {
        afm_session_free(s);
        afm_adapter_free(lora.adapter);
        afm_model_free(m);
        free(file_text);
        return 1;
    }
    afm_generate_params gp = {0};
    gp.n_predict = (int32_t)n_predict;
    gp.sampler = sp;
    gp.stop = stops;
    gp.n_stop = n_stop;
    gp.parse_special = special;
    fputs(prompt, stdout);
    fflush(stdout);
    afm_generate_stats st;
    afm_status rc = afm_generate(s, prompt, &gp, write_out, NULL, &st);
    fputc('\n', stdout);
    fflush(stdout);
    int ret = 0;
    if (rc != AFM_OK) ret = cli_fail(NULL);
    else
        fprintf(stderr, "\nprompt: %d tokens in %.3f s (%.1f tok/s); generated: %d tokens in %.3f s (%.1f tok/s)\n",
                st.n_prompt, st.prompt_s, st.prompt_s > 0 ? st.n_prompt / st.prompt_s : 0.0, st.n_generated, st.gen_s,
                st.gen_s > 0 ? st.n_generated / st.gen_s : 0.0);
    afm_session_free(s);
    afm_adapter_free(lora.adapter);
    afm_model_free(m);
    free(file_text);
    return ret;
}
