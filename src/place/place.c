/* place.c - topology loading and the placement plan: which PUs, cores, NUMA nodes and GPU each
 * rank of a node gets under a binding policy. Pure planning; binding lives in bind.c. */
#include "mbatch/place.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "place_internal.h"

int mb_bind_parse(const char *s, mb_bind *out) {
    static const char *names[] = {"auto", "core", "numa", "socket", "gpu", "none"};
    for (int i = 0; s && i < 6; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (mb_bind)i;
            return 0;
        }
    return -1;
}

const char *mb_bind_name(mb_bind b) {
    static const char *names[] = {"auto", "core", "numa", "socket", "gpu", "none"};
    return (unsigned)b < 6 ? names[b] : "?";
}

mb_err mb__place_topo_load(const char *xml, int io, mb_place_topo **out) {
    *out = NULL;
    if (xml && access(xml, R_OK) != 0)
        return mb_error_set(MB_EIO, "%s: cannot read the topology: %s", xml, strerror(errno));
    mb_place_topo *t = calloc(1, sizeof *t);
    if (!t || hwloc_topology_init(&t->topo) != 0) {
        free(t);
        return mb_error_set(MB_EENV, "hwloc: cannot initialize a topology");
    }
    /* Disallowed PUs stay visible so that a plan can compare the allowed cpuset with the node. */
    hwloc_topology_set_flags(t->topo, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
    if (io) hwloc_topology_set_io_types_filter(t->topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (xml && hwloc_topology_set_xml(t->topo, xml) != 0) {
        hwloc_topology_destroy(t->topo);
        free(t);
        return mb_error_set(MB_EDATA, "%s: not an hwloc XML topology", xml);
    }
    if (hwloc_topology_load(t->topo) != 0) {
        hwloc_topology_destroy(t->topo);
        free(t);
        if (xml) return mb_error_set(MB_EDATA, "%s: not an hwloc XML topology", xml);
        return mb_error_set(MB_EENV, "hwloc: cannot load the topology of this machine: %s",
                            strerror(errno));
    }
    *out = t;
    return MB_OK;
}

mb_err mb_place_topo_load(const char *xml, mb_place_topo **out) {
    return mb__place_topo_load(xml, 1, out);
}

void mb_place_topo_free(mb_place_topo *t) {
    if (!t) return;
    hwloc_topology_destroy(t->topo);
    free(t);
}

/* ---- GPUs ---- */

static int trailing_int(const char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] >= '0' && s[n - 1] <= '9') n--;
    return atoi(s + n);
}

static int cmp_gpu(const void *a, const void *b) {
    const mb_place_gpu *x = a, *y = b;
    if (x->osname[0] && y->osname[0]) return trailing_int(x->osname) - trailing_int(y->osname);
    return strcmp(x->busid, y->busid);
}

static hwloc_obj_t pci_parent(hwloc_obj_t o) {
    while (o && o->type != HWLOC_OBJ_PCI_DEVICE) o = o->parent;
    return o;
}

static void gpu_fill(hwloc_topology_t topo, hwloc_obj_t o, mb_place_gpu *g) {
    memset(g, 0, sizeof *g);
    hwloc_obj_t pci = pci_parent(o);
    if (o->type == HWLOC_OBJ_OS_DEVICE) snprintf(g->osname, sizeof g->osname, "%s", o->name);
    if (pci)
        snprintf(g->busid, sizeof g->busid, "%04x:%02x:%02x.%01x", pci->attr->pcidev.domain,
                 pci->attr->pcidev.bus, pci->attr->pcidev.dev, pci->attr->pcidev.func);
    const char *model =
        o->type == HWLOC_OBJ_OS_DEVICE ? hwloc_obj_get_info_by_name(o, "GPUModel") : NULL;
    if (!model && pci) model = hwloc_obj_get_info_by_name(pci, "PCIDevice");
    if (model)
        snprintf(g->name, sizeof g->name, "%s", model);
    else if (pci)
        snprintf(g->name, sizeof g->name, "PCI %04x:%04x", pci->attr->pcidev.vendor_id,
                 pci->attr->pcidev.device_id);
    else
        snprintf(g->name, sizeof g->name, "%s", g->osname);
    (void)topo;
}

