/* Training loop, checkpoints and resume (see trainer.h). */
#include "train/trainer.h"
#include "train/data.h"
#include "train/distill.h"
#include "tokenizer/tokenizer.h"
#include "train/optim.h"
#include "model/train_gguf.h"
#include "base/error.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/timer.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char STATE_MAGIC[8] = {'A', 'F', 'M', 'C', 'K', 'P', 'T', '1'};
enum { STATE_VERSION = 1, KEEP_CHECKPOINTS = 3 };

typedef struct run_state {
    uint64_t step, optim_t, tokens, bad_streak;
    uint64_t rng[4];
} run_state;

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 1099511628211ULL; }
    return h;
}

/* G, the row groups of every micro-batch: the recipe's reduce_groups, or one per process. It must
 * be a multiple of the processes and divide every stage's batch_size. */
static afm_status check_groups(const afm_recipe *r, int n_ranks, int *G) {
    *G = r->reduce_groups > 0 ? r->reduce_groups : n_ranks;
    if (*G % n_ranks != 0 || *G / n_ranks > AFM_DIST_MAX_GROUPS)
        return afm_error(AFM_ERR_INVALID_ARG, "recipe: reduce_groups %d is not a multiple of the %d processes (or over %d per process)", *G,
                         n_ranks, AFM_DIST_MAX_GROUPS);
    for (int i = 0; i < r->n_stages; i++)
        if (r->stages[i].batch_size % *G != 0) {
            if (r->reduce_groups > 0)
                return afm_error(AFM_ERR_INVALID_ARG, "recipe stage '%s': batch_size %d is not a multiple of reduce_groups %d",
                                 r->stages[i].name, r->stages[i].batch_size, *G);
            return afm_error(AFM_ERR_INVALID_ARG, "recipe stage '%s': batch_size %d is not a multiple of the %d processes",
                             r->stages[i].name, r->stages[i].batch_size, n_ranks);
        }
    return AFM_OK;
}

/* ---------------- plan ---------------- */
afm_status afm_train_make_plan(const afm_recipe *r, int32_t n_vocab, int n_ranks, bool shard_optimizer, afm_train_plan *p) {
    memset(p, 0, sizeof *p);
    afm_config c = r->model;
    c.n_vocab = n_vocab;
    AFM_TRY(afm_train_config_check(&c));
    if (n_ranks < 1) return afm_error(AFM_ERR_INVALID_ARG, "the number of processes must be at least 1 (got %d)", n_ranks);
    p->n_ranks = n_ranks;
    p->shard_optimizer = (shard_optimizer || r->shard_optimizer) && n_ranks > 1;
    p->n_params = (int64_t)afm_train_n_params(&c);
    p->bytes_weights = 4.0 * (double)p->n_params;
    int G;
    AFM_TRY(check_groups(r, n_ranks, &G));
    p->reduce_groups = G;
    p->checkpoint_activations = r->checkpoint_activations;
    p->bytes_grads = p->bytes_weights * (double)(G / n_ranks); /* one buffer per row group on this process */
    /* m and v for this rank's range: the largest of N balanced ranges when sharded */
    double owned = p->shard_optimizer ? (double)(p->n_params / n_ranks + (p->n_params % n_ranks != 0)) : (double)p->n_params;
    p->bytes_optim = 2.0 * 4.0 * owned;
    /* receive buffer of the gradient sum: N pieces of the largest range (dist.c) */
    double piece = (double)(p->n_params / n_ranks + 1);
    if (p->shard_optimizer && piece > AFM_DIST_PIECE) piece = AFM_DIST_PIECE;
    if (!p->shard_optimizer && piece > (double)(1 << 24)) piece = (double)(1 << 24);
    p->bytes_comm = n_ranks > 1 ? 4.0 * piece * n_ranks : 0.0;
    double mm = 0; /* parameters that take part in matrix products: every linear weight + output */
    double D = c.dim, QD = (double)c.n_heads * c.head_dim, KD = (double)c.n_kv_heads * c.head_dim, F = c.ffn_dim;
    mm = c.n_layers * (D * QD * 2 + 2 * D * KD + 3 * D * F) + (double)n_vocab * D;
    p->bytes_out_pack_full = (double)afm_train_out_pack_full_bytes(&c);
    for (int i = 0; i < r->n_stages; i++) {
        const afm_stage *s = &r->stages[i];
        double tok = (double)s->seq_len * s->batch_size * s->grad_accum;
        p->tokens_per_step[i] = tok;
        p->flops_per_step[i] = tok * (6.0 * mm + 6.0 * c.n_layers * s->seq_len * QD);
        afm_train_model_opts mo = {.checkpoint_activations = r->checkpoint_activations};
        double a = (double)afm_train_act_bytes_opts(&c, s->batch_size / G, s->seq_len, &mo); /* one group's rows at a time */
        double a_plain = (double)afm_train_act_bytes(&c, s->batch_size / G, s->seq_len);
        /* distillation: one row (sequence) of the teacher's logits at a time (the teacher's own
         * weights and cache are not counted) */
        if (r->distill.mode != AFM_DISTILL_OFF) {
            double extra = (double)afm_train_logits_bytes(&c, 1, s->seq_len);
            a += extra;
            a_plain += extra;
        }
        p->bytes_acts_stage[i] = a;
        p->bytes_out_pack[i] = (double)afm_train_out_pack_bytes(&c, s->batch_size / G, s->seq_len);
        if (a_plain > p->bytes_acts_plain) p->bytes_acts_plain = a_plain;
        if (a > p->bytes_acts) p->bytes_acts = a;
        double full = (double)afm_train_logits_bytes(&c, s->batch_size / G, s->seq_len);
        if (full > p->bytes_logits_full) p->bytes_logits_full = full;
        int oc = afm_train_out_chunk(&c, s->batch_size / G, s->seq_len);
        if (oc > p->out_chunk) { p->out_chunk = oc; p->bytes_logits_chunk = 4.0 * oc * (double)n_vocab; }
        p->total_steps += s->steps;
    }
    return AFM_OK;
}

