/* place.c - describe the calling process's placement with hwloc. */
#include "mbatch/place.h"

#include <hwloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

mb_err mb_place_describe(mb_place_info *out) {
    memset(out, 0, sizeof *out);
    if (gethostname(out->host, sizeof out->host - 1) != 0) snprintf(out->host, 64, "unknown");
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return mb_error_set(MB_EENV, "hwloc: cannot initialize");
    mb_err err = MB_OK;
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set || hwloc_topology_load(topo) != 0) {
        err = mb_error_set(MB_EENV, "hwloc: cannot load the topology of %s", out->host);
        goto out;
    }
    if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) != 0 &&
        hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_THREAD) != 0)
        hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(topo));
    hwloc_bitmap_list_snprintf(out->binding, sizeof out->binding, set);
out:
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(topo);
    return err;
}
