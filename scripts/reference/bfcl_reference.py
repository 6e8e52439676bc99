#!/usr/bin/env python3
"""BFCL verdict fixtures from the bfcl-eval package's own checker.

For a sample of BFCL v4 items of every single-turn category this writes
  tests/fixtures/eval/bfcl_items.jsonl      the items (question, function, ground_truth embedded)
  tests/fixtures/eval/bfcl_responses.jsonl  {"item": line in bfcl_items, "response", "variant"}
  tests/fixtures/eval/bfcl_verdicts.jsonl   bfcl-eval's verdict for each: {"valid", "error_type"}
Responses: hand-written and perturbed calls made from each item's possible answer (correct,
wrong type, missing required parameter, unexpected parameter, wrong value, reordered parallel
calls, text around the call, prose, ...), plus real model outputs given with --model-results
(afm eval results.json files: their per-item "response").

The verdicts come from bfcl-eval's eval_runner._evaluate_single_ast_entry and
_evaluate_single_relevance_entry with its ast_checker, decoding with
default_decode_ast_prompting (what every prompting-mode OSS handler's decode_ast calls).

Setup (bfcl-eval's full dependency list pulls in torch and a dozen API SDKs the checker never
uses, so the wheel is installed without them, plus what the checker's imports need):
  python3 -m venv /tmp/bfclvenv
  /tmp/bfclvenv/bin/pip install bfcl-eval==2026.3.23 --no-deps
  /tmp/bfclvenv/bin/pip install tree_sitter==0.21.3 tree-sitter-java==0.21.0 \
      tree-sitter-javascript==0.21.4 tenacity overrides python-dotenv tqdm filelock==3.20.0 \
      numpy==1.26.4 pandas
  /tmp/bfclvenv/bin/python scripts/reference/bfcl_reference.py [--model-results DIR]
bfcl_eval.constants.model_config imports every API handler (openai, anthropic, ...); it is
replaced by a stub whose only use here, MODEL_CONFIG_MAPPING[name].underscore_to_dot, is False
as for the prompting-mode local models.
"""
import argparse
import copy
import glob
import json
import os
import sys
import types

cfg = types.ModuleType("bfcl_eval.constants.model_config")


class _Cfg:
    underscore_to_dot = False


class _Map(dict):
    def __getitem__(self, k):
        return _Cfg()


cfg.MODEL_CONFIG_MAPPING = _Map()
sys.modules["bfcl_eval.constants.model_config"] = cfg

from bfcl_eval.constants.enums import Language, ReturnFormat  # noqa: E402
from bfcl_eval.eval_checker import eval_runner as er  # noqa: E402
from bfcl_eval.constants.default_prompts import DEFAULT_SYSTEM_PROMPT_FORMAT  # noqa: E402
from bfcl_eval.model_handler.utils import (default_decode_ast_prompting, formulate_system_prompt,  # noqa: E402
                                           system_prompt_pre_processing_chat_model)
from bfcl_eval.utils import _func_doc_language_specific_pre_processing  # noqa: E402


class PromptingHandler:
    """decode_ast of bfcl-eval's OSSHandler (base_oss_handler.py)"""

    def decode_ast(self, result, language, has_tool_call_tag):
        return default_decode_ast_prompting(result, language, has_tool_call_tag)


CATS = ["simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple",
        "irrelevance", "live_simple", "live_parallel", "live_parallel_multiple", "live_relevance"]
PER_CAT = {"simple_python": 10, "simple_java": 10, "simple_javascript": 10, "multiple": 6, "parallel": 6,
           "parallel_multiple": 5, "irrelevance": 8, "live_simple": 8, "live_parallel": 4,
           "live_parallel_multiple": 4, "live_relevance": 5}


def verdict(category, item, response):
    h = PromptingHandler()
    if "relevance" in category:
        r = er._evaluate_single_relevance_entry(h, item["id"], response, item, "afm", category)
    else:
        if "javascript" in category:
            lang, fmt = Language.JAVASCRIPT, ReturnFormat.JAVASCRIPT
        elif "java" in category:
            lang, fmt = Language.JAVA, ReturnFormat.JAVA
        else:
            lang, fmt = Language.PYTHON, ReturnFormat.PYTHON
        prompt = {k: v for k, v in item.items() if k != "ground_truth"}
        r = er._evaluate_single_ast_entry(h, item["id"], response, item["ground_truth"], prompt, "afm", category,
                                          language=lang, return_format=fmt)
    return {"valid": bool(r["valid"]), "error_type": r.get("error_type", "")}


def py_call(name, params):
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


def first_values(answer):
    return {k: v[0] for k, v in answer.items() if v and v[0] != ""}


def java_lit(v, typ):
    if isinstance(v, str):
        return f'"{v}"' if typ in ("String", "char") else v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "new ArrayList<>(Arrays.asList(" + ", ".join(java_lit(x, "String") for x in v) + "))"
    if typ == "long":
        return f"{v}L"
    if typ == "float":
        return f"{v}f"
    return str(v)


