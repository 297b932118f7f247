/* cmd_inspect.c - `mbatch inspect`: describe an HDF5 file mbatch reads or writes. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "mbatch/inspect.h"

int mb_cmd_inspect(int argc, char **argv) {
    int csv = 0, nfiles = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs("usage: mbatch inspect [--csv] FILE.h5...\n\nDescribe a checkpoint or model "
                  "(model, progress, provenance, features, weights), a metrics file (one line "
                  "per epoch) or\nany other HDF5 file (its datasets, shapes and types).\n"
                  "  --csv   print a metrics file's per-epoch table as CSV (a header line, full\n"
                  "          precision, epoch counted from 1), for spreadsheets and scripts\n",
                  stdout);
            return 0;
        }
        if (strcmp(argv[i], "--csv") == 0)
            csv = 1;
        else
            nfiles++;
    }
    if (nfiles == 0) {
        fputs("usage: mbatch inspect [--csv] FILE.h5...\n", stderr);
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--csv") == 0) continue;
        mb_err err = csv ? mb_inspect_csv(argv[i], stdout) : mb_inspect(argv[i], stdout);
        if (err) {
            fprintf(stderr, "mbatch: %s\n", mb_error_message());
            mb_error_clear();
            rc = (int)err;
        }
    }
    return rc;
}
