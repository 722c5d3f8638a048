/* Configuration: libconfig parsing, validation against key tables, the
 * exact error messages, and the accessors (defaults and set values). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/sg_conf.h"
#include "util/sg_log.h"
#include "sg_test.h"

static char g_dir[64];          /* the test's temp directory */
static char g_path[PATH_MAX];   /* the config file the tests write */

/* Write text to dir/name; the path goes to out. */
static int
write_file(const char *name, const char *text, char *out, size_t outlen)
{
    FILE *fp;
    snprintf(out, outlen, "%s/%s", g_dir, name);
    fp = fopen(out, "w");
    if (fp == NULL) {
        SG_FAIL("cannot write %s: %s", out, strerror(errno));
        return -1;
    }
    fputs(text, fp);
    fclose(fp);
    return 0;
}

/* Write text as the config file and load it. */
static int
load(sg_conf_file_t *f, const char *text)
{
    if (write_file("streamgate.conf", text, g_path, sizeof(g_path)) != 0) {
        memset(f, 0, sizeof(*f));
        return -2;
    }
    return sg_conf_file_load(f, g_path);
}

/* Compare the error list with the expected messages; "@" in an expected
 * message stands for the config file's path. NULL-terminated. */
static void
check_errors_at(int line, const sg_conf_errors_t *errs, ...)
{
    va_list ap;
    int i = 0;
    const char *want;

    va_start(ap, errs);
    while ((want = va_arg(ap, const char *)) != NULL) {
        char full[2048];
        size_t o = 0;
        for (const char *p = want; *p && o + 1 < sizeof(full); p++) {
            if (*p == '@') {
                o += (size_t)snprintf(full + o, sizeof(full) - o, "%s", g_path);
                if (o >= sizeof(full)) o = sizeof(full) - 1;
            } else {
                full[o++] = *p;
            }
        }
        full[o] = '\0';
        if (i >= errs->n) {
            SG_FAIL("line %d: missing error %d: \"%s\"", line, i, full);
        } else if (strcmp(errs->msg[i], full) != 0) {
            SG_FAIL("line %d: error %d is\n    \"%s\"\n  expected\n    \"%s\"", line, i,
                    errs->msg[i], full);
        }
        i++;
    }
    va_end(ap);
    for (; i < errs->n; i++) SG_FAIL("line %d: unexpected error \"%s\"", line, errs->msg[i]);
}

#define CHECK_ERRORS(errs, ...) check_errors_at(__LINE__, errs, __VA_ARGS__, (const char *)NULL)

/* ---- error messages ------------------------------------------------------------- */

static void
test_unknown_keys(void)
{
    sg_conf_file_t f;

    CHECK_INT(load(&f, "server = {\n"
                       "  listn = [ \"1.2.3.4:80\" ];\n"
                       "  frobnicate = 1;\n"
                       "  Listen = [ \"1.2.3.4:81\" ];\n"
                       "};\n"
                       "srever = { };\n"
                       "zzz = 1;\n"),
              -1);
    CHECK_ERRORS(&f.errs,
                 "@:2: server.listn: unknown key (did you mean \"listen\"?)",
                 "@:3: server.frobnicate: unknown key",
                 "@:4: server.Listen: unknown key (did you mean \"listen\"?)",
                 "@:6: srever: unknown key (did you mean \"server\"?)",
                 "@:7: zzz: unknown key");
    sg_conf_file_free(&f);
}

