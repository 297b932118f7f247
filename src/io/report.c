/* report.c - the HTML report of a run: metrics.h5 read back and drawn as inline SVG. */
#include "mbatch/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "h5util.h"
#include "mbatch/checkpoint.h"
#include "mbatch/metrics.h"

/* One row of /ranks as the report needs it; comm_s and io_s are NaN in files written before
 * those columns existed. */
typedef struct rank_info {
    int32_t rank;
    char host[64];
    int64_t rows;
    double compute_s, comm_s, io_s;
} rank_info;

/* The KPI attributes of metrics.h5 (NaN when absent: an unfinished or failed run). */
typedef struct kpi_values {
    double completion_s, samples_per_s, errors, core_s_per_1000, utilization;
    double final_train_loss, final_val_loss, final_val_metric;
} kpi_values;

typedef struct report {
    const char *run_dir, *metrics_path;
    mb_epoch_row *ep;
    int64_t ne;
    rank_info *rk;
    int nr;
    kpi_values k;
    mb_ckpt model; /* model.h5, when the run finished */
    int have_model;
} report;

/* ---------------------------------------------------------------- reading metrics.h5 */

static hid_t open_metrics(const char *path) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    /* No file lock: the job may still be appending rows while the report is drawn. */
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

static double read_attr(hid_t file, const char *name) {
    double v = NAN;
    if (H5Aexists(file, name) <= 0) return v;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    if (a < 0) return v;
    if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) v = NAN;
    H5Aclose(a);
    return v;
}

static mb_err read_ranks(hid_t file, const char *path, report *r) {
    mb_err err = MB_OK;
    hid_t ids[4] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    hsize_t n = 0;
    htri_t exists = H5Lexists(file, "ranks", H5P_DEFAULT);
    MB_H5(exists);
    if (!exists) return MB_OK;
    MB_H5(ids[0] = H5Dopen2(file, "ranks", H5P_DEFAULT));
    MB_H5(ids[1] = H5Dget_space(ids[0]));
    if (H5Sget_simple_extent_ndims(ids[1]) != 1) {
        err = mb_error_set(MB_EIO, "%s: /ranks is not a 1-D table", path);
        goto out;
    }
    MB_H5(H5Sget_simple_extent_dims(ids[1], &n, NULL));
    MB_H5(ids[2] = H5Dget_type(ids[0]));
    int has_comm = H5Tget_member_index(ids[2], "comm_s") >= 0;
    int has_io = H5Tget_member_index(ids[2], "io_s") >= 0;
    MB_H5(ids[3] = H5Tcreate(H5T_COMPOUND, sizeof(rank_info)));
    hid_t str = H5Tcopy(H5T_C_S1);
    if (str < 0 || H5Tset_size(str, sizeof(((rank_info *)0)->host)) < 0) {
        if (str >= 0) H5Tclose(str);
        MB_H5(-1);
    }
    herr_t rc = H5Tinsert(ids[3], "rank", HOFFSET(rank_info, rank), H5T_NATIVE_INT32);
    if (rc >= 0) rc = H5Tinsert(ids[3], "host", HOFFSET(rank_info, host), str);
    H5Tclose(str);
    if (rc >= 0) rc = H5Tinsert(ids[3], "rows", HOFFSET(rank_info, rows), H5T_NATIVE_INT64);
    if (rc >= 0)
        rc = H5Tinsert(ids[3], "compute_s", HOFFSET(rank_info, compute_s), H5T_NATIVE_DOUBLE);
    if (rc >= 0 && has_comm)
        rc = H5Tinsert(ids[3], "comm_s", HOFFSET(rank_info, comm_s), H5T_NATIVE_DOUBLE);
    if (rc >= 0 && has_io)
        rc = H5Tinsert(ids[3], "io_s", HOFFSET(rank_info, io_s), H5T_NATIVE_DOUBLE);
    MB_H5(rc);
    if (n > 0) {
        r->rk = calloc(n, sizeof *r->rk);
        if (!r->rk) {
            err = mb_error_set(MB_EIO, "%s: out of memory reading /ranks", path);
            goto out;
        }
        for (hsize_t i = 0; i < n; i++) r->rk[i].comm_s = r->rk[i].io_s = NAN;
        MB_H5(H5Dread(ids[0], ids[3], H5S_ALL, H5S_ALL, H5P_DEFAULT, r->rk));
        for (hsize_t i = 0; i < n; i++) r->rk[i].host[sizeof r->rk[i].host - 1] = '\0';
    }
    r->nr = (int)n;
out:
    mb__h5_close_all(ids, 4);
    return err;
}

