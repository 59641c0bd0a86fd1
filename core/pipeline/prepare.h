// The recipe every front end runs before quantize_model (zeropoint-cli quantize, the GUI's job
// worker): check the whole plan (methods, bits and groups against every layer; GPTQ needs data)
// before any expensive work, then draw the calibration set.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/data/calibration.h"
#include "core/model/model.h"
#include "core/pipeline/pipeline.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::pipeline {

struct CalibrationRequest {
    std::string path;             // text, .jsonl or .ids file; empty: none
    std::string format = "auto";  // "auto", "text", "jsonl", "ids"
    int64_t nsamples = 0, seqlen = 0;
    uint64_t seed = 0;
};

struct PreparedCalibration {
    bool drawn = false;            // o.calibration was set
    std::string source;            // the file, or the fallback's description
    int64_t tokens_available = 0;  // tokens in the file (0 for the fallback)
    int64_t seqlen = 0;            // L used: the request's, shortened to the model's context
};

// Checks plan_layers(o) with a placeholder calibration where one will be supplied (a path, or a
// fallback), then loads it into o.calibration / o.calibration_source. `tokenizer` is asked only
// when the file needs one (text, jsonl); it may return nullptr only when none is needed.
// A sequence length beyond the model's context is shortened to it (PreparedCalibration::seqlen).
// `fallback` (may be empty) supplies the ids of length `seqlen` when no path is given, described by
// `fallback_source` (the GUI's demo samples text from its model). Throws InvalidArgument naming
// the layer or option, IoError / FormatError naming the file.
PreparedCalibration prepare_run(const model::Model& model, PipelineOptions& o,
                                const CalibrationRequest& calib,
                                const std::function<const tok::Tokenizer*()>& tokenizer,
                                const std::function<at::Tensor(int64_t seqlen)>& fallback = {},
                                const std::string& fallback_source = {});

}  // namespace zp::pipeline
