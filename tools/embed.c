/* Build-time generator: turns data/ (models/index.tsv + one genuine
 * config.json per model, gpus.tsv) into a C source of static const tables,
 * so the catalogs are compiled into the library. A build tool, so it may
 * print and exit; it rejects malformed rows so a bad catalog fails the build. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_FIELDS = 8, MAX_LINE = 8192 };

static void die(const char *what, const char *file, int line)
{
    fprintf(stderr, "embed: %s:%d: %s\n", file, line, what);
    exit(1);
}

static int split(char *line, char **fields)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < MAX_FIELDS;) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static void emit_str(FILE *out, const char *s)
{
    fputc('"', out);
    if (strcmp(s, "-") != 0) {
        for (; *s; s++) {
            unsigned char ch = (unsigned char)*s;
            if (ch == '"' || ch == '\\')
                fprintf(out, "\\%c", ch);
            else if (ch < 0x20 || ch >= 0x7f)
                fprintf(out, "\\%03o", ch);
            else
                fputc(ch, out);
        }
    }
    fputc('"', out);
}

static void emit_file_bytes(FILE *out, const char *path, int idx)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "embed: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fprintf(out, "static const unsigned char model_json_%d[] = {", idx);
    int c, n = 0;
    while ((c = fgetc(f)) != EOF)
        fprintf(out, "%s0x%02x,", (n++ % 16) ? "" : "\n", c);
    fprintf(out, "0x00};\n");
    fclose(f);
}

static void models(FILE *out, const char *dir)
{
    char path[4096], line[MAX_LINE];
    snprintf(path, sizeof path, "%s/models/index.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open", path, 0);
    char *rows[1024][4];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        char *fl[MAX_FIELDS];
        lineno++;
        if (lineno == 1 || line[0] == '\n' || line[0] == '#')
            continue;
        if (split(line, fl) != 4)
            die("expected 4 tab-separated fields: id hf_id aliases source", path, lineno);
        if (n == 1024)
            die("too many models", path, lineno);
        for (int k = 0; k < 4; k++)
            rows[n][k] = strdup(fl[k]);
        for (int j = 0; j < n; j++)
            if (strcmp(rows[j][0], fl[0]) == 0)
                die("duplicate id", path, lineno);
        char json[sizeof path + MAX_LINE + 16];
        snprintf(json, sizeof json, "%s/models/%s.json", dir, fl[0]);
        emit_file_bytes(out, json, n);
        n++;
    }
    fclose(f);
    fprintf(out, "\nconst catalog_model_row catalog_models[] = {\n");
    for (int i = 0; i < n; i++) {
        fprintf(out, "    {{");
        for (int k = 0; k < 4; k++) {
            emit_str(out, rows[i][k]);
            fputs(k < 3 ? ", " : "", out);
        }
        fprintf(out, "}, model_json_%d, sizeof model_json_%d - 1},\n", i, i);
    }
    fprintf(out, "};\nconst size_t catalog_models_count = %d;\n\n", n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            free(rows[i][k]);
}

static void gpus(FILE *out, const char *dir)
{
    char path[4096], line[MAX_LINE];
    snprintf(path, sizeof path, "%s/gpus.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open", path, 0);
    int n = 0, lineno = 0;
    fprintf(out, "const gpumem_gpu catalog_gpus[] = {\n");
    while (fgets(line, sizeof line, f)) {
        char *fl[MAX_FIELDS];
        lineno++;
        if (lineno == 1 || line[0] == '\n' || line[0] == '#')
            continue;
        if (split(line, fl) != 8)
            die("expected 8 fields: id aliases vendor name memory_bytes kind cc source", path,
                lineno);
        char *end;
        errno = 0;
        unsigned long long mem = strtoull(fl[4], &end, 10);
        if (errno || *end || mem < (1ull << 28) || mem > (1ull << 44))
            die("memory_bytes must be an integer between 256 MiB and 16 TiB", path, lineno);
        int unified = strcmp(fl[5], "unified") == 0;
        if (!unified && strcmp(fl[5], "discrete") != 0)
            die("kind must be discrete or unified", path, lineno);
        fprintf(out, "    {");
        for (int k = 0; k < 4; k++) {
            emit_str(out, fl[k]);
            fputs(", ", out);
        }
        /* NVIDIA compute capability "major.minor" as major*10+minor, "-": 0. */
        unsigned major = 0, minor = 0;
        int cc_len = 0;
        if (strcmp(fl[6], "-") != 0 &&
            (sscanf(fl[6], "%u.%u%n", &major, &minor, &cc_len) != 2 || fl[6][cc_len] ||
             major < 3 || major > 20 || minor > 9))
            die("cc must be a compute capability such as 8.9, or -", path, lineno);
        if ((strcmp(fl[2], "nvidia") == 0) != (major != 0))
            die("cc is given for NVIDIA GPUs and only for them", path, lineno);
        fprintf(out, "%lluull, %d, %u, ", mem, unified, major * 10 + minor);
        emit_str(out, fl[7]);
        fprintf(out, "},\n");
        n++;
    }
    fclose(f);
    fprintf(out, "};\nconst size_t catalog_gpus_count = %d;\n", n);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: embed OUT.c DATA_DIR\n");
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out)
        die("cannot write", argv[1], 0);
    fprintf(out, "/* Generated by tools/embed.c from data/. Do not edit. */\n"
                 "#include \"catalog_internal.h\"\n\n");
    models(out, argv[2]);
    gpus(out, argv[2]);
    if (fclose(out) != 0)
        die("write failed", argv[1], 0);
    return 0;
}
