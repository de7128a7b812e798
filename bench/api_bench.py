"""The `api` suite: `generate --backend openai` in rows per second at
concurrency 1, 4 and 16, beside a Python standard-library loop sending the
same requests one after another (what a user would otherwise write).

Two servers: llama.cpp's server (PyPI llama-cpp-python, SmolLM2 Q4_1,
scripts/llama_server.py), which decodes one request at a time, so
concurrency can only overlap HTTP and prompt handling with decoding; and a
loopback endpoint answering every request after a fixed 100 ms, as a hosted
API's latency does, which shows what concurrency buys against a server that
serves requests in parallel (OpenAI, vLLM).
"""
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
PROMPTS = os.path.join(ROOT, "testdata", "parity", "prompts.jsonl")
NAIVE = os.path.join(ROOT, "bench", "api_naive.py")
MAX_NEW_TOKENS = 16


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class LatencyHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(0.1)
        body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def timed(cmd, rows, out_path):
    with open(out_path, "wb") as out:
        start = time.perf_counter()
        subprocess.run(cmd, stdout=out, stderr=subprocess.DEVNULL, check=True)
        seconds = time.perf_counter() - start
    with open(out_path) as f:
        got = sum(1 for _ in f)
    if got != rows:
        sys.exit(f"bench: {' '.join(cmd)} wrote {got} rows, expected {rows}")
    return seconds


def run_against(title, url, prompts_path, rows, data):
    print(f"\n## {title}\n")
    print(f"{rows} chat prompts, greedy, at most {MAX_NEW_TOKENS} new tokens\n")
    print("| command | seconds | rows/s | speed-up over the Python loop |")
    print("|---|---:|---:|---:|")
    out = os.path.join(data, "api_bench.jsonl")
    naive = timed([sys.executable, NAIVE, url, prompts_path, str(MAX_NEW_TOKENS)], rows, out)
    results = [("Python loop (urllib, one request at a time)", naive)]
    for c in (1, 4, 16):
        cmd = [os.path.join(BIN, "generate"), "--quiet", "--backend", "openai", "--base-url", url,
               "--api-model", "smollm2-135m-instruct", "--max-new-tokens", str(MAX_NEW_TOKENS),
               "--concurrency", str(c), prompts_path]
        results.append((f"generate --backend openai --concurrency {c}", timed(cmd, rows, out)))
    for name, seconds in results:
        print(f"| {name} | {seconds:.2f} | {rows / seconds:.1f} | {naive / seconds:.2f}x |")
    sys.stdout.flush()
    os.remove(out)


def suite_api(data):
    prompts = [l for l in open(PROMPTS) if l.strip()]
    path = os.path.join(data, "api_prompts.jsonl")
    with open(path, "w") as f:
        f.writelines(prompts * 2)
    rows = 2 * len(prompts)

    port = free_port()
    # The default listen backlog (5) refuses bursts of 16 connections.
    http.server.ThreadingHTTPServer.request_queue_size = 128
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), LatencyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    run_against("api: a loopback endpoint with 100 ms latency per request", f"http://127.0.0.1:{port}/v1",
                path, rows, data)
    server.shutdown()

    port = free_port()
    url = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "llama_server.py"), "start", str(port)],
                         check=True, capture_output=True, text=True).stdout.strip()
    try:
        run_against("api: llama.cpp's server (llama-cpp-python 0.3.36, SmolLM2-135M Q4_1, 2 cores)", url,
                    path, rows, data)
    finally:
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "llama_server.py"), "stop", str(port)])
    os.remove(path)