def js_lit(v, typ):
    if isinstance(v, str):
        return f'"{v}"' if typ == "String" else v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def variants(category, item):
    """(name, response) pairs for one item"""
    out = []
    fn_types = {f["name"]: f["parameters"]["properties"] for f in item["function"]}
    if "relevance" in category:
        f = item["function"][0]
        req = f["parameters"].get("required", [])
        out += [("prose", "I cannot answer that with the given functions."),
                ("empty_list", "[]"),
                ("call", "[" + py_call(f["name"], {k: 1 for k in req}) + "]"),
                ("call_no_args", f"{f['name']}()")]
        return out
    gt = item["ground_truth"]
    if "java" in category and "javascript" not in category:
        (name, ans), = gt[0].items()
        props = fn_types[name]
        args = {k: java_lit(v, props[k]["type"]) for k, v in first_values(ans).items()}
        body = ", ".join(f"{k}={v}" for k, v in args.items())
        out += [("java_ok", f"[{name}({body})]"), ("java_semicolon", f"[{name}({body});]"),
                ("java_text_after", f"{name}({body}); This calls it."),
                ("java_bad", f"[{name}({body}"), ("java_python_list", f"[{name}({body}), {name}({body})]")]
        if args:
            k0 = next(iter(args))
            missing = ", ".join(f"{k}={v}" for k, v in args.items() if k != k0)
            out.append(("java_missing", f"[{name}({missing});]"))
            wrong = ", ".join(f"{k}={v if k != k0 else chr(34) + 'zzz' + chr(34)}" for k, v in args.items())
            out.append(("java_wrongval", f"[{name}({wrong});]"))
        return out
    if "javascript" in category:
        (name, ans), = gt[0].items()
        props = fn_types[name]
        args = {k: js_lit(v, props[k]["type"]) for k, v in first_values(ans).items()}
        body = ", ".join(f"{k}={v}" for k, v in args.items())
        out += [("js_ok", f"[{name}({body})]"), ("js_semicolon", f"{name}({body});"),
                ("js_extra", f"[{name}({body}, extra=1)]"), ("js_prose", f"Call: {name}({body})")]
        if args:
            k0 = next(iter(args))
            missing = ", ".join(f"{k}={v}" for k, v in args.items() if k != k0)
            out.append(("js_missing", f"[{name}({missing})]"))
        return out
    calls = []
    for c in gt:
        (name, ans), = c.items()
        calls.append((name, first_values(ans)))
    ok = "[" + ", ".join(py_call(n, p) for n, p in calls) + "]"
    out.append(("correct", ok))
    out.append(("correct_no_brackets", ", ".join(py_call(n, p) for n, p in calls)))
    out.append(("fenced", "```python\n" + ok + "\n```"))
    out.append(("prose_around", "Sure! " + ok + " Hope this helps."))
    n0, p0 = calls[0]
    props = fn_types.get(n0, {})
    if p0:
        k0 = next(iter(p0))
        v0 = p0[k0]
        bad = copy.deepcopy(calls)
        bad[0][1][k0] = str(v0) if not isinstance(v0, str) else 12345
        out.append(("wrong_type", "[" + ", ".join(py_call(n, p) for n, p in bad) + "]"))
        miss = copy.deepcopy(calls)
        del miss[0][1][k0]
        out.append(("missing_param", "[" + ", ".join(py_call(n, p) for n, p in miss) + "]"))
        wv = copy.deepcopy(calls)
        wv[0][1][k0] = (v0 + 1) if isinstance(v0, (int, float)) and not isinstance(v0, bool) else \
            (not v0) if isinstance(v0, bool) else (v0 + ["x"] if isinstance(v0, list) else "zz_wrong")
        out.append(("wrong_value", "[" + ", ".join(py_call(n, p) for n, p in wv) + "]"))
        if isinstance(v0, str) and v0:
            sv = copy.deepcopy(calls)
            sv[0][1][k0] = v0.upper().replace(" ", "-") + "."
            out.append(("string_normalized", "[" + ", ".join(py_call(n, p) for n, p in sv) + "]"))
        if isinstance(v0, int) and not isinstance(v0, bool) and props.get(k0, {}).get("type") == "float":
            fv = copy.deepcopy(calls)
            fv[0][1][k0] = float(v0)
            out.append(("int_as_float", "[" + ", ".join(py_call(n, p) for n, p in fv) + "]"))
    ex = copy.deepcopy(calls)
    ex[0][1]["unexpected_arg"] = 1
    out.append(("extra_param", "[" + ", ".join(py_call(n, p) for n, p in ex) + "]"))
    # optional parameters spelled out with their other acceptable values
    (gname, gans), = gt[0].items()
    full = {k: v[-1] for k, v in gans.items() if v and v[-1] != ""}
    out.append(("last_values", "[" + ", ".join([py_call(gname, full)] + [py_call(n, p) for n, p in calls[1:]]) + "]"))
    out.append(("wrong_name", "[" + ", ".join(py_call(n + "_x" if i == 0 else n, p) for i, (n, p) in enumerate(calls)) + "]"))
    if len(calls) > 1:
        out.append(("reversed_order", "[" + ", ".join(py_call(n, p) for n, p in reversed(calls)) + "]"))
        out.append(("one_call_missing", "[" + ", ".join(py_call(n, p) for n, p in calls[1:]) + "]"))
    out.append(("positional", f"[{n0}(" + ", ".join(repr(v) for v in p0.values()) + ")]"))
    out.append(("unary_plus", ok.replace("=-", "=+", 1) if "=-" in ok else ok.replace("=1", "=-1", 1)))
    out.append(("expression", ok.replace("=2", "=1+1", 1)))
    out.append(("nested_call", f"[{n0}(" + ", ".join(f"{k}=str({v!r})" for k, v in p0.items()) + ")]"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.environ.get("AFM_SHARED", "/work/shared"), "data", "bfcl"))
    ap.add_argument("--model-results", default=None, help="folder of afm eval --task bfcl results *.json")
    ap.add_argument("--out", default="tests/fixtures/eval")
    ap.add_argument("--all", action="store_true", help="every item of every category (a validation run, not the fixture)")
    a = ap.parse_args()
    items, responses, verdicts = [], [], []
    by_id = {}
    for cat in CATS:
        qs = [json.loads(l) for l in open(f"{a.data}/BFCL_v4_{cat}.json")]
        gts = {}
        if "relevance" not in cat:
            gts = {g["id"]: g["ground_truth"] for g in map(json.loads, open(f"{a.data}/possible_answer/BFCL_v4_{cat}.json"))}
        for q in qs:
            if q["id"] in gts:
                q["ground_truth"] = gts[q["id"]]
            by_id[q["id"]] = (cat, q)
        # the sample: the first items, and the first one with its own system message
        sample = qs[:PER_CAT[cat]] + [q for q in qs[PER_CAT[cat]:] if q["question"][0][0]["role"] == "system"][:1]
        for q in (qs if a.all else sample):
            for name, resp in variants(cat, q):
                items.append(q)
                responses.append({"response": resp, "variant": name})
    if a.model_results:
        for path in sorted(glob.glob(os.path.join(a.model_results, "*.json"))):
            # errors="replace": a response cut inside a character (afm before its U+FFFD fix) reads as U+FFFD
            for rec in json.load(open(path, encoding="utf-8", errors="replace"))["items"]:
                if "response" not in rec or rec.get("id") not in by_id:
                    continue
                cat, q = by_id[rec["id"]]
                items.append(q)
                responses.append({"response": rec["response"], "variant": "model:" + os.path.basename(path)})
    for q, r in zip(items, responses):
        cat = q["id"].rsplit("_", 1)[0]
        verdicts.append(verdict(cat, q, r["response"]))
    # items once each; every response names its item (the test expands them into a data file)
    os.makedirs(a.out, exist_ok=True)
    index = {}
    with open(os.path.join(a.out, "bfcl_items.jsonl"), "w") as f:
        for q in items:
            if id(q) not in index:
                index[id(q)] = len(index)
                f.write(json.dumps(q) + "\n")
    with open(os.path.join(a.out, "bfcl_responses.jsonl"), "w") as f:
        for q, r in zip(items, responses):
            f.write(json.dumps({"item": index[id(q)], **r}) + "\n")
    with open(os.path.join(a.out, "bfcl_verdicts.jsonl"), "w") as f:
        for v in verdicts:
            f.write(json.dumps(v) + "\n")
    # the prompting-mode system prompt and messages of the first item of each category
    with open(os.path.join(a.out, "bfcl_prompts.jsonl"), "w") as f:
        seen = set()
        for q in items:
            cat = q["id"].rsplit("_", 1)[0]
            key = (cat, q["question"][0][0]["role"] == "system")
            if key in seen:
                continue
            seen.add(key)
            fns = _func_doc_language_specific_pre_processing(copy.deepcopy(q["function"]), cat)
            system = formulate_system_prompt(DEFAULT_SYSTEM_PROMPT_FORMAT, fns)
            msgs = system_prompt_pre_processing_chat_model(copy.deepcopy(q["question"][0]), fns, q["id"])
            assert msgs[0]["content"].startswith(system)
            f.write(json.dumps({"item": index[id(q)], "category": cat, "system": system, "messages": msgs}) + "\n")
    n_valid = sum(v["valid"] for v in verdicts)
    print(f"{len(items)} responses, {n_valid} valid according to bfcl-eval")


if __name__ == "__main__":
    main()
