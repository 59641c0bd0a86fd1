// The architecture table (core/model/architecture.h) and what Gemma 3 adds to the engine, on a
// tiny Gemma 3 written in Hugging Face's layout here: config.json as transformers writes it,
// norm gains stored as gain - 1, the sliding-window layers' mask in the forward with and without a
// KV cache. The real model is checked against llama.cpp in python/gemma3_input_llamacpp.
#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <fstream>
#include <set>
#include <string>

#include "core/common/error.h"
#include "core/export/hf_export.h"
#include "core/formats/safetensors.h"
#include "core/model/architecture.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "tests/common/expect_error.h"

using namespace zp;

namespace {

// A Gemma 3 text model of 4 layers: width 16, 2 query heads and 1 KV head of 8, FFN 32, window 4,
// every 2nd layer global (so layers 0 and 2 slide, 1 and 3 do not).
const char* kConfig = R"({
  "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text",
  "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 4,
  "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "vocab_size": 40,
  "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
  "rope_local_base_freq": 10000.0, "sliding_window": 4, "sliding_window_pattern": 2,
  "query_pre_attn_scalar": 16, "hidden_activation": "gelu_pytorch_tanh",
  "attn_logit_softcapping": null, "final_logit_softcapping": null, "rope_scaling": null,
  "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
  "bos_token_id": 2, "eos_token_id": 1, "torch_dtype": "float32"
})";

void write_text(const std::string& path, const std::string& text)
{
    std::ofstream(path) << text;
}

// Random weights under HF names; norms as HF stores them (gain - 1, small values around 0).
std::vector<std::pair<std::string, at::Tensor>> gemma_tensors(const model::ModelConfig& c)
{
    at::manual_seed(7);
    std::vector<std::pair<std::string, at::Tensor>> t;
    t.emplace_back("model.embed_tokens.weight", at::randn({c.vocab_size, c.hidden_size}));
    t.emplace_back("model.norm.weight", at::randn({c.hidden_size}) * 0.1);
    for (int64_t l = 0; l < c.num_layers; ++l)
        for (const model::BlockPart& p : model::block_parts(c))
            if (auto shape = model::part_shape(c, p.name)) {
                const bool norm =
                    p.kind == model::PartKind::norm || p.kind == model::PartKind::head_norm;
                at::Tensor v = at::randn(*shape) * (norm ? 0.1 : 0.3);
                t.emplace_back(model::block_tensor_name(l, p.name), v);
            }
    return t;
}

}  // namespace

