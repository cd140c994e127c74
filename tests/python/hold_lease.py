"""Connects an alias through the control socket with plain HTTP and holds the lease
(it is bound to this process's pid) until killed.

Usage: hold_lease.py CONTROL_SOCKET ALIAS URI
"""
import http.client
import json
import socket
import sys
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def main():
    control, alias, uri = sys.argv[1:4]
    conn = UnixHTTPConnection(control)
    conn.request("POST", f"/v1/aliases/{alias}/connect", body=json.dumps({"uri": uri}),
                 headers={"Content-Type": "application/json"})
    answer = json.loads(conn.getresponse().read())
    print(answer.get("lease"), flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main()
