/* GGUF load/save of the training model (see train_gguf.h). */
#include "model/train_gguf.h"
#include "base/error.h"
#include "model/model_internal.h"
#include "tensor/dtype.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The training model reads the same metadata as the inference runtime (one reader for every
 * architecture: model/config_gguf.c), then applies the trainer's own limits. */
afm_status afm_train_gguf_config(const afm_gguf *g, afm_config *c) {
    AFM_TRY(afm_config_from_gguf(g, c));
    return afm_train_config_check(c);
}

afm_status afm_train_gguf_load(afm_train_model *m, const afm_gguf *g) {
    for (int i = 0; i < m->n_tensors; i++) {
        const afm_param_tensor *t = &m->tensors[i];
        const afm_gguf_tensor *gt = afm_gguf_find_tensor(g, t->name);
        if (!gt) return afm_error(AFM_ERR_FORMAT, "GGUF: tensor '%s' is missing", t->name);
        int64_t want0 = t->n_dims == 2 ? t->shape[1] : t->shape[0], want1 = t->n_dims == 2 ? t->shape[0] : 1;
        if (gt->n_dims != (uint32_t)t->n_dims || gt->ne[0] != want0 || gt->ne[1] != want1)
            return afm_error(AFM_ERR_FORMAT, "GGUF: tensor '%s' has ne {%lld, %lld}, expected {%lld, %lld}", t->name,
                             (long long)gt->ne[0], (long long)gt->ne[1], (long long)want0, (long long)want1);
        float *dst = m->params + t->offset;
        if (gt->type == AFM_F32 && gt->nbytes == t->numel * 4) {
            memcpy(dst, gt->data, t->numel * 4);
        } else if ((gt->type == AFM_F16 || gt->type == AFM_BF16) && gt->nbytes == t->numel * 2) {
            const unsigned char *src = gt->data;
            for (size_t j = 0; j < t->numel; j++) {
                uint16_t h;
                memcpy(&h, src + 2 * j, 2);
                dst[j] = gt->type == AFM_F16 ? afm_f16_to_f32(h) : afm_bf16_to_f32(h);
            }
        } else {
            return afm_error(AFM_ERR_UNSUPPORTED, "GGUF: tensor '%s' has type %u; training loads F32, F16 or BF16", t->name, gt->type);
        }
    }
    /* tensors the config does not expect (q/k norms with qk_norm off, output.weight when tied) */
    if (m->cfg.qk_norm == AFM_QK_NORM_OFF && afm_gguf_find_tensor(g, "blk.0.attn_q_norm.weight"))
        return afm_error(AFM_ERR_FORMAT, "GGUF: attn_q_norm tensors are present but qk_norm is off");
    return AFM_OK;
}

afm_status afm_train_gguf_save(const afm_train_model *m, const char *path, const afm_gguf *tok) {
    const afm_config *c = &m->cfg;
    afm_gguf_writer *w;
    AFM_TRY(afm_gguf_writer_create(&w));
    afm_status st = AFM_OK;
#define S(call) do { if (st == AFM_OK) st = (call); } while (0)
    afm_config ac = *c; /* trained models are saved as our own architecture, whatever they were loaded from */
    snprintf(ac.arch, sizeof ac.arch, "afm");
    S(afm_config_to_gguf(&ac, w));
    S(afm_gguf_set_str(w, "general.name", "afm"));
    if (tok)
        for (int64_t i = 0; i < afm_gguf_n_kv(tok) && st == AFM_OK; i++)
            if (!strncmp(afm_gguf_key(tok, i), "tokenizer.", 10)) st = afm_gguf_copy_kv(w, tok, i);
    for (int i = 0; i < m->n_tensors && st == AFM_OK; i++) {
        const afm_param_tensor *t = &m->tensors[i];
        int64_t ne[2] = {t->n_dims == 2 ? t->shape[1] : t->shape[0], t->n_dims == 2 ? t->shape[0] : 1};
        st = afm_gguf_add_tensor(w, t->name, AFM_F32, (uint32_t)t->n_dims, ne, m->params + t->offset, t->numel * 4, false);
    }
    S(afm_gguf_write(w, path));
#undef S
    afm_gguf_writer_free(w);
    return st;
}
