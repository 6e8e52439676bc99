#!/usr/bin/env python3
"""Chat-template reference outputs for tests/unit/test_chat_template.c.

Renders conversations x template families with transformers' own chat-template renderer
(transformers.utils.chat_template_utils.render_jinja_template: jinja2's ImmutableSandboxedEnvironment
with trim_blocks/lstrip_blocks, loopcontrols, raise_exception, strftime_now and transformers'
tojson), plus small feature templates exercising single Jinja constructs, and syntax errors.
Writes tests/fixtures/chat/cases.json.

    pip install jinja2 transformers   # transformers without torch is enough
    python3 scripts/reference/make_chat_fixtures.py

Templates are read from tests/fixtures/chat/templates/*.jinja (sources: SOURCES.md there) and
afm's own template from src/tokenizer/chat_template.c.
"""
import json
import os
import re
import sys

import jinja2
from transformers.utils.chat_template_utils import render_jinja_template

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures", "chat")


def afm_template():
    """The C string constant afm_chat_template_afm, decoded from its C literal pieces."""
    src = open(os.path.join(ROOT, "src", "tokenizer", "chat_template.c"), encoding="utf-8").read()
    body = src[src.index("const char afm_chat_template_afm[] ="):]
    body = body[: body.index(";\n")]
    pieces = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return "".join(json.loads('"' + p + '"') for p in pieces)


FAMILIES = {
    "smollm2": {"bos": "<|im_start|>", "eos": "<|im_end|>"},
    "qwen3": {"bos": None, "eos": "<|im_end|>"},
    "llama31": {"bos": "<|begin_of_text|>", "eos": "<|eot_id|>"},
    "llama32": {"bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "extra": {"date_string": "27 Nov 2026"}},
    "gemma3": {"bos": "<bos>", "eos": "<eos>"},
    "afm": {"bos": "", "eos": "<|end|>"},
}

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city. Uses \"quotes\", a backslash \\ and ünïcode.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7, "default": 1},
                "threshold": {"type": "number", "default": 0.5},
                "verbose": {"type": "boolean", "default": False},
                "extra": {"type": ["string", "null"], "default": None},
            },
            "required": ["city"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    },
}


def call(name, args, as_string=False, cid=None):
    c = {"type": "function", "function": {"name": name, "arguments": json.dumps(args) if as_string else args}}
    if cid:
        c = {"id": cid, **c}
    return c


SYS = {"role": "system", "content": "You are a concise assistant."}
U1 = {"role": "user", "content": "Hello! Who are you?"}
A1 = {"role": "assistant", "content": "I am a helpful assistant."}
U2 = {"role": "user", "content": "What's 2+2?"}
A2 = {"role": "assistant", "content": "4"}
U3 = {"role": "user", "content": "And 3*3?"}
UW = {"role": "user", "content": "What's the weather in Paris?"}
TC1 = {"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Paris", "unit": "celsius"}, cid="call_1")]}
TC1S = {"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Paris", "days": 2}, as_string=True)]}
TR1 = {"role": "tool", "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}", "tool_call_id": "call_1", "name": "get_weather"}
AF = {"role": "assistant", "content": "It is 21.5 °C and clear in Paris."}

