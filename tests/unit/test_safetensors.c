/* safetensors reader, HF config.json parsing, HF -> GGUF names and the llama q/k permutation.
 * Fixtures (tests/fixtures/formats/) come from scripts/reference/make_safetensors_fixtures.py
 * (numpy + json, cross-checked with the safetensors package) and make_permute_fixture.py (numpy
 * re-implementation of llama.cpp's documented reshape/swapaxes formula). */
#include "formats/safetensors.h"
#include "base/file.h"
#include "tensor/dtype.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); failures++; } } while (0)
#define OK(e) do { afm_status s_ = (e); if (s_ != AFM_OK) { fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #e, afm_last_error()); exit(1); } } while (0)

static char g_dir[1024];

static const char *fixture(const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return path;
}

static cJSON *load_json(const char *name) {
    char *text;
    size_t len;
    OK(afm_read_file(fixture(name), &text, &len));
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) {
        fprintf(stderr, "cannot parse %s\n", name);
        exit(1);
    }
    return j;
}

static uint32_t dtype_of(const char *s) {
    return strcmp(s, "F32") == 0 ? AFM_F32 : strcmp(s, "F16") == 0 ? AFM_F16 : AFM_BF16;
}

/* Every tensor of tiny.safetensors against the values numpy decoded from the stored bytes. */
static void check_tiny(const afm_safetensors *st, const cJSON *expect) {
    const cJSON *tensors = cJSON_GetObjectItem(expect, "tensors"), *order = cJSON_GetObjectItem(expect, "order");
    CHECK(afm_safetensors_n_tensors(st) == cJSON_GetArraySize(tensors));
    int i = 0;
    for (const cJSON *o = order->child; o; o = o->next, i++) {
        const afm_st_tensor *t = afm_safetensors_tensor_at(st, i);
        CHECK(t && strcmp(t->name, o->valuestring) == 0);   /* file (data) order */
        if (t && strcmp(t->name, o->valuestring) != 0) fprintf(stderr, "  position %d: %s, expected %s\n", i, t->name, o->valuestring);
    }
    for (const cJSON *e = tensors->child; e; e = e->next) {
        const afm_st_tensor *t = afm_safetensors_find(st, e->string);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK(t->dtype == dtype_of(cJSON_GetObjectItem(e, "dtype")->valuestring));
        const cJSON *shape = cJSON_GetObjectItem(e, "shape"), *values = cJSON_GetObjectItem(e, "values");
        CHECK((int)t->n_dims == cJSON_GetArraySize(shape));
        int d = 0;
        for (const cJSON *s = shape->child; s; s = s->next, d++) CHECK(t->shape[d] == (int64_t)s->valuedouble);
        for (; d < AFM_ST_MAX_DIMS; d++) CHECK(t->shape[d] == 1);
        size_t n = (size_t)cJSON_GetArraySize(values);
        CHECK(t->nbytes == n * (t->dtype == AFM_F32 ? 4 : 2));
        float *f = malloc((n ? n : 1) * sizeof *f);
        OK(afm_st_to_f32(t, f, n));
        size_t k = 0;
        for (const cJSON *v = values->child; v; v = v->next, k++) CHECK(f[k] == (float)v->valuedouble);
        free(f);
    }
    CHECK(afm_safetensors_find(st, "missing") == NULL);
    CHECK(afm_safetensors_metadata(st, "format") && strcmp(afm_safetensors_metadata(st, "format"), "pt") == 0);
    CHECK(afm_safetensors_metadata(st, "nope") == NULL);
}

