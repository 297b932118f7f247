/* place.h - where ranks run: plan a binding of a node's ranks with hwloc, apply it, describe it.
 *
 * Planning is pure: a topology (this machine or an hwloc XML export), a number of ranks on the
 * node and a policy give every rank a set of PUs, its cores, NUMA nodes and GPU
 * (mb_place_plan_make). `mbatch place` prints such a plan; mb_place_bind computes the same plan
 * for the ranks of this node and binds the calling rank's CPUs and memory to its slot.
 *
 * Policies (job key placement.bind):
 *   core    ranks spread evenly over the allowed cores; each gets a block of whole cores inside
 *           one NUMA node (several whole NUMA nodes when there are fewer ranks than nodes);
 *   numa    each rank gets all allowed cores of its NUMA node(s), ranks in proportion to cores;
 *   socket  the same with packages;
 *   gpu     local ranks balanced over the GPUs (counts differ by at most 1); the ranks of GPUs
 *           with the same locality split its allowed cores into blocks as with core;
 *   none    no binding: every rank may run on every allowed PU;
 *   auto    gpu if the node has GPUs, else core (mb_place_bind first keeps a launcher binding).
 * More ranks than cores is not an error: ranks then share cores (flag MB_PLACE_OVERLAP and a
 * warning). GPUs are CUDA OS devices, else NVML ones, else PCI display/3D devices (class 0x03xx)
 * of NVIDIA (0x10de) or AMD (0x1002); CUDA_VISIBLE_DEVICES is never written.
 */
#pragma once

#include <pthread.h>
#include <stdio.h>

#include "mbatch/comm.h"
#include "mbatch/error.h"

typedef enum {
    MB_BIND_AUTO,
    MB_BIND_CORE,
    MB_BIND_NUMA,
    MB_BIND_SOCKET,
    MB_BIND_GPU,
    MB_BIND_NONE
} mb_bind;

/* "auto" | "core" | "numa" | "socket" | "gpu" | "none"; returns -1 for anything else. */
int mb_bind_parse(const char *s, mb_bind *out);
const char *mb_bind_name(mb_bind b);

/* Plan flags: why a plan deserves a warning. */
enum {
    MB_PLACE_OVERLAP = 1, /* two ranks share a core (more ranks than cores in their domain) */
    MB_PLACE_SPAN = 2,    /* some rank's cores span NUMA nodes */
    MB_PLACE_SMALL = 4,   /* the allowed cpuset has fewer cores than ranks, the node more */
    MB_PLACE_GPU_FAR = 8  /* a GPU has no allowed cores near it */
};

typedef struct mb_place_slot {
    int npus, *pus;     /* OS indices of the PUs the rank may run on, ascending */
    int ncores, *cores; /* logical indices of their cores, ascending */
    int *cores_os;      /* OS indices of the same cores */
    int nnuma, *numa;   /* OS indices of the NUMA nodes of those PUs (memory binds there) */
    int gpu;            /* index into mb_place_plan.gpus; -1 for none */
} mb_place_slot;

typedef struct mb_place_gpu {
    char name[64];   /* model, e.g. "Tesla P100-SXM2-16GB" */
    char osname[32]; /* hwloc OS device name (cuda0, nvml0, card0) or "" */
    char busid[32];  /* PCI bus id "0000:04:00.0" or "" */
    int npus, *pus;  /* locality: OS indices of the allowed PUs near the GPU */
} mb_place_gpu;

typedef struct mb_place_plan {
    mb_bind policy; /* as resolved: never MB_BIND_AUTO */
    int nranks;
    mb_place_slot *ranks;
    int ngpus;
    mb_place_gpu *gpus;
    int npackages, nnuma, ncores, ncores_allowed, npus, npus_allowed;
    int flags;     /* MB_PLACE_* */
    int nwarnings; /* one sentence each, no trailing newline */
    char **warnings;
} mb_place_plan;

typedef struct mb_place_topo mb_place_topo; /* opaque: a loaded hwloc topology, I/O kept */

/* Load the topology of this machine (xml NULL) or of an hwloc XML export. Disallowed PUs are
 * kept in the topology so that plans can say how much of the node the allowed cpuset is.
 * Not collective. Free with mb_place_topo_free (NULL-safe). */
mb_err mb_place_topo_load(const char *xml, mb_place_topo **out);
void mb_place_topo_free(mb_place_topo *t);

/* The plan for nranks ranks on one node of t. Not collective, binds nothing.
 * Free with mb_place_plan_free (NULL-safe). */
mb_err mb_place_plan_make(const mb_place_topo *t, int nranks, mb_bind policy, mb_place_plan **out);
void mb_place_plan_free(mb_place_plan *p);
/* A table (rank, PUs, cores, NUMA, GPU) preceded by a one-line summary of the topology. */
void mb_place_plan_print(const mb_place_plan *p, FILE *f);
/* An array of {"rank", "pus", "cores", "numa", "gpu", "gpu_busid"} objects. */
void mb_place_plan_json(const mb_place_plan *p, FILE *f);

typedef struct mb_place_info {
    char host[64];
    char binding[128]; /* OS indices of the PUs this process is bound to, e.g. "0-3,8" */
    char gpu[64];      /* "" when no GPU is assigned */
    char cores[128];   /* OS indices of the cores of those PUs */
    char numa[32];     /* OS indices of their NUMA nodes */
    char gpu_busid[32];
    char how[32]; /* who chose the binding: "mbatch core", "launcher", "unbound", ... */
} mb_place_info;

/* Describe the calling process's current placement (the GPU is the one mb_place_bind chose).
 * Not collective. */
mb_err mb_place_describe(mb_place_info *out);

/* Bind every rank of c: ranks of one node (c->local_rank of c->local_size) get the slots of one
 * plan for that node. With respect_launcher, a binding the launcher already made (every rank's
 * cpuset is a strict subset of the allowed cpuset) is kept whatever the policy. The calling
 * thread's memory goes to the slot's NUMA node (preferred, not strict; interleaved when the slot
 * spans nodes). When report is set, rank 0 prints the placement table to stdout and the plan's
 * warnings to stderr. Runs its collectives on a duplicate of c. Collective. */
mb_err mb_place_bind(const mb_comm *c, const char *policy, int respect_launcher, int report);

/* pthread_create(tid, NULL, fn, arg) for a helper of this rank (the next epoch's order, the
 * streaming reader), on the PUs of this node that no local rank is bound to after the last
 * mb_place_bind (by mbatch or by the launcher), if there are any: a rank bound to one core would
 * otherwise share it with its helper (1 rank on 2 cores, B = 256: epochs 82-86 -> 68-73 ms).
 * Elsewhere the helper runs where the rank does. */
int mb_place_helper_thread(pthread_t *tid, void *(*fn)(void *), void *arg);

/* pthread_create(tid, NULL, fn, arg) for thread t (1 .. threads-1; 0 is the rank's own) of the
 * `threads` that compute this rank's gradient. Where the rank runs, unless the rank has fewer
 * PUs than threads (as when a launcher binds each rank to one core) and the node has spare PUs
 * (see above): then on one PU of its own, the rank's first, then spare ones. */
int mb_place_worker_thread(pthread_t *tid, void *(*fn)(void *), void *arg, int threads, int t);

/* How many PUs a rank's `threads` gradient threads have to themselves (the rank's, and its
 * share of the node's spare PUs), the PUs they may run on listed into list when it is not NULL;
 * `threads` itself before any mb_place_bind. */
int mb_place_worker_pus(int threads, char *list, size_t size);
