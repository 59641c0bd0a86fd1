// The values a quantization job takes and hands back. Plain values: they cross from the worker
// thread to the GUI thread through queued signals (tensors are reference-counted and never written
// after they are sent).
#pragma once

#include <QMetaType>
#include <QString>

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/analysis/outliers.h"
#include "core/pipeline/distill.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/prepare.h"
#include "core/quant/quantizer.h"
#include "core/quant/result.h"

// A job's settings. Defaults, names and ranges come from the one run-options table
// (core/pipeline/run_options.h), the same the command line uses.
struct JobSettings {
    JobSettings();             // every field at the table's default
    QString pipeline;          // a name of zp::pipeline::pipeline_methods()
    zp::quant::Method method;  // its (s, z) rule (kept in sync)
    int bits;
    int64_t groupSize;  // -1: channel-wise
    uint64_t seed;      // calibration seed
    QString device;     // "cpu" or "cuda:N"
    // Calibration: a text / jsonl / ids file, or empty for the demo's sampled text (data-free RTN
    // for other models).
    QString calibPath;
    QString calibFormat;  // "auto", "text", "jsonl", "ids"
    int nsamples;         // N
    int seqlen;           // L (shortened to the model's context when the job runs)
    QString tokenizer;    // empty: the model's own (demo tokenizer, or tokenizer.json beside it)
    // Weights' Min-Max clip and the activation side (RUQuant, core/MATHS.md section 8).
    double wclip;        // weight clip ratio (swc)
    QString protect;     // NeUQI groups searched without clipping: off, auto, all or k sigmas
    QString preset;      // llama.cpp preset ("none", "Q4_K_M", ...): layers on its GGUF types
    double bpw = 0.0;    // with a preset: a size budget in bits per weight of the linears
    int abits;           // activation bits (16: none)
    double aclip;        // activation clip ratio (lac)
    QString transform;   // a name of zp::quant::transform_kinds(): "none", "smooth", ...
    double alpha;        // SmoothQuant migration strength
    int64_t rotBlock;    // rotation block (0: the largest power of two up to 128 dividing a width)
    int rotSteps;        // greedy Householder steps per block rotation
    int givensRounds;    // permutation + Givens rounds per greedy step
    QString givens;      // "paper" or "code"
    int64_t rotTokens;   // calibration tokens the rotations are built from
    int finetuneEpochs;  // RUQuant stage 2: epochs of AdamW on the Householder vectors (0: none)
    double finetuneLr;   // RUQuant stage 2: its learning rate

    // Sets pipeline and method together; false for an unknown name.
    bool setPipeline(const QString& name);
    bool isGptq() const;
    zp::quant::QuantConfig quantConfig() const;
    // The transform options of these settings (kind, alpha, block, steps, Givens, seed, tokens).
    zp::quant::TransformOptions transformOptions() const;
    // The pipeline's options through the run-options table (every value checked there):
    // InvalidArgument naming the option for a value the table refuses.
    zp::pipeline::PipelineOptions pipelineOptions() const;
    // "W2A4" style: the weight and activation bits ("W2" alone at 16 activation bits).
    QString bitsLabel() const;
    QString label() const;  // "GPTQ + NeUQI"
    // "GPTQ + NeUQI, 2 bits, g128, calibration 16 x 128 (seed 0), cpu"; with the activation
    // side: "..., A4 (clip 0.9), RUQuant (alpha 0.6), cpu".
    QString describe() const;
};

// A distillation job's settings (NeUQI's lightweight distillation, core/MATHS.md section 7):
// the table's "distill" options and its own calibration draw. Defaults and ranges from the
// run-options table.
struct DistillSettings {
    DistillSettings();  // every field at the table's default
    double lr;
    int epochs;
    double warmup;      // share of the steps with a linear warm-up
    int64_t batch;      // sequences per step (the table's distill_batch)
    bool trainNorms;    // also the RMSNorm gains and q/k/v biases
    QString calibPath;  // text, jsonl or ids file (empty: the demo's sampled text)
    QString calibFormat;
    int nsamples, seqlen;
    uint64_t seed;
    QString tokenizer;  // empty: the model's own
    QString device;

    // The engine's options through the run-options table (without calibration ids and
    // callbacks): InvalidArgument naming the option for a value the table refuses.
    zp::pipeline::DistillOptions distillOptions() const;
    zp::pipeline::CalibrationRequest calibration() const;
    // "lr 0.0003, 1 epoch, warm-up 0.1, batch 1, norms trained, 16 x 128 of text.txt (seed 0)"
    QString describe() const;
};

