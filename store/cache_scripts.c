/*
 * cache_scripts.c: the Lua texts behind cache_scripts.h.
 *
 * A counter (epoch or generation) that does not exist is started from the
 * server's clock in microseconds before its INCR, so a counter lost to
 * expiry, eviction or a restart never repeats a value whose entries may
 * still be around (entries live seconds; counters days).
 *
 * Each script starts with a shebang that declares no flags, so a read-only
 * replica or a server at maxmemory refuses it before it runs (without the
 * shebang, a script whose first write is a non-denyoom EXPIRE would go on
 * writing at maxmemory, and trust would flap between a bump that works and
 * a probe that does not).
 */
#include "config.h"

#include "cache_scripts.h"

/* The Lua functions shared by the writing scripts; ARGV[1] is the
 * counters' TTL, refreshed whenever a script touches them (INCR keeps it). */
#define CACHE_LUA_COUNTERS                                                                         \
    "#!lua\n"                                                                                      \
    "local function init(k) "                                                                      \
    "if redis.call('EXISTS', k) == 0 then "                                                        \
    "local t = redis.call('TIME') "                                                                \
    "redis.call('SET', k, t[1] .. string.sub('000000' .. t[2], -6)) "                              \
    "end "                                                                                         \
    "redis.call('EXPIRE', k, ARGV[1]) "                                                            \
    "end "                                                                                         \
    "local function bump(k) init(k) return redis.call('INCR', k) end "

const char *const cache_scripts[CACHE_SCRIPT__COUNT] = {
    [CACHE_SCRIPT_INVALIDATE] = CACHE_LUA_COUNTERS
    "init(ARGV[3]) "
    "local ns = ARGV[2] .. redis.call('GET', ARGV[3]) .. ':' "
    "local n = tonumber(ARGV[5]) "
    "for i = 6, 5 + n do redis.call('SET', ns .. ARGV[i], '-', 'EX', ARGV[4]) end "
    "for i = 6 + n, #ARGV do bump(ARGV[i]) end "
    "return n",
    [CACHE_SCRIPT_BUMP] = CACHE_LUA_COUNTERS "local e = bump(ARGV[2]) "
                                             "for i = 3, #ARGV do bump(ARGV[i]) end "
                                             "return e",
    [CACHE_SCRIPT_INIT] = CACHE_LUA_COUNTERS "for i = 2, #ARGV do init(ARGV[i]) end "
                                             "return 0",
};
