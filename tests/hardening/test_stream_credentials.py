"""Stream URLs in the formats IP cameras really use: the secret in each never reaches what
is shown (mask_url, messages, status bar, dialog), logged or stored (a real QSettings INI
file, through the GUI's own code), and the host and port are read past passwords that
hold / ? # @.

Failing opens go to 127.0.0.1 on a port nothing listens on, so FFmpeg is refused at once.
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from engine.core.errors import SourceError
from engine.io.stream import StreamSource, has_credentials, mask_url
from engine.io.stream_url import parse_stream_url, storable_url
from gui.common.context import AppContext
from gui.common.placeholder_tab import PlaceholderTab
from gui.shell.main_window import KEY_LAST_SOURCE, MainWindow
from gui.shell.source_stream import KEY_RECENT, recent_streams, remember_stream

# (url, shown by mask_url, stored in the settings, secrets that must never appear in either)
CAMERA_URLS = [
    ("rtsp://admin:Hik12345x@192.168.1.64:554/Streaming/Channels/101",
     "rtsp://***@192.168.1.64:554/Streaming/Channels/101", "rtsp://192.168.1.64:554/Streaming/Channels/101",
     ["Hik12345x", "admin"]),
    ("rtsp://192.168.1.10:554/live;user=admin;password=Xm3yeSecret",
     "rtsp://192.168.1.10:554/live", "rtsp://192.168.1.10:554/live", ["Xm3yeSecret", "admin"]),
    ("rtsp://192.168.1.10:554/user=admin&password=Xm3yePath&channel=1&stream=0.sdp?real_stream",
     "rtsp://192.168.1.10:554/***?***", "rtsp://192.168.1.10:554/***", ["Xm3yePath", "admin", "real_stream"]),
    ("http://192.168.1.20:81/videostream.cgi?loginuse=admin&loginpas=LoginPas9",
     "http://192.168.1.20:81/videostream.cgi?***", "http://192.168.1.20:81/videostream.cgi", ["LoginPas9", "admin"]),
    ("http://cam.local:88/cgi-bin/CGIStream.cgi?cmd=GetMJStream&user=admin&pwd=FoscamPwd7",
     "http://cam.local:88/cgi-bin/CGIStream.cgi?***", "http://cam.local:88/cgi-bin/CGIStream.cgi",
     ["FoscamPwd7", "admin"]),
    ("http://192.168.1.30/mjpg/video.mjpg?p=ShortP4ss", "http://192.168.1.30/mjpg/video.mjpg?***",
     "http://192.168.1.30/mjpg/video.mjpg", ["ShortP4ss"]),
    ("rtsp://192.168.1.31:554/ch0_0.h264?user=admin&pw=PwValue55", "rtsp://192.168.1.31:554/ch0_0.h264?***",
     "rtsp://192.168.1.31:554/ch0_0.h264", ["PwValue55", "admin"]),
    ("http://192.168.1.32/livestream.cgi?user=admin&psw=PswValue66&streamid=0",
     "http://192.168.1.32/livestream.cgi?***", "http://192.168.1.32/livestream.cgi", ["PswValue66", "admin"]),
    ("http://192.168.1.33/video.mjpg#FragSecret1", "http://192.168.1.33/video.mjpg",
     "http://192.168.1.33/video.mjpg", ["FragSecret1"]),
    ("rtsp://admin:Pa/ssw0rd@192.168.1.34:554/s", "rtsp://***@192.168.1.34:554/s", "rtsp://192.168.1.34:554/s",
     ["Pa/ssw0rd", "ssw0rd", "admin"]),
    ("rtsp://admin:Que?ry9@192.168.1.35:554/s", "rtsp://***@192.168.1.35:554/s", "rtsp://192.168.1.35:554/s",
     ["Que?ry9", "ry9@", "admin"]),
    ("rtsp://admin:Hash#tag8@192.168.1.36/s", "rtsp://***@192.168.1.36/s", "rtsp://192.168.1.36/s",
     ["Hash#tag8", "tag8", "admin"]),
    ("rtsp://admin:At@sign7@192.168.1.37/s", "rtsp://***@192.168.1.37/s", "rtsp://192.168.1.37/s",
     ["At@sign7", "sign7", "admin"]),
    ("rtsp://ad:min:Mi/x?e#d@all6@cam.example.org:8554/main", "rtsp://***@cam.example.org:8554/main",
     "rtsp://cam.example.org:8554/main", ["Mi/x?e#d@all6", "all6", "min"]),
    ("rtsp://admin:Pct%40enc%2F5@192.168.1.38/s", "rtsp://***@192.168.1.38/s", "rtsp://192.168.1.38/s",
     ["Pct%40enc%2F5", "Pct@enc/5", "enc", "admin"]),
    ("rtsp://admin:Ipv6Pass4@[fe80::1%25eth0]:554/live", "rtsp://***@[fe80::1%25eth0]:554/live",
     "rtsp://[fe80::1%25eth0]:554/live", ["Ipv6Pass4", "admin"]),
    ("http://[2001:db8::5]/mjpg?pwd=Ipv6Query3", "http://[2001:db8::5]/mjpg?***", "http://[2001:db8::5]/mjpg",
     ["Ipv6Query3"]),
    ("rtsp://operator@192.168.1.39/live", "rtsp://***@192.168.1.39/live", "rtsp://192.168.1.39/live", ["operator"]),
    ("rtsps://192.168.1.1:7441/stream?token=Tok3nValue&enableSrtp", "rtsps://192.168.1.1:7441/stream?***",
     "rtsps://192.168.1.1:7441/stream", ["Tok3nValue", "enableSrtp"]),
    # An @ in a query, fragment or path parameter password: read up to the last @, the host
    # would be the password's end, so only the scheme is shown.
    ("http://192.168.1.40/videostream.cgi?user=admin&pwd=P@ssw0rdQ", "http://***", "http://***",
     ["ssw0rdQ", "admin"]),
    ("http://192.168.1.41/video.mjpg#key=K3y@end.example", "http://***", "http://***", ["K3y", "end.example"]),
    ("rtsp://192.168.1.42:554/live;password=Par@m.host", "rtsp://***", "rtsp://***", ["Par", "m.host"]),
    ("rtsp://admin:Pa/ss@192.168.1.43/live?pwd=Two@parts", "rtsp://***", "rtsp://***", ["Pa/ss", "Two", "parts"]),
    ("rtsp://192.168.1.44:554/live;password=Sla/shParam", "rtsp://192.168.1.44:554/live",
     "rtsp://192.168.1.44:554/live", ["Sla", "shParam"]),
]
IDS = [url.split("://")[1][:40] for url, *_ in CAMERA_URLS]


@pytest.mark.parametrize(("url", "shown", "stored", "secrets"), CAMERA_URLS, ids=IDS)
def test_mask_and_store_forms_hold_no_secret(url, shown, stored, secrets):
    assert mask_url(url) == shown
    assert storable_url(url) == stored
    assert has_credentials(url)
    for secret in secrets:
        assert secret not in mask_url(url) and secret not in storable_url(url)


@pytest.mark.parametrize(("url", "shown", "stored", "secrets"), CAMERA_URLS, ids=IDS)
def test_the_stream_dialog_stores_no_secret_in_the_settings_file(tmp_path, url, shown, stored, secrets):
    ini = tmp_path / "settings.ini"
    settings = QSettings(str(ini), QSettings.Format.IniFormat)
    remember_stream(settings, "rtsp://10.0.0.9/first")
    remember_stream(settings, url)
    settings.sync()
    text = ini.read_text(encoding="utf-8")
    for secret in secrets:
        assert secret not in text
    if parse_stream_url(url).worth_storing:
        assert recent_streams(settings) == [stored, "rtsp://10.0.0.9/first"]
    else:  # no host that can be told: nothing worth remembering
        assert recent_streams(settings) == ["rtsp://10.0.0.9/first"]


def test_entries_stored_in_full_by_an_older_version_are_reduced(tmp_path):
    ini = tmp_path / "settings.ini"
    settings = QSettings(str(ini), QSettings.Format.IniFormat)
    settings.setValue(KEY_RECENT, '["rtsp://admin:OldSecret1@10.0.0.5/live", "http://cam/v?pwd=OldSecret2"]')
    assert recent_streams(settings) == ["rtsp://10.0.0.5/live", "http://cam/v"]
    remember_stream(settings, "rtsp://10.0.0.6/other")
    settings.sync()
    text = ini.read_text(encoding="utf-8")
    assert "OldSecret" not in text and "admin" not in text


@pytest.mark.parametrize(("url", "host", "port", "path"), [
    ("rtsp://admin:Pa/ssw0rd@host:554/s", "host", 554, "/s"),
    ("rtsp://admin:Pa?ss#w@rd@10.0.0.5:8554/live/main", "10.0.0.5", 8554, "/live/main"),
    ("rtsp://admin:x@[::1]:554/live", "[::1]", 554, "/live"),
    ("http://cam.local/mjpg", "cam.local", None, "/mjpg"),
])
def test_host_and_port_are_read_past_the_password(url, host, port, path):
    parsed = parse_stream_url(url)
    assert (parsed.host, parsed.port_number, parsed.path, parsed.problem) == (host, port, path, None)
    source = StreamSource(url)  # validates without complaint
    assert source.name == mask_url(url)


@pytest.mark.parametrize(("url", "message"), [
    ("rtsp://admin:Pa/ssw0rd@host:abc/s", "the port is not a number"),
    ("rtsp://admin:Pa/ssw0rd@host:99999/s", "between 1 and 65535"),
    ("rtsp://admin:Pa/ssw0rd@/s", "names no host"),
    ("rtsp://admin:Pa/ssw0rd@[::1/s", "closing ']'"),
    ("rtsp://cam:S3cretPort/live", "the port is not a number"),
])
def test_bad_urls_get_the_right_message_without_the_secret(url, message):
    with pytest.raises(SourceError) as info:
        StreamSource(url)
    text = str(info.value)
    assert message in text and "ssw0rd" not in text and "S3cretPort" not in text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAILING = [
    "rtsp://admin:Pa/ssw0rdZ@127.0.0.1:{port}/s",
    "rtsp://admin:Qu?e#r@yZ@127.0.0.1:{port}/live;user=admin;password=ParamZ",
    "http://127.0.0.1:{port}/videostream.cgi?loginuse=admin&loginpas=LoginZ",
    "rtsp://127.0.0.1:{port}/user=admin&password=PathZ&channel=1&stream=0.sdp",
]
FAILING_SECRETS = ["ssw0rdZ", "r@yZ", "ParamZ", "LoginZ", "PathZ", "admin"]


@pytest.mark.parametrize("template", FAILING)
def test_a_failed_open_logs_and_says_nothing_secret(caplog, capfd, template):
    url = template.format(port=_closed_port())
    caplog.set_level(logging.DEBUG)
    source = StreamSource(url, open_timeout_s=2.0, read_timeout_s=1.0, background_open=False)
    with pytest.raises(SourceError) as info:
        source.start()
    message = str(info.value)
    assert message.startswith(mask_url(url) + ": cannot be opened (")  # FFmpeg (rtsp) or the MJPEG reader (http) says why
    logged = "\n".join(r.getMessage() for r in caplog.records)
    native = capfd.readouterr()
    for secret in FAILING_SECRETS:
        assert secret not in message and secret not in logged
        assert secret not in native.out and secret not in native.err


@pytest.mark.parametrize(("url", "given"), [
    ("rtsp://admin:Pa/ssw0rd@host:554/s", "rtsp://admin:Pa%2Fssw0rd@host:554/s"),
    ("rtsp://admin:Qu?e#r@y@host/s", "rtsp://admin:Qu%3Fe%23r%40y@host/s"),
    # FFmpeg already reads these as the user meant them: they go as typed.
    ("rtsp://admin:At@sign@host/s", "rtsp://admin:At@sign@host/s"),
    ("http://192.168.1.40/videostream.cgi?user=admin&pwd=P@ssw0rd", "http://192.168.1.40/videostream.cgi?user=admin&pwd=P@ssw0rd"),
    ("rtsp://host:554/live;password=x", "rtsp://host:554/live;password=x"),
])
def test_what_ffmpeg_is_given(url, given):
    assert parse_stream_url(url).connect_url() == given


def test_the_password_reaches_the_camera_intact():
    """The stream reader (FFmpeg, or the MJPEG reader for http) is given the user
    information percent-encoded, so it connects to the host this parser found and sends
    the password as typed (seen here by a local server)."""
    seen: list[str] = []

    class Camera(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server naming)
            auth = self.headers.get("Authorization")
            if auth:
                seen.append(base64.b64decode(auth.split()[1]).decode())
                self.send_response(404)
            else:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="cam"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://admin:Pa/ss?w#o@rd@127.0.0.1:{server.server_address[1]}/video.mjpg"
        source = StreamSource(url, open_timeout_s=3.0, background_open=False)
        with pytest.raises(SourceError, match=r"127\.0\.0\.1"):  # 404: the path; the message names the host
            source.start()
    finally:
        server.shutdown()
        server.server_close()
    assert seen and seen[-1] == "admin:Pa/ss?w#o@rd"


def test_the_window_shows_logs_and_stores_no_secret(qtbot, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    ini = tmp_path / "settings.ini"
    settings = QSettings(str(ini), QSettings.Format.IniFormat)
    context = AppContext(settings, torch.device("cpu"))
    window = MainWindow(settings, torch.device("cpu"), source="demo",
                        tabs=[PlaceholderTab(context, "Probe", "only the window is tested here")])
    qtbot.addWidget(window)
    window.show()
    shown: list[str] = []
    window.statusBar().messageChanged.connect(shown.append)
    try:
        qtbot.waitUntil(lambda: window.pipeline.source is not None and window.pipeline.source.name == "demo",
                        timeout=10000)
        for template in FAILING:
            url = template.format(port=_closed_port())
            window.context.last_error = None
            assert window.open_source(url) is True  # opened in the background; the failure comes as an event
            assert settings.value(KEY_LAST_SOURCE) == storable_url(url)
            window.save_settings()  # what closing the window writes, while the URL is current
            assert settings.value(KEY_LAST_SOURCE) == storable_url(url)
            qtbot.waitUntil(lambda: window.context.last_error is not None, timeout=15000)
            title, message = window.context.last_error
            assert title == "The video source failed"
            assert message.startswith(mask_url(url) + ": cannot be opened (")  # FFmpeg (rtsp) or the MJPEG reader (http) says why
            dialogs = [d.text() for d in window.findChildren(QMessageBox, "errorDialog")]
            assert dialogs and all(mask_url(url) in d or "demo" in d for d in dialogs[-1:])
            qtbot.waitUntil(lambda: window.pipeline.source.name == "demo", timeout=10000)
            settings.sync()
            stored = ini.read_text(encoding="utf-8")
            visible = "\n".join(shown + dialogs + [window.source_bar.source_label.text(), message])
            logged = "\n".join(r.getMessage() for r in caplog.records)
            for secret in FAILING_SECRETS:
                assert secret not in stored, (secret, url)
                assert secret not in visible, (secret, url)
                assert secret not in logged, (secret, url)
    finally:
        window.shutdown()
