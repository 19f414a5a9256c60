/* The splaredb C quick start: create a database, insert texts in a transaction, search.
 *
 *   cc -I bindings/c/include bindings/c/examples/quickstart.c target/release/libsplaredb_c.a \
 *      -lpthread -ldl -lm -o quickstart
 *   ./quickstart my-db [MODEL]        (MODEL: a name in the model cache or a directory; default: the default model)
 */
#include <stdio.h>
#include <string.h>

#include "splaredb.h"

static int fail(const char *what, int rc) {
    fprintf(stderr, "%s: %s (%s)\n", what, splaredb_errmsg(), splaredb_errstr(rc));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DB [MODEL]\n", argv[0]);
        return 2;
    }
    splaredb_db *db = NULL;
    int rc = splaredb_open(argv[1], argc > 2 ? argv[2] : NULL, SPLAREDB_OPEN_CREATE, 0, &db);
    if (rc != SPLAREDB_OK) return fail("open", rc);

    const char *keys[] = {"lz4", "feh", "chrony"};
    const char *texts[] = {
        "A command-line tool that compresses files with the LZ4 algorithm.",
        "An image viewer for the desktop: PNG, JPEG and WebP, thumbnails and slideshows.",
        "Keeps the system clock in sync with time servers over NTP.",
    };
    splaredb_txn *txn = NULL;
    if ((rc = splaredb_begin(db, 0, &txn)) != SPLAREDB_OK) return fail("begin", rc);
    for (int i = 0; i < 3; i++) {
        rc = splaredb_insert_text(txn, keys[i], strlen(keys[i]), texts[i], "{\"source\": \"quickstart\"}",
                                  SPLAREDB_UPSERT);
        if (rc != SPLAREDB_OK) {
            splaredb_rollback(txn);
            return fail("insert", rc);
        }
    }
    uint64_t seq = 0;
    if ((rc = splaredb_commit(txn, &seq)) != SPLAREDB_OK) return fail("commit", rc);

    splaredb_results *res = NULL;
    rc = splaredb_search_text(db, "compress files quickly", 3, SPLAREDB_SEARCH_DOCUMENTS, &res);
    if (rc != SPLAREDB_OK) return fail("search", rc);
    printf("committed transaction %llu; top hits for \"compress files quickly\":\n", (unsigned long long)seq);
    for (size_t i = 0; i < splaredb_results_count(res); i++) {
        printf("%zu. %-8s %.3f  %s\n", i + 1, splaredb_results_key(res, i, NULL), splaredb_results_score(res, i),
               splaredb_results_text(res, i));
    }
    splaredb_results_free(res);
    if ((rc = splaredb_close(db)) != SPLAREDB_OK) return fail("close", rc);
    return 0;
}
