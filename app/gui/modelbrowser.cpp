#include "app/gui/modelbrowser.h"

#include <QHeaderView>

#include <algorithm>

#include "app/gui/colors.h"

namespace {
enum Col { Name, Shape, Bits, Method, Ratio };
constexpr int LayerRole = Qt::UserRole + 1;
}  // namespace

ModelBrowser::ModelBrowser(QWidget* parent) : QTreeWidget(parent)
{
    setColumnCount(5);
    setHeaderLabels({tr("Layer"), tr("Shape"), tr("Bits"), tr("Method"), tr("Ratio")});
    headerItem()->setToolTip(Ratio, tr("Loss / Min-Max loss (below 1: better than Min-Max)"));
    setUniformRowHeights(true);
    setAlternatingRowColors(true);
    header()->setStretchLastSection(false);
    header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    setToolTip(tr("Click a layer to open it in the inspector"));
    connect(this, &QTreeWidget::itemClicked, this, [this](QTreeWidgetItem* item) {
        QVariant v = item->data(Name, LayerRole);
        if (v.isValid())
            Q_EMIT layerActivated(v.toInt());
    });
    connect(this, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item) {
        QVariant v = item->data(Name, LayerRole);
        if (v.isValid())
            Q_EMIT layerActivated(v.toInt());
    });
}

void ModelBrowser::setModel(ModelPtr model)
{
    model_ = std::move(model);
    clear();
    if (!model_)
        return;
    auto* root = new QTreeWidgetItem(this, {model_->name()});
    root->setToolTip(Name, model_->description());
    std::vector<QTreeWidgetItem*> blocks;
    for (int b = 0; b < model_->blockCount(); ++b)
        blocks.push_back(new QTreeWidgetItem(root, {tr("block %1").arg(b)}));
    const auto& layers = model_->layers();
    for (size_t i = 0; i < layers.size(); ++i) {
        const LayerInfo& l = layers[i];
        auto* item = new QTreeWidgetItem(
            blocks.at(l.block), {l.type, QStringLiteral("%1 x %2").arg(l.rows).arg(l.cols)});
        item->setData(Name, LayerRole, static_cast<int>(i));
        item->setToolTip(Name,
                         tr("%1: %2 outputs x %3 inputs").arg(l.name).arg(l.rows).arg(l.cols));
    }
    // The model and block rows span all columns, so the layer column only needs the layer names.
    root->setFirstColumnSpanned(true);
    for (QTreeWidgetItem* b : blocks)
        b->setFirstColumnSpanned(true);
    int nameWidth = fontMetrics().horizontalAdvance(tr("Layer"));
    for (const QString& t : model_->layerTypes())
        nameWidth = std::max(nameWidth, fontMetrics().horizontalAdvance(t));
    header()->setSectionResizeMode(Name, QHeaderView::Interactive);
    setColumnWidth(Name, nameWidth + 3 * indentation() + 8);
    root->setExpanded(true);
    for (QTreeWidgetItem* b : blocks)
        b->setExpanded(model_->blockCount() <= 8);
}

QTreeWidgetItem* ModelBrowser::itemOf(int layer) const
{
    if (!model_ || layer < 0 || layer >= static_cast<int>(model_->layers().size()) ||
        topLevelItemCount() == 0)
        return nullptr;
    const LayerInfo& l = model_->layers()[layer];
    QTreeWidgetItem* block = topLevelItem(0)->child(l.block);
    for (int k = 0; block && k < block->childCount(); ++k)
        if (block->child(k)->data(Name, LayerRole).toInt() == layer)
            return block->child(k);
    return nullptr;
}

void ModelBrowser::setResult(const LayerResult& r)
{
    QTreeWidgetItem* item = itemOf(r.layer);
    if (!item)
        return;
    item->setText(Bits, QString::number(r.settings.bits));
    item->setText(Method, r.settings.label());
    item->setText(Ratio, QString::number(r.ratio(), 'f', 3));
    item->setBackground(Ratio, colors::ratio(r.ratio()));
    item->setForeground(Ratio, QColor(20, 20, 20));
    item->setToolTip(Ratio, tr("%1 %2 vs Min-Max %3")
                                .arg(r.lossName())
                                .arg(r.loss(), 0, 'g', 4)
                                .arg(r.lossMinMax(), 0, 'g', 4));
}

void ModelBrowser::clearResults()
{
    if (!model_)
        return;
    for (size_t i = 0; i < model_->layers().size(); ++i)
        if (QTreeWidgetItem* item = itemOf(static_cast<int>(i))) {
            for (int c : {Bits, Method, Ratio})
                item->setText(c, QString());
            item->setBackground(Ratio, QBrush());
        }
}

void ModelBrowser::selectLayer(int layer)
{
    if (QTreeWidgetItem* item = itemOf(layer)) {
        setCurrentItem(item);
        scrollToItem(item);
    }
}
