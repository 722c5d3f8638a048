/*
 * libFuzzer target: the SD&S XML readers. The input is read as 1_0, 2_0,
 * 5_0 and 6_0 in turn; the 5_0 pass applies to the services of the 2_0
 * pass (or to a small fixed list when the input is not a 2_0). Results
 * must be consistent and failures must say why.
 */
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mv_sds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_err(int rc, const char *err, const char *prefix)
{
    assert(rc == 0 || rc == -1);
    if (rc == -1) {
        assert(strncmp(err, prefix, strlen(prefix)) == 0);
        assert(strchr(err, '\n') == NULL);
    }
}

static void
check_services(const mv_services_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const mv_service_t *sv = &s->v[i];
        assert(sv->id && sv->id[0] && sv->name);
        assert(memchr(sv->addr, '\0', sizeof(sv->addr)) != NULL);
        assert(sv->port >= 0 && sv->port <= 65535);
        assert(sv->addr[0] || sv->port == 0);
        assert(sv->service_type >= 0);
        assert(mv_sds_service(s, sv->id) == sv); /* ids are unique */
        if (sv->short_name) assert(sv->short_name[0]);
        if (sv->replacement) assert(sv->replacement[0]);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *xml = malloc(size ? size : 1);
    char err[256], addr[48];
    int port, matched, rc, have;
    mv_services_t s, fixed = {NULL, 0};
    mv_service_t few[2];
    mv_epg_days_t d;

    if (xml == NULL) return 0;
    memcpy(xml, data, size); /* exact size, no NUL: ASan sees overreads */

    rc = mv_sds_provider(xml, size, 19, addr, sizeof(addr), &port, err, sizeof(err));
    check_err(rc, err, "1_0: ");
    if (rc == 0) assert(addr[0] && port > 0 && port <= 65535);
    else assert(addr[0] == '\0' && port == 0);

    rc = mv_sds_services(xml, size, &s, err, sizeof(err));
    check_err(rc, err, "2_0: ");
    have = rc == 0;
    if (have) {
        assert(s.n > 0 && s.v != NULL);
        check_services(&s);
    } else {
        assert(s.n == 0 && s.v == NULL);
        memset(few, 0, sizeof(few));
        few[0].id = "58";
        few[0].name = "a";
        few[1].id = "1";
        few[1].name = "b";
        fixed.v = few;
        fixed.n = 2;
    }

    rc = mv_sds_packages(xml, size, "UTX00|UTX6C|UTXAU", have ? &s : &fixed, &matched, err,
                         sizeof(err));
    check_err(rc, err, "5_0: ");
    if (rc == 0) assert(matched >= 0 && matched <= 3);
    rc = mv_sds_packages(xml, size, "ALL", have ? &s : &fixed, &matched, err, sizeof(err));
    check_err(rc, err, "5_0: ");
    for (size_t i = 0; i < s.n; i++) assert(s.v[i].lcn >= -1);
    for (size_t i = 0; i < fixed.n; i++) assert(fixed.v[i].lcn >= -1);
    mv_sds_services_free(&s);

    rc = mv_sds_epg_days(xml, size, &d, err, sizeof(err));
    check_err(rc, err, "6_0: ");
    if (rc == 0) {
        assert(d.n > 0);
        for (size_t i = 0; i < d.n; i++) {
            assert(d.v[i].day >= 0);
            if (i > 0) assert(d.v[i].day > d.v[i - 1].day); /* sorted, unique */
            assert(d.v[i].addr[0] && d.v[i].port > 0 && d.v[i].port <= 65535);
            assert(d.v[i].nsegments == 0 || (d.v[i].segments && d.v[i].versions));
            for (size_t k = 0; k < d.v[i].nsegments; k++) {
                port += d.v[i].segments[k] + d.v[i].versions[k]; /* touch them */
            }
        }
    } else {
        assert(d.n == 0 && d.v == NULL);
    }
    mv_sds_epg_days_free(&d);
    free(xml);
    return 0;
}
