/* place_internal.h - what the planner (place.c) and the binder (bind.c) share. */
#pragma once

#include <hwloc.h>
#include <stddef.h>

#include "mbatch/place.h"

struct mb_place_topo {
    hwloc_topology_t topo;
};

/* Load this machine's (xml NULL) or an XML topology; io keeps PCI and OS devices. */
mb_err mb__place_topo_load(const char *xml, int io, mb_place_topo **out);
/* "0-3,8" from ascending ints; "..." marks truncation. */
void mb__place_list(const int *v, int n, char *buf, size_t size);
