/* test_place.c - placement plans on the real-machine topologies of tests/data/topologies (checked
 * against hwloc queried independently and known answers), and binding on this machine checked
 * from inside the ranks with sched_getaffinity. */
#define _GNU_SOURCE
#include <dirent.h>
#include <hwloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/place.h"
#include "mpitest.h"

/* The source tree's test data, found from this file's path (CMake compiles absolute paths). */
static void data_dir(char *buf, size_t size) {
    snprintf(buf, size, "%s", __FILE__);
    char *slash = strrchr(buf, '/');
    if (slash) *slash = '\0';
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "/../data/topologies");
}

/* Known answers: the GPUs of each file, by PCI bus id (from the files' PCI devices). */
static const struct {
    const char *file;
    int ngpus;
    const char *busids[4];
} GPUS[] = {
    {"power8gpudistances.xml", 4, {"0002:01:00.0", "0003:01:00.0", "000a:01:00.0", "000b:01:00.0"}},
    {"32em64t-2n8c2t-pci-normalio.xml", 1, {"0000:84:00.0"}},
    {"24em64t-2n6c2t-pci.xml", 3, {"0000:06:00.0", "0000:11:00.0", "0000:14:00.0"}},
    {"96em64t-4n4d3ca2co-pci.xml", 1, {"0000:01:00.0"}},
    {"192em64t-24n8c2t.xml", 0, {NULL}},
    {"16amd64-8n2c-cpusets.xml", 0, {NULL}},
};

typedef struct {
    hwloc_topology_t topo;
    hwloc_bitmap_t allowed;
    int ncores; /* cores with an allowed PU */
} oracle;

