#include "core/formats/gguf_blocks.h"

#include <cmath>
#include <cstring>

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "core/common/error.h"

namespace zp::gguf {

namespace {

at::Tensor rows_cols_float(const at::Tensor& w, const char* what)
{
    if (!w.defined() || w.dim() != 2)
        throw InvalidArgument(std::string("GGUF blocks: ") + what + " must be a 2-D tensor");
    return w.to(at::kCPU).to(at::kFloat).contiguous();
}

void check_block_cols(int64_t cols, const char* what)
{
    if (cols % kBlock != 0)
        throw InvalidArgument(std::string("GGUF blocks: ") + what + ": row length " +
                              std::to_string(cols) + " is not a multiple of 32");
}

// Groups expanded to columns: [rows, groups] -> [rows, cols].
at::Tensor expand_groups(const at::Tensor& p, int64_t group_size)
{
    return p.repeat_interleave(group_size, 1);
}

}  // namespace

uint16_t fp16_bits(float x)
{
    return c10::Half(x).x;
}

float fp16_value(uint16_t bits)
{
    return static_cast<float>(c10::Half(bits, c10::Half::from_bits()));
}

TensorType affine_type_for_bits(int bits)
{
    if (bits >= 2 && bits <= 4)
        return TensorType::Q4_1;
    if (bits == 5)
        return TensorType::Q5_1;
    if (bits >= 6 && bits <= 8)
        return TensorType::Q8_0;
    throw InvalidArgument("GGUF blocks: bits " + std::to_string(bits) + " outside 2..8");
}

bool blocks_fit(int64_t cols, int64_t group_size)
{
    const int64_t g = group_size <= 0 ? cols : group_size;
    return cols > 0 && cols % kBlock == 0 && g % kBlock == 0 && cols % g == 0;
}

AffineBlocks snap_affine(const at::Tensor& w_in, const at::Tensor& scale, const at::Tensor& zero,
                         int bits, int64_t group_size)
{
    if (bits < 2 || bits > 8)
        throw InvalidArgument("GGUF blocks: bits " + std::to_string(bits) + " outside 2..8");
    at::Tensor w = rows_cols_float(w_in, "weight");
    const int64_t rows = w.size(0), cols = w.size(1);
    const int64_t g = group_size <= 0 ? cols : group_size;
    if (cols % g != 0)
        throw InvalidArgument("GGUF blocks: group size " + std::to_string(g) + " does not divide " +
                              std::to_string(cols));
    const int64_t groups = cols / g;
    if (!scale.defined() || !zero.defined() || scale.dim() != 2 || zero.dim() != 2 ||
        scale.size(0) != rows || scale.size(1) != groups || zero.sizes() != scale.sizes())
        throw InvalidArgument("GGUF blocks: scale/zero must be [" + std::to_string(rows) + ", " +
                              std::to_string(groups) + "]");
    // m = -s z in float64, then to fp16 (through float32; the float32 step cannot change the fp16
    // result except on exact ties, which float32 holds exactly anyway for these magnitudes).
    at::Tensor s64 = scale.to(at::kCPU).to(at::kDouble);
    at::Tensor m64 = -(s64 * zero.to(at::kCPU).to(at::kDouble));
    AffineBlocks a;
    a.bits = bits;
    a.group_size = g;
    a.d = s64.to(at::kFloat).to(at::kHalf).to(at::kFloat).contiguous();
    a.m = m64.to(at::kFloat).to(at::kHalf).to(at::kFloat).contiguous();
    if (!at::isfinite(a.d).all().item<bool>() || !at::isfinite(a.m).all().item<bool>())
        throw NumericError(
            "GGUF blocks: a scale or minimum is not finite in fp16 (|s| or |s z| > 65504, or NaN)");
    const at::Tensor d_full = expand_groups(a.d, g);
    const at::Tensor m_full = expand_groups(a.m, g);
    const double qmax = static_cast<double>((1 << bits) - 1);
    at::Tensor q = ((w - m_full) / d_full).round().clamp(0.0, qmax);
    q = at::where(d_full == 0, at::zeros_like(q), q);
    q = at::nan_to_num(q, 0.0, qmax, 0.0);
    a.codes = q.to(at::kByte).contiguous();
    // Two float32 operations, in llama.cpp's order: (d * q) + m.
    at::Tensor prod = a.codes.to(at::kFloat) * d_full;
    a.w_hat = (prod + m_full).contiguous();
    (void)rows;
    return a;
}

std::vector<uint8_t> pack_affine(const AffineBlocks& a, TensorType type)
{
    if (type != TensorType::Q4_1 && type != TensorType::Q5_1)
        throw InvalidArgument("GGUF blocks: pack_affine packs Q4_1 or Q5_1 only");
    if (type == TensorType::Q4_1 && a.bits > 4)
        throw InvalidArgument("GGUF blocks: " + std::to_string(a.bits) +
                              "-bit codes do not fit Q4_1");
    if (a.bits > 5)
        throw InvalidArgument("GGUF blocks: " + std::to_string(a.bits) +
                              "-bit codes do not fit Q5_1");
    const int64_t rows = a.codes.size(0), cols = a.codes.size(1);
    if (!blocks_fit(cols, a.group_size))
        throw InvalidArgument("GGUF blocks: row length " + std::to_string(cols) + " / group " +
                              std::to_string(a.group_size) + " are not multiples of 32");
    const int64_t groups = cols / a.group_size;
    const int64_t nb = cols / kBlock;
    const uint8_t* codes = a.codes.data_ptr<uint8_t>();
    const float* d = a.d.data_ptr<float>();
    const float* m = a.m.data_ptr<float>();
    const size_t bsize = type == TensorType::Q4_1 ? sizeof(BlockQ4_1) : sizeof(BlockQ5_1);
    std::vector<uint8_t> out(static_cast<size_t>(rows * nb) * bsize);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t b = 0; b < nb; ++b) {
            const int64_t grp = b * kBlock / a.group_size;
            const uint16_t db = fp16_bits(d[r * groups + grp]);
            const uint16_t mb = fp16_bits(m[r * groups + grp]);
            const uint8_t* q = codes + r * cols + b * kBlock;
            uint8_t qs[16];
            uint32_t qh = 0;
            for (int j = 0; j < 16; ++j) {
                qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
                qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
                qh |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
            }
            uint8_t* dst = out.data() + static_cast<size_t>(r * nb + b) * bsize;
            if (type == TensorType::Q4_1) {
                BlockQ4_1 blk;
                blk.d = db;
                blk.m = mb;
                std::memcpy(blk.qs, qs, 16);
                std::memcpy(dst, &blk, sizeof blk);
            } else {
                BlockQ5_1 blk;
                blk.d = db;
                blk.m = mb;
                std::memcpy(blk.qh, &qh, 4);  // little-endian host (GGUF is little-endian)
                std::memcpy(blk.qs, qs, 16);
                std::memcpy(dst, &blk, sizeof blk);
            }
        }
    }
    return out;
}

