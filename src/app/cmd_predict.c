/* cmd_predict.c - `mbatch predict`: apply a model to a dataset on every rank. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "mbatch/comm.h"
#include "mbatch/run.h"

static void usage(FILE *f) {
    fputs("usage: mpirun -n RANKS mbatch predict --model RUN/model.h5 --data IN.h5 --out OUT.h5\n"
          "                                      [--io parallel|scatter] [--quiet]\n"
          "\n"
          "Apply a trained model (or any checkpoint) to IN.h5, which has the training job's\n"
          "layout (the same X or group and feature names; the target is optional and, when\n"
          "present, accuracy or RMSE is reported). The model's own preprocessing (one-hot\n"
          "categories, mean and std) is applied. OUT.h5 gets /predictions [N] (linear: value;\n"
          "logistic: P(y=1)) or [N, K] (softmax probabilities) and /label [N].\n",
          f);
}

int mb_cmd_predict(int argc, char **argv) {
    mb_predict_opts o = {NULL, NULL, NULL, "parallel", 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--quiet") == 0) {
            o.progress = 0;
        } else if (v && strcmp(a, "--model") == 0) {
            o.model = v, i++;
        } else if (v && strcmp(a, "--data") == 0) {
            o.data = v, i++;
        } else if (v && strcmp(a, "--out") == 0) {
            o.out = v, i++;
        } else if (v && strcmp(a, "--io") == 0 &&
                   (strcmp(v, "parallel") == 0 || strcmp(v, "scatter") == 0)) {
            o.mode = v, i++;
        } else {
            fprintf(stderr, "mbatch predict: unexpected argument '%s'\n\n", a);
            usage(stderr);
            return 1;
        }
    }
    if (!o.model || !o.data || !o.out) {
        fprintf(stderr, "mbatch predict: --model, --data and --out are required\n\n");
        usage(stderr);
        return 1;
    }
    mb_comm c;
    if (mb_comm_init(&argc, &argv, &c) != MB_OK) {
        fprintf(stderr, "mbatch: %s\n", mb_error_message());
        return MB_EENV;
    }
    mb_err err = mb_predict(&c, &o);
    if (err && c.rank == 0) fprintf(stderr, "mbatch: %s\n", mb_error_message());
    mb_comm_free(&c);
    mb_comm_finalize();
    return err;
}
