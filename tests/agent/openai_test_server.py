#!/usr/bin/env python3
"""A real OpenAI-compatible HTTP server for the agent's HTTP client tests (standard library only).

Usage: openai_test_server.py MODE [ARG]; binds 127.0.0.1 on a free port and prints "PORT <n>".
Modes:
  flaky N      the first N chat requests get 500, later ones 200
  ratelimit N  the first N chat requests get 429 with "Retry-After: 0", later ones 200
  hang         accepts chat requests and never answers
  script FILE  answers chat requests with the strings of the JSON list in FILE, in order (the last
               one repeats); used to drive the agent loop with known answers
  error400     every chat request gets 400
A 200 answer to a request without a script echoes the last user message: "echo: <content>".
GET /stats returns {"requests": n, "last": <last request body>}.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = sys.argv[1]
ARG = sys.argv[2] if len(sys.argv) > 2 else ""
STATE = {"requests": 0, "last": None}
LOCK = threading.Lock()
SCRIPT = json.load(open(ARG, encoding="utf-8")) if MODE == "script" else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                self.send_json(200, STATE)
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        req = json.loads(self.rfile.read(length) or b"{}")
        with LOCK:
            STATE["requests"] += 1
            STATE["last"] = req
            n = STATE["requests"]
        if not self.path.endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "not found"}})
        if MODE == "hang":
            time.sleep(3600)
            return
        if MODE == "error400":
            return self.send_json(400, {"error": {"message": "bad request from test server"}})
        if MODE == "flaky" and n <= int(ARG):
            return self.send_json(500, {"error": {"message": "transient failure %d" % n}})
        if MODE == "ratelimit" and n <= int(ARG):
            return self.send_json(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
        if SCRIPT is not None:
            text = SCRIPT[min(n, len(SCRIPT)) - 1]
        else:
            users = [m["content"] for m in req.get("messages", []) if m.get("role") == "user"]
            text = "echo: " + (users[-1] if users else "")
        self.send_json(200, {
            "id": "test-%d" % n, "object": "chat.completion", "model": req.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        })


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
