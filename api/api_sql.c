/*
 * api_sql.c: every SQL statement of the Conduit API, in one place.
 *
 * All statements are prepared on each connection and take text parameters
 * (never spliced into SQL). Writes that touch several tables are single
 * statements with data-modifying CTEs, which PostgreSQL runs atomically.
 *
 * Article rows share one column layout (enum api_article_col): timestamps and
 * the tag array in PostgreSQL's text form (converted in C), favoritesCount
 * from a counter column, and the viewer's "favorited" and "following" as
 * EXISTS tests (constant false in the anonymous single-article statement).
 * Lists are one statement: the filter's kept count (articlesCount, never a
 * count(*) per request: migrations/0003_article_counts.sql) joined with the
 * requested page, so a page of any size costs one round trip; a page past
 * the end still returns one row carrying the count (article columns NULL).
 * Each page is read in page order from an index whose rows carry the sort
 * key (created_at DESC, id DESC): articles for all and ?author=,
 * article_tags for ?tag=, favorites for ?favorited=, a merge over the
 * followed authors' newest for the feed; the page's ids come from an
 * index-only walk, so an offset skips index entries, not rows. Filter
 * combinations (two or three of tag, author, favorited) are rare and keep
 * count(*) over their set, which is bounded by its smallest filter's. See
 * docs/architecture.md, "Lists at a million articles", for the plans.
 * The eight filter combinations of GET /api/articles each get their own
 * statement, so every plan can use the right index, and each comes twice:
 * for a viewer and for anonymous readers (favorited/following constant
 * false, as in the anonymous single-article statement).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

#define OID_BOOL 16
#define OID_INT8 20
#define OID_TEXT 25

/* The article columns. Timestamps and tag_list go out in PostgreSQL's text
 * form (the session runs with TimeZone=UTC, DateStyle=ISO: see db.c) and
 * are converted in C (api_text_pg_time, api_text_pg_array_json): cheaper
 * for the server than extract() arithmetic or array_to_json. VIEWER is
 * either the two EXISTS tests for $V or "false, ..., false" for anonymous
 * readers (no subplans to start at all). */
#define ARTICLE_COLS(BODY, FAVORITED, FOLLOWING)                                                   \
    "a.id, a.slug, a.title, a.description, " BODY ", a.created_at, a.updated_at, a.tag_list, "     \
    "a.favorites_count, " FAVORITED ", u.username, u.bio, u.image, " FOLLOWING ", a.author_id"
#define FAVORITED(V)                                                                               \
    "EXISTS (SELECT 1 FROM favorites f WHERE f.article_id = a.id AND f.user_id = $" V ")"
#define FOLLOWING(V)                                                                               \
    "EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $" V                                  \
    " AND fo.followee_id = a.author_id)"

/* The distinct tag names of the JSON array $6, in byte order. */
#define TAG_ARRAY                                                                                  \
    "ARRAY(SELECT e FROM (SELECT DISTINCT json_array_elements_text($6::json) AS e) d "             \
    "ORDER BY e COLLATE \"C\")"

/* A token is current if its "ver" ($2) is the user's token version, or if
 * it is the token that made the last password change ($3, its SHA-256). */
#define TOKEN_CURRENT "(token_version = $2 OR password_changed_by = $3)"

/* A row: the token is current. */
static const char sql_token_check[] = "SELECT 1 FROM users WHERE id = $1 AND " TOKEN_CURRENT;

/* GET /api/user checks the token itself: no row, 401. */
static const char sql_user_by_id[] =
    "SELECT id, username, email, bio, image FROM users WHERE id = $1 AND " TOKEN_CURRENT;

static const char sql_user_by_email[] =
    "SELECT id, username, email, bio, image, password_hash, token_version FROM users "
    "WHERE lower(email) = lower($1)";

/* $3: the user updating themselves (NULL on registration). Usernames are
 * unique regardless of case (users_username_lower_key). */
static const char sql_user_taken[] =
    "SELECT EXISTS (SELECT 1 FROM users WHERE $1::text IS NOT NULL "
    "AND lower(username) = lower($1) "
    "AND id IS DISTINCT FROM $3), "
    "EXISTS (SELECT 1 FROM users WHERE $2::text IS NOT NULL AND lower(email) = lower($2) "
    "AND id IS DISTINCT FROM $3)";

static const char sql_user_insert[] =
    "INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3) "
    "RETURNING id, username, email, bio, image, token_version";

