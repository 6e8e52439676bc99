/* Vector helpers: the dispatched variant against the scalar reference and a double-precision
 * sum, for lengths around the vector widths (0..70 and 1000). Tolerance: 1e-6 * sum|a b|,
 * float rounding of a reordered sum. */
#include "kernels/vec.h"
#include <math.h>
#include <stdio.h>

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
    if (fails) return 1;
    printf("test_vec: all passed\n");
    return 0;
}
