/* tree.c - decision-tree kernels: bin edges, integer histograms, split search, tree storage. */
#include "mbatch/tree.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/metrics_math.h"
#include "mbatch/rng.h"

int64_t mb_tree_weight(const mb_tree_params *p, const int64_t *stat) {
    if (p->crit == MB_CRIT_GINI || p->crit == MB_CRIT_ENTROPY) {
        int64_t w = 0;
        for (int s = 0; s < p->nstat; s++) w += stat[s];
        return w;
    }
    return stat[0];
}

double mb_tree_cost(const mb_tree_params *p, const int64_t *stat) {
    int64_t w = mb_tree_weight(p, stat);
    if (w <= 0) return 0;
    double wd = (double)w, acc = 0;
    switch (p->crit) {
    case MB_CRIT_GINI:
        for (int s = 0; s < p->nstat; s++) acc += (double)stat[s] * (double)stat[s];
        return wd - acc / wd;
    case MB_CRIT_ENTROPY:
        for (int s = 0; s < p->nstat; s++)
            if (stat[s] > 0) acc -= (double)stat[s] * log2((double)stat[s] / wd);
        return acc;
    case MB_CRIT_VARIANCE: {
        double sy = (double)stat[1] / p->scale1, sy2 = (double)stat[2] / p->scale2;
        double c = sy2 - sy * sy / wd;
        return c > 0 ? c : 0;
    }
    case MB_CRIT_BOOST: {
        double g = (double)stat[1] / p->scale1, h = (double)stat[2] / p->scale2;
        return -g * g / (h + p->lambda);
    }
    }
    return 0;
}

void mb_tree_leaf_value(const mb_tree_params *p, const int64_t *stat, double *value) {
    int64_t w = mb_tree_weight(p, stat);
    switch (p->crit) {
    case MB_CRIT_GINI:
    case MB_CRIT_ENTROPY:
        for (int s = 0; s < p->nstat; s++) value[s] = w > 0 ? (double)stat[s] / (double)w : 0;
        return;
    case MB_CRIT_VARIANCE:
        value[0] = w > 0 ? (double)stat[1] / p->scale1 / (double)w : 0;
        return;
    case MB_CRIT_BOOST: {
        double g = (double)stat[1] / p->scale1, h = (double)stat[2] / p->scale2;
        value[0] = h + p->lambda > 0 ? -g / (h + p->lambda) : 0;
        return;
    }
    }
}

int mb_tree_pure(const mb_tree_params *p, const int64_t *stat) {
    if (p->crit == MB_CRIT_GINI || p->crit == MB_CRIT_ENTROPY) {
        int nonzero = 0;
        for (int s = 0; s < p->nstat; s++) nonzero += stat[s] != 0;
        return nonzero <= 1;
    }
    if (p->crit == MB_CRIT_VARIANCE) return mb_tree_cost(p, stat) <= 0;
    return 0;
}

double mb_tree_midpoint(double a, double b) {
    double t = a / 2.0 + b / 2.0;
    if (t == b || isinf(t)) t = a;
    return t;
}

int mb_tree_edges(double *v, int64_t n, int max_bins, double *edges, double *values, int *exact) {
    if (max_bins < 2) max_bins = 2;
    if (max_bins > MB_TREE_MAX_BINS) max_bins = MB_TREE_MAX_BINS;
    /* NaN has no place among cuts: sort the finite (and infinite) values only. */
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(v[i])) v[m++] = v[i] == 0 ? 0.0 : v[i]; /* -0 and +0 are one value */
    *exact = 1;
    if (m == 0) {
        values[0] = 0;
        return 1;
    }
    mb_sort_doubles(v, m);
    int64_t nd = 1;
    for (int64_t i = 1; i < m; i++)
        if (v[i] != v[i - 1]) nd++;
    if (nd <= max_bins) {
        int64_t o = 0;
        values[o++] = v[0];
        for (int64_t i = 1; i < m; i++)
            if (v[i] != v[i - 1]) {
                edges[o - 1] = mb_tree_midpoint(values[o - 1], v[i]);
                values[o++] = v[i];
            }
        return (int)nd;
    }
    /* Quantile cuts: the b-th cut falls just below the sample's (b/max_bins)-quantile, at the
     * midpoint between that value and the distinct value below it; repeated cuts collapse. */
    *exact = 0;
    int ne = 0;
    for (int b = 1; b < max_bins; b++) {
        int64_t q = (int64_t)((double)b * (double)m / (double)max_bins);
        if (q <= 0) continue;
        if (q >= m) q = m - 1;
        /* The first occurrence of v[q], and the distinct value below it. */
        int64_t lo = 0, hi = q;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (v[mid] < v[q])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == 0) continue;
        double e = mb_tree_midpoint(v[lo - 1], v[lo]);
        if (ne > 0 && e <= edges[ne - 1]) continue;
        edges[ne++] = e;
    }
    for (int b = 0; b <= ne; b++) values[b] = NAN;
    return ne + 1;
}

