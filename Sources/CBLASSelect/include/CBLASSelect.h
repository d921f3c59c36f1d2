#ifndef VORONOID_CBLASSELECT_H
#define VORONOID_CBLASSELECT_H

/// The OpenBLAS kernel family in use ("SkylakeX", "Haswell", …), or "" when the process has no
/// OpenBLAS with run-time kernel selection.
const char *voronoid_blas_core(void);

/// The family OpenBLAS picked by itself at load, before any correction; equal to
/// voronoid_blas_core() when nothing was changed.
const char *voronoid_blas_core_detected(void);

#endif
