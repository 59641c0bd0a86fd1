#include "app/gui/workbenchmodel.h"

#include "core/model/model.h"

int WorkbenchModel::layerIndex(int block, int typeIndex) const
{
    for (size_t i = 0; i < layers_.size(); ++i)
        if (layers_[i].block == block && layers_[i].typeIndex == typeIndex)
            return static_cast<int>(i);
    return -1;
}

namespace {

// A model read by the engine: weights come from disk one block at a time. There is no calibration
// yet (it arrives with the pipeline), so the importance is h = 1: plain weight MSE.
class EngineModel : public WorkbenchModel {
public:
    explicit EngineModel(const QString& path) : model_(zp::model::Model::open(path.toStdString()))
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
        blocks_ = static_cast<int>(c.num_layers);
        for (const std::string& n : zp::model::linear_names())
            types_ << QString::fromStdString(n);
        for (int b = 0; b < blocks_; ++b)
            for (int t = 0; t < types_.size(); ++t) {
                LayerInfo l;
                l.block = b;
                l.typeIndex = t;
                l.type = types_[t];
                l.name = QStringLiteral("block %1 / %2").arg(b).arg(l.type);
                const QString& n = l.type;
                if (n == "q_proj") {
                    l.rows = c.q_dim();
                    l.cols = c.hidden_size;
                } else if (n == "k_proj" || n == "v_proj") {
                    l.rows = c.kv_dim();
                    l.cols = c.hidden_size;
                } else if (n == "o_proj") {
                    l.rows = c.hidden_size;
                    l.cols = c.q_dim();
                } else if (n == "down_proj") {
                    l.rows = c.hidden_size;
                    l.cols = c.intermediate_size;
                } else {
                    l.rows = c.intermediate_size;
                    l.cols = c.hidden_size;
                }
                layers_.push_back(l);
            }
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
            "no calibration data yet (it arrives with the pipeline): importance h = 1, "
            "losses are plain weight MSE");
    }

private:
    std::unique_ptr<zp::model::Model> model_;
};

}  // namespace

ModelPtr openEngineModel(const QString& path)
{
    return std::make_shared<EngineModel>(path);
}
