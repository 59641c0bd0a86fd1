#include "core/formats/gguf_blocks.h"

#include <cmath>
#include <cstring>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
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

// Groups expanded to columns: [rows, groups] -> [rows, cols] (a short last group is cut).
at::Tensor expand_groups(const at::Tensor& p, int64_t group_size, int64_t cols)
{
    return p.repeat_interleave(group_size, 1).narrow(1, 0, cols);
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
    const int64_t g = group_size <= 0 || group_size > cols ? cols : group_size;
    // Then a short last group (cols % g) is a whole number of blocks too.
    return cols > 0 && cols % kBlock == 0 && g % kBlock == 0;
}

AffineBlocks snap_affine(const at::Tensor& w_in, const at::Tensor& scale, const at::Tensor& zero,
                         int bits, int64_t group_size)
{
    if (bits < 2 || bits > 8)
        throw InvalidArgument("GGUF blocks: bits " + std::to_string(bits) + " outside 2..8");
    at::Tensor w = rows_cols_float(w_in, "weight");
    const int64_t rows = w.size(0), cols = w.size(1);
    const int64_t g = group_size <= 0 || group_size > cols ? cols : group_size;
    const int64_t groups = (cols + g - 1) / g;  // the last group is shorter when g does not divide
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
    const at::Tensor d_full = expand_groups(a.d, g, cols);
    const at::Tensor m_full = expand_groups(a.m, g, cols);
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
    const int64_t groups = (cols + a.group_size - 1) / a.group_size;
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

namespace {

// A K-quant super-block's 16 sub-block scales (Q3_K): 6-bit values, low 4 bits in bytes 0..7 (low
// nibble for sub-blocks 0..7, high nibble for 8..15), high 2 bits in bytes 8..11 (sub-block i's
// pair at bit 2 (i / 4) of byte 8 + i % 4). Returned with the bias of 32 removed.
void q3_k_scales(const uint8_t* b, int out[16])
{
    for (int i = 0; i < 16; ++i) {
        const int low = i < 8 ? (b[i] & 0x0F) : (b[i - 8] >> 4);
        const int high = (b[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (low | (high << 4)) - 32;
    }
}

// Q4_K / Q5_K: 8 (scale, min) pairs of 6 bits in 12 bytes. Pairs 0..3 are the low 6 bits of bytes
// 0..3 (scale) and 4..7 (min); pairs 4..7 take their low 4 bits from the nibbles of bytes 8..11
// and their top 2 bits from the top bits of bytes 0..3 (scale) and 4..7 (min).
void k4_scale_min(const uint8_t* b, int j, int& sc, int& mn)
{
    if (j < 4) {
        sc = b[j] & 63;
        mn = b[j + 4] & 63;
    } else {
        sc = (b[j + 4] & 0x0F) | ((b[j - 4] >> 6) << 4);
        mn = (b[j + 4] >> 4) | ((b[j] >> 6) << 4);
    }
}

// One block of each type to float32, in llama.cpp's arithmetic order (ggml-quants.c
// dequantize_row_*): the sub-block scale d * sc in float32 first, then times the code, then minus
// the sub-block minimum (dmin * m). x86-64 without -mfma: no fused multiply-add changes a rounding.
void dequantize_block(const uint8_t* src, TensorType type, float* y)
{
    switch (type) {
        case TensorType::Q8_0: {
            BlockQ8_0 b;
            std::memcpy(&b, src, sizeof b);
            const float d = fp16_value(b.d);
            for (int j = 0; j < 32; ++j)
                y[j] = static_cast<float>(b.qs[j]) * d;
            return;
        }
        case TensorType::Q4_0: {
            BlockQ4_0 b;
            std::memcpy(&b, src, sizeof b);
            const float d = fp16_value(b.d);
            for (int j = 0; j < 16; ++j) {
                y[j] = static_cast<float>((b.qs[j] & 0x0F) - 8) * d;
                y[j + 16] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
            }
            return;
        }
        case TensorType::Q4_1: {
            BlockQ4_1 b;
            std::memcpy(&b, src, sizeof b);
            const float d = fp16_value(b.d), m = fp16_value(b.m);
            for (int j = 0; j < 16; ++j) {
                y[j] = static_cast<float>(b.qs[j] & 0x0F) * d + m;
                y[j + 16] = static_cast<float>(b.qs[j] >> 4) * d + m;
            }
            return;
        }
        case TensorType::Q5_0: {
            BlockQ5_0 b;
            std::memcpy(&b, src, sizeof b);
            uint32_t qh;
            std::memcpy(&qh, b.qh, 4);
            const float d = fp16_value(b.d);
            for (int j = 0; j < 16; ++j) {
                const int lo = (b.qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1) << 4);
                const int hi = (b.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
                y[j] = static_cast<float>(lo - 16) * d;
                y[j + 16] = static_cast<float>(hi - 16) * d;
            }
            return;
        }
        case TensorType::Q5_1: {
            BlockQ5_1 b;
            std::memcpy(&b, src, sizeof b);
            uint32_t qh;
            std::memcpy(&qh, b.qh, 4);
            const float d = fp16_value(b.d), m = fp16_value(b.m);
            for (int j = 0; j < 16; ++j) {
                const int lo = (b.qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1) << 4);
                const int hi = (b.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
                y[j] = static_cast<float>(lo) * d + m;
                y[j + 16] = static_cast<float>(hi) * d + m;
            }
            return;
        }
        case TensorType::Q2_K: {
            BlockQ2_K b;
            std::memcpy(&b, src, sizeof b);
            const float d = fp16_value(b.d), dmin = fp16_value(b.dmin);
            // Two halves of 128; in each, 32 bytes of codes read four times (shift 0, 2, 4, 6),
            // 16 bytes per sub-block of 16.
            for (int half = 0; half < 2; ++half)
                for (int shift = 0; shift < 4; ++shift)
                    for (int s = 0; s < 2; ++s) {
                        const int sub = half * 8 + shift * 2 + s;
                        const float dl = d * static_cast<float>(b.scales[sub] & 0x0F);
                        const float ml = dmin * static_cast<float>(b.scales[sub] >> 4);
                        const uint8_t* q = b.qs + half * 32 + s * 16;
                        for (int l = 0; l < 16; ++l)
                            *y++ = dl * static_cast<float>((q[l] >> (2 * shift)) & 3) - ml;
                    }
            return;
        }
        case TensorType::Q3_K: {
            BlockQ3_K b;
            std::memcpy(&b, src, sizeof b);
            const float d = fp16_value(b.d);
            int sc[16];
            q3_k_scales(b.scales, sc);
            // As Q2_K for the low 2 bits; the third bit of element (s * 16 + l) of step
            // (half, shift) is bit (half * 4 + shift) of hmask[s * 16 + l], and a clear bit
            // subtracts 4.
            for (int half = 0; half < 2; ++half)
                for (int shift = 0; shift < 4; ++shift)
                    for (int s = 0; s < 2; ++s) {
                        const int sub = half * 8 + shift * 2 + s;
                        const float dl = d * static_cast<float>(sc[sub]);
                        const uint8_t* q = b.qs + half * 32 + s * 16;
                        const uint8_t* hm = b.hmask + s * 16;
                        const int bit = half * 4 + shift;
                        for (int l = 0; l < 16; ++l) {
                            const int code =
                                ((q[l] >> (2 * shift)) & 3) - (((hm[l] >> bit) & 1) ? 0 : 4);
                            *y++ = dl * static_cast<float>(code);
                        }
                    }
            return;
        }
        case TensorType::Q4_K:
        case TensorType::Q5_K: {
            const bool five = type == TensorType::Q5_K;
            uint16_t dd, dm;
            std::memcpy(&dd, src, 2);
            std::memcpy(&dm, src + 2, 2);
            const uint8_t* scales = src + 4;
            const uint8_t* qh = five ? src + 16 : nullptr;
            const uint8_t* qs = five ? src + 48 : src + 16;
            const float d = fp16_value(dd), dmin = fp16_value(dm);
            // Four chunks of 64: 32 bytes whose low nibbles are sub-block 2c and high nibbles
            // sub-block 2c + 1; Q5_K's fifth bit of byte l is bit 2c (low) / 2c + 1 (high) of
            // qh[l].
            for (int c = 0; c < 4; ++c)
                for (int half = 0; half < 2; ++half) {
                    int sc, mn;
                    k4_scale_min(scales, 2 * c + half, sc, mn);
                    const float dl = d * static_cast<float>(sc);
                    const float ml = dmin * static_cast<float>(mn);
                    const uint8_t* q = qs + c * 32;
                    for (int l = 0; l < 32; ++l) {
                        int code = half ? (q[l] >> 4) : (q[l] & 0x0F);
                        if (five && ((qh[l] >> (2 * c + half)) & 1))
                            code += 16;
                        *y++ = dl * static_cast<float>(code) - ml;
                    }
                }
            return;
        }
        case TensorType::Q6_K: {
            BlockQ6_K b;
            std::memcpy(&b, src, sizeof b);
            const float d = fp16_value(b.d);
            // Two halves of 128 (64 bytes of low nibbles, 32 of high bit pairs, 8 scales each);
            // quarter k of a half takes byte l + 32 (k & 1) of its ql, the low nibble for k < 2,
            // and bits 2k..2k+1 of qh[l].
            for (int half = 0; half < 2; ++half) {
                const uint8_t* ql = b.ql + half * 64;
                const uint8_t* qh = b.qh + half * 32;
                const int8_t* sc = b.scales + half * 8;
                for (int k = 0; k < 4; ++k)
                    for (int l = 0; l < 32; ++l) {
                        const uint8_t lowb = ql[l + 32 * (k & 1)];
                        const int low = k < 2 ? (lowb & 0x0F) : (lowb >> 4);
                        const int code = (low | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                        const float dl = d * static_cast<float>(sc[l / 16 + 2 * k]);
                        *y++ = dl * static_cast<float>(code);
                    }
            }
            return;
        }
        default:
            throw InvalidArgument(std::string("GGUF blocks: cannot dequantize type ") +
                                  tensor_type_traits(static_cast<uint32_t>(type)).name);
    }
}

}  // namespace

bool can_dequantize(TensorType type)
{
    switch (type) {
        case TensorType::F32:
        case TensorType::F16:
        case TensorType::BF16:
        case TensorType::Q8_0:
        case TensorType::Q4_0:
        case TensorType::Q4_1:
        case TensorType::Q5_0:
        case TensorType::Q5_1:
        case TensorType::Q2_K:
        case TensorType::Q3_K:
        case TensorType::Q4_K:
        case TensorType::Q5_K:
        case TensorType::Q6_K:
            return true;
    }
    return false;
}

void dequantize_row(const uint8_t* src, TensorType type, int64_t n, float* dst)
{
    const TypeTraits tt = tensor_type_traits(static_cast<uint32_t>(type));
    if (!tt.name || !can_dequantize(type))
        throw InvalidArgument("GGUF blocks: cannot dequantize type id " +
                              std::to_string(static_cast<uint32_t>(type)));
    if (n < 0 || n % static_cast<int64_t>(tt.block_elements) != 0)
        throw InvalidArgument(std::string("GGUF blocks: a row of ") + std::to_string(n) +
                              " elements is not a whole number of " + tt.name + " blocks");
    switch (type) {
        case TensorType::F32:
            std::memcpy(dst, src, static_cast<size_t>(n) * 4);
            return;
        case TensorType::F16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                dst[i] = fp16_value(h);
            }
            return;
        case TensorType::BF16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                const uint32_t bits = static_cast<uint32_t>(h) << 16;
                std::memcpy(dst + i, &bits, 4);
            }
            return;
        default:
            break;
    }
    const int64_t nb = n / static_cast<int64_t>(tt.block_elements);
    for (int64_t b = 0; b < nb; ++b)
        dequantize_block(src + b * static_cast<int64_t>(tt.block_bytes), type,
                         dst + b * static_cast<int64_t>(tt.block_elements));
}

at::Tensor dequantize(const uint8_t* data, uint64_t size, TensorType type, int64_t rows,
                      int64_t cols)
{
    if (rows < 0 || cols < 0)
        throw InvalidArgument("GGUF blocks: negative shape [" + std::to_string(rows) + ", " +
                              std::to_string(cols) + "]");
    const uint64_t rb = row_bytes(type, static_cast<uint64_t>(cols));
    const uint64_t expect = rb * static_cast<uint64_t>(rows);
    if (size != expect)
        throw InvalidArgument("GGUF blocks: " + std::to_string(size) + " bytes, [" +
                              std::to_string(rows) + ", " + std::to_string(cols) + "] needs " +
                              std::to_string(expect));
    if (!can_dequantize(type))
        throw InvalidArgument(std::string("GGUF blocks: cannot dequantize type ") +
                              tensor_type_traits(static_cast<uint32_t>(type)).name);
    at::Tensor y = at::empty({rows, cols}, at::kFloat);
    float* py = y.data_ptr<float>();
    at::parallel_for(0, rows, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
            dequantize_row(data + static_cast<uint64_t>(r) * rb, type, cols, py + r * cols);
    });
    return y;
}

at::Tensor dequantize(const std::vector<uint8_t>& data, TensorType type, int64_t rows, int64_t cols)
{
    return dequantize(data.data(), data.size(), type, rows, cols);
}

}  // namespace zp::gguf
