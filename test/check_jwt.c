/*
 * check_jwt.c: unit tests for common/jwt.c: base64url, signing and every
 * way a token must be refused (tampering, expiry, alg none, other
 * algorithms, malformed shapes, bad claims).
 */
#include "config.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"
#include "suite_main.h"

#define SECRET "test-secret-0123456789"
#define NOW    ((time_t)1700000000)

/* Sign a token for user 42, valid one hour from NOW. */
static void sign42(char *out, size_t len)
{
    ck_assert_int_gt(jwt_sign(SECRET, strlen(SECRET), 42, NOW, 3600, out, len), 0);
}

/* Build "b64(header).b64(payload).sig" signed with SECRET (or unsigned). */
static void forge(const char *header, const char *payload, bool sign, char *out, size_t len)
{
    char h[512], p[512];
    unsigned char mac[32];
    unsigned int maclen = 0;
    char sig[64] = "";
    char data[1100];

    ck_assert_int_ge(jwt_b64url_encode((const unsigned char *)header, strlen(header), h, sizeof(h)),
                     0);
    ck_assert_int_ge(
        jwt_b64url_encode((const unsigned char *)payload, strlen(payload), p, sizeof(p)), 0);
    snprintf(data, sizeof(data), "%s.%s", h, p);
    if (sign) {
        ck_assert_ptr_nonnull(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
                                   (const unsigned char *)data, strlen(data), mac, &maclen));
        ck_assert_int_ge(jwt_b64url_encode(mac, maclen, sig, sizeof(sig)), 0);
    }
    snprintf(out, len, "%s.%s", data, sig);
}

START_TEST(test_b64url_vectors)
{
    /* RFC 4648 section 10 vectors, url alphabet, no padding. */
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[32];
    unsigned char back[32];

    for (int i = 0; i < 7; i++) {
        int n = jwt_b64url_encode((const unsigned char *)in[i], strlen(in[i]), out, sizeof(out));
        ck_assert_int_eq(n, (int)strlen(want[i]));
        ck_assert_str_eq(out, want[i]);
        n = jwt_b64url_decode(out, strlen(out), back, sizeof(back));
        ck_assert_int_eq(n, (int)strlen(in[i]));
        ck_assert_int_eq(memcmp(back, in[i], (size_t)n), 0);
    }
    /* url alphabet: 0xfb 0xff -> "-_8" */
    {
        const unsigned char bin[] = {0xfb, 0xff};
        ck_assert_int_eq(jwt_b64url_encode(bin, 2, out, sizeof(out)), 3);
        ck_assert_str_eq(out, "-_8");
    }
}
END_TEST

START_TEST(test_b64url_rejects)
{
    unsigned char back[32];

    ck_assert_int_eq(jwt_b64url_decode("Zm9v=", 5, back, sizeof(back)), -1); /* padding */
    ck_assert_int_eq(jwt_b64url_decode("Zm+v", 4, back, sizeof(back)), -1);  /* std alphabet */
    ck_assert_int_eq(jwt_b64url_decode("Z", 1, back, sizeof(back)), -1);     /* impossible length */
    ck_assert_int_eq(jwt_b64url_decode("Zh", 2, back, sizeof(back)), -1);    /* stray bits */
    ck_assert_int_eq(jwt_b64url_decode("Zm9vYg", 6, back, 3), -1);           /* short buffer */
    {
        char small[4];
        ck_assert_int_eq(jwt_b64url_encode((const unsigned char *)"foo", 3, small, 4), -1);
    }
}
END_TEST

START_TEST(test_sign_verify_roundtrip)
{
    char tok[JWT_MAX_LEN + 1];
    int64_t id = 0;

    sign42(tok, sizeof(tok));
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW, &id), JWT_OK);
    ck_assert_int_eq(id, 42);
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW + 3599, &id), JWT_OK);
    /* header is the fixed HS256 one */
    ck_assert(strncmp(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0);
}
END_TEST

START_TEST(test_expired)
{
    char tok[JWT_MAX_LEN + 1];
    int64_t id = 0;

    sign42(tok, sizeof(tok));
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW + 3600, &id), JWT_EXPIRED);
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW + 99999, &id), JWT_EXPIRED);
    ck_assert_int_eq(id, 0);
}
END_TEST

