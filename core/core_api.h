/*
 * core_api.h — the imgate_core_api table handed to every plugin's init.
 */
#ifndef IMGATE_CORE_API_H
#define IMGATE_CORE_API_H

#include "imgate/plugin.h"

const imgate_core_api *core_api(void);

#endif
