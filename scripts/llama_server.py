#!/usr/bin/env python3
"""A real OpenAI-compatible server on 127.0.0.1 for the API backend's
end-to-end test and benchmark: llama.cpp's server from PyPI
llama-cpp-python (its [server] extras), serving the SmolLM2 GGUF that
`make models` fetches (or, with `judge`, the judges' Qwen2.5-Coder-1.5B GGUF).

usage: scripts/llama_server.py install
       scripts/llama_server.py start PORT [judge]   (prints the base URL, waits until it answers)
       scripts/llama_server.py stop PORT

The model is served under its directory name as the API model
(smollm2-135m-instruct, or qwen2.5-coder-1.5b-instruct).

install builds llama.cpp from source inside pip (cmake, about 4 minutes on
2 cores) into a virtualenv in the project cache (REFINERY_CACHE, default
.cache/refinery/llama-server); a second run finds it and does nothing.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CACHE = os.environ.get("REFINERY_CACHE") or os.path.join(REPO, ".cache", "refinery")
VENV = os.path.join(CACHE, "llama-server")
PACKAGE = "llama-cpp-python[server]==0.3.36"
STAMP = os.path.join(VENV, "installed")
# Only the library the server loads: no tests, examples or curl.
CMAKE_ARGS = "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF"
# Without Intel AMX: llama.cpp's native build uses it on CPUs that have it
# (Sapphire Rapids and later), and its AMX matrix product segfaults there on
# the first prompt of a few tokens (ggml-org/llama.cpp#20824, seen here with
# SmolLM2's Q4_1 GGUF). Explicit -mno- flags win over -march=native in gcc.
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
BUILD = f"{PACKAGE} CMAKE_ARGS={CMAKE_ARGS} CFLAGS=CXXFLAGS={NO_AMX}"
# What `start` can serve: the model's alias, its GGUF, the models.py step that fetches it.
MODELS = {
    "smollm2": ("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2"),
    "judge": ("qwen2.5-coder-1.5b-instruct", "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf", "judge"),
}
PYTHON = os.path.join(VENV, "bin", "python")


def say(msg):
    print(f"llama-server: {msg}", file=sys.stderr, flush=True)


def install():
    if os.path.exists(STAMP) and open(STAMP).read().strip() == BUILD:
        return
    say(f"building {PACKAGE} into {VENV} (llama.cpp from source, a few minutes, once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
    env = dict(os.environ)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    env["CMAKE_ARGS"] = CMAKE_ARGS
    env["CFLAGS"] = env["CXXFLAGS"] = NO_AMX
    result = subprocess.run(
        [os.path.join(VENV, "bin", "pip"), "install", "--quiet", "--progress-bar", "off",
         "--disable-pip-version-check", "--no-cache-dir", PACKAGE],
        env=env, timeout=3600)
    if result.returncode != 0:
        say(f"error: pip could not install {PACKAGE} (it needs gcc, g++ and network access to PyPI)")
        sys.exit(1)
    with open(STAMP, "w") as f:
        f.write(BUILD + "\n")


def pid_file(port):
    return os.path.join(CACHE, f"llama-server-{port}.pid")


def start(port, model="smollm2"):
    install()
    alias, name, step = MODELS[model]
    gguf = os.path.join(CACHE, "gguf", name)
    if not os.path.exists(gguf):
        subprocess.run([sys.executable, os.path.join(REPO, "scripts", "models.py"), step], check=True)
    log = open(os.path.join(CACHE, f"llama-server-{port}.log"), "w")
    proc = subprocess.Popen(
        [PYTHON, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", alias,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--seed", "0"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    with open(pid_file(port), "w") as f:
        f.write(str(proc.pid))
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            say(f"error: the server exited ({proc.returncode}); see {log.name}")
            sys.exit(1)
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as r:
                if r.status == 200:
                    print(url)
                    return
        except OSError:
            time.sleep(0.5)
    stop(port)
    say(f"error: the server did not answer within 180 s; see {log.name}")
    sys.exit(1)


def stop(port):
    try:
        pid = int(open(pid_file(port)).read())
    except (OSError, ValueError):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    os.remove(pid_file(port))


def main():
    args = sys.argv[1:]
    if args == ["install"]:
        install()
    elif len(args) == 2 and args[0] in ("start", "stop") and args[1].isdigit():
        (start if args[0] == "start" else stop)(int(args[1]))
    elif len(args) == 3 and args[0] == "start" and args[1].isdigit() and args[2] in MODELS:
        start(int(args[1]), args[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
