#!/usr/bin/env python3
"""Full-MMLU time from a partial `afm eval --task mmlu --limit N` run (its results.json).

Tokens per second of a run on the first N questions do not carry over to all 14,079: later
subjects have longer questions and far longer 5-shot prefixes (high_school_european_history:
~2,800 prefix tokens vs ~530 on average), and attention costs grow with the context. This script
tokenizes every prompt with `afm tokenize` (the prompt format of src/eval/prompts.c) and costs a
question's q tokens at context c (prefix + the question's earlier tokens) as
    q * (1 + k * (prefix + q / 2))
k (per key of context) is fitted to a measured ratio: a high_school_european_history token
(2,485-token prefix, 332-token questions) cost 2.2-2.4x an abstract_algebra token (308, 68) in
1-thread runs of the same build (BENCHMARKS.md), which gives k = 0.00103-0.00127; default 0.00115.
It prints the cost per token of the first N
questions and of all, the ratio, and the extrapolated time: the run's forward rate (tokens /
`config.seconds`, i.e. without model load) scaled by that ratio, plus the load time; and, for the
fixed equal-halves split of two sessions that afm used before src/eval/worksplit.c, how much
longer the busier half takes than a balanced split.
usage: bench/mmlu_extrapolate.py RESULTS.json [--afm build/afm] [--model M] [--data DIR]
                                 [--k 0.00115] [--wall SECONDS]"""
import argparse, csv, glob, json, os, subprocess, sys


def prompts(data):
    def q(row):
        s = row[0].strip(" \n\t\r")
        for k, o in zip("ABCD", row[1:5]):
            s += f"\n{k}. {o}"
        return s + "\nAnswer:"
    out = []  # (subject, prefix text, [question texts])
    for f in sorted(glob.glob(f"{data}/test/*.csv")):
        sub = os.path.basename(f)[: -len("_test.csv")]
        pre = "The following are multiple choice questions (with answers) about " + sub.replace("_", " ") + ".\n\n"
        for r in list(csv.reader(open(f"{data}/dev/{sub}_dev.csv")))[:5]:
            pre += q(r) + f" {r[5]}\n\n"
        out.append((sub, pre, [q(r) for r in csv.reader(open(f))]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--afm", default=os.environ.get("AFM_BIN", "build/afm"))
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--data", default=os.environ.get("AFM_SHARED", "../shared") + "/data/mmlu")
    ap.add_argument("--k", type=float, default=0.00115, help="relative cost per token per key of context")
    ap.add_argument("--wall", type=float, help="the run's wall seconds (default: config.seconds)")
    a = ap.parse_args()
    r = json.load(open(a.results))
    subs = prompts(a.data)
    texts = [t for _, pre, qs in subs for t in [pre] + qs]
    ids = subprocess.run([a.afm, "tokenize", "-m", a.model, "--ids", "--no-bos", "--jsonl"], check=True,
                         input="".join(json.dumps(t) + "\n" for t in texts), capture_output=True, text=True).stdout
    n = [len(line.split()) for line in ids.splitlines()]
    items, i, prefix_tokens = [], 0, 0
    for _, _, qs in subs:
        pre = n[i]
        prefix_tokens += pre
        items += [(pre, n[i + 1 + j]) for j in range(len(qs))]
        i += 1 + len(qs)
    k = a.k
    cost = [q * (1 + k * (p + q / 2)) for p, q in items]
    N = r["n_items"]

    def per_token(L):
        return sum(cost[:L]) / sum(q for _, q in items[:L])

    def static(L):  # busier of two equal item halves vs half the total
        h = (L + 1) // 2
        return max(sum(cost[:h]), sum(cost[h:L])) / (sum(cost[:L]) / 2)
    tok_all = sum(q for _, q in items) + prefix_tokens
    fwd = r["config"]["profile"]["tokens_forward"]
    secs = r["config"]["seconds"]
    wall = a.wall or secs
    ratio = per_token(len(items)) / per_token(N)
    rate = fwd / secs
    full = tok_all * ratio / rate + (wall - secs)
    print(f"run: {N} questions, {fwd:.0f} forwarded tokens in {secs:.1f} s (eval loop) = {rate:.0f} tok/s; wall {wall:.1f} s")
    print(f"full MMLU: {len(items)} questions, {tok_all} tokens (questions + {prefix_tokens} prefix)")
    print(f"cost per token (k = {k}): first {N} {per_token(N):.3f}, all {per_token(len(items)):.3f}, "
          f"ratio {ratio:.3f}")
    print(f"equal-halves split of 2 sessions, busier half / balanced: first {N} {static(N):.3f}, all {static(len(items)):.3f}")
    print(f"naive (tokens / tok/s of this run): {tok_all / rate / 60:.1f} min; with the full mix's cost per token: "
          f"{full / 60:.1f} min (balanced sessions, as worksplit.c gives)")


if __name__ == "__main__":
    sys.exit(main())
