/* guard.c - the memory budget of a load and the cross-rank parameter hash. */
#include "guard.h"

#include <string.h>
#include <unistd.h>

#include "trees.h"

/* Bytes one rank holds per row of the file at its peak, as doubles of the row and its label.
 * Numeric columns: the raw rows become the training shard in place (state.c), and the validation
 * rows, a float32 copy or an mlp's batch add less than a second copy; 64 bytes more for the
 * labels, the split and a mini-batch's epoch orders (48 bytes). One-hot columns need the raw and
 * the expanded rows at once, the qr solver a column-major copy, trees their own structures:
 * three copies, the expanded width counted as at least the raw one. */
static double bytes_per_row(const mb_job *job, const mb_dataset *ds) {
    int64_t ncol = mb_dataset_ncol(ds);
    double cols = (double)ncol + 1, copies = 2.0;
    if (mb__is_tree_model(job->model.type ? job->model.type : "") ||
        (job->optimizer.type && strcmp(job->optimizer.type, "exact") == 0 &&
         job->optimizer.solver && strcmp(job->optimizer.solver, "qr") == 0))
        copies = 3.0;
    for (int64_t j = 0; j < ncol && copies < 3.0; j++)
        if (mb_dataset_is_categorical(ds, j)) copies = 3.0;
    return 8.0 * cols * copies + 64.0;
}

mb_err mb__check_memory_budget(const mb_comm *c, const mb_job *job, const mb_dataset *ds) {
    if (c->rank != 0) return MB_OK;
    double budget = (double)job->io.memory_budget;
    const char *what = "io.memory_budget";
    if (budget <= 0) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages <= 0 || page <= 0) return MB_OK;
        budget = (double)pages * (double)page;
        what = "the node's physical memory (io.memory_budget = 0)";
    }
    /* The ranks of one node share its memory; rank 0's node holds local_size shards. */
    double rows = (double)mb_dataset_rows(ds);
    double per_node = rows / c->size * c->local_size * bytes_per_row(job, ds);
    if (per_node <= budget) return MB_OK;
    return mb_error_set(MB_EDATA,
                        "%s declares %.0f rows x %lld columns: loading it on %d rank%s would take "
                        "about %.3g GiB per node, over %s (%.3g GiB); use more nodes, a smaller "
                        "dataset or raise io.memory_budget",
                        mb_dataset_path(ds), rows, (long long)mb_dataset_ncol(ds), c->size,
                        c->size == 1 ? "" : "s", per_node / 1073741824.0, what,
                        budget / 1073741824.0);
}

mb_err mb__check_params_agree(const mb_comm *c, const double *theta, int64_t n, int64_t step) {
    /* FNV-1a of the bytes; min and max over ranks differ iff some rank disagrees. */
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *b = (const unsigned char *)theta;
    for (size_t i = 0; i < (size_t)n * sizeof(double); i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    int64_t mm[2] = {(int64_t)(h >> 1), -(int64_t)(h >> 1)}; /* min of h, min of -h = -max */
    mb_allreduce_min_i64(c, mm, 2);
    if (mm[0] == -mm[1]) return MB_OK;
    return mb_error_set(MB_ENUMERIC,
                        "step %lld: the model parameters differ across ranks (hash %016llx on rank "
                        "%d): silent divergence (a faulty node or a nondeterministic reduction); "
                        "resume from the last checkpoint",
                        (long long)step, (unsigned long long)h, c->rank);
}