/* ---------------- checkpoints ---------------- */
static afm_status mkdir_one(const char *d) {
    if (mkdir(d, 0777) != 0 && errno != EEXIST) return afm_error(AFM_ERR_IO, "cannot create folder %s: %s", d, strerror(errno));
    return AFM_OK;
}

static void fsync_dir(const char *d) {
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { fsync(fd); close(fd); }
}

/* state.bin: magic, version, 0, run_state, n, m[n], v[n], FNV-1a of everything before.
 * Sharded optimizer (o->dist): the file is the same; rank 0 writes its own range of m and
 * receives the other ranks' ranges in rank order (send_state), in pieces, then v likewise, so no
 * rank ever holds the whole state. */
static afm_status write_state(const char *path, const run_state *s, const afm_optim *o) {
    afm_dist *d = o->dist;
    int N = d ? d->size : 1;
    float *piece = NULL;
    if (N > 1 && !(piece = malloc(sizeof(float) * AFM_DIST_PIECE)))
        return afm_error(AFM_ERR_NOMEM, "out of memory for the optimizer-state gather");
    afm_atomic_file af;
    afm_status st = afm_atomic_open(path, &af);
    if (st != AFM_OK) { free(piece); return st; }
    uint32_t ver = STATE_VERSION, zero = 0;
    uint64_t n = o->n, h = 1469598103934665603ULL;
    bool ok = true;
#define W(ptr, sz) do { if (ok) { ok = fwrite(ptr, 1, sz, af.f) == (sz); h = fnv1a(h, ptr, sz); } } while (0)
    W(STATE_MAGIC, 8); W(&ver, 4); W(&zero, 4);
    W(s, sizeof *s); W(&n, 8);
    for (int which = 0; which < 2 && st == AFM_OK; which++) {
        W(which ? o->v : o->m, (o->hi - o->lo) * 4); /* rank 0's range starts at 0 */
        for (int r = 1; r < N && st == AFM_OK; r++) {
            size_t lo, hi;
            afm_dist_shard_range(d, o->n, r, &lo, &hi);
            for (size_t off = lo; off < hi && st == AFM_OK; off += AFM_DIST_PIECE) {
                size_t c = hi - off < (size_t)AFM_DIST_PIECE ? hi - off : (size_t)AFM_DIST_PIECE;
                st = afm_dist_recv_floats(d, r, piece, c);
                if (st == AFM_OK) W(piece, c * 4);
            }
        }
    }
#undef W
    free(piece);
    if (ok && st == AFM_OK) ok = fwrite(&h, 8, 1, af.f) == 1;
    if (!ok || st != AFM_OK) {
        afm_atomic_abort(&af);
        return st != AFM_OK ? st : afm_error(AFM_ERR_IO, "cannot write %s", path);
    }
    return afm_atomic_commit(&af);
}

/* A rank other than 0 with a sharded optimizer: its part of write_state. */
static afm_status send_state(const afm_optim *o) {
    AFM_TRY(afm_dist_send_floats(o->dist, 0, o->m, o->hi - o->lo));
    return afm_dist_send_floats(o->dist, 0, o->v, o->hi - o->lo);
}

