/* afm template: render a conversation with a model's chat template (or a template file, or
 * afm's own), exactly as transformers' apply_chat_template(tokenize=False) would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "cli.h"
#include "formats/gguf.h"
#include "tokenizer/chat_template.h"

static const char USAGE[] =
    "usage: afm template (-m MODEL.gguf | --template FILE | --afm) [options]\n"
    "  -m MODEL.gguf        use the model's tokenizer.chat_template (and its BOS/EOS tokens)\n"
    "  --template FILE      a Jinja chat template file\n"
    "  --afm                afm's own chat format (docs/chat-templates.md)\n"
    "  --messages FILE      JSON array of messages (default: read stdin); each {role, content, tool_calls,\n"
    "                       tool_call_id, name, reasoning_content, ...} is passed to the template as given\n"
    "  --tools FILE         JSON array of tool definitions (default: tools = None)\n"
    "  --vars FILE          JSON object of further variables (enable_thinking, date_string, ...)\n"
    "  --add-generation-prompt  end with the header of an assistant turn\n"
    "  --bos TEXT, --eos TEXT   bos_token / eos_token (default: the model's, with -m)\n"
    "  --check              only parse the template; report syntax errors with line and column\n"
    "  --jsonl FILE         render many: each line {\"t\": TEMPLATE, \"v\": VARIABLES_JSON_TEXT}; prints one\n"
    "                       JSON line per input, {\"ok\": OUTPUT} or {\"err\": MESSAGE} (differential tests)\n";

static int fail(const char *what) {
    fprintf(stderr, "error: %s%s%s\n", what ? what : "", what ? ": " : "", afm_last_error());
    return 1;
}

static void json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static char *slurp_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            char *p = realloc(buf, cap * 2 + 1);
            if (!p) { free(buf); return NULL; }
            buf = p;
            cap *= 2;
        }
    }
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

/* the text between a JSON object's outer braces ("" for an empty object); NULL if not an object */
static const char *object_body(const char *s, size_t *len) {
    size_t b = 0, e = strlen(s);
    while (b < e && strchr(" \t\r\n", s[b])) b++;
    while (e > b && strchr(" \t\r\n", s[e - 1])) e--;
    if (e - b < 2 || s[b] != '{' || s[e - 1] != '}') return NULL;
    b++;
    e--;
    while (b < e && strchr(" \t\r\n", s[b])) b++;
    *len = e - b;
    return s + b;
}