/* Returns the new row, the old username (for cache invalidation) and the
 * token version, bumped by a new password so that every token issued
 * before it is refused. */
static const char sql_user_update[] =
    "WITH old AS (SELECT id, username FROM users WHERE id = $1 FOR UPDATE) "
    "UPDATE users u SET username = COALESCE($2, u.username), email = COALESCE($3, u.email), "
    "password_hash = COALESCE($4, u.password_hash), "
    "token_version = u.token_version + CASE WHEN $4::text IS NULL THEN 0 ELSE 1 END, "
    "password_changed_by = CASE WHEN $4::text IS NULL THEN u.password_changed_by ELSE $9 END, "
    "bio = CASE WHEN $5 THEN $6 ELSE u.bio END, "
    "image = CASE WHEN $7 THEN $8 ELSE u.image END, updated_at = now() "
    "FROM old WHERE u.id = old.id "
    "RETURNING u.id, u.username, u.email, u.bio, u.image, old.username, u.token_version";

static const char sql_profile_get[] =
    "SELECT u.id, u.username, u.bio, u.image, "
    "EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = u.id) "
    "FROM users u WHERE u.username = $1";

static const char sql_follow[] =
    "WITH p AS (SELECT id, username, bio, image FROM users WHERE username = $1), "
    "ins AS (INSERT INTO follows (follower_id, followee_id) SELECT $2, id FROM p "
    "ON CONFLICT DO NOTHING) "
    "SELECT id, username, bio, image, true FROM p";

static const char sql_unfollow[] =
    "WITH p AS (SELECT id, username, bio, image FROM users WHERE username = $1), "
    "del AS (DELETE FROM follows f USING p WHERE f.follower_id = $2 AND f.followee_id = p.id) "
    "SELECT id, username, bio, image, false FROM p";

/* The author through a LATERAL subquery kept as such (OFFSET 0): always a
 * primary-key probe, never a hash of the users table. */
#define ARTICLE_AUTHOR                                                                             \
    " CROSS JOIN LATERAL (SELECT username, bio, image FROM users WHERE users.id = a.author_id "    \
    "OFFSET 0) u"

static const char sql_article_by_slug[] =
    "SELECT " ARTICLE_COLS("a.body", FAVORITED("2"), FOLLOWING("2")) //
    " FROM articles a" ARTICLE_AUTHOR " WHERE a.slug = $1";

static const char sql_article_by_slug_anon[] = "SELECT " ARTICLE_COLS("a.body", "false", "false") //
    " FROM articles a" ARTICLE_AUTHOR " WHERE a.slug = $1";

static const char sql_article_owner[] = "SELECT id, author_id FROM articles WHERE slug = $1";

/* Tags are upserted with DO UPDATE so that RETURNING yields the id of tags
 * that exist already, including ones another transaction just committed.
 * $6 arrives sorted and without duplicates (api_articles.c), so concurrent
 * writers lock tag rows in the same order. */
static const char sql_article_insert[] =
    "WITH ins AS (INSERT INTO articles (slug, title, description, body, author_id, tag_list) "
    "VALUES ($1, $2, $3, $4, $5, " TAG_ARRAY ") RETURNING id, created_at), "
    "tg AS (INSERT INTO tags (name) SELECT json_array_elements_text($6::json) "
    "ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id), "
    "lnk AS (INSERT INTO article_tags (article_id, tag_id, created_at) "
    "SELECT ins.id, tg.id, ins.created_at FROM ins, tg) "
    "SELECT id FROM ins";

/* The insert's parameters, with the article id as $5; NULL keeps a field.
 * $6 NULL keeps the tags; a JSON array replaces them (the DELETE and the
 * INSERT touch disjoint rows, as one statement requires). */
static const char sql_article_update[] =
    "WITH upd AS (UPDATE articles SET slug = COALESCE($1, slug), title = COALESCE($2, title), "
    "description = COALESCE($3, description), body = COALESCE($4, body), "
    "tag_list = CASE WHEN $6::text IS NULL THEN tag_list ELSE " TAG_ARRAY " END, "
    "updated_at = now() WHERE id = $5 RETURNING id, slug, created_at), "
    "tg AS (INSERT INTO tags (name) SELECT json_array_elements_text($6::json) FROM upd "
    "ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id), "
    "del AS (DELETE FROM article_tags WHERE $6::text IS NOT NULL "
    "AND article_id IN (SELECT id FROM upd) AND tag_id NOT IN (SELECT id FROM tg)), "
    "lnk AS (INSERT INTO article_tags (article_id, tag_id, created_at) "
    "SELECT upd.id, tg.id, upd.created_at FROM upd, tg "
    "ON CONFLICT DO NOTHING) "
    "SELECT slug FROM upd";

