/* afm_model_load against docs/gguf-afm.md: metadata keys and tensors of the `afm` architecture.
 *
 * Starting from fixture files of tests/fixtures/model/ (scripts/reference/make_model_fixtures.py),
 * each case rewrites the file with one change (a key removed, replaced or mistyped, a tensor
 * removed) and checks the outcome:
 *   - an unchanged copy loads, with the fixture's config (the rewriting itself is sound);
 *   - every `afm.*` key of the document is required: without it the load fails, naming the key;
 *   - bad values (unknown layout or QK-norm name, value_length != key_length, vocab_size that
 *     disagrees with token_embd, n_kv_heads not dividing n_heads, a string where a number
 *     belongs) fail naming the key;
 *   - tensors must agree with the switches: missing QK-norm gains, gains present with
 *     qk_norm "off", a projection whose shape does not match the heads, fail naming the tensor;
 *   - a `llama` file may omit the optional keys (head_count_kv, key_length, value_length,
 *     rope.freq_base, vocab_size) and gets llama.cpp's defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "afm/model.h"
#include "formats/gguf.h"

static int g_fail;
static char g_dir[2048];
static char g_tmp[256];

/* One change to apply while copying: drop key `drop_key`, drop tensor `drop_tensor`, then set
 * `set_key` to the string `set_str` or (if set_str is NULL) the u32 `set_u32`. */
typedef struct change {
    const char *drop_key, *drop_tensor, *set_key, *set_str;
    uint32_t set_u32;
} change;

static bool rewrite(const char *fixture, const change *ch) {
    char path[2400];
    snprintf(path, sizeof path, "%s/%s", g_dir, fixture);
    afm_gguf *g = NULL;
    afm_gguf_writer *w = NULL;
    bool ok = afm_gguf_open(path, &g) == AFM_OK && afm_gguf_writer_create(&w) == AFM_OK;
    for (int64_t i = 0; ok && i < afm_gguf_n_kv(g); i++)
        if (!ch->drop_key || strcmp(afm_gguf_key(g, i), ch->drop_key) != 0) ok = afm_gguf_copy_kv(w, g, i) == AFM_OK;
    if (ok && ch->set_key)
        ok = (ch->set_str ? afm_gguf_set_str(w, ch->set_key, ch->set_str) : afm_gguf_set_u32(w, ch->set_key, ch->set_u32)) == AFM_OK;
    for (int64_t i = 0; ok && i < afm_gguf_n_tensors(g); i++) {
        const afm_gguf_tensor *t = afm_gguf_tensor_at(g, i);
        if (ch->drop_tensor && strcmp(t->name, ch->drop_tensor) == 0) continue;
        ok = afm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes, false) == AFM_OK;
    }
    if (ok) ok = afm_gguf_write(w, g_tmp) == AFM_OK;
    if (!ok) { printf("FAIL: rewriting %s: %s\n", fixture, afm_last_error()); g_fail++; }
    afm_gguf_writer_free(w);
    afm_gguf_close(g);
    return ok;
}

/* The rewritten file must fail to load with a message containing `want`. */
static void expect_error(const char *what, const char *fixture, change ch, const char *want) {
    if (!rewrite(fixture, &ch)) return;
    afm_model *m = NULL;
    afm_status st = afm_model_load(g_tmp, &m);
    const char *msg = afm_last_error();
    if (st == AFM_OK || !strstr(msg, want)) {
        printf("FAIL: %-44s %s (message \"%s\", expected it to name %s)\n", what,
               st == AFM_OK ? "loaded" : "failed", st == AFM_OK ? "" : msg, want);
        g_fail++;
    } else {
        printf("ok    %-44s %s\n", what, msg);
    }
    afm_model_free(m);
    unlink(g_tmp);
}

