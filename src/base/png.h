/* Minimal PNG writer: 8-bit RGB, no filtering, zlib stream of stored (uncompressed) deflate
 * blocks — no compression library needed; the files are larger than compressed PNGs, which is
 * fine for plots. Written atomically. */
#ifndef AFM_BASE_PNG_H
#define AFM_BASE_PNG_H
#include <stddef.h>
#include <stdint.h>
#include "afm/status.h"

/* rgb: h rows of w pixels, 3 bytes each. */
afm_status afm_png_write_rgb(const char *path, int w, int h, const uint8_t *rgb);
uint32_t afm_crc32(uint32_t crc, const uint8_t *p, size_t n); /* crc = 0 to start */
#endif
