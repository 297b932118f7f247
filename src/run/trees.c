/* trees.c - tree models trained distributed: global bins, one histogram allreduce per level. */
#include "trees.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "mbatch/checkpoint.h"
#include "mbatch/dataset.h"
#include "mbatch/metrics.h"
#include "mbatch/partition.h"
#include "mbatch/place.h"
#include "mbatch/preprocess.h"
#include "mbatch/rng.h"
#include "mbatch/tree.h"
#include "mbatch/trees_io.h"
#include "shared.h"
#include "state.h"

/* Rows sampled (deterministically, by global training index) to place the bin edges. */
#define BIN_SAMPLE 200000
/* Histogram int64s per allreduce (64 MiB): open nodes beyond it go in further rounds. */
#define HIST_CHUNK (8 << 20)

int mb__is_tree_model(const char *name) {
    return name && (strcmp(name, "decision_tree") == 0 || strcmp(name, "random_forest") == 0 ||
                    strcmp(name, "gradient_boosting") == 0);
}

static mb_forest_kind kind_of(const char *name) {
    if (strcmp(name, "random_forest") == 0) return MB_FOREST_RANDOM;
    if (strcmp(name, "gradient_boosting") == 0) return MB_FOREST_BOOSTED;
    return MB_FOREST_TREE;
}

/* ---- exact sums ------------------------------------------------------------------------- */

/* A power of two s such that rounding values of magnitude <= maxabs to multiples of 1/s and
 * adding n of them cannot overflow an int64. */
static double fixed_scale(double maxabs, int64_t n) {
    if (!(maxabs > 0) || !isfinite(maxabs)) return ldexp(1.0, 40);
    int e = (int)floor(61.0 - log2(maxabs) - log2((double)(n > 0 ? n : 1)));
    if (e > 600) e = 600;
    return ldexp(1.0, e);
}

/* The sum over all ranks of v[0..n) (n_global values in all), the same bits at any rank count:
 * every value is rounded to a fixed-point grid set by the global maximum, then added as int64.
 * Collective. */
static double exact_sum(const mb_comm *c, const double *v, int64_t n, int64_t n_global) {
    double mx = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(v[i]) > mx) mx = fabs(v[i]);
    mb_allreduce_max_double(c, &mx, 1);
    double s = fixed_scale(mx, n_global);
    int64_t acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (int64_t)llround(v[i] * s);
    mb_allreduce_sum_i64(c, &acc, 1);
    return (double)acc / s;
}

/* ---- the training context --------------------------------------------------------------- */

typedef struct tctx {
    const mb_comm *c;
    const mb_job *job;
    mb__state *s;
    mb_forest f;
    mb_tree_params p;
    int64_t d, m;        /* features, local training rows */
    int max_depth, nsel; /* depth limit (0: none), features per node */
    uint8_t *bins;       /* [m][d] */
    int *nbins;          /* [d] */
    int64_t *rowstat;    /* [m][nstat] */
    int32_t *node_of;    /* [m] */
    int64_t *act, *grp;  /* active rows, rows grouped by open node */
    int64_t *nstats;     /* [cap][nstat] per node statistics */
    int64_t *parent;     /* [cap] parent node, -1 for the root */
    int64_t nstats_cap;
    double comm_s, compute_s;
} tctx;

static mb_err grow_stats(tctx *t, int64_t need) {
    if (need <= t->nstats_cap) return MB_OK;
    int64_t cap = t->nstats_cap ? t->nstats_cap * 2 : 256;
    while (cap < need) cap *= 2;
    int64_t *p = realloc(t->nstats, sizeof(int64_t) * (size_t)(cap * t->p.nstat));
    if (!p) return mb_error_set(MB_EENV, "out of memory for %lld tree nodes", (long long)cap);
    t->nstats = p;
    int64_t *q = realloc(t->parent, sizeof(int64_t) * (size_t)cap);
    if (!q) return mb_error_set(MB_EENV, "out of memory for %lld tree nodes", (long long)cap);
    t->parent = q;
    t->nstats_cap = cap;
    return MB_OK;
}

/* Append a node with statistics st; its value and impurity follow from them. */
static int64_t new_node(tctx *t, mb_tree *tr, const int64_t *st, mb_err *err) {
    if (mb_tree_reserve(tr, tr->n + 1 > tr->cap ? tr->cap * 2 + 16 : tr->cap) != 0 ||
        (*err = grow_stats(t, tr->n + 1)) != MB_OK) {
        if (!*err) *err = mb_error_set(MB_EENV, "out of memory growing a tree");
        return -1;
    }
    int64_t i = tr->n++;
    int ns = t->p.nstat;
    memcpy(t->nstats + i * ns, st, sizeof(int64_t) * (size_t)ns);
    tr->feature[i] = -1;
    tr->bin[i] = -1;
    tr->threshold[i] = 0;
    tr->left[i] = tr->right[i] = -1;
    double w = (double)mb_tree_weight(&t->p, st);
    tr->weight[i] = w;
    tr->impurity[i] = w > 0 ? mb_tree_cost(&t->p, st) / w : 0;
    mb_tree_leaf_value(&t->p, st, tr->value + i * tr->kv);
    return i;
}

/* Split candidate v if its histogram h (features feats, offsets foff) allows a good split:
 * two new nodes, and v's feature, bin and threshold. Returns 1 if split, 0 if not, -1 on
 * error (*err set). */
static int split_node(tctx *t, mb_tree *tr, int64_t v, const int64_t *h, const int32_t *feats,
                      const int32_t *foff, double wroot, int64_t *tot, int64_t *scr, int64_t *lft,
                      mb_err *err) {
    int ns = t->p.nstat;
    mb_tree_split sp;
    memcpy(tot, t->nstats + v * ns, sizeof(int64_t) * (size_t)ns);
    if (!mb_tree_best_split(&t->p, h, feats, t->nsel, foff, tot, scr, lft, &sp)) return 0;
    /* As scikit-learn: a split must decrease the impurity, weighted by the node's share of all
     * samples, by min_impurity_decrease; boosting also needs a positive gain. */
    double dec = sp.improvement / wroot, mid = t->job->model.min_impurity_decrease;
    if (t->p.crit == MB_CRIT_BOOST ? !(sp.improvement > 0) || (mid > 0 && dec < mid)
                                   : dec + 2.220446049250313e-16 < mid)
        return 0;
    int64_t rgt[16], *rs = ns <= 16 ? rgt : scr + ns;
    for (int s = 0; s < ns; s++) rs[s] = tot[s] - lft[s];
    int64_t l = new_node(t, tr, lft, err);
    if (l < 0) return -1;
    int64_t r = new_node(t, tr, rs, err);
    if (r < 0) return -1;
    t->parent[l] = t->parent[r] = v;
    int f = sp.feature;
    const double *vals = t->f.values + (int64_t)f * MB_TREE_MAX_BINS;
    tr->feature[v] = f;
    tr->bin[v] = sp.bin;
    /* Every value its own bin: halfway between the values on either side present in this
     * node, as scikit-learn's exact trees; otherwise the bin's upper edge. */
    tr->threshold[v] = t->f.exact[f] ? mb_tree_midpoint(vals[sp.bin], vals[sp.bin_right])
                                     : t->f.edges[(int64_t)f * (MB_TREE_MAX_BINS - 1) + sp.bin];
    tr->left[v] = l;
    tr->right[v] = r;
    return 1;
}

/* Rows of the active list whose node maps to a group (gid >= 0), grouped: t->grp[cnt[g] ..
 * cnt[g + 1]). gid is indexed by node - lvl_lo. */
