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
#     MODE hold:  like stuck, but on SIGUSR1 let the write blocked now through and hold the next
#                 (a new full FIFO is renamed over FILE first, then the old one drained: the next
#                 write, which opens FILE anew, cannot slip in between)
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
release = False
released = []  # hold mode: FIFOs replaced, kept open (a writer woken late must not get EPIPE)


def on_term(*_):
    global stop
    stop = True


def on_usr1(*_):
    global release
    release = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGUSR1, on_usr1)


def fill():
    for chunk in (4096, 1):
        try:
            while True:
                os.write(fd, b'x' * chunk)
        except BlockingIOError:
            pass


def drain(src=None):
    global last
    data = b''
    while True:
        try:
            c = os.read(fd if src is None else src, 65536)
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
    elif mode == 'hold' and release:
        release = False
        os.mkfifo(path + '.next', 0o644)
        released.append(fd)
        fd = os.open(path + '.next', os.O_RDWR | os.O_NONBLOCK)
        fill()
        os.rename(path + '.next', path)
        drain(released[-1])
    else:
        time.sleep(0.05)
        for old in released:
            drain(old)  # the released write lands after the first drain
time.sleep(0.2)
for old in released:
    drain(old)
drain()
try:
    os.unlink(path)
    with open(path, 'w') as f:
        f.write(last + '\n')
except OSError:
    pass  # the cgroup directory is gone
