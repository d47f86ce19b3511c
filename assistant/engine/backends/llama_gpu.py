"""llama.cpp on a GPU: what the build supports and where a load put the layers, for `starassist doctor`.

llama.cpp decides per layer where it goes (`n_gpu_layers`) and logs each decision while loading ("layer 12
assigned to device CUDA0") along with each device's buffers; a CPU-only build assigns everything to the CPU
whatever `gpu_layers` says. We read that log rather than guess from the settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..backend import Diagnostic

_LAYER = re.compile(r"layer\s+(\d+) assigned to device ([^,\s]+)")
_BUFFER = re.compile(r"(\S+)\s+(?:model|KV|compute|output) buffer size =\s+([\d.]+) MiB")

GPU_INSTALL = ('CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python '
               "(Metal is on by default on Apple Silicon)")


@dataclass(frozen=True)
class Offload:
    layers: int  # layers llama.cpp placed (the model's blocks and the output layer)
    on_gpu: int
    devices: tuple[str, ...]  # the non-CPU devices that got layers, in order
    buffers_mib: dict[str, float] = field(default_factory=dict)  # device buffer -> MiB (weights, KV, compute)


def _is_cpu(device: str) -> bool:
    return device.upper().startswith("CPU")


def read_offload(log: str) -> Offload:
    """Where llama.cpp's load log says the layers went."""
    placed: dict[int, str] = {int(n): dev for n, dev in _LAYER.findall(log)}
    gpu = [dev for _, dev in sorted(placed.items()) if not _is_cpu(dev)]
    buffers: dict[str, float] = {}
    for name, mib in _BUFFER.findall(log):
        buffers[name] = buffers.get(name, 0.0) + float(mib)
    return Offload(layers=len(placed), on_gpu=len(gpu), devices=tuple(dict.fromkeys(gpu)), buffers_mib=buffers)


def device_summary(offload: Offload) -> str:
    """ModelInfo.device for a llama.cpp model: "cpu", or the GPU devices and how many layers they hold."""
    if not offload.on_gpu:
        return "cpu"
    where = ", ".join(offload.devices)
    return f"{where} ({offload.on_gpu}/{offload.layers} layers)"


def gpu_warning(gpu_layers: int, supported: bool) -> str:
    """The message for `gpu_layers` set on a build without GPU support ("" when there is nothing to say)."""
    if gpu_layers == 0 or supported:
        return ""
    return (f"model.gpu_layers = {gpu_layers} but this llama-cpp-python build has no GPU support, so the model "
            f"runs on the CPU — reinstall it with {GPU_INSTALL}")


def offload_diagnostics(offload: Offload, gpu_layers: int, supported: bool) -> list[Diagnostic]:
    build = "GPU offload supported" if supported else "CPU-only build"
    if offload.on_gpu:
        where = f"{offload.on_gpu}/{offload.layers} layers on {', '.join(offload.devices)}"
    elif offload.layers:
        where = f"all {offload.layers} layers on the CPU"
    else:
        where = "layers on the CPU"
    out = [Diagnostic("ok", "gpu offload", f"{where} (model.gpu_layers = {gpu_layers}; {build})")]
    warning = gpu_warning(gpu_layers, supported)
    if warning:
        out.append(Diagnostic("warn", "gpu offload", warning))
    elif supported and gpu_layers == 0:
        out.append(Diagnostic("warn", "gpu offload", "this build can offload to the GPU but model.gpu_layers = 0: "
                                                     "set it to -1 to put every layer there"))
    if offload.buffers_mib:
        sizes = ", ".join(f"{name} {mib:.0f} MiB" for name, mib in offload.buffers_mib.items())
        out.append(Diagnostic("ok", "memory", sizes))
    return out