static afm_status read_state(const char *path, run_state *s, afm_optim *o) {
    afm_mmap m;
    AFM_TRY(afm_mmap_open(path, &m));
    size_t need = 16 + sizeof *s + 8 + 8 * o->n + 8;
    afm_status st = AFM_OK;
    uint64_t n = 0, h, want;
    uint32_t ver = 0;
    if (m.size != need || memcmp(m.data, STATE_MAGIC, 8)) st = afm_error(AFM_ERR_FORMAT, "%s: not a valid afm checkpoint state (size %zu, expected %zu)", path, m.size, need);
    if (st == AFM_OK) {
        memcpy(&ver, m.data + 8, 4);
        memcpy(&n, m.data + 16 + sizeof *s, 8);
        memcpy(&want, m.data + need - 8, 8);
        h = fnv1a(1469598103934665603ULL, m.data, need - 8);
        if (ver != STATE_VERSION) st = afm_error(AFM_ERR_FORMAT, "%s: state version %u, expected %d", path, ver, STATE_VERSION);
        else if (n != o->n) st = afm_error(AFM_ERR_FORMAT, "%s: %" PRIu64 " parameters, the model has %zu", path, n, o->n);
        else if (h != want) st = afm_error(AFM_ERR_FORMAT, "%s: checksum mismatch (corrupt file)", path);
    }
    if (st == AFM_OK) { /* this process's range (all of it unless sharded; any rank count) */
        const unsigned char *mv = m.data + 16 + sizeof *s + 8;
        memcpy(s, m.data + 16, sizeof *s);
        memcpy(o->m, mv + o->lo * 4, (o->hi - o->lo) * 4);
        memcpy(o->v, mv + (o->n + o->lo) * 4, (o->hi - o->lo) * 4);
    }
    afm_mmap_close(&m);
    return st;
}

static int cmp_desc(const void *a, const void *b) { return strcmp(*(char *const *)b, *(char *const *)a); }

/* Sorted newest first; caller frees names and array. */
static int list_checkpoints(const char *ckdir, char ***names) {
    *names = NULL;
    DIR *d = opendir(ckdir);
    if (!d) return 0;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "step-", 5) || strlen(e->d_name) != 14) continue;
        if (n == cap) { cap = cap ? 2 * cap : 16; char **p = realloc(*names, (size_t)cap * sizeof *p); if (!p) break; *names = p; }
        (*names)[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(*names, (size_t)n, sizeof **names, cmp_desc);
    return n;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) { snprintf(p, sizeof p, "%s/%s", dir, e->d_name); unlink(p); }
    closedir(d);
    rmdir(dir);
}

static afm_status save_checkpoint(const char *run, const afm_train_model *m, const afm_optim *o, const run_state *s, const afm_gguf *tok) {
    char ck[4096], tmp[4200], fin[4200], p[4300];
    snprintf(ck, sizeof ck, "%s/ckpt", run);
    AFM_TRY(mkdir_one(ck));
    snprintf(tmp, sizeof tmp, "%s/.tmp-step-%09" PRIu64, ck, s->step);
    snprintf(fin, sizeof fin, "%s/step-%09" PRIu64, ck, s->step);
    remove_tree(tmp);
    AFM_TRY(mkdir_one(tmp));
    snprintf(p, sizeof p, "%s/model.gguf", tmp);
    afm_status st = afm_train_gguf_save(m, p, tok);
    snprintf(p, sizeof p, "%s/state.bin", tmp);
    if (st == AFM_OK) st = write_state(p, s, o);
    if (st != AFM_OK) { remove_tree(tmp); return st; }
    fsync_dir(tmp);
    remove_tree(fin); /* a stale one of the same step (a run resumed from an older checkpoint) */
    if (rename(tmp, fin) != 0) { remove_tree(tmp); return afm_error(AFM_ERR_IO, "cannot rename %s to %s: %s", tmp, fin, strerror(errno)); }
    fsync_dir(ck);
    char **names;
    int n = list_checkpoints(ck, &names);
    for (int i = 0; i < n; i++) {
        if (i >= KEEP_CHECKPOINTS) { snprintf(p, sizeof p, "%s/%s", ck, names[i]); remove_tree(p); }
        free(names[i]);
    }
    free(names);
    return AFM_OK;
}

static bool same_shape(const afm_config *a, const afm_config *b) {
    return a->n_vocab == b->n_vocab && a->dim == b->dim && a->n_layers == b->n_layers && a->n_heads == b->n_heads &&
           a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim && a->ffn_dim == b->ffn_dim &&
           a->rope_layout == b->rope_layout && a->qk_norm == b->qk_norm && a->tied_output == b->tied_output;
}