static mb_err read_report(report *r) {
    mb_err err = MB_OK;
    const char *path = r->metrics_path;
    hid_t file = H5I_INVALID_HID;
    MB_TRY(mb_metrics_read(path, &r->ep, &r->ne));
    MB_H5(file = open_metrics(path));
    MB_TRY(read_ranks(file, path, r));
    r->k.completion_s = read_attr(file, "completion_s");
    r->k.samples_per_s = read_attr(file, "samples_per_s");
    r->k.errors = read_attr(file, "errors");
    r->k.core_s_per_1000 = read_attr(file, "core_s_per_1000");
    r->k.utilization = read_attr(file, "utilization");
    r->k.final_train_loss = read_attr(file, "final_train_loss");
    r->k.final_val_loss = read_attr(file, "final_val_loss");
    r->k.final_val_metric = read_attr(file, "final_val_metric");
out:
    if (file >= 0) H5Fclose(file);
    return err;
}

/* ---------------------------------------------------------------- HTML helpers */

static void put_escaped(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* The exact value for machines: 17 significant digits round-trip a double. */
static void put_value(FILE *f, double v) {
    if (isnan(v))
        fputs("nan", f);
    else
        fprintf(f, "%.17g", v);
}

static void fmt_seconds(double s, char *buf, size_t n) {
    if (isnan(s))
        snprintf(buf, n, "-");
    else if (s < 1)
        snprintf(buf, n, "%.3g ms", s * 1e3);
    else if (s < 120)
        snprintf(buf, n, "%.3g s", s);
    else if (s < 7200)
        snprintf(buf, n, "%.1f min (%.0f s)", s / 60, s);
    else
        snprintf(buf, n, "%.2f h (%.0f s)", s / 3600, s);
}

/* A round step of about range/5 for axis ticks: 1, 2 or 5 times a power of ten. */
static double nice_step(double range) {
    double raw = range / 5, mag = pow(10, floor(log10(raw))), m = raw / mag;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * mag;
}

/* ---------------------------------------------------------------- charts */

#define CW   540 /* chart width and height in SVG units */
#define CH   280
#define ML   70 /* margins: left, right, top, bottom */
#define MR   16
#define MT   44
#define MBOT 40

typedef struct series {
    const char *key, *label, *color;
    double *y; /* one value per epoch; NaN values are not drawn */
} series;

typedef struct chart {
    double x0, x1, y0, y1;
} chart;

static double px(const chart *c, double x) {
    return ML + (x - c->x0) / (c->x1 - c->x0) * (CW - ML - MR);
}
static double py(const chart *c, double y) {
    return CH - MBOT - (y - c->y0) / (c->y1 - c->y0) * (CH - MT - MBOT);
}

/* A line chart of ns series over epochs 1..n, with its numbers in data-value attributes. */
static void line_chart(FILE *f, const char *id, const char *title, const char *unit,
                       const double *epoch, int64_t n, const series *s, int ns) {
    chart c = {1, (double)n, INFINITY, -INFINITY};
    for (int k = 0; k < ns; k++)
        for (int64_t i = 0; i < n; i++)
            if (isfinite(s[k].y[i])) {
                if (s[k].y[i] < c.y0) c.y0 = s[k].y[i];
                if (s[k].y[i] > c.y1) c.y1 = s[k].y[i];
            }
    int empty = !(c.y0 <= c.y1);
    if (empty) c.y0 = 0, c.y1 = 1;
    if (c.y1 - c.y0 <= fabs(c.y1) * 1e-12) {
        double pad = c.y1 != 0 ? fabs(c.y1) * 0.1 : 1;
        c.y0 -= pad;
        c.y1 += pad;
    } else {
        double pad = (c.y1 - c.y0) * 0.06;
        c.y0 -= pad;
        c.y1 += pad;
    }
    if (c.x1 <= c.x0) c.x0 = 0.5, c.x1 = 1.5;

    fprintf(f,
            "<figure class=\"chart\" id=\"%s\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
            "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">\n<title>",
            id, CW, CH, CW, CH);
    put_escaped(f, title);
    fprintf(f, "</title>\n<text class=\"ct\" x=\"%d\" y=\"18\">", ML);
    put_escaped(f, title);
    fputs("</text>\n", f);
    /* Legend. */
    for (int k = 0, x = ML; k < ns; k++) {
        fprintf(f,
                "<rect x=\"%d\" y=\"27\" width=\"12\" height=\"3\" fill=\"%s\"/>"
                "<text class=\"lg\" x=\"%d\" y=\"33\">",
                x, s[k].color, x + 16);
        put_escaped(f, s[k].label);
        fputs("</text>\n", f);
        x += 30 + 7 * (int)strlen(s[k].label);
    }
    /* Axes and ticks. */
    double ys = nice_step(c.y1 - c.y0);
    fputs("<g class=\"axis\">\n", f);
    for (double v = ceil(c.y0 / ys) * ys; v <= c.y1 + ys * 1e-9; v += ys) {
        double y = py(&c, v);
        fprintf(f,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
                ML, CW - MR, y, y, ML - 6, y + 4, fabs(v) < ys * 1e-9 ? 0.0 : v);
    }
    double xs = n > 1 ? nice_step(c.x1 - c.x0) : 1;
    if (xs < 1) xs = 1;
    for (double v = ceil(c.x0 / xs) * xs; v <= c.x1 + 1e-9; v += xs)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", px(&c, v),
                CH - MBOT + 16, v);
    fprintf(f,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"frame\"/>"
            "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"frame\"/>\n"
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n",
            ML, CW - MR, CH - MBOT, CH - MBOT, ML, ML, MT - 6, CH - MBOT, (ML + CW - MR) / 2,
            CH - 6);
    if (unit && *unit) {
        fprintf(f,
                "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" "
                "text-anchor=\"middle\">",
                (MT + CH - MBOT) / 2, (MT + CH - MBOT) / 2);
        put_escaped(f, unit);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
    if (empty)
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no values</text>\n",
                (ML + CW - MR) / 2, CH / 2);
    /* Each series: a polyline (broken at missing values), then a marked point per epoch. */
    for (int k = 0; k < ns; k++) {
        fprintf(f, "<g class=\"series\" data-series=\"%s\" stroke=\"%s\" fill=\"%s\">\n", s[k].key,
                s[k].color, s[k].color);
        int open = 0;
        for (int64_t i = 0; i < n; i++) {
            if (!isfinite(s[k].y[i])) {
                if (open) fputs("\"/>\n", f);
                open = 0;
                continue;
            }
            fprintf(f, "%s%.2f,%.2f", open ? " " : "<polyline fill=\"none\" points=\"",
                    px(&c, epoch[i]), py(&c, s[k].y[i]));
            open = 1;
        }
        if (open) fputs("\"/>\n", f);
        int mark = n <= 200; /* beyond that, points would hide the line */
        for (int64_t i = 0; i < n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            fprintf(f,
                    "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%s\" stroke=\"none\" "
                    "data-epoch=\"%.0f\" data-value=\"",
                    px(&c, epoch[i]), py(&c, s[k].y[i]), mark ? "2.6" : "0.8", epoch[i]);
            put_value(f, s[k].y[i]);
            fprintf(f, "\"><title>epoch %.0f: ", epoch[i]);
            put_escaped(f, s[k].label);
            fprintf(f, " %.6g</title></circle>\n", s[k].y[i]);
        }
        fputs("</g>\n", f);
    }
    fputs("</svg></figure>\n", f);
}

