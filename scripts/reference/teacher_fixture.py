"""Teacher-forcing fixtures: a reference model's next-token distributions for fixed token sequences,
written for the golden tests' reader tests/golden/teacher_fixture.{h,c}. Shared by
make_llamacpp_fixtures.py (SmolLM2, "AFMLCTF1" v2), make_exact_reference.py (its float64 forward,
the same format) and make_gemma3_fixtures.py (Gemma 3, "AFMG3TF1" v1).

File, little-endian:
  char magic[8]; u32 version; u32 n_vocab; u32 top_k; u32 n_seqs; u64 model_file_size;
  per sequence: u32 n_prompt; u32 n_total; i32 ids[n_total];
    per position p < n_total (the distribution of the token after ids[p]):
      f32 top1_logit; f32 top2_logit; f32 tail_mass; f32 top_logprobs[top_k]; top_ids[top_k]
      (top_ids as u16 or u32, the format's choice; sorted by decreasing probability, so
      top_ids[0] is the teacher's argmax; tail_mass = 1 - the top_k probabilities)

The C test computes KL(teacher || afm) over the top-K support plus one tail bucket, a lower bound of
the full KL (log-sum inequality) that is tight when the tail mass is tiny.
"""
import os
import struct

import numpy as np


def log_softmax(z):
    """log softmax over the last axis, in float64."""
    z = np.asarray(z, dtype=np.float64)
    m = z.max(-1, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))


def eval_all(llm, ids):
    """llama.cpp (llama_cpp.Llama with logits_all) logits for every position of ids, from one fresh
    batch evaluation."""
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def greedy(llm, prompt_ids, is_eog, n_gen):
    """llama.cpp's greedy continuation of up to n_gen tokens, one token at a time after a batch
    prompt (as llama.cpp generates), stopping after an end-of-generation token. Returns the
    generated ids and the logits that chose each of them."""
    llm.reset()
    llm.eval(prompt_ids)
    gen, rows = [], []
    for _ in range(n_gen):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        tok = int(np.argmax(row))
        gen.append(tok)
        rows.append(row)
        if is_eog(tok):
            break
        llm.eval([tok])
    return gen, rows


class TeacherWriter:
    """Collects the sequences of one fixture file; .blob holds its bytes, .tails every position's
    tail mass."""

    def __init__(self, magic, version, id_dtype, n_vocab, top_k, n_seqs, model_path):
        """magic: 8 bytes; id_dtype: "<u2" (needs n_vocab <= 65536) or "<u4"."""
        assert len(magic) == 8 and id_dtype in ("<u2", "<u4")
        assert id_dtype == "<u4" or n_vocab <= 65536
        self.id_dtype, self.top_k, self.tails = id_dtype, top_k, []
        self.blob = bytearray(magic + struct.pack("<4IQ", version, n_vocab, top_k, n_seqs, os.path.getsize(model_path)))

    def add(self, n_prompt, ids, logits):
        """One sequence: ids (prompt + continuation), logits[p] the teacher's logits after ids[p]."""
        self.blob += struct.pack("<2I", n_prompt, len(ids)) + np.asarray(ids, dtype="<i4").tobytes()
        for p in range(len(ids)):
            z = logits[p]
            lp = log_softmax(z)
            order = np.argsort(-lp, kind="stable")[: self.top_k]
            tail = max(0.0, 1.0 - float(np.exp(lp[order]).sum()))
            self.tails.append(tail)
            top2 = np.partition(z, -2)[-2:]
            self.blob += struct.pack("<3f", float(z[order[0]]), float(min(top2)), tail)
            self.blob += lp[order].astype("<f4").tobytes() + order.astype(self.id_dtype).tobytes()

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.blob)
