/* A small RGB raster canvas for plots: lines, rectangles and text in a built-in 5x7 pixel font
 * (digits, letters (lower case drawn as capitals), and . , - + : / ( ) _ % = space). */
#ifndef AFM_BASE_CANVAS_H
#define AFM_BASE_CANVAS_H
#include <stdint.h>
#include "afm/status.h"

typedef struct afm_canvas { int w, h; uint8_t *rgb; } afm_canvas;
typedef struct afm_rgb { uint8_t r, g, b; } afm_rgb;

afm_status afm_canvas_create(afm_canvas *c, int w, int h, afm_rgb background);
void afm_canvas_free(afm_canvas *c);
void afm_canvas_rect(afm_canvas *c, int x0, int y0, int x1, int y1, afm_rgb col); /* filled, inclusive */
/* Line from (x0,y0) to (x1,y1), `width` pixels wide; dash > 0 draws dash-pixel dashes. */
void afm_canvas_line(afm_canvas *c, double x0, double y0, double x1, double y1, int width, int dash, afm_rgb col);
/* Text with its top-left corner at (x, y), each font pixel drawn scale x scale; returns the width. */
int afm_canvas_text(afm_canvas *c, int x, int y, const char *s, int scale, afm_rgb col);
int afm_canvas_text_width(const char *s, int scale);
#endif
