/* job.c - parse, override, validate and canonicalize job files through one option table. */
#include "mbatch/job.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_STR, K_INT, K_NUM, K_BOOL, K_LIST, K_BATCH, K_INTLIST } key_kind;

typedef struct key_def {
    const char *path; /* dotted path in the job file */
    key_kind kind;
    size_t off;          /* offset of the field in mb_job */
    size_t count_off;    /* K_LIST, K_INTLIST: offset of the int count */
    const char *dflt;    /* default as JSON text, NULL: no default (absent allowed) */
    const char *choices; /* K_STR: "a|b|c" or NULL */
    double lo, hi;       /* K_INT/K_NUM: allowed closed range */
    const char *help;
} key_def;

#define F(field) offsetof(mb_job, field)
#define BIG      1e300

/* The table: parser, --set, --help and canonical JSON all walk it, in this order. */
static const key_def KEYS[] = {
    {"name", K_STR, F(name), 0, NULL, NULL, 0, 0, "job name (default: the job file's base name)"},
    {"job_type", K_STR, F(job_type), 0, "\"train\"", "train", 0, 0, "what the job does"},
    {"epochs", K_INT, F(epochs), 0, "10", NULL, 1, 1e9, "passes over the training set"},
    {"seed", K_INT, F(seed), 0, "42", NULL, 0, 9.007199254740992e15,
     "seed of the split, the shuffles and the initialization"},
    {"run_dir", K_STR, F(run_dir), 0, NULL, NULL, 0, 0, "output directory (default: runs/<name>)"},
    {"dataset.path", K_STR, F(dataset.path), 0, NULL, NULL, 0, 0, "HDF5 file (required)"},
    {"dataset.X", K_STR, F(dataset.X), 0, NULL, NULL, 0, 0, "matrix layout: features [N, D]"},
    {"dataset.y", K_STR, F(dataset.y), 0, NULL, NULL, 0, 0, "matrix layout: target [N]"},
    {"dataset.group", K_STR, F(dataset.group), 0, NULL, NULL, 0, 0,
     "columns layout: group of 1-D columns"},
    {"dataset.features", K_LIST, F(dataset.features), F(dataset.nfeatures), NULL, NULL, 0, 0,
     "feature column names (matrix layout: from the `columns` attribute; default all)"},
    {"dataset.categorical", K_LIST, F(dataset.categorical), F(dataset.ncategorical), NULL, NULL, 0,
     0, "integer feature columns to one-hot encode"},
    {"dataset.target", K_STR, F(dataset.target), 0, NULL, NULL, 0, 0,
     "columns layout: the target column"},
    {"dataset.validation_fraction", K_NUM, F(dataset.validation_fraction), 0, "0.1", NULL, 0, 0.99,
     "fraction of rows held out (seeded random split)"},
    {"model.type", K_STR, F(model.type), 0, "\"logistic\"",
     "linear|logistic|softmax|decision_tree|random_forest|gradient_boosting|svm|mlp|huber", 0, 0,
     "linear (squared error), logistic (log-loss), softmax (cross-entropy); tree models "
     "decision_tree, random_forest, gradient_boosting (histogram trees); svm (linear SVM, "
     "model.loss), huber (Huber loss, delta 1), mlp (neural network: model.hidden ...)"},
    {"model.l2", K_NUM, F(model.l2), 0, "0", NULL, 0, BIG,
     "L2 penalty (l2/2)*||W||^2 on the mean loss; intercept not penalized"},
    {"model.classes", K_INT, F(model.classes), 0, "0", NULL, 0, 1e6,
     "softmax classes (0: largest label + 1)"},
    {"optimizer.type", K_STR, F(optimizer.type), 0, "\"sgd\"",
     "sgd|adam|exact|newton|lbfgs|adamw|rmsprop|adagrad", 0, 0,
     "update rule: sgd, adam; exact (linear: least squares on all ranks with ScaLAPACK), newton "
     "(logistic, softmax: Newton/IRLS), lbfgs (full-batch L-BFGS); these three ignore lr, batch "
     "and epochs"},
    {"optimizer.lr", K_NUM, F(optimizer.lr), 0, "0.1", NULL, 1e-300, BIG, "learning rate"},
    {"optimizer.momentum", K_NUM, F(optimizer.momentum), 0, "0", NULL, 0, 0.999999, "sgd momentum"},
    {"optimizer.nesterov", K_BOOL, F(optimizer.nesterov), 0, "false", NULL, 0, 0,
     "sgd Nesterov momentum"},
    {"optimizer.beta1", K_NUM, F(optimizer.beta1), 0, "0.9", NULL, 0, 0.999999, "adam beta1"},
    {"optimizer.beta2", K_NUM, F(optimizer.beta2), 0, "0.999", NULL, 0, 0.999999999, "adam beta2"},
    {"optimizer.eps", K_NUM, F(optimizer.eps), 0, "1e-8", NULL, 1e-300, 1, "adam epsilon"},
    {"optimizer.schedule.type", K_STR, F(optimizer.schedule.type), 0, "\"constant\"",
     "constant|step|cosine|exponential|plateau", 0, 0,
     "learning-rate schedule over epochs (exponential: lr * gamma^epoch; plateau: lr *= gamma "
     "after schedule.patience epochs without a validation-loss gain)"},
    {"optimizer.schedule.step_epochs", K_INT, F(optimizer.schedule.step_epochs), 0, "10", NULL, 1,
     1e9, "step: decay every this many epochs"},
    {"optimizer.schedule.gamma", K_NUM, F(optimizer.schedule.gamma), 0, "0.1", NULL, 0, 1,
     "step: decay factor"},
    {"optimizer.schedule.warmup_epochs", K_NUM, F(optimizer.schedule.warmup_epochs), 0, "0", NULL,
     0, 1e9, "linear warm-up epochs"},
    {"optimizer.schedule.min_lr", K_NUM, F(optimizer.schedule.min_lr), 0, "0", NULL, 0, BIG,
     "cosine: final learning rate"},
    {"batch.size", K_BATCH, F(batch.size), 0, "\"full\"", NULL, 1, 9.007199254740992e15,
     "global mini-batch size: a number, \"full\" (full-batch GD) or 1 (SGD)"},
    {"checkpoint.every_epochs", K_INT, F(checkpoint.every_epochs), 0, "1", NULL, 0, 1e9,
     "checkpoint every this many epochs (0: never)"},
    {"checkpoint.every_steps", K_INT, F(checkpoint.every_steps), 0, "0", NULL, 0, 1e15,
     "also checkpoint every this many steps (0: never)"},
    {"checkpoint.keep", K_INT, F(checkpoint.keep), 0, "3", NULL, 0, 1e9,
     "checkpoints kept (0: all)"},
    {"io.mode", K_STR, F(io.mode), 0, "\"parallel\"", "parallel|scatter", 0, 0,
     "parallel: each rank reads its rows (MPI-IO); scatter: rank 0 reads and scatters"},
    {"trace", K_BOOL, F(trace), 0, "false", NULL, 0, 0,
     "record each rank's read/compute/allreduce/checkpoint spans into run_dir/trace.json"},
    {"probe_bandwidth", K_BOOL, F(probe_bandwidth), 0, "false", NULL, 0, 0,
     "after each epoch, every rank at once reads its training rows once from start to end, as "
     "the epoch holds them; the slowest rank's time goes to metrics.h5 /epochs read_s (not into "
     "epoch_s): read_s / epoch_s is the fraction of that minute's memory bandwidth the epoch "
     "ran at (gradient descent: linear, logistic, softmax, svm, huber)"},
    {"early_stopping.patience", K_INT, F(early_stopping.patience), 0, "0", NULL, 0, 1e9,
     "stop after this many epochs without a validation-loss gain; model.h5 keeps the best "
     "epoch's weights (0: off; needs validation rows; after --resume, counts from there)"},
    {"early_stopping.min_delta", K_NUM, F(early_stopping.min_delta), 0, "0", NULL, 0, BIG,
     "the smallest decrease of the validation loss that counts as a gain"},
    {"checkpoint.max_restarts", K_INT, F(checkpoint.max_restarts), 0, "10", NULL, 0, 1e9,
     "Slurm requeues after preemption a job may take (SLURM_RESTART_COUNT); then it refuses"},
    {"schedule", K_STR, F(schedule), 0, NULL, NULL, 0, 0,
     "when `mbatch submit` runs the job: an ISO time (\"2026-12-01T02:00Z\") or recurring "
     "(\"daily @ 02:00 UTC\", \"weekly\", \"monthly\", \"quarterly\", cron \"0 2 * * *\")"},
    {"timeout_s", K_NUM, F(timeout_s), 0, "600", NULL, 0, 1e9,
     "a rank that does not reach a collective step within this many seconds ends the job with "
     "exit 5, naming the missing ranks and the step (0: wait forever)"},
    {"on_nonfinite", K_STR, F(on_nonfinite), 0, "\"fail\"", "fail|skip", 0, 0,
     "a non-finite loss or gradient: fail (exit 4) or skip the step and count it"},
    {"checkpoint.on_error", K_STR, F(checkpoint.on_error), 0, "\"fail\"", "fail|warn", 0, 0,
     "a failed checkpoint write (disk full, I/O error): fail (exit 3) or warn and go on"},
    {"io.memory_budget", K_INT, F(io.memory_budget), 0, "0", NULL, 0, 9e18,
     "bytes of memory per node the loaded data may take (0: the node's physical memory); over "
     "it, the gradient optimizers (linear models and the mlp) and the solvers stream each "
     "rank's rows from the file block by block (same results; all but full-batch linear models "
     "use a standardized copy, io.stream_cache), other jobs are refused before anything is "
     "read"},
    {"reproducible", K_BOOL, F(reproducible), 0, "false", NULL, 0, 0,
     "bitwise identical results on any number of ranks, also across a resume on another rank "
     "count: sums over samples are cut into fixed microblocks and added exactly"},
    {"model.task", K_STR, F(model.task), 0, "\"auto\"", "auto|classification|regression", 0, 0,
     "tree models: classification or regression (auto: classification when every label is a "
     "whole number in [0, 1000))"},
    {"model.n_trees", K_INT, F(model.n_trees), 0, "100", NULL, 1, 1e6,
     "random_forest: trees; gradient_boosting: boosting rounds (decision_tree: 1)"},
    {"model.max_depth", K_INT, F(model.max_depth), 0, "0", NULL, 0, 64,
     "tree models: maximum depth (0: unlimited for trees and forests, 6 for boosting)"},
    {"model.min_samples_leaf", K_NUM, F(model.min_samples_leaf), 0, "1", NULL, 1, 1e15,
     "tree models: minimum (bootstrap-weighted) samples in a leaf"},
    {"model.min_impurity_decrease", K_NUM, F(model.min_impurity_decrease), 0, "0", NULL, 0, BIG,
     "tree models: a split must decrease the weighted impurity by this much (as scikit-learn)"},
    {"model.max_features", K_NUM, F(model.max_features), 0, "0", NULL, 0, 1e9,
     "tree models: features tried per node: 0 = sqrt(d) for random_forest classification, all "
     "otherwise; a fraction in (0, 1); or a count >= 1"},
    {"model.max_bins", K_INT, F(model.max_bins), 0, "256", NULL, 2, 256,
     "tree models: histogram bins per feature (global quantiles; stored with the model)"},
    {"model.criterion", K_STR, F(model.criterion), 0, "\"auto\"", "auto|gini|entropy|variance", 0,
     0, "tree models: split criterion (auto: gini for classification, variance otherwise)"},
    {"model.learning_rate", K_NUM, F(model.learning_rate), 0, "0.1", NULL, 1e-12, 1e6,
     "gradient_boosting: shrinkage of every tree's values"},
    {"model.n_iter_no_change", K_INT, F(model.n_iter_no_change), 0, "0", NULL, 0, 1e6,
     "gradient_boosting: stop after this many rounds without a validation-loss gain (0: off)"},
    {"optimizer.solver", K_STR, F(optimizer.solver), 0, "\"cholesky\"", "cholesky|qr", 0, 0,
     "exact: cholesky (normal equations X'X/n + l2*I, PDPOSV) or qr (least squares, PDGELS)"},
    {"optimizer.tol", K_NUM, F(optimizer.tol), 0, "1e-8", NULL, 0, 1,
     "newton, lbfgs: stop when the largest gradient component is at most this"},
    {"optimizer.max_iter", K_INT, F(optimizer.max_iter), 0, "200", NULL, 1, 1e9,
     "newton, lbfgs: iteration limit (one metrics row per iteration)"},
    {"optimizer.history", K_INT, F(optimizer.history), 0, "10", NULL, 1, 1000,
     "lbfgs: correction pairs kept (memory m)"},
    {"report_gap", K_BOOL, F(report_gap), 0, "false", NULL, 0, 0,
     "compute the optimum once (exact or Newton) and record objective - optimum per epoch in "
     "metrics.h5 /gap"},
    {"placement.bind", K_STR, F(placement.bind), 0, "\"auto\"", "auto|core|numa|socket|gpu|none", 0,
     0,
     "where ranks run: core (a block of cores in one NUMA node each), numa, socket, gpu (ranks "
     "balanced over GPUs, on cores near them), none, auto (gpu if the node has GPUs, else core)"},
    {"placement.respect_launcher", K_BOOL, F(placement.respect_launcher), 0, "true", NULL, 0, 0,
     "keep a binding the launcher made (srun --cpu-bind, mpirun --bind-to) whatever the policy"},
    {"model.loss", K_STR, F(model.loss), 0, "\"hinge\"", "hinge|squared_hinge", 0, 0,
     "svm: hinge max(0, 1 - s z) or squared_hinge max(0, 1 - s z)^2 (labels 0/1, s = 2y - 1)"},
    {"model.l1", K_NUM, F(model.l1), 0, "0", NULL, 0, BIG,
     "L1 penalty on the weights (not intercepts), applied by a proximal step after each "
     "optimizer step; with model.l2, elastic net (linear models, svm, huber)"},
    {"model.hidden", K_INTLIST, F(model.hidden), F(model.nhidden), "[64]", NULL, 1, 1e6,
     "mlp: widths of the hidden layers, e.g. [64, 32] (at most 16 layers; [] is no hidden layer)"},
    {"model.activation", K_STR, F(model.activation), 0, "\"relu\"", "relu|tanh|sigmoid", 0, 0,
     "mlp: activation of the hidden layers (relu: He initialization; tanh, sigmoid: Xavier)"},
    {"model.batch_norm", K_BOOL, F(model.batch_norm), 0, "false", NULL, 0, 0,
     "mlp: batch normalization after every hidden affine layer, with the mean and variance of the "
     "global mini-batch (synchronized across ranks); running statistics for inference"},
    {"model.output", K_STR, F(model.output), 0, "\"logistic\"", "linear|logistic|softmax", 0, 0,
     "mlp: the head (linear: squared error; logistic: binary; softmax: model.classes classes)"},
    {"optimizer.weight_decay", K_NUM, F(optimizer.weight_decay), 0, "0.01", NULL, 0, 1,
     "adamw: decoupled weight decay (theta -= lr * weight_decay * theta each step)"},
    {"optimizer.clip_norm", K_NUM, F(optimizer.clip_norm), 0, "0", NULL, 0, BIG,
     "clip the global gradient to this L2 norm before each step (0: no clipping)"},
    {"optimizer.schedule.patience", K_INT, F(optimizer.schedule.patience), 0, "3", NULL, 1, 1e9,
     "plateau: epochs without a validation-loss gain before lr is multiplied by gamma"},
    {"optimizer.schedule.threshold", K_NUM, F(optimizer.schedule.threshold), 0, "1e-4", NULL, 0, 1,
     "plateau: a gain is a validation loss below best * (1 - threshold)"},
    {"batch.adaptive", K_BOOL, F(batch.adaptive), 0, "false", NULL, 0, 0,
     "mlp: double the global batch (up to batch.max_size) at an epoch's end when the gradient "
     "noise scale measured from the ranks' gradients exceeds the batch size"},
    {"batch.max_size", K_INT, F(batch.max_size), 0, "4096", NULL, 1, 9.007199254740992e15,
     "batch.adaptive: the largest global batch"},
    {"model.class_weight", K_STR, F(model.class_weight), 0, "\"none\"", NULL, 0, 0,
     "mlp: weights of the classes in the training loss: \"none\", \"balanced\" (n / (classes x "
     "rows of the class), over the training rows) or one number per class, \"1,20\""},
    {"dtype", K_STR, F(dtype), 0, "\"float64\"", "float64|float32", 0, 0,
     "storage of the training rows in memory for the gradient optimizers (float32: half the "
     "memory and memory traffic; gradients are still summed in float64); the exact/newton/lbfgs "
     "solvers, trees and mlp keep float64"},
    {"threads", K_INT, F(threads), 0, "1", NULL, 1, 1024,
     "threads per rank computing each step's gradient (sgd/adam outside reproducible mode): "
     "thread t of rank r takes the rows rank r * threads + t of ranks * threads ranks would, "
     "so 1 rank x 2 threads gives the bits of 2 ranks; bind the rank to as many cores"},
    {"batch.shuffle_block", K_INT, F(batch.shuffle_block), 0, "1", NULL, 1, 9.007199254740992e15,
     "mini-batch: consecutive training rows kept together when an epoch is shuffled (1: every "
     "row on its own; 64 or more: batches gather whole runs of rows, which memory streams at "
     "2-3x the speed of single rows; the blocks, not the rows, are shuffled; on P ranks keep it "
     "at most batch.size / (4 P), since a block lies on one rank)"},
    {"io.stream_cache", K_STR, F(io.stream_cache), 0, NULL, NULL, 0, 0,
     "streaming: directory for each rank's standardized copy of its training rows, written once "
     "and mapped (deleted at once, so nothing is left behind; its pages are the OS's page cache, "
     "not counted in io.memory_budget); \"none\" standardizes the blocks again every epoch, "
     "full-batch gradient steps only (default: run_dir)"},
    {"allreduce_bucket", K_INT, F(allreduce_bucket), 0, "65536", NULL, 0, 9.007199254740992e15,
     "mlp on several ranks: as soon as the backward pass has finished this many gradient values "
     "(whole layers, output first) their allreduce starts, overlapping the layers below, as "
     "DDP's buckets do; 0: one allreduce per step after the backward pass (batch.adaptive "
     "always uses one)"},
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

static const key_def *find_key(const char *path) {
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].path, path) == 0) return &KEYS[i];
    return NULL;
}

