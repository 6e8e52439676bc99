/* AFM config: validation and parameter counting. */
#include "afm/model.h"
#include "base/error.h"

afm_status afm_config_validate(const afm_config *c) {
#define CHECK(cond, ...) do { if (!(cond)) return afm_error(AFM_ERR_INVALID_ARG, __VA_ARGS__); } while (0)
    CHECK(c->n_vocab > 0 && c->n_vocab <= (1 << 24), "config: n_vocab %d must be in 1..16777216", c->n_vocab);
    CHECK(c->dim > 0 && c->dim <= 65536, "config: dim %d must be in 1..65536", c->dim);
    CHECK(c->n_layers > 0 && c->n_layers <= 1024, "config: n_layers %d must be in 1..1024", c->n_layers);
    CHECK(c->n_heads > 0 && c->n_heads <= 1024, "config: n_heads %d must be in 1..1024", c->n_heads);
    CHECK(c->n_kv_heads > 0 && c->n_kv_heads <= c->n_heads, "config: n_kv_heads %d must be in 1..n_heads (%d)", c->n_kv_heads, c->n_heads);
    CHECK(c->n_heads % c->n_kv_heads == 0, "config: n_heads %d is not a multiple of n_kv_heads %d (grouped-query attention)", c->n_heads, c->n_kv_heads);
    CHECK(c->head_dim > 0 && c->head_dim <= 1024 && c->head_dim % 2 == 0, "config: head_dim %d must be even and in 2..1024 (RoPE rotates pairs)", c->head_dim);
    CHECK(c->ffn_dim > 0 && c->ffn_dim <= (1 << 20), "config: ffn_dim %d must be in 1..1048576", c->ffn_dim);
    CHECK(c->max_seq_len > 0, "config: max_seq_len %d must be positive", c->max_seq_len);
    CHECK(c->rope_theta > 0, "config: rope_theta %g must be positive", (double)c->rope_theta);
    CHECK(c->norm_eps > 0 && c->norm_eps < 1, "config: norm_eps %g must be in (0, 1)", (double)c->norm_eps);
    CHECK(c->rope_layout == AFM_ROPE_INTERLEAVED || c->rope_layout == AFM_ROPE_HALF, "config: unknown rope layout %d", (int)c->rope_layout);
    CHECK(c->qk_norm >= AFM_QK_NORM_OFF && c->qk_norm <= AFM_QK_NORM_AFTER_ROPE, "config: unknown qk_norm mode %d", (int)c->qk_norm);
    CHECK(c->ffn_act == AFM_FFN_SILU || c->ffn_act == AFM_FFN_GELU_TANH, "config: unknown FFN activation %d", (int)c->ffn_act);
    CHECK(c->embed_scale >= 0 && c->embed_scale < 1e6f, "config: embed_scale %g must be in [0, 1e6) (0: none)", (double)c->embed_scale);
    CHECK(c->sliding_window >= 0, "config: sliding_window %d must be >= 0 (0: none)", c->sliding_window);
    CHECK(c->swa_period >= 0 && c->swa_period <= 65536, "config: swa_period %d must be in 0..65536", c->swa_period);
    CHECK(c->rope_theta_local >= 0, "config: rope_theta_local %g must be >= 0 (0: rope_theta)", (double)c->rope_theta_local);
    CHECK(c->rope_freq_scale >= 0 && c->rope_freq_scale <= 1, "config: rope_freq_scale %g must be in [0, 1] (0: no scaling)", (double)c->rope_freq_scale);
#undef CHECK
    return AFM_OK;
}

bool afm_config_layer_is_local(const afm_config *c, int32_t l) {
    if (c->sliding_window <= 0) return false;
    return c->swa_period <= 0 || l % c->swa_period != c->swa_period - 1;
}

int64_t afm_config_n_params(const afm_config *c) {
    int64_t d = c->dim, hd = c->head_dim, q = (int64_t)c->n_heads * hd, kv = (int64_t)c->n_kv_heads * hd;
    int64_t per_layer = d * q + 2 * d * kv + q * d /* attention */ + 3 * d * c->ffn_dim /* SwiGLU */ + 2 * d /* norms */;
    if (c->post_norms) per_layer += 2 * d;
    if (c->qk_norm != AFM_QK_NORM_OFF) per_layer += 2 * hd;
    int64_t emb = (int64_t)c->n_vocab * d;
    return emb * (c->tied_output ? 1 : 2) + per_layer * c->n_layers + d;
}
