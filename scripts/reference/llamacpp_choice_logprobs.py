#!/usr/bin/env python3
"""Per-choice log-probabilities of MMLU (5-shot) and BoolQ (0-shot) items from llama.cpp
(PyPI llama-cpp-python) on SmolLM2-135M-Instruct, the reference of tests/cli/eval_llamacpp.sh.

Prompts are built here from the data with lm-evaluation-harness's formats (the same text that
afm eval builds; scripts/reference/eval_prompts.py checks afm's prompts against lm-eval's YAMLs):
  mmlu:  "The following are multiple choice questions (with answers) about {subject}.\n\n"
         + 5 dev examples "{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer: {X}\n\n"
         + "{q}\nA. ..\nD. {d}\nAnswer:", choices " A" " B" " C" " D"
  boolq: "{passage}\nQuestion: {question}?\nAnswer:", choices " no" " yes"
Tokens are llama.cpp's and split as lm-eval does: ctx = tok(context), cont = tok(context +
choice)[len(ctx):] (the model's own BOS rule applies to both). The test requires afm's recorded
token ids (afm eval --record-tokens) to equal these, so both sides score the same tokens.

  log P(choice) = sum_i log_softmax(z_{i-1})[cont_i]   (float64), z_{-1} = logits after ctx

llama.cpp evaluates ctx + cont[:-1] from an empty KV cache with logits for every position (once
for all one-token choices, whose cont[:-1] is empty), in
two configurations: its defaults (f16 K/V cache) and an f32 K/V cache; flash attention off in
both. The fixture stores both; the test compares afm with the default one and reports both.

Writes tests/fixtures/eval/llamacpp_choice/: mmlu/{test,dev}/<subject>_{test,dev}.csv (the
sampled questions and their subjects' dev rows), boolq.jsonl, reference.json. Its item, token and
scoring functions are reused by llamacpp_f32_choice_logprobs.py (the same items on the F32 model).

usage: python3 scripts/reference/llamacpp_choice_logprobs.py [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
       [--shared /work/shared] [--out tests/fixtures/eval/llamacpp_choice] [--threads 2]
"""
import argparse
import csv
import json
import os

import llama_cpp
import numpy as np

SUBJECTS = ["abstract_algebra", "world_religions", "electrical_engineering", "philosophy"]
MMLU_ROWS = [0, 10, 20]          # test rows per subject
BOOLQ_ROWS = [i * 271 for i in range(12)]  # validation items


