/* The C API from C: the happy path, every error code that can be provoked, and misuse (NULL handles, use
 * after close, double free). Run by bindings/c/run-tests.sh (and under valgrind when it is installed).
 *
 *   test_api TINY_MODEL_DIR OTHER_MODEL_DIR SCRATCH_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splaredb.h"

static int failures = 0;
static char scratch[2048];

#define EXPECT(expr, code)                                                                                   \
    do {                                                                                                     \
        int rc_ = (expr);                                                                                    \
        if (rc_ != (code)) {                                                                                 \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d; errmsg: %s\n", __FILE__, __LINE__, #expr, \
                    rc_, splaredb_errstr(rc_), (code), splaredb_errmsg());                                   \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

#define EXPECT_TRUE(cond)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: expected %s; errmsg: %s\n", __FILE__, __LINE__, #cond,     \
                    splaredb_errmsg());                                                        \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

static const char *path(const char *name) {
    static char buf[8][4096];
    static int next = 0;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", scratch, name);
    return p;
}

static int insert(splaredb_txn *txn, const char *key, const char *text, const char *meta) {
    return splaredb_insert_text(txn, key, strlen(key), text, meta, 0);
}

static void happy_path(const char *model) {
    splaredb_db *db = NULL;
    EXPECT(splaredb_open(path("happy"), model, SPLAREDB_OPEN_CREATE | SPLAREDB_OPEN_FULL_SYNC, 0, &db), SPLAREDB_OK);
    EXPECT_TRUE(db != NULL);
    uint32_t dims = 0;
    EXPECT(splaredb_dims(db, &dims), SPLAREDB_OK);
    EXPECT_TRUE(dims == 256);

    splaredb_txn *txn = NULL;
    EXPECT(splaredb_begin(db, 0, &txn), SPLAREDB_OK);
    EXPECT(insert(txn, "lz4", "a tool that compresses files quickly", "{\"section\": \"utils\"}"), SPLAREDB_OK);
    EXPECT(insert(txn, "feh", "an image viewer for pictures", NULL), SPLAREDB_OK);
    EXPECT(insert(txn, "ntp", "keeps the clock in sync with time servers", NULL), SPLAREDB_OK);
    const uint32_t ids[] = {1, 7, 200};
    const float weights[] = {0.5f, 1.25f, 2.0f};
    EXPECT(splaredb_insert_vector(txn, "vec", 3, ids, weights, 3, "a vector document", "[1, 2]", 0), SPLAREDB_OK);
    const char binary_key[] = {'b', 0, 'k'};
    EXPECT(splaredb_insert_vector(txn, binary_key, 3, ids, weights, 3, NULL, NULL, 0), SPLAREDB_OK);
    uint64_t seq = 0;
    EXPECT(splaredb_commit(txn, &seq), SPLAREDB_OK);
    EXPECT_TRUE(seq > 0);
    uint64_t count = 0;
    EXPECT(splaredb_count(db, &count), SPLAREDB_OK);
    EXPECT_TRUE(count == 5);

    splaredb_results *res = NULL;
    EXPECT(splaredb_search_text(db, "compress files", 10, SPLAREDB_SEARCH_DOCUMENTS, &res), SPLAREDB_OK);
    size_t n = splaredb_results_count(res);
    EXPECT_TRUE(n >= 3 && n <= 5);
    float last = 1e30f;
    int found_lz4 = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *key = splaredb_results_key(res, i, &len);
        float score = splaredb_results_score(res, i);
        EXPECT_TRUE(key != NULL && len == strlen(key));
        EXPECT_TRUE(score <= last);
        last = score;
        if (strcmp(key, "lz4") == 0) {
            found_lz4 = 1;
            EXPECT_TRUE(strcmp(splaredb_results_text(res, i), "a tool that compresses files quickly") == 0);
            EXPECT_TRUE(strcmp(splaredb_results_metadata(res, i), "{\"section\":\"utils\"}") == 0);
        }
    }
    EXPECT_TRUE(found_lz4);
    EXPECT_TRUE(splaredb_results_key(res, n, NULL) == NULL);  /* out of range */
    EXPECT(splaredb_results_free(res), SPLAREDB_OK);

    const uint32_t q_ids[] = {7, 200};
    const float q_weights[] = {1.0f, 1.0f};
    EXPECT(splaredb_search_vector(db, q_ids, q_weights, 2, 2, 0, &res), SPLAREDB_OK);
    EXPECT_TRUE(splaredb_results_count(res) == 2);
    size_t len = 0;
    EXPECT_TRUE(strcmp(splaredb_results_key(res, 0, &len), "b?k") == 0 && len == 3); /* ties: key order */
    EXPECT_TRUE(strcmp(splaredb_results_key(res, 1, NULL), "vec") == 0);
    EXPECT_TRUE(splaredb_results_text(res, 1) == NULL); /* no SPLAREDB_SEARCH_DOCUMENTS */
    EXPECT(splaredb_results_free(res), SPLAREDB_OK);
    EXPECT(splaredb_search_text(db, "compress files", 2, SPLAREDB_SEARCH_APPROX | SPLAREDB_SEARCH_RESCORE, &res),
           SPLAREDB_OK);
    EXPECT_TRUE(splaredb_results_count(res) == 2);
    EXPECT(splaredb_results_free(res), SPLAREDB_OK);
    EXPECT(splaredb_search_text(db, "   ", 5, 0, &res), SPLAREDB_OK); /* a blank query has no hits */
    EXPECT_TRUE(splaredb_results_count(res) == 0);
    EXPECT(splaredb_results_free(res), SPLAREDB_OK);

    int existed = -1;
    EXPECT(splaredb_begin(db, SPLAREDB_BEGIN_NOWAIT, &txn), SPLAREDB_OK);
    EXPECT(splaredb_delete(txn, "feh", 3, &existed), SPLAREDB_OK);
    EXPECT_TRUE(existed == 1);
    EXPECT(splaredb_delete(txn, "nothing", 7, &existed), SPLAREDB_OK);
    EXPECT_TRUE(existed == 0);
    EXPECT(splaredb_insert_text(txn, "lz4", 3, "replaced text about compression", NULL, SPLAREDB_UPSERT),
           SPLAREDB_OK);
    EXPECT(splaredb_commit(txn, NULL), SPLAREDB_OK);
    EXPECT(splaredb_begin(db, 0, &txn), SPLAREDB_OK);
    EXPECT(insert(txn, "gone", "rolled back text", NULL), SPLAREDB_OK);
    EXPECT(splaredb_rollback(txn), SPLAREDB_OK);
    EXPECT(splaredb_count(db, &count), SPLAREDB_OK);
    EXPECT_TRUE(count == 4);

    EXPECT(splaredb_checkpoint(db), SPLAREDB_OK);
    EXPECT(splaredb_compact(db), SPLAREDB_OK);
    EXPECT(splaredb_check(db), SPLAREDB_OK);
    EXPECT(splaredb_close(db), SPLAREDB_OK);

    /* Reopened with the recorded model: NULL model, and it is not in the cache, so name it again. */
    EXPECT(splaredb_open(path("happy"), model, SPLAREDB_OPEN_READONLY, 0, &db), SPLAREDB_OK);
    EXPECT(splaredb_count(db, &count), SPLAREDB_OK);
    EXPECT_TRUE(count == 4);
    EXPECT(splaredb_close(db), SPLAREDB_OK);
}

