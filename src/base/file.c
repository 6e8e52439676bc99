#include "base/file.h"
#include "base/error.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libgen.h>

afm_status afm_mmap_open(const char *path, afm_mmap *out) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return afm_error(AFM_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return afm_error(AFM_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return afm_error(AFM_ERR_IO, "'%s' is a directory, expected a file", path);
    }
    if (st.st_size == 0) { close(fd); return AFM_OK; }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return afm_error(AFM_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
    out->data = p;
    out->size = (size_t)st.st_size;
    return AFM_OK;
}

void afm_mmap_close(afm_mmap *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

afm_status afm_read_file(const char *path, char **data, size_t *size) {
    *data = NULL;
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return afm_error(AFM_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) { fclose(f); return afm_error(AFM_ERR_NOMEM, "out of memory reading '%s'", path); }
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); fclose(f); return afm_error(AFM_ERR_NOMEM, "out of memory reading '%s'", path); }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return afm_error(AFM_ERR_IO, "error reading '%s'", path); }
    buf[n] = 0;
    *data = buf;
    if (size) *size = n;
    return AFM_OK;
}

afm_status afm_atomic_open(const char *path, afm_atomic_file *af) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = strdup(path);
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) { free(af->path); free(af->tmp_path); return afm_error(AFM_ERR_NOMEM, "out of memory"); }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        afm_status s = afm_error(AFM_ERR_IO, "cannot create '%s': %s", af->tmp_path, strerror(errno));
        free(af->path); free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return s;
    }
    return AFM_OK;
}

afm_status afm_atomic_commit(afm_atomic_file *af) {
    afm_status s = AFM_OK;
    if (fflush(af->f) != 0 || ferror(af->f) || fsync(fileno(af->f)) != 0)
        s = afm_error(AFM_ERR_IO, "error writing '%s': %s", af->tmp_path, strerror(errno));
    if (fclose(af->f) != 0 && s == AFM_OK) s = afm_error(AFM_ERR_IO, "error closing '%s'", af->tmp_path);
    af->f = NULL;
    if (s == AFM_OK && rename(af->tmp_path, af->path) != 0)
        s = afm_error(AFM_ERR_IO, "cannot rename '%s' to '%s': %s", af->tmp_path, af->path, strerror(errno));
    if (s != AFM_OK) unlink(af->tmp_path);
    else {
        /* fsync the folder so the rename itself is durable */
        char *dup = strdup(af->path);
        if (dup) {
            int dfd = open(dirname(dup), O_RDONLY);
            if (dfd >= 0) { fsync(dfd); close(dfd); }
            free(dup);
        }
    }
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
    return s;
}

void afm_atomic_abort(afm_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

int afm_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
int afm_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}
