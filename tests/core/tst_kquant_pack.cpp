// The block writers of core/formats/kquant_pack.h (Q4_0, Q5_0, Q8_0, Q2_K..Q6_K from chosen
// parameters):
//   1. packed bytes, read by the existing llama.cpp-exact dequantize_row, give bit for bit the
//      values of the llama.cpp formula written here as plain loops over the elements (and so does
//      row_values), for random and extreme parameters;
//   2. unpack_row inverts pack_row, on parameters and on (sanitized) random bytes;
//   3. out-of-range codes, scales, minimums, non-finite super-scales and partial blocks are refused
//      with a message naming the type, the block and the field;
//   4. the independent reader: llama.cpp's gguf-py (PyPI `gguf`) dequantizes a GGUF file holding
//      one tensor of each type to exactly the values of (1).
// The precompiled header may already hold Qt, whose `slots` macro breaks ATen's headers.
#undef slots
#include <ATen/ATen.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/formats/gguf.h"
#include "core/formats/gguf_blocks.h"
#include "core/formats/kquant_pack.h"
#include "tests/common/expect_error.h"
#include "tests/common/test_util.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;
using namespace zp::gguf;

namespace {

// ---- test-side knowledge of each type, written from llama.cpp's formulas ----

template <class P>
struct Spec;
template <>
struct Spec<ParamsQ4_0> {
    static constexpr int code_lo = 0, code_hi = 15, n_sub = 0, sc_lo = 0, sc_hi = 0, m_hi = 0;
    static constexpr bool has_min = false;
    static constexpr size_t d_off = offsetof(BlockQ4_0, d), dmin_off = 0;
};
template <>
struct Spec<ParamsQ5_0> {
    static constexpr int code_lo = 0, code_hi = 31, n_sub = 0, sc_lo = 0, sc_hi = 0, m_hi = 0;
    static constexpr bool has_min = false;
    static constexpr size_t d_off = offsetof(BlockQ5_0, d), dmin_off = 0;
};
template <>
struct Spec<ParamsQ8_0> {
    static constexpr int code_lo = -127, code_hi = 127, n_sub = 0, sc_lo = 0, sc_hi = 0, m_hi = 0;
    static constexpr bool has_min = false;
    static constexpr size_t d_off = offsetof(BlockQ8_0, d), dmin_off = 0;
};
template <>
struct Spec<ParamsQ2_K> {
    static constexpr int code_lo = 0, code_hi = 3, n_sub = 16, sc_lo = 0, sc_hi = 15, m_hi = 15;
    static constexpr bool has_min = true;
    static constexpr size_t d_off = offsetof(BlockQ2_K, d), dmin_off = offsetof(BlockQ2_K, dmin);
};
template <>
struct Spec<ParamsQ3_K> {
    static constexpr int code_lo = -4, code_hi = 3, n_sub = 16, sc_lo = -32, sc_hi = 31, m_hi = 0;
    static constexpr bool has_min = false;
    static constexpr size_t d_off = offsetof(BlockQ3_K, d), dmin_off = 0;
};
template <>
struct Spec<ParamsQ4_K> {
    static constexpr int code_lo = 0, code_hi = 15, n_sub = 8, sc_lo = 0, sc_hi = 63, m_hi = 63;
    static constexpr bool has_min = true;
    static constexpr size_t d_off = offsetof(BlockQ4_K, d), dmin_off = offsetof(BlockQ4_K, dmin);
};
template <>
struct Spec<ParamsQ5_K> {
    static constexpr int code_lo = 0, code_hi = 31, n_sub = 8, sc_lo = 0, sc_hi = 63, m_hi = 63;
    static constexpr bool has_min = true;
    static constexpr size_t d_off = offsetof(BlockQ5_K, d), dmin_off = offsetof(BlockQ5_K, dmin);
};
template <>
struct Spec<ParamsQ6_K> {
    static constexpr int code_lo = -32, code_hi = 31, n_sub = 16, sc_lo = -128, sc_hi = 127,
                         m_hi = 0;
    static constexpr bool has_min = false;
    static constexpr size_t d_off = offsetof(BlockQ6_K, d), dmin_off = 0;
};

// IEEE half to float by hand (independent of c10::Half): every fp16 value is a float exactly.
float half(uint16_t h)
{
    const int sign = h >> 15, e = (h >> 10) & 31, f = h & 1023;
    if (e == 31)
        return std::nanf("");  // never made here; would fail every comparison
    const double mag = e == 0 ? std::ldexp(f, -24) : std::ldexp(1024 + f, e - 25);
    return static_cast<float>(sign ? -mag : mag);
}

// The llama.cpp formulas, one element at a time: sub-block scale d * sc in float32, times the code
// (an integer made float32), minus the sub-block minimum dmin * m. (The products are exact in
// float32; the subtraction rounds, and its form fixes the sign of a zero.)
void expect_values(const ParamsQ4_0* p, const uint8_t* q, int64_t n, float* y)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = static_cast<float>(int(q[i]) - 8) * half(p[i / 32].d);
}
void expect_values(const ParamsQ5_0* p, const uint8_t* q, int64_t n, float* y)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = static_cast<float>(int(q[i]) - 16) * half(p[i / 32].d);
}
void expect_values(const ParamsQ8_0* p, const int8_t* q, int64_t n, float* y)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = static_cast<float>(q[i]) * half(p[i / 32].d);
}
void expect_values(const ParamsQ2_K* p, const uint8_t* q, int64_t n, float* y)
{
    for (int64_t i = 0; i < n; ++i) {
        const ParamsQ2_K& b = p[i / 256];
        const int s = int(i % 256) / 16;
        const float dl = half(b.d) * static_cast<float>(b.sc[s]);
        const float ml = half(b.dmin) * static_cast<float>(b.m[s]);
        y[i] = dl * static_cast<float>(q[i]) - ml;
    }
}
void expect_values(const ParamsQ3_K* p, const int8_t* q, int64_t n, float* y)
{
    for (int64_t i = 0; i < n; ++i) {
        const ParamsQ3_K& b = p[i / 256];
        const float dl = half(b.d) * static_cast<float>(b.sc[int(i % 256) / 16]);
        y[i] = dl * static_cast<float>(q[i]);
    }
}
template <class P>
void expect_values_k4(const P* p, const uint8_t* q, int64_t n, float* y)
{
    for (int64_t i = 0; i < n; ++i) {
        const P& b = p[i / 256];
        const int s = int(i % 256) / 32;
        const float dl = half(b.d) * static_cast<float>(b.sc[s]);
        const float ml = half(b.dmin) * static_cast<float>(b.m[s]);
        y[i] = dl * static_cast<float>(q[i]) - ml;
    }
}
void expect_values(const ParamsQ4_K* p, const uint8_t* q, int64_t n, float* y)
{
    expect_values_k4(p, q, n, y);
}
void expect_values(const ParamsQ5_K* p, const uint8_t* q, int64_t n, float* y)
{
    expect_values_k4(p, q, n, y);
}
void expect_values(const ParamsQ6_K* p, const int8_t* q, int64_t n, float* y)
{
    for (int64_t i = 0; i < n; ++i) {
        const ParamsQ6_K& b = p[i / 256];
        const float dl = half(b.d) * static_cast<float>(b.sc[int(i % 256) / 16]);
        y[i] = dl * static_cast<float>(q[i]);
    }
}