static mb_err group_rows(tctx *t, int64_t nact, const int64_t *gid, int64_t lvl_lo, int64_t ng,
                         int64_t *cnt) {
    memset(cnt, 0, sizeof(int64_t) * (size_t)(ng + 1));
    for (int64_t r = 0; r < nact; r++) {
        int64_t g = gid[t->node_of[t->act[r]] - lvl_lo];
        if (g >= 0) cnt[g + 1]++;
    }
    for (int64_t g = 0; g < ng; g++) cnt[g + 1] += cnt[g];
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)(ng + 1));
    if (!pos) return mb_error_set(MB_EENV, "out of memory growing a tree");
    memcpy(pos, cnt, sizeof(int64_t) * (size_t)(ng + 1));
    for (int64_t r = 0; r < nact; r++) {
        int64_t i = t->act[r], g = gid[t->node_of[i] - lvl_lo];
        if (g >= 0) t->grp[pos[g]++] = i;
    }
    free(pos);
    return MB_OK;
}

/* Histogram entries kept across a level for the subtraction trick (256 MiB). */
#define KEEP_CAP (32 << 20)

/* Grow tree number `tree_id` over the rows with nonzero weight; rows end in node_of at their
 * leaf (rows of weight 0 at -1). Level by level: histograms of the open nodes over this rank's
 * rows, one allreduce (per HIST_CHUNK), the same best split on every rank, then each rank
 * partitions its rows. When every node sees every feature, only the smaller child of each split
 * is built and the larger is its parent's histogram minus it (exact in integers). Collective. */
