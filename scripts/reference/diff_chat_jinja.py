#!/usr/bin/env python3
"""Differential test of afm's Jinja engine against jinja2 as transformers configures it.

Generates random templates -- expressions over many value types with operators, methods, filters,
tests, slices and loops; and statement soups of text, whitespace control (-, +), comments, raw
blocks, if/elif/else, for, set and macros -- renders each with transformers' compiled jinja2
environment and with `afm template --jsonl`, and prints every difference.

    python3 scripts/reference/diff_chat_jinja.py --afm build/afm --seed 1 --n 3000 --kind expr
    python3 scripts/reference/diff_chat_jinja.py --afm build/afm --seed 1 --n 3000 --kind stmt

Known, accepted differences (docs/chat-templates.md): jinja2's filters that return generators
fail lazily (afm fails when the filter runs), printf-style '%' string formatting, the printed
repr of generators and dict views, attributes of numbers (.real).
"""
import argparse
import copy
import json
import os
import random
import subprocess
import sys
import tempfile

from transformers.utils.chat_template_utils import _compile_jinja_template

ap = argparse.ArgumentParser()
ap.add_argument("--afm", required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--n", type=int, default=2000)
ap.add_argument("--kind", choices=["expr", "stmt"], default="expr")
args = ap.parse_args()
R = random.Random(args.seed)
N = args.n

V = {"i": 7, "n": -3, "z": 0, "f": 2.5, "g": -0.125, "big": 12345678901, "s": "Hello World", "e": "",
     "u": "h\u00e9llo \u65e5\u672c \U0001F642 \u00dfa \u0391\u03b2\u03b3 \u0416\u0436 \u0130\u0131 \u017f", "ws": "  pad \n", "l": [3, 1, 2], "ls": ["b", "A", "c"],
     "d": {"a": 1, "b": [1, 2], "c": None}, "t": True, "no": None,
     "nested": [{"name": "x", "v": 1}, {"name": "y", "v": 2}, {"name": "z", "v": 0}], "js": "{\"k\": 1}", "fl": [1.5, 2, 0.1]}
ATOMS = list(V) + ["missing", "1", "0", "-2", "3", "0.1", "1e3", "2.0", "1.5e-8", "'a'", "'x y'", "\"q'q\"", "''", "'\\n\\t'",
                   "none", "true", "false", "[1, 2]", "[]", "{'k': 1}", "{}", "('a', 1)", "'abc'", "'a,b,,c'", "' sp '"]
BIN = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"]
METH = ["strip()", "strip('H')", "lstrip()", "rstrip()", "split()", "split(',')", "split('l', 1)", "startswith('H')", "endswith('d')",
        "upper()", "lower()", "replace('l', 'L')", "replace('l', 'L', 1)", "items()", "keys()", "values()", "get('a')", "get('q', 5)",
        "title()", "capitalize()", "count('l')", "find('o')", "isdigit()", "isspace()", "index(1)", "join(['x', 'y'])", "append(1)", "pop()"]
ATTR = ["a", "b", "c", "name", "v", "missing", "real", "0"]
FILT = ["length", "trim", "tojson", "tojson(indent=2)", "tojson(sort_keys=true)", "string", "join(',')", "join", "upper", "lower",
        "default('x')", "default('x', true)", "first", "last", "list", "sort", "sort(reverse=true)", "reverse", "unique", "sum", "int",
        "float", "abs", "round", "round(1)", "items", "dictsort", "map('string')", "map(attribute='name')", "map(attribute='v')",
        "selectattr('v')", "rejectattr('v')", "select('odd')", "reject('even')", "select", "max", "min", "capitalize", "title",
        "replace('a', 'b')", "wordcount", "indent", "indent(2, true)", "e", "count", "d", "safe", "trim('x')", "tojson(separators=(',', ':'))",
        "selectattr('name', 'equalto', 'y')", "sum(attribute='v')", "join(attribute='name')", "first | string", "list | length", "int(5)", "float(1.5)"]
TESTS = ["defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence", "odd", "even",
         "divisibleby 3", "divisibleby(2)", "in l", "in 'Hello'", "boolean", "true", "false", "callable", "lower", "upper", "sameas none",
         "eq 1", "equalto 'a'", "ne 2", "lt 5", "ge 0", "not none", "not defined"]

def expr(d=0):
    r = R.random()
    if d >= 3 or r < 0.25:
        return R.choice(ATOMS)
    if r < 0.45:
        return f"({expr(d+1)} {R.choice(BIN)} {expr(d+1)})"
    if r < 0.55:
        return f"{expr(d+1)} | {R.choice(FILT)}"
    if r < 0.62:
        return f"({expr(d+1)} is {R.choice(TESTS)})"
    if r < 0.72:
        return f"{R.choice(list(V))}.{R.choice(METH)}"
    if r < 0.78:
        return f"{R.choice(list(V))}.{R.choice(ATTR)}"
    if r < 0.86:
        k = R.choice(["0", "1", "-1", "5", "'a'", "'name'", "1:", ":-1", "::-1", "::2", "1:3", "-2:", ":", "::-2", "5:1:-1"])
        return f"{R.choice(list(V))}[{k}]"
    if r < 0.90:
        return f"(not {expr(d+1)})"
    if r < 0.95:
        return f"({expr(d+1)} if {expr(d+1)} else {expr(d+1)})"
    return f"(-{expr(d+1)})"

import copy


TEXTS = ["", " ", "  ", "\t", "\n", " \n", "\n  ", "a", "b c", "\n\n", " x \n ", "\r\n", "y\r", "  \t \n\t", "é ", "{", "}", "%", "#"]
def mod(): return R.choice(["", "", "-", "+"]) 
def endmod(): return R.choice(["", "", "-"])
def sp(): return R.choice(["", " ", "  ", "\n", " \n "])
def block(depth=0):
    out = []
    for _ in range(R.randint(1, 5)):
        r = R.random()
        if r < 0.35: out.append(R.choice(TEXTS))
        elif r < 0.5: out.append("{{" + R.choice(["", "-"]) + sp() + R.choice(["x", "'s'", "1", "n", "n", "k", "i"]) + sp() + R.choice(["", "-"]) + "}}")
        elif r < 0.6: out.append("{#" + R.choice(["", "-"]) + " c " + R.choice(["", "-"]) + "#}")
        elif r < 0.75 and depth < 3:
            out.append("{%" + mod() + sp() + "if " + R.choice(["true", "false", "x"]) + sp() + endmod() + "%}" + block(depth + 1) +
                       ("{%" + mod() + " else " + endmod() + "%}" + block(depth + 1) if R.random() < 0.4 else "") +
                       "{%" + mod() + " endif " + endmod() + "%}")
        elif r < 0.8 and depth < 3:
            out.append("{%" + mod() + " if " + R.choice(["x", "false", "n"]) + " %}" + block(depth + 1) + "{% elif " + R.choice(["true", "false"]) + " %}" + block(depth + 1) +
                       ("{% else %}" + block(depth + 1) if R.random() < 0.5 else "") + "{% endif %}")
        elif r < 0.84 and depth < 2:
            out.append("{% macro m" + str(depth) + "(p=1) %}" + block(depth + 1) + "{{ p }}{% endmacro %}{{ m" + str(depth) + "() }}")
        elif r < 0.88 and depth < 3:
            out.append("{%" + mod() + " for i in [1, 2] " + endmod() + "%}" + block(depth + 1) + "{%" + mod() + " endfor " + endmod() + "%}")
        elif r < 0.94:
            out.append("{%" + mod() + " set " + R.choice(["n", "n", "k", "x"]) + " = " + R.choice(["1", "'v'", "n ~ 'z'", "k | default('d')"]) + " " + endmod() + "%}")
        else:
            out.append("{%" + mod() + " raw " + endmod() + "%}" + R.choice(TEXTS) + "{{ raw }}" + R.choice(TEXTS) + "{%" + mod() + " endraw " + endmod() + "%}")
    return "".join(out)


def stmt_template():
    return block()


def expr_template():
    t = "{{ " + expr() + " }}"
    if R.random() < 0.15:
        t = "{% for x in " + R.choice(["l", "ls", "d", "s", "nested", "u", "missing", "[]"]) + (" if x" if R.random() < 0.3 else "") + \
            " %}{{ loop.index }}:{{ " + expr(1).replace("i", "x", 1) + " }},{% else %}E{% endfor %}"
    return t


if args.kind == "stmt":
    V = {"x": "X", "n": 0}
cases = []
for _ in range(N):
    t = stmt_template() if args.kind == "stmt" else expr_template()
    try:
        exp = ("ok", _compile_jinja_template(t).render(**copy.deepcopy(V)))
    except Exception as ex:  # jinja2 lets TypeError and friends through
        exp = ("err", type(ex).__name__ + ": " + str(ex))
    cases.append((t, exp))
with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    for t, _ in cases:
        f.write(json.dumps({"t": t, "v": json.dumps(V)}) + "\n")
    path = f.name
res = subprocess.run([args.afm, "template", "--jsonl", path], capture_output=True, text=True)
os.unlink(path)
if res.returncode:
    sys.exit(f"afm failed ({res.returncode}): {res.stderr[-2000:]}")
outs = [json.loads(line) for line in res.stdout.splitlines()]
bad = 0
for (t, exp), got in zip(cases, outs):
    if exp[0] == "ok" and got.get("ok") != exp[1]:
        bad += 1
        print("MISMATCH", repr(t), "| jinja2:", repr(exp[1])[:200], "| afm:", repr(got)[:200])
    elif exp[0] == "err" and "ok" in got:
        bad += 1
        print("SHOULD FAIL", repr(t), "| jinja2:", exp[1][:150], "| afm:", repr(got["ok"])[:150])
print(f"{bad} of {len(cases)} templates differ", file=sys.stderr)
