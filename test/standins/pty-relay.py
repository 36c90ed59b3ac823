#!/usr/bin/env python3
# Test helper for the stand-in hypervisors: allocates a pseudo-terminal as
# hyperkit's autopty and vfkit's virtio-serial,pty do, links its terminal
# end at argv[1] (or prints its name when argv[1] is "-"), and relays the
# other end: stdin -> terminal (what the "guest" prints), terminal -> stdout
# (what the host types).
import os, select, signal, sys, tty

def main():
    link = sys.argv[1]
    master, slave = os.openpty()
    tty.setraw(slave)  # as the real tools do: no echo, no line discipline
    name = os.ttyname(slave)
    if link == "-":
        sys.stderr.write(name + "\n")
        sys.stderr.flush()
    else:
        try:
            os.unlink(link)
        except FileNotFoundError:
            pass
        os.symlink(name, link)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stdin = sys.stdin.fileno()
    stdout = sys.stdout.fileno()
    open_inputs = [stdin, master]
    try:
        while open_inputs:
            ready, _, _ = select.select(open_inputs, [], [])
            for fd in ready:
                data = os.read(fd, 65536) if fd == stdin else read_master(master)
                if fd == stdin:
                    if not data:
                        return
                    os.write(master, data)
                elif data:
                    os.write(stdout, data)
    finally:
        if link != "-":
            try:
                os.unlink(link)
            except FileNotFoundError:
                pass

def read_master(master):
    try:
        return os.read(master, 65536)
    except OSError:
        return b""  # nobody has the terminal open right now

main()