/* A file written by the reference implementation (safetensors.torch.save_file). */
static void library_written(void) {
    cJSON *expect = load_json("tiny_lib.expect.json");
    afm_safetensors *st;
    OK(afm_safetensors_open(fixture("tiny_lib.safetensors"), &st));
    const cJSON *tensors = cJSON_GetObjectItem(expect, "tensors");
    CHECK(afm_safetensors_n_tensors(st) == cJSON_GetArraySize(tensors));
    for (const cJSON *e = tensors->child; e; e = e->next) {
        const afm_st_tensor *t = afm_safetensors_find(st, e->string);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK(t->dtype == dtype_of(cJSON_GetObjectItem(e, "dtype")->valuestring));
        const cJSON *values = cJSON_GetObjectItem(e, "values");
        size_t n = (size_t)cJSON_GetArraySize(values), k = 0;
        float *f = malloc(n * sizeof *f);
        OK(afm_st_to_f32(t, f, n));
        for (const cJSON *v = values->child; v; v = v->next, k++) CHECK(f[k] == (float)v->valuedouble);
        free(f);
    }
    CHECK(strcmp(afm_safetensors_metadata(st, "writer"), "safetensors.torch") == 0);
    afm_safetensors_close(st);
    cJSON_Delete(expect);
}

static void tiny(void) {
    cJSON *expect = load_json("tiny.expect.json");
    afm_safetensors *st;
    OK(afm_safetensors_open(fixture("tiny.safetensors"), &st));
    check_tiny(st, expect);
    afm_safetensors_close(st);
    /* From memory, and every truncation is refused (the last byte belongs to a tensor). */
    char *data;
    size_t size;
    OK(afm_read_file(fixture("tiny.safetensors"), &data, &size));
    OK(afm_safetensors_open_memory(data, size, &st));
    check_tiny(st, expect);
    afm_safetensors_close(st);
    int refused = 0;
    for (size_t n = 0; n < size; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, data, n);
        if (afm_safetensors_open_memory(copy, n, &st) != AFM_OK) refused++;
        else afm_safetensors_close(st);
        free(copy);
    }
    CHECK(refused == (int)size);
    free(data);
    cJSON_Delete(expect);
}

static void sharded(void) {
    afm_safetensors *st;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", fixture("sharded"));
    OK(afm_safetensors_open(dir, &st));
    CHECK(afm_safetensors_n_tensors(st) == 12);
    const afm_st_tensor *q = afm_safetensors_find(st, "model.layers.0.self_attn.q_proj.weight");
    const afm_st_tensor *head = afm_safetensors_find(st, "lm_head.weight");
    CHECK(q && q->shard == 0 && q->dtype == AFM_BF16 && q->n_dims == 2 && q->shape[0] == 8 && q->shape[1] == 8);
    CHECK(head && head->shard == 1 && head->shape[0] == 10 && head->shape[1] == 8);
    CHECK(afm_safetensors_tensor_at(st, 0)->shard == 0 && afm_safetensors_tensor_at(st, 11)->shard == 1);
    /* Every tensor of a Llama-layout checkpoint has a GGUF name. */
    for (int64_t i = 0; i < afm_safetensors_n_tensors(st); i++) {
        char gguf_name[64];
        OK(afm_hf_to_gguf_name(afm_safetensors_tensor_at(st, i)->name, gguf_name, sizeof gguf_name));
    }
    afm_safetensors_close(st);
    OK(afm_safetensors_open(fixture("sharded/model.safetensors.index.json"), &st));
    CHECK(afm_safetensors_n_tensors(st) == 12);
    afm_safetensors_close(st);
    OK(afm_safetensors_open(fixture("sharded/model-00002-of-00002.safetensors"), &st));
    CHECK(afm_safetensors_n_tensors(st) == 6 && afm_safetensors_find(st, "model.norm.weight"));
    afm_safetensors_close(st);

    afm_config c;
    afm_hf_extra x;
    OK(afm_hf_config_load(dir, &c, &x));
    CHECK(strcmp(c.arch, "llama") == 0 && c.dim == 8 && c.n_heads == 2 && c.n_kv_heads == 1 && c.head_dim == 4);
    CHECK(c.ffn_dim == 12 && c.n_vocab == 10 && c.n_layers == 1 && c.max_seq_len == 64 && !c.tied_output);
    CHECK(c.norm_eps == 1e-5f && c.rope_theta == 10000.0f && c.rope_layout == AFM_ROPE_HALF && c.qk_norm == AFM_QK_NORM_OFF);
    CHECK(x.bos_token_id == 1 && x.eos_token_id == 2 && strcmp(x.torch_dtype, "bfloat16") == 0);
    CHECK(afm_safetensors_open("/nonexistent-dir/x.safetensors", &st) != AFM_OK);
}