std::vector<uint8_t> quantize_q8_0(const at::Tensor& w_in, at::Tensor* w_hat)
{
    at::Tensor w = rows_cols_float(w_in, "weight");
    const int64_t rows = w.size(0), cols = w.size(1);
    check_block_cols(cols, "Q8_0");
    const int64_t nb = cols / kBlock;
    if (!at::isfinite(w).all().item<bool>())
        throw NumericError("GGUF blocks: Q8_0 input holds NaN/Inf");
    const float* x = w.data_ptr<float>();
    std::vector<uint8_t> out(static_cast<size_t>(rows * nb) * sizeof(BlockQ8_0));
    at::Tensor deq;
    float* y = nullptr;
    if (w_hat) {
        deq = at::empty({rows, cols}, at::kFloat);
        y = deq.data_ptr<float>();
    }
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t b = 0; b < nb; ++b) {
            const float* xb = x + r * cols + b * kBlock;
            float amax = 0.0f;
            for (int j = 0; j < kBlock; ++j)
                amax = std::max(amax, std::fabs(xb[j]));
            BlockQ8_0 blk;
            blk.d = fp16_bits(amax / 127.0f);
            const float d = fp16_value(blk.d);
            for (int j = 0; j < kBlock; ++j) {
                float q = d == 0.0f ? 0.0f : std::nearbyint(xb[j] / d);
                q = std::min(127.0f, std::max(-127.0f, q));
                blk.qs[j] = static_cast<int8_t>(q);
                if (y)
                    y[r * cols + b * kBlock + j] = static_cast<float>(blk.qs[j]) * d;
            }
            std::memcpy(out.data() + static_cast<size_t>(r * nb + b) * sizeof(BlockQ8_0), &blk,
                        sizeof blk);
        }
    }
    if (w_hat)
        *w_hat = deq;
    return out;
}

std::vector<uint8_t> encode_float(const at::Tensor& w, TensorType type)
{
    at::ScalarType st;
    switch (type) {
        case TensorType::F32:
            st = at::kFloat;
            break;
        case TensorType::F16:
            st = at::kHalf;
            break;
        case TensorType::BF16:
            st = at::kBFloat16;
            break;
        default:
            throw InvalidArgument("GGUF blocks: encode_float writes F32, F16 or BF16 only");
    }
    // float64 goes through float32 first, as the file's readers would see it.
    at::Tensor t = w.to(at::kCPU).to(at::kFloat).to(st).contiguous();
    const auto* p = static_cast<const uint8_t*>(t.data_ptr());
    return std::vector<uint8_t>(p, p + t.nbytes());
}

