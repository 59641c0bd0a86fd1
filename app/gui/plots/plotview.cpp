#include "app/gui/plots/plotview.h"

#include <QAction>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QMessageBox>
#include <QRegularExpression>
#include <QSaveFile>
#include <QTextStream>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>

#include <cmath>

#include "app/gui/plots/qcp.h"

PlotView::PlotView(const QString& title, QWidget* parent) : QWidget(parent), title_(title)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->setSpacing(2);
    auto* bar = new QHBoxLayout;
    auto* titleLabel = new QLabel(QStringLiteral("<b>%1</b>").arg(title.toHtmlEscaped()), this);
    hoverLabel_ = new QLabel(this);
    hoverLabel_->setStyleSheet(QStringLiteral("color: palette(mid);"));
    auto* reset = new QToolButton(this);
    reset->setText(tr("Reset"));
    reset->setToolTip(tr("Back to the full view (wheel zooms, drag pans)"));
    connect(reset, &QToolButton::clicked, this, &PlotView::resetView);
    auto* saveButton = new QToolButton(this);
    saveButton->setText(tr("Save…"));
    saveButton->setToolTip(tr("Save this plot as PNG or PDF, or its data as CSV"));
    connect(saveButton, &QToolButton::clicked, this, &PlotView::saveWithDialog);
    bar->addWidget(titleLabel);
    bar->addSpacing(12);
    bar->addWidget(hoverLabel_, 1);
    bar->addWidget(reset);
    bar->addWidget(saveButton);
    layout->addLayout(bar);

    plot_ = new QCustomPlot(this);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->setMinimumSize(240, 160);
    plot_->setNoAntialiasingOnDrag(true);
    plot_->setContextMenuPolicy(Qt::CustomContextMenu);
    plot_->setToolTip(tr("Wheel: zoom. Drag: pan. Hover: values. Right click: reset or save."));
    QFont f = font();
    f.setPointSizeF(f.pointSizeF() * 0.9);
    plot_->xAxis->setTickLabelFont(f);
    plot_->yAxis->setTickLabelFont(f);
    plot_->legend->setFont(f);
    plot_->legend->setBrush(QColor(255, 255, 255, 220));
    layout->addWidget(plot_, 1);

    connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
        QString text = hoverText(e->pos());
        setHoverLine(text);
        if (text.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(e->globalPosition().toPoint(), text, plot_);
    });
    connect(plot_, &QCustomPlot::mousePress, this,
            [this](QMouseEvent* e) { pressPos_ = e->pos(); });
    connect(plot_, &QCustomPlot::mouseRelease, this, [this](QMouseEvent* e) {
        if (e->button() == Qt::LeftButton && (e->pos() - pressPos_).manhattanLength() < 4)
            Q_EMIT clicked(plot_->xAxis->pixelToCoord(e->pos().x()),
                           plot_->yAxis->pixelToCoord(e->pos().y()));
    });
    connect(plot_, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
        QMenu menu(this);
        menu.addAction(tr("Reset view"), this, &PlotView::resetView);
        menu.addAction(tr("Save as PNG, PDF or CSV…"), this, &PlotView::saveWithDialog);
        menu.exec(plot_->mapToGlobal(pos));
    });
    clearPlot();
}

QWidget* PlotView::canvas() const
{
    return plot_;
}

void PlotView::clearPlot(const QString& message)
{
    plot_->clearPlottables();
    plot_->clearItems();
    plot_->legend->setVisible(false);
    if (caption_)
        caption_->setText(QString());
    // An empty plot shows its message, not a meaningless 0..5 frame.
    for (QCPAxis* a : {plot_->xAxis, plot_->yAxis})
        a->setVisible(message.isEmpty());
    if (!message.isEmpty()) {
        auto* t = new QCPItemText(plot_);
        t->position->setType(QCPItemPosition::ptAxisRectRatio);
        t->position->setCoords(0.5, 0.5);
        t->setText(message);
        t->setColor(QColor(110, 110, 110));
    }
    plot_->replot();
}

int PlotView::dataPointCount() const
{
    int n = 0;
    for (int i = 0; i < plot_->plottableCount(); ++i) {
        QCPAbstractPlottable* p = plot_->plottable(i);
        if (auto* g = qobject_cast<QCPGraph*>(p))
            n += g->dataCount();
        else if (auto* c = qobject_cast<QCPCurve*>(p))
            n += c->dataCount();
        else if (auto* b = qobject_cast<QCPBars*>(p))
            n += b->dataCount();
        else if (auto* m = qobject_cast<QCPColorMap*>(p))
            n += m->data()->keySize() * m->data()->valueSize();
    }
    return n;
}