static void oracle_load(const char *path, oracle *o) {
    MT_CHECK(hwloc_topology_init(&o->topo) == 0);
    hwloc_topology_set_flags(o->topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
    hwloc_topology_set_io_types_filter(o->topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (path) MT_CHECK(hwloc_topology_set_xml(o->topo, path) == 0);
    MT_CHECK(hwloc_topology_load(o->topo) == 0);
    o->allowed = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(o->topo));
    o->ncores = 0;
    for (hwloc_obj_t c = NULL; (c = hwloc_get_next_obj_by_type(o->topo, HWLOC_OBJ_CORE, c));)
        if (hwloc_bitmap_intersects(c->cpuset, o->allowed)) o->ncores++;
}

static void oracle_free(oracle *o) {
    hwloc_bitmap_free(o->allowed);
    hwloc_topology_destroy(o->topo);
}

static hwloc_obj_t core_of(const oracle *o, int pu) {
    hwloc_obj_t p = hwloc_get_pu_obj_by_os_index(o->topo, (unsigned)pu);
    MT_CHECK(p != NULL);
    hwloc_obj_t c = hwloc_get_ancestor_obj_by_type(o->topo, HWLOC_OBJ_CORE, p);
    return c ? c : p;
}

static void check_plan(const char *file, const oracle *o, const mb_place_plan *p, int n,
                       mb_bind pol, int want_gpus, const char *const *busids) {
    MT_CHECK_INT(p->nranks, n);
    MT_CHECK_INT(p->ncores_allowed, o->ncores);
    MT_CHECK_INT(p->ngpus, want_gpus);
    for (int g = 0; g < p->ngpus; g++)
        if (strcmp(p->gpus[g].busid, busids[g]) != 0) {
            fprintf(stderr, "rank %d: %s: GPU %d is %s, expected %s\n", mt_comm.rank, file, g,
                    p->gpus[g].busid, busids[g]);
            MT_CHECK(0);
        }
    mb_bind eff = pol == MB_BIND_AUTO ? (want_gpus ? MB_BIND_GPU : MB_BIND_CORE) : pol;
    if (eff == MB_BIND_GPU && want_gpus == 0) eff = MB_BIND_CORE;
    MT_CHECK_INT(p->policy, eff);
    int ncores_all = hwloc_get_nbobjs_by_type(o->topo, HWLOC_OBJ_CORE);
    int *owner = malloc(sizeof(int) * (size_t)ncores_all), shared = 0;
    int *per_gpu = calloc((size_t)(p->ngpus + 1), sizeof(int));
    MT_CHECK(owner && per_gpu);
    for (int i = 0; i < ncores_all; i++) owner[i] = -1;
    hwloc_bitmap_t set = hwloc_bitmap_alloc(), cores = hwloc_bitmap_alloc();
    for (int r = 0; r < n; r++) {
        const mb_place_slot *s = &p->ranks[r];
        MT_CHECK(s->npus >= 1);
        hwloc_bitmap_zero(set);
        hwloc_bitmap_zero(cores);
        for (int i = 0; i < s->npus; i++) hwloc_bitmap_set(set, (unsigned)s->pus[i]);
        /* The restricted cpuset is respected: only allowed PUs. */
        if (!hwloc_bitmap_isincluded(set, o->allowed)) {
            fprintf(stderr, "rank %d: %s: N=%d %s: slot %d has disallowed PUs\n", mt_comm.rank,
                    file, n, mb_bind_name(pol), r);
            MT_CHECK(0);
        }
        /* The cores reported are exactly the cores of the PUs. */
        for (int i = 0; i < s->npus; i++)
            hwloc_bitmap_set(cores, core_of(o, s->pus[i])->logical_index);
        MT_CHECK_INT(hwloc_bitmap_weight(cores), s->ncores);
        for (int i = 0; i < s->ncores; i++)
            MT_CHECK(hwloc_bitmap_isset(cores, (unsigned)s->cores[i]));
        if (eff == MB_BIND_CORE || eff == MB_BIND_GPU)
            for (int i = 0; i < s->ncores; i++) {
                if (owner[s->cores[i]] >= 0 && owner[s->cores[i]] != r) shared = 1;
                owner[s->cores[i]] = r;
            }
        /* Each rank's PUs lie in the NUMA nodes it reports (when the PUs have local memory). */
        if (s->nnuma > 0) {
            hwloc_bitmap_t near = hwloc_bitmap_alloc();
            for (int i = 0; i < s->nnuma; i++) {
                hwloc_obj_t nn = hwloc_get_numanode_obj_by_os_index(o->topo, (unsigned)s->numa[i]);
                MT_CHECK(nn != NULL);
                hwloc_bitmap_or(near, near, nn->cpuset);
            }
            /* PUs without local memory (their NUMA node is disallowed) have none to report. */
            hwloc_bitmap_t mem = hwloc_bitmap_alloc();
            for (hwloc_obj_t nn = NULL;
                 (nn = hwloc_get_next_obj_by_type(o->topo, HWLOC_OBJ_NUMANODE, nn));)
                hwloc_bitmap_or(mem, mem, nn->cpuset);
            hwloc_bitmap_and(mem, mem, set);
            if (!hwloc_bitmap_isincluded(mem, near))
                fprintf(stderr, "rank %d: %s: N=%d %s: slot %d's NUMA nodes miss its PUs\n",
                        mt_comm.rank, file, n, mb_bind_name(pol), r);
            MT_CHECK(hwloc_bitmap_isincluded(mem, near));
            hwloc_bitmap_free(near);
            hwloc_bitmap_free(mem);
        }
        /* GPU: rank's cores in the GPU's locality, found independently by PCI bus id. */
        if (eff == MB_BIND_GPU) {
            MT_CHECK(s->gpu >= 0 && s->gpu < p->ngpus);
            per_gpu[s->gpu]++;
            hwloc_obj_t pci = hwloc_get_pcidev_by_busidstring(o->topo, p->gpus[s->gpu].busid);
            MT_CHECK(pci != NULL);
            hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(o->topo, pci);
            if (!(p->flags & MB_PLACE_GPU_FAR) && !hwloc_bitmap_isincluded(set, anc->cpuset)) {
                fprintf(stderr, "rank %d: %s: N=%d: slot %d is outside GPU %s's locality\n",
                        mt_comm.rank, file, n, r, p->gpus[s->gpu].busid);
                MT_CHECK(0);
            }
        } else if (eff != MB_BIND_NONE) {
            MT_CHECK_INT(s->gpu, -1);
        }
    }
    if (eff == MB_BIND_GPU) {
        int lo = n, hi = 0;
        for (int g = 0; g < p->ngpus; g++) {
            if (per_gpu[g] < lo) lo = per_gpu[g];
            if (per_gpu[g] > hi) hi = per_gpu[g];
        }
        MT_CHECK(hi - lo <= 1);
    }
    /* GPU: ranks of GPUs with one locality must fit its cores, or sharing is unavoidable
     * (24em64t with 11 ranks: 7 ranks for the 6 cores near GPUs 1 and 2). */
    int crowded = 0;
    if (eff == MB_BIND_GPU) {
        hwloc_bitmap_t la = hwloc_bitmap_alloc(), lb = hwloc_bitmap_alloc();
        for (int g = 0; g < p->ngpus; g++) {
            hwloc_obj_t pci = hwloc_get_pcidev_by_busidstring(o->topo, p->gpus[g].busid);
            hwloc_bitmap_and(la, hwloc_get_non_io_ancestor_obj(o->topo, pci)->cpuset, o->allowed);
            int ranks = 0, k = 0;
            for (int h = 0; h < p->ngpus; h++) {
                pci = hwloc_get_pcidev_by_busidstring(o->topo, p->gpus[h].busid);
                hwloc_bitmap_and(lb, hwloc_get_non_io_ancestor_obj(o->topo, pci)->cpuset,
                                 o->allowed);
                if (hwloc_bitmap_isequal(la, lb)) ranks += per_gpu[h];
            }
            for (hwloc_obj_t c = NULL;
                 (c = hwloc_get_next_obj_by_type(o->topo, HWLOC_OBJ_CORE, c));)
                if (hwloc_bitmap_intersects(c->cpuset, la)) k++;
            if (ranks > k) crowded = 1;
        }
        hwloc_bitmap_free(la);
        hwloc_bitmap_free(lb);
    }
    /* No two ranks on one core while N <= cores; beyond, a flagged, warned overlap. */
    if (eff == MB_BIND_CORE || eff == MB_BIND_GPU) {
        if (n <= o->ncores && shared && !crowded) {
            fprintf(stderr, "rank %d: %s: N=%d %s: two ranks share a core\n", mt_comm.rank, file, n,
                    mb_bind_name(pol));
            MT_CHECK(0);
        }
        MT_CHECK_INT(!!(p->flags & MB_PLACE_OVERLAP), shared);
    }
    if (eff != MB_BIND_NONE && n > o->ncores) {
        MT_CHECK(p->flags & MB_PLACE_OVERLAP);
        MT_CHECK(p->nwarnings >= 1);
    }
    hwloc_bitmap_free(set);
    hwloc_bitmap_free(cores);
    free(owner);
    free(per_gpu);
}

static void plans(void) {
    char dir[4096], path[8192];
    data_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) fprintf(stderr, "rank %d: cannot open %s\n", mt_comm.rank, dir);
    MT_CHECK(d != NULL);
    int nfiles = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".xml") != 0) continue;
        /* Ranks share the files out (the plans are rank-local). */
        if (nfiles++ % mt_comm.size != mt_comm.rank) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        mb_place_topo *t = NULL;
        mb_err err = mb_place_topo_load(path, &t);
        if (err) fprintf(stderr, "rank %d: %s\n", mt_comm.rank, mb_error_message());
        MT_CHECK_INT(err, MB_OK);
        oracle o;
        oracle_load(path, &o);
        int gi = -1;
        for (int i = 0; i < (int)(sizeof GPUS / sizeof GPUS[0]); i++)
            if (strcmp(GPUS[i].file, e->d_name) == 0) gi = i;
        if (gi < 0) fprintf(stderr, "rank %d: no known answers for %s\n", mt_comm.rank, e->d_name);
        MT_CHECK(gi >= 0);
        int ns[] = {1,
                    2,
                    3,
                    4,
                    5,
                    7,
                    8,
                    o.ncores / 2,
                    o.ncores - 1,
                    o.ncores,
                    o.ncores + 1,
                    2 * o.ncores + 3};
        for (int k = 0; k < (int)(sizeof ns / sizeof ns[0]); k++) {
            if (ns[k] < 1) continue;
            for (int pol = MB_BIND_AUTO; pol <= MB_BIND_NONE; pol++) {
                mb_place_plan *p = NULL;
                MT_CHECK_INT(mb_place_plan_make(t, ns[k], (mb_bind)pol, &p), MB_OK);
                check_plan(e->d_name, &o, p, ns[k], (mb_bind)pol, GPUS[gi].ngpus, GPUS[gi].busids);
                mb_place_plan_free(p);
            }
        }
        /* Known answers for the restricted cpuset; two ranks on a two-package node go to
         * different packages (spread, not packed). */
        if (strcmp(e->d_name, "16amd64-8n2c-cpusets.xml") == 0) {
            char lst[64];
            hwloc_bitmap_list_snprintf(lst, sizeof lst, o.allowed);
            MT_CHECK(strcmp(lst, "0-3,5-6,12-15") == 0);
            mb_place_plan *p = NULL;
            MT_CHECK_INT(mb_place_plan_make(t, 12, MB_BIND_CORE, &p), MB_OK);
            MT_CHECK_INT(p->npus, 16);
            MT_CHECK_INT(p->npus_allowed, 10);
            MT_CHECK(p->flags & MB_PLACE_SMALL);
            mb_place_plan_free(p);
        }
        if (hwloc_get_nbobjs_by_type(o.topo, HWLOC_OBJ_PACKAGE) == 2) {
            mb_place_plan *p = NULL;
            MT_CHECK_INT(mb_place_plan_make(t, 2, MB_BIND_CORE, &p), MB_OK);
            hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(
                o.topo, HWLOC_OBJ_PACKAGE,
                hwloc_get_pu_obj_by_os_index(o.topo, (unsigned)p->ranks[0].pus[0]));
            hwloc_obj_t b = hwloc_get_ancestor_obj_by_type(
                o.topo, HWLOC_OBJ_PACKAGE,
                hwloc_get_pu_obj_by_os_index(o.topo, (unsigned)p->ranks[1].pus[0]));
            MT_CHECK(a && b && a != b);
            MT_CHECK_INT(p->flags & MB_PLACE_SPAN, 0);
            mb_place_plan_free(p);
        }
        oracle_free(&o);
        mb_place_topo_free(t);
    }
    closedir(d);
    MT_CHECK(nfiles >= 6);
    /* Errors name the file. */
    mb_place_topo *t = NULL;
    MT_CHECK_INT(mb_place_topo_load("/nonexistent/topo.xml", &t), MB_EIO);
    MT_CHECK(strstr(mb_error_message(), "/nonexistent/topo.xml") != NULL);
    mb_error_clear();
    MT_CHECK_INT(mb_place_topo_load(__FILE__, &t), MB_EDATA);
    mb_error_clear();
}

