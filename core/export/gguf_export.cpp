#include "core/export/gguf_export.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/common/text.h"
#include "core/formats/gguf_blocks.h"
#include "core/quant/gguf_presets.h"
#include "core/quant/kquant_search.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::gguf {

namespace {

namespace fs = std::filesystem;

// HF rotate_half rows -> interleaved pairs, per head: new row 2i = old i, new 2i+1 = old i + hd/2.
at::Tensor llama_permutation(int64_t n_head, int64_t head_dim)
{
    at::Tensor idx = at::empty({n_head * head_dim}, at::kLong);
    int64_t* p = idx.data_ptr<int64_t>();
    for (int64_t h = 0; h < n_head; ++h)
        for (int64_t i = 0; i < head_dim / 2; ++i) {
            p[h * head_dim + 2 * i] = h * head_dim + i;
            p[h * head_dim + 2 * i + 1] = h * head_dim + i + head_dim / 2;
        }
    return idx;
}

uint32_t file_type_for(const std::map<TensorType, int64_t>& counts)
{
    // llama_ftype of the most common linear type: ALL_F32 0, MOSTLY_F16 1, Q4_1 3, Q8_0 7, Q5_1 9.
    TensorType best = TensorType::F16;
    int64_t n = -1;
    for (const auto& [t, c] : counts)
        if (c > n) {
            best = t;
            n = c;
        }
    switch (best) {
        case TensorType::F32:
            return 0;
        case TensorType::Q4_1:
            return 3;
        case TensorType::Q8_0:
            return 7;
        case TensorType::Q5_1:
            return 9;
        case TensorType::BF16:
            return 32;
        default:
            return 1;
    }
}

// The block type encode_linear stores a layer of `bits` with rows of `cols` and this group size
// (<= 0: channel-wise) as; note receives why when that is the F16 fallback (else is cleared).
TensorType planned_linear_type(int bits, int64_t cols, int64_t group_size, std::string* note)
{
    const int64_t g = group_size <= 0 || group_size > cols ? cols : group_size;
    const TensorType want = affine_type_for_bits(bits);
    note->clear();
    if (want == TensorType::Q8_0 ? cols % kBlock != 0 : !blocks_fit(cols, g)) {
        // llama.cpp's blocks are 32 wide and each carries one (d, m): every group, the short last
        // one included, must be a whole number of blocks.
        const int64_t tail = cols % g;
        if (cols % kBlock != 0 && want != TensorType::Q8_0 && tail != 0 && g % kBlock == 0)
            *note = "last group of " + std::to_string(tail) + " columns (" + std::to_string(cols) +
                    " = " + std::to_string(cols / g) + " x " + std::to_string(g) + " + " +
                    std::to_string(tail) + ") is not a whole number of 32-wide blocks";
        else if (cols % kBlock != 0)
            *note = "row length " + std::to_string(cols) + " is not a multiple of 32";
        else
            *note = "group size " + std::to_string(g) +
                    " is not a multiple of 32 (a 32-wide block holds one (d, m))";
        *note += ": stored F16";
        return TensorType::F16;
    }
    return want;
}

std::vector<uint64_t> ne_of(const at::Tensor& t)
{
    std::vector<uint64_t> ne;
    for (int64_t d = t.dim() - 1; d >= 0; --d)
        ne.push_back(static_cast<uint64_t>(t.size(d)));
    return ne;
}

struct Sink {
    Writer& w;
    ExportReport& report;
    void add(const std::string& name, const at::Tensor& t2d, TensorType type,
             std::vector<uint8_t> data, int64_t codes_changed = 0, double rel = 0.0,
             const std::string& note = {})
    {
        std::vector<uint64_t> ne;
        for (int64_t d = t2d.dim() - 1; d >= 0; --d)
            ne.push_back(static_cast<uint64_t>(t2d.size(d)));
        report.tensors.push_back({name, type, ne, codes_changed, rel, 0.0, note});
        w.add_tensor(name, ne, type, std::move(data));
    }
    void add_f32(const std::string& name, const at::Tensor& t)
    {
        if (t.defined())
            add(name, t, TensorType::F32, encode_float(t, TensorType::F32));
    }
    // A tensor encoded while the file is written: produce(summary) returns the bytes and fills in
    // the summary's figures (codes_changed, rel_error, added_loss).
    void add_lazy(const std::string& name, std::vector<uint64_t> ne, TensorType type,
                  std::function<std::vector<uint8_t>(TensorSummary&)> produce,
                  const std::string& note = {})
    {
        const size_t index = report.tensors.size();
        report.tensors.push_back({name, type, ne, 0, 0.0, 0.0, note});
        ExportReport* r = &report;
        w.add_tensor(name, std::move(ne), type,
                     TensorProducer([r, index, produce = std::move(produce)]() {
                         return produce(r->tensors[index]);
                     }));
    }
};

bool is_byte_piece(const std::string& p)
{
    return p.size() == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>' &&
           std::isxdigit(static_cast<unsigned char>(p[3])) &&
           std::isxdigit(static_cast<unsigned char>(p[4]));
}

std::vector<float> read_llama2c_scores(const std::string& path, int32_t n)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError("cannot open llama2.c tokenizer '" + path + "'");
    int32_t max_len = 0;
    in.read(reinterpret_cast<char*>(&max_len), 4);
    std::vector<float> scores;
    for (int32_t i = 0; i < n; ++i) {
        float s = 0.0f;
        int32_t len = 0;
        in.read(reinterpret_cast<char*>(&s), 4);
        in.read(reinterpret_cast<char*>(&len), 4);
        if (!in || len < 0)
            throw FormatError(path + ": token " + std::to_string(i) + ": truncated score/length");
        in.seekg(len, std::ios::cur);
        scores.push_back(s);
    }
    return scores;
}

}  // namespace

