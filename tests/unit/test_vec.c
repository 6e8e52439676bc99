/* Vector helpers: the dispatched variant against the scalar reference and a double-precision
 * sum, for lengths around the vector widths (0..70 and 1000). Tolerance: 1e-6 * sum|a b|,
 * float rounding of a reordered sum. */
#include "kernels/vec.h"
#include "kernels/nn.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* softmax / silu_mul: the dispatched variant (vectorized exp) against the scalar reference
 * (libm expf) within 4e-7 relative (+1e-30 absolute for underflowing values), on lengths around the
 * vector width and on inputs spanning exp's range: large negative (underflow to 0), large positive
 * (overflow in silu's exp(-g)), +-inf and NaN. */
static int check_exp_ops(void) {
    static float x[1100], r[1100], g[1100], u[1100], g2[1100];
    unsigned s = 11;
    int fails = 0;
    const int lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 33, 100, 1000, 1100};
    for (unsigned k = 0; k < sizeof lens / sizeof *lens; k++) {
        int n = lens[k];
        for (int i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            float v = (float)((s >> 8) / 8388608.0 - 1.0);
            x[i] = v * (i % 3 == 0 ? 100.f : 12.f); /* spreads of 200 and 24 around 0 */
            g[i] = v * (i % 5 == 0 ? 120.f : 9.f);
            u[i] = 1.5f - v;
        }
        if (n > 20) { g[3] = INFINITY; g[4] = -INFINITY; g[5] = 89.f; g[6] = -89.f; g[7] = 0.f; }
        memcpy(r, x, sizeof(float) * (size_t)n);
        afm_softmax(x, n);
        afm_softmax_scalar(r, n);
        for (int i = 0; i < n; i++)
            if (!(fabsf(x[i] - r[i]) <= 4e-7f * fabsf(r[i]) + 1e-30f)) {
                fprintf(stderr, "softmax n=%d i=%d: %g scalar %g\n", n, i, x[i], r[i]);
                fails++;
                break;
            }
        memcpy(g2, g, sizeof(float) * (size_t)n);
        afm_silu_mul(g, u, n);
        afm_silu_mul_scalar(g2, u, n);
        for (int i = 0; i < n; i++) {
            bool same_special = (isnan(g[i]) && isnan(g2[i])) || (isinf(g2[i]) && g[i] == g2[i]);
            if (!same_special && !(fabsf(g[i] - g2[i]) <= 4e-7f * fabsf(g2[i]) + 1e-30f)) {
                fprintf(stderr, "silu_mul n=%d i=%d: %g scalar %g\n", n, i, g[i], g2[i]);
                fails++;
                break;
            }
        }
    }
    /* a NaN in a softmax row makes the whole row NaN in both */
    float a[9] = {0, 1, 2, NAN, 4, 5, 6, 7, 8}, b[9];
    memcpy(b, a, sizeof a);
    afm_softmax(a, 9);
    afm_softmax_scalar(b, 9);
    for (int i = 0; i < 9; i++)
        if (isnan(a[i]) != isnan(b[i])) { fprintf(stderr, "softmax NaN row: lane %d differs\n", i); fails++; break; }
    /* rows with -inf entries (masked keys: exactly 0), a +inf entry or only -inf (both: all NaN),
     * and values far below 0 (tail lanes of x - max far above 0): as the scalar version */
    const float NI = -INFINITY;
    float rows[5][11] = {{0.5f, NI, 2.f, NI, NI, -3.f, 1.f, NI, 0.f, 4.f, NI},
                         {1.f, 2.f, INFINITY, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f, 10.f},
                         {NI, NI, NI, NI, NI, NI, NI, NI, NI, NI, NI},
                         {-1e30f, -2e30f, -1e30f, -3e30f, -1e30f, -1e30f, -5e29f, -1e30f, -1e30f, -2e30f, -1e30f},
                         {-100.f, -300.f, -90.f, -95.f, -400.f, -100.f, -187.f, -188.f, -91.f, -92.f, -1e4f}};
    for (int k = 0; k < 5; k++)
        for (int len = 9; len <= 11; len++) {
            float c[11], d[11];
            memcpy(c, rows[k], sizeof c);
            memcpy(d, rows[k], sizeof d);
            afm_softmax(c, len);
            afm_softmax_scalar(d, len);
            for (int i = 0; i < len; i++)
                if (isnan(c[i]) != isnan(d[i]) || (!isnan(d[i]) && !(fabsf(c[i] - d[i]) <= 4e-7f * fabsf(d[i]) + 1e-30f)) ||
                    (rows[k][i] == NI && k != 2 && c[i] != 0)) {
                    fprintf(stderr, "softmax special row %d n=%d i=%d: %g scalar %g\n", k, len, i, c[i], d[i]);
                    fails++;
                    break;
                }
        }
    return fails;
}

/* gelu_tanh_mul: the dispatched variant (g / (1 + exp(-2u)) with the vectorized exp) and the scalar
 * one (g/2 (1 + tanhf(u))) against long double, within 2e-6 relative + 1e-7 |g up| absolute (the
 * scalar form loses relative accuracy where 1 + tanh(u) cancels, g << 0); +-inf and NaN inputs
 * give the reference's limits (g -> -inf: 0, +inf: +inf, NaN: NaN). */
