// Bit packing of quantization codes (bytes <-> tensors, no model): the packed checkpoint's row bit
// stream and GPTQ's int32 packing. Layouts in core/export/safetensors_export.h.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace zp::io {

// Packs values (each < 2^bits) as a little-endian bit stream: GPTQ's int32 packing along dim 0 of
// an [n, m] tensor -> int32 [n * bits / 32, m]; n * bits must be a multiple of 32.
at::Tensor gptq_pack(const at::Tensor& values, int bits);
at::Tensor gptq_unpack(const at::Tensor& packed, int bits, int64_t n);  // -> int32 [n, m]

// The packed layout's row bit stream: uint8 codes [out, in] <-> U8 [out, ceil(in * bits / 8)].
at::Tensor pack_codes(const at::Tensor& codes, int bits);
at::Tensor unpack_codes(const at::Tensor& packed, int bits, int64_t in);

}  // namespace zp::io
