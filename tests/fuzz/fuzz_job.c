/* fuzz_job.c - libFuzzer harness for the job-file parser: any bytes as a job file, with --set
 * overrides after a "\n%%\n" line; an accepted job must survive the canonical round trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* Lines after "%%" are --set overrides, one per line. */
    char *sets[8];
    int nsets = 0;
    char *split = strstr(text, "\n%%\n");
    if (split) {
        *split = '\0';
        for (char *save = NULL, *tok = strtok_r(split + 4, "\n", &save); tok && nsets < 8;
             tok = strtok_r(NULL, "\n", &save))
            sets[nsets++] = tok;
    }
    mb_job *job = NULL;
    if (mb_job_load_text("fuzz.json", text, sets, nsets, &job) == MB_OK) {
        /* What rank 0 broadcasts, every other rank must rebuild into the same job. */
        mb_job *again = NULL;
        if (mb_job_from_canonical(job->canonical, &again) != MB_OK) {
            fprintf(stderr, "canonical job refused: %s\n%s\n", mb_error_message(), job->canonical);
            abort();
        }
        if (strcmp(again->canonical, job->canonical) != 0) {
            fprintf(stderr, "canonical round trip differs:\n%s\n%s\n", job->canonical,
                    again->canonical);
            abort();
        }
        mb_job_free(again);
    } else if (mb_error_message()[0] == '\0' || strchr(mb_error_message(), '\n')) {
        fprintf(stderr, "a refused job must give a one-line message, got '%s'\n",
                mb_error_message());
        abort();
    }
    mb_job_free(job);
    mb_error_clear();
    free(text);
    return 0;
}
