// Safetensors exports of a quantized model (core/export/safetensors_export.h through
// core/export/exporter.h): the dequantized HF model reloads to W_hat within fp16 rounding, the
// packed checkpoint reloads bit for bit (codes, scales, zeros, weights, logits), the GPTQ
// checkpoint unpacks (here, by an independent unpacker) to scale * (q - z) with integer z and
// reports a non-negative added loss; bad inputs and cancellation leave nothing behind. The PyPI
// `safetensors` package reads all three (tests/python/check_safetensors.py).
//
// Two models: a synthetic LLaMA-shaped one built here (always; dims multiples of 32 so that every
// GPTQ packing, 3-bit included, is exercised; GPTQ + NeUQI with per-layer overrides: 8, 4, 3, 2
// and 5 bits, channel-wise and grouped, one layer skipped), and stories260K quantized by RTN +
// NeUQI (skips without ../shared/assets).
// The precompiled header may already hold Qt, whose `slots` macro breaks ATen's headers.
#undef slots
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/demo/synthetic.h"
#include "core/export/exporter.h"
#include "core/export/safetensors_export.h"
#include "core/export/session.h"
#include "core/formats/safetensors.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/pipeline.h"
#include "tests/common/test_util.h"

#include <QDir>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The synthetic model: llama, hidden 64, FFN 128, 2 blocks, 4 heads (2 KV heads), vocab 96, tied.
model::ModelConfig synthetic_config()
{
    model::ModelConfig c;
    c.hidden_size = 64;
    c.intermediate_size = 128;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 16;
    c.vocab_size = 96;
    c.max_position = 256;
    c.tie_word_embeddings = true;
    c.bos_id = 1;
    c.eos_id = 2;
    c.eos_ids = {2};
    return c;
}

// SmolLM2-135M's widths in a one-block model: hidden 576 (9 heads of 64, 3 KV heads), FFN 192.
// In groups of 128, every input width ends in a shorter group: 576 = 4 x 128 + 64, 192 = 128 + 64.
model::ModelConfig wide_config()
{
    model::ModelConfig c = synthetic_config();
    c.hidden_size = 576;
    c.intermediate_size = 192;
    c.num_layers = 1;
    c.num_heads = 9;
    c.num_kv_heads = 3;
    c.head_dim = 64;
    return c;
}

void write_synthetic_model(const std::string& dir, const model::ModelConfig& c = synthetic_config())
{
    fs::create_directories(dir);
    std::ofstream(dir + "/config.json") << model::to_hf_config_json(c);
    std::vector<std::pair<std::string, at::Tensor>> t;
    uint64_t seed = 100;
    auto w = [&](int64_t out, int64_t in) {
        return demo::synthetic_weight(out, in, seed++) * 0.05;
    };
    auto norm = [&](int64_t n) {
        return 1.0 + 0.1 * demo::synthetic_weight(1, n, seed++).reshape({n}).clamp(-2, 2);
    };
    const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
    t.push_back({"model.embed_tokens.weight", w(c.vocab_size, H) * 10});
    for (int64_t l = 0; l < c.num_layers; ++l) {
        auto n = [&](const std::string& p) { return model::block_tensor_name(l, p); };
        t.push_back({n("input_layernorm.weight"), norm(H)});
        t.push_back({n("self_attn.q_proj.weight"), w(Q, H)});
        t.push_back({n("self_attn.k_proj.weight"), w(KV, H)});
        t.push_back({n("self_attn.v_proj.weight"), w(KV, H)});
        t.push_back({n("self_attn.o_proj.weight"), w(H, Q)});
        t.push_back({n("post_attention_layernorm.weight"), norm(H)});
        t.push_back({n("mlp.gate_proj.weight"), w(I, H)});
        t.push_back({n("mlp.up_proj.weight"), w(I, H)});
        t.push_back({n("mlp.down_proj.weight"), w(H, I)});
    }
    t.push_back({"model.norm.weight", norm(H)});
    io::save_safetensors(dir + "/model.safetensors", t);
}

// Deterministic token ids [n, len] below vocab.
at::Tensor token_ids(int64_t n, int64_t len, int64_t vocab)
{
    at::Tensor ids = at::empty({n, len}, at::kLong);
    int64_t* p = ids.data_ptr<int64_t>();
    uint64_t x = 12345;
    for (int64_t i = 0; i < n * len; ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = static_cast<int64_t>((x >> 33) % static_cast<uint64_t>(vocab));
    }
    return ids;
}

// A fresh model holding exactly QuantizedModel::dequantize(layer) for every quantized layer.
std::unique_ptr<model::Model> reference_model(const std::string& path,
                                              const quant::QuantizedModel& qm)
{
    auto m = model::Model::open(path);
    for (const auto& l : qm.layers)
        if (!l.skipped && l.codes.defined())
            m->set_linear(l.block, l.name, quant::QuantizedModel::dequantize(l));
    return m;
}

