/* One time step of the layer-normalized LSTM (Ba et al. 2016, eqs. 20-22), fused,
 * and the whole sequence of steps in one call.
 *
 * helpers/lstm_kernel.py compiles this file with the system's C compiler on first
 * use and calls it through ctypes. Everything of one step except the matrix
 * product -- two layer norms, four gate non-linearities, the cell update, and
 * their backward pass -- is one loop over the rows here (FORWARD_ROW,
 * BACKWARD_ROW), so each row of B is read from memory once and worked on in
 * cache, instead of one pass over memory per tensor operation. Two ways to run it:
 *
 *  - whole sequence (FORWARD_SEQ, BACKWARD_SEQ): one call runs all T steps,
 *    matrix products included: through the BLAS routine the caller passes
 *    (torch's MKL sgemm_, found by its address: nothing to link), else GEMM
 *    below, small and plain. Calling torch and this file once per step would
 *    cost about as much as a small step's arithmetic.
 *  - per step (FORWARD, BACKWARD): torch computes W_hh h_{t-1} and dL/da W_hh,
 *    then one call here does the rest of the step. For a large batch where
 *    there is no BLAS to call, as torch's product is faster than GEMM there.
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
 * batch). The B rows are cut into P blocks of consecutive rows, one per thread,
 * and in the whole-sequence functions the columns of each matrix product too
 * (OpenMP; compiled without it, the pragmas are ignored). The backward pass adds
 * the gains' and biases' gradients of block p into its own row of (P, n)
 * buffers, which the caller sums once after the last step.
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

/* FORWARD_ROW: one row of one step. From a = W_hh h_{t-1} and the normalized input terms u,
 *   z = LN(a; g_hh, b_hh) + u,  i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g),
 *   c = f c_prev + i g,  h = o tanh(LN(c; g_c, b_c)).
 * Writes what the backward pass needs: xhat (normalized a), act (i, f, g, o),
 * chat (normalized c), k = tanh(LN(c)), rstd (2): 1/sigma of both norms.
 * With g_ih (not NULL), u is W_ih x_t before its layer norm, and the row normalizes it
 * here with g_ih, b_ih (the forward pass without autograd, which needs no u for a
 * backward pass: one pass over memory fewer); with g_ih NULL, u is normalized already. */