/* Is `path` a section, i.e. a proper prefix of some key followed by '.'? */
static int is_section(const char *path) {
    size_t n = strlen(path);
    for (int i = 0; i < NKEYS; i++)
        if (strncmp(KEYS[i].path, path, n) == 0 && KEYS[i].path[n] == '.') return 1;
    return 0;
}

/* Where does the key at dotted `path` start in the JSON text? Jansson keeps no positions for
 * values, so scan the text once, tracking the path of the current object. */
static void key_position(const char *text, const char *path, int *line, int *col) {
    char stack[16][256];
    int is_obj[16];
    int depth = -1, ln = 1, cl = 1;
    *line = 0;
    *col = 0;
    for (const char *p = text; *p; p++) {
        char ch = *p;
        if (ch == '{' || ch == '[') {
            if (depth < 15) depth++;
            is_obj[depth] = ch == '{';
            stack[depth][0] = '\0';
        } else if (ch == '}' || ch == ']') {
            if (depth >= 0) depth--;
        } else if (ch == '"') {
            int kl = ln, kc = cl;
            char buf[256];
            size_t n = 0;
            p++;
            cl++;
            for (; *p && *p != '"'; p++, cl++) {
                if (*p == '\\' && p[1]) {
                    p++;
                    cl++;
                }
                if (n + 1 < sizeof buf) buf[n++] = *p;
            }
            buf[n] = '\0';
            if (!*p) return;
            const char *q = p + 1;
            while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') q++;
            if (*q == ':' && depth >= 0 && is_obj[depth]) {
                snprintf(stack[depth], sizeof stack[depth], "%s", buf);
                char full[1024] = "";
                for (int i = 0; i <= depth; i++) {
                    if (!is_obj[i]) continue;
                    if (full[0]) strncat(full, ".", sizeof full - strlen(full) - 1);
                    strncat(full, stack[i], sizeof full - strlen(full) - 1);
                }
                if (strcmp(full, path) == 0) {
                    *line = kl;
                    *col = kc;
                    return;
                }
            }
        }
        if (*p == '\n') {
            ln++;
            cl = 1;
        } else {
            cl++;
        }
    }
}

