/*
 * audio_text.h — the latest_msg_data shown for an audio message in session
 * lists: the text "[语音]" ("[voice]") encrypted the way clients encrypt text
 * messages (protocol A.3), so they decrypt and display it like any text.
 */
#ifndef IMGATE_BUDDY_AUDIO_TEXT_H
#define IMGATE_BUDDY_AUDIO_TEXT_H

#include <stddef.h>

/* Writes the Base64 ciphertext under the 32-byte `key` into out (NUL-terminated). 0, or -1. */
int audio_text_build(const char *key, char *out, size_t cap);

#endif