/* Loads the newest valid checkpoint; AFM_ERR_IO if there is none. */
static afm_status load_checkpoint(const char *run, afm_train_model *m, afm_optim *o, run_state *s, char *used, size_t used_size) {
    char ck[4096], p[4200];
    snprintf(ck, sizeof ck, "%s/ckpt", run);
    char **names;
    int n = list_checkpoints(ck, &names);
    afm_status st = afm_error(AFM_ERR_IO, "no checkpoint in %s", ck);
    for (int i = 0; i < n; i++) {
        if (st == AFM_OK) { free(names[i]); continue; }
        afm_gguf *g = NULL;
        afm_config c;
        snprintf(p, sizeof p, "%s/%s/model.gguf", ck, names[i]);
        afm_status s1 = afm_gguf_open(p, &g);
        if (s1 == AFM_OK) s1 = afm_train_gguf_config(g, &c);
        if (s1 == AFM_OK && !same_shape(&c, &m->cfg)) s1 = afm_error(AFM_ERR_FORMAT, "%s: model shape differs from the recipe", p);
        if (s1 == AFM_OK) s1 = afm_train_gguf_load(m, g);
        afm_gguf_close(g);
        snprintf(p, sizeof p, "%s/%s/state.bin", ck, names[i]);
        if (s1 == AFM_OK) s1 = read_state(p, s, o);
        if (s1 == AFM_OK) { st = AFM_OK; snprintf(used, used_size, "%s", names[i]); }
        free(names[i]);
    }
    free(names);
    return st;
}

/* Keeps the metrics lines whose "step" <= step (the part the checkpoint covers). */
static afm_status trim_metrics(const char *path, uint64_t step) {
    if (!afm_file_exists(path)) return AFM_OK;
    char *data;
    size_t size;
    AFM_TRY(afm_read_file(path, &data, &size));
    afm_atomic_file af;
    afm_status st = afm_atomic_open(path, &af);
    if (st != AFM_OK) { free(data); return st; }
    char *p = data, *end = data + size;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl + 1 : end;
        const char *k = strstr(p, "\"step\":");
        if (k && k < e && strtoull(k + 7, NULL, 10) <= step && nl) fwrite(p, 1, (size_t)(e - p), af.f);
        p = e;
    }
    free(data);
    return afm_atomic_commit(&af);
}

/* ---------------- the loop ---------------- */
static afm_status val_loss(afm_train_model *m, const afm_data *d, const afm_stage *s, int64_t batches, int32_t *x, int32_t *y, double *out) {
    double sum = 0;
    for (int64_t k = 0; k < batches; k++) {
        AFM_TRY(afm_data_val_batch(d, (int)k, s->batch_size, s->seq_len, x, y));
        double l;
        AFM_TRY(afm_train_eval_loss(m, x, y, s->batch_size, s->seq_len, &l));
        sum += l;
    }
    *out = sum / (double)batches;
    return AFM_OK;
}

typedef struct trainer {
    const afm_recipe *r;
    const afm_train_options *o;
    afm_pool *pool;
    afm_data *data;
    afm_gguf *tok;
    afm_train_model *m;
    afm_optim *opt;
    bool shard;                   /* ZeRO-1: opt holds this rank's range only */
    int groups, groups_here;      /* G row groups per micro-batch; G / N of them on this rank */
    float **group_grads;          /* groups_here - 1 extra gradient buffers (the last group uses m->grads) */
    FILE *metrics;
    int32_t *x, *y;
    double *weights[AFM_RECIPE_MAX_STAGES];
    afm_distill_teacher *teacher; /* recipe "distill"; NULL otherwise */
    float *teacher_logits;        /* (T, V): one row of the micro-batch at a time */
} trainer;

static void trainer_free(trainer *t) {
    afm_distill_teacher_free(t->teacher);
    free(t->teacher_logits);
    afm_optim_free(t->opt);
    if (t->group_grads) for (int j = 0; j < t->groups_here - 1; j++) afm_free(t->group_grads[j]);
    free(t->group_grads);
    afm_train_model_free(t->m);
    afm_gguf_close(t->tok);
    afm_data_close(t->data);
    afm_pool_free(t->pool);
    if (t->metrics) fclose(t->metrics);
    free(t->x);
    free(t->y);
    for (int i = 0; i < AFM_RECIPE_MAX_STAGES; i++) free(t->weights[i]);
}

