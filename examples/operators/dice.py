#!/usr/bin/env python3
"""A dice and echo bot as an immp operator.

    !roll 2d6      -> alice rolled 2d6: 3 + 5 = 8
    !echo words    -> words

Config (the operator's `config` block): `prefix` (default "!"), `max_dice`
(default 20), `seed` (for repeatable rolls).
"""
import os
import random
import re
import sys

try:
    from immp_operator import Operator
except ImportError:  # run from a checkout of immp
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python"))
    from immp_operator import Operator

op = Operator()
rng = random.Random()
DICE = re.compile(r"^(\d*)d(\d+)$")


def settings():
    return op.config.get("prefix", "!"), int(op.config.get("max_dice", 20))


@op.on_reload
def reloaded(config):
    if "seed" in config:
        rng.seed(config["seed"])
    op.log("config reloaded: prefix %r" % config.get("prefix", "!"))


@op.on_message
def message(event):
    prefix, max_dice = settings()
    text = event.text.strip()
    if not text.startswith(prefix) or event.operator:
        return
    command, _, rest = text[len(prefix):].partition(" ")
    rest = rest.strip()
    if command == "echo" and rest:
        op.send(event.source, rest)
    elif command == "roll":
        match = DICE.match(rest or "d6")
        if not match:
            op.send(event.source, "usage: %sroll NdM" % prefix)
            return
        count, sides = int(match.group(1) or 1), int(match.group(2))
        if not (1 <= count <= max_dice and 2 <= sides <= 1000):
            op.send(event.source, "%s: at most %d dice of 2 to 1000 sides" % (event.username, max_dice))
            return
        rolls = [rng.randint(1, sides) for _ in range(count)]
        shown = " + ".join(str(r) for r in rolls)
        op.send(event.source, "%s rolled %s: %s = %d" % (event.username, rest or "d6", shown, sum(rolls)))


if __name__ == "__main__":
    op.connect()
    if "seed" in op.config:
        rng.seed(op.config["seed"])
    prefix = re.escape(op.config.get("prefix", "!"))
    op.run(filter={"kinds": ["message"], "text": "^" + prefix + "(roll|echo)\\b"})
