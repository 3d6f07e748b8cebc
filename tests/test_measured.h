/* Helpers of the tests that read measured llama.cpp runs (jsonl rows). */
#ifndef GPUMEM_TEST_MEASURED_H
#define GPUMEM_TEST_MEASURED_H

#include "test_helpers.h"

#include <jansson.h>

static const double MiB = 1048576.0;

/* A component of the last device (the host of a CPU-only run), 0 when that
 * device has none. */
static inline uint64_t last_component(const gpumem_estimate *e, const char *name)
{
    const gpumem_device *d = &e->devices[e->n_devices - 1];
    for (size_t k = 0; k < d->n_components; k++)
        if (!strcmp(d->components[k].name, name))
            return d->components[k].bytes;
    return 0;
}

/* The sum of a {buffer: MiB} object of a printed row. */
static inline double json_sum(json_t *o)
{
    const char *k;
    json_t *v;
    double s = 0;
    json_object_foreach(o, k, v) s += json_number_value(v);
    return s;
}

#endif