/* No row: no such article. author_id <> $2: forbidden (nothing deleted). */
static const char sql_article_delete[] =
    "WITH a AS (SELECT id, author_id FROM articles WHERE slug = $1), "
    "d AS (DELETE FROM articles WHERE id IN (SELECT id FROM a WHERE author_id = $2) "
    "RETURNING id) "
    "SELECT a.author_id, (SELECT count(*) FROM d) FROM a";

/* The article row is locked first (the lock the counter trigger's UPDATE
 * needs anyway): a concurrent article delete locks the article and then
 * cascades to favorites, so taking the favorite row first would deadlock.
 * The favorite carries the article's created_at (the ?favorited= order). */
static const char sql_favorite[] =
    "WITH a AS (SELECT id, created_at FROM articles WHERE slug = $1 FOR NO KEY UPDATE), "
    "ins AS (INSERT INTO favorites (user_id, article_id, article_created_at) "
    "SELECT $2, id, created_at FROM a "
    "ON CONFLICT DO NOTHING) "
    "SELECT id FROM a";

static const char sql_unfavorite[] =
    "WITH a AS (SELECT id FROM articles WHERE slug = $1 FOR NO KEY UPDATE), "
    "del AS (DELETE FROM favorites f USING a WHERE f.user_id = $2 AND f.article_id = a.id) "
    "SELECT id FROM a";

/* No row: no such article; one row with a NULL comment id: no comments.
 * The newest API_COMMENTS_MAX comments, oldest first (the bound on one
 * answer: docs/architecture.md). */
static const char sql_comments_list[] =
    "SELECT a.id, c.id, c.created_at, c.updated_at, c.body, "
    "u.username, u.bio, u.image, "
    "EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $2 AND fo.followee_id "
    "= c.author_id) "
    "FROM articles a LEFT JOIN LATERAL (SELECT * FROM comments c WHERE c.article_id = a.id "
    "ORDER BY c.id DESC LIMIT " STR(
        API_COMMENTS_MAX) ") c ON true "
                          "LEFT JOIN users u ON u.id = c.author_id WHERE a.slug = $1 ORDER BY c.id";

static const char sql_comment_insert[] =
    "WITH a AS (SELECT id FROM articles WHERE slug = $1), "
    "ins AS (INSERT INTO comments (article_id, author_id, body) SELECT id, $2, $3 FROM a "
    "RETURNING id, author_id, body, created_at, updated_at) "
    "SELECT ins.id, ins.created_at, ins.updated_at, ins.body, u.username, u.bio, u.image, "
    "EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $2 AND fo.followee_id = $2) "
    "FROM ins JOIN users u ON u.id = ins.author_id";

/* Always one row: article id (NULL: no article), comment author (NULL: no
 * such comment on it), deleted count. */
static const char sql_comment_delete[] =
    "WITH a AS (SELECT id FROM articles WHERE slug = $1), "
    "c AS (SELECT c.id, c.author_id FROM comments c JOIN a ON c.article_id = a.id "
    "WHERE c.id = $2), "
    "d AS (DELETE FROM comments WHERE id IN (SELECT id FROM c WHERE author_id = $3) "
    "RETURNING id) "
    "SELECT (SELECT id FROM a), (SELECT author_id FROM c), (SELECT count(*) FROM d)";

/* A list statement's format around a count expression and a page query
 * (%s, %s) that yields the page's article ids. The article and its author
 * are primary-key probes per page row (LATERAL ... OFFSET 0, which the
 * planner cannot flatten into a hash join over the whole table). The count
 * sits behind OFFSET 0 too: pulled up, its expression was evaluated once
 * per page row (20 kept-count lookups per page: 2,158 against 5,402 tps of
 * the global page at 1M, pgbench with a generic plan). */
