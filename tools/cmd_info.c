/* afm info: architecture, hyperparameters, tokenizer and tensors of a GGUF model. */
#include <stdio.h>
#include <string.h>
#include "args.h"
#include "cli.h"
#include "formats/gguf.h"
#include "model/model_internal.h"
#include "tensor/dtype.h"

static void print_value(const afm_gguf *g, int64_t i) {
    const char *key = afm_gguf_key(g, i);
    afm_gguf_type t = afm_gguf_kv_type(g, i);
    const char *s;
    size_t n;
    uint32_t u;
    int64_t v;
    float f;
    bool b;
    afm_gguf_type et;
    uint64_t cnt;
    const void *data;
    if (t == AFM_GGUF_STRING && afm_gguf_get_str(g, key, &s, &n)) {
        if (n > 80) printf("\"%.*s...\" (%zu bytes)", 60, s, n);
        else printf("\"%.*s\"", (int)n, s);
        /* escape-free preview: newlines shown as is are confusing */
    } else if (t == AFM_GGUF_ARRAY && afm_gguf_get_arr(g, key, &et, &cnt, &data)) printf("[%s x %llu]", afm_gguf_type_name(et), (unsigned long long)cnt);
    else if (t == AFM_GGUF_BOOL && afm_gguf_get_bool(g, key, &b)) printf("%s", b ? "true" : "false");
    else if ((t == AFM_GGUF_FLOAT32 || t == AFM_GGUF_FLOAT64) && afm_gguf_get_f32(g, key, &f)) printf("%g", (double)f);
    else if (afm_gguf_get_i64(g, key, &v)) printf("%lld", (long long)v);
    else if (afm_gguf_get_u32(g, key, &u)) printf("%u", u);
    else printf("(%s)", afm_gguf_type_name(t));
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool all_tensors = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: afm info MODEL.gguf [--all]\n  --all   list every tensor (default: the first 40 and totals)\n");
            return 0;
        }
        if (!strcmp(argv[i], "--all")) all_tensors = true;
        else if (!path) path = argv[i];
        else { fprintf(stderr, "error: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!path) { fprintf(stderr, "usage: afm info MODEL.gguf [--all]\n"); return 2; }
    afm_gguf *g;
    if (afm_gguf_open(path, &g) != AFM_OK) return cli_fail(NULL);
    printf("file: %s (GGUF v%u, %.1f MiB, alignment %zu)\n", path, afm_gguf_version(g), afm_gguf_file_size(g) / 1048576.0, afm_gguf_alignment(g));
    afm_config c;
    if (afm_config_from_gguf(g, &c) == AFM_OK) {
        printf("\narchitecture: %s\n", c.arch);
        printf("  vocab %d, dim %d, layers %d, heads %d, kv heads %d, head_dim %d, ffn %d\n", c.n_vocab, c.dim, c.n_layers,
               c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim);
        printf("  context %d, rope theta %g (%s), qk-norm %s, rms eps %g, output %s\n", c.max_seq_len, (double)c.rope_theta,
               c.rope_layout == AFM_ROPE_HALF ? "half-split" : "interleaved",
               c.qk_norm == AFM_QK_NORM_OFF ? "off" : c.qk_norm == AFM_QK_NORM_BEFORE_ROPE ? "before RoPE" : "after RoPE",
               (double)c.norm_eps, c.tied_output ? "tied to the embedding" : "separate");
        if (c.ffn_act != AFM_FFN_SILU || c.post_norms || c.embed_scale != 0 || c.sliding_window > 0)
            printf("  ffn %s, post-norms %s, embedding scale %g, sliding window %d (every %d-th layer global), local rope theta %g, rope scale %g\n",
                   c.ffn_act == AFM_FFN_GELU_TANH ? "GeGLU (tanh GELU)" : "SwiGLU", c.post_norms ? "on" : "off",
                   (double)(c.embed_scale != 0 ? c.embed_scale : 1), c.sliding_window, c.swa_period,
                   (double)(c.rope_theta_local > 0 ? c.rope_theta_local : c.rope_theta),
                   (double)(c.rope_freq_scale != 0 ? c.rope_freq_scale : 1));
        printf("  parameters: %lld (%.1f M)\n", (long long)afm_config_n_params(&c), afm_config_n_params(&c) / 1e6);
    } else printf("\nnot a model afm can run: %s\n", afm_last_error());
    printf("\nmetadata (%lld keys):\n", (long long)afm_gguf_n_kv(g));
    for (int64_t i = 0; i < afm_gguf_n_kv(g); i++) {
        printf("  %-44s ", afm_gguf_key(g, i));
        print_value(g, i);
        printf("\n");
    }
    int64_t nt = afm_gguf_n_tensors(g);
    size_t total = 0;
    size_t by_type[AFM_DTYPE_COUNT] = {0};
    printf("\ntensors (%lld):\n", (long long)nt);
    for (int64_t i = 0; i < nt; i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        total += t->nbytes;
        if (t->type < AFM_DTYPE_COUNT) by_type[t->type] += t->nbytes;
        if (!all_tensors && i >= 40) continue;
        printf("  %-36s %-6s [", t->name, afm_dtype_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++) printf("%s%lld", d ? ", " : "", (long long)t->ne[d]);
        printf("]\n");
    }
    if (!all_tensors && nt > 40) printf("  ... %lld more (--all lists them)\n", (long long)(nt - 40));
    printf("  total %.2f MiB:", total / 1048576.0);
    for (int t = 0; t < AFM_DTYPE_COUNT; t++)
        if (by_type[t]) printf(" %s %.2f MiB", afm_dtype_name((uint32_t)t), by_type[t] / 1048576.0);
    printf("\n");
    afm_gguf_close(g);
    return 0;
}
