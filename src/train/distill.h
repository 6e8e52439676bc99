/* Distillation: a teacher model (any GGUF model afm loads) supplies the training targets.
 *
 * For every position n with a label y_n >= 0 (others are ignored, as in plain cross-entropy),
 * student logits z (V), teacher logits t (V), softmax σ:
 *
 *   mode "afm" (AFM, afm.md §3): a soft target q = w · onehot(argmax t) + (1 - w) · onehot(y)
 *       (w = top1_weight, 0.9: the teacher's top-1 mixed with the true label), and
 *       loss_n = -Σ_j q_j log σ(z)_j = lse(z) - Σ_j q_j z_j,   ∂loss_n/∂z = σ(z) - q.
 *   mode "kl" (Hinton et al.; soft targets at temperature T, mixed with the hard label by α):
 *       p = σ(t / T), s = σ(z / T),  KL_T = Σ_j p_j (log p_j - log s_j),
 *       loss_n = α (lse(z) - z_y) + (1 - α) T² KL_T,
 *       ∂loss_n/∂z = α (σ(z) - onehot(y)) + (1 - α) T (s - p)
 *       (the T² keeps the soft term's gradient scale independent of T).
 * The loss is the mean over counted positions. argmax ties go to the lowest index.
 * Both also report two monitoring values over counted positions: the mean KL(σ(t) || σ(z)) at
 * T = 1, and the fraction where the student's argmax equals the teacher's (what "afm" trains).
 *
 * Recipe: "distill": {"teacher": "PATH.gguf", "mode": "afm"|"kl", "top1_weight": 0.9 (afm),
 *                     "temperature": 1 (kl, > 0), "alpha": 0 (kl, in [0, 1])}
 * The teacher path is relative to the current directory. Keys of the other mode are refused. */
#ifndef AFM_TRAIN_DISTILL_H
#define AFM_TRAIN_DISTILL_H
#include <stdbool.h>
#include <stdint.h>
#include "afm/model.h"
#include "afm/status.h"

typedef enum afm_distill_mode { AFM_DISTILL_OFF = 0, AFM_DISTILL_AFM = 1, AFM_DISTILL_KL = 2 } afm_distill_mode;

typedef struct afm_distill_config {
    afm_distill_mode mode;
    char teacher[1024];
    float top1_weight;   /* afm: weight of the teacher's argmax (0.9) */
    float temperature;   /* kl: T > 0 (1) */
    float alpha;         /* kl: weight of the hard-label cross-entropy (0) */
} afm_distill_config;

/* Parses the recipe's "distill" object (a cJSON *, passed as void * to keep cJSON out of this
 * header); NULL: distillation off. Errors name the key. */
afm_status afm_distill_parse(const void *json_object, afm_distill_config *out);

typedef struct afm_distill_stats {
    double loss;   /* mean loss over counted positions */
    double kl1;    /* mean KL(σ(t) || σ(z)) at T = 1 */
    double top1;   /* fraction of counted positions where argmax z == argmax t */
    long n_valid;  /* counted positions (label >= 0) */
} afm_distill_stats;

/* The loss above over N rows of V logits. logits (N, V) are the student's; with want_grad they are
 * overwritten with scale · ∂(mean loss)/∂z (zero rows for ignored positions), as afm_xent_bwd
 * does. Sums over rows in double, in row order. */
afm_status afm_distill_loss(const afm_distill_config *c, float *logits, const float *teacher, const int32_t *labels,
                            long N, long V, bool want_grad, float scale, afm_distill_stats *out);

/* The same over rows of a larger batch, as sums: acc (loss, kl1, top1, n_valid) is added to in
 * row order, and the gradient uses the batch's count n_total: scale · ∂(sum of the rows' losses /
 * n_total)/∂z. Called on consecutive row ranges with one accumulator, it gives the bits of one
 * afm_distill_loss call over all of them (which is this over all rows, then the means). */
typedef struct afm_distill_sums { double loss, kl1, top1; long n_valid; } afm_distill_sums;
afm_status afm_distill_loss_rows(const afm_distill_config *c, float *logits, const float *teacher, const int32_t *labels,
                                 long N, long V, bool want_grad, float scale, long n_total, afm_distill_sums *acc);

/* A loaded teacher evaluating whole rows of tokens. */
typedef struct afm_distill_teacher afm_distill_teacher;
/* Loads c->teacher; fails unless its vocabulary size is n_vocab and, when both are known, its
 * tokenizer has vocabulary hash vocab_hash (train/data.h's afm_vocab_hash; 0: unknown). Rows of
 * up to max_t tokens; n_threads as afm_session_options. */
afm_status afm_distill_teacher_open(const afm_distill_config *c, int32_t n_vocab, uint64_t vocab_hash, int max_t,
                                    int n_threads, afm_distill_teacher **out);
void afm_distill_teacher_free(afm_distill_teacher *t);
/* Teacher logits for tokens (b, T): out (b·T, V); each row is evaluated from an empty cache. */
afm_status afm_distill_teacher_logits(afm_distill_teacher *t, const int32_t *tokens, int b, int T, float *out);
#endif
