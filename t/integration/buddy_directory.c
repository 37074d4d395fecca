/*
 * buddy_directory.c — the buddy plugin's directory over the real protocol
 * against real MariaDB: departments and users with incremental sync across
 * edits made in MySQL while the server runs (renamed user, user who left,
 * new department, same-second edits), a 20,000-user full sync split into
 * pages under the frame cap, paging with tiny pages, user info, imgate-cli,
 * and hostile input (malformed bodies, oversized id lists, a second sync on
 * one connection, requests before login).
 */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buddy_util.h"

static harness *h;

#define T0 1700000100u

/* --- decoding helpers ------------------------------------------------------------------------------ */

typedef struct user_seen {
    uint32_t id, status, dept;
    char nick[64], sign[160];
} user_seen;

typedef struct sync_result {
    user_seen users[64];
    size_t n;
    uint32_t latest; /* of the last page */
    size_t pages;
    int complete;
} sync_result;

static void sync_users(imgate_client *c, uint32_t since, sync_result *r)
{
    memset(r, 0, sizeof *r);
    buddy_pages pages;
    buddy_all_users(c, since, &pages);
    r->pages = pages.n;
    r->complete = pages.complete;
    for (size_t p = 0; p < pages.n; p++) {
        IM__Buddy__IMAllUserRsp *rsp = im__buddy__imall_user_rsp__unpack(NULL, pages.pdu[p].body_len, pages.pdu[p].body);
        if (rsp == NULL) {
            r->complete = 0;
            break;
        }
        r->latest = rsp->latest_update_time;
        for (size_t i = 0; i < rsp->n_user_list && r->n < 64; i++) {
            user_seen *u = &r->users[r->n++];
            u->id = rsp->user_list[i]->user_id;
            u->status = rsp->user_list[i]->status;
            u->dept = rsp->user_list[i]->department_id;
            snprintf(u->nick, sizeof u->nick, "%s", rsp->user_list[i]->user_nick_name);
            snprintf(u->sign, sizeof u->sign, "%s", rsp->user_list[i]->sign_info ? rsp->user_list[i]->sign_info : "");
        }
        im__buddy__imall_user_rsp__free_unpacked(rsp, NULL);
    }
    buddy_pages_free(&pages);
}

static const user_seen *find_user(const sync_result *r, uint32_t id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->users[i].id == id)
            return &r->users[i];
    return NULL;
}

static IM__Buddy__IMDepartmentRsp *departments(imgate_client *c, uint32_t since)
{
    IM__Buddy__IMDepartmentReq req = IM__BUDDY__IMDEPARTMENT_REQ__INIT;
    req.latest_update_time = since;
    imgate_client_pdu *pdu =
        buddy_call_pdu(c, CID_BUDDY_LIST_DEPARTMENT_REQUEST, &req.base, CID_BUDDY_LIST_DEPARTMENT_RESPONSE, 5000);
    return pdu ? im__buddy__imdepartment_rsp__unpack(NULL, pdu->body_len, pdu->body) : NULL;
}

static const IM__BaseDefine__DepartInfo *find_dept(const IM__Buddy__IMDepartmentRsp *r, uint32_t id)
{
    for (size_t i = 0; r && i < r->n_dept_list; i++)
        if (r->dept_list[i]->dept_id == id)
            return r->dept_list[i];
    return NULL;
}

/* --- departments ---------------------------------------------------------------------------------- */

