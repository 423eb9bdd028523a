/* Layer norm of the rows of an (N, H) matrix, forward and backward, as one C loop each.
 *
 * helpers/kernels.py (c_layer_norm) compiles this file on first use and calls it
 * through ctypes. It is chapter 9's CPU counterpart of the Triton kernel: each
 * row is read from memory once and worked on in cache (mean, then the squared
 * deviations: two passes over a row that is already in L1, accumulated in the
 * input's precision), so the kernel moves the minimum, x in and y out.
 *
 * Forward:  y = (x - mean) * rstd * w + b,  rstd = 1 / sqrt(var + eps), var biased.
 * Backward (chapter 1's closed form, per row, with xhat = (x - mean) * rstd and
 * g = dy * w):  dx = rstd * (g - mean(g) - xhat * mean(g * xhat));  the gain's and
 * bias's gradients are column sums, dw += dy * xhat and db += dy, added row by
 * row.
 *
 * Threads: the caller passes P, the number of threads torch uses
 * (torch.get_num_threads(), or 1 for small inputs), and the N rows are cut into
 * P blocks of consecutive rows, one per thread (OpenMP; compiled without it, the
 * pragmas are ignored and the blocks run one after the other). The backward's
 * column sums go into block p's own row of dw and db, shaped (P, H), which the
 * caller adds up: no two threads write to the same place, and the result does
 * not depend on which thread ran first.
 */
#include <math.h>
#include <stddef.h>

#define LN_FORWARD(NAME, REAL)                                                              \
void NAME(int N, int H, int P, double eps, const REAL *x,                                   \
          const REAL *w, const REAL *b, REAL *y, REAL *mean, REAL *rstd) {                  \
    _Pragma("omp parallel for num_threads(P) schedule(static)") /* P blocks of rows */      \
    for (int n = 0; n < N; n++) {                                                           \
        const REAL *xr = x + (size_t)n * H;                                                 \
        REAL *yr = y + (size_t)n * H;                                                       \
        REAL s = 0, v = 0;                                                                  \
        _Pragma("omp simd reduction(+:s)")                                                  \
        for (int j = 0; j < H; j++) s += xr[j];                                             \
        const REAL m = s / H;                                                               \
        _Pragma("omp simd reduction(+:v)")                                                  \
        for (int j = 0; j < H; j++) v += (xr[j] - m) * (xr[j] - m);                         \
        const REAL r = (REAL)(1.0 / sqrt((double)(v / H) + eps));                           \
        _Pragma("omp simd")                                                                 \
        for (int j = 0; j < H; j++) yr[j] = (xr[j] - m) * r * w[j] + b[j];                  \
        mean[n] = m;                                                                        \
        rstd[n] = r;                                                                        \
    }                                                                                       \
}

#define LN_BACKWARD(NAME, REAL)                                                             \
void NAME(int N, int H, int P, const REAL *dy, const REAL *x, const REAL *mean,            \
          const REAL *rstd, const REAL *w, REAL *dx, REAL *dw_p, REAL *db_p) {              \
    _Pragma("omp parallel for num_threads(P) schedule(static)")                             \
    for (int p = 0; p < P; p++) {                 /* block p: rows n0 .. n1 - 1 */          \
    REAL *dw = dw_p + (size_t)p * H, *db = db_p + (size_t)p * H;                            \
    const int n0 = (int)((long long)N * p / P), n1 = (int)((long long)N * (p + 1) / P);     \
    for (int n = n0; n < n1; n++) {                                                         \
        const REAL *xr = x + (size_t)n * H, *gr = dy + (size_t)n * H;                       \
        REAL *dxr = dx + (size_t)n * H;                                                     \
        const REAL m = mean[n], r = rstd[n];                                                \
        REAL s1 = 0, s2 = 0;                                                                \
        _Pragma("omp simd reduction(+:s1, s2)")                                             \
        for (int j = 0; j < H; j++) {                                                       \
            REAL xh = (xr[j] - m) * r, g = gr[j] * w[j];                                    \
            s1 += g;                                                                        \
            s2 += g * xh;                                                                   \
            dw[j] += gr[j] * xh;                                                            \
            db[j] += gr[j];                                                                 \
        }                                                                                   \
        const REAL mg = s1 / H, mgx = s2 / H;                                               \
        _Pragma("omp simd")                                                                 \
        for (int j = 0; j < H; j++)                                                         \
            dxr[j] = r * (gr[j] * w[j] - mg - (xr[j] - m) * r * mgx);                       \
    }                                                                                       \
    }                                                                                       \
}

LN_FORWARD(ln_forward_f32, float)
LN_FORWARD(ln_forward_f64, double)
LN_BACKWARD(ln_backward_f32, float)
LN_BACKWARD(ln_backward_f64, double)
