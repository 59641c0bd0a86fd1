#include "app/gui/plots/rowerrorplot.h"

#include <algorithm>
#include <cmath>

#include "app/gui/plots/qcp.h"

#include "app/gui/colors.h"

RowErrorPlot::RowErrorPlot(QWidget* parent)
    : PlotView(tr("(e) Per-row error: Min-Max vs method"), parent)
{
    connect(plot(), &QCustomPlot::plottableClick, this,
            [this](QCPAbstractPlottable*, int, QMouseEvent* e) {
                // The row points lie under the y = x line and the chosen-row ring: whatever was
                // hit, take the row point nearest to the click.
                if (plot()->graphCount() == 0 || plot()->graph(0)->name() != tr("row"))
                    return;
                QCPGraph* rows = plot()->graph(0);
                QVariant details;
                const double d = rows->selectTest(e->position(), false, &details);
                const QCPDataSelection sel = details.value<QCPDataSelection>();
                if (d < 0 || d > 12.0 || sel.isEmpty())
                    return;
                // Points are stored sorted by Min-Max error; the graph's "rows" property maps back
                // to rows.
                QVariant row = rows->property("rows").toList().value(sel.dataRange().begin());
                if (row.isValid())
                    Q_EMIT rowClicked(row.toInt());
            });
    clearPlot(tr("Run a job to compare rows"));
}

void RowErrorPlot::setData(const std::vector<double>& minmax, const std::vector<double>& method,
                           const QString& methodName, int selectedRow)
{
    clearPlot();
    if (minmax.empty())
        return;
    QCustomPlot* p = plot();
    // QCPGraph sorts by key: sort the rows by their Min-Max error ourselves and remember the order.
    std::vector<int> order(minmax.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return minmax[a] < minmax[b]; });
    auto* g = p->addGraph();
    g->setName(tr("row"));
    g->setLineStyle(QCPGraph::lsNone);
    QColor c = colors::neuqi();
    c.setAlpha(150);
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, c, 5));
    QVariantList rows;
    double lo = HUGE_VAL, hi = 0;
    QVector<double> xs, ys;
    for (int r : order) {
        double x = std::max(minmax[r], 1e-30), y = std::max(method[r], 1e-30);
        xs << x;
        ys << y;
        rows << r;
        lo = std::min({lo, x, y});
        hi = std::max({hi, x, y});
    }
    g->setData(xs, ys, true);
    g->setProperty("rows", rows);
    auto* diag = p->addGraph();
    diag->setName(tr("y = x (no gain)"));
    diag->setPen(QPen(QColor(120, 120, 120), 1, Qt::DashLine));
    diag->addData(lo / 2, lo / 2);
    diag->addData(hi * 2, hi * 2);
    if (selectedRow >= 0 && selectedRow < static_cast<int>(minmax.size())) {
        auto* s = p->addGraph();
        s->setName(tr("chosen row %1").arg(selectedRow));
        s->setLineStyle(QCPGraph::lsNone);
        s->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(colors::minMax(), 2.5),
                                           Qt::NoBrush, 13));
        s->addData(std::max(minmax[selectedRow], 1e-30), std::max(method[selectedRow], 1e-30));
    }
    for (QCPAxis* a : {p->xAxis, p->yAxis}) {
        a->setScaleType(QCPAxis::stLogarithmic);
        a->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
        a->setRange(lo / 1.5, hi * 1.5);
    }
    p->xAxis->setLabel(tr("Min-Max error of the row (mean group loss)"));
    p->yAxis->setLabel(tr("%1 error of the row").arg(methodName));
    p->legend->setVisible(true);
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    finishPlot(true);
}

QString RowErrorPlot::hoverText(const QPoint& pixel) const
{
    QString name;
    double x, y;
    int index;
    // A row's point wins over the y = x line drawn through it.
    if (plot()->graphCount() > 0) {
        QCPGraph* rows = plot()->graph(0);
        QVariant details;
        const double d = rows->selectTest(pixel, false, &details);
        const QCPDataSelection sel = details.value<QCPDataSelection>();
        if (d >= 0 && d <= 12.0 && !sel.isEmpty()) {
            index = sel.dataRange().begin();
            if (index >= 0 && index < rows->dataCount()) {
                name = rows->name();
                x = rows->dataMainKey(index);
                y = rows->dataMainValue(index);
            }
        }
    }
    if (name.isEmpty() && !nearestPoint(pixel, &name, &x, &y, &index))
        return QString();
    if (name == tr("row") && plot()->graphCount() > 0) {
        QVariant row = plot()->graph(0)->property("rows").toList().value(index);
        return tr("row %1: Min-Max %2, method %3 (ratio %4) - click to inspect")
            .arg(row.toInt())
            .arg(x, 0, 'g', 4)
            .arg(y, 0, 'g', 4)
            .arg(y / x, 0, 'f', 3);
    }
    return PlotView::hoverText(pixel);
}

QPoint RowErrorPlot::pixelOfRow(int row) const
{
    if (plot()->graphCount() == 0)
        return QPoint(-1, -1);
    QCPGraph* g = plot()->graph(0);
    const int k = g->property("rows").toList().indexOf(row);
    if (k < 0 || k >= g->dataCount())
        return QPoint(-1, -1);
    auto it = g->data()->at(k);
    return QPoint(static_cast<int>(g->keyAxis()->coordToPixel(it->key)),
                  static_cast<int>(g->valueAxis()->coordToPixel(it->value)));
}
