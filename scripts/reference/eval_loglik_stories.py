#!/usr/bin/env python3
"""Expected log-likelihoods for afm eval's model runs, from an independent numpy forward pass of
llama2.c's stories260K (the llama2.c run.c algorithm) and llama2.c's tokenizer encode algorithm.

For each multiple-choice item (BoolQ format, short enough for the 512-token context):
  context = "{passage}\nQuestion: {question}?\nAnswer:", choices " no" / " yes";
  ids(ctx) = encode(ctx, bos); cont = encode(ctx + choice, bos)[len(ids(ctx)):];
  logprob(choice) = sum_i log_softmax(logits after the token before cont_i)[cont_i]
(lm-evaluation-harness's split). Perplexity: NLL of every token after BOS of a text (< 512 tokens).

usage: eval_loglik_stories.py STORIES_DIR OUT.json
"""
import json
import struct
import sys
import numpy as np

sdir, out = sys.argv[1], sys.argv[2]

# ---- tokenizer (llama2.c encode: dummy-prefix space, chars or byte fallback, greedy best-score merges)
tb = open(f"{sdir}/tok512.bin", "rb").read()
off = 4
vocab, scores = [], []
for _ in range(512):
    sc, ln = struct.unpack_from("<fi", tb, off); off += 8
    vocab.append(tb[off:off + ln]); off += ln
    scores.append(sc)
lookup = {v: i for i, v in enumerate(vocab)}

def encode(text, bos=True):
    ids = [1] if bos else []
    if text:
        ids.append(lookup[b" "])
    for ch in text:
        b = ch.encode("utf-8")
        if b in lookup:
            ids.append(lookup[b])
        else:
            ids.extend(x + 3 for x in b)
    while True:
        best, bi, bid = -1e10, -1, -1
        for i in range(1 if bos else 0, len(ids) - 1):
            m = vocab[ids[i]] + vocab[ids[i + 1]]
            if m in lookup and scores[lookup[m]] > best:
                best, bi, bid = scores[lookup[m]], i, lookup[m]
        if bi < 0:
            break
        ids[bi:bi + 2] = [bid]
    return ids

# ---- model
raw = open(f"{sdir}/stories260K.bin", "rb").read()
dim, hidden, L, nh, nkv, V, T = struct.unpack_from("<7i", raw, 0)
w = np.frombuffer(raw, dtype=np.float32, offset=28).astype(np.float64)
hs = dim // nh
kvd = nkv * hs
p = 0
def take(*shape):
    global p
    n = int(np.prod(shape))
    a = w[p:p + n].reshape(shape)
    p += n
    return a
emb = take(abs(V), dim); ratt = take(L, dim); wq = take(L, dim, dim); wk = take(L, kvd, dim)
wv = take(L, kvd, dim); wo = take(L, dim, dim); rffn = take(L, dim); w1 = take(L, hidden, dim)
w2 = take(L, dim, hidden); w3 = take(L, hidden, dim); rfin = take(dim)

def rms(x, g):
    return x / np.sqrt(np.mean(x * x) + 1e-5) * g

def rope(v, pos, nheads):
    v = v.reshape(nheads, hs // 2, 2).copy()
    i = np.arange(hs // 2)
    f = pos / (10000.0 ** (2 * i / hs))
    c, s = np.cos(f), np.sin(f)
    a, b = v[..., 0].copy(), v[..., 1].copy()
    v[..., 0] = a * c - b * s
    v[..., 1] = a * s + b * c
    return v.reshape(-1)

def logits_all(ids):
    """logits after each token (len(ids), V), one position at a time with a KV cache"""
    K = np.zeros((L, len(ids), kvd)); Vc = np.zeros((L, len(ids), kvd))
    outs = []
    for pos, t in enumerate(ids):
        x = emb[t].copy()
        for l in range(L):
            xb = rms(x, ratt[l])
            q = rope(wq[l] @ xb, pos, nh)
            K[l, pos] = rope(wk[l] @ xb, pos, nkv)
            Vc[l, pos] = wv[l] @ xb
            att_out = np.zeros(dim)
            for h in range(nh):
                kh = h // (nh // nkv)
                qh = q[h * hs:(h + 1) * hs]
                ks = K[l, :pos + 1, kh * hs:(kh + 1) * hs]
                a = ks @ qh / np.sqrt(hs)
                a = np.exp(a - a.max()); a /= a.sum()
                att_out[h * hs:(h + 1) * hs] = a @ Vc[l, :pos + 1, kh * hs:(kh + 1) * hs]
            x = x + wo[l] @ att_out
            xb = rms(x, rffn[l])
            g = w1[l] @ xb
            x = x + w2[l] @ ((g / (1 + np.exp(-g))) * (w3[l] @ xb))
        outs.append(emb @ rms(x, rfin))
    return np.array(outs)

def log_softmax(z):
    m = z.max()
    return z - m - np.log(np.exp(z - m).sum())

items = [
    {"passage": "Tom had a red ball. He played with it in the park every day.", "question": "did tom have a ball", "answer": True},
    {"passage": "The cat was sad because it was raining. It could not go outside.", "question": "could the cat go outside", "answer": False},
    {"passage": "Lily and Ben went to the zoo. They saw a big lion and a tall giraffe.", "question": "did they see a lion at the zoo", "answer": True},
    {"passage": "Once upon a time there was a little bird. The bird could not fly yet.", "question": "could the bird fly", "answer": False},
    {"passage": "Sam liked to eat apples.  He ate one after lunch.", "question": "is it true that sam ate an apple", "answer": True},
]
res = {"items": [], "perplexity": {}}
for it in items:
    ctx = f"{it['passage']}\nQuestion: {it['question']}?\nAnswer:"
    cids = encode(ctx)
    lps = []
    for choice in (" no", " yes"):
        wids = encode(ctx + choice)
        assert wids[:len(cids)] == cids, "context tokens are a prefix here"
        lg = logits_all(wids)
        lps.append(float(sum(log_softmax(lg[i - 1])[wids[i]] for i in range(len(cids), len(wids)))))
    res["items"].append(dict(it, logprobs=lps))
text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun."
ids = encode(text)
lg = logits_all(ids)
nll = -float(sum(log_softmax(lg[i - 1])[ids[i]] for i in range(1, len(ids))))
nbytes = sum(len(vocab[t]) if not (3 <= t < 259) else 1 for t in ids[1:])
res["perplexity"] = {"text": text, "tokens": len(ids) - 1, "nll": nll, "bytes": nbytes}
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res)[:400])