CONVERSATIONS = [
    ("user_only_gen", [U1], None, True, {}),
    ("user_only_nogen", [U1], None, False, {}),
    ("system_user_gen", [SYS, U1], None, True, {}),
    ("system_user_assistant", [SYS, U1, A1], None, False, {}),
    ("multi_turn_gen", [U1, A1, U2, A2, U3], None, True, {}),
    ("multi_turn_system", [SYS, U1, A1, U2, A2], None, False, {}),
    ("tools_user_gen", [UW], [WEATHER], True, {}),
    ("tools_system_user_gen", [SYS, UW], [WEATHER, SEARCH], True, {}),
    ("tool_call_result_gen", [UW, TC1, TR1], [WEATHER], True, {}),
    ("tool_call_string_args", [SYS, UW, TC1S, TR1, AF], [WEATHER], False, {}),
    ("tool_call_with_text", [UW, {"role": "assistant", "content": "Let me check.", "tool_calls": [call("get_weather", {"city": "Paris"})]},
                             TR1, AF], [WEATHER], False, {}),
    ("two_tool_calls", [UW, {"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Paris"}), call("search", {"q": "Paris news"})]},
                        {"role": "tool", "content": "sunny", "name": "get_weather"}, {"role": "tool", "content": "no news", "name": "search"}],
     [WEATHER, SEARCH], True, {}),
    ("multi_step_tools", [SYS, UW, TC1, TR1, {"role": "assistant", "content": "", "tool_calls": [call("search", {"q": "Paris events"})]},
                          {"role": "tool", "content": "<tool_response>x</tool_response>", "name": "search"}, AF, U2], [WEATHER, SEARCH], True, {}),
    ("think_in_content", [U1, {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHi there!"}], None, False, {}),
    ("think_history", [U1, {"role": "assistant", "content": "<think>\nold thought\n</think>\n\nHi!"}, U2], None, True, {}),
    ("reasoning_content", [U2, {"role": "assistant", "content": "4", "reasoning_content": "2+2 is 4."}], None, False, {}),
    ("enable_thinking_false", [U2], None, True, {"enable_thinking": False}),
    ("unicode_and_escapes", [{"role": "system", "content": "Réponds en français. \"Quotes\" and \\backslash\\ and tab\t."},
                             {"role": "user", "content": "日本語で説明して 🙂\nSecond line"}], [WEATHER], True, {}),
    ("whitespace_content", [{"role": "user", "content": "  padded question \n\n"}, {"role": "assistant", "content": "\n answer  "}, U2], None, True, {}),
    ("empty_content", [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}], None, True, {}),
    ("system_only_gen", [SYS], None, True, {}),
    ("consecutive_users", [U1, U2], None, True, {}),
    ("date_string", [SYS, U1], [WEATHER], True, {"date_string": "01 Jan 2025"}),
    ("tools_in_system_llama", [SYS, UW], [WEATHER], True, {"tools_in_user_message": False}),
    ("tool_json_content", [UW, TC1, {"role": "tool", "content": "[1, 2, 3]", "name": "get_weather"}], [WEATHER], True, {}),
    ("builtin_tools", [UW, {"role": "assistant", "content": "", "tool_calls": [call("brave_search", {"query": "Paris weather"})]},
                       {"role": "tool", "content": "sunny, 21 C", "name": "brave_search"}], [WEATHER], True,
     {"builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"]}),
    ("tool_call_no_content", [UW, {"role": "assistant", "tool_calls": [call("get_weather", {"city": "Paris"})]}, TR1], [WEATHER], True, {}),
    ("custom_tools", [UW], None, True, {"custom_tools": [WEATHER]}),
    ("special_chars_content", [{"role": "user", "content": "{{ not a template }} {% if %} <|im_end|> \\ \u0001 (C strings cannot carry NUL)"},
                               {"role": "assistant", "content": "ok\r\nline"}], None, True, {}),
    ("long_conversation", [SYS] + [m for i in range(6) for m in ({"role": "user", "content": f"Question {i}?"},
                                                                 {"role": "assistant", "content": f"Answer {i}."})], None, True, {}),
]