static const char *kind_name(key_kind k) {
    switch (k) {
    case K_STR:
        return "a string";
    case K_INT:
        return "an integer";
    case K_NUM:
        return "a number";
    case K_BOOL:
        return "true or false";
    case K_LIST:
        return "a list of strings";
    case K_BATCH:
        return "a positive integer or \"full\"";
    case K_INTLIST:
        return "a list of integers";
    }
    return "?";
}

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* Context for messages: "jobs/a.json:7:5: " or "--set k=v: ". */
typedef struct ctx {
    const char *file;
    const char *text;
    char *const *sets; /* --set overrides: a value they set is blamed on them */
    int nsets;
} ctx;

static mb_err fail_at(const ctx *cx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mb_err fail_at(const ctx *cx, const char *path, const char *fmt, ...) {
    char where[512] = "";
    const char *set = NULL;
    for (int i = 0; path && i < cx->nsets; i++) {
        size_t n = strlen(path);
        if (strncmp(cx->sets[i], path, n) == 0 && cx->sets[i][n] == '=') set = cx->sets[i];
    }
    if (set) {
        snprintf(where, sizeof where, "--set %s: ", set);
    } else if (cx->text && path) {
        int line, col;
        key_position(cx->text, path, &line, &col);
        if (line > 0)
            snprintf(where, sizeof where, "%s:%d:%d: ", cx->file, line, col);
        else
            snprintf(where, sizeof where, "%s: ", cx->file);
    } else if (cx->file) {
        snprintf(where, sizeof where, "%s: ", cx->file);
    }
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mb_error_set(MB_EUSAGE, "%s%s", where, what);
}

/* Check that every key in obj (at prefix) is known and of the right JSON type. */
static mb_err check_tree(const ctx *cx, json_t *obj, const char *prefix) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        char path[512];
        if (prefix[0])
            snprintf(path, sizeof path, "%s.%s", prefix, k);
        else
            snprintf(path, sizeof path, "%s", k);
        const key_def *d = find_key(path);
        if (!d) {
            if (is_section(path)) {
                if (!json_is_object(v))
                    return fail_at(cx, path, "'%s' must be an object, not %s", path,
                                   json_type_name(v));
                mb_err err = check_tree(cx, v, path);
                if (err) return err;
                continue;
            }
            return fail_at(cx, path, "unknown key '%s' (mbatch train --help lists the keys)", path);
        }
        int ok = 0;
        switch (d->kind) {
        case K_STR:
            ok = json_is_string(v) || json_is_null(v);
            break;
        case K_INT:
            ok = json_is_integer(v) ||
                 (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
            break;
        case K_NUM:
            ok = json_is_number(v);
            break;
        case K_BOOL:
            ok = json_is_boolean(v);
            break;
        case K_LIST: {
            ok = json_is_array(v);
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) ok = ok && json_is_string(e);
            break;
        }
        case K_BATCH:
            ok = json_is_integer(v) ||
                 (json_is_string(v) && strcmp(json_string_value(v), "full") == 0);
            break;
        case K_INTLIST: {
            ok = json_is_array(v);
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) ok = ok && json_is_integer(e);
            break;
        }
        }
        if (!ok)
            return fail_at(cx, path, "'%s' must be %s, not %s", path, kind_name(d->kind),
                           json_type_name(v));
    }
    return MB_OK;
}

