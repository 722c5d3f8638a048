"""Command line: --version, --help, -t on good and bad configurations."""
import os
import re

from conftest import BINARY, SOURCE, make_conf, plugin_path, run, demo_plugin


def check(conf_text, workdir, name="t.conf"):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(conf_text)
    r = run([BINARY, "-t", "-c", path], cwd=workdir)
    return r, path


def test_version_and_help():
    r = run([BINARY, "--version"])
    assert r.returncode == 0
    assert re.match(r"streamgate \d+\.\d+\.\d+ \(plugin ABI 1\.\d+\)", r.stdout)
    r = run([BINARY, "--help"])
    assert r.returncode == 0
    for opt in ("-c", "-t", "--ready-file", "--version", "--help"):
        assert opt in r.stdout
    r = run([BINARY, "--nonsense"])
    assert r.returncode == 1


def test_example_config_is_valid():
    r = run([BINARY, "-t", "-c", "etc/streamgate.conf"], cwd=SOURCE)
    assert r.returncode == 0, r.stderr
    assert "configuration OK, 4 plugins: movistar" in r.stdout
    for p in ("4gtv", "hls_pvr", "ustream"):
        assert p in r.stdout


def test_unknown_key_wrong_type_bad_value(workdir):
    text = ("server = {\n"
            "  listn = [\"127.0.0.1:0\"];\n"           # line 2
            "  keepalive_timeout = \"15\";\n"          # line 3
            "  log_level = \"loud\";\n"                # line 4
            "  request_timeout = 0;\n"                 # line 5
            "  allow = [\"10.0.0.1/8\"];\n"            # line 6
            "  timezone = \"Mars/Olympus\";\n"         # line 7
            "  listen = [\"nowhere\"];\n"              # line 8
            "};\n"
            "catalog = { retention_days = 2.5; };\n"  # line 10
            "plugins = ();\n")
    r, path = check(text, workdir)
    assert r.returncode == 1
    err = r.stderr
    assert '%s:2: server.listn: unknown key (did you mean "listen"?)' % path in err
    assert "%s:3: server.keepalive_timeout: expected an integer, got a string" % path in err
    assert '%s:4: server.log_level: "loud" is not one of: emerg' % path in err
    assert "%s:5: server.request_timeout: 0 is out of range (1..3600)" % path in err
    assert '%s:6: server.allow: "10.0.0.1/8" is not a network' % path in err
    assert '%s:7: server.timezone: unknown time zone "Mars/Olympus"' % path in err
    assert '%s:8: server.listen: "nowhere" is not' % path in err
    assert "%s:10: catalog.retention_days: expected an integer, got a number" % path in err
    assert "8 problems found" in err


def test_syntax_error_has_line(workdir):
    r, path = check("server = {\n  listen = [\"x\";\n};\n", workdir)
    assert r.returncode == 1
    assert re.search(r"%s:2: syntax error: " % re.escape(path), r.stderr), r.stderr


def test_missing_config_file(workdir):
    r = run([BINARY, "-t", "-c", os.path.join(workdir, "absent.conf")])
    assert r.returncode == 1
    assert "absent.conf:0: cannot read the configuration file: No such file or directory" in r.stderr


def test_plugin_problems(workdir):
    state = os.path.join(workdir, "state")
    plugins = [
        {"name": "movistar", "zzzzzzzz": 5},
        {"name": "nope"},
        {"name": "badabi", "path": plugin_path("badabi")},
        {"name": "newminor", "path": plugin_path("newminor")},
        {"name": "nosym", "path": plugin_path("nosym")},
        {"name": "wrongname", "path": plugin_path("wrongname")},
        {"name": "movistar"},
        {"path": "x.so"},
    ]
    r, path = check(make_conf(state, plugins=plugins), workdir)
    assert r.returncode == 1
    err = r.stderr
    lines = {}
    for line in err.splitlines():
        m = re.match(r"streamgate: (.*?):(\d+): (plugins[^:]*): (.*)", line)
        if m:
            lines[m.group(3)] = (m.group(1), int(m.group(2)), m.group(4))
    assert lines["plugins.movistar.zzzzzzzz"][2] == "unknown key"
    assert "plugin file" in lines["plugins.nope"][2] and "nope.so: No such file" in lines["plugins.nope"][2]
    major, minor = map(int, re.search(r"plugin ABI (\d+)\.(\d+)",
                                      run([BINARY, "-V"]).stdout).groups())
    assert "was built for plugin ABI %d.%d; this streamgate speaks %d.%d" % (
        major + 1, minor, major, minor) in lines["plugins.badabi"][2]
    assert "badabi.so" in lines["plugins.badabi"][2]
    assert "needs plugin ABI %d.%d, newer than" % (major, minor + 1) in lines["plugins.newminor"][2]
    assert "has no symbol sg_nosym_plugin_entry" in lines["plugins.nosym"][2]
    assert 'calls itself "other"' in lines["plugins.wrongname"][2]
    assert lines["plugins.movistar"][2] == "this plugin is listed twice"
    assert "plugins[7].name: required string is missing" in err
    for f, line, _ in lines.values():
        assert f == path and line > 0


