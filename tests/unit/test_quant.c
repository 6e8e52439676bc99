/* Quantization formats against the gguf Python package (fixtures from
 * scripts/reference/make_quant_fixtures.py):
 *  - quantize: byte-exact for f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1;
 *  - dequantize: bit-exact for every supported type (random blocks);
 *  - q4_k / q6_k quantize: byte-exact against llama.cpp's ggml C reference (fixtures from
 *    scripts/reference/make_kquant_fixtures.py; the gguf package has no k-quant quantizer), and
 *    the round trip through our dequantizer within the error these formats are known to reach;
 *  - bad arguments give errors. */
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "base/mem.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 2048
static int failures;
#define CHECK(c, ...) do { if (!(c)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static unsigned char *read_fixture(const char *name, size_t *len) {
    const char *root = getenv("AFM_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/quant/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*len);
    if (fread(buf, 1, *len, f) != *len) { fprintf(stderr, "short read %s\n", path); exit(1); }
    fclose(f);
    return buf;
}

static void check_quantize(const char *name, afm_dtype t) {
    char fn[64];
    snprintf(fn, sizeof fn, "%s.quant.bin", name);
    size_t len;
    unsigned char *buf = read_fixture(fn, &len);
    size_t qbytes = afm_dtype_row_size(t, N);
    CHECK(len == N * 4 + qbytes, "%s: fixture size %zu", name, len);
    float x[N];
    memcpy(x, buf, sizeof x);
    unsigned char *q = malloc(qbytes);
    CHECK(afm_quantize_row(t, x, q, N) == AFM_OK, "%s quantize", name);
    size_t first = qbytes;
    for (size_t i = 0; i < qbytes; i++)
        if (q[i] != buf[N * 4 + i]) { first = i; break; }
    CHECK(first == qbytes, "%s quantize: first differing byte %zu (ours %02x, gguf %02x)", name, first,
          first < qbytes ? q[first] : 0, first < qbytes ? buf[N * 4 + first] : 0);
    free(q);
    free(buf);
}

static void check_dequantize(const char *name, afm_dtype t) {
    char fn[64];
    snprintf(fn, sizeof fn, "%s.deq.bin", name);
    size_t len;
    unsigned char *buf = read_fixture(fn, &len);
    size_t qbytes = afm_dtype_row_size(t, N);
    CHECK(len == qbytes + N * 4, "%s: fixture size %zu", name, len);
    float y[N], ref[N];
    memcpy(ref, buf + qbytes, sizeof ref);
    CHECK(afm_dequantize_row(t, buf, y, N) == AFM_OK, "%s dequantize", name);
    int bad = 0;
    for (int i = 0; i < N; i++)
        if (memcmp(&y[i], &ref[i], 4) && !(isnan(y[i]) && isnan(ref[i]))) {
            if (!bad) fprintf(stderr, "%s: element %d ours %.9g gguf %.9g\n", name, i, y[i], ref[i]);
            bad++;
        }
    CHECK(bad == 0, "%s dequantize: %d of %d elements differ", name, bad, N);
    free(buf);
}

/* Gaussian rows: q4_k must reach RMSE/std <= 0.08 and q6_k <= 0.02 (ggml's quantizers give 0.072
 * and 0.018 on this data; a wrong bit layout or a broken scale search lands well outside). */
static void check_kquant_roundtrip(const char *name, afm_dtype t, double max_rel_rmse) {
    float x[N], y[N];
    unsigned s = 12345;
    for (int i = 0; i < N; i++) { /* Box-Muller from an LCG */
        s = s * 1664525u + 1013904223u;
        double u1 = ((s >> 8) + 1.0) / 16777217.0;
        s = s * 1664525u + 1013904223u;
        double u2 = (s >> 8) / 16777216.0;
        x[i] = (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
    for (int i = 512; i < 768; i++) x[i] = 0; /* an all-zero super-block */
    void *q = malloc(afm_dtype_row_size(t, N));
    CHECK(afm_quantize_row(t, x, q, N) == AFM_OK, "%s quantize", name);
    CHECK(afm_dequantize_row(t, q, y, N) == AFM_OK, "%s dequantize", name);
    double se = 0, ss = 0;
    for (int i = 0; i < N; i++) { se += (x[i] - y[i]) * (double)(x[i] - y[i]); ss += (double)x[i] * x[i]; }
    double rel = sqrt(se / ss);
    printf("%s round trip: relative RMSE %.4f (limit %.3f)\n", name, rel, max_rel_rmse);
    CHECK(rel <= max_rel_rmse, "%s round-trip relative RMSE %.4f > %.4f", name, rel, max_rel_rmse);
    for (int i = 512; i < 768; i++) CHECK(y[i] == 0, "%s: zero block element %d = %g", name, i, y[i]);
    free(q);
}

int main(void) {
    check_quantize("f16", AFM_F16);
    check_quantize("bf16", AFM_BF16);
    check_quantize("q8_0", AFM_Q8_0);
    check_quantize("q4_0", AFM_Q4_0);
    check_quantize("q4_1", AFM_Q4_1);
    check_quantize("q5_0", AFM_Q5_0);
    check_quantize("q5_1", AFM_Q5_1);
    check_quantize("q4_k", AFM_Q4_K); /* reference: llama.cpp's ggml C code (make_kquant_fixtures.py) */
    check_quantize("q6_k", AFM_Q6_K);
    check_dequantize("f16", AFM_F16);
    check_dequantize("bf16", AFM_BF16);
    check_dequantize("q8_0", AFM_Q8_0);
    check_dequantize("q4_0", AFM_Q4_0);
    check_dequantize("q4_1", AFM_Q4_1);
    check_dequantize("q5_0", AFM_Q5_0);
    check_dequantize("q5_1", AFM_Q5_1);
    check_dequantize("q4_k", AFM_Q4_K);
    check_dequantize("q6_k", AFM_Q6_K);
    check_kquant_roundtrip("q4_k", AFM_Q4_K, 0.08);
    check_kquant_roundtrip("q6_k", AFM_Q6_K, 0.02);

    float x[64] = {0};
    unsigned char q[64 * 4];
    CHECK(afm_quantize_row(AFM_Q4_0, x, q, 33) == AFM_ERR_INVALID_ARG, "q4_0 with 33 elements must fail");
    CHECK(afm_dequantize_row(AFM_Q4_K, q, x, 32) == AFM_ERR_INVALID_ARG, "q4_k with 32 elements must fail");
    CHECK(afm_quantize_row(AFM_Q2_K, x, q, 256) == AFM_ERR_UNSUPPORTED, "q2_k must be unsupported");
    CHECK(afm_dequantize_row((afm_dtype)99, q, x, 32) == AFM_ERR_UNSUPPORTED, "unknown type must fail");
    if (failures) { fprintf(stderr, "%d failures\n", failures); return 1; }
    printf("test_quant: all passed\n");
    return 0;
}