START_TEST(test_wrong_secret)
{
    char tok[JWT_MAX_LEN + 1];
    int64_t id = 0;

    sign42(tok, sizeof(tok));
    ck_assert_int_eq(jwt_verify("other", 5, tok, NOW, &id), JWT_INVALID);
}
END_TEST

START_TEST(test_tampered)
{
    char tok[JWT_MAX_LEN + 1], bad[JWT_MAX_LEN + 1];
    char *dot1, *dot2;
    int64_t id = 0;

    sign42(tok, sizeof(tok));
    dot1 = strchr(tok, '.');
    dot2 = strchr(dot1 + 1, '.');
    /* Flip every character of the signature in turn. */
    for (char *c = dot2 + 1; *c; c++) {
        strcpy(bad, tok);
        bad[c - tok] = *c == 'A' ? 'B' : 'A';
        ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), bad, NOW, &id), JWT_INVALID);
    }
    /* Flip a payload character. */
    strcpy(bad, tok);
    bad[dot1 - tok + 5] = bad[dot1 - tok + 5] == 'x' ? 'y' : 'x';
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), bad, NOW, &id), JWT_INVALID);
    /* A different payload with the original signature: another user id. */
    {
        char forged[JWT_MAX_LEN + 1], mixed[JWT_MAX_LEN * 2];
        forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"1\",\"exp\":1800000000}", false,
              forged, sizeof(forged));
        snprintf(mixed, sizeof(mixed), "%.*s%s", (int)(strrchr(forged, '.') - forged), forged,
                 dot2);
        ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), mixed, NOW, &id), JWT_INVALID);
    }
    ck_assert_int_eq(id, 0);
}
END_TEST

START_TEST(test_alg_none_and_others)
{
    char tok[JWT_MAX_LEN + 1];
    int64_t id = 0;

    forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"42\",\"exp\":1800000000}", false, tok,
          sizeof(tok));
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW, &id), JWT_INVALID);
    /* alg none but carrying a valid HS256 MAC is still refused. */
    forge("{\"alg\":\"none\"}", "{\"sub\":\"42\",\"exp\":1800000000}", true, tok, sizeof(tok));
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW, &id), JWT_INVALID);
    forge("{\"alg\":\"HS512\"}", "{\"sub\":\"42\",\"exp\":1800000000}", true, tok, sizeof(tok));
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW, &id), JWT_INVALID);
    forge("{\"alg\":\"hs256\"}", "{\"sub\":\"42\",\"exp\":1800000000}", true, tok, sizeof(tok));
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW, &id), JWT_INVALID);
    forge("{\"typ\":\"JWT\"}", "{\"sub\":\"42\",\"exp\":1800000000}", true, tok, sizeof(tok));
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW, &id), JWT_INVALID);
    /* Our own forge with HS256 is accepted: the harness itself is right. */
    forge("{\"alg\":\"HS256\"}", "{\"sub\":\"42\",\"exp\":1800000000}", true, tok, sizeof(tok));
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), tok, NOW, &id), JWT_OK);
    ck_assert_int_eq(id, 42);
}
END_TEST

START_TEST(test_bad_claims)
{
    const char *payloads[] = {
        "{\"exp\":1800000000}",                                   /* no sub */
        "{\"sub\":42,\"exp\":1800000000}",                        /* sub not a string */
        "{\"sub\":\"4x2\",\"exp\":1800000000}",                   /* sub not digits */
        "{\"sub\":\"-1\",\"exp\":1800000000}",                    /* negative */
        "{\"sub\":\"0\",\"exp\":1800000000}",                     /* zero */
        "{\"sub\":\"\",\"exp\":1800000000}",                      /* empty */
        "{\"sub\":\"99999999999999999999\",\"exp\":1800000000}",  /* overflow */
        "{\"sub\":\"42\"}",                                       /* no exp */
        "{\"sub\":\"42\",\"exp\":\"1800000000\"}",                /* exp a string */
        "{\"sub\":\"42\",\"exp\":1800000000.5}",                  /* exp fractional */
        "{\"sub\":\"42\",\"exp\":1800000000,\"nbf\":1800000000}", /* not yet valid */
        "[1,2]",                                                  /* not an object */
        "not json",
    };
    char tok[JWT_MAX_LEN + 1];
    int64_t id = 0;

    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        forge("{\"alg\":\"HS256\"}", payloads[i], true, tok, sizeof(tok));
        ck_assert_msg(jwt_verify(SECRET, strlen(SECRET), tok, NOW, &id) == JWT_INVALID,
                      "payload %s accepted", payloads[i]);
    }
}
END_TEST

