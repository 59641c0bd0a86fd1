// The model browser: blocks -> linear layers with shape, bits, method and loss ratio to Min-Max
// (coloured), filled in live as the job's layers finish.
#pragma once

#include <QTreeWidget>

#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

class ModelBrowser : public QTreeWidget {
    Q_OBJECT
public:
    explicit ModelBrowser(QWidget* parent = nullptr);

    void setModel(ModelPtr model);
    void setResult(const LayerResult& r);
    void clearResults();
    void selectLayer(int layer);

Q_SIGNALS:
    void layerActivated(int layer);

private:
    QTreeWidgetItem* itemOf(int layer) const;

    ModelPtr model_;
};
