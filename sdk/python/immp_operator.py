"""Operators for immp in Python: the local bus socket, standard library only.

An operator is a program the immp host starts (the ``operators`` section of
its config) and that joins the host's message stream over a Unix socket.
The host passes everything needed in the environment (IMMP_BUS_SOCKET,
IMMP_OPERATOR_NAME, IMMP_OPERATOR_TOKEN, IMMP_SCRATCH_DIR, IMMP_DATA_DIR)::

    from immp_operator import Operator

    op = Operator()

    @op.on_message
    def hello(event):
        if event.text == "!hello":
            op.send(event.source, "Hello, %s!" % event.username)

    op.run(filter={"kinds": ["message"]})

The protocol is docs/protocol.md of the immp repository. Pings are
answered, ``reload`` updates ``op.config`` and calls on_reload handlers,
``shutdown`` (or SIGTERM) ends ``run()`` after on_shutdown handlers.
"""

import json
import os
import select
import signal
import socket

__all__ = ["Operator", "Event", "OperatorError"]

VERSION = 1
MAX_LINE = 4 * 1024 * 1024


class OperatorError(Exception):
    """The host refused a request: ``field`` names what was wrong."""

    def __init__(self, error, field=""):
        super().__init__(error)
        self.error = error
        self.field = field


class Event:
    """One event of the stream (a CloudEvents envelope, ``raw``)."""

    def __init__(self, envelope):
        self.raw = envelope
        self.id = envelope.get("id")
        self.type = envelope.get("type")
        self.source = envelope.get("source")
        self.subject = envelope.get("subject")
        self.data = envelope.get("data") or {}

    @property
    def text(self):
        """The plain text of the message ('' when it has none)."""
        if "plain" in self.data:
            return self.data["plain"]
        text = self.data.get("text", "")
        if isinstance(text, list):
            return "".join(seg.get("text", "") for seg in text)
        return text

    @property
    def user(self):
        return self.data.get("user") or {}

    @property
    def username(self):
        user = self.user
        return user.get("username") or user.get("real_name") or user.get("id") or ""

    @property
    def operator(self):
        """For events another operator emitted: its name."""
        return self.raw.get("immpoperator")

    def __repr__(self):
        return "Event(%s %s %s %r)" % (self.id, self.type, self.source, self.text)


