"""Tests of the Python SDK against a scripted host on a real Unix socket."""
import json
import os
import socket
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from immp_operator import Event, Operator, OperatorError  # noqa: E402


class FakeHost:
    """Accepts one connection; `script(conn, frames)` plays the host."""

    def __init__(self, script):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "bus.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.received = []
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.thread.start()

    def _run(self, script):
        try:
            conn, _ = self.server.accept()
            with conn:
                reader = conn.makefile("rb")

                def recv():
                    line = reader.readline()
                    frame = json.loads(line) if line else None
                    if frame is not None:
                        self.received.append(frame)
                    return frame

                def send(frame):
                    conn.sendall(json.dumps(frame).encode() + b"\n")

                script(recv, send)
        except Exception as e:  # reported by the test
            self.error = e

    def close(self):
        self.thread.join(5)
        self.server.close()
        self.dir.cleanup()


def welcome(recv, send, config=None):
    hello = recv()
    assert hello["op"] == "hello", hello
    send({"op": "welcome", "name": hello["name"], "version": 1, "config": config or {},
          "scratch": "/tmp/s", "data": "/tmp/d", "seq": 5, "ref": hello["ref"]})
    return hello


ENVELOPE = {"specversion": "1.0", "id": "6", "source": "irc/#immp", "type": "message",
            "data": {"text": [{"text": "!roll "}, {"text": "d6", "bold": True}],
                     "user": {"id": "alice", "username": "alice"}}}


class OperatorTest(unittest.TestCase):
    def start(self, script):
        host = FakeHost(script)
        self.addCleanup(host.close)
        return host, Operator(name="dice", token="t0k", path=host.path)

    def test_hello_carries_name_token_and_takes_config(self):
        host, op = self.start(lambda recv, send: welcome(recv, send, {"prefix": "?"}))
        op.connect()
        self.assertEqual(op.config, {"prefix": "?"})
        self.assertEqual(op.seq, 5)
        self.assertEqual(op.data_dir, "/tmp/d")
        op.close()
        host.close()
        self.assertEqual(host.received[0]["name"], "dice")
        self.assertEqual(host.received[0]["token"], "t0k")
        self.assertEqual(host.received[0]["version"], 1)

    def test_events_reach_handlers_and_pings_are_answered_while_waiting(self):
        def script(recv, send):
            welcome(recv, send)
            sub = recv()
            send({"op": "ping"})
            send({"op": "event", "event": ENVELOPE})
            assert recv()["op"] == "pong"
            send({"op": "subscribed", "seq": 5, "ref": sub["ref"]})
            assert recv()["op"] == "ready"
            reply = recv()
            send({"op": "receipt", "channel": "irc/#immp", "ids": ["m-1"], "ref": reply["ref"]})
            send({"op": "shutdown", "grace_ms": 1000})

        host, op = self.start(script)
        seen, receipts, stopped = [], [], []

        @op.on_message
        def on(event):
            seen.append(event)
            receipts.append(op.send(event.source, "rolled"))

        op.on_shutdown(lambda: stopped.append(True))
        op.run(filter={"kinds": ["message"]})
        host.close()
        self.assertIsNone(host.error)
        self.assertEqual([e.text for e in seen], ["!roll d6"])
        self.assertEqual(seen[0].username, "alice")
        self.assertEqual(op.seq, 6)
        self.assertEqual(receipts[0]["ids"], ["m-1"])
        self.assertEqual(stopped, [True])
        send = host.received[-1]
        self.assertEqual(send["event"]["source"], "irc/#immp")
        self.assertEqual(send["event"]["data"], {"text": "rolled"})

    def test_an_error_answer_raises_with_its_field(self):
        def script(recv, send):
            welcome(recv, send)
            req = recv()
            send({"op": "error", "error": "event.source: no channel 'nope'", "field": "event.source",
                  "ref": req["ref"]})

        host, op = self.start(script)
        op.connect()
        with self.assertRaises(OperatorError) as caught:
            op.send("nope", "hi")
        self.assertEqual(caught.exception.field, "event.source")
        op.close()

    def test_a_watched_socket_is_read_by_run_and_may_send(self):
        # A network the operator talks to besides the bus: run() reads it on
        # its own thread, and a send from its callback gets its receipt while
        # the host's events keep coming.
        network, far = socket.socketpair()
        self.addCleanup(network.close)
        self.addCleanup(far.close)

        def script(recv, send):
            welcome(recv, send)
            sub = recv()
            send({"op": "subscribed", "seq": 5, "ref": sub["ref"]})
            assert recv()["op"] == "ready"
            far.sendall(b"hello from the network\n")
            req = recv()
            send({"op": "event", "event": ENVELOPE})
            send({"op": "receipt", "channel": "irc/#immp", "ids": ["m-2"], "ref": req["ref"]})
            send({"op": "shutdown", "grace_ms": 1000})

        host, op = self.start(script)
        order = []

        def readable():
            line = network.recv(100).decode().strip()
            order.append("network: " + line)
            order.append("receipt: " + op.send("irc/#immp", line)["ids"][0])

        op.watch(network, readable)
        op.on_message(lambda event: order.append("event: " + event.text))
        op.run(filter={"kinds": ["message"]})
        host.close()
        self.assertIsNone(host.error)
        self.assertEqual(order, ["network: hello from the network", "receipt: m-2", "event: !roll d6"])
        self.assertEqual(host.received[-1]["event"]["data"], {"text": "hello from the network"})

    def test_reload_updates_config_and_calls_handlers(self):
        def script(recv, send):
            welcome(recv, send, {"prefix": "!"})
            send({"op": "reload", "config": {"prefix": "?"}})
            send({"op": "shutdown", "grace_ms": 1000})

        host, op = self.start(script)
        got = []
        op.on_reload(got.append)
        op.run(filter=False, ready=False)
        self.assertEqual(got, [{"prefix": "?"}])
        self.assertEqual(op.config, {"prefix": "?"})

    def test_event_text_of_a_plain_string_and_of_plain(self):
        self.assertEqual(Event({"data": {"text": "hi"}}).text, "hi")
        self.assertEqual(Event({"data": {"text": [{"text": "a"}], "plain": "b"}}).text, "b")
        self.assertEqual(Event({"type": "join"}).text, "")

    def test_connect_without_environment_says_why(self):
        op = Operator(name="x", token="", path="")
        with self.assertRaises(OperatorError) as caught:
            op.connect()
        self.assertIn("IMMP_BUS_SOCKET", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
