"""Where a decoding step's time goes, and how fast the 4-bit/8-bit matmul
kernel is on its own: the figures behind the README's "How close to the
machine `generate` gets".

    .cache/refinery/venv/bin/python bench/lm_profile.py step MODEL_DIR BATCH
        one step of BATCH rows over 60 cached positions, run 10 times with
        ONNX Runtime's profiler (2 threads): wall ms per step, and ms per
        step and share by operator type
    .cache/refinery/venv/bin/python bench/lm_profile.py kernel
        MatMulNBits alone (block 32, accuracy level 4, random weights) on the
        judges' model's shapes, 4-bit and 8-bit, at 1 and 8 rows: ms and
        GFLOP/s (the weights fit in a large L3, so GB/s at 1 row is not DRAM's)

Uses the project venv's onnxruntime (`make models` installs it)."""

import collections
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

PAST, RUNS, WARMUP = 60, 10, 3


def options(profile=False):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 2
    if profile:
        o.enable_profiling = True
        o.profile_file_prefix = "/tmp/lm_profile"
    return o


def step(model_dir, batch):
    session = ort.InferenceSession(os.path.join(model_dir, "model.onnx"), options(profile=True),
                                   providers=["CPUExecutionProvider"])
    feeds = {}
    for i in session.get_inputs():
        if i.name == "input_ids":
            feeds[i.name] = np.full((batch, 1), 100, np.int64)
        elif i.name == "attention_mask":
            feeds[i.name] = np.ones((batch, PAST + 1), np.int64)
        elif i.name == "position_ids":
            feeds[i.name] = np.full((batch, 1), PAST, np.int64)
        elif i.name.startswith("past_key_values."):
            shape = [batch, i.shape[1], PAST, i.shape[3]]
            feeds[i.name] = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 0.1
        elif i.name == "num_logits_to_keep":
            feeds[i.name] = np.array(1, np.int64)
        else:
            sys.exit(f"lm_profile: unexpected input {i.name}")
    for _ in range(WARMUP):
        session.run(None, feeds)
    start = time.perf_counter()
    for _ in range(RUNS):
        session.run(None, feeds)
    wall = (time.perf_counter() - start) / RUNS
    path = session.end_profiling()
    with open(path) as f:
        events = json.load(f)
    os.remove(path)
    by_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values())
    runs = WARMUP + RUNS  # the profiler saw every run
    print(f"{model_dir}, batch {batch}, {PAST} cached positions: {wall * 1e3:.1f} ms a step (wall, profiler on)")
    for op, us in by_op.most_common(10):
        print(f"  {op:34s} {us / runs / 1e3:7.2f} ms/step {100 * us / total:5.1f}%")


def matmul_nbits(k, n, bits):
    blocks = k // 32
    rng = np.random.default_rng(0)
    b = rng.integers(0, 256, size=(n, blocks, 32 * bits // 8), dtype=np.uint8)
    scales = (rng.random(n * blocks, dtype=np.float32) * 0.01).astype(np.float32)
    node = helper.make_node("MatMulNBits", ["A", "B", "S"], ["Y"], domain="com.microsoft",
                            K=k, N=n, bits=bits, block_size=32, accuracy_level=4)
    graph = helper.make_graph(
        [node], "kernel", [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])],
        [helper.make_tensor("B", TensorProto.UINT8, b.shape, b.tobytes(), raw=True),
         helper.make_tensor("S", TensorProto.FLOAT, scales.shape, scales.tobytes(), raw=True)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    return ort.InferenceSession(model.SerializeToString(), options(), providers=["CPUExecutionProvider"])


def kernel():
    # Qwen2.5-Coder-1.5B: gate/up, down, and an eighth of the vocabulary.
    for k, n in [(1536, 8960), (8960, 1536), (1536, 151936 // 8)]:
        for bits in (4, 8):
            session = matmul_nbits(k, n, bits)
            for m in (1, 8):
                a = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
                for _ in range(5):
                    session.run(None, {"A": a})
                start = time.perf_counter()
                for _ in range(60):
                    session.run(None, {"A": a})
                seconds = (time.perf_counter() - start) / 60
                print(f"K={k} N={n} {bits}-bit, {m} row(s): {seconds * 1e3:.2f} ms, "
                      f"{2 * m * k * n / seconds / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["step"] and len(sys.argv) == 4:
        step(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:] == ["kernel"]:
        kernel()
    else:
        sys.exit(__doc__)