static mb_err grow_tree(tctx *t, mb_tree *tr, int64_t tree_id) {
    mb_err err = MB_OK;
    const mb_comm *c = t->c;
    int ns = t->p.nstat, all_feats = t->nsel == t->d;
    int64_t nact = 0, total[16], *tot = ns <= 16 ? total : NULL;
    int64_t *hist = NULL, *prev = NULL, *scr = NULL, *lft = NULL, *gid = NULL, *cnt = NULL;
    int64_t *cand = NULL, *soff = NULL, *direct = NULL, *hoff = NULL, *prev_off = NULL;
    int32_t *feats = NULL, *foff = NULL;
    int64_t prev_lo = 0, prev_n = 0; /* prev holds the hists of nodes [prev_lo, prev_lo+prev_n) */
    if (!tot) tot = calloc((size_t)ns, sizeof *tot);
    scr = calloc((size_t)ns * 2, sizeof *scr);
    lft = calloc((size_t)ns, sizeof *lft);
    if (!tot || !scr || !lft) {
        err = mb_error_set(MB_EENV, "out of memory growing a tree");
        goto out;
    }
    memset(tot, 0, sizeof(int64_t) * (size_t)ns);
    for (int64_t i = 0; i < t->m; i++) {
        const int64_t *st = t->rowstat + i * ns;
        if (mb_tree_weight(&t->p, st) <= 0) {
            t->node_of[i] = -1;
            continue;
        }
        t->node_of[i] = 0;
        t->act[nact++] = i;
        for (int s = 0; s < ns; s++) tot[s] += st[s];
    }
    double t0 = mb_wtime();
    mb_allreduce_sum_i64(c, tot, ns);
    t->comm_s += mb_wtime() - t0;
    tr->n = 0;
    if (new_node(t, tr, tot, &err) < 0) goto out;
    t->parent[0] = -1;
    double wroot = tr->weight[0];

    int64_t lvl_lo = 0, lvl_hi = 1; /* nodes of the current level: [lvl_lo, lvl_hi) */
    for (int depth = 0; lvl_lo < lvl_hi; depth++) {
        int64_t nl = lvl_hi - lvl_lo, nc = 0, nd = 0;
        free(cand);
        free(gid);
        free(cnt);
        free(direct);
        cand = malloc(sizeof(int64_t) * (size_t)nl);
        gid = malloc(sizeof(int64_t) * (size_t)nl);
        cnt = malloc(sizeof(int64_t) * (size_t)(nl + 1));
        direct = malloc(sizeof(int64_t) * (size_t)nl);
        if (!cand || !gid || !cnt || !direct) {
            err = mb_error_set(MB_EENV, "out of memory growing a tree");
            goto out;
        }
        /* Which nodes of this level may split. */
        for (int64_t v = lvl_lo; v < lvl_hi; v++) {
            double w = tr->weight[v];
            int ok = (t->max_depth == 0 || depth < t->max_depth) && w >= 2.0 &&
                     w >= 2.0 * t->p.min_samples_leaf && !mb_tree_pure(&t->p, t->nstats + v * ns);
            gid[v - lvl_lo] = ok;
            if (ok) cand[nc++] = v;
        }
        if (nc == 0) break;
        double tc = mb_wtime();
        /* Features per candidate, keyed on (seed, tree, node), and histogram layouts: each
         * node's features' bins back to back (one-hot columns take 2 bins, not max_bins). */
        free(feats);
        free(foff);
        feats = malloc(sizeof(int32_t) * (size_t)(nl * t->nsel));
        foff = malloc(sizeof(int32_t) * (size_t)(nl * (t->nsel + 1)));
        if (!feats || !foff) {
            err = mb_error_set(MB_EENV, "out of memory growing a tree");
            goto out;
        }
        int64_t per_all = 0;
        for (int64_t k = 0; k < nl; k++) {
            int32_t *fs = feats + k * t->nsel, *fo = foff + k * (t->nsel + 1);
            if (gid[k] || all_feats)
                mb_tree_pick_features((uint64_t)t->job->seed, tree_id, lvl_lo + k, (int)t->d,
                                      t->nsel, fs);
            else
                continue;
            fo[0] = 0;
            for (int fi = 0; fi < t->nsel; fi++) fo[fi + 1] = fo[fi] + t->nbins[fs[fi]];
            per_all = (int64_t)fo[t->nsel] * ns;
        }
        /* Subtraction: with every feature at every node, build the smaller of two siblings and
         * derive the other from their parent's histogram, kept from the level above. */
        int sub = all_feats && depth > 0 && prev != NULL && nl * per_all <= KEEP_CAP;
        for (int64_t k = 0; k < nl; k++) gid[k] = gid[k] ? 0 : -1; /* candidate mark */
        if (sub) {
            for (int64_t v = lvl_lo; v < lvl_hi; v += 2) {
                int64_t a = v, b = v + 1; /* children come in pairs */
                if (gid[a - lvl_lo] < 0 && gid[b - lvl_lo] < 0) continue;
                int64_t small = tr->weight[a] <= tr->weight[b] ? a : b;
                direct[nd++] = small;
            }
        } else {
            for (int64_t k = 0; k < nc; k++) direct[nd++] = cand[k];
        }
        for (int64_t k = 0; k < nl; k++) gid[k] = -1;
        for (int64_t g = 0; g < nd; g++) gid[direct[g] - lvl_lo] = g;
        MB_TRY(group_rows(t, nact, gid, lvl_lo, nd, cnt));
        /* Where each node's histogram lives: every node of the level in subtraction mode
         * (so that the next level can subtract), else the candidates, in chunks. */
        free(hoff);
        hoff = malloc(sizeof(int64_t) * (size_t)(nl + 1));
        free(soff);
        soff = malloc(sizeof(int64_t) * (size_t)(nd + 1));
        if (!hoff || !soff) {
            err = mb_error_set(MB_EENV, "out of memory growing a tree");
            goto out;
        }
        soff[0] = 0;
        for (int64_t g = 0; g < nd; g++) {
            int64_t k = direct[g] - lvl_lo;
            soff[g + 1] = soff[g] + (int64_t)foff[k * (t->nsel + 1) + t->nsel] * ns;
        }
        t->compute_s += mb_wtime() - tc;
        int64_t next_lo = tr->n;
        if (sub || (all_feats && nl * per_all <= KEEP_CAP)) {
            /* One buffer for the whole level: direct hists first (allreduced), then derived. */
            int64_t len = nl * per_all;
            free(hist);
            hist = calloc((size_t)(len > 0 ? len : 1), sizeof *hist);
            if (!hist) {
                err = mb_error_set(MB_EENV, "out of memory for %lld histogram entries",
                                   (long long)len);
                goto out;
            }
            tc = mb_wtime();
            for (int64_t g = 0; g < nd; g++) {
                int64_t k = direct[g] - lvl_lo;
                mb_tree_hist(t->bins, t->d, t->grp + cnt[g], cnt[g + 1] - cnt[g], t->rowstat, ns,
                             feats + k * t->nsel, t->nsel, foff + k * (t->nsel + 1),
                             hist + k * per_all);
            }
            double tm = mb_wtime();
            t->compute_s += tm - tc;
            /* Direct hists are the even or odd slots; reduce the whole level when most of it
             * is direct, else each direct slot (fewer bytes on the wire either way). */
            for (int64_t g = 0; g < nd; g++)
                mb_allreduce_sum_i64(c, hist + (direct[g] - lvl_lo) * per_all, per_all);
            double ta = mb_wtime();
            t->comm_s += ta - tm;
            if (sub) {
                for (int64_t v = lvl_lo; v < lvl_hi; v += 2) {
                    int64_t a = v, b = v + 1;
                    int64_t da = gid[a - lvl_lo] >= 0, db = gid[b - lvl_lo] >= 0;
                    if (da == db) continue; /* neither needed */
                    int64_t built = da ? a : b, other = da ? b : a, par = t->parent[a];
                    const int64_t *ph = prev + prev_off[par - prev_lo];
                    int64_t *hb = hist + (built - lvl_lo) * per_all;
                    int64_t *ho = hist + (other - lvl_lo) * per_all;
                    for (int64_t e = 0; e < per_all; e++) ho[e] = ph[e] - hb[e];
                }
            }
            for (int64_t k = 0; k < nc; k++) {
                int64_t v = cand[k], kk = v - lvl_lo;
                if (split_node(t, tr, v, hist + kk * per_all, feats + kk * t->nsel,
                               foff + kk * (t->nsel + 1), wroot, tot, scr, lft, &err) < 0)
                    goto out;
            }
            t->compute_s += mb_wtime() - ta;
            /* Keep this level's histograms for the next one. */
            free(prev);
            prev = hist;
            hist = NULL;
            free(prev_off);
            prev_off = malloc(sizeof(int64_t) * (size_t)nl);
            if (!prev_off) {
                err = mb_error_set(MB_EENV, "out of memory growing a tree");
                goto out;
            }
            for (int64_t k = 0; k < nl; k++) prev_off[k] = k * per_all;
            prev_lo = lvl_lo;
            prev_n = nl;
        } else {
            free(prev);
            prev = NULL;
            prev_n = 0;
            int64_t biggest = 0;
            for (int64_t g = 0; g < nd; g++)
                if (soff[g + 1] - soff[g] > biggest) biggest = soff[g + 1] - soff[g];
            int64_t cap = soff[nd] < HIST_CHUNK ? soff[nd] : HIST_CHUNK;
            if (cap < biggest) cap = biggest;
            free(hist);
            hist = malloc(sizeof(int64_t) * (size_t)(cap > 0 ? cap : 1));
            if (!hist) {
                err = mb_error_set(MB_EENV, "out of memory for %lld histogram entries",
                                   (long long)cap);
                goto out;
            }
            for (int64_t s0 = 0, s1; s0 < nd; s0 = s1) {
                for (s1 = s0 + 1; s1 < nd && soff[s1 + 1] - soff[s0] <= cap; s1++) continue;
                int64_t len = soff[s1] - soff[s0];
                tc = mb_wtime();
                memset(hist, 0, sizeof(int64_t) * (size_t)len);
                for (int64_t g = s0; g < s1; g++) {
                    int64_t k = direct[g] - lvl_lo;
                    mb_tree_hist(t->bins, t->d, t->grp + cnt[g], cnt[g + 1] - cnt[g], t->rowstat,
                                 ns, feats + k * t->nsel, t->nsel, foff + k * (t->nsel + 1),
                                 hist + soff[g] - soff[s0]);
                }
                double tm = mb_wtime();
                t->compute_s += tm - tc;
                mb_allreduce_sum_i64(c, hist, len);
                double ta = mb_wtime();
                t->comm_s += ta - tm;
                for (int64_t g = s0; g < s1; g++) {
                    int64_t v = direct[g], k = v - lvl_lo;
                    if (split_node(t, tr, v, hist + soff[g] - soff[s0], feats + k * t->nsel,
                                   foff + k * (t->nsel + 1), wroot, tot, scr, lft, &err) < 0)
                        goto out;
                }
                t->compute_s += mb_wtime() - ta;
            }
        }
        (void)prev_n;
        /* Partition: rows of split nodes move to a child and stay active. */
        tc = mb_wtime();
        int64_t kept = 0;
        for (int64_t r = 0; r < nact; r++) {
            int64_t i = t->act[r];
            int32_t v = t->node_of[i];
            if (tr->feature[v] < 0) continue;
            int b = t->bins[i * t->d + tr->feature[v]];
            t->node_of[i] = (int32_t)(b <= tr->bin[v] ? tr->left[v] : tr->right[v]);
            t->act[kept++] = i;
        }
        nact = kept;
        t->compute_s += mb_wtime() - tc;
        lvl_lo = next_lo;
        lvl_hi = tr->n;
    }
out:
    if (tot != total) free(tot);
    free(scr);
    free(lft);
    free(hist);
    free(prev);
    free(prev_off);
    free(cand);
    free(gid);
    free(cnt);
    free(direct);
    free(soff);
    free(hoff);
    free(feats);
    free(foff);
    return err;
}

/* ---- bins --------------------------------------------------------------------------------- */

/* Bin edges from a sample of training rows chosen by (seed, global training index), gathered to
 * every rank by an allreduce of disjoint slots, so the edges do not depend on the rank count. */
