/*
 * password.c: argon2id hashing on a thread pool (see password.h).
 *
 * Two queues under one mutex: `pending` (jobs for the threads, signalled by a
 * condition variable) and `done` (results for the loop, signalled by writing
 * to an eventfd). The loop drains `done` and runs the callbacks. Passwords
 * are wiped from memory before their buffers are freed.
 *
 * Relies on libargon2, pthreads, Linux eventfd, libevent.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <argon2.h>
#include <event2/event.h>

#include "log.h"
#include "password.h"

#define PASSWORD_ENCODED_MAX 160
#define PASSWORD_MAX_THREADS 64
/* Hashing threads run at a lower priority than the event loop, so that on a
 * busy machine the scheduler prefers answering requests to hashing. */
#define PASSWORD_THREAD_NICE 10

enum password_kind { PASSWORD_JOB_HASH, PASSWORD_JOB_VERIFY };

struct password_job {
    TAILQ_ENTRY(password_job) link;
    enum password_kind kind;
    char *password; /* owned, wiped before free */
    size_t password_len;
    char encoded[PASSWORD_ENCODED_MAX]; /* input for verify, output for hash */
    enum password_result result;
    password_done_fn fn;
    void *arg;
};

TAILQ_HEAD(password_queue, password_job);

struct password_pool {
    struct event_base *base;
    struct event *ev_done;
    int efd;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct password_queue pending;
    struct password_queue done;
    size_t npending;
    int stopping; /* under lock: threads exit when set */
    int nthreads;
    pthread_t threads[PASSWORD_MAX_THREADS];
};

static const char password_dummy[] = "$argon2id$v=19$m=19456,t=2,p=1$NHneCorZFrx8Ah5nrGymUQ$"
                                     "P4LARLqcd893s2RFltcDsCouKCHUpeL0CgV17Fl7bNY";

const char *password_dummy_hash(void)
{
    return password_dummy;
}

/* Wipe and free a job. */
static void password_job_free(struct password_job *j)
{
    if (j->password != NULL) {
        explicit_bzero(j->password, j->password_len);
        free(j->password);
    }
    free(j);
}

/* Do one job's hashing work (on a pool thread). */
static void password_job_run(struct password_job *j)
{
    if (j->kind == PASSWORD_JOB_HASH) {
        unsigned char salt[PASSWORD_SALT_LEN];
        ssize_t got;
        int rc;
        do {
            got = getrandom(salt, sizeof(salt), 0);
        } while (got < 0 && errno == EINTR);
        if (got != (ssize_t)sizeof(salt)) {
            j->result = PASSWORD_ERROR;
            return;
        }
        rc = argon2id_hash_encoded(PASSWORD_T_COST, PASSWORD_M_COST, PASSWORD_PARALLELISM,
                                   j->password, j->password_len, salt, sizeof(salt),
                                   PASSWORD_HASH_LEN, j->encoded, sizeof(j->encoded));
        j->result = rc == ARGON2_OK ? PASSWORD_OK : PASSWORD_ERROR;
    } else {
        int rc = argon2id_verify(j->encoded, j->password, j->password_len);
        if (rc == ARGON2_OK)
            j->result = PASSWORD_OK;
        else if (rc == ARGON2_VERIFY_MISMATCH)
            j->result = PASSWORD_MISMATCH;
        else
            j->result = PASSWORD_ERROR;
    }
}

/* Pool thread: take pending jobs until told to stop. */
static void *password_thread(void *varg)
{
    struct password_pool *p = varg;

    /* Linux: the nice value of a thread is per thread (its tid). Best
     * effort: hashing still works at normal priority. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PASSWORD_THREAD_NICE);
    if (pthread_mutex_lock(&p->lock) != 0)
        return NULL;
    for (;;) {
        struct password_job *j;
        while (!p->stopping && TAILQ_EMPTY(&p->pending))
            (void)pthread_cond_wait(&p->cond, &p->lock);
        if (p->stopping)
            break;
        j = TAILQ_FIRST(&p->pending);
        TAILQ_REMOVE(&p->pending, j, link);
        p->npending--;
        (void)pthread_mutex_unlock(&p->lock);

        password_job_run(j);

        (void)pthread_mutex_lock(&p->lock);
        TAILQ_INSERT_TAIL(&p->done, j, link);
        {
            uint64_t one = 1;
            /* Cannot fail short of EAGAIN at 2^64-1 writes; nothing to do then. */
            (void)!write(p->efd, &one, sizeof(one));
        }
    }
    (void)pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Run the callbacks of every finished job (loop thread). */
static void password_deliver(struct password_pool *p)
{
    struct password_queue local = TAILQ_HEAD_INITIALIZER(local);
    struct password_job *j;

    (void)pthread_mutex_lock(&p->lock);
    TAILQ_CONCAT(&local, &p->done, link);
    (void)pthread_mutex_unlock(&p->lock);
    while ((j = TAILQ_FIRST(&local)) != NULL) {
        TAILQ_REMOVE(&local, j, link);
        j->fn(j->result,
              j->result == PASSWORD_OK && j->kind == PASSWORD_JOB_HASH ? j->encoded : NULL, j->arg);
        password_job_free(j);
    }
}