static void
test_wrong_types(void)
{
    sg_conf_file_t f;

    CHECK_INT(load(&f, "server = {\n"
                       "  keepalive_timeout = \"15\";\n"
                       "  request_timeout = 1.5;\n"
                       "  access_log = 1;\n"
                       "  listen = \"0.0.0.0:80\";\n"
                       "  allow = ( \"10.0.0.0/8\", 7 );\n"
                       "  log_file = [ \"x\" ];\n"
                       "};\n"
                       "catalog = 5;\n"
                       "plugins = ( 5, { name = \"x\"; } );\n"
                       "admission = { max_clients = 10L; };\n"),
              -1);
    CHECK_ERRORS(&f.errs,
                 "@:2: server.keepalive_timeout: expected an integer, got a string",
                 "@:3: server.request_timeout: expected an integer, got a number",
                 "@:4: server.access_log: expected a boolean (true/false), got an integer",
                 "@:5: server.listen: expected a list of strings [ \"...\" ], got a string",
                 "@:6: server.allow: element 2: expected a string, got an integer",
                 "@:7: server.log_file: expected a string, got an array [ ]",
                 "@:9: catalog: expected a group { }, got an integer",
                 "@:10: plugins: element 1: expected a group { }, got an integer");
    /* wrong-typed values read as their defaults; 10L (int64) is an integer */
    {
        const sg_conf_t *srv = sg_conf_group(f.root, "server", 0);
        CHECK_INT(sg_conf_int(srv, "keepalive_timeout"), 15);
        CHECK_INT(sg_conf_int(srv, "request_timeout"), 10);
        CHECK_INT(sg_conf_bool(srv, "access_log"), 1);
        CHECK_INT(sg_conf_count(srv, "listen"), 1);
        CHECK_STR(sg_conf_list_string(srv, "listen", 0), "0.0.0.0:8888");
        CHECK_STR(sg_conf_string(srv, "log_file"), "");
        CHECK_INT(sg_conf_is_set(srv, "keepalive_timeout"), 0);
        CHECK_INT(sg_conf_int(sg_conf_group(f.root, "admission", 0), "max_clients"), 10);
        /* a group given as a number reads as an absent group (no alert) */
        uint64_t alerts = sg_log_count(SG_LOG_ALERT);
        CHECK(sg_conf_group(f.root, "catalog", 0) != NULL);
        CHECK_INT(sg_conf_int(sg_conf_group(f.root, "catalog", 0), "retention_days"), 8);
        CHECK_INT(sg_log_count(SG_LOG_ALERT), alerts);
    }
    sg_conf_file_free(&f);
}

static void
test_range_and_choices(void)
{
    sg_conf_file_t f;

    CHECK_INT(load(&f, "server = {\n"
                       "  keepalive_timeout = 5000;\n"
                       "  max_connections = 1;\n"
                       "  request_timeout = 0;\n"
                       "  log_level = \"verbose\";\n"
                       "};\n"
                       "catalog = { retention_days = -1; };\n"),
              -1);
    CHECK_ERRORS(&f.errs,
                 "@:2: server.keepalive_timeout: 5000 is out of range (0..3600)",
                 "@:3: server.max_connections: 1 is out of range (16..1000000)",
                 "@:4: server.request_timeout: 0 is out of range (1..3600)",
                 "@:5: server.log_level: \"verbose\" is not one of: emerg, alert, crit, err, "
                 "warn, notice, info, debug",
                 "@:7: catalog.retention_days: -1 is out of range (1..3660)");
    sg_conf_file_free(&f);

    /* the bounds themselves are fine */
    CHECK_INT(load(&f, "server = { keepalive_timeout = 0; max_connections = 1000000;"
                       " log_level = \"debug\"; };\n"
                       "catalog = { retention_days = 3660; };\n"),
              0);
    CHECK_ERRORS(&f.errs, NULL);
    sg_conf_file_free(&f);
}