// ---- parameter sets ----

template <class P>
struct Case {
    std::vector<P> params;
    std::vector<typename P::Code> codes;
    int64_t n() const { return static_cast<int64_t>(codes.size()); }
};

// A random finite fp16: any exponent of the normal range (1e-4 .. 65504), random sign.
uint16_t random_fp16(std::mt19937& rng, bool negative_only = false)
{
    std::uniform_int_distribution<int> exp(1, 30), mant(0, 1023), sign(0, 1);
    const int s = negative_only ? 1 : sign(rng);
    return static_cast<uint16_t>((s << 15) | (exp(rng) << 10) | mant(rng));
}

// mode: "random"; "max" (codes, scales, minimums at their maximum, d = dmin = 65504); "min"
// (codes and scales at their minimum, minimums at their maximum so that the values are not all
// zero, d = dmin = -65504); "zero" (zero scale: sc = 0 on even sub-blocks, m = 0 on odd ones,
// d = dmin = +0 / -0 on blocks 0 / 1); "negd" (d, dmin negative); "subnormal" (d, dmin subnormal).
template <class P>
Case<P> make_case(const std::string& mode, int64_t blocks, uint32_t seed)
{
    using S = Spec<P>;
    std::mt19937 rng(seed);
    auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    auto super_scale = [&](int64_t b) -> uint16_t {
        if (mode == "max")
            return 0x7BFF;
        if (mode == "min")
            return 0xFBFF;
        if (mode == "zero" && b < 2)
            return b == 0 ? 0x0000 : 0x8000;
        if (mode == "subnormal")
            return static_cast<uint16_t>((uni(0, 1) << 15) | uni(1, 1023));
        return random_fp16(rng, mode == "negd");
    };
    Case<P> c;
    c.params.resize(static_cast<size_t>(blocks));
    c.codes.resize(static_cast<size_t>(blocks * P::kElements));
    for (int64_t b = 0; b < blocks; ++b) {
        P& p = c.params[static_cast<size_t>(b)];
        p.d = super_scale(b);
        if constexpr (S::has_min)
            p.dmin = super_scale(b);
        if constexpr (S::n_sub > 0)
            for (int s = 0; s < S::n_sub; ++s) {
                int sc = uni(S::sc_lo, S::sc_hi);
                if (mode == "max")
                    sc = S::sc_hi;
                else if (mode == "min")
                    sc = S::sc_lo;
                else if (mode == "zero" && s % 2 == 0)
                    sc = 0;
                p.sc[s] = static_cast<std::remove_reference_t<decltype(p.sc[0])>>(sc);
                if constexpr (S::has_min) {
                    int m = uni(0, S::m_hi);
                    if (mode == "max" || mode == "min")
                        m = S::m_hi;
                    else if (mode == "zero" && s % 2 == 1)
                        m = 0;
                    p.m[s] = static_cast<uint8_t>(m);
                }
            }
        for (int64_t j = 0; j < P::kElements; ++j) {
            int q = uni(S::code_lo, S::code_hi);
            if (mode == "max")
                q = S::code_hi;
            else if (mode == "min")
                q = S::code_lo;
            c.codes[static_cast<size_t>(b * P::kElements + j)] = static_cast<typename P::Code>(q);
        }
    }
    return c;
}