/* The rewritten file must load, with the given vocabulary, head_dim, theta and QK-norm mode. */
static void expect_load(const char *what, const char *fixture, change ch, int vocab, int head_dim, float theta, afm_qk_norm qk) {
    if (!rewrite(fixture, &ch)) return;
    afm_model *m = NULL;
    afm_status st = afm_model_load(g_tmp, &m);
    const afm_config *c = st == AFM_OK ? afm_model_config(m) : NULL;
    if (!c || c->n_vocab != vocab || c->head_dim != head_dim || c->rope_theta != theta || c->qk_norm != qk) {
        printf("FAIL: %-44s %s\n", what, c ? "loaded with another config" : afm_last_error());
        g_fail++;
    } else {
        printf("ok    %-44s loads\n", what);
    }
    afm_model_free(m);
    unlink(g_tmp);
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/tests/fixtures/model", src ? src : ".");
    snprintf(g_tmp, sizeof g_tmp, "test_model_gguf_keys_%d.gguf", (int)getpid());
    /* afm, interleaved RoPE, QK-norm after RoPE, 8 query / 2 kv heads of 4, vocab 90 */
    const char *after = "afm_inter_after_gqa4.gguf";
    /* afm, half RoPE, QK-norm off, vocab 77 */
    const char *off = "afm_half_off_gqa2_hd12.gguf";

    expect_load("unchanged copy (afm)", after, (change){0}, 90, 4, 500000.0f, AFM_QK_NORM_AFTER_ROPE);
    static const char *required[] = {
        "afm.context_length", "afm.embedding_length", "afm.block_count", "afm.feed_forward_length",
        "afm.attention.head_count", "afm.attention.head_count_kv", "afm.attention.key_length",
        "afm.attention.value_length", "afm.attention.layer_norm_rms_epsilon", "afm.rope.freq_base",
        "afm.rope.layout", "afm.attention.qk_norm", "afm.vocab_size",
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "without %s", required[i]);
        expect_error(what, after, (change){ .drop_key = required[i] }, required[i]);
    }
    expect_error("afm.rope.layout = \"sideways\"", after, (change){ .set_key = "afm.rope.layout", .set_str = "sideways" }, "afm.rope.layout");
    expect_error("afm.attention.qk_norm = \"before\"", after, (change){ .set_key = "afm.attention.qk_norm", .set_str = "before" }, "qk_norm");
    expect_error("afm.rope.layout as a number", after, (change){ .set_key = "afm.rope.layout", .set_u32 = 1 }, "afm.rope.layout");
    expect_error("afm.embedding_length as a string", after, (change){ .set_key = "afm.embedding_length", .set_str = "32" }, "afm.embedding_length");
    expect_error("value_length != key_length", after, (change){ .set_key = "afm.attention.value_length", .set_u32 = 8 }, "value_length");
    expect_error("vocab_size != token_embd rows", after, (change){ .set_key = "afm.vocab_size", .set_u32 = 91 }, "vocab_size");
    expect_error("head_count_kv 3 does not divide 8", after, (change){ .set_key = "afm.attention.head_count_kv", .set_u32 = 3 }, "kv");
    expect_error("head_count 4: attn_q has 8 heads' rows", after, (change){ .set_key = "afm.attention.head_count", .set_u32 = 4 }, "attn_q.weight");
    expect_error("without blk.1.attn_k_norm.weight", after, (change){ .drop_tensor = "blk.1.attn_k_norm.weight" }, "blk.1.attn_k_norm.weight");
    expect_error("qk_norm \"off\" with gains present", after, (change){ .set_key = "afm.attention.qk_norm", .set_str = "off" }, "QK-norm");
    expect_error("qk_norm \"after_rope\" without gains", off, (change){ .set_key = "afm.attention.qk_norm", .set_str = "after_rope" }, "attn_q_norm.weight");
    expect_error("without blk.0.ffn_down.weight", off, (change){ .drop_tensor = "blk.0.ffn_down.weight" }, "blk.0.ffn_down.weight");

    /* llama: optional keys take llama.cpp's defaults (dim / heads = 8, theta 10000, vocab from token_embd) */
    const char *llama = "llama_mha_tied.gguf";
    expect_load("unchanged copy (llama)", llama, (change){0}, 64, 8, 10000.0f, AFM_QK_NORM_OFF);
    static const char *optional[] = { "llama.attention.head_count_kv", "llama.attention.key_length",
                                      "llama.attention.value_length", "llama.rope.freq_base", "llama.vocab_size" };
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "llama without %s", optional[i]);
        expect_load(what, llama, (change){ .drop_key = optional[i] }, 64, 8, 10000.0f, AFM_QK_NORM_OFF);
    }
    expect_error("llama without attention.layer_norm_rms_epsilon", llama,
                 (change){ .drop_key = "llama.attention.layer_norm_rms_epsilon" }, "llama.attention.layer_norm_rms_epsilon");
    printf(g_fail ? "%d case(s) failed\n" : "all cases behave as docs/gguf-afm.md says\n", g_fail);
    return g_fail ? 1 : 0;
}