std::string linear_tensor_name(int64_t block, const std::string& n)
{
    return preset_linear_name(block, n);
}

void install_gguf_weights(model::Model& m, const quant::QuantizedModel& qm)
{
    for (const quant::LayerResult& l : qm.layers) {
        if (l.skipped || !l.codes.defined())
            continue;
        if (l.encoded.defined())
            m.set_encoded_linear(l.block, l.name, l.encoding, l.encoded);
        else
            m.set_linear(l.block, l.name, encode_linear(l).w_hat);
    }
    quant::install_float_parts(m, qm);
}

LinearEncoding encode_linear(const quant::LayerResult& layer)
{
    const std::string where = "block " + std::to_string(layer.block) + " " + layer.name;
    if (layer.skipped || !layer.codes.defined())
        throw InvalidArgument("GGUF export: " + where + " holds no quantized weights");
    const at::Tensor base = quant::QuantizedModel::dequantize(layer).to(at::kFloat).contiguous();
    const int64_t cols = base.size(1);
    const int64_t g = layer.group_size <= 0 || layer.group_size > cols ? cols : layer.group_size;
    LinearEncoding e;
    const TensorType want = affine_type_for_bits(layer.bits);
    e.type = planned_linear_type(layer.bits, cols, layer.group_size, &e.note);
    if (e.type == TensorType::F16) {
        e.data = encode_float(base, TensorType::F16);
        e.w_hat = base.to(at::kHalf).to(at::kFloat);
    } else if (want == TensorType::Q8_0) {
        e.data = quantize_q8_0(base, &e.w_hat);
        e.note = std::to_string(layer.bits) + "-bit zero-point re-quantized to symmetric Q8_0";
    } else {
        AffineBlocks a = snap_affine(base, layer.scale, layer.zero, layer.bits, g);
        e.data = pack_affine(a, want);
        e.w_hat = a.w_hat;
        e.codes_changed = (a.codes != layer.codes.to(at::kByte)).sum().item<int64_t>();
    }
    e.rel_error = quant::relative_error(e.w_hat, base);
    e.added_loss = quant::weighted_loss(e.w_hat, base, layer);
    return e;
}