/* Stacked horizontal bars: each rank's compute, communication and I/O seconds. */
static void rank_bars(FILE *f, const report *r) {
    static const char *const KIND[3] = {"compute", "communication", "io"};
    static const char *const LABEL[3] = {"compute", "communication", "I/O"};
    static const char *const COLOR[3] = {"#3b6fb6", "#e08a2c", "#4a9c5d"};
    int bar = 22, gap = 10, top = 44, left = 150, right = 170, w = 900;
    int h = top + r->nr * (bar + gap) + 20;
    double mx = 0;
    for (int i = 0; i < r->nr; i++) {
        double t = r->rk[i].compute_s + (isnan(r->rk[i].comm_s) ? 0 : r->rk[i].comm_s) +
                   (isnan(r->rk[i].io_s) ? 0 : r->rk[i].io_s);
        if (t > mx) mx = t;
    }
    if (!(mx > 0)) mx = 1;
    fprintf(f,
            "<figure class=\"chart wide\" id=\"ranks\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
            "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">\n"
            "<title>time per rank</title>\n<text class=\"ct\" x=\"%d\" y=\"18\">Where each rank "
            "spent its time (seconds)</text>\n",
            w, h, w, h, left);
    for (int k = 0; k < 3; k++)
        fprintf(f,
                "<rect x=\"%d\" y=\"26\" width=\"12\" height=\"10\" fill=\"%s\"/>"
                "<text class=\"lg\" x=\"%d\" y=\"35\">%s</text>\n",
                left + k * 140, COLOR[k], left + k * 140 + 16, LABEL[k]);
    for (int i = 0; i < r->nr; i++) {
        const rank_info *ri = &r->rk[i];
        double v[3] = {ri->compute_s, ri->comm_s, ri->io_s}, x = left;
        int y = top + i * (bar + gap);
        fprintf(f,
                "<g class=\"rank\" data-rank=\"%d\">\n<text x=\"%d\" y=\"%d\" "
                "text-anchor=\"end\">rank %d ",
                ri->rank, left - 8, y + bar / 2 + 4, ri->rank);
        put_escaped(f, ri->host);
        fputs("</text>\n", f);
        double total = 0;
        for (int k = 0; k < 3; k++) {
            double len = isfinite(v[k]) && v[k] > 0 ? v[k] / mx * (w - left - right) : 0;
            fprintf(f,
                    "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
                    "data-kind=\"%s\" data-value=\"",
                    x, y, len, bar, COLOR[k], KIND[k]);
            put_value(f, v[k]);
            fprintf(f, "\"><title>rank %d %s: %.6g s</title></rect>\n", ri->rank, LABEL[k], v[k]);
            x += len;
            if (isfinite(v[k])) total += v[k];
        }
        fprintf(f, "<text x=\"%.2f\" y=\"%d\">%.3g s, %lld rows</text>\n</g>\n", x + 6,
                y + bar / 2 + 4, total, (long long)ri->rows);
    }
    fputs("</svg></figure>\n", f);
}

