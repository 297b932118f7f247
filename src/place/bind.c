/* bind.c - bind this node's ranks to their slots of the placement plan, and report where every
 * rank runs. */
#define _GNU_SOURCE /* cpu_set_t, pthread_attr_setaffinity_np */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbatch/place.h"
#include "place_internal.h"

/* The GPU and the origin of the binding chosen by the last mb_place_bind of this process; this
 * rank's PUs and the node's PUs no local rank is bound to (known: both were found). */
static struct {
    char gpu[64], busid[32], how[32];
    cpu_set_t mine, spare;
    int known, local_rank, local_size;
} placed;

/* The PUs of set as a list ("0-3,8"). */
static void cpus_list(const cpu_set_t *set, char *buf, size_t size) {
    int v[CPU_SETSIZE], n = 0;
    for (int pu = 0; pu < CPU_SETSIZE; pu++)
        if (CPU_ISSET(pu, set)) v[n++] = pu;
    mb__place_list(v, n, buf, size);
}

/* placed.mine and placed.spare: the PUs this node allows that no local rank is bound to,
 * whoever bound them (mbatch, the launcher; unbound ranks take them all). Collective over c. */
static void find_spare(hwloc_topology_t topo, const mb_comm *c) {
    cpu_set_t mine, *all = calloc((size_t)c->local_size, sizeof *all);
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) /* then count every PU as in use */
        for (int pu = 0; pu < CPU_SETSIZE; pu++) CPU_SET(pu, &mine);
    MPI_Comm node;
    MB_MPI(MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node));
    int ok = all != NULL;
    MB_MPI(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, node));
    if (ok)
        MB_MPI(MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE,
                             node));
    MB_MPI(MPI_Comm_free(&node));
    placed.mine = mine;
    placed.known = 1;
    placed.local_rank = c->local_rank;
    placed.local_size = c->local_size;
    CPU_ZERO(&placed.spare);
    if (ok) {
        int pu;
        hwloc_bitmap_foreach_begin(pu, hwloc_topology_get_allowed_cpuset(topo)) {
            int used = pu >= CPU_SETSIZE;
            for (int r = 0; r < c->local_size && !used; r++) used = CPU_ISSET(pu, &all[r]);
            if (!used) CPU_SET(pu, &placed.spare);
        }
        hwloc_bitmap_foreach_end();
    }
    free(all);
}

/* pthread_create(tid, NULL, fn, arg) with the thread's affinity set to set; where the caller
 * runs should that fail (PUs out of reach after all). */
static int create_on(pthread_t *tid, void *(*fn)(void *), void *arg, const cpu_set_t *set) {
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0) return rc;
    rc = pthread_attr_setaffinity_np(&attr, sizeof *set, set);
    if (rc == 0) rc = pthread_create(tid, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc == 0 ? 0 : pthread_create(tid, NULL, fn, arg);
}

int mb_place_helper_thread(pthread_t *tid, void *(*fn)(void *), void *arg) {
    if (!CPU_COUNT(&placed.spare)) return pthread_create(tid, NULL, fn, arg);
    return create_on(tid, fn, arg, &placed.spare);
}

int mb_place_worker_pus(int threads, char *list, size_t size) {
    if (!placed.known) return threads; /* not placed: nothing known to be short */
    int own = CPU_COUNT(&placed.mine);
    if (list && size) { /* the rank's own PUs, and the spare ones when it has too few */
        cpu_set_t set = placed.mine;
        if (own < threads) CPU_OR(&set, &set, &placed.spare);
        cpus_list(&set, list, size);
    }
    if (own >= threads) return own;
    /* The node's ranks share the spare PUs: this rank's part of them. */
    int extra = CPU_COUNT(&placed.spare) / (placed.local_size > 0 ? placed.local_size : 1);
    return own + (extra < threads - own ? extra : threads - own);
}

/* The index-th PU of set (counting from 0), or -1. */
static int nth_pu(const cpu_set_t *set, int index) {
    for (int pu = 0; pu < CPU_SETSIZE; pu++)
        if (CPU_ISSET(pu, set) && index-- == 0) return pu;
    return -1;
}