# Small templates, each exercising Jinja constructs, rendered with the given variables.
FEATURES = [
    ("ws_trim_lstrip", "  {% if true %}\n  x\n  {% endif %}\n  y\n{# c #}\nz  {#- c -#}  w\n", {}),
    ("ws_dash", "a  {{- ' b ' -}}  c\n  {%- if 1 %} d {% endif -%}  \n e {%+ if 1 %}f{% endif %}", {}),
    ("ws_raw", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}!", {}),
    ("arith", "{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1.5 + 1 }} {{ 10 / 4 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 3.0 }} {{ -2 ** 2 }}", {}),
    ("strings", "{{ 'ab' ~ 1 ~ none }} {{ 'abc'[::-1] }} {{ 'héllo'[1:3] }} {{ 'x' * 3 }} {{ 'a,b,,c'.split(',') }} {{ '  a b  '.split() }} {{ 'Hello'.upper() }} {{ 'Hello'.lower() }}", {}),
    ("methods", "{{ '--x--'.strip('-') }}|{{ '  y '.lstrip() }}|{{ ' z  '.rstrip() }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'a-b-c'.replace('-', '+') }}|{{ 'hello world'.title() }}|{{ 'abc'.find('c') }}|{{ 'aaa'.count('a') }}", {}),
    ("dict_methods", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys() | list }}{{ d.values() | list }}{{ d.get('a') }}{{ d.get('zz', 'dflt') }}{{ d.get('zz') }}", {"d": {"a": 1, "b": [1, 2], "c": {"x": None}}}),
    ("loop_vars", "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('o', 'e') }}|{% endfor %}", {"xs": ["a", "b", "c"]}),
    ("loop_filter_else", "{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}{% for x in [] %}{% else %}empty{% endfor %}", {"xs": [1, 2, 3]}),
    ("loop_scope", "{% set x = 1 %}{% for i in [1,2,3] %}{{ x }}{% set x = x + i %}{{ x }},{% endfor %}{{ x }}", {}),
    ("break_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", {}),
    ("tests", "{{ x is defined }}{{ y is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 'a' is in 'abc' }}{{ x is not none }}{{ true is sameas true }}{{ 1 is eq 1 }}", {"x": 1}),
    ("filters", "{{ '  t  ' | trim }}|{{ [1,2,3] | length }}|{{ 'abc' | length }}|{{ [3,1,2] | sort }}|{{ ['a','b'] | join(', ') }}|{{ x | default('d') }}|{{ '' | default('e', true) }}|{{ [1,2] | first }}{{ [1,2] | last }}|{{ 'hi' | upper }}{{ 'HI' | lower }}|{{ [1,2,2,3] | unique | list }}|{{ [1,2,3] | sum }}|{{ [1,5,3] | max }}{{ [4,2] | min }}|{{ 'ab' | reverse }}|{{ 2.567 | round(1) }}|{{ '42' | int + 1 }}|{{ '1.5' | float }}|{{ 'word count here' | wordcount }}|{{ 'x' | capitalize }}|{{ 1 | string ~ 2 }}", {}),
    ("map_select", "{{ users | map(attribute='name') | join(',') }}|{{ users | selectattr('admin') | map(attribute='name') | list }}|{{ users | rejectattr('admin') | list | length }}|{{ [1,2,3,4] | select('odd') | list }}|{{ [1,2,3,4] | reject('even') | list }}|{{ ['a','b'] | map('upper') | list }}|{{ users | selectattr('name', 'equalto', 'bob') | list }}", {"users": [{"name": "ann", "admin": True}, {"name": "bob", "admin": False}]}),
    ("tojson", "{{ v | tojson }}\n{{ v | tojson(indent=2) }}\n{{ v | tojson(separators=(',', ':')) }}\n{{ v | tojson(sort_keys=true) }}\n{{ 'é\"\\n' | tojson }}\n{{ 'é' | tojson(ensure_ascii=true) }}\n{{ [] | tojson(indent=2) }}{{ {} | tojson }}", {"v": {"b": 1, "a": [1.5, None, True, "x\u00e9\u0001"], "c": {"d": -2, "e": 1e-7, "f": 12345678901234.0}}}),
    ("repr_output", "{{ [1, 'a', none, true, 1.5, {'k': [1]}] }} {{ ('a',) }} {{ (1, 2) }} {{ \"it's\" }} {{ {'q': 'it\\'s \"x\"'} }}", {}),
    ("macro_call", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('ann') }} {{ greet('bob', punct='?') }} {% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inside{% endcall %}", {}),
    ("set_block_filter", "{% set s %}  Block {{ 1 + 1 }}  {% endset %}[{{ s | trim }}]{% filter upper %}loud {{ 'x' }}{% endfilter %}", {}),
    ("cond_expr", "{{ 'a' if x else 'b' }}{{ 'c' if not x else 'd' }}{{ x and 'y' }}{{ 0 or 'z' }}{{ none or [] }}{{ (1 if false) is defined }}", {"x": True}),
    ("compare_chain", "{{ 1 < 2 < 3 }}{{ 1 < 3 < 2 }}{{ 'a' < 'b' }}{{ [1, 2] == [1, 2] }}{{ 1 == 1.0 }}{{ 'a' != 'b' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 3 not in [1] }}", {}),
    ("undefined_ops", "[{{ missing }}][{{ d.missing }}][{{ missing | length }}][{{ d.missing is defined }}][{{ missing | default('x') }}]{% for i in missing %}no{% endfor %}", {"d": {}}),
    ("string_escapes", "{{ 'tab\\tnew\\nline' }}|{{ \"dq\\\"\" }}|{{ '\\u00e9\\x41' }}|{{ 'a' 'b' }}", {}),
    ("dict_literal", "{% set d = {'a': 1, 'b': {'c': [1, 2]}} %}{{ d.b.c[1] }}{{ d['a'] }}{{ d | length }}{% for k in d %}{{ k }}{% endfor %}{{ dict(x=1, y=2) }}", {}),
    ("slices", "{{ xs[1:] }}{{ xs[:-1] }}{{ xs[::2] }}{{ xs[::-1] }}{{ xs[-2:] }}{{ xs[5:] }}{{ xs[-1] }}{{ xs[1:4:2] }}", {"xs": [0, 1, 2, 3, 4]}),
    ("items_filter", "{% for k, v in d | items %}{{ k }}:{{ v }} {% endfor %}{{ d | dictsort }}", {"d": {"b": 2, "A": 1, "c": 3}}),
    ("indent", "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", {}),
    ("soft_unknown_filter", "{% if false %}{{ x | nosuchfilter }}{% endif %}{{ 'a' if true else y | nosuchfilter2 }}ok", {}),
    ("soft_unknown_used", "{% if true %}{{ 1 | nosuchfilter }}{% endif %}", {}),
    ("generator_results", "{{ [] | select('odd') | list | length }}{% if [] | map('string') %}T{% endif %}{{ [3, 1] | reverse | list }}{{ {'a': 1} | items | list }}", {}),
    ("unicode_case", "{{ u | upper }}|{{ u | lower }}|{{ u.title() }}|{{ u | title }}|{{ u | capitalize }}|{{ u is lower }}|{{ 'ÀÉ' is upper }}|{{ ['é', 'E', 'a'] | sort }}",
     {"u": "h\u00e9llo w\u00f6rld \u00dfa \u0391\u03b2\u03b3 \u0416\u0436 \u0131 \u017f-x (y) 日本"}),
    ("float_mod_round", "{{ 1 % -0.125 }} {{ -2 % 2.0 }} {{ 2.5 is odd }} {{ 3.0 is odd }} {{ 1 | round(1) }} {{ 2.675 | round(2) }} {{ 2.5 | round }} {{ -7 % -3 }}", {}),
    ("indent_lines", "{{ 'a\\r\\nb\\n' | indent(2, true) }}|{{ '' | indent }}|{{ 'x\\n\\ny' | indent(2, blank=true) }}", {}),
    ("scope_store_after_loop", "{% for i in [1] %}[{{ n }}]{% endfor %}{% set n = 'v' %}{{ n }}", {"n": 0}),
    ("scope_branch_store", "{% for i in [1] %}[{{ n }}{{ k }}]{% endfor %}{% if x %}{% set n = 1 %}{% else %}{% set n = 2 %}{% endif %}"
     "{% if x %}{% set k = 1 %}{% elif y %}{% set k = 2 %}{% else %}{% set k = 3 %}{% endif %}{{ n }}{{ k }}", {"n": 0, "k": 0, "x": True, "y": False}),
    ("scope_macro_alias", "{% macro m() %}{% for i in [1] %}[{{ n }}]{% endfor %}{% set n = 'm' %}{{ n }}{% endmacro %}{{ m() }}{{ n }}"
     "{% macro q() %}{% for i in [1] %}[{{ z }}]{% endfor %}{% set z = 'q' %}{{ z }}{% endmacro %}{{ q() }}", {"n": 0, "z": 5}),
    ("raise_exception", "before{{ raise_exception('Custom failure: ' ~ x) }}", {"x": 7}),
    ("error_undefined_attr", "{{ missing.attr }}", {}),
    ("error_type", "{{ 1 + 'a' }}", {}),
    ("error_unsafe", "{{ [].append(1) }}", {}),
]

