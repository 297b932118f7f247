/* main.c - the mbatch command: dispatch to a subcommand. */
#include <stdio.h>

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "mbatch: under construction\n");
    return 1;
}