static void test_departments(void)
{
    imgate_client *c = buddy_login(h, 0, "alice", CLIENT_WINDOWS);
    IM__Buddy__IMDepartmentRsp *r = departments(c, 0);
    tap_ok(r != NULL, "departments: a parseable IMDepartmentRsp (every required field present)");
    if (r == NULL)
        return;
    tap_is_int(r->n_dept_list, 3, "time 0: every department");
    tap_is_int(r->latest_update_time, T0 + 300, "latest_update_time is the newest change returned");
    const IM__BaseDefine__DepartInfo *d = find_dept(r, 2);
    tap_ok(d && strcmp(d->dept_name, "Sales") == 0 && d->parent_dept_id == 1 && d->priority == 2 &&
               d->dept_status == DEPT_STATUS_OK,
           "each DepartInfo field comes from IMDepart");
    d = find_dept(r, 3);
    tap_ok(d && d->dept_status == DEPT_STATUS_DELETE, "a status clients do not know (5) is sent as deleted");
    tap_is_int(r->user_id, 101, "user_id is the requester");
    im__buddy__imdepartment_rsp__free_unpacked(r, NULL);

    r = departments(c, T0 + 200);
    tap_ok(r && r->n_dept_list == 2 && find_dept(r, 2) && find_dept(r, 3),
           "from a time: the departments changed at or after it (>=: same-second changes are not lost)");
    im__buddy__imdepartment_rsp__free_unpacked(r, NULL);

    r = departments(c, 4000000000u);
    tap_ok(r && r->n_dept_list == 0 && r->latest_update_time == 4000000000u,
           "nothing changed: an empty list and the request's own time");
    im__buddy__imdepartment_rsp__free_unpacked(r, NULL);

    /* Edits in MySQL while the server runs: a new department and a renamed one. */
    sqlf(h, "INSERT INTO IMDepart (id, departName, priority, parentId, status, created, updated) VALUES"
            " (4, 'Support', 4, 1, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP())");
    sqlf(h, "UPDATE IMDepart SET departName = 'Sales EMEA', updated = UNIX_TIMESTAMP() WHERE id = 2");
    r = departments(c, T0 + 300);
    tap_ok(r && find_dept(r, 4) && find_dept(r, 2) && strcmp(find_dept(r, 2)->dept_name, "Sales EMEA") == 0,
           "a department created and one renamed in MySQL come in the next incremental sync");
    tap_ok(r && r->latest_update_time >= (uint32_t)sql_num(h, "SELECT UNIX_TIMESTAMP()") - 5,
           "and latest_update_time moves to their time");
    im__buddy__imdepartment_rsp__free_unpacked(r, NULL);

    /* Hostile input: a body that does not decode is not answered, and the connection stays. */
    uint16_t seq;
    const uint8_t junk[] = {0x08, 0x96};
    imgate_client_send(c, SID_BUDDY_LIST, CID_BUDDY_LIST_DEPARTMENT_REQUEST, junk, sizeof junk, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(c, CID_BUDDY_LIST_DEPARTMENT_RESPONSE, seq, &pdu, 700), IMGATE_CLIENT_TIMEOUT,
               "departments: a malformed body gets no answer");
    tap_ok(heartbeat_ok(c), "departments: the connection stays usable");
    imgate_client_close(c);
}

/* --- users ------------------------------------------------------------------------------------------ */

static void test_users_full(void)
{
    imgate_client *c = buddy_login(h, 0, "alice", CLIENT_WINDOWS);
    sync_result r;
    sync_users(c, 0, &r);
    tap_ok(r.complete && r.pages == 1, "all users: one complete page for a small directory");
    tap_is_int(r.n, 4, "time 0: every user except the one who left (status 3)");
    tap_ok(find_user(&r, 104) == NULL, "the user with status 3 is not in the full list");
    tap_ok(find_user(&r, 105) && find_user(&r, 105)->status == 1, "a status other than 3 (trial) is listed");
    tap_is_int(r.latest, T0 + 500, "latest_update_time is the newest change returned");

    /* Every UserInfo field, once, from the raw reply. */
    buddy_pages pages;
    buddy_all_users(c, 0, &pages);
    IM__Buddy__IMAllUserRsp *rsp =
        pages.n ? im__buddy__imall_user_rsp__unpack(NULL, pages.pdu[0].body_len, pages.pdu[0].body) : NULL;
    IM__BaseDefine__UserInfo *u = NULL;
    for (size_t i = 0; rsp && i < rsp->n_user_list; i++)
        if (rsp->user_list[i]->user_id == 102)
            u = rsp->user_list[i];
    tap_ok(u != NULL, "bob is listed");
    if (u) {
        tap_ok(u->user_gender == 1 && strcmp(u->user_nick_name, "Nick bob") == 0 &&
                   strcmp(u->avatar_url, "http://av/bob.png") == 0 && u->department_id == 1 &&
                   strcmp(u->email, "bob@example.com") == 0 && strcmp(u->user_real_name, "bob") == 0 &&
                   strcmp(u->user_tel, "13900000102") == 0 && strcmp(u->user_domain, "bob_dom") == 0 &&
                   u->status == 0 && u->sign_info && strcmp(u->sign_info, "sign of bob") == 0,
               "every UserInfo field is present and comes from IMUser");
    }
    tap_ok(rsp && rsp->user_id == 101 && !rsp->has_attach_data, "user_id is the requester; no page marker");
    if (rsp)
        im__buddy__imall_user_rsp__free_unpacked(rsp, NULL);
    buddy_pages_free(&pages);

    uint16_t seq;
    const uint8_t junk[] = {0x08, 0x65}; /* user_id only: latest_update_time is required */
    imgate_client_send(c, SID_BUDDY_LIST, CID_BUDDY_LIST_ALL_USER_REQUEST, junk, sizeof junk, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(c, CID_BUDDY_LIST_ALL_USER_RESPONSE, seq, &pdu, 700), IMGATE_CLIENT_TIMEOUT,
               "all users: a malformed body gets no answer");
    tap_ok(heartbeat_ok(c), "all users: the connection stays usable");
    imgate_client_close(c);
}

