// The model the workbench works on: its linear layers (block, type, shape) and, on demand, each
// layer's weight and importance. Two kinds plug in: the built-in demo (synthetic weights) and a
// model opened through the engine (core/model). Read-only once built, so one instance is shared
// by the GUI thread and the job/inspector threads.
#pragma once

#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace zp::model {
class Model;
}
namespace zp::tok {
class Tokenizer;
}
namespace zp::quant {
struct QuantizedModel;
}

struct LayerInfo {
    QString name;  // "block 2 / q_proj"
    QString type;  // "q_proj"
    int block = 0;
    int typeIndex = 0;  // index into WorkbenchModel::layerTypes()
    int64_t rows = 0;   // output features
    int64_t cols = 0;   // input features
};

class WorkbenchModel {
public:
    virtual ~WorkbenchModel() = default;

    QString name() const { return name_; }
    QString source() const { return source_; }  // "demo" or the path opened
    QString description() const { return description_; }
    int blockCount() const { return blocks_; }
    const QStringList& layerTypes() const { return types_; }
    const std::vector<LayerInfo>& layers() const { return layers_; }
    int layerIndex(int block, int typeIndex) const;  // -1 if absent

    // [rows, cols] float32 CPU. Thread-safe. Throws zp::Error subclasses.
    virtual at::Tensor weight(int layer) const = 0;
    // [cols] float64 >= 0, the calibration importance for `seed`; undefined = none (h = 1).
    virtual at::Tensor importance(int layer, uint64_t seed) const = 0;
    // One line for the job log: where the importance comes from.
    virtual QString importanceNote() const = 0;
    // A private engine instance for one job, evaluation or export (the caller may replace its
    // blocks). Throws zp::Error subclasses (e.g. a session whose model is not available).
    virtual std::unique_ptr<zp::model::Model> openEngine() const = 0;
    // The tokenizer that goes with the model: the demo's, a .gguf model's own, or one found
    // beside the model (a tokenizer.json / tokenizer.model in its directory). Throws zp::IoError
    // naming what is missing.
    virtual std::unique_ptr<zp::tok::Tokenizer> defaultTokenizer() const = 0;
    // The built-in synthetic demo (its own weights, tokenizer and session path "demo").
    virtual bool isDemo() const { return false; }
    // Calibration and evaluation text default to text sampled from the model itself (seeded,
    // temperature 1) when no file is given: both demos, the synthetic one and SmolLM2.
    virtual bool samplesOwnText() const { return isDemo(); }
    // False when only a session's per-layer figures are known (no weights to inspect).
    virtual bool hasWeights() const { return true; }

protected:
    QString name_, source_, description_;
    int blocks_ = 0;
    QStringList types_;
    std::vector<LayerInfo> layers_;
};

using ModelPtr = std::shared_ptr<const WorkbenchModel>;

// Opens a model file or directory through the engine (HF safetensors or llama2.c). Throws
// zp::IoError / zp::FormatError naming the file.
ModelPtr openEngineModel(const QString& path);
// The real demo (packaging/setup.sh demo): a GGUF model such as SmolLM2-135M-Instruct opened as
// openEngineModel does, whose calibration and evaluation text default to text sampled from the
// model itself (no download beyond the model), and whose description says where its weights come
// from. Throws as openEngineModel.
ModelPtr openRealDemoModel(const QString& gguf);
// Layer list of a session whose model cannot be opened: per-layer figures only, no weights
// (weight() and openEngine() throw zp::IoError naming the missing model).
ModelPtr sessionOnlyModel(const zp::quant::QuantizedModel& qm);
// The layer index of (block, type name) in m, -1 if absent.
int layerIndexOf(const WorkbenchModel& m, int64_t block, const std::string& type);
// Opens a tokenizer by path (empty: the model's default). Throws zp::Error.
std::unique_ptr<zp::tok::Tokenizer> openTokenizer(const WorkbenchModel& m, const QString& path);