static json_t *lookup(json_t *root, const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur = json_is_object(cur) ? json_object_get(cur, tok) : NULL;
    return cur;
}

/* Set root[path] = v (stealing v), creating sections as needed. */
static int set_path(json_t *root, const char *path, json_t *v) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *save = NULL, *tok = strtok_r(buf, ".", &save);
    while (tok) {
        char *next = strtok_r(NULL, ".", &save);
        if (!next) return json_object_set_new(cur, tok, v);
        json_t *child = json_object_get(cur, tok);
        if (!json_is_object(child)) {
            child = json_object();
            json_object_set_new(cur, tok, child);
        }
        cur = child;
        tok = next;
    }
    json_decref(v);
    return -1;
}

static char *dupstr(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Fill the struct from the (checked) tree and defaults; range and choice checks. */
static mb_err fill(const ctx *cx, json_t *root, mb_job *job) {
    for (int i = 0; i < NKEYS; i++) {
        const key_def *d = &KEYS[i];
        json_t *v = lookup(root, d->path), *dv = NULL;
        if ((!v || json_is_null(v)) && d->dflt) v = dv = json_loads(d->dflt, JSON_DECODE_ANY, NULL);
        char *base = (char *)job + d->off;
        mb_err err = MB_OK;
        if (!v || json_is_null(v)) {
            json_decref(dv);
            continue;
        }
        switch (d->kind) {
        case K_STR: {
            const char *s = json_string_value(v);
            if (d->choices) {
                size_t n = strlen(s);
                const char *c = d->choices;
                int found = 0;
                while (*c) {
                    const char *bar = strchr(c, '|');
                    size_t len = bar ? (size_t)(bar - c) : strlen(c);
                    if (len == n && strncmp(c, s, n) == 0) found = 1;
                    c += len + (bar ? 1 : 0);
                }
                if (!found)
                    err = fail_at(cx, d->path, "'%s' is \"%s\"; expected one of: %s", d->path, s,
                                  d->choices);
            }
            *(char **)base = dupstr(s);
            break;
        }
        case K_INT:
        case K_NUM:
        case K_BATCH: {
            double x;
            if (d->kind == K_BATCH && json_is_string(v)) {
                *(int64_t *)base = 0;
                break;
            }
            x = json_number_value(v);
            if (!(x >= d->lo && x <= d->hi))
                err = fail_at(cx, d->path, "'%s' is %.17g; expected a value in [%g, %g]", d->path,
                              x, d->lo, d->hi);
            if (d->kind == K_NUM)
                *(double *)base = x;
            else if (!err) /* converting an out-of-range double to int64_t is undefined */
                *(int64_t *)base = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)x;
            break;
        }
        case K_BOOL:
            *(int *)base = json_is_true(v);
            break;
        case K_LIST: {
            size_t n = json_array_size(v);
            char **list = calloc(n + 1, sizeof *list);
            for (size_t j = 0; list && j < n; j++)
                list[j] = dupstr(json_string_value(json_array_get(v, j)));
            *(char ***)base = list;
            *(int *)((char *)job + d->count_off) = (int)n;
            break;
        }
        case K_INTLIST: {
            size_t n = json_array_size(v);
            int64_t *list = calloc(n + 1, sizeof *list);
            for (size_t j = 0; list && j < n; j++) {
                json_int_t x = json_integer_value(json_array_get(v, j));
                if (!err && !((double)x >= d->lo && (double)x <= d->hi))
                    err = fail_at(cx, d->path, "'%s'[%zu] is %lld; expected a value in [%g, %g]",
                                  d->path, j, (long long)x, d->lo, d->hi);
                list[j] = (int64_t)x;
            }
            *(int64_t **)base = list;
            *(int *)((char *)job + d->count_off) = (int)n;
            break;
        }
        }
        json_decref(dv);
        if (err) return err;
    }
    return MB_OK;
}

