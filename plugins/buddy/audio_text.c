/* audio_text.c — see audio_text.h. */
#include "audio_text.h"

#include <openssl/evp.h>
#include <string.h>

#define AUDIO_TEXT "[\xe8\xaf\xad\xe9\x9f\xb3]" /* "[语音]" in UTF-8: 8 bytes */

int audio_text_build(const char *key, char *out, size_t cap)
{
    if (key == NULL || strlen(key) != 32)
        return -1;
    /* Protocol A.3: the text in zeroed 16-byte blocks (one more when n % 16 is 0 or above 12),
     * its length big-endian in the last 4 bytes, every block AES-256-ECB, then Base64. */
    size_t n = sizeof AUDIO_TEXT - 1;
    size_t blocks = (n + 15) / 16 + ((n % 16 == 0 || n % 16 > 12) ? 1 : 0);
    unsigned char plain[64] = {0}, cipher[64 + 16];
    size_t len = blocks * 16;
    memcpy(plain, AUDIO_TEXT, n);
    plain[len - 4] = (unsigned char)(n >> 24);
    plain[len - 3] = (unsigned char)(n >> 16);
    plain[len - 2] = (unsigned char)(n >> 8);
    plain[len - 1] = (unsigned char)n;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int out_len = 0, rc = -1;
    if (ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, (const unsigned char *)key, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
        EVP_EncryptUpdate(ctx, cipher, &out_len, plain, (int)len) == 1 && (size_t)out_len == len &&
        cap > 4 * ((len + 2) / 3)) {
        EVP_EncodeBlock((unsigned char *)out, cipher, (int)len);
        rc = 0;
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}
