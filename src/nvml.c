/* The GPUs of this machine through NVML, loaded with dlopen at run time so
 * gpumem neither builds against nor requires the NVIDIA driver. */
#include "gpumem.h"

#include "error_internal.h"
#include "util_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    unsigned long long total, free, used;
} nvml_memory; /* nvmlMemory_t */

typedef int (*nvml_void_fn)(void);
typedef int (*nvml_count_fn)(unsigned int *);
typedef int (*nvml_handle_fn)(unsigned int, void **);
typedef int (*nvml_name_fn)(void *, char *, unsigned int);
typedef int (*nvml_mem_fn)(void *, nvml_memory *);
typedef int (*nvml_cc_fn)(void *, int *, int *);

gpumem_status gpumem_local_gpus(gpumem_local_gpu *out, size_t cap, size_t *n, gpumem_error *err)
{
    *n = 0;
    void *lib = shared_lib_open("libnvidia-ml.so.1");
    if (!lib)
        return err_set(err, GPUMEM_ERR_IO,
                       "no NVIDIA driver found: libnvidia-ml.so.1 cannot be loaded");
    nvml_void_fn init, shutdown;
    nvml_count_fn count;
    nvml_handle_fn handle;
    nvml_name_fn name;
    nvml_mem_fn mem;
    *(void **)&init = dlsym(lib, "nvmlInit_v2");
    *(void **)&shutdown = dlsym(lib, "nvmlShutdown");
    *(void **)&count = dlsym(lib, "nvmlDeviceGetCount_v2");
    *(void **)&handle = dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&name = dlsym(lib, "nvmlDeviceGetName");
    *(void **)&mem = dlsym(lib, "nvmlDeviceGetMemoryInfo");
    nvml_cc_fn cc; /* optional: 0 when the driver's NVML lacks it */
    *(void **)&cc = dlsym(lib, "nvmlDeviceGetCudaComputeCapability");
    gpumem_status st = GPUMEM_OK;
    unsigned int c = 0;
    if (!init || !shutdown || !count || !handle || !name || !mem) {
        st = err_set(err, GPUMEM_ERR_IO, "libnvidia-ml.so.1 lacks the NVML functions gpumem needs");
    } else if (init() != 0) {
        st = err_set(err, GPUMEM_ERR_IO, "NVML did not initialise (is the NVIDIA driver loaded?)");
    } else {
        if (count(&c) != 0)
            st = err_set(err, GPUMEM_ERR_IO, "NVML could not count the GPUs");
        for (unsigned int i = 0; st == GPUMEM_OK && i < c && *n < cap; i++) {
            void *h = NULL;
            nvml_memory mi;
            gpumem_local_gpu *g = &out[*n];
            memset(g, 0, sizeof *g);
            if (handle(i, &h) != 0 || mem(h, &mi) != 0)
                continue;
            if (name(h, g->name, sizeof g->name) != 0)
                snprintf(g->name, sizeof g->name, "GPU %u", i);
            g->index = i;
            g->total_bytes = mi.total;
            g->free_bytes = mi.free;
            int major = 0, minor = 0;
            if (cc && cc(h, &major, &minor) == 0 && major > 0 && minor >= 0 && minor < 10)
                g->compute_capability = (unsigned)(major * 10 + minor);
            (*n)++;
        }
        shutdown();
    }
    dlclose(lib);
    return st;
}
