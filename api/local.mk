# api/local.mk: the Conduit API (routes, SQL, responses), included by the top Makefile.am.
api_libapi_a_SOURCES += api/api.h api/api_internal.h api/api.c \
	api/api_respond.c api/api_sql.c api/api_text.c api/api_text.h \
	api/api_users.c api/api_profiles.c api/api_articles.c api/api_favorites.c \
	api/api_comments.c api/api_tags.c api/api_validate.c api/api_validate.h
