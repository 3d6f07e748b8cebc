/* The breakdown as an SVG chart: one stacked bar per device, a line at the
 * GPU's memory, and a legend. Plain text, no dependencies. */
#include "gpumem.h"

#include "model_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
                                      "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                      "#17becf"};
enum { N_COLORS = sizeof palette / sizeof palette[0] };

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} out_t;

static void emit(out_t *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || o->len + (size_t)n + 1 > o->cap) {
        size_t cap = (o->cap + (size_t)(n > 0 ? n : 0) + 1) * 2;
        char *b = realloc(o->buf, cap);
        if (!b || n < 0) {
            o->failed = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* Component names are [a-z_] words from a fixed set, device names too; the
 * model name comes from a file, so escape it. */
static void emit_text(out_t *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            emit(o, "&lt;");
        else if (*s == '>')
            emit(o, "&gt;");
        else if (*s == '&')
            emit(o, "&amp;");
        else if (*s == '"')
            emit(o, "&quot;");
        else
            emit(o, "%c", *s);
    }
}

static int color_of(const char *names[], int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(names[i], name))
            return i;
    if (*n < N_COLORS)
        names[(*n)++] = name;
    return *n - 1;
}

char *gpumem_report_svg(const gpumem_model *m, const gpumem_estimate *e, gpumem_unit unit)
{
    out_t o = {0};
    double u = unit == GPUMEM_UNIT_GB ? 1e9 : 1073741824.0;
    const char *un = unit == GPUMEM_UNIT_GB ? "GB" : "GiB";
    uint64_t scale = e->gpu ? e->gpu->memory_bytes : 0;
    for (size_t i = 0; i < e->n_devices; i++)
        if (e->devices[i].bytes > scale)
            scale = e->devices[i].bytes;
    if (!scale)
        scale = 1;
    const double left = 90, width = 560, bar = 28, gap = 14, top = 40;
    size_t n_dev = e->n_devices ? e->n_devices : 1;
    const char *names[N_COLORS];
    int n_names = 0;
    for (size_t d = 0; d < e->n_devices; d++) /* legend entries, in order */
        for (size_t c = 0; c < e->devices[d].n_components; c++)
            if (e->devices[d].components[c].bytes)
                color_of(names, &n_names, e->devices[d].components[c].name);
    double height = top + n_dev * (bar + gap) + 14 + 18 * ((n_names + 3) / 4);
    emit(&o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"%.0f\" "
             "font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n",
         height);
    emit(&o, "<title>");
    emit_text(&o, m->name);
    emit(&o, ": %.2f %s per GPU</title>\n", e->per_gpu_bytes / u, un);
    emit(&o, "<text x=\"10\" y=\"20\" font-size=\"14\">");
    emit_text(&o, m->name);
    emit(&o, " on %s: %.2f %s%s</text>\n", gpumem_engine_name(e->engine),
         (e->per_gpu_bytes ? e->per_gpu_bytes : e->total_bytes) / u, un,
         e->per_gpu_bytes ? " per GPU" : "");
    for (size_t d = 0; d < e->n_devices; d++) {
        const gpumem_device *dev = &e->devices[d];
        double y = top + d * (bar + gap), x = left;
        emit(&o, "<text x=\"10\" y=\"%.0f\">%s</text>\n", y + bar * 0.65, dev->name);
        for (size_t c = 0; c < dev->n_components; c++) {
            const gpumem_component *k = &dev->components[c];
            double w = width * (double)k->bytes / (double)scale;
            if (w <= 0)
                continue;
            int col = color_of(names, &n_names, k->name);
            emit(&o, "<rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%.0f\" fill=\"%s\">"
                     "<title>%s: %.2f %s</title></rect>\n",
                 x, y, w, bar, palette[col % N_COLORS], k->name, k->bytes / u, un);
            x += w;
        }
        emit(&o, "<text x=\"%.0f\" y=\"%.0f\">%.2f %s</text>\n", x + 6, y + bar * 0.65,
             dev->bytes / u, un);
    }
    if (e->gpu) {
        double x = left + width * (double)e->gpu->memory_bytes / (double)scale;
        emit(&o, "<line x1=\"%.2f\" y1=\"%.0f\" x2=\"%.2f\" y2=\"%.0f\" stroke=\"#000\" "
                 "stroke-dasharray=\"4 3\"/>\n",
             x, top - 6, x, top + n_dev * (bar + gap) - gap + 6);
        emit(&o, "<text x=\"%.2f\" y=\"%.0f\" text-anchor=\"end\">%s %.2f %s</text>\n", x,
             top - 10, e->gpu->id, e->gpu->memory_bytes / u, un);
    }
    double ly = top + n_dev * (bar + gap) + 16;
    for (int i = 0; i < n_names; i++) {
        double lx = 10 + (i % 4) * 175, yy = ly + (i / 4) * 18;
        emit(&o, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                 "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
             lx, yy - 10, palette[i], lx + 16, yy, names[i]);
    }
    emit(&o, "</svg>\n");
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
