#include "core/model/config.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/common/json_strict.h"
#include "core/common/text.h"
#include "core/model/architecture.h"

namespace zp::model {

using nlohmann::json;

namespace {

struct Reader {
    const json& j;
    const std::string& origin;

    [[noreturn]] void fail(const std::string& field, const std::string& what) const
    {
        throw FormatError(origin + ": field '" + field + "' " + what);
    }

    bool has(const char* f) const { return j.contains(f) && !j[f].is_null(); }

    int64_t required_int(const char* f) const
    {
        if (!has(f))
            fail(f, "is missing");
        return to_int(f, j[f]);
    }

    int64_t optional_int(const char* f, int64_t dflt) const
    {
        return has(f) ? to_int(f, j[f]) : dflt;
    }

    int64_t to_int(const std::string& f, const json& v) const
    {
        if (!v.is_number_integer())
            fail(f, "is not an integer: " + v.dump());
        return v.get<int64_t>();
    }

    double optional_double(const char* f, double dflt) const
    {
        if (!has(f))
            return dflt;
        if (!j[f].is_number())
            fail(f, "is not a number: " + j[f].dump());
        return j[f].get<double>();
    }

    bool optional_bool(const char* f, bool dflt) const
    {
        if (!has(f))
            return dflt;
        if (!j[f].is_boolean())
            fail(f, "is not a boolean: " + j[f].dump());
        return j[f].get<bool>();
    }

    // bos/eos ids may be an integer or a list (several EOS ids).
    std::vector<int64_t> token_ids(const char* f) const
    {
        std::vector<int64_t> ids;
        if (!has(f))
            return ids;
        const json& v = j[f];
        if (v.is_array()) {
            for (const auto& e : v)
                ids.push_back(to_int(f, e));
        } else {
            ids.push_back(to_int(f, v));
        }
        return ids;
    }
};

}  // namespace

void validate_config(const ModelConfig& c, const std::string& origin)
{
    auto bad = [&](const char* field, int64_t v, const std::string& why) {
        throw FormatError(origin + ": field '" + field + "' = " + std::to_string(v) + " " + why);
    };
    if (c.hidden_size <= 0)
        bad("hidden_size", c.hidden_size, "must be positive");
    if (c.intermediate_size <= 0)
        bad("intermediate_size", c.intermediate_size, "must be positive");
    if (c.num_layers <= 0)
        bad("num_hidden_layers", c.num_layers, "must be positive");
    if (c.num_heads <= 0)
        bad("num_attention_heads", c.num_heads, "must be positive");
    if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
        bad("num_key_value_heads", c.num_kv_heads,
            "must be positive and divide num_attention_heads = " + std::to_string(c.num_heads));
    if (c.head_dim <= 0 || c.head_dim % 2 != 0)
        bad("head_dim", c.head_dim, "must be positive and even (RoPE rotates pairs)");
    if (c.vocab_size <= 0)
        bad("vocab_size", c.vocab_size, "must be positive");
    if (c.max_position <= 0)
        bad("max_position_embeddings", c.max_position, "must be positive");
    if (!(c.rms_norm_eps > 0.0) || c.rms_norm_eps > kMaxRmsNormEps) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g", c.rms_norm_eps);
        throw FormatError(origin + ": field 'rms_norm_eps' = " + buf +
                          " must be positive and at most 0.01 (real models use 1e-6 .. 1e-5)");
    }
    if (c.sliding_window < 0)
        bad("sliding_window", c.sliding_window, "must not be negative");
    if (c.swa_pattern < 0)
        bad("sliding_window_pattern", c.swa_pattern, "must not be negative");
    if (!(c.rope_theta > 0.0))
        throw FormatError(origin + ": field 'rope_theta' = " + std::to_string(c.rope_theta) +
                          " must be positive");
}

