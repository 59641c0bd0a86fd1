// Per-token relative quantization error of a linear-input group's activations, before and after
// its transform (||fq(x) - x|| / ||x|| and ||fq(x Q) Q^-1 - x|| / ||x||), with the chosen token
// marked; clicking a token chooses it.
#pragma once

#include <vector>

#include "app/gui/plots/plotview.h"

class TokenErrorPlot : public PlotView {
    Q_OBJECT
public:
    explicit TokenErrorPlot(QWidget* parent = nullptr);

    void setData(const std::vector<double>& before, const std::vector<double>& after,
                 const QString& afterName, int selectedToken, const QStringList& tokenText = {});
    QString hoverText(const QPoint& pixel) const override;

Q_SIGNALS:
    void tokenClicked(int token);

private:
    std::vector<double> before_, after_;
    QStringList text_;
};
