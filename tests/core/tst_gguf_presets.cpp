// llama-quantize's per-tensor type choice (core/quant/gguf_presets.h): (a) rules read off
// llama.cpp's src/llama-quant.cpp (llama-cpp-python 0.3.36), checked on synthetic tensor lists,
// each expectation with the rule it comes from (R0-R7, K1-K3 and the fallback table as the header
// numbers them); (b) llama-quantize's real choices: where ZP_PRESET_REFERENCE names a JSON that
// tests/python/check_gguf_presets.py wrote (llama-quantize run on real models for every preset),
// every tensor's type and the tensor-data byte count of every file must equal the prediction.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/formats/gguf.h"
#include "core/quant/gguf_presets.h"

#include <QtTest/QtTest>

using namespace zp;
using gguf::PresetModel;
using gguf::PresetTensor;
using gguf::TensorType;
using TT = gguf::TensorType;

namespace {

// A llama-style tensor list in the order convert_hf_to_gguf writes it. d_kv = n_head_kv x head_dim.
std::vector<PresetTensor> llama_like(int n_layer, uint64_t d, uint64_t ff, uint64_t d_kv,
                                     uint64_t vocab, bool untied)
{
    std::vector<PresetTensor> t;
    t.push_back({"token_embd.weight", {d, vocab}});
    t.push_back({"output_norm.weight", {d}});
    if (untied)
        t.push_back({"output.weight", {d, vocab}});
    for (int i = 0; i < n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        t.push_back({b + "attn_norm.weight", {d}});
        t.push_back({b + "attn_q.weight", {d, d}});
        t.push_back({b + "attn_k.weight", {d, d_kv}});
        t.push_back({b + "attn_v.weight", {d, d_kv}});
        t.push_back({b + "attn_output.weight", {d, d}});
        t.push_back({b + "ffn_norm.weight", {d}});
        t.push_back({b + "ffn_gate.weight", {d, ff}});
        t.push_back({b + "ffn_up.weight", {d, ff}});
        t.push_back({b + "ffn_down.weight", {ff, d}});
    }
    return t;
}

PresetModel facts(const std::string& arch, int64_t n_layer, int64_t n_head, int64_t n_head_kv,
                  int64_t n_expert = 0)
{
    PresetModel m;
    m.arch = arch;
    m.n_layer = n_layer;
    m.n_head = n_head;
    m.n_head_kv = n_head_kv;
    m.n_expert = n_expert;
    return m;
}

std::map<std::string, TT> choose(const std::string& preset, const PresetModel& m,
                                 const std::vector<PresetTensor>& t)
{
    std::map<std::string, TT> out;
    for (const auto& c : gguf::choose_preset_types(gguf::parse_preset(preset), m, t))
        out[c.name] = c.type;
    return out;
}

std::string blk(int i, const char* what)
{
    return "blk." + std::to_string(i) + "." + what;
}

const char* tname(TT t)
{
    const char* n = gguf::tensor_type_traits(static_cast<uint32_t>(t)).name;
    return n ? n : "?";
}

// QCOMPARE on types with readable names.
#define COMPARE_TYPE(types, name, expected)                                                      \
    do {                                                                                         \
        const std::string n_ = (name);                                                           \
        QVERIFY2((types).count(n_), qPrintable(QString::fromStdString("no tensor " + n_)));      \
        const TT got_ = (types).at(n_);                                                          \
        QVERIFY2(got_ == (expected),                                                             \
                 qPrintable(QString::fromStdString(n_ + ": got " + tname(got_) + ", expected " + \
                                                   tname(expected))));                           \
    } while (0)

// Layers i of n for which use_more_bits(i, n) holds, enumerated by hand for n = 32:
// i < 4, i >= 28, and (i - 4) % 3 == 2, i.e. 6, 9, ..., 27.
const std::set<int> kMoreBits32 = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};

}  // namespace

class TstGgufPresets : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void presetTable();
    void llama7bQ4KM();
    void llama7bOtherPresets();
    void gqaAnd70b();
    void visitingOrder();
    void attnVCounterIsNotTheLayer();
    void experts();
    void fallbacks();
    void keptTensors();
    void falcon();
    void imatrixQ4_0();
    void dataBytes();
    void errors();
    void llamaQuantizeReference();
};