/* Rules that involve more than one key. */
static mb_err validate(const ctx *cx, mb_job *job) {
    if (!job->dataset.path)
        return fail_at(cx, NULL, "'dataset.path' is required (the HDF5 file to train on)");
    int matrix = job->dataset.X != NULL, columns = job->dataset.group != NULL;
    if (matrix && columns)
        return fail_at(cx, "dataset.group",
                       "set either 'dataset.X'/'dataset.y' (matrix layout) or 'dataset.group' "
                       "(columns layout), not both");
    if (!matrix && !columns) {
        job->dataset.X = dupstr("/X");
        if (!job->dataset.y) job->dataset.y = dupstr("/y");
        matrix = 1;
    }
    if (matrix && !job->dataset.y) job->dataset.y = dupstr("/y");
    if (columns) {
        if (!job->dataset.target)
            return fail_at(cx, "dataset.group", "the columns layout needs 'dataset.target'");
        if (job->dataset.nfeatures == 0)
            return fail_at(cx, "dataset.group", "the columns layout needs 'dataset.features'");
    }
    if (matrix && job->dataset.target)
        return fail_at(cx, "dataset.target",
                       "'dataset.target' is for the columns layout; the matrix layout uses "
                       "'dataset.y'");
    for (int i = 0; i < job->dataset.ncategorical; i++) {
        int found = 0;
        for (int j = 0; j < job->dataset.nfeatures; j++)
            found |= strcmp(job->dataset.categorical[i], job->dataset.features[j]) == 0;
        if (!found)
            return fail_at(cx, "dataset.categorical",
                           "categorical column '%s' is not among 'dataset.features'",
                           job->dataset.categorical[i]);
    }
    if (matrix && job->dataset.ncategorical > 0)
        return fail_at(cx, "dataset.categorical",
                       "'dataset.categorical' needs the columns layout ('dataset.group')");
    if (job->model.classes == 1)
        return fail_at(cx, "model.classes", "'model.classes' must be 0 (infer) or at least 2");
    if (strcmp(job->optimizer.type, "adam") == 0 && job->optimizer.momentum != 0)
        return fail_at(cx, "optimizer.momentum",
                       "'optimizer.momentum' applies to sgd; adam uses beta1/beta2");
    if (job->optimizer.nesterov && job->optimizer.momentum == 0)
        return fail_at(cx, "optimizer.nesterov", "Nesterov needs 'optimizer.momentum' > 0");
    {
        /* The solvers of src/solve need a smooth loss: exact only has a closed form for squared
         * error, Newton needs the Hessian of the linear/logistic/softmax losses. */
        const char *ot = job->optimizer.type, *mt = job->model.type;
        int smooth = !strcmp(mt, "linear") || !strcmp(mt, "logistic") || !strcmp(mt, "softmax");
        if (!strcmp(ot, "exact") && strcmp(mt, "linear"))
            return fail_at(cx, "optimizer.type",
                           "optimizer 'exact' solves linear (ridge) regression; model '%s' has no "
                           "closed form: use 'newton' or 'lbfgs'",
                           mt);
        if (!strcmp(ot, "newton") && !smooth)
            return fail_at(cx, "optimizer.type",
                           "optimizer 'newton' needs a linear, logistic or softmax model, not '%s'",
                           mt);
        /* Huber and the squared hinge are once differentiable: enough for L-BFGS. */
        const char *loss = job->model.loss ? job->model.loss : "";
        int c1 = smooth || !strcmp(mt, "huber") ||
                 (!strcmp(mt, "svm") && !strcmp(loss, "squared_hinge"));
        if (!strcmp(ot, "lbfgs") && !c1)
            return fail_at(cx, "optimizer.type",
                           "optimizer 'lbfgs' needs a smooth model (linear, logistic, softmax, "
                           "huber, or svm with model.loss squared_hinge), not '%s'%s",
                           mt, !strcmp(mt, "svm") ? " with the hinge loss" : "");
        int solver = !strcmp(ot, "exact") || !strcmp(ot, "newton") || !strcmp(ot, "lbfgs");
        if (solver && job->model.l1 > 0)
            return fail_at(cx, "model.l1",
                           "'model.l1' is applied by a proximal step of sgd/adam; optimizer '%s' "
                           "minimizes the smooth objective only: set model.l1 = 0",
                           ot);
        int linear = smooth || !strcmp(mt, "huber") || !strcmp(mt, "svm");
        if (job->probe_bandwidth && (solver || !linear))
            return fail_at(
                cx, "probe_bandwidth",
                "'probe_bandwidth' times the epochs of gradient descent (sgd, adam, ...) of "
                "linear, logistic, softmax, svm and huber models; model '%s' with optimizer "
                "'%s' has none",
                mt, ot);
        if (job->report_gap && !smooth)
            return fail_at(cx, "report_gap",
                           "'report_gap' needs a linear, logistic or softmax model, not '%s'", mt);
    }
    if (strcmp(job->model.type, "mlp") != 0) {
        /* The neural-network trainer has these; "hidden": [] makes it a linear model. */
        if (job->batch.adaptive)
            return fail_at(cx, "batch.adaptive",
                           "'batch.adaptive' needs model.type \"mlp\" (with \"hidden\": [] for a "
                           "linear, logistic or softmax model), not '%s'",
                           job->model.type);
        if (job->model.class_weight && strcmp(job->model.class_weight, "none") != 0)
            return fail_at(cx, "model.class_weight",
                           "'model.class_weight' needs model.type \"mlp\" (with \"hidden\": [] for "
                           "a logistic or softmax model), not '%s'",
                           job->model.type);
    }
    if (job->batch.adaptive && job->batch.size == 0)
        return fail_at(cx, "batch.adaptive",
                       "'batch.adaptive' grows a mini-batch: set 'batch.size'");
    if (!job->name) job->name = dupstr("job");
    for (const char *p = job->name; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.'))
            return fail_at(cx, "name", "'name' is \"%s\"; use letters, digits, '-', '_', '.'",
                           job->name);
    if (!job->run_dir) {
        size_t n = strlen(job->name) + 6;
        job->run_dir = malloc(n);
        if (job->run_dir) snprintf(job->run_dir, n, "runs/%s", job->name);
    }
    return MB_OK;
}

/* The canonical JSON: every key of the table with its effective value, in table order. */
static char *canonical(const mb_job *job) {
    json_t *root = json_object();
    for (int i = 0; i < NKEYS; i++) {
        const key_def *d = &KEYS[i];
        const char *base = (const char *)job + d->off;
        json_t *v = NULL;
        switch (d->kind) {
        case K_STR:
            v = *(char *const *)base ? json_string(*(char *const *)base) : NULL;
            break;
        case K_INT:
            v = json_integer(*(const int64_t *)base);
            break;
        case K_NUM:
            v = json_real(*(const double *)base);
            break;
        case K_BOOL:
            v = json_boolean(*(const int *)base);
            break;
        case K_BATCH: {
            int64_t b = *(const int64_t *)base;
            v = b == 0 ? json_string("full") : json_integer(b);
            break;
        }
        case K_LIST: {
            char *const *list = *(char **const *)base;
            int n = *(const int *)((const char *)job + d->count_off);
            if (n == 0) break;
            v = json_array();
            for (int j = 0; j < n; j++) json_array_append_new(v, json_string(list[j]));
            break;
        }
        case K_INTLIST: {
            const int64_t *list = *(int64_t *const *)base;
            int n = *(const int *)((const char *)job + d->count_off);
            v = json_array();
            for (int j = 0; list && j < n; j++) json_array_append_new(v, json_integer(list[j]));
            break;
        }
        }
        if (v) set_path(root, d->path, v);
    }
    char *s = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(root);
    return s;
}

static mb_err build(const ctx *cx, json_t *root, mb_job **out) {
    mb_job *job = calloc(1, sizeof *job);
    if (!job) return mb_error_set(MB_EUSAGE, "out of memory reading the job");
    mb_err err = check_tree(cx, root, "");
    if (!err) err = fill(cx, root, job);
    if (!err) err = validate(cx, job);
    if (!err) {
        job->canonical = canonical(job);
        if (!job->canonical) err = mb_error_set(MB_EUSAGE, "out of memory reading the job");
    }
    if (err) {
        mb_job_free(job);
        return err;
    }
    *out = job;
    return MB_OK;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

/* The job name defaults to the file's base name without its extension. */
static char *name_from_path(const char *path) {
    const char *slash = strrchr(path, '/');
    char *name = dupstr(slash ? slash + 1 : path);
    char *dot = name ? strrchr(name, '.') : NULL;
    if (dot && dot != name) *dot = '\0';
    return name;
}

mb_err mb_job_load(const char *path, char *const *sets, int nsets, mb_job **out) {
    *out = NULL;
    if (!path) return mb_job_load_text(NULL, NULL, sets, nsets, out);
    char *text = read_text(path);
    if (!text)
        return mb_error_set(MB_EUSAGE, "%s: cannot read the job file: %s", path, strerror(errno));
    mb_err err = mb_job_load_text(path, text, sets, nsets, out);
    free(text);
    return err;
}

mb_err mb_job_load_text(const char *path, const char *text, char *const *sets, int nsets,
                        mb_job **out) {
    *out = NULL;
    json_t *root = NULL;
    json_error_t je;
    mb_err err = MB_OK;
    if (path) {
        root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
        if (!root) {
            err = mb_error_set(MB_EUSAGE, "%s:%d:%d: %s", path, je.line, je.column, je.text);
            goto out;
        }
        if (!json_is_object(root)) {
            err = mb_error_set(MB_EUSAGE, "%s: a job file is a JSON object", path);
            goto out;
        }
    } else {
        root = json_object();
    }
    if (path && !json_object_get(root, "name")) {
        char *name = name_from_path(path);
        json_object_set_new(root, "name", json_string(name ? name : "job"));
        free(name);
    }
    ctx file_cx = {path ? path : "(job)", text, sets, nsets};
    err = check_tree(&file_cx, root, "");
    if (err) goto out;
    for (int i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i]) {
            err = mb_error_set(MB_EUSAGE, "--set %s: expected KEY=VALUE", sets[i]);
            goto out;
        }
        char key[512];
        snprintf(key, sizeof key, "%.*s", (int)(eq - sets[i]), sets[i]);
        if (!find_key(key)) {
            err = mb_error_set(MB_EUSAGE, "--set %s: unknown key '%s' (mbatch train --help)",
                               sets[i], key);
            goto out;
        }
        json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
        if (!v) v = json_string(eq + 1);
        set_path(root, key, v);
        err = check_tree(&file_cx, root, "");
        if (err) goto out;
    }
    {
        mb_job *job = NULL;
        err = build(&file_cx, root, &job);
        if (!err) *out = job;
    }
out:
    json_decref(root);
    return err;
}

