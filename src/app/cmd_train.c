/* cmd_train.c - `mbatch train`: rank 0 reads the job, every rank trains. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "mbatch/comm.h"
#include "mbatch/job.h"
#include "mbatch/preempt.h"
#include "mbatch/run.h"

static void usage(FILE *f) {
    fputs("usage: mpirun -n RANKS mbatch train JOB.json [--set KEY=VALUE]... [--resume] [--quiet]\n"
          "\n"
          "Train the model a job file describes on every rank of the launch (mpirun, srun, or\n"
          "a single process). Writes RUN_DIR/model.h5, RUN_DIR/metrics.h5 and\n"
          "RUN_DIR/checkpoints/ckpt-<step>.h5 (RUN_DIR: the job's run_dir, default runs/<name>).\n"
          "\n"
          "  --set KEY=VALUE  override a job key (VALUE as JSON, else a string), e.g.\n"
          "                   --set optimizer.lr=0.05 --set batch.size=full\n"
          "  --resume         continue from the newest complete checkpoint in RUN_DIR (starts\n"
          "                   from scratch when there is none); the job must be the same except\n"
          "                   epochs, checkpoint, io and run_dir\n"
          "  --quiet          no progress lines\n"
          "\n"
          "SIGUSR1 or SIGTERM to any rank (Slurm preemption, scancel --signal, kill): every rank\n"
          "stops at the same step, writes a checkpoint and exits 75; --resume continues exactly.\n"
          "\n"
          "Job keys (file, --set):\n",
          f);
    mb_job_print_keys(f);
    fputs("\nA dataset path relative to the working directory. Exit codes: mbatch --help.\n", f);
}

int mb_cmd_train(int argc, char **argv) {
    const char *path = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int nsets = 0, resume = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            free(sets);
            return 0;
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            sets[nsets++] = argv[++i];
        } else if (strncmp(argv[i], "--set=", 6) == 0) {
            sets[nsets++] = argv[i] + 6;
        } else if (strcmp(argv[i], "--resume") == 0) {
            resume = 1;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "mbatch train: unexpected argument '%s'\n\n", argv[i]);
            usage(stderr);
            free(sets);
            return 1;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        free(sets);
        return 1;
    }

    /* Before MPI start-up: a preemption signal from here on is answered with a checkpoint. */
    mb_preempt_catch();
    mb_comm c;
    if (mb_comm_init(&argc, &argv, &c) != MB_OK) {
        fprintf(stderr, "mbatch: %s\n", mb_error_message());
        free(sets);
        return MB_EENV;
    }
    mb_job *job = NULL;
    mb_err err = MB_OK;
    char *canon = NULL;
    if (c.rank == 0) {
        err = mb_job_load(path, sets, nsets, &job);
        if (!err) canon = strdup(job->canonical);
    }
    err = mb_agree(&c, err, NULL);
    if (!err) {
        mb_bcast_str(&c, &canon, 0);
        if (c.rank != 0) err = mb_job_from_canonical(canon, &job);
        err = mb_agree(&c, err, NULL);
    }
    /* Every rank holds the same job now: from here on a missing rank ends the job (exit 5). */
    if (!err) mb_comm_set_timeout(job->timeout_s);
    mb_train_result res;
    if (!err) {
        mb_train_opts o = {resume, !quiet, 0};
        err = mb_train(&c, job, &o, &res);
    }
    if (c.rank == 0) {
        if (err) {
            fprintf(stderr, "mbatch: %s\n", mb_error_message());
        } else if (!quiet) {
            /* A job without validation rows has no validation loss (NaN in metrics.h5). */
            char val[64] = "";
            if (!isnan(res.val_loss))
                snprintf(val, sizeof val, ", validation loss %.6g", res.val_loss);
            printf("mbatch: done: %lld epochs, %lld steps in %.2f s (%.4g samples/s); final "
                   "train loss %.6g%s\n"
                   "mbatch: model   %s/model.h5\nmbatch: metrics %s/metrics.h5\n",
                   (long long)res.epochs, (long long)res.steps, res.seconds, res.samples_per_s,
                   res.train_loss, val, job->run_dir, job->run_dir);
            if (res.read_fraction > 0) /* two digits below 10% (0.57%), none above (78%) */
                printf("mbatch: epochs ran at %.*f%% of the memory read rate measured after each "
                       "(median read_s / epoch_s; probe_bandwidth)\n",
                       res.read_fraction < 0.1 ? 2 : 0, 100.0 * res.read_fraction);
        }
    }
    mb_job_free(job);
    free(canon);
    free(sets);
    mb_comm_free(&c);
    mb_comm_finalize();
    return err;
}