/* ---------------- data parallel (train/dist.h) ---------------- */
static int dist_size(const afm_train_options *o) { return o->dist ? o->dist->size : 1; }
static bool is_rank0(const afm_train_options *o) { return !o->dist || o->dist->rank == 0; }

static long count_targets(const int32_t *y, long n) {
    long c = 0;
    for (long i = 0; i < n; i++) c += y[i] >= 0;
    return c;
}

/* Forward + backward of row group g of G of one micro-batch (x, y) of b rows of T tokens: rows
 * [g·b/G, (g+1)·b/G), whose mean loss is weighed by their share n_g / n of the counted targets,
 * adding that times d(loss)/dθ / accum into the gradients and loss / accum into *loss. Summed
 * over the groups in group order (dist.h), gradients and losses are the global batch's. */
/* Distillation (train/distill.h): the teacher's logits for the same rows replace the loss and
 * the gradient of the logits (scale as backward's), chunk by chunk of the student's output layer
 * (afm_train_step_loss): the teacher evaluates one row (sequence) of T tokens at a time, when
 * the chunks reach it, into a (T, V) buffer; the sums run in row order, so loss and gradients
 * are those of one afm_distill_loss over the whole micro-batch. */
typedef struct distill_ctx {
    trainer *t;
    const int32_t *x, *y;
    int T;
    float scale;
    long n_total, row;            /* counted targets of the micro-batch; the row in teacher_logits */
    afm_distill_sums acc;
} distill_ctx;

static afm_status distill_chunk(void *p, float *logits, long n0, long rows, long V) {
    distill_ctx *d = p;
    for (long n = n0; n < n0 + rows;) {
        long r = n / d->T, end = (r + 1) * d->T < n0 + rows ? (r + 1) * d->T : n0 + rows;
        if (r != d->row) {
            AFM_TRY(afm_distill_teacher_logits(d->t->teacher, d->x + r * d->T, 1, d->T, d->t->teacher_logits));
            d->row = r;
        }
        AFM_TRY(afm_distill_loss_rows(&d->t->r->distill, logits + (n - n0) * V, d->t->teacher_logits + (n - r * d->T) * V,
                                      d->y + n, end - n, V, true, d->scale, d->n_total, &d->acc));
        n = end;
    }
    return AFM_OK;
}

static afm_status distill_step(trainer *t, const int32_t *x, const int32_t *y, int b, int T, float scale, double *loss, double *mon) {
    distill_ctx d = {t, x, y, T, scale, count_targets(y, (long)b * T), -1, {0, 0, 0, 0}};
    AFM_TRY(afm_train_step_loss(t->m, x, y, b, T, distill_chunk, &d));
    long c = d.acc.n_valid;
    *loss = c > 0 ? d.acc.loss / (double)c : 0.0;
    mon[0] = c > 0 ? d.acc.kl1 / (double)c : 0.0;
    mon[1] = c > 0 ? d.acc.top1 / (double)c : 0.0;
    return AFM_OK;
}

/* kl: (KL to the teacher, top-1 agreement) accumulated like the loss (distillation only) */
static afm_status micro_step(trainer *t, int g, int G, int b, int T, int accum, double *loss, double *kl) {
    int br = b, lo = 0;
    double w = 1.0, l, mon[2] = {0, 0};
    if (G > 1) {
        br = b / G;
        lo = g * br;
        long n_all = count_targets(t->y, (long)b * T), n_r = count_targets(t->y + (long)lo * T, (long)br * T);
        w = n_all > 0 ? (double)n_r / (double)n_all : 0.0;
    }
    const int32_t *x = t->x + (long)lo * T, *y = t->y + (long)lo * T;
    float scale = (float)(w / accum); /* = 1.0f / accum with one process */
    if (t->teacher) {
        AFM_TRY(distill_step(t, x, y, br, T, scale, &l, mon)); /* chunked too: no (N, V) logits of either model */
    } else {
        AFM_TRY(afm_train_step(t->m, x, y, br, T, scale, &l)); /* output layer in chunks, no (N, V) logits */
    }
    *loss += l * w / accum;
    kl[0] += mon[0] * w / accum;
    kl[1] += mon[1] * w / accum;
    return AFM_OK;
}

/* The gradients of one optimizer step: this rank's groups j = 0..K-1 (global index r·K + j), each
 * over all grad_accum micro-batches into its own buffer (the sampler is replayed from the step's
 * start for each group, so every group sees the same batches), then the fixed-order sum over all
 * G groups (afm_dist_sum_groups) into m->grads: all of it, or this rank's range when sharded.
 * Losses: per-group sums in double, added in group order. Every rank draws the same batches and
 * leaves the sampler where one process would. */
