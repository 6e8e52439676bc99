/* Approximations of the NLTK and langdetect pieces that IFEval's official code uses (see
 * ifeval.h), plus a JSON validator with Python json.loads's grammar.
 *
 * Sentences (Punkt, English model): a sentence ends at a token ending in . ? or ! (closing
 * quotes/brackets may follow) when whitespace and another token follow; "." after a known
 * abbreviation never ends one, and after an ellipsis, a number or a single-letter initial only
 * when the next token starts with an upper-case letter. Newlines alone never split.
 * Words (Treebank): whitespace chunks with leading/trailing punctuation split off and the
 * contractions n't 's 're 've 'll 'd 'm separated.
 * Language (langdetect): the dominant script decides, and within Arabic, Cyrillic, Devanagari
 * and Latin scripts distinctive letters and stop words pick the language. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "eval/ifeval.h"
#include "eval/text.h"

/* ------------------------------------------------------------ sentences */

static const char *const k_abbrev[] = {
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "inc", "ltd", "co", "corp", "vs", "etc", "jan", "feb",
    "aug", "sept", "sep", "oct", "nov", "dec", "gen", "col", "lt", "maj", "sen", "rep", "reps", "gov", "ave",
    "messrs", "mt", "ft", "u.s", "u.k", "a.m", "p.m", "ph.d", "d.c", "n.y", "calif", "fla", "mass", "conn",
    "ariz", "mich", "minn", "okla", "ore", "pa", "va", "wash", "wis", "no", "nos", "bros", "cos", "fig",
};

static bool is_abbrev(const char *t, size_t n) {
    char low[32];
    if (n == 0 || n >= sizeof low) return false;
    for (size_t i = 0; i < n; i++) low[i] = (char)((t[i] >= 'A' && t[i] <= 'Z') ? t[i] + 32 : t[i]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof k_abbrev / sizeof k_abbrev[0]; i++) if (!strcmp(low, k_abbrev[i])) return true;
    return false;
}

static bool is_closer(char c) { return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == '*'; }

size_t afm_ifeval_count_sentences(const char *s, size_t n) {
    size_t count = 0;
    bool pending = false; /* non-blank text since the last break */
    size_t i = 0;
    while (i < n) {
        size_t l;
        uint32_t c = afm_u8_decode(s + i, n - i, &l);
        if (afm_py_isspace(c)) { i += l; continue; }
        /* a whitespace-delimited token [i, e) */
        size_t e = i;
        while (e < n) {
            uint32_t d = afm_u8_decode(s + e, n - e, &l);
            if (afm_py_isspace(d)) break;
            e += l;
        }
        pending = true;
        /* strip closing punctuation to find the sentence-end character */
        size_t t = e;
        while (t > i && is_closer(s[t - 1])) t--;
        if (t > i && (s[t - 1] == '.' || s[t - 1] == '?' || s[t - 1] == '!')) {
            /* next token */
            size_t j = e;
            while (j < n) { uint32_t d = afm_u8_decode(s + j, n - j, &l); if (!afm_py_isspace(d)) break; j += l; }
            if (j < n) {
                uint32_t next = afm_u8_decode(s + j, n - j, &l);
                size_t jj = j;
                while ((next == '"' || next == '\'' || next == '(' || next == '*') && jj + 1 < n) { jj++; next = afm_u8_decode(s + jj, n - jj, &l); }
                bool next_upper = afm_py_lower(next) != next;
                bool brk = true;
                if (s[t - 1] == '.') {
                    size_t w0 = i;
                    while (w0 < t && (s[w0] == '"' || s[w0] == '\'' || s[w0] == '(' || s[w0] == '*')) w0++;
                    size_t core = t - 1 - w0; /* token without its final period */
                    bool ellipsis = t - i >= 2 && s[t - 2] == '.';
                    bool number = core > 0;
                    for (size_t k = w0; k < t - 1; k++) if (!((s[k] >= '0' && s[k] <= '9') || s[k] == ',' || s[k] == '.' || s[k] == '-')) number = false;
                    bool initial = core == 1 && afm_py_isword((unsigned char)s[w0]) && !(s[w0] >= '0' && s[w0] <= '9');
                    if (is_abbrev(s + w0, core)) brk = false;
                    else if (ellipsis || number || initial) brk = next_upper;
                }
                if (brk) { count++; pending = false; }
            }
        }
        i = e;
    }
    return count + (pending ? 1 : 0);
}