std::string prefix_of(const quant::LayerResult& l)
{
    const bool attn =
        l.name == "q_proj" || l.name == "k_proj" || l.name == "v_proj" || l.name == "o_proj";
    return model::block_tensor_name(l.block, (attn ? "self_attn." : "mlp.") + l.name);
}

// An independent GPTQ unpacker, written from the format's description: value i of a column sits
// at stream bit i*bits of the column's int32 words (little-endian), possibly straddling two words.
at::Tensor unpack_gptq_ref(const at::Tensor& packed, int bits, int64_t n)
{
    const at::Tensor p = packed.contiguous();
    const int64_t m = p.size(1);
    at::Tensor out = at::zeros({n, m}, at::kInt);
    const int32_t* src = p.data_ptr<int32_t>();
    int32_t* dst = out.data_ptr<int32_t>();
    for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < m; ++c) {
            int32_t v = 0;
            for (int k = 0; k < bits; ++k) {
                const int64_t bit = i * bits + k;
                const uint32_t word = static_cast<uint32_t>(src[(bit / 32) * m + c]);
                v |= static_cast<int32_t>((word >> (bit % 32)) & 1u) << k;
            }
            dst[i * m + c] = v;
        }
    return out;
}

json read_json(const std::string& path)
{
    std::ifstream in(path);
    return json::parse(in);
}

bool has_tmp_sibling(const std::string& dir_path)
{
    const fs::path p(dir_path);
    const std::string stem = "." + p.filename().string() + ".tmp-";
    for (const auto& e : fs::directory_iterator(p.parent_path()))
        if (e.path().filename().string().rfind(stem, 0) == 0)
            return true;
    return false;
}

}  // namespace