static afm_status step_gradients(trainer *t, const afm_stage *st, int si, afm_rng *rng, double *loss, double *kl) {
    const int G = t->groups, K = t->groups_here, r = t->o->dist ? t->o->dist->rank : 0;
    afm_rng start = *rng;
    double *v = calloc((size_t)3 * (size_t)G, sizeof(double)); /* (loss, kl, top1) per group */
    if (!v) return afm_error(AFM_ERR_NOMEM, "out of memory");
    afm_status s = AFM_OK;
    for (int j = 0; j < K && s == AFM_OK; j++) {
        int g = r * K + j;
        if (j > 0) *rng = start;
        afm_train_zero_grad(t->m);
        for (int a = 0; a < st->grad_accum && s == AFM_OK; a++) {
            s = afm_data_sample(t->data, rng, t->weights[si], st->batch_size, st->seq_len, t->x, t->y);
            if (s == AFM_OK) s = micro_step(t, g, G, st->batch_size, st->seq_len, st->grad_accum, &v[3 * g], &v[3 * g + 1]);
        }
        if (s == AFM_OK && j < K - 1) memcpy(t->group_grads[j], t->m->grads, t->m->n_params * sizeof(float));
    }
    if (s == AFM_OK && dist_size(t->o) > 1) s = afm_dist_sum_doubles(t->o->dist, v, 3 * G); /* other groups are 0: exact */
    if (s == AFM_OK) {
        *loss = kl[0] = kl[1] = 0.0;
        for (int g = 0; g < G; g++) { *loss += v[3 * g]; kl[0] += v[3 * g + 1]; kl[1] += v[3 * g + 2]; }
    }
    free(v);
    if (s != AFM_OK || (G == 1)) return s;
    float *bufs[AFM_DIST_MAX_GROUPS];
    for (int j = 0; j < K - 1; j++) bufs[j] = t->group_grads[j];
    bufs[K - 1] = t->m->grads;
    if (K == 1 && !t->shard) return afm_dist_sum_floats(t->o->dist, t->m->grads, t->m->n_params);
    return afm_dist_sum_groups(t->o->dist, bufs, K, t->m->n_params, t->m->grads, t->shard);
}

/* The distillation teacher; its vocabulary must be the data's (size, and tokens when both
 * files carry a tokenizer). */
static afm_status open_teacher(trainer *t, int Bmax, int Tmax) {
    uint64_t hash = 0;
    afm_tokenizer *tok = NULL;
    if (t->tok && afm_tokenizer_from_gguf(t->tok, &tok) == AFM_OK) hash = afm_vocab_hash(tok);
    afm_tokenizer_free(tok);
    int32_t V = t->m->cfg.n_vocab;
    AFM_TRY(afm_distill_teacher_open(&t->r->distill, V, hash, Tmax, t->o->n_threads, &t->teacher));
    size_t n;
    (void)Bmax; /* one row (sequence) of the teacher's logits at a time */
    if (!afm_mul_ok((size_t)Tmax, (size_t)V, &n) || !(t->teacher_logits = malloc(n * sizeof(float))))
        return afm_error(AFM_ERR_NOMEM, "out of memory for the teacher's logits (%d x %d)", Tmax, V);
    return AFM_OK;
}