/* ------------------------------------------------------------ upper-case words */

static bool is_punct_byte(char c) { return strchr("()[]{}<>\"'`,;:.!?", c) != NULL && c; }

static size_t count_upper_token(const char *s, size_t n) {
    if (n == 0) return 0;
    return afm_py_isupper_str(s, n) ? 1 : 0;
}

size_t afm_ifeval_count_upper_words(const char *s, size_t n) {
    size_t k = 0, i = 0, l;
    while (i < n) {
        uint32_t c = afm_u8_decode(s + i, n - i, &l);
        if (afm_py_isspace(c)) { i += l; continue; }
        size_t e = i;
        while (e < n) { uint32_t d = afm_u8_decode(s + e, n - e, &l); if (afm_py_isspace(d)) break; e += l; }
        /* split the chunk at , ; and strip punctuation at each piece's ends */
        size_t p = i;
        while (p < e) {
            size_t q = p;
            while (q < e && s[q] != ',' && s[q] != ';') q++;
            size_t a = p, b = q;
            while (a < b && is_punct_byte(s[a])) a++;
            while (b > a && is_punct_byte(s[b - 1]) && s[b - 1] != '\'') b--;
            while (b > a && (s[b - 1] == '\'' ) && !(b - a >= 2 && (s[b - 2] == 'n' || s[b - 2] == 'N'))) b--;
            /* contractions: n't, 's, 're, 've, 'll, 'd, 'm split into two tokens */
            size_t split = b;
            for (size_t x = a; x < b; x++) {
                if (s[x] != '\'' && !(x + 2 < b + 1 && (s[x] == 'n' || s[x] == 'N') && s[x + 1] == '\'')) continue;
                size_t st = (s[x] == '\'') ? x : x;
                if (s[x] == '\'' && x > a && (s[x - 1] == 'n' || s[x - 1] == 'N') && x + 1 < b && (s[x + 1] == 't' || s[x + 1] == 'T') && x + 2 == b) { split = x - 1; break; }
                if (s[x] == '\'' && x > a) {
                    size_t rest = b - x - 1;
                    const char *r = s + x + 1;
                    if ((rest == 1 && strchr("sSdDmM", r[0])) ||
                        (rest == 2 && (!strncasecmp(r, "re", 2) || !strncasecmp(r, "ve", 2) || !strncasecmp(r, "ll", 2)))) { split = st; break; }
                }
            }
            k += count_upper_token(s + a, split - a);
            if (split < b) k += count_upper_token(s + split, b - split);
            p = q + 1;
        }
        i = e;
    }
    return k;
}

/* ------------------------------------------------------------ language */

typedef struct lang_words { const char *code; const char *const *words; } lang_words;

