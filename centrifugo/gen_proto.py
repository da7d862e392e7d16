"""Regenerate the protobuf and gRPC code in centrifugo/_proto (run by `make proto`).

grpcio-tools writes absolute imports (``import proxy_pb2``); they are rewritten
to relative ones so the generated modules live inside ``hub.centrifugo._proto``.
"""

import pathlib
import re
import sys

from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "_proto"


def main() -> int:
    protos = sorted(p.name for p in HERE.glob("*.proto"))
    args = ["protoc", f"-I{HERE}", f"--python_out={OUT}", f"--pyi_out={OUT}", f"--grpc_python_out={OUT}"]
    if protoc.main([*args, *protos]) != 0:
        return 1
    for path in OUT.glob("*_pb2*.py"):
        text = re.sub(r"^import (\w+_pb2) as", r"from . import \1 as", path.read_text(), flags=re.M)
        path.write_text(text)
    (OUT / "__init__.py").write_text(
        '"""Code generated from centrifugo/*.proto by `make proto`; do not edit."""\n'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
