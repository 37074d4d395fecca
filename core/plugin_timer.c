/* plugin_timer.c — see plugin_timer.h. */
#include "plugin_timer.h"

#include <event2/event.h>
#include <stdlib.h>

#include "generation.h"

struct imgate_timer {
    struct event *ev;
    imgate_instance *inst;
    imgate_timer_fn fn;
    void *arg;
    int repeat;
    int firing;    /* inside fn: a cancel from fn defers the free */
    int cancelled;
    int linked;    /* on inst->timers */
    imgate_timer *prev, *next;
};

static struct event_base *timer_base;

void plugin_timers_set_base(struct event_base *base) { timer_base = base; }

static void unlink_timer(imgate_timer *t)
{
    if (!t->linked)
        return;
    t->linked = 0;
    if (t->prev)
        t->prev->next = t->next;
    else
        t->inst->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void release(imgate_timer *t)
{
    generation *g = t->inst->gen;
    unlink_timer(t);
    event_free(t->ev);
    free(t);
    generation_unref(g);
}

static void on_fire(evutil_socket_t fd, short what, void *arg)
{
    imgate_timer *t = arg;
    generation *g = t->inst->gen;
    generation_ref(g); /* fn may cancel this timer, the last thing holding g */
    t->firing = 1;
    t->fn(t->inst->state, t->arg);
    t->firing = 0;
    if (t->cancelled || !t->repeat)
        release(t);
    generation_unref(g);
}

imgate_timer *plugin_timer_start(imgate_instance *inst, uint32_t ms, int repeat, imgate_timer_fn fn, void *arg)
{
    if (fn == NULL || timer_base == NULL || inst->gen->retired)
        return NULL;
    imgate_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ev = event_new(timer_base, -1, repeat ? EV_PERSIST : 0, on_fire, t);
    if (t->ev == NULL) {
        free(t);
        return NULL;
    }
    t->inst = inst;
    t->fn = fn;
    t->arg = arg;
    t->repeat = repeat;
    t->linked = 1;
    t->next = inst->timers;
    if (t->next)
        t->next->prev = t;
    inst->timers = t;
    generation_ref(inst->gen);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(t->ev, &tv);
    return t;
}

void plugin_timer_cancel(imgate_instance *inst, imgate_timer *t)
{
    if (t == NULL || t->cancelled)
        return;
    t->cancelled = 1;
    event_del(t->ev);
    if (!t->firing)
        release(t);
}

void plugin_timers_cancel_all(imgate_instance *inst)
{
    while (inst->timers) {
        imgate_timer *t = inst->timers;
        if (t->firing) {
            /* Being fired right now: it is released when its callback returns. */
            t->cancelled = 1;
            event_del(t->ev);
            unlink_timer(t);
            continue;
        }
        plugin_timer_cancel(inst, t);
    }
}
