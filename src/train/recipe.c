/* Strict JSON recipe parser (see recipe.h). */
#include "train/recipe.h"
#include "base/error.h"
#include "base/file.h"
#include "model/train_model.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static afm_status check_keys(const cJSON *o, const char *where, const char *const *allowed) {
    const cJSON *c;
    cJSON_ArrayForEach(c, o) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++) if (!strcmp(*a, c->string)) { ok = true; break; }
        if (!ok) return afm_error(AFM_ERR_FORMAT, "recipe: unknown key \"%s\" in %s", c->string, where);
    }
    return AFM_OK;
}

/* Number in [lo, hi]; absent: dflt (required when dflt is NAN). */
static afm_status num(const cJSON *o, const char *where, const char *key, double lo, double hi, double dflt, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (isnan(dflt)) return afm_error(AFM_ERR_FORMAT, "recipe: %s needs \"%s\"", where, key);
        *out = dflt;
        return AFM_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return afm_error(AFM_ERR_FORMAT, "recipe: %s.%s must be a number in [%g, %g]", where, key, lo, hi);
    *out = v->valuedouble;
    return AFM_OK;
}

static afm_status integer(const cJSON *o, const char *where, const char *key, double lo, double hi, double dflt, int64_t *out) {
    double d = 0;
    AFM_TRY(num(o, where, key, lo, hi, dflt, &d));
    if (d != floor(d)) return afm_error(AFM_ERR_FORMAT, "recipe: %s.%s must be an integer", where, key);
    *out = (int64_t)d;
    return AFM_OK;
}

static afm_status choice(const cJSON *o, const char *where, const char *key, const char *const *names, int dflt, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) { *out = dflt; return AFM_OK; }
    if (cJSON_IsString(v))
        for (int i = 0; names[i]; i++) if (!strcmp(names[i], v->valuestring)) { *out = i; return AFM_OK; }
    return afm_error(AFM_ERR_FORMAT, "recipe: %s.%s has an unknown value", where, key);
}

static afm_status parse_model(const cJSON *m, afm_config *c) {
    static const char *const keys[] = {"dim", "n_layers", "n_heads", "n_kv_heads", "head_dim", "ffn_dim", "max_seq_len",
                                       "rope_layout", "qk_norm", "tied", "norm_eps", "n_vocab", "rope_theta", NULL};
    if (!cJSON_IsObject(m)) return afm_error(AFM_ERR_FORMAT, "recipe: \"model\" must be an object");
    AFM_TRY(check_keys(m, "model", keys));
    memset(c, 0, sizeof *c);
    snprintf(c->arch, sizeof c->arch, "afm");
    int64_t v;
    const double BIG = 1 << 24;
    AFM_TRY(integer(m, "model", "dim", 1, BIG, NAN, &v)); c->dim = (int32_t)v;
    AFM_TRY(integer(m, "model", "n_layers", 1, 4096, NAN, &v)); c->n_layers = (int32_t)v;
    AFM_TRY(integer(m, "model", "n_heads", 1, 4096, NAN, &v)); c->n_heads = (int32_t)v;
    AFM_TRY(integer(m, "model", "n_kv_heads", 1, 4096, c->n_heads, &v)); c->n_kv_heads = (int32_t)v;
    AFM_TRY(integer(m, "model", "head_dim", 2, 65536, c->dim / c->n_heads, &v)); c->head_dim = (int32_t)v;
    AFM_TRY(integer(m, "model", "ffn_dim", 1, BIG, NAN, &v)); c->ffn_dim = (int32_t)v;
    AFM_TRY(integer(m, "model", "max_seq_len", 1, BIG, 4096, &v)); c->max_seq_len = (int32_t)v;
    AFM_TRY(integer(m, "model", "n_vocab", 0, BIG, 0, &v)); c->n_vocab = (int32_t)v;
    double d = 0;
    AFM_TRY(num(m, "model", "norm_eps", 1e-12, 1, 1e-5, &d)); c->norm_eps = (float)d;
    AFM_TRY(num(m, "model", "rope_theta", 1, 1e12, 500000, &d)); c->rope_theta = (float)d;
    static const char *const layouts[] = {"interleaved", "half", NULL}, *const qks[] = {"off", "before_rope", "after_rope", NULL};
    int w = 0;
    AFM_TRY(choice(m, "model", "rope_layout", layouts, 0, &w)); c->rope_layout = (afm_rope_layout)w;
    AFM_TRY(choice(m, "model", "qk_norm", qks, 2, &w)); c->qk_norm = (afm_qk_norm)w;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "tied");
    if (t && !cJSON_IsBool(t)) return afm_error(AFM_ERR_FORMAT, "recipe: model.tied must be true or false");
    c->tied_output = !t || cJSON_IsTrue(t);
    afm_config chk = *c;
    if (chk.n_vocab == 0) chk.n_vocab = 1;
    afm_status st = afm_train_config_check(&chk);
    if (st != AFM_OK) return afm_error_prefix(st, "recipe");
    return AFM_OK;
}

