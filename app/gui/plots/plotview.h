// The base of every plot in the workbench: a QCustomPlot with zoom (wheel), pan (drag), values on
// hover, a reset button and saving as PNG, PDF or CSV. Subclasses take plain values (vectors or a
// value struct) and draw them; only the files in this folder include qcustomplot.h.
#pragma once

#include <QPoint>
#include <QWidget>

class QCustomPlot;
class QCPLayoutGrid;
class QCPTextElement;
class QLabel;
class QTextStream;

class PlotView : public QWidget {
    Q_OBJECT
public:
    explicit PlotView(const QString& title, QWidget* parent = nullptr);

    QCustomPlot* plot() const { return plot_; }
    QWidget* canvas() const;  // the plot's widget (for mouse events)
    QString title() const { return title_; }

    // Removes every plottable and item and shows `message` in the middle (empty: no message).
    void clearPlot(const QString& message = QString());
    // Number of data points currently drawn (graphs, curves, bars and colour-map cells).
    int dataPointCount() const;
    // By suffix: .png / .pdf (width, height in pixels; 0 = the widget's size) or .csv.
    bool save(const QString& path, int width = 0, int height = 0);
    // The data behind the plot; the default writes every named graph, curve, bar set and colour
    // map.
    virtual void writeCsv(QTextStream& out) const;
    // The text the hover shows at a widget position of the plot (empty: nothing near).
    virtual QString hoverText(const QPoint& pixel) const;

public Q_SLOTS:
    void resetView();
    void saveWithDialog();

Q_SIGNALS:
    // A click without a drag, in the coordinates of the bottom and left axes.
    void clicked(double x, double y);
    void saved(const QString& path);

protected:
    // Call after drawing: rescales to the data (or keeps the ranges a subclass set when
    // keepRanges), remembers them as the home view and replots.
    void finishPlot(bool keepRanges = false);
    // The nearest named data point to `pixel` within `radius` pixels: plottable name, key, value,
    // index.
    bool nearestPoint(const QPoint& pixel, QString* name, double* key, double* value, int* index,
                      double radius = 12.0) const;
    void setHoverLine(const QString& text);
    // Rows above the axis rect (created once): a caption, and under it the legend (`columns`
    // entries per line), so that neither covers the data. Call setCaption first.
    void setCaption(const QString& text);
    void legendAbove(int columns);
    // Ticks at 1, 2, 5 x 10^k for a logarithmic value axis spanning [lo, hi].
    static void setLogTicks(QCustomPlot* plot, double lo, double hi);

private:
    QString title_;
    QCustomPlot* plot_ = nullptr;
    QLabel* hoverLabel_ = nullptr;
    QPoint pressPos_;
    QCPLayoutGrid* top_ = nullptr;
    QCPTextElement* caption_ = nullptr;
    bool legendMoved_ = false;
    double homeX0_ = 0, homeX1_ = 1, homeY0_ = 0, homeY1_ = 1;
};