bool PlotView::save(const QString& path, int width, int height)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QLatin1String("png"))
        return plot_->savePng(path, width, height);
    if (suffix == QLatin1String("pdf"))
        return plot_->savePdf(path, width, height);
    if (suffix == QLatin1String("csv")) {
        QSaveFile f(path);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Text))
            return false;
        QTextStream out(&f);
        writeCsv(out);
        out.flush();
        return f.commit();
    }
    return false;
}

void PlotView::saveWithDialog()
{
    QString base = title_.section(' ', 0, 2).toLower().replace(
        QRegularExpression(QStringLiteral("[^a-z0-9]+")), "_");
    QString path = QFileDialog::getSaveFileName(
        this, tr("Save %1").arg(title_), base + QStringLiteral(".png"),
        tr("PNG image (*.png);;PDF document (*.pdf);;CSV data (*.csv)"));
    if (path.isEmpty())
        return;
    if (QFileInfo(path).suffix().isEmpty())
        path += QStringLiteral(".png");
    if (save(path))
        Q_EMIT saved(path);
    else
        QMessageBox::warning(this, tr("Save plot"),
                             tr("Could not write %1 (use .png, .pdf or .csv).").arg(path));
}

void PlotView::writeCsv(QTextStream& out) const
{
    out.setRealNumberPrecision(10);
    out << "# " << title_ << "\n";
    for (int i = 0; i < plot_->plottableCount(); ++i) {
        QCPAbstractPlottable* p = plot_->plottable(i);
        const QString name = p->name().isEmpty() ? QStringLiteral("series %1").arg(i) : p->name();
        const QString kx =
            p->keyAxis()->label().isEmpty() ? QStringLiteral("x") : p->keyAxis()->label();
        const QString vy =
            p->valueAxis()->label().isEmpty() ? QStringLiteral("y") : p->valueAxis()->label();
        if (auto* g = qobject_cast<QCPGraph*>(p)) {
            out << "# " << name << "\n\"" << kx << "\",\"" << vy << "\"\n";
            for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
                out << it->key << "," << it->value << "\n";
        } else if (auto* c = qobject_cast<QCPCurve*>(p)) {
            out << "# " << name << "\n\"" << kx << "\",\"" << vy << "\"\n";
            for (auto it = c->data()->constBegin(); it != c->data()->constEnd(); ++it)
                out << it->key << "," << it->value << "\n";
        } else if (auto* b = qobject_cast<QCPBars*>(p)) {
            out << "# " << name << "\n\"" << kx << "\",\"" << vy << "\"\n";
            for (auto it = b->data()->constBegin(); it != b->data()->constEnd(); ++it)
                out << it->key << "," << it->value << "\n";
        } else if (auto* m = qobject_cast<QCPColorMap*>(p)) {
            out << "# " << name << "\n\"" << kx << "\",\"" << vy << "\",\"value\"\n";
            QCPColorMapData* d = m->data();
            for (int a = 0; a < d->keySize(); ++a)
                for (int b2 = 0; b2 < d->valueSize(); ++b2) {
                    double x, y;
                    d->cellToCoord(a, b2, &x, &y);
                    out << x << "," << y << "," << d->cell(a, b2) << "\n";
                }
        }
    }
}

bool PlotView::nearestPoint(const QPoint& pixel, QString* name, double* key, double* value,
                            int* index, double radius) const
{
    double best = radius;
    bool found = false;
    for (int i = 0; i < plot_->plottableCount(); ++i) {
        QCPAbstractPlottable* p = plot_->plottable(i);
        if (p->name().isEmpty() || !p->visible() || qobject_cast<QCPColorMap*>(p))
            continue;
        QVariant details;
        double d = p->selectTest(pixel, false, &details);
        if (d < 0 || d > best)
            continue;
        QCPDataSelection sel = details.value<QCPDataSelection>();
        if (sel.isEmpty())
            continue;
        int k = sel.dataRange().begin();
        auto* iface = p->interface1D();
        if (!iface || k < 0 || k >= iface->dataCount())
            continue;
        best = d;
        found = true;
        *name = p->name();
        *key = iface->dataMainKey(k);
        *value = iface->dataMainValue(k);
        *index = k;
    }
    return found;
}

