#!/usr/bin/env python3
"""Expected prompts for afm eval's model runs, rendered from lm-evaluation-harness's own task
configs (the YAML doc_to_text / doc_to_choice / fewshot settings, through jinja2), the way
lm-eval assembles a few-shot context: description + examples (text + target_delimiter " " +
target) joined by fewshot_delimiter "\n\n", then "\n\n" + the question's text.

usage: eval_prompts.py SHARED_DIR LM_EVAL_DIR OUT.json
"""
import csv
import json
import sys
import jinja2
import yaml

shared, lm, out = sys.argv[1:4]
env = jinja2.Environment()

class Loader(yaml.SafeLoader):
    pass
Loader.add_multi_constructor("!", lambda l, s, n: None)  # lm-eval's !function tags

def load_yaml(p):
    return yaml.load(open(p), Loader=Loader)

res = {}
# MMLU: default template + the subject's description, first_n dev examples
tmpl = load_yaml(f"{lm}/lm_eval/tasks/mmlu/default/_default_template_yaml")
sub = load_yaml(f"{lm}/lm_eval/tasks/mmlu/default/mmlu_abstract_algebra.yaml")
def mmlu_doc(row):
    return {"question": row[0], "choices": row[1:5], "answer": "ABCD".index(row[5])}
rows = lambda split: [mmlu_doc(r) for r in csv.reader(open(f"{shared}/data/mmlu/{split}/abstract_algebra_{split}.csv"))]
t = env.from_string(tmpl["doc_to_text"])
choices = tmpl["doc_to_choice"]
shots = ["%s %s" % (t.render(**d), choices[d["answer"]]) for d in rows("dev")[:5]]
test = rows("test")[0]
res["mmlu_abstract_algebra_0"] = {"context": sub["description"] + "\n\n".join(shots) + "\n\n" + t.render(**test),
                                  "choices": [" " + c for c in choices], "gold": test["answer"]}
# BoolQ
bq = load_yaml(f"{lm}/lm_eval/tasks/super_glue/boolq/default.yaml")
item = json.load(open(f"{shared}/data/qa/boolq_validation.json"))[0]
res["boolq_0"] = {"context": env.from_string(bq["doc_to_text"]).render(**item),
                  "choices": [" " + c for c in bq["doc_to_choice"]], "gold": int(item["answer"])}
# GSM8K chain of thought, 8 shots
g = load_yaml(f"{lm}/lm_eval/tasks/gsm8k/gsm8k-cot.yaml")
gt = env.from_string(g["doc_to_text"])
q = json.loads(open(f"{shared}/data/math/gsm8k_test.jsonl").readline())
ex = ["%s %s" % (gt.render(**s), s["target"]) for s in g["fewshot_config"]["samples"]]
res["gsm8k_0"] = {"prompt": "\n\n".join(ex) + "\n\n" + gt.render(**q), "stops": g["generation_kwargs"]["until"]}
json.dump(res, open(out, "w"), indent=1)
