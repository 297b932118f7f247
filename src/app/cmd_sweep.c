/* cmd_sweep.c - `mbatch sweep`: expand a search space and train its configurations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "mbatch/comm.h"
#include "mbatch/sweep.h"

static void usage(FILE *f) {
    fputs("usage: mpirun -n RANKS mbatch sweep SWEEP.json [--groups G | --index I] [--resume]\n"
          "       mbatch sweep SWEEP.json --list | --count | --collect\n"
          "\n"
          "Train every configuration of a search space: a base job plus the keys to vary.\n"
          "\n"
          "  --groups G  split the ranks into G groups (contiguous blocks; default 1); world\n"
          "              rank 0 hands the next configuration to whichever group is free\n"
          "  --index I   train configuration I alone on all ranks (a Slurm array task; the\n"
          "              default when SLURM_ARRAY_TASK_ID is set and --groups is not given);\n"
          "              the task that completes the set writes the results table\n"
          "  --resume    skip configurations that have a result and resume the others from\n"
          "              their newest checkpoint (after a preemption or requeue)\n"
          "  --list      print the configurations (index, parameters, --set line); no MPI\n"
          "  --count     print the number of configurations (for sbatch --array=0-$((N-1)))\n"
          "  --collect   merge the per-configuration results into sweep.h5 and sweep.csv\n"
          "  --quiet     no per-epoch progress lines\n"
          "\n"
          "Sweep file (JSON):\n"
          "  base      a job file path, or an inline job object\n"
          "  space     {\"KEY\": [v1, v2, ...]}             a grid dimension (all combinations)\n"
          "            {\"KEY\": {\"uniform\": [a, b]}}       a random draw per configuration\n"
          "            {\"KEY\": {\"log_uniform\": [a, b]}}   ... uniform in log(a)..log(b)\n"
          "            {\"KEY\": {\"choice\": [v1, ...]}}     ... one of the values\n"
          "  samples   random draws per grid point (default 1)\n"
          "  seed      seed of the draws (default 0); the expansion is the same everywhere\n"
          "  metric    val_loss (default), train_loss, val_metric, accuracy (higher is better)\n"
          "            or rmse: what picks the best configuration\n"
          "  halving   {\"rungs\": [E1, E2, ...], \"keep\": F}: successive halving; at each rung\n"
          "            epoch only the best fraction F (default 0.5) goes on, resuming from its\n"
          "            checkpoint\n"
          "  run_dir   results directory (default runs/<base name>-sweep)\n"
          "\n"
          "Configuration i is the base with one --set per key, trained in RUN_DIR/cfg-<i>.\n"
          "Results: RUN_DIR/sweep.h5 (/results: index, status, params, set, losses, metric,\n"
          "epochs, seconds, setup_s, gap_s, exit_code, message) and RUN_DIR/sweep.csv. A failing\n"
          "configuration is recorded as failed and the sweep goes on; early stopping is a job\n"
          "key (early_stopping.patience, early_stopping.min_delta). Exit codes: mbatch --help.\n",
          f);
}

static int list(const mb_sweep *sw, int count_only) {
    if (count_only) {
        printf("%lld\n", (long long)sw->nconf);
        return 0;
    }
    printf("# %lld configurations of %s (base %s, run_dir %s, metric %s)\n", (long long)sw->nconf,
           sw->path, sw->base_label, sw->run_dir, sw->metric);
    for (int64_t i = 0; i < sw->nconf; i++) {
        char *line = mb_sweep_set_line(sw, i);
        printf("%lld\t%s\t%s\n", (long long)i, sw->conf[i].params, line ? line : "");
        free(line);
    }
    return 0;
}

int mb_cmd_sweep(int argc, char **argv) {
    const char *path = NULL;
    long long groups = 0, index = -1;
    int resume = 0, quiet = 0, do_list = 0, do_count = 0, do_collect = 0, index_given = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--groups") == 0) {
            if (mb_app_int("--groups", i + 1 < argc ? argv[++i] : NULL, 1, &groups) != 0) return 1;
        } else if (strcmp(argv[i], "--index") == 0) {
            if (mb_app_int("--index", i + 1 < argc ? argv[++i] : NULL, 0, &index) != 0) return 1;
            index_given = 1;
        } else if (strcmp(argv[i], "--resume") == 0) {
            resume = 1;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--list") == 0) {
            do_list = 1;
        } else if (strcmp(argv[i], "--count") == 0) {
            do_count = 1;
        } else if (strcmp(argv[i], "--collect") == 0) {
            do_collect = 1;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "mbatch sweep: unexpected argument '%s'\n\n", argv[i]);
            usage(stderr);
            return 1;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 1;
    }
    if (index_given && groups > 0) {
        fprintf(stderr, "mbatch sweep: --groups and --index exclude each other\n");
        return 1;
    }
    const char *task = getenv("SLURM_ARRAY_TASK_ID");
    if (!index_given && groups == 0 && task && task[0]) {
        if (mb_app_int("SLURM_ARRAY_TASK_ID", task, 0, &index) != 0) return 1;
        index_given = 1;
    }

    /* Listing, counting and merging need no MPI: they run on a login node. */
    if (do_list || do_count || do_collect) {
        mb_sweep *sw = NULL;
        if (mb_sweep_load(path, &sw) != MB_OK) {
            fprintf(stderr, "mbatch: %s\n", mb_error_message());
            return mb_error_code();
        }
        int rc = 0, complete = 0;
        if (do_list || do_count) rc = list(sw, do_count);
        if (do_collect && mb_sweep_collect(sw, 1, &complete) != MB_OK) {
            fprintf(stderr, "mbatch: %s\n", mb_error_message());
            rc = mb_error_code();
        }
        mb_sweep_free(sw);
        return rc;
    }

    mb_comm c;
    if (mb_comm_init(&argc, &argv, &c) != MB_OK) {
        fprintf(stderr, "mbatch: %s\n", mb_error_message());
        return MB_EENV;
    }
    mb_sweep *sw = NULL;
    char *text = NULL;
    mb_err err = MB_OK;
    /* Rank 0 reads the sweep file; every rank expands the same text the same way. */
    if (c.rank == 0) {
        FILE *f = fopen(path, "rb");
        long len = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) len = ftell(f);
        if (len >= 0 && (text = calloc((size_t)len + 1, 1)) != NULL) {
            rewind(f);
            if (fread(text, 1, (size_t)len, f) != (size_t)len) {
                free(text);
                text = NULL;
            }
        }
        if (f) fclose(f);
        if (!text) err = mb_error_set(MB_EUSAGE, "%s: cannot read the sweep file", path);
        if (!err) err = mb_sweep_parse(path, text, &sw);
    }
    err = mb_agree(&c, err, NULL);
    if (!err) {
        mb_bcast_str(&c, &text, 0);
        if (c.rank != 0) err = mb_sweep_parse(path, text, &sw);
        err = mb_agree(&c, err, NULL);
    }
    if (!err) {
        mb_sweep_opts o = {groups > 0 ? (int)groups : 1, index_given ? (int64_t)index : -1, resume,
                           !quiet};
        err = mb_sweep_run(&c, sw, &o);
    }
    if (c.rank == 0 && err) fprintf(stderr, "mbatch: %s\n", mb_error_message());
    mb_sweep_free(sw);
    free(text);
    mb_comm_free(&c);
    mb_comm_finalize();
    return err;
}