static const char *const w_en[] = {"the", "and", "of", "to", "is", "in", "that", "it", "you", "for", "with", "are", "this", "be", "on", "as", "have", "not", "your", "can", "or", "will", "was", "an", "by", "from", "at", "we", "they", "but", NULL};
static const char *const w_de[] = {"der", "die", "und", "das", "ist", "nicht", "ich", "sie", "es", "zu", "den", "mit", "ein", "eine", "auf", "für", "sich", "auch", "dem", "des", "wir", "von", "sind", "wie", "oder", NULL};
static const char *const w_fr[] = {"le", "la", "les", "et", "est", "des", "une", "un", "que", "pour", "dans", "pas", "qui", "sur", "avec", "vous", "du", "au", "ce", "il", "sont", "nous", "mais", NULL};
static const char *const w_es[] = {"el", "la", "los", "las", "y", "es", "que", "de", "en", "un", "una", "por", "para", "con", "no", "se", "del", "su", "lo", "como", "más", "pero", "está", NULL};
static const char *const w_it[] = {"il", "la", "e", "di", "che", "è", "un", "una", "per", "non", "con", "gli", "sono", "del", "della", "le", "si", "come", "anche", "più", "ma", "nel", "alla", NULL};
static const char *const w_pt[] = {"o", "a", "os", "as", "e", "é", "que", "de", "do", "da", "um", "uma", "para", "com", "não", "em", "no", "na", "se", "por", "mais", "são", "você", "seu", "sua", NULL};
static const char *const w_nl[] = {"de", "het", "een", "en", "is", "van", "dat", "niet", "ik", "je", "op", "te", "zijn", "voor", "met", "die", "maar", "ook", NULL};
static const char *const w_sw[] = {"na", "ya", "wa", "kwa", "ni", "la", "za", "katika", "kuwa", "hii", "cha", "vya", "yako", "au", "pia", "hiyo", "lakini", "sana", "kama", "kila", "wako", NULL};
static const char *const w_fi[] = {"ja", "on", "ei", "se", "että", "oli", "ovat", "kun", "mutta", "tai", "myös", "hän", "ovat", "sen", "kanssa", "voi", "niin", "jos", "tämä", "joka", NULL};
static const char *const w_vi[] = {"và", "của", "là", "có", "không", "các", "được", "cho", "trong", "một", "những", "với", "này", "người", "bạn", "để", "đã", "khi", NULL};
static const char *const w_tr[] = {"ve", "bir", "bu", "için", "ile", "da", "de", "çok", "ne", "olan", "gibi", "daha", "ama", "olarak", NULL};
static const char *const w_pl[] = {"i", "w", "nie", "na", "się", "jest", "z", "że", "do", "to", "jak", "ale", "o", "co", "są", NULL};
static const char *const w_id[] = {"dan", "yang", "di", "ini", "itu", "dengan", "untuk", "tidak", "dari", "ada", "akan", "saya", "anda", NULL};
static const char *const w_sv[] = {"och", "att", "det", "är", "som", "en", "på", "för", "med", "inte", "har", "av", "jag", "till", NULL};

static const lang_words k_latin[] = {
    {"en", w_en}, {"de", w_de}, {"fr", w_fr}, {"es", w_es}, {"it", w_it}, {"pt", w_pt}, {"nl", w_nl},
    {"sw", w_sw}, {"fi", w_fi}, {"vi", w_vi}, {"tr", w_tr}, {"pl", w_pl}, {"id", w_id}, {"sv", w_sv},
};

static const char *const w_ru[] = {"и", "в", "не", "на", "что", "это", "как", "с", "по", "он", "она", "я", "вы", "они", "для", "из", "от", "так", "все", "его", "мы", NULL};
static const char *const w_bg[] = {"и", "на", "е", "да", "се", "за", "от", "са", "не", "това", "като", "с", "в", "по", "че", "ще", "към", "или", "но", "си", NULL};
static const char *const w_uk[] = {"і", "в", "не", "на", "що", "це", "як", "з", "та", "до", "від", "для", "він", "вона", NULL};
static const lang_words k_cyrillic[] = {{"ru", w_ru}, {"bg", w_bg}, {"uk", w_uk}};

static const char *const w_hi[] = {"है", "और", "के", "की", "में", "से", "का", "हैं", "को", "यह", "कि", "पर", "भी", "एक", "लिए", "नहीं", "था", "जो", "करने", "होता", NULL};
static const char *const w_mr[] = {"आहे", "आणि", "या", "हे", "आहेत", "की", "ला", "च्या", "मध्ये", "तुम्ही", "करा", "एक", "व", "हा", "ही", "त्या", "आपण", "नाही", "होते", "साठी", NULL};
static const char *const w_ne[] = {"छ", "छन्", "र", "को", "मा", "हो", "गर्न", "पनि", "यो", "लागि", "गर्नुहोस्", "हुन्छ", "तपाईं", "एक", "थियो", "भएको", "गरेको", "हरू", NULL};
static const lang_words k_devanagari[] = {{"hi", w_hi}, {"mr", w_mr}, {"ne", w_ne}};