static void error_codes(const char *model, const char *other_model) {
    splaredb_db *db = NULL, *db2 = NULL;
    splaredb_txn *txn = NULL, *txn2 = NULL;
    splaredb_results *res = NULL;
    EXPECT(splaredb_open(path("errors"), model, SPLAREDB_OPEN_CREATE, 0, &db), SPLAREDB_OK);
    EXPECT(splaredb_begin(db, 0, &txn), SPLAREDB_OK);
    EXPECT(insert(txn, "dup", "some text", NULL), SPLAREDB_OK);
    EXPECT(insert(txn, "dup", "other text", NULL), SPLAREDB_CONSTRAINT);
    EXPECT_TRUE(strstr(splaredb_errmsg(), "\"dup\"") != NULL);
    EXPECT(splaredb_insert_text(txn, "", 0, "text", NULL, 0), SPLAREDB_INVALID);         /* empty key */
    EXPECT(insert(txn, "meta", "text", "{not json"), SPLAREDB_INVALID);                   /* metadata */
    EXPECT_TRUE(strstr(splaredb_errmsg(), "not JSON") != NULL);
    EXPECT(insert(txn, "utf8", "\xff\xfe bad", NULL), SPLAREDB_INVALID);                  /* not UTF-8 */
    EXPECT(insert(txn, "blank", "  \t ", NULL), SPLAREDB_EMPTY);
    const uint32_t out_of_range[] = {5000};
    const uint32_t unsorted[] = {9, 3};
    const float w1[] = {1.0f}, w2[] = {1.0f, 1.0f}, negative[] = {-1.0f};
    EXPECT(splaredb_insert_vector(txn, "r1", 2, out_of_range, w1, 1, NULL, NULL, 0), SPLAREDB_RANGE);
    EXPECT_TRUE(strstr(splaredb_errmsg(), "5000") != NULL);
    EXPECT(splaredb_insert_vector(txn, "r2", 2, unsorted, w2, 2, NULL, NULL, 0), SPLAREDB_RANGE);
    EXPECT(splaredb_insert_vector(txn, "r3", 2, out_of_range + 0, negative, 1, NULL, NULL, 0), SPLAREDB_RANGE);
    EXPECT(splaredb_begin(db, SPLAREDB_BEGIN_NOWAIT, &txn2), SPLAREDB_BUSY);
    EXPECT_TRUE(txn2 == NULL);
    EXPECT(splaredb_commit(txn, NULL), SPLAREDB_OK);
    EXPECT(splaredb_search_vector(db, out_of_range, w1, 1, 5, 0, &res), SPLAREDB_RANGE);
    EXPECT_TRUE(res == NULL);

    EXPECT(splaredb_open(path("errors"), model, 0, 0, &db2), SPLAREDB_LOCKED);         /* the lock is held */
    EXPECT_TRUE(db2 == NULL);
    EXPECT(splaredb_checkpoint(db), SPLAREDB_OK);
    EXPECT(splaredb_close(db), SPLAREDB_OK);

    EXPECT(splaredb_open(path("errors"), other_model, 0, 0, &db), SPLAREDB_MISMATCH);
    EXPECT(splaredb_open(path("absent"), NULL, SPLAREDB_OPEN_NO_MODEL, 0, &db), SPLAREDB_NOTFOUND);
    EXPECT(splaredb_open(path("errors"), path("no-such-model-dir"), 0, 0, &db), SPLAREDB_ENCODER);
    EXPECT(splaredb_open(path("vec"), NULL, SPLAREDB_OPEN_CREATE | SPLAREDB_OPEN_NO_MODEL, 0, &db),
           SPLAREDB_INVALID); /* a vector-only database needs dims */

    EXPECT(splaredb_open(path("errors"), NULL, SPLAREDB_OPEN_NO_MODEL | SPLAREDB_OPEN_READONLY, 0, &db),
           SPLAREDB_OK);
    EXPECT(splaredb_search_text(db, "text", 5, 0, &res), SPLAREDB_NOENCODER);
    EXPECT(splaredb_begin(db, 0, &txn), SPLAREDB_READONLY);
    EXPECT(splaredb_close(db), SPLAREDB_OK);

    /* A file where the directory should be. */
    FILE *f = fopen(path("plain-file"), "w");
    fputs("x", f);
    fclose(f);
    EXPECT(splaredb_open(path("plain-file"), NULL, SPLAREDB_OPEN_CREATE | SPLAREDB_OPEN_NO_MODEL, 8, &db),
           SPLAREDB_IOERR);
    EXPECT_TRUE(strstr(splaredb_errmsg(), "plain-file") != NULL);
}

