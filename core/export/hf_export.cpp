#include "core/export/hf_export.h"

#include <filesystem>
#include <vector>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/formats/safetensors.h"
#include "core/model/config.h"

namespace zp::exporter {

namespace fs = std::filesystem;

void export_hf(const model::Model& model, const std::string& dir, at::ScalarType dtype,
               const ProgressFn& progress)
{
    using model::block_parts;
    using model::block_tensor_name;
    using model::BlockPart;
    if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16)
        throw InvalidArgument(dir + ": export dtype must be float32, float16 or bfloat16");
    // Both files are written into a temporary sibling folder renamed onto `dir` at the end: a
    // failure (a NaN weight, a full disk, a cancel) leaves neither file behind.
    {
        const fs::path parent = fs::path(dir).lexically_normal().parent_path();
        std::error_code ec;
        if (!parent.empty())
            fs::create_directories(parent, ec);  // as before: missing parents are created
        if (ec)
            throw IoError(dir + ": cannot create its parent directory: " + ec.message());
    }
    AtomicDir tmp(dir, "convert");
    const model::ModelConfig& c = model.config();
    // Norm gains stay float32 (as the GGUF export does): they are tiny and precision-sensitive.
    auto type_of = [&](const std::string& name) {
        return name.find("norm") != std::string::npos ? at::kFloat : dtype;
    };

    // Streamed: the header is known from the config alone, then one block at a time is fetched
    // and written, so exporting needs no more memory than loading.
    const fs::path d(tmp.path());
    io::SafetensorsWriter out((d / "model.safetensors").string());
    auto plan = [&](const std::string& name, std::vector<int64_t> shape) {
        out.plan(name, type_of(name), std::move(shape));
    };
    plan("model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
    for (int64_t l = 0; l < c.num_layers; ++l)
        for (const BlockPart& p : block_parts(c))
            if (auto shape = model::part_shape(c, p.name))
                plan(block_tensor_name(l, p.name), *shape);
    plan("model.norm.weight", {c.hidden_size});
    if (!c.tie_word_embeddings)
        plan("lm_head.weight", {c.vocab_size, c.hidden_size});
    out.open({{"format", "pt"}});
    // Gemma's checkpoints store an RMSNorm gain g as g - 1 (model/architecture.h).
    const double norm_offset = model::architecture(c.arch).hf_norm_offset;
    auto put = [&](const std::string& name, const at::Tensor& t) {
        const at::Tensor v =
            norm_offset != 0.0 && model::is_norm_tensor(c, name) ? t.sub(norm_offset) : t;
        out.put(name, v.to(at::kCPU, type_of(name)).contiguous());
    };
    put("model.embed_tokens.weight", model.embed_tokens());
    for (int64_t l = 0; l < c.num_layers; ++l) {
        report_progress(
            progress, static_cast<double>(l), static_cast<double>(c.num_layers),
            "export block " + std::to_string(l + 1) + "/" + std::to_string(c.num_layers));
        const model::BlockWeights w = model.block(l);
        for (const BlockPart& p : block_parts(c))
            if (model::part_shape(c, p.name))
                put(block_tensor_name(l, p.name), w.*p.member);
    }
    put("model.norm.weight", model.final_norm());
    if (!c.tie_word_embeddings)
        put("lm_head.weight", model.lm_head());
    out.commit();

    model::ModelConfig cfg = c;
    cfg.torch_dtype = dtype == at::kFloat ? "float32" : dtype == at::kHalf ? "float16" : "bfloat16";
    const std::string json = model::to_hf_config_json(cfg);
    AtomicFile cfg_file((d / "config.json").string());
    cfg_file.write(json.data(), json.size());
    cfg_file.commit();
    tmp.commit();
    report_progress(progress, static_cast<double>(c.num_layers), static_cast<double>(c.num_layers),
                    "export done");
}

}  // namespace zp::exporter