std::vector<std::string> add_tokenizer_metadata(Writer& w, const std::string& tokenizer_path,
                                                int64_t model_vocab)
{
    std::vector<std::string> warnings;
    std::string file = tokenizer_path;
    std::error_code ec;
    if (fs::is_directory(tokenizer_path, ec)) {
        file.clear();
        for (const char* n : {"tokenizer.json", "tokenizer.model", "tokenizer.bin"})
            if (fs::is_regular_file(fs::path(tokenizer_path) / n, ec)) {
                file = (fs::path(tokenizer_path) / n).string();
                break;
            }
        if (file.empty())
            throw IoError("no tokenizer.json, tokenizer.model or tokenizer.bin in '" +
                          tokenizer_path + "'");
    }
    auto ends = [&](const char* suf) {
        const size_t n = std::strlen(suf);
        return file.size() >= n && file.compare(file.size() - n, n, suf) == 0;
    };
    {
        // A GGUF file (a llama.cpp model opened as input, or an earlier export) is its own
        // tokenizer: its tokenizer.ggml.* metadata is copied as it is.
        char magic[4] = {};
        std::ifstream in(file, std::ios::binary);
        if (in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0) {
            const File src = read(file);
            const Value* toks = src.find("tokenizer.ggml.tokens");
            if (!toks)
                throw FormatError(file + ": no tokenizer.ggml.tokens (not a model GGUF)");
            if (static_cast<int64_t>(toks->as.size()) != model_vocab)
                throw FormatError(file + ": tokenizer.ggml.tokens has " +
                                  std::to_string(toks->as.size()) + " tokens, the model " +
                                  std::to_string(model_vocab));
            for (const auto& [key, value] : src.kv)
                if (key.rfind("tokenizer.ggml.", 0) == 0)
                    w.set(key, value);
            return warnings;
        }
    }
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
    std::vector<std::string> merges;
    std::string model_kind = "llama";
    int64_t bos = -1, eos = -1, unk = -1, pad = -1;
    bool add_bos = true;

    if (ends(".model")) {
        const auto vocab = tok::read_sentencepiece_vocab(file);
        for (size_t i = 0; i < vocab.size(); ++i) {
            const auto& e = vocab[i];
            tokens.push_back(e.piece);
            scores.push_back(e.score);
            switch (e.kind) {
                case tok::SentencePieceEntry::Kind::normal:
                    types.push_back(1);
                    break;
                case tok::SentencePieceEntry::Kind::unknown:
                    types.push_back(2);
                    unk = unk < 0 ? static_cast<int64_t>(i) : unk;
                    break;
                case tok::SentencePieceEntry::Kind::control:
                    types.push_back(3);
                    break;
                case tok::SentencePieceEntry::Kind::unused:
                    types.push_back(5);
                    break;
                case tok::SentencePieceEntry::Kind::byte:
                    types.push_back(6);
                    break;
            }
        }
        auto t = tok::load_tokenizer(file);
        bos = t->bos_id();
        eos = t->eos_id();
    } else if (ends(".json")) {
        auto t = tok::load_hf_tokenizer(file);
        const nlohmann::json j = nlohmann::json::parse(read_file(file), nullptr, false);
        if (j.is_discarded() || !j.contains("model"))
            throw FormatError(file + ": model: not a tokenizer.json");
        const auto& m = j["model"];
        const bool byte_fallback = m.value("byte_fallback", false);
        std::set<int64_t> special, added;
        if (j.contains("added_tokens") && j["added_tokens"].is_array())
            for (const auto& a : j["added_tokens"]) {
                const int64_t id = a.value("id", -1);
                added.insert(id);
                if (a.value("special", false))
                    special.insert(id);
            }
        for (int32_t id = 0; id < t->vocab_size(); ++id) {
            tokens.push_back(t->piece(id));
            scores.push_back(byte_fallback ? -static_cast<float>(id) : 0.0f);
            if (special.count(id))
                types.push_back(3);
            else if (added.count(id))
                types.push_back(4);
            else if (byte_fallback && is_byte_piece(tokens.back()))
                types.push_back(6);
            else
                types.push_back(1);
            if (tokens.back() == "<unk>")
                unk = id;
        }
        if (byte_fallback) {
            model_kind = "llama";
            warnings.push_back("tokenizer " + file +
                               ": SentencePiece-style BPE from tokenizer.json: scores written as "
                               "-id (merge rank order)");
        } else {
            model_kind = "gpt2";
            add_bos = false;
            if (m.contains("merges") && m["merges"].is_array())
                for (const auto& mg : m["merges"]) {
                    if (mg.is_string())
                        merges.push_back(mg.get<std::string>());
                    else if (mg.is_array() && mg.size() == 2)
                        merges.push_back(mg[0].get<std::string>() + " " + mg[1].get<std::string>());
                }
        }
        bos = t->bos_id();
        eos = t->eos_id();
    } else {
        auto t = tok::load_tokenizer(file);  // llama2.c tokenizer.bin: validated by the loader
        scores = read_llama2c_scores(file, t->vocab_size());
        // tokenizer.bin spells the specials "<unk>", "\n<s>\n", "\n</s>\n" and its pieces with
        // plain spaces; GGUF (llama.cpp's llama2.c converter, convert-llama2c-to-ggml) names the
        // specials <unk>, <s>, </s> and escapes spaces as U+2581 like SentencePiece, which is what
        // llama.cpp's tokenizer of a "llama" vocabulary looks up.
        for (int32_t id = 0; id < t->vocab_size(); ++id) {
            std::string piece = id == 0   ? std::string("<unk>")
                                : id == 1 ? std::string("<s>")
                                : id == 2 ? std::string("</s>")
                                          : t->piece(id);
            if (id == 0)
                types.push_back(2);
            else if (id == 1 || id == 2 || piece.empty())
                types.push_back(3);
            else if (is_byte_piece(piece))
                types.push_back(6);
            else
                types.push_back(1);
            std::string escaped;
            for (char ch : piece)
                escaped += ch == ' ' ? std::string("\xe2\x96\x81") : std::string(1, ch);
            tokens.push_back(std::move(escaped));
        }
        unk = 0;
        bos = t->bos_id();
        eos = t->eos_id();
    }
    if (static_cast<int64_t>(tokens.size()) > model_vocab)
        throw FormatError("tokenizer '" + file + "' has " + std::to_string(tokens.size()) +
                          " tokens, more than the model's vocabulary of " +
                          std::to_string(model_vocab));
    if (static_cast<int64_t>(tokens.size()) < model_vocab) {
        warnings.push_back("tokenizer " + file + ": " + std::to_string(tokens.size()) +
                           " tokens padded to the model's " + std::to_string(model_vocab) +
                           " with [PAD<i>] user-defined tokens");
        while (static_cast<int64_t>(tokens.size()) < model_vocab) {
            tokens.push_back("[PAD" + std::to_string(tokens.size()) + "]");
            scores.push_back(-1000.0f);
            types.push_back(4);
        }
    }
    w.set("tokenizer.ggml.model", Value::of_string(model_kind));
    w.set("tokenizer.ggml.pre", Value::of_string("default"));
    w.set("tokenizer.ggml.tokens", Value::of_strings(std::move(tokens)));
    w.set("tokenizer.ggml.scores", Value::of_f32s(scores));
    w.set("tokenizer.ggml.token_type", Value::of_i32s(types));
    if (!merges.empty())
        w.set("tokenizer.ggml.merges", Value::of_strings(std::move(merges)));
    if (bos >= 0)
        w.set("tokenizer.ggml.bos_token_id", Value::of_u32(static_cast<uint32_t>(bos)));
    if (eos >= 0)
        w.set("tokenizer.ggml.eos_token_id", Value::of_u32(static_cast<uint32_t>(eos)));
    if (unk >= 0)
        w.set("tokenizer.ggml.unknown_token_id", Value::of_u32(static_cast<uint32_t>(unk)));
    if (pad >= 0)
        w.set("tokenizer.ggml.padding_token_id", Value::of_u32(static_cast<uint32_t>(pad)));
    w.set("tokenizer.ggml.add_bos_token", Value::of_bool(add_bos));
    return warnings;
}

