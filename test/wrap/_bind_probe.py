# Binds each "family:host:port" argument (family 4, 6 or unix, host ignored
# for unix) under whatever LD_PRELOAD is set, and prints one JSON line each:
# the address the socket really got, or the errno. Used by rebind_test.ts.
import json
import socket
import sys

for spec in sys.argv[1:]:
    family, host, port = spec.split(",", 2)
    if family == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(port)
            print(json.dumps({"spec": spec, "addr": s.getsockname()}))
        except OSError as e:
            print(json.dumps({"spec": spec, "errno": e.errno}))
        s.close()
        continue
    fam = socket.AF_INET if family == "4" else socket.AF_INET6
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, int(port)))
        name = s.getsockname()
        print(json.dumps({"spec": spec, "host": name[0], "port": name[1]}))
    except OSError as e:
        print(json.dumps({"spec": spec, "errno": e.errno}))
    s.close()
sys.stdout.flush()