void TstGgufPresets::presetTable()
{
    // llama_ftype ids of llama.h and llama_ftype_get_default_type.
    const std::map<std::string, std::pair<uint32_t, TT>> expected = {
        {"Q2_K", {10, TT::Q2_K}},   {"Q3_K_S", {11, TT::Q3_K}}, {"Q3_K_M", {12, TT::Q3_K}},
        {"Q3_K_L", {13, TT::Q3_K}}, {"Q4_0", {2, TT::Q4_0}},    {"Q4_1", {3, TT::Q4_1}},
        {"Q4_K_S", {14, TT::Q4_K}}, {"Q4_K_M", {15, TT::Q4_K}}, {"Q5_0", {8, TT::Q5_0}},
        {"Q5_1", {9, TT::Q5_1}},    {"Q5_K_S", {16, TT::Q5_K}}, {"Q5_K_M", {17, TT::Q5_K}},
        {"Q6_K", {18, TT::Q6_K}},   {"Q8_0", {7, TT::Q8_0}},
    };
    QCOMPARE(gguf::presets().size(), expected.size());
    for (const auto& p : gguf::presets()) {
        QVERIFY2(expected.count(p.name), p.name.c_str());
        QCOMPARE(p.ftype, expected.at(p.name).first);
        QVERIFY(p.default_type == expected.at(p.name).second);
    }
    // llama-quantize matches names case-insensitively; Q3_K / Q4_K / Q5_K are its aliases of _M.
    QCOMPARE(gguf::parse_preset("q4_k_m").name, std::string("Q4_K_M"));
    QCOMPARE(gguf::parse_preset("Q4_K").name, std::string("Q4_K_M"));
    QCOMPARE(gguf::parse_preset("q3_k").name, std::string("Q3_K_M"));
    QCOMPARE(gguf::parse_preset("Q5_K").ftype, 17u);
    try {
        gguf::parse_preset("Q4_K_XL");
        QFAIL("Q4_K_XL accepted");
    } catch (const InvalidArgument& e) {
        const std::string m = e.what();
        QVERIFY2(m.find("Q4_K_XL") != std::string::npos, e.what());
        QVERIFY2(m.find("Q2_K, Q3_K_S") != std::string::npos, e.what());  // lists the names
        QVERIFY2(m.find("Q8_0") != std::string::npos, e.what());
    }
}

// A Llama-2-7B shape: 32 layers, width 4096, ffn 11008 (= 43 x 256), 32 heads, no GQA, untied.
void TstGgufPresets::llama7bQ4KM()
{
    const auto t = llama_like(32, 4096, 11008, 4096, 32000, true);
    const auto ty = choose("Q4_K_M", facts("llama", 32, 32, 32), t);
    QCOMPARE(ty.size(), t.size());
    COMPARE_TYPE(ty, "output.weight", TT::Q6_K);      // R1: D = Q4_K != Q8_0 -> Q6_K
    COMPARE_TYPE(ty, "token_embd.weight", TT::Q4_K);  // R2: untied embedding keeps D
    COMPARE_TYPE(ty, "output_norm.weight", TT::F32);  // K1: 1-D kept
    for (int i = 0; i < 32; ++i) {
        // R3 / R5: use_more_bits(i, 32) -> Q6_K; n_attention_wv = 32, ffn_down's n = n_layer
        const TT more = kMoreBits32.count(i) ? TT::Q6_K : TT::Q4_K;
        COMPARE_TYPE(ty, blk(i, "attn_v.weight"), more);
        COMPARE_TYPE(ty, blk(i, "ffn_down.weight"), more);
        COMPARE_TYPE(ty, blk(i, "attn_q.weight"), TT::Q4_K);       // R7
        COMPARE_TYPE(ty, blk(i, "attn_k.weight"), TT::Q4_K);       // R4 only with 8 experts
        COMPARE_TYPE(ty, blk(i, "attn_output.weight"), TT::Q4_K);  // R6: not for Q4_K_M
        COMPARE_TYPE(ty, blk(i, "ffn_gate.weight"), TT::Q4_K);     // R7
        COMPARE_TYPE(ty, blk(i, "ffn_up.weight"), TT::Q4_K);       // R7
        COMPARE_TYPE(ty, blk(i, "attn_norm.weight"), TT::F32);     // K1
    }
    // 16 of 32 layers get more bits: layer 10 is not one of them ((10 - 4) % 3 == 0).
    COMPARE_TYPE(ty, blk(10, "attn_v.weight"), TT::Q4_K);
    COMPARE_TYPE(ty, blk(27, "attn_v.weight"), TT::Q6_K);
    // Bytes: Q4_K is 144 bytes per 256; [4096, 4096] = 16 blocks x 144 B x 4096 rows.
    for (const auto& c :
         gguf::choose_preset_types(gguf::parse_preset("Q4_K_M"), facts("llama", 32, 32, 32), t)) {
        if (c.name == "blk.5.attn_q.weight") {
            QCOMPARE(c.bytes, uint64_t(16 * 144 * 4096));
            QVERIFY(c.quantized && !c.fallback);
        }
        if (c.name == "output.weight")  // Q6_K: 210 bytes per 256
            QCOMPARE(c.bytes, uint64_t(16 * 210) * 32000);
        if (c.name == "blk.0.ffn_norm.weight") {
            QCOMPARE(c.bytes, uint64_t(4096 * 4));
            QVERIFY(!c.quantized);
        }
    }
}

