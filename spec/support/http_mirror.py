#!/usr/bin/env python3
"""A loopback HTTP mirror for spec/download_spec.lua. Serves the directory ROOT on 127.0.0.1 (a
free port, printed on stdout once listening) and misbehaves on purpose under two prefixes:
  /flaky/<path>  answers 503 to the first request for each path, then serves ROOT/<path>
  /cut/<path>    announces the full length of ROOT/<path>, sends half of it and closes
It stops by itself after --lifetime seconds, so a crashed spec leaves nothing running."""
import argparse
import http.server
import os
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    seen = set()
    lock = threading.Lock()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def log_message(self, fmt, *a):
            sys.stderr.write("%s\n" % (fmt % a))

        def do_GET(self):
            if self.path.startswith("/flaky/"):
                with lock:
                    first = self.path not in seen
                    seen.add(self.path)
                if first:
                    self.send_error(503, "try again")
                    return
                self.path = self.path[len("/flaky"):]
            elif self.path.startswith("/cut/"):
                local = os.path.join(root, self.path[len("/cut/"):])
                if not os.path.isfile(local):
                    self.send_error(404)
                    return
                with open(local, "rb") as f:
                    data = f.read()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    timer = threading.Timer(args.lifetime, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