static afm_status parse_optim(const cJSON *o, int dim, afm_optim_config *c) {
    static const char *const keys[] = {"kind", "beta1", "beta2", "eps", "clip_norm", "skip_norm", "update_rms_clip", "mup_scale", "decay_norms", NULL};
    static const char *const kinds[] = {"adamw", "afm", NULL};
    int kind = 1;
    if (o) {
        if (!cJSON_IsObject(o)) return afm_error(AFM_ERR_FORMAT, "recipe: \"optimizer\" must be an object");
        AFM_TRY(check_keys(o, "optimizer", keys));
        AFM_TRY(choice(o, "optimizer", "kind", kinds, 1, &kind));
    }
    *c = afm_optim_defaults((afm_optim_kind)kind, dim);
    if (!o) return AFM_OK;
    double d = 0;
    AFM_TRY(num(o, "optimizer", "beta1", 0, 0.999999, c->beta1, &d)); c->beta1 = (float)d;
    AFM_TRY(num(o, "optimizer", "beta2", 0, 0.999999, c->beta2, &d)); c->beta2 = (float)d;
    AFM_TRY(num(o, "optimizer", "eps", 0, 1, c->eps, &d)); c->eps = (float)d;
    AFM_TRY(num(o, "optimizer", "clip_norm", 0, 1e9, c->clip_norm, &d)); c->clip_norm = (float)d;
    AFM_TRY(num(o, "optimizer", "skip_norm", 0, 1e30, c->skip_norm, &d)); c->skip_norm = (float)d;
    AFM_TRY(num(o, "optimizer", "update_rms_clip", 0, 1e9, c->update_rms_clip, &d)); c->update_rms_clip = (float)d;
    AFM_TRY(num(o, "optimizer", "mup_scale", 0, 1e3, c->mup_scale, &d)); c->mup_scale = (float)d;
    const cJSON *dn = cJSON_GetObjectItemCaseSensitive(o, "decay_norms");
    if (dn && !cJSON_IsBool(dn)) return afm_error(AFM_ERR_FORMAT, "recipe: optimizer.decay_norms must be true or false");
    if (dn) c->decay_norms = cJSON_IsTrue(dn);
    return AFM_OK;
}