void TstGgufPresets::llama7bOtherPresets()
{
    const auto t = llama_like(32, 4096, 11008, 4096, 32000, true);
    const PresetModel m = facts("llama", 32, 32, 32);
    {
        // Q4_K_S: R3 i_attention_wv < 4 -> Q5_K; R5 i < n/8 = 4 -> Q5_K; output R1 Q6_K.
        const auto ty = choose("Q4_K_S", m, t);
        for (int i = 0; i < 32; ++i) {
            COMPARE_TYPE(ty, blk(i, "attn_v.weight"), i < 4 ? TT::Q5_K : TT::Q4_K);
            COMPARE_TYPE(ty, blk(i, "ffn_down.weight"), i < 4 ? TT::Q5_K : TT::Q4_K);
            COMPARE_TYPE(ty, blk(i, "attn_output.weight"), TT::Q4_K);
        }
        COMPARE_TYPE(ty, "output.weight", TT::Q6_K);
    }
    {
        // Q3_K_M: R3 i < 2 ? Q5_K : Q4_K; R5 i < n/16 = 2 -> Q5_K else Q4_K (not falcon);
        // R6 attn_output Q4_K; the rest D = Q3_K.
        const auto ty = choose("Q3_K_M", m, t);
        for (int i = 0; i < 32; ++i) {
            COMPARE_TYPE(ty, blk(i, "attn_v.weight"), i < 2 ? TT::Q5_K : TT::Q4_K);
            COMPARE_TYPE(ty, blk(i, "ffn_down.weight"), i < 2 ? TT::Q5_K : TT::Q4_K);
            COMPARE_TYPE(ty, blk(i, "attn_output.weight"), TT::Q4_K);
            COMPARE_TYPE(ty, blk(i, "attn_q.weight"), TT::Q3_K);
            COMPARE_TYPE(ty, blk(i, "ffn_up.weight"), TT::Q3_K);
        }
        COMPARE_TYPE(ty, "token_embd.weight", TT::Q3_K);
        COMPARE_TYPE(ty, "output.weight", TT::Q6_K);
    }
    {
        // Q3_K_L: R3 Q5_K, R5 Q5_K (not falcon), R6 Q5_K.
        const auto ty = choose("Q3_K_L", m, t);
        COMPARE_TYPE(ty, blk(17, "attn_v.weight"), TT::Q5_K);
        COMPARE_TYPE(ty, blk(17, "ffn_down.weight"), TT::Q5_K);
        COMPARE_TYPE(ty, blk(17, "attn_output.weight"), TT::Q5_K);
        COMPARE_TYPE(ty, blk(17, "ffn_gate.weight"), TT::Q3_K);
    }
    {
        // Q3_K_S: no rule but R1.
        const auto ty = choose("Q3_K_S", m, t);
        COMPARE_TYPE(ty, blk(0, "attn_v.weight"), TT::Q3_K);
        COMPARE_TYPE(ty, blk(0, "ffn_down.weight"), TT::Q3_K);
        COMPARE_TYPE(ty, blk(0, "attn_output.weight"), TT::Q3_K);
        COMPARE_TYPE(ty, "output.weight", TT::Q6_K);
    }
    {
        // Q2_K: R3 n_gqa = 1 < 4 -> Q3_K; R5 Q3_K; R6 Q3_K; the rest Q2_K.
        const auto ty = choose("Q2_K", m, t);
        COMPARE_TYPE(ty, blk(3, "attn_v.weight"), TT::Q3_K);
        COMPARE_TYPE(ty, blk(3, "ffn_down.weight"), TT::Q3_K);
        COMPARE_TYPE(ty, blk(3, "attn_output.weight"), TT::Q3_K);
        COMPARE_TYPE(ty, blk(3, "attn_k.weight"), TT::Q2_K);
        COMPARE_TYPE(ty, "token_embd.weight", TT::Q2_K);
        COMPARE_TYPE(ty, "output.weight", TT::Q6_K);
    }
    {
        // Q5_K_M: R3 / R5 use_more_bits -> Q6_K, else Q5_K. Q5_K_S: everything Q5_K.
        const auto ty = choose("Q5_K_M", m, t);
        const auto ts = choose("Q5_K_S", m, t);
        for (int i = 0; i < 32; ++i) {
            const TT more = kMoreBits32.count(i) ? TT::Q6_K : TT::Q5_K;
            COMPARE_TYPE(ty, blk(i, "attn_v.weight"), more);
            COMPARE_TYPE(ty, blk(i, "ffn_down.weight"), more);
            COMPARE_TYPE(ts, blk(i, "attn_v.weight"), TT::Q5_K);
            COMPARE_TYPE(ts, blk(i, "ffn_down.weight"), TT::Q5_K);
        }
    }
    {
        // Q6_K, Q8_0, Q4_0: uniform D; output R1: Q6_K stays Q6_K, D = Q8_0 keeps Q8_0, Q4_0 ->
        // Q6_K (4096 % 32 == 0).
        const auto t6 = choose("Q6_K", m, t), t8 = choose("Q8_0", m, t), t4 = choose("Q4_0", m, t);
        COMPARE_TYPE(t6, blk(0, "ffn_down.weight"), TT::Q6_K);
        COMPARE_TYPE(t6, "output.weight", TT::Q6_K);
        COMPARE_TYPE(t8, blk(0, "attn_v.weight"), TT::Q8_0);
        COMPARE_TYPE(t8, "output.weight", TT::Q8_0);
        COMPARE_TYPE(t4, blk(0, "ffn_down.weight"), TT::Q4_0);  // R5 imatrix rule needs one
        COMPARE_TYPE(t4, "output.weight", TT::Q6_K);
        COMPARE_TYPE(t4, "token_embd.weight", TT::Q4_0);
    }
}