struct LayerResult {
    int layer = -1;  // index into WorkbenchModel::layers()
    JobSettings settings;
    int64_t groupSize = 0;  // resolved (cols for channel-wise)
    double diagLoss = 0.0, diagLossMinMax = 0.0;
    // Layers quantized by GPTQ with calibration data: the output error on that data,
    // tr(dW H dW^T), and RTN Min-Max's (-1: not known).
    bool gptq = false;
    double proxyLoss = -1.0, proxyLossMinMax = -1.0;
    double seconds = 0.0;
    at::Tensor scale, zero;                 // [rows, groups], CPU
    at::Tensor groupLoss, groupLossMinMax;  // [rows, groups] float64, CPU (undefined: no weights)
    at::Tensor importance;                  // [cols] float64, CPU: the h used
    // The engine's result (codes included), for the views that need W_hat (the Outliers view);
    // null where the model's weights were not available.
    std::shared_ptr<const zp::quant::LayerResult> engine;
    // The weights these parameters clip (analysis::clipped_outliers) at least kClippedFloor
    // standard deviations out: their sigmas, decreasing; the most extreme one in full.
    // clippedKnown is false where the weights were not available.
    static constexpr double kClippedFloor = 3.0;
    std::vector<float> clippedSigmas;
    zp::analysis::ClippedWeight worstClipped;
    bool clippedKnown = false;
    bool valid() const { return layer >= 0; }
    // What the views compare with Min-Max. GPTQ moves the weights to lower the output error on
    // the calibration data, not their error under h, which can end above Min-Max's on a layer
    // where the output error is a fraction of it: for GPTQ layers the views compare the output
    // error with RTN Min-Max's. Elsewhere they compare the weight error under h (the diag loss,
    // what NeUQI's search minimises) with Min-Max's.
    bool comparesOutputError() const { return gptq && proxyLoss >= 0.0 && proxyLossMinMax > 0.0; }
    double loss() const { return comparesOutputError() ? proxyLoss : diagLoss; }
    double lossMinMax() const { return comparesOutputError() ? proxyLossMinMax : diagLossMinMax; }
    double ratio() const { return lossMinMax() > 0.0 ? loss() / lossMinMax() : 1.0; }
    // "output loss" (GPTQ) or "diag loss", as the log and tooltips name loss().
    QString lossName() const;
    // How many clipped weights lie at least k (>= kClippedFloor) standard deviations out.
    int clippedBeyond(double k) const;
};

struct JobProgress {
    int layersDone = 0, layerCount = 0;
    int block = 0, blockCount = 0;
    QString layerName;     // the layer being worked on
    QString stage;         // the engine's stage ("block 2/4 q_proj: collecting H")
    double elapsed = 0.0;  // seconds
    double eta = -1.0;     // seconds left, -1 unknown
    bool distill = false;  // a distillation job: layersDone / layerCount count its work units
};

struct JobSummary {
    int layersDone = 0;
    double seconds = 0.0;
    double diagLoss = 0.0, diagLossMinMax = 0.0;  // summed over the layers done
    double loss = 0.0, lossMinMax = 0.0;          // LayerResult::loss(), lossMinMax(), summed
};

using QuantizedModelPtr = std::shared_ptr<const zp::quant::QuantizedModel>;

// What a distillation job hands back: the result it started from and the trained one (codes
// unchanged), and the engine's figures (zp::pipeline::DistillResult).
struct DistillOutcome {
    QuantizedModelPtr before, after;
    DistillSettings settings;
    std::vector<double> loss;  // per step
    double lossBefore = 0.0, lossAfter = 0.0;
    int64_t steps = 0, tokens = 0;
    double seconds = 0.0;
    QString calibrationSource;
};
using DistillOutcomePtr = std::shared_ptr<const DistillOutcome>;

Q_DECLARE_METATYPE(JobSettings)
Q_DECLARE_METATYPE(LayerResult)
Q_DECLARE_METATYPE(JobProgress)
Q_DECLARE_METATYPE(JobSummary)
Q_DECLARE_METATYPE(QuantizedModelPtr)
Q_DECLARE_METATYPE(DistillSettings)
Q_DECLARE_METATYPE(DistillOutcomePtr)

QString methodLabel(zp::quant::Method m);
QString formatSeconds(double s);  // "0.4 s", "2 min 05 s"
// The settings a pipeline result was made with (for the table and the inspector).
JobSettings settingsOf(const zp::quant::QuantizedModel& qm);
// One engine layer result as the views show it. W: the layer's original weights (undefined: the
// model is not available, so no per-group figures).
LayerResult toViewResult(int layer, const zp::quant::LayerResult& r, const JobSettings& s,
                         const at::Tensor& W);