static void corruption(void) {
    splaredb_db *db = NULL;
    splaredb_txn *txn = NULL;
    EXPECT(splaredb_open(path("corrupt"), NULL, SPLAREDB_OPEN_CREATE | SPLAREDB_OPEN_NO_MODEL, 64, &db),
           SPLAREDB_OK);
    EXPECT(splaredb_begin(db, 0, &txn), SPLAREDB_OK);
    const uint32_t ids[] = {1, 2, 3};
    const float w[] = {1.0f, 2.0f, 3.0f};
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k%d", i);
        EXPECT(splaredb_insert_vector(txn, key, strlen(key), ids, w, 3, "text", NULL, 0), SPLAREDB_OK);
    }
    EXPECT(splaredb_commit(txn, NULL), SPLAREDB_OK);
    EXPECT(splaredb_checkpoint(db), SPLAREDB_OK); /* writes a segment, <16 hex digits>.seg */
    EXPECT(splaredb_close(db), SPLAREDB_OK);
    char seg[4096];
    int damaged = 0;
    for (int id = 1; id < 16 && !damaged; id++) {
        snprintf(seg, sizeof seg, "%s/%016x.seg", path("corrupt"), id);
        FILE *f = fopen(seg, "r+b");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size / 2, SEEK_SET);
        int c = fgetc(f);
        fseek(f, size / 2, SEEK_SET);
        fputc(c ^ 0xFF, f);
        fclose(f);
        damaged = 1;
    }
    EXPECT_TRUE(damaged);
    EXPECT(splaredb_open(path("corrupt"), NULL, SPLAREDB_OPEN_NO_MODEL, 0, &db), SPLAREDB_CORRUPT);
    EXPECT_TRUE(strstr(splaredb_errmsg(), ".seg") != NULL);
}

