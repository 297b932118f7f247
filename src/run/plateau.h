/* plateau.h - reduce-on-plateau state after a resume, replayed from metrics.h5. */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"
#include "mbatch/error.h"
#include "mbatch/optim.h"

/* Feed sched (type MB_SCHED_PLATEAU, fresh state) the validation losses of the first `epochs`
 * rows of metrics_path's /epochs, which rank 0 reads and broadcasts, so that a resumed run
 * continues with the learning rate an uninterrupted one would have. Other schedule types and
 * epochs == 0 do nothing. Collective. */
mb_err mb__plateau_replay(const mb_comm *c, const char *metrics_path, int64_t epochs,
                          mb_schedule *sched);
