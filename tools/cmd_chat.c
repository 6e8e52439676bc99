/* afm chat: interactive chat with streaming output through the model's chat template.
 * Each turn re-renders the whole conversation, keeps the longest prefix of tokens already in the
 * KV cache and evaluates only the rest. Reads one user message per line from stdin (so it can
 * also be scripted: printf 'question\n' | afm chat -m MODEL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "afm/afm.h"
#include "args.h"
#include "cli.h"
#include "model/model_internal.h"
#include "tokenizer/chat_template.h"
#include "base/error.h"

static const char *USAGE =
    "usage: afm chat -m MODEL [options]\n"
    "  -m, --model FILE     GGUF model with a chat template (or use --afm-template)\n"
    "  --system TEXT        system prompt\n"
    "  -n, --n-predict N    maximum tokens per reply (default 512)\n"
    "  --temp T --top-k K --top-p P --min-p P --repeat-penalty R --seed S   sampling (as afm generate)\n"
    "  --afm-template       use afm's own chat template instead of the model's\n"
    "  -c, --ctx-size N     context length (default: the model's, at most 4096)\n"
    "  -t, --threads N      threads\n"
    "  --verbose-prompt     print each turn's prompt token ids to stderr\n"
    "  --adapter FILE       LoRA adapter (llama.cpp GGUF LoRA format); --adapter-scale S (default 1)\n"
    "  --kv-type f32|f16     KV-cache element type (default f32; f16 halves its memory)\n"
    "Type a message and press Enter; an empty line or end of input ends the chat.\n";

typedef struct {
    char *buf;
    size_t len, cap;
} text;

static bool on_text(const char *s, size_t n, void *user) {
    text *t = user;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        char *nb = realloc(t->buf, t->cap);
        if (!nb) return false;
        t->buf = nb;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
    return true;
}

/* Renders the conversation and encodes it so that the messages' text never yields control tokens
 * (a user typing "<|im_end|>" gets plain text), while the template's own markers stay special.
 * The messages are rendered a second time with each content replaced by a marker "\x1a<i>\x1a";
 * the text between markers is the template's, and each content must appear in the real rendering
 * between those pieces (as is, or stripped of surrounding whitespace, as `trim` does). Those byte
 * ranges are encoded with special-token matching off (afm_tokenizer_encode_plain). If the template
 * transforms the text beyond that, the whole prompt is encoded as before, with a warning. */
static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static bool locate_contents(const char *real, size_t rlen, const char *mark, const afm_chat_message *msgs, size_t n,
                            size_t **ranges, size_t *n_ranges) {
    size_t p1 = 0, cap = 0;
    *ranges = NULL;
    *n_ranges = 0;
    for (const char *p2 = mark;;) {
        const char *m = strchr(p2, '\x1a');
        size_t seg = m ? (size_t)(m - p2) : strlen(p2);
        if (rlen - p1 < seg || memcmp(real + p1, p2, seg)) return false; /* template text differs */
        p1 += seg;
        if (!m) return p1 == rlen;
        char *end;
        unsigned long i = strtoul(m + 1, &end, 10);
        if (*end != '\x1a' || i >= n || !msgs[i].content) return false;
        p2 = end + 1;
        const char *next = strchr(p2, '\x1a');
        size_t next_len = next ? (size_t)(next - p2) : strlen(p2);
        const char *c = msgs[i].content;
        size_t clen = strlen(c), lead = 0, trail = 0;
        while (lead < clen && is_space(c[lead])) lead++;
        while (trail < clen - lead && is_space(c[clen - 1 - trail])) trail++;
        size_t cand[4][2] = {{0, clen}, {lead, clen - lead - trail}, {lead, clen - lead}, {0, clen - trail}};
        bool found = false;
        for (int k = 0; k < 4 && !found; k++) {
            size_t off = cand[k][0], len = cand[k][1];
            if (rlen - p1 < len || memcmp(real + p1, c + off, len)) continue;
            if (rlen - p1 - len < next_len || memcmp(real + p1 + len, p2, next_len)) continue;
            if (!next && p1 + len + next_len != rlen) continue;
            if (*n_ranges + 1 > cap) {
                cap = cap ? cap * 2 : 16;
                size_t *nr = realloc(*ranges, cap * 2 * sizeof(size_t));
                if (!nr) return false;
                *ranges = nr;
            }
            (*ranges)[2 * *n_ranges] = p1;
            (*ranges)[2 * *n_ranges + 1] = p1 + len;
            (*n_ranges)++;
            p1 += len;
            found = true;
        }
        if (!found) return false;
    }
}

