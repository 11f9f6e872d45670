/*
 * fuzz_jwt.c: libFuzzer target for JWT verification (common/jwt.c).
 * The input is the token text; it is verified against a fixed secret at a
 * fixed time. Also round-trips the base64url decoder on the same bytes.
 * Inputs whose first byte is 0xff are instead "header NUL payload": the
 * two JSON texts are base64url-encoded and signed with the secret here
 * (OpenSSL HMAC-SHA256), so the claim checks behind the signature are
 * fuzzed too, which random tokens never reach. Verification goes through
 * jwt_verify_ver(), so the "ver" claim (token version) is fuzzed as well:
 * an accepted token's version is within 0..2^31-1.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "jwt.h"

#define FUZZ_JWT_SECRET "fuzzing-secret-of-at-least-32-bytes!"

/* Build a correctly signed token from "header NUL payload" into out. */
static int fuzz_jwt_forge(const uint8_t *data, size_t size, char *out, size_t cap)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t hlen = nul != NULL ? (size_t)(nul - data) : size;
    size_t plen = nul != NULL ? size - hlen - 1 : 0;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    int a = jwt_b64url_encode(data, hlen, out, cap);
    if (a < 0 || (size_t)a + 2 >= cap)
        return -1;
    out[a++] = '.';
    int b = jwt_b64url_encode(nul != NULL ? nul + 1 : data, plen, out + a, cap - (size_t)a);
    if (b < 0 || (size_t)(a + b) + 2 >= cap)
        return -1;
    a += b;
    if (HMAC(EVP_sha256(), FUZZ_JWT_SECRET, sizeof FUZZ_JWT_SECRET - 1, (unsigned char *)out,
             (size_t)a, mac, &maclen) == NULL)
        return -1;
    out[a++] = '.';
    b = jwt_b64url_encode(mac, maclen, out + a, cap - (size_t)a);
    return b < 0 ? -1 : a + b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 0xff) {
        char forged[4 * JWT_MAX_LEN];
        int64_t id = 0, ver = -1;
        if (fuzz_jwt_forge(data + 1, size - 1, forged, sizeof forged) > 0) {
            enum jwt_result r = jwt_verify_ver(FUZZ_JWT_SECRET, sizeof FUZZ_JWT_SECRET - 1, forged,
                                               (time_t)1700000000, &id, &ver);
            if (r != JWT_OK && r != JWT_INVALID && r != JWT_EXPIRED)
                abort();
            if (r == JWT_OK && (ver < 0 || ver > INT32_MAX))
                abort();
        }
        return 0;
    }
    char *token = malloc(size + 1);
    unsigned char raw[JWT_MAX_LEN];
    int64_t uid = 0, ver = -1;

    if (token == NULL)
        return 0;
    memcpy(token, data, size);
    token[size] = '\0';
    enum jwt_result r = jwt_verify_ver(FUZZ_JWT_SECRET, sizeof FUZZ_JWT_SECRET - 1, token,
                                       (time_t)1700000000, &uid, &ver);
    if (r != JWT_OK && r != JWT_INVALID && r != JWT_EXPIRED)
        abort();
    if (r == JWT_OK && (ver < 0 || ver > INT32_MAX))
        abort();
    int n = jwt_b64url_decode(token, size, raw, sizeof raw);
    if (n > (int)sizeof raw)
        abort();
    if (n >= 0) {
        char back[2 * JWT_MAX_LEN];
        int m = jwt_b64url_encode(raw, (size_t)n, back, sizeof back);
        if (m < 0 || jwt_b64url_decode(back, (size_t)m, raw, sizeof raw) != n)
            abort();
    }
    free(token);
    return 0;
}