void TstGgufPresets::gqaAnd70b()
{
    {
        // Llama-3-8B: 32 heads, 8 KV heads -> n_gqa 4: R3 Q2_K -> Q4_K.
        const auto t = llama_like(32, 4096, 14336, 1024, 128256, true);
        const auto ty = choose("Q2_K", facts("llama", 32, 32, 8), t);
        COMPARE_TYPE(ty, blk(0, "attn_v.weight"), TT::Q4_K);
        // n_gqa 2 (16 KV heads): Q3_K.
        const auto t2 = choose("Q2_K", facts("llama", 32, 32, 16), t);
        COMPARE_TYPE(t2, blk(0, "attn_v.weight"), TT::Q3_K);
        // n_head_kv absent (-1) means n_head: n_gqa 1.
        const auto t3 = choose("Q2_K", facts("llama", 32, 32, -1), t);
        COMPARE_TYPE(t3, blk(0, "attn_v.weight"), TT::Q3_K);
    }
    {
        // Llama-2-70B: arch llama, 80 layers, n_head 64 != n_head_kv 8 -> LLM_TYPE_70B: R3 bumps
        // Q3_K and Q4_K attn_v to Q5_K.
        const auto t = llama_like(80, 8192, 28672, 1024, 32000, true);
        const auto s3 = choose("Q3_K_S", facts("llama", 80, 64, 8), t);
        COMPARE_TYPE(s3, blk(40, "attn_v.weight"), TT::Q5_K);
        COMPARE_TYPE(s3, blk(40, "attn_q.weight"), TT::Q3_K);
        const auto m4 = choose("Q4_K_M", facts("llama", 80, 64, 8), t);
        COMPARE_TYPE(m4, blk(0, "attn_v.weight"), TT::Q6_K);   // use_more_bits first
        COMPARE_TYPE(m4, blk(11, "attn_v.weight"), TT::Q5_K);  // Q4_K bumped (11-10)%3 != 2
        // 65B (llama, 80 layers, no GQA) is not 70B.
        const auto s65 = choose("Q3_K_S", facts("llama", 80, 64, 64), t);
        COMPARE_TYPE(s65, blk(40, "attn_v.weight"), TT::Q3_K);
        // qwen2 with 80 layers is 70B whatever its heads; qwen3 is never.
        COMPARE_TYPE(choose("Q3_K_S", facts("qwen2", 80, 64, 64), t), blk(40, "attn_v.weight"),
                     TT::Q5_K);
        COMPARE_TYPE(choose("Q3_K_S", facts("qwen3", 80, 64, 8), t), blk(40, "attn_v.weight"),
                     TT::Q3_K);
    }
}

// llama-quantize visits tensors by layer number then name; blk.10 comes after blk.9, not after
// blk.1 as in a plain string sort. The input order does not matter.
void TstGgufPresets::visitingOrder()
{
    auto t = llama_like(32, 4096, 11008, 4096, 32000, true);
    std::mt19937 rng(7);
    std::shuffle(t.begin(), t.end(), rng);
    const auto ty = choose("Q4_K_M", facts("llama", 32, 32, 32), t);
    for (int i = 0; i < 32; ++i) {
        const TT more = kMoreBits32.count(i) ? TT::Q6_K : TT::Q4_K;
        COMPARE_TYPE(ty, blk(i, "attn_v.weight"), more);
        COMPARE_TYPE(ty, blk(i, "ffn_down.weight"), more);
    }
    // Returned in the caller's order.
    const auto cs =
        gguf::choose_preset_types(gguf::parse_preset("Q4_K_M"), facts("llama", 32, 32, 32), t);
    for (size_t i = 0; i < t.size(); ++i)
        QCOMPARE(cs[i].name, t[i].name);
}

// R3's index is a count of attn_v tensors, not the layer number: in an 8-layer model with
// attention only in layers 3 and 7, n_attention_wv = 2 and use_more_bits(i, 2) holds for i = 1
// only (i >= 7*2/8 = 1), so layer 3 (i = 0) gets Q4_K and layer 7 (i = 1) Q6_K. ffn_down's
// counter runs over the ffn_down tensors with n = n_layer = 8: use_more_bits(i, 8) for i = 0, 3,
// 6, 7 (n/8 = 1, 7n/8 = 7, (i - 1) % 3 == 2).
void TstGgufPresets::attnVCounterIsNotTheLayer()
{
    std::vector<PresetTensor> t = {{"token_embd.weight", {512, 1000}}};
    for (int i = 0; i < 8; ++i) {
        if (i == 3 || i == 7)
            t.push_back({blk(i, "attn_v.weight"), {512, 512}});
        t.push_back({blk(i, "ffn_down.weight"), {512, 512}});
    }
    const auto ty = choose("Q4_K_M", facts("llama", 8, 8, 8), t);
    COMPARE_TYPE(ty, blk(3, "attn_v.weight"), TT::Q4_K);
    COMPARE_TYPE(ty, blk(7, "attn_v.weight"), TT::Q6_K);
    for (int i = 0; i < 8; ++i)
        COMPARE_TYPE(ty, blk(i, "ffn_down.weight"),
                     (i == 0 || i == 3 || i == 6 || i == 7) ? TT::Q6_K : TT::Q4_K);
    // Tied (no output.weight): token_embd takes R1: Q6_K.
    COMPARE_TYPE(ty, "token_embd.weight", TT::Q6_K);
}

