#include "core/export/exporter.h"

#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <ATen/ATen.h>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/export/gguf_export.h"
#include "core/export/safetensors_export.h"

namespace zp::exporter {

namespace {

namespace fs = std::filesystem;

std::string fmt(const char* f, double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

uint64_t file_size_or_zero(const std::string& path)
{
    std::error_code ec;
    const auto n = fs::file_size(path, ec);
    return ec ? 0 : static_cast<uint64_t>(n);
}

std::string human_bytes(uint64_t b)
{
    if (b >= (uint64_t{1} << 30))
        return fmt("%.2f GiB", static_cast<double>(b) / (1 << 30));
    if (b >= (uint64_t{1} << 20))
        return fmt("%.2f MiB", static_cast<double>(b) / (1 << 20));
    if (b >= 1024)
        return fmt("%.1f KiB", static_cast<double>(b) / 1024);
    return std::to_string(b) + " bytes";
}

Report from_gguf(const gguf::ExportReport& r, bool imatrix)
{
    Report out;
    out.path = r.path;
    out.bytes = r.file_bytes;
    out.files = {r.path};
    out.warnings = r.warnings;
    std::map<std::string, int> by_type;
    int64_t changed = 0;
    double q8_err = -1.0, q8_loss = 0.0, snap_loss = 0.0;
    for (const auto& t : r.tensors) {
        const std::string type = gguf::tensor_type_traits(static_cast<uint32_t>(t.type)).name;
        ++by_type[type];
        changed += t.codes_changed;
        const bool q8 =
            t.type == gguf::TensorType::Q8_0 && t.note.find("re-quantized") != std::string::npos;
        if (q8) {
            q8_err = std::max(q8_err, t.rel_error);
            q8_loss += t.added_loss;
        } else {
            snap_loss += t.added_loss;
        }
        if (!imatrix && (t.name.find(".attn_") != std::string::npos ||
                         t.name.find(".ffn_") != std::string::npos)) {
            LayerLine l;
            l.tensor = t.name;
            l.type = type;
            l.rel_error = t.rel_error;
            l.added_loss = t.added_loss;
            l.note = t.note;
            if (t.codes_changed)
                l.note += (l.note.empty() ? "" : "; ") + std::to_string(t.codes_changed) +
                          " codes moved by the fp16 snap";
            out.layers.push_back(l);
        }
    }
    std::string s = r.path + ": " + std::to_string(r.file_bytes) + " bytes (" +
                    human_bytes(r.file_bytes) + "), " + std::to_string(r.tensors.size()) +
                    " tensors (";
    bool first = true;
    for (const auto& [type, n] : by_type) {
        s += (first ? "" : ", ") + std::to_string(n) + " " + type;
        first = false;
    }
    s += ")\n";
    if (!imatrix) {
        s += "fp16 rounding (Q4_1/Q5_1 d, m; F16 fallbacks): " + std::to_string(changed) +
             " codes moved, added loss sum h dW^2 = " + fmt("%.4g", snap_loss) + "\n";
        if (q8_err >= 0)
            s += "Q8_0 re-quantization of 6-8-bit layers (symmetric): added loss sum h dW^2 = " +
                 fmt("%.4g", q8_loss) + ", worst relative weight error " + fmt("%.3g", q8_err) +
                 "\n";
    }
    out.summary = s;
    return out;
}

}  // namespace

const std::vector<FormatInfo>& formats()
{
    static const std::vector<FormatInfo> table = {
        {Format::Gguf, "gguf", "llama.cpp model (Q4_1/Q5_1/Q8_0 linears, F16 elsewhere)", true,
         true, false},
        {Format::Imatrix, "imatrix", "llama.cpp importance matrix from the Hessian diagonals",
         false, false, false},
        {Format::Safetensors, "safetensors",
         "dequantized model in HF layout (F16 or BF16), loadable by any framework", true, false,
         true},
        {Format::Packed, "packed",
         "ZeroPoint packed: codes + F32 scales + real zero-points, reloads exactly", true, false,
         true},
        {Format::Gptq, "gptq",
         "GPTQ checkpoint (gptq_v2, integer zero-points) for transformers / vLLM", true, false,
         true},
    };
    return table;
}

const FormatInfo& format_info(const std::string& name)
{
    std::string known;
    for (const FormatInfo& f : formats()) {
        if (name == f.name)
            return f;
        known += (known.empty() ? "" : ", ") + std::string(f.name);
    }
    throw InvalidArgument("unknown export format '" + name + "' (expected one of " + known + ")");
}

namespace {

// Everything about the layers that a writer relies on, checked before a byte is written: a
// result that fails here must leave no file (and no "written" line) behind.
void check_layers(const model::Model* model, const quant::QuantizedModel& qm,
                  const std::string& fname)
{
    const auto& names = model::linear_names();
    std::set<std::pair<int64_t, std::string>> seen;
    for (const quant::LayerResult& l : qm.layers) {
        const std::string where = "export --format " + fname + ": layer block " +
                                  std::to_string(l.block) + " '" + l.name + "'";
        if (std::find(names.begin(), names.end(), l.name) == names.end())
            throw InvalidArgument(where + ": the name is not a linear layer");
        if (l.block < 0 || (model && l.block >= model->config().num_layers))
            throw InvalidArgument(where + ": block outside the model's " +
                                  (model ? std::to_string(model->config().num_layers) : "") +
                                  " blocks");
        if (!seen.insert({l.block, l.name}).second)
            throw InvalidArgument(where + ": appears twice in the result");
        if (l.skipped || !l.codes.defined())
            continue;
        if (l.bits < 2 || l.bits > 8)
            throw InvalidArgument(where + ": bits " + std::to_string(l.bits) + " outside 2..8");
        if (l.group_size < 1 || l.group_size > l.in_features)
            throw InvalidArgument(where + ": group size " + std::to_string(l.group_size) +
                                  " outside 1.." + std::to_string(l.in_features));
        if (model) {
            const std::vector<int64_t> want = model::linear_shape(model->config(), l.name);
            if (l.codes.sizes().vec() != want)
                throw InvalidArgument(where + ": codes [" + std::to_string(l.codes.size(0)) + ", " +
                                      std::to_string(l.codes.size(1)) +
                                      "] but the model's weight is [" + std::to_string(want[0]) +
                                      ", " + std::to_string(want[1]) +
                                      "]: the result belongs to another model");
        }
        for (const at::Tensor* t : {&l.scale, &l.zero})
            if (!t->defined() || !at::isfinite(*t).all().item<bool>())
                throw NumericError(where + ": scale or zero missing or not finite");
    }
}

const FormatInfo& info_of(Format f)
{
    for (const FormatInfo& i : formats())
        if (i.format == f)
            return i;
    throw InvalidArgument("unknown export format id " + std::to_string(static_cast<int>(f)));
}

}  // namespace

Report export_quantized(const model::Model* model, const quant::QuantizedModel& qm,
                        const Options& options)
{
    const FormatInfo& info = info_of(options.format);
    const std::string fname = info.name;
    if (options.out.empty())
        throw InvalidArgument("export --format " + fname + ": no output path given");
    for (const quant::GroupTransform* t : qm.transforms.all())
        if (!t->identity() && options.format != Format::Imatrix)
            throw InvalidArgument(
                "export --format " + fname + ": the run's weights are quantized after a " +
                quant::transform_kind_info(t->kind).label + " transform (block " +
                std::to_string(t->block) + " " + t->input +
                " and others), which the model must apply to its activations at run time; no "
                "export format can carry that transform. Keep the session (zeropoint-cli "
                "evaluate/generate --session apply it), or quantize with --transform none");
    if (info.needs_model && !model)
        throw InvalidArgument("export --format " + fname +
                              " needs the original model (--model): its embedding, norms and any "
                              "layer the session did not quantize come from there");
    if (info.needs_tokenizer && options.tokenizer.empty())
        throw InvalidArgument("export --format " + fname + " needs a tokenizer (--tokenizer)");
    if (qm.layers.empty())
        throw InvalidArgument("export: the quantized model holds no layers");
    check_layers(model, qm, fname);

    if (options.format == Format::Gguf) {
        gguf::ExportOptions eo;
        if (options.gguf_embedding == "q8_0")
            eo.embedding_type = gguf::TensorType::Q8_0;
        else if (options.gguf_embedding != "f16")
            throw InvalidArgument("export: GGUF embedding type '" + options.gguf_embedding +
                                  "' is not f16 or q8_0");
        eo.name = options.name;
        eo.preset = options.gguf_preset;
        eo.progress = options.progress;
        Report r =
            from_gguf(gguf::export_model(*model, &qm, options.tokenizer, options.out, eo), false);
        for (LayerLine& l : r.layers)
            for (const auto& q : qm.layers)
                if (!q.skipped && gguf::linear_tensor_name(q.block, q.name) == l.tensor)
                    l.diag_loss = q.diag_loss;
        return r;
    }
    if (!options.gguf_preset.empty())
        throw InvalidArgument("export --preset " + options.gguf_preset +
                              " writes llama.cpp's layout: it needs --format gguf, not " + fname);
    if (options.format == Format::Imatrix) {
        report_progress(options.progress, 0, 1, "imatrix");
        Report r = from_gguf(gguf::export_imatrix(qm, options.out), true);
        return r;
    }

    const at::ScalarType dtype = io::parse_export_dtype(options.dtype);
    if (options.format == Format::Gptq && dtype == at::kFloat)
        throw InvalidArgument("export --format gptq: dtype must be f16 or bf16");
    AtomicDir tmp(options.out, "export");
    const fs::path target = tmp.target();
    io::SafetensorsExportResult res;
    switch (options.format) {
        case Format::Safetensors:
            res = io::export_dequantized(*model, qm, tmp.path(), dtype, options.tokenizer,
                                         options.progress);
            break;
        case Format::Packed:
            res = io::export_packed(*model, qm, tmp.path(), options.tokenizer, options.progress);
            break;
        case Format::Gptq:
            res = io::export_gptq(*model, qm, tmp.path(), dtype, options.tokenizer,
                                  options.progress, options.gptq_refit_scale);
            break;
        default:
            throw InvalidArgument("export: format " + fname + " is not a directory format");
    }
    report_progress(options.progress, 1, 1, "installing " + target.string());
    tmp.commit();

    Report r;
    r.path = target.string();
    for (const std::string& f : res.files) {
        const std::string p = (target / fs::path(f).filename()).string();
        r.files.push_back(p);
        r.bytes += file_size_or_zero(p);
    }
    r.warnings = res.warnings;
    int packed = 0, fallback = 0;
    double added = 0.0, diag = 0.0, worst_rel = 0.0;
    double added_packed = 0.0, diag_packed = 0.0, added_fallback = 0.0;
    int64_t moved = 0;
    for (const io::ExportedLayer& e : res.layers) {
        LayerLine l;
        l.tensor = e.tensor;
        l.type = e.type;
        l.rel_error = e.rel_error;
        l.added_loss = e.added_loss;
        l.diag_loss = e.diag_loss;
        l.note = e.note;
        r.layers.push_back(l);
        if (e.type == "F16" || e.type == "BF16" || e.type == "F32") {
            ++fallback;
            added_fallback += e.added_loss;
        } else {
            ++packed;
            added_packed += e.added_loss;
            diag_packed += e.diag_loss;
        }
        added += e.added_loss;
        diag += e.diag_loss;
        worst_rel = std::max(worst_rel, e.rel_error);
        moved += e.codes_changed;
    }
    std::string s = r.path + "/: " + std::to_string(r.files.size()) + " files, " +
                    std::to_string(r.bytes) + " bytes (" + human_bytes(r.bytes) + ")\n";
    if (options.format == Format::Safetensors) {
        s += std::to_string(res.layers.size()) + " quantized linears stored dequantized as " +
             options.dtype + ": rounding adds loss sum h dW^2 = " + fmt("%.4g", added) + " (" +
             fmt("%.3g", diag > 0 ? 100.0 * added / diag : 0.0) +
             "% of the layers' diag loss), worst relative weight error " + fmt("%.3g", worst_rel) +
             "\n";
    } else if (options.format == Format::Packed) {
        s += std::to_string(res.layers.size()) +
             " quantized linears stored exactly (bit-packed codes, F32 scales and real "
             "zero-points)\n";
    } else {
        s += std::to_string(packed) + " linears GPTQ-packed, " + std::to_string(fallback) +
             " stored unquantized (see warnings)\n";
        s += "integer zero-points + fp16 scales on the packed layers: " + std::to_string(moved) +
             " codes moved, added loss sum h dW^2 = " + fmt("%.4g", added_packed) + " = " +
             fmt("%.3g", diag_packed > 0 ? 100.0 * added_packed / diag_packed : 0.0) +
             "% of their diag loss " + fmt("%.4g", diag_packed) + ", worst relative weight error " +
             fmt("%.3g", worst_rel) + "\n";
        if (fallback)
            s += "unquantized fallbacks (W_hat in 16 bits): added loss " +
                 fmt("%.4g", added_fallback) + "\n";
    }
    r.summary = s;
    return r;
}

}  // namespace zp::exporter