int mb_tree_bin_of(const double *edges, int nedges, double x) {
    if (isnan(x)) return nedges;
    /* The number of edges below x, by a branch-free search (binning is the hot loop of
     * training set-up: one call per value). */
    int lo = 0;
    for (int step = MB_TREE_MAX_BINS / 2; step > 0; step >>= 1) {
        int probe = lo + step;
        lo = probe <= nedges && edges[probe - 1] < x ? probe : lo;
    }
    return lo;
}

void mb_tree_hist(const uint8_t *bins, int64_t d, const int64_t *rows, int64_t nrows,
                  const int64_t *rowstat, int nstat, const int32_t *feats, int nfeat,
                  const int32_t *foff, int64_t *hist) {
    /* Rows of one node are scattered over the shard: fetch a few rows ahead, or every row is a
     * cache miss (the loop is memory-latency bound, not arithmetic bound). */
    enum { AHEAD = 12 };
    if (nstat == 2) {
        /* The common binary case, unrolled. */
        for (int64_t r = 0; r < nrows; r++) {
            if (r + AHEAD < nrows) {
                __builtin_prefetch(bins + rows[r + AHEAD] * d);
                __builtin_prefetch(rowstat + 2 * rows[r + AHEAD]);
            }
            int64_t i = rows[r];
            const uint8_t *b = bins + i * d;
            int64_t s0 = rowstat[2 * i], s1 = rowstat[2 * i + 1];
            for (int fi = 0; fi < nfeat; fi++) {
                int64_t *h = hist + ((int64_t)foff[fi] + b[feats[fi]]) * 2;
                h[0] += s0;
                h[1] += s1;
            }
        }
        return;
    }
    for (int64_t r = 0; r < nrows; r++) {
        if (r + AHEAD < nrows) {
            __builtin_prefetch(bins + rows[r + AHEAD] * d);
            __builtin_prefetch(rowstat + nstat * rows[r + AHEAD]);
        }
        int64_t i = rows[r];
        const uint8_t *b = bins + i * d;
        const int64_t *st = rowstat + i * nstat;
        for (int fi = 0; fi < nfeat; fi++) {
            int64_t *h = hist + ((int64_t)foff[fi] + b[feats[fi]]) * nstat;
            for (int s = 0; s < nstat; s++) h[s] += st[s];
        }
    }
}

static int child_ok(const mb_tree_params *p, const int64_t *stat) {
    if ((double)mb_tree_weight(p, stat) < p->min_samples_leaf) return 0;
    if (mb_tree_weight(p, stat) <= 0) return 0;
    if (p->crit == MB_CRIT_BOOST && (double)stat[2] / p->scale2 < p->min_hessian) return 0;
    return 1;
}

int mb_tree_best_split(const mb_tree_params *p, const int64_t *hist, const int32_t *feats,
                       int nfeat, const int32_t *foff, const int64_t *total, int64_t *scratch,
                       int64_t *left, mb_tree_split *out) {
    int ns = p->nstat, found = 0, best_fi = 0;
    double parent = mb_tree_cost(p, total), best = INFINITY;
    int64_t right[16], *r = ns <= 16 ? right : scratch + ns;
    for (int fi = 0; fi < nfeat; fi++) {
        int nb = foff[fi + 1] - foff[fi];
        const int64_t *h = hist + (int64_t)foff[fi] * ns;
        memset(scratch, 0, sizeof(int64_t) * (size_t)ns);
        for (int b = 0; b + 1 < nb; b++) {
            int empty = 1;
            for (int s = 0; s < ns; s++) {
                scratch[s] += h[b * ns + s];
                empty &= h[b * ns + s] == 0;
            }
            /* A bin without rows gives the same partition as the bin before it. */
            if (empty) continue;
            for (int s = 0; s < ns; s++) r[s] = total[s] - scratch[s];
            if (!child_ok(p, scratch) || !child_ok(p, r)) continue;
            double cost = mb_tree_cost(p, scratch) + mb_tree_cost(p, r);
            if (cost < best) {
                best = cost;
                found = 1;
                best_fi = fi;
                out->feature = feats[fi];
                out->bin = b;
                memcpy(left, scratch, sizeof(int64_t) * (size_t)ns);
            }
        }
    }
    if (!found) return 0;
    /* The first bin to the right of the cut that holds rows of this node. */
    const int64_t *h = hist + (int64_t)foff[best_fi] * ns;
    int nb = foff[best_fi + 1] - foff[best_fi], br = out->bin + 1;
    for (; br < nb - 1; br++) {
        int any = 0;
        for (int s = 0; s < ns; s++) any |= h[br * ns + s] != 0;
        if (any) break;
    }
    out->bin_right = br;
    out->improvement = parent - best;
    return 1;
}