static afm_status encode_chat(const afm_tokenizer *tok, const afm_chat_template *tpl, const afm_chat_message *msgs, size_t n,
                              const afm_chat_options *co, int32_t **ids, size_t *n_ids) {
    char *real = NULL, *mark = NULL;
    size_t rlen = 0, mlen = 0, *ranges = NULL, n_ranges = 0;
    AFM_TRY(afm_chat_template_render(tpl, msgs, n, co, &real, &rlen));
    afm_chat_message *mm = calloc(n ? n : 1, sizeof *mm);
    char (*tags)[24] = calloc(n ? n : 1, sizeof *tags);
    bool ok = mm && tags && strlen(real) == rlen;
    for (size_t i = 0; ok && i < n; i++) {
        mm[i] = msgs[i];
        if (!msgs[i].content) continue;
        if (strchr(msgs[i].content, '\x1a')) ok = false;
        snprintf(tags[i], sizeof tags[i], "\x1a%zu\x1a", i);
        mm[i].content = tags[i];
    }
    if (ok && afm_chat_template_render(tpl, mm, n, co, &mark, &mlen) != AFM_OK) ok = false;
    if (ok) ok = locate_contents(real, rlen, mark, msgs, n, &ranges, &n_ranges);
    afm_status s;
    if (ok) {
        s = afm_tokenizer_encode_plain(tok, real, rlen, false, ranges, n_ranges, ids, n_ids);
    } else {
        fprintf(stderr, "warning: the chat template changes message text in a way afm cannot follow; "
                        "special-token texts typed in messages are not escaped\n");
        s = afm_tokenizer_encode(tok, real, rlen, false, true, ids, n_ids);
    }
    free(real); free(mark); free(mm); free(tags); free(ranges);
    return s;
}