// Mixtral-8x7B: n_expert 8, 3-D expert tensors [in, out, 8].
void TstGgufPresets::experts()
{
    std::vector<PresetTensor> t = {{"token_embd.weight", {4096, 32000}},
                                   {"output.weight", {4096, 32000}}};
    for (int i = 0; i < 32; ++i) {
        t.push_back({blk(i, "attn_q.weight"), {4096, 4096}});
        t.push_back({blk(i, "attn_k.weight"), {4096, 1024}});
        t.push_back({blk(i, "attn_v.weight"), {4096, 1024}});
        t.push_back({blk(i, "attn_output.weight"), {4096, 4096}});
        t.push_back({blk(i, "ffn_gate_inp.weight"), {4096, 8}});
        t.push_back({blk(i, "ffn_gate_exps.weight"), {4096, 14336, 8}});
        t.push_back({blk(i, "ffn_up_exps.weight"), {4096, 14336, 8}});
        t.push_back({blk(i, "ffn_down_exps.weight"), {14336, 4096, 8}});
    }
    const PresetModel m = facts("llama", 32, 32, 8, 8);
    const auto ty = choose("Q4_K_M", m, t);
    COMPARE_TYPE(ty, blk(5, "attn_v.weight"), TT::Q8_0);       // R3: n_expert == 8
    COMPARE_TYPE(ty, blk(5, "attn_k.weight"), TT::Q8_0);       // R4
    COMPARE_TYPE(ty, blk(5, "attn_output.weight"), TT::Q5_K);  // R6: 8 experts, Q4_K_M
    COMPARE_TYPE(ty, blk(5, "ffn_gate_inp.weight"), TT::F32);  // K3 kept
    // R5 with experts reads the layer from the name: use_more_bits(i, 32).
    for (int i = 0; i < 32; ++i)
        COMPARE_TYPE(ty, blk(i, "ffn_down_exps.weight"),
                     kMoreBits32.count(i) ? TT::Q6_K : TT::Q4_K);
    COMPARE_TYPE(ty, blk(5, "ffn_up_exps.weight"), TT::Q4_K);
    // Q3_K_L is not in R6's 8-expert list: attn_output keeps Q3_K.
    COMPARE_TYPE(choose("Q3_K_L", m, t), blk(5, "attn_output.weight"), TT::Q3_K);
    // 3-D bytes: 14336 / 256 blocks x 210 B (Q6_K) x 4096 rows x 8 experts.
    for (const auto& c : gguf::choose_preset_types(gguf::parse_preset("Q4_K_M"), m, t))
        if (c.name == "blk.0.ffn_down_exps.weight")
            QCOMPARE(c.bytes, uint64_t(14336 / 256 * 210) * 4096 * 8);
    // With experts an ffn tensor must carry a layer in [0, n_layer).
    t.push_back({"blk.40.ffn_down_exps.weight", {14336, 4096, 8}});
    QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                             gguf::choose_preset_types(gguf::parse_preset("Q4_K_M"), m, t));
    // Two experts (n_expert 2): R3's and R4's n_expert == 8 rules do not apply.
    t.pop_back();
    const auto t2 = choose("Q4_K_M", facts("llama", 32, 32, 8, 2), t);
    COMPARE_TYPE(t2, blk(5, "attn_k.weight"), TT::Q4_K);
    COMPARE_TYPE(t2, blk(5, "attn_output.weight"), TT::Q4_K);
}