/* ---------------------------------------------------------------- the page */

static void kpi_row(FILE *f, const char *key, const char *name, double v, const char *shown,
                    const char *how) {
    fprintf(f, "<tr><th>%s</th><td class=\"num\" data-kpi=\"%s\" data-value=\"", name, key);
    put_value(f, v);
    fputs("\">", f);
    put_escaped(f, shown);
    fputs("</td><td class=\"how\">", f);
    put_escaped(f, how);
    fputs("</td></tr>\n", f);
}

static void kpi_table(FILE *f, const report *r) {
    const kpi_values *k = &r->k;
    char buf[128];
    int64_t steps = r->ne > 0 ? r->ep[r->ne - 1].step : 0;
    double busy = 0;
    for (int i = 0; i < r->nr; i++) busy += r->rk[i].compute_s;
    /* Files written before utilization was stored: the same formula from /ranks. */
    double util = k->utilization;
    if (isnan(util) && r->nr > 0 && k->completion_s > 0) util = busy / (k->completion_s * r->nr);
    double err_rate = !isnan(k->errors) && steps > 0 ? k->errors / (double)steps : NAN;

    fputs("<table class=\"kpi\">\n<tr><th>key figure</th><th>value</th><th>definition</th>"
          "</tr>\n",
          f);
    fmt_seconds(k->completion_s, buf, sizeof buf);
    kpi_row(f, "completion_s", "Job completion time", k->completion_s, buf,
            "wall time from start to the model written");
    snprintf(buf, sizeof buf, isnan(k->samples_per_s) ? "-" : "%.4g items/s", k->samples_per_s);
    kpi_row(f, "samples_per_s", "Throughput", k->samples_per_s, buf,
            "training samples processed / completion time");
    snprintf(buf, sizeof buf, isnan(k->errors) ? "-" : "%.0f", k->errors);
    kpi_row(f, "errors", "Errors", k->errors, buf, "failed or skipped steps during the run");
    snprintf(buf, sizeof buf, isnan(err_rate) ? "-" : "%.3g %%", err_rate * 100);
    kpi_row(f, "error_rate", "Error rate", err_rate, buf, "errors / optimizer steps");
    snprintf(buf, sizeof buf, isnan(util) ? "-" : "%.1f %%", util * 100);
    kpi_row(f, "utilization", "Resource utilization", util, buf,
            "compute time summed over ranks / (completion time x ranks)");
    snprintf(buf, sizeof buf, isnan(k->core_s_per_1000) ? "-" : "%.4g core-s", k->core_s_per_1000);
    kpi_row(f, "core_s_per_1000", "Cost per 1000 samples", k->core_s_per_1000, buf,
            "completion time x ranks / (samples / 1000)");
    snprintf(buf, sizeof buf, "%.6g", k->final_train_loss);
    kpi_row(f, "final_train_loss", "Final training loss", k->final_train_loss, buf,
            "mean loss of the last epoch (with the l2 penalty)");
    snprintf(buf, sizeof buf, "%.6g", k->final_val_loss);
    kpi_row(f, "final_val_loss", "Final validation loss", k->final_val_loss, buf,
            "exact loss over the validation rows");
    snprintf(buf, sizeof buf, "%.6g", k->final_val_metric);
    kpi_row(f, "final_val_metric", "Final validation metric", k->final_val_metric, buf,
            "accuracy (classification) or RMSE (regression)");
    fputs("</table>\n", f);
}

