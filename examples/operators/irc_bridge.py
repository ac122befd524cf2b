#!/usr/bin/env python3
"""A bridge to a network, written as an operator: one IRC channel (on any
server, over a plain socket) and one immp channel share what is said.

    operators:
      far-irc:
        command: python3
        args: [examples/operators/irc_bridge.py]
        restart: on-failure          # a lost IRC link ends it; the host restarts it
        config:
          server: irc.example.org    # default 127.0.0.1
          port: 6667                 # default 6667
          nick: lobby-bridge         # default immp-bridge ("_" added while taken)
          channel: "#far"            # the IRC channel (required)
          to: lobby                  # the immp channel (required): a name or plug/source

IRC -> immp: each PRIVMSG (and /me) in `channel` is sent to `to` with its
author's nick as the user. immp -> IRC: each message in `to` is said in
`channel` as "<name> text", line by line. What the bridge itself sent is
recognised by the ids in its receipts and never sent back.
"""
import collections
import os
import socket
import sys

try:
    from immp_operator import Operator, OperatorError
except ImportError:  # run from a checkout of immp
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python"))
    from immp_operator import Operator, OperatorError

MAX_TEXT = 400  # bytes of text per PRIVMSG: a line is 512 with the prefix


class Irc:
    """One IRC client connection: lines in, lines out."""

    def __init__(self, server, port, nick):
        self.sock = socket.create_connection((server, port), timeout=30)
        self.buffer = b""
        self.nick = nick
        self.send("NICK " + nick)
        self.send("USER %s 0 * :immp bridge" % nick)

    def send(self, line):
        self.sock.sendall(line.encode("utf-8", "replace")[:510] + b"\r\n")

    def lines(self):
        """The complete lines received so far (reads once; [] at none).
        Raises ConnectionError when the server closed the link."""
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the IRC server closed the connection")
        self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n")
        return [parse(raw.rstrip(b"\r").decode("utf-8", "replace")) for raw in complete if raw.strip()]

    def say(self, channel, text):
        for line in text.splitlines() or [""]:
            data = line.encode("utf-8")
            while True:
                part = data[:MAX_TEXT]
                # Never cut a UTF-8 sequence in two.
                while len(part) < len(data) and part and (data[len(part)] & 0xC0) == 0x80:
                    part = part[:-1]
                self.send("PRIVMSG %s :%s" % (channel, part.decode("utf-8")))
                data = data[len(part):]
                if not data:
                    break


def parse(line):
    """(nick, command, params) of an IRC line."""
    nick = ""
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
        nick = prefix.split("!", 1)[0]
    head, sep, trailing = line.partition(" :")
    params = head.split()
    command = params.pop(0).upper() if params else ""
    if sep:
        params.append(trailing)
    return nick, command, params


op = Operator()
sent = set()  # the network ids of what the bridge sent into immp (the last 10,000)
sent_order = collections.deque()


def remember(ids):
    for i in ids:
        sent.add(i)
        sent_order.append(i)
    while len(sent_order) > 10000:
        sent.discard(sent_order.popleft())


def setting(name, default=None):
    value = op.config.get(name, default)
    if value is None:
        raise SystemExit("irc_bridge: config.%s is required" % name)
    return value


def join(irc, channel):
    """Registers and joins; returns once the channel is joined."""
    while True:
        for nick, command, params in irc.lines():
            if command == "PING":
                irc.send("PONG :" + (params[-1] if params else ""))
            elif command == "433":  # nick taken
                irc.nick += "_"
                irc.send("NICK " + irc.nick)
            elif command == "001":
                irc.nick = params[0] if params else irc.nick
                irc.send("JOIN " + channel)
            elif command == "366":  # end of the channel's names: joined
                return
            elif command in ("403", "405", "471", "473", "474", "475"):
                raise SystemExit("irc_bridge: cannot join %s: %s" % (channel, params[-1] if params else command))


def main():
    op.connect()
    channel, to = setting("channel"), setting("to")
    irc = Irc(setting("server", "127.0.0.1"), int(setting("port", 6667)), setting("nick", "immp-bridge"))
    join(irc, channel)
    irc.sock.settimeout(None)
    op.log("bridging %s on %s with %s" % (channel, setting("server", "127.0.0.1"), to))

    def from_irc():
        for nick, command, params in irc.lines():
            if command == "PING":
                irc.send("PONG :" + (params[-1] if params else ""))
            elif command == "PRIVMSG" and len(params) == 2 and params[0].lower() == channel.lower():
                if nick == irc.nick:
                    continue
                text, data = params[1], {"user": {"id": nick, "username": nick}}
                if text.startswith("\x01ACTION ") and text.endswith("\x01"):
                    text, data["action"] = text[8:-1], True
                elif text.startswith("\x01"):
                    continue  # other CTCP
                try:
                    receipt = op.send(to, text, **data)
                    remember(receipt.get("ids", []))
                except OperatorError as e:
                    op.log("not sent to %s: %s" % (to, e), "warning")

    @op.on_message
    def to_irc(event):
        if event.subject in sent or event.data.get("id") in sent:
            return
        name = event.username or "someone"
        if event.data.get("action"):
            irc.say(channel, "* %s %s" % (name, event.text))
        else:
            irc.say(channel, "<%s> %s" % (name, event.text))

    op.watch(irc.sock, from_irc)
    try:
        op.run(filter={"channels": [to], "kinds": ["message"]})
    except ConnectionError as e:
        op.log(str(e), "error")
        sys.exit(1)
    irc.send("QUIT :immp bridge stopping")


if __name__ == "__main__":
    main()
