/* trees_io.h - tree models and their checkpoints in HDF5, written atomically.
 *
 * A tree file is a checkpoint: the attributes on / and /preprocess of checkpoint.h (no
 * /optimizer, and `epoch` counts finished trees), plus
 *   /model/trees/<i>/{feature, threshold, left, right, value [n][kv], impurity, weight}
 *   /model/bins/{nbins [d], exact [d], edges [d][255], values [d][256]}
 *   /model/base [per_round], /model/importances [d] (normalized to sum 1)
 * and attributes on /model (kind, classify, k, kv, per_round, learning_rate, n_trees, best_val,
 * best_round, stopped). `model` on / is "decision_tree", "random_forest" or
 * "gradient_boosting"; `complete = 1` is written last, and the file is written to a temporary
 * name, fsync'd and renamed, so mb_ckpt_latest and mb_ckpt_prune handle tree checkpoints too.
 * Not collective (rank 0 reads and writes).
 */
#pragma once

#include <stdio.h>

#include "mbatch/checkpoint.h"
#include "mbatch/error.h"
#include "mbatch/tree.h"

/* Write dir/name from the common part ck (preprocessing, provenance; model arrays unused) and
 * the forest f. MB_EIO naming the path on failure. */
mb_err mb_trees_write(const char *dir, const char *name, const mb_ckpt *ck, const mb_forest *f);
/* Read a complete tree file into ck (common part) and f; both are overwritten without being
 * freed and zeroed on failure. */
mb_err mb_trees_read(const char *path, mb_ckpt *ck, mb_forest *f);
/* 1 if path is an HDF5 file holding a tree model (its `model_type` is an mb_forest_kind). */
int mb_trees_is_model(const char *path);
/* The model name of a kind: "decision_tree", "random_forest", "gradient_boosting". */
const char *mb_trees_kind_name(int kind);
/* A human-readable summary: kind, tree count, depths, leaves, feature importances. */
mb_err mb_trees_inspect(const char *path, FILE *out);
