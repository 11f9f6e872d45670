/*
 * cache_scripts.c: the Lua texts behind cache_scripts.h.
 *
 * A counter (epoch or generation) that does not exist is started from the
 * server's clock in microseconds before its INCR, so a counter lost to
 * eviction or a restart never repeats a value whose entries may still be
 * around. The read script declares itself no-writes, so a read-only
 * replica or a server at maxmemory still answers it.
 */
#include "config.h"

#include "cache_scripts.h"

/* The Lua function shared by the writing scripts. */
#define CACHE_LUA_BUMP                                                                             \
    "local function bump(k) "                                                                      \
    "if redis.call('EXISTS', k) == 0 then "                                                        \
    "local t = redis.call('TIME') "                                                                \
    "redis.call('SET', k, t[1] .. string.sub('000000' .. t[2], -6)) "                              \
    "end "                                                                                         \
    "return redis.call('INCR', k) "                                                                \
    "end "

const char *const cache_scripts[CACHE_SCRIPT__COUNT] = {
    [CACHE_SCRIPT_READ] = "#!lua flags=no-writes\n"
                          "local e = redis.call('GET', ARGV[2]) "
                          "if not e then return {false} end "
                          "local ns = ARGV[1] .. e .. ':' "
                          "local key = ns "
                          "if ARGV[4] ~= '' then "
                          "local g = redis.call('GET', ARGV[4]) "
                          "if not g then return {ns, false} end "
                          "key = key .. g .. ':' "
                          "end "
                          "key = key .. ARGV[3] "
                          "local v = redis.call('GET', key) "
                          "if not v then return {ns, key} end "
                          "local ref = string.match(v, '^@([^\\n]+)\\n') "
                          "if not ref then return {ns, key, v} end "
                          "return {ns, key, v, redis.call('GET', ns .. ref)}",
    [CACHE_SCRIPT_INVALIDATE] = CACHE_LUA_BUMP
    "local ns = ARGV[1] .. (redis.call('GET', ARGV[2]) or '0') .. ':' "
    "local n = tonumber(ARGV[4]) "
    "for i = 5, 4 + n do redis.call('SET', ns .. ARGV[i], '-', 'EX', ARGV[3]) end "
    "for i = 5 + n, #ARGV do bump(ARGV[i]) end "
    "return n",
    [CACHE_SCRIPT_BUMP] = CACHE_LUA_BUMP "local e = bump(ARGV[1]) "
                                         "for i = 2, #ARGV do bump(ARGV[i]) end "
                                         "return e",
};
