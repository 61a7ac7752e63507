#!/usr/bin/env python3
"""Write the int8 build of the model: model.onnx with its weights quantized to 8 bits.

    quantize.py MODEL.onnx OUT.onnx

ONNX Runtime's dynamic quantization (`onnxruntime.quantization.quantize_dynamic`): weights of
MatMul and Gather become signed 8-bit integers with one scale per output channel, and
activations are quantized at run time, per run. Per-channel scales matter: per-tensor ones put
sentence vectors at a cosine of about 0.92 from fp32's, per-channel ones at about 0.99. The file
is byte-for-byte reproducible (the same SHA-256 run after run), so fetch.sh checks it against
checksums.sha256 like everything else.
"""

import logging
import sys

from onnxruntime.quantization import QuantType, quantize_dynamic


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    # The advice to run shape-inference pre-processing first is for static quantization.
    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8, per_channel=True)


if __name__ == "__main__":
    main()
