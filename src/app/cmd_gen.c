/* cmd_gen.c - `mbatch gen`: write a synthetic dataset with known true weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "mbatch/gen.h"

static void usage(FILE *f) {
    fputs("usage: mbatch gen --kind logistic|linear|softmax|transactions|spirals --rows N --cols D "
          "--out FILE.h5\n"
          "                  [--classes K] [--layout matrix|columns] [--categorical C]\n"
          "                  [--levels L] [--dtype float64|float32] [--noise S] [--seed S]\n"
          "\n"
          "Write a synthetic dataset whose true weights are known (/true/w, /true/b).\n"
          "  --kind        target: linear (y = x.w + b + noise), logistic (0/1),\n"
          "                softmax (class ids 0..K-1); transactions: group /transactions\n"
          "                with amount, location, time_of_day, merchant_category and a rare\n"
          "                is_fraudulent (about 2%), no --cols needed; spirals: /X [N, 2]\n"
          "                two interleaved spirals, /y 0/1 (--noise on the points)\n"
          "  --rows, --cols  N samples, D numeric features\n"
          "  --classes     softmax classes K (default 3)\n"
          "  --layout      matrix: /X [N, D] and /y (default); columns: group /data with one\n"
          "                1-D dataset per column (x0.., c0.., y)\n"
          "  --categorical C integer categorical columns c0..c{C-1} (columns layout)\n"
          "  --levels      codes per categorical column (default 4)\n"
          "  --dtype       feature storage type (default float64)\n"
          "  --noise       linear noise standard deviation (default 0.1)\n"
          "  --seed        every value is a function of (seed, row, column) (default 1)\n"
          "Jobs for the matrix layout: \"dataset\": {\"path\": FILE, \"X\": \"/X\", \"y\": "
          "\"/y\"}.\n",
          f);
}

int mb_cmd_gen(int argc, char **argv) {
    mb_gen_opts o;
    memset(&o, 0, sizeof o);
    o.kind = "logistic";
    o.layout = "matrix";
    o.classes = 3;
    o.levels = 4;
    o.noise = 0.1;
    o.seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "mbatch gen: %s needs a value\n\n", a);
            usage(stderr);
            return 1;
        }
        i++;
        if (strcmp(a, "--kind") == 0) {
            o.kind = v;
        } else if (strcmp(a, "--layout") == 0) {
            o.layout = v;
        } else if (strcmp(a, "--out") == 0) {
            o.out = v;
        } else if (strcmp(a, "--dtype") == 0) {
            if (strcmp(v, "float32") != 0 && strcmp(v, "float64") != 0) {
                fprintf(stderr, "mbatch gen: --dtype is '%s'; expected float32 or float64\n", v);
                return 1;
            }
            o.float32 = strcmp(v, "float32") == 0;
        } else if (strcmp(a, "--noise") == 0) {
            char *end;
            o.noise = strtod(v, &end);
            if (*end || o.noise < 0) {
                fprintf(stderr, "mbatch gen: --noise is '%s'; expected a number >= 0\n", v);
                return 1;
            }
        } else if (strcmp(a, "--rows") == 0 || strcmp(a, "--cols") == 0 ||
                   strcmp(a, "--classes") == 0 || strcmp(a, "--categorical") == 0 ||
                   strcmp(a, "--levels") == 0 || strcmp(a, "--seed") == 0) {
            long long min = strcmp(a, "--classes") == 0 || strcmp(a, "--levels") == 0     ? 2
                            : strcmp(a, "--categorical") == 0 || strcmp(a, "--seed") == 0 ? 0
                                                                                          : 1;
            if (mb_app_int(a, v, min, &x) != 0) return 1;
            if (a[2] == 'r') o.rows = x;
            if (a[2] == 'c' && a[3] == 'o') o.cols = x;
            if (a[2] == 'c' && a[3] == 'l') o.classes = x;
            if (a[2] == 'c' && a[3] == 'a') o.categorical = x;
            if (a[2] == 'l') o.levels = x;
            if (a[2] == 's') o.seed = (unsigned long long)x;
        } else {
            fprintf(stderr, "mbatch gen: unexpected argument '%s'\n\n", a);
            usage(stderr);
            return 1;
        }
    }
    int transactions = strcmp(o.kind, "transactions") == 0;
    if (transactions && o.cols <= 0) o.cols = 4; /* its four columns are fixed */
    int spirals = strcmp(o.kind, "spirals") == 0;
    if (spirals && o.cols <= 0) o.cols = 2;
    if (!o.out || o.rows <= 0 || o.cols <= 0) {
        fprintf(stderr, "mbatch gen: --rows, --cols and --out are required\n\n");
        usage(stderr);
        return 1;
    }
    mb_err err = mb_gen(&o);
    if (err) {
        fprintf(stderr, "mbatch: %s\n", mb_error_message());
        return err;
    }
    if (transactions) {
        printf("mbatch: wrote %s: group /transactions (amount, location, time_of_day, "
               "merchant_category; target is_fraudulent), seed %llu\n",
               o.out, (unsigned long long)o.seed);
        return 0;
    }
    if (spirals) {
        printf("mbatch: wrote %s: %lld rows, two spirals /X [N, 2], /y 0/1, noise %g, seed %llu\n",
               o.out, (long long)o.rows, o.noise, (unsigned long long)o.seed);
        return 0;
    }
    printf("mbatch: wrote %s: %lld rows x %lld columns, %s, %s layout, seed %llu\n", o.out,
           (long long)o.rows, (long long)(o.cols + o.categorical), o.kind, o.layout,
           (unsigned long long)o.seed);
    return 0;
}
