/* fault.h - fault injection for tests, compiled in always and driven by MBATCH_FAULT.
 *
 * MBATCH_FAULT is a comma-separated list of `site[:ERR][@N[+]][/R]`: the Nth time (1-based) this
 * process reaches `site` it fails with errno ERR (ENOSPC, EIO, EDQUOT, EACCES or a number; EIO by
 * default); `@N+` fails from the Nth time on, no `@` fails every time, and `/R` limits the fault
 * to MPI rank R (read from the launcher's environment). With MBATCH_FAULT unset a check is one
 * load and one branch. Sites: ckpt_create, ckpt_write, ckpt_fsync, ckpt_rename (a checkpoint
 * write fails there), ckpt_kill, ckpt_kill_renamed (the process SIGKILLs itself inside a
 * checkpoint write, before and after the rename), hang (a rank stops arriving at collective
 * steps), grad_nan (a rank's local gradient becomes NaN), diverge (a rank's parameters drift).
 */
#pragma once

/* 0 if `site` should proceed normally, else the errno value to fail with. Not collective. */
int mb__fault(const char *site);
/* The rank the launcher gave this process (OMPI_COMM_WORLD_RANK, PMIX_RANK, SLURM_PROCID), or 0. */
int mb__fault_rank(void);