static const char *const w_ar[] = {"في", "من", "على", "إلى", "أن", "هذا", "هذه", "التي", "الذي", "عن", "مع", "هو", "هي", "كان", "لا", "ما", NULL};
static const char *const w_fa[] = {"است", "این", "را", "که", "و", "در", "به", "از", "با", "برای", "می", "یک", "آن", "هم", "شما", NULL};
static const char *const w_ur[] = {"ہے", "کے", "کی", "میں", "اور", "سے", "کا", "کو", "یہ", "ہیں", "پر", "نے", "بھی", "آپ", NULL};
static const lang_words k_arabic[] = {{"ar", w_ar}, {"fa", w_fa}, {"ur", w_ur}};

typedef enum script {
    SC_LATIN, SC_CYRILLIC, SC_GREEK, SC_ARABIC, SC_HEBREW, SC_DEVANAGARI, SC_BENGALI, SC_GURMUKHI, SC_GUJARATI,
    SC_TAMIL, SC_TELUGU, SC_KANNADA, SC_MALAYALAM, SC_THAI, SC_HANGUL, SC_KANA, SC_HAN, SC_GEORGIAN,
    SC_ARMENIAN, SC_SINHALA, SC_COUNT
} script;

static int script_of(uint32_t c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x1E00 && c <= 0x1EFF)) return SC_LATIN;
    if (c >= 0x400 && c <= 0x4FF) return SC_CYRILLIC;
    if (c >= 0x370 && c <= 0x3FF) return SC_GREEK;
    if ((c >= 0x600 && c <= 0x6FF) || (c >= 0x750 && c <= 0x77F) || (c >= 0xFB50 && c <= 0xFEFF)) return SC_ARABIC;
    if (c >= 0x590 && c <= 0x5FF) return SC_HEBREW;
    if (c >= 0x900 && c <= 0x97F) return SC_DEVANAGARI;
    if (c >= 0x980 && c <= 0x9FF) return SC_BENGALI;
    if (c >= 0xA00 && c <= 0xA7F) return SC_GURMUKHI;
    if (c >= 0xA80 && c <= 0xAFF) return SC_GUJARATI;
    if (c >= 0xB80 && c <= 0xBFF) return SC_TAMIL;
    if (c >= 0xC00 && c <= 0xC7F) return SC_TELUGU;
    if (c >= 0xC80 && c <= 0xCFF) return SC_KANNADA;
    if (c >= 0xD00 && c <= 0xD7F) return SC_MALAYALAM;
    if (c >= 0xD80 && c <= 0xDFF) return SC_SINHALA;
    if (c >= 0xE00 && c <= 0xE7F) return SC_THAI;
    if ((c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F)) return SC_HANGUL;
    if (c >= 0x3040 && c <= 0x30FF) return SC_KANA;
    if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)) return SC_HAN;
    if (c >= 0x10A0 && c <= 0x10FF) return SC_GEORGIAN;
    if (c >= 0x530 && c <= 0x58F) return SC_ARMENIAN;
    return -1;
}

/* stop-word hits of each language over the lowercased words of the text */
static const char *best_by_words(const char *low, const lang_words *langs, size_t n_langs, const int *bonus) {
    int score[32] = {0};
    size_t n = strlen(low), i = 0, l;
    while (i < n) {
        while (i < n && !afm_py_isword(afm_u8_decode(low + i, n - i, &l))) i += l;
        size_t e = i;
        while (e < n) {
            uint32_t c = afm_u8_decode(low + e, n - e, &l);
            /* Indic vowel signs and viramas are marks, not letters, but belong to the word */
            if (!afm_py_isword(c)) break;
            e += l;
        }
        if (e == i) break;
        for (size_t k = 0; k < n_langs; k++)
            for (const char *const *w = langs[k].words; *w; w++)
                if (strlen(*w) == e - i && !memcmp(*w, low + i, e - i)) { score[k]++; break; }
        i = e;
    }
    size_t best = 0;
    for (size_t k = 0; k < n_langs; k++) {
        int s = score[k] * 4 + (bonus ? bonus[k] : 0);
        int b = score[best] * 4 + (bonus ? bonus[best] : 0);
        if (s > b) best = k;
    }
    return langs[best].code;
}