void mb_tree_pick_features(uint64_t seed, int64_t tree, int64_t node, int d, int nsel,
                           int32_t *out) {
    if (nsel >= d) {
        for (int j = 0; j < d; j++) out[j] = j;
        return;
    }
    /* A partial Fisher-Yates shuffle: the first nsel slots are the draw. */
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)d);
    if (!perm) {
        for (int j = 0; j < nsel; j++) out[j] = j;
        return;
    }
    for (int j = 0; j < d; j++) perm[j] = j;
    for (int j = 0; j < nsel; j++) {
        uint64_t u =
            mb_rng_u64(seed, MB_RNG_TREE_FEAT, (uint64_t)tree << 32 ^ (uint64_t)node, (uint64_t)j);
        int pick = j + (int)(u % (uint64_t)(d - j));
        int32_t t = perm[j];
        perm[j] = perm[pick];
        perm[pick] = t;
    }
    /* Ascending order: ties between features go to the lowest index, as in a full scan. */
    for (int j = 0; j < nsel; j++) {
        int32_t v = perm[j];
        int k = j;
        while (k > 0 && out[k - 1] > v) {
            out[k] = out[k - 1];
            k--;
        }
        out[k] = v;
    }
    free(perm);
}

int64_t mb_tree_poisson1(uint64_t seed, int64_t tree, int64_t i) {
    double u = mb_rng_uniform(seed, MB_RNG_TREE_BOOT, (uint64_t)tree, (uint64_t)i);
    /* Inverse CDF of Poisson(1): P(k) = e^-1 / k!. */
    double p = exp(-1.0), cdf = p;
    int64_t k = 0;
    while (u >= cdf && k < 30) {
        k++;
        p /= (double)k;
        cdf += p;
    }
    return k;
}

int mb_tree_reserve(mb_tree *t, int64_t cap) {
    if (cap <= t->cap) return 0;
    int64_t kv = t->kv > 0 ? t->kv : 1;
#define GROW(field, type, per)                                                                     \
    do {                                                                                           \
        type *p_ = realloc(t->field, sizeof(type) * (size_t)(cap * (per)));                        \
        if (!p_) return -1;                                                                        \
        t->field = p_;                                                                             \
    } while (0)
    GROW(feature, int32_t, 1);
    GROW(bin, int32_t, 1);
    GROW(threshold, double, 1);
    GROW(left, int64_t, 1);
    GROW(right, int64_t, 1);
    GROW(value, double, kv);
    GROW(impurity, double, 1);
    GROW(weight, double, 1);
#undef GROW
    t->cap = cap;
    return 0;
}

void mb_tree_free(mb_tree *t) {
    if (!t) return;
    free(t->feature);
    free(t->bin);
    free(t->threshold);
    free(t->left);
    free(t->right);
    free(t->value);
    free(t->impurity);
    free(t->weight);
    memset(t, 0, sizeof *t);
}

int64_t mb_tree_apply(const mb_tree *t, const double *x) {
    int64_t i = 0;
    while (t->feature[i] >= 0) i = x[t->feature[i]] <= t->threshold[i] ? t->left[i] : t->right[i];
    return i;
}

int mb_tree_depth(const mb_tree *t) {
    /* Children come after their parents, so one forward pass fills every node's depth. */
    int *depth = calloc((size_t)(t->n > 0 ? t->n : 1), sizeof *depth), best = 0;
    if (!depth) return -1;
    for (int64_t i = 0; i < t->n; i++) {
        if (depth[i] > best) best = depth[i];
        if (t->feature[i] >= 0) depth[t->left[i]] = depth[t->right[i]] = depth[i] + 1;
    }
    free(depth);
    return best;
}

void mb_tree_importances(const mb_tree *t, int64_t d, double *imp) {
    for (int64_t i = 0; i < t->n; i++) {
        int32_t f = t->feature[i];
        if (f < 0 || f >= d) continue;
        int64_t l = t->left[i], r = t->right[i];
        imp[f] += t->impurity[i] * t->weight[i] - t->impurity[l] * t->weight[l] -
                  t->impurity[r] * t->weight[r];
    }
}

