/*
 * msg_text.c — what the plugin needs to know about message text: how many
 * characters a UTF-8 body holds (the content columns count characters), and
 * the clients' own encryption (protocol A.3), used once, for the audio
 * placeholder the unread list shows.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "message.h"

long msg_utf8_chars(const uint8_t *p, size_t len)
{
    long chars = 0;
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            chars++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return -1; /* a continuation byte first, an overlong 2-byte lead, or beyond U+10FFFF */
        }
        if (len - i <= n)
            return -1;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        i += n + 1;
        chars++;
    }
    return chars;
}

int msg_client_encrypt(const char *key32, const char *plain, char *out, size_t out_len)
{
    size_t n = strlen(plain);
    /* ceil(n/16) blocks, one more when the length word would not fit after the text. */
    size_t blocks = (n + 15) / 16 + ((n % 16 == 0 || n % 16 > 12) ? 1 : 0);
    size_t total = blocks * 16;
    uint8_t buf[256], enc[256];
    if (total > sizeof buf || (total + 2) / 3 * 4 + 1 > out_len || strlen(key32) != 32)
        return -1;
    memset(buf, 0, total);
    memcpy(buf, plain, n);
    buf[total - 4] = (uint8_t)(n >> 24);
    buf[total - 3] = (uint8_t)(n >> 16);
    buf[total - 2] = (uint8_t)(n >> 8);
    buf[total - 1] = (uint8_t)n;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len1 = 0, len2 = 0, ok = ctx != NULL &&
                                 EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, (const uint8_t *)key32, NULL) == 1 &&
                                 EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
                                 EVP_EncryptUpdate(ctx, enc, &len1, buf, (int)total) == 1 &&
                                 EVP_EncryptFinal_ex(ctx, enc + len1, &len2) == 1 && (size_t)(len1 + len2) == total;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, enc, (int)total);
    return 0;
}

void msg_counter_key(char *out, size_t len, int is_group, uint32_t id)
{
    /* protocol E: msg_id_<relateId>, group_msg_id_<groupId> */
    snprintf(out, len, is_group ? "group_msg_id_%u" : "msg_id_%u", id);
}
