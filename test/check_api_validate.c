/*
 * check_api_validate.c: unit tests for the request-body validation of the
 * routes (api/api_validate.c): the body and wrapper check, and each
 * route's field checks with the errors it answers 422 with.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "api_validate.h"
#include "suite_main.h"

/* Parse text through api_validate_body with key; the tree in *root. */
static const cJSON *body(const char *text, size_t max, const char *key, cJSON **root, int *status,
                         struct api_errors *errs)
{
    memset(errs, 0, sizeof(*errs));
    *root = NULL;
    *status = 0;
    return api_validate_body(text, strlen(text), max, key, root, errs, status);
}

/* Does errs hold field: message? */
static bool has_error(const struct api_errors *errs, const char *field, const char *message)
{
    for (int i = 0; i < errs->n; i++)
        if (strcmp(errs->e[i].field, field) == 0 && strcmp(errs->e[i].message, message) == 0)
            return true;
    return false;
}

START_TEST(test_body)
{
    struct api_errors errs;
    cJSON *root;
    int status;

    ck_assert_ptr_nonnull(body("{\"user\":{}}", 0, "user", &root, &status, &errs));
    ck_assert_int_eq(errs.n, 0);
    cJSON_Delete(root);
    ck_assert_ptr_null(body("", 0, "user", &root, &status, &errs));
    ck_assert_int_eq(status, 422);
    ck_assert(has_error(&errs, "request", "body is empty"));
    cJSON_Delete(root);
    ck_assert_ptr_null(body("{\"user\":", 0, "user", &root, &status, &errs));
    ck_assert(has_error(&errs, "request", "body is not valid JSON"));
    cJSON_Delete(root);
    ck_assert_ptr_null(body("[1]", 0, "user", &root, &status, &errs));
    ck_assert(has_error(&errs, "request", "body must be a JSON object"));
    cJSON_Delete(root);
    ck_assert_ptr_null(body("{\"user\":null}", 0, "user", &root, &status, &errs));
    ck_assert(has_error(&errs, "user", "can't be blank"));
    cJSON_Delete(root);
    ck_assert_ptr_null(body("{\"comment\":\"x\"}", 0, "comment", &root, &status, &errs));
    ck_assert(has_error(&errs, "comment", "must be an object"));
    ck_assert_int_eq(status, 422);
    cJSON_Delete(root);
    ck_assert_ptr_null(
        body("{\"user\":{\"a\":\"0123456789\"}}", 16, "user", &root, &status, &errs));
    ck_assert_int_eq(status, 413);
    ck_assert(has_error(&errs, "request", "body is too large for this route"));
    ck_assert_int_eq(errs.n, 1);
    cJSON_Delete(root);
}
END_TEST

START_TEST(test_register)
{
    struct api_user_fields f;
    struct api_errors errs;
    cJSON *root;
    int status;
    const cJSON *obj = body("{\"user\":{\"username\":\"alice\",\"email\":\"a@b\","
                            "\"password\":\"secret123\"}}",
                            API_AUTH_BODY_MAX, "user", &root, &status, &errs);

    memset(&f, 0, sizeof(f));
    api_validate_register(obj, &f, &errs);
    ck_assert_int_eq(errs.n, 0);
    ck_assert_int_eq(api_user_fields_copy(&f), 0);
    cJSON_Delete(root); /* the copies outlive the tree */
    ck_assert_str_eq(f.username, "alice");
    ck_assert_str_eq(f.email, "a@b");
    ck_assert_str_eq(f.password, "secret123");
    api_user_fields_free(&f);

    obj = body("{\"user\":{\"username\":\" \",\"email\":\"no-at\",\"password\":\"short\"}}", 0,
               "user", &root, &status, &errs);
    memset(&f, 0, sizeof(f));
    api_validate_register(obj, &f, &errs);
    ck_assert_int_eq(errs.n, 3);
    ck_assert(has_error(&errs, "username", "can't be blank"));
    ck_assert(has_error(&errs, "email", "is invalid"));
    ck_assert(has_error(&errs, "password", "is too short (minimum is 8 characters)"));
    cJSON_Delete(root);

    obj = body("{\"user\":{\"email\":1}}", 0, "user", &root, &status, &errs);
    memset(&f, 0, sizeof(f));
    api_validate_register(obj, &f, &errs);
    ck_assert(has_error(&errs, "username", "can't be blank"));
    ck_assert(has_error(&errs, "email", "must be a string"));
    ck_assert(has_error(&errs, "password", "can't be blank"));
    cJSON_Delete(root);
}
END_TEST

START_TEST(test_login)
{
    struct api_user_fields f;
    struct api_errors errs;
    cJSON *root;
    int status;
    const cJSON *obj =
        body("{\"user\":{\"email\":\"x\",\"password\":\"p\"}}", 0, "user", &root, &status, &errs);

    /* Login checks presence only: a short password or odd email is a 401
     * from the lookup, not a 422. */
    memset(&f, 0, sizeof(f));
    api_validate_login(obj, &f, &errs);
    ck_assert_int_eq(errs.n, 0);
    ck_assert_str_eq(f.email, "x");
    cJSON_Delete(root);
    obj = body("{\"user\":{\"password\":null}}", 0, "user", &root, &status, &errs);
    memset(&f, 0, sizeof(f));
    api_validate_login(obj, &f, &errs);
    ck_assert_int_eq(errs.n, 2);
    ck_assert(has_error(&errs, "email", "can't be blank"));
    ck_assert(has_error(&errs, "password", "can't be blank"));
    cJSON_Delete(root);
}
END_TEST

