#ifndef GPUMEM_CLI_VALIDATE_H
#define GPUMEM_CLI_VALIDATE_H

/* Compares gpumem with every measured case in the JSONL files; with
 * `check`, returns 1 when the median total error exceeds 5%, any case is
 * over by more than 5% or under by more than 3%. */
int validate_run(int n_files, const char *const *files, int check, int verbose);

#endif
