/* Teacher-forcing fixtures: a reference runtime's (llama.cpp's, or a float64 forward's) next-token
 * distributions for fixed token sequences, and the scoring of afm's logits against them.
 * Shared by test_smollm2_llamacpp.c and test_gemma3_llamacpp.c; the files are written by
 * scripts/reference/teacher_fixture.py.
 *
 * File (little-endian, as every machine we run):
 *   char magic[8]; u32 version; u32 n_vocab; u32 top_k; u32 n_seqs; u64 model_file_size;
 *   per sequence: u32 n_prompt; u32 n_total; i32 ids[n_total];
 *     per position p < n_total (the distribution of the token after ids[p]):
 *       f32 top1_logit; f32 top2_logit; f32 tail_mass; f32 top_logprobs[top_k];
 *       u16 or u32 top_ids[top_k]   (the width is the format's; most probable first)
 *
 * KL(teacher || afm) at one position, q = afm's softmax over the full vocabulary:
 *   KL ~= sum_{i in topK} p_i (log p_i - log q_i) + p_tail (log p_tail - log q_tail),
 *   q_tail = 1 - sum_{i in topK} q_i
 * Merging the tail into one bucket can only lower KL (log-sum inequality): a lower bound of the
 * full KL, tight when the tail mass is tiny. */
#ifndef AFM_TESTS_TEACHER_FIXTURE_H
#define AFM_TESTS_TEACHER_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

/* What one fixture family looks like on disk. */
typedef struct teacher_format {
    const char *magic;     /* 8 characters, e.g. "AFMLCTF1" */
    uint32_t version;
    uint32_t id_bytes;     /* width of top_ids: 2 (u16, n_vocab <= 65536) or 4 (u32) */
    uint32_t max_seqs;     /* sanity bound on n_seqs */
} teacher_format;

typedef struct teacher_position {
    float top1, top2, tail;   /* teacher's top-1 / top-2 logits and the mass outside its top K */
    uint32_t top_id;          /* teacher's argmax (top_ids[0]) */
    const float *logp;        /* top_k log-probabilities, most probable first (points into the file) */
    const unsigned char *ids; /* their token ids, id_bytes each (points into the file); see teacher_id */
} teacher_position;

typedef struct teacher_sequence {
    uint32_t n_prompt, n_total;
    const int32_t *ids;       /* n_total: prompt + teacher's greedy continuation */
    teacher_position *pos;    /* n_total */
} teacher_sequence;

typedef struct teacher_fixture {
    char *data;
    size_t size;
    uint32_t n_vocab, top_k, n_seqs, id_bytes;
    uint64_t model_size;      /* bytes of the model file the fixture was made from */
    teacher_sequence *seqs;
} teacher_fixture;

/* Reads and validates path (header, counts, every id < n_vocab, exact length); the positions point
 * into the loaded bytes. Returns 0, or -1 after a message on stderr. */
int teacher_fixture_load(const char *path, const teacher_format *fmt, teacher_fixture *fx);
void teacher_fixture_free(teacher_fixture *fx);

/* The fixture's companion JSON (prompts, the teacher's texts, versions), parsed; NULL when it is
 * missing or not JSON (the tests then print "?" for names). Free with cJSON_Delete. */
struct cJSON *teacher_meta_load(const char *path);
/* The "name" of prompt s in the JSON's "prompts" array, or "?" where there is none. */
const char *teacher_prompt_name(const struct cJSON *prompts, uint32_t s);

/* The k-th most probable token id at ps (k < top_k). */
uint32_t teacher_id(const teacher_fixture *fx, const teacher_position *ps, uint32_t k);

/* Index of the largest of x[0..n) (the first one on ties). */
int32_t teacher_argmax(const float *x, int32_t n);

/* KL(teacher || afm) at ps over the teacher's top-K support + the tail bucket; z: afm's n_vocab logits. */
double teacher_kl(const teacher_fixture *fx, const teacher_position *ps, const float *z);

typedef struct teacher_stats { double kl_sum, kl_max; int n, n_strict, n_agree_strict, n_agree_all; } teacher_stats;

/* Scores afm's logits z for position p of sq into st (KL, argmax agreement). Where the teacher's
 * top-1 logit leads its top-2 by more than margin, afm's argmax must equal the teacher's: a
 * mismatch is printed as a FAIL line on stderr. Returns the number of failures (0 or 1). */
int teacher_compare_row(const char *label, const teacher_fixture *fx, const teacher_sequence *sq, uint32_t p,
                        const float *z, float margin, teacher_stats *st);

void teacher_stats_add(teacher_stats *to, const teacher_stats *st);
void teacher_stats_print(const char *label, const teacher_stats *st);

#endif