static size_t count_cp(const char *s, size_t n, const uint32_t *set, size_t n_set) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        uint32_t c = afm_u8_decode(s + i, n - i, &l);
        for (size_t j = 0; j < n_set; j++) if (c == set[j]) { k++; break; }
        i += l;
    }
    return k;
}

const char *afm_ifeval_detect_language(const char *s, size_t n) {
    size_t counts[SC_COUNT] = {0}, letters = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        int sc = script_of(afm_u8_decode(s + i, n - i, &l));
        if (sc >= 0) { counts[sc]++; letters++; }
        i += l;
    }
    if (letters == 0) return "";
    int best = 0;
    for (int k = 1; k < SC_COUNT; k++) if (counts[k] > counts[best]) best = k;
    /* Japanese writes kana among its kanji */
    if ((best == SC_HAN || best == SC_KANA) && counts[SC_KANA] * 10 >= counts[SC_HAN] && counts[SC_KANA]) return "ja";
    static const char *const fixed[SC_COUNT] = {
        [SC_GREEK] = "el", [SC_HEBREW] = "he", [SC_BENGALI] = "bn", [SC_GURMUKHI] = "pa", [SC_GUJARATI] = "gu",
        [SC_TAMIL] = "ta", [SC_TELUGU] = "te", [SC_KANNADA] = "kn", [SC_MALAYALAM] = "ml", [SC_THAI] = "th",
        [SC_HANGUL] = "ko", [SC_HAN] = "zh-cn", [SC_GEORGIAN] = "ka", [SC_ARMENIAN] = "hy", [SC_SINHALA] = "si",
    };
    if (fixed[best]) return fixed[best];
    char *low = afm_py_lower_str(s, n);
    if (!low) return "";
    const char *r = "";
    if (best == SC_CYRILLIC) {
        static const uint32_t ru_only[] = {0x44B, 0x44D, 0x451}, uk_only[] = {0x456, 0x457, 0x454, 0x491};
        int bonus[3] = {(int)count_cp(low, strlen(low), ru_only, 3) * 3, 0, (int)count_cp(low, strlen(low), uk_only, 4) * 3};
        static const uint32_t hard[] = {0x44A};
        /* Bulgarian uses ъ as a vowel, far more often than Russian */
        bonus[1] = (int)count_cp(low, strlen(low), hard, 1);
        r = best_by_words(low, k_cyrillic, 3, bonus);
    } else if (best == SC_DEVANAGARI) {
        static const uint32_t mr_only[] = {0x933}; /* ळ */
        int bonus[3] = {0, (int)count_cp(low, strlen(low), mr_only, 1) * 2, 0};
        r = best_by_words(low, k_devanagari, 3, bonus);
    } else if (best == SC_ARABIC) {
        static const uint32_t ur_only[] = {0x6D2, 0x679, 0x688, 0x691, 0x6BA, 0x6BE, 0x6C1};
        static const uint32_t fa_only[] = {0x67E, 0x686, 0x698, 0x6AF, 0x6A9, 0x6CC};
        static const uint32_t ar_only[] = {0x629, 0x64A, 0x643, 0x623, 0x625};
        int bonus[3] = {(int)count_cp(low, strlen(low), ar_only, 5), (int)count_cp(low, strlen(low), fa_only, 6),
                        (int)count_cp(low, strlen(low), ur_only, 7) * 2};
        r = best_by_words(low, k_arabic, 3, bonus);
    } else {
        /* Vietnamese: letters with horn or stacked diacritics */
        static const uint32_t vi_only[] = {0x1A1, 0x1B0, 0x111, 0x1EA1, 0x1EA3, 0x1EA5, 0x1EA7, 0x1EAD, 0x1EBF, 0x1EC1, 0x1EC7, 0x1ED1, 0x1ED3, 0x1ED9, 0x1EDB, 0x1EDD, 0x1EE3, 0x1EE5, 0x1EE7, 0x1EE9, 0x1EEB, 0x1EF1, 0x1EF3};
        size_t vi = count_cp(low, strlen(low), vi_only, sizeof vi_only / sizeof vi_only[0]);
        if (vi * 20 >= counts[SC_LATIN] && vi > 0) r = "vi";
        else r = best_by_words(low, k_latin, sizeof k_latin / sizeof k_latin[0], NULL);
    }
    free(low);
    return r;
}