void TstGgufPresets::fallbacks()
{
    // SmolLM2-135M shape: width 576 (= 2 x 256 + 64), ffn 1536 (= 6 x 256), 9 heads, 3 KV heads
    // (KV width 192), 30 layers, tied embeddings.
    const auto t = llama_like(30, 576, 1536, 192, 49152, false);
    const PresetModel m = facts("llama", 30, 9, 3);
    {
        const auto ty = choose("Q4_K_M", m, t);
        COMPARE_TYPE(ty, blk(1, "attn_q.weight"), TT::Q5_0);    // Q4_K, 576 % 256 -> Q5_0
        COMPARE_TYPE(ty, blk(0, "attn_v.weight"), TT::Q8_0);    // R3 Q6_K -> Q8_0
        COMPARE_TYPE(ty, blk(4, "attn_v.weight"), TT::Q5_0);    // use_more_bits(4, 30) false
        COMPARE_TYPE(ty, blk(0, "ffn_down.weight"), TT::Q6_K);  // 1536 is whole 256-blocks
        COMPARE_TYPE(ty, blk(4, "ffn_down.weight"), TT::Q4_K);
        // R1 on the tied embedding: 576 % block(Q4_K) != 0 -> Q8_0 (the rule itself, no
        // fallback needed).
        COMPARE_TYPE(ty, "token_embd.weight", TT::Q8_0);
        for (const auto& c : gguf::choose_preset_types(gguf::parse_preset("Q4_K_M"), m, t)) {
            if (c.name == "token_embd.weight")
                QVERIFY(!c.fallback);
            if (c.name == "blk.1.attn_q.weight")
                QVERIFY(c.fallback);
        }
    }
    // The table: Q2_K, Q3_K -> Q4_0; Q4_K -> Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0.
    COMPARE_TYPE(choose("Q2_K", m, t), blk(1, "attn_q.weight"), TT::Q4_0);
    COMPARE_TYPE(choose("Q2_K", m, t), blk(1, "attn_v.weight"), TT::Q4_0);  // R3 Q3_K (gqa 3)
    COMPARE_TYPE(choose("Q3_K_S", m, t), blk(1, "attn_q.weight"), TT::Q4_0);
    COMPARE_TYPE(choose("Q5_K_S", m, t), blk(1, "attn_q.weight"), TT::Q5_1);
    COMPARE_TYPE(choose("Q6_K", m, t), blk(1, "attn_q.weight"), TT::Q8_0);
    COMPARE_TYPE(choose("Q3_K_M", m, t), blk(0, "attn_v.weight"), TT::Q5_1);  // R3 Q5_K
    {
        // Q4_0: R1 gives the tied embedding Q6_K (576 % 32 == 0), which falls back to Q8_0.
        const auto cs = gguf::choose_preset_types(gguf::parse_preset("Q4_0"), m, t);
        for (const auto& c : cs)
            if (c.name == "token_embd.weight") {
                QVERIFY(c.type == TT::Q8_0);
                QVERIFY(c.fallback);
            }
        const auto ty = choose("Q4_0", m, t);
        COMPARE_TYPE(ty, blk(1, "attn_q.weight"), TT::Q4_0);  // 32-blocks: no fallback
    }
    {
        // stories260K shape: width 64, ffn 172 (not a multiple of 32): the fallback type does
        // not fit either -> F16; a 32-block D that does not fit -> F16 too.
        const auto s = llama_like(5, 64, 172, 32, 512, false);
        const PresetModel sm = facts("llama", 5, 8, 4);
        const auto k = choose("Q4_K_M", sm, s);
        COMPARE_TYPE(k, blk(0, "ffn_down.weight"), TT::F16);  // 172: Q4_K -> Q5_0 -> F16
        COMPARE_TYPE(k, blk(4, "ffn_down.weight"), TT::F16);  // use_more_bits: Q6_K -> Q8_0 -> F16
        COMPARE_TYPE(k, blk(0, "ffn_up.weight"), TT::Q5_0);   // 64: Q4_K -> Q5_0
        COMPARE_TYPE(k, "token_embd.weight", TT::Q8_0);       // R1: 64 % 256
        const auto q = choose("Q4_0", sm, s);
        COMPARE_TYPE(q, blk(2, "ffn_down.weight"), TT::F16);  // Q4_0 on 172 -> F16
        COMPARE_TYPE(q, blk(2, "ffn_up.weight"), TT::Q4_0);
        COMPARE_TYPE(choose("Q8_0", sm, s), blk(2, "ffn_down.weight"), TT::F16);
    }
    {
        // R1 Q8_0 on an output whose rows are not whole 32-blocks falls back to F16.
        const std::vector<PresetTensor> o = {{"token_embd.weight", {100, 50}},
                                             {"output.weight", {100, 50}}};
        const auto ty = choose("Q4_K_M", facts("llama", 1, 1, 1), o);
        COMPARE_TYPE(ty, "output.weight", TT::F16);
        COMPARE_TYPE(ty, "token_embd.weight", TT::F16);  // untied: Q4_K -> Q5_0 -> F16
    }
}

void TstGgufPresets::keptTensors()
{
    const std::vector<PresetTensor> t = {
        {"token_embd.weight", {256, 1000}},
        {"output.weight", {256, 1000}},
        {"output_norm.weight", {256}},                  // K1 1-D
        {"blk.0.attn_q.weight", {256, 1}},              // K1 trailing 1 -> 1-D
        {"blk.0.attn_k.weight", {256, 1, 1}},           // K1
        {"blk.0.attn_v.weight", {256, 256}, TT::F16},   // quantized whatever its source
        {"blk.0.attn_q.bias", {256, 256}},              // K2 not "...weight"
        {"blk.0.attn_q_norm.weight", {256, 256}},       // K3 _norm.weight
        {"blk.0.ffn_gate_inp.weight", {256, 8}},        // K3 router
        {"position_embd.weight", {256, 512}, TT::F16},  // K3, keeps F16
        {"token_types.weight", {256, 2}},               // K3
        {"blk.0.ssm_conv1d.weight", {4, 256}},          // K3
        {"blk.0.attn_rel_b.weight", {256, 32}},         // K3
        {"v.patch_embd.weight", {256, 256}},            // K3 ".patch_embd"
        {"blk.0.attn_out.weight", {256, 256}},          // R7: an unknown 2-D weight
        {"abcde", {256, 256}},                          // K2 quirk: 5 characters pass
        {"abcdef", {256, 256}},                         // K2: 6 characters do not
    };
    const auto cs =
        gguf::choose_preset_types(gguf::parse_preset("Q4_K_M"), facts("llama", 1, 1, 1), t);
    std::map<std::string, TT> ty;
    for (const auto& c : cs)
        ty[c.name] = c.type;
    COMPARE_TYPE(ty, "output_norm.weight", TT::F32);
    COMPARE_TYPE(ty, "blk.0.attn_q.weight", TT::F32);
    COMPARE_TYPE(ty, "blk.0.attn_k.weight", TT::F32);
    COMPARE_TYPE(ty, "blk.0.attn_v.weight", TT::Q6_K);  // use_more_bits(0, 1): 0 >= 7/8 = 0
    COMPARE_TYPE(ty, "blk.0.attn_q.bias", TT::F32);
    COMPARE_TYPE(ty, "blk.0.attn_q_norm.weight", TT::F32);
    COMPARE_TYPE(ty, "blk.0.ffn_gate_inp.weight", TT::F32);
    COMPARE_TYPE(ty, "position_embd.weight", TT::F16);
    COMPARE_TYPE(ty, "token_types.weight", TT::F32);
    COMPARE_TYPE(ty, "blk.0.ssm_conv1d.weight", TT::F32);
    COMPARE_TYPE(ty, "blk.0.attn_rel_b.weight", TT::F32);
    COMPARE_TYPE(ty, "v.patch_embd.weight", TT::F32);
    COMPARE_TYPE(ty, "blk.0.attn_out.weight", TT::Q4_K);
    COMPARE_TYPE(ty, "abcde", TT::Q4_K);
    COMPARE_TYPE(ty, "abcdef", TT::F32);
    COMPARE_TYPE(ty, "token_embd.weight", TT::Q4_K);  // untied: R2
    COMPARE_TYPE(ty, "output.weight", TT::Q6_K);
    for (const auto& c : cs)
        if (c.name == "position_embd.weight") {
            QVERIFY(!c.quantized);
            QCOMPARE(c.bytes, uint64_t(256 * 512 * 2));
        }
}