static int is_kind(hwloc_obj_t o, int pass) {
    if (pass == 0)
        return o->attr->osdev.type == HWLOC_OBJ_OSDEV_COPROC &&
               ((o->subtype && strcmp(o->subtype, "CUDA") == 0) ||
                strncmp(o->name, "cuda", 4) == 0);
    return o->attr->osdev.type == HWLOC_OBJ_OSDEV_GPU &&
           ((o->subtype && strcmp(o->subtype, "NVML") == 0) || strncmp(o->name, "nvml", 4) == 0);
}

/* CUDA OS devices, else NVML ones, else NVIDIA/AMD display-class PCI devices (Debian's hwloc
 * has no CUDA plugin, so on a real node the GPUs only show as PCI devices): 3D controllers
 * (class 0x0302, every compute GPU) first, VGA controllers (0x0300) only if there are none, so
 * that a server's on-board VGA chip does not take ranks away from its compute GPUs. */
static int find_gpus(hwloc_topology_t topo, hwloc_obj_t **objs) {
    int n = 0, cap = 0;
    *objs = NULL;
    for (int pass = 0; pass < 4 && n == 0; pass++) {
        hwloc_obj_t o = NULL;
        hwloc_obj_type_t type = pass < 2 ? HWLOC_OBJ_OS_DEVICE : HWLOC_OBJ_PCI_DEVICE;
        while ((o = hwloc_get_next_obj_by_type(topo, type, o)) != NULL) {
            int take;
            if (pass < 2)
                take = is_kind(o, pass);
            else
                take = o->attr->pcidev.class_id == (pass == 2 ? 0x0302 : 0x0300) &&
                       (o->attr->pcidev.vendor_id == 0x10de || o->attr->pcidev.vendor_id == 0x1002);
            if (!take) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                hwloc_obj_t *p = realloc(*objs, sizeof *p * (size_t)cap);
                if (!p) return n;
                *objs = p;
            }
            (*objs)[n++] = o;
        }
    }
    return n;
}

/* ---- the plan ---- */

static int *bitmap_ints(hwloc_const_bitmap_t b, int *n) {
    int w = hwloc_bitmap_weight(b);
    *n = 0;
    int *v = malloc(sizeof(int) * (size_t)(w > 0 ? w : 1));
    if (!v || w <= 0) return v;
    unsigned id;
    hwloc_bitmap_foreach_begin(id, b) v[(*n)++] = (int)id;
    hwloc_bitmap_foreach_end();
    return v;
}

typedef struct {
    hwloc_obj_t obj;
    hwloc_bitmap_t pus; /* the core's allowed PUs */
    int group;
} core_ent;

static int add_warning(mb_place_plan *p, const char *msg) {
    char **w = realloc(p->warnings, sizeof *w * (size_t)(p->nwarnings + 1));
    if (!w) return -1;
    p->warnings = w;
    w[p->nwarnings] = strdup(msg);
    if (!w[p->nwarnings]) return -1;
    p->nwarnings++;
    return 0;
}

/* Ranks go to the group of core floor(r * nc / n) (so they are spread in proportion to cores);
 * a run of ranks with the same group shares the groups up to the next run's, and splits their
 * cores into blocks (or takes all of them when whole). Returns 1 if some run has more ranks
 * than cores. */