static afm_status parse_stage(const cJSON *s, int idx, const afm_recipe *r, afm_stage *st) {
    static const char *const keys[] = {"name", "steps", "tokens", "seq_len", "batch_size", "grad_accum", "lr", "warmup", "schedule",
                                       "floor", "weight_decay", "rope_theta", "mixture", NULL};
    char where[96];
    snprintf(where, sizeof where, "stages[%d]", idx);
    if (!cJSON_IsObject(s)) return afm_error(AFM_ERR_FORMAT, "recipe: %s must be an object", where);
    AFM_TRY(check_keys(s, where, keys));
    memset(st, 0, sizeof *st);
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "name");
    if (nm && (!cJSON_IsString(nm) || strlen(nm->valuestring) >= sizeof st->name)) return afm_error(AFM_ERR_FORMAT, "recipe: %s.name must be a short string", where);
    snprintf(st->name, sizeof st->name, "%s", nm ? nm->valuestring : "stage");
    int64_t v;
    AFM_TRY(integer(s, where, "seq_len", 1, r->model.max_seq_len, NAN, &v)); st->seq_len = (int)v;
    AFM_TRY(integer(s, where, "batch_size", 1, 1 << 20, NAN, &v)); st->batch_size = (int)v;
    AFM_TRY(integer(s, where, "grad_accum", 1, 1 << 20, 1, &v)); st->grad_accum = (int)v;
    bool has_steps = cJSON_GetObjectItemCaseSensitive(s, "steps"), has_tokens = cJSON_GetObjectItemCaseSensitive(s, "tokens");
    if (has_steps == has_tokens) return afm_error(AFM_ERR_FORMAT, "recipe: %s needs exactly one of \"steps\" and \"tokens\"", where);
    if (has_steps) AFM_TRY(integer(s, where, "steps", 1, 1e15, NAN, &st->steps));
    else {
        AFM_TRY(integer(s, where, "tokens", 1, 1e18, NAN, &st->tokens));
        double per = (double)st->seq_len * st->batch_size * st->grad_accum;
        st->steps = (int64_t)ceil((double)st->tokens / per);
    }
    double d = 0;
    AFM_TRY(num(s, where, "lr", 0, 10, NAN, &d)); st->lr = (float)d;
    AFM_TRY(integer(s, where, "warmup", 0, 1e15, 0, &st->warmup));
    static const char *const scheds[] = {"constant", "cosine", "linear", NULL};
    int w = 0;
    AFM_TRY(choice(s, where, "schedule", scheds, 1, &w)); st->schedule = (afm_sched_kind)w;
    AFM_TRY(num(s, where, "floor", 0, 1, 0.0, &d)); st->floor = (float)d;
    AFM_TRY(num(s, where, "weight_decay", 0, 10, r->optim.weight_decay, &d)); st->weight_decay = (float)d;
    AFM_TRY(num(s, where, "rope_theta", 1, 1e12, r->model.rope_theta, &d)); st->rope_theta = (float)d;
    const cJSON *mix = cJSON_GetObjectItemCaseSensitive(s, "mixture");
    if (mix) {
        if (!cJSON_IsObject(mix)) return afm_error(AFM_ERR_FORMAT, "recipe: %s.mixture must be an object of source: weight", where);
        const cJSON *m;
        cJSON_ArrayForEach(m, mix) {
            if (st->n_mix == AFM_RECIPE_MAX_MIX) return afm_error(AFM_ERR_FORMAT, "recipe: %s.mixture has too many sources", where);
            if (!cJSON_IsNumber(m) || !(m->valuedouble >= 0) || strlen(m->string) >= sizeof st->mix_name[0])
                return afm_error(AFM_ERR_FORMAT, "recipe: %s.mixture.%s must be a weight >= 0", where, m->string);
            snprintf(st->mix_name[st->n_mix], sizeof st->mix_name[0], "%s", m->string);
            st->mix_weight[st->n_mix++] = m->valuedouble;
        }
    }
    return AFM_OK;
}