#define FORWARD_ROW(NAME, REAL, SIGMOID, TANH)                                              \
static inline void NAME(int H, REAL eps, const REAL *ar, const REAL *ur, const REAL *g_ih,   \
                        const REAL *b_ih, const REAL *g_hh, const REAL *b_hh, const REAL *g_c,\
                        const REAL *b_c, const REAL *cp, REAL *xr, REAL *zr, REAL *cr,        \
                        REAL *chr, REAL *kr, REAL *hr, REAL *rs) {                            \
    const int G = 4 * H;                                                                    \
    REAL s = 0, v = 0, m0 = 0, r0 = 0;                                                      \
    if (g_ih) { /* u not normalized yet: its layer norm here, the row in cache */           \
        _Pragma("omp simd reduction(+:s)")                                                  \
        for (int j = 0; j < G; j++) s += ur[j];                                             \
        m0 = s / G;                                                                         \
        _Pragma("omp simd reduction(+:v)")                                                  \
        for (int j = 0; j < G; j++) v += (ur[j] - m0) * (ur[j] - m0);                       \
        r0 = 1 / sqrt(v / G + eps);                                                         \
        s = 0; v = 0;                                                                       \
    }                                                                                       \
    _Pragma("omp simd reduction(+:s)")                                                      \
    for (int j = 0; j < G; j++) s += ar[j];                                                 \
    const REAL m1 = s / G;                                                                  \
    _Pragma("omp simd reduction(+:v)")                                                      \
    for (int j = 0; j < G; j++) v += (ar[j] - m1) * (ar[j] - m1);                           \
    const REAL r1 = 1 / sqrt(v / G + eps);                                                  \
    if (g_ih) {                                                                             \
        _Pragma("omp simd")                                                                 \
        for (int j = 0; j < G; j++) {                                                       \
            xr[j] = (ar[j] - m1) * r1;                                                      \
            zr[j] = xr[j] * g_hh[j] + b_hh[j] + ((ur[j] - m0) * r0 * g_ih[j] + b_ih[j]);    \
        }                                                                                   \
    } else {                                                                                \
        _Pragma("omp simd")                                                                 \
        for (int j = 0; j < G; j++) {                                                       \
            xr[j] = (ar[j] - m1) * r1;                                                      \
            zr[j] = xr[j] * g_hh[j] + b_hh[j] + ur[j]; /* pre-activation, for now */        \
        }                                                                                   \
    }                                                                                       \
    s = 0;                                                                                  \
    _Pragma("omp simd reduction(+:s)")                                                      \
    for (int j = 0; j < H; j++) {                                                           \
        REAL i = SIGMOID(zr[j]), f = SIGMOID(zr[H + j]);                                    \
        REAL g = TANH(zr[2 * H + j]), o = SIGMOID(zr[3 * H + j]);                           \
        zr[j] = i; zr[H + j] = f; zr[2 * H + j] = g; zr[3 * H + j] = o;                     \
        cr[j] = f * cp[j] + i * g;                                                          \
        s += cr[j];                                                                         \
    }                                                                                       \
    const REAL m2 = s / H;                                                                  \
    v = 0;                                                                                  \
    _Pragma("omp simd reduction(+:v)")                                                      \
    for (int j = 0; j < H; j++) v += (cr[j] - m2) * (cr[j] - m2);                           \
    const REAL r2 = 1 / sqrt(v / H + eps);                                                  \
    _Pragma("omp simd")                                                                     \
    for (int j = 0; j < H; j++) {                                                           \
        chr[j] = (cr[j] - m2) * r2;                                                         \
        kr[j] = TANH(chr[j] * g_c[j] + b_c[j]);                                             \
        hr[j] = zr[3 * H + j] * kr[j];                                                      \
    }                                                                                       \
    rs[0] = r1;                                                                             \
    rs[1] = r2;                                                                             \
}

/* BACKWARD_ROW: one row of one step. Given dL/dh_t (dh_out, from the output at t, plus
 * dh_rec, from step t+1 through W_hh) and dL/dc_t carried from step t+1 (dc, overwritten
 * with dL/dc_{t-1}), writes dz = dL/d(pre-activations) (= dL/du) and
 * da = dL/d(W_hh h_{t-1}), and adds the row's share to the gains' and biases'
 * gradients. Layer norm backward (chapter 1's closed form):
 * dx = rstd (dy - mean(dy) - xhat mean(dy xhat)), with dy = gain * dL/d(output). */