PresetPlan resolve_preset_plan(const model::ModelConfig& c, const quant::QuantizedModel* qm,
                               const std::string& preset)
{
    const bool calibrated = qm && qm->config.calibration_samples > 0;
    std::optional<PresetPlan> plan = plan_preset(preset, c, calibrated);
    {
        // A size budget (quantize --bpw) chose each linear's type itself: those replace the
        // preset's, the rest of the file is the preset's.
        const bool budget = qm && qm->config.extra.count("bpw") &&
                            std::strtod(qm->config.extra.at("bpw").c_str(), nullptr) > 0.0;
        if (budget)
            for (const quant::LayerResult& l : qm->layers) {
                if (l.skipped || !l.encoded.defined())
                    continue;
                const std::string tname = linear_tensor_name(l.block, l.name);
                for (TensorChoice& t : plan->tensors)
                    if (t.name == tname) {
                        t.type = l.encoding;
                        t.bytes = static_cast<uint64_t>(l.encoded.numel());
                        t.rule = "size budget (quantize --bpw)";
                    }
            }
        if (qm)
            for (const quant::LayerResult& l : qm->layers) {
                if (l.skipped || !l.codes.defined())
                    continue;
                const std::string where = "GGUF export, preset " + plan->preset.name + ": block " +
                                          std::to_string(l.block) + " " + l.name;
                const TensorChoice& ch = plan->linear(l.block, l.name);
                if (!l.encoded.defined())
                    throw InvalidArgument(where + " was quantized to " + std::to_string(l.bits) +
                                          " bits without a preset; quantize with --preset " +
                                          plan->preset.name +
                                          " so that what is evaluated is what is written");
                if (l.encoding != ch.type)
                    throw InvalidArgument(
                        where + " was quantized for " +
                        tensor_type_traits(uint32_t(l.encoding)).name +
                        ", the preset writes it as " + tensor_type_traits(uint32_t(ch.type)).name +
                        " (the session's preset is " +
                        (qm->config.extra.count("preset") ? qm->config.extra.at("preset")
                                                          : std::string("none")) +
                        ")");
            }
    }
    return *plan;
}