static int check_gelu(void) {
    static float g[1100], u[1100], a[1100], b[1100];
    unsigned s = 23;
    int fails = 0;
    const int lens[] = {1, 7, 8, 9, 17, 100, 1100};
    for (unsigned k = 0; k < sizeof lens / sizeof *lens; k++) {
        int n = lens[k];
        for (int i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            float v = (float)((s >> 8) / 8388608.0 - 1.0);
            g[i] = v * (i % 5 == 0 ? 40.f : 6.f);
            u[i] = 1.5f - v;
        }
        memcpy(a, g, sizeof(float) * (size_t)n);
        memcpy(b, g, sizeof(float) * (size_t)n);
        afm_gelu_tanh_mul(a, u, n);
        afm_gelu_tanh_mul_scalar(b, u, n);
        for (int i = 0; i < n; i++) {
            long double x = g[i], t = 0.79788456080286535588L * (x + 0.044715L * x * x * x);
            long double ref = 0.5L * x * (1.0L + tanhl(t)) * u[i];
            long double tol = 2e-6L * fabsl(ref) + 1e-7L * fabsl(x * u[i]);
            if (!(fabsl(a[i] - ref) <= tol) || !(fabsl(b[i] - ref) <= tol)) {
                fprintf(stderr, "gelu_tanh_mul n=%d i=%d g=%g: %g scalar %g reference %Lg\n", n, i, g[i], a[i], b[i], ref);
                fails++;
                break;
            }
        }
    }
    float sp[3] = {-INFINITY, INFINITY, NAN}, one[3] = {1, 1, 1}, sq[3];
    memcpy(sq, sp, sizeof sp);
    afm_gelu_tanh_mul(sp, one, 3);
    afm_gelu_tanh_mul_scalar(sq, one, 3);
    if (!(sp[1] == INFINITY && isnan(sp[2]) && sq[1] == INFINITY && isnan(sq[2]))) {
        fprintf(stderr, "gelu_tanh_mul specials: %g %g %g / scalar %g %g %g\n", sp[0], sp[1], sp[2], sq[0], sq[1], sq[2]);
        fails++;
    }
    return fails;
}

/* rmsnorm: the dispatched variant (double sum of squares in another order) against the scalar
 * reference and a long-double computation, on lengths around the 16-element step, within 2 ulps
 * (4.8e-7 relative: two float roundings, 1/r and the products). */
static int check_rmsnorm(void) {
    static float x[1100], g[1100], o[1100], r[1100];
    unsigned s = 5;
    int fails = 0;
    const int lens[] = {1, 3, 8, 15, 16, 17, 31, 33, 64, 100, 576, 1100};
    for (unsigned k = 0; k < sizeof lens / sizeof *lens; k++) {
        int n = lens[k];
        long double ss = 0;
        for (int i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            x[i] = (float)((s >> 8) / 8388608.0 - 1.0) * (i % 7 == 0 ? 30.f : 1.f);
            g[i] = 0.5f + (float)(i % 13) / 8.f;
            ss += (long double)x[i] * x[i];
        }
        long double inv = 1.0L / sqrtl(ss / n + 1e-5L);
        afm_rmsnorm(o, x, g, n, 1e-5f);
        afm_rmsnorm_scalar(r, x, g, n, 1e-5f);
        for (int i = 0; i < n; i++) {
            double want = (double)((long double)x[i] * inv * g[i]);
            if (!(fabs(o[i] - want) <= 4.8e-7 * fabs(want) + 1e-30) || !(fabs(r[i] - want) <= 4.8e-7 * fabs(want) + 1e-30)) {
                fprintf(stderr, "rmsnorm n=%d i=%d: %.9g scalar %.9g want %.9g\n", n, i, o[i], r[i], want);
                fails++;
                break;
            }
        }
    }
    return fails;
}

int main(void) {
    static float a[1024], b[1024], y[1024], y2[1024];
    unsigned s = 7;
    for (int i = 0; i < 1024; i++) {
        s = s * 1664525u + 1013904223u; a[i] = (float)((s >> 8) / 8388608.0 - 1.0);
        s = s * 1664525u + 1013904223u; b[i] = (float)((s >> 8) / 8388608.0 - 1.0);
    }
    int fails = 0;
    const int lens[] = {0, 1, 7, 8, 9, 15, 16, 31, 32, 33, 63, 64, 65, 70, 1000};
    for (unsigned k = 0; k < sizeof lens / sizeof *lens; k++) {
        int n = lens[k];
        double ref = 0, mag = 0;
        for (int i = 0; i < n; i++) { ref += (double)a[i] * b[i]; mag += fabs((double)a[i] * b[i]); }
        float d = afm_vec_dot_f32(a, b, n), ds = afm_vec_dot_f32_scalar(a, b, n);
        if (fabs(d - ref) > 1e-6 * mag + 1e-7 || fabs(ds - ref) > 1e-6 * mag + 1e-7) {
            fprintf(stderr, "dot n=%d: %g scalar %g ref %g\n", n, d, ds, ref);
            fails++;
        }
        for (int i = 0; i < n; i++) y[i] = y2[i] = b[i];
        afm_vec_axpy_f32(y, 0.37f, a, n);
        afm_vec_axpy_f32_scalar(y2, 0.37f, a, n);
        for (int i = 0; i < n; i++)
            if (fabsf(y[i] - y2[i]) > 1e-6f) { fprintf(stderr, "axpy n=%d i=%d\n", n, i); fails++; break; }
        afm_vec_scale_f32(y, -2.5f, n);
        for (int i = 0; i < n; i++)
            if (y[i] != -2.5f * y2[i] && fabsf(y[i] + 2.5f * y2[i]) > 1e-6f) { fprintf(stderr, "scale n=%d\n", n); fails++; break; }
    }
    fails += check_exp_ops();
    fails += check_gelu();
    fails += check_rmsnorm();
    if (fails) return 1;
    printf("test_vec: all passed\n");
    return 0;
}
