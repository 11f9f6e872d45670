/*
 * jwt.c: HS256 JSON Web Tokens with OpenSSL's HMAC and cJSON.
 *
 * Signing is a fixed header, a small payload printed with snprintf and an
 * HMAC over "header.payload". Verification is strict: exactly three
 * base64url parts in canonical form (no padding, no stray bits), a header
 * whose "alg" is "HS256", a constant-time signature compare (CRYPTO_memcmp),
 * and only then the claims: "sub" a positive decimal id, "exp" a number in
 * the future, "nbf" if present not in the future.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "jwt.h"

#define JWT_SIG_LEN 32

/* {"alg":"HS256","typ":"JWT"} in base64url. */
static const char jwt_header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

static const char jwt_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int jwt_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    size_t need = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
    size_t o = 0, i = 0;

    if (need + 1 > outlen)
        return -1;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = jwt_alphabet[(v >> 18) & 63];
        out[o++] = jwt_alphabet[(v >> 12) & 63];
        out[o++] = jwt_alphabet[(v >> 6) & 63];
        out[o++] = jwt_alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = jwt_alphabet[(v >> 18) & 63];
        out[o++] = jwt_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = jwt_alphabet[(v >> 18) & 63];
        out[o++] = jwt_alphabet[(v >> 12) & 63];
        out[o++] = jwt_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return (int)o;
}

/* Value of one base64url character, or -1. */
static int jwt_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outlen)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return -1;
    if ((len / 4) * 3 + (len % 4 ? len % 4 - 1 : 0) > outlen)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = jwt_b64_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    /* Canonical form only: leftover bits must be zero, so a token has
     * exactly one spelling and flipping them counts as tampering. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (int)o;
}

/* HMAC-SHA256 of data into sig (32 bytes). 0 or -1. */
static int jwt_hmac(const char *secret, size_t secret_len, const char *data, size_t len,
                    unsigned char sig[JWT_SIG_LEN])
{
    unsigned int siglen = 0;

    if (HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)data, len, sig,
             &siglen) == NULL ||
        siglen != JWT_SIG_LEN)
        return -1;
    return 0;
}

int jwt_sign(const char *secret, size_t secret_len, int64_t user_id, time_t now, int ttl_s,
             char *out, size_t outlen)
{
    return jwt_sign_ver(secret, secret_len, user_id, 0, now, ttl_s, out, outlen);
}

int jwt_sign_ver(const char *secret, size_t secret_len, int64_t user_id, int64_t ver, time_t now,
                 int ttl_s, char *out, size_t outlen)
{
    char payload[192];
    unsigned char nonce[12];
    char jti[24];
    unsigned char sig[JWT_SIG_LEN];
    int plen, n, m;
    size_t pos;

    /* A random "jti" makes every token unique, so two logins in the same
     * second are two sessions (the token that changed a password is told
     * apart from the others by its digest). */
    if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
        jwt_b64url_encode(nonce, sizeof(nonce), jti, sizeof(jti)) < 0)
        return -1;
    if (ver > 0)
        plen = snprintf(payload, sizeof(payload),
                        "{\"sub\":\"%lld\",\"iat\":%lld,\"exp\":%lld,\"ver\":%lld,\"jti\":\"%s\"}",
                        (long long)user_id, (long long)now, (long long)now + ttl_s, (long long)ver,
                        jti);
    else
        plen = snprintf(payload, sizeof(payload),
                        "{\"sub\":\"%lld\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\"}",
                        (long long)user_id, (long long)now, (long long)now + ttl_s, jti);
    if (plen < 0 || (size_t)plen >= sizeof(payload))
        return -1;
    pos = sizeof(jwt_header_b64) - 1;
    if (pos + 2 > outlen)
        return -1;
    memcpy(out, jwt_header_b64, pos);
    out[pos++] = '.';
    n = jwt_b64url_encode((const unsigned char *)payload, (size_t)plen, out + pos, outlen - pos);
    if (n < 0)
        return -1;
    pos += (size_t)n;
    if (jwt_hmac(secret, secret_len, out, pos, sig) != 0 || pos + 2 > outlen)
        return -1;
    out[pos++] = '.';
    m = jwt_b64url_encode(sig, sizeof(sig), out + pos, outlen - pos);
    if (m < 0)
        return -1;
    return (int)(pos + (size_t)m);
}

