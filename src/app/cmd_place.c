/* cmd_place.c - `mbatch place`: the placement plan for N ranks on one node, without binding. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "mbatch/place.h"

static const char HELP[] =
    "usage: mbatch place [--topology FILE.xml] [--ranks N] [--policy P] [--json]\n"
    "\n"
    "Print where N ranks on one node would run: each rank's PUs (OS indices), cores (logical\n"
    "indices), NUMA nodes (OS indices) and GPU. Nothing is bound.\n"
    "\n"
    "  --topology FILE.xml  an hwloc XML export (lstopo FILE.xml); default: this machine\n"
    "  --ranks N            ranks on the node (default: one per allowed core)\n"
    "  --policy P           auto|core|numa|socket|gpu|none (default auto: gpu if the node has\n"
    "                       GPUs, else core); the job key placement.bind takes the same values\n"
    "  --json               an array of {\"rank\", \"pus\", \"cores\", \"numa\", \"gpu\", "
    "\"gpu_busid\"}\n"
    "\n"
    "core: ranks spread evenly, each on a block of whole cores within one NUMA node. numa,\n"
    "socket: each rank on all allowed cores of its NUMA node or package. gpu: ranks balanced\n"
    "over the GPUs (counts differ by at most 1), on cores near their GPU. More ranks than cores\n"
    "is allowed: ranks then share cores, with a warning. Warnings go to stderr.\n";

int mb_cmd_place(int argc, char **argv) {
    const char *xml = NULL, *policy = "auto";
    long long nranks = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(HELP, stdout);
            return 0;
        } else if (strcmp(a, "--topology") == 0 && v) {
            xml = v;
            i++;
        } else if (strcmp(a, "--ranks") == 0) {
            if (mb_app_int(a, v, 1, &nranks) != 0) return 1;
            if (nranks > 1000000) {
                fprintf(stderr, "mbatch: --ranks is %lld; expected at most 1000000\n", nranks);
                return 1;
            }
            i++;
        } else if (strcmp(a, "--policy") == 0 && v) {
            policy = v;
            i++;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else {
            fprintf(stderr, "mbatch: place: unexpected argument '%s'\n\n%s", a, HELP);
            return 1;
        }
    }
    mb_bind pol;
    if (mb_bind_parse(policy, &pol) != 0) {
        fprintf(stderr, "mbatch: --policy is '%s'; expected auto|core|numa|socket|gpu|none\n",
                policy);
        return 1;
    }
    mb_place_topo *t = NULL;
    mb_place_plan *plan = NULL;
    mb_err err = mb_place_topo_load(xml, &t);
    if (!err && nranks == 0) {
        /* One rank per allowed core: plan once to count them. */
        err = mb_place_plan_make(t, 1, pol, &plan);
        if (!err) nranks = plan->ncores_allowed;
        mb_place_plan_free(plan);
        plan = NULL;
    }
    if (!err) err = mb_place_plan_make(t, (int)nranks, pol, &plan);
    if (err) {
        fprintf(stderr, "mbatch: %s\n", mb_error_message());
        mb_error_clear();
        mb_place_topo_free(t);
        return (int)err;
    }
    if (json) {
        mb_place_plan_json(plan, stdout);
    } else {
        if (xml) printf("%s: ", xml);
        mb_place_plan_print(plan, stdout);
    }
    fflush(stdout);
    for (int i = 0; i < plan->nwarnings; i++)
        fprintf(stderr, "mbatch: warning: %s\n", plan->warnings[i]);
    mb_place_plan_free(plan);
    mb_place_topo_free(t);
    return 0;
}