/* eventfd readable: some jobs finished. */
static void password_on_done(evutil_socket_t fd, short what, void *arg)
{
    struct password_pool *p = arg;
    uint64_t n;

    (void)what;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_warn("password: eventfd read failed", "\"error\":\"%s\"", strerror(errno));
    password_deliver(p);
}

struct password_pool *password_pool_new(struct event_base *base, int threads, char *errbuf,
                                        size_t errlen)
{
    struct password_pool *p = calloc(1, sizeof(*p));
    sigset_t all, old;
    const char *step = "alloc";

    if (p == NULL)
        goto fail_nofree;
    if (threads < 1)
        threads = 1;
    if (threads > PASSWORD_MAX_THREADS)
        threads = PASSWORD_MAX_THREADS;
    p->base = base;
    TAILQ_INIT(&p->pending);
    TAILQ_INIT(&p->done);
    p->efd = -1;
    step = "mutex";
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail_free;
    step = "cond";
    if (pthread_cond_init(&p->cond, NULL) != 0)
        goto fail_mutex;
    step = "eventfd";
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0)
        goto fail_cond;
    step = "event";
    p->ev_done = event_new(base, p->efd, EV_READ | EV_PERSIST, password_on_done, p);
    if (p->ev_done == NULL || event_add(p->ev_done, NULL) != 0)
        goto fail_fd;
    /* Threads must not take the process's signals: block them all while
     * creating, so the threads inherit a full mask. */
    step = "threads";
    sigfillset(&all);
    if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
        goto fail_fd;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, password_thread, p) != 0)
            break;
        p->nthreads++;
    }
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->nthreads == 0)
        goto fail_fd;
    return p;

fail_fd:
    if (p->ev_done != NULL)
        event_free(p->ev_done);
    (void)close(p->efd);
fail_cond:
    (void)pthread_cond_destroy(&p->cond);
fail_mutex:
    (void)pthread_mutex_destroy(&p->lock);
fail_free:
    free(p);
fail_nofree:
    snprintf(errbuf, errlen, "password hashing pool: %s failed", step);
    return NULL;
}

/* Queue a job; 0 or -1 (job freed). */
static int password_submit(struct password_pool *p, struct password_job *j)
{
    int rc = -1;

    if (pthread_mutex_lock(&p->lock) != 0) {
        password_job_free(j);
        return -1;
    }
    if (!p->stopping && p->npending < PASSWORD_MAX_PENDING) {
        TAILQ_INSERT_TAIL(&p->pending, j, link);
        p->npending++;
        (void)pthread_cond_signal(&p->cond);
        rc = 0;
    }
    (void)pthread_mutex_unlock(&p->lock);
    if (rc != 0)
        password_job_free(j);
    return rc;
}

/* A new job with a copy of password; NULL on allocation failure. */
static struct password_job *password_job_new(enum password_kind kind, const char *password,
                                             password_done_fn fn, void *arg)
{
    struct password_job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return NULL;
    j->kind = kind;
    j->password_len = strlen(password);
    j->password = malloc(j->password_len + 1);
    if (j->password == NULL) {
        free(j);
        return NULL;
    }
    memcpy(j->password, password, j->password_len + 1);
    j->fn = fn;
    j->arg = arg;
    j->result = PASSWORD_ERROR;
    return j;
}

int password_hash(struct password_pool *p, const char *password, password_done_fn fn, void *arg)
{
    struct password_job *j = password_job_new(PASSWORD_JOB_HASH, password, fn, arg);

    if (j == NULL)
        return -1;
    return password_submit(p, j);
}

int password_verify(struct password_pool *p, const char *encoded, const char *password,
                    password_done_fn fn, void *arg)
{
    struct password_job *j;

    if (strlen(encoded) >= PASSWORD_ENCODED_MAX)
        encoded = password_dummy; /* unusable stored hash: compare to garbage */
    j = password_job_new(PASSWORD_JOB_VERIFY, password, fn, arg);
    if (j == NULL)
        return -1;
    snprintf(j->encoded, sizeof(j->encoded), "%s", encoded);
    return password_submit(p, j);
}

void password_pool_free(struct password_pool *p)
{
    struct password_job *j;

    if (p == NULL)
        return;
    (void)pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    (void)pthread_cond_broadcast(&p->cond);
    (void)pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        (void)pthread_join(p->threads[i], NULL);
    password_deliver(p);
    while ((j = TAILQ_FIRST(&p->pending)) != NULL) {
        TAILQ_REMOVE(&p->pending, j, link);
        j->fn(PASSWORD_ERROR, NULL, j->arg);
        password_job_free(j);
    }
    event_free(p->ev_done);
    (void)close(p->efd);
    (void)pthread_cond_destroy(&p->cond);
    (void)pthread_mutex_destroy(&p->lock);
    free(p);
}
