"""The quantization types starassist offers, as data: llama.cpp file type, approximate bits per weight, notes.

Bits per weight are llama.cpp's figures for the type (mixes such as Q4_K_M keep some tensors at a higher type,
so their average is given). Types that need an importance matrix (IQ1/IQ2 families) are not offered: the
quantizer refuses them without one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import QuantError


@dataclass(frozen=True)
class QuantType:
    name: str
    ftype_name: str  # llama_cpp.LLAMA_FTYPE_* (looked up lazily: llama_cpp is not imported here)
    bits_per_weight: float
    notes: str = ""
    converted: bool = False  # produced by the converter directly (no llama.cpp quantizer pass)

    def ftype(self) -> int:
        import llama_cpp

        return int(getattr(llama_cpp, self.ftype_name))


_T = QuantType
TYPES: dict[str, QuantType] = {
    t.name: t
    for t in (
        _T("F32", "LLAMA_FTYPE_ALL_F32", 32.0, "reference, no loss", converted=True),
        _T("F16", "LLAMA_FTYPE_MOSTLY_F16", 16.0, "practically lossless", converted=True),
        _T("BF16", "LLAMA_FTYPE_MOSTLY_BF16", 16.0, "practically lossless, float range of F32", converted=True),
        _T("Q8_0", "LLAMA_FTYPE_MOSTLY_Q8_0", 8.5, "near-lossless"),
        _T("Q6_K", "LLAMA_FTYPE_MOSTLY_Q6_K", 6.56, "very small loss"),
        _T("Q5_K_M", "LLAMA_FTYPE_MOSTLY_Q5_K_M", 5.69, "small loss"),
        _T("Q5_K_S", "LLAMA_FTYPE_MOSTLY_Q5_K_S", 5.54, "small loss"),
        _T("Q5_1", "LLAMA_FTYPE_MOSTLY_Q5_1", 6.0, "legacy"),
        _T("Q5_0", "LLAMA_FTYPE_MOSTLY_Q5_0", 5.5, "legacy"),
        _T("Q4_K_M", "LLAMA_FTYPE_MOSTLY_Q4_K_M", 4.89, "recommended for laptops"),
        _T("Q4_K_S", "LLAMA_FTYPE_MOSTLY_Q4_K_S", 4.58, "a bit smaller than Q4_K_M"),
        _T("IQ4_XS", "LLAMA_FTYPE_MOSTLY_IQ4_XS", 4.25, "non-linear 4-bit, smaller than Q4_K_S"),
        _T("IQ4_NL", "LLAMA_FTYPE_MOSTLY_IQ4_NL", 4.5, "non-linear 4-bit, 32-wide blocks"),
        _T("Q4_1", "LLAMA_FTYPE_MOSTLY_Q4_1", 5.0, "legacy"),
        _T("Q4_0", "LLAMA_FTYPE_MOSTLY_Q4_0", 4.5, "legacy, fast on ARM"),
        _T("Q3_K_L", "LLAMA_FTYPE_MOSTLY_Q3_K_L", 4.27, "noticeable loss"),
        _T("Q3_K_M", "LLAMA_FTYPE_MOSTLY_Q3_K_M", 3.91, "noticeable loss"),
        _T("Q3_K_S", "LLAMA_FTYPE_MOSTLY_Q3_K_S", 3.5, "large loss"),
        _T("IQ3_M", "LLAMA_FTYPE_MOSTLY_IQ3_M", 3.66, "large loss"),
        _T("IQ3_S", "LLAMA_FTYPE_MOSTLY_IQ3_S", 3.44, "large loss"),
        _T("Q2_K", "LLAMA_FTYPE_MOSTLY_Q2_K", 2.96, "very large loss; last resort"),
    )
}


def get_type(name: str) -> QuantType:
    key = name.upper()
    if key not in TYPES:
        raise QuantError(f"unknown quantization type {name!r} — choose one of {', '.join(TYPES)} "
                         "(see `starassist quantize --list-types`)")
    return TYPES[key]


def estimated_bytes(n_params: int, qtype: QuantType) -> int:
    return int(n_params * qtype.bits_per_weight / 8)
