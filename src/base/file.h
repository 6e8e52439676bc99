/* File helpers: read-only memory maps, whole-file reads and atomic writes
 * (temp file in the same folder, fsync, rename), so a crash never leaves a half-written file. */
#ifndef AFM_BASE_FILE_H
#define AFM_BASE_FILE_H
#include <stddef.h>
#include <stdio.h>
#include "afm/status.h"

typedef struct afm_mmap { const unsigned char *data; size_t size; } afm_mmap;

afm_status afm_mmap_open(const char *path, afm_mmap *out);  /* empty file: data=NULL, size=0 */
void afm_mmap_close(afm_mmap *m);

/* Reads a whole file into a malloc'd buffer (NUL-terminated for convenience). */
afm_status afm_read_file(const char *path, char **data, size_t *size);

/* Atomic writer: afm_atomic_open gives a FILE* on "<path>.tmp.<pid>"; commit fsyncs and renames
 * over path; abort removes the temp file. */
typedef struct afm_atomic_file { FILE *f; char *path; char *tmp_path; } afm_atomic_file;
afm_status afm_atomic_open(const char *path, afm_atomic_file *af);
afm_status afm_atomic_commit(afm_atomic_file *af);
void afm_atomic_abort(afm_atomic_file *af);

int afm_is_dir(const char *path);
int afm_file_exists(const char *path);
#endif