static void epoch_table(FILE *f, const report *r) {
    int probed = mb_epochs_probed(r->ep, r->ne); /* the read after each epoch, and the fraction */
    fputs("<table class=\"epochs\">\n<tr><th>epoch</th><th>step</th><th>train loss</th>"
          "<th>val loss</th><th>val metric</th><th>lr</th><th>batch</th><th>grad norm</th>"
          "<th>epoch s</th><th>samples/s</th><th>compute s</th><th>comm s</th><th>I/O s</th>"
          "<th>imbalance</th>",
          f);
    fputs(probed ? "<th>read s</th><th>read / epoch</th></tr>\n" : "</tr>\n", f);
    int64_t from = r->ne > 500 ? r->ne - 500 : 0; /* the page stays readable for long runs */
    if (from > 0)
        fprintf(f,
                "<tr><td colspan=\"%d\">(first %lld epochs omitted; see mbatch inspect --csv)"
                "</td></tr>\n",
                probed ? 16 : 14, (long long)from);
    for (int64_t i = from; i < r->ne; i++) {
        const mb_epoch_row *e = &r->ep[i];
        fprintf(f,
                "<tr><td>%lld</td><td>%lld</td><td>%.6g</td><td>%.6g</td><td>%.5g</td>"
                "<td>%.4g</td><td>%lld</td><td>%.4g</td><td>%.4g</td><td>%.4g</td><td>%.4g</td>"
                "<td>%.4g</td><td>%.4g</td><td>%.3f</td>",
                (long long)e->epoch + 1, (long long)e->step, e->train_loss, e->val_loss,
                e->val_metric, e->lr, (long long)e->batch_size, e->grad_norm, e->epoch_s,
                e->samples_per_s, e->compute_s, e->comm_s, e->io_s, e->imbalance);
        if (probed) fprintf(f, "<td>%.4g</td><td>%.3f</td>", e->read_s, mb_epoch_read_fraction(e));
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static const char STYLE[] =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:20px 24px;color:#222;"
    "background:#fff}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px "
    "solid #ddd;padding-bottom:3px}\n"
    ".sub{color:#666;margin:0 0 10px;font-size:13px}\n"
    ".grid{display:flex;flex-wrap:wrap;gap:10px}\n"
    "figure.chart{margin:0;border:1px solid #e3e3e3;border-radius:4px}\n"
    "svg text{font-size:11px;fill:#444}svg text.ct{font-size:13px;font-weight:bold;fill:#222}\n"
    "svg text.lg{font-size:11px}svg .grid{stroke:#eee}svg .frame{stroke:#888}\n"
    "svg polyline{stroke-width:1.8}\n"
    "table{border-collapse:collapse;font-size:13px}th,td{padding:3px 10px;text-align:left;"
    "border-bottom:1px solid #eee}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;font-weight:bold}"
    "td.how{color:#777}\n"
    "table.epochs td{text-align:right;font-variant-numeric:tabular-nums}\n"
    "pre{background:#f6f6f6;padding:8px;font-size:12px;white-space:pre-wrap;"
    "word-break:break-all}\n";

static void write_page(FILE *f, const report *r) {
    const char *name = strrchr(r->run_dir, '/');
    name = name && name[1] ? name + 1 : r->run_dir;
    int64_t n = r->ne;
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>mbatch report: ",
          f);
    put_escaped(f, name);
    fprintf(f, "</title>\n<style>\n%s</style></head>\n<body>\n<h1>mbatch report: ", STYLE);
    put_escaped(f, name);
    fputs("</h1>\n<p class=\"sub\">", f);
    put_escaped(f, r->run_dir);
    fprintf(f, " &middot; %lld epoch%s, %lld steps &middot; %d rank%s", (long long)n,
            n == 1 ? "" : "s", (long long)(n > 0 ? r->ep[n - 1].step : 0), r->nr,
            r->nr == 1 ? "" : "s");
    if (r->have_model) {
        fprintf(f, " &middot; %s model, %lld features",
                r->model.model_type == 0   ? "linear"
                : r->model.model_type == 1 ? "logistic"
                                           : "softmax",
                (long long)r->model.d);
    }
    fprintf(f, " &middot; written by mbatch %s on %s</p>\n", MBATCH_VERSION, when);
    if (!r->have_model)
        fputs("<p class=\"sub\">No model.h5: the run has not finished (or failed); the "
              "figures show the epochs recorded so far.</p>\n",
              f);

    fputs("<h2>Key figures</h2>\n", f);
    kpi_table(f, r);

    double *col = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * 9);
    if (!col) {
        fputs("<p>out of memory drawing the charts</p></body></html>\n", f);
        return;
    }
    double *ep = col, *tl = col + n, *vl = col + 2 * n, *vm = col + 3 * n, *lr = col + 4 * n,
           *bs = col + 5 * n, *sps = col + 6 * n, *cs = col + 7 * n, *cm = col + 8 * n;
    int classify = r->have_model ? r->model.model_type != 0 : 1;
    for (int64_t i = 0; i < n; i++) {
        ep[i] = (double)r->ep[i].epoch + 1;
        tl[i] = r->ep[i].train_loss;
        vl[i] = r->ep[i].val_loss;
        vm[i] = r->ep[i].val_metric;
        lr[i] = r->ep[i].lr;
        bs[i] = (double)r->ep[i].batch_size;
        sps[i] = r->ep[i].samples_per_s;
        cs[i] = r->ep[i].compute_s;
        cm[i] = r->ep[i].comm_s;
    }
    fputs("<h2>Training</h2>\n<div class=\"grid\">\n", f);
    series loss[2] = {{"train_loss", "training loss", "#3b6fb6", tl},
                      {"val_loss", "validation loss", "#d1495b", vl}};
    line_chart(f, "loss", "Loss per epoch", "loss", ep, n, loss, 2);
    series metric[1] = {
        {"val_metric", classify ? "validation accuracy" : "validation RMSE", "#7a4fa3", vm}};
    line_chart(f, "metric", classify ? "Validation accuracy" : "Validation RMSE",
               classify ? "accuracy" : "RMSE", ep, n, metric, 1);
    series lrs[1] = {{"lr", "learning rate", "#2a9d8f", lr}};
    line_chart(f, "lr", "Learning rate", "lr", ep, n, lrs, 1);
    series bss[1] = {{"batch_size", "global batch size", "#8d6a2f", bs}};
    line_chart(f, "batch", "Batch size", "samples", ep, n, bss, 1);
    series tps[1] = {{"samples_per_s", "samples/s", "#e08a2c", sps}};
    line_chart(f, "throughput", "Throughput per epoch", "samples/s", ep, n, tps, 1);
    series tms[2] = {{"compute_s", "compute (rank 0)", "#3b6fb6", cs},
                     {"comm_s", "communication (rank 0)", "#e08a2c", cm}};
    line_chart(f, "time", "Time per epoch", "seconds", ep, n, tms, 2);
    fputs("</div>\n", f);
    free(col);

    fputs("<h2>Ranks</h2>\n", f);
    if (r->nr > 0)
        rank_bars(f, r);
    else
        fputs("<p class=\"sub\">No /ranks table: the run has not finished.</p>\n", f);

    fputs("<h2>Epochs</h2>\n", f);
    epoch_table(f, r);
    if (r->have_model && r->model.job_json) {
        fputs("<h2>Job</h2>\n<pre>", f);
        put_escaped(f, r->model.job_json);
        fputs("</pre>\n", f);
    }
    fputs("</body></html>\n", f);
}