int mb_place_worker_thread(pthread_t *tid, void *(*fn)(void *), void *arg, int threads, int t) {
    int own = CPU_COUNT(&placed.mine), nspare = CPU_COUNT(&placed.spare);
    if (!placed.known || own >= threads || !nspare) return pthread_create(tid, NULL, fn, arg);
    /* One PU each, so that the scheduler does not keep a worker on the core of the thread that
     * wakes it: the rank's own PUs first, then spare ones, the ranks of a node starting at
     * different spare PUs. */
    int pu = t < own
                 ? nth_pu(&placed.mine, t)
                 : nth_pu(&placed.spare, (t - own + placed.local_rank * (threads - own)) % nspare);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pu >= 0) CPU_SET(pu, &set);
    return create_on(tid, fn, arg, &set);
}

/* host, binding, cores and NUMA nodes of the current binding, from a loaded topology. */
static void describe(hwloc_topology_t topo, mb_place_info *out) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc(), nodes = hwloc_bitmap_alloc();
    if (!set || !nodes) goto out;
    if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) != 0 &&
        hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_THREAD) != 0)
        hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(topo));
    hwloc_bitmap_list_snprintf(out->binding, sizeof out->binding, set);
    int n = 0, cap = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    int *ids = malloc(sizeof(int) * (size_t)(cap > 0 ? cap : 1));
    if (ids) {
        for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o));)
            if (hwloc_bitmap_intersects(o->cpuset, set) && n < cap) ids[n++] = (int)o->os_index;
        mb__place_list(ids, n, out->cores, sizeof out->cores);
        free(ids);
    }
    hwloc_cpuset_to_nodeset(topo, set, nodes);
    hwloc_bitmap_and(nodes, nodes, hwloc_topology_get_allowed_nodeset(topo));
    hwloc_bitmap_list_snprintf(out->numa, sizeof out->numa, nodes);
out:
    hwloc_bitmap_free(set);
    hwloc_bitmap_free(nodes);
}

static void set_host(mb_place_info *out) {
    if (gethostname(out->host, sizeof out->host - 1) != 0)
        snprintf(out->host, sizeof out->host, "unknown");
}

mb_err mb_place_describe(mb_place_info *out) {
    memset(out, 0, sizeof *out);
    set_host(out);
    snprintf(out->gpu, sizeof out->gpu, "%s", placed.gpu);
    snprintf(out->gpu_busid, sizeof out->gpu_busid, "%s", placed.busid);
    snprintf(out->how, sizeof out->how, "%s", placed.how[0] ? placed.how : "not placed");
    mb_place_topo *t = NULL;
    mb_err err = mb__place_topo_load(NULL, 0, &t);
    if (err) return err;
    describe(t->topo, out);
    mb_place_topo_free(t);
    return MB_OK;
}

/* What each rank sends to rank 0 for the report. */
typedef struct {
    mb_place_info info;
    int local_rank;
    char warnings[768]; /* the node plan's warnings (from local rank 0 only), ';'-separated */
} report_row;

/* Ranks on one host whose PU sets intersect, when the plan did not say so already. */
static void shared_cores(const report_row *all, int n, FILE *f) {
    hwloc_bitmap_t a = hwloc_bitmap_alloc(), b = hwloc_bitmap_alloc();
    int warned = 0;
    for (int i = 0; a && b && i < n && !warned; i++) {
        if (strcmp(all[i].info.how, "launcher") != 0) continue;
        hwloc_bitmap_list_sscanf(a, all[i].info.binding);
        for (int j = i + 1; j < n && !warned; j++)
            if (strcmp(all[i].info.host, all[j].info.host) == 0) {
                hwloc_bitmap_list_sscanf(b, all[j].info.binding);
                if (hwloc_bitmap_intersects(a, b)) {
                    fprintf(f,
                            "mbatch: warning: %s: ranks %d and %d share cores (%s and %s) under "
                            "the launcher's binding\n",
                            all[i].info.host, i, j, all[i].info.cores, all[j].info.cores);
                    warned = 1;
                }
            }
    }
    hwloc_bitmap_free(a);
    hwloc_bitmap_free(b);
}