/* Decode a base64url JSON part and parse it; NULL if either fails (caller
 * frees the result with cJSON_Delete). */
static cJSON *jwt_parse_part(const char *in, size_t len)
{
    unsigned char buf[JWT_MAX_LEN];
    int n = jwt_b64url_decode(in, len, buf, sizeof(buf) - 1);

    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    if (memchr(buf, '\0', (size_t)n) != NULL)
        return NULL;
    /* Length includes the NUL so cJSON can check nothing follows the value. */
    return cJSON_ParseWithLengthOpts((const char *)buf, (size_t)n + 1, NULL, 1);
}

/* "sub" as a positive decimal id (no sign, no leading zero); 0 or -1. */
static int jwt_parse_sub(const cJSON *sub, int64_t *id)
{
    const char *s;
    int64_t v = 0;

    if (!cJSON_IsString(sub) || (s = sub->valuestring) == NULL || *s == '\0' || *s == '0' ||
        strlen(s) > 18)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    *id = v;
    return 0;
}

/* A numeric date claim that is a finite whole number. */
static int jwt_is_date(const cJSON *c)
{
    return cJSON_IsNumber(c) && isfinite(c->valuedouble) && c->valuedouble >= 0 &&
           c->valuedouble < 1e15 && floor(c->valuedouble) == c->valuedouble;
}

enum jwt_result jwt_verify(const char *secret, size_t secret_len, const char *token, time_t now,
                           int64_t *user_id)
{
    int64_t ver;

    return jwt_verify_ver(secret, secret_len, token, now, user_id, &ver);
}

/* "ver" absent (0), or a whole number from 0 to 2^31; 0 or -1. */
static int jwt_parse_ver(const cJSON *v, int64_t *ver)
{
    if (v == NULL) {
        *ver = 0;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 2147483647.0 || floor(v->valuedouble) != v->valuedouble)
        return -1;
    *ver = (int64_t)v->valuedouble;
    return 0;
}

enum jwt_result jwt_verify_ver(const char *secret, size_t secret_len, const char *token, time_t now,
                               int64_t *user_id, int64_t *ver)
{
    int64_t version = 0;

    const char *dot1, *dot2;
    size_t len;
    unsigned char want[JWT_SIG_LEN], got[JWT_SIG_LEN + 4];
    cJSON *header = NULL, *payload = NULL;
    const cJSON *alg, *exp, *nbf;
    enum jwt_result rc = JWT_INVALID;
    int64_t id = 0;

    if (token == NULL || (len = strnlen(token, JWT_MAX_LEN + 1)) > JWT_MAX_LEN)
        return JWT_INVALID;
    dot1 = memchr(token, '.', len);
    if (dot1 == NULL)
        return JWT_INVALID;
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return JWT_INVALID;
    if (dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len)
        return JWT_INVALID;

    header = jwt_parse_part(token, (size_t)(dot1 - token));
    if (!cJSON_IsObject(header))
        goto out;
    alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0)
        goto out;

    if (jwt_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), got, sizeof(got)) !=
        JWT_SIG_LEN)
        goto out;
    if (jwt_hmac(secret, secret_len, token, (size_t)(dot2 - token), want) != 0)
        goto out;
    if (CRYPTO_memcmp(want, got, JWT_SIG_LEN) != 0)
        goto out;

    payload = jwt_parse_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!cJSON_IsObject(payload))
        goto out;
    if (jwt_parse_sub(cJSON_GetObjectItemCaseSensitive(payload, "sub"), &id) != 0)
        goto out;
    exp = cJSON_GetObjectItemCaseSensitive(payload, "exp");
    if (!jwt_is_date(exp))
        goto out;
    nbf = cJSON_GetObjectItemCaseSensitive(payload, "nbf");
    if (nbf != NULL && (!jwt_is_date(nbf) || nbf->valuedouble > (double)now))
        goto out;
    if (jwt_parse_ver(cJSON_GetObjectItemCaseSensitive(payload, "ver"), &version) != 0)
        goto out;
    if (exp->valuedouble <= (double)now) {
        rc = JWT_EXPIRED;
        goto out;
    }
    *user_id = id;
    *ver = version;
    rc = JWT_OK;
out:
    cJSON_Delete(header);
    cJSON_Delete(payload);
    return rc;
}