# Templates that jinja2 refuses to compile: (name, template). The expected line comes from jinja2.
SYNTAX_ERRORS = [
    ("unclosed_if", "{% if x %}\nabc\n"),
    ("unclosed_for", "a\n{% for x in y %}{{ x }}"),
    ("unknown_filter", "line1\n{{ x | nosuchfilter }}"),
    ("unknown_test", "{{ x is nosuchtest }}"),
    ("unknown_tag", "\n\n{% frobnicate %}"),
    ("bad_expression", "{{ 1 + }}"),
    ("unclosed_var", "{{ x "),
    ("unclosed_comment", "{# never closed"),
    ("stray_endif", "x{% endif %}"),
    ("unclosed_string", "{{ 'abc }}"),
    ("unbalanced_paren", "{{ (1 + 2 }}"),
    ("bad_set", "{% set = 1 %}"),
    ("unknown_filter_in_loop_in_if", "{% if x %}\n{% for y in z %}{{ y | nosuch }}{% endfor %}{% endif %}"),
]


def c_message(m):
    """afm_chat_message fields: strings, tool_calls as JSON text; absent keys stay absent."""
    out = {"role": m["role"]}
    for k in ("content", "tool_call_id", "name", "reasoning_content"):
        if k in m:
            out[k] = m[k]
    if "tool_calls" in m:
        out["tool_calls"] = json.dumps(m["tool_calls"])
    return out