// Falcon: R1 output always Q8_0; R5 Q4_K_M falcon table; R6 only Q3_K_L -> Q4_K.
void TstGgufPresets::falcon()
{
    std::vector<PresetTensor> t = {{"token_embd.weight", {4544, 65024}},
                                   {"output.weight", {4544, 65024}}};
    for (int i = 0; i < 32; ++i) {
        t.push_back({blk(i, "attn_qkv.weight"), {4544, 4672}});
        t.push_back({blk(i, "attn_output.weight"), {4544, 4544}});
        t.push_back({blk(i, "ffn_up.weight"), {4544, 18176}});
        t.push_back({blk(i, "ffn_down.weight"), {18176, 4544}});
    }
    // 4544 = 17 x 256 + 192: K types fall back; use 4608-wide copies for the pure rules.
    for (auto& x : t)
        for (auto& n : x.ne)
            if (n == 4544)
                n = 4608;
    const PresetModel m = facts("falcon", 32, 71, 1);
    const auto ty = choose("Q4_K_M", m, t);
    COMPARE_TYPE(ty, "output.weight", TT::Q8_0);
    COMPARE_TYPE(ty, "token_embd.weight", TT::Q4_K);  // untied R2
    for (int i = 0; i < 32; ++i) {
        // i < 32/16 = 2 -> Q6_K; use_more_bits -> Q5_K; else Q4_K.
        const TT e = i < 2 ? TT::Q6_K : kMoreBits32.count(i) ? TT::Q5_K : TT::Q4_K;
        COMPARE_TYPE(ty, blk(i, "ffn_down.weight"), e);
        // attn_qkv is attn_v-like: R3 use_more_bits(i, 32) -> Q6_K.
        COMPARE_TYPE(ty, blk(i, "attn_qkv.weight"), kMoreBits32.count(i) ? TT::Q6_K : TT::Q4_K);
    }
    const auto l = choose("Q3_K_L", m, t);
    COMPARE_TYPE(l, blk(3, "attn_output.weight"), TT::Q4_K);
    COMPARE_TYPE(l, blk(3, "ffn_down.weight"), TT::Q4_K);
    const auto mm = choose("Q3_K_M", m, t);
    COMPARE_TYPE(mm, blk(3, "attn_output.weight"), TT::Q3_K);  // R6 falcon: only Q3_K_L
    COMPARE_TYPE(mm, blk(3, "ffn_down.weight"), TT::Q4_K);     // use_more_bits(3, 32)
    COMPARE_TYPE(mm, blk(4, "ffn_down.weight"), TT::Q3_K);     // falcon, not use_more_bits
}

// R5: Q4_0 / Q5_0 with an importance matrix give ffn_down of the first n/8 layers Q4_1 / Q5_1.
void TstGgufPresets::imatrixQ4_0()
{
    const auto t = llama_like(30, 576, 1536, 192, 49152, false);
    PresetModel m = facts("llama", 30, 9, 3);
    m.has_imatrix = true;
    const auto q4 = choose("Q4_0", m, t), q5 = choose("Q5_0", m, t), q41 = choose("Q4_1", m, t);
    for (int i = 0; i < 30; ++i) {
        COMPARE_TYPE(q4, blk(i, "ffn_down.weight"), i < 3 ? TT::Q4_1 : TT::Q4_0);
        COMPARE_TYPE(q5, blk(i, "ffn_down.weight"), i < 3 ? TT::Q5_1 : TT::Q5_0);
        COMPARE_TYPE(q41, blk(i, "ffn_down.weight"), TT::Q4_1);
    }
    m.has_imatrix = false;
    COMPARE_TYPE(choose("Q4_0", m, t), blk(0, "ffn_down.weight"), TT::Q4_0);
}

void TstGgufPresets::dataBytes()
{
    QCOMPARE(gguf::tensor_data_bytes(TT::Q4_K, {512, 3}), uint64_t(2 * 144 * 3));
    QCOMPARE(gguf::tensor_data_bytes(TT::Q8_0, {64, 2, 3}), uint64_t(2 * 34 * 6));
    QCOMPARE(gguf::tensor_data_bytes(TT::F32, {5}), uint64_t(20));
    QVERIFY_THROWS_EXCEPTION(InvalidArgument, gguf::tensor_data_bytes(TT::Q4_K, {576, 1}));
    // Each tensor padded to the alignment: 20 -> 32, 2 x 144 x 3 = 864 -> 864 (27 x 32), 100 ->
    // 128.
    std::vector<gguf::TensorChoice> cs(3);
    cs[0].bytes = 20;
    cs[1].bytes = 864;
    cs[2].bytes = 100;
    QCOMPARE(gguf::preset_data_bytes(cs), uint64_t(32 + 864 + 128));
    QCOMPARE(gguf::preset_data_bytes(cs, 64), uint64_t(64 + 896 + 128));
}