#define BACKWARD_ROW(NAME, REAL)                                                            \
static inline void NAME(int H, const REAL *ho, const REAL *hrec, REAL *dcr, const REAL *ar,   \
                        const REAL *kr, const REAL *chr, const REAL *xr, const REAL *rs,      \
                        const REAL *cp, const REAL *g_hh, const REAL *g_c, REAL *dzr,         \
                        REAL *dar, REAL *dg_hh, REAL *db_hh, REAL *dg_c, REAL *db_c) {        \
    const int G = 4 * H;                                                                    \
    REAL s1 = 0, s2 = 0;                                                                    \
    _Pragma("omp simd reduction(+:s1, s2)")                                                 \
    for (int j = 0; j < H; j++) {                                                           \
        REAL dh = ho[j] + hrec[j], o = ar[3 * H + j], kk = kr[j];                           \
        dzr[3 * H + j] = dh * kk * o * (1 - o);                   /* dL/dz_o */             \
        REAL dcn = dh * o * (1 - kk * kk);                        /* dL/dLN(c) */           \
        dg_c[j] += dcn * chr[j];                                                            \
        db_c[j] += dcn;                                                                     \
        REAL dy = dcn * g_c[j];                                                             \
        dar[j] = dy;                                              /* scratch */             \
        s1 += dy;                                                                           \
        s2 += dy * chr[j];                                                                  \
    }                                                                                       \
    REAL mean_dy = s1 / H, mean_dyx = s2 / H;                                               \
    _Pragma("omp simd")                                                                     \
    for (int j = 0; j < H; j++) {                                                           \
        REAL dct = dcr[j] + rs[1] * (dar[j] - mean_dy - chr[j] * mean_dyx); /* dL/dc_t */   \
        REAL i = ar[j], f = ar[H + j], g = ar[2 * H + j];                                   \
        dzr[j] = dct * g * i * (1 - i);                                                     \
        dzr[H + j] = dct * cp[j] * f * (1 - f);                                             \
        dzr[2 * H + j] = dct * i * (1 - g * g);                                             \
        dcr[j] = dct * f;                                         /* dL/dc_{t-1} */         \
    }                                                                                       \
    s1 = 0; s2 = 0;                                                                         \
    _Pragma("omp simd reduction(+:s1, s2)")                                                 \
    for (int j = 0; j < G; j++) {                                                           \
        dg_hh[j] += dzr[j] * xr[j];                                                         \
        db_hh[j] += dzr[j];                                                                 \
        REAL dy = dzr[j] * g_hh[j];                                                         \
        s1 += dy;                                                                           \
        s2 += dy * xr[j];                                                                   \
    }                                                                                       \
    mean_dy = s1 / G; mean_dyx = s2 / G;                                                    \
    _Pragma("omp simd")                                                                     \
    for (int j = 0; j < G; j++)                                                             \
        dar[j] = rs[0] * (dzr[j] * g_hh[j] - mean_dy - xr[j] * mean_dyx);                   \
}

/* GEMM: y = x w for the columns n0 <= j < n1 of y (a thread's share), with x (M, K),
 * w (K, N), y (M, N). Tiles of R rows by 2 vectors of columns are summed in 2R vector
 * registers while k runs (GCC's and Clang's vector types, any alignment), then stored;
 * rows left over in tiles of 2 and 1, columns left over one at a time. The vector is as
 * wide as the compiler's target allows: 64 bytes (16 floats, 8 doubles) where it has
 * AVX-512, with R = 8 rows (16 of its 32 registers); else 32 bytes (AVX, or two SSE
 * registers) and R = 4.
 * Every y[i][j] is summed in the order k = 0, 1, ..., whatever the split. */
#if defined(__AVX512F__)
#define VEC_BYTES 64
#define TILE_ROWS 8
#else
#define VEC_BYTES 32
#define TILE_ROWS 4
#endif
/* GEMM_TILE: rows i0 .. i0 + RR - 1 of y at the 2 vectors of columns from j0 (RR a constant). */
#define GEMM_TILE(VEC, REAL, RR)                                                            \
    {                                                                                       \
        VEC acc[RR][2] = {{{0}}};                                                           \
        for (int k = 0; k < K; k++) {                                                       \
            const VEC *wk = (const VEC *)(w + (size_t)k * N + j0);                          \
            for (int i = 0; i < RR; i++) {                                                  \
                const REAL xik = x[(size_t)(i0 + i) * K + k];                               \
                acc[i][0] += xik * wk[0];                                                   \
                acc[i][1] += xik * wk[1];                                                   \
            }                                                                               \
        }                                                                                   \
        for (int i = 0; i < RR; i++) {                                                      \
            VEC *yi = (VEC *)(y + (size_t)(i0 + i) * N + j0);                               \
            yi[0] = acc[i][0];                                                              \
            yi[1] = acc[i][1];                                                              \
        }                                                                                   \
    }
