/*
 * cache_scripts.h: the Lua scripts of the cache protocol's writes
 * (cache.h), loaded with SCRIPT LOAD on every new connection and run with
 * EVALSHA. Reads are plain MGETs.
 */
#ifndef CONDUIT_CACHE_SCRIPTS_H
#define CONDUIT_CACHE_SCRIPTS_H

/* The scripts, by index into cache_scripts[]. */
enum cache_script {
    /* ARGV: counter TTL, prefix, epoch key, tombstone seconds, n, n names,
     * generation keys. Tombstones the names in the current namespace, then
     * bumps the generations. Returns n. */
    CACHE_SCRIPT_INVALIDATE,
    /* ARGV: counter TTL, epoch key, generation keys. Bumps them all;
     * returns the new epoch. */
    CACHE_SCRIPT_BUMP,
    /* ARGV: counter TTL, counter keys. Creates those that are missing. */
    CACHE_SCRIPT_INIT,
    CACHE_SCRIPT__COUNT
};

extern const char *const cache_scripts[CACHE_SCRIPT__COUNT];

#endif
