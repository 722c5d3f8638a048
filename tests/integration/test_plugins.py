"""The plugin boundary end to end: every host call through the demo plugin,
lifecycle (init failure, SIGHUP, reload), persistence, the HTTP client."""
import http.server
import os
import re
import shutil
import signal
import threading

import pytest

from conftest import demo_plugin, wait_for


class Upstream(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):
        Upstream.hits.append((self.path, self.headers.get("Cookie"), self.headers.get("User-Agent")))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hello")
            self.send_header("Set-Cookie", "JSESSIONID=abc123; Path=/")
            self.end_headers()
            return
        body = b"hello from upstream\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    Upstream.hits = []
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def details(d, name="demo"):
    for p in d.status()["plugins"]:
        if p["name"] == name:
            return p
    raise KeyError(name)


def test_http_client_is_loaded_only_when_used(daemon, upstream):
    daemon.start(plugins=[demo_plugin()])
    assert daemon.status()["http_client"]["loaded"] is False
    daemon.restart(plugins=[demo_plugin(fetch_url=upstream + "/redirect")])
    wait_for(lambda: details(daemon)["details"]["fetched"], what="the fetch")
    p = details(daemon)
    # redirect followed, body and status delivered, stored through the kv store
    assert p["details"]["fetched"] == "200 hello from upstream "
    assert daemon.status()["http_client"]["loaded"] is True
    # the second fetch was cancelled: its callback never ran
    assert p["details"]["fetches_cancelled"] == 1
    wait_for(lambda: daemon.status()["http_client"]["transfers"] == 0, what="transfers done")
    assert details(daemon)["details"]["fetches_done"] == 1
    daemon.wait_log(r"<demo>: fetched %s/hello: status 200, 20 bytes, type text/plain; charset=utf-8"
                    % upstream)
    # the cookie from the redirect reached the second request; our User-Agent
    assert Upstream.hits[0][0] == "/redirect"
    assert Upstream.hits[1] == ("/hello", "JSESSIONID=abc123", "streamgate/0.1.0")


def test_fetch_failure_is_reported_not_fatal(daemon):
    daemon.start(plugins=[demo_plugin(fetch_url="http://127.0.0.1:1/nothing")])
    daemon.wait_log(r"<demo>: fetched http://127\.0\.0\.1:1/nothing: status 0, 0 bytes.*error: ")
    assert details(daemon)["state"] == "running"


def test_status_memory_and_state(daemon):
    daemon.start(plugins=[demo_plugin(), {"name": "ustream"}])
    wait_for(lambda: details(daemon)["status"] == "ready", what="demo ready")
    st = daemon.status()
    assert st["version"] == "0.1.0" and st["pid"] == daemon.proc.pid
    assert st["listen"] == daemon.base
    demo = details(daemon)
    assert demo["caps"] == ["channels", "epg", "live", "catchup"]
    assert demo["channels"] == 2 and demo["memory_bytes"] > 0
    assert demo["details"]["commits"] == 1 and demo["details"]["name"] == "demo"
    assert demo["details"]["tags"] == "a,b"  # a STRING_LIST default
    other = details(daemon, "ustream")
    assert other["state"] == "running" and other["status"] == "ready"
    assert other["caps"] == ["routes", "jobs"]
    # its own status: job counts, and where files go without recordings.dir
    assert other["details"]["jobs_running"] == 0
    assert other["details"]["out_dir"].endswith("/ustream/downloads")


def test_failed_plugin_does_not_stop_the_daemon(daemon):
    daemon.expect_error(r"plugin: demo failed to start")
    daemon.start(plugins=[demo_plugin(mode="fail_init"), {"name": "ustream"}])
    p = details(daemon)
    assert p["state"] == "failed" and p["status"] == "refused to start (mode = fail_init)"
    assert details(daemon, "ustream")["state"] == "running"
    assert daemon.get("/channels.m3u")[0] == 200


def test_kv_and_state_dir_persist(daemon):
    daemon.start(plugins=[demo_plugin()])
    assert details(daemon)["details"]["boots"] == 1
    daemon.restart()
    assert details(daemon)["details"]["boots"] == 2
    with open(os.path.join(daemon.state, "demo", "boots.txt")) as f:
        assert f.read() == "2\n"
    assert daemon.metric("streamgate_demo_boots") == 2


def test_sighup_reopens_log_and_reloads(daemon):
    script = os.path.join(daemon.workdir, "timers.lua")
    with open(script, "w") as f:
        f.write("function match(p) return nil end\n")
    log = os.path.join(daemon.workdir, "file.log")
    daemon.start(server={"log_file": log}, plugins=[demo_plugin()],
                 extra={"timers": {"script": script}})
    wait_for(lambda: os.path.exists(log) and "ready at" in open(log).read(), what="log file")
    shutil.move(log, log + ".1")  # logrotate
    # a broken script on reload keeps the previous rules and says so
    with open(script, "w") as f:
        f.write("function match(p\n")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(log), what="log reopened")
    wait_for(lambda: details(daemon)["details"]["reloads"] == 1, what="plugin reload")
    text = wait_for(lambda: "previous rules stay" in open(log).read() and open(log).read(),
                    what="script error logged")
    assert "SIGHUP: log reopened, reloading" in text
    assert re.search(r"\[err\] script: .*timers\.lua:\d+: .*previous rules stay in force", text)
    # POST /api/reload does the same
    assert daemon.request("POST", "/api/reload")[0] == 200
    wait_for(lambda: details(daemon)["details"]["reloads"] == 2, what="second reload")
    daemon.log_path = log  # the teardown checks the new file
    daemon.expect_error(r"previous rules stay in force")


def test_timers_script_loaded(daemon):
    script = os.path.join(daemon.workdir, "timers.lua")
    with open(script, "w") as f:
        f.write("sg.log('rules', 1 + 1)\nfunction match(p) return nil end\n")
    daemon.start(extra={"timers": {"script": script}})
    daemon.wait_log(r"script: .*timers\.lua: rules 2")
    daemon.wait_log(r"timer rules loaded from \S*timers\.lua\n")
