#include "core/formats/kquant_pack.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "core/common/error.h"
#include "core/formats/gguf_blocks.h"

namespace zp::gguf {

namespace {

const char* name_of(TensorType t)
{
    return tensor_type_traits(static_cast<uint32_t>(t)).name;
}

std::string where(TensorType t, int64_t block)
{
    return std::string("GGUF ") + name_of(t) + " block " + std::to_string(block) + ": ";
}

// field[index] (index < 0: no index) must lie in lo..hi.
void check_range(TensorType t, int64_t block, const char* field, int index, int value, int lo,
                 int hi)
{
    if (value >= lo && value <= hi)
        return;
    const std::string f =
        index < 0 ? field : std::string(field) + "[" + std::to_string(index) + "]";
    throw InvalidArgument(where(t, block) + f + " = " + std::to_string(value) + " outside " +
                          std::to_string(lo) + ".." + std::to_string(hi));
}

// An Inf/NaN super-scale would make every value of the block Inf/NaN, and llama.cpp refuses such
// rows when it validates tensor data (ggml_validate_row_data): better refused at the source.
void check_fp16(TensorType t, int64_t block, const char* field, uint16_t bits)
{
    if ((bits & 0x7C00) != 0x7C00)
        return;
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%04x", static_cast<unsigned>(bits));
    throw InvalidArgument(where(t, block) + field + " = fp16 " + hex + " is not finite");
}

// The 2-bit planes of Q2_K and Q3_K: each half of 128 elements is 32 bytes, element i's bits at
// byte (i / 128) * 32 + i % 32, shift 2 * ((i % 128) / 32) -- so that llama.cpp's dequantizer,
// which reads the 32 bytes four times (shift 0, 2, 4, 6), meets the elements in order.
int plane2_byte(int i)
{
    return (i / 128) * 32 + i % 32;
}
int plane2_shift(int i)
{
    return 2 * ((i % 128) / 32);
}

// Q4_K / Q5_K nibbles: each chunk of 64 elements is 32 bytes, low nibbles the first 32 elements,
// high nibbles the next 32.
int k4_byte(int i)
{
    return (i / 64) * 32 + i % 32;
}
int k4_shift(int i)
{
    return 4 * ((i / 32) % 2);
}

// One struct per block type: Block (the byte layout), the code range, and four block-level
// operations. values() mirrors ggml's dequantize_row_* expression by expression (integers made
// float32 where ggml's are, (d * sc) * q, then minus dmin * m). Every product there is exact in
// float32 -- an fp16 d has at most 11 significant bits and |sc q| <= 4096 at most 12 (Q6_K:
// |sc| <= 128, |q| <= 32), 23 <= 24, and no product reaches float32's subnormal or overflow
// range -- so the one rounding is the final subtraction: a value is the float32 nearest to
// d sc q - dmin m, whatever the order of the products or a fused multiply-add. The expression
// still matters for the sign of a zero (dl q - ml is +0 where the two are equal, -(ml - dl q)
// would be -0), which the tests compare bit for bit.
template <class P>
struct Codec;

template <>
struct Codec<ParamsQ4_0> {
    using Block = BlockQ4_0;
    static constexpr int kCodeMin = 0, kCodeMax = 15;
    static void check(const ParamsQ4_0& p, int64_t b) { check_fp16(p.kType, b, "d", p.d); }
    static void pack(const ParamsQ4_0& p, const uint8_t* q, Block& blk)
    {
        blk.d = p.d;
        for (int j = 0; j < 16; ++j)
            blk.qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
    }
    static void values(const ParamsQ4_0& p, const uint8_t* q, float* y)
    {
        const float d = fp16_value(p.d);
        for (int j = 0; j < 32; ++j)
            y[j] = static_cast<float>(q[j] - 8) * d;
    }
    static void unpack(const Block& blk, ParamsQ4_0& p, uint8_t* q)
    {
        p.d = blk.d;
        for (int j = 0; j < 16; ++j) {
            q[j] = blk.qs[j] & 0x0F;
            q[j + 16] = blk.qs[j] >> 4;
        }
    }
};

template <>
struct Codec<ParamsQ5_0> {
    using Block = BlockQ5_0;
    static constexpr int kCodeMin = 0, kCodeMax = 31;
    static void check(const ParamsQ5_0& p, int64_t b) { check_fp16(p.kType, b, "d", p.d); }
    static void pack(const ParamsQ5_0& p, const uint8_t* q, Block& blk)
    {
        blk.d = p.d;
        uint32_t qh = 0;  // bit j: the fifth bit of element j
        for (int j = 0; j < 16; ++j) {
            blk.qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
            qh |= static_cast<uint32_t>(q[j] >> 4) << j;
            qh |= static_cast<uint32_t>(q[j + 16] >> 4) << (j + 16);
        }
        std::memcpy(blk.qh, &qh, 4);  // little-endian host, as GGUF
    }
    static void values(const ParamsQ5_0& p, const uint8_t* q, float* y)
    {
        const float d = fp16_value(p.d);
        for (int j = 0; j < 32; ++j)
            y[j] = static_cast<float>(q[j] - 16) * d;
    }
    static void unpack(const Block& blk, ParamsQ5_0& p, uint8_t* q)
    {
        p.d = blk.d;
        uint32_t qh;
        std::memcpy(&qh, blk.qh, 4);
        for (int j = 0; j < 16; ++j) {
            q[j] = static_cast<uint8_t>((blk.qs[j] & 0x0F) | (((qh >> j) & 1) << 4));
            q[j + 16] = static_cast<uint8_t>((blk.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
        }
    }
};

template <>
struct Codec<ParamsQ8_0> {
    using Block = BlockQ8_0;
    // -128 is storable but never written by llama.cpp's quantizer: the symmetric range keeps
    // |x| <= 127 |d|, which is what a caller choosing d = max|x| / 127 expects.
    static constexpr int kCodeMin = -127, kCodeMax = 127;
    static void check(const ParamsQ8_0& p, int64_t b) { check_fp16(p.kType, b, "d", p.d); }
    static void pack(const ParamsQ8_0& p, const int8_t* q, Block& blk)
    {
        blk.d = p.d;
        std::memcpy(blk.qs, q, 32);
    }
    static void values(const ParamsQ8_0& p, const int8_t* q, float* y)
    {
        const float d = fp16_value(p.d);
        for (int j = 0; j < 32; ++j)
            y[j] = static_cast<float>(q[j]) * d;
    }
    static void unpack(const Block& blk, ParamsQ8_0& p, int8_t* q)
    {
        p.d = blk.d;
        std::memcpy(q, blk.qs, 32);
    }
};

template <>
struct Codec<ParamsQ2_K> {
    using Block = BlockQ2_K;
    static constexpr int kCodeMin = 0, kCodeMax = 3;
    static void check(const ParamsQ2_K& p, int64_t b)
    {
        check_fp16(p.kType, b, "d", p.d);
        check_fp16(p.kType, b, "dmin", p.dmin);
        for (int s = 0; s < 16; ++s) {
            check_range(p.kType, b, "sc", s, p.sc[s], 0, 15);
            check_range(p.kType, b, "m", s, p.m[s], 0, 15);
        }
    }
    static void pack(const ParamsQ2_K& p, const uint8_t* q, Block& blk)
    {
        blk.d = p.d;
        blk.dmin = p.dmin;
        for (int s = 0; s < 16; ++s)
            blk.scales[s] = static_cast<uint8_t>(p.sc[s] | (p.m[s] << 4));
        std::memset(blk.qs, 0, sizeof blk.qs);
        for (int i = 0; i < 256; ++i)
            blk.qs[plane2_byte(i)] |= static_cast<uint8_t>(q[i] << plane2_shift(i));
    }
    static void values(const ParamsQ2_K& p, const uint8_t* q, float* y)
    {
        const float d = fp16_value(p.d), dmin = fp16_value(p.dmin);
        for (int s = 0; s < 16; ++s) {
            const float dl = d * static_cast<float>(p.sc[s]);
            const float ml = dmin * static_cast<float>(p.m[s]);
            for (int l = 0; l < 16; ++l)
                y[s * 16 + l] = dl * static_cast<float>(q[s * 16 + l]) - ml;
        }
    }
    static void unpack(const Block& blk, ParamsQ2_K& p, uint8_t* q)
    {
        p.d = blk.d;
        p.dmin = blk.dmin;
        for (int s = 0; s < 16; ++s) {
            p.sc[s] = blk.scales[s] & 0x0F;
            p.m[s] = blk.scales[s] >> 4;
        }
        for (int i = 0; i < 256; ++i)
            q[i] = (blk.qs[plane2_byte(i)] >> plane2_shift(i)) & 3;
    }
};

template <>
struct Codec<ParamsQ3_K> {
    using Block = BlockQ3_K;
    static constexpr int kCodeMin = -4, kCodeMax = 3;
    static void check(const ParamsQ3_K& p, int64_t b)
    {
        check_fp16(p.kType, b, "d", p.d);
        for (int s = 0; s < 16; ++s)
            check_range(p.kType, b, "sc", s, p.sc[s], -32, 31);
    }
    static void pack(const ParamsQ3_K& p, const int8_t* q, Block& blk)
    {
        blk.d = p.d;
        // Scale s + 32 in 6 bits: its low 4 bits in the low (s < 8) or high (s >= 8) nibble of
        // byte s % 8, its top 2 bits at bit 2 (s / 4) of byte 8 + s % 4.
        std::memset(blk.scales, 0, sizeof blk.scales);
        for (int s = 0; s < 16; ++s) {
            const int u = p.sc[s] + 32;
            blk.scales[s % 8] |= static_cast<uint8_t>((u & 0x0F) << (s < 8 ? 0 : 4));
            blk.scales[8 + s % 4] |= static_cast<uint8_t>((u >> 4) << (2 * (s / 4)));
        }
        // q + 4 in 0..7: the low 2 bits in the planes of Q2_K; the third bit (set for q >= 0,
        // since the reader subtracts 4 where it is clear) at bit i / 32 of hmask[i % 32].
        std::memset(blk.qs, 0, sizeof blk.qs);
        std::memset(blk.hmask, 0, sizeof blk.hmask);
        for (int i = 0; i < 256; ++i) {
            const int u = q[i] + 4;
            blk.qs[plane2_byte(i)] |= static_cast<uint8_t>((u & 3) << plane2_shift(i));
            blk.hmask[i % 32] |= static_cast<uint8_t>((u >> 2) << (i / 32));
        }
    }
    static void values(const ParamsQ3_K& p, const int8_t* q, float* y)
    {
        const float d = fp16_value(p.d);
        for (int s = 0; s < 16; ++s) {
            const float dl = d * static_cast<float>(p.sc[s]);
            for (int l = 0; l < 16; ++l)
                y[s * 16 + l] = dl * static_cast<float>(q[s * 16 + l]);
        }
    }
    static void unpack(const Block& blk, ParamsQ3_K& p, int8_t* q)
    {
        p.d = blk.d;
        for (int s = 0; s < 16; ++s) {
            const int low = (blk.scales[s % 8] >> (s < 8 ? 0 : 4)) & 0x0F;
            const int high = (blk.scales[8 + s % 4] >> (2 * (s / 4))) & 3;
            p.sc[s] = static_cast<int8_t>((low | (high << 4)) - 32);
        }
        for (int i = 0; i < 256; ++i) {
            const int low = (blk.qs[plane2_byte(i)] >> plane2_shift(i)) & 3;
            const int high = (blk.hmask[i % 32] >> (i / 32)) & 1;
            q[i] = static_cast<int8_t>((low | (high << 2)) - 4);
        }
    }
};

// Q4_K and Q5_K share everything but the fifth bit.
template <class P, class B, bool kFive>
struct CodecK4 {
    using Block = B;
    static constexpr int kCodeMin = 0, kCodeMax = kFive ? 31 : 15;
    static void check(const P& p, int64_t b)
    {
        check_fp16(p.kType, b, "d", p.d);
        check_fp16(p.kType, b, "dmin", p.dmin);
        for (int s = 0; s < 8; ++s) {
            check_range(p.kType, b, "sc", s, p.sc[s], 0, 63);
            check_range(p.kType, b, "m", s, p.m[s], 0, 63);
        }
    }
    static void pack(const P& p, const uint8_t* q, Block& blk)
    {
        blk.d = p.d;
        blk.dmin = p.dmin;
        // 8 (sc, m) pairs of 6 bits in 12 bytes (the inverse of llama.cpp's get_scale_min_k4):
        // pairs 0..3 whole in bytes 0..3 (sc) and 4..7 (m); pairs 4..7 their low 4 bits as the
        // nibbles of bytes 8..11, their top 2 bits in the free top bits of bytes 0..3 / 4..7.
        for (int s = 0; s < 4; ++s) {
            blk.scales[s] = static_cast<uint8_t>(p.sc[s] | ((p.sc[s + 4] >> 4) << 6));
            blk.scales[s + 4] = static_cast<uint8_t>(p.m[s] | ((p.m[s + 4] >> 4) << 6));
            blk.scales[s + 8] =
                static_cast<uint8_t>((p.sc[s + 4] & 0x0F) | ((p.m[s + 4] & 0x0F) << 4));
        }
        std::memset(blk.qs, 0, sizeof blk.qs);
        for (int i = 0; i < 256; ++i)
            blk.qs[k4_byte(i)] |= static_cast<uint8_t>((q[i] & 0x0F) << k4_shift(i));
        if constexpr (kFive) {
            // The fifth bit of element i at bit i / 32 of qh[i % 32].
            std::memset(blk.qh, 0, sizeof blk.qh);
            for (int i = 0; i < 256; ++i)
                blk.qh[i % 32] |= static_cast<uint8_t>((q[i] >> 4) << (i / 32));
        }
    }
    static void values(const P& p, const uint8_t* q, float* y)
    {
        const float d = fp16_value(p.d), dmin = fp16_value(p.dmin);
        for (int s = 0; s < 8; ++s) {
            const float dl = d * static_cast<float>(p.sc[s]);
            const float ml = dmin * static_cast<float>(p.m[s]);
            for (int l = 0; l < 32; ++l)
                y[s * 32 + l] = dl * static_cast<float>(q[s * 32 + l]) - ml;
        }
    }
    static void unpack(const Block& blk, P& p, uint8_t* q)
    {
        p.d = blk.d;
        p.dmin = blk.dmin;
        for (int s = 0; s < 4; ++s) {
            p.sc[s] = blk.scales[s] & 63;
            p.m[s] = blk.scales[s + 4] & 63;
            p.sc[s + 4] =
                static_cast<uint8_t>((blk.scales[s + 8] & 0x0F) | ((blk.scales[s] >> 6) << 4));
            p.m[s + 4] =
                static_cast<uint8_t>((blk.scales[s + 8] >> 4) | ((blk.scales[s + 4] >> 6) << 4));
        }
        for (int i = 0; i < 256; ++i) {
            int code = (blk.qs[k4_byte(i)] >> k4_shift(i)) & 0x0F;
            if constexpr (kFive)
                code |= ((blk.qh[i % 32] >> (i / 32)) & 1) << 4;
            q[i] = static_cast<uint8_t>(code);
        }
    }
};
template <>
struct Codec<ParamsQ4_K> : CodecK4<ParamsQ4_K, BlockQ4_K, false> {
};
template <>
struct Codec<ParamsQ5_K> : CodecK4<ParamsQ5_K, BlockQ5_K, true> {
};

template <>
struct Codec<ParamsQ6_K> {
    using Block = BlockQ6_K;
    static constexpr int kCodeMin = -32, kCodeMax = 31;
    static void check(const ParamsQ6_K& p, int64_t b) { check_fp16(p.kType, b, "d", p.d); }
    // q + 32 in 0..63. Each half of 128 elements owns 64 bytes of ql and 32 of qh: element r of the
    // half has its low nibble in ql[r % 64] (low nibble for r < 64, high for r >= 64) and its top 2
    // bits at bit 2 (r / 32) of qh[r % 32].
    static void pack(const ParamsQ6_K& p, const int8_t* q, Block& blk)
    {
        blk.d = p.d;
        std::memcpy(blk.scales, p.sc, 16);
        std::memset(blk.ql, 0, sizeof blk.ql);
        std::memset(blk.qh, 0, sizeof blk.qh);
        for (int i = 0; i < 256; ++i) {
            const int h = i / 128, r = i % 128, u = q[i] + 32;
            blk.ql[h * 64 + r % 64] |= static_cast<uint8_t>((u & 0x0F) << (r < 64 ? 0 : 4));
            blk.qh[h * 32 + r % 32] |= static_cast<uint8_t>((u >> 4) << (2 * (r / 32)));
        }
    }
    static void values(const ParamsQ6_K& p, const int8_t* q, float* y)
    {
        const float d = fp16_value(p.d);
        for (int s = 0; s < 16; ++s) {
            const float dl = d * static_cast<float>(p.sc[s]);
            for (int l = 0; l < 16; ++l)
                y[s * 16 + l] = dl * static_cast<float>(q[s * 16 + l]);
        }
    }
    static void unpack(const Block& blk, ParamsQ6_K& p, int8_t* q)
    {
        p.d = blk.d;
        std::memcpy(p.sc, blk.scales, 16);
        for (int i = 0; i < 256; ++i) {
            const int h = i / 128, r = i % 128;
            const int low = (blk.ql[h * 64 + r % 64] >> (r < 64 ? 0 : 4)) & 0x0F;
            const int high = (blk.qh[h * 32 + r % 32] >> (2 * (r / 32))) & 3;
            q[i] = static_cast<int8_t>((low | (high << 4)) - 32);
        }
    }
};

template <class P>
int64_t block_count(int64_t n)
{
    if (n < 0 || n % P::kElements != 0)
        throw InvalidArgument(std::string("GGUF ") + name_of(P::kType) + ": a row of " +
                              std::to_string(n) + " elements is not a whole number of blocks of " +
                              std::to_string(P::kElements));
    return n / P::kElements;
}

// Every parameter and code of the row, before anything is written.
template <class P>
int64_t checked_blocks(const P* params, const typename P::Code* codes, int64_t n)
{
    using C = Codec<P>;
    const int64_t nb = block_count<P>(n);
    for (int64_t b = 0; b < nb; ++b) {
        C::check(params[b], b);
        const typename P::Code* q = codes + b * P::kElements;
        for (int j = 0; j < P::kElements; ++j)
            check_range(P::kType, b, "code", j, q[j], C::kCodeMin, C::kCodeMax);
    }
    return nb;
}

}  // namespace

template <class P>
void pack_row(const P* params, const typename P::Code* codes, int64_t n, uint8_t* dst)
{
    using Block = typename Codec<P>::Block;
    const int64_t nb = checked_blocks(params, codes, n);
    for (int64_t b = 0; b < nb; ++b) {
        Block blk;
        Codec<P>::pack(params[b], codes + b * P::kElements, blk);
        std::memcpy(dst + b * static_cast<int64_t>(sizeof blk), &blk, sizeof blk);
    }
}

template <class P>
std::vector<uint8_t> pack_row(const P* params, const typename P::Code* codes, int64_t n)
{
    const int64_t nb = block_count<P>(n);
    std::vector<uint8_t> out(static_cast<size_t>(nb) * sizeof(typename Codec<P>::Block));
    pack_row(params, codes, n, out.data());
    return out;
}

template <class P>
void row_values(const P* params, const typename P::Code* codes, int64_t n, float* dst)
{
    const int64_t nb = checked_blocks(params, codes, n);
    for (int64_t b = 0; b < nb; ++b)
        Codec<P>::values(params[b], codes + b * P::kElements, dst + b * P::kElements);
}

template <class P>
void unpack_row(const uint8_t* src, int64_t n, P* params, typename P::Code* codes)
{
    using Block = typename Codec<P>::Block;
    const int64_t nb = block_count<P>(n);
    for (int64_t b = 0; b < nb; ++b) {
        Block blk;
        std::memcpy(&blk, src + b * static_cast<int64_t>(sizeof blk), sizeof blk);
        Codec<P>::unpack(blk, params[b], codes + b * P::kElements);
    }
}

#define ZP_KQUANT_PACK_INSTANTIATE(P)                                             \
    template void pack_row<P>(const P*, const P::Code*, int64_t, uint8_t*);       \
    template std::vector<uint8_t> pack_row<P>(const P*, const P::Code*, int64_t); \
    template void row_values<P>(const P*, const P::Code*, int64_t, float*);       \
    template void unpack_row<P>(const uint8_t*, int64_t, P*, P::Code*);

ZP_KQUANT_PACK_INSTANTIATE(ParamsQ4_0)
ZP_KQUANT_PACK_INSTANTIATE(ParamsQ5_0)
ZP_KQUANT_PACK_INSTANTIATE(ParamsQ8_0)
ZP_KQUANT_PACK_INSTANTIATE(ParamsQ2_K)
ZP_KQUANT_PACK_INSTANTIATE(ParamsQ3_K)
ZP_KQUANT_PACK_INSTANTIATE(ParamsQ4_K)
ZP_KQUANT_PACK_INSTANTIATE(ParamsQ5_K)
ZP_KQUANT_PACK_INSTANTIATE(ParamsQ6_K)

#undef ZP_KQUANT_PACK_INSTANTIATE

}  // namespace zp::gguf
