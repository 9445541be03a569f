#!/usr/bin/env python3
"""Traffic for the anycast lab (examples/lab-anycast.lua): a line-echo server that names
the real server in every answer, and clients that hold long-lived connections through the
VIP and say which of them kept working, with the same real server, through a failover.

  flows.py serve NAME PORT                 echo "NAME <line>" for every line, many clients
  flows.py hold VIP PORT N STATE           N connections, a line on each every 200 ms; the
                                           state of each (JSON) rewritten to STATE every
                                           second and at SIGTERM
  flows.py spread VIP PORT N               N short connections; prints how many answered
"""
import json, os, selectors, signal, socket, sys, time

EVERY = 0.2


def serve(name, port):
    sel = selectors.DefaultSelector()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1024)
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ, None)
    bufs = {}
    while True:
        for key, _ in sel.select():
            if key.data is None:
                try:
                    c, _ = ls.accept()
                except OSError:
                    continue
                c.setblocking(False)
                bufs[c] = b""
                sel.register(c, selectors.EVENT_READ, True)
                continue
            c = key.fileobj
            try:
                data = c.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(c)
                bufs.pop(c, None)
                c.close()
                continue
            buf = bufs[c] + data
            *lines, rest = buf.split(b"\n")
            bufs[c] = rest
            try:
                c.sendall(b"".join(name.encode() + b" " + l + b"\n" for l in lines))
            except OSError:
                pass


def hold(vip, port, n, state):
    conns = []
    for i in range(n):
        s = socket.create_connection((vip, port), timeout=5)
        s.setblocking(False)
        conns.append({"sock": s, "port": s.getsockname()[1], "server": None, "changed": False,
                      "closed": False, "sent": 0, "answered": 0, "last": None, "gap": 0.0, "buf": b""})
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c["sock"], selectors.EVENT_READ, c)
    next_send, next_write = time.time(), time.time()

    def write():
        out = [{k: v for k, v in c.items() if k not in ("sock", "buf")} for c in conns]
        tmp = state + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"at": time.time(), "conns": out}, f)
        os.replace(tmp, state)

    while not stop:
        now = time.time()
        if now >= next_send:
            for c in conns:
                if c["closed"]:
                    continue
                try:
                    c["sock"].send(b"%d\n" % c["sent"])
                    c["sent"] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    c["closed"] = True
            next_send += EVERY
        if now >= next_write:
            write()
            next_write = now + 1.0
        for key, _ in sel.select(timeout=max(0.0, min(next_send, next_write) - time.time())):
            c = key.data
            try:
                data = c["sock"].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                c["closed"] = True
                sel.unregister(c["sock"])
                continue
            buf = c["buf"] + data
            *lines, c["buf"] = buf.split(b"\n")
            for line in lines:
                server = line.split(b" ", 1)[0].decode()
                if c["server"] is None:
                    c["server"] = server
                elif server != c["server"]:
                    c["changed"] = True
                t = time.time()
                if c["last"] is not None:
                    c["gap"] = max(c["gap"], t - c["last"])
                c["last"] = t
                c["answered"] += 1
    write()


def spread(vip, port, n):
    ok = 0
    for i in range(n):
        try:
            with socket.create_connection((vip, port), timeout=5) as s:
                s.sendall(b"x\n")
                if s.recv(100):
                    ok += 1
        except OSError:
            pass
    print(ok)


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "serve":
        serve(args[0], int(args[1]))
    elif what == "hold":
        hold(args[0], int(args[1]), int(args[2]), args[3])
    elif what == "spread":
        spread(args[0], int(args[1]), int(args[2]))
    else:
        sys.exit(__doc__)