static mb_err make_bins(tctx *t) {
    mb__state *s = t->s;
    const mb_comm *c = t->c;
    int64_t d = t->d, mt = s->mt;
    double p = s->n_train <= BIN_SAMPLE ? 2.0 : (double)BIN_SAMPLE / (double)s->n_train;
    unsigned char *pick = malloc((size_t)mt + 1);
    if (!pick) return mb_error_set(MB_EENV, "out of memory choosing the bin sample");
    int64_t mine = 0;
    for (int64_t i = 0; i < mt; i++) {
        pick[i] = p > 1 || mb_rng_uniform((uint64_t)t->job->seed, MB_RNG_TREE_BINS,
                                          (uint64_t)(s->t_lo + i), 0) < p;
        mine += pick[i];
    }
    int64_t ns = mine, off = mb_exscan_i64(c, mine);
    mb_allreduce_sum_i64(c, &ns, 1);
    int64_t block = ns > 0 ? (int64_t)(4 << 20) / ns : d; /* features per 32 MiB allreduce */
    if (block < 1) block = 1;
    if (block > d) block = d;
    double *buf = malloc(sizeof(double) * (size_t)(ns * block + 1));
    mb_err err = buf ? MB_OK : mb_error_set(MB_EENV, "out of memory for the bin sample");
    MB_TRY(mb_agree(c, err, NULL));
    for (int64_t j0 = 0; j0 < d; j0 += block) {
        int64_t j1 = j0 + block < d ? j0 + block : d, w = j1 - j0;
        memset(buf, 0, sizeof(double) * (size_t)(ns * w));
        for (int64_t i = 0, o = off; i < mt; i++) {
            if (!pick[i]) continue;
            for (int64_t j = j0; j < j1; j++) {
                double v = s->Xtr[i * d + j];
                buf[(j - j0) * ns + o] = v == 0 ? 0.0 : v;
            }
            o++;
        }
        mb_allreduce_sum(c, buf, ns * w);
        for (int64_t j = j0; j < j1; j++) {
            int ex = 1;
            int nb = mb_tree_edges(buf + (j - j0) * ns, ns, (int)t->job->model.max_bins,
                                   t->f.edges + j * (MB_TREE_MAX_BINS - 1),
                                   t->f.values + j * MB_TREE_MAX_BINS, &ex);
            t->f.nbins[j] = nb;
            t->f.exact[j] = ex;
        }
    }
out:
    free(pick);
    free(buf);
    return err;
}

/* ---- forest broadcast (resume) -------------------------------------------------------------- */

static void bcast_forest(const mb_comm *c, mb_forest *f) {
    if (c->size == 1) return;
    mb_forest head = *f;
    mb_bcast(c, &head, sizeof head, 0);
    if (c->rank != 0) {
        memset(f, 0, sizeof *f);
        mb_forest_init(f, head.d, head.ntrees);
        mb_forest_kind kind = head.kind;
        f->kind = kind;
        f->classify = head.classify;
        f->k = head.k;
        f->kv = head.kv;
        f->per_round = head.per_round;
        f->learning_rate = head.learning_rate;
        memcpy(f->base, head.base, sizeof f->base);
        f->best_val = head.best_val;
        f->best_round = head.best_round;
        f->stopped = head.stopped;
    }
    int64_t d = head.d;
    mb_bcast(c, f->nbins, sizeof(int32_t) * (size_t)d, 0);
    mb_bcast(c, f->exact, sizeof(int32_t) * (size_t)d, 0);
    mb_bcast(c, f->edges, sizeof(double) * (size_t)(d * (MB_TREE_MAX_BINS - 1)), 0);
    mb_bcast(c, f->values, sizeof(double) * (size_t)(d * MB_TREE_MAX_BINS), 0);
    for (int64_t i = 0; i < head.ntrees; i++) {
        mb_tree *t = c->rank == 0 ? &f->trees[i] : mb_forest_add(f);
        int64_t n = t->n;
        mb_bcast(c, &n, sizeof n, 0);
        if (c->rank != 0) {
            mb_tree_reserve(t, n);
            t->n = n;
        }
        mb_bcast(c, t->feature, sizeof(int32_t) * (size_t)n, 0);
        mb_bcast(c, t->bin, sizeof(int32_t) * (size_t)n, 0);
        mb_bcast(c, t->threshold, sizeof(double) * (size_t)n, 0);
        mb_bcast(c, t->left, sizeof(int64_t) * (size_t)n, 0);
        mb_bcast(c, t->right, sizeof(int64_t) * (size_t)n, 0);
        mb_bcast(c, t->value, sizeof(double) * (size_t)(n * t->kv), 0);
        mb_bcast(c, t->impurity, sizeof(double) * (size_t)n, 0);
        mb_bcast(c, t->weight, sizeof(double) * (size_t)n, 0);
    }
}

/* Keys whose change makes a tree checkpoint another job's (n_trees may grow on resume). */
static int same_tree_job(const mb_job *a, const mb_job *b, char *why, size_t n) {
#define SAME(f, fmt)                                                                               \
    if (a->f != b->f) {                                                                            \
        snprintf(why, n, #f " differs (" fmt " in the checkpoint, " fmt " now)", (double)b->f,     \
                 (double)a->f);                                                                    \
        return 0;                                                                                  \
    }
    if (strcmp(a->model.type, b->model.type) != 0) {
        snprintf(why, n, "model.type differs (%s in the checkpoint, %s now)", b->model.type,
                 a->model.type);
        return 0;
    }
    if (strcmp(a->model.criterion, b->model.criterion) != 0 ||
        strcmp(a->model.task, b->model.task) != 0) {
        snprintf(why, n, "model.criterion or model.task differs");
        return 0;
    }
    SAME(seed, "%g")
    SAME(dataset.validation_fraction, "%g")
    SAME(model.max_depth, "%g")
    SAME(model.max_bins, "%g")
    SAME(model.min_samples_leaf, "%g")
    SAME(model.min_impurity_decrease, "%g")
    SAME(model.max_features, "%g")
    SAME(model.learning_rate, "%g")
    SAME(model.l2, "%g")
    return 1;
#undef SAME
}

static mb_err try_resume(const mb_comm *c, const mb_job *job, mb__state *s, mb_forest *f,
                         int *resumed) {
    mb_err err = MB_OK;
    char dir[4096], *path = NULL;
    int64_t step = 0, found = 0;
    *resumed = 0;
    snprintf(dir, sizeof dir, "%s/checkpoints", job->run_dir);
    if (c->rank == 0) {
        err = mb_ckpt_latest(dir, &path, &step);
        if (!err && path) {
            err = mb_trees_read(path, &s->ck, f);
            found = !err;
        }
        if (found) {
            mb_job *old = NULL;
            char why[512] = "";
            if (mb_job_from_canonical(s->ck.job_json, &old) != MB_OK) {
                mb_error_clear();
                err = mb_error_set(MB_EUSAGE, "%s: cannot parse the job saved in it", path);
            } else if (!same_tree_job(job, old, why, sizeof why)) {
                err = mb_error_set(MB_EUSAGE,
                                   "%s belongs to a different job: %s; use another run_dir or "
                                   "drop --resume",
                                   path, why);
            }
            mb_job_free(old);
        }
    }
    MB_TRY(mb_agree(c, err, NULL));
    mb_bcast(c, &found, sizeof found, 0);
    if (found) {
        mb__ckpt_bcast(c, &s->ck);
        bcast_forest(c, f);
        *resumed = 1;
        if (c->rank == 0)
            printf("mbatch: resuming from %s (%lld trees)\n", path, (long long)f->ntrees);
    } else if (c->rank == 0) {
        printf("mbatch: no checkpoint in %s; starting from the beginning\n", dir);
    }
out:
    free(path);
    return err;
}

/* ---- losses ------------------------------------------------------------------------------- */

