/*
 * plugin_timer.h — timers a plugin owns (imgate_core_api.timer_start). Each
 * armed timer holds a reference on its generation; retiring the generation
 * cancels them, so old code never wakes up again after a reload.
 */
#ifndef IMGATE_PLUGIN_TIMER_H
#define IMGATE_PLUGIN_TIMER_H

#include <stdint.h>

#include "imgate/plugin.h"

struct event_base;

void plugin_timers_set_base(struct event_base *base);
imgate_timer *plugin_timer_start(imgate_instance *inst, uint32_t ms, int repeat, imgate_timer_fn fn, void *arg);
void plugin_timer_cancel(imgate_instance *inst, imgate_timer *t);
void plugin_timers_cancel_all(imgate_instance *inst);

#endif
