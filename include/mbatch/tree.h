/* tree.h - the decision-tree engine's pure kernels: binning, histograms, split search, trees.
 *
 * Trees are grown level by level over binned features (at most MB_TREE_MAX_BINS bins per
 * feature, one uint8_t per value, rows stored row-major [m][d]). Every row carries nstat int64
 * statistics: class counts times the row's weight (classification), or fixed-point sums
 * (regression: weight, y, y^2; boosting: weight, gradient, hessian). Because histograms are sums
 * of integers, adding them in any order (any rank count, any allreduce tree) gives the same bits,
 * and a parent's histogram minus one child's is exactly the other child's.
 *
 * A split sends a row left when bin <= split bin, which for raw values is x <= threshold.
 * Example, one level of one node:
 *     mb_tree_hist(bins, d, rows, nrows, rowstat, nstat, feats, nfeat, foff, hist);
 *     (allreduce hist across ranks)
 *     mb_tree_best_split(&params, hist, feats, nfeat, foff, total, scratch, left, &split);
 * Not collective; nothing here allocates except mb_tree_reserve.
 */
#pragma once

#include <stdint.h>

#define MB_TREE_MAX_BINS 256

/* RNG purposes of the tree engine (a range of their own, clear of rng.h's enum). */
enum { MB_RNG_TREE_BOOT = 101, MB_RNG_TREE_FEAT = 102, MB_RNG_TREE_BINS = 103 };

typedef enum {
    MB_CRIT_GINI = 0,     /* classification: stats are class weights [k] */
    MB_CRIT_ENTROPY = 1,  /* classification, log base 2 */
    MB_CRIT_VARIANCE = 2, /* regression: stats [weight, sum y * sy, sum y^2 * sy2] */
    MB_CRIT_BOOST = 3     /* boosting: stats [weight, sum g * sg, sum h * sh] */
} mb_tree_crit;

/* How statistics are turned into costs and values. */
typedef struct mb_tree_params {
    mb_tree_crit crit;
    int nstat;               /* stats per row: k for classification, 3 otherwise */
    double scale1, scale2;   /* fixed-point scales of stats 1 and 2 (regression, boosting) */
    double min_samples_leaf; /* minimum weight in each child */
    double lambda;           /* boosting: L2 on leaf values */
    double min_hessian;      /* boosting: minimum hessian sum in each child */
} mb_tree_params;

/* Weight (sample count times bootstrap weight) of a statistics vector. */
int64_t mb_tree_weight(const mb_tree_params *p, const int64_t *stat);
/* Weighted impurity ("cost"): gini w - sum c^2/w; entropy -sum c log2(c/w); variance
 * sum y^2 - (sum y)^2/w; boosting -G^2/(H + lambda). A split's improvement is
 * cost(parent) - cost(left) - cost(right). 0 for an empty node. */
double mb_tree_cost(const mb_tree_params *p, const int64_t *stat);
/* A leaf's value(s): class probabilities [k]; the mean; or the Newton step -G/(H + lambda). */
void mb_tree_leaf_value(const mb_tree_params *p, const int64_t *stat, double *value);
/* 1 if the statistics are pure (classification: one class; others: cost <= 0). */
int mb_tree_pure(const mb_tree_params *p, const int64_t *stat);

/* Bin edges of one feature from a sample v[0..n) (sorted in place). With at most max_bins
 * distinct values every value is its own bin (*exact = 1, values[] the distinct values), edges
 * are the midpoints a/2 + b/2 (as scikit-learn's trees); otherwise cuts at the max_bins
 * quantiles, at midpoints between neighbouring distinct values (*exact = 0, values[] NaN).
 * edges gets nbins - 1 entries, values nbins; returns nbins (>= 1). */
int mb_tree_edges(double *v, int64_t n, int max_bins, double *edges, double *values, int *exact);
/* The bin of x: the first b with x <= edges[b], nedges if none (NaN: the last bin). */
int mb_tree_bin_of(const double *edges, int nedges, double x);
/* A threshold between two values as scikit-learn places it: a/2 + b/2, or a if that rounds up
 * to b. */
double mb_tree_midpoint(double a, double b);

/* hist[(foff[fi] + bin) * nstat + s] += rowstat[row * nstat + s] for every row of rows[] and
 * every feature feats[fi] (bin = bins[row * d + feats[fi]]); foff[fi] is where feature fi's
 * bins start (foff[fi + 1] = foff[fi] + its bin count, so a histogram holds foff[nfeat] bins). */
void mb_tree_hist(const uint8_t *bins, int64_t d, const int64_t *rows, int64_t nrows,
                  const int64_t *rowstat, int nstat, const int32_t *feats, int nfeat,
                  const int32_t *foff, int64_t *hist);

typedef struct mb_tree_split {
    int32_t feature;   /* feature index (not the position in feats) */
    int32_t bin;       /* rows with bin <= this go left */
    int32_t bin_right; /* first bin > bin holding rows of this node */
    double improvement;
} mb_tree_split;