afm_status afm_recipe_parse(const char *json, size_t len, afm_recipe *r) {
    memset(r, 0, sizeof *r);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return afm_error(AFM_ERR_FORMAT, "recipe: not valid JSON (near byte %ld)", (long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json : 0));
    static const char *const keys[] = {"model", "optimizer", "seed", "z_loss", "val_fraction", "eval_every", "eval_batches",
                                       "checkpoint_every", "log_every", "max_bad_steps", "stages", "name", "description", "distill", "shard_optimizer", "reduce_groups", "compute", "checkpoint_activations", NULL};
    afm_status st = AFM_OK;
    if (!cJSON_IsObject(root)) st = afm_error(AFM_ERR_FORMAT, "recipe: the top level must be an object");
    if (st == AFM_OK) st = check_keys(root, "the recipe", keys);
    if (st == AFM_OK) st = parse_model(cJSON_GetObjectItemCaseSensitive(root, "model"), &r->model);
    if (st == AFM_OK) st = parse_optim(cJSON_GetObjectItemCaseSensitive(root, "optimizer"), r->model.dim, &r->optim);
    int64_t v;
    double d = 0;
    if (st == AFM_OK) { st = integer(root, "recipe", "seed", 0, 9007199254740991.0, 1, &v); r->seed = (uint64_t)v; }
    if (st == AFM_OK) { st = num(root, "recipe", "z_loss", 0, 1, 0, &d); r->z_loss = (float)d; }
    if (st == AFM_OK) st = num(root, "recipe", "val_fraction", 0, 0.5, 0.01, &r->val_fraction);
    if (st == AFM_OK) st = integer(root, "recipe", "eval_every", 0, 1e15, 100, &r->eval_every);
    if (st == AFM_OK) st = integer(root, "recipe", "eval_batches", 0, 1e6, 4, &r->eval_batches);
    if (st == AFM_OK) st = integer(root, "recipe", "checkpoint_every", 0, 1e15, 500, &r->checkpoint_every);
    if (st == AFM_OK) st = integer(root, "recipe", "log_every", 1, 1e15, 1, &r->log_every);
    if (st == AFM_OK) st = integer(root, "recipe", "max_bad_steps", 1, 1e6, 5, &r->max_bad_steps);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "shard_optimizer");
    if (st == AFM_OK && so && !cJSON_IsBool(so)) st = afm_error(AFM_ERR_FORMAT, "recipe: shard_optimizer must be true or false");
    r->shard_optimizer = so && cJSON_IsTrue(so);
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(root, "checkpoint_activations");
    if (st == AFM_OK && ca && !cJSON_IsBool(ca)) st = afm_error(AFM_ERR_FORMAT, "recipe: checkpoint_activations must be true or false");
    r->checkpoint_activations = ca && cJSON_IsTrue(ca);
    if (st == AFM_OK) { st = integer(root, "recipe", "reduce_groups", 0, 4096, 0, &v); r->reduce_groups = (int)v; }
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(root, "compute");
    if (st == AFM_OK && cm && !(cJSON_IsString(cm) && (!strcmp(cm->valuestring, "f32") || !strcmp(cm->valuestring, "bf16"))))
        st = afm_error(AFM_ERR_FORMAT, "recipe: compute must be \"f32\" or \"bf16\"");
    r->compute_bf16 = st == AFM_OK && cm && !strcmp(cm->valuestring, "bf16");
    if (st == AFM_OK) st = afm_distill_parse(cJSON_GetObjectItemCaseSensitive(root, "distill"), &r->distill);
    if (st == AFM_OK && r->distill.mode != AFM_DISTILL_OFF && r->z_loss != 0)
        st = afm_error(AFM_ERR_FORMAT, "recipe: z_loss must be 0 with distill (the distillation losses have no z-loss term)");
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    if (st == AFM_OK && (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) < 1 || cJSON_GetArraySize(stages) > AFM_RECIPE_MAX_STAGES))
        st = afm_error(AFM_ERR_FORMAT, "recipe: \"stages\" must be a list of 1 to %d stages", AFM_RECIPE_MAX_STAGES);
    if (st == AFM_OK) {
        const cJSON *s;
        cJSON_ArrayForEach(s, stages) {
            if ((st = parse_stage(s, r->n_stages, r, &r->stages[r->n_stages])) != AFM_OK) break;
            r->n_stages++;
        }
    }
    cJSON_Delete(root);
    return st;
}

afm_status afm_recipe_load(const char *path, afm_recipe *r) {
    char *js;
    size_t len;
    AFM_TRY(afm_read_file(path, &js, &len));
    afm_status st = afm_recipe_parse(js, len, r);
    free(js);
    if (st != AFM_OK) return afm_error_prefix(st, "%s", path);
    return AFM_OK;
}

int64_t afm_recipe_total_steps(const afm_recipe *r) {
    int64_t n = 0;
    for (int i = 0; i < r->n_stages; i++) n += r->stages[i].steps;
    return n;
}