def test_plugin_keys_validated_by_the_core(workdir):
    state = os.path.join(workdir, "state")
    p = demo_plugin(bitrate_kbps="fast", speed=5, mode="weird", media="/no/such.ts",
                    channels=[{"id": "1"}])
    r, path = check(make_conf(state, plugins=[p]), workdir)
    assert r.returncode == 1
    err = r.stderr
    assert "plugins.demo.bitrate_kbps: expected an integer, got a string" in err
    assert 'plugins.demo.mode: "weird" is not one of: normal, fail_init' in err
    assert 'plugins.demo.media: cannot read "/no/such.ts": No such file or directory' in err
    assert "plugins.demo.channels[0].name: required key is missing" in err
    # an integer literal is fine for a float key
    assert "speed" not in err


def test_plugin_check_hook_reports_with_line(workdir):
    state = os.path.join(workdir, "state")
    p = demo_plugin(check_fail=True, channels=[{"id": "1", "name": "A"}, {"id": "1", "name": "B"}])
    r, path = check(make_conf(state, plugins=[p]), workdir)
    assert r.returncode == 1
    assert re.search(r"%s:\d+: plugins.demo.check_fail: check_fail is set" % re.escape(path), r.stderr)
    assert re.search(r'plugins.demo.channels\[1\].id: channel id "1" is used twice', r.stderr)


def test_timer_script_errors(workdir):
    state = os.path.join(workdir, "state")
    script = os.path.join(workdir, "timers.lua")
    with open(script, "w") as f:
        f.write("function match(p)\n  return nil\nend\nthis is not lua\n")
    r, path = check(make_conf(state, extra={"timers": {"script": script}}), workdir)
    assert r.returncode == 1
    assert "%s:4:" % script in r.stderr
    with open(script, "w") as f:
        f.write("function match(p) return nil end\n")
    r, _ = check(make_conf(state, extra={"timers": {"script": script}}), workdir)
    assert r.returncode == 0, r.stderr
    r, _ = check(make_conf(state, extra={"timers": {"script": script + ".missing"}}), workdir)
    assert r.returncode == 1
    assert "timers.script: cannot read" in r.stderr


def test_timers_import(workdir):
    """movistar-u7d's timers.conf as Lua rules that -t accepts."""
    sample = os.path.join(SOURCE, "tests", "data", "timers.conf")
    r = run([BINARY, "timers-import", sample])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("-- streamgate timer rules")
    for text in ('local timers = {\n  default_language = "VO",',
                 '["1"] = {\n      "Telediario 2 ## 21:00 ## Esp",',
                 '"Cap[ií]tulo \\\\d+ ## Esp",', '["657"] = {', '"Friends ## VO ## Keep3",',
                 '"Noticias\\\\s+\\\\d\\\\d:\\\\d\\\\d ## Esp ## 23:55",', '"Águila roja ## VO",',
                 '["4714"] = {\n      "^American Dad$ ## 12:15",',
                 "-- sync_cloud (line 6): not needed", "\nfunction match(p)\n"):
        assert text in out, text
    # an option streamgate ignores is said, with its line
    assert "streamgate: %s:24: warning: " % sample in r.stderr
    script = os.path.join(workdir, "timers.lua")
    with open(script, "w") as f:
        f.write(out)
    state = os.path.join(workdir, "state")
    r, _ = check(make_conf(state, extra={"timers": {"script": script}}), workdir)
    assert r.returncode == 0, r.stderr
    assert "skipping" not in r.stderr  # every entry compiled
    # JSON too
    r = run([BINARY, "timers-import", os.path.join(SOURCE, "tests", "data", "timers.json")])
    assert r.returncode == 0, r.stderr
    assert '"Friends ## VO ## Keep3",' in r.stdout
    # a broken file: FILE:LINE: on stderr, nothing on stdout, exit 1
    bad = os.path.join(workdir, "bad.conf")
    with open(bad, "w") as f:
        f.write('default_language = "VO"\n[match]\n"1" = [\n  "Noticias\n]\n')
    r = run([BINARY, "timers-import", bad])
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("streamgate: %s:4: unterminated string" % bad), r.stderr
    r = run([BINARY, "timers-import", os.path.join(workdir, "absent.conf")])
    assert r.returncode == 1
    assert "absent.conf: cannot read: No such file or directory" in r.stderr
    r = run([BINARY, "timers-import"])
    assert r.returncode == 1 and "usage: streamgate timers-import FILE" in r.stderr


def test_daemon_refuses_a_bad_config(workdir):
    r, path = check("server = { listen = 5; };\n", workdir)
    r = run([BINARY, "-c", path], cwd=workdir, timeout=10)
    assert r.returncode == 1
    assert "server.listen: expected a list of strings" in r.stderr
    assert "not started" in r.stderr