mb_err mb_job_from_canonical(const char *json, mb_job **out) {
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    if (!root) return mb_error_set(MB_EUSAGE, "canonical job: %s", je.text);
    ctx cx = {"(canonical job)", json, NULL, 0};
    mb_err err = build(&cx, root, out);
    json_decref(root);
    return err;
}

void mb_job_free(mb_job *job) {
    if (!job) return;
    for (int i = 0; i < NKEYS; i++) {
        const key_def *d = &KEYS[i];
        char *base = (char *)job + d->off;
        if (d->kind == K_STR) free(*(char **)base);
        if (d->kind == K_LIST) {
            char **list = *(char ***)base;
            int n = *(int *)((char *)job + d->count_off);
            for (int j = 0; list && j < n; j++) free(list[j]);
            free(list);
        }
        if (d->kind == K_INTLIST) free(*(int64_t **)base);
    }
    free(job->canonical);
    free(job);
}

void mb_job_print_keys(FILE *f) {
    for (int i = 0; i < NKEYS; i++) {
        const key_def *d = &KEYS[i];
        char type[96];
        if (d->choices)
            snprintf(type, sizeof type, "%s", d->choices);
        else
            snprintf(type, sizeof type, "%s", kind_name(d->kind));
        fprintf(f, "  %-34s %-28s default %s\n      %s\n", d->path, type, d->dflt ? d->dflt : "-",
                d->help);
    }
}