/* The best split of a node whose histogram over feats[0..nfeat) is hist and whose statistics
 * are total (nstat): the lowest child cost, ties to the first feature in feats order and the
 * lowest bin; both children must hold min_samples_leaf weight (and, boosting, min_hessian).
 * scratch holds 2 * nstat; left gets the best left child's stats. Returns 1 if any split is valid.
 */
int mb_tree_best_split(const mb_tree_params *p, const int64_t *hist, const int32_t *feats,
                       int nfeat, const int32_t *foff, const int64_t *total, int64_t *scratch,
                       int64_t *left, mb_tree_split *out);

/* Choose nsel of d features for (tree, node), keyed on the seed; out sorted ascending. */
void mb_tree_pick_features(uint64_t seed, int64_t tree, int64_t node, int d, int nsel,
                           int32_t *out);
/* Poisson(1) bootstrap weight of global sample i in tree t. */
int64_t mb_tree_poisson1(uint64_t seed, int64_t tree, int64_t i);

/* One tree: nodes in creation order, node 0 the root; leaves have feature -1. */
typedef struct mb_tree {
    int64_t n, cap;
    int64_t kv;        /* values per node */
    int32_t *feature;  /* [n], -1 for a leaf */
    int32_t *bin;      /* [n] split bin (training), -1 for a leaf */
    double *threshold; /* [n] x <= threshold goes left */
    int64_t *left, *right;
    double *value;    /* [n][kv] */
    double *impurity; /* [n] cost / weight */
    double *weight;   /* [n] weighted sample count */
} mb_tree;

/* Make room for cap nodes; returns 0, or -1 out of memory (the tree is unchanged). */
int mb_tree_reserve(mb_tree *t, int64_t cap);
void mb_tree_free(mb_tree *t); /* NULL-safe; leaves *t zeroed */
/* The leaf x (raw features, d values) falls in. */
int64_t mb_tree_apply(const mb_tree *t, const double *x);
/* Depth of the deepest leaf (a lone root has depth 0). */
int mb_tree_depth(const mb_tree *t);
/* imp[f] += improvement of every split on feature f (weighted impurity decrease). */
void mb_tree_importances(const mb_tree *t, int64_t d, double *imp);
/* 0 if the tree is well formed for d features (children in range, after their parent). */
int mb_tree_check(const mb_tree *t, int64_t d);

/* What kind of ensemble a forest is (also its model_type code in files, clear of model.h's). */
typedef enum {
    MB_FOREST_TREE = 100,   /* decision_tree: one tree */
    MB_FOREST_RANDOM = 101, /* random_forest: the mean of the trees' values */
    MB_FOREST_BOOSTED = 102 /* gradient_boosting: base + the sum of the trees' values */
} mb_forest_kind;

/* A tree model: the trees, the bins they were grown on and the boosting baseline. */
typedef struct mb_forest {
    mb_forest_kind kind;
    int classify;      /* 1: classification (k classes), 0: regression */
    int64_t d, k;      /* features; classes (1 for regression) */
    int64_t kv;        /* values per node: k for classifying trees and forests, else 1 */
    int64_t per_round; /* boosting: trees per round (k for k > 2 classes, else 1) */
    double learning_rate;
    double base[MB_TREE_MAX_BINS]; /* boosting: raw score before any tree, per_round values */
    int64_t ntrees, cap;
    mb_tree *trees;
    int32_t *nbins; /* [d] */
    int32_t *exact; /* [d] 1: every distinct sampled value is a bin */
    double *edges;  /* [d][MB_TREE_MAX_BINS - 1] */
    double *values; /* [d][MB_TREE_MAX_BINS] distinct values of exact features */
    /* boosting progress: the best validation loss so far and the rounds since */
    double best_val;
    int64_t best_round, stopped;
} mb_forest;

/* Allocate the bin tables for d features and room for cap trees; 0 or -1 out of memory. */
int mb_forest_init(mb_forest *f, int64_t d, int64_t cap);
/* Append an (empty) tree with kv values per node; NULL out of memory. */
mb_tree *mb_forest_add(mb_forest *f);
void mb_forest_free(mb_forest *f); /* NULL-safe; leaves *f zeroed */
/* Outputs per row: k class probabilities when classifying k > 2 classes, else 1 (P(y = 1),
 * or the value). */
int64_t mb_forest_kout(const mb_forest *f);
/* Boosting's raw scores (per_round per row) of the first ntrees trees; raw[rows][per_round]. */
void mb_forest_raw(const mb_forest *f, int64_t ntrees, const double *X, int64_t rows, double *raw);
/* out[rows][kout]: probabilities or values of the whole forest. work: rows * per_round. */
void mb_forest_predict(const mb_forest *f, const double *X, int64_t rows, double *out,
                       double *work);
/* Turn boosting raw scores (per_round) into kout outputs. */
void mb_forest_link(const mb_forest *f, const double *raw, double *out);