mb_err mb_report_write(const char *run_dir, const char *out_path) {
    mb_err err = MB_OK;
    report r;
    memset(&r, 0, sizeof r);
    char metrics[4096], model[4096], out_buf[4096], tmp[4200];
    FILE *f = NULL;
    mb__h5_quiet();
    r.run_dir = run_dir;
    snprintf(metrics, sizeof metrics, "%s/metrics.h5", run_dir);
    snprintf(model, sizeof model, "%s/model.h5", run_dir);
    r.metrics_path = metrics;
    if (!out_path) {
        snprintf(out_buf, sizeof out_buf, "%s/report.html", run_dir);
        out_path = out_buf;
    }
    struct stat st;
    errno = 0;
    if (stat(run_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        err = mb_error_set(MB_EIO, "%s: not a run directory: %s", run_dir,
                           errno ? strerror(errno) : "not a directory");
        goto out;
    }
    if (access(metrics, R_OK) != 0) {
        err = mb_error_set(MB_EIO, "%s: cannot read: %s (is %s the run_dir of a job?)", metrics,
                           strerror(errno), run_dir);
        goto out;
    }
    MB_TRY(read_report(&r));
    if (access(model, R_OK) == 0) {
        /* The model is optional context (the job, the model type); a bad one is not fatal. */
        if (mb_ckpt_read(model, &r.model) == MB_OK)
            r.have_model = 1;
        else
            mb_error_clear();
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    f = fopen(tmp, "w");
    if (!f) {
        err = mb_error_set(MB_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    write_page(f, &r);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        f = NULL;
        err = mb_error_set(MB_EIO, "%s: write failed: %s", tmp, strerror(errno));
        remove(tmp);
        goto out;
    }
    f = NULL;
    if (rename(tmp, out_path) != 0) {
        err =
            mb_error_set(MB_EIO, "%s: cannot rename %s to it: %s", out_path, tmp, strerror(errno));
        remove(tmp);
    }
out:
    free(r.ep);
    free(r.rk);
    mb_ckpt_clear(&r.model);
    return err;
}