/* Values from the published config.json files of SmolLM2-135M-Instruct and Qwen3-0.6B. */
static void configs(void) {
    static const char smol[] =
        "{\"architectures\":[\"LlamaForCausalLM\"],\"attention_bias\":false,\"attention_dropout\":0.0,"
        "\"bos_token_id\":1,\"eos_token_id\":2,\"hidden_act\":\"silu\",\"hidden_size\":576,"
        "\"initializer_range\":0.041666666666666664,\"intermediate_size\":1536,\"is_llama_config\":true,"
        "\"max_position_embeddings\":8192,\"mlp_bias\":false,\"model_type\":\"llama\",\"num_attention_heads\":9,"
        "\"num_hidden_layers\":30,\"num_key_value_heads\":3,\"pad_token_id\":2,\"pretraining_tp\":1,"
        "\"rms_norm_eps\":1e-05,\"rope_interleaved\":false,\"rope_scaling\":null,\"rope_theta\":100000,"
        "\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\",\"transformers_version\":\"4.42.3\","
        "\"use_cache\":true,\"vocab_size\":49152}";
    static const char qwen[] =
        "{\"architectures\":[\"Qwen3ForCausalLM\"],\"attention_bias\":false,\"attention_dropout\":0.0,"
        "\"bos_token_id\":151643,\"eos_token_id\":151645,\"head_dim\":128,\"hidden_act\":\"silu\","
        "\"hidden_size\":1024,\"initializer_range\":0.02,\"intermediate_size\":3072,"
        "\"max_position_embeddings\":40960,\"max_window_layers\":28,\"model_type\":\"qwen3\","
        "\"num_attention_heads\":16,\"num_hidden_layers\":28,\"num_key_value_heads\":8,\"rms_norm_eps\":1e-06,"
        "\"rope_scaling\":null,\"rope_theta\":1000000,\"sliding_window\":null,\"tie_word_embeddings\":true,"
        "\"torch_dtype\":\"bfloat16\",\"transformers_version\":\"4.51.0\",\"use_cache\":true,"
        "\"use_sliding_window\":false,\"vocab_size\":151936}";
    afm_config c;
    afm_hf_extra x;
    OK(afm_hf_config_parse(smol, sizeof smol - 1, &c, &x));
    CHECK(strcmp(c.arch, "llama") == 0 && c.dim == 576 && c.n_layers == 30 && c.n_heads == 9 && c.n_kv_heads == 3);
    CHECK(c.head_dim == 64 && c.ffn_dim == 1536 && c.n_vocab == 49152 && c.max_seq_len == 8192);
    CHECK(c.rope_theta == 100000.0f && c.norm_eps == 1e-5f && c.tied_output && c.qk_norm == AFM_QK_NORM_OFF);
    CHECK(x.bos_token_id == 1 && x.eos_token_id == 2);
    OK(afm_hf_config_parse(qwen, sizeof qwen - 1, &c, NULL));
    CHECK(strcmp(c.arch, "qwen3") == 0 && c.dim == 1024 && c.n_layers == 28 && c.n_heads == 16 && c.n_kv_heads == 8);
    CHECK(c.head_dim == 128 && c.ffn_dim == 3072 && c.n_vocab == 151936 && c.max_seq_len == 40960);
    CHECK(c.rope_theta == 1000000.0f && c.norm_eps == 1e-6f && c.tied_output && c.qk_norm == AFM_QK_NORM_BEFORE_ROPE);
    CHECK(c.rope_layout == AFM_ROPE_HALF);
    /* transformers >= 5 layout: theta inside rope_parameters, eos as a list, dtype renamed. */
    static const char v5[] = "{\"model_type\":\"qwen3\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                             "\"intermediate_size\":96,\"vocab_size\":100,\"eos_token_id\":[7,8],\"dtype\":\"float32\","
                             "\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":5000.0}}";
    OK(afm_hf_config_parse(v5, sizeof v5 - 1, &c, &x));
    CHECK(c.rope_theta == 5000.0f && c.n_kv_heads == 4 && c.head_dim == 16 && !c.tied_output && c.norm_eps == 1e-6f);
    CHECK(c.max_seq_len == 32768 && x.eos_token_id == 7 && x.bos_token_id == -1 && strcmp(x.torch_dtype, "float32") == 0);
    /* Refusals name the field. */
    static const struct { const char *json, *needle; } bad[] = {
        {"{\"model_type\":\"gpt2\"}", "gpt2"},
        {"{\"model_type\":\"llama\",\"hidden_size\":64}", "num_hidden_layers"},
        {"{\"model_type\":\"llama\",\"hidden_size\":-64,\"num_hidden_layers\":1}", "hidden_size"},
        {"{\"model_type\":\"llama\",\"rope_scaling\":{\"type\":\"llama3\"}}", "rope_scaling"},
        {"{\"model_type\":\"llama\",\"attention_bias\":true}", "biases"},
        {"{\"model_type\":\"llama\",\"hidden_act\":\"gelu\"}", "silu"},
        {"{\"model_type\":\"qwen3\",\"use_sliding_window\":true}", "sliding"},
        {"{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":1,\"num_attention_heads\":6,"
         "\"num_key_value_heads\":4,\"intermediate_size\":8,\"vocab_size\":9,\"head_dim\":8}", "multiple of num_key_value_heads"},
        {"{\"model_type\":\"llama\",\"hidden_size\":10,\"num_hidden_layers\":1,\"num_attention_heads\":3,"
         "\"intermediate_size\":8,\"vocab_size\":9}", "head_dim"},
        {"[1,2]", "not a JSON object"},
        {"{\"model_type\":", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        afm_status s = afm_hf_config_parse(bad[i].json, strlen(bad[i].json), &c, NULL);
        CHECK(s != AFM_OK && strstr(afm_last_error(), bad[i].needle));
        if (s == AFM_OK || !strstr(afm_last_error(), bad[i].needle))
            fprintf(stderr, "  case %zu: \"%s\" (wanted \"%s\")\n", i, afm_last_error(), bad[i].needle);
    }
}