PresetPreview preview_preset(const model::ModelConfig& c, const quant::QuantizedModel* qm,
                             const std::string& preset)
{
    PresetPreview out;
    try {
        const PresetPlan plan = resolve_preset_plan(c, qm, preset);
        out.preset = plan.preset.name;
        out.data_bytes = preset_data_bytes(plan.tensors);
        for (const TensorChoice& t : plan.tensors) {
            PresetPreview::Row row;
            row.name = t.name;
            row.type = t.type;
            row.bytes = t.bytes;
            row.rule = t.rule;
            if (qm)
                for (const quant::LayerResult& l : qm->layers)
                    if (!l.skipped && l.encoded.defined() &&
                        linear_tensor_name(l.block, l.name) == t.name) {
                        row.bytes = static_cast<uint64_t>(l.encoded.numel());
                        row.loss = l.diag_loss;
                        row.loss_minmax = l.diag_loss_minmax;
                        row.from_session = true;
                    }
            out.rows.push_back(std::move(row));
        }
    } catch (const std::exception& e) {
        out.error = e.what();
    }
    return out;
}

namespace {

// A tensor the preset gives `type` that no session layer holds (the embedding, an unquantized
// linear): quantized here, data-free (importance 1), on the type's grid by the constrained search
// (kquant_search.h); F16 / F32 as floats. get() returns the float32 [rows, cols] tensor in file
// row order.
void add_preset_tensor(Sink& sink, const std::string& tname, std::vector<uint64_t> ne,
                       TensorType type, std::function<at::Tensor()> get)
{
    if (!quant::kquant_supported(type)) {
        sink.add_lazy(tname, std::move(ne), type, [get, type](TensorSummary& s) {
            const at::Tensor t = get();
            s.rel_error = quant::relative_error(t.to(at::kHalf).to(at::kFloat), t);
            return encode_float(t, type);
        });
        return;
    }
    sink.add_lazy(
        tname, std::move(ne), type,
        [get, type](TensorSummary& s) {
            const at::Tensor t = get();
            quant::KquantResult k = quant::kquant_quantize(t, at::Tensor(), type);
            s.rel_error = quant::relative_error(k.values, t);
            return std::move(k.bytes);
        },
        "quantized data-free at export");
}

}  // namespace

