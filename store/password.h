/*
 * password.h: argon2id password hashing off the event loop.
 *
 * Hashing costs tens of milliseconds of CPU by design; doing it on the
 * worker's loop would stall every other connection of that worker. A small
 * pool of threads does the work; results come back to the loop through an
 * eventfd watched by a libevent event, and callbacks always run on the loop
 * thread. (No evthread locking is needed: the threads never touch libevent.)
 *
 * Parameters (OWASP's argon2id recommendation): t=2 iterations, m=19456 KiB
 * (19 MiB), p=1 lane, 16-byte random salt, 32-byte hash, stored in the PHC
 * string format ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"), so hashes
 * made with other parameters still verify.
 */
#ifndef CONDUIT_PASSWORD_H
#define CONDUIT_PASSWORD_H

#include <stddef.h>

struct event_base;
struct password_pool;

#define PASSWORD_T_COST      2
#define PASSWORD_M_COST      19456
#define PASSWORD_PARALLELISM 1
#define PASSWORD_SALT_LEN    16
#define PASSWORD_HASH_LEN    32
/* Jobs waiting for a thread beyond this are refused (the caller answers 503). */
#define PASSWORD_MAX_PENDING 256

enum password_result {
    PASSWORD_ERROR = -1, /* hashing failed, or the pool shut down first */
    PASSWORD_MISMATCH = 0,
    PASSWORD_OK = 1, /* hash made / password matches */
};

/* Called on the loop thread exactly once per accepted job. For a hash,
 * encoded is the PHC string (valid only during the call; copy it). */
typedef void (*password_done_fn)(enum password_result result, const char *encoded, void *arg);

/* Start threads (at least 1). NULL with errbuf set on failure. */
struct password_pool *password_pool_new(struct event_base *base, int threads, char *errbuf,
                                        size_t errlen);

/* Queue a hash of password (copied). 0, or -1 if refused (queue full or
 * shutting down): then fn is never called. */
int password_hash(struct password_pool *p, const char *password, password_done_fn fn, void *arg)
    __attribute__((warn_unused_result));

/* Queue a check of password against an encoded hash (both copied). */
int password_verify(struct password_pool *p, const char *encoded, const char *password,
                    password_done_fn fn, void *arg) __attribute__((warn_unused_result));

/* A syntactically valid hash of a random password, for constant-time
 * answers when a login names an unknown email. */
const char *password_dummy_hash(void);

/* Stop the threads (waiting for jobs in progress), deliver finished results,
 * fail queued jobs with PASSWORD_ERROR, and free. */
void password_pool_free(struct password_pool *p);

#endif