int mb_tree_check(const mb_tree *t, int64_t d) {
    if (t->n < 1) return -1;
    for (int64_t i = 0; i < t->n; i++) {
        if (t->feature[i] < 0) continue;
        if (t->feature[i] >= d) return -1;
        if (t->left[i] <= i || t->left[i] >= t->n || t->right[i] <= i || t->right[i] >= t->n)
            return -1;
    }
    return 0;
}

int mb_forest_init(mb_forest *f, int64_t d, int64_t cap) {
    f->d = d;
    f->nbins = calloc((size_t)d + 1, sizeof *f->nbins);
    f->exact = calloc((size_t)d + 1, sizeof *f->exact);
    f->edges = calloc((size_t)(d * (MB_TREE_MAX_BINS - 1)) + 1, sizeof *f->edges);
    f->values = calloc((size_t)(d * MB_TREE_MAX_BINS) + 1, sizeof *f->values);
    f->trees = calloc((size_t)(cap > 0 ? cap : 1), sizeof *f->trees);
    f->cap = cap > 0 ? cap : 1;
    f->best_val = INFINITY;
    if (!f->nbins || !f->exact || !f->edges || !f->values || !f->trees) return -1;
    return 0;
}

mb_tree *mb_forest_add(mb_forest *f) {
    if (f->ntrees == f->cap) {
        mb_tree *t = realloc(f->trees, sizeof *t * (size_t)(f->cap * 2));
        if (!t) return NULL;
        memset(t + f->cap, 0, sizeof *t * (size_t)f->cap);
        f->trees = t;
        f->cap *= 2;
    }
    mb_tree *t = &f->trees[f->ntrees++];
    memset(t, 0, sizeof *t);
    t->kv = f->kv;
    return t;
}

void mb_forest_free(mb_forest *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->ntrees; i++) mb_tree_free(&f->trees[i]);
    free(f->trees);
    free(f->nbins);
    free(f->exact);
    free(f->edges);
    free(f->values);
    memset(f, 0, sizeof *f);
}

int64_t mb_forest_kout(const mb_forest *f) {
    return f->classify && f->k > 2 ? f->k : 1;
}

void mb_forest_raw(const mb_forest *f, int64_t ntrees, const double *X, int64_t rows, double *raw) {
    int64_t pr = f->per_round;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t c = 0; c < pr; c++) raw[i * pr + c] = f->base[c];
    for (int64_t t = 0; t < ntrees; t++) {
        const mb_tree *tr = &f->trees[t];
        int64_t c = t % pr;
        for (int64_t i = 0; i < rows; i++)
            raw[i * pr + c] += tr->value[mb_tree_apply(tr, X + i * f->d)];
    }
}

void mb_forest_link(const mb_forest *f, const double *raw, double *out) {
    if (!f->classify) {
        out[0] = raw[0];
    } else if (f->k <= 2) {
        out[0] = 1.0 / (1.0 + exp(-raw[0]));
    } else {
        double mx = raw[0], s = 0;
        for (int64_t c = 1; c < f->k; c++)
            if (raw[c] > mx) mx = raw[c];
        for (int64_t c = 0; c < f->k; c++) s += (out[c] = exp(raw[c] - mx));
        for (int64_t c = 0; c < f->k; c++) out[c] /= s;
    }
}

void mb_forest_predict(const mb_forest *f, const double *X, int64_t rows, double *out,
                       double *work) {
    int64_t kout = mb_forest_kout(f);
    if (f->kind == MB_FOREST_BOOSTED) {
        mb_forest_raw(f, f->ntrees, X, rows, work);
        for (int64_t i = 0; i < rows; i++)
            mb_forest_link(f, work + i * f->per_round, out + i * kout);
        return;
    }
    /* Trees and forests: the mean of the leaves' values (class probabilities or means). */
    memset(out, 0, sizeof(double) * (size_t)(rows * kout));
    for (int64_t t = 0; t < f->ntrees; t++) {
        const mb_tree *tr = &f->trees[t];
        for (int64_t i = 0; i < rows; i++) {
            const double *v = tr->value + mb_tree_apply(tr, X + i * f->d) * tr->kv;
            if (kout == 1)
                out[i] += f->classify ? v[1] : v[0];
            else
                for (int64_t c = 0; c < kout; c++) out[i * kout + c] += v[c];
        }
    }
    double inv = f->ntrees > 0 ? 1.0 / (double)f->ntrees : 0;
    for (int64_t i = 0; i < rows * kout; i++) out[i] *= inv;
}