static void test_users_incremental(void)
{
    imgate_client *c = buddy_login(h, 0, "alice", CLIENT_WINDOWS);
    sync_result r;
    sync_users(c, T0 + 300, &r);
    tap_ok(r.n == 3 && find_user(&r, 103) && find_user(&r, 104) && find_user(&r, 105),
           "from a time: every user changed at or after it");
    tap_ok(find_user(&r, 104) && find_user(&r, 104)->status == 3,
           "a user who left is in incremental replies, with status 3, so clients drop them");

    /* A client that keeps each reply's latest_update_time as its next start. */
    uint32_t cursor = r.latest;
    sync_users(c, cursor, &r);
    tap_ok(r.complete && find_user(&r, 105) && r.n == 1 && r.latest == cursor - 1,
           "asking again from the same time: the users of that second again, and a latest_update_time one "
           "less (the Windows client ignores a reply that echoes its own time)");

    /* Edits made in MySQL while the server runs appear in the next sync (no reference bug J.5). */
    sqlf(h, "UPDATE IMUser SET nick = 'Alice Renamed', updated = UNIX_TIMESTAMP() WHERE id = 101");
    sqlf(h, "UPDATE IMUser SET status = 3, updated = UNIX_TIMESTAMP() WHERE id = 102");
    sync_users(c, cursor, &r);
    tap_ok(find_user(&r, 101) && strcmp(find_user(&r, 101)->nick, "Alice Renamed") == 0,
           "a user renamed in MySQL is in the next incremental sync");
    tap_ok(find_user(&r, 102) && find_user(&r, 102)->status == 3, "a user who left since is in it with status 3");
    uint32_t now_latest = r.latest;
    tap_ok(now_latest > cursor, "latest_update_time moved forward");

    /* A second edit in the very second of that sync: it has updated == latest_update_time. */
    sqlf(h, "UPDATE IMUser SET sign_info = 'same second', updated = %u WHERE id = 103", now_latest);
    sync_users(c, now_latest, &r);
    tap_ok(find_user(&r, 103) && strcmp(find_user(&r, 103)->sign, "same second") == 0,
           "an edit stamped with the very second of the client's latest_update_time is not lost");

    sync_users(c, 0, &r);
    tap_ok(find_user(&r, 102) == NULL && r.n == 3, "the full list no longer has the user who left");
    sync_users(c, 4000000000u, &r);
    tap_ok(r.complete && r.n == 0 && r.latest == 4000000000u, "nothing changed: no users, the request's own time");
    imgate_client_close(c);
}