static int assign_runs(const core_ent *cores, int nc, int n, int whole, hwloc_bitmap_t *sets,
                       int *idx) {
    int overlap = 0, r = 0;
    while (r < n) {
        int g0 = cores[(int64_t)r * nc / n].group, r1 = r;
        while (r1 < n && cores[(int64_t)r1 * nc / n].group == g0) r1++;
        int g1 = r1 < n ? cores[(int64_t)r1 * nc / n].group : INT32_MAX;
        int k = 0;
        for (int i = 0; i < nc; i++)
            if (cores[i].group >= g0 && cores[i].group < g1) idx[k++] = i;
        int cnt = r1 - r;
        if (cnt > k) overlap = 1;
        for (int j = 0; j < cnt; j++) {
            hwloc_bitmap_t s = sets[r + j];
            hwloc_bitmap_zero(s);
            if (whole)
                for (int i = 0; i < k; i++) hwloc_bitmap_or(s, s, cores[idx[i]].pus);
            else if (cnt <= k)
                for (int i = (int)((int64_t)j * k / cnt); i < (int64_t)(j + 1) * k / cnt; i++)
                    hwloc_bitmap_or(s, s, cores[idx[i]].pus);
            else
                hwloc_bitmap_copy(s, cores[idx[j % k]].pus);
        }
        r = r1;
    }
    return overlap;
}

static void gpu_locality(const mb_place_gpu *g, hwloc_bitmap_t out) {
    hwloc_bitmap_zero(out);
    for (int i = 0; i < g->npus; i++) hwloc_bitmap_set(out, (unsigned)g->pus[i]);
}

/* Ranks per GPU differ by at most 1. The GPUs that get one rank more are those whose locality
 * (shared with the other GPUs of the same locality) has the most cores to spare, so that ranks
 * share cores only where the balance leaves no choice. Ranks of one GPU are consecutive. */
static int balance_gpus(mb_place_plan *p, const core_ent *cores, int nc, int n) {
    int G = p->ngpus, rc = -1;
    int *cluster = malloc(sizeof(int) * (size_t)G), *spare = calloc((size_t)G, sizeof(int));
    int *count = malloc(sizeof(int) * (size_t)G);
    hwloc_bitmap_t a = hwloc_bitmap_alloc(), b = hwloc_bitmap_alloc();
    if (!cluster || !spare || !count || !a || !b) goto out;
    for (int g = 0; g < G; g++) {
        gpu_locality(&p->gpus[g], a);
        cluster[g] = g;
        for (int h = 0; h < g && cluster[g] == g; h++) {
            gpu_locality(&p->gpus[h], b);
            if (hwloc_bitmap_isequal(a, b)) cluster[g] = cluster[h];
        }
        if (cluster[g] == g)
            for (int i = 0; i < nc; i++)
                if (hwloc_bitmap_intersects(cores[i].pus, a)) spare[g]++;
    }
    for (int g = 0; g < G; g++) {
        count[g] = n / G;
        spare[cluster[g]] -= count[g];
    }
    for (int e = 0; e < n % G; e++) {
        int best = -1;
        for (int g = 0; g < G; g++)
            if (count[g] == n / G && (best < 0 || spare[cluster[g]] > spare[cluster[best]]))
                best = g;
        count[best]++;
        spare[cluster[best]]--;
    }
    for (int g = 0, r = 0; g < G; g++)
        for (int j = 0; j < count[g]; j++) p->ranks[r++].gpu = g;
    rc = 0;
out:
    free(cluster);
    free(spare);
    free(count);
    hwloc_bitmap_free(a);
    hwloc_bitmap_free(b);
    return rc;
}

static void list_ints(const int *v, int n, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < size; i++) {
        int j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1) j++;
        int w = j > i ? snprintf(buf + len, size - len, "%s%d-%d", i ? "," : "", v[i], v[j])
                      : snprintf(buf + len, size - len, "%s%d", i ? "," : "", v[i]);
        if (w < 0) break;
        len += (size_t)w;
        i = j;
    }
    if (len >= size && size > 4) memcpy(buf + size - 4, "...", 4);
}

