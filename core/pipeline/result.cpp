#include "core/pipeline/result.h"

#include "kernels/quantize.h"

namespace zp::pipeline {

at::Tensor QuantizedModel::dequantize(const LayerResult& layer)
{
    return kernels::dequantize(layer.codes, layer.scale.to(at::kFloat), layer.zero.to(at::kFloat), layer.group_size);
}

const LayerResult* QuantizedModel::find(int64_t block, const std::string& name) const
{
    for (const LayerResult& l : layers)
        if (l.block == block && l.name == name)
            return &l;
    return nullptr;
}

}  // namespace zp::pipeline
