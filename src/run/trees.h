/* trees.h - the tree-model trainer and predictor (decision_tree, random_forest,
 * gradient_boosting), called by mb_train and mb_predict. */
#pragma once

#include "mbatch/comm.h"
#include "mbatch/job.h"
#include "mbatch/run.h"

/* 1 if model type `name` is a tree model. Not collective. */
int mb__is_tree_model(const char *name);
/* Train job's tree model: bins at global quantiles, one histogram allreduce per tree level,
 * checkpoints every checkpoint.every_epochs trees, model.h5 and metrics.h5. Collective. */
mb_err mb__train_trees(const mb_comm *c, const mb_job *job, const mb_train_opts *o,
                       mb_train_result *res);
/* Apply the tree model o->model (which mb_trees_is_model accepted) to o->data. Collective. */
mb_err mb__predict_trees(const mb_comm *c, const mb_predict_opts *o);