static void names(void) {
    static const char *const map[][2] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"},
        {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
        {"model.layers.0.post_attention_layernorm.weight", "blk.0.ffn_norm.weight"},
        {"model.layers.7.self_attn.q_proj.weight", "blk.7.attn_q.weight"},
        {"model.layers.12.self_attn.k_proj.weight", "blk.12.attn_k.weight"},
        {"model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight"},
        {"model.layers.29.self_attn.o_proj.weight", "blk.29.attn_output.weight"},
        {"model.layers.1.self_attn.q_norm.weight", "blk.1.attn_q_norm.weight"},
        {"model.layers.1.self_attn.k_norm.weight", "blk.1.attn_k_norm.weight"},
        {"model.layers.100.mlp.gate_proj.weight", "blk.100.ffn_gate.weight"},
        {"model.layers.2.mlp.up_proj.weight", "blk.2.ffn_up.weight"},
        {"model.layers.2.mlp.down_proj.weight", "blk.2.ffn_down.weight"},
        {"model.layers.2.self_attn.q_proj.bias", "blk.2.attn_q.bias"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        OK(afm_hf_to_gguf_name(map[i][0], out, sizeof out));
        CHECK(strcmp(out, map[i][1]) == 0);
    }
    static const char *const unknown[] = {
        "model.layers.0.self_attn.rotary_emb.inv_freq", "model.layers.x.mlp.up_proj.weight", "model.layers.01.mlp.up_proj.weight",
        "model.layers.0.mlp.up_proj", "model.layers..mlp.up_proj.weight", "model.embed_tokens.weightx", "lm_head", "",
        "model.layers.0.mlp.up_proj.weight.extra", "model.layers.0.mlp.sideways_proj.weight",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK(afm_hf_to_gguf_name(unknown[i], out, sizeof out) == AFM_ERR_UNSUPPORTED);
        CHECK(out[0] == 0 && afm_last_error()[0]);
    }
    char small[8];
    CHECK(afm_hf_to_gguf_name("model.layers.5.mlp.up_proj.weight", small, sizeof small) == AFM_ERR_RANGE);
}

static void permutation(void) {
    cJSON *fx = load_json("permute_qk.json");
    int n_cases = 0;
    for (const cJSON *c = cJSON_GetObjectItem(fx, "cases")->child; c; c = c->next, n_cases++) {
        int32_t heads = (int32_t)cJSON_GetObjectItem(c, "n_heads")->valuedouble;
        const cJSON *shape = cJSON_GetObjectItem(c, "shape");
        int64_t rows = (int64_t)shape->child->valuedouble, cols = shape->child->next ? (int64_t)shape->child->next->valuedouble : 1;
        size_t n = (size_t)(rows * cols);
        float *in = malloc(n * 4), *want = malloc(n * 4), *got = malloc(n * 4), *back = malloc(n * 4);
        size_t k = 0;
        for (const cJSON *v = cJSON_GetObjectItem(c, "input")->child; v; v = v->next) in[k++] = (float)v->valuedouble;
        k = 0;
        for (const cJSON *v = cJSON_GetObjectItem(c, "output")->child; v; v = v->next) want[k++] = (float)v->valuedouble;
        OK(afm_hf_permute_qk(got, in, rows, (size_t)cols * 4, heads));
        CHECK(memcmp(got, want, n * 4) == 0);
        OK(afm_hf_unpermute_qk(back, got, rows, (size_t)cols * 4, heads));
        CHECK(memcmp(back, in, n * 4) == 0);
        if (rows / heads > 2) CHECK(memcmp(got, in, n * 4) != 0);   /* head_dim 2 is the identity */
        free(in); free(want); free(got); free(back);
    }
    CHECK(n_cases == 5);
    cJSON_Delete(fx);
    float a[12], b[12];
    CHECK(afm_hf_permute_qk(b, a, 12, 4, 4) == AFM_ERR_INVALID_ARG);   /* head_dim 3 is odd */
    CHECK(afm_hf_permute_qk(b, a, 12, 4, 0) == AFM_ERR_INVALID_ARG);
    CHECK(afm_hf_permute_qk(a, a, 12, 4, 2) == AFM_ERR_INVALID_ARG);   /* in place */
}

/* ---- hand-made bad files ---- */

static afm_status open_text(const char *header, const void *data, size_t data_len) {
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + data_len + 1);
    uint64_t n = hl;
    memcpy(buf, &n, 8);
    memcpy(buf + 8, header, hl);
    if (data_len) memcpy(buf + 8 + hl, data, data_len);
    afm_safetensors *st;
    afm_status s = afm_safetensors_open_memory(buf, 8 + hl + data_len, &st);
    if (s == AFM_OK) afm_safetensors_close(st);
    free(buf);
    return s;
}