/* Tiny pages (node 1: sync_page_users = 7) over users who all share one second. */
static void test_paging_rules(void)
{
    /* 20 users changed in the same second T1, 3 more at T1 + 1. */
    const uint32_t T1 = 1710000000u; /* later than every other row (the caller moved the edited ones back) */
    for (unsigned i = 0; i < 23; i++) {
        char name[32];
        snprintf(name, sizeof name, "pg%02u", i);
        buddy_add_user(h, 300 + i, name, 9, 0, i < 20 ? T1 : T1 + 1);
    }
    imgate_client *c = buddy_login(h, 1, "pg00", CLIENT_WINDOWS);
    buddy_pages pages;
    buddy_all_users(c, T1, &pages);
    tap_ok(pages.complete && pages.n == 4, "23 users, 7 a page: 4 pages, the last without the marker");
    uint32_t prev = T1, seen[32];
    size_t n_seen = 0;
    int distinct_latest = 1, restart_safe = 1, markers_ok = 1;
    for (size_t p = 0; p < pages.n; p++) {
        IM__Buddy__IMAllUserRsp *rsp =
            im__buddy__imall_user_rsp__unpack(NULL, pages.pdu[p].body_len, pages.pdu[p].body);
        if (rsp == NULL) {
            restart_safe = 0;
            break;
        }
        for (size_t i = 0; i < rsp->n_user_list && n_seen < 32; i++)
            seen[n_seen++] = rsp->user_list[i]->user_id;
        distinct_latest &= rsp->latest_update_time != prev;
        /* Restarting from this page's time must bring every user not yet received. */
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM IMUser WHERE id BETWEEN 300 AND 322 AND updated >= %u",
                 rsp->latest_update_time);
        restart_safe &= sql_num(h, sql) >= (long long)(23 - n_seen);
        markers_ok &= buddy_marker_more(rsp->has_attach_data, rsp->attach_data) == (p + 1 < pages.n);
        prev = rsp->latest_update_time;
        if (p + 1 == pages.n)
            tap_is_int(rsp->latest_update_time, T1 + 1, "the last page's latest_update_time is the newest change");
        im__buddy__imall_user_rsp__free_unpacked(rsp, NULL);
    }
    tap_is_int(n_seen, 23, "every user once across the pages");
    int dup = 0;
    for (size_t i = 0; i < n_seen; i++)
        for (size_t k = i + 1; k < n_seen; k++)
            dup |= seen[i] == seen[k];
    tap_ok(!dup, "no user twice: the keyset cursor is (updated, id), not the time alone");
    tap_ok(distinct_latest, "each page's latest_update_time differs from the one before (and from the request's)");
    tap_ok(restart_safe, "a client restarting from any page's latest_update_time misses nothing");
    tap_ok(markers_ok, "pages but the last carry attach_data \"" BUDDY_PAGE_MORE "\"");
    buddy_pages_free(&pages);

    /* Departments page the same way. */
    IM__Buddy__IMDepartmentReq req = IM__BUDDY__IMDEPARTMENT_REQ__INIT;
    uint16_t seq;
    imgate_client_send_msg(c, SID_BUDDY_LIST, CID_BUDDY_LIST_DEPARTMENT_REQUEST, &req.base, &seq);
    size_t depts = 0, dpages = 0;
    for (;;) {
        imgate_client_pdu pdu;
        if (imgate_client_wait(c, CID_BUDDY_LIST_DEPARTMENT_RESPONSE, seq, &pdu, 5000) != 0)
            break;
        IM__Buddy__IMDepartmentRsp *r = im__buddy__imdepartment_rsp__unpack(NULL, pdu.body_len, pdu.body);
        imgate_client_pdu_free(&pdu);
        if (r == NULL)
            break;
        dpages++;
        depts += r->n_dept_list;
        int more = buddy_marker_more(r->has_attach_data, r->attach_data);
        im__buddy__imdepartment_rsp__free_unpacked(r, NULL);
        if (!more)
            break;
    }
    long long want = sql_num(h, "SELECT COUNT(*) FROM IMDepart");
    tap_ok(dpages == (size_t)((want + 6) / 7) && (long long)depts == want, "departments are paged the same way (%zu in %zu pages)",
           depts, dpages);
    imgate_client_close(c);
}

/*
 * A writer whose transaction commits 2 s after it stamped `updated` (node 1: sync_commit_lag_s
 * = 3): a sync meanwhile cannot see the row, and the latest_update_time it hands out must still
 * be at or before that stamp, so the next sync brings the row.
 */