int cmd_chat(int argc, char **argv) {
    const char *model = NULL, *system = NULL;
    long n_predict = 512, threads = 0, ctx = 0;
    afm_sampler_params sp = afm_sampler_defaults();
    cli_adapter lora = CLI_ADAPTER_INIT;
    afm_kv_type kv_type = AFM_KV_F32;
    bool bad = false, afm_tpl = false, verbose_prompt = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (arg_str(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (arg_sampler(argc, argv, &i, &sp, &bad)) continue;
        if (arg_adapter(argc, argv, &i, &lora, &bad)) continue;
        if (arg_kv_type(argc, argv, &i, &kv_type, &bad)) continue;
        if (arg_str(argc, argv, &i, "--system", NULL, &system, &bad)) continue;
        if (arg_int(argc, argv, &i, "-n", "--n-predict", &n_predict, &bad)) continue;
        if (arg_int(argc, argv, &i, "-t", "--threads", &threads, &bad)) continue;
        if (arg_int(argc, argv, &i, "-c", "--ctx-size", &ctx, &bad)) continue;
        if (!strcmp(argv[i], "--afm-template")) { afm_tpl = true; continue; }
        if (!strcmp(argv[i], "--verbose-prompt")) { verbose_prompt = true; continue; }
        fprintf(stderr, "error: unknown option '%s'\n%s", argv[i], USAGE);
        return 2;
    }
    if (bad) return 2;
    if (!model) { fprintf(stderr, "error: -m MODEL is required\n%s", USAGE); return 2; }
    afm_model *m;
    if (afm_model_load(model, &m) != AFM_OK) return cli_fail(NULL);
    const afm_tokenizer *tok = m->tokenizer;
    if (!tok) { afm_model_free(m); fprintf(stderr, "error: %s has no tokenizer\n", model); return 1; }
    const char *src = afm_tpl ? afm_chat_template_afm : afm_tokenizer_chat_template(tok);
    if (!src) {
        afm_model_free(m);
        fprintf(stderr, "error: %s has no chat template (tokenizer.chat_template); use afm generate, or --afm-template\n", model);
        return 1;
    }
    afm_chat_template *tpl;
    if (afm_chat_template_parse(src, strlen(src), &tpl) != AFM_OK) { afm_model_free(m); return cli_fail("chat template"); }
    afm_session_options so = {.n_ctx = (int32_t)ctx, .n_threads = (int32_t)threads, .kv_type = kv_type};
    afm_session *s;
    if (afm_session_create(m, &so, &s) != AFM_OK) { afm_chat_template_free(tpl); afm_model_free(m); return cli_fail(NULL); }
    if (cli_adapter_attach(&lora, m, s)) {
        afm_session_free(s);
    afm_adapter_free(lora.adapter);
        afm_adapter_free(lora.adapter);
        afm_chat_template_free(tpl);
        afm_model_free(m);
        return 1;
    }
    afm_generate_params gp = {0};
    gp.n_predict = (int32_t)n_predict;
    gp.sampler = sp;
    int32_t bos = afm_tokenizer_bos(tok), eos = afm_tokenizer_eos(tok);
    afm_chat_options co = {0};
    co.add_generation_prompt = true;
    co.bos_token = bos >= 0 ? afm_tokenizer_piece(tok, bos) : NULL;
    co.eos_token = eos >= 0 ? afm_tokenizer_piece(tok, eos) : NULL;

    size_t cap = 16, n_msgs = 0;
    afm_chat_message *msgs = calloc(cap, sizeof *msgs);
    char **owned = calloc(cap, sizeof *owned);
    int32_t *cached = NULL; /* tokens in the KV cache */
    size_t n_cached = 0;
    if (system) { msgs[0].role = "system"; msgs[0].content = system; n_msgs = 1; }
    bool tty = isatty(0);
    char *line = NULL;
    size_t line_cap = 0;
    int rc = 0;
    for (;;) {
        if (tty) { fputs("\n> ", stdout); fflush(stdout); }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got <= 0) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (got == 0) break;
        if (n_msgs + 2 > cap) {
            cap *= 2;
            msgs = realloc(msgs, cap * sizeof *msgs);
            owned = realloc(owned, cap * sizeof *owned);
        }
        memset(&msgs[n_msgs], 0, sizeof msgs[0]);
        owned[n_msgs] = strdup(line);
        msgs[n_msgs].role = "user";
        msgs[n_msgs].content = owned[n_msgs];
        n_msgs++;
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (encode_chat(tok, tpl, msgs, n_msgs, &co, &ids, &n_ids) != AFM_OK) { rc = cli_fail("chat prompt"); break; }
        if (verbose_prompt) {
            fprintf(stderr, "prompt tokens:");
            for (size_t i = 0; i < n_ids; i++) fprintf(stderr, " %d", ids[i]);
            fputc('\n', stderr);
        }
        /* keep the cached prefix that still matches; evaluate the rest */
        size_t keep = 0;
        while (keep < n_cached && keep < n_ids && cached[keep] == ids[keep]) keep++;
        if (keep == n_ids && keep > 0) keep--; /* at least one token must be evaluated for logits */
        afm_session_rewind(s, (int32_t)keep);
        text reply = {0};
        afm_generate_stats st;
        afm_status gs = afm_generate_tokens(s, ids + keep, (int32_t)(n_ids - keep), &gp, on_text, &reply, &st);
        fputc('\n', stdout);
        fflush(stdout);
        /* the cache now holds ids followed by the generated tokens; re-rendering next turn finds the prefix */
        free(cached);
        cached = ids;
        n_cached = n_ids;
        if (gs != AFM_OK) { free(reply.buf); rc = cli_fail(NULL); break; }
        if (tty) fprintf(stderr, "[%d tokens, %.1f tok/s]\n", st.n_generated, st.gen_s > 0 ? st.n_generated / st.gen_s : 0.0);
        memset(&msgs[n_msgs], 0, sizeof msgs[0]);
        owned[n_msgs] = reply.buf ? reply.buf : strdup("");
        msgs[n_msgs].role = "assistant";
        msgs[n_msgs].content = owned[n_msgs];
        n_msgs++;
    }
    for (size_t i = 0; i < n_msgs; i++) if (msgs[i].content != system) free(owned[i]);
    free(owned);
    free(msgs);
    free(line);
    free(cached);
    afm_session_free(s);
    afm_chat_template_free(tpl);
    afm_model_free(m);
    return rc;
}
