/* place.h - where this rank runs: host, the cores it may run on (hwloc), its GPU.
 * Not collective. */
#pragma once

#include "mbatch/error.h"

typedef struct mb_place_info {
    char host[64];
    char binding[128]; /* OS indices of the PUs this process is bound to, e.g. "0-3,8" */
    char gpu[64];      /* "" when no GPU is assigned */
} mb_place_info;

/* Describe the calling process's current placement. */
mb_err mb_place_describe(mb_place_info *out);