/* one JSON-lines request per line: {"t": "...", "v": "..."} with both values strings */
static int run_jsonl(const char *path) {
    char *data;
    size_t size;
    if (afm_read_file(path, &data, &size) != AFM_OK) return fail(path);
    char *line = data;
    while (line < data + size) {
        char *nl = memchr(line, '\n', (size_t)(data + size - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(data + size - line);
        line[n] = 0;
        if (n) {
            /* the line is JSON; let the template engine's own parser read it as variables */
            afm_chat_template *getter;
            static const char pick_t[] = "{{ t }}", pick_v[] = "{{ v }}";
            char *t = NULL, *v = NULL;
            size_t tl = 0, vl = 0;
            if (afm_chat_template_parse(pick_t, sizeof pick_t - 1, &getter) == AFM_OK) {
                afm_chat_template_render_json(getter, line, n, &t, &tl);
                afm_chat_template_free(getter);
            }
            if (afm_chat_template_parse(pick_v, sizeof pick_v - 1, &getter) == AFM_OK) {
                afm_chat_template_render_json(getter, line, n, &v, &vl);
                afm_chat_template_free(getter);
            }
            if (!t || !v) {
                printf("{\"err\": \"bad request line\"}\n");
            } else {
                afm_chat_template *tpl;
                char *out = NULL;
                size_t ol = 0;
                if (afm_chat_template_parse(t, tl, &tpl) != AFM_OK) {
                    fputs("{\"perr\": ", stdout);
                    json_str(stdout, afm_last_error(), strlen(afm_last_error()));
                } else {
                    if (afm_chat_template_render_json(tpl, v, vl, &out, &ol) == AFM_OK) {
                        fputs("{\"ok\": ", stdout);
                        json_str(stdout, out, ol);
                    } else {
                        fputs("{\"err\": ", stdout);
                        json_str(stdout, afm_last_error(), strlen(afm_last_error()));
                    }
                    free(out);
                    afm_chat_template_free(tpl);
                }
                fputs("}\n", stdout);
            }
            free(t);
            free(v);
        }
        line += n + 1;
    }
    free(data);
    return 0;
}

int cmd_template(int argc, char **argv) {
    const char *model = NULL, *tfile = NULL, *mfile = NULL, *tools_file = NULL, *vars_file = NULL, *jsonl = NULL;
    const char *bos = NULL, *eos = NULL;
    bool afm = false, gen = false, check = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        else if (!strcmp(a, "-m") && has) model = argv[++i];
        else if (!strcmp(a, "--template") && has) tfile = argv[++i];
        else if (!strcmp(a, "--afm")) afm = true;
        else if (!strcmp(a, "--messages") && has) mfile = argv[++i];
        else if (!strcmp(a, "--tools") && has) tools_file = argv[++i];
        else if (!strcmp(a, "--vars") && has) vars_file = argv[++i];
        else if (!strcmp(a, "--bos") && has) bos = argv[++i];
        else if (!strcmp(a, "--eos") && has) eos = argv[++i];
        else if (!strcmp(a, "--add-generation-prompt")) gen = true;
        else if (!strcmp(a, "--check")) check = true;
        else if (!strcmp(a, "--jsonl") && has) jsonl = argv[++i];
        else { fprintf(stderr, "error: unknown or incomplete option '%s'\n%s", a, USAGE); return 2; }
    }
    if (jsonl) return run_jsonl(jsonl);
    if ((model != NULL) + (tfile != NULL) + afm != 1) {
        fprintf(stderr, "error: give exactly one of -m, --template, --afm\n%s", USAGE);
        return 2;
    }
    char *src = NULL;
    size_t src_len = 0;
    char *model_bos = NULL, *model_eos = NULL;
    if (afm) {
        src = strdup(afm_chat_template_afm);
        src_len = strlen(src);
    } else if (tfile) {
        if (afm_read_file(tfile, &src, &src_len) != AFM_OK) return fail(tfile);
    } else {
        afm_gguf *g;
        if (afm_gguf_open(model, &g) != AFM_OK) return fail(model);
        const char *s;
        size_t n;
        if (!afm_gguf_get_str(g, "tokenizer.chat_template", &s, &n)) {
            afm_gguf_close(g);
            fprintf(stderr, "error: %s has no tokenizer.chat_template\n", model);
            return 1;
        }
        src = malloc(n + 1);
        memcpy(src, s, n);
        src[n] = 0;
        src_len = n;
        uint32_t id;
        const char *piece;
        size_t plen;
        if (afm_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &id) && afm_gguf_arr_str(g, "tokenizer.ggml.tokens", id, &piece, &plen))
            model_bos = strndup(piece, plen);
        if (afm_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &id) && afm_gguf_arr_str(g, "tokenizer.ggml.tokens", id, &piece, &plen))
            model_eos = strndup(piece, plen);
        afm_gguf_close(g);
    }
    if (!bos) bos = model_bos;
    if (!eos) eos = model_eos;
    int rc = 0;
    afm_chat_template *tpl = NULL;
    char *msgs = NULL, *tools = NULL, *vars = NULL, *out = NULL;
    size_t len;
    if (afm_chat_template_parse(src, src_len, &tpl) != AFM_OK) { rc = fail("template"); goto done; }
    if (check) { fprintf(stderr, "ok: template parses\n"); goto done; }
    if (mfile ? afm_read_file(mfile, &msgs, &len) != AFM_OK : !(msgs = slurp_stdin(&len))) { rc = fail(mfile ? mfile : "stdin"); goto done; }
    if (tools_file && afm_read_file(tools_file, &tools, &len) != AFM_OK) { rc = fail(tools_file); goto done; }
    if (vars_file && afm_read_file(vars_file, &vars, &len) != AFM_OK) { rc = fail(vars_file); goto done; }
    /* the variables transformers passes, as one JSON object; --vars entries come last and win */
    size_t body_len = 0;
    const char *body = vars ? object_body(vars, &body_len) : "";
    if (!body) { fprintf(stderr, "error: %s is not a JSON object\n", vars_file); rc = 1; goto done; }
    char *all = NULL;
    size_t all_len = 0;
    FILE *f = open_memstream(&all, &all_len);
    fprintf(f, "{\"messages\": %s, \"tools\": %s, \"documents\": null, \"add_generation_prompt\": %s", msgs, tools ? tools : "null",
            gen ? "true" : "false");
    if (bos) { fputs(", \"bos_token\": ", f); json_str(f, bos, strlen(bos)); }
    if (eos) { fputs(", \"eos_token\": ", f); json_str(f, eos, strlen(eos)); }
    if (body_len) { fputs(", ", f); fwrite(body, 1, body_len, f); }
    fputc('}', f);
    fclose(f);
    size_t out_len;
    if (afm_chat_template_render_json(tpl, all, all_len, &out, &out_len) != AFM_OK) rc = fail(NULL);
    else fwrite(out, 1, out_len, stdout);
    free(all);
done:
    free(out);
    free(vars);
    free(tools);
    free(msgs);
    afm_chat_template_free(tpl);
    free(src);
    free(model_bos);
    free(model_eos);
    return rc;
}