ExportReport export_model(const model::Model& model, const quant::QuantizedModel* qm,
                          const std::string& tokenizer_path, const std::string& out_path,
                          const ExportOptions& options)
{
    const model::ModelConfig& c = model.config();
    if (options.embedding_type != TensorType::F16 && options.embedding_type != TensorType::Q8_0)
        throw InvalidArgument("GGUF export: the embedding type must be F16 or Q8_0");
    ExportReport report;
    report.path = out_path;
    // A preset: every tensor's type by llama-quantize's rules; the session's layers must have
    // been quantized for exactly those types (quantize --preset), and what it did not quantize
    // is quantized here, data-free, on its type's grid.
    std::optional<PresetPlan> plan;
    if (!options.preset.empty())
        plan = resolve_preset_plan(c, qm, options.preset);
    Writer w;
    Sink sink{w, report};
    const std::string arch = model::gguf_architecture(c.arch);
    const bool permute = model::architecture(c.arch).gguf_permutes_qk;

    std::string name = options.name;
    if (name.empty())
        name = fs::path(model.path()).filename().string() == ""
                   ? fs::path(model.path()).parent_path().filename().string()
                   : fs::path(model.path()).stem().string();
    w.set("general.architecture", Value::of_string(arch));
    w.set("general.name", Value::of_string(name));
    w.set("general.quantization_version", Value::of_u32(2));
    w.set("general.file_type", Value::of_u32(1));  // replaced below once the types are known
    w.set(arch + ".context_length", Value::of_u32(static_cast<uint32_t>(c.max_position)));
    w.set(arch + ".embedding_length", Value::of_u32(static_cast<uint32_t>(c.hidden_size)));
    w.set(arch + ".block_count", Value::of_u32(static_cast<uint32_t>(c.num_layers)));
    w.set(arch + ".feed_forward_length", Value::of_u32(static_cast<uint32_t>(c.intermediate_size)));
    w.set(arch + ".attention.head_count", Value::of_u32(static_cast<uint32_t>(c.num_heads)));
    w.set(arch + ".attention.head_count_kv", Value::of_u32(static_cast<uint32_t>(c.num_kv_heads)));
    w.set(arch + ".rope.freq_base", Value::of_f32(static_cast<float>(c.rope_theta)));
    w.set(arch + ".attention.layer_norm_rms_epsilon",
          Value::of_f32(static_cast<float>(c.rms_norm_eps)));
    w.set(arch + ".rope.dimension_count", Value::of_u32(static_cast<uint32_t>(c.head_dim)));
    w.set(arch + ".vocab_size", Value::of_u32(static_cast<uint32_t>(c.vocab_size)));
    if (c.head_dim * c.num_heads != c.hidden_size) {
        w.set(arch + ".attention.key_length", Value::of_u32(static_cast<uint32_t>(c.head_dim)));
        w.set(arch + ".attention.value_length", Value::of_u32(static_cast<uint32_t>(c.head_dim)));
    }
    if (c.sliding_window > 0)
        w.set(arch + ".attention.sliding_window",
              Value::of_u32(static_cast<uint32_t>(c.sliding_window)));
    if (c.attn_logit_softcap > 0.0)
        w.set(arch + ".attn_logit_softcapping",
              Value::of_f32(static_cast<float>(c.attn_logit_softcap)));
    if (c.final_logit_softcap > 0.0)
        w.set(arch + ".final_logit_softcapping",
              Value::of_f32(static_cast<float>(c.final_logit_softcap)));
    if (c.rope_scaling.type == "linear") {
        w.set(arch + ".rope.scaling.type", Value::of_string("linear"));
        w.set(arch + ".rope.scaling.factor",
              Value::of_f32(static_cast<float>(c.rope_scaling.factor)));
    } else if (c.rope_scaling.type != "none") {
        report.warnings.push_back("rope_scaling '" + c.rope_scaling.type +
                                  "' is not written (llama.cpp needs a rope_freqs tensor for it)");
    }
    for (auto& msg : add_tokenizer_metadata(w, tokenizer_path, c.vocab_size))
        report.warnings.push_back(msg);

    // Streaming: the tensors are planned here (names, shapes, types, warnings, general.file_type
    // all follow from the config, the quantized layers' bit widths and group sizes, and block 0's
    // layout) and encoded one at a time while Writer::write streams the file out, so memory holds
    // one block of float weights plus one encoded tensor, not the whole encoded model.
    auto add_embedding = [&](const std::string& tname, bool head) {
        const at::Tensor& t = head ? model.lm_head() : model.embed_tokens();
        if (plan) {
            const TensorType type = plan->tensor(tname).type;
            add_preset_tensor(sink, tname, ne_of(t), type, [&model, head]() {
                return head ? model.lm_head() : model.embed_tokens();
            });
            return;
        }
        TensorType type = options.embedding_type;
        if (type == TensorType::Q8_0 && t.size(1) % kBlock != 0) {
            report.warnings.push_back(tname + ": row length " + std::to_string(t.size(1)) +
                                      " is not a multiple of 32: stored F16 instead of Q8_0");
            type = TensorType::F16;
        }
        const model::Model* m = &model;
        sink.add_lazy(tname, ne_of(t), type, [m, head, type](TensorSummary& s) {
            const at::Tensor& e = head ? m->lm_head() : m->embed_tokens();
            if (type == TensorType::Q8_0) {
                at::Tensor deq;
                auto data = quantize_q8_0(e, &deq);
                s.rel_error = quant::relative_error(deq, e);
                return data;
            }
            s.rel_error = quant::relative_error(e.to(at::kHalf).to(at::kFloat), e);
            return encode_float(e, type);
        });
    };
    add_embedding("token_embd.weight", false);

    // The block being written, read once for all of its tensors (they are written in order).
    struct BlockCache {
        int64_t index = -1;
        model::BlockWeights w;
    };
    auto cache = std::make_shared<BlockCache>();
    const model::Model* m = &model;
    auto block_of = [m, cache](int64_t i) -> const model::BlockWeights& {
        if (cache->index != i) {
            cache->w = model::BlockWeights{};  // free the previous block first
            cache->index = -1;
            cache->w = m->block(i);
            cache->index = i;
        }
        return cache->w;
    };
    // Every block has block 0's layout (Model::open checks the shapes the config implies).
    model::BlockWeights layout = c.num_layers > 0 ? model.block(0) : model::BlockWeights{};

    std::map<TensorType, int64_t> linear_types;
    const auto q_perm = std::make_shared<at::Tensor>(llama_permutation(c.num_heads, c.head_dim));
    const auto k_perm = std::make_shared<at::Tensor>(llama_permutation(c.num_kv_heads, c.head_dim));
    // A float32 block tensor under its llama.cpp name (from the model's block layout table).
    auto add_f32 = [&](int64_t i, at::Tensor model::BlockWeights::*field,
                       std::shared_ptr<at::Tensor> perm) {
        const at::Tensor& shape_of = layout.*field;
        if (!shape_of.defined())
            return;
        const char* gguf_name = nullptr;
        for (const model::BlockPart& p : model::block_parts(c))
            if (p.member == field)
                gguf_name = p.gguf;
        const std::string tname = "blk." + std::to_string(i) + "." + gguf_name;
        sink.add_lazy(tname, ne_of(shape_of), TensorType::F32,
                      [block_of, i, field, perm](TensorSummary&) {
                          at::Tensor t = block_of(i).*field;
                          if (perm)
                              t = t.index_select(0, *perm);
                          return encode_float(t, TensorType::F32);
                      });
    };
    for (int64_t i = 0; i < c.num_layers; ++i) {
        add_f32(i, &model::BlockWeights::input_norm, nullptr);
        for (const std::string& lname : model::linear_names()) {
            const std::string tname = linear_tensor_name(i, lname);
            std::shared_ptr<at::Tensor> perm;
            if (permute && lname == "q_proj")
                perm = q_perm;
            else if (permute && lname == "k_proj")
                perm = k_perm;
            const at::Tensor& shape = layout.linear(lname);
            const quant::LayerResult* lr = qm ? qm->find(i, lname) : nullptr;
            if (plan && lr && !lr->skipped && lr->encoded.defined()) {
                const TensorType type = lr->encoding;
                ++linear_types[type];
                sink.add_lazy(
                    tname, ne_of(shape), type,
                    [lr, perm](TensorSummary& s) {
                        const int64_t rows = lr->out_features;
                        const size_t rb = static_cast<size_t>(lr->encoded.numel() / rows);
                        const uint8_t* src = lr->encoded.data_ptr<uint8_t>();
                        std::vector<uint8_t> out(static_cast<size_t>(lr->encoded.numel()));
                        const int64_t* p = perm ? perm->data_ptr<int64_t>() : nullptr;
                        // Rows are whole blocks: permuting rows of the bytes permutes the rows.
                        for (int64_t r = 0; r < rows; ++r)
                            std::memcpy(out.data() + r * rb, src + (p ? p[r] : r) * rb, rb);
                        s.added_loss = 0.0;  // the bytes are what the session evaluated
                        return out;
                    },
                    "quantized for the preset (" + plan->linear(i, lname).rule + ")");
            } else if (plan) {
                const TensorType type = plan->linear(i, lname).type;
                ++linear_types[type];
                add_preset_tensor(sink, tname, ne_of(shape), type, [block_of, i, lname, perm]() {
                    at::Tensor t = block_of(i).linear(lname);
                    return perm ? t.index_select(0, *perm) : t;
                });
            } else if (lr && !lr->skipped && lr->codes.defined()) {
                if (lr->codes.sizes() != shape.sizes())
                    throw FormatError(
                        "GGUF export: block " + std::to_string(i) + " " + lname +
                        ": the quantized layer is [" + std::to_string(lr->codes.size(0)) + ", " +
                        std::to_string(lr->codes.size(1)) + "] but the model's weight is [" +
                        std::to_string(shape.size(0)) + ", " + std::to_string(shape.size(1)) +
                        "]: the result belongs to another model");
                std::string note;
                const TensorType type =
                    planned_linear_type(lr->bits, shape.size(1), lr->group_size, &note);
                if (type == TensorType::F16)
                    report.warnings.push_back(tname + ": " + note);
                else if (type == TensorType::Q8_0)
                    note =
                        std::to_string(lr->bits) + "-bit zero-point re-quantized to symmetric Q8_0";
                ++linear_types[type];
                sink.add_lazy(
                    tname, ne_of(shape), type,
                    [lr, perm, type](TensorSummary& s) {
                        LinearEncoding e = encode_linear(*lr);
                        if (e.type != type)  // planned_linear_type is encode_linear's rule
                            throw InvalidArgument("GGUF export: " + s.name + ": planned " +
                                                  tensor_type_traits(uint32_t(type)).name +
                                                  ", encoded " +
                                                  tensor_type_traits(uint32_t(e.type)).name);
                        if (perm) {
                            // Rows are whole blocks: permuting rows of the packed bytes is the
                            // same as packing the permuted rows.
                            const int64_t rows = e.w_hat.size(0);
                            const size_t rb = e.data.size() / static_cast<size_t>(rows);
                            std::vector<uint8_t> out(e.data.size());
                            const int64_t* p = perm->data_ptr<int64_t>();
                            for (int64_t r = 0; r < rows; ++r)
                                std::memcpy(out.data() + r * rb, e.data.data() + p[r] * rb, rb);
                            e.data = std::move(out);
                        }
                        s.codes_changed = e.codes_changed;
                        s.rel_error = e.rel_error;
                        s.added_loss = e.added_loss;
                        return std::move(e.data);
                    },
                    note);
            } else {
                ++linear_types[TensorType::F16];
                sink.add_lazy(
                    tname, ne_of(shape), TensorType::F16,
                    [block_of, i, lname, perm](TensorSummary& s) {
                        at::Tensor t = block_of(i).linear(lname);
                        if (perm)
                            t = t.index_select(0, *perm);
                        s.rel_error = quant::relative_error(t.to(at::kHalf).to(at::kFloat), t);
                        return encode_float(t, TensorType::F16);
                    },
                    "not quantized: F16");
            }
        }
        using BW = model::BlockWeights;
        // llama.cpp's order within a block; names from the layout table.
        add_f32(i, &BW::q_bias, permute ? q_perm : nullptr);
        add_f32(i, &BW::k_bias, permute ? k_perm : nullptr);
        add_f32(i, &BW::v_bias, nullptr);
        add_f32(i, &BW::o_bias, nullptr);
        add_f32(i, &BW::q_norm, nullptr);
        add_f32(i, &BW::k_norm, nullptr);
        add_f32(i, &BW::attn_out_norm, nullptr);
        add_f32(i, &BW::post_norm, nullptr);
        add_f32(i, &BW::mlp_out_norm, nullptr);
    }
    sink.add_f32("output_norm.weight", model.final_norm());
    if (!c.tie_word_embeddings)
        add_embedding("output.weight", true);
    report.file_type = plan ? plan->preset.ftype : file_type_for(linear_types);
    if (plan) {
        // Every tensor as the plan has it: the same names, and the types llama-quantize gives.
        if (report.tensors.size() != plan->tensors.size())
            throw Error("internal: GGUF export wrote " + std::to_string(report.tensors.size()) +
                        " tensors, the preset plan has " + std::to_string(plan->tensors.size()));
        for (const TensorSummary& t : report.tensors)
            if (plan->tensor(t.name).type != t.type)
                throw Error("internal: GGUF export: " + t.name + " is not the plan's type");
    }
    w.set("general.file_type", Value::of_u32(report.file_type));
    layout = model::BlockWeights{};
    // Progress in tensors written; the stage names the tensor being encoded.
    report.file_bytes = w.write(out_path, options.progress);
    return report;
}

