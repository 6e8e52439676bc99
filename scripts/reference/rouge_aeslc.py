#!/usr/bin/env python3
"""Expected ROUGE scores from Google's rouge-score package (pip install rouge-score) for the
AESLC dev set, and NLTK Porter stems (the stemmer rouge-score uses) for every word of it.

Writes tests/fixtures/eval/aeslc_rouge.jsonl: one line per (email, prediction) pair with the
prediction text and rouge1/rouge2/rougeL [precision, recall, f] from
RougeScorer(['rouge1','rouge2','rougeL'], use_stemmer=True).score_multi([ann0, ann1, ann2], pred).
Predictions: the email's own subject line, and its first 25 words (a lead baseline).
Also writes tests/fixtures/eval/porter_stems.tsv: word<TAB>stem for every distinct token longer
than 3 characters in the AESLC dev emails and summaries, plus hand-picked edge cases.

usage: python3 scripts/reference/rouge_aeslc.py SHARED_DIR OUT_DIR
"""
import json
import sys
from nltk.stem import porter
from rouge_score import rouge_scorer, tokenize

shared, out = sys.argv[1], sys.argv[2]
scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
rows = [json.loads(l) for l in open(f"{shared}/data/messages/aeslc_dev.jsonl", encoding="utf-8")]
words = set()
with open(f"{out}/aeslc_rouge.jsonl", "w", encoding="utf-8") as f:
    for i, r in enumerate(rows):
        refs = [r[k] for k in ("ann0", "ann1", "ann2")]
        lead = " ".join(r["email"].split()[:25])
        for kind, pred in (("subject", r["subject"]), ("lead", lead)):
            s = scorer.score_multi(refs, pred)
            rec = {"i": i, "kind": kind, "pred": pred}
            for k in ("rouge1", "rouge2", "rougeL"):
                rec[k] = [round(v, 10) for v in (s[k].precision, s[k].recall, s[k].fmeasure)]
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        for text in [r["email"], r["subject"]] + refs:
            words.update(t for t in tokenize.tokenize(text, None) if len(t) > 3)
edge = ["skies", "dying", "lying", "tying", "news", "innings", "proceed", "exceed", "succeed",
        "ties", "pies", "died", "tied", "cried", "agreed", "feed", "bled", "sing", "hopping",
        "falling", "hissing", "fizzed", "failing", "filing", "happy", "enjoy", "spy", "fly",
        "relational", "conditional", "rational", "valenci", "digitizer", "conformabli",
        "radicalli", "differentli", "vileli", "analogousli", "vietnamization", "predication",
        "operator", "feudalism", "decisiveness", "hopefulness", "callousness", "formaliti",
        "sensitiviti", "sensibiliti", "hopefulli", "archaeologi", "triplicate", "formative",
        "formalize", "electriciti", "electrical", "hopeful", "goodness", "revival", "allowance",
        "inference", "airliner", "gyroscopic", "adjustable", "defensible", "irritant",
        "replacement", "adjustment", "dependent", "adoption", "homologou", "communism",
        "activate", "angulariti", "homologous", "effective", "bowdlerize", "probate", "rate",
        "cease", "controll", "roll", "syzygy", "yyyy", "ayyy", "toyyed", "generalization",
        "oscillators", "2003s", "1990s", "agreements", "congratulations"]
words.update(edge)
stemmer = porter.PorterStemmer()
with open(f"{out}/porter_stems.tsv", "w", encoding="utf-8") as f:
    for w in sorted(words):
        f.write(f"{w}\t{stemmer.stem(w)}\n")