template <class P>
std::vector<float> expected(const Case<P>& c)
{
    std::vector<float> y(static_cast<size_t>(c.n()));
    expect_values(c.params.data(), c.codes.data(), c.n(), y.data());
    return y;
}

// "" when bit-equal, else the first difference.
QString bit_diff(const std::vector<float>& got, const std::vector<float>& want)
{
    if (got.size() != want.size())
        return QStringLiteral("%1 values, expected %2").arg(got.size()).arg(want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        uint32_t g, w;
        std::memcpy(&g, &got[i], 4);
        std::memcpy(&w, &want[i], 4);
        if (g != w)  // the bits tell +0 from -0
            return QStringLiteral("element %1: %2 (0x%3) vs expected %4 (0x%5)")
                .arg(i)
                .arg(double(got[i]), 0, 'g', 9)
                .arg(g, 8, 16, QChar('0'))
                .arg(double(want[i]), 0, 'g', 9)
                .arg(w, 8, 16, QChar('0'));
    }
    return {};
}

// Calls f with a value of the parameter type named `type`.
template <class F>
void with_type(const QString& type, F&& f)
{
    if (type == "Q4_0")
        f(ParamsQ4_0{});
    else if (type == "Q5_0")
        f(ParamsQ5_0{});
    else if (type == "Q8_0")
        f(ParamsQ8_0{});
    else if (type == "Q2_K")
        f(ParamsQ2_K{});
    else if (type == "Q3_K")
        f(ParamsQ3_K{});
    else if (type == "Q4_K")
        f(ParamsQ4_K{});
    else if (type == "Q5_K")
        f(ParamsQ5_K{});
    else if (type == "Q6_K")
        f(ParamsQ6_K{});
    else
        QFAIL(qPrintable("test bug: type " + type));
}

const QStringList kTypes = {"Q4_0", "Q5_0", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};

template <class P>
int64_t blocks_for()
{
    return P::kElements == 32 ? 24 : 6;
}

void write_f32(const std::string& path, const std::vector<float>& v)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
}

}  // namespace

