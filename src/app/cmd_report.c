/* cmd_report.c - `mbatch report`: one self-contained HTML page of a run's plots and key figures. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "mbatch/report.h"

static void usage(FILE *f) {
    fputs("usage: mbatch report RUN_DIR [--out FILE.html]\n"
          "\n"
          "Write one self-contained HTML page (inline SVG, no scripts, no network) describing the\n"
          "run in RUN_DIR (a job's run_dir): the key figures (job completion time, throughput,\n"
          "error rate, resource utilization, cost per 1000 samples in core-seconds), training and\n"
          "validation loss, validation metric, learning rate, batch size and throughput per\n"
          "epoch, and each rank's compute, communication and I/O time. It reads\n"
          "RUN_DIR/metrics.h5 (and RUN_DIR/model.h5 when the run finished); an unfinished run\n"
          "gives a partial page.\n"
          "  --out FILE   where to write the page (default RUN_DIR/report.html)\n"
          "A timeline of every rank is a separate file: run the job with \"trace\": true and open\n"
          "RUN_DIR/trace.json in https://ui.perfetto.dev or chrome://tracing.\n",
          f);
}

int mb_cmd_report(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--out") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mbatch: --out needs a value\n");
                return 1;
            }
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "mbatch: report: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return 1;
        } else if (!dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "mbatch: report: one RUN_DIR only (got '%s' and '%s')\n", dir, argv[i]);
            return 1;
        }
    }
    if (!dir) {
        usage(stderr);
        return 1;
    }
    mb_err err = mb_report_write(dir, out);
    if (err) {
        fprintf(stderr, "mbatch: %s\n", mb_error_message());
        return (int)err;
    }
    if (out)
        printf("mbatch: wrote %s\n", out);
    else
        printf("mbatch: wrote %s/report.html\n", dir);
    return 0;
}
