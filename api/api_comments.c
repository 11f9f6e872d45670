/*
 * api_comments.c: GET and POST /api/articles/:slug/comments, DELETE
 * /api/articles/:slug/comments/:id.
 *
 * Each route is one statement that also tells whether the article exists
 * (404 {"errors":{"article":["not found"]}}), and for deletes whether the
 * comment exists on that article (404 "comment") and who wrote it (403
 * "comment" "forbidden" for anyone else). Comments come oldest first: the
 * newest API_COMMENTS_MAX of them (the bound on one answer, api_sql.c).
 * Comments are not cached.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "api_internal.h"

/* Columns of a comment row after `skip` leading columns. */
enum { CC_ID, CC_CREATED, CC_UPDATED, CC_BODY, CC_USERNAME, CC_BIO, CC_IMAGE, CC_FOLLOWING };

/* One comment object from row i, whose comment columns start at col0. */
static void comments_write(struct jbuf *b, const PGresult *res, int i, int col0)
{
    char ts[API_TIME_LEN];

    jbuf_puts(b, "{\"id\":");
    jbuf_int(b, api_col_int(res, i, col0 + CC_ID));
    api_write_time(b, ",\"createdAt\":", PQgetvalue(res, i, col0 + CC_CREATED), ts);
    api_write_time(b, ",\"updatedAt\":", PQgetvalue(res, i, col0 + CC_UPDATED), ts);
    jbuf_puts(b, ",\"body\":");
    jbuf_str(b, PQgetvalue(res, i, col0 + CC_BODY));
    jbuf_puts(b, ",\"author\":");
    api_write_profile(b, PQgetvalue(res, i, col0 + CC_USERNAME), api_col(res, i, col0 + CC_BIO),
                      api_col(res, i, col0 + CC_IMAGE), api_col_bool(res, i, col0 + CC_FOLLOWING));
    jbuf_putc(b, '}');
}

/* ---- GET ---- */

/* Rows: article id, then comment columns (NULL when there are none). */
static void comments_on_list(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    struct jbuf b;
    int rows, n = 0;

    if (st != DB_OK) {
        api_respond_db_failure(r, st, res);
        return;
    }
    rows = PQntuples(res);
    if (rows == 0) {
        api_respond_error(r, 404, "article", "not found");
        return;
    }
    jbuf_init(&b, 256 + (size_t)rows * 512);
    jbuf_puts(&b, "{\"comments\":[");
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 1))
            continue;
        if (n++ > 0)
            jbuf_putc(&b, ',');
        comments_write(&b, res, i, 1);
    }
    jbuf_puts(&b, "]}");
    api_respond_json(r, 200, &b);
}

void api_comments_list(struct http_request *req, const struct route_params *p, void *ctx)
{
    api_route_viewer(ctx, req, p, false, Q_COMMENTS_LIST, comments_on_list);
}

/* ---- POST ---- */

/* The new comment's row, or none if the article does not exist. */
static void comments_on_insert(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    struct jbuf b;

    if (api_db_one_row(r, st, res, "article") != 0)
        return;
    jbuf_init(&b, 512 + (size_t)PQgetlength(res, 0, CC_BODY) * 2);
    jbuf_puts(&b, "{\"comment\":");
    comments_write(&b, res, 0, 0);
    jbuf_putc(&b, '}');
    api_respond_json(r, 201, &b);
}

void api_comments_create(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));
    struct api_errors errs = {0};
    const cJSON *obj;
    const char *body = NULL;
    char id[API_ID_LEN];
    const char *vals[3];

    if (r == NULL || api_auth(r, true) != 0 || (obj = api_body_object(r, "comment")) == NULL)
        return;
    api_validate_comment(obj, &body, &errs);
    if (errs.n > 0) {
        api_respond_errors(r, 422, &errs);
        return;
    }
    vals[0] = r->p1;
    vals[1] = api_viewer_text(r, id);
    vals[2] = body;
    (void)api_db(r, Q_COMMENT_INSERT, vals, comments_on_insert);
}

/* ---- DELETE ---- */

/* One row: article id, comment author, deleted count. */
static void comments_on_delete(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;

    if (st != DB_OK || PQntuples(res) != 1) {
        api_respond_db_failure(r, st == DB_OK ? DB_UNAVAILABLE : st, res);
        return;
    }
    if (PQgetisnull(res, 0, 0)) {
        api_respond_error(r, 404, "article", "not found");
        return;
    }
    if (PQgetisnull(res, 0, 1)) {
        api_respond_error(r, 404, "comment", "not found");
        return;
    }
    if (api_col_int(res, 0, 1) != r->viewer) {
        api_respond_error(r, 403, "comment", "forbidden");
        return;
    }
    if (api_col_int(res, 0, 2) != 1) {
        /* Ours, but a concurrent delete got there first. */
        api_respond_error(r, 404, "comment", "not found");
        return;
    }
    api_respond_empty(r, 204);
}

void api_comments_delete(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));
    char viewer[API_ID_LEN], cid[API_ID_LEN];
    const char *vals[3];
    int64_t id;

    if (r == NULL || api_auth(r, true) != 0)
        return;
    /* A non-numeric id names no comment: -1 matches nothing, so the answer
     * is the article's 404 or the comment's 404 as for any unknown id. */
    if (api_text_parse_uint(r->p2, INT64_MAX, &id) != 0)
        id = -1;
    snprintf(cid, sizeof(cid), "%lld", (long long)id);
    vals[0] = r->p1;
    vals[1] = cid;
    vals[2] = api_viewer_text(r, viewer);
    (void)api_db(r, Q_COMMENT_DELETE, vals, comments_on_delete);
}