void mb__place_list(const int *v, int n, char *buf, size_t size) {
    list_ints(v, n, buf, size);
}

mb_err mb_place_plan_make(const mb_place_topo *t, int nranks, mb_bind policy, mb_place_plan **out) {
    *out = NULL;
    if (nranks < 1)
        return mb_error_set(MB_EUSAGE, "placement: %d ranks; expected at least 1", nranks);
    hwloc_topology_t topo = t->topo;
    hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(topo);
    mb_place_plan *p = calloc(1, sizeof *p);
    hwloc_obj_t *gobj = NULL;
    core_ent *cores = NULL;
    int *scratch = NULL, nc = 0, ngroups = 0;
    hwloc_bitmap_t *sets = NULL, tmp = hwloc_bitmap_alloc();
    mb_err err = MB_OK;
    char msg[512];
    if (!p || !tmp) goto oom;
    p->nranks = nranks;
    p->npackages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    p->nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    /* The complete cpuset counts PUs an XML export left out because they were disallowed. */
    p->npus = hwloc_bitmap_weight(hwloc_get_root_obj(topo)->complete_cpuset);
    p->npus_allowed = hwloc_bitmap_weight(allowed);

    /* Cores (PUs on topologies without Core objects) with their allowed PUs. */
    hwloc_obj_type_t ctype =
        hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    p->ncores = hwloc_get_nbobjs_by_type(topo, ctype);
    cores = calloc((size_t)(p->ncores > 0 ? p->ncores : 1), sizeof *cores);
    if (!cores) goto oom;
    int prev_numa = -1;
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_type(topo, ctype, o));) {
        if (!hwloc_bitmap_intersects(o->cpuset, allowed)) continue;
        core_ent *c = &cores[nc++];
        c->obj = o;
        c->pus = hwloc_bitmap_alloc();
        if (!c->pus) goto oom;
        hwloc_bitmap_and(c->pus, o->cpuset, allowed);
        /* A group is a run of consecutive cores of one NUMA node, so that group ids never
         * decrease along the cores (assign_runs relies on it). */
        int n0 = hwloc_bitmap_first(o->nodeset);
        if (nc == 1 || n0 != prev_numa) ngroups++;
        prev_numa = n0;
        c->group = ngroups - 1;
    }
    p->ncores_allowed = nc;
    if (nc == 0) {
        err = mb_error_set(MB_EENV, "placement: the allowed cpuset contains no core");
        goto out;
    }

    /* GPUs and their locality. */
    int ng = find_gpus(topo, &gobj);
    if (ng > 0) {
        p->gpus = calloc((size_t)ng, sizeof *p->gpus);
        if (!p->gpus) goto oom;
        for (int i = 0; i < ng; i++) gpu_fill(topo, gobj[i], &p->gpus[i]);
        /* Sort objects and records together: sort an index by the records' keys. */
        mb_place_gpu *tmpg = malloc(sizeof *tmpg * (size_t)ng);
        if (!tmpg) goto oom;
        for (int i = 0; i < ng; i++) {
            tmpg[i] = p->gpus[i];
            tmpg[i].npus = i; /* original position */
        }
        qsort(tmpg, (size_t)ng, sizeof *tmpg, cmp_gpu);
        hwloc_obj_t *sorted = malloc(sizeof *sorted * (size_t)ng);
        if (!sorted) {
            free(tmpg);
            goto oom;
        }
        for (int i = 0; i < ng; i++) {
            sorted[i] = gobj[tmpg[i].npus];
            p->gpus[i] = tmpg[i];
            p->gpus[i].npus = 0;
        }
        free(tmpg);
        free(gobj);
        gobj = sorted;
        p->ngpus = ng;
        for (int i = 0; i < ng; i++) {
            hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, gobj[i]);
            hwloc_bitmap_and(tmp, anc ? anc->cpuset : allowed, allowed);
            if (hwloc_bitmap_iszero(tmp)) {
                p->flags |= MB_PLACE_GPU_FAR;
                snprintf(msg, sizeof msg,
                         "GPU %s (%s) has no allowed cores near it; its ranks run on any allowed "
                         "core",
                         p->gpus[i].name, p->gpus[i].busid);
                if (add_warning(p, msg)) goto oom;
                hwloc_bitmap_copy(tmp, allowed);
            }
            p->gpus[i].pus = bitmap_ints(tmp, &p->gpus[i].npus);
            if (!p->gpus[i].pus) goto oom;
        }
    }

    if (policy == MB_BIND_AUTO) policy = p->ngpus > 0 ? MB_BIND_GPU : MB_BIND_CORE;
    if (policy == MB_BIND_GPU && p->ngpus == 0) {
        if (add_warning(p, "policy gpu: the node has no GPUs; binding as with policy core"))
            goto oom;
        policy = MB_BIND_CORE;
    }
    p->policy = policy;

    sets = calloc((size_t)nranks, sizeof *sets);
    p->ranks = calloc((size_t)nranks, sizeof *p->ranks);
    scratch = malloc(sizeof(int) * (size_t)nc);
    if (!sets || !p->ranks || !scratch) goto oom;
    for (int r = 0; r < nranks; r++) {
        sets[r] = hwloc_bitmap_alloc();
        if (!sets[r]) goto oom;
        p->ranks[r].gpu = -1;
    }

    int overlap = 0;
    if (policy == MB_BIND_NONE) {
        for (int r = 0; r < nranks; r++) hwloc_bitmap_copy(sets[r], allowed);
    } else if (policy == MB_BIND_CORE || policy == MB_BIND_NUMA) {
        overlap = assign_runs(cores, nc, nranks, policy == MB_BIND_NUMA, sets, scratch);
    } else if (policy == MB_BIND_SOCKET) {
        for (int i = 0; i < nc; i++) {
            hwloc_obj_t pk = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, cores[i].obj);
            cores[i].group = pk ? (int)pk->logical_index : 0;
        }
        overlap = assign_runs(cores, nc, nranks, 1, sets, scratch);
    } else { /* MB_BIND_GPU */
        int G = p->ngpus;
        if (balance_gpus(p, cores, nc, nranks)) goto oom;
        /* GPUs with the same locality form one cluster whose ranks split its cores. */
        hwloc_bitmap_t loc = hwloc_bitmap_alloc(), other = hwloc_bitmap_alloc();
        core_ent *sub = calloc((size_t)nc, sizeof *sub);
        hwloc_bitmap_t *subsets = calloc((size_t)nranks, sizeof *subsets);
        int *members = calloc((size_t)nranks, sizeof *members);
        if (!loc || !other || !sub || !subsets || !members) {
            hwloc_bitmap_free(loc);
            hwloc_bitmap_free(other);
            free(sub);
            free(subsets);
            free(members);
            goto oom;
        }
        for (int g = 0; g < G; g++) {
            hwloc_bitmap_zero(loc);
            for (int i = 0; i < p->gpus[g].npus; i++)
                hwloc_bitmap_set(loc, (unsigned)p->gpus[g].pus[i]);
            int first = 1;
            for (int h = 0; h < g && first; h++) {
                hwloc_bitmap_zero(other);
                for (int i = 0; i < p->gpus[h].npus; i++)
                    hwloc_bitmap_set(other, (unsigned)p->gpus[h].pus[i]);
                if (hwloc_bitmap_isequal(loc, other)) first = 0;
            }
            if (!first) continue; /* handled with the first GPU of its cluster */
            int m = 0;
            for (int r = 0; r < nranks; r++) {
                hwloc_bitmap_zero(other);
                const mb_place_gpu *q = &p->gpus[p->ranks[r].gpu];
                for (int i = 0; i < q->npus; i++) hwloc_bitmap_set(other, (unsigned)q->pus[i]);
                if (hwloc_bitmap_isequal(loc, other)) {
                    subsets[m] = sets[r];
                    members[m++] = r;
                }
            }
            if (m == 0) continue;
            int k = 0;
            for (int i = 0; i < nc; i++)
                if (hwloc_bitmap_intersects(cores[i].pus, loc)) {
                    sub[k] = cores[i];
                    sub[k].group = 0;
                    k++;
                }
            if (assign_runs(sub, k, m, 0, subsets, scratch)) overlap = 1;
            for (int j = 0; j < m; j++) hwloc_bitmap_and(sets[members[j]], sets[members[j]], loc);
        }
        hwloc_bitmap_free(loc);
        hwloc_bitmap_free(other);
        free(sub);
        free(subsets);
        free(members);
    }

    /* Fill the slots; find cores shared by ranks and ranks spanning NUMA nodes. */
    int *users = calloc((size_t)nc, sizeof *users);
    if (!users) goto oom;
    char spans[256] = "";
    int nspan = 0;
    for (int r = 0; r < nranks; r++) {
        mb_place_slot *s = &p->ranks[r];
        s->pus = bitmap_ints(sets[r], &s->npus);
        s->cores = malloc(sizeof(int) * (size_t)nc);
        s->cores_os = malloc(sizeof(int) * (size_t)nc);
        if (!s->pus || !s->cores || !s->cores_os) {
            free(users);
            goto oom;
        }
        for (int i = 0; i < nc; i++)
            if (hwloc_bitmap_intersects(cores[i].pus, sets[r])) {
                s->cores[s->ncores] = (int)cores[i].obj->logical_index;
                s->cores_os[s->ncores++] = (int)cores[i].obj->os_index;
                users[i]++;
            }
        hwloc_cpuset_to_nodeset(topo, sets[r], tmp);
        hwloc_bitmap_and(tmp, tmp, hwloc_topology_get_allowed_nodeset(topo));
        s->numa = bitmap_ints(tmp, &s->nnuma);
        if (!s->numa) {
            free(users);
            goto oom;
        }
        if (policy != MB_BIND_NONE && s->nnuma > 1) {
            p->flags |= MB_PLACE_SPAN;
            size_t len = strlen(spans);
            if (nspan < 16 && len + 16 < sizeof spans)
                snprintf(spans + len, sizeof spans - len, "%s%d", nspan ? "," : "", r);
            nspan++;
        }
    }
    if (policy == MB_BIND_CORE || policy == MB_BIND_GPU)
        for (int i = 0; i < nc; i++)
            if (users[i] > 1) overlap = 1;
    free(users);
    if (overlap && policy != MB_BIND_NONE) {
        p->flags |= MB_PLACE_OVERLAP;
        snprintf(msg, sizeof msg,
                 "%d ranks on %d allowed cores: some ranks share a core (policy %s gives each "
                 "rank one core, round-robin, when there are more ranks than cores)",
                 nranks, nc, mb_bind_name(policy));
        if (add_warning(p, msg)) goto oom;
    }
    if (nspan > 0) {
        snprintf(msg, sizeof msg,
                 "%d rank(s) (%s%s) run on cores of several NUMA nodes; their memory is spread "
                 "over those nodes",
                 nspan, spans, nspan > 16 ? ",..." : "");
        if (add_warning(p, msg)) goto oom;
    }
    if (nranks > nc && p->npus_allowed < p->npus && policy != MB_BIND_NONE) {
        p->flags |= MB_PLACE_SMALL;
        char lst[128];
        hwloc_bitmap_list_snprintf(lst, sizeof lst, allowed);
        snprintf(msg, sizeof msg,
                 "the allowed cpuset (PUs %s, %d cores) has %d of the node's %d PUs; %d ranks "
                 "asked for more cores than it has",
                 lst, nc, p->npus_allowed, p->npus, nranks);
        if (add_warning(p, msg)) goto oom;
    }
    goto out;