ExportReport export_imatrix(const quant::QuantizedModel& qm, const std::string& out_path)
{
    ExportReport report;
    report.path = out_path;
    Writer w;
    Sink sink{w, report};
    const double count =
        qm.config.calibration_samples > 0 && qm.config.calibration_seqlen > 0
            ? static_cast<double>(qm.config.calibration_samples * qm.config.calibration_seqlen)
            : 1.0;
    w.set("general.type", Value::of_string("imatrix"));
    w.set("imatrix.datasets",
          Value::of_strings({qm.config.calibration_source.empty() ? std::string("data-free")
                                                                  : qm.config.calibration_source}));
    w.set(
        "imatrix.chunk_count",
        Value::of_u32(static_cast<uint32_t>(std::max<int64_t>(qm.config.calibration_samples, 1))));
    w.set("imatrix.chunk_size",
          Value::of_u32(static_cast<uint32_t>(std::max<int64_t>(qm.config.calibration_seqlen, 1))));
    std::set<std::string> seen;
    for (const quant::LayerResult& l : qm.layers) {
        if (!l.hessian_diag.defined())
            continue;
        const std::string wname = linear_tensor_name(l.block, l.name);
        if (!seen.insert(wname).second)
            throw InvalidArgument("GGUF imatrix: layer " + wname + " appears twice in the result");
        const at::Tensor h = l.hessian_diag.to(at::kDouble).reshape({1, -1});
        if (!at::isfinite(h).all().item<bool>() || (h < 0).any().item<bool>())
            throw NumericError("GGUF imatrix: " + wname +
                               ": Hessian diagonal holds NaN/Inf or negative values");
        const at::Tensor sum2 = (h * count).to(at::kFloat);
        sink.add(wname + ".in_sum2", sum2, TensorType::F32, encode_float(sum2, TensorType::F32));
        const at::Tensor cnt = at::full({1, 1}, count, at::kFloat);
        sink.add(wname + ".counts", cnt, TensorType::F32, encode_float(cnt, TensorType::F32));
    }
    if (w.tensor_count() == 0)
        throw InvalidArgument("GGUF imatrix: no layer of the result carries a Hessian diagonal");
    report.file_bytes = w.write(out_path);
    return report;
}

}  // namespace zp::gguf
