/* One time step of the layer-normalized LSTM (Ba et al. 2016, eqs. 20-22), fused.
 *
 * helpers/lstm_kernel.py compiles this file with the system's C compiler on first
 * use and calls it through ctypes; the matrix products W_hh h_{t-1} and
 * dL/da W_hh stay in torch (MKL or OpenBLAS). Everything else of one step --
 * two layer norms, four gate non-linearities, the cell update, and their
 * backward pass -- is one loop over the rows here, so each row of B is read
 * from memory once and worked on in cache, instead of one pass over memory per
 * tensor operation.
 *
 * Layout: row-major, contiguous. B rows (the batch), H hidden units, G = 4H gate
 * pre-activations in torch's order i, f, g, o. Layer norm: biased variance,
 * 1/sqrt(var + eps), two passes over the row (mean, then squared deviations).
 *
 * float32 uses its own exp (range reduction to [-ln2/2, ln2/2] and a degree-7
 * polynomial, Cephes' expf, about 1 ulp), written so the compiler can vectorize
 * it; its argument is clamped to [-87, 88], enough for sigmoid and tanh but not a
 * general expf. float64 uses the C library's exp and tanh. NaNs propagate.
 *
 * Threads: the caller passes P (torch.get_num_threads(), or fewer for a small
 * batch) and the B rows are cut into P blocks of consecutive rows, one per
 * thread (OpenMP; compiled without it, the pragmas are ignored). The backward
 * pass adds the gains' and biases' gradients of block p into its own row of
 * (P, n) buffers, which the caller sums once after the last step.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

static inline float exp_f32(float x) {
    x = x > 88.0f ? 88.0f : x;  /* comparisons keep a NaN a NaN */
    x = x < -87.0f ? -87.0f : x;
    float n = floorf(x * 1.44269504088896341f + 0.5f);  /* x = n ln2 + r */
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } scale;  /* 2^n, built in the exponent bits */
    scale.i = ((int32_t)(x == x ? n : 0.0f) + 127) << 23;
    return p * scale.f;
}

static inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

static inline float tanh_f32(float x) {
    float ax = fabsf(x);
    float e = exp_f32(-2.0f * ax);
    float big = (1.0f - e) / (1.0f + e);
    float z = x * x;  /* small |x|: odd polynomial, no cancellation in 1 - e */
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z
                    + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * ax + ax;
    return copysignf(ax < 0.625f ? small : big, x);
}

static inline double sigmoid_f64(double x) { return 1.0 / (1.0 + exp(-x)); }
static inline double tanh_f64(double x) { return tanh(x); }

/* FORWARD(t): from a = W_hh h_{t-1} and the normalized input terms u,
 *   z = LN(a; g_hh, b_hh) + u,  i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g),
 *   c = f c_prev + i g,  h = o tanh(LN(c; g_c, b_c)).
 * Writes what the backward pass needs: xhat (normalized a), act (i, f, g, o),
 * chat (normalized c), k = tanh(LN(c)), rstd (B, 2): 1/sigma of both norms. */
#define FORWARD(NAME, REAL, SIGMOID, TANH)                                                  \
void NAME(int B, int H, int P, double eps_, const REAL *a, const REAL *u, const REAL *g_hh,\
          const REAL *b_hh, const REAL *g_c, const REAL *b_c, const REAL *c_prev,           \
          REAL *xhat, REAL *act, REAL *c, REAL *chat, REAL *k, REAL *h, REAL *rstd) {       \
    const int G = 4 * H;                                                                    \
    const REAL eps = (REAL)eps_;                                                            \
    _Pragma("omp parallel for num_threads(P) schedule(static)") /* P blocks of rows */      \
    for (int b = 0; b < B; b++) {                                                           \
        const REAL *ar = a + (size_t)b * G, *ur = u + (size_t)b * G;                        \
        REAL *xr = xhat + (size_t)b * G, *zr = act + (size_t)b * G;                         \
        const REAL *cp = c_prev + (size_t)b * H;                                            \
        REAL *cr = c + (size_t)b * H, *chr = chat + (size_t)b * H;                          \
        REAL *kr = k + (size_t)b * H, *hr = h + (size_t)b * H;                              \
        REAL s = 0, v = 0;                                                                  \
        _Pragma("omp simd reduction(+:s)")                                                  \
        for (int j = 0; j < G; j++) s += ar[j];                                             \
        const REAL m1 = s / G;                                                              \
        _Pragma("omp simd reduction(+:v)")                                                  \
        for (int j = 0; j < G; j++) v += (ar[j] - m1) * (ar[j] - m1);                       \
        const REAL r1 = 1 / sqrt(v / G + eps);                                              \
        _Pragma("omp simd")                                                                 \
        for (int j = 0; j < G; j++) {                                                       \
            xr[j] = (ar[j] - m1) * r1;                                                      \
            zr[j] = xr[j] * g_hh[j] + b_hh[j] + ur[j]; /* pre-activation, for now */        \
        }                                                                                   \
        s = 0;                                                                              \
        _Pragma("omp simd reduction(+:s)")                                                  \
        for (int j = 0; j < H; j++) {                                                       \
            REAL i = SIGMOID(zr[j]), f = SIGMOID(zr[H + j]);                                \
            REAL g = TANH(zr[2 * H + j]), o = SIGMOID(zr[3 * H + j]);                       \
            zr[j] = i; zr[H + j] = f; zr[2 * H + j] = g; zr[3 * H + j] = o;                 \
            cr[j] = f * cp[j] + i * g;                                                      \
            s += cr[j];                                                                     \
        }                                                                                   \
        const REAL m2 = s / H;                                                              \
        v = 0;                                                                              \
        _Pragma("omp simd reduction(+:v)")                                                  \
        for (int j = 0; j < H; j++) v += (cr[j] - m2) * (cr[j] - m2);                       \
        const REAL r2 = 1 / sqrt(v / H + eps);                                              \
        _Pragma("omp simd")                                                                 \
        for (int j = 0; j < H; j++) {                                                       \
            chr[j] = (cr[j] - m2) * r2;                                                     \
            kr[j] = TANH(chr[j] * g_c[j] + b_c[j]);                                         \
            hr[j] = zr[3 * H + j] * kr[j];                                                  \
        }                                                                                   \
        rstd[2 * b] = r1;                                                                   \
        rstd[2 * b + 1] = r2;                                                               \
    }                                                                                       \
}

