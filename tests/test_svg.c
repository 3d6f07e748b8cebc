/* The SVG chart: well-formed enough for a browser (one root, closed), a
 * bar per device whose widths add up to the device's share of the scale,
 * and the model name escaped. */
#include "test_helpers.h"

#include <string.h>

static void test_svg_bars(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-70b");
    gpumem_settings s;
    gpumem_error err;
    gpumem_settings_init(&s);
    s.gpus = 2;
    assert_int_equal(gpumem_gpu_find("h100-80gb", &s.gpu, &err), GPUMEM_OK);
    gpumem_estimate *e = estimate_or_fail(m, &s);
    char *svg = gpumem_report_svg(m, e, GPUMEM_UNIT_GIB);
    assert_non_null(svg);
    assert_true(strncmp(svg, "<svg ", 5) == 0);
    assert_non_null(strstr(svg, "</svg>\n"));
    assert_non_null(strstr(svg, ">gpu0<"));
    assert_non_null(strstr(svg, ">gpu1<"));
    /* Bars of gpu0 add up to 560 px x its share of the larger of the GPU's
     * memory and the busiest device. */
    double total = 0, w;
    const char *p = svg;
    int rects = 0;
    while ((p = strstr(p, "<rect x=\"")) && rects < (int)e->devices[0].n_components) {
        const char *wp = strstr(p, "width=\"");
        if (sscanf(wp, "width=\"%lf\"", &w) == 1 && strstr(p, "<title>")) {
            total += w;
            rects++;
        }
        p = wp;
    }
    uint64_t scale = e->devices[0].bytes > s.gpu->memory_bytes ? e->devices[0].bytes
                                                               : s.gpu->memory_bytes;
    double want = 560.0 * (double)e->devices[0].bytes / (double)scale;
    assert_true(total > want - 0.1 * rects && total < want + 0.1 * rects);
    free(svg);
    free(e);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_svg_bars)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
