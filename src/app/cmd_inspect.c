/* cmd_inspect.c - `mbatch inspect`: describe an HDF5 file mbatch reads or writes. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "mbatch/inspect.h"

int mb_cmd_inspect(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs("usage: mbatch inspect FILE.h5...\n\nDescribe a checkpoint or model (model, "
              "progress, provenance, features, weights), a metrics file (one line per epoch) or\n"
              "any other HDF5 file (its datasets, shapes and types).\n",
              argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        mb_err err = mb_inspect(argv[i], stdout);
        if (err) {
            fprintf(stderr, "mbatch: %s\n", mb_error_message());
            mb_error_clear();
            rc = (int)err;
        }
    }
    return rc;
}
