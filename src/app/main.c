/* main.c - the mbatch command: dispatch to a subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

static const char USAGE[] =
    "usage: mbatch COMMAND [ARGS]\n"
    "\n"
    "Train and apply gradient-based models on HDF5 datasets across MPI ranks.\n"
    "\n"
    "commands:\n"
    "  train   JOB.json [--set K=V]... [--resume]   train a model (run under mpirun or srun)\n"
    "  predict --model RUN/model.h5 --data IN.h5 --out OUT.h5   apply a model, distributed\n"
    "  gen     --kind logistic|linear|softmax --rows N --cols D --out FILE.h5   synthetic data\n"
    "  inspect FILE.h5 [--csv]                     a checkpoint, model, metrics or data file\n"
    "  report  RUN_DIR [--out report.html]         plots and key figures of a run, one HTML page\n"
    "  place   [--topology FILE.xml] --ranks N [--policy P] [--json]   where ranks would run\n"
    "  sweep   SWEEP.json [--groups G | --index I]   a hyperparameter sweep (grid, random, "
    "halving)\n"
    "  submit  JOB.json [--dry-run] [--ntasks N]   sbatch it (or scrontab, per its \"schedule\")\n"
    "\n"
    "`mbatch COMMAND --help` explains each. Exit codes: 0 success, 1 usage or job-file error,\n"
    "2 bad data, 3 I/O error, 4 numerical divergence, 5 MPI or environment error,\n"
    "75 stopped after writing a checkpoint (resume with --resume).\n";

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("mbatch %s\n", MBATCH_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0) return mb_cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0) return mb_cmd_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "gen") == 0) return mb_cmd_gen(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0) return mb_cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0) return mb_cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "place") == 0) return mb_cmd_place(argc - 1, argv + 1);
    if (strcmp(cmd, "sweep") == 0) return mb_cmd_sweep(argc - 1, argv + 1);
    if (strcmp(cmd, "submit") == 0) return mb_cmd_submit(argc - 1, argv + 1);
    fprintf(stderr, "mbatch: unknown command '%s'\n\n%s", cmd, USAGE);
    return 1;
}

int mb_app_int(const char *opt, const char *val, long long min, long long *out) {
    char *end = NULL;
    if (!val) {
        fprintf(stderr, "mbatch: %s needs a value\n", opt);
        return -1;
    }
    long long v = strtoll(val, &end, 10);
    if (end == val || *end != '\0' || v < min) {
        fprintf(stderr, "mbatch: %s is '%s'; expected an integer >= %lld\n", opt, val, min);
        return -1;
    }
    *out = v;
    return 0;
}