// clang-format off
#define LIST_SQL(FAVORITED, FOLLOWING)                                                             \
    "SELECT " ARTICLE_COLS("NULL::text", FAVORITED, FOLLOWING) ", t.total "                        \
    "FROM (SELECT %s AS total OFFSET 0) t "                                                        \
    "LEFT JOIN LATERAL (SELECT a.* FROM (%s) p CROSS JOIN LATERAL "                                \
    "(SELECT * FROM articles a WHERE a.id = p.id OFFSET 0) a) a ON true "                          \
    "LEFT JOIN LATERAL (SELECT username, bio, image FROM users WHERE users.id = a.author_id "      \
    "OFFSET 0) u ON true "                                                                         \
    "ORDER BY a.created_at DESC, a.id DESC"
// clang-format on

#define LIST_PAGE         " LIMIT $2 OFFSET $3"
#define LIST_TAG_ID       "(SELECT id FROM tags WHERE name = $4)"
#define LIST_AUTHOR_ID    "(SELECT id FROM users WHERE username = $5)"
#define LIST_FAVORITER_ID "(SELECT id FROM users WHERE username = $6)"
/* A page from an index walk yielding (id, created_at) in page order. The
 * walk takes the most a page may hold (a constant: the generic plan then
 * expects 100 rows, not 10% of the table as for LIMIT $2, which made it
 * hash-join a whole table and JIT-compile), then the page keeps $2. */
#define LIST_WALK(WALK)                                                                            \
    "SELECT id FROM (" WALK                                                                        \
    " OFFSET $3 LIMIT " STR(API_LIST_LIMIT_MAX) ") w "                                             \
                                                "ORDER BY created_at DESC, id DESC LIMIT $2"

/* A kept count: key (kind, ref)'s folded row plus its pending deltas, as
 * migration 0003's article_count() computes it, written out inline: a SQL
 * function with sub-selects is never inlined by the planner, and calling
 * one costs a function executor per call (pgbench at 1M: 10-12k tps for
 * article_count(0, 0) against 43k for this expression). */
#define KEPT_COUNT(KIND, REF)                                                                      \
    "(COALESCE((SELECT n FROM article_counts WHERE kind = " KIND " AND ref = " REF "), 0) + "      \
    "COALESCE((SELECT sum(n) FROM article_count_deltas WHERE kind = " KIND " AND ref = " REF       \
    "), 0))::bigint"

/* The tag list's version: the kept count of changes to article_tags
 * (kind 4, migration 0011), which only grows. */
#define TAG_LIST_VERSION KEPT_COUNT("4", "0")

/* Tags in use by at least one article, in byte order, as one JSON array:
 * the tags whose kept count (kind 1) is above zero, read from the counts,
 * never from article_tags; with the version of that list, from the same
 * snapshot (api_tags.c keeps both), and whether migration 0011 keeps that
 * version (before it, the version never moves and nothing may be kept). */
static const char sql_tags[] =
    "SELECT " TAG_LIST_VERSION ", "
    "EXISTS (SELECT 1 FROM schema_migrations WHERE version = '0011_tag_list_changes'), "
    "(SELECT COALESCE(json_agg(t.name ORDER BY t.name COLLATE \"C\"), '[]') FROM tags t "
    "JOIN (SELECT ref FROM (SELECT ref, n FROM article_counts WHERE kind = 1 "
    "UNION ALL SELECT ref, n FROM article_count_deltas WHERE kind = 1) c "
    "GROUP BY ref HAVING sum(n) > 0) c ON c.ref = t.id)";

/* Only the version: is a worker's copy of the list still current? */
static const char sql_tags_version[] = "SELECT " TAG_LIST_VERSION;

/* Count and page of the filters with a kept count, by filter mask; the
 * combinations are built by api_sql_where. */
static const struct {
    const char *count;
    const char *page;
} list_kept[8] = {
    [0] = {KEPT_COUNT("0", "0"),
           LIST_WALK("SELECT id, created_at FROM articles ORDER BY created_at DESC, id DESC")},
    [API_FILTER_TAG] = {KEPT_COUNT("1", LIST_TAG_ID),
                        LIST_WALK("SELECT article_id AS id, created_at FROM article_tags "
                                  "WHERE tag_id = " LIST_TAG_ID
                                  " ORDER BY created_at DESC, article_id DESC")},
    [API_FILTER_AUTHOR] =
        {KEPT_COUNT("2", LIST_AUTHOR_ID),
         LIST_WALK("SELECT id, created_at FROM articles WHERE author_id = " LIST_AUTHOR_ID
                   " ORDER BY created_at DESC, id DESC")},
    [API_FILTER_FAVORITED] = {KEPT_COUNT("3", LIST_FAVORITER_ID),
                              LIST_WALK("SELECT article_id AS id, article_created_at AS created_at "
                                        "FROM favorites WHERE user_id = " LIST_FAVORITER_ID
                                        " ORDER BY article_created_at DESC, article_id DESC")},
};

