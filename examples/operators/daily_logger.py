#!/usr/bin/env python3
"""Writes each channel's messages to a daily log file, as an immp operator.

Files go to <dir>/<channel>/<YYYY-MM-DD>.log, one line per message:
"HH:MM:SS <user> text". Config: `dir` (default: the operator's data
directory, IMMP_DATA_DIR), `channels` (a filter list; default everything).
"""
import datetime
import os
import re
import sys

try:
    from immp_operator import Operator
except ImportError:  # run from a checkout of immp
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python"))
    from immp_operator import Operator

op = Operator()
UNSAFE = re.compile(r"[^A-Za-z0-9._#-]+")


def folder(source):
    return UNSAFE.sub("_", source).strip("._") or "_"


@op.on_event
def record(event):
    if event.type not in ("message", "edit", "join", "part"):
        return
    at = datetime.datetime.now(datetime.timezone.utc)
    if "at" in event.data:
        at = datetime.datetime.fromtimestamp(event.data["at"] / 1000, datetime.timezone.utc)
    base = op.config.get("dir") or op.data_dir
    path = os.path.join(base, folder(event.source or "unknown"))
    os.makedirs(path, exist_ok=True)
    if event.type == "message":
        line = "<%s> %s" % (event.username, event.text)
    elif event.type == "edit":
        line = "<%s> (edited) %s" % (event.username, event.text)
    elif event.type == "join":
        line = "-- %s joined" % ", ".join(u.get("username") or u.get("id", "") for u in event.data.get("joined", []))
    else:
        line = "-- %s left" % ", ".join(u.get("username") or u.get("id", "") for u in event.data.get("left", []))
    with open(os.path.join(path, at.strftime("%Y-%m-%d") + ".log"), "a", encoding="utf-8") as log:
        log.write("%s %s\n" % (at.strftime("%H:%M:%S"), line.replace("\n", " ")))


if __name__ == "__main__":
    op.connect()
    channels = op.config.get("channels")
    op.run(filter={"channels": channels} if channels else None)
