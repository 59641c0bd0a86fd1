#include "core/formats/bitpack.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include "core/common/error.h"
#include "core/common/text.h"

namespace zp::io {

at::Tensor pack_codes(const at::Tensor& codes_in, int bits)
{
    if (codes_in.dim() != 2 || bits < 1 || bits > 8)
        throw InvalidArgument("pack_codes: codes must be 2-D and bits in 1..8");
    const at::Tensor codes = codes_in.to(at::kCPU).to(at::kByte).contiguous();
    const int64_t rows = codes.size(0), cols = codes.size(1);
    const int64_t row_bytes = (cols * bits + 7) / 8;
    at::Tensor out = at::zeros({rows, row_bytes}, at::TensorOptions().dtype(at::kByte));
    const uint8_t* src = codes.data_ptr<uint8_t>();
    uint8_t* dst = out.data_ptr<uint8_t>();
    const uint32_t mask = (1u << bits) - 1;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* s = src + r * cols;
        uint8_t* d = dst + r * row_bytes;
        uint64_t acc = 0;
        int n = 0;
        int64_t b = 0;
        for (int64_t c = 0; c < cols; ++c) {
            acc |= static_cast<uint64_t>(s[c] & mask) << n;
            n += bits;
            while (n >= 8) {
                d[b++] = static_cast<uint8_t>(acc & 0xff);
                acc >>= 8;
                n -= 8;
            }
        }
        if (n > 0)
            d[b++] = static_cast<uint8_t>(acc & 0xff);
    }
    return out;
}

at::Tensor unpack_codes(const at::Tensor& packed_in, int bits, int64_t cols)
{
    const at::Tensor packed = packed_in.to(at::kCPU).contiguous();
    const int64_t rows = packed.size(0), row_bytes = packed.size(1);
    if (packed.scalar_type() != at::kByte || row_bytes != (cols * bits + 7) / 8)
        throw InvalidArgument("unpack_codes: expected U8 [rows, " +
                              std::to_string((cols * bits + 7) / 8) + "], got " +
                              shape_str(packed.sizes().vec()));
    at::Tensor out = at::empty({rows, cols}, at::TensorOptions().dtype(at::kByte));
    const uint8_t* src = packed.data_ptr<uint8_t>();
    uint8_t* dst = out.data_ptr<uint8_t>();
    const uint32_t mask = (1u << bits) - 1;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* s = src + r * row_bytes;
        uint8_t* d = dst + r * cols;
        uint64_t acc = 0;
        int n = 0;
        int64_t b = 0;
        for (int64_t c = 0; c < cols; ++c) {
            while (n < bits) {
                acc |= static_cast<uint64_t>(s[b++]) << n;
                n += 8;
            }
            d[c] = static_cast<uint8_t>(acc & mask);
            acc >>= bits;
            n -= bits;
        }
    }
    return out;
}

at::Tensor gptq_pack(const at::Tensor& values_in, int bits)
{
    if (values_in.dim() != 2 || bits < 1 || bits > 8)
        throw InvalidArgument("gptq_pack: values must be 2-D and bits in 1..8");
    const at::Tensor v = values_in.to(at::kCPU).to(at::kInt).contiguous();
    const int64_t n = v.size(0), m = v.size(1);
    if ((n * bits) % 32 != 0)
        throw InvalidArgument("gptq_pack: " + std::to_string(n) + " values x " +
                              std::to_string(bits) + " bits do not fill whole int32 words");
    at::Tensor out = at::zeros({n * bits / 32, m}, at::TensorOptions().dtype(at::kInt));
    const int32_t* src = v.data_ptr<int32_t>();
    auto* dst = reinterpret_cast<uint32_t*>(out.data_ptr<int32_t>());
    const uint32_t mask = (1u << bits) - 1;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t pos = i * bits, word = pos / 32;
        const int off = static_cast<int>(pos % 32);
        for (int64_t c = 0; c < m; ++c) {
            const uint32_t x = static_cast<uint32_t>(src[i * m + c]) & mask;
            dst[word * m + c] |= x << off;
            if (off + bits > 32)
                dst[(word + 1) * m + c] |= x >> (32 - off);
        }
    }
    return out;
}

at::Tensor gptq_unpack(const at::Tensor& packed_in, int bits, int64_t n)
{
    const at::Tensor p = packed_in.to(at::kCPU).contiguous();
    if (p.dim() != 2 || p.scalar_type() != at::kInt || p.size(0) * 32 != n * bits)
        throw InvalidArgument("gptq_unpack: expected int32 [" + std::to_string(n * bits / 32) +
                              ", m], got " + shape_str(p.sizes().vec()));
    const int64_t m = p.size(1);
    at::Tensor out = at::empty({n, m}, at::TensorOptions().dtype(at::kInt));
    const auto* src = reinterpret_cast<const uint32_t*>(p.data_ptr<int32_t>());
    int32_t* dst = out.data_ptr<int32_t>();
    const uint32_t mask = (1u << bits) - 1;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t pos = i * bits, word = pos / 32;
        const int off = static_cast<int>(pos % 32);
        for (int64_t c = 0; c < m; ++c) {
            uint32_t x = src[word * m + c] >> off;
            if (off + bits > 32)
                x |= src[(word + 1) * m + c] << (32 - off);
            dst[i * m + c] = static_cast<int32_t>(x & mask);
        }
    }
    return out;
}

}  // namespace zp::io
