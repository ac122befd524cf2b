#!/usr/bin/env python3
"""An operator that misbehaves on purpose, for immp's operator tests.

Its config block's `mode` says how:
  echo      answers "!echo X" with "X"; on reload posts "reloaded <config>"
            to `room`; writes its scratch dir to `room` on "!scratch"
  hang      says ready, then never reads again (pings go unanswered)
  crash     says ready, then exits with status 3
  stubborn  ignores the shutdown request and SIGTERM
  notify    speaks only systemd's notify protocol (READY=1, STATUS=, WATCHDOG=1)
  raw       sends each line of `lines` as is (@deep, @badutf8, @huge: hostile ones), then posts the `field` of every
            error answer to `room`, joined by "|"
  stderr    writes "hello from stderr" to stderr, then works as echo
"""
import json
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python"))
from immp_operator import Operator  # noqa: E402


def notify(message):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.sendto(message.encode(), os.environ["NOTIFY_SOCKET"])
    sock.close()


def main():
    op = Operator()
    if os.environ.get("FAKE_MODE") == "notify":
        notify("STATUS=warming up")
        notify("READY=1")
        period = int(os.environ["WATCHDOG_USEC"]) / 4e6
        signal.signal(signal.SIGTERM, lambda *_: (notify("STOPPING=1"), sys.exit(0)))
        while True:
            notify("WATCHDOG=1")
            time.sleep(period)
    op.connect()
    mode = op.config.get("mode", "echo")
    room = op.config.get("room", "room")
    if mode == "hang":
        op.subscribe()
        op.ready()
        while True:
            time.sleep(3600)
    if mode == "crash":
        op.ready()
        sys.exit(3)
    if mode == "raw":
        special = {
            "@deep": b"[" * 100 + b"]" * 100,
            "@badutf8": b'{"op":"log","message":"\xff\xfe"}',
            "@huge": b'{"op":"log","message":"' + b"a" * (5 << 20) + b'"}',
        }
        for line in op.config.get("lines", []):
            op._sock.sendall(special.get(line, line.encode()) + b"\n")
        # A ping last: its pong says every line before it was answered.
        op._sock.sendall(b'{"op":"ping","ref":"last"}\n')
        fields = []
        while True:
            frame = op.read()
            if frame is None or frame.get("ref") == "last":
                break
            if frame.get("op") == "error":
                fields.append(frame.get("field") or "-")
        op.send(room, "|".join(fields))
        op.ready()
        op.run(filter=False, ready=False)
        return
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        op.subscribe()
        op.ready()
        while True:  # answers pings, never stops
            frame = op.read()
            if frame is None:
                time.sleep(3600)
            if frame.get("op") == "ping":
                op.write({"op": "pong"})
    if mode == "stderr":
        sys.stderr.write("hello from stderr\n")
        sys.stderr.flush()

    @op.on_message
    def on(event):
        text = event.text
        if text.startswith("!echo "):
            op.send(event.source, text[6:])
        elif text == "!scratch":
            op.send(event.source, op.scratch)

    @op.on_reload
    def reloaded(config):
        op.send(room, "reloaded " + json.dumps(config, sort_keys=True))

    op.run()


if __name__ == "__main__":
    main()
