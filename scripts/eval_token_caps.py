#!/usr/bin/env python3
"""How many responses of an `afm eval` generation run reached the --max-tokens cap.

    python3 scripts/eval_token_caps.py RESULTS.json[.gz] [-m MODEL] [--afm AFM] [--cap N]

Results files written before the per-item "finish" / "gen_tokens" fields (src/eval/run.c) do not
say which responses were cut at the cap. This script re-encodes every response with the model's
own tokenizer (`afm tokenize -m MODEL --jsonl --no-bos`) and counts the responses whose token
count reaches the cap. Re-encoding is not the generation itself: greedy decoding can pick a token
split that the BPE encoder would merge (the re-encoded count is then smaller), and a cap reached
inside a multi-byte character leaves U+FFFD in the text (larger). The report therefore shows the
counts near the cap, the sum of re-encoded counts against the run's own count of generated
tokens (config.profile.decode_tokens: sum over responses of the tokens fed back, exactly the
generated tokens for tasks without stop strings such as IFEval and MATH), and, where the records
do carry "gen_tokens" (newer runs), how far re-encoding is from the truth.

A response counts as cut when it re-encodes to at least cap - SLACK tokens (--slack, default 1):
on SmolLM2-135M-Instruct runs whose records carry the truth (IFEval, 40 prompts, cap 256; MATH,
24 problems, cap 384) every response re-encoded to 0 or 1 token below its generated count, and a
response cut at the cap re-encoded to cap - 1 when BPE merged two generated tokens (e.g. "\n" "\n"
into "\n\n"); with slack 1 re-encoding classified all of them as the records do. The count with
slack 0 (a lower bound) is printed too.

A cut response "loops" when its last 60 characters also occur earlier in it (the model repeats
itself; more tokens would most likely repeat more). IFEval: passes and failures (prompt level strict and loose, instruction level strict) among the
responses at the cap and the others, and an upper bound on what a longer cap could change: the
failed instructions of cut responses whose verdict depends on how the response ends or how long it
gets (startend:quotation and end_checker, postscript, two_responses, number_paragraphs, and
"at least" word/sentence counts; kwargs from the IFEval data file, --data), and the cut prompts
whose only strict failures are of those kinds. MATH: correct answers and \\boxed{} among them.
"""
import argparse
import collections
import gzip
import json
import os
import subprocess
import sys


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def token_counts(afm, model, texts):
    """Token count of each text, encoded by afm's tokenizer of `model` (no BOS)."""
    inp = "".join(json.dumps(t) + "\n" for t in texts)
    out = subprocess.run([afm, "tokenize", "-m", model, "--jsonl", "--no-bos"], input=inp.encode(),
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    lines = out.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(texts):
        sys.exit(f"afm tokenize gave {len(lines)} lines for {len(texts)} responses")
    return [len(line.split()) for line in lines]


def loops_at_end(text, tail=60):
    t = text.rstrip()
    return len(t) > 2 * tail and t[-tail:] in t[:-tail]


def pct(k, n):
    return f"{k} of {n} ({100.0 * k / n:.1f}%)" if n else f"{k} of 0"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results")
    ap.add_argument("-m", "--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--afm", default=os.environ.get("AFM_BIN", "build/afm"))
    ap.add_argument("--cap", type=int, default=0, help="token cap (default: the run's max_tokens)")
    ap.add_argument("--near", type=int, default=8, help="show re-encoded counts this close to the cap")
    ap.add_argument("--data", help="IFEval input_data.jsonl (default: $AFM_SHARED/data/ifeval/input_data.jsonl,"
                    " else the run's config.data)")
    ap.add_argument("--slack", type=int, default=1, help="cut: re-encoded to at least cap - SLACK tokens")
    a = ap.parse_args()

    r = load(a.results)
    cfg = r.get("config", {})
    task = r.get("task", "?")
    cap = a.cap or cfg.get("max_tokens") or (r.get("finish") or {}).get("max_tokens")
    if not cap:
        sys.exit("no cap: the results have no config.max_tokens; pass --cap N (the task's default)")
    items = [i for i in r["items"] if "response" in i and "error" not in i]
    if not items:
        sys.exit(f"{a.results}: no responses")
    counts = token_counts(a.afm, a.model, [i["response"] for i in items])
    n = len(items)
    at_cap = [c >= cap - a.slack for c in counts]
    print(f"{a.results}: task {task}, {n} responses, cap {cap} tokens")
    print(f"cut at the cap (re-encoded to >= {cap - a.slack} tokens): {pct(sum(at_cap), n)};"
          f" re-encoded to >= {cap}: {sum(c >= cap for c in counts)}")
    hist = collections.Counter(c - cap for c in counts if abs(c - cap) <= a.near)
    print(f"re-encoded count - cap, within {a.near}: " + ", ".join(f"{d:+d}: {hist[d]}" for d in sorted(hist)))
    far = sum(1 for c in counts if c < cap - a.near)
    print(f"below cap - {a.near}: {far}; longest {max(counts)}, median {sorted(counts)[n // 2]}")
    dec = cfg.get("profile", {}).get("decode_tokens")
    if dec is not None:
        print(f"sum of re-encoded counts {sum(counts)} vs generated tokens fed back (profile.decode_tokens) {dec:.0f}:"
              f" {100.0 * (sum(counts) - dec) / dec:+.2f}%")
    if all("gen_tokens" in i for i in items):  # a newer run: the truth is in the records
        cut = [i.get("finish") == "length" for i in items]
        diff = collections.Counter(c - i["gen_tokens"] for c, i in zip(counts, items))
        agree = sum(x == y for x, y in zip(cut, at_cap))
        print(f"records: finish 'length' on {pct(sum(cut), n)}; re-encoding classifies {agree} of {n} the same;"
              f" re-encoded - gen_tokens: " + ", ".join(f"{d:+d}: {diff[d]}" for d in sorted(diff)))

    loops = sum(loops_at_end(i["response"]) for i, x in zip(items, at_cap) if x)
    print(f"cut responses that end in a loop (last 60 characters seen earlier in the response): {pct(loops, sum(at_cap))}")

    def split(key):
        c = [i for i, x in zip(items, at_cap) if x]
        o = [i for i, x in zip(items, at_cap) if not x]
        return (sum(bool(i.get(key)) for i in c), len(c)), (sum(bool(i.get(key)) for i in o), len(o))

    if task == "ifeval":
        for key, what in (("correct", "prompt-level strict"), ("correct_loose", "prompt-level loose")):
            (pc, nc), (po, no) = split(key)
            print(f"{what}: at the cap {pc} pass, {nc - pc} fail; below it {po} pass, {no - po} fail")
        inst = [[0, 0], [0, 0]]  # [at cap?][pass, total]
        for i, x in zip(items, at_cap):
            fs = i.get("follow_strict", [])
            inst[x][0] += sum(bool(v) for v in fs)
            inst[x][1] += len(fs)
        print(f"instruction-level strict: at the cap {inst[1][0]} of {inst[1][1]} pass; below it {inst[0][0]} of {inst[0][1]}")
        types = collections.Counter()
        for i, x in zip(items, at_cap):
            if x:
                for t, ok in zip(i.get("instruction_id_list", []), i.get("follow_strict", [])):
                    if not ok:
                        types[t] += 1
        print("instructions failed (strict) at the cap, by type: " + ", ".join(f"{t} {k}" for t, k in types.most_common(8)))
        data = a.data or (os.path.join(os.environ["AFM_SHARED"], "data/ifeval/input_data.jsonl")
                          if "AFM_SHARED" in os.environ else cfg.get("data"))
        if data and os.path.exists(data):
            rows = [json.loads(line) for line in open(data, encoding="utf-8") if line.strip()]
            end_types = {"startend:quotation", "startend:end_checker", "detectable_content:postscript",
                         "combination:two_responses", "length_constraints:number_paragraphs"}
            could, only = collections.Counter(), 0
            for i, x in zip(items, at_cap):
                if not x or i["index"] >= len(rows):
                    continue
                kwargs = rows[i["index"]].get("kwargs", [])
                mine, other = 0, False
                for t, ok, kw in zip(i.get("instruction_id_list", []), i.get("follow_strict", []), kwargs):
                    if ok:
                        continue
                    longer = t in ("length_constraints:number_words", "length_constraints:number_sentences") \
                        and (kw or {}).get("relation") == "at least"
                    if t in end_types or longer:
                        could[t + (" (at least)" if longer else "")] += 1
                        mine += 1
                    else:
                        other = True
                only += mine > 0 and not other
            print(f"failed instructions of cut responses that depend on the end or the length: {sum(could.values())}"
                  f" ({', '.join(f'{t} {k}' for t, k in could.most_common())}); cut prompts failing (strict) only on"
                  f" such instructions: {only} of {len(items)}")
        else:
            print("(no IFEval data file: pass --data for the end/length-dependent failures)")
    elif task == "math":
        (pc, nc), (po, no) = split("correct")
        boxed = [sum("\\boxed" in i["response"] for i, x in zip(items, at_cap) if x == s) for s in (True, False)]
        print(f"correct: at the cap {pc} of {nc}, below it {po} of {no}; \\boxed in the response: at the cap {boxed[0]}, below it {boxed[1]}")


if __name__ == "__main__":
    main()
