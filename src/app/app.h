/* app.h - the subcommands of the mbatch command. Each returns the process exit code. */
#pragma once

int mb_cmd_train(int argc, char **argv);
int mb_cmd_predict(int argc, char **argv);
int mb_cmd_gen(int argc, char **argv);
int mb_cmd_inspect(int argc, char **argv);
int mb_cmd_report(int argc, char **argv);
int mb_cmd_place(int argc, char **argv);
int mb_cmd_sweep(int argc, char **argv);
int mb_cmd_submit(int argc, char **argv);

/* Parse a positive or non-negative integer option value; prints a usage error and returns -1. */
int mb_app_int(const char *opt, const char *val, long long min, long long *out);
