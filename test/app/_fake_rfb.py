# A stand-in VNC server for wrap-mode tests: binds 0.0.0.0:PORT (the
# rebind shim moves it), greets each client with an RFB banner and echoes;
# a client sending "quit" makes it exit with code 7.
import os
import socket
import sys
import threading

port = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen()


def serve(c):
    c.sendall(b"RFB 003.008\n")
    while True:
        d = c.recv(4096)
        if not d:
            break
        if d.startswith(b"quit"):
            os._exit(7)
        c.sendall(d)
    c.close()


while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
