#!/usr/bin/env python3
"""Expected GSM8K and MATH answer extractions from lm-evaluation-harness's own code.

GSM8K: the gsm8k-cot task's filters (strict `The answer is (\-?[0-9\.\,]+).`, take first;
flexible `(-?[$0-9.,]{2,})|(-?[0-9]+)`, take last; lm_eval.filters.extraction.RegexFilter) and
its exact_match (regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"], ignore_case) from
lm_eval.api.metrics. MATH: lm_eval/tasks/hendrycks_math/utils.py (last_boxed_only_string,
remove_boxed, strip_string, is_equiv).

The lm-eval wheel is only unpacked (pip download lm-eval --no-deps; unzip); pass the folder
that holds lm_eval/ as LM_EVAL_DIR. usage: math_answers.py SHARED_DIR OUT_DIR LM_EVAL_DIR
Writes OUT_DIR/gsm8k_extract.jsonl and OUT_DIR/math_extract.jsonl (solutions by index
into math_test5000.jsonl, then prediction/gold pairs built from MATH-500 answers).
"""
import importlib.util
import json
import random
import re
import sys
import types

shared, out, lm = sys.argv[1], sys.argv[2], sys.argv[3]

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

# hendrycks_math/utils.py imports `datasets` only for a type; a stub is enough
sys.modules.setdefault("datasets", types.SimpleNamespace(Dataset=object))
hm = load("hm", f"{lm}/lm_eval/tasks/hendrycks_math/utils.py")

# RegexFilter.apply's per-response logic and exact_match_hf_evaluate, from lm_eval's sources
src = open(f"{lm}/lm_eval/filters/extraction.py").read()
assert "match = self.regex.findall(resp)" in src and "match = match[self.group_select]" in src
def regex_filter(resp, pattern, group_select):
    match = re.compile(pattern).findall(resp)
    if not match:
        return None
    match = match[group_select]
    if isinstance(match, tuple):
        match = [m for m in match if m]
        match = match[0] if match else None
    return None if match is None else match.strip()

IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]
def exact_match(pred, ref):
    for s in IGNORE:
        pred, ref = re.sub(s, "", pred), re.sub(s, "", ref)
    return pred.lower() == ref.lower()

rng = random.Random(1234)
rows = [json.loads(l) for l in open(f"{shared}/data/math/gsm8k_test.jsonl")]
crafted = [
    "The answer is 18.", "The answer is 18", "The answer is 1,234.", "The answer is -5.", "The answer is -5",
    "The answer is $18.", "so 3 + 4 = 7. The answer is 7.\nQ: next", "The answer is 7\n", "the answer is 7.",
    "We get 12 apples and 3 pears, so 15 fruits.", "Total: $1,200.50 dollars.", "It is -3 degrees.",
    "no numbers here", "", "#### 42", "x #### 5 #### 6", "Answer: 3.0", "1.5.", "5,", "-", "--5", "- 5",
    "The answer is .5.", "costs $5 and $6", "The answer is 3. The answer is 4.", "2-3", "10.00",
    "The answer is 007.", "The answer is 1e5.", "The answer is \n5.", "1/2 of 8 is 4", "ends with 12.",
]
with open(f"{out}/gsm8k_extract.jsonl", "w") as f:
    for i, r in enumerate(rows[:400]):
        ref = r["answer"].split("####")[-1].strip()
        body = r["answer"].split("####")[0].strip()
        wrong = str(int(ref.replace(",", "")) + rng.choice([-1, 1, 10])) if re.fullmatch(r"-?[\d,]+", ref) else ref + "0"
        variants = [body + " The answer is " + ref + ".", body + "\nThe answer is " + wrong + ".",
                    body + " So the total is $" + ref + ".", r["answer"], body]
        resp = variants[i % len(variants)]
        crafted_ref = None
        items = [(resp, ref)]
        if i < len(crafted):
            items.append((crafted[i], ["18", "7", "1234", "-5", "42", "15", "1200.50", "5", "3"][i % 9]))
        for resp_, ref_ in items:
            s = regex_filter(resp_, r"The answer is (\-?[0-9\.\,]+).", 0)
            fl = regex_filter(resp_, r"(-?[$0-9.,]{2,})|(-?[0-9]+)", -1)
            f.write(json.dumps({"response": resp_, "reference": ref_, "strict": s, "flexible": fl,
                                "strict_match": exact_match(s if s is not None else "[invalid]", ref_),
                                "flexible_match": exact_match(fl if fl is not None else "[invalid]", ref_)}) + "\n")

def safe(fn, *a):
    try:
        return fn(*a)
    except Exception:
        return None

def perturb(a):
    """equivalent or near-equivalent spellings a model might produce"""
    c = [a, a.replace("\\frac", "\\dfrac"), " " + a + " ", "\\left(" + a + "\\right)", a + "^\\circ",
         a + "\\text{ cm}", "x = " + a, a.replace("{", "").replace("}", ""), a + ".", "$" + a + "$",
         a.replace("\\", "\\\\"), "\\$" + a, a + "\\%", a + "/2", "." + a, a.replace(" ", ""), "0.5",
         a.replace("\\sqrt{", "\\sqrt").replace("}", "", 1)]
    return c

mrows = [json.loads(l) for l in open(f"{shared}/data/math/math_test5000.jsonl")]
m500 = [json.loads(l) for l in open(f"{shared}/data/math/math500_test.jsonl")]
with open(f"{out}/math_extract.jsonl", "w") as f:
    for i, r in enumerate(mrows):
        sol = r["solution"]
        boxed = safe(hm.last_boxed_only_string, sol)
        ans = safe(hm.remove_boxed, boxed) if boxed is not None else None
        rec = {"i": i, "answer": ans,
               "strip": safe(hm.strip_string, ans) if ans is not None else None}
        f.write(json.dumps(rec) + "\n")
    for r in m500:
        gold = r["answer"]
        for p in perturb(gold):
            strip = safe(hm.strip_string, p)
            f.write(json.dumps({"pred": p, "gold": gold, "strip": strip, "equiv": hm.is_equiv(p, gold)}) + "\n")