QString PlotView::hoverText(const QPoint& pixel) const
{
    QString name;
    double key = 0, value = 0;
    int index = 0;
    if (nearestPoint(pixel, &name, &key, &value, &index))
        return QStringLiteral("%1: %2 = %3, %4 = %5")
            .arg(name, plot_->xAxis->label().section(' ', 0, 0))
            .arg(key, 0, 'g', 5)
            .arg(plot_->yAxis->label().section(' ', 0, 0))
            .arg(value, 0, 'g', 5);
    for (int i = 0; i < plot_->plottableCount(); ++i)
        if (auto* m = qobject_cast<QCPColorMap*>(plot_->plottable(i))) {
            double x = m->keyAxis()->pixelToCoord(pixel.x()),
                   y = m->valueAxis()->pixelToCoord(pixel.y());
            int a, b;
            m->data()->coordToCell(x, y, &a, &b);
            if (a >= 0 && b >= 0 && a < m->data()->keySize() && b < m->data()->valueSize())
                return QStringLiteral("%1 = %2, %3 = %4: %5 = %6")
                    .arg(m->keyAxis()->label().section(' ', 0, 0))
                    .arg(x, 0, 'g', 4)
                    .arg(m->valueAxis()->label().section(' ', 0, 0))
                    .arg(y, 0, 'g', 4)
                    .arg(m->name().isEmpty() ? QStringLiteral("value") : m->name())
                    .arg(m->data()->cell(a, b), 0, 'g', 5);
        }
    return QString();
}

void PlotView::setHoverLine(const QString& text)
{
    hoverLabel_->setText(text);
}

void PlotView::setCaption(const QString& text)
{
    if (!top_) {
        plot_->plotLayout()->insertRow(0);
        top_ = new QCPLayoutGrid;
        plot_->plotLayout()->addElement(0, 0, top_);
        plot_->plotLayout()->setRowStretchFactor(0, 0.001);
    }
    if (!caption_) {
        caption_ = new QCPTextElement(plot_);
        caption_->setTextFlags(Qt::AlignLeft | Qt::AlignVCenter);
        caption_->setTextColor(QColor(40, 40, 40));
        QFont f = font();
        f.setPointSizeF(f.pointSizeF() * 0.9);
        caption_->setFont(f);
        top_->addElement(0, 0, caption_);
    }
    caption_->setText(text);
}

void PlotView::legendAbove(int columns)
{
    if (!top_) {
        plot_->plotLayout()->insertRow(0);
        top_ = new QCPLayoutGrid;
        plot_->plotLayout()->addElement(0, 0, top_);
        plot_->plotLayout()->setRowStretchFactor(0, 0.001);
    }
    if (!legendMoved_) {
        plot_->axisRect()->insetLayout()->take(plot_->legend);
        top_->addElement(caption_ ? 1 : 0, 0, plot_->legend);  // under the caption
        plot_->legend->setBorderPen(Qt::NoPen);
        plot_->legend->setBrush(Qt::NoBrush);
        legendMoved_ = true;
    }
    plot_->legend->setWrap(columns);
    // Rearranges the items already there (the graphs were added before) under the new wrap.
    plot_->legend->setFillOrder(QCPLegend::foColumnsFirst, true);
    plot_->legend->setVisible(true);
}

void PlotView::setLogTicks(QCustomPlot* p, double lo, double hi)
{
    QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
    if (lo > 0 && hi > lo) {
        int added = 0;
        for (int e = static_cast<int>(std::floor(std::log10(lo))) - 1;
             e <= static_cast<int>(std::ceil(std::log10(hi))) + 1; ++e)
            for (double m : {1.0, 2.0, 5.0}) {
                const double v = m * std::pow(10.0, e);
                if (v >= lo && v <= hi) {
                    t->addTick(v, QString::number(v, 'g', 3));
                    ++added;
                }
            }
        if (added < 2) {  // a narrow range: its ends
            t->addTick(lo, QString::number(lo, 'g', 3));
            t->addTick(hi, QString::number(hi, 'g', 3));
        }
    }
    p->yAxis->setTicker(t);
}

void PlotView::finishPlot(bool keepRanges)
{
    for (QCPAxis* a : {plot_->xAxis, plot_->yAxis})
        a->setVisible(true);
    if (!keepRanges)
        plot_->rescaleAxes(true);
    homeX0_ = plot_->xAxis->range().lower;
    homeX1_ = plot_->xAxis->range().upper;
    homeY0_ = plot_->yAxis->range().lower;
    homeY1_ = plot_->yAxis->range().upper;
    plot_->replot();
}

void PlotView::resetView()
{
    plot_->xAxis->setRange(homeX0_, homeX1_);
    plot_->yAxis->setRange(homeY0_, homeY1_);
    plot_->replot();
}