at::Tensor dequantize(const std::vector<uint8_t>& data, TensorType type, int64_t rows, int64_t cols)
{
    const uint64_t expect =
        row_bytes(type, static_cast<uint64_t>(cols)) * static_cast<uint64_t>(rows);
    if (data.size() != expect)
        throw InvalidArgument("GGUF blocks: " + std::to_string(data.size()) + " bytes, [" +
                              std::to_string(rows) + ", " + std::to_string(cols) + "] needs " +
                              std::to_string(expect));
    auto from_raw = [&](at::ScalarType st) {
        at::Tensor t = at::empty({rows, cols}, st);
        std::memcpy(t.data_ptr(), data.data(), data.size());
        return t.to(at::kFloat);
    };
    switch (type) {
        case TensorType::F32:
            return from_raw(at::kFloat);
        case TensorType::F16:
            return from_raw(at::kHalf);
        case TensorType::BF16:
            return from_raw(at::kBFloat16);
        default:
            break;
    }
    const int64_t nb = rows * (cols / kBlock);
    // Per block: its d, m (as floats) and 32 integer codes; then y = (d * q) + m in float32.
    at::Tensor d = at::empty({nb, 1}, at::kFloat);
    at::Tensor m = at::zeros({nb, 1}, at::kFloat);
    at::Tensor q = at::empty({nb, kBlock}, at::kFloat);
    float* pd = d.data_ptr<float>();
    float* pm = m.data_ptr<float>();
    float* pq = q.data_ptr<float>();
    for (int64_t b = 0; b < nb; ++b) {
        float* qb = pq + b * kBlock;
        switch (type) {
            case TensorType::Q8_0: {
                BlockQ8_0 blk;
                std::memcpy(&blk, data.data() + b * sizeof blk, sizeof blk);
                pd[b] = fp16_value(blk.d);
                for (int j = 0; j < 32; ++j)
                    qb[j] = blk.qs[j];
                break;
            }
            case TensorType::Q4_0: {
                uint16_t dd;
                const uint8_t* src = data.data() + b * 18;
                std::memcpy(&dd, src, 2);
                pd[b] = fp16_value(dd);
                for (int j = 0; j < 16; ++j) {
                    qb[j] = static_cast<float>((src[2 + j] & 0x0F) - 8);
                    qb[j + 16] = static_cast<float>((src[2 + j] >> 4) - 8);
                }
                break;
            }
            case TensorType::Q4_1: {
                BlockQ4_1 blk;
                std::memcpy(&blk, data.data() + b * sizeof blk, sizeof blk);
                pd[b] = fp16_value(blk.d);
                pm[b] = fp16_value(blk.m);
                for (int j = 0; j < 16; ++j) {
                    qb[j] = static_cast<float>(blk.qs[j] & 0x0F);
                    qb[j + 16] = static_cast<float>(blk.qs[j] >> 4);
                }
                break;
            }
            case TensorType::Q5_0: {
                const uint8_t* src = data.data() + b * 22;
                uint16_t dd;
                uint32_t qh;
                std::memcpy(&dd, src, 2);
                std::memcpy(&qh, src + 2, 4);
                pd[b] = fp16_value(dd);
                for (int j = 0; j < 16; ++j) {
                    qb[j] = static_cast<float>(((src[6 + j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16);
                    qb[j + 16] = static_cast<float>(
                        ((src[6 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
                }
                break;
            }
            case TensorType::Q5_1: {
                BlockQ5_1 blk;
                std::memcpy(&blk, data.data() + b * sizeof blk, sizeof blk);
                uint32_t qh;
                std::memcpy(&qh, blk.qh, 4);
                pd[b] = fp16_value(blk.d);
                pm[b] = fp16_value(blk.m);
                for (int j = 0; j < 16; ++j) {
                    qb[j] = static_cast<float>((blk.qs[j] & 0x0F) | (((qh >> j) & 1) << 4));
                    qb[j + 16] =
                        static_cast<float>((blk.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
                }
                break;
            }
            default:
                throw InvalidArgument(std::string("GGUF blocks: cannot dequantize type ") +
                                      tensor_type_traits(static_cast<uint32_t>(type)).name);
        }
    }
    at::Tensor prod = d * q;
    at::Tensor y = type == TensorType::Q8_0 || type == TensorType::Q4_0 || type == TensorType::Q5_0
                       ? prod
                       : prod + m;
    return y.reshape({rows, cols}).contiguous();
}

}  // namespace zp::gguf
