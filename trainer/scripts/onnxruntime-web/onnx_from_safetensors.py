#!/usr/bin/env python3
"""The article's generator as an ONNX model (opset 17), from `trainer export --format safetensors`.

The graph is the one PyTorch's exporter writes for the article's `Generator` in eval mode: four
ConvTranspose (no bias) + BatchNormalization (running statistics) + Relu, a last ConvTranspose with
bias, Tanh; input `z` of shape [N, 128, 1, 1], output `image` [N, 3, 64, 64]. Built here with the
`onnx` package from the weights themselves, so no PyTorch is needed.

usage: onnx_from_safetensors.py GENERATOR.safetensors OUT.onnx
"""
import json
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def read_safetensors(path):
    data = open(path, "rb").read()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + length])
    body = data[8 + length :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(info["shape"])
    return tensors


def main(source, out):
    weights = read_safetensors(source)
    nodes, initializers = [], []

    def constant(name):
        initializers.append(numpy_helper.from_array(weights[name].astype(np.float32), name))
        return name

    x = "z"
    latent = weights["net.0.0.weight"].shape[0]
    for block in range(4):
        stride, pad = (1, 0) if block == 0 else (2, 1)
        conv = f"conv{block}"
        nodes.append(helper.make_node("ConvTranspose", [x, constant(f"net.{block}.0.weight")], [conv],
                                      kernel_shape=[4, 4], strides=[stride, stride], pads=[pad] * 4))
        norm = f"norm{block}"
        nodes.append(helper.make_node("BatchNormalization",
                                      [conv] + [constant(f"net.{block}.1.{p}") for p in ("weight", "bias", "running_mean", "running_var")],
                                      [norm], epsilon=1e-5))
        x = f"relu{block}"
        nodes.append(helper.make_node("Relu", [norm], [x]))
    nodes.append(helper.make_node("ConvTranspose", [x, constant("net.4.weight"), constant("net.4.bias")], ["out"],
                                  kernel_shape=[4, 4], strides=[2, 2], pads=[1] * 4))
    nodes.append(helper.make_node("Tanh", ["out"], ["image"]))
    graph = helper.make_graph(nodes, "generator", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", latent, 1, 1])],
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 64, 64])], initializers)
    # IR version 8 goes with opset 17 (what PyTorch writes for it); newer runtimes read it too.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="atelier", ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
