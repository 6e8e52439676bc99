/* Streaming the training files into word counts on several threads.
 *
 * Every file is cut into n_threads byte ranges; thread i owns the lines that start in its range
 * (a range that begins inside a line skips to the next line start) and reads them with pread()
 * through a fixed buffer, so memory stays bounded whatever the file size (a buffer grows only
 * for a single line longer than it). Each thread counts into its own map; the maps are merged at
 * the end. Word counts do not depend on the thread count, so neither does the trained result.
 *
 * Units: a plain-text line including its line ending (HF tokenizers' train(files) convention);
 * a JSONL line is one JSON object whose jsonl_field string is the unit (blank lines skipped). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "tokenizer/bpe_train.h"
#include "base/error.h"
#include "base/threadpool.h"

enum { READ_CHUNK = 1 << 20 };

typedef struct input_file {
    const char *path;
    uint64_t size;
    bool jsonl;
} input_file;

typedef struct count_job {
    const afm_bpe_train_opts *o;
    const input_file *files;
    int n_files;
    uint64_t total_bytes;
    _Atomic uint64_t done_bytes;
    afm_bpe_counts **counts; /* one per thread */
    afm_status *status;      /* one per thread */
    char (*message)[512];    /* one per thread */
    _Atomic int failed;
} count_job;

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* 1-based line number of byte offset `at` in the file (only computed for error messages). */
static uint64_t line_number(int fd, uint64_t at) {
    char buf[65536];
    uint64_t line = 1, pos = 0;
    while (pos < at) {
        size_t want = at - pos < sizeof buf ? (size_t)(at - pos) : sizeof buf;
        ssize_t r = pread(fd, buf, want, (off_t)pos);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; i++) line += buf[i] == '\n';
        pos += (uint64_t)r;
    }
    return line;
}

static afm_status count_jsonl_line(afm_bpe_counts *c, const afm_bpe_train_opts *o, const input_file *f, int fd, uint64_t at,
                                   const char *line, size_t len) {
    size_t b = 0;
    while (b < len && (line[b] == ' ' || line[b] == '\t' || line[b] == '\r' || line[b] == '\n')) b++;
    if (b == len) return AFM_OK; /* blank line */
    const char *field = o->jsonl_field ? o->jsonl_field : "text";
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(line, len, &end, false);
    bool trailing = false; /* anything but whitespace after the object */
    for (const char *e = end; j && e && e < line + len; e++)
        if (*e != ' ' && *e != '\t' && *e != '\r' && *e != '\n') trailing = true;
    if (!j || !cJSON_IsObject(j) || trailing) {
        cJSON_Delete(j);
        return afm_error(AFM_ERR_FORMAT, "%s:%llu: not a JSON object (JSONL files need one object per line with a string field \"%s\")",
                         f->path, (unsigned long long)line_number(fd, at), field);
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, field);
    if (!cJSON_IsString(t)) {
        cJSON_Delete(j);
        return afm_error(AFM_ERR_FORMAT, "%s:%llu: the JSON object has no string field \"%s\"", f->path,
                         (unsigned long long)line_number(fd, at), field);
    }
    afm_status s = afm_bpe_count_text(c, o, t->valuestring, strlen(t->valuestring));
    cJSON_Delete(j);
    return s;
}