/* The feed: its count is the sum of the followed authors' kept counts; its
 * page a merge of each followed author's newest limit+offset ids (an
 * index-only walk of articles_author_created_idx per author). */
static const char list_feed_count[] =
    "COALESCE((SELECT sum(c.n) FROM follows f JOIN article_counts c ON c.kind = 2 "
    "AND c.ref = f.followee_id WHERE f.follower_id = $1), 0) + "
    "COALESCE((SELECT sum(d.n) FROM follows f JOIN article_count_deltas d ON d.kind = 2 "
    "AND d.ref = f.followee_id WHERE f.follower_id = $1), 0)";
static const char list_feed_page[] =
    "SELECT p.id FROM follows f CROSS JOIN LATERAL (SELECT a.id, a.created_at FROM articles a "
    "WHERE a.author_id = f.followee_id ORDER BY a.created_at DESC, a.id DESC "
    "LIMIT $2 + $3) p WHERE f.follower_id = $1 "
    "ORDER BY p.created_at DESC, p.id DESC" LIST_PAGE;

/* The list statement around a count expression and a page query, for a
 * viewer or anonymous readers; parameters: $1 viewer, $2 limit, $3 offset,
 * $4 tag, $5 author, $6 favorited (unused ones are ignored). Caller frees;
 * NULL out of memory. */
static char *api_sql_list(const char *count, const char *page, bool anon)
{
    /* The viewer's format is the longer one: room for either. */
    size_t len = sizeof(LIST_SQL(FAVORITED("1"), FOLLOWING("1"))) + strlen(count) + strlen(page);
    char *sql = malloc(len);

    if (sql == NULL)
        return NULL;
    if (anon)
        (void)snprintf(sql, len, LIST_SQL("false", "false"), count, page);
    else
        (void)snprintf(sql, len, LIST_SQL(FAVORITED("1"), FOLLOWING("1")), count, page);
    return sql;
}

/* WHERE clause for a combination of filters (two or more bits of mask). */
static void api_sql_where(int mask, char *out, size_t outlen)
{
    size_t n = 0;

    out[0] = '\0';
    n += (size_t)snprintf(out + n, outlen - n, "true");
    if (mask & API_FILTER_TAG)
        n += (size_t)snprintf(out + n, outlen - n,
                              " AND a.id IN (SELECT at.article_id FROM article_tags at "
                              "WHERE at.tag_id = " LIST_TAG_ID ")");
    if (mask & API_FILTER_AUTHOR)
        n += (size_t)snprintf(out + n, outlen - n, " AND a.author_id = " LIST_AUTHOR_ID);
    if (mask & API_FILTER_FAVORITED)
        (void)snprintf(out + n, outlen - n,
                       " AND a.id IN (SELECT fv.article_id FROM favorites fv "
                       "WHERE fv.user_id = " LIST_FAVORITER_ID ")");
}

/* The list statement of filter mask (0-7) for a viewer or anonymous. */
static char *api_sql_list_mask(int mask, bool anon)
{
    char where[1024], count[1200], page[1200];

    if (list_kept[mask].count != NULL)
        return api_sql_list(list_kept[mask].count, list_kept[mask].page, anon);
    api_sql_where(mask, where, sizeof(where));
    (void)snprintf(count, sizeof(count), "(SELECT count(*) FROM articles a WHERE %s)", where);
    (void)snprintf(page, sizeof(page),
                   "SELECT a.id FROM articles a WHERE %s "
                   "ORDER BY a.created_at DESC, a.id DESC" LIST_PAGE,
                   where);
    return api_sql_list(count, page, anon);
}