static void print_report(const report_row *all, int n, const char *policy) {
    printf("mbatch: placement (placement.bind %s):\n", policy);
    printf("%6s  %-20s %-16s %-6s %-22s %s\n", "rank", "host", "cores (OS)", "NUMA", "bound by",
           "GPU");
    for (int r = 0; r < n; r++) {
        const mb_place_info *i = &all[r].info;
        char gpu[128] = "-";
        if (i->gpu[0]) snprintf(gpu, sizeof gpu, "%s (%s)", i->gpu, i->gpu_busid);
        printf("%6d  %-20s %-16s %-6s %-22s %s\n", r, i->host, i->cores, i->numa, i->how, gpu);
    }
    fflush(stdout);
    for (int r = 0; r < n; r++) {
        if (all[r].local_rank != 0 || !all[r].warnings[0]) continue;
        const char *w = all[r].warnings;
        while (*w) {
            const char *e = strchr(w, ';');
            int len = e ? (int)(e - w) : (int)strlen(w);
            fprintf(stderr, "mbatch: warning: %s: %.*s\n", all[r].info.host, len, w);
            w += len + (e ? 1 : 0);
        }
    }
    shared_cores(all, n, stderr);
}

mb_err mb_place_bind(const mb_comm *world, const char *policy, int respect_launcher, int report) {
    mb_bind pol = MB_BIND_AUTO;
    mb_place_topo *t = NULL;
    mb_place_plan *plan = NULL;
    hwloc_bitmap_t cur = hwloc_bitmap_alloc(), set = hwloc_bitmap_alloc();
    report_row mine, *all = NULL;
    memset(&mine, 0, sizeof mine);
    memset(&placed, 0, sizeof placed);
    /* Placement talks on a duplicate, so that its collectives do not renumber the job's
     * collective steps (the watchdog and fault injection name steps by number). */
    mb_comm dup, *c = &dup;
    mb_err err = mb_comm_from(world->comm, &dup);
    if (err) {
        hwloc_bitmap_free(cur);
        hwloc_bitmap_free(set);
        return err;
    }
    if (!cur || !set) err = mb_error_set(MB_EENV, "out of memory for the placement");
    if (!policy) policy = "auto";
    if (!err && mb_bind_parse(policy, &pol) != 0)
        err = mb_error_set(
            MB_EUSAGE, "placement.bind is '%s'; expected auto|core|numa|socket|gpu|none", policy);
    if (!err) err = mb_place_topo_load(NULL, &t);
    int launcher = 0;
    char memwarn[160] = "";
    if (!err) {
        hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(t->topo);
        if (hwloc_get_cpubind(t->topo, cur, HWLOC_CPUBIND_PROCESS) != 0 &&
            hwloc_get_cpubind(t->topo, cur, HWLOC_CPUBIND_THREAD) != 0)
            hwloc_bitmap_copy(cur, allowed);
        /* A launcher binding: narrower than what the node (or its cgroup) allows. */
        launcher = !hwloc_bitmap_iszero(cur) && hwloc_bitmap_isincluded(cur, allowed) &&
                   !hwloc_bitmap_isequal(cur, allowed);
        err = mb_place_plan_make(t, c->local_size, pol, &plan);
    }
    MB_TRY(mb_agree(c, err, NULL));
    /* Keep the launcher's binding only if every rank has one, so all ranks decide alike. */
    int64_t all_bound = launcher;
    mb_allreduce_min_i64(c, &all_bound, 1);
    const mb_place_slot *slot = &plan->ranks[c->local_rank];
    if (slot->gpu >= 0) {
        snprintf(placed.gpu, sizeof placed.gpu, "%s", plan->gpus[slot->gpu].name);
        snprintf(placed.busid, sizeof placed.busid, "%s", plan->gpus[slot->gpu].busid);
    }
    if (respect_launcher && all_bound) {
        snprintf(placed.how, sizeof placed.how, "launcher");
        /* Launchers bind CPUs, rarely memory: prefer the NUMA nodes of the launcher's cores. */
        hwloc_cpuset_to_nodeset(t->topo, cur, set);
        hwloc_bitmap_and(set, set, hwloc_topology_get_allowed_nodeset(t->topo));
        if (!hwloc_bitmap_iszero(set))
            (void)hwloc_set_membind(t->topo, set, HWLOC_MEMBIND_BIND,
                                    HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET);
    } else if (plan->policy == MB_BIND_NONE) {
        snprintf(placed.how, sizeof placed.how, "%s", launcher ? "launcher" : "unbound");
    } else {
        snprintf(placed.how, sizeof placed.how, "mbatch %s", mb_bind_name(plan->policy));
        hwloc_bitmap_zero(set);
        for (int i = 0; i < slot->npus; i++) hwloc_bitmap_set(set, (unsigned)slot->pus[i]);
        if (hwloc_set_cpubind(t->topo, set, HWLOC_CPUBIND_PROCESS) != 0) {
            char lst[128];
            mb__place_list(slot->pus, slot->npus, lst, sizeof lst);
            err = mb_error_set(MB_EENV, "hwloc: cannot bind to PUs %s: %s", lst, strerror(errno));
        }
        /* Preferred (not strict) memory binding: pages go to the rank's NUMA node while it has
         * room, instead of failing the allocation; a rank spanning nodes interleaves over them
         * so that its cores on every node see the same bandwidth. Linux keeps memory policies
         * per thread; the calling (main) thread allocates and first touches the shard. */
        hwloc_bitmap_zero(set);
        for (int i = 0; i < slot->nnuma; i++) hwloc_bitmap_set(set, (unsigned)slot->numa[i]);
        hwloc_membind_policy_t mpol =
            slot->nnuma > 1 ? HWLOC_MEMBIND_INTERLEAVE : HWLOC_MEMBIND_BIND;
        if (!err && !hwloc_bitmap_iszero(set) &&
            hwloc_set_membind(t->topo, set, mpol, HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) !=
                0 &&
            c->local_rank == 0)
            snprintf(memwarn, sizeof memwarn, "cannot bind memory to NUMA nodes: %s",
                     strerror(errno));
    }
    MB_TRY(mb_agree(c, err, NULL));
    find_spare(t->topo, c);
    if (report) {
        set_host(&mine.info);
        describe(t->topo, &mine.info);
        snprintf(mine.info.gpu, sizeof mine.info.gpu, "%s", placed.gpu);
        snprintf(mine.info.gpu_busid, sizeof mine.info.gpu_busid, "%s", placed.busid);
        snprintf(mine.info.how, sizeof mine.info.how, "%s", placed.how);
        mine.local_rank = c->local_rank;
        /* The plan's warnings matter only when mbatch applied the plan. */
        if (c->local_rank == 0 && strncmp(placed.how, "mbatch", 6) == 0)
            for (int i = 0; i < plan->nwarnings; i++) {
                size_t len = strlen(mine.warnings);
                snprintf(mine.warnings + len, sizeof mine.warnings - len, "%s%s", i ? ";" : "",
                         plan->warnings[i]);
            }
        if (memwarn[0]) {
            size_t len = strlen(mine.warnings);
            snprintf(mine.warnings + len, sizeof mine.warnings - len, "%s%s",
                     mine.warnings[0] ? ";" : "", memwarn);
        }
        if (c->rank == 0) {
            all = calloc((size_t)c->size, sizeof *all);
            if (!all) err = mb_error_set(MB_EENV, "out of memory for the placement report");
        }
        MB_TRY(mb_agree(c, err, NULL));
        mb_gather(c, &mine, sizeof mine, all, 0);
        if (c->rank == 0) {
            print_report(all, c->size, mb_bind_name(pol));
            if (CPU_COUNT(&placed.spare)) {
                char lst[256];
                cpus_list(&placed.spare, lst, sizeof lst);
                printf("mbatch: %s: PUs %s run no rank; the ranks' helper threads (the next "
                       "epoch's order, the stream reader) run there\n",
                       mine.info.host, lst);
            }
        }
    }
out:
    free(all);
    mb_place_plan_free(plan);
    mb_place_topo_free(t);
    hwloc_bitmap_free(cur);
    hwloc_bitmap_free(set);
    mb_comm_free(&dup);
    return err;
}