/* Counts the lines of f that start in [lo, hi). */
static afm_status count_range(count_job *job, afm_bpe_counts *c, const input_file *f, uint64_t lo, uint64_t hi, bool report) {
    int fd = open(f->path, O_RDONLY);
    if (fd < 0) return afm_error(AFM_ERR_IO, "cannot open '%s': %s", f->path, strerror(errno));
    size_t cap = READ_CHUNK;
    char *buf = malloc(cap);
    if (!buf) { close(fd); return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for a read buffer"); }
    afm_status s = AFM_OK;
    uint64_t pos = lo; /* file offset of buf[0] */
    if (lo > 0) {      /* start at the first line that begins at or after lo */
        char prev;
        if (pread(fd, &prev, 1, (off_t)(lo - 1)) != 1) s = afm_error(AFM_ERR_IO, "cannot read '%s': %s", f->path, strerror(errno));
        else if (prev != '\n') {
            bool found = false;
            while (!found && pos < hi) {
                ssize_t r = pread(fd, buf, cap, (off_t)pos);
                if (r < 0) { s = afm_error(AFM_ERR_IO, "cannot read '%s': %s", f->path, strerror(errno)); break; }
                if (r == 0) break;
                char *nl = memchr(buf, '\n', (size_t)r);
                if (nl) { pos += (uint64_t)(nl - buf) + 1; found = true; }
                else pos += (uint64_t)r;
            }
            if (!found) pos = hi;
        }
    }
    size_t have = 0;      /* bytes in buf from offset pos */
    uint64_t reported = lo;
    bool eof = false;
    while (s == AFM_OK && pos < hi && !atomic_load_explicit(&job->failed, memory_order_relaxed)) {
        /* buf[0..have) holds file bytes from pos; find complete lines */
        size_t i = 0;
        while (s == AFM_OK && pos + i < hi) {
            char *nl = memchr(buf + i, '\n', have - i);
            size_t end;
            if (nl) end = (size_t)(nl - buf) + 1;
            else if (eof) end = have;     /* last line without a newline */
            else break;
            if (end == i) break;
            if (f->jsonl) s = count_jsonl_line(c, job->o, f, fd, pos + i, buf + i, end - i);
            else s = afm_bpe_count_text(c, job->o, buf + i, end - i);
            i = end;
        }
        if (s != AFM_OK || pos + i >= hi || (eof && i == have)) { pos += i; break; }
        /* keep the partial line, read more */
        memmove(buf, buf + i, have - i);
        pos += i;
        have -= i;
        if (have == cap) {
            size_t nc = cap * 2;
            char *nb = realloc(buf, nc);
            if (!nb) { s = afm_error(AFM_ERR_NOMEM, "bpe train: out of memory for a line of more than %zu bytes in '%s'", cap, f->path); break; }
            buf = nb;
            cap = nc;
        }
        ssize_t r = pread(fd, buf + have, cap - have, (off_t)(pos + have));
        if (r < 0) { s = afm_error(AFM_ERR_IO, "cannot read '%s': %s", f->path, strerror(errno)); break; }
        if (r == 0) eof = true;
        have += (size_t)r;
        uint64_t now = pos < hi ? pos : hi;
        if (now > reported) {
            atomic_fetch_add(&job->done_bytes, now - reported);
            reported = now;
        }
        if (report && job->o->progress) job->o->progress(job->o->progress_ctx, "count", atomic_load(&job->done_bytes), job->total_bytes);
    }
    if (s == AFM_OK && hi > reported) atomic_fetch_add(&job->done_bytes, hi - reported);
    free(buf);
    close(fd);
    return s;
}

static void count_worker(void *ctx, int ith, int nth) {
    count_job *job = ctx;
    afm_status s = AFM_OK;
    for (int k = 0; k < job->n_files && s == AFM_OK; k++) {
        const input_file *f = &job->files[k];
        uint64_t lo = f->size * (uint64_t)ith / (uint64_t)nth, hi = f->size * (uint64_t)(ith + 1) / (uint64_t)nth;
        if (lo < hi) s = count_range(job, job->counts[ith], f, lo, hi, ith == 0);
    }
    job->status[ith] = s;
    if (s != AFM_OK) {
        snprintf(job->message[ith], sizeof job->message[ith], "%s", afm_last_error());
        atomic_store(&job->failed, 1);
    }
}

afm_status afm_bpe_count_files(afm_bpe_counts *c, const afm_bpe_train_opts *o, const char *const *paths, int n_paths) {
    if (n_paths <= 0) return afm_error(AFM_ERR_INVALID_ARG, "bpe train: no input files");
    input_file *files = calloc((size_t)n_paths, sizeof *files);
    if (!files) return afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
    uint64_t total = 0;
    for (int i = 0; i < n_paths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) { free(files); return afm_error(AFM_ERR_IO, "cannot open '%s': %s", paths[i], strerror(errno)); }
        if (!S_ISREG(st.st_mode)) { free(files); return afm_error(AFM_ERR_INVALID_ARG, "'%s' is not a regular file", paths[i]); }
        int fd = open(paths[i], O_RDONLY);
        if (fd < 0) { free(files); return afm_error(AFM_ERR_IO, "cannot open '%s': %s", paths[i], strerror(errno)); }
        close(fd);
        files[i] = (input_file){paths[i], (uint64_t)st.st_size, ends_with(paths[i], ".jsonl")};
        total += (uint64_t)st.st_size;
    }
    int nth = o->n_threads > 0 ? o->n_threads : 2;
    if (nth > 64) nth = 64;
    if (total < (uint64_t)nth * 65536) nth = 1; /* small inputs: not worth a second thread */
    count_job job = {.o = o, .files = files, .n_files = n_paths, .total_bytes = total};
    atomic_init(&job.done_bytes, 0);
    atomic_init(&job.failed, 0);
    job.counts = calloc((size_t)nth, sizeof *job.counts);
    job.status = calloc((size_t)nth, sizeof *job.status);
    job.message = calloc((size_t)nth, sizeof *job.message);
    afm_status s = job.counts && job.status && job.message ? AFM_OK : afm_error(AFM_ERR_NOMEM, "bpe train: out of memory");
    job.counts[0] = c;
    for (int t = 1; t < nth && s == AFM_OK; t++) s = afm_bpe_counts_create(&job.counts[t]);
    afm_pool *pool = NULL;
    if (s == AFM_OK && nth > 1) s = afm_pool_create(nth, &pool);
    if (s == AFM_OK) {
        if (o->progress) o->progress(o->progress_ctx, "count", 0, total);
        afm_pool_run(pool, count_worker, &job);
        for (int t = 0; t < nth && s == AFM_OK; t++)
            if (job.status[t] != AFM_OK) s = afm_error(job.status[t], "%s", job.message[t]);
        if (s == AFM_OK && o->progress) o->progress(o->progress_ctx, "count", total, total);
    }
    afm_pool_free(pool);
    for (int t = 1; t < nth && job.counts; t++) {
        if (s == AFM_OK && job.counts[t]) s = afm_bpe_counts_merge(c, job.counts[t]);
        afm_bpe_counts_free(job.counts[t]);
    }
    free(job.counts);
    free(job.status);
    free(job.message);
    free(files);
    return s;
}
