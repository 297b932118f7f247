/* kernel.h - the fused, cache-blocked gradient kernel that reads each row of X once.
 *
 * mb_kernel_grad computes the same sums as mb_model_grad (model.h) but takes X as float64 or
 * float32 storage and an optional list of row indices, so a mini-batch is gathered inside the
 * loop instead of being copied into batch order first: X is read from memory once per epoch at
 * every batch size. Accumulation is always float64.
 *
 * For k = 1 (linear, logistic) each row is used while it is in L1: z = x.w + b, r = l'(z, y),
 * g += r x, eight rows at a time (their dots, each row read from start to end so the hardware
 * prefetcher streams it; their residuals four lanes at a time with the kernel's own exp and log1p;
 * then g updated in one pass over the eight rows). The dot of a row sums element j into lane j % 4
 * of accumulator (j / 4) % 4 with fused multiply-adds (a partial last group of four padded with
 * zeros), then the accumulators lane by lane as (a0 + a1) + (a2 + a3) and the lanes as
 * (l0 + l1) + (l2 + l3); the pass
 * sets g[j] = g[j] + (p + s) with p = r0 x0[j] followed by three fused multiply-adds for rows 1-3,
 * s the same over rows 4-7 (a short block is padded with its first row and a residual of 0). The
 * AVX2 path and the portable path do exactly these operations, so their results are the same bits
 * (MBATCH_KERNEL=portable forces the portable path). For softmax (k > 1) rows are gathered (and
 * widened) 256 at a time into the workspace and handed to mb_model_grad, so its sums are those of
 * mb_model_grad over the rows in the order given.
 *
 * The result depends only on the rows' values and order: the indexed call equals the call on the
 * rows copied into that order, bit for bit. Not collective; no allocation: `work` holds at least
 * mb_kernel_work_size(d, k) doubles.
 */
#pragma once

#include <stdint.h>

#include "mbatch/model.h"

typedef enum { MB_DTYPE_F64 = 0, MB_DTYPE_F32 = 1 } mb_dtype;

/* Bytes of one stored element. */
int64_t mb_dtype_size(mb_dtype dt);

int64_t mb_kernel_work_size(int64_t d, int64_t k);

/* g[0 .. nparam) += sum over the rows of d(loss)/d(theta); returns the summed loss. X is
 * [*][d] of dt (row-major), y its labels; the rows are idx[0 .. rows) or, with idx == NULL,
 * 0 .. rows-1. Labels must pass mb_model_label_ok. */
double mb_kernel_grad(mb_model_type type, const void *X, mb_dtype dt, const double *y,
                      const int64_t *idx, int64_t rows, int64_t d, int64_t k, const double *theta,
                      double *g, double *work);

/* The loss of rows 0 .. rows-1 of X (linear or logistic, k = 1) summed as mb_kernel_grad sums it,
 * without the gradient; *metric_sum receives mb_model_eval's metric summed in row order (squared
 * errors, or the rows whose predicted class, z >= 0, is their label). One pass over the rows at
 * the kernel's speed: mb_model_eval calls it for these models. */
double mb_kernel_eval(mb_model_type type, const void *X, mb_dtype dt, const double *y, int64_t rows,
                      int64_t d, const double *theta, double *metric_sum);

/* Which loop mb_kernel_grad runs for the linear and logistic models (k == 1): MB_KERNEL_AUTO, the
 * AVX2 one where the CPU has AVX2 and FMA, else the portable one; MB_KERNEL_PORTABLE, the portable
 * one always (the two give the same bits; tests compare them on one machine). Until it is set,
 * the first call chooses, once: MBATCH_KERNEL=portable in the environment means portable. */
typedef enum { MB_KERNEL_AUTO = 0, MB_KERNEL_PORTABLE = 1 } mb_kernel_path;
void mb_kernel_set_path(mb_kernel_path path);

/* Rows idx[0 .. n) of X ([*][d] of dt) into out ([n][d] float64), and their labels y[idx[i]]
 * into yout unless y is NULL. Scattered rows are requested several rows ahead, so their misses
 * overlap instead of following one another. */
void mb_gather_rows(const void *X, mb_dtype dt, const double *y, const int64_t *idx, int64_t n,
                    int64_t d, double *out, double *yout);

/* Copy n doubles into dt storage (float32: rounded to nearest). dst may not overlap src. */
void mb_dtype_store(mb_dtype dt, const double *src, int64_t n, void *dst);

/* Every byte of p[0 .. bytes) read once, from start to end, as fast as memory delivers it: the
 * 64-bit words (native byte order) summed with wrap-around in sixteen independent sums (no
 * dependency chain holds the loads back), then any last bytes added one by one. The sum keeps the
 * reads from being optimized away, and is what tests check. The read-bandwidth floor: the job key
 * probe_bandwidth times it after each epoch; tests/bench/bw.c measures the machine with it. */
uint64_t mb_read_bytes(const void *p, int64_t bytes);
