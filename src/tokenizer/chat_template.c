/* Chat templates: the public API over the Jinja evaluator, and afm's own template. */
#include "tokenizer/chat_template.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "tokenizer/jinja.h"

struct afm_chat_template {
    jarena arena; /* owns the source copy and the syntax tree */
    jnode *root;
};


enum { PARSE_ARENA_LIMIT = 64 << 20, RENDER_ARENA_LIMIT = 256 << 20 };

static afm_status report(afm_status code, const char *stage, const jerr *e) {
    if (e->line > 0) return afm_error(code, "chat template %s: line %d, column %d: %s", stage, e->line, e->col, e->msg);
    return afm_error(code, "chat template %s: %s", stage, e->msg);
}

afm_status afm_chat_template_parse(const char *src, size_t len, afm_chat_template **out) {
    *out = NULL;
    if (!src) return afm_error(AFM_ERR_INVALID_ARG, "chat template: no template text");
    afm_chat_template *t = calloc(1, sizeof *t);
    if (!t) return afm_error(AFM_ERR_NOMEM, "chat template: out of memory");
    t->arena.limit = PARSE_ARENA_LIMIT;
    jerr e;
    memset(&e, 0, sizeof e);
    if (setjmp(e.jb)) {
        jarena_free(&t->arena);
        free(t);
        return report(AFM_ERR_FORMAT, "syntax error", &e);
    }
    t->root = jparse(&t->arena, &e, src, len);
    *out = t;
    return AFM_OK;
}

void afm_chat_template_free(afm_chat_template *t) {
    if (!t) return;
    jarena_free(&t->arena);
    free(t);
}

static jv cstr(jctx *c, const char *s) { return jv_str(jstrdup(c->a, c->e, s, strlen(s)), strlen(s)); }

static void put(jctx *c, jdict *d, const char *key, jv v) { jdict_set(c->a, c->e, d, jv_str(key, strlen(key)), v); }

/* The message dict transformers builds: the caller's keys in order; a message with reasoning
 * also gets "thinking" first and "reasoning_content" last (transformers' reasoning aliases). */
static jv message_value(jctx *c, const afm_chat_message *m, size_t index) {
    jdict *d = jdict_new(c->a, c->e, 8);
    char what[64];
    if (!m->role) jfail(c->e, 0, 0, "message %zu has no role", index);
    if (m->reasoning_content) put(c, d, "thinking", cstr(c, m->reasoning_content));
    put(c, d, "role", cstr(c, m->role));
    if (m->content) put(c, d, "content", cstr(c, m->content));
    if (m->tool_calls) {
        snprintf(what, sizeof what, "message %zu tool_calls", index);
        put(c, d, "tool_calls", jjson_parse(c->a, c->e, m->tool_calls, strlen(m->tool_calls), jstrdup(c->a, c->e, what, strlen(what))));
    }
    if (m->tool_call_id) put(c, d, "tool_call_id", cstr(c, m->tool_call_id));
    if (m->name) put(c, d, "name", cstr(c, m->name));
    if (m->reasoning_content) put(c, d, "reasoning_content", cstr(c, m->reasoning_content));
    jv v = {.kind = JV_DICT};
    v.d = d;
    return v;
}

typedef struct render_in {
    const afm_chat_message *msgs; size_t n;
    const afm_chat_options *opts;
    const char *vars_json; size_t vars_len;
} render_in;

static afm_status render(const afm_chat_template *t, const render_in *in, char **out, size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!t) return afm_error(AFM_ERR_INVALID_ARG, "chat template: no template");
    jarena arena = {.limit = RENDER_ARENA_LIMIT};
    jerr e;
    memset(&e, 0, sizeof e);
    jbuf ob = {.a = &arena, .e = &e};
    jctx c = {.a = &arena, .e = &e, .out = &ob};
    if (setjmp(e.jb)) {
        jarena_free(&arena);
        return report(AFM_ERR_INVALID_ARG, "render error", &e);
    }
    jframe *g = jframe_new(&c, NULL);
    c.globals = g;
    jglobals_install(&c, g);
    if (in->vars_json) {
        jv vars = jjson_parse(&arena, &e, in->vars_json, in->vars_len, "template variables");
        if (vars.kind != JV_DICT) jfail(&e, 0, 0, "template variables must be a JSON object");
        for (size_t i = 0; i < vars.d->n; i++) {
            jv k = vars.d->keys[i];
            jframe_set(&c, g, jstrdup(&arena, &e, k.s.p, k.s.n), vars.d->vals[i]);
        }
    } else {
        const afm_chat_options *o = in->opts;
        jlist *msgs = jlist_new(&arena, &e, in->n);
        for (size_t i = 0; i < in->n; i++) jlist_push(&arena, &e, msgs, message_value(&c, &in->msgs[i], i));
        jv mv = {.kind = JV_LIST};
        mv.l = msgs;
        jframe_set(&c, g, "messages", mv);
        jv tools = jv_none();
        if (o && o->tools_json) {
            tools = jjson_parse(&arena, &e, o->tools_json, strlen(o->tools_json), "tools");
            if (tools.kind != JV_LIST) jfail(&e, 0, 0, "tools must be a JSON array");
        }
        jframe_set(&c, g, "tools", tools);
        jframe_set(&c, g, "documents", jv_none());
        jframe_set(&c, g, "add_generation_prompt", jv_bool(o && o->add_generation_prompt));
        if (o && o->bos_token) jframe_set(&c, g, "bos_token", cstr(&c, o->bos_token));
        if (o && o->eos_token) jframe_set(&c, g, "eos_token", cstr(&c, o->eos_token));
        if (o && o->extra_json) {
            jv extra = jjson_parse(&arena, &e, o->extra_json, strlen(o->extra_json), "extra variables");
            if (extra.kind != JV_DICT) jfail(&e, 0, 0, "extra variables must be a JSON object");
            for (size_t i = 0; i < extra.d->n; i++)
                jframe_set(&c, g, jstrdup(&arena, &e, extra.d->keys[i].s.p, extra.d->keys[i].s.n), extra.d->vals[i]);
        }
    }
    jframe *top = jframe_new(&c, g);
    jframe_enter(&c, top, t->root);
    jexec(&c, top, t->root);
    char *res = malloc(ob.n + 1);
    if (!res) {
        jarena_free(&arena);
        return afm_error(AFM_ERR_NOMEM, "chat template: out of memory for %zu bytes of output", ob.n);
    }
    if (ob.n) memcpy(res, ob.p, ob.n);
    res[ob.n] = 0;
    *out = res;
    if (out_len) *out_len = ob.n;
    jarena_free(&arena);
    return AFM_OK;
}