START_TEST(test_malformed)
{
    char tok[JWT_MAX_LEN + 1], bad[JWT_MAX_LEN * 3];
    int64_t id = 0;
    const char *shapes[] = {"",
                            ".",
                            "..",
                            "abc",
                            "a.b",
                            "a.b.c.d",
                            ".b.c",
                            "a..c",
                            "a.b.",
                            "!!!.???.***",
                            "eyJhbGciOiJIUzI1NiJ9.e30.",
                            "\xff\xfe.\x01.\x02"};

    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), shapes[i], NOW, &id), JWT_INVALID);
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), NULL, NOW, &id), JWT_INVALID);
    sign42(tok, sizeof(tok));
    snprintf(bad, sizeof(bad), "%s.", tok);
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), bad, NOW, &id), JWT_INVALID);
    snprintf(bad, sizeof(bad), " %s", tok);
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), bad, NOW, &id), JWT_INVALID);
    /* Over-long token. */
    memset(bad, 'a', JWT_MAX_LEN + 10);
    bad[10] = '.';
    bad[20] = '.';
    bad[JWT_MAX_LEN + 10] = '\0';
    ck_assert_int_eq(jwt_verify(SECRET, strlen(SECRET), bad, NOW, &id), JWT_INVALID);
    ck_assert_int_eq(id, 0);
}
END_TEST

START_TEST(test_sign_short_buffer)
{
    char small[40];

    ck_assert_int_eq(jwt_sign(SECRET, strlen(SECRET), 42, NOW, 60, small, sizeof(small)), -1);
}
END_TEST

/* The token version claim: signed, returned, 0 when absent, and a bad
 * "ver" makes the token invalid. */
START_TEST(test_version_claim)
{
    char tok[JWT_MAX_LEN + 1];
    int64_t id = 0, ver = -1;

    ck_assert_int_gt(jwt_sign_ver(SECRET, strlen(SECRET), 42, 7, NOW, 3600, tok, sizeof(tok)), 0);
    ck_assert_int_eq(jwt_verify_ver(SECRET, strlen(SECRET), tok, NOW, &id, &ver), JWT_OK);
    ck_assert_int_eq(id, 42);
    ck_assert_int_eq(ver, 7);
    ck_assert_int_gt(jwt_sign(SECRET, strlen(SECRET), 42, NOW, 3600, tok, sizeof(tok)), 0);
    ck_assert_int_eq(jwt_verify_ver(SECRET, strlen(SECRET), tok, NOW, &id, &ver), JWT_OK);
    ck_assert_int_eq(ver, 0);
    {
        /* Two tokens for one user in the same second still differ (jti). */
        char again[JWT_MAX_LEN + 1];
        ck_assert_int_gt(jwt_sign(SECRET, strlen(SECRET), 42, NOW, 3600, again, sizeof(again)), 0);
        ck_assert_str_ne(tok, again);
    }
    {
        const char *bad[] = {"{\"sub\":\"1\",\"exp\":9999999999,\"ver\":\"3\"}",
                             "{\"sub\":\"1\",\"exp\":9999999999,\"ver\":-1}",
                             "{\"sub\":\"1\",\"exp\":9999999999,\"ver\":1.5}",
                             "{\"sub\":\"1\",\"exp\":9999999999,\"ver\":1e12}"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", bad[i], true, tok, sizeof(tok));
            ck_assert_msg(jwt_verify_ver(SECRET, strlen(SECRET), tok, NOW, &id, &ver) ==
                              JWT_INVALID,
                          "accepted %s", bad[i]);
        }
    }
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        test_b64url_vectors, test_b64url_rejects,    test_sign_verify_roundtrip, test_expired,
        test_wrong_secret,   test_tampered,          test_alg_none_and_others,   test_bad_claims,
        test_malformed,      test_sign_short_buffer, test_version_claim,
    };

    return suite_main_run("jwt", tests, sizeof(tests) / sizeof(tests[0]), 0);
}
