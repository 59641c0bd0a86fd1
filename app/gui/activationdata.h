// The numbers behind the Activations tab (RUQuant's argument, core/MATHS.md section 8),
// computed from real activations of one decoder block's linear-input group: the full-precision
// model is run on calibration text up to that block and the group's input is captured; the group's
// transform (the run's, or one built here with quant::build_group_transform) is applied stage by
// stage; the per-token quantizer of quant::fake_quant_per_token is measured before and after it.
// Plain values: they come back from the worker thread to the view through a queued signal.
#pragma once

#include <QMetaType>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"
#include "core/common/progress.h"
#include "core/quant/ruquant.h"

// What to capture and how to quantize it.
struct ActivationRequest {
    int block = 0;
    QString group = QStringLiteral("q_proj");  // "q_proj", "o_proj", "gate_proj", "down_proj"
    // Calibration text (text, .jsonl or .ids; empty: the demo's sampled text, demo only).
    QString textPath, textFormat = QStringLiteral("auto"), tokenizer;
    int nsamples = 4, seqlen = 128;  // sequences x tokens (L shortened to the model's context)
    uint64_t seed = 0;
    int abits = 4;       // the per-token quantizer (16: none)
    double aclip = 1.0;  // its clip ratio
    // The run's transform for this block and group when the run has one and this is set;
    // otherwise one built here from the captured tokens with these options.
    bool useRunTransform = true;
    zp::quant::TransformOptions transform;
};

// One token's grid under the per-token quantizer (quant::fake_quant_per_token's rule):
// lo = clip min, hi = clip max, s = clamp((hi - lo) / (2^b - 1), 1e-5, 1e4),
// z = round(clamp(-lo / s, -1e4, 1e4)); value x falls into interval q = clamp(round(x/s) + z, 0,
// 2^b - 1), whose midpoint (the uniform quantizer's reconstruction) is s (q - z) and whose
// Lloyd-Max centroid is the mean of the values that fall into it.
struct TokenIntervals {
    double step = 0.0, zero = 0.0;
    std::vector<double> edges;      // [levels + 1]: s (q - z - 1/2), q = 0..levels
    std::vector<double> midpoints;  // [levels]
    std::vector<double> centroids;  // [levels], NaN where no value falls
    std::vector<int64_t> counts;    // [levels]
    double meanGap = 0.0;  // mean over the non-empty intervals of |centroid - midpoint| / step
    int nonEmpty = 0;
};
// x: n values of one token (the quantizer's row). bits 2..15.
TokenIntervals tokenIntervals(const double* x, int64_t n, int bits, double clip);

struct ActivationData {
    int block = -1;
    QString group;
    int64_t width = 0, tokens = 0;
    zp::quant::TransformKind kind = zp::quant::TransformKind::None;
    bool fromRun = false;     // the run's transform (else built here)
    QString transformSource;  // one line for the view
    QString textSource;       // where the tokens came from
    int abits = 16;
    double aclip = 1.0;
    // Per-channel max |x| over every captured token after each stage (GroupTransform::stages):
    // "input", then those present of "smoothed", "R0", "permuted", "R1", "householder".
    QStringList stageNames;
    std::vector<std::vector<double>> stageMax;
    at::Tensor x;  // [tokens, width] float64 CPU: the group's input
    at::Tensor y;  // [tokens, width] float64 CPU: x Q (the last stage)
    // Per token ||fq(x) - x|| / ||x|| and ||fq(x Q) Q^-1 - x|| / ||x|| (the original basis, as
    // quant::measure_activation_error), and the same over the whole set (Frobenius).
    std::vector<double> errorPlain, errorTransformed;
    double setErrorPlain = 0.0, setErrorTransformed = 0.0;
    // TokenIntervals::meanGap averaged over every token (each on its own grid), before / after.
    double gapPlain = 0.0, gapTransformed = 0.0;
    QStringList tokenText;  // the vocabulary piece of each captured token (empty if unknown)

    bool valid() const { return block >= 0; }
    // One token's values before / after the transform.
    std::vector<double> tokenValues(int64_t token, bool transformed) const;
};
Q_DECLARE_METATYPE(ActivationData)

// The group's input captured from the full-precision model, kept between requests that only
// change the transform or the quantizer (thread-safe).
class ActivationCapture {
public:
    struct Entry {
        std::string key;
        at::Tensor x;                     // [tokens, width] float64
        std::vector<at::Tensor> weights;  // the group's linears [out_i, width], original
        QStringList tokenText;
        QString textSource;
    };
    std::shared_ptr<const Entry> find(const std::string& key) const;
    void store(std::shared_ptr<const Entry> e);

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const Entry> last_;
};

// The four linear-input groups, in pipeline order.
QStringList activationGroups();

// Runs the whole computation (on a worker thread). progress returning false cancels (throws
// zp::Cancelled). Throws zp::Error subclasses naming what is wrong (no text for a non-demo model,
// block outside the model, a rotation block that does not divide the width).
ActivationData computeActivations(const ModelPtr& model, const QuantizedModelPtr& run,
                                  const ActivationRequest& request, ActivationCapture* cache,
                                  const zp::ProgressFn& progress);