class TestSafetensorsExport : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::string synth_dir_;
    std::unique_ptr<model::Model> synth_;
    quant::QuantizedModel synth_qm_;

    std::string path(const std::string& name) const
    {
        return tmp_.path().toStdString() + "/" + name;
    }

    exporter::Report run_export(const model::Model* m, const quant::QuantizedModel& qm,
                                exporter::Format f, const std::string& out,
                                const std::string& dtype = "f16", const std::string& tok = {})
    {
        exporter::Options o;
        o.format = f;
        o.out = out;
        o.dtype = dtype;
        o.tokenizer = tok;
        return exporter::export_quantized(m, qm, o);
    }

    // Runs tests/python/check_safetensors.py on a manifest. "" on success, "SKIP: why", or the
    // script's output on failure.
    QString run_python_check(const std::string& manifest_path)
    {
        return test::run_python_reader(
            QFINDTESTDATA("python/check_safetensors.py"), {QString::fromStdString(manifest_path)},
            "python3 -m pip install safetensors numpy (packaging/setup.sh test does)");
    }

    // Checks 1-3 on one model; returns the three output directories.
    void check_dequantized(const model::Model& m, const quant::QuantizedModel& qm,
                           const std::string& dir, const std::string& dtype)
    {
        const exporter::Report r = run_export(&m, qm, exporter::Format::Safetensors, dir, dtype);
        QVERIFY(fs::exists(dir + "/config.json"));
        QVERIFY(r.bytes > 0);
        const at::ScalarType st = dtype == "bf16" ? at::kBFloat16 : at::kHalf;
        auto back = model::Model::open(dir);
        QCOMPARE(back->format(), std::string("hf"));
        QCOMPARE(back->config().num_layers, m.config().num_layers);
        int64_t checked = 0;
        for (const auto& l : qm.layers) {
            const at::Tensor got = back->block(l.block).linear(l.name);
            const at::Tensor want =
                (!l.skipped && l.codes.defined() ? quant::QuantizedModel::dequantize(l)
                                                 : m.block(l.block).linear(l.name))
                    .to(st)
                    .to(at::kFloat);
            QVERIFY2(at::equal(got, want), qPrintable(QString::fromStdString(prefix_of(l))));
            ++checked;
        }
        QVERIFY(checked > 0);
        // Norms stay float32; the embedding is rounded to the dtype.
        QVERIFY(at::equal(back->final_norm(), m.final_norm()));
        QVERIFY(at::equal(back->embed_tokens(), m.embed_tokens().to(st).to(at::kFloat)));
        // Logits against the in-memory quantized model (W_hat exactly), up to fp16/bf16 rounding.
        auto ref = reference_model(m.path(), qm);
        const at::Tensor ids = token_ids(2, 24, m.config().vocab_size);
        const at::Tensor a = model::model_forward(*ref, ids), b = model::model_forward(*back, ids);
        const double rel = ((a - b).abs().max() / a.abs().max()).item<double>();
        qInfo("%s: max |logit diff| / max |logit| = %.3g", dtype.c_str(), rel);
        QVERIFY2(rel < (dtype == "bf16" ? 5e-2 : 1e-2), qPrintable(QString::number(rel)));
        QVERIFY(rel > 0.0);  // the dtype rounding is real: the test compares two different files
    }

    void check_packed(const model::Model& m, const quant::QuantizedModel& qm,
                      const std::string& dir)
    {
        const exporter::Report r = run_export(&m, qm, exporter::Format::Packed, dir);
        QVERIFY(model::is_packed_checkpoint(dir));
        io::PackedCheckpoint pc = io::load_packed(dir);
        QCOMPARE(pc.qm.layers.size(), qm.layers.size());
        QCOMPARE(pc.qm.config.method, qm.config.method);
        QCOMPARE(pc.qm.config.bits, qm.config.bits);
        QCOMPARE(pc.qm.config.seed, qm.config.seed);
        QCOMPARE(pc.qm.perplexity, qm.perplexity);
        for (size_t i = 0; i < qm.layers.size(); ++i) {
            const auto& a = qm.layers[i];
            const auto& b = pc.qm.layers[i];
            const QString what = QString::fromStdString(prefix_of(a));
            QCOMPARE(b.block, a.block);
            QCOMPARE(b.name, a.name);
            QCOMPARE(b.bits, a.bits);
            QCOMPARE(b.skipped, a.skipped);
            QCOMPARE(b.diag_loss, a.diag_loss);
            QCOMPARE(b.proxy_loss, a.proxy_loss);
            QCOMPARE(b.param_method, a.param_method);
            QVERIFY(b.algorithm == a.algorithm);
            if (a.skipped)
                continue;
            QCOMPARE(b.group_size, a.group_size <= 0 ? a.in_features : a.group_size);
            QVERIFY2(at::equal(b.codes, a.codes.to(at::kByte)), qPrintable(what));
            QVERIFY2(at::equal(b.scale, a.scale.to(at::kFloat)), qPrintable(what));
            QVERIFY2(at::equal(b.zero, a.zero.to(at::kFloat)), qPrintable(what));
            if (a.hessian_diag.defined())
                QVERIFY2(at::equal(b.hessian_diag, a.hessian_diag.to(at::kDouble)),
                         qPrintable(what));
            const at::Tensor w = quant::QuantizedModel::dequantize(a);
            QVERIFY2(at::equal(quant::QuantizedModel::dequantize(b), w), qPrintable(what));
            QVERIFY2(at::equal(pc.model->block(a.block).linear(a.name), w), qPrintable(what));
        }
        // Skipped layers and everything else: the model's float32 weights exactly.
        for (int64_t l = 0; l < m.config().num_layers; ++l) {
            const model::BlockWeights x = m.block(l), y = pc.model->block(l);
            QVERIFY(at::equal(x.input_norm, y.input_norm));
            QVERIFY(at::equal(x.post_norm, y.post_norm));
            for (const auto& n : model::linear_names()) {
                const auto* q = qm.find(l, n);
                if (!q || q->skipped)
                    QVERIFY(at::equal(x.linear(n), y.linear(n)));
            }
        }
        QVERIFY(at::equal(pc.model->embed_tokens(), m.embed_tokens()));
        QVERIFY(at::equal(pc.model->lm_head(), m.lm_head()));
        // Logits: identical, through load_packed and through Model::open (what eval uses).
        auto ref = reference_model(m.path(), qm);
        auto opened = model::Model::open(dir);
        QCOMPARE(opened->format(), std::string("zeropoint-packed"));
        const at::Tensor ids = token_ids(2, 24, m.config().vocab_size);
        const at::Tensor a = model::model_forward(*ref, ids);
        QVERIFY(at::equal(a, model::model_forward(*pc.model, ids)));
        QVERIFY(at::equal(a, model::model_forward(*opened, ids)));
        // The packed file is smaller than the codes unpacked (bit-packed).
        QVERIFY(r.bytes > 0);
    }

    // Returns the manifest layer entries for the python check.
    json check_gptq(const model::Model& m, const quant::QuantizedModel& qm, const std::string& dir,
                    int* packed_layers, int* fallback_layers, bool refit = false)
    {
        exporter::Options opt;
        opt.format = exporter::Format::Gptq;
        opt.out = dir;
        opt.gptq_refit_scale = refit;
        const exporter::Report r = exporter::export_quantized(&m, qm, opt);
        qInfo().noquote() << QString::fromStdString(r.summary);
        json layers = json::array();
        [&] {
            const json cfg = read_json(dir + "/config.json");
            const json& qc = cfg["quantization_config"];
            QCOMPARE(qc["quant_method"].get<std::string>(), std::string("gptq"));
            QCOMPARE(qc["checkpoint_format"].get<std::string>(), std::string("gptq_v2"));
            QCOMPARE(qc["sym"].get<bool>(), false);
            QCOMPARE(qc["desc_act"].get<bool>(), false);
            QVERIFY(read_json(dir + "/quantize_config.json") == qc);
            io::SafetensorsFile f(dir + "/model.safetensors");
            QCOMPARE(r.layers.size(),
                     static_cast<size_t>(std::count_if(qm.layers.begin(), qm.layers.end(),
                                                       [](const auto& l) { return !l.skipped; })));
            for (const auto& l : qm.layers) {
                const std::string p = prefix_of(l);
                const QString what = QString::fromStdString(p);
                if (l.skipped) {
                    QVERIFY2(f.contains(p + ".weight") && !f.contains(p + ".qweight"),
                             qPrintable(what));
                    QVERIFY(qc["dynamic"].contains(
                        "-:^" +
                        std::string(QString::fromStdString(p).replace(".", "\\.").toStdString()) +
                        "$"));
                    continue;
                }
                const io::GptqEncoding e = io::encode_gptq(l, refit);
                const auto line = std::find_if(r.layers.begin(), r.layers.end(),
                                               [&](const auto& x) { return x.tensor == p; });
                QVERIFY2(line != r.layers.end(), qPrintable(what));
                QVERIFY2(line->added_loss >= 0.0, qPrintable(what));
                QCOMPARE(line->diag_loss, l.diag_loss);
                const at::Tensor w_hat = quant::QuantizedModel::dequantize(l);
                const at::Tensor h = l.hessian_diag.defined()
                                         ? l.hessian_diag.to(at::kDouble).reshape({1, -1})
                                         : at::ones({1, l.in_features}, at::kDouble);
                json entry = {{"prefix", p},
                              {"bits", l.bits},
                              {"group", l.group_size <= 0 ? l.in_features : l.group_size},
                              {"rel_error", line->rel_error},
                              {"added_loss", line->added_loss}};
                if (!f.contains(p + ".qweight")) {
                    ++*fallback_layers;
                    QCOMPARE(line->type, std::string("F16"));
                    QVERIFY2(
                        std::any_of(r.warnings.begin(), r.warnings.end(),
                                    [&](const std::string& w) { return w.rfind(p + ":", 0) == 0; }),
                        qPrintable(what));
                    const at::Tensor w = f.tensor(p + ".weight").to(at::kFloat);
                    QVERIFY2(at::equal(w, w_hat.to(at::kHalf).to(at::kFloat)), qPrintable(what));
                    entry["gptq"] = "fallback";
                    layers.push_back(entry);
                    continue;
                }
                ++*packed_layers;
                const int64_t in = l.in_features, out = l.out_features;
                // ceil(in / g) groups: the last one is shorter when g does not divide in.
                const int64_t g = l.group_size <= 0 ? in : l.group_size, G = (in + g - 1) / g;
                QCOMPARE(f.info(p + ".qweight").shape,
                         (std::vector<int64_t>{in * l.bits / 32, out}));
                QCOMPARE(f.info(p + ".qzeros").shape, (std::vector<int64_t>{G, out * l.bits / 32}));
                QCOMPARE(f.info(p + ".scales").dtype, std::string("F16"));
                QCOMPARE(f.info(p + ".scales").shape, (std::vector<int64_t>{G, out}));
                const at::Tensor q =
                    unpack_gptq_ref(f.tensor(p + ".qweight"), l.bits, in);  // [in, out]
                const at::Tensor z =
                    unpack_gptq_ref(f.tensor(p + ".qzeros").t().contiguous(), l.bits, out)
                        .t();                                                 // [G, out]
                const at::Tensor s = f.tensor(p + ".scales").to(at::kFloat);  // [G, out]
                const at::Tensor gi = f.tensor(p + ".g_idx").to(at::kLong);
                QVERIFY(at::equal(gi, at::arange(in, at::kLong).div(g, "floor")));
                // Integer zero-points: the real ones rounded to the nearest level in [0, 2^b - 1].
                // (with the refit: one of the two integer neighbours, clamped).
                const double top = double((1 << l.bits) - 1);
                const at::Tensor zr = l.zero.to(at::kFloat);
                if (!refit)
                    QVERIFY2(at::equal(z.t().to(at::kFloat), zr.round().clamp(0, top)),
                             qPrintable(what));
                else
                    QVERIFY2((z.t().to(at::kFloat).eq(zr.floor().clamp(0, top)) |
                              z.t().to(at::kFloat).eq(zr.ceil().clamp(0, top)))
                                 .all()
                                 .item<bool>(),
                             qPrintable(what));
                // The refit never adds loss over the plain conversion; without it they agree.
                QVERIFY2(line->added_loss <= e.nearest_added_loss * (1 + 1e-12) + 1e-300,
                         qPrintable(what));
                if (!refit)
                    QCOMPARE(line->added_loss, e.nearest_added_loss);
                QVERIFY(q.max().item<int>() <= top && q.min().item<int>() >= 0);
                // w[r, c] = s[c / g, r] * (q[c, r] - z[c / g, r]) in float32.
                const at::Tensor sg = s.index_select(0, gi),
                                 zg = z.index_select(0, gi).to(at::kFloat);
                const at::Tensor w = (sg * (q.to(at::kFloat) - zg)).t().contiguous();
                QVERIFY2(at::equal(w, e.w), qPrintable(what));
                // The codes are the nearest levels for the target W_hat under (s16, z_int).
                const at::Tensor codes_ref =
                    (w_hat / sg.t() + zg.t()).round().clamp(0, top).to(at::kInt);
                QVERIFY2(at::equal(codes_ref, q.t().contiguous()), qPrintable(what));
                const at::Tensor d = w.to(at::kDouble) - w_hat.to(at::kDouble);
                const double added = (d * d * h).sum().item<double>();
                QVERIFY2(std::abs(added - line->added_loss) <= 1e-9 * (1 + added),
                         qPrintable(what));
                QCOMPARE(line->type, "int" + std::to_string(l.bits));
                const std::string exp_path = dir + ".expected." + p + ".f32";
                {
                    std::ofstream o(exp_path, std::ios::binary);
                    o.write(static_cast<const char*>(e.w.data_ptr()), e.w.numel() * 4);
                }
                entry["gptq"] = "packed";
                entry["expected"] = exp_path;
                layers.push_back(entry);
            }
        }();
        return layers;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(tmp_.isValid());
        synth_dir_ = path("synthetic-model");
        write_synthetic_model(synth_dir_);
        synth_ = model::Model::open(synth_dir_);
        pipeline::PipelineOptions o;
        o.method = "gptq-neuqi";
        o.bits = 4;
        o.group_size = 32;
        o.calibration = token_ids(8, 32, synth_->config().vocab_size);
        o.calibration_source = "synthetic ids";
        o.gptq_block = 32;
        o.write_back = false;
        o.overrides["0.q_proj"].bits = 8;
        o.overrides["0.v_proj"].bits = 2;
        o.overrides["*.down_proj"].bits = 3;
        o.overrides["1.o_proj"].group_size = -1;
        o.overrides["1.gate_proj"].bits = 5;
        o.overrides["0.up_proj"].skip = true;
        synth_qm_ = pipeline::quantize_model(*synth_, o);
        synth_qm_.perplexity["synthetic/quantized"] = 123.5;
        QCOMPARE(synth_qm_.layers.size(), size_t(14));
    }

    void synthetic_dequantized_data()
    {
        QTest::addColumn<QString>("dtype");
        QTest::newRow("f16") << "f16";
        QTest::newRow("bf16") << "bf16";
    }
    void synthetic_dequantized()
    {
        QFETCH(QString, dtype);
        check_dequantized(*synth_, synth_qm_, path("synth-st-" + dtype.toStdString()),
                          dtype.toStdString());
    }

    void synthetic_packed_round_trip() { check_packed(*synth_, synth_qm_, path("synth-packed")); }

    void synthetic_gptq_data()
    {
        QTest::addColumn<bool>("refit");
        QTest::newRow("nearest") << false;
        QTest::newRow("refit") << true;
    }
    void synthetic_gptq()
    {
        QFETCH(bool, refit);
        int packed = 0, fallback = 0;
        const std::string dir = path(refit ? "synth-gptq-refit" : "synth-gptq");
        check_gptq(*synth_, synth_qm_, dir, &packed, &fallback, refit);
        if (QTest::currentTestFailed())
            return;
        QCOMPARE(packed, 12);   // 8, 4, 3, 2 bits; grouped and channel-wise
        QCOMPARE(fallback, 1);  // 1.gate_proj at 5 bits
        const json qc = read_json(dir + "/config.json")["quantization_config"];
        QCOMPARE(qc["bits"].get<int>(), 4);
        QCOMPARE(qc["group_size"].get<int>(), 32);
        QVERIFY(qc["dynamic"].contains("+:^model\\.layers\\.0\\.mlp\\.down_proj$"));
        QCOMPARE(qc["dynamic"]["+:^model\\.layers\\.0\\.mlp\\.down_proj$"]["bits"].get<int>(), 3);
        QCOMPARE(
            qc["dynamic"]["+:^model\\.layers\\.1\\.self_attn\\.o_proj$"]["group_size"].get<int>(),
            -1);
        QVERIFY(qc["dynamic"].contains("-:^model\\.layers\\.1\\.mlp\\.gate_proj$"));
        if (refit) {
            double plain = 0.0, fitted = 0.0;
            for (const auto& l : synth_qm_.layers)
                if (!l.skipped) {
                    const io::GptqEncoding e = io::encode_gptq(l, true);
                    plain += e.nearest_added_loss;
                    fitted += e.line.added_loss;
                }
            qInfo("synthetic gptq: added loss nearest-z %.4g, with the scale refit %.4g", plain,
                  fitted);
            QVERIFY(fitted < plain);
        }
    }

    void python_reader()
    {
        // Exports of the synthetic model, read back with the PyPI safetensors package + numpy.
        int packed = 0, fallback = 0;
        const std::string st = path("py-st"), pk = path("py-packed"), gq = path("py-gptq");
        run_export(synth_.get(), synth_qm_, exporter::Format::Safetensors, st);
        run_export(synth_.get(), synth_qm_, exporter::Format::Packed, pk);
        const json layers = check_gptq(*synth_, synth_qm_, gq, &packed, &fallback, true);
        if (QTest::currentTestFailed())
            return;
        json skipped = json::array();
        for (const auto& l : synth_qm_.layers)
            if (l.skipped)
                skipped.push_back(prefix_of(l));
        const json manifest = {{"dequantized", st}, {"packed", pk},     {"gptq", gq},
                               {"dtype", "F16"},    {"layers", layers}, {"skipped", skipped},
                               {"gptq_bits", 4},    {"gptq_group", 32}};
        const std::string mpath = path("manifest.json");
        std::ofstream(mpath) << manifest.dump(2);
        ZP_PYTHON_READER(run_python_check(mpath));
        // The reader can fail: one expected value changed is reported, naming the layer.
        const json& first = layers.at(0);
        QCOMPARE(first["gptq"].get<std::string>(), std::string("packed"));
        {
            std::fstream f(first["expected"].get<std::string>(),
                           std::ios::in | std::ios::out | std::ios::binary);
            float v = 0.0f;
            f.read(reinterpret_cast<char*>(&v), 4);
            v = v * 2.0f + 1.0f;
            f.seekp(0);
            f.write(reinterpret_cast<const char*>(&v), 4);
        }
        const QString bad = run_python_check(mpath);
        QVERIFY2(bad.startsWith("FAIL: ") &&
                     bad.contains(QString::fromStdString(first["prefix"].get<std::string>())),
                 qPrintable(bad));
    }

    void tokenizer_is_copied()
    {
        const std::string tok = path("tokenizer.json");
        std::ofstream(tok) << "{\"model\": {}}";
        const std::string out = path("with-tok");
        const exporter::Report r =
            run_export(synth_.get(), synth_qm_, exporter::Format::Packed, out, "f16", tok);
        QVERIFY(fs::exists(out + "/tokenizer.json"));
        QCOMPARE(r.files.size(), size_t(3));
    }

    void bad_inputs()
    {
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, exporter::format_info("onnx"));
        try {
            exporter::format_info("onnx");
        } catch (const InvalidArgument& e) {
            QVERIFY(std::string(e.what()).find("gptq") != std::string::npos);
        }
        QVERIFY(exporter::format_info("packed").format == exporter::Format::Packed);
        QVERIFY(exporter::format_info("gptq").writes_directory);
        // Missing model.
        QVERIFY_THROWS_EXCEPTION(
            InvalidArgument,
            run_export(nullptr, synth_qm_, exporter::Format::Gptq, path("no-model")));
        QVERIFY(!fs::exists(path("no-model")));
        // Bad dtype.
        QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                                 run_export(synth_.get(), synth_qm_, exporter::Format::Safetensors,
                                            path("bad-dtype"), "f8"));
        QVERIFY(!fs::exists(path("bad-dtype")));
        // The output is an existing file / an unrelated non-empty directory: refused, untouched.
        std::ofstream(path("a-file")) << "keep";
        QVERIFY_THROWS_EXCEPTION(
            InvalidArgument,
            run_export(synth_.get(), synth_qm_, exporter::Format::Packed, path("a-file")));
        QVERIFY(fs::is_regular_file(path("a-file")));
        fs::create_directories(path("precious"));
        std::ofstream(path("precious/notes.txt")) << "keep";
        QVERIFY_THROWS_EXCEPTION(
            InvalidArgument,
            run_export(synth_.get(), synth_qm_, exporter::Format::Packed, path("precious")));
        QVERIFY(fs::exists(path("precious/notes.txt")));
        // A quantized model of another model.
        quant::QuantizedModel wrong = synth_qm_;
        wrong.layers[0].block = 7;
        QVERIFY_THROWS_EXCEPTION(
            InvalidArgument,
            run_export(synth_.get(), wrong, exporter::Format::Safetensors, path("wrong")));
        QVERIFY(!fs::exists(path("wrong")));
        QVERIFY(!has_tmp_sibling(path("wrong")));
        // A previous export is replaced.
        const std::string again = path("again");
        run_export(synth_.get(), synth_qm_, exporter::Format::Packed, again);
        run_export(synth_.get(), synth_qm_, exporter::Format::Safetensors, again);
        QVERIFY(!model::is_packed_checkpoint(again));
        QVERIFY(model::Model::open(again)->format() == "hf");
    }

    void cancel_leaves_nothing_data()
    {
        QTest::addColumn<int>("format");
        QTest::addColumn<int>("after");
        for (auto f :
             {exporter::Format::Safetensors, exporter::Format::Packed, exporter::Format::Gptq})
            for (int after : {0, 2})
                QTest::addRow("%s/after%d", exporter::formats()[int(f)].name, after)
                    << int(f) << after;
    }
    void cancel_leaves_nothing()
    {
        QFETCH(int, format);
        QFETCH(int, after);
        const std::string out =
            path("cancelled-" + std::to_string(format) + "-" + std::to_string(after));
        exporter::Options o;
        o.format = static_cast<exporter::Format>(format);
        o.out = out;
        int calls = 0;
        o.progress = [&](double, double, const std::string&) { return calls++ < after; };
        QVERIFY_THROWS_EXCEPTION(Cancelled, exporter::export_quantized(synth_.get(), synth_qm_, o));
        QVERIFY(calls > 0);
        QVERIFY(!fs::exists(out));
        QVERIFY(!has_tmp_sibling(out));
    }

    void packed_loader_errors()
    {
        const std::string dir = path("broken-packed");
        run_export(synth_.get(), synth_qm_, exporter::Format::Packed, dir);
        json cfg = read_json(dir + "/config.json");
        // A version this build does not know.
        json v = cfg;
        v["quantization_config"]["version"] = 99;
        std::ofstream(dir + "/config.json") << v.dump();
        try {
            io::load_packed(dir);
            QFAIL("version 99 accepted");
        } catch (const FormatError& e) {
            QVERIFY2(std::string(e.what()).find("version") != std::string::npos, e.what());
        }
        // A layer whose codes are missing from the file: FormatError naming the tensor.
        json m = cfg;
        m["quantization_config"]["layers"][0]["bits"] = 7;  // qcodes shape no longer matches
        std::ofstream(dir + "/config.json") << m.dump();
        try {
            io::load_packed(dir);
            QFAIL("wrong bits accepted");
        } catch (const FormatError& e) {
            QVERIFY2(std::string(e.what()).find("model.layers.0.self_attn.q_proj.qcodes") !=
                         std::string::npos,
                     e.what());
        }
    }

    // Every input width ends in a shorter group (576 = 4 x 128 + 64, 192 = 128 + 64): the packed
    // checkpoint reloads bit for bit, the dequantized one within fp16, the GPTQ one packs every
    // layer with ceil(in / 128) groups and g_idx = c / 128 (and warns that vLLM refuses that),
    // and the PyPI safetensors reader decodes all three to the expected weights.
    void partial_groups_wide_model()
    {
        const std::string dir = path("wide-model");
        write_synthetic_model(dir, wide_config());
        auto m = model::Model::open(dir);
        pipeline::PipelineOptions o;
        o.method = "rtn-neuqi";
        o.bits = 4;
        o.group_size = 128;
        o.search.coarse = 16;
        o.search.grid = 256;
        o.write_back = false;
        quant::QuantizedModel qm = pipeline::quantize_model(*m, o);
        QCOMPARE(qm.layers.size(), size_t(7));
        for (const auto& l : qm.layers) {
            QCOMPARE(l.group_size, int64_t(128));
            QCOMPARE(l.scale.size(1), (l.in_features + 127) / 128);
        }
        check_dequantized(*m, qm, path("wide-st"), "f16");
        if (QTest::currentTestFailed())
            return;
        check_packed(*m, qm, path("wide-packed"));
        if (QTest::currentTestFailed())
            return;
        int packed = 0, fallback = 0;
        const json layers = check_gptq(*m, qm, path("wide-gptq"), &packed, &fallback);
        if (QTest::currentTestFailed())
            return;
        QCOMPARE(packed, 7);
        QCOMPARE(fallback, 0);
        const json qc = read_json(path("wide-gptq") + "/config.json")["quantization_config"];
        QCOMPARE(qc["group_size"].get<int>(), 128);
        exporter::Options opt;
        opt.format = exporter::Format::Gptq;
        opt.out = path("wide-gptq-2");
        const exporter::Report r = exporter::export_quantized(m.get(), qm, opt);
        QVERIFY2(std::any_of(r.warnings.begin(), r.warnings.end(),
                             [](const std::string& w) {
                                 return w.find("7 layer(s) end in a shorter group") !=
                                            std::string::npos &&
                                        w.find("vLLM") != std::string::npos;
                             }),
                 "no warning about the shorter last groups");
        run_export(m.get(), qm, exporter::Format::Packed, path("wide-py-packed"));
        const json manifest = {{"dequantized", path("wide-st")},
                               {"packed", path("wide-py-packed")},
                               {"gptq", path("wide-gptq")},
                               {"dtype", "F16"},
                               {"layers", layers},
                               {"skipped", json::array()},
                               {"gptq_bits", 4},
                               {"gptq_group", 128}};
        std::ofstream(path("wide-manifest.json")) << manifest.dump(2);
        ZP_PYTHON_READER(run_python_check(path("wide-manifest.json")));
    }

    void stories260k()
    {
        ZP_REQUIRE_ASSET(mpath, "models/stories260K.bin");
        auto m = model::Model::open(mpath.toStdString());
        pipeline::PipelineOptions o;
        o.method = "rtn-neuqi";
        o.bits = 4;
        o.group_size = 32;
        o.write_back = false;
        o.overrides["*.down_proj"].group_size = -1;  // in_features 172 is not a multiple of 32
        quant::QuantizedModel qm = pipeline::quantize_model(*m, o);
        check_dequantized(*m, qm, path("s260-st"), "f16");
        if (QTest::currentTestFailed())
            return;
        check_packed(*m, qm, path("s260-packed"));
        if (QTest::currentTestFailed())
            return;
        int packed = 0, fallback = 0;
        check_gptq(*m, qm, path("s260-gptq"), &packed, &fallback);
        if (QTest::currentTestFailed())
            return;
        // q/k/v/o (in 64, out 64/32) pack at 4 bits; gate/up (out 172) and down (in 172) cannot.
        QCOMPARE(packed, 4 * int(m->config().num_layers));
        QCOMPARE(fallback, 3 * int(m->config().num_layers));
        const json qc = read_json(path("s260-gptq") + "/config.json")["quantization_config"];
        QCOMPARE(qc["modules_in_block_to_quantize"].size(), size_t(2));
    }

    // zeropoint-cli export --format packed|gptq|safetensors from a session; then `eval` on the
    // packed directory (Model::open recognises it) gives the same perplexity, to the printed
    // digit, as `eval` on the dequantized float32 export (both hold W_hat exactly).
    void cli_export_and_eval()
    {
        if (!session::available())
            QSKIP("built without HDF5: no session files to export from");
        if (test::cli_path().isEmpty())
            QSKIP("ZP_CLI is not set (run through ctest)");
        ZP_REQUIRE_ASSET(mpath, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tok, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        auto m = model::Model::open(mpath.toStdString());
        pipeline::PipelineOptions o;
        o.method = "rtn-neuqi";
        o.bits = 2;
        o.group_size = -1;
        o.write_back = false;
        const quant::QuantizedModel qm = pipeline::quantize_model(*m, o);
        const std::string sess = path("s260.h5");
        session::write_session(qm, sess);
        auto run = [](const QStringList& args, QString* out) {
            QProcess p;
            p.start(test::cli_path(), args);
            if (!p.waitForStarted(10000))
                return -1;
            p.waitForFinished(300000);
            *out = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
            return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
        };
        const QString s = QString::fromStdString(sess);
        const QString packed = QString::fromStdString(path("cli-packed"));
        const QString deq = QString::fromStdString(path("cli-f32"));
        const QString gq = QString::fromStdString(path("cli-gptq"));
        QString out;
        QCOMPARE(run({"export", "--session", s, "--model", mpath, "--tokenizer", tok, "--format",
                      "packed", "--out", packed},
                     &out),
                 0);
        QVERIFY2(out.contains("stored exactly"), qPrintable(out));
        QVERIFY(QFileInfo::exists(packed + "/tok512.bin"));
        QCOMPARE(run({"export", "--session", s, "--model", mpath, "--format", "safetensors",
                      "--dtype", "f32", "--out", deq},
                     &out),
                 0);
        QCOMPARE(run({"export", "--session", s, "--model", mpath, "--format", "gptq", "--out", gq},
                     &out),
                 0);
        QVERIFY2(out.contains("zero-point rounding per layer") &&
                     out.contains("model.layers.0.self_attn.q_proj") &&
                     out.contains("warning: model.layers.0.mlp.down_proj"),
                 qPrintable(out));
        qInfo().noquote() << out;
        // A packed checkpoint stands for session + model: the GPTQ export from it is the same.
        const QString gq2 = QString::fromStdString(path("cli-gptq-from-packed"));
        QCOMPARE(run({"export", "--session", packed, "--format", "gptq", "--out", gq2}, &out), 0);
        auto bytes = [](const QString& f) {
            QFile x(f);
            return x.open(QIODevice::ReadOnly) ? x.readAll() : QByteArray();
        };
        QVERIFY(!bytes(gq + "/model.safetensors").isEmpty());
        QVERIFY(bytes(gq + "/model.safetensors") == bytes(gq2 + "/model.safetensors"));
        QString a, b;
        const QStringList ev = {"--tokenizer", tok,   "--data",        text,
                                "--window",    "128", "--max-windows", "4"};
        QCOMPARE(run(QStringList{"eval", "--model", packed} + ev, &a), 0);
        QCOMPARE(run(QStringList{"eval", "--model", deq} + ev, &b), 0);
        const QRegularExpression re("perplexity ([0-9.]+)");
        const auto ma = re.match(a), mb = re.match(b);
        QVERIFY2(ma.hasMatch() && mb.hasMatch(), qPrintable(a + b));
        QCOMPARE(ma.captured(1), mb.captured(1));
        QVERIFY(ma.captured(1).toDouble() > 1.0);
        // Bad inputs: unknown format, missing model; nothing written.
        QVERIFY(run({"export", "--session", s, "--format", "onnx", "--out", packed + "-x"}, &out) !=
                0);
        QVERIFY2(out.contains("onnx") || out.contains("format"), qPrintable(out));
        QCOMPARE(run({"export", "--session", s, "--format", "gptq", "--out", gq + "-x"}, &out), 1);
        QVERIFY2(out.contains("--model"), qPrintable(out));
        QVERIFY(!QFileInfo::exists(gq + "-x") && !QFileInfo::exists(packed + "-x"));
    }
};

QTEST_GUILESS_MAIN(TestSafetensorsExport)
#include "tst_safetensors_export.moc"