class Operator:
    """One connection to the host's bus, as the operator named in the env."""

    def __init__(self, name=None, token=None, path=None):
        self.name = name or os.environ.get("IMMP_OPERATOR_NAME", "")
        self.token = token or os.environ.get("IMMP_OPERATOR_TOKEN", "")
        self.path = path or os.environ.get("IMMP_BUS_SOCKET", "")
        self.scratch = os.environ.get("IMMP_SCRATCH_DIR")
        self.data_dir = os.environ.get("IMMP_DATA_DIR")
        self.config = {}
        self.seq = 0  # the last event id seen: a resume cursor
        self._sock = None
        self._buffer = b""
        self._backlog = []
        self._next_ref = 0
        self._stopping = False
        self._handlers = []  # (kinds or None, function)
        self._reload = []
        self._shutdown = []
        self._emitted = []
        self._watched = {}  # file object -> function(), called by run() when readable

    # ---- handlers ----------------------------------------------------------

    def on_event(self, function=None, kinds=None):
        """Registers ``function(event)`` for events (of ``kinds``, if given)."""

        def register(f):
            self._handlers.append((set(kinds) if kinds else None, f))
            return f

        return register(function) if function else register

    def on_message(self, function):
        return self.on_event(function, kinds=["message"])

    def on_reload(self, function):
        """``function(config)``: the host sent a new config block."""
        self._reload.append(function)
        return function

    def on_shutdown(self, function):
        """``function()``: the host asked this operator to stop."""
        self._shutdown.append(function)
        return function

    def watch(self, fileobj, function):
        """Has run() call ``function()`` whenever ``fileobj`` (a socket, or
        anything select() takes) is readable, on run()'s own thread: an
        operator that also talks to a network needs no thread of its own,
        and may call send() from ``function``. ``unwatch`` ends it."""
        self._watched[fileobj] = function

    def unwatch(self, fileobj):
        self._watched.pop(fileobj, None)

    # ---- the connection -----------------------------------------------------

    def connect(self):
        """Connects and says hello; returns the welcome frame."""
        if not self.path or not self.token:
            raise OperatorError("not started by immp: IMMP_BUS_SOCKET and IMMP_OPERATOR_TOKEN are unset")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(self.path)
        welcome = self.request({"op": "hello", "name": self.name, "token": self.token,
                                "version": VERSION})
        self.config = welcome.get("config") or {}
        self.seq = welcome.get("seq", 0)
        self.scratch = welcome.get("scratch", self.scratch)
        self.data_dir = welcome.get("data", self.data_dir)
        return welcome

    def close(self):
        if self._sock:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def subscribe(self, filter=None, since=None, own=False):
        frame = {"op": "subscribe", "filter": filter}
        if since is not None:
            frame["since"] = since
        if own:
            frame["own"] = True
        return self.request(frame)

    def ready(self):
        """Tells the host this operator is ready (as sd_notify READY=1)."""
        self.write({"op": "ready"})

    def send(self, channel, text, reply_to=None, **data):
        """Sends a message to ``channel`` (a channel name or "plug/source")
        and waits for its receipt; raises OperatorError when refused."""
        self._next_ref += 1
        payload = dict(data)
        payload["text"] = text
        if reply_to is not None:
            payload["reply_to"] = reply_to
        event = {"specversion": "1.0", "id": "%s-%d" % (self.name, self._next_ref),
                 "source": channel, "type": "message", "data": payload}
        return self.request({"op": "send", "event": event})

    def emit(self, type, data=None, source=None):
        """Puts an event of one's own ``type`` into the stream; its id."""
        self._next_ref += 1
        event = {"specversion": "1.0", "id": "%s-%d" % (self.name, self._next_ref),
                 "source": source or self.name, "type": type}
        if data is not None:
            event["data"] = data
        return self.request({"op": "emit", "event": event})["id"]

    def log(self, message, level="info", logger=None):
        """A log record, logged by the host as immp.operator.<name>[.<logger>]."""
        frame = {"op": "log", "message": message, "level": level}
        if logger:
            frame["logger"] = logger
        self.write(frame)

    def fetch_config(self):
        self.config = self.request({"op": "config"})["config"]
        return self.config

    def set_config(self, config):
        """Changes this operator's config block in the host (written back
        to the config file when immp runs with -w)."""
        self.config = self.request({"op": "config", "set": config})["config"]
        return self.config

    def status(self):
        return self.request({"op": "status"})["operators"]

    def control(self, operator, action):
        """halt, resume, reload, restart, stop or start another operator
        (needs ``admin: true``)."""
        return self.request({"op": "control", "operator": operator, "action": action})

    # ---- frames -------------------------------------------------------------

    def write(self, frame):
        data = json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        self._sock.sendall(data)

    def read(self):
        """The next frame from the host, or None at the end."""
        while True:
            nl = self._buffer.find(b"\n")
            if nl >= 0:
                line, self._buffer = self._buffer[:nl], self._buffer[nl + 1:]
                if not line.strip():
                    continue
                return json.loads(line)
            if len(self._buffer) > MAX_LINE:
                raise OperatorError("the host sent a line longer than %d bytes" % MAX_LINE)
            try:
                chunk = self._sock.recv(1 << 16)
            except OSError:
                if self._stopping:
                    return None
                raise
            if not chunk:
                return None
            self._buffer += chunk

    def request(self, frame):
        """Writes ``frame`` with a fresh ref and returns the answer with that
        ref; raises OperatorError for an error answer. Other frames that
        arrive meanwhile are kept for run()."""
        self._next_ref += 1
        ref = self._next_ref
        frame = dict(frame, ref=ref)
        self.write(frame)
        while True:
            answer = self.read()
            if answer is None:
                raise OperatorError("the host closed the connection")
            if answer.get("ref") == ref:
                if answer.get("op") == "error":
                    raise OperatorError(answer.get("error", ""), answer.get("field", ""))
                return answer
            if not self._control(answer):
                self._backlog.append(answer)

    def _control(self, frame):
        """Handles what needs no handler at once; True if it was that."""
        op = frame.get("op")
        if op == "ping":
            self.write({"op": "pong"})
            return True
        return False

    def dispatch(self, frame):
        op = frame.get("op")
        if op == "event":
            event = Event(frame["event"])
            try:
                self.seq = max(self.seq, int(event.id))
            except (TypeError, ValueError):
                pass
            for kinds, handler in self._handlers:
                if kinds is None or event.type in kinds:
                    handler(event)
        elif op == "reload":
            self.config = frame.get("config") or {}
            for handler in self._reload:
                handler(self.config)
        elif op == "shutdown":
            for handler in self._shutdown:
                handler()
            self._stopping = True
        elif op == "dropped":
            self.log("fell behind: %d events dropped" % frame.get("count", 0), "warning")
        elif op == "error":
            self.log("the host said: %s" % frame.get("error"), "warning")

    def run(self, filter=None, since=None, ready=True):
        """Connects (unless connected), subscribes with ``filter``, says
        ready, and handles frames until shutdown, SIGTERM or the end of the
        connection."""
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGHUP, lambda *_: None)  # the reload frame carries the config
        if not self._sock:
            self.connect()
        if filter is not False:
            self.subscribe(filter, since)
        if ready:
            self.ready()
        try:
            while not self._stopping:
                if self._backlog:
                    frame = self._backlog.pop(0)
                else:
                    if self._watched and b"\n" not in self._buffer:
                        readable, _, _ = select.select([self._sock] + list(self._watched), [], [])
                        for f in readable:
                            if f is not self._sock and f in self._watched:
                                self._watched[f]()
                        if self._sock is None or self._sock not in readable or self._stopping:
                            continue
                    frame = self.read()
                    if frame is None:
                        break
                    if self._control(frame):
                        continue
                self.dispatch(frame)
        finally:
            self.close()

    def _on_sigterm(self, *_):
        self._stopping = True
        for handler in self._shutdown:
            handler()
        if self._sock:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