static void
test_files_and_dirs(void)
{
    sg_conf_file_t f;
    char plain[PATH_MAX], script[PATH_MAX], text[4 * PATH_MAX + 512];

    if (write_file("plain.txt", "not a directory\n", plain, sizeof(plain)) != 0) return;
    if (write_file("rules.lua", "-- empty\n", script, sizeof(script)) != 0) return;

    snprintf(text, sizeof(text),
             "timers = { script = \"%s/missing.lua\"; };\n"
             "server = {\n"
             "  state_dir = \"%s\";\n"
             "};\n"
             "recordings = { dir = \"%s/sub\"; };\n",
             g_dir, plain, plain);
    CHECK_INT(load(&f, text), -1);
    {
        char e1[PATH_MAX + 128], e2[PATH_MAX + 128], e3[3 * PATH_MAX];
        snprintf(e1, sizeof(e1),
                 "@:1: timers.script: cannot read \"%s/missing.lua\": No such file or directory",
                 g_dir);
        snprintf(e2, sizeof(e2), "@:3: server.state_dir: \"%s\" exists and is not a directory",
                 plain);
        snprintf(e3, sizeof(e3),
                 "@:5: recordings.dir: cannot create directory \"%s/sub\": \"%s\" is not a "
                 "writable directory",
                 plain, plain);
        CHECK_ERRORS(&f.errs, e1, e2, e3);
    }
    sg_conf_file_free(&f);

    /* a directory where a file is wanted */
    snprintf(text, sizeof(text), "timers = { script = \"%s\"; };\n", g_dir);
    CHECK_INT(load(&f, text), -1);
    {
        char e1[PATH_MAX + 128];
        snprintf(e1, sizeof(e1), "@:1: timers.script: \"%s\" is not a regular file", g_dir);
        CHECK_ERRORS(&f.errs, e1);
    }
    sg_conf_file_free(&f);

    /* existing file, a directory that does not exist yet (it can be made) */
    snprintf(text, sizeof(text),
             "timers = { script = \"%s\"; };\n"
             "server = { state_dir = \"%s/state/deeper\"; };\n",
             script, g_dir);
    CHECK_INT(load(&f, text), 0);
    CHECK_ERRORS(&f.errs, NULL);
    {
        struct stat st;
        char made[PATH_MAX + 32];
        snprintf(made, sizeof(made), "%s/state", g_dir);
        CHECK(stat(made, &st) != 0); /* validation does not create it */
    }
    sg_conf_file_free(&f);
}

static void
test_syntax_and_io(void)
{
    sg_conf_file_t f;
    char missing[PATH_MAX];

    CHECK_INT(load(&f, "server = {\n"
                       "  listen = [ \"0.0.0.0:80\" ]\n"
                       "  public_url = ;\n"
                       "};\n"),
              -1);
    CHECK_INT(f.parsed, 0);
    CHECK(f.root == NULL);
    CHECK_ERRORS(&f.errs, "@:3: syntax error: syntax error");
    sg_conf_file_free(&f);

    CHECK_INT(load(&f, "server = { listen = [ \"a\" ]; }\n@include \"nope.conf\"\n"), -1);
    CHECK_ERRORS(&f.errs, "@:2: syntax error: cannot open include file");
    sg_conf_file_free(&f);

    snprintf(missing, sizeof(missing), "%s/nope.conf", g_dir);
    CHECK_INT(sg_conf_file_load(&f, missing), -1);
    CHECK_INT(f.errs.n, 1);
    if (f.errs.n == 1) {
        char want[PATH_MAX + 128];
        snprintf(want, sizeof(want),
                 "%s:0: cannot read the configuration file: No such file or directory", missing);
        CHECK_STR(f.errs.msg[0], want);
    }
    sg_conf_file_free(&f);

    /* unreadable (root reads everything, so only checked as a user) */
    if (geteuid() != 0) {
        CHECK_INT(load(&f, "server = { };\n"), 0);
        sg_conf_file_free(&f);
        chmod(g_path, 0);
        CHECK_INT(sg_conf_file_load(&f, g_path), -1);
        CHECK_INT(f.errs.n, 1);
        if (f.errs.n == 1) {
            char want[PATH_MAX + 128];
            snprintf(want, sizeof(want),
                     "%s:0: cannot read the configuration file: Permission denied", g_path);
            CHECK_STR(f.errs.msg[0], want);
        }
        sg_conf_file_free(&f);
        chmod(g_path, 0644);
    } else {
        printf("note: running as root, the unreadable-file case is skipped\n");
    }
}

/* ---- accessors on the core keys ------------------------------------------------- */