int api_sql_build(struct db_stmt *st)
{
    static const char *names[16] = {"list0",  "list1",  "list2",  "list3",  "list4",  "list5",
                                    "list6",  "list7",  "alist0", "alist1", "alist2", "alist3",
                                    "alist4", "alist5", "alist6", "alist7"};
    const struct {
        int id;
        const char *name;
        const char *sql;
        int n;
        Oid t[DB_MAX_PARAMS];
    } fixed[] = {
        {Q_TOKEN_CHECK, "token_check", sql_token_check, 3, {OID_INT8, OID_INT8, OID_TEXT}},
        {Q_USER_BY_ID, "user_by_id", sql_user_by_id, 3, {OID_INT8, OID_INT8, OID_TEXT}},
        {Q_USER_BY_EMAIL, "user_by_email", sql_user_by_email, 1, {OID_TEXT}},
        {Q_USER_TAKEN, "user_taken", sql_user_taken, 3, {OID_TEXT, OID_TEXT, OID_INT8}},
        {Q_USER_INSERT, "user_insert", sql_user_insert, 3, {OID_TEXT, OID_TEXT, OID_TEXT}},
        {Q_USER_UPDATE,
         "user_update",
         sql_user_update,
         9,
         {OID_INT8, OID_TEXT, OID_TEXT, OID_TEXT, OID_BOOL, OID_TEXT, OID_BOOL, OID_TEXT,
          OID_TEXT}},
        {Q_PROFILE_GET, "profile_get", sql_profile_get, 2, {OID_TEXT, OID_INT8}},
        {Q_FOLLOW, "follow", sql_follow, 2, {OID_TEXT, OID_INT8}},
        {Q_UNFOLLOW, "unfollow", sql_unfollow, 2, {OID_TEXT, OID_INT8}},
        {Q_ARTICLE_BY_SLUG, "article_by_slug", sql_article_by_slug, 2, {OID_TEXT, OID_INT8}},
        {Q_ARTICLE_BY_SLUG_ANON, "article_by_slug_anon", sql_article_by_slug_anon, 1, {OID_TEXT}},
        {Q_ARTICLE_OWNER, "article_owner", sql_article_owner, 1, {OID_TEXT}},
        {Q_ARTICLE_INSERT,
         "article_insert",
         sql_article_insert,
         6,
         {OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_INT8, OID_TEXT}},
        {Q_ARTICLE_UPDATE,
         "article_update",
         sql_article_update,
         6,
         {OID_TEXT, OID_TEXT, OID_TEXT, OID_TEXT, OID_INT8, OID_TEXT}},
        {Q_ARTICLE_DELETE, "article_delete", sql_article_delete, 2, {OID_TEXT, OID_INT8}},
        {Q_FAVORITE, "favorite", sql_favorite, 2, {OID_TEXT, OID_INT8}},
        {Q_UNFAVORITE, "unfavorite", sql_unfavorite, 2, {OID_TEXT, OID_INT8}},
        {Q_COMMENTS_LIST, "comments_list", sql_comments_list, 2, {OID_TEXT, OID_INT8}},
        {Q_COMMENT_INSERT, "comment_insert", sql_comment_insert, 3, {OID_TEXT, OID_INT8, OID_TEXT}},
        {Q_COMMENT_DELETE, "comment_delete", sql_comment_delete, 3, {OID_TEXT, OID_INT8, OID_INT8}},
        {Q_TAGS, "tags", sql_tags, 0, {0}},
        {Q_TAGS_VERSION, "tags_version", sql_tags_version, 0, {0}},
    };
    static const Oid list_types[6] = {OID_INT8, OID_INT8, OID_INT8, OID_TEXT, OID_TEXT, OID_TEXT};

    memset(st, 0, sizeof(*st) * Q__COUNT);
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        struct db_stmt *s = &st[fixed[i].id];
        s->name = fixed[i].name;
        s->sql = fixed[i].sql;
        s->nparams = fixed[i].n;
        memcpy(s->types, fixed[i].t, sizeof(s->types));
    }
    st[Q_FEED].name = "feed";
    st[Q_FEED].sql = api_sql_list(list_feed_count, list_feed_page, false);
    st[Q_FEED].nparams = 6;
    memcpy(st[Q_FEED].types, list_types, sizeof(list_types));
    for (int i = 0; i < 16; i++) {
        struct db_stmt *s = &st[Q_LIST_BASE + i];
        s->name = names[i];
        s->sql = api_sql_list_mask(i % 8, i >= 8);
        s->nparams = 6;
        memcpy(s->types, list_types, sizeof(list_types));
    }
    for (int i = 0; i < Q__COUNT; i++)
        if (st[i].sql == NULL || st[i].name == NULL)
            return -1;
    return 0;
}

void api_sql_free(struct db_stmt *st)
{
    free((char *)st[Q_FEED].sql);
    st[Q_FEED].sql = NULL;
    for (int i = 0; i < 16; i++) {
        free((char *)st[Q_LIST_BASE + i].sql);
        st[Q_LIST_BASE + i].sql = NULL;
    }
}
