#!/usr/bin/env python3
"""Checks that IMMP itself accepts each config given: the file as IMMP's
runner reads it (PyYAML), its top-level schema, and the schema of every plug,
hook and group it names. Nothing is started.

    PYTHONPATH=/path/to/IMMP python3 check_with_immp.py tests/data/config/immp/*.yaml

Every file in this folder passes (with IMMP at Terrance/IMMP 61ecda5); the
tests in src/runner/immp_config_test.cpp then check what immp makes of it.
Classes IMMP cannot import here (missing optional packages) are skipped
with a note.
"""

import sys

import yaml

import immp
from immp.hook.runner import _Schema


def check(path):
    with open(path) as reader:
        config = _Schema.config(yaml.safe_load(reader))
    notes = []
    for section in ("plugs", "hooks"):
        for name, spec in config[section].items():
            try:
                cls = immp.resolve_import(spec["path"])
            except ImportError as e:
                notes.append("{}.{}: not checked ({})".format(section, name, e))
                continue
            if cls.schema:
                cls.schema(spec["config"])
            elif spec["config"]:
                raise TypeError("{}.{}: {} takes no config".format(section, name, cls.__name__))
    for name, group in config["groups"].items():
        immp.Group.schema(group)
    return notes


def main(paths):
    failed = 0
    for path in paths:
        try:
            notes = check(path)
        except Exception as e:  # noqa: BLE001 -- report every kind of refusal
            failed += 1
            print("{}: REFUSED: {}: {}".format(path, type(e).__name__, e))
            continue
        print("{}: OK".format(path) + "".join("\n  " + note for note in notes))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