afm_status afm_chat_template_render(const afm_chat_template *t, const afm_chat_message *msgs, size_t n,
                                    const afm_chat_options *opts, char **out, size_t *out_len) {
    if (n && !msgs) return afm_error(AFM_ERR_INVALID_ARG, "chat template: %zu messages but no array", n);
    render_in in = {.msgs = msgs, .n = n, .opts = opts};
    return render(t, &in, out, out_len);
}

afm_status afm_chat_template_render_json(const afm_chat_template *t, const char *vars_json, size_t len, char **out,
                                         size_t *out_len) {
    if (!vars_json) return afm_error(AFM_ERR_INVALID_ARG, "chat template: no variables");
    render_in in = {.vars_json = vars_json, .vars_len = len};
    return render(t, &in, out, out_len);
}

afm_status afm_chat_render(const char *template_src, const afm_chat_message *msgs, size_t n, const char *tools_json,
                           bool add_generation_prompt, const char *bos, const char *eos, char **out) {
    *out = NULL;
    if (!template_src) return afm_error(AFM_ERR_INVALID_ARG, "chat template: no template text");
    afm_chat_template *t;
    AFM_TRY(afm_chat_template_parse(template_src, strlen(template_src), &t));
    afm_chat_options o = {.tools_json = tools_json, .add_generation_prompt = add_generation_prompt, .bos_token = bos,
                          .eos_token = eos};
    afm_status s = afm_chat_template_render(t, msgs, n, &o, out, NULL);
    afm_chat_template_free(t);
    return s;
}

/* afm's chat format. Every turn opens with a role token and closes with <|end|>, so a turn
 * boundary can never be confused with text inside a turn (the tokenizer encodes message text
 * with special-token matching off). */
const char afm_chat_template_afm[] =
    "{%- if bos_token is defined and bos_token -%}{{- bos_token -}}{%- endif -%}\n"
    "{%- set ns = namespace(start=0) -%}\n"
    "{%- if messages and messages[0]['role'] == 'system' -%}\n"
    "    {%- set ns.start = 1 -%}\n"
    "{%- endif -%}\n"
    "{%- if ns.start == 1 or tools -%}\n"
    "    {{- '<|system|>\\n' -}}\n"
    "    {%- if ns.start == 1 -%}{{- messages[0]['content'] -}}{%- endif -%}\n"
    "    {%- if tools -%}\n"
    "        {%- if ns.start == 1 -%}{{- '\\n\\n' -}}{%- endif -%}\n"
    "        {{- '<|tools|>' -}}\n"
    "        {%- for tool in tools -%}{{- '\\n' + (tool | tojson) -}}{%- endfor -%}\n"
    "        {{- '\\n<|end_tools|>' -}}\n"
    "    {%- endif -%}\n"
    "    {{- '<|end|>\\n' -}}\n"
    "{%- endif -%}\n"
    "{%- for message in messages[ns.start:] -%}\n"
    "    {%- set content = message['content'] if message['content'] is string else '' -%}\n"
    "    {%- if message['role'] in ['system', 'user'] -%}\n"
    "        {{- '<|' + message['role'] + '|>\\n' + content + '<|end|>\\n' -}}\n"
    "    {%- elif message['role'] == 'assistant' -%}\n"
    "        {{- '<|assistant|>\\n' + content -}}\n"
    "        {%- if message['tool_calls'] is defined and message['tool_calls'] -%}\n"
    "            {%- for call in message['tool_calls'] -%}\n"
    "                {%- set fn = call['function'] if call['function'] is defined else call -%}\n"
    "                {{- '<|tool_call|>{\"name\": ' + (fn['name'] | tojson) + ', \"arguments\": ' -}}\n"
    "                {{- fn['arguments'] if fn['arguments'] is string else (fn['arguments'] | tojson) -}}\n"
    "                {{- '}<|end_tool_call|>' -}}\n"
    "            {%- endfor -%}\n"
    "        {%- endif -%}\n"
    "        {{- '<|end|>\\n' -}}\n"
    "    {%- elif message['role'] == 'tool' -%}\n"
    "        {{- '<|tool|>' + (message['name'] if message['name'] is defined else '') + '\\n' + content + '<|end|>\\n' -}}\n"
    "    {%- else -%}\n"
    "        {{- raise_exception('AFM chat template: unknown role ' + message['role']) -}}\n"
    "    {%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}\n";

const char *const afm_chat_afm_special_tokens[] = {"<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|end|>",
                                                   "<|tools|>", "<|end_tools|>", "<|tool_call|>", "<|end_tool_call|>",
                                                   NULL};