/* BACKWARD(t): given dL/dh_t (dh_out, from the output at t, plus dh_rec, from
 * step t+1 through W_hh) and dL/dc_t carried from step t+1 (dc, overwritten
 * with dL/dc_{t-1}), writes dz = dL/d(pre-activations) (= dL/du) and
 * da = dL/d(W_hh h_{t-1}), and adds this step's share to the gains' and
 * biases' gradients. Layer norm backward, per row (chapter 1's closed form):
 * dx = rstd (dy - mean(dy) - xhat mean(dy xhat)), with dy = gain * dL/d(output). */
#define BACKWARD(NAME, REAL)                                                                \
void NAME(int B, int H, int P, const REAL *dh_out, const REAL *dh_rec, REAL *dc,          \
          const REAL *act, const REAL *k, const REAL *chat, const REAL *xhat,               \
          const REAL *rstd, const REAL *c_prev, const REAL *g_hh, const REAL *g_c,          \
          REAL *dz, REAL *da, REAL *dg_hh_p, REAL *db_hh_p, REAL *dg_c_p, REAL *db_c_p) {   \
    const int G = 4 * H;                                                                    \
    _Pragma("omp parallel for num_threads(P) schedule(static)")                             \
    for (int p = 0; p < P; p++) {                 /* block p: rows b0 .. b1 - 1 */          \
    REAL *dg_hh = dg_hh_p + (size_t)p * G, *db_hh = db_hh_p + (size_t)p * G;                \
    REAL *dg_c = dg_c_p + (size_t)p * H, *db_c = db_c_p + (size_t)p * H;                    \
    const int b0 = (int)((long long)B * p / P), b1 = (int)((long long)B * (p + 1) / P);     \
    for (int b = b0; b < b1; b++) {                                                         \
        const REAL *ar = act + (size_t)b * G, *xr = xhat + (size_t)b * G;                   \
        const REAL *kr = k + (size_t)b * H, *chr = chat + (size_t)b * H;                    \
        const REAL *ho = dh_out + (size_t)b * H, *hrec = dh_rec + (size_t)b * H;            \
        const REAL *cp = c_prev + (size_t)b * H;                                            \
        REAL *dcr = dc + (size_t)b * H, *dzr = dz + (size_t)b * G, *dar = da + (size_t)b * G; \
        REAL s1 = 0, s2 = 0;                                                                \
        _Pragma("omp simd reduction(+:s1, s2)")                                             \
        for (int j = 0; j < H; j++) {                                                       \
            REAL dh = ho[j] + hrec[j], o = ar[3 * H + j], kk = kr[j];                       \
            dzr[3 * H + j] = dh * kk * o * (1 - o);                   /* dL/dz_o */         \
            REAL dcn = dh * o * (1 - kk * kk);                        /* dL/dLN(c) */       \
            dg_c[j] += dcn * chr[j];                                                        \
            db_c[j] += dcn;                                                                 \
            REAL dy = dcn * g_c[j];                                                         \
            dar[j] = dy;                                              /* scratch */         \
            s1 += dy;                                                                       \
            s2 += dy * chr[j];                                                              \
        }                                                                                   \
        REAL mean_dy = s1 / H, mean_dyx = s2 / H, r2 = rstd[2 * b + 1];                     \
        _Pragma("omp simd")                                                                 \
        for (int j = 0; j < H; j++) {                                                       \
            REAL dct = dcr[j] + r2 * (dar[j] - mean_dy - chr[j] * mean_dyx); /* dL/dc_t */  \
            REAL i = ar[j], f = ar[H + j], g = ar[2 * H + j];                               \
            dzr[j] = dct * g * i * (1 - i);                                                 \
            dzr[H + j] = dct * cp[j] * f * (1 - f);                                         \
            dzr[2 * H + j] = dct * i * (1 - g * g);                                         \
            dcr[j] = dct * f;                                         /* dL/dc_{t-1} */     \
        }                                                                                   \
        s1 = 0; s2 = 0;                                                                     \
        _Pragma("omp simd reduction(+:s1, s2)")                                             \
        for (int j = 0; j < G; j++) {                                                       \
            dg_hh[j] += dzr[j] * xr[j];                                                     \
            db_hh[j] += dzr[j];                                                             \
            REAL dy = dzr[j] * g_hh[j];                                                     \
            s1 += dy;                                                                       \
            s2 += dy * xr[j];                                                               \
        }                                                                                   \
        mean_dy = s1 / G; mean_dyx = s2 / G;                                                \
        const REAL r1 = rstd[2 * b];                                                        \
        _Pragma("omp simd")                                                                 \
        for (int j = 0; j < G; j++)                                                         \
            dar[j] = r1 * (dzr[j] * g_hh[j] - mean_dy - xr[j] * mean_dyx);                  \
    }                                                                                       \
    }                                                                                       \
}

FORWARD(lnlstm_forward_f32, float, sigmoid_f32, tanh_f32)
FORWARD(lnlstm_forward_f64, double, sigmoid_f64, tanh_f64)
BACKWARD(lnlstm_backward_f32, float)
BACKWARD(lnlstm_backward_f64, double)
