#include "base/png.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/file.h"

/* CRC-32 (ISO 3309 / PNG), reflected polynomial 0xEDB88320 */
uint32_t afm_crc32(uint32_t crc, const uint8_t *p, size_t n) {
    static uint32_t table[256];
    static int init;
    if (!init) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        init = 1;
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

static int chunk(FILE *f, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t hdr[8];
    put32(hdr, n);
    memcpy(hdr + 4, type, 4);
    uint32_t crc = afm_crc32(afm_crc32(0, (const uint8_t *)type, 4), data, n);
    uint8_t tail[4];
    put32(tail, crc);
    return fwrite(hdr, 1, 8, f) == 8 && (n == 0 || fwrite(data, 1, n, f) == n) && fwrite(tail, 1, 4, f) == 4;
}

afm_status afm_png_write_rgb(const char *path, int w, int h, const uint8_t *rgb) {
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384) return afm_error(AFM_ERR_INVALID_ARG, "PNG size %dx%d is out of range", w, h);
    /* raw scanlines: filter byte 0 + w*3 bytes */
    size_t row = (size_t)w * 3 + 1, raw_n = row * (size_t)h;
    size_t n_blocks = (raw_n + 65534) / 65535;
    size_t z_n = 2 + raw_n + 5 * n_blocks + 4;
    uint8_t *z = malloc(z_n);
    if (!z) return afm_error(AFM_ERR_NOMEM, "out of memory writing %s", path);
    size_t o = 0;
    z[o++] = 0x78; z[o++] = 0x01; /* zlib header: deflate, 32K window, no dictionary */
    uint32_t a = 1, b = 0;       /* Adler-32 of the raw data */
    size_t done = 0;
    uint8_t *blk = z + o;
    (void)blk;
    while (done < raw_n) {
        size_t len = raw_n - done < 65535 ? raw_n - done : 65535;
        z[o++] = done + len == raw_n; /* BFINAL, BTYPE=00 (stored) */
        z[o++] = (uint8_t)len; z[o++] = (uint8_t)(len >> 8);
        z[o++] = (uint8_t)~len; z[o++] = (uint8_t)(~len >> 8);
        for (size_t i = 0; i < len; i++, done++) {
            size_t y = done / row, x = done % row;
            uint8_t v = x == 0 ? 0 : rgb[y * (size_t)w * 3 + (x - 1)];
            z[o++] = v;
            a = (a + v) % 65521;
            b = (b + a) % 65521;
        }
    }
    put32(z + o, (b << 16) | a);
    o += 4;
    afm_atomic_file af;
    afm_status s = afm_atomic_open(path, &af);
    if (s != AFM_OK) { free(z); return s; }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)w);
    put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0; /* 8-bit RGB, no interlace */
    int ok = fwrite(sig, 1, 8, af.f) == 8 && chunk(af.f, "IHDR", ihdr, 13) && chunk(af.f, "IDAT", z, (uint32_t)o) &&
             chunk(af.f, "IEND", NULL, 0);
    free(z);
    if (!ok) { afm_atomic_abort(&af); return afm_error(AFM_ERR_IO, "error writing %s", path); }
    return afm_atomic_commit(&af);
}
