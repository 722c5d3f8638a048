"""The recordings folder over HTTP: /recordings.m3u (and /grabaciones.m3u),
newest first, grouped by folder, covers as logos; /recording/<path> with
Range and the right types; every way out of the folder refused."""
import os
import shutil
import subprocess
import urllib.parse

import pytest

from conftest import run


def raw_get(d, target):
    """A GET with the target exactly as given (no client-side clean-up)."""
    data = d.raw(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target).encode())
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
def library(daemon, workdir, media):
    rec = os.path.join(workdir, "recordings")
    os.makedirs(os.path.join(rec, "Serie", "Temporada"))
    os.makedirs(os.path.join(rec, "Film"))
    os.makedirs(os.path.join(rec, ".hidden"))
    mkv = os.path.join(rec, "Serie", "Serie S01E02 - Uno, dos.mkv")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", media, "-map", "0",
                    "-c", "copy", "-t", "3", mkv], check=True)
    shutil.copy(media, os.path.join(rec, "Film", "Film.ts"))
    with open(os.path.join(rec, "Film", "Film.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    with open(os.path.join(rec, "Serie", "Temporada", "E1.mp4"), "wb") as f:
        f.write(b"\x00" * 5000)
    with open(os.path.join(rec, ".Film.mkv.tmp"), "wb") as f:
        f.write(b"half a recording")
    with open(os.path.join(rec, ".hidden", "x.mkv"), "wb") as f:
        f.write(b"hidden")
    with open(os.path.join(workdir, "secret.mkv"), "wb") as f:
        f.write(b"outside the folder")
    os.symlink(os.path.join(workdir, "secret.mkv"), os.path.join(rec, "leak.mkv"))
    os.symlink("/", os.path.join(rec, "root"))
    os.symlink(os.path.join("Film", "Film.ts"), os.path.join(rec, "alias.ts"))
    # mtimes: the series episode newest, then the film, then the mp4
    os.utime(mkv, (3000000000, 3000000000))
    os.utime(os.path.join(rec, "Film", "Film.ts"), (2900000000, 2900000000))
    os.utime(os.path.join(rec, "Serie", "Temporada", "E1.mp4"), (2800000000, 2800000000))
    daemon.start(extra={"recordings": {"dir": rec}})
    return rec


def test_playlist_newest_first_grouped_with_covers(daemon, library):
    for path in ("/recordings.m3u", "/grabaciones.m3u"):
        st, h, body = daemon.get(path)
        assert st == 200 and h["content-type"].startswith("audio/x-mpegurl"), (st, h)
        lines = body.decode().splitlines()
        assert lines[0].startswith("#EXTM3U")
        entries = list(zip(lines[1::2], lines[2::2]))
        urls = [u for _, u in entries]
        base = daemon.url("/recording/")
        assert urls == [base + urllib.parse.quote("Serie/Serie S01E02 - Uno, dos.mkv"),
                        base + "Film/Film.ts",
                        base + "Serie/Temporada/E1.mp4"], urls
        inf = [i for i, _ in entries]
        assert 'group-title="Serie"' in inf[0] and inf[0].endswith(",Serie S01E02 - Uno: dos")
        assert 'group-title="Film"' in inf[1] and 'tvg-logo="%sFilm/Film.jpg"' % base in inf[1]
        assert 'group-title="Serie/Temporada"' in inf[2] and "tvg-logo" not in inf[2]
        # hidden names (recordings under way) and symlinks are not listed
        assert ".tmp" not in body.decode() and "hidden" not in body.decode()
        assert "leak" not in body.decode() and "alias" not in body.decode()


def test_files_with_range_and_types(daemon, library, media):
    with open(media, "rb") as f:
        ts = f.read()
    st, h, body = daemon.get("/recording/Film/Film.ts")
    assert st == 200 and h["content-type"] == "video/mp2t" and body == ts
    st, h, body = daemon.get("/recording/Film/Film.ts", headers={"Range": "bytes=100-199"})
    assert st == 206 and body == ts[100:200]
    assert h["content-range"] == "bytes 100-199/%d" % len(ts)
    st, h, body = daemon.get("/recording/Film/Film.ts", headers={"Range": "bytes=%d-" % (len(ts) + 5)})
    assert st == 416 and h["content-range"] == "bytes */%d" % len(ts)
    st, h, body = daemon.request("HEAD", "/recording/Film/Film.ts")
    assert st == 200 and int(h["content-length"]) == len(ts) and body == b""
    st, h, _ = daemon.get("/recording/Serie/Temporada/E1.mp4")
    assert st == 200 and h["content-type"] == "video/mp4"
    st, h, _ = daemon.get("/recording/Film/Film.jpg")
    assert st == 200 and h["content-type"] == "image/jpeg"
    # movistar-u7d's form, and a symlink that stays inside
    st, h, body = daemon.get("/recording/?" + urllib.parse.quote("Film/Film.ts"))
    assert st == 200 and body == ts
    st, h, body = daemon.get("/recording/alias.ts")
    assert st == 200 and body == ts
    # a real player reads the Matroska file over HTTP
    r = run(["ffprobe", "-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0",
             daemon.url("/recording/" + urllib.parse.quote("Serie/Serie S01E02 - Uno, dos.mkv"))])
    assert r.returncode == 0 and "matroska" in r.stdout, r.stderr


@pytest.mark.parametrize("target", [
    "/recording/../secret.mkv",
    "/recording/Film/../../secret.mkv",
    "/recording/%2e%2e/secret.mkv",
    "/recording/%2E%2E%2Fsecret.mkv",
    "/recording/Film/%2e%2e/%2e%2e/secret.mkv",
    "/recording//etc/passwd",
    "/recording/%2Fetc%2Fpasswd",
    "/recording/?../secret.mkv",
    "/recording/?%2Fetc%2Fpasswd",
    "/recording/leak.mkv",
    "/recording/root/etc/passwd",
    "/recording/root/etc/hostname.ts",
    "/recording/.Film.mkv.tmp",
    "/recording/.hidden/x.mkv",
    "/recording/Film/Film.ts%00.mkv",
    "/recording/Film",
    "/recording/",
    "/recording",
])
def test_nothing_outside_the_folder(daemon, library, target):
    st, body = raw_get(daemon, target)
    assert st in (400, 404), (target, st)
    assert b"outside the folder" not in body and b"root:" not in body and b"half a" not in body


def test_no_folder_configured(daemon):
    daemon.start(extra={})
    assert daemon.get("/recordings.m3u")[0] == 404
    assert daemon.get("/recording/x.mkv")[0] == 404


def test_partial_files_removed_at_start(daemon, library):
    """A recording that never finished (the daemon or the recorder killed)
    leaves only a hidden temporary file; the next start removes it."""
    assert not os.path.exists(os.path.join(library, ".Film.mkv.tmp"))
    assert "left by a recording that did not finish" in daemon.log()
    assert os.path.exists(os.path.join(library, "Film", "Film.ts"))
    assert os.path.exists(os.path.join(library, ".hidden", "x.mkv"))  # not a temporary file
    assert daemon.json("/api/recordings") == {"recordings": []}
