// `zeropoint --screenshots DIR --activations --tokenizer T --calib TEXT MODEL`: the Activations
// tab before and after a W4A4 RUQuant job (RTN weights, clip 0.8 / 0.9 as core/MATHS.md
// section 8): first with a transform built in the view, then with the run's, plus the overview with
// its activation-error heatmap. PNG files in DIR; done(exitCode) at the end.
#pragma once

#include <QDir>
#include <QObject>
#include <QStringList>

class MainWindow;
class PlotView;

class ActivationScreenshots : public QObject {
    Q_OBJECT
public:
    ActivationScreenshots(MainWindow* window, const QString& dir, const QString& model,
                          const QString& tokenizer, const QString& calib,
                          QObject* parent = nullptr);
    void start();
    const QStringList& written() const { return written_; }

Q_SIGNALS:
    void done(int exitCode);

private:
    void viewUpdated();
    void jobFinished();
    void grabWindow(const QString& name);
    void savePlots(const QString& prefix);
    void fail(const QString& why);

    MainWindow* window_;
    QDir dir_;
    QString model_, tokenizer_, calib_;
    QStringList written_;
    int stage_ = 0;
    bool finished_ = false;
};
