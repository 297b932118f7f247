/* report.h - one self-contained HTML page (inline SVG, no scripts) describing a finished run.
 *
 * Reads run_dir/metrics.h5 (the /epochs table, the /ranks table and the KPI attributes of /) and,
 * when present, run_dir/model.h5 (the job) and writes a page with the loss, validation metric,
 * learning rate, batch size and throughput per epoch, each rank's compute / communication / I/O
 * time, and the job's key figures. Every plotted number is also in the page as a data-value
 * attribute (full precision) and a <title> tooltip, so tools and tests can read it back.
 * Not collective (rank 0 or a login node).
 */
#pragma once

#include "mbatch/error.h"

/* Write the report of run_dir to out_path (NULL: run_dir/report.html), via a temporary file and
 * a rename. MB_EIO naming the file when metrics.h5 is missing or unreadable or out_path cannot
 * be written. */
mb_err mb_report_write(const char *run_dir, const char *out_path);