static void
test_defaults(void)
{
    sg_conf_file_t f;
    const sg_conf_t *srv, *cat, *adm, *rec, *tim;

    CHECK_INT(load(&f, "# nothing set\n"), 0);
    CHECK_INT(f.errs.n, 0);
    CHECK(f.root != NULL);
    if (f.root == NULL) {
        sg_conf_file_free(&f);
        return;
    }
    srv = sg_conf_group(f.root, "server", 0);
    cat = sg_conf_group(f.root, "catalog", 0);
    adm = sg_conf_group(f.root, "admission", 0);
    rec = sg_conf_group(f.root, "recordings", 0);
    tim = sg_conf_group(f.root, "timers", 0);
    CHECK(srv != NULL && cat != NULL && adm != NULL && rec != NULL && tim != NULL);
    CHECK_STR(srv->path, "server");

    CHECK_INT(sg_conf_count(srv, "listen"), 1);
    CHECK_STR(sg_conf_list_string(srv, "listen", 0), "0.0.0.0:8888");
    CHECK(sg_conf_list_string(srv, "listen", 1) == NULL);
    CHECK(sg_conf_list_string(srv, "listen", -1) == NULL);
    CHECK_INT(sg_conf_is_set(srv, "listen"), 0);
    CHECK_INT(sg_conf_count(srv, "allow"), 0);
    CHECK(sg_conf_list_string(srv, "allow", 0) == NULL);
    CHECK_STR(sg_conf_string(srv, "public_url"), "");
    CHECK_STR(sg_conf_string(srv, "state_dir"), "/var/lib/streamgate");
    CHECK_STR(sg_conf_string(srv, "log_level"), "info");
    CHECK_STR(sg_conf_string(srv, "admin_token"), "");
    CHECK_INT(sg_conf_bool(srv, "access_log"), 1);
    CHECK_INT(sg_conf_int(srv, "keepalive_timeout"), 15);
    CHECK_INT(sg_conf_int(srv, "request_timeout"), 10);
    CHECK_INT(sg_conf_int(srv, "max_connections"), 10000);
    CHECK_INT(sg_conf_int(cat, "retention_days"), 8);
    CHECK_INT(sg_conf_int(adm, "max_clients"), 0);
    CHECK_STR(sg_conf_string(rec, "dir"), "");
    CHECK_STR(sg_conf_string(tim, "script"), "");
    CHECK_STR(sg_conf_string(f.root, "plugin_dir"), "");
    CHECK_INT(sg_conf_count(f.root, "plugins"), 0);
    CHECK(sg_conf_group(f.root, "plugins", 0) == NULL);
    CHECK_INT(sg_conf_count(f.root, "server"), 1);
    CHECK(sg_conf_group(f.root, "server", 1) == NULL);
    CHECK(sg_conf_group(f.root, "plugin_dir", 0) == NULL);
    sg_conf_file_free(&f);
}

static void
test_values(void)
{
    sg_conf_file_t f;
    const sg_conf_t *srv;
    char text[PATH_MAX + 1024];

    snprintf(text, sizeof(text),
             "server = {\n"
             "  listen = [ \"127.0.0.1:8080\", \"[::1]:8080\" ];\n"
             "  allow = ( \"10.0.0.0/8\" );\n"
             "  state_dir = \"%s/state\";\n"
             "  access_log = false;\n"
             "  keepalive_timeout = 0;\n"
             "  log_level = \"debug\";\n"
             "  admin_token = \"s3cret\";\n"
             "};\n"
             "catalog = { retention_days = 2; };\n"
             "plugins = ( { name = \"demo\"; }, { name = \"other\"; path = \"/x.so\"; } );\n",
             g_dir);
    CHECK_INT(load(&f, text), 0);
    CHECK_INT(f.errs.n, 0);
    if (f.root == NULL) {
        sg_conf_file_free(&f);
        return;
    }
    srv = sg_conf_group(f.root, "server", 0);
    CHECK_INT(sg_conf_count(srv, "listen"), 2);
    CHECK_STR(sg_conf_list_string(srv, "listen", 0), "127.0.0.1:8080");
    CHECK_STR(sg_conf_list_string(srv, "listen", 1), "[::1]:8080");
    CHECK(sg_conf_list_string(srv, "listen", 2) == NULL);
    CHECK_INT(sg_conf_is_set(srv, "listen"), 1);
    CHECK_INT(sg_conf_count(srv, "allow"), 1);
    CHECK_STR(sg_conf_list_string(srv, "allow", 0), "10.0.0.0/8");
    CHECK_INT(sg_conf_bool(srv, "access_log"), 0);
    CHECK_INT(sg_conf_int(srv, "keepalive_timeout"), 0);
    CHECK_INT(sg_conf_is_set(srv, "keepalive_timeout"), 1);
    CHECK_INT(sg_conf_int(srv, "request_timeout"), 10);
    CHECK_INT(sg_conf_is_set(srv, "request_timeout"), 0);
    CHECK_STR(sg_conf_string(srv, "log_level"), "debug");
    CHECK_STR(sg_conf_string(srv, "admin_token"), "s3cret");
    CHECK_INT(sg_conf_int(sg_conf_group(f.root, "catalog", 0), "retention_days"), 2);
    /* plugin entries are validated by the loader: counted, not descended */
    CHECK_INT(sg_conf_count(f.root, "plugins"), 2);
    CHECK(sg_conf_group(f.root, "plugins", 0) == NULL);
    CHECK(sg_conf_setting(f.root, "plugins") != NULL);

    /* check(): a problem reported against a key carries its file:line */
    sg_conf_error(srv, "listen", "\"%s\" is not allowed here", "[::1]:8080");
    sg_conf_error(srv, "request_timeout", "absent key: the group's line");
    sg_conf_error(srv, NULL, "about the group");
    CHECK_ERRORS(&f.errs,
                 "@:2: server.listen: \"[::1]:8080\" is not allowed here",
                 "@:1: server.request_timeout: absent key: the group's line",
                 "@:1: server: about the group");
    sg_conf_file_free(&f);
}