static void test_commit_lag(void)
{
    imgate_client *c = buddy_login(h, 1, "pg02", CLIENT_WINDOWS);
    pid_t writer = fork();
    if (writer == 0) {
        int rc = harness_sql(h,
                             "BEGIN; UPDATE IMUser SET nick = 'late commit', updated = UNIX_TIMESTAMP() WHERE id = 301;"
                             " DO SLEEP(2); COMMIT",
                             NULL, 0);
        _exit(rc == 0 ? 0 : 1);
    }
    struct timespec pause = {1, 0};
    nanosleep(&pause, NULL);
    sqlf(h, "UPDATE IMUser SET nick = 'on time', updated = UNIX_TIMESTAMP() WHERE id = 302");
    sync_result r;
    sync_users(c, 1710000000u, &r);
    tap_ok(find_user(&r, 302) && strcmp(find_user(&r, 302)->nick, "on time") == 0 && find_user(&r, 301) &&
               strcmp(find_user(&r, 301)->nick, "late commit") != 0,
           "commit lag: a sync during the slow transaction sees the other change, not the uncommitted one");
    long long db_now = sql_num(h, "SELECT UNIX_TIMESTAMP()");
    tap_ok(r.latest <= (uint32_t)db_now - 3, "its latest_update_time stays sync_commit_lag_s behind the database clock");
    int status = -1;
    waitpid(writer, &status, 0);
    tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the slow transaction committed");
    uint32_t cursor = r.latest;
    sync_users(c, cursor, &r);
    tap_ok(find_user(&r, 301) && strcmp(find_user(&r, 301)->nick, "late commit") == 0,
           "the late-committed change comes in the next sync from that latest_update_time");
    imgate_client_close(c);
}

