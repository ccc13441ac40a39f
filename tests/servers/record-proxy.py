#!/usr/bin/env python3
"""A transparent TCP relay on loopback that records what the client sends.

  record-proxy.py LISTEN_PORT TARGET_PORT LOGFILE

Relays 127.0.0.1:LISTEN_PORT <-> 127.0.0.1:TARGET_PORT byte for byte (the
server stays the real one) and appends every byte the client sends to
LOGFILE, so a test can prove which IMAP commands went on the wire.  Prints
"ready" once listening.  Counts accepted connections in LOGFILE.count.
"""
import socket
import sys
import threading

listen_port, target_port, log_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
connections = 0


def pump(src, dst, record):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record:
                with lock, open(log_path, "ab") as log:
                    log.write(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    global connections
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", target_port))
        with lock:
            connections += 1
            with open(log_path + ".count", "w") as f:
                f.write(str(connections))
        threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()


main()
