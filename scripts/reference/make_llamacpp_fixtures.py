#!/usr/bin/env python3
"""Teacher-forcing fixtures for SmolLM2-135M-Instruct from llama.cpp (PyPI llama-cpp-python).

For each fixed prompt: llama.cpp tokenizes it, greedily generates up to 64 tokens (stopping at an
end-of-generation token), then evaluates the whole sequence (prompt + generated) again as one
batch with logits for every position. For every position we store llama.cpp's top-1 and top-2
logits and its next-token distribution truncated to the top-K log-probabilities (ids + values)
plus the remaining probability mass. tests/golden/test_smollm2_llamacpp.c feeds the same ids to
afm and computes

    KL(llama || afm) ~= sum_{i in topK} p_i (log p_i - log q_i) + p_tail (log p_tail - log q_tail)

with q from afm's full softmax and q_tail = 1 - sum_{i in topK} q_i. Merging the tail into one
bucket can only lower KL (log-sum inequality), so this is a lower bound of the true KL that is
tight when the tail mass is tiny; the mean tail mass is printed and written to the JSON.

Outputs (tests/fixtures/llamacpp/):
  smollm2_teacher.bin   binary, little-endian, read by the C test:
      char magic[8] "AFMLCTF1"; u32 version (2); u32 n_vocab (< 65536); u32 top_k; u32 n_seqs;
      u64 model_file_size;
      per sequence: u32 n_prompt; u32 n_total; i32 ids[n_total];
        per position p < n_total (distribution of the token after ids[p]):
          f32 top1_logit; f32 top2_logit; f32 tail_mass; f32 top_logprobs[top_k]; u16 top_ids[top_k]
        (top_ids sorted by decreasing probability; top_ids[0] is llama.cpp's argmax)
  smollm2_teacher.json  prompts, llama.cpp's generated text, versions, summary numbers.

usage: python3 scripts/reference/make_llamacpp_fixtures.py [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
Needs: pip install llama-cpp-python numpy (builds llama.cpp from source; slow on 2 cores).
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import llama_cpp

from teacher_fixture import TeacherWriter, eval_all, greedy, log_softmax

TOP_K = 1024
N_GEN = 64
SEED = 1234
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chat(user):
    """SmolLM2's chat template (tokenizer.chat_template in the GGUF) with the default system
    message and add_generation_prompt=True."""
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


PROMPTS = [
    ("story", "Once upon a time, in a small village at the edge of a great forest, there lived"),
    ("chat_capital", chat("What is the capital of France, and what is it famous for?")),
    ("code", 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n'),
    ("list", "Here is a list of the planets of the solar system, in order from the Sun:\n1."),
    ("fact", "The speed of light in a vacuum is"),
    ("chat_haiku", chat("Write a short poem about the ocean.")),
]


def check_template(llm):
    """Renders the GGUF's own chat template with jinja2 (if installed) and checks chat() agrees."""
    try:
        import jinja2
    except ImportError:
        print("note: jinja2 not installed; chat template not cross-checked", file=sys.stderr)
        return
    tmpl = llm.metadata.get("tokenizer.chat_template")
    if not tmpl:
        return
    env = jinja2.Environment()
    out = env.from_string(tmpl).render(messages=[{"role": "user", "content": "X"}], add_generation_prompt=True)
    if out != chat("X"):
        sys.exit(f"error: chat() differs from the GGUF chat template:\n{out!r}\n{chat('X')!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--model", default=os.path.join(root, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--out", default=os.path.join(root, "tests/fixtures/llamacpp"))
    ap.add_argument("--kv-type", choices=["f16", "f32"], default="f16",
                    help="llama.cpp KV-cache type (llama.cpp's default f16; afm keeps K and V in f32)")
    ap.add_argument("--threads", type=int, default=2,
                    help="llama.cpp threads (default 2; 1 avoids OpenMP spin-wait stalls on a busy machine)")
    a = ap.parse_args()

    llm = llama_cpp.Llama(model_path=a.model, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=a.threads,
                          n_threads_batch=a.threads, logits_all=True, seed=SEED, verbose=False, flash_attn=False,
                          type_k={"f16": 1, "f32": 0}[a.kv_type], type_v={"f16": 1, "f32": 0}[a.kv_type])
    check_template(llm)
    n_vocab = llm.n_vocab()
    vocab = llm._model.vocab
    is_eog = lambda t: bool(llama_cpp.llama_vocab_is_eog(vocab, t))

    os.makedirs(a.out, exist_ok=True)
    out = TeacherWriter(b"AFMLCTF1", 2, "<u2", n_vocab, TOP_K, len(PROMPTS), a.model)
    meta, self_kl, gen_match = [], [], 0
    for name, text in PROMPTS:
        prompt_ids = llm.tokenize(text.encode(), add_bos=True, special=True)
        gen, gen_rows = greedy(llm, prompt_ids, is_eog, N_GEN)
        ids = prompt_ids + gen
        logits = eval_all(llm, ids)
        out.add(len(prompt_ids), ids, logits)
        # llama.cpp against itself: KL(batch || one-token-at-a-time), exact over the full vocabulary
        # and with the top-K + tail estimator the C test uses (to show how loose the bound is).
        for k, row in enumerate(gen_rows):
            lp, lq = log_softmax(logits[len(prompt_ids) - 1 + k]), log_softmax(row)
            p = np.exp(lp)
            top = np.argsort(-lp, kind="stable")[:TOP_K]
            p_tail = max(0.0, 1.0 - p[top].sum())
            q_tail = max(1e-300, 1.0 - np.exp(lq[top]).sum())
            est = float((p[top] * (lp[top] - lq[top])).sum() + (p_tail * (np.log(p_tail) - np.log(q_tail)) if p_tail > 0 else 0))
            self_kl.append((float((p * (lp - lq)).sum()), est, name))
            gen_match += int(np.argmax(logits[len(prompt_ids) - 1 + k]) == gen[k])
        gen_text = llm.detokenize(gen).decode("utf-8", errors="replace")
        meta.append(dict(name=name, prompt=text, n_prompt=len(prompt_ids), n_gen=len(gen), ids=ids,
                         llama_text=gen_text))
        print(f"[{name}] {len(prompt_ids)} prompt + {len(gen)} generated tokens\n{text}\x1b[1m{gen_text}\x1b[0m\n",
              file=sys.stderr)

    out.write(os.path.join(a.out, "smollm2_teacher.bin"))
    tails = out.tails
    sha = hashlib.sha256(open(a.model, "rb").read()).hexdigest()
    n_gen_total = sum(m["n_gen"] for m in meta)
    summary = dict(
        generator="scripts/reference/make_llamacpp_fixtures.py",
        llama_cpp_python=llama_cpp.__version__, model=os.path.basename(a.model), model_sha256=sha,
        model_size=os.path.getsize(a.model), n_vocab=n_vocab, top_k=TOP_K, seed=SEED, n_threads=a.threads, kv_type=a.kv_type, flash_attn=False,
        n_positions=len(tails), mean_tail_mass=float(np.mean(tails)), max_tail_mass=float(np.max(tails)),
        llama_self_kl_batch_vs_incremental=dict(
            note="KL(llama.cpp batch || llama.cpp one token at a time) over the generated positions",
            mean_exact=float(np.mean([k[0] for k in self_kl])), mean_topk_estimate=float(np.mean([k[1] for k in self_kl])),
            per_prompt_exact={n: float(np.mean([k[0] for k in self_kl if k[2] == n])) for n, _ in PROMPTS}),
        llama_batch_argmax_equals_generated=f"{gen_match}/{n_gen_total}",
        prompts=meta)
    with open(os.path.join(a.out, "smollm2_teacher.json"), "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(tails)} positions, {len(out.blob)} bytes; mean tail mass {np.mean(tails):.3e} "
          f"(max {np.max(tails):.3e}); llama.cpp batch-vs-incremental mean KL {summary['llama_self_kl_batch_vs_incremental']}, "
          f"batch argmax = generated token at {gen_match}/{n_gen_total}", file=sys.stderr)


if __name__ == "__main__":
    main()
