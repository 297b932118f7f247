/* watchdog.h - collectives that wait with a deadline and name the ranks that did not arrive. */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"

/* Wait for the nonblocking collective *req started on c: the next collective step of c (each
 * call takes a new sequence number). Past the timeout (mb_comm_set_timeout) the waiting ranks
 * tell each other they are waiting; the lowest of them prints which ranks did not arrive at the
 * step and aborts the job with exit code 5. `what` and `count` describe the step in that
 * message. Collective (every rank of c calls it for the same step). */
void mb__wait_collective(const mb_comm *c, MPI_Request *req, const char *what, int64_t count);
/* Called before a rank starts a collective step; the fault-injection site "hang" (a rank that
 * never arrives) lives here. */
void mb__watchdog_arrive(void);
/* Record which ranks of c share this node (node: c split by MPI_COMM_TYPE_SHARED) so that a
 * wait can notice one of them is gone. Collective over node. */
void mb__watchdog_register(const mb_comm *c, MPI_Comm node);
/* Whether collectives should be started nonblocking and waited on by mb__wait_collective. */
int mb__watchdog_on(void);
