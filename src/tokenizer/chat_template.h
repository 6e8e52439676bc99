/* Chat templates: render a conversation with the Jinja template a model ships (GGUF key
 * tokenizer.chat_template), byte-identical to transformers' apply_chat_template (Python jinja2
 * with trim_blocks and lstrip_blocks, raise_exception/strftime_now globals, transformers' tojson).
 *
 * The Jinja subset covers what the templates of SmolLM2, Qwen3, Llama 3.x and Gemma 3 use and a
 * little more: if/elif/else, for (loop.*, loop filters, else, break/continue), set (names,
 * tuples, namespace attributes, blocks), macro/call, filter blocks, raw; Python expressions with
 * slices, methods and tests; filters trim, length, tojson, join, map, selectattr, default, ... .
 * Case mapping covers Latin-1, Latin Extended-A, Greek and Cyrillic (docs/chat-templates.md). */
#ifndef AFM_TOKENIZER_CHAT_TEMPLATE_H
#define AFM_TOKENIZER_CHAT_TEMPLATE_H
#include <stdbool.h>
#include <stddef.h>
#include "afm/status.h"

/* One message. Fields left NULL are absent from the message dict the template sees (so
 * `message.tool_calls is defined` is false), except role, which is required. */
typedef struct afm_chat_message {
    const char *role;              /* "system", "user", "assistant", "tool", ... */
    const char *content;           /* text */
    const char *tool_calls;        /* assistant: JSON array, e.g.
                                      [{"type":"function","function":{"name":"f","arguments":{"x":1}}}] */
    const char *tool_call_id;      /* tool result: id of the call it answers */
    const char *name;              /* tool result: the tool's name */
    const char *reasoning_content; /* assistant: thinking text (Qwen3 <think>) */
} afm_chat_message;

typedef struct afm_chat_options {
    const char *tools_json;     /* JSON array of tool definitions, or NULL (the template sees tools = None) */
    bool add_generation_prompt; /* end with the header of an assistant turn */
    const char *bos_token;      /* NULL: undefined in the template */
    const char *eos_token;
    const char *extra_json;     /* NULL or a JSON object of further variables, e.g.
                                   {"enable_thinking": false, "date_string": "26 Jul 2024"} */
} afm_chat_options;

typedef struct afm_chat_template afm_chat_template;

/* Parses a template. Syntax errors (unclosed blocks, unknown tags, filters or tests, bad
 * expressions) fail with AFM_ERR_FORMAT and a message "line L, column C: ...". */
afm_status afm_chat_template_parse(const char *src, size_t len, afm_chat_template **out);
void afm_chat_template_free(afm_chat_template *t);

/* Renders n messages. *out is malloc'd and NUL-terminated; *out_len (may be NULL) its length.
 * Errors while rendering (raise_exception, undefined values used, type errors, bad JSON in
 * tools/tool_calls) fail with AFM_ERR_INVALID_ARG and a message with the template position. */
afm_status afm_chat_template_render(const afm_chat_template *t, const afm_chat_message *msgs, size_t n,
                                    const afm_chat_options *opts, char **out, size_t *out_len);

/* Renders with every template variable given in one JSON object (messages, tools,
 * add_generation_prompt, bos_token, ...), passed to the template as they are. */
afm_status afm_chat_template_render_json(const afm_chat_template *t, const char *vars_json, size_t len,
                                         char **out, size_t *out_len);

/* Parse + render in one call. */
afm_status afm_chat_render(const char *template_src, const afm_chat_message *msgs, size_t n, const char *tools_json,
                           bool add_generation_prompt, const char *bos, const char *eos, char **out);

/* afm's own chat format (docs/chat-templates.md). Turns are
 *   <|system|>\n...<|end|>\n  <|user|>\n...<|end|>\n  <|assistant|>\n...<|end|>\n  <|tool|>NAME\n...<|end|>\n
 * tools are listed in the system turn between <|tools|> and <|end_tools|>, one JSON schema per
 * line; an assistant's tool calls follow its text as
 * <|tool_call|>{"name": ..., "arguments": ...}<|end_tool_call|>. */
extern const char afm_chat_template_afm[];
/* The special tokens the AFM template uses (NULL-terminated list). */
extern const char *const afm_chat_afm_special_tokens[];

#endif
