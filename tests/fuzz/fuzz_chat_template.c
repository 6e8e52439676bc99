/* libFuzzer target for chat templates: the input is a template, optionally followed by a NUL
 * byte and a JSON object of template variables. Every input must either be refused with a
 * message (syntax error, render error) or render; never crash, leak or hang.
 * Seeds: tests/fuzz/corpus/fuzz_chat_template (the real templates and feature snippets). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/chat_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    afm_chat_template *t = NULL;
    if (afm_chat_template_parse(src, tlen, &t) != AFM_OK) {
        if (!afm_last_error()[0]) abort(); /* a refusal must say why */
        return 0;
    }
    char *out = NULL;
    afm_status st;
    if (nul) {
        st = afm_chat_template_render_json(t, (const char *)nul + 1, size - tlen - 1, &out, NULL);
    } else {
        static const afm_chat_message msgs[] = {
            {.role = "system", .content = "Be brief."},
            {.role = "user", .content = "Weather in Oslo? \"quoted\" \xc3\xa9"},
            {.role = "assistant", .content = "<think>\nhmm\n</think>\n\nok",
             .tool_calls = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\",\"days\":2}}}]"},
            {.role = "tool", .content = "-3 C", .name = "get_weather", .tool_call_id = "call_1"},
        };
        afm_chat_options o = {.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}]",
                              .add_generation_prompt = true, .bos_token = "<s>", .eos_token = "</s>",
                              .extra_json = "{\"date_string\": \"1 Jan 2025\"}"};
        st = afm_chat_template_render(t, msgs, 4, &o, &out, NULL);
    }
    if (st != AFM_OK && !afm_last_error()[0]) abort();
    if (st == AFM_OK && !out) abort();
    free(out);
    afm_chat_template_free(t);
    return 0;
}
