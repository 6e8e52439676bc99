#!/usr/bin/env python3
"""Raise the --max-tokens cap of a finished `afm eval` generation run by regenerating only the
responses that reached the old cap, then grade the merged full set.

    python3 scripts/eval_extend_cap.py OLD_RESULTS.json[.gz] --cap NEW_CAP -o OUT_DIR
        [-m MODEL] [--afm AFM] [--data DATA] [--threads N] [--batch B] [--slack S]

Why this is exact: with greedy decoding (afm eval's generation tasks) a response that stopped
before the old cap (end of sequence or a stop string) is the same under any larger cap, and the
outputs do not depend on --threads or --batch (bit for bit with quantized weights; see
`afm eval --help`; with f32/f16 matrices they can differ in the last bits, which a greedy path may
amplify: rerun those with --batch 1 and --no-prefix-cache on both sides). So only the responses cut at the old cap need more tokens, and each of those
must come back as an extension of its old text: the script checks that and stops if any differs.

Which responses were cut: the records' "finish" field where the run has it (newer runs);
otherwise every response that re-encodes with the model's tokenizer to at least
old cap - SLACK tokens (default 8: generous, a response wrongly picked is just regenerated and
must then come back unchanged; scripts/eval_token_caps.py explains the re-encoding).

Writes to OUT_DIR: cut_data.jsonl (the data lines of the picked items, in data order),
cut_results.json (`afm eval` on them at the new cap, with per-item "finish"),
responses.jsonl (the full set: old responses, picked ones replaced) and results.json
(`afm eval --responses` on the full data: the scores at the new cap), and prints a summary.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_token_caps import load, token_counts  # noqa: E402  (results files, re-encoded token counts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results")
    ap.add_argument("--cap", type=int, required=True, help="the new --max-tokens")
    ap.add_argument("-o", "--out", required=True, help="output folder")
    ap.add_argument("-m", "--model", help="model (default: the run's config.model)")
    ap.add_argument("--afm", default=os.environ.get("AFM_BIN", "build/afm"))
    ap.add_argument("--data", help="the task's data file (default: the run's config.data)")
    ap.add_argument("--threads", type=int, default=0, help="afm eval --threads (default: all cores)")
    ap.add_argument("--batch", type=int, default=0, help="afm eval --batch (default: the run's)")
    ap.add_argument("--slack", type=int, default=8)
    a = ap.parse_args()

    old = load(a.results)
    cfg = old.get("config", {})
    task, old_cap = old.get("task") or cfg.get("task"), cfg.get("max_tokens")
    model, data = a.model or cfg.get("model"), a.data or cfg.get("data")
    if not (task and old_cap and model and data):
        sys.exit(f"{a.results}: need task, config.max_tokens, a model (-m) and the data (--data)")
    if a.cap <= old_cap:
        sys.exit(f"--cap {a.cap} is not above the run's cap {old_cap}")
    if not os.path.exists(data):
        sys.exit(f"data file {data} not found: pass --data")
    items = old["items"]
    lines = [line for line in open(data, encoding="utf-8") if line.strip()]
    if len(lines) != len(items) or any(i.get("index", k) != k for k, i in enumerate(items)):
        sys.exit(f"{data} has {len(lines)} items, the run {len(items)} (or its items are not the data in order):"
                 " a --limit run? pass the same data the run used")
    if any("error" in i or "response" not in i for i in items):
        sys.exit(f"{a.results}: some items have errors or no response; rerun those first")

    resp = [i["response"] for i in items]
    if all("finish" in i for i in items):
        picked = [k for k, i in enumerate(items) if i["finish"] == "length"]
        how = "records' finish = length"
    else:
        counts = token_counts(a.afm, model, resp)
        picked = [k for k, c in enumerate(counts) if c >= old_cap - a.slack]
        how = f"re-encoded to >= {old_cap - a.slack} tokens"
    print(f"{a.results}: task {task}, {len(items)} items, cap {old_cap} -> {a.cap}; regenerating {len(picked)} ({how})")

    os.makedirs(a.out, exist_ok=True)
    sub = os.path.join(a.out, "cut_data.jsonl")
    with open(sub, "w", encoding="utf-8") as f:
        f.writelines(lines[k] for k in picked)
    cut_json = os.path.join(a.out, "cut_results.json")
    if picked:
        cmd = [a.afm, "eval", "-m", model, "--task", task, "--data", sub, "--max-tokens", str(a.cap),
               "--ctx", str(cfg.get("n_ctx", 4096)), "--batch", str(a.batch or cfg.get("batch", 8)), "--out", cut_json]
        if a.threads:
            cmd += ["--threads", str(a.threads)]
        if cfg.get("chat_template") is False:
            cmd.append("--no-chat")
        if cfg.get("no_prefix_cache"):
            cmd.append("--no-prefix-cache")
        if cfg.get("shots"):
            cmd += ["--shots", str(cfg["shots"])]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        new = load(cut_json)["items"]
        if len(new) != len(picked):
            sys.exit(f"{cut_json}: {len(new)} items for {len(picked)} picked")
        same = longer = 0
        for k, it in zip(picked, new):
            o, n = resp[k], it.get("response")
            if n is None:
                sys.exit(f"item {k}: no response in the rerun ({it.get('error')})")
            if n == o:
                same += 1
            elif n.startswith(o.rstrip("\ufffd")):  # a cap inside a multi-byte character left U+FFFD
                longer += 1
            else:
                j = next((p for p in range(min(len(o), len(n))) if o[p] != n[p]), min(len(o), len(n)))
                sys.exit(f"item {k}: the rerun does not extend the old response (first difference at character {j}:"
                         f" old {o[j - 20:j + 20]!r}, new {n[j - 20:j + 20]!r}); not the same model, settings or build?")
            resp[k] = n
        finish = {}
        for it in new:
            finish[it.get("finish", "?")] = finish.get(it.get("finish", "?"), 0) + 1
        print(f"rerun: {same} unchanged, {longer} extended, 0 differ; finish at the new cap: "
              + ", ".join(f"{v} {k}" for k, v in sorted(finish.items())))

    merged = os.path.join(a.out, "responses.jsonl")
    with open(merged, "w", encoding="utf-8") as f:
        for r in resp:
            f.write(json.dumps({"response": r}) + "\n")
    res = os.path.join(a.out, "results.json")
    subprocess.run([a.afm, "eval", "--task", task, "--data", data, "--responses", merged, "--out", res], check=True)


if __name__ == "__main__":
    main()