/* This rank's CPU affinity, as the kernel sees it. */
static void affinity(hwloc_bitmap_t out) {
    cpu_set_t cs;
    CPU_ZERO(&cs);
    MT_CHECK(sched_getaffinity(0, sizeof cs, &cs) == 0);
    hwloc_bitmap_zero(out);
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &cs)) hwloc_bitmap_set(out, (unsigned)i);
}

/* Every rank's affinity, gathered on every rank as 64-bit masks (this test runs on small
 * machines: PUs beyond 63 are not compared). */
static void all_masks(const hwloc_bitmap_t mine, unsigned long long *all) {
    unsigned long long m = 0;
    for (int i = 0; i < 64; i++)
        if (hwloc_bitmap_isset(mine, (unsigned)i)) m |= 1ULL << i;
    for (int r = 0; r < mt_comm.size; r++) all[r] = 0;
    mb_gather(&mt_comm, &m, sizeof m, all, 0);
    mb_bcast(&mt_comm, all, sizeof *all * (size_t)mt_comm.size, 0);
}

static void binding(void) {
    oracle o;
    oracle_load(NULL, &o);
    hwloc_bitmap_t before = hwloc_bitmap_alloc(), after = hwloc_bitmap_alloc();
    unsigned long long *masks = calloc((size_t)mt_comm.size, sizeof *masks);
    MT_CHECK(masks != NULL);

    /* auto + respect_launcher: a launcher binding (strict subset of the allowed set on every
     * rank) is kept; otherwise mbatch binds by cores. */
    affinity(before);
    int64_t bound = !hwloc_bitmap_isequal(before, o.allowed);
    mb_allreduce_min_i64(&mt_comm, &bound, 1);
    MT_CHECK_INT(mb_place_bind(&mt_comm, "auto", 1, 1), MB_OK);
    affinity(after);
    mb_place_info info;
    MT_CHECK_INT(mb_place_describe(&info), MB_OK);
    if (bound) {
        MT_CHECK(hwloc_bitmap_isequal(before, after));
        MT_CHECK(strcmp(info.how, "launcher") == 0);
    } else {
        MT_CHECK(strncmp(info.how, "mbatch ", 7) == 0); /* core, or gpu on a GPU node */
    }

    /* core, launcher ignored: every rank on the plan's slot; distinct cores while they fit. */
    MT_CHECK_INT(mb_place_bind(&mt_comm, "core", 0, 0), MB_OK);
    affinity(after);
    mb_place_topo *t = NULL;
    mb_place_plan *p = NULL;
    MT_CHECK_INT(mb_place_topo_load(NULL, &t), MB_OK);
    MT_CHECK_INT(mb_place_plan_make(t, mt_comm.local_size, MB_BIND_CORE, &p), MB_OK);
    hwloc_bitmap_t want = hwloc_bitmap_alloc();
    const mb_place_slot *s = &p->ranks[mt_comm.local_rank];
    for (int i = 0; i < s->npus; i++) hwloc_bitmap_set(want, (unsigned)s->pus[i]);
    if (!hwloc_bitmap_isequal(want, after)) {
        char a[128], b[128];
        hwloc_bitmap_list_snprintf(a, sizeof a, after);
        hwloc_bitmap_list_snprintf(b, sizeof b, want);
        fprintf(stderr, "rank %d: bound to %s, plan says %s\n", mt_comm.rank, a, b);
        MT_CHECK(0);
    }
    /* Memory: preferred on the slot's NUMA node (interleaved over several), unless this system
     * refuses memory policies altogether (containers without CAP_SYS_NICE), which the probe below
     * detects. */
    hwloc_bitmap_t nodes = hwloc_bitmap_alloc(), slot_nodes = hwloc_bitmap_alloc();
    for (int i = 0; i < s->nnuma; i++) hwloc_bitmap_set(slot_nodes, (unsigned)s->numa[i]);
    hwloc_membind_policy_t mp = HWLOC_MEMBIND_DEFAULT;
    int flags = HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET;
    hwloc_membind_policy_t want_mp = s->nnuma > 1 ? HWLOC_MEMBIND_INTERLEAVE : HWLOC_MEMBIND_BIND;
    if (hwloc_get_membind(o.topo, nodes, &mp, flags) == 0 && mp == want_mp) {
        MT_CHECK(hwloc_bitmap_isequal(nodes, slot_nodes));
    } else {
        int refused = hwloc_set_membind(o.topo, slot_nodes, want_mp, flags) != 0;
        if (!refused) fprintf(stderr, "rank %d: memory policy not set by mbatch\n", mt_comm.rank);
        MT_CHECK(refused);
    }
    hwloc_bitmap_free(nodes);
    hwloc_bitmap_free(slot_nodes);
    MT_CHECK_INT(mb_place_describe(&info), MB_OK);
    MT_CHECK(strcmp(info.how, "mbatch core") == 0);
    char lst[128];
    hwloc_bitmap_list_snprintf(lst, sizeof lst, after);
    MT_CHECK(strcmp(info.binding, lst) == 0);
    all_masks(after, masks);
    int overlap = 0;
    for (int i = 0; i < mt_comm.size; i++)
        for (int j = i + 1; j < mt_comm.size; j++)
            if (masks[i] & masks[j]) overlap = 1;
    if (mt_comm.size <= o.ncores) MT_CHECK_INT(overlap, 0); /* one node: local == world */
    MT_CHECK_INT(!!(p->flags & MB_PLACE_OVERLAP), mt_comm.local_size > o.ncores);

    /* Now every rank is bound narrower than the node when cores >= 2 ranks... and a later call
     * with respect_launcher keeps that binding whatever the policy. */
    int64_t narrower = !hwloc_bitmap_isequal(after, o.allowed);
    mb_allreduce_min_i64(&mt_comm, &narrower, 1);
    hwloc_bitmap_copy(before, after);
    MT_CHECK_INT(mb_place_bind(&mt_comm, "numa", 1, 0), MB_OK);
    affinity(after);
    MT_CHECK_INT(mb_place_describe(&info), MB_OK);
    if (narrower) {
        MT_CHECK(hwloc_bitmap_isequal(before, after));
        MT_CHECK(strcmp(info.how, "launcher") == 0);
    }

    /* none binds nothing. */
    hwloc_bitmap_copy(before, after);
    MT_CHECK_INT(mb_place_bind(&mt_comm, "none", 0, 0), MB_OK);
    affinity(after);
    MT_CHECK(hwloc_bitmap_isequal(before, after));

    /* A bad policy fails on every rank, without a hang. */
    MT_CHECK_INT(mb_place_bind(&mt_comm, "cores", 1, 0), MB_EUSAGE);
    MT_CHECK(strstr(mb_error_message(), "'cores'") != NULL);
    mb_error_clear();

    hwloc_bitmap_free(want);
    mb_place_plan_free(p);
    mb_place_topo_free(t);
    free(masks);
    hwloc_bitmap_free(before);
    hwloc_bitmap_free(after);
    oracle_free(&o);
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    plans();
    binding();
    return mt_finish();
}