class TestKquantPack : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::string file(const std::string& name) const
    {
        return (tmp_.path() + "/").toStdString() + name;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    // ---- 1. pack -> dequantize_row == the formula ----

    void pack_matches_formula_data()
    {
        QTest::addColumn<QString>("type");
        QTest::addColumn<QString>("mode");
        QTest::addColumn<int>("seed");
        for (const QString& t : kTypes) {
            int seed = 1;
            for (const char* mode : {"random", "max", "min", "zero", "negd", "subnormal"})
                QTest::newRow(qPrintable(t + "/" + mode)) << t << QString(mode) << seed++;
            QTest::newRow(qPrintable(t + "/random seed 77")) << t << QString("random") << 77;
        }
    }
    void pack_matches_formula()
    {
        QFETCH(QString, type);
        QFETCH(QString, mode);
        QFETCH(int, seed);
        with_type(type, [&](auto tag) {
            using P = decltype(tag);
            const Case<P> c = make_case<P>(mode.toStdString(), blocks_for<P>(), uint32_t(seed));
            const std::vector<float> want = expected(c);
            const std::vector<uint8_t> bytes = pack_row(c.params.data(), c.codes.data(), c.n());
            QCOMPARE(uint64_t(bytes.size()), row_bytes(P::kType, uint64_t(c.n())));
            // The pointer form writes the same bytes.
            std::vector<uint8_t> bytes2(bytes.size(), 0xAA);
            pack_row(c.params.data(), c.codes.data(), c.n(), bytes2.data());
            QVERIFY(bytes2 == bytes);

            std::vector<float> got(want.size());
            dequantize_row(bytes.data(), P::kType, c.n(), got.data());
            const QString d1 = bit_diff(got, want);
            QVERIFY2(d1.isEmpty(), qPrintable("dequantize_row: " + d1));
            std::vector<float> ref(want.size());
            row_values(c.params.data(), c.codes.data(), c.n(), ref.data());
            const QString d2 = bit_diff(ref, want);
            QVERIFY2(d2.isEmpty(), qPrintable("row_values: " + d2));
            // Not a vacuous agreement: many values are not zero.
            int nonzero = 0;
            for (float v : want)
                nonzero += v != 0.0f;
            QVERIFY2(nonzero > int(want.size()) / 8, qPrintable(QString::number(nonzero)));
        });
    }

    // ---- 2. unpack inverts pack ----

    void round_trip_data()
    {
        QTest::addColumn<QString>("type");
        for (const QString& t : kTypes)
            QTest::newRow(qPrintable(t)) << t;
    }
    void round_trip()
    {
        QFETCH(QString, type);
        with_type(type, [&](auto tag) {
            using P = decltype(tag);
            using Code = typename P::Code;
            static_assert(std::has_unique_object_representations_v<P>, "memcmp-able parameters");
            const int64_t nb = blocks_for<P>(), n = nb * P::kElements;
            // Parameters -> bytes -> the same parameters.
            for (const char* mode : {"random", "max", "min", "zero", "negd", "subnormal"}) {
                const Case<P> c = make_case<P>(mode, nb, 5);
                const std::vector<uint8_t> bytes = pack_row(c.params.data(), c.codes.data(), n);
                std::vector<P> p(static_cast<size_t>(nb));
                std::vector<Code> q(static_cast<size_t>(n));
                unpack_row(bytes.data(), n, p.data(), q.data());
                QVERIFY2(std::memcmp(p.data(), c.params.data(), p.size() * sizeof(P)) == 0, mode);
                QVERIFY2(q == c.codes, mode);
            }
            // Any bytes -> parameters -> the same bytes: every bit of the block is a parameter or
            // code bit, placed back where it came from. Sanitized: finite d / dmin (clear the top
            // exponent bit), no Q8_0 code -128.
            std::mt19937 rng(99);
            const uint64_t bb = row_bytes(P::kType, uint64_t(P::kElements));
            std::vector<uint8_t> raw(static_cast<size_t>(nb) * bb);
            for (uint8_t& x : raw)
                x = static_cast<uint8_t>(rng());
            for (int64_t b = 0; b < nb; ++b) {
                raw[b * bb + Spec<P>::d_off + 1] &= 0xBF;
                if constexpr (Spec<P>::has_min)
                    raw[b * bb + Spec<P>::dmin_off + 1] &= 0xBF;
            }
            if constexpr (std::is_same_v<P, ParamsQ8_0>)
                for (int64_t b = 0; b < nb; ++b)
                    for (uint64_t j = 2; j < bb; ++j)
                        if (raw[b * bb + j] == 0x80)
                            raw[b * bb + j] = 0x81;
            std::vector<P> p(static_cast<size_t>(nb));
            std::vector<Code> q(static_cast<size_t>(n));
            unpack_row(raw.data(), n, p.data(), q.data());
            QVERIFY(pack_row(p.data(), q.data(), n) == raw);
            // And the unpacked parameters mean what the reader reads.
            std::vector<float> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
            dequantize_row(raw.data(), P::kType, n, got.data());
            expect_values(p.data(), q.data(), n, want.data());
            const QString d = bit_diff(got, want);
            QVERIFY2(d.isEmpty(), qPrintable(d));
        });
    }

    // ---- 3. refusals ----

    void refuses_out_of_range_data()
    {
        QTest::addColumn<QString>("type");
        QTest::addColumn<QString>("field");  // code, sc, m, d, dmin, n
        QTest::addColumn<int>("value");      // d / dmin: fp16 bits
        QTest::addColumn<QString>("message");
        auto row = [](const char* name, const char* t, const char* f, int v, const char* msg) {
            QTest::newRow(name) << QString(t) << QString(f) << v << QString(msg);
        };
        // Block 2 is made bad; index 5 of sc / m, element 17 (32-blocks) or 37 (K) of the codes.
        row("Q4_0 code 16", "Q4_0", "code", 16, "GGUF Q4_0 block 2: code[17] = 16 outside 0..15");
        row("Q4_0 d inf", "Q4_0", "d", 0x7C00, "GGUF Q4_0 block 2: d = fp16 0x7c00 is not finite");
        row("Q5_0 code 32", "Q5_0", "code", 32, "GGUF Q5_0 block 2: code[17] = 32 outside 0..31");
        row("Q8_0 code -128", "Q8_0", "code", -128,
            "GGUF Q8_0 block 2: code[17] = -128 outside -127..127");
        row("Q8_0 d nan", "Q8_0", "d", 0xFE00, "GGUF Q8_0 block 2: d = fp16 0xfe00 is not finite");
        row("Q2_K code 4", "Q2_K", "code", 4, "GGUF Q2_K block 2: code[37] = 4 outside 0..3");
        row("Q2_K sc 16", "Q2_K", "sc", 16, "GGUF Q2_K block 2: sc[5] = 16 outside 0..15");
        row("Q2_K m 16", "Q2_K", "m", 16, "GGUF Q2_K block 2: m[5] = 16 outside 0..15");
        row("Q2_K dmin -inf", "Q2_K", "dmin", 0xFC00,
            "GGUF Q2_K block 2: dmin = fp16 0xfc00 is not finite");
        row("Q3_K code 4", "Q3_K", "code", 4, "GGUF Q3_K block 2: code[37] = 4 outside -4..3");
        row("Q3_K code -5", "Q3_K", "code", -5, "GGUF Q3_K block 2: code[37] = -5 outside -4..3");
        row("Q3_K sc 32", "Q3_K", "sc", 32, "GGUF Q3_K block 2: sc[5] = 32 outside -32..31");
        row("Q3_K sc -33", "Q3_K", "sc", -33, "GGUF Q3_K block 2: sc[5] = -33 outside -32..31");
        row("Q4_K code 16", "Q4_K", "code", 16, "GGUF Q4_K block 2: code[37] = 16 outside 0..15");
        row("Q4_K sc 64", "Q4_K", "sc", 64, "GGUF Q4_K block 2: sc[5] = 64 outside 0..63");
        row("Q4_K m 64", "Q4_K", "m", 64, "GGUF Q4_K block 2: m[5] = 64 outside 0..63");
        row("Q4_K d nan", "Q4_K", "d", 0x7E01, "GGUF Q4_K block 2: d = fp16 0x7e01 is not finite");
        row("Q5_K code 32", "Q5_K", "code", 32, "GGUF Q5_K block 2: code[37] = 32 outside 0..31");
        row("Q5_K m 255", "Q5_K", "m", 255, "GGUF Q5_K block 2: m[5] = 255 outside 0..63");
        row("Q5_K sc 64", "Q5_K", "sc", 64, "GGUF Q5_K block 2: sc[5] = 64 outside 0..63");
        row("Q6_K code 32", "Q6_K", "code", 32, "GGUF Q6_K block 2: code[37] = 32 outside -32..31");
        row("Q6_K code -33", "Q6_K", "code", -33,
            "GGUF Q6_K block 2: code[37] = -33 outside -32..31");
        row("Q6_K d inf", "Q6_K", "d", 0x7C00, "GGUF Q6_K block 2: d = fp16 0x7c00 is not finite");
        row("Q4_0 partial block", "Q4_0", "n", 0,
            "GGUF Q4_0: a row of 80 elements is not a whole number of blocks of 32");
        row("Q6_K partial block", "Q6_K", "n", 0,
            "GGUF Q6_K: a row of 640 elements is not a whole number of blocks of 256");
    }
    void refuses_out_of_range()
    {
        QFETCH(QString, type);
        QFETCH(QString, field);
        QFETCH(int, value);
        QFETCH(QString, message);
        with_type(type, [&](auto tag) {
            using P = decltype(tag);
            using S = Spec<P>;
            Case<P> c = make_case<P>("random", 3, 8);
            int64_t n = c.n();
            const int64_t j = P::kElements == 32 ? 17 : 37;
            P& p = c.params[2];
            if (field == "code")
                c.codes[static_cast<size_t>(2 * P::kElements + j)] =
                    static_cast<typename P::Code>(value);
            else if (field == "d")
                p.d = static_cast<uint16_t>(value);
            else if (field == "n")
                n -= P::kElements / 2;
            if constexpr (S::n_sub > 0)
                if (field == "sc")
                    p.sc[5] = static_cast<std::remove_reference_t<decltype(p.sc[0])>>(value);
            if constexpr (S::has_min) {
                if (field == "m")
                    p.m[5] = static_cast<uint8_t>(value);
                if (field == "dmin")
                    p.dmin = static_cast<uint16_t>(value);
            }
            std::vector<uint8_t> dst(static_cast<size_t>(row_bytes(P::kType, P::kElements)) * 3);
            std::vector<float> y(static_cast<size_t>(c.n()));
            test::expect_error<InvalidArgument>(
                [&] { pack_row(c.params.data(), c.codes.data(), n, dst.data()); }, {}, {message});
            test::expect_error<InvalidArgument>(
                [&] { pack_row(c.params.data(), c.codes.data(), n); }, {}, {message});
            test::expect_error<InvalidArgument>(
                [&] { row_values(c.params.data(), c.codes.data(), n, y.data()); }, {}, {message});
            if (field == "n") {
                std::vector<P> p2(3);
                std::vector<typename P::Code> q2(static_cast<size_t>(c.n()));
                test::expect_error<InvalidArgument>(
                    [&] { unpack_row(dst.data(), n, p2.data(), q2.data()); }, {}, {message});
            }
        });
    }

    // ---- 4. the independent reader (gguf-py) ----

    void python_reads_every_type()
    {
        // One tensor per type, [6 rows, 512 cols]: row r holds the parameters of one mode, so the
        // extremes reach the reader too.
        const char* modes[] = {"random", "max", "min", "zero", "negd", "subnormal"};
        const int64_t rows = 6, cols = 512;
        Writer w;
        w.set("general.architecture", Value::of_string("llama"));
        nlohmann::json m;
        m["file"] = file("kquants.gguf");
        m["tensor_count"] = kTypes.size();
        for (const QString& type : kTypes)
            with_type(type, [&](auto tag) {
                using P = decltype(tag);
                Case<P> all;
                for (int64_t r = 0; r < rows; ++r) {
                    const Case<P> c = make_case<P>(modes[r], cols / P::kElements, uint32_t(40 + r));
                    all.params.insert(all.params.end(), c.params.begin(), c.params.end());
                    all.codes.insert(all.codes.end(), c.codes.begin(), c.codes.end());
                }
                const std::string name = "t_" + type.toStdString();
                w.add_tensor(name, {uint64_t(cols), uint64_t(rows)}, P::kType,
                             pack_row(all.params.data(), all.codes.data(), all.n()));
                write_f32(file(name + ".f32"), expected(all));
                m["tensors"].push_back({{"name", name},
                                        {"type", type.toStdString()},
                                        {"shape", {cols, rows}},
                                        {"expected", file(name + ".f32")}});
            });
        w.write(file("kquants.gguf"));
        std::ofstream(file("kquants.json")) << m.dump(1);
        ZP_PYTHON_READER(test::run_python_reader(
            QFINDTESTDATA("python/check_gguf.py"), {QString::fromStdString(file("kquants.json"))},
            "python3 -m pip install gguf (packaging/setup.sh test does)"));
    }
};

QTEST_GUILESS_MAIN(TestKquantPack)
#include "tst_kquant_pack.moc"