void TstGgufPresets::errors()
{
    const auto t = llama_like(2, 256, 512, 256, 100, true);
    const gguf::PresetInfo p = gguf::parse_preset("Q4_K_M");
    QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                             gguf::choose_preset_types(p, facts("llama", 0, 1, 1), t));
    auto dup = t;
    dup.push_back(t[3]);
    QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                             gguf::choose_preset_types(p, facts("llama", 2, 1, 1), dup));
    auto dims = t;
    dims.push_back({"x.weight", {1, 2, 3, 4, 5}});
    QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                             gguf::choose_preset_types(p, facts("llama", 2, 1, 1), dims));
    gguf::PresetInfo fake = p;
    fake.ftype = 99;
    QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                             gguf::choose_preset_types(fake, facts("llama", 2, 1, 1), t));
}

// (b) llama-quantize's own choices, from tests/python/check_gguf_presets.py:
//   {"models": [{"name", "facts": {arch, n_layer, n_head, n_head_kv, n_expert},
//                "runs": [{"preset", "imatrix", "file_bytes", "data_offset", "alignment",
//                          "tensors": [{"name", "ne", "source_type", "type"}]}]}]}
void TstGgufPresets::llamaQuantizeReference()
{
    const QString path = qEnvironmentVariable("ZP_PRESET_REFERENCE");
    if (path.isEmpty())
        QSKIP(
            "ZP_PRESET_REFERENCE not set: run tests/python/check_gguf_presets.py (it writes the "
            "JSON of llama-quantize's choices and sets it)");
    std::ifstream in(path.toStdString());
    QVERIFY2(in.good(), qPrintable("cannot open " + path));
    const nlohmann::json ref = nlohmann::json::parse(in);
    int runs = 0, failures = 0;
    for (const auto& model : ref.at("models")) {
        const auto& f = model.at("facts");
        PresetModel m;
        m.arch = f.at("arch").get<std::string>();
        m.n_layer = f.at("n_layer").get<int64_t>();
        m.n_head = f.at("n_head").get<int64_t>();
        m.n_head_kv = f.at("n_head_kv").get<int64_t>();
        m.n_expert = f.at("n_expert").get<int64_t>();
        for (const auto& run : model.at("runs")) {
            const std::string preset = run.at("preset").get<std::string>();
            m.has_imatrix = run.at("imatrix").get<bool>();
            std::vector<PresetTensor> ts;
            std::vector<uint32_t> want;
            for (const auto& t : run.at("tensors")) {
                PresetTensor pt;
                pt.name = t.at("name").get<std::string>();
                pt.ne = t.at("ne").get<std::vector<uint64_t>>();
                pt.source_type = static_cast<TT>(t.at("source_type").get<uint32_t>());
                ts.push_back(pt);
                want.push_back(t.at("type").get<uint32_t>());
            }
            const auto cs = gguf::choose_preset_types(gguf::parse_preset(preset), m, ts);
            int equal = 0;
            for (size_t i = 0; i < cs.size(); ++i) {
                if (static_cast<uint32_t>(cs[i].type) == want[i]) {
                    ++equal;
                } else if (++failures <= 40) {
                    qWarning("%s %s%s: %s: llama-quantize %s, predicted %s (%s)",
                             model.at("name").get<std::string>().c_str(), preset.c_str(),
                             m.has_imatrix ? "+imatrix" : "", cs[i].name.c_str(),
                             tname(static_cast<TT>(want[i])), tname(cs[i].type),
                             cs[i].rule.c_str());
                }
            }
            const uint64_t file_bytes = run.at("file_bytes").get<uint64_t>();
            const uint64_t data = file_bytes - run.at("data_offset").get<uint64_t>();
            const uint64_t predicted =
                gguf::preset_data_bytes(cs, run.at("alignment").get<uint64_t>());
            const double rel = std::abs(double(predicted) - double(data)) / double(file_bytes);
            qInfo(
                "%s %s%s: %d/%zu types equal; tensor data predicted %llu B, file %llu B "
                "(of %llu B in all, %.4f%% apart)",
                model.at("name").get<std::string>().c_str(), preset.c_str(),
                m.has_imatrix ? "+imatrix" : "", equal, cs.size(), (unsigned long long)predicted,
                (unsigned long long)data, (unsigned long long)file_bytes, 100.0 * rel);
            if (equal != int(cs.size()) || predicted != data || rel > 0.001)
                ++failures;
            ++runs;
        }
    }
    QVERIFY2(runs > 0, "the reference JSON holds no runs");
    QVERIFY2(failures == 0, qPrintable(QString("%1 mismatches with llama-quantize").arg(failures)));
}

QTEST_GUILESS_MAIN(TstGgufPresets)
#include "tst_gguf_presets.moc"