ModelConfig parse_hf_config_text(const std::string& text, const std::string& origin)
{
    json j;
    try {
        j = parse_json_strict(text, origin);
    } catch (const json::exception& e) {
        throw FormatError(origin + ": not valid JSON: " + e.what());
    }
    if (!j.is_object())
        throw FormatError(origin + ": not a JSON object");
    Reader r{j, origin};
    ModelConfig c;

    if (!r.has("architectures"))
        r.fail("architectures", "is missing");
    const json& archs = j["architectures"];
    if (!archs.is_array() || archs.empty() || !archs[0].is_string())
        r.fail("architectures", "is not a non-empty list of strings: " + archs.dump());
    const std::string arch = archs[0].get<std::string>();
    const ArchitectureInfo* info = find_hf_architecture(arch);
    if (!info)
        r.fail("architectures", "names unsupported architecture '" + arch +
                                    "' (supported: " + supported_hf_classes() + ")");
    c.arch = info->arch;

    // Fields that change the computation must name what this engine computes; accepting and
    // ignoring them would run another model's weights through the wrong network.
    if (r.has("model_type")) {
        const json& mt = j["model_type"];
        const std::string t = mt.is_string() ? mt.get<std::string>() : mt.dump();
        bool known = false;
        std::string names;
        for (const std::string& n : info->model_types) {
            known = known || n == t;
            names += (names.empty() ? "" : ", ") + n;
        }
        if (!known)
            r.fail("model_type", "names model type '" + t + "', which is not " + arch +
                                     "'s (expected " + names + ")");
    }
    for (const char* key : {"hidden_act", "hidden_activation"}) {
        if (!r.has(key))
            continue;
        const json& a = j[key];
        const std::string act = a.is_string() ? a.get<std::string>() : a.dump();
        const bool ok = info->activation == Activation::silu
                            ? act == "silu" || act == "swish"
                            : act == "gelu_pytorch_tanh" || act == "gelu_new" || act == "gelu_fast";
        if (!ok)
            r.fail(key, "names activation '" + act + "', but " + arch + " computes " +
                            (info->activation == Activation::silu
                                 ? "silu (SwiGLU)"
                                 : "the tanh approximation of GELU (gelu_pytorch_tanh)"));
    }

    c.hidden_size = r.required_int("hidden_size");
    c.intermediate_size = r.required_int("intermediate_size");
    c.num_layers = r.required_int("num_hidden_layers");
    c.num_heads = r.required_int("num_attention_heads");
    c.num_kv_heads = r.optional_int("num_key_value_heads", c.num_heads);
    c.vocab_size = r.required_int("vocab_size");
    if (c.num_heads > 0)
        c.head_dim = r.optional_int("head_dim", c.hidden_size / c.num_heads);
    c.max_position = r.optional_int("max_position_embeddings", 2048);
    c.rope_theta = r.optional_double("rope_theta", 10000.0);
    c.rms_norm_eps = r.optional_double("rms_norm_eps", 1e-6);
    // Gemma ties its classifier to the embedding unless told otherwise.
    c.tie_word_embeddings = r.optional_bool("tie_word_embeddings", c.arch == Architecture::gemma3);
    const auto bos = r.token_ids("bos_token_id");
    c.bos_id = bos.empty() ? -1 : bos[0];
    c.eos_ids = r.token_ids("eos_token_id");
    c.eos_id = c.eos_ids.empty() ? -1 : c.eos_ids[0];
    if (r.has("torch_dtype") && j["torch_dtype"].is_string())
        c.torch_dtype = j["torch_dtype"].get<std::string>();

    switch (c.arch) {
        case Architecture::llama:
        case Architecture::mistral:
            c.attention_bias = r.optional_bool("attention_bias", false);
            c.o_bias = c.attention_bias;
            break;
        case Architecture::qwen2:
            // Qwen2 always has q/k/v biases and never an o_proj bias.
            c.attention_bias = true;
            // Its sliding window applies only to some layers when switched on; not computed here.
            if (r.optional_bool("use_sliding_window", false))
                r.fail("use_sliding_window",
                       "is true: Qwen2's per-layer sliding window is not supported");
            break;
        case Architecture::qwen3:
        case Architecture::gemma3:
            c.attention_bias = r.optional_bool("attention_bias", false);
            c.o_bias = c.attention_bias;
            break;
    }
    c.qk_norm = info->qk_norm;
    // Mistral (v0.1) attends within sliding_window positions in every layer (null: globally).
    if (c.arch == Architecture::mistral)
        c.sliding_window = r.optional_int("sliding_window", 0);
    if (c.arch == Architecture::gemma3) {
        c.sliding_window = r.optional_int("sliding_window", 0);
        c.swa_pattern = r.optional_int(
            "sliding_window_pattern", r.optional_int("_sliding_window_pattern", info->swa_pattern));
        c.rope_local_theta = r.optional_double("rope_local_base_freq", info->rope_local_theta);
        const double qs = r.optional_double("query_pre_attn_scalar", 0.0);
        if (r.has("query_pre_attn_scalar") && !(qs > 0.0))
            r.fail("query_pre_attn_scalar",
                   "must be positive: " + j["query_pre_attn_scalar"].dump());
        c.attn_scale = qs > 0.0 ? 1.0 / std::sqrt(qs) : 0.0;
        c.attn_logit_softcap = r.optional_double("attn_logit_softcapping", 0.0);
        c.final_logit_softcap = r.optional_double("final_logit_softcapping", 0.0);
        if (r.has("use_bidirectional_attention") &&
            r.optional_bool("use_bidirectional_attention", false))
            r.fail("use_bidirectional_attention", "is true: only causal decoders are supported");
        // layer_types (newer transformers) spells the pattern out; it must be the one above.
        if (r.has("layer_types")) {
            const json& lt = j["layer_types"];
            if (!lt.is_array() || static_cast<int64_t>(lt.size()) != c.num_layers)
                r.fail("layer_types", "is not a list of num_hidden_layers = " +
                                          std::to_string(c.num_layers) + " names");
            for (int64_t l = 0; l < c.num_layers; ++l) {
                const std::string want =
                    is_sliding_layer(c, l) ? "sliding_attention" : "full_attention";
                if (!lt[l].is_string() || lt[l].get<std::string>() != want)
                    r.fail("layer_types",
                           "[" + std::to_string(l) + "] is " + lt[l].dump() +
                               ", but sliding_window = " + std::to_string(c.sliding_window) +
                               " with every " + std::to_string(c.swa_pattern) +
                               "th layer global implies \"" + want + "\"");
            }
        }
    }

    if (r.has("rope_scaling")) {
        const json& rs = j["rope_scaling"];
        if (!rs.is_object())
            r.fail("rope_scaling", "is not an object: " + rs.dump());
        Reader s{rs, origin};
        std::string type;
        for (const char* key : {"rope_type", "type"})
            if (s.has(key) && rs[key].is_string()) {
                type = rs[key].get<std::string>();
                break;
            }
        if (type == "default" || type.empty()) {
            c.rope_scaling.type = "none";
        } else if (type == "linear" || type == "llama3") {
            c.rope_scaling.type = type;
            if (!s.has("factor"))
                r.fail("rope_scaling.factor", "is missing");
            c.rope_scaling.factor = s.optional_double("factor", 1.0);
            if (!(c.rope_scaling.factor > 0.0))
                r.fail("rope_scaling.factor", "must be positive: " + rs["factor"].dump());
            if (type == "llama3") {
                c.rope_scaling.low_freq_factor = s.optional_double("low_freq_factor", 1.0);
                c.rope_scaling.high_freq_factor = s.optional_double("high_freq_factor", 4.0);
                c.rope_scaling.original_max_position =
                    s.optional_int("original_max_position_embeddings", 8192);
                if (!(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor))
                    r.fail("rope_scaling.high_freq_factor",
                           "must exceed low_freq_factor: " + rs.dump());
            }
        } else {
            r.fail("rope_scaling.rope_type",
                   "names unsupported RoPE scaling '" + type + "' (supported: linear, llama3)");
        }
    }
    validate_config(c, origin);
    return c;
}