/* ------------------------------------------------------------ JSON (Python json.loads) */

typedef struct jp { const char *s; size_t n, i; int depth; } jp;

static void ws(jp *p) { while (p->i < p->n && strchr(" \t\n\r", p->s[p->i]) && p->s[p->i]) p->i++; }
static bool lit(jp *p, const char *w) {
    size_t k = strlen(w);
    if (p->n - p->i >= k && !memcmp(p->s + p->i, w, k)) { p->i += k; return true; }
    return false;
}
static bool digit(jp *p) { return p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9'; }

static bool value(jp *p);

static bool string_(jp *p) {
    p->i++; /* opening quote */
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') { p->i++; return true; }
        if (c < 0x20) return false;
        if (c == '\\') {
            if (p->i + 1 >= p->n) return false;
            char e = p->s[p->i + 1];
            if (e == 'u') {
                if (p->i + 6 > p->n) return false;
                for (int k = 2; k < 6; k++) if (!strchr("0123456789abcdefABCDEF", p->s[p->i + k]) || !p->s[p->i + k]) return false;
                p->i += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || !e) return false;
            p->i += 2;
            continue;
        }
        p->i++;
    }
    return false;
}

static bool number(jp *p) {
    if (p->i < p->n && p->s[p->i] == '-') {
        p->i++;
        if (lit(p, "Infinity")) return true;
    }
    if (!digit(p)) return false;
    if (p->s[p->i] == '0') p->i++;
    else while (digit(p)) p->i++;
    if (p->i < p->n && p->s[p->i] == '.' && p->i + 1 < p->n && p->s[p->i + 1] >= '0' && p->s[p->i + 1] <= '9') {
        p->i++;
        while (digit(p)) p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        size_t save = p->i;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (!digit(p)) p->i = save; /* "1e" parses as 1, then fails on the trailing "e" */
        else while (digit(p)) p->i++;
    }
    return true;
}

static bool value(jp *p) {
    if (++p->depth > 900) return false;
    ws(p);
    bool ok = false;
    if (p->i >= p->n) ok = false;
    else if (p->s[p->i] == '{') {
        p->i++;
        ws(p);
        if (p->i < p->n && p->s[p->i] == '}') { p->i++; ok = true; }
        else for (;;) {
            ws(p);
            if (p->i >= p->n || p->s[p->i] != '"' || !string_(p)) break;
            ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') break;
            p->i++;
            if (!value(p)) break;
            ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == '}') { p->i++; ok = true; }
            break;
        }
    } else if (p->s[p->i] == '[') {
        p->i++;
        ws(p);
        if (p->i < p->n && p->s[p->i] == ']') { p->i++; ok = true; }
        else for (;;) {
            if (!value(p)) break;
            ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == ']') { p->i++; ok = true; }
            break;
        }
    } else if (p->s[p->i] == '"') ok = string_(p);
    else if (lit(p, "true") || lit(p, "false") || lit(p, "null") || lit(p, "NaN") || lit(p, "Infinity")) ok = true;
    else ok = number(p);
    p->depth--;
    return ok;
}

bool afm_ifeval_is_json(const char *s, size_t n) {
    jp p = {s, n, 0, 0};
    if (!value(&p)) return false;
    ws(&p);
    return p.i == n;
}
