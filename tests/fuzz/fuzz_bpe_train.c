/* libFuzzer target for BPE training: the input is training text. The first byte picks the style
 * and pre-tokenizer and whether "<|x|>" is a special token; the rest is counted (as one unit and
 * line by line), trained to a small vocabulary, and the trained byte-level tokenizer must encode
 * the text and decode it back byte for byte. Never crash, leak or hang; a refusal says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/bpe_train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 1 << 16) return 0;
    unsigned mode = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *specials[] = {"<|x|>"};
    afm_bpe_train_opts o = {.style = (mode & 1) ? AFM_BPE_SPM : AFM_BPE_BYTELEVEL, .pretok = (afm_pretok)(1 + (mode >> 1) % 4),
                            .vocab_size = 300 + (int32_t)(mode >> 3) * 8, .specials = specials, .n_specials = (mode & 0x80) ? 1 : 0,
                            .split_digits = (mode & 2) != 0, .ties = (mode & 4) ? AFM_BPE_TIES_BYTES_MAX : AFM_BPE_TIES_HF,
                            .limit_alphabet = (mode & 1) ? 40 : 0};
    afm_bpe_counts *c = NULL;
    if (afm_bpe_counts_create(&c) != AFM_OK) abort();
    if (afm_bpe_count_text(c, &o, text, len) != AFM_OK) abort();
    for (size_t i = 0; i < len;) { /* and line by line, as files are read */
        const char *nl = memchr(text + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - text) + 1 : len;
        if (afm_bpe_count_text(c, &o, text + i, e - i) != AFM_OK) abort();
        i = e;
    }
    afm_bpe_vocab *v = NULL;
    afm_status s = afm_bpe_train(c, &o, &v);
    afm_bpe_counts_free(c);
    if (s != AFM_OK) {
        if (!afm_last_error()[0]) abort();
        return 0;
    }
    afm_tokenizer *t = NULL;
    s = afm_bpe_vocab_to_tokenizer(v, &t);
    if (s != AFM_OK) {
        if (!afm_last_error()[0]) abort();
        afm_bpe_vocab_free(v);
        return 0;
    }
    if (o.style == AFM_BPE_BYTELEVEL) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *out = NULL;
        size_t ol = 0;
        if (afm_tokenizer_encode(t, text, len, false, false, &ids, &n) != AFM_OK) abort();
        if (afm_tokenizer_decode(t, ids, n, false, &out, &ol) != AFM_OK) abort();
        if (ol != len || memcmp(out, text, len)) abort();
        free(ids);
        free(out);
    }
    afm_tokenizer_free(t);
    afm_bpe_vocab_free(v);
    return 0;
}
