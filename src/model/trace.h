/* Debug hook into the forward pass (not part of the public API): after each op, the session calls
 * fn(user, name, layer, data, rows, cols) with the op's output, rows = tokens of the chunk, cols =
 * features, row-major (row stride cols). Names follow llama.cpp's graph tensor names so the two can
 * be compared op by op (`afm trace`, scripts/reference/compare_trace.py): attn_norm, Qcur and Kcur
 * (after RoPE), Vcur, kqv_out (attention output before Wo), attn_out, ffn_inp, ffn_norm, ffn_gate,
 * ffn_up, ffn_swiglu, ffn_out, l_out (layer output), result_norm (layer -1), result_output
 * (logits, layer -1). Off (NULL) by default; when off it costs one pointer test per op. */
#ifndef AFM_MODEL_TRACE_H
#define AFM_MODEL_TRACE_H
#include <stdint.h>
#include "afm/model.h"

typedef void (*afm_trace_fn)(void *user, const char *name, int layer, const float *data, int64_t rows, int64_t cols);
void afm_session_set_trace(afm_session *s, afm_trace_fn fn, void *user);
#endif