class TestArchitecture : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void table_is_consistent()
    {
        std::set<std::string> classes;
        for (const model::ArchitectureInfo& a : model::architectures()) {
            QVERIFY(classes.insert(a.hf_class).second);
            QCOMPARE(model::find_hf_architecture(a.hf_class), &a);
            QVERIFY(!a.model_types.empty());
            std::set<std::string> hf, gguf;
            for (const model::BlockPart& p : a.parts) {
                QVERIFY2(hf.insert(p.name).second, p.name);
                QVERIFY2(gguf.insert(p.gguf).second, p.gguf);
            }
            QCOMPARE(a.groups.size(), size_t(4));
        }
        // Mistral files say "llama" in GGUF: that name must find LLaMA.
        QCOMPARE(model::find_gguf_architecture("llama")->arch, model::Architecture::llama);
        QCOMPARE(model::find_gguf_architecture("gemma3")->arch, model::Architecture::gemma3);
        QVERIFY(model::find_gguf_architecture("gemma2") == nullptr);
        QVERIFY(model::find_hf_architecture("Gemma2ForCausalLM") == nullptr);
        // HF calls the pre-MLP norm post_attention_layernorm in LLaMA and pre_feedforward_layernorm
        // in Gemma, where post_attention_layernorm normalizes o_proj's output.
        model::ModelConfig llama, gemma;
        llama.hidden_size = gemma.hidden_size = 16;
        gemma.arch = model::Architecture::gemma3;
        QCOMPARE(model::find_block_part(llama, "post_attention_layernorm.weight")->member,
                 &model::BlockWeights::post_norm);
        QCOMPARE(model::find_block_part(gemma, "post_attention_layernorm.weight")->member,
                 &model::BlockWeights::attn_out_norm);
        QCOMPARE(model::find_block_part(gemma, "pre_feedforward_layernorm.weight")->member,
                 &model::BlockWeights::post_norm);
        QVERIFY(!model::part_shape(llama, "post_feedforward_layernorm.weight"));
        QCOMPARE(*model::part_shape(gemma, "post_feedforward_layernorm.weight"),
                 std::vector<int64_t>{16});
        QCOMPARE(std::string(model::input_group("up_proj").input), std::string("gate_proj"));
        QCOMPARE(model::group_order("down_proj"), 3);
    }

    void gemma3_config_parsed()
    {
        const model::ModelConfig c = model::parse_hf_config_text(kConfig, "config.json");
        QCOMPARE(c.arch, model::Architecture::gemma3);
        QVERIFY(c.qk_norm);
        QVERIFY(c.tie_word_embeddings);  // Gemma's default
        QCOMPARE(c.sliding_window, int64_t(4));
        QCOMPARE(c.swa_pattern, int64_t(2));
        QCOMPARE(c.rope_local_theta, 10000.0);
        QCOMPARE(model::attention_scale(c), 0.25);  // query_pre_attn_scalar 16, not head_dim 8
        QVERIFY(model::is_sliding_layer(c, 0));
        QVERIFY(!model::is_sliding_layer(c, 1));
        QVERIFY(model::is_sliding_layer(c, 2));
        // The config written back reads as the same model.
        const model::ModelConfig back =
            model::parse_hf_config_text(model::to_hf_config_json(c), "back");
        QCOMPARE(back.sliding_window, c.sliding_window);
        QCOMPARE(back.swa_pattern, c.swa_pattern);
        QCOMPARE(model::attention_scale(back), model::attention_scale(c));
    }

    // Mistral v0.1 slides in every layer with the model's own RoPE; a null window is global.
    void mistral_sliding_window()
    {
        const std::string base = R"({"architectures": ["MistralForCausalLM"], "model_type":
            "mistral", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 40,
            "rope_theta": 10000.0, "sliding_window": WINDOW})";
        auto with = [&](const std::string& w) {
            std::string t = base;
            t.replace(t.find("WINDOW"), 6, w);
            return model::parse_hf_config_text(t, "config.json");
        };
        const model::ModelConfig c = with("4");
        QCOMPARE(c.sliding_window, int64_t(4));
        QVERIFY(model::is_sliding_layer(c, 0) && model::is_sliding_layer(c, 1));
        QCOMPARE(model::parse_hf_config_text(model::to_hf_config_json(c), "b").sliding_window,
                 int64_t(4));
        QVERIFY(!model::is_sliding_layer(with("null"), 0));
        // The window's mask: with T = 10 and window 4, position 0 reaches position 3, not 4.
        at::manual_seed(3);
        model::BlockWeights w;
        w.input_norm = at::ones({16});
        w.post_norm = at::ones({16});
        w.q = at::randn({16, 16}) * 0.3;
        w.k = at::randn({8, 16}) * 0.3;
        w.v = at::randn({8, 16}) * 0.3;
        w.o = at::randn({16, 16}) * 0.3;
        w.gate = at::randn({32, 16}) * 0.3;
        w.up = at::randn({32, 16}) * 0.3;
        w.down = at::randn({16, 32}) * 0.3;
        at::Tensor h = at::randn({1, 10, 16});
        at::Tensor h2 = h.clone();
        h2.select(1, 0).add_(1.0);
        const at::Tensor moved =
            (model::block_forward(c, w, h) - model::block_forward(c, w, h2)).abs().amax({0, 2});
        QVERIFY(moved[3].item<float>() > 0.0f);
        QCOMPARE(moved[4].item<float>(), 0.0f);
    }

    void gemma3_config_refusals()
    {
        std::string bad = kConfig;
        bad.replace(bad.find("\"full_attention\", \"sliding"), 16, "\"sliding_attention\"");
        test::expect_error<FormatError>([&] { model::parse_hf_config_text(bad, "c.json"); },
                                        "c.json", {"'layer_types'", "full_attention"});
        std::string act = kConfig;
        act.replace(act.find("gelu_pytorch_tanh"), 17, "silu");
        test::expect_error<FormatError>([&] { model::parse_hf_config_text(act, "c.json"); },
                                        "c.json",
                                        {"'hidden_activation'", "'silu'", "Gemma3ForCausalLM"});
    }

    // HF stores Gemma's norm gains as gain - 1: the reader adds 1, the writer takes it off.
    void gemma3_norms_stored_minus_one()
    {
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        write_text(d + "/config.json", kConfig);
        const model::ModelConfig c = model::parse_hf_config_text(kConfig, "config.json");
        const auto tensors = gemma_tensors(c);
        io::save_safetensors(d + "/model.safetensors", tensors);
        auto m = model::Model::open(d);
        const model::BlockWeights b = m->block(1);
        for (const auto& [name, stored] : tensors) {
            int64_t block = -1;
            std::string part;
            if (name == "model.norm.weight") {
                QVERIFY(at::equal(m->final_norm(), stored + 1.0));
                continue;
            }
            if (!model::split_block_tensor_name(name, &block, &part) || block != 1)
                continue;
            const model::BlockPart* p = model::find_block_part(c, part);
            QVERIFY2(p, part.c_str());
            const bool norm =
                p->kind == model::PartKind::norm || p->kind == model::PartKind::head_norm;
            QVERIFY2(at::equal(b.*p->member, norm ? stored + 1.0 : stored), name.c_str());
        }
        QVERIFY(b.attn_out_norm.defined() && b.mlp_out_norm.defined() && b.q_norm.defined());
        QVERIFY(!b.q_bias.defined());
        // Written back: the stored values again (gain - 1), not the gains.
        exporter::export_hf(*m, d + "/out");
        io::SafetensorsFile back(d + "/out/model.safetensors");
        for (const auto& [name, stored] : tensors)
            QVERIFY2(at::allclose(back.tensor(name), stored, 0, 1e-6), name.c_str());
    }

    // A sliding layer (window 4) sees at most the last 4 positions; a global layer all of them;
    // the KV cache path (one token at a time, longer than the window) computes the same.
    void sliding_window_mask()
    {
        const model::ModelConfig c = model::parse_hf_config_text(kConfig, "config.json");
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        write_text(d + "/config.json", kConfig);
        io::save_safetensors(d + "/model.safetensors", gemma_tensors(c));
        auto m = model::Model::open(d);
        const int64_t T = 10;
        at::Tensor h = at::randn({1, T, c.hidden_size});
        at::Tensor h2 = h.clone();
        h2.select(1, 0).add_(1.0);  // change position 0 only
        for (int64_t layer : {0, 1}) {
            const model::BlockWeights w = m->block(layer);
            const at::Tensor a = model::block_forward(c, w, h, 0, nullptr, {}, nullptr, layer);
            const at::Tensor b = model::block_forward(c, w, h2, 0, nullptr, {}, nullptr, layer);
            const at::Tensor moved = (a - b).abs().amax({0, 2});  // [T]
            for (int64_t t = 1; t < T; ++t) {
                const bool sees_0 = layer == 1 || t < c.sliding_window;
                const float v = moved[t].item<float>();
                QVERIFY2(sees_0 ? v > 0.0f : v == 0.0f,
                         qPrintable(
                             QString("layer %1 position %2: change %3").arg(layer).arg(t).arg(v)));
            }
        }
        // Whole sequence at once against the cache path, 12 tokens > window.
        const std::vector<int32_t> ids = {2, 5, 9, 13, 17, 21, 25, 29, 33, 37, 3, 7};
        at::Tensor x = at::empty({1, static_cast<int64_t>(ids.size())}, at::kLong);
        for (size_t i = 0; i < ids.size(); ++i)
            x[0][static_cast<int64_t>(i)] = ids[i];
        const at::Tensor full = model::model_forward(*m, x);  // [1, T, V]
        model::Generator g(*m);
        for (size_t i = 0; i < ids.size(); ++i) {
            const at::Tensor step = g.feed({ids[i]});
            const double diff =
                (step - full[0][static_cast<int64_t>(i)]).abs().max().item<double>();
            QVERIFY2(diff < 1e-4, qPrintable(QString("position %1: %2").arg(i).arg(diff)));
        }
    }
};

QTEST_APPLESS_MAIN(TestArchitecture)
#include "tst_architecture.moc"
