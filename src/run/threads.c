/* threads.c - a pool of worker threads computing pieces of one step's gradient. */
#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbatch/partition.h"
#include "mbatch/place.h"
#include "mbatch/error.h"
#include "shared.h"

typedef struct piece {
    pthread_t tid;
    struct mb__pool *pool;
    int t;
    double *g, *work, loss; /* this thread's sums */
} piece;

struct mb__pool {
    int n, started;    /* threads, and workers running */
    int64_t *cut;      /* thread t takes local training offsets [cut[t], cut[t+1]) */
    int64_t nparam, d; /* of the current step */
    piece *pieces;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    _Atomic uint64_t gen; /* bumped per step; workers run when it changes */
    _Atomic int pending;  /* workers still computing the current step */
    _Atomic int quit;
    int spin; /* every thread has a PU of its own: wait by spinning a while before sleeping */
    /* The current step. */
    mb_model_type type;
    const void *X;
    mb_dtype dt;
    const double *y, *theta;
    const int64_t *idx;
    int64_t rows, k;
};

/* First position in the step's rows whose local offset is >= off. */
static int64_t split_at(const mb__pool *p, int64_t off) {
    if (!p->idx) return off < 0 ? 0 : off > p->rows ? p->rows : off;
    int64_t lo = 0, hi = p->rows;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (p->idx[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void run_piece(piece *pc) {
    mb__pool *p = pc->pool;
    int64_t a = split_at(p, p->cut[pc->t]), b = split_at(p, p->cut[pc->t + 1]);
    memset(pc->g, 0, sizeof(double) * (size_t)p->nparam);
    pc->loss = 0;
    if (b > a)
        pc->loss = mb_kernel_grad(
            p->type, p->idx ? p->X : (const char *)p->X + a * p->d * mb_dtype_size(p->dt), p->dt,
            p->idx ? p->y : p->y + a, p->idx ? p->idx + a : NULL, b - a, p->d, p->k, p->theta,
            pc->g, pc->work);
}

/* A step of 256 rows takes about 15 us, and waking a sleeping thread on another core costs as
 * much on a VM: a thread with a PU of its own first spins for about SPIN_NS (pause loops,
 * checking the time every 64) on what it waits for, and sleeps only after that. */
enum { SPIN_NS = 100000 };

/* Seconds on a monotonic clock (not MPI_Wtime: workers make no MPI calls). */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* What the threads wait for: a worker for the next step (or the end), given the last step it
 * ran; the rank's thread for every worker to finish the current step. */
static int step_posted(mb__pool *p, uint64_t seen) {
    return atomic_load_explicit(&p->gen, memory_order_acquire) != seen ||
           atomic_load_explicit(&p->quit, memory_order_acquire);
}
static int workers_done(mb__pool *p, uint64_t unused) {
    (void)unused;
    return atomic_load_explicit(&p->pending, memory_order_acquire) == 0;
}

/* Spin until ready(p, arg), for up to SPIN_NS; whether it became so. */
static int spin_until(mb__pool *p, int (*ready)(mb__pool *, uint64_t), uint64_t arg) {
    if (!p->spin) return 0;
    double t_end = now_s() + SPIN_NS * 1e-9;
    for (int i = 1;; i++) {
        if (ready(p, arg)) return 1;
        cpu_relax();
        if (i % 64 == 0 && now_s() > t_end) return 0;
    }
}

static void *worker(void *arg) {
    piece *pc = arg;
    mb__pool *p = pc->pool;
    uint64_t seen = 0;
    for (;;) {
        if (!spin_until(p, step_posted, seen)) {
            pthread_mutex_lock(&p->mu);
            while (!step_posted(p, seen)) pthread_cond_wait(&p->go, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = atomic_load(&p->gen);
        run_piece(pc);
        /* The last one wakes the rank's thread (under the lock: it may be about to sleep). */
        pthread_mutex_lock(&p->mu);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

mb__pool *mb__pool_create(const mb__state *s, const mb_comm *c, uint64_t seed, int nthreads) {
    mb__pool *p = calloc(1, sizeof *p);
    if (!p) {
        mb_error_set(MB_EENV, "rank %d: out of memory for a pool of %d threads", c->rank, nthreads);
        return NULL;
    }
    p->n = nthreads;
    p->nparam = s->nparam;
    p->d = s->d;
    p->cut = mb__alloc(sizeof(int64_t) * (size_t)(nthreads + 1), "the thread pieces");
    p->pieces = calloc((size_t)nthreads, sizeof(piece));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    if (!p->cut || !p->pieces) goto fail;
    /* Cut points: this rank's training rows before the first file row of each virtual rank. */
    int64_t V = (int64_t)c->size * nthreads;
    p->cut[0] = 0;
    p->cut[nthreads] = s->mt;
    for (int t = 1; t < nthreads; t++) {
        int64_t vlo, vhi, cnt = 0;
        mb_shard_bounds(s->n, (int)((int64_t)c->rank * nthreads + t), (int)V, &vlo, &vhi);
        int64_t end = vlo < s->lo ? s->lo : vlo > s->hi ? s->hi : vlo;
        for (int64_t row = s->lo; row < end; row++)
            cnt += !mb_split_is_val(row, s->n, s->n_val, seed);
        p->cut[t] = cnt;
    }
    for (int t = 0; t < nthreads; t++) {
        piece *pc = &p->pieces[t];
        pc->pool = p;
        pc->t = t;
        pc->g = mb__alloc(sizeof(double) * (size_t)s->nparam, "a thread's gradient");
        pc->work = mb__alloc(sizeof(double) * (size_t)mb_kernel_work_size(s->d, s->k),
                             "a thread's workspace");
        if (!pc->g || !pc->work) goto fail;
    }
    char pus[256];
    int npus = mb_place_worker_pus(nthreads, pus, sizeof pus);
    p->spin = npus >= nthreads;
    if (npus < nthreads && c->local_rank == 0)
        fprintf(stderr,
                "mbatch: warning: rank %d: threads = %d, but the rank's threads can run only on "
                "PU%s %s: they share %s; give each rank %d cores (mpirun --map-by slot:PE=%d, "
                "srun --cpus-per-task=%d) or set placement.respect_launcher = false\n",
                c->rank, nthreads, strpbrk(pus, ",-") ? "s" : "", pus,
                strpbrk(pus, ",-") ? "them" : "it", nthreads, nthreads, nthreads);
    for (int t = 1; t < nthreads; t++) {
        if (mb_place_worker_thread(&p->pieces[t].tid, worker, &p->pieces[t], nthreads, t) != 0) {
            mb_error_set(MB_EENV, "rank %d: cannot start thread %d of %d", c->rank, t, nthreads);
            goto fail;
        }
        p->started = t;
    }
    return p;
fail:
    mb__pool_free(p);
    return NULL;
}

double mb__pool_grad(mb__pool *p, mb_model_type type, const void *X, mb_dtype dt, const double *y,
                     const int64_t *idx, int64_t rows, int64_t d, int64_t k, const double *theta,
                     double *g) {
    pthread_mutex_lock(&p->mu);
    p->type = type, p->X = X, p->dt = dt, p->y = y, p->idx = idx, p->rows = rows;
    p->d = d, p->k = k, p->theta = theta;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release); /* publishes the step */
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    run_piece(&p->pieces[0]);
    if (!spin_until(p, workers_done, 0)) {
        pthread_mutex_lock(&p->mu);
        while (!workers_done(p, 0)) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    /* In thread order, as the ranks' sums are added: ((g0 + g1) + g2) ... */
    double loss = p->pieces[0].loss;
    memcpy(g, p->pieces[0].g, sizeof(double) * (size_t)p->nparam);
    for (int t = 1; t < p->n; t++) {
        const double *gt = p->pieces[t].g;
        for (int64_t j = 0; j < p->nparam; j++) g[j] += gt[j];
        loss += p->pieces[t].loss;
    }
    return loss;
}

void mb__pool_free(mb__pool *p) {
    if (!p) return;
    if (p->pieces) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->quit, 1);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
        for (int t = 1; t <= p->started; t++) pthread_join(p->pieces[t].tid, NULL);
        for (int t = 0; t < p->n; t++) {
            free(p->pieces[t].g);
            free(p->pieces[t].work);
        }
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->pieces);
    free(p->cut);
    free(p);
}

struct mb__ahead {
    int64_t t_lo, m, n_train, batch, block;
    uint64_t seed;
    int64_t *order, *boff, *scratch; /* the helper's buffers */
    int64_t epoch;                   /* the epoch the helper computes or holds; -1: none */
    int running;
    pthread_t tid;
};

static void *ahead_main(void *arg) {
    mb__ahead *a = arg;
    mb_epoch_order(a->t_lo, a->t_lo + a->m, a->n_train, a->batch, a->block, a->seed, a->epoch,
                   a->order, a->boff, a->scratch);
    return NULL;
}

mb__ahead *mb__ahead_create(int64_t t_lo, int64_t m, int64_t n_train, int64_t batch, int64_t block,
                            uint64_t seed) {
    mb__ahead *a = calloc(1, sizeof *a);
    if (!a) {
        mb_error_set(MB_EENV, "out of memory for the epoch order helper");
        return NULL;
    }
    *a = (mb__ahead){t_lo, m, n_train, batch, block, seed, NULL, NULL, NULL, -1, 0, 0};
    a->order = mb__alloc(sizeof(int64_t) * (size_t)(m > 0 ? m : 1), "the next epoch order");
    a->boff = mb__alloc(sizeof(int64_t) * (size_t)(mb_batch_count(n_train, batch) + 1),
                        "the next batch offsets");
    a->scratch = mb__alloc(sizeof(int64_t) * (size_t)(2 * m + 1), "the next epoch order");
    if (!a->order || !a->boff || !a->scratch) {
        mb__ahead_free(a);
        return NULL;
    }
    return a;
}

int mb__ahead_order(mb__ahead *a, int64_t e, int64_t epochs, int64_t **order, int64_t **boff,
                    int64_t *scratch) {
    if (a->running) {
        pthread_join(a->tid, NULL);
        a->running = 0;
    }
    if (a->epoch == e) { /* ready: swap buffers with the caller */
        int64_t *o = *order, *b = *boff;
        *order = a->order, *boff = a->boff;
        a->order = o, a->boff = b;
    } else {
        mb_epoch_order(a->t_lo, a->t_lo + a->m, a->n_train, a->batch, a->block, a->seed, e, *order,
                       *boff, scratch);
    }
    a->epoch = -1;
    if (e + 1 >= epochs) return 0;
    a->epoch = e + 1;
    if (mb_place_helper_thread(&a->tid, ahead_main, a) != 0) {
        a->epoch = -1; /* computed in the foreground next time */
        return -1;
    }
    a->running = 1;
    return 0;
}

void mb__ahead_free(mb__ahead *a) {
    if (!a) return;
    if (a->running) pthread_join(a->tid, NULL);
    free(a->order);
    free(a->boff);
    free(a->scratch);
    free(a);
}
