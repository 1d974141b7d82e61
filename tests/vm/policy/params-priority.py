#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# params-priority.py BPFTOOL CGROUP-DIR: print the priority in the priority policy's parameter entry
# of that cgroup (map memqosd_params: key the cgroup id = the directory's inode, value struct
# memqosd_priority_params, whose priority is the __s32 at byte 12), or "none" if it has no entry.
import json
import os
import struct
import subprocess
import sys


def show(*what):
    out = subprocess.run([sys.argv[1], "-j", *what], capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


cg = os.stat(sys.argv[2]).st_ino
for m in show("map", "show"):
    if m.get("name") != "memqosd_params":
        continue
    for e in show("map", "dump", "id", str(m["id"])):
        key = bytes(int(b, 16) for b in e["key"])
        value = bytes(int(b, 16) for b in e["value"])
        if struct.unpack("<Q", key)[0] == cg:
            print(struct.unpack("<i", value[12:16])[0])
            sys.exit(0)
print("none")
