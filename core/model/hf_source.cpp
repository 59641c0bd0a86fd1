#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/common/json_strict.h"
#include "core/common/text.h"
#include "core/formats/safetensors.h"
#include "core/model/architecture.h"
#include "core/model/weight_source.h"

namespace zp::model {

namespace fs = std::filesystem;

namespace {

class HfSource final : public WeightSource {
public:
    explicit HfSource(const std::string& dir);

    const ModelConfig& config() const override { return config_; }
    const std::string& path() const override { return dir_; }
    const std::string& format() const override { return format_; }
    bool has(const std::string& name) const override { return where_.count(name) != 0; }

    std::vector<int64_t> shape(const std::string& name) const override
    {
        return file(name).info(name).shape;
    }

    at::Tensor load(const std::string& name) const override
    {
        const io::SafetensorsFile& f = file(name);
        const io::SafetensorInfo& info = f.info(name);
        if (info.scalar_type != at::kFloat && info.scalar_type != at::kHalf &&
            info.scalar_type != at::kBFloat16)
            throw FormatError(f.path() + ": tensor '" + name + "' has dtype " + info.dtype +
                              "; model weights must be F32, F16 or BF16");
        at::Tensor t = f.tensor(name);
        t = t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
        // Gemma stores an RMSNorm gain g as g - 1 (architecture.h, hf_norm_offset).
        const double offset = architecture(config_.arch).hf_norm_offset;
        if (offset != 0.0 && is_norm_tensor(config_, name))
            t = t.add(offset);
        return t;
    }

    std::string file_of(const std::string& name) const override
    {
        auto it = where_.find(name);
        return it == where_.end() ? missing_in_ : shards_[it->second]->path();
    }

private:
    const io::SafetensorsFile& file(const std::string& name) const
    {
        auto it = where_.find(name);
        if (it == where_.end())
            throw FormatError(missing_in_ + ": the checkpoint has no tensor '" + name + "'");
        return *shards_[it->second];
    }

    std::string dir_;
    std::string format_ = "hf";
    ModelConfig config_;
    std::vector<std::unique_ptr<io::SafetensorsFile>> shards_;
    std::map<std::string, size_t> where_;  // tensor name -> shard index
    std::string missing_in_;               // names the checkpoint in "tensor missing" errors
};

HfSource::HfSource(const std::string& dir) : dir_(dir)
{
    const fs::path d(dir);
    config_ = parse_hf_config((d / "config.json").string());
    const fs::path single = d / "model.safetensors";
    const fs::path index = d / "model.safetensors.index.json";
    std::error_code ec;
    if (fs::exists(single, ec)) {
        missing_in_ = single.string();
        shards_.push_back(std::make_unique<io::SafetensorsFile>(single.string()));
        for (const auto& n : shards_[0]->names())
            where_[n] = 0;
        check_block_count(shards_[0]->names(), config_.num_layers, (d / "config.json").string(),
                          single.string());
        return;
    }
    if (!fs::exists(index, ec))
        throw IoError(dir + ": neither model.safetensors nor model.safetensors.index.json found");

    missing_in_ = index.string();
    const std::string index_text = read_file(index.string());
    nlohmann::json j;
    try {
        j = parse_json_strict(index_text, index.string());
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(index.string() + ": not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw FormatError(index.string() + ": field 'weight_map' is missing or not an object");
    std::map<std::string, size_t> shard_ids;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it.value().is_string())
            throw FormatError(index.string() + ": weight_map entry '" + it.key() +
                              "' is not a file name: " + it.value().dump());
        const std::string shard = it.value().get<std::string>();
        // A shard name must stay inside the model directory.
        if (shard.empty() || fs::path(shard).is_absolute() || shard.find("..") != std::string::npos)
            throw FormatError(index.string() + ": weight_map entry '" + it.key() +
                              "' names an invalid shard file '" + shard + "'");
        auto s = shard_ids.find(shard);
        if (s == shard_ids.end()) {
            s = shard_ids.emplace(shard, shards_.size()).first;
            shards_.push_back(std::make_unique<io::SafetensorsFile>((d / shard).string()));
        }
        if (!shards_[s->second]->contains(it.key()))
            throw FormatError(shards_[s->second]->path() + ": has no tensor '" + it.key() +
                              "' although " + index.filename().string() + " maps it there");
        where_[it.key()] = s->second;
    }
    std::vector<std::string> names;
    for (const auto& [n, shard] : where_)
        names.push_back(n);
    check_block_count(names, config_.num_layers, (d / "config.json").string(), index.string());
}

}  // namespace

void check_block_count(const std::vector<std::string>& tensor_names, int64_t num_layers,
                       const std::string& config_path, const std::string& checkpoint)
{
    for (const std::string& n : tensor_names) {
        int64_t block = -1;
        if (!split_block_tensor_name(n, &block, nullptr))
            continue;
        if (block >= num_layers)
            throw FormatError(config_path + ": field 'num_hidden_layers' = " +
                              std::to_string(num_layers) + ", but " + checkpoint +
                              " holds tensors of block " + std::to_string(block) + " ('" + n +
                              "'): the config is wrong for these weights (layers would be "
                              "dropped)");
    }
}

std::unique_ptr<WeightSource> open_hf_source(const std::string& dir)
{
    return std::make_unique<HfSource>(dir);
}

}  // namespace zp::model