static afm_status setup(trainer *t) {
    const afm_recipe *r = t->r;
    const afm_train_options *o = t->o;
    AFM_TRY(afm_pool_create(o->n_threads, &t->pool));
    AFM_TRY(afm_data_open(o->data_dir, &t->data));
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer.gguf", o->data_dir);
    if (afm_file_exists(p)) AFM_TRY(afm_gguf_open(p, &t->tok));
    afm_config c = r->model;
    c.n_vocab = afm_data_n_vocab(t->data);
    int Bmax = 1, Tmax = 1;
    for (int i = 0; i < r->n_stages; i++) {
        const afm_stage *s = &r->stages[i];
        if (s->batch_size > Bmax) Bmax = s->batch_size;
        if (s->seq_len > Tmax) Tmax = s->seq_len;
        int n = afm_data_n_sources(t->data);
        t->weights[i] = calloc((size_t)n, sizeof(double));
        if (!t->weights[i]) return afm_error(AFM_ERR_NOMEM, "out of memory");
        if (s->n_mix == 0) for (int k = 0; k < n; k++) t->weights[i][k] = 1.0;
        for (int k = 0; k < s->n_mix; k++) {
            int idx = afm_data_find_source(t->data, s->mix_name[k]);
            if (idx < 0) return afm_error(AFM_ERR_INVALID_ARG, "recipe stage '%s': source '%s' is not in %s", s->name, s->mix_name[k], o->data_dir);
            t->weights[i][idx] = s->mix_weight[k];
        }
    }
    AFM_TRY(afm_data_set_split(t->data, r->val_fraction, Tmax));
    afm_train_model_opts mo = {.checkpoint_activations = r->checkpoint_activations};
    AFM_TRY(afm_train_model_create_opts(&c, Bmax, Tmax, &mo, t->pool, &t->m));
    t->m->z_loss = r->z_loss;
    afm_gemm_ws_set_bf16(t->m->gemm, r->compute_bf16);
    if (r->distill.mode != AFM_DISTILL_OFF) AFM_TRY(open_teacher(t, Bmax, Tmax));
    t->shard = (r->shard_optimizer || o->shard_optimizer) && dist_size(o) > 1;
    AFM_TRY(check_groups(r, dist_size(o), &t->groups));
    t->groups_here = t->groups / dist_size(o);
    if (t->groups_here > 1) {
        if (!(t->group_grads = calloc((size_t)t->groups_here, sizeof(float *))))
            return afm_error(AFM_ERR_NOMEM, "out of memory");
        for (int j = 0; j < t->groups_here - 1; j++)
            if (!(t->group_grads[j] = afm_alloc(t->m->n_params * sizeof(float))))
                return afm_error(AFM_ERR_NOMEM, "out of memory for %d gradient buffers of reduce_groups %d (%zu parameters)",
                                 t->groups_here - 1, t->groups, t->m->n_params);
    }
    if (t->shard) AFM_TRY(afm_optim_create_shard(&r->optim, t->m->n_params, o->dist, &t->opt));
    else AFM_TRY(afm_optim_create(&r->optim, t->m->n_params, &t->opt));
    t->x = malloc(sizeof(int32_t) * (size_t)Bmax * Tmax);
    t->y = malloc(sizeof(int32_t) * (size_t)Bmax * Tmax);
    if (!t->x || !t->y) return afm_error(AFM_ERR_NOMEM, "out of memory");
    return mkdir_one(o->run_dir);
}

/* metrics.jsonl when distilling: ,"kl":KL(teacher || student) at T = 1,"top1":argmax agreement */
static const char *distill_field(const trainer *t, const double *kl, char *buf, size_t size) {
    if (!t->teacher) return "";
    snprintf(buf, size, ",\"kl\":%.9g,\"top1\":%.6g", kl[0], kl[1]);
    return buf;
}

static void emit(const afm_train_options *o, afm_train_progress *p) { if (o->progress && is_rank0(o)) o->progress(o->progress_ctx, p); }

