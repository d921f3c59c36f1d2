// The shims are inline functions in the header; compiling it here checks it on its own.
#include "CKernelShims.h"
