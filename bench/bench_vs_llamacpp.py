#!/usr/bin/env python3
"""afm vs llama.cpp on the same GGUF files, in one invocation (issue 2, "How fast").

For every model file and thread count (1 and 2): llama.cpp's `llama-bench -p 512 -n 128 -t T -r R
-o jsonl` and `afm bench -m FILE -p 512 -n 128 -t T -r R --json`, back to back, then a table of
tokens/s with the afm/llama.cpp ratio for pp512 (prompt processing) and tg128 (generation).
Files: SmolLM2-135M-Instruct as shipped (Q4_1), and random-weight GGUFs with the shapes of
SmolLM2-135M (llama), Qwen3-0.6B (qwen3) and AFM-on-device 3B (written as qwen3) in F16, Q8_0 and
Q4_0, made by `afm init --shape configs/models/SHAPE.json --type T` when that command and shape
file exist, else by scripts/make_random_gguf.py (gguf package + numpy).

Also, in the same run: streaming read bandwidth (bench/membw, 1 and 2 threads), AFM-3B Q4_0
generation as a fraction of the bandwidth bound (bytes read per token / bandwidth), and each
process's peak RSS against file size + KV cache.

usage: bench/bench_vs_llamacpp.py [--quick] [-r REPS] [--threads 1,2] [--md OUT.md]
  --quick   SmolLM2-shaped files only (shipped Q4_1 + random Q4_0), 1 repetition
Writes the markdown table to --md (default build/peers/bench_vs_llamacpp.md) for BENCHMARKS.md.
Benchmarks on a shared machine are noisy: compare only numbers from one run.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (label, configs/models/<file>.json for afm init, scripts/make_random_gguf.py shape name)
SHAPES = [("smollm2-135m", "smollm2-135m", "smollm2-135m"), ("qwen3-0.6b", "qwen3-0.6b", "qwen3-0.6b"),
          ("afm-3b", "afm-on-device-3b-as-qwen3", "afm-3b")]
TYPES = ["f16", "q8_0", "q4_0"]
SHIPPED = os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run_rss(cmd, timeout):
    """Runs cmd; returns (returncode, stdout, stderr, peak RSS in bytes of that process).
    The peak comes from GNU time (%M) when /usr/bin/time exists: wait4's ru_maxrss of a child
    forked from this Python process starts at Python's own RSS (Linux carries the high-water mark
    of the forked address space across exec), which would hide small peaks."""
    log("$ " + " ".join(cmd))
    if os.access("/usr/bin/time", os.X_OK):
        cmd = ["/usr/bin/time", "-f", "AFM_MAXRSS_KB %M"] + cmd
    with open(os.devnull, "rb") as devnull:
        p = subprocess.Popen(cmd, stdin=devnull, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    bufs = {}

    def drain(name, f):
        bufs[name] = f.read()
    ts = [threading.Thread(target=drain, args=(n, f)) for n, f in (("out", p.stdout), ("err", p.stderr))]
    for t in ts:
        t.start()
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    timer.cancel()
    for t in ts:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    err = bufs["err"].decode(errors="replace")
    rss = ru.ru_maxrss * 1024
    lines = err.rstrip("\n").split("\n")
    if lines and lines[-1].startswith("AFM_MAXRSS_KB "):
        rss = int(lines[-1].split()[1]) * 1024
        err = "\n".join(lines[:-1])
    return p.returncode, bufs["out"].decode(errors="replace"), err, rss


def find_afm(path):
    for c in ([path] if path else []) + [os.path.join(ROOT, "build/afm"), os.path.join(ROOT, "build/release/afm")]:
        if c and os.access(c, os.X_OK):
            return c
    return None


def find_membw(afm):
    for c in [os.path.join(os.path.dirname(afm), "bench/membw")] if afm else []:
        if os.access(c, os.X_OK):
            return c
    for c in [os.path.join(ROOT, "build/bench/membw"), os.path.join(ROOT, "build/release/bench/membw")]:
        if os.access(c, os.X_OK):
            return c
    return None


def afm_has(afm, sub):
    if not afm:
        return False
    r = subprocess.run([afm, sub, "--help"], capture_output=True, text=True)
    return r.returncode == 0


def make_model(afm, shape, qtype, out_dir, generator):
    """Random-weight GGUF of a shape and type; cached by file name."""
    label, config, py_shape = shape
    path = os.path.join(out_dir, f"{label}-{qtype}.gguf")
    if os.path.exists(path):
        return path
    shape_json = os.path.join(ROOT, "configs/models", config + ".json")
    if generator in ("auto", "afm") and afm_has(afm, "init") and os.path.exists(shape_json):
        cmd = [afm, "init", "--shape", shape_json, "--type", qtype, "-o", path]
    elif generator == "afm":
        sys.exit(f"error: --generator afm needs `afm init` and {shape_json}")
    else:
        cmd = [sys.executable, os.path.join(ROOT, "scripts/make_random_gguf.py"), "--shape", py_shape, "--type", qtype,
               "-o", path]
    rc, out, err, _ = run_rss(cmd, 3600)
    if rc != 0:
        sys.exit(f"error: generating {path} failed:\n{err[-2000:]}")
    return path


def gguf_facts(path):
    """Sizes from the file: tensor bytes, and what one generated token reads."""
    import gguf
    r = gguf.GGUFReader(path)
    arch = r.fields["general.architecture"].contents()

    def kv(k, default=None):
        f = r.fields.get(f"{arch}.{k}")
        return f.contents() if f is not None else default
    n_layers, n_heads = kv("block_count"), kv("attention.head_count")
    n_kv = kv("attention.head_count_kv", n_heads)
    head_dim = kv("attention.key_length", kv("embedding_length") // n_heads)
    names = {t.name for t in r.tensors}
    tensor_bytes = sum(int(t.n_bytes) for t in r.tensors)
    # One decoded token reads every weight once; with a tied output the embedding matrix is read
    # in full as the output projection (the input lookup reads one row, negligible).
    per_token = tensor_bytes
    if "output.weight" in names:
        emb = next(t for t in r.tensors if t.name == "token_embd.weight")
        per_token -= int(emb.n_bytes)
    return dict(arch=arch, file_size=os.path.getsize(path), tensor_bytes=tensor_bytes, read_per_token=per_token,
                kv_elems_per_pos=n_layers * n_kv * head_dim * 2)  # K and V


def llama_bench(binary, path, threads, reps, timeout):
    cmd = [binary, "-m", path, "-p", "512", "-n", "128", "-t", ",".join(map(str, threads)), "-r", str(reps),
           "-o", "jsonl"]
    rc, out, err, rss = run_rss(cmd, timeout)
    res = {}
    if rc != 0:
        log(f"llama-bench failed ({rc}): {err[-1500:]}")
        return res, rss
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        j = json.loads(line)
        test = f"pp{j['n_prompt']}" if j["n_prompt"] else f"tg{j['n_gen']}"
        res[(test, int(j["n_threads"]))] = float(j["avg_ts"])
    return res, rss


def afm_bench(afm, path, t, reps, timeout):
    cmd = [afm, "bench", "-m", path, "-p", "512", "-n", "128", "-t", str(t), "-r", str(reps), "--json"]
    rc, out, err, rss = run_rss(cmd, timeout)
    res = {}
    if rc != 0:
        log(f"afm bench failed ({rc}): {err[-1500:]}")
        return res, rss
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            j = json.loads(line)
            res[(j["test"], int(j.get("threads", t)))] = float(j["tok_s"])
    return res, rss


def membw(binary, t):
    if not binary:
        return None
    rc, out, err, _ = run_rss([binary, "-t", str(t), "-r", "5", "--json"], 300)
    if rc != 0:
        return None
    return json.loads(out.strip().splitlines()[-1])["gb_s"]


def fmt(x, spec=".1f"):
    return format(x, spec) if isinstance(x, (int, float)) else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-r", "--reps", type=int, default=None, help="repetitions (default 3; --quick 1)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--afm", default=None, help="afm binary (default build/afm or build/release/afm)")
    ap.add_argument("--llama-bench", default=None, help="llama-bench binary (default: scripts/build_llamacpp.sh)")
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "build/peers/models"))
    ap.add_argument("--generator", choices=["auto", "afm", "python"], default="auto")
    ap.add_argument("--only", default=None, help="comma-separated subset of shape-type names, e.g. afm-3b-q4_0")
    ap.add_argument("--md", default=os.path.join(ROOT, "build/peers/bench_vs_llamacpp.md"))
    ap.add_argument("--timeout", type=int, default=3600, help="per benchmark process, seconds")
    a = ap.parse_args()
    reps = a.reps or (1 if a.quick else 3)
    threads = [int(x) for x in a.threads.split(",")]

    lb = a.llama_bench or subprocess.run(["bash", os.path.join(ROOT, "scripts/build_llamacpp.sh")],
                                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    afm = find_afm(a.afm)
    have_afm_bench = afm_has(afm, "bench")
    if not have_afm_bench:
        log("note: `afm bench` is not available; afm columns will be n/a")
    os.makedirs(a.models_dir, exist_ok=True)

    files = [("SmolLM2-135M-Instruct (shipped)", "q4_1", SHIPPED)]
    shapes = SHAPES[:1] if a.quick else SHAPES
    types = ["q4_0"] if a.quick else TYPES
    for s in shapes:
        for q in types:
            if a.only and f"{s[0]}-{q}" not in a.only.split(","):
                continue
            files.append((s[0], q, make_model(afm, s, q, a.models_dir, a.generator)))
    if a.only:
        files = [f for f in files if f[2] != SHIPPED or "shipped" in a.only]

    bw = {t: membw(find_membw(afm), t) for t in threads}
    log(f"read bandwidth: {bw}")
    rows, mem_rows, bound_rows = [], [], []
    for label, qtype, path in files:
        facts = gguf_facts(path)
        lres, lrss = llama_bench(lb, path, threads, reps, a.timeout)
        ares, arss = {}, 0
        if have_afm_bench:
            for t in threads:
                r, rss = afm_bench(afm, path, t, reps, a.timeout)
                ares.update(r)
                arss = max(arss, rss)
        for test in ("pp512", "tg128"):
            for t in threads:
                l, f = lres.get((test, t)), ares.get((test, t))
                rows.append(dict(model=label, type=qtype, size_mb=facts["file_size"] / 1e6, test=test, threads=t,
                                 llama=l, afm=f, ratio=(f / l) if (l and f) else None))
        # afm bench's session: n_ctx = max(p, n) = 512 positions, K and V in afm's f32 cache
        kv = facts["kv_elems_per_pos"] * 4 * 512
        mem_rows.append(dict(model=label, type=qtype, file_mb=facts["file_size"] / 1e6, kv_mb=kv / 1e6,
                             afm_rss_mb=arss / 1e6 if arss else None, llama_rss_mb=lrss / 1e6 if lrss else None,
                             afm_ratio=arss / (facts["file_size"] + kv) if arss else None))
        if label == "afm-3b" and qtype == "q4_0":
            for t in threads:
                # average KV read during tg128 (positions 0..127): 64 positions of K and V, f32 in afm
                per_tok = facts["read_per_token"] + 64 * 4 * facts["kv_elems_per_pos"]
                bound = bw[t] * 1e9 / per_tok if bw.get(t) else None
                l, f = lres.get(("tg128", t)), ares.get(("tg128", t))
                bound_rows.append(dict(threads=t, gb_s=bw.get(t), read_mb=per_tok / 1e6, bound=bound,
                                       afm=f, llama=l, afm_frac=(f / bound) if (f and bound) else None,
                                       llama_frac=(l / bound) if (l and bound) else None))

    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    md = [f"### afm vs llama.cpp ({when})", "",
          f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; shared and noisy "
          f"(load average at start {os.getloadavg()[0]:.1f}). Command: `bench/bench_vs_llamacpp.py"
          f"{' --quick' if a.quick else ''} -r {reps}`; llama.cpp: `{os.path.relpath(lb, ROOT)}` "
          f"(llama-cpp-python sdist's bundled llama.cpp, GGML_NATIVE). Tokens/s, mean of {reps} run(s).", "",
          "| model | type | MB | test | threads | llama.cpp t/s | afm t/s | afm/llama.cpp |",
          "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['type']} | {r['size_mb']:.0f} | {r['test']} | {r['threads']} | "
                  f"{fmt(r['llama'], '.2f')} | {fmt(r['afm'], '.2f')} | {fmt(r['ratio'], '.2f')} |")
    if bound_rows:
        md += ["", "AFM-3B Q4_0 generation against the memory-bandwidth bound (bound = read bandwidth / bytes "
               "read per token; bytes = all weight tensors incl. the tied output matrix + 64 positions of f32 K and V):",
               "", "| threads | read GB/s | MB/token | bound t/s | afm tg128 | afm % of bound | llama.cpp tg128 | "
               "llama.cpp % of bound |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for b in bound_rows:
            md.append(f"| {b['threads']} | {fmt(b['gb_s'], '.2f')} | {b['read_mb']:.0f} | {fmt(b['bound'], '.2f')} | "
                      f"{fmt(b['afm'], '.2f')} | {fmt(b['afm_frac'] and 100 * b['afm_frac'], '.0f')} | "
                      f"{fmt(b['llama'], '.2f')} | {fmt(b['llama_frac'] and 100 * b['llama_frac'], '.0f')} |")
    md += ["", "Peak RSS of each benchmark process (whole run: load + pp512 + tg128) against file size + KV cache "
           "(afm's f32 K and V for its 512-position session):", "",
           "| model | type | file MB | KV MB | afm peak RSS MB | afm / (file + KV) | llama-bench peak RSS MB |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for m in mem_rows:
        md.append(f"| {m['model']} | {m['type']} | {m['file_mb']:.0f} | {m['kv_mb']:.1f} | {fmt(m['afm_rss_mb'], '.0f')} | "
                  f"{fmt(m['afm_ratio'], '.2f')} | {fmt(m['llama_rss_mb'], '.0f')} |")
    text = "\n".join(md) + "\n"
    os.makedirs(os.path.dirname(a.md), exist_ok=True)
    with open(a.md, "w") as f:
        f.write(text)
    print(text)
    log(f"markdown written to {a.md}")


if __name__ == "__main__":
    main()
