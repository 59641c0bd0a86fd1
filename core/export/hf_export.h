// An HF-layout directory of a model's current weights (zeropoint-cli convert, and the tests'
// llama2.c -> HF round trips): config.json and model.safetensors, streamed one block at a time
// through io::SafetensorsWriter into a temporary folder that is renamed onto the target only when
// both files are complete: the directory is atomic.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "core/common/progress.h"
#include "core/model/model.h"

namespace zp::exporter {

// Tensors in `dtype` (kFloat, kHalf or kBFloat16); norm gains stay float32. dir may be new, empty
// or a previous output (holding config.json), which is replaced; InvalidArgument for a file or an
// unrelated non-empty directory.
// Uses the model's current weights (replaced blocks included). Throws IoError / InvalidArgument.
void export_hf(const model::Model& model, const std::string& dir, at::ScalarType dtype = at::kFloat,
               const ProgressFn& progress = {});

}  // namespace zp::exporter