/* ---- custom key tables, validated directly ------------------------------------------ */

static const char *const color_choices[] = {"red", "green", NULL};

static const sg_conf_key_t item_keys[] = {
    {.name = "name", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED},
    {.name = "weight", .type = SG_CONF_FLOAT, .def = "0.5", .min = 0, .max = 10},
    {.name = "color", .type = SG_CONF_STRING, .def = "red", .choices = color_choices},
    {.name = "tags", .type = SG_CONF_STRING_LIST, .def = "a,b,c"},
    {.name = NULL},
};

static const sg_conf_key_t opts_keys[] = {
    {.name = "depth", .type = SG_CONF_INT, .def = "3", .min = 1, .max = 9},
    {.name = "fast", .type = SG_CONF_BOOL, .def = "false"},
    {.name = "secret", .type = SG_CONF_STRING, .flags = SG_CONF_REQUIRED | SG_CONF_SECRET},
    {.name = NULL},
};

static const sg_conf_key_t test_root_keys[] = {
    {.name = "items", .type = SG_CONF_GROUP_LIST, .sub = item_keys},
    {.name = "opts", .type = SG_CONF_GROUP, .sub = opts_keys},
    {.name = "ratio", .type = SG_CONF_FLOAT, .def = "1.5", .min = -1, .max = 4},
    {.name = "hex", .type = SG_CONF_INT, .def = "0x10"},
    {.name = NULL},
};

static const sg_conf_key_t test_extra_keys[] = {
    {.name = "extra", .type = SG_CONF_STRING, .def = "e"},
    {.name = NULL},
};