oom:
    err = mb_error_set(MB_EENV, "out of memory for the placement plan");
out:
    if (cores)
        for (int i = 0; i < nc; i++) hwloc_bitmap_free(cores[i].pus);
    free(cores);
    free(scratch);
    free(gobj);
    if (sets)
        for (int r = 0; r < nranks; r++) hwloc_bitmap_free(sets[r]);
    free(sets);
    hwloc_bitmap_free(tmp);
    if (err) {
        mb_place_plan_free(p);
        p = NULL;
    }
    *out = p;
    return err;
}

void mb_place_plan_free(mb_place_plan *p) {
    if (!p) return;
    for (int r = 0; p->ranks && r < p->nranks; r++) {
        free(p->ranks[r].pus);
        free(p->ranks[r].cores);
        free(p->ranks[r].cores_os);
        free(p->ranks[r].numa);
    }
    free(p->ranks);
    for (int g = 0; g < p->ngpus; g++) free(p->gpus[g].pus);
    free(p->gpus);
    for (int i = 0; i < p->nwarnings; i++) free(p->warnings[i]);
    free(p->warnings);
    free(p);
}

void mb_place_plan_print(const mb_place_plan *p, FILE *f) {
    fprintf(f,
            "%d package(s), %d NUMA node(s), %d cores (%d allowed), %d PUs (%d allowed), %d "
            "GPU(s); policy %s, %d rank(s)\n",
            p->npackages, p->nnuma, p->ncores, p->ncores_allowed, p->npus, p->npus_allowed,
            p->ngpus, mb_bind_name(p->policy), p->nranks);
    fprintf(f, "%6s  %-16s %-16s %-8s %s\n", "rank", "PUs (OS)", "cores (logical)", "NUMA", "GPU");
    for (int r = 0; r < p->nranks; r++) {
        const mb_place_slot *s = &p->ranks[r];
        char pus[64], cores[64], numa[32], gpu[160] = "-";
        list_ints(s->pus, s->npus, pus, sizeof pus);
        list_ints(s->cores, s->ncores, cores, sizeof cores);
        list_ints(s->numa, s->nnuma, numa, sizeof numa);
        if (!numa[0]) snprintf(numa, sizeof numa, "-");
        if (s->gpu >= 0) {
            const mb_place_gpu *g = &p->gpus[s->gpu];
            snprintf(gpu, sizeof gpu, "%s%s%s (%s)", g->osname, g->osname[0] ? " " : "", g->name,
                     g->busid[0] ? g->busid : "no PCI bus id");
        }
        fprintf(f, "%6d  %-16s %-16s %-8s %s\n", r, pus, cores, numa, gpu);
    }
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_ints(FILE *f, const int *v, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", v[i]);
    fputc(']', f);
}

void mb_place_plan_json(const mb_place_plan *p, FILE *f) {
    fputs("[\n", f);
    for (int r = 0; r < p->nranks; r++) {
        const mb_place_slot *s = &p->ranks[r];
        fprintf(f, "  {\"rank\": %d, \"pus\": ", r);
        json_ints(f, s->pus, s->npus);
        fputs(", \"cores\": ", f);
        json_ints(f, s->cores, s->ncores);
        fputs(", \"numa\": ", f);
        json_ints(f, s->numa, s->nnuma);
        fputs(", \"gpu\": ", f);
        if (s->gpu >= 0)
            json_str(f, p->gpus[s->gpu].name);
        else
            fputs("null", f);
        fputs(", \"gpu_busid\": ", f);
        if (s->gpu >= 0 && p->gpus[s->gpu].busid[0])
            json_str(f, p->gpus[s->gpu].busid);
        else
            fputs("null", f);
        fprintf(f, "}%s\n", r + 1 < p->nranks ? "," : "");
    }
    fputs("]\n", f);
}
