/* Teacher-forcing fixtures: reading and scoring (see teacher_fixture.h for the file layout). */
#include "teacher_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "afm/afm.h"
#include "base/file.h"

static uint32_t rd_u32(const char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd_u64(const char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

uint32_t teacher_id(const teacher_fixture *fx, const teacher_position *ps, uint32_t k) {
    if (fx->id_bytes == 2) {
        uint16_t v;
        memcpy(&v, ps->ids + 2 * (size_t)k, 2);
        return v;
    }
    uint32_t v;
    memcpy(&v, ps->ids + 4 * (size_t)k, 4);
    return v;
}

/* Parses the file in place. */
int teacher_fixture_load(const char *path, const teacher_format *fmt, teacher_fixture *fx) {
    memset(fx, 0, sizeof *fx);
    fx->id_bytes = fmt->id_bytes;
    if (afm_read_file(path, &fx->data, &fx->size) != AFM_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, afm_last_error());
        return -1;
    }
    const char *p = fx->data, *end = fx->data + fx->size;
    if (fx->size < 32 || memcmp(p, fmt->magic, 8) || rd_u32(p + 8) != fmt->version) {
        fprintf(stderr, "%s: not an %.8s v%u fixture\n", path, fmt->magic, fmt->version);
        return -1;
    }
    fx->n_vocab = rd_u32(p + 12); fx->top_k = rd_u32(p + 16); fx->n_seqs = rd_u32(p + 20);
    fx->model_size = rd_u64(p + 24);
    p += 32;
    if (fx->top_k == 0 || fx->top_k > fx->n_vocab || (fmt->id_bytes == 2 && fx->n_vocab > 65536) || fx->n_seqs == 0 ||
        fx->n_seqs > fmt->max_seqs) {
        fprintf(stderr, "%s: bad header\n", path);
        return -1;
    }
    fx->seqs = calloc(fx->n_seqs, sizeof *fx->seqs);
    size_t per_pos = 12 + (size_t)fx->top_k * (4 + fmt->id_bytes);
    for (uint32_t s = 0; s < fx->n_seqs; s++) {
        teacher_sequence *sq = &fx->seqs[s];
        if (end - p < 8) goto bad;
        sq->n_prompt = rd_u32(p); sq->n_total = rd_u32(p + 4); p += 8;
        if (sq->n_prompt == 0 || sq->n_total <= sq->n_prompt || sq->n_total > 4096) goto bad;
        if ((size_t)(end - p) < (size_t)sq->n_total * (4 + per_pos)) goto bad;
        sq->ids = (const int32_t *)p; p += 4 * (size_t)sq->n_total;
        sq->pos = calloc(sq->n_total, sizeof *sq->pos);
        for (uint32_t i = 0; i < sq->n_total; i++) {
            teacher_position *ps = &sq->pos[i];
            memcpy(&ps->top1, p, 4); memcpy(&ps->top2, p + 4, 4); memcpy(&ps->tail, p + 8, 4);
            ps->logp = (const float *)(p + 12);
            ps->ids = (const unsigned char *)(p + 12 + 4 * (size_t)fx->top_k);
            for (uint32_t k = 0; k < fx->top_k; k++)
                if (teacher_id(fx, ps, k) >= fx->n_vocab) goto bad;
            ps->top_id = teacher_id(fx, ps, 0);
            p += per_pos;
        }
        for (uint32_t i = 0; i < sq->n_total; i++)
            if (sq->ids[i] < 0 || (uint32_t)sq->ids[i] >= fx->n_vocab) goto bad;
    }
    if (p != end) goto bad;
    return 0;
bad:
    fprintf(stderr, "%s: malformed or truncated fixture\n", path);
    return -1;
}

void teacher_fixture_free(teacher_fixture *fx) {
    for (uint32_t s = 0; fx->seqs && s < fx->n_seqs; s++) free(fx->seqs[s].pos);
    free(fx->seqs);
    free(fx->data);
}

cJSON *teacher_meta_load(const char *path) {
    char *text = NULL;
    size_t len = 0;
    if (afm_read_file(path, &text, &len) != AFM_OK) return NULL;
    cJSON *meta = cJSON_ParseWithLength(text, len);
    free(text);
    return meta;
}

const char *teacher_prompt_name(const cJSON *prompts, uint32_t s) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(prompts, (int)s), "name"));
    return name ? name : "?";
}

int32_t teacher_argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

/* log_norm = log sum_i exp(z_i) over the full vocabulary; log q_i = z_i - log_norm. */
double teacher_kl(const teacher_fixture *fx, const teacher_position *ps, const float *z) {
    int32_t n_vocab = (int32_t)fx->n_vocab;
    double m = z[teacher_argmax(z, n_vocab)], sum = 0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)z[i] - m);
    double log_norm = m + log(sum), kl = 0, q_top = 0;
    for (uint32_t k = 0; k < fx->top_k; k++) {
        double lp = ps->logp[k], lq = (double)z[teacher_id(fx, ps, k)] - log_norm;
        kl += exp(lp) * (lp - lq);
        q_top += exp(lq);
    }
    double p_tail = ps->tail, q_tail = 1.0 - q_top;
    if (p_tail > 0) kl += p_tail * (log(p_tail) - log(q_tail > 1e-300 ? q_tail : 1e-300));
    return kl;
}

int teacher_compare_row(const char *label, const teacher_fixture *fx, const teacher_sequence *sq, uint32_t p,
                        const float *z, float margin, teacher_stats *st) {
    const teacher_position *ps = &sq->pos[p];
    int32_t a = teacher_argmax(z, (int32_t)fx->n_vocab);
    double kl = teacher_kl(fx, ps, z);
    st->kl_sum += kl; st->n++;
    if (kl > st->kl_max) st->kl_max = kl;
    st->n_agree_all += (uint32_t)a == ps->top_id;
    if (!(ps->top1 - ps->top2 > margin)) return 0;
    st->n_strict++;
    st->n_agree_strict += (uint32_t)a == ps->top_id;
    if ((uint32_t)a == ps->top_id) return 0;
    fprintf(stderr, "FAIL %s position %u: afm argmax %d (logit %.4f), reference %u (logit %.4f, lead %.3f over top-2; afm's logit %.4f)\n",
            label, p, a, z[a], ps->top_id, ps->top1, ps->top1 - ps->top2, z[ps->top_id]);
    return 1;
}

void teacher_stats_add(teacher_stats *to, const teacher_stats *st) {
    to->kl_sum += st->kl_sum; to->n += st->n; to->n_strict += st->n_strict;
    to->n_agree_strict += st->n_agree_strict; to->n_agree_all += st->n_agree_all;
    if (st->kl_max > to->kl_max) to->kl_max = st->kl_max;
}

void teacher_stats_print(const char *label, const teacher_stats *st) {
    printf("  %-34s positions %4d  mean KL %.3e  max KL %.3e  argmax agree %d/%d (confident: %d/%d)\n", label, st->n,
           st->n ? st->kl_sum / st->n : 0, st->kl_max, st->n_agree_all, st->n, st->n_agree_strict, st->n_strict);
}