ModelConfig parse_hf_config(const std::string& path)
{
    return parse_hf_config_text(read_file(path), path);
}

std::string to_hf_config_json(const ModelConfig& c)
{
    json j;
    const ArchitectureInfo& info = architecture(c.arch);
    j["architectures"] = {info.hf_class};
    j["model_type"] = info.model_types.front();
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_hidden_layers"] = c.num_layers;
    j["num_attention_heads"] = c.num_heads;
    j["num_key_value_heads"] = c.num_kv_heads;
    j["head_dim"] = c.head_dim;
    j["vocab_size"] = c.vocab_size;
    j["max_position_embeddings"] = c.max_position;
    j["rope_theta"] = c.rope_theta;
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    if (info.activation == Activation::silu)
        j["hidden_act"] = "silu";
    else
        j["hidden_activation"] = "gelu_pytorch_tanh";
    if (c.arch != Architecture::qwen2)
        j["attention_bias"] = c.attention_bias;
    if (c.arch == Architecture::mistral && c.sliding_window > 0)
        j["sliding_window"] = c.sliding_window;
    if (c.arch == Architecture::gemma3) {
        j["sliding_window"] = c.sliding_window;
        j["sliding_window_pattern"] = c.swa_pattern;
        j["rope_local_base_freq"] = c.rope_local_theta;
        j["query_pre_attn_scalar"] = 1.0 / (attention_scale(c) * attention_scale(c));
        if (c.attn_logit_softcap > 0.0)
            j["attn_logit_softcapping"] = c.attn_logit_softcap;
        if (c.final_logit_softcap > 0.0)
            j["final_logit_softcapping"] = c.final_logit_softcap;
    }
    if (c.bos_id >= 0)
        j["bos_token_id"] = c.bos_id;
    if (c.eos_ids.size() > 1)
        j["eos_token_id"] = c.eos_ids;
    else if (c.eos_id >= 0)
        j["eos_token_id"] = c.eos_id;
    j["torch_dtype"] = c.torch_dtype;
    if (c.rope_scaling.type == "linear") {
        j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.rope_scaling.factor}};
    } else if (c.rope_scaling.type == "llama3") {
        j["rope_scaling"] = {
            {"rope_type", "llama3"},
            {"factor", c.rope_scaling.factor},
            {"low_freq_factor", c.rope_scaling.low_freq_factor},
            {"high_freq_factor", c.rope_scaling.high_freq_factor},
            {"original_max_position_embeddings", c.rope_scaling.original_max_position}};
    }
    return j.dump(2) + "\n";
}

}  // namespace zp::model