START_TEST(test_update)
{
    struct api_user_fields f;
    struct api_errors errs;
    cJSON *root;
    int status;
    const cJSON *obj =
        body("{\"user\":{\"bio\":null,\"image\":\"\"}}", 0, "user", &root, &status, &errs);

    memset(&f, 0, sizeof(f));
    api_validate_update(obj, &f, &errs);
    ck_assert_int_eq(errs.n, 0);
    ck_assert(f.set_bio && f.set_image);
    ck_assert_ptr_null(f.bio);
    ck_assert_ptr_null(f.image);
    ck_assert_ptr_null(f.username);
    cJSON_Delete(root);
    obj = body("{\"user\":{\"bio\":\"hi\"}}", 0, "user", &root, &status, &errs);
    memset(&f, 0, sizeof(f));
    api_validate_update(obj, &f, &errs);
    ck_assert_int_eq(api_user_fields_copy(&f), 0);
    cJSON_Delete(root);
    ck_assert(f.set_bio && !f.set_image);
    ck_assert_str_eq(f.bio, "hi");
    api_user_fields_free(&f);
    obj = body("{\"user\":{}}", 0, "user", &root, &status, &errs);
    memset(&f, 0, sizeof(f));
    api_validate_update(obj, &f, &errs);
    ck_assert(has_error(&errs, "user", "can't be blank"));
    cJSON_Delete(root);
    obj = body("{\"user\":{\"image\":5}}", 0, "user", &root, &status, &errs);
    memset(&f, 0, sizeof(f));
    api_validate_update(obj, &f, &errs);
    ck_assert(has_error(&errs, "image", "must be a string or null"));
    ck_assert_int_eq(errs.n, 1);
    cJSON_Delete(root);
}
END_TEST

START_TEST(test_article)
{
    struct api_article_fields f = {0};
    struct api_errors errs;
    cJSON *root;
    int status;
    const cJSON *obj = body("{\"article\":{\"title\":\"T\",\"description\":\"D\",\"body\":\"B\","
                            "\"tagList\":[\"b\",\"a\",\" \",\"a\"]}}",
                            0, "article", &root, &status, &errs);

    api_validate_article(obj, true, &f, &errs);
    ck_assert_int_eq(errs.n, 0);
    ck_assert_str_eq(f.title, "T");
    ck_assert_str_eq(f.tags_json, "[\"a\",\"b\"]");
    free(f.tags_json);
    cJSON_Delete(root);

    memset(&f, 0, sizeof(f));
    obj = body("{\"article\":{\"title\":\"T\"}}", 0, "article", &root, &status, &errs);
    api_validate_article(obj, true, &f, &errs);
    ck_assert(has_error(&errs, "description", "can't be blank"));
    ck_assert(has_error(&errs, "body", "can't be blank"));
    ck_assert_ptr_null(f.tags_json);
    cJSON_Delete(root);

    memset(&f, 0, sizeof(f));
    obj = body("{\"article\":{\"tagList\":null}}", 0, "article", &root, &status, &errs);
    api_validate_article(obj, false, &f, &errs);
    ck_assert_int_eq(errs.n, 1);
    ck_assert(has_error(&errs, "tagList", "can't be null"));
    cJSON_Delete(root);

    memset(&f, 0, sizeof(f));
    obj = body("{\"article\":{\"tagList\":[\"a\",1]}}", 0, "article", &root, &status, &errs);
    api_validate_article(obj, false, &f, &errs);
    ck_assert(has_error(&errs, "tagList", "must be an array of strings"));
    cJSON_Delete(root);

    memset(&f, 0, sizeof(f));
    obj = body("{\"article\":{}}", 0, "article", &root, &status, &errs);
    api_validate_article(obj, false, &f, &errs);
    ck_assert(has_error(&errs, "article", "can't be blank"));
    cJSON_Delete(root);

    memset(&f, 0, sizeof(f));
    obj = body("{\"article\":{\"tagList\":[]}}", 0, "article", &root, &status, &errs);
    api_validate_article(obj, false, &f, &errs);
    ck_assert_int_eq(errs.n, 0);
    ck_assert_str_eq(f.tags_json, "[]"); /* [] clears the tags */
    free(f.tags_json);
    cJSON_Delete(root);
}
END_TEST

START_TEST(test_comment)
{
    struct api_errors errs;
    const char *text = NULL;
    cJSON *root;
    int status;
    const cJSON *obj =
        body("{\"comment\":{\"body\":\"nice\"}}", 0, "comment", &root, &status, &errs);

    api_validate_comment(obj, &text, &errs);
    ck_assert_int_eq(errs.n, 0);
    ck_assert_str_eq(text, "nice");
    cJSON_Delete(root);
    obj = body("{\"comment\":{\"body\":\" \"}}", 0, "comment", &root, &status, &errs);
    api_validate_comment(obj, &text, &errs);
    ck_assert(has_error(&errs, "body", "can't be blank"));
    ck_assert_ptr_null(text);
    cJSON_Delete(root);
    obj = body("{\"comment\":{\"body\":[]}}", 0, "comment", &root, &status, &errs);
    api_validate_comment(obj, &text, &errs);
    ck_assert(has_error(&errs, "body", "must be a string"));
    cJSON_Delete(root);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        test_body, test_register, test_login, test_update, test_article, test_comment,
    };

    return suite_main_run("api_validate", tests, sizeof(tests) / sizeof(tests[0]), 0);
}