#define GEMM(NAME, REAL)                                                                    \
typedef REAL NAME##_vec __attribute__((vector_size(VEC_BYTES), aligned(sizeof(REAL))));     \
static void NAME(int M, int N, int K, const REAL *x, const REAL *w, REAL *y, int n0, int n1) { \
    const int L = (int)(sizeof(NAME##_vec) / sizeof(REAL));                                 \
    int j0 = n0;                                                                            \
    for (; j0 + 2 * L <= n1; j0 += 2 * L) {                                                 \
        int i0 = 0;                                                                         \
        for (; i0 + TILE_ROWS <= M; i0 += TILE_ROWS) GEMM_TILE(NAME##_vec, REAL, TILE_ROWS) \
        for (; i0 + 2 <= M; i0 += 2) GEMM_TILE(NAME##_vec, REAL, 2)  /* rows left over */   \
        for (; i0 < M; i0++) GEMM_TILE(NAME##_vec, REAL, 1)                                 \
    }                                                                                       \
    for (; j0 < n1; j0++)                                                                   \
        for (int i = 0; i < M; i++) {                                                       \
            REAL s = 0;                                                                     \
            for (int k = 0; k < K; k++) s += x[(size_t)i * K + k] * w[(size_t)k * N + j0];  \
            y[(size_t)i * N + j0] = s;                                                      \
        }                                                                                   \
}

/* Thread q's share of n columns, in whole tiles of 2 vectors of floats (the last share
 * takes the rest), so that no thread is left columns one at a time. */
static inline int share(int n, int q, int P) {
    const int tile = 2 * VEC_BYTES / (int)sizeof(float);
    int tiles = (n + tile - 1) / tile, j = (int)((long long)tiles * q / P) * tile;
    return j < n ? j : n;
}

/* MATMUL: the same product y = x w, columns n0 .. n1 - 1, through a BLAS library's ?gemm_
 * when the caller passes one (blas, not NULL: the Fortran interface, every argument by
 * address, column-major; torch's own, MKL or OpenBLAS, whose address lstm_kernel.py looks
 * up), else with GEMM above. Row-major y (M, N) read column-major is y^T (N, M), so the
 * share is y^T[n0:n1, :] = w^T[n0:n1, :] x^T: an (n1 - n0) by M by K product. Called inside
 * an OpenMP team of more than one thread, MKL runs each call on the calling thread alone. */
#define MATMUL(NAME, REAL, OWN)                                                             \
typedef void (*NAME##_blas)(const char *, const char *, const int *, const int *,         \
                            const int *, const REAL *, const REAL *, const int *,          \
                            const REAL *, const int *, const REAL *, REAL *, const int *); \
static void NAME(const void *blas, int M, int N, int K, const REAL *x, const REAL *w,     \
                 REAL *y, int n0, int n1) {                                                \
    if (!blas) {                                                                            \
        OWN(M, N, K, x, w, y, n0, n1);                                                      \
        return;                                                                             \
    }                                                                                       \
    if (n1 <= n0) return;                                                                   \
    const int m = n1 - n0;                                                                  \
    const REAL one = 1, zero = 0;                                                           \
    ((NAME##_blas)blas)("N", "N", &m, &M, &K, &one, w + n0, &N, x, &K, &zero, y + n0, &N); \
}

/* FORWARD: one step for all B rows, after torch computed a = W_hh h_{t-1}. rstd is (B, 2). */
#define FORWARD(NAME, REAL, ROW)                                                            \
void NAME(int B, int H, int P, double eps, const REAL *a, const REAL *u, const REAL *g_ih,  \
          const REAL *b_ih, const REAL *g_hh, const REAL *b_hh, const REAL *g_c,            \
          const REAL *b_c, const REAL *c_prev, REAL *xhat, REAL *act, REAL *c, REAL *chat,  \
          REAL *k, REAL *h, REAL *rstd) {                                                   \
    const size_t G = 4 * (size_t)H;                                                         \
    _Pragma("omp parallel for num_threads(P) schedule(static)") /* P blocks of rows */      \
    for (int b = 0; b < B; b++)                                                             \
        ROW(H, (REAL)eps, a + b * G, u + b * G, g_ih, b_ih, g_hh, b_hh, g_c, b_c,           \
            c_prev + b * (size_t)H,                                                         \
            xhat + b * G, act + b * G, c + b * (size_t)H, chat + b * (size_t)H,              \
            k + b * (size_t)H, h + b * (size_t)H, rstd + 2 * b);                            \
}

/* BACKWARD: one step for all B rows; torch then computes dL/dh_{t-1} = da W_hh. */
#define BACKWARD(NAME, REAL, ROW)                                                           \
void NAME(int B, int H, int P, const REAL *dh_out, const REAL *dh_rec, REAL *dc,          \
          const REAL *act, const REAL *k, const REAL *chat, const REAL *xhat,               \
          const REAL *rstd, const REAL *c_prev, const REAL *g_hh, const REAL *g_c,          \
          REAL *dz, REAL *da, REAL *dg_hh_p, REAL *db_hh_p, REAL *dg_c_p, REAL *db_c_p) {   \
    const size_t G = 4 * (size_t)H;                                                         \
    _Pragma("omp parallel for num_threads(P) schedule(static)")                             \
    for (int p = 0; p < P; p++)                   /* block p: rows B p / P .. */            \
        for (int b = (int)((long long)B * p / P); b < (int)((long long)B * (p + 1) / P); b++) \
            ROW(H, dh_out + b * (size_t)H, dh_rec + b * (size_t)H, dc + b * (size_t)H,       \
                act + b * G, k + b * (size_t)H, chat + b * (size_t)H, xhat + b * G,          \
                rstd + 2 * b, c_prev + b * (size_t)H, g_hh, g_c, dz + b * G, da + b * G,     \
                dg_hh_p + p * G, db_hh_p + p * G, dg_c_p + p * (size_t)H, db_c_p + p * (size_t)H); \
}

/* FORWARD_SEQ: all T steps. w_t = W_hh^T (H, 4H); h (T + 1, B, H) holds h_0 and receives
 * h_1 .. h_T; a (B, 4H) is scratch. With keep, c (T + 1, B, H) receives every c_t and
 * xhat, act (T, B, 4H), chat, k (T, B, H), rstd (T, B, 2) every step's values for the
 * backward pass; without it, c is (2, B, H), c_{t-1} and c_t in turn (c_T ends in
 * c[T % 2]), and the others hold one step, overwritten. Per step: the threads share
 * the columns of a = h_{t-1} W_hh^T, wait for each other, share the rows, wait. */
#define FORWARD_SEQ(NAME, REAL, ROW, MATMUL)                                                \
void NAME(int T, int B, int H, int P, int keep, double eps, const void *blas,             \
          const REAL *w_t, const REAL *u, const REAL *g_ih, const REAL *b_ih, const REAL *g_hh, const REAL *b_hh,           \
          const REAL *g_c, const REAL *b_c, REAL *h, REAL *c, REAL *a, REAL *xhat,          \
          REAL *act, REAL *chat, REAL *k, REAL *rstd) {                                     \
    const size_t G = 4 * (size_t)H, BH = (size_t)B * H, BG = (size_t)B * G;                 \
    _Pragma("omp parallel num_threads(P)")                                                  \
    for (int t = 0; t < T; t++) {                                                           \
        const size_t s = keep ? t : 0, cp = keep ? t : t % 2, cn = keep ? t + 1 : (t + 1) % 2; \
        _Pragma("omp for schedule(static)")                                                 \
        for (int q = 0; q < P; q++)                                                         \
            MATMUL(blas, B, (int)G, H, h + t * BH, w_t, a, share((int)G, q, P),              \
                   share((int)G, q + 1, P));                                                \
        _Pragma("omp for schedule(static)")                                                 \
        for (int b = 0; b < B; b++)                                                         \
            ROW(H, (REAL)eps, a + b * G, u + t * BG + b * G, g_ih, b_ih, g_hh, b_hh, g_c, b_c, \
                c + cp * BH + b * H, xhat + s * BG + b * G, act + s * BG + b * G,           \
                c + cn * BH + b * H, chat + s * BH + b * H, k + s * BH + b * H,             \
                h + (t + 1) * BH + b * H, rstd + 2 * (s * B + b));                          \
    }                                                                                       \
}

/* BACKWARD_SEQ: all T steps, from t = T - 1 down to 0, with what FORWARD_SEQ kept.
 * w = W_hh (4H, H). dh (B, H) enters as zeros and leaves as dL/dh_0; dc enters as
 * dL/dc_T and leaves as dL/dc_0; dz and da (T, B, 4H) receive every step's. Per step:
 * the threads share the rows, wait, share the columns of dh = da W_hh, wait. */
#define BACKWARD_SEQ(NAME, REAL, ROW, MATMUL)                                               \
void NAME(int T, int B, int H, int P, const void *blas, const REAL *w, const REAL *dh_out,  \
          REAL *dh,                                                                         \
          REAL *dc, const REAL *act, const REAL *k, const REAL *chat, const REAL *xhat,     \
          const REAL *rstd, const REAL *c, const REAL *g_hh, const REAL *g_c, REAL *dz,     \
          REAL *da, REAL *dg_hh_p, REAL *db_hh_p, REAL *dg_c_p, REAL *db_c_p) {             \
    const size_t G = 4 * (size_t)H, BH = (size_t)B * H, BG = (size_t)B * G;                 \
    _Pragma("omp parallel num_threads(P)")                                                  \
    for (int t = T - 1; t >= 0; t--) {                                                      \
        _Pragma("omp for schedule(static)")                                                 \
        for (int p = 0; p < P; p++)                                                         \
            for (int b = (int)((long long)B * p / P); b < (int)((long long)B * (p + 1) / P); b++) \
                ROW(H, dh_out + t * BH + b * H, dh + b * H, dc + b * H, act + t * BG + b * G, \
                    k + t * BH + b * H, chat + t * BH + b * H, xhat + t * BG + b * G,       \
                    rstd + 2 * (t * B + b), c + t * BH + b * H, g_hh, g_c,                  \
                    dz + t * BG + b * G, da + t * BG + b * G, dg_hh_p + p * G,              \
                    db_hh_p + p * G, dg_c_p + p * (size_t)H, db_c_p + p * (size_t)H);       \
        _Pragma("omp for schedule(static)")                                                 \
        for (int q = 0; q < P; q++)                                                         \
            MATMUL(blas, B, H, (int)G, da + t * BG, w, dh, share(H, q, P), share(H, q + 1, P)); \
    }                                                                                       \
}

FORWARD_ROW(forward_row_f32, float, sigmoid_f32, tanh_f32)
FORWARD_ROW(forward_row_f64, double, sigmoid_f64, tanh_f64)
BACKWARD_ROW(backward_row_f32, float)
BACKWARD_ROW(backward_row_f64, double)
GEMM(gemm_f32, float)
GEMM(gemm_f64, double)
MATMUL(matmul_f32, float, gemm_f32)
MATMUL(matmul_f64, double, gemm_f64)
FORWARD(lnlstm_forward_f32, float, forward_row_f32)
FORWARD(lnlstm_forward_f64, double, forward_row_f64)
BACKWARD(lnlstm_backward_f32, float, backward_row_f32)
BACKWARD(lnlstm_backward_f64, double, backward_row_f64)
FORWARD_SEQ(lnlstm_forward_seq_f32, float, forward_row_f32, matmul_f32)
FORWARD_SEQ(lnlstm_forward_seq_f64, double, forward_row_f64, matmul_f64)
BACKWARD_SEQ(lnlstm_backward_seq_f32, float, backward_row_f32, matmul_f32)
BACKWARD_SEQ(lnlstm_backward_seq_f64, double, backward_row_f64, matmul_f64)