/* 20,000 users: pages under the frame cap, all of them, the loop never stalls on it. */
static void test_large_directory(void)
{
    /* ~400-byte rows (long avatar and signature), 3,000 users a second: pages split inside a second. */
    sqlf(h, "INSERT INTO IMUser (id, sex, name, domain, nick, password, salt, phone, email, avatar, departId, status,"
            " created, updated, push_shield_status, sign_info)"
            " SELECT 10000 + seq, 1, CONCAT('big', seq), CONCAT('big', seq), CONCAT('Big user ', seq), '', '',"
            " '13800000000', CONCAT('big', seq, '@example.com'), CONCAT('http://avatars.example.com/', REPEAT('a', 200),"
            " seq, '.png'), 1 + MOD(seq, 50), IF(MOD(seq, 100) = 0, 3, 0), 1600000000, 1720000000 + seq DIV 3000, 0,"
            " REPEAT('s', 100) FROM seq_1_to_20000");
    long long want = sql_num(h, "SELECT COUNT(*) FROM IMUser WHERE NOT (status <=> 3)");
    imgate_client *c = buddy_login(h, 0, "alice", CLIENT_WINDOWS);
    long long pages_before = buddy_metric(h, 0, "sync_pages");
    buddy_pages pages;
    long long started = mono_ms();
    buddy_all_users(c, 0, &pages);
    long long took = mono_ms() - started;
    tap_ok(pages.complete, "20,000 users: the reply completes (%zu pages, %lld ms)", pages.n, took);
    tap_ok(pages.n >= 8, "it is split into pages (%zu)", pages.n);
    size_t total = 0, biggest = 0;
    int parse_ok = 1;
    uint32_t *ids = malloc(sizeof *ids * 32000);
    for (size_t p = 0; p < pages.n; p++) {
        if (pages.pdu[p].h.length > biggest)
            biggest = pages.pdu[p].h.length;
        IM__Buddy__IMAllUserRsp *rsp =
            im__buddy__imall_user_rsp__unpack(NULL, pages.pdu[p].body_len, pages.pdu[p].body);
        if (rsp == NULL) {
            parse_ok = 0;
            continue;
        }
        for (size_t i = 0; i < rsp->n_user_list && total < 32000; i++)
            ids[total++] = rsp->user_list[i]->user_id;
        im__buddy__imall_user_rsp__free_unpacked(rsp, NULL);
    }
    tap_ok(parse_ok, "every page parses as IMAllUserRsp");
    tap_ok(biggest <= 1000000 + 16 && biggest <= 1048576, "no frame above sync_page_bytes + header, under the 1 MiB cap (largest %zu)",
           biggest);
    tap_is_int((long long)total, want, "every user but those who left, once each");
    int dup = 0;
    /* ids arrive in (updated, id) order; a duplicate would repeat an id: check with a bitmap. */
    uint8_t *bits = calloc(40000 / 8 + 1, 1);
    for (size_t i = 0; i < total; i++) {
        uint32_t v = ids[i] < 40000 ? ids[i] : 0;
        dup |= bits[v / 8] & (1 << (v % 8));
        bits[v / 8] |= (uint8_t)(1 << (v % 8));
    }
    tap_ok(!dup, "no user twice");
    free(bits);
    free(ids);
    tap_ok(buddy_metric(h, 0, "sync_pages") - pages_before == (long long)pages.n, "/metrics counts the pages");
    buddy_pages_free(&pages);

    /* Node 0 reads one page at a time (sync_concurrency = 1): two clients syncing at once take turns,
     * and the one not reading (yet) does not hold up the other. */
    imgate_client *peer = buddy_login(h, 0, "pg03", CLIENT_WINDOWS);
    long long queued_before = buddy_metric(h, 0, "syncs_queued");
    buddy_pages peer_pages;
    IM__Buddy__IMAllUserReq both = IM__BUDDY__IMALL_USER_REQ__INIT;
    uint16_t s1;
    imgate_client_send_msg(peer, SID_BUDDY_LIST, CID_BUDDY_LIST_ALL_USER_REQUEST, &both.base, &s1);
    buddy_all_users(c, 0, &pages);
    memset(&peer_pages, 0, sizeof peer_pages);
    for (peer_pages.n = 0; peer_pages.n < 64; peer_pages.n++) {
        if (imgate_client_wait(peer, CID_BUDDY_LIST_ALL_USER_RESPONSE, s1, &peer_pages.pdu[peer_pages.n], 20000) != 0)
            break;
        IM__Buddy__IMAllUserRsp *rsp =
            im__buddy__imall_user_rsp__unpack(NULL, peer_pages.pdu[peer_pages.n].body_len, peer_pages.pdu[peer_pages.n].body);
        int more = rsp && buddy_marker_more(rsp->has_attach_data, rsp->attach_data);
        if (rsp)
            im__buddy__imall_user_rsp__free_unpacked(rsp, NULL);
        if (!more) {
            peer_pages.complete = 1;
            peer_pages.n++;
            break;
        }
    }
    tap_ok(pages.complete && peer_pages.complete && pages.n == peer_pages.n,
           "two full syncs at once with one slot, one reader idle meanwhile: both complete, the same pages");
    tap_ok(buddy_metric(h, 0, "syncs_queued") > queued_before, "they took turns for the slot");
    buddy_pages_free(&pages);
    buddy_pages_free(&peer_pages);
    imgate_client_close(peer);

    /* A second sync on the same connection while one runs is not started (memory per connection is bounded). */
    IM__Buddy__IMAllUserReq req = IM__BUDDY__IMALL_USER_REQ__INIT;
    uint16_t first, second;
    long long refused_before = buddy_metric(h, 0, "syncs_refused_busy");
    imgate_client_send_msg(c, SID_BUDDY_LIST, CID_BUDDY_LIST_ALL_USER_REQUEST, &req.base, &first);
    imgate_client_send_msg(c, SID_BUDDY_LIST, CID_BUDDY_LIST_ALL_USER_REQUEST, &req.base, &second);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(c, CID_BUDDY_LIST_ALL_USER_RESPONSE, second, &pdu, 3000), IMGATE_CLIENT_TIMEOUT,
               "a second all-user request while the first pages is not answered");
    tap_is_int(buddy_metric(h, 0, "syncs_refused_busy") - refused_before, 1, "and is counted");
    imgate_client_close(c);

    /* The same request from a client that stops reading: the server neither buffers it all nor stalls. */
    imgate_client *lazy = buddy_login(h, 0, "pg01", CLIENT_MAC);
    imgate_client_send_msg(lazy, SID_BUDDY_LIST, CID_BUDDY_LIST_ALL_USER_REQUEST, &req.base, &first);
    imgate_client *other = buddy_login(h, 0, "carol", CLIENT_WINDOWS);
    tap_ok(heartbeat_ok(other), "while a reader lags, other clients are served");
    imgate_client_close(other);
    imgate_client_close(lazy);
}

