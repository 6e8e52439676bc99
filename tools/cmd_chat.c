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

static const char *USAGE =
    "usage: afm chat -m MODEL [options]\n"
    "  -m, --model FILE     GGUF model with a chat template (or use --afm-template)\n"
    "  --system TEXT        system prompt\n"
    "  -n, --n-predict N    maximum tokens per reply (default 512)\n"
    "  --temp T --top-k K --top-p P --min-p P --repeat-penalty R --seed S   sampling (as afm generate)\n"
    "  --afm-template       use afm's own chat template instead of the model's\n"
    "  -c, --ctx-size N     context length (default: the model's, at most 4096)\n"
    "  -t, --threads N      threads\n"
    "  --adapter FILE       LoRA adapter (llama.cpp GGUF LoRA format); --adapter-scale S (default 1)\n"
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

int cmd_chat(int argc, char **argv) {
    const char *model = NULL, *system = NULL;
    long n_predict = 512, threads = 0, ctx = 0;
    afm_sampler_params sp = afm_sampler_defaults();
    cli_adapter lora = CLI_ADAPTER_INIT;
    bool bad = false, afm_tpl = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
        if (arg_str(argc, argv, &i, "-m", "--model", &model, &bad)) continue;
        if (arg_sampler(argc, argv, &i, &sp, &bad)) continue;
        if (arg_adapter(argc, argv, &i, &lora, &bad)) continue;
        if (arg_str(argc, argv, &i, "--system", NULL, &system, &bad)) continue;
        if (arg_int(argc, argv, &i, "-n", "--n-predict", &n_predict, &bad)) continue;
        if (arg_int(argc, argv, &i, "-t", "--threads", &threads, &bad)) continue;
        if (arg_int(argc, argv, &i, "-c", "--ctx-size", &ctx, &bad)) continue;
        if (!strcmp(argv[i], "--afm-template")) { afm_tpl = true; continue; }
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
    afm_session_options so = {(int32_t)ctx, (int32_t)threads};
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
        char *prompt = NULL;
        size_t plen = 0;
        if (afm_chat_template_render(tpl, msgs, n_msgs, &co, &prompt, &plen) != AFM_OK) { rc = cli_fail("chat template"); break; }
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (afm_tokenizer_encode(tok, prompt, plen, false, true, &ids, &n_ids) != AFM_OK) { free(prompt); rc = cli_fail("tokenize"); break; }
        free(prompt);
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