def render(template, messages, tools, add_gen, bos, eos, extra):
    kwargs = dict(extra)
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    try:
        out, _ = render_jinja_template(conversations=[messages], tools=tools, chat_template=template,
                                       add_generation_prompt=add_gen, **kwargs)
        return {"expected": out[0]}
    except Exception as e:
        return {"error": str(e), "error_type": type(e).__name__}


def render_vars(template, variables):
    """Renders with exactly these variables (the C side's afm_chat_template_render_json)."""
    from transformers.utils.chat_template_utils import _compile_jinja_template
    try:
        return {"expected": _compile_jinja_template(template).render(**variables)}
    except Exception as e:  # jinja2 lets Python's TypeError etc. through
        return {"error": str(e), "error_type": type(e).__name__}


def main():
    templates = {}
    for fam in FAMILIES:
        if fam == "afm":
            templates[fam] = afm_template()
        else:
            with open(os.path.join(FIX, "templates", fam + ".jinja"), encoding="utf-8") as f:
                templates[fam] = f.read()
    cases = []
    for fam, cfg in FAMILIES.items():
        for name, msgs, tools, gen, extra in CONVERSATIONS:
            ex = {**cfg.get("extra", {}), **extra}
            case = {"family": fam, "name": name, "messages": msgs, "tools": tools, "add_generation_prompt": gen,
                    "bos_token": cfg["bos"], "eos_token": cfg["eos"], "extra": ex,
                    # the same inputs as the C API takes them: JSON text made by Python's json.dumps
                    "c_messages": [c_message(m) for m in msgs],
                    "tools_json": json.dumps(tools) if tools is not None else None,
                    "extra_json": json.dumps(ex)}
            case.update(render(templates[fam], msgs, tools, gen, cfg["bos"], cfg["eos"], ex))
            cases.append(case)
    features = []
    for name, tpl, variables in FEATURES:
        f = {"name": name, "template": tpl, "vars_json": json.dumps(variables)}
        f.update(render_vars(tpl, variables))
        features.append(f)
    errors = []
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=["jinja2.ext.loopcontrols"])
    for name, tpl in SYNTAX_ERRORS:
        try:
            env.from_string(tpl)
            raise SystemExit(f"{name}: jinja2 accepted the template")
        except jinja2.exceptions.TemplateSyntaxError as e:
            errors.append({"name": name, "template": tpl, "line": e.lineno, "message": e.message})
    out = {"generator": "scripts/reference/make_chat_fixtures.py",
           "jinja2": jinja2.__version__, "transformers": __import__("transformers").__version__,
           "templates": {k: v for k, v in templates.items()},
           "cases": cases, "features": features, "syntax_errors": errors}
    path = os.path.join(FIX, "cases.json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_err = sum("error" in c for c in cases)
    print(f"wrote {path}: {len(cases)} conversation cases ({n_err} expected errors), {len(features)} feature cases, "
          f"{len(errors)} syntax errors", file=sys.stderr)


if __name__ == "__main__":
    main()