/* --- user info --------------------------------------------------------------------------------------- */

static IM__Buddy__IMUsersInfoRsp *users_info(imgate_client *c, const uint32_t *ids, size_t n)
{
    IM__Buddy__IMUsersInfoReq req = IM__BUDDY__IMUSERS_INFO_REQ__INIT;
    req.n_user_id_list = n;
    req.user_id_list = (uint32_t *)ids;
    imgate_client_pdu *pdu =
        buddy_call_pdu(c, CID_BUDDY_LIST_USER_INFO_REQUEST, &req.base, CID_BUDDY_LIST_USER_INFO_RESPONSE, 5000);
    return pdu ? im__buddy__imusers_info_rsp__unpack(NULL, pdu->body_len, pdu->body) : NULL;
}

static void test_user_info(void)
{
    imgate_client *c = buddy_login(h, 0, "alice", CLIENT_ANDROID);
    const uint32_t ids[] = {103, 999999, 104, 103};
    IM__Buddy__IMUsersInfoRsp *r = users_info(c, ids, 4);
    tap_ok(r && r->n_user_info_list == 2 && r->user_info_list[0]->user_id == 103 &&
               r->user_info_list[1]->user_id == 104,
           "user info: known ids once each (duplicates answered once, unknown skipped, by id)");
    tap_ok(r && r->n_user_info_list == 2 && r->user_info_list[1]->status == 3,
           "users who left are answered (clients show old conversations with them)");
    tap_ok(r && r->n_user_info_list == 2 && strcmp(r->user_info_list[0]->user_nick_name, "Nick carol") == 0 &&
               r->user_info_list[0]->department_id == 2 && r->user_id == 101,
           "the UserInfo comes from IMUser; user_id is the requester");
    if (r)
        im__buddy__imusers_info_rsp__free_unpacked(r, NULL);

    r = users_info(c, NULL, 0);
    tap_ok(r && r->n_user_info_list == 0, "an empty list gets an empty answer");
    if (r)
        im__buddy__imusers_info_rsp__free_unpacked(r, NULL);

    /* Oversized: only the first user_info_max (400) ids are looked at. */
    uint32_t many[401];
    for (unsigned i = 0; i < 401; i++)
        many[i] = 500000 + i;
    many[399] = 105;
    many[400] = 103;
    long long truncated = buddy_metric(h, 0, "id_lists_truncated");
    r = users_info(c, many, 401);
    tap_ok(r && r->n_user_info_list == 1 && r->user_info_list[0]->user_id == 105,
           "401 ids: the first 400 are answered, the 401st is not");
    tap_is_int(buddy_metric(h, 0, "id_lists_truncated") - truncated, 1, "the truncation is counted");
    if (r)
        im__buddy__imusers_info_rsp__free_unpacked(r, NULL);

    uint16_t seq;
    const uint8_t junk[] = {0x12, 0x05, 0x01};
    imgate_client_send(c, SID_BUDDY_LIST, CID_BUDDY_LIST_USER_INFO_REQUEST, junk, sizeof junk, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(c, CID_BUDDY_LIST_USER_INFO_RESPONSE, seq, &pdu, 700), IMGATE_CLIENT_TIMEOUT,
               "user info: a malformed body gets no answer");
    tap_ok(heartbeat_ok(c), "user info: the connection stays usable");
    imgate_client_close(c);

    /* Before login: the core's gate closes the connection; the plugin never sees the request. */
    static const uint16_t every_request[] = {
        CID_BUDDY_LIST_DEPARTMENT_REQUEST,        CID_BUDDY_LIST_ALL_USER_REQUEST,
        CID_BUDDY_LIST_USER_INFO_REQUEST,         CID_BUDDY_LIST_USERS_STATUS_REQUEST,
        CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST,  CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST,
        CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, CID_BUDDY_LIST_REMOVE_SESSION_REQ,
    };
    int all_closed = 1;
    for (size_t i = 0; i < sizeof every_request / sizeof every_request[0]; i++) {
        imgate_client *anon = harness_connect(h, 0);
        const uint8_t body[] = {0x08, 0x65}; /* user_id 101: a request naming a user is still refused */
        imgate_client_send(anon, SID_BUDDY_LIST, every_request[i], body, sizeof body, &seq);
        all_closed &= imgate_client_wait_closed(anon, 3000) == IMGATE_CLIENT_CLOSED;
        imgate_client_close(anon);
    }
    tap_ok(all_closed, "each buddy request before login closes the connection, unanswered");
}