static void misuse(const char *model) {
    splaredb_db *db = NULL;
    splaredb_txn *txn = NULL;
    splaredb_results *res = NULL;
    uint64_t count;
    /* NULL handles and arguments */
    EXPECT(splaredb_open(NULL, NULL, 0, 0, &db), SPLAREDB_MISUSE);
    EXPECT(splaredb_open(path("m"), NULL, SPLAREDB_OPEN_CREATE | SPLAREDB_OPEN_NO_MODEL, 8, NULL), SPLAREDB_MISUSE);
    EXPECT(splaredb_open(path("m"), NULL, 0x4000, 8, &db), SPLAREDB_MISUSE); /* unknown flag */
    EXPECT(splaredb_close(NULL), SPLAREDB_MISUSE);
    EXPECT(splaredb_count(NULL, &count), SPLAREDB_MISUSE);
    EXPECT(splaredb_begin(NULL, 0, &txn), SPLAREDB_MISUSE);
    EXPECT(splaredb_search_text(NULL, "q", 5, 0, &res), SPLAREDB_MISUSE);
    EXPECT(insert(NULL, "k", "text", NULL), SPLAREDB_MISUSE);
    EXPECT(splaredb_commit(NULL, NULL), SPLAREDB_MISUSE);
    EXPECT(splaredb_rollback(NULL), SPLAREDB_OK); /* as free(NULL) */
    EXPECT(splaredb_results_free(NULL), SPLAREDB_OK);
    EXPECT_TRUE(splaredb_results_count(NULL) == 0 && splaredb_results_key(NULL, 0, NULL) == NULL);

    EXPECT(splaredb_open(path("m"), model, SPLAREDB_OPEN_CREATE, 0, &db), SPLAREDB_OK);
    EXPECT(splaredb_count(db, NULL), SPLAREDB_MISUSE);
    EXPECT(splaredb_search_text(db, NULL, 5, 0, &res), SPLAREDB_MISUSE);
    EXPECT(splaredb_search_text(db, "q", 5, 0, NULL), SPLAREDB_MISUSE);
    EXPECT(splaredb_search_text(db, "q", 5, 0x100, &res), SPLAREDB_MISUSE);
    EXPECT(splaredb_search_vector(db, NULL, NULL, 3, 5, 0, &res), SPLAREDB_MISUSE);
    EXPECT(splaredb_begin(db, 0, &txn), SPLAREDB_OK);
    EXPECT(splaredb_insert_text(txn, NULL, 3, "text", NULL, 0), SPLAREDB_MISUSE);
    EXPECT(splaredb_insert_text(txn, "k", 1, NULL, NULL, 0), SPLAREDB_MISUSE);
    EXPECT(splaredb_insert_text(txn, "k", 1, "text", NULL, 0x10), SPLAREDB_MISUSE);
    /* wrong kind of handle */
    EXPECT(splaredb_count((splaredb_db *)txn, &count), SPLAREDB_MISUSE);
    EXPECT(splaredb_commit((splaredb_txn *)db, NULL), SPLAREDB_MISUSE);
    EXPECT(splaredb_commit(txn, NULL), SPLAREDB_OK);
    /* use after commit, double commit, double rollback */
    EXPECT(insert(txn, "k", "text", NULL), SPLAREDB_MISUSE);
    EXPECT_TRUE(strstr(splaredb_errmsg(), "transaction") != NULL);
    EXPECT(splaredb_commit(txn, NULL), SPLAREDB_MISUSE);
    EXPECT(splaredb_rollback(txn), SPLAREDB_MISUSE);
    /* results double free and use after free */
    EXPECT(splaredb_search_text(db, "q", 5, 0, &res), SPLAREDB_OK);
    EXPECT(splaredb_results_free(res), SPLAREDB_OK);
    EXPECT(splaredb_results_free(res), SPLAREDB_MISUSE);
    size_t n;
    EXPECT(splaredb_results_len(res, &n), SPLAREDB_MISUSE);
    EXPECT_TRUE(splaredb_results_key(res, 0, NULL) == NULL);
    /* closing with an open transaction is refused; the database stays usable */
    EXPECT(splaredb_begin(db, 0, &txn), SPLAREDB_OK);
    EXPECT(splaredb_close(db), SPLAREDB_BUSY);
    EXPECT(insert(txn, "late", "written after the refused close", NULL), SPLAREDB_OK);
    EXPECT(splaredb_commit(txn, NULL), SPLAREDB_OK);
    EXPECT(splaredb_close(db), SPLAREDB_OK);
    /* use after close, double close */
    EXPECT(splaredb_count(db, &count), SPLAREDB_MISUSE);
    EXPECT_TRUE(strstr(splaredb_errmsg(), "not an open database handle") != NULL);
    EXPECT(splaredb_search_text(db, "q", 5, 0, &res), SPLAREDB_MISUSE);
    EXPECT(splaredb_close(db), SPLAREDB_MISUSE);
    EXPECT(splaredb_open(path("m"), model, 0, 0, &db), SPLAREDB_OK);
    EXPECT(splaredb_count(db, &count), SPLAREDB_OK);
    EXPECT_TRUE(count == 1);
    EXPECT(splaredb_close(db), SPLAREDB_OK);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s TINY_MODEL_DIR OTHER_MODEL_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    snprintf(scratch, sizeof scratch, "%s", argv[3]);
    printf("splaredb %s\n", splaredb_libversion());
    happy_path(argv[1]);
    error_codes(argv[1], argv[2]);
    corruption();
    misuse(argv[1]);
    EXPECT_TRUE(strcmp(splaredb_errstr(SPLAREDB_CORRUPT), "database file is damaged") == 0);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all C API checks passed\n");
    return 0;
}
