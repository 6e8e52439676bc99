/* afm/afm.h — the libafm public API. Include this one header. */
#ifndef AFM_AFM_H
#define AFM_AFM_H
#include "afm/status.h"
#include "afm/model.h"
#include "afm/sampler.h"
#include "afm/adapter.h"
#include "afm/generate.h"
#endif