static double sigmoid(double z) {
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* Per-row loss and correctness of boosting raw scores raw[rows][pr] against labels y. */
static void boost_loss(const mb_forest *f, const double *raw, const double *y, int64_t rows,
                       double *loss, double *hit) {
    int64_t pr = f->per_round;
    for (int64_t i = 0; i < rows; i++) {
        const double *z = raw + i * pr;
        if (!f->classify) {
            double r = z[0] - y[i];
            loss[i] = 0.5 * r * r;
            hit[i] = r * r;
        } else if (f->k <= 2) {
            /* log(1 + e^z) - y z, stably. */
            loss[i] = (z[0] > 0 ? z[0] + log1p(exp(-z[0])) : log1p(exp(z[0]))) - y[i] * z[0];
            hit[i] = (z[0] > 0) == (y[i] == 1.0);
        } else {
            double mx = z[0], s = 0;
            int64_t best = 0;
            for (int64_t k = 1; k < pr; k++)
                if (z[k] > mx) {
                    mx = z[k];
                    best = k;
                }
            for (int64_t k = 0; k < pr; k++) s += exp(z[k] - mx);
            loss[i] = log(s) + mx - z[(int64_t)y[i]];
            hit[i] = (double)best == y[i];
        }
    }
}

/* Per-row loss and correctness of averaged tree values acc[rows][kv] / ntrees. */
static void forest_loss(const mb_forest *f, const double *acc, int64_t ntrees, const double *y,
                        int64_t rows, double *loss, double *hit) {
    double inv = 1.0 / (double)(ntrees > 0 ? ntrees : 1);
    for (int64_t i = 0; i < rows; i++) {
        const double *a = acc + i * f->kv;
        if (!f->classify) {
            double r = a[0] * inv - y[i];
            loss[i] = 0.5 * r * r;
            hit[i] = r * r;
            continue;
        }
        int64_t best = 0;
        for (int64_t k = 1; k < f->kv; k++)
            if (a[k] > a[best]) best = k;
        double pk = a[(int64_t)y[i]] * inv;
        loss[i] = -log(pk > 1e-15 ? pk : 1e-15);
        hit[i] = (double)best == y[i];
    }
}

/* ---- training ------------------------------------------------------------------------------- */

/* Labels: decide the task and the class count, and check every label. Collective. */
static mb_err setup_task(tctx *t, int resumed) {
    const mb_comm *c = t->c;
    mb__state *s = t->s;
    const mb_job *job = t->job;
    mb_err err = MB_OK;
    int64_t v[2] = {0, 0}; /* 1 if some label is not a class id; the largest class id */
    const double *ys[2] = {s->ytr, s->yva};
    int64_t ms[2] = {s->mt, s->mv};
    for (int part = 0; part < 2; part++)
        for (int64_t i = 0; i < ms[part]; i++) {
            double y = ys[part][i];
            if (!(y >= 0 && y < 1000 && y == floor(y)))
                v[0] = 1;
            else if ((int64_t)y > v[1])
                v[1] = (int64_t)y;
        }
    mb_allreduce_max_i64(c, v, 2);
    int classify = strcmp(job->model.task, "classification") == 0 ||
                   (strcmp(job->model.task, "auto") == 0 && v[0] == 0);
    if (!resumed) {
        t->f.classify = classify;
        t->f.k = !classify                ? 1
                 : job->model.classes > 0 ? job->model.classes
                 : v[1] + 1 > 2           ? v[1] + 1
                                          : 2;
    } else if (t->f.classify != classify) {
        return mb_error_set(MB_EUSAGE, "the checkpoint's model is a %s, the data asks for %s",
                            t->f.classify ? "classifier" : "regressor",
                            classify ? "classification" : "regression");
    }
    if (t->f.classify) {
        for (int part = 0; part < 2 && !err; part++)
            for (int64_t i = 0; i < ms[part]; i++) {
                double y = ys[part][i];
                if (y >= 0 && y < (double)t->f.k && y == floor(y)) continue;
                err = mb_error_set(MB_EDATA,
                                   "%s: %s has label %.17g in a %s row (rows %lld..%lld of this "
                                   "rank); classification needs a class id in [0, %lld)",
                                   mb_dataset_path(s->ds), mb_dataset_target_name(s->ds), y,
                                   part ? "validation" : "training", (long long)s->lo,
                                   (long long)s->hi - 1, (long long)t->f.k);
                break;
            }
    }
    return mb_agree(c, err, NULL);
}

/* Fill the row statistics of tree `tree_id` (not boosting). */
static void forest_rowstats(tctx *t, int64_t tree_id) {
    mb__state *s = t->s;
    int ns = t->p.nstat;
    for (int64_t i = 0; i < t->m; i++) {
        int64_t w = t->f.kind == MB_FOREST_RANDOM
                        ? mb_tree_poisson1((uint64_t)t->job->seed, tree_id, s->t_lo + i)
                        : 1;
        int64_t *st = t->rowstat + i * ns;
        memset(st, 0, sizeof(int64_t) * (size_t)ns);
        if (t->f.classify) {
            st[(int64_t)s->ytr[i]] = w;
        } else {
            st[0] = w;
            st[1] = w * (int64_t)llround(s->ytr[i] * t->p.scale1);
            st[2] = w * (int64_t)llround(s->ytr[i] * s->ytr[i] * t->p.scale2);
        }
    }
}

/* Boosting: gradient and hessian of every row for output cls, in fixed point. Collective. */
static void boost_rowstats(tctx *t, const double *raw, int64_t cls) {
    mb__state *s = t->s;
    int64_t pr = t->f.per_round, n = s->n_train;
    double mg = 0, mh = 0, *g = t->s->work, *h = t->s->work + t->m;
    for (int64_t i = 0; i < t->m; i++) {
        const double *z = raw + i * pr;
        double y = s->ytr[i];
        if (!t->f.classify) {
            g[i] = z[0] - y;
            h[i] = 1;
        } else if (t->f.k <= 2) {
            double p = sigmoid(z[0]);
            g[i] = p - y;
            h[i] = p * (1 - p);
        } else {
            double mx = z[0], sum = 0;
            for (int64_t k = 1; k < pr; k++)
                if (z[k] > mx) mx = z[k];
            for (int64_t k = 0; k < pr; k++) sum += exp(z[k] - mx);
            double p = exp(z[cls] - mx) / sum;
            g[i] = p - ((int64_t)y == cls ? 1.0 : 0.0);
            h[i] = p * (1 - p);
        }
        if (fabs(g[i]) > mg) mg = fabs(g[i]);
        if (h[i] > mh) mh = h[i];
    }
    double mx[2] = {mg, mh};
    double t0 = mb_wtime();
    mb_allreduce_max_double(t->c, mx, 2);
    t->comm_s += mb_wtime() - t0;
    t->p.scale1 = fixed_scale(mx[0], n);
    t->p.scale2 = fixed_scale(mx[1], n);
    for (int64_t i = 0; i < t->m; i++) {
        int64_t *st = t->rowstat + i * 3;
        st[0] = 1;
        st[1] = (int64_t)llround(g[i] * t->p.scale1);
        st[2] = (int64_t)llround(h[i] * t->p.scale2);
    }
}

static int64_t features_per_node(const mb_job *job, mb_forest_kind kind, int classify, int64_t d) {
    double mf = job->model.max_features;
    int64_t n;
    if (mf == 0)
        n = kind == MB_FOREST_RANDOM && classify ? (int64_t)sqrt((double)d) : d;
    else if (mf < 1)
        n = (int64_t)(mf * (double)d);
    else
        n = (int64_t)mf;
    if (n < 1) n = 1;
    if (n > d) n = d;
    return n;
}

/* Write the forest as run_dir/checkpoints/ckpt-<trees>.h5 (pruned) or run_dir/model.h5. */
static mb_err save(tctx *t, int is_model) {
    mb_err err = MB_OK;
    double t0 = mb_wtime();
    if (t->c->rank == 0) {
        char dir[4096], name[64];
        t->s->ck.epoch = t->s->ck.step = t->f.ntrees;
        if (is_model) {
            snprintf(dir, sizeof dir, "%s", t->job->run_dir);
            snprintf(name, sizeof name, "model.h5");
        } else {
            snprintf(dir, sizeof dir, "%s/checkpoints", t->job->run_dir);
            snprintf(name, sizeof name, "ckpt-%lld.h5", (long long)t->f.ntrees);
        }
        err = mb_trees_write(dir, name, &t->s->ck, &t->f);
        if (!err && !is_model) err = mb_ckpt_prune(dir, (int)t->job->checkpoint.keep);
    }
    err = mb_agree(t->c, err, NULL);
    t->s->io_total += mb_wtime() - t0;
    return err;
}

static void fill_provenance(tctx *t) {
    mb_ckpt *ck = &t->s->ck;
    const mb_job *job = t->job;
    if (!ck->version) ck->version = strdup(MBATCH_VERSION);
    if (!ck->dataset_path) ck->dataset_path = strdup(job->dataset.path);
    ck->dataset_rows = t->s->n;
    ck->dataset_checksum = mb_dataset_checksum(t->s->ds);
    ck->seed = (uint64_t)job->seed;
    if (!ck->target)
        ck->target = strdup(job->dataset.target ? job->dataset.target : job->dataset.y);
    ck->ranks = t->c->size;
    free(ck->job_json);
    ck->job_json = strdup(job->canonical);
}

mb_err mb__train_trees(const mb_comm *c, const mb_job *job, const mb_train_opts *o,
                       mb_train_result *res) {
    mb__state s;
    tctx t;
    memset(&s, 0, sizeof s);
    memset(&t, 0, sizeof t);
    memset(res, 0, sizeof *res);
    mb_err err = MB_OK;
    double t_start = mb_wtime();
    int resumed = 0;
    double *raw_tr = NULL, *raw_va = NULL, *acc_va = NULL, *loss = NULL, *hit = NULL;
    char metrics_path[4096];
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.h5", job->run_dir);
    t.c = c;
    t.job = job;
    t.s = &s;
    mb_forest_kind kind = kind_of(job->model.type);

    MB_TRY(mb_place_bind(c, job->placement.bind, job->placement.respect_launcher, o->progress));
    if (o->resume) MB_TRY(try_resume(c, job, &s, &t.f, &resumed));
    /* Load raw (unstandardized) features; labels are checked here as numbers and below as
     * class ids once the task is known. */
    mb_job lj = *job;
    lj.model.type = "linear";
    s.raw_features = 1;
    MB_TRY(mb__load(c, &lj, &s, resumed));
    if (resumed) {
        err = c->rank == 0 ? mb__check_same_data(&s) : MB_OK;
        if (!err && t.f.d != s.d)
            err = mb_error_set(MB_EUSAGE, "the checkpoint's model has %lld features, the data %lld",
                               (long long)t.f.d, (long long)s.d);
        MB_TRY(mb_agree(c, err, NULL));
    } else {
        err = mb_forest_init(&t.f, s.d, kind == MB_FOREST_TREE ? 1 : job->model.n_trees) == 0
                  ? MB_OK
                  : mb_error_set(MB_EENV, "out of memory for the forest");
        MB_TRY(mb_agree(c, err, NULL));
        t.f.kind = kind;
        t.f.learning_rate = kind == MB_FOREST_BOOSTED ? job->model.learning_rate : 1.0;
    }
    t.d = s.d;
    t.m = s.mt;
    MB_TRY(setup_task(&t, resumed));
    mb_forest *f = &t.f;
    if (!resumed) {
        f->kv = kind != MB_FOREST_BOOSTED && f->classify ? f->k : 1;
        f->per_round = kind == MB_FOREST_BOOSTED && f->classify && f->k > 2 ? f->k : 1;
        if (f->per_round > MB_TREE_MAX_BINS)
            err = mb_error_set(MB_EUSAGE, "gradient_boosting handles at most %d classes, not %lld",
                               MB_TREE_MAX_BINS, (long long)f->k);
        MB_TRY(mb_agree(c, err, NULL));
    }
    int64_t target = kind == MB_FOREST_TREE ? 1 : job->model.n_trees * f->per_round;

    /* Criterion and parameters. */
    const char *crit = job->model.criterion;
    if (kind == MB_FOREST_BOOSTED) {
        t.p.crit = MB_CRIT_BOOST;
    } else if (f->classify) {
        if (strcmp(crit, "variance") == 0)
            err = mb_error_set(MB_EUSAGE, "model.criterion 'variance' is for regression; this "
                                          "target is classified (set model.task)");
        t.p.crit = strcmp(crit, "entropy") == 0 ? MB_CRIT_ENTROPY : MB_CRIT_GINI;
    } else {
        if (strcmp(crit, "gini") == 0 || strcmp(crit, "entropy") == 0)
            err = mb_error_set(MB_EUSAGE,
                               "model.criterion '%s' is for classification; this "
                               "target is a regression target",
                               crit);
        t.p.crit = MB_CRIT_VARIANCE;
    }
    MB_TRY(mb_agree(c, err, NULL));
    t.p.nstat = t.p.crit == MB_CRIT_GINI || t.p.crit == MB_CRIT_ENTROPY ? (int)f->k : 3;
    t.p.min_samples_leaf = job->model.min_samples_leaf;
    t.p.lambda = job->model.l2;
    t.p.min_hessian = 1e-3;
    t.max_depth = (int)(job->model.max_depth > 0    ? job->model.max_depth
                        : kind == MB_FOREST_BOOSTED ? 6
                                                    : 0);
    t.nsel = (int)features_per_node(job, kind, f->classify, s.d);
    if (t.p.crit == MB_CRIT_VARIANCE) {
        /* Fixed point for y and y^2 sums: weights are Poisson draws, below 30. */
        double my = 0;
        for (int64_t i = 0; i < s.mt; i++)
            if (fabs(s.ytr[i]) > my) my = fabs(s.ytr[i]);
        mb_allreduce_max_double(c, &my, 1);
        t.p.scale1 = fixed_scale(my * 32, s.n_train);
        t.p.scale2 = fixed_scale(my * my * 32, s.n_train);
    }

    /* Buffers, bins. */
    t.bins = mb__alloc((size_t)(s.mt * s.d), "the binned features");
    t.nbins = mb__alloc(sizeof(int) * (size_t)s.d, "the bin counts");
    t.rowstat = mb__alloc(sizeof(int64_t) * (size_t)(s.mt * t.p.nstat), "the row statistics");
    t.node_of = mb__alloc(sizeof(int32_t) * (size_t)s.mt, "the row nodes");
    t.act = mb__alloc(sizeof(int64_t) * (size_t)s.mt, "the active rows");
    t.grp = mb__alloc(sizeof(int64_t) * (size_t)s.mt, "the grouped rows");
    s.work = mb__alloc(sizeof(double) * (size_t)(2 * s.mt), "the gradients");
    int64_t kv = f->kv, pr = f->per_round, mrow = s.mt > s.mv ? s.mt : s.mv;
    raw_tr = mb__alloc(sizeof(double) * (size_t)(s.mt * pr), "the raw scores");
    raw_va = mb__alloc(sizeof(double) * (size_t)(s.mv * pr), "the raw scores");
    acc_va = mb__alloc(sizeof(double) * (size_t)(s.mv * kv), "the validation sums");
    loss = mb__alloc(sizeof(double) * (size_t)mrow, "the losses");
    hit = mb__alloc(sizeof(double) * (size_t)mrow, "the hits");
    MB_TRY(mb_agree(c,
                    t.bins && t.nbins && t.rowstat && t.node_of && t.act && t.grp && s.work &&
                            raw_tr && raw_va && acc_va && loss && hit
                        ? MB_OK
                        : mb_error_code(),
                    NULL));
    double tb = mb_wtime();
    if (!resumed) MB_TRY(make_bins(&t));
    for (int64_t j = 0; j < s.d; j++) t.nbins[j] = f->nbins[j];
    for (int64_t i = 0; i < s.mt; i++)
        for (int64_t j = 0; j < s.d; j++)
            t.bins[i * s.d + j] = (uint8_t)mb_tree_bin_of(f->edges + j * (MB_TREE_MAX_BINS - 1),
                                                          f->nbins[j] - 1, s.Xtr[i * s.d + j]);
    double bin_s = mb_wtime() - tb;
    fill_provenance(&t);
    if (!resumed && kind == MB_FOREST_BOOSTED) {
        /* The baseline: log-odds, log priors or the mean, from exact sums. */
        if (!f->classify) {
            f->base[0] = exact_sum(c, s.ytr, s.mt, s.n_train) / (double)s.n_train;
        } else {
            int64_t *cnt = calloc((size_t)f->k, sizeof *cnt);
            if (!cnt) err = mb_error_set(MB_EENV, "out of memory");
            MB_TRY(mb_agree(c, err, NULL));
            for (int64_t i = 0; i < s.mt; i++) cnt[(int64_t)s.ytr[i]]++;
            mb_allreduce_sum_i64(c, cnt, f->k);
            for (int64_t k = 0; k < f->k; k++) {
                double p = (double)cnt[k] / (double)s.n_train;
                p = p < 1e-15 ? 1e-15 : p > 1 - 1e-15 ? 1 - 1e-15 : p;
                if (f->k <= 2 && k == 1) f->base[0] = log(p / (1 - p));
                if (f->k > 2) f->base[k] = log(p);
            }
            free(cnt);
        }
    }
    /* Scores of the trees so far (nothing, or a resumed forest). */
    if (kind == MB_FOREST_BOOSTED) {
        mb_forest_raw(f, f->ntrees, s.Xtr, s.mt, raw_tr);
        mb_forest_raw(f, f->ntrees, s.Xva, s.mv, raw_va);
    } else {
        memset(acc_va, 0, sizeof(double) * (size_t)(s.mv * kv));
        for (int64_t k = 0; k < f->ntrees; k++)
            for (int64_t i = 0; i < s.mv; i++) {
                const mb_tree *tr = &f->trees[k];
                const double *v = tr->value + mb_tree_apply(tr, s.Xva + i * s.d) * kv;
                for (int64_t j = 0; j < kv; j++) acc_va[i * kv + j] += v[j];
            }
    }

    if (c->rank == 0) err = mb__lock_run_dir(job->run_dir);
    if (c->rank == 0 && !err)
        err = mb_metrics_init(metrics_path, resumed ? f->ntrees / f->per_round : 0);
    MB_TRY(mb_agree(c, err, NULL));
    if (c->rank == 0 && o->progress)
        printf("mbatch: %s: %s %s, %lld rows (%lld train, %lld validation) x %lld features, "
               "%lld ranks, %lld of %lld features per node, bins in %.2f s\n",
               job->name, mb_trees_kind_name(kind), f->classify ? "classifier" : "regressor",
               (long long)s.n, (long long)s.n_train, (long long)s.n_val, (long long)s.d,
               (long long)c->size, (long long)t.nsel, (long long)s.d, bin_s);

    int64_t every = job->checkpoint.every_epochs;
    double train_loss = NAN, val_loss = NAN, val_metric = NAN;
    while (f->ntrees < target && !f->stopped) {
        double t0 = mb_wtime(), c0 = t.compute_s, m0 = t.comm_s;
        int64_t round = f->ntrees / pr;
        double tl = 0;
        for (int64_t cls = 0; cls < pr; cls++) {
            int64_t id = f->ntrees;
            double tc = mb_wtime();
            if (kind == MB_FOREST_BOOSTED)
                boost_rowstats(&t, raw_tr, cls);
            else
                forest_rowstats(&t, id);
            t.compute_s += mb_wtime() - tc;
            mb_tree *tr = mb_forest_add(f);
            err = tr ? MB_OK : mb_error_set(MB_EENV, "out of memory for tree %lld", (long long)id);
            MB_TRY(mb_agree(c, err, NULL));
            MB_TRY(mb_agree(c, grow_tree(&t, tr, id), NULL));
            tc = mb_wtime();
            /* The tree's training loss: its leaves' weighted impurity per unit weight. */
            double wl = 0;
            for (int64_t v = 0; v < tr->n; v++)
                if (tr->feature[v] < 0) wl += tr->impurity[v] * tr->weight[v];
            tl += tr->weight[0] > 0 ? wl / tr->weight[0] : 0;
            if (kind == MB_FOREST_BOOSTED) {
                for (int64_t v = 0; v < tr->n; v++) tr->value[v] *= f->learning_rate;
                for (int64_t i = 0; i < s.mt; i++) raw_tr[i * pr + cls] += tr->value[t.node_of[i]];
                for (int64_t i = 0; i < s.mv; i++)
                    raw_va[i * pr + cls] += tr->value[mb_tree_apply(tr, s.Xva + i * s.d)];
            } else {
                for (int64_t i = 0; i < s.mv; i++) {
                    const double *v = tr->value + mb_tree_apply(tr, s.Xva + i * s.d) * kv;
                    for (int64_t j = 0; j < kv; j++) acc_va[i * kv + j] += v[j];
                }
            }
            t.compute_s += mb_wtime() - tc;
        }
        /* Losses, summed exactly so that they and early stopping do not depend on ranks. */
        if (kind == MB_FOREST_BOOSTED) {
            boost_loss(f, raw_tr, s.ytr, s.mt, loss, hit);
            train_loss = exact_sum(c, loss, s.mt, s.n_train) / (double)s.n_train;
        } else {
            train_loss = tl / (double)pr;
        }
        if (s.n_val > 0) {
            if (kind == MB_FOREST_BOOSTED)
                boost_loss(f, raw_va, s.yva, s.mv, loss, hit);
            else
                forest_loss(f, acc_va, f->ntrees, s.yva, s.mv, loss, hit);
            val_loss = exact_sum(c, loss, s.mv, s.n_val) / (double)s.n_val;
            double h = exact_sum(c, hit, s.mv, s.n_val) / (double)s.n_val;
            val_metric = f->classify ? h : sqrt(h);
            if (kind == MB_FOREST_BOOSTED && job->model.n_iter_no_change > 0) {
                if (val_loss < f->best_val - 1e-7) {
                    f->best_val = val_loss;
                    f->best_round = round;
                } else if (round - f->best_round >= job->model.n_iter_no_change) {
                    f->stopped = 1;
                }
            }
        }
        double dt = mb_wtime() - t0;
        if (c->rank == 0) {
            mb_epoch_row row;
            memset(&row, 0, sizeof row);
            row.epoch = f->ntrees / pr - 1;
            row.step = f->ntrees;
            row.train_loss = train_loss;
            row.val_loss = val_loss;
            row.val_metric = val_metric;
            row.lr = f->learning_rate;
            row.batch_size = s.n_train;
            row.epoch_s = dt;
            row.samples_per_s = dt > 0 ? (double)s.n_train / dt : 0;
            row.compute_s = t.compute_s - c0;
            row.comm_s = t.comm_s - m0;
            err = mb_metrics_append(metrics_path, &row);
            if (o->progress) {
                int dep = mb_tree_depth(&f->trees[f->ntrees - 1]);
                printf("tree %lld/%lld  depth %d  %lld nodes  train %.6g", (long long)f->ntrees,
                       (long long)target, dep, (long long)f->trees[f->ntrees - 1].n, train_loss);
                if (s.n_val > 0)
                    printf("  val %.6g  %s %.4f", val_loss, f->classify ? "acc" : "rmse",
                           val_metric);
                printf("  %.3f s%s\n", dt, f->stopped ? "  (early stop)" : "");
                fflush(stdout);
            }
        }
        MB_TRY(mb_agree(c, err, NULL));
        if (every > 0 && (f->ntrees / pr) % every == 0) MB_TRY(save(&t, 0));
    }

    /* model.h5, the per-rank table and the KPIs. */
    MB_TRY(save(&t, 1));
    {
        mb_place_info pi;
        mb_rank_row mine, *all = NULL;
        memset(&mine, 0, sizeof mine);
        if (mb_place_describe(&pi) != MB_OK) mb_error_clear();
        mine.rank = c->rank;
        snprintf(mine.host, sizeof mine.host, "%s", pi.host);
        snprintf(mine.binding, sizeof mine.binding, "%s", pi.binding);
        snprintf(mine.gpu, sizeof mine.gpu, "%s", pi.gpu);
        mine.rows = s.hi - s.lo;
        mine.compute_s = t.compute_s;
        mine.comm_s = t.comm_s;
        mine.io_s = s.io_total;
        if (c->rank == 0) all = calloc((size_t)c->size, sizeof *all);
        mb_gather(c, &mine, sizeof mine, all, 0);
        res->seconds = mb_wtime() - t_start;
        res->epochs = f->ntrees / pr;
        res->steps = f->ntrees;
        res->samples_seen = s.n_train * f->ntrees;
        res->samples_per_s = res->seconds > 0 ? (double)res->samples_seen / res->seconds : 0;
        res->train_loss = train_loss;
        res->val_loss = val_loss;
        res->val_metric = val_metric;
        if (c->rank == 0) {
            mb_kpis k;
            memset(&k, 0, sizeof k);
            k.completion_s = res->seconds;
            k.samples_per_s = res->samples_per_s;
            k.core_s_per_1000 = res->samples_seen > 0
                                    ? res->seconds * c->size / ((double)res->samples_seen / 1000.0)
                                    : 0;
            k.final_train_loss = train_loss;
            k.final_val_loss = val_loss;
            k.final_val_metric = val_metric;
            double busy = 0;
            for (int r = 0; all && r < c->size; r++) busy += all[r].compute_s;
            k.utilization = res->seconds > 0 ? busy / (res->seconds * c->size) : 0;
            err = all ? mb_metrics_ranks(metrics_path, all, c->size)
                      : mb_error_set(MB_EENV, "out of memory");
            if (!err) err = mb_metrics_kpis(metrics_path, &k);
        }
        free(all);
        MB_TRY(mb_agree(c, err, NULL));
    }
    if (c->rank == 0 && o->progress)
        printf("mbatch: %s: %lld tree%s in %.2f s (compute %.2f s, allreduce %.2f s); wrote "
               "%s/model.h5\n",
               job->name, (long long)f->ntrees, f->ntrees == 1 ? "" : "s", res->seconds,
               t.compute_s, t.comm_s, job->run_dir);
out:
    free(t.bins);
    free(t.nbins);
    free(t.rowstat);
    free(t.node_of);
    free(t.act);
    free(t.grp);
    free(t.nstats);
    free(t.parent);
    free(raw_tr);
    free(raw_va);
    free(acc_va);
    free(loss);
    free(hit);
    mb_forest_free(&t.f);
    mb__state_free(&s);
    return err;
}

/* ---- prediction ------------------------------------------------------------------------------ */

mb_err mb__predict_trees(const mb_comm *c, const mb_predict_opts *o) {
    mb_err err = MB_OK;
    mb_ckpt ck;
    mb_forest f;
    mb_job *job = NULL;
    mb_dataset *ds = NULL;
    double *raw = NULL, *y = NULL, *X = NULL, *pred = NULL, *label = NULL, *work = NULL;
    memset(&ck, 0, sizeof ck);
    memset(&f, 0, sizeof f);
    double t0 = mb_wtime();

    if (c->rank == 0) err = mb_trees_read(o->model, &ck, &f);
    MB_TRY(mb_agree(c, err, NULL));
    mb__ckpt_bcast(c, &ck);
    bcast_forest(c, &f);
    MB_TRY(mb_job_from_canonical(ck.job_json, &job));

    mb_io_mode mode = o->mode && strcmp(o->mode, "scatter") == 0 ? MB_IO_SCATTER : MB_IO_PARALLEL;
    MB_TRY(mb__open_predict_input(c, job, &ck, o->data, o->model, &ds));
    int64_t n = mb_dataset_rows(ds), ncol = mb_dataset_ncol(ds), lo, hi;
    mb_shard_bounds(n, c->rank, c->size, &lo, &hi);
    int64_t m = hi - lo, kout = mb_forest_kout(&f);
    int has_y = mb_dataset_has_target(ds);
    raw = mb__alloc(sizeof(double) * (size_t)(m * ncol), "the raw shard");
    y = mb__alloc(sizeof(double) * (size_t)m, "the labels");
    X = mb__alloc(sizeof(double) * (size_t)(m * f.d), "the features");
    pred = mb__alloc(sizeof(double) * (size_t)(m * kout), "the predictions");
    label = mb__alloc(sizeof(double) * (size_t)m, "the predicted labels");
    work = mb__alloc(sizeof(double) * (size_t)(m * f.per_round), "the raw scores");
    MB_TRY(mb_agree(c, raw && y && X && pred && label && work ? MB_OK : mb_error_code(), NULL));
    MB_TRY(mb_dataset_read(c, ds, mode, raw, has_y ? y : NULL));
    mb_pre_expand(raw, m, ncol, ck.ncat, (const int64_t *const *)ck.cats, X);
    mb_forest_predict(&f, X, m, pred, work);
    for (int64_t i = 0; i < m; i++) {
        if (!f.classify) {
            label[i] = pred[i];
        } else if (kout == 1) {
            label[i] = pred[i] > 0.5 ? 1.0 : 0.0; /* ties to class 0, as an argmax */
        } else {
            int64_t best = 0;
            for (int64_t j = 1; j < kout; j++)
                if (pred[i * kout + j] > pred[i * kout + best]) best = j;
            label[i] = (double)best;
        }
    }
    MB_TRY(mb_predictions_write(c, o->out, n, kout, lo, hi, pred, label));
    if (has_y) {
        for (int64_t i = 0; i < m; i++)
            pred[i] = f.classify ? label[i] == y[i] : (label[i] - y[i]) * (label[i] - y[i]);
        double s = exact_sum(c, pred, m, n) / (double)(n > 0 ? n : 1);
        if (c->rank == 0 && o->progress)
            printf("mbatch: %s on %lld rows: %s %.6g\n", mb_trees_kind_name(f.kind), (long long)n,
                   f.classify ? "accuracy" : "rmse", f.classify ? s : sqrt(s));
    }
    if (c->rank == 0 && o->progress)
        printf("mbatch: wrote %s (%lld rows, %lld column%s) in %.2f s\n", o->out, (long long)n,
               (long long)kout, kout == 1 ? "" : "s", mb_wtime() - t0);
out:
    mb_dataset_close(ds);
    mb_job_free(job);
    mb_ckpt_clear(&ck);
    mb_forest_free(&f);
    free(raw);
    free(y);
    free(X);
    free(pred);
    free(label);
    free(work);
    return err;
}
