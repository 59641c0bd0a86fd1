#include "core/quant/result.h"

#include <cctype>

#include "core/common/error.h"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include "core/formats/gguf_blocks.h"
#include "core/quant/kquant_search.h"
#include "kernels/quantize.h"

namespace zp::quant {

const char* algorithm_name(Algorithm a)
{
    return a == Algorithm::GPTQ ? "gptq" : "rtn";
}

Algorithm parse_algorithm(const std::string& name)
{
    std::string n = name;
    for (char& ch : n)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (n == "gptq")
        return Algorithm::GPTQ;
    if (n == "rtn")
        return Algorithm::RTN;
    throw InvalidArgument("algorithm '" + name + "' is not rtn or gptq");
}

void attach_encoding(LayerResult& layer, const KquantResult& k)
{
    if (k.rows <= 0 || k.cols <= 0 || k.sub <= 0 || !k.values.defined())
        throw InvalidArgument("block " + std::to_string(layer.block) + " " + layer.name +
                              ": an empty K-quant result cannot be attached");
    layer.encoding = k.type;
    layer.encoded = at::from_blob(const_cast<uint8_t*>(k.bytes.data()),
                                  {static_cast<int64_t>(k.bytes.size())}, at::kByte)
                        .clone();
    const int levels = k.qmax - k.qmin + 1;
    layer.bits = 1;
    while ((1 << layer.bits) < levels)
        ++layer.bits;
    layer.group_size = k.sub;
    at::Tensor step, minimum;
    kquant_grid(k, &step, &minimum);
    const at::Tensor x = k.values.reshape({k.rows, k.cols});
    const at::Tensor s = step.repeat_interleave(k.sub, 1), m = minimum.repeat_interleave(k.sub, 1);
    // q from the values: x = step * q - minimum exactly, so the nearest integer is q.
    const at::Tensor q = at::where(s != 0, at::round((x + m) / s), at::zeros_like(s));
    layer.codes = (q - k.qmin).clamp(0, levels - 1).to(at::kByte).contiguous();
    layer.scale = step.contiguous();
    layer.zero =
        at::where(step != 0, minimum / step - static_cast<float>(k.qmin), at::zeros_like(step))
            .contiguous();
}

at::Tensor QuantizedModel::dequantize(const LayerResult& layer)
{
    if (layer.encoded.defined())
        return gguf::dequantize(layer.encoded.data_ptr<uint8_t>(),
                                static_cast<uint64_t>(layer.encoded.numel()), layer.encoding,
                                layer.out_features, layer.in_features);
    return kernels::dequantize(layer.codes, layer.scale.to(at::kFloat), layer.zero.to(at::kFloat),
                               layer.group_size);
}

const LayerResult* QuantizedModel::find(int64_t block, const std::string& name) const
{
    for (const LayerResult& l : layers)
        if (l.block == block && l.name == name)
            return &l;
    return nullptr;
}

double relative_error(const at::Tensor& w, const at::Tensor& ref)
{
    const double den = ref.to(at::kDouble).norm().item<double>();
    const double num = (w.to(at::kDouble) - ref.to(at::kDouble)).norm().item<double>();
    return den > 0 ? num / den : num;
}

double weighted_loss(const at::Tensor& w, const at::Tensor& ref, const LayerResult& layer)
{
    const int64_t cols = ref.size(1);
    const at::Tensor h = layer.hessian_diag.defined() && layer.hessian_diag.numel() == cols
                             ? layer.hessian_diag.to(at::kDouble).reshape({1, cols})
                             : at::ones({1, cols}, at::TensorOptions().dtype(at::kDouble));
    const at::Tensor d = w.to(at::kDouble) - ref.to(at::kDouble);
    return (d * d * h).sum().item<double>();
}

void install_float_parts(model::Model& m, const QuantizedModel& qm, int64_t block)
{
    for (const auto& [name, t] : qm.float_parts) {
        if (name == "model.norm.weight") {
            if (block < 0)
                m.set_final_norm(t);
            continue;
        }
        int64_t b = -1;
        std::string part;
        if (!model::split_block_tensor_name(name, &b, &part))
            b = -1;
        if (b < 0 || b >= m.config().num_layers)
            throw InvalidArgument("trained tensor '" + name +
                                  "' is neither a block part of this model nor model.norm.weight");
        if (block >= 0 && b != block)
            continue;
        m.set_block_part(b, part, t);
    }
}

void install_quantized(model::Model& m, const QuantizedModel& qm, int64_t block)
{
    for (const LayerResult& l : qm.layers) {
        if (l.skipped || !l.codes.defined() || (block >= 0 && l.block != block))
            continue;
        if (l.block < 0 || l.block >= m.config().num_layers)
            throw InvalidArgument("the quantized model has block " + std::to_string(l.block) +
                                  ", the model only " + std::to_string(m.config().num_layers));
        if (l.encoded.defined())
            m.set_encoded_linear(l.block, l.name, l.encoding, l.encoded);
        else
            m.set_quantized_linear(l.block, l.name, l.codes, l.scale, l.zero,
                                   l.group_size <= 0 ? l.in_features : l.group_size);
    }
    install_float_parts(m, qm, block);
}

}  // namespace zp::quant