/* --- imgate-cli -------------------------------------------------------------------------------------- */

static int cli_output(const char *args, char *out, size_t len)
{
    const char *top = getenv("top_builddir");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/tools/imgate-cli -p %u %s 2>&1", top ? top : ".", harness_node_port(h, 0), args);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    return pclose(p);
}

static void test_cli(void)
{
    char out[4096];
    int rc = cli_output("users alice alice123", out, sizeof out);
    tap_ok(rc == 0 && strstr(out, "page 1: users=4 ") && strstr(out, "users: 4 (status 3: 0) pages: 1 "),
           "imgate-cli users: the page and the summary");
    if (rc != 0 || !strstr(out, "users: 4"))
        tap_diag("%s", out);
    rc = cli_output("users alice alice123 1700000500", out, sizeof out);
    tap_ok(rc == 0 && strstr(out, "users: 2 (status 3: 1)"), "imgate-cli users SINCE: the changed ones");
    rc = cli_output("status alice alice123 101 999999", out, sizeof out);
    tap_ok(rc == 0 && strstr(out, "101 online\n") && strstr(out, "999999 offline\n"),
           "imgate-cli status: online (its own connection) and offline");
    rc = cli_output("sessions alice alice123", out, sizeof out);
    tap_ok(rc == 0 && strstr(out, "sessions: 0"), "imgate-cli sessions");
    rc = cli_output("user-info alice alice123 103", out, sizeof out);
    tap_ok(rc == 0 && strstr(out, "user 103 name=carol nick=Nick carol"), "imgate-cli user-info");
    rc = cli_output("departments alice alice123", out, sizeof out);
    tap_ok(rc == 0 && strstr(out, "dept 2 parent=1 priority=2 status=0 name=Sales"), "imgate-cli departments");
    rc = cli_output("status alice alice123 x", out, sizeof out);
    tap_ok(rc != 0 && WEXITSTATUS(rc) == 2, "imgate-cli status refuses an id that is not a number");
}

int main(void)
{
    h = harness_start("buddy_directory");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, "login,buddy", "[plugin.buddy]\nsync_concurrency = 1\n") != 0 ||
        harness_node_start(h, "login,buddy", "[plugin.buddy]\nsync_page_users = 7\nsync_commit_lag_s = 3\n") != 1)
        tap_bail("imgated did not start");
    buddy_add_department(h, 1, "Engineering", 0, T0 + 100);
    buddy_add_department(h, 2, "Sales", 1, T0 + 200);
    sqlf(h, "INSERT INTO IMDepart (id, departName, priority, parentId, status, created, updated) VALUES"
            " (3, 'Closed', 3, 1, 5, 1600000000, %u)",
         T0 + 300);
    buddy_add_user(h, 101, "alice", 1, 0, T0 + 100);
    buddy_add_user(h, 102, "bob", 1, 0, T0 + 200);
    buddy_add_user(h, 103, "carol", 2, 0, T0 + 300);
    buddy_add_user(h, 104, "gone", 2, 3, T0 + 400);
    buddy_add_user(h, 105, "trial", 2, 1, T0 + 500);
    test_departments();
    test_users_full();
    test_cli();
    test_users_incremental();
    test_user_info();
    /* The next tests count users from a fixed time: move the ones edited "now" out of their way. */
    sqlf(h, "UPDATE IMUser SET updated = %u WHERE id BETWEEN 101 AND 105", T0 + 900);
    test_paging_rules();
    test_commit_lag();
    test_large_directory();
    harness_stop(h);
    return tap_done();
}
