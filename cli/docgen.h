#ifndef GPUMEM_CLI_DOCGEN_H
#define GPUMEM_CLI_DOCGEN_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    const char *name;
    unsigned cmd;
    const char *usage;
    const char *summary;
} doc_command;

/* man page (roff) from the option table and the commands. */
void docgen_man(FILE *f, const char *version, const doc_command *cmds, size_t n);
/* "bash" or "zsh"; -1 for another shell. */
int docgen_completions(FILE *f, const char *shell, const doc_command *cmds, size_t n);

#endif
