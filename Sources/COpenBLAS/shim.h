// OpenBLAS's CBLAS interface (Debian package libopenblas-dev): the matrix product that screens
// distances. OpenBLAS picks its kernel for the processor at run time.
#include <cblas.h>
