#include "core/pipeline/prepare.h"

#include <ATen/ops/zeros.h>

#include <algorithm>

#include "core/common/error.h"

namespace zp::pipeline {

PreparedCalibration prepare_run(const model::Model& model, PipelineOptions& o,
                                const CalibrationRequest& calib,
                                const std::function<const tok::Tokenizer*()>& tokenizer,
                                const std::function<at::Tensor(int64_t seqlen)>& fallback,
                                const std::string& fallback_source)
{
    const bool will_have_data = !calib.path.empty() || static_cast<bool>(fallback);
    {
        // Every check (methods, groups against every layer) before the calibration work.
        PipelineOptions check = o;
        check.progress = nullptr;
        check.on_layer = nullptr;
        if (will_have_data)
            check.calibration = at::zeros({1, 1}, at::kLong);  // placeholder for the plan only
        plan_layers(model.config(), check);
    }
    PreparedCalibration out;
    out.seqlen = std::min(calib.seqlen, model.config().max_position);
    if (!calib.path.empty()) {
        data::CalibrationOptions co;
        co.path = calib.path;
        co.format = data::parse_calibration_format(calib.format);
        co.nsamples = calib.nsamples;
        co.seqlen = out.seqlen;
        co.seed = calib.seed;
        const data::CalibrationFormat f = co.format == data::CalibrationFormat::Auto
                                              ? data::guess_calibration_format(co.path)
                                              : co.format;
        const tok::Tokenizer* tok =
            f != data::CalibrationFormat::TokenIds && tokenizer ? tokenizer() : nullptr;
        const data::CalibrationSet set = data::load_calibration(co, tok, model.config().vocab_size);
        o.calibration = set.ids;
        o.calibration_source = set.source;
        out.source = set.source;
        out.tokens_available = set.tokens_available;
        out.drawn = true;
    } else if (fallback) {
        o.calibration = fallback(out.seqlen);
        o.calibration_source = fallback_source;
        out.source = fallback_source;
        out.drawn = true;
    }
    return out;
}

}  // namespace zp::pipeline