static afm_status loop(trainer *t) {
    const afm_recipe *r = t->r;
    const afm_train_options *o = t->o;
    run_state s = {0};
    afm_rng rng;
    afm_rng_seed(&rng, r->seed);
    char mpath[4096], used[64] = "";
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", o->run_dir);
    if (o->resume) {
        afm_status st = load_checkpoint(o->run_dir, t->m, t->opt, &s, used, sizeof used);
        if (st != AFM_OK) return afm_error_prefix(st, "--resume");
        memcpy(rng.s, s.rng, sizeof rng.s);
        t->opt->t = (int64_t)s.optim_t;
        if (is_rank0(o)) AFM_TRY(trim_metrics(mpath, s.step));
    } else {
        char ck[4200];
        snprintf(ck, sizeof ck, "%s/ckpt", o->run_dir);
        char **names;
        int n = list_checkpoints(ck, &names);
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        if (n > 0) return afm_error(AFM_ERR_INVALID_ARG, "%s already holds checkpoints: pass --resume to continue it, or use a new run folder", o->run_dir);
        afm_train_model_init(t->m, r->seed);
        if (is_rank0(o)) remove(mpath);
    }
    if (is_rank0(o)) t->metrics = fopen(mpath, "a");
    if (is_rank0(o) && !t->metrics) return afm_error(AFM_ERR_IO, "cannot open %s: %s", mpath, strerror(errno));
    int64_t total = afm_recipe_total_steps(r), stop_at = o->max_steps > 0 && o->max_steps < total ? o->max_steps : total;
    double t_start = afm_now_s();
    char klbuf[96];
    uint64_t step0 = s.step;
    while ((int64_t)s.step < stop_at) {
        int si = 0;
        int64_t begin = 0;
        while (si < r->n_stages - 1 && (int64_t)s.step >= begin + r->stages[si].steps) begin += r->stages[si++].steps;
        const afm_stage *st = &r->stages[si];
        int64_t local = (int64_t)s.step - begin;
        t->m->cfg.rope_theta = st->rope_theta;
        double t0 = afm_now_s(), loss = 0, kl[2] = {0, 0};
        AFM_TRY(step_gradients(t, st, si, &rng, &loss, kl));
        afm_schedule sch = {st->schedule, st->warmup, st->steps, st->floor};
        double mult = afm_schedule_at(&sch, local);
        t->opt->cfg.lr = st->lr;
        t->opt->cfg.weight_decay = st->weight_decay;
        afm_optim_result res = {0, true};
        if (isfinite(loss)) AFM_TRY(afm_optim_step(t->opt, t->m, (float)mult, &res));
        /* sharded: each rank updated its range; every rank takes the others' (skips agree) */
        if (t->shard && !res.skipped) AFM_TRY(afm_dist_allgather_floats(o->dist, t->m->params, t->m->n_params));
        s.bad_streak = res.skipped ? s.bad_streak + 1 : 0;
        s.step++;
        s.tokens += (uint64_t)st->batch_size * st->seq_len * st->grad_accum;
        double dt = afm_now_s() - t0, tps = (double)st->batch_size * st->seq_len * st->grad_accum / dt;
        if (t->metrics && ((int64_t)s.step % r->log_every == 0 || (int64_t)s.step == stop_at))
            fprintf(t->metrics, "{\"split\":\"train\",\"step\":%" PRIu64 ",\"stage\":\"%s\",\"loss\":%.9g,\"lr\":%.9g,\"grad_norm\":%.9g,"
                    "\"tokens\":%" PRIu64 ",\"tokens_per_s\":%.1f,\"skipped\":%s%s}\n", s.step, st->name, loss, st->lr * mult,
                    res.grad_norm, s.tokens, tps, res.skipped ? "true" : "false", distill_field(t, kl, klbuf, sizeof klbuf));
        double elapsed = afm_now_s() - t_start;
        afm_train_progress pr = {(int64_t)s.step, stop_at, st->name, loss, st->lr * mult, tps,
                                 elapsed / (double)(s.step - step0) * (double)(stop_at - (int64_t)s.step), false, false};
        emit(o, &pr);
        if (s.bad_streak >= (uint64_t)r->max_bad_steps) {
            if (t->metrics) fflush(t->metrics);
            return afm_error(AFM_ERR_RANGE, "stopping: %" PRIu64 " steps in a row had a non-finite loss or gradient (last loss %g, "
                             "gradient norm %g); the last checkpoint is intact", s.bad_streak, loss, res.grad_norm);
        }
        if (is_rank0(o) && r->eval_every > 0 && r->eval_batches > 0 && (int64_t)s.step % r->eval_every == 0) {
            double vl;
            afm_status vs = val_loss(t->m, t->data, st, r->eval_batches, t->x, t->y, &vl);
            if (vs == AFM_OK) {
                fprintf(t->metrics, "{\"split\":\"val\",\"step\":%" PRIu64 ",\"stage\":\"%s\",\"loss\":%.9g}\n", s.step, st->name, vl);
                pr.val = true;
                pr.loss = vl;
                emit(o, &pr);
            } else if (vs != AFM_ERR_RANGE) return vs;
        }
        bool stopping = o->stop && *o->stop;
        if (o->dist) AFM_TRY(afm_dist_any(o->dist, &stopping)); /* a signal may reach only some ranks */
        bool last = (int64_t)s.step == stop_at;
        if (stopping || last || (r->checkpoint_every > 0 && (int64_t)s.step % r->checkpoint_every == 0)) {
            memcpy(s.rng, rng.s, sizeof s.rng);
            s.optim_t = (uint64_t)t->opt->t;
            if (is_rank0(o)) {
                fflush(t->metrics);
                fsync(fileno(t->metrics));
                AFM_TRY(save_checkpoint(o->run_dir, t->m, t->opt, &s, t->tok));
            } else if (t->shard) AFM_TRY(send_state(t->opt));
            pr.checkpoint = true;
            pr.val = false;
            emit(o, &pr);
        }
        if (stopping) break;
    }
    return AFM_OK;
}

afm_status afm_train_run(const afm_recipe *r, const afm_train_options *o) {
    trainer t;
    memset(&t, 0, sizeof t);
    t.r = r;
    t.o = o;
    afm_status st = setup(&t);
    if (st == AFM_OK) st = loop(&t);
    trainer_free(&t);
    return st;
}
