"""http-flood.py - hostile HTTP clients for tests/integration/http.sh.

  idle HOST PORT N SECONDS    open N connections that send nothing; hold them
                              SECONDS; print how many the server refused at
                              once (503) and how many stayed open
  header HOST PORT MIB        one request whose header line is MIB MiB long;
                              print the status line the server answered
                              ("none" when it only closed)
  body HOST PORT MB PATH      a POST announcing and sending MB MB (10^6) of
                              body; print the status line and the bytes the
                              server let through before it closed
"""
import socket
import sys
import time


def status_of(s, timeout=10.0):
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    return line or "none"


def idle(host, port, n, seconds):
    socks = []
    refused = 0
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=10)
        socks.append(s)
    time.sleep(0.5)
    open_ = 0
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(4096)
            if data.startswith(b"HTTP/1.1 503"):
                refused += 1
            elif not data:
                refused += 1
        except BlockingIOError:
            open_ += 1
        except OSError:
            refused += 1
    print("refused=%d open=%d" % (refused, open_), flush=True)
    time.sleep(seconds)
    for s in socks:
        s.close()


def header(host, port, mib):
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ")
    piece = b"a" * (1 << 20)
    try:
        for _ in range(mib):
            s.sendall(piece)
        s.sendall(b"\r\n\r\n")
    except OSError:
        pass
    print(status_of(s), flush=True)
    s.close()


def body(host, port, mb, path):
    s = socket.create_connection((host, port), timeout=30)
    total = mb * 1000 * 1000
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path.encode(), total))
    # a server that refuses bodies answers now, before any of it
    status = status_of(s, 5.0)
    s.settimeout(30)
    piece = b"b" * (1 << 20)
    sent = 0
    try:
        while sent < total:
            s.sendall(piece)
            sent += len(piece)
    except OSError:
        pass
    if status == "none":
        status = status_of(s)
    print("%s sent=%d" % (status, sent), flush=True)
    s.close()


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "idle":
        idle(host, port, int(sys.argv[4]), float(sys.argv[5]))
    elif mode == "header":
        header(host, port, int(sys.argv[4]))
    elif mode == "body":
        body(host, port, int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
