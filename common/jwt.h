/*
 * jwt.h: JSON Web Tokens signed with HMAC-SHA256 (HS256), the only algorithm
 * accepted. A token carries the user id as "sub" (a decimal string), "iat"
 * and "exp" (seconds since the epoch), a random "jti" (so no two tokens are
 * the same), and "ver", the user's token version
 * (users.token_version, bumped by a password change; absent means 0).
 * Verification checks the header's
 * "alg", the signature (constant-time compare) and then the expiry; "alg":
 * "none", any other algorithm, bad base64url, bad JSON and wrong types are
 * all simply invalid.
 */
#ifndef CONDUIT_JWT_H
#define CONDUIT_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Longest token we sign or accept; anything longer is invalid. */
#define JWT_MAX_LEN 1024

enum jwt_result {
    JWT_OK,      /* signature good, not expired: *user_id set */
    JWT_INVALID, /* malformed, wrong algorithm, bad signature or claims */
    JWT_EXPIRED, /* well-formed and correctly signed, but exp <= now */
};

/* Sign a token for user_id valid for ttl_s seconds from now into out
 * (NUL-terminated). Returns the length, or -1 if out is too small or
 * OpenSSL fails. */
int jwt_sign(const char *secret, size_t secret_len, int64_t user_id, time_t now, int ttl_s,
             char *out, size_t outlen) __attribute__((warn_unused_result));

/* jwt_sign() with a "ver" claim (omitted when ver is 0). */
int jwt_sign_ver(const char *secret, size_t secret_len, int64_t user_id, int64_t ver, time_t now,
                 int ttl_s, char *out, size_t outlen) __attribute__((warn_unused_result));

/* jwt_verify() that also returns the "ver" claim (0 when absent; a "ver"
 * that is not a whole number from 0 to 2^31-1 is invalid). */
enum jwt_result jwt_verify_ver(const char *secret, size_t secret_len, const char *token, time_t now,
                               int64_t *user_id, int64_t *ver) __attribute__((warn_unused_result));

/* Verify token (NUL-terminated) against secret at time now. */
enum jwt_result jwt_verify(const char *secret, size_t secret_len, const char *token, time_t now,
                           int64_t *user_id) __attribute__((warn_unused_result));

/* base64url without padding; exposed for tests. encode returns the output
 * length or -1 if out is too small; decode returns the decoded length or
 * -1 for bad input or a short buffer. out is NUL-terminated by encode. */
int jwt_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outlen);
int jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outlen);

#endif