def mmlu_question(row):
    q = row[0].strip(" \n\t\r")
    return q + "".join("\n%s. %s" % ("ABCD"[k], row[1 + k]) for k in range(4)) + "\nAnswer:"


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write_csv(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max()
    return z - (m + np.log(np.exp(z - m).sum()))


def make_items(shared, out, subjects=SUBJECTS, mmlu_rows=MMLU_ROWS, boolq_rows=BOOLQ_ROWS):
    """The items (task, subject, row, context text, choices, gold) in fixture order; with out set, also
    writes the data subset afm eval reads: out/mmlu/{test,dev}/<subject>_{test,dev}.csv, out/boolq.jsonl."""
    items = []
    mm = os.path.join(shared, "data", "mmlu")
    for s in subjects:
        test, dev = read_csv(f"{mm}/test/{s}_test.csv"), read_csv(f"{mm}/dev/{s}_dev.csv")
        if out:
            write_csv(f"{out}/mmlu/test/{s}_test.csv", [test[i] for i in mmlu_rows])
            write_csv(f"{out}/mmlu/dev/{s}_dev.csv", dev[:5])
        prefix = "The following are multiple choice questions (with answers) about %s.\n\n" % s.replace("_", " ")
        prefix += "".join(mmlu_question(r) + " " + r[5] + "\n\n" for r in dev[:5])
        for i in mmlu_rows:
            items.append(dict(task="mmlu", subject=s, row=i, context=prefix + mmlu_question(test[i]),
                              choices=[" A", " B", " C", " D"], gold="ABCD".index(test[i][5])))
    bq = json.load(open(os.path.join(shared, "data", "qa", "boolq_validation.json")))
    f = open(f"{out}/boolq.jsonl", "w", encoding="utf-8") if out else None
    for i in boolq_rows:
        it = bq[i]
        if f:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
        items.append(dict(task="boolq", row=i, context="%s\nQuestion: %s?\nAnswer:" % (it["passage"], it["question"]),
                          choices=[" no", " yes"], gold=int(bool(it["answer"]))))
    if f:
        f.close()
    return items


def split_tokens(tok, it):
    """lm-eval's split with llama.cpp's tokenizer: ctx = tok(context), cont = tok(context + choice)[len(ctx):]."""
    ctx = it["context"]
    stripped = ctx.rstrip(" ")
    ctx_ids = tok.tokenize(stripped.encode(), add_bos=True, special=False)
    conts = []
    for ch in it["choices"]:
        whole = tok.tokenize((stripped + ctx[len(stripped):] + ch).encode(), add_bos=True, special=False)
        assert whole[:len(ctx_ids)] == ctx_ids, "context tokens change when a choice is appended"
        conts.append(whole[len(ctx_ids):])
    return ctx_ids, conts


def choice_logprobs(llm, ctx_ids, conts):
    """log P(cont | ctx) per choice (float64 sums), each evaluated from an empty KV cache."""
    lps, done = [], None
    for cont in conts:
        ids = ctx_ids + cont[:-1]
        if ids != done:  # one-token choices share one evaluation of the context
            llm.reset()
            llm.eval(ids)
            done = ids
        lp = 0.0
        for k, t in enumerate(cont):
            lp += float(log_softmax(llm.scores[len(ctx_ids) - 1 + k])[t])
        lps.append(lp)
    return lps


def open_llama(path, kv_type, threads):
    """llama.cpp with logits for every position, flash attention off, K and V of ggml type kv_type."""
    return llama_cpp.Llama(model_path=path, n_ctx=4096, n_batch=512, n_ubatch=512, n_threads=threads,
                           n_threads_batch=threads, logits_all=True, flash_attn=False, type_k=kv_type,
                           type_v=kv_type, verbose=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--shared", default=os.environ.get("AFM_SHARED", "../shared"))
    ap.add_argument("--out", default="tests/fixtures/eval/llamacpp_choice")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    items = make_items(a.shared, a.out)
    configs = {"f16kv": 1, "f32kv": 0}  # ggml type ids of K and V: 1 = F16 (llama.cpp's default), 0 = F32
    llms = {name: open_llama(a.model, t, a.threads) for name, t in configs.items()}
    tok = llms["f16kv"]
    for it in items:
        ctx_ids, conts = split_tokens(tok, it)
        it["context_tokens"] = ctx_ids
        it["continuation_tokens"] = conts
        for name, llm in llms.items():
            it["logprobs_" + name] = choice_logprobs(llm, ctx_ids, conts)
        del it["context"]
        print(it["task"], it.get("subject", ""), it["row"], len(ctx_ids), ["%.4f" % x for x in it["logprobs_f16kv"]],
              "f32kv-f16kv max %.4f" % max(abs(x - y) for x, y in zip(it["logprobs_f16kv"], it["logprobs_f32kv"])))
    d = [abs(x - y) for it in items for x, y in zip(it["logprobs_f16kv"], it["logprobs_f32kv"])]
    ref = dict(generator="scripts/reference/llamacpp_choice_logprobs.py", llama_cpp_python=llama_cpp.__version__,
               model=os.path.basename(a.model), model_size=os.path.getsize(a.model), n_threads=a.threads,
               flash_attn=False, n_ubatch=512, f16kv_vs_f32kv_max=max(d), f16kv_vs_f32kv_mean=float(np.mean(d)),
               items=items)
    with open(f"{a.out}/reference.json", "w") as f:
        json.dump(ref, f, indent=0)
    print("llama.cpp f16 vs f32 KV cache: max |diff| %.5f, mean %.5f nats over %d choices" % (max(d), np.mean(d), len(d)))


if __name__ == "__main__":
    main()
