/* scalapack.h - C declarations of the BLACS and ScaLAPACK symbols mbatch calls (Debian ships none).
 *
 * All of them live in libscalapack-openmpi.so and use 32-bit Fortran integers (LP64 build). The
 * Fortran routines take every argument by reference; descriptors are int[9] (DLEN_ = 9):
 * {DTYPE = 1, CTXT, M, N, MB, NB, RSRC, CSRC, LLD}. Callers check that every size fits an int
 * before calling: ScaLAPACK reports bad arguments through PXERBLA and then aborts the whole job.
 */
#pragma once

#include <mpi.h>

#define MB_DLEN 9

/* BLACS, C interface. */
void Cblacs_pinfo(int *mypnum, int *nprocs);
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *ictxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ictxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ictxt);

/* Tools. */
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ictxt, const int *lld, int *info);

/* Redistribution between two block-cyclic layouts; ictxt covers every process of both. */
void pdgemr2d_(const int *m, const int *n, const double *a, const int *ia, const int *ja,
               const int *desca, double *b, const int *ib, const int *jb, const int *descb,
               const int *ictxt);

/* Symmetric positive definite solve (Cholesky), its pieces and condition estimate. */
void pdposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *ia,
             const int *ja, const int *desca, double *b, const int *ib, const int *jb,
             const int *descb, int *info);
double pdlansy_(const char *norm, const char *uplo, const int *n, const double *a, const int *ia,
                const int *ja, const int *desca, double *work);
void pdpocon_(const char *uplo, const int *n, const double *a, const int *ia, const int *ja,
              const int *desca, const double *anorm, double *rcond, double *work, const int *lwork,
              int *iwork, const int *liwork, int *info);

/* Least squares by QR (no pivoting). */
void pdgels_(const char *trans, const int *m, const int *n, const int *nrhs, double *a,
             const int *ia, const int *ja, const int *desca, double *b, const int *ib,
             const int *jb, const int *descb, double *work, const int *lwork, int *info);
