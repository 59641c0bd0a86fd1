// The architecture of a decoder-only LLM (LLaMA family, Mistral, Qwen2, Qwen3, Gemma 3) as the
// engine needs it, parsed from a Hugging Face config.json, a GGUF file's metadata or a llama2.c
// checkpoint header. What is fixed per family (tensor names, norms, activation) is in
// core/model/architecture.h; what varies between models of a family is here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zp::model {

enum class Architecture { llama, mistral, qwen2, qwen3, gemma3 };

// "llama", "mistral", "qwen2", "qwen3", "gemma3" (architecture(a).name).
const char* architecture_name(Architecture a);
// llama.cpp's general.architecture for it: "llama" (Mistral too), "qwen2", "qwen3", "gemma3".
const char* gguf_architecture(Architecture a);

// RoPE frequency scaling (config.json "rope_scaling"); type none, linear or llama3.
struct RopeScaling {
    std::string type = "none";  // "none", "linear", "llama3"
    double factor = 1.0;
    double low_freq_factor = 1.0;          // llama3 only
    double high_freq_factor = 4.0;         // llama3 only
    int64_t original_max_position = 8192;  // llama3 only
};

struct ModelConfig {
    Architecture arch = Architecture::llama;
    int64_t hidden_size = 0;        // model width (llama2.c dim)
    int64_t intermediate_size = 0;  // FFN width (llama2.c hidden_dim)
    int64_t num_layers = 0;
    int64_t num_heads = 0;
    int64_t num_kv_heads = 0;  // grouped-query attention: num_heads % num_kv_heads == 0
    int64_t head_dim = 0;      // usually hidden_size / num_heads (Qwen3 may differ)
    int64_t vocab_size = 0;
    int64_t max_position = 2048;  // context length the model was trained for
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
    double rms_norm_eps = 1e-6;
    bool tie_word_embeddings = false;  // lm_head shares model.embed_tokens.weight
    bool attention_bias = false;  // q/k/v projections carry biases (Qwen2; llama attention_bias)
    bool o_bias = false;          // o_proj carries a bias (llama attention_bias = true)
    bool qk_norm = false;         // per-head RMSNorm on q and k (Qwen3, Gemma 3)
    // Sliding-window attention: layers attend to at most `sliding_window` positions back (0: every
    // layer attends globally). With swa_pattern > 0 (Gemma 3) every swa_pattern-th layer (1-based)
    // is global and the sliding ones use RoPE base rope_local_theta without scaling; with 0
    // (Mistral) every layer slides, with the model's own RoPE.
    int64_t sliding_window = 0;
    int64_t swa_pattern = 0;
    double rope_local_theta = 10000.0;
    double attn_scale = 0.0;              // softmax scale of q.k; 0: 1 / sqrt(head_dim)
    double attn_logit_softcap = 0.0;      // scores -> cap * tanh(scores / cap) when > 0 (Gemma 2)
    double final_logit_softcap = 0.0;     // logits -> cap * tanh(logits / cap) when > 0 (Gemma 2)
    int64_t bos_id = 1;                   // -1 if none
    int64_t eos_id = 2;                   // -1 if none; the first of eos_ids
    std::vector<int64_t> eos_ids{2};      // every end-of-sequence id (Llama 3 lists several)
    std::string torch_dtype = "float32";  // dtype the checkpoint was saved in (informational)

    int64_t q_dim() const { return num_heads * head_dim; }
    int64_t kv_dim() const { return num_kv_heads * head_dim; }
};

// Parses a Hugging Face config.json (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
// Qwen3ForCausalLM). Throws IoError, or FormatError naming the file and the missing/bad field.
ModelConfig parse_hf_config(const std::string& config_json_path);
// Same from the JSON text; `origin` names the file in error messages.
ModelConfig parse_hf_config_text(const std::string& json_text, const std::string& origin);

// The config.json text (indented) that parse_hf_config reads back to an equal ModelConfig.
std::string to_hf_config_json(const ModelConfig& c);

// The largest rms_norm_eps accepted: real models use 1e-6 .. 1e-5; 1e300 is a damaged file.
constexpr double kMaxRmsNormEps = 0.01;

// Throws FormatError (naming origin and the field) if the sizes cannot describe a model.
void validate_config(const ModelConfig& c, const std::string& origin);

}  // namespace zp::model
