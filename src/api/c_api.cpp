// placeholder until the C API lands (same issue)
#include "core/error.h"