static void
test_custom_tables(void)
{
    config_t cfg;
    sg_conf_errors_t errs = {0};
    sg_conf_t *root;
    const sg_conf_t *g;

    if (write_file("custom.conf",
                   "items = (\n"
                   "  { name = \"one\"; weight = 2; tags = [ \"x\" ]; },\n"
                   "  { name = \"two\"; weight = 2.5; color = \"green\"; },\n"
                   "  { weight = 11.0; color = \"blue\"; }\n"
                   ");\n"
                   "ratio = 3;\n"
                   "extra = \"here\";\n",
                   g_path, sizeof(g_path)) != 0) {
        return;
    }
    config_init(&cfg);
    CHECK_INT(config_read_file(&cfg, g_path), CONFIG_TRUE);
    root = sg_conf_validate(config_root_setting(&cfg), test_root_keys, test_extra_keys, "",
                            NULL, &errs);
    CHECK(root != NULL);
    if (root == NULL) {
        config_destroy(&cfg);
        return;
    }
    CHECK_ERRORS(&errs,
                 "@:4: items[2].weight: 11 is out of range (0..10)",
                 "@:4: items[2].color: \"blue\" is not one of: red, green",
                 "@:4: items[2].name: required key is missing",
                 "@:0: opts.secret: required key is missing");

    CHECK_INT(sg_conf_count(root, "items"), 3);
    g = sg_conf_group(root, "items", 0);
    CHECK(g != NULL);
    if (g) {
        CHECK_STR(g->path, "items[0]");
        CHECK_STR(sg_conf_string(g, "name"), "one");
        CHECK(sg_conf_float(g, "weight") == 2.0); /* an integer is a number */
        CHECK_STR(sg_conf_string(g, "color"), "red");
        CHECK_INT(sg_conf_count(g, "tags"), 1);
        CHECK_STR(sg_conf_list_string(g, "tags", 0), "x");
    }
    g = sg_conf_group(root, "items", 1);
    CHECK(g != NULL);
    if (g) {
        CHECK(sg_conf_float(g, "weight") == 2.5);
        CHECK_STR(sg_conf_string(g, "color"), "green");
        /* STRING_LIST default: comma-separated elements */
        CHECK_INT(sg_conf_count(g, "tags"), 3);
        CHECK_STR(sg_conf_list_string(g, "tags", 0), "a");
        CHECK_STR(sg_conf_list_string(g, "tags", 1), "b");
        CHECK_STR(sg_conf_list_string(g, "tags", 2), "c");
        CHECK(sg_conf_list_string(g, "tags", 3) == NULL);
    }
    g = sg_conf_group(root, "items", 2);
    CHECK(g != NULL);
    if (g) {
        CHECK(sg_conf_string(g, "name") == NULL); /* required, absent, no default */
        CHECK_INT(sg_conf_is_set(g, "name"), 0);
    }
    CHECK(sg_conf_group(root, "items", 3) == NULL);
    CHECK(sg_conf_group(root, "items", -1) == NULL);
    CHECK(sg_conf_group(root, "ratio", 0) == NULL);
    CHECK(sg_conf_float(root, "ratio") == 3.0);
    CHECK_INT(sg_conf_int(root, "hex"), 16);
    CHECK_STR(sg_conf_string(root, "extra"), "here");

    /* an absent group still reads its defaults */
    g = sg_conf_group(root, "opts", 0);
    CHECK(g != NULL);
    if (g) {
        CHECK_INT(sg_conf_int(g, "depth"), 3);
        CHECK_INT(sg_conf_bool(g, "fast"), 0);
        CHECK_INT(sg_conf_is_set(g, "depth"), 0);
    }
    sg_conf_free(root);
    sg_conf_errors_free(&errs);
    CHECK_INT(errs.n, 0);
    config_destroy(&cfg);
}

static void
test_float_range(void)
{
    config_t cfg;
    sg_conf_errors_t errs = {0};
    sg_conf_t *root;

    if (write_file("float.conf", "ratio = 4.5;\nopts = { secret = \"x\"; depth = 9; };\n",
                   g_path, sizeof(g_path)) != 0) {
        return;
    }
    config_init(&cfg);
    CHECK_INT(config_read_file(&cfg, g_path), CONFIG_TRUE);
    root = sg_conf_validate(config_root_setting(&cfg), test_root_keys, NULL, "", NULL, &errs);
    CHECK_ERRORS(&errs, "@:1: ratio: 4.5 is out of range (-1..4)");
    if (root) {
        CHECK_INT(sg_conf_int(sg_conf_group(root, "opts", 0), "depth"), 9);
        CHECK_STR(sg_conf_string(sg_conf_group(root, "opts", 0), "secret"), "x");
        CHECK(sg_conf_group(root, "items", 0) == NULL);
        CHECK_INT(sg_conf_count(root, "items"), 0);
    }
    sg_conf_free(root);
    sg_conf_errors_free(&errs);
    config_destroy(&cfg);
}

/* ---- setup ------------------------------------------------------------------------ */

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"unknown_keys", test_unknown_keys},
        {"wrong_types", test_wrong_types},
        {"range_and_choices", test_range_and_choices},
        {"files_and_dirs", test_files_and_dirs},
        {"syntax_and_io", test_syntax_and_io},
        {"defaults", test_defaults},
        {"values", test_values},
        {"custom_tables", test_custom_tables},
        {"float_range", test_float_range},
        {NULL, NULL},
    };
    return sg_test_run_in_tmpdir(cases, g_dir, sizeof(g_dir), "conf");
}
