#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A slow kernel for one memory.* file of a fake cgroup tree: the file becomes a FIFO whose pipe is
# kept full, so a writer's write() blocks (as a memory.high write blocks in the kernel's reclaim)
# until this helper drains the pipe, and returns EINTR if the writer is signalled first.
#
#   slow-kernel.py FILE MODE DELAY LOG
#     MODE slow:  drain every DELAY seconds (each write takes up to DELAY)
#     MODE stuck: never drain (every write blocks until interrupted)
#   Each value that got through is appended to LOG. On SIGTERM: drain once more, put a regular
#   file holding the last value (or the one found) back in place of the FIFO, exit.
import os
import signal
import sys
import time

path, mode, delay, log = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
with open(path) as f:
    last = f.read().strip()
os.unlink(path)
os.mkfifo(path, 0o644)
fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def fill():
    for chunk in (4096, 1):
        try:
            while True:
                os.write(fd, b'x' * chunk)
        except BlockingIOError:
            pass


def drain():
    global last
    data = b''
    while True:
        try:
            c = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not c:
            break
        data += c
    values = [v.strip() for v in data.replace(b'x', b'').decode().split('\n') if v.strip()]
    if values:
        last = values[-1]
    try:
        with open(log, 'a') as lf:
            for v in values:
                lf.write(v + '\n')
    except FileNotFoundError:
        pass  # the cgroup directory (and the log in it) was removed: nothing to record


fill()
with open(log + '.ready', 'w'):
    pass
while not stop:
    if mode == 'slow':
        time.sleep(delay)
        drain()
        fill()
    else:
        time.sleep(0.05)
time.sleep(0.2)
drain()
try:
    os.unlink(path)
    with open(path, 'w') as f:
        f.write(last + '\n')
except OSError:
    pass  # the cgroup directory is gone