static void bad_files(void) {
    static const unsigned char zeros[64];
    static const struct { const char *header; size_t data; const char *needle; } bad[] = {
        {"", 0, "JSON object"},
        {"[1]", 0, "JSON object"},
        {"{\"a\":", 16, "not valid JSON"},
        {"{} x", 0, "after the header"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16, "needs 12"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 16, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 16, "shape[0]"},
        {"{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16, "dtype \"Q9\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", 16, "5 dimensions"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 16, "begin <= end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 16, "[begin, end]"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 16, "dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 16, "shape"},
        {"{\"a\":7}", 16, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, "overlaps"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "appears twice"},
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 16, "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", 16, "begin <= end"},
        {"{\"__metadata__\":[1]}", 0, "__metadata__"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        afm_status s = open_text(bad[i].header, zeros, bad[i].data);
        CHECK(s != AFM_OK && strstr(afm_last_error(), bad[i].needle));
        if (s == AFM_OK || !strstr(afm_last_error(), bad[i].needle))
            fprintf(stderr, "  bad file %zu: got \"%s\", wanted \"%s\"\n", i, s == AFM_OK ? "(accepted)" : afm_last_error(),
                    bad[i].needle);
    }
    /* Header length fields that point nowhere. */
    unsigned char buf[16] = {0};
    uint64_t huge = (uint64_t)1 << 40;
    memcpy(buf, &huge, 8);
    afm_safetensors *st;
    CHECK(afm_safetensors_open_memory(buf, 16, &st) != AFM_OK && strstr(afm_last_error(), "100 MB"));
    uint64_t past = 100;
    memcpy(buf, &past, 8);
    CHECK(afm_safetensors_open_memory(buf, 16, &st) != AFM_OK && strstr(afm_last_error(), "past the end"));
    CHECK(afm_safetensors_open_memory(buf, 5, &st) != AFM_OK && strstr(afm_last_error(), "too short"));
    /* Valid edge cases: trailing spaces, empty header object, gaps between tensors. */
    CHECK(open_text("{}      ", NULL, 0) == AFM_OK);
    CHECK(open_text("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}", zeros, 16) == AFM_OK);

    /* An index naming a file outside the folder, one naming a missing shard, and one that lies
     * about which shard holds a tensor. */
    static const char *idx = "test_safetensors_tmp.index.json";
    FILE *f = fopen(idx, "w");
    fputs("{\"weight_map\":{\"a\":\"../etc/passwd\"}}", f);
    fclose(f);
    CHECK(afm_safetensors_open(idx, &st) != AFM_OK && strstr(afm_last_error(), "invalid file name"));
    f = fopen(idx, "w");
    fputs("{\"weight_map\":{\"lm_head.weight\":\"missing-shard.safetensors\"}}", f);
    fclose(f);
    CHECK(afm_safetensors_open(idx, &st) != AFM_OK && strstr(afm_last_error(), "missing-shard.safetensors"));
    const char *shards[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    for (int i = 0; i < 2; i++) {
        char src[256], *data;
        size_t size;
        snprintf(src, sizeof src, "sharded/%s", shards[i]);
        OK(afm_read_file(fixture(src), &data, &size));
        f = fopen(shards[i], "wb");
        fwrite(data, 1, size, f);
        fclose(f);
        free(data);
    }
    f = fopen(idx, "w");
    fprintf(f, "{\"weight_map\":{\"model.norm.weight\":\"%s\",\"lm_head.weight\":\"%s\"}}", shards[1], shards[0]);
    fclose(f);
    CHECK(afm_safetensors_open(idx, &st) != AFM_OK && strstr(afm_last_error(), "'lm_head.weight' is not in"));
    f = fopen(idx, "w");
    fprintf(f, "{\"weight_map\":{\"model.norm.weight\":\"%s\",\"lm_head.weight\":\"%s\"}}", shards[1], shards[1]);
    fclose(f);
    OK(afm_safetensors_open(idx, &st));
    CHECK(afm_safetensors_n_tensors(st) == 6);
    afm_safetensors_close(st);
    remove(idx);
    remove(shards[0]);
    remove(shards[1]);
}

int main(void) {
    const char *src = getenv("AFM_SOURCE_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/tests/fixtures/formats", src ? src : "..");
    tiny();
    library_written();
    sharded();
    configs();
    names();
    permutation();
    bad_files();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("test_safetensors: all checks passed\n");
    return 0;
}
