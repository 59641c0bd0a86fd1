// The workbench GUI, offscreen: a calibrated GPTQ job on the demo runs to completion and fills the
// table, the inspector and the overview; cancelling returns to idle with the previous results kept
// and the saved session untouched, and a cancelled export leaves nothing at its output path;
// sessions save and reopen with the same figures; the evaluation tab fills
// both perplexities and both texts; the export dialog writes a file; the playground follows its
// sliders; bad files give a message in the window and the app keeps going.
#include <QSpinBox>
#include <QtTest/QtTest>

#ifdef ZP_HAVE_GUI  // defined by zp_gui (app/gui/CMakeLists.txt); without the GUI this test skips

#include <QAbstractItemModelTester>
#include <QPlainTextEdit>
#include <QPushButton>

#include <QComboBox>
#include <QSignalSpy>
#include <QSlider>
#include <QSortFilterProxyModel>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtWidgets/QApplication>
#include <array>
#include <cmath>

#include "app/gui/demomodel.h"
#include "app/gui/evalview.h"
#include "app/gui/exportdialog.h"
#include "app/gui/inspectorview.h"
#include "app/gui/jobcontroller.h"
#include "app/gui/jobpanel.h"
#include "app/gui/layertablemodel.h"
#include "app/gui/mainwindow.h"
#include "app/gui/overviewview.h"
#include "app/gui/playgroundview.h"
#include "app/gui/plots/plotview.h"
#include "app/gui/plots/rowerrorplot.h"
#include "core/analysis/group_study.h"
#include "core/common/error.h"
#include "core/demo/demo_model.h"
#include "core/demo/synthetic_group.h"
#include "core/export/session.h"
#include "core/pipeline/run_options.h"

class TestGui : public QObject {
    Q_OBJECT

private:
    // Small N x L: CI has two cores.
    static JobSettings quickSettings(const QString& method = QStringLiteral("rtn-neuqi"))
    {
        JobSettings s;
        s.setPipeline(method);
        s.bits = 2;
        s.groupSize = 128;
        s.seed = 3;
        s.nsamples = 8;
        s.seqlen = 64;
        return s;
    }

    // Runs a job on w's model to completion.
    static bool runJob(MainWindow& w, const JobSettings& s)
    {
        w.jobPanel()->setSettings(s);
        QSignalSpy finished(w.jobController(), &JobController::finished);
        if (!w.startJob())
            return false;
        return finished.wait(600000) && w.quantized() != nullptr;
    }

    // (loss, Min-Max loss, ratio) of every row of the table.
    static std::vector<std::array<double, 3>> tableFigures(LayerTableModel* t)
    {
        std::vector<std::array<double, 3>> v;
        for (int r = 0; r < t->rowCount(); ++r) {
            std::array<double, 3> a{};
            int k = 0;
            for (int c :
                 {LayerTableModel::Loss, LayerTableModel::MinMaxLoss, LayerTableModel::Ratio})
                a[k++] = t->data(t->index(r, c), LayerTableModel::SortRole).toDouble();
            v.push_back(a);
        }
        return v;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("ZeroPointTest"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_gui"));
    }

    void demoModelShape()
    {
        ModelPtr m = loadDemoModel();
        QCOMPARE(m->blockCount(), 4);
        QCOMPARE(m->layerTypes().size(), 7);
        QCOMPARE(static_cast<int>(m->layers().size()), 28);
        // Same seed, same weights; q/k/v share one importance, o does not.
        QVERIFY(m->weight(0).equal(m->weight(0)));
        QVERIFY(m->importance(0, 1).equal(m->importance(1, 1)));
        QVERIFY(!m->importance(0, 1).equal(m->importance(3, 1)));
        QCOMPARE(m->weight(6).size(1), m->layers()[6].cols);
    }

    void demoDefinitionErrors_data()
    {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("not json") << QByteArray("{ blocks: ")
                                  << QStringLiteral("not a JSON object");
        QTest::newRow("blocks 0")
            << QByteArray(
                   R"({"blocks":0,"hidden":256,"ffn":768,"weight_seed":1,"layers":[{"name":"q","out":"hidden","in":"hidden"}]})")
            << QStringLiteral("\"blocks\"");
        QTest::newRow("hidden not /32")
            << QByteArray(
                   R"({"blocks":1,"hidden":100,"ffn":768,"weight_seed":1,"layers":[{"name":"q","out":"hidden","in":"hidden"}]})")
            << QStringLiteral("\"hidden\"");
        QTest::newRow("bad dim")
            << QByteArray(
                   R"({"blocks":1,"hidden":256,"ffn":768,"weight_seed":1,"layers":[{"name":"q","out":"wide","in":"hidden"}]})")
            << QStringLiteral("\"out\"");
        QTest::newRow("no layers")
            << QByteArray(R"({"blocks":1,"hidden":256,"ffn":768,"weight_seed":1})")
            << QStringLiteral("\"layers\"");
    }

    void demoDefinitionErrors()
    {
        QFETCH(QByteArray, json);
        QFETCH(QString, mentions);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("demo.json"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(json);
        f.close();
        try {
            loadDemoModel(path);
            QFAIL("a bad definition was accepted");
        } catch (const zp::FormatError& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains(path) && what.contains(mentions), qPrintable(what));
        }
    }

    void demoGptqJobRunsToCompletion()
    {
        MainWindow w;
        QVERIFY(w.openDemo());
        w.jobPanel()->setSettings(quickSettings(QStringLiteral("gptq-neuqi")));
        JobController* jobs = w.jobController();
        QSignalSpy progress(jobs, &JobController::progress);
        QSignalSpy layers(jobs, &JobController::layerFinished);
        QSignalSpy finished(jobs, &JobController::finished);
        // Live results: layers arrive while the job still reports progress on later ones, not in
        // one batch at the end.
        int layersSeen = 0, progressAfterFirstLayer = 0;
        QObject::connect(jobs, &JobController::layerFinished, &w, [&] { ++layersSeen; });
        QObject::connect(jobs, &JobController::progress, &w, [&] {
            if (layersSeen > 0)
                ++progressAfterFirstLayer;
        });
        QVERIFY(w.startJob());
        QVERIFY(!jobs->isIdle());
        QVERIFY(!w.startJob());  // one job at a time
        QVERIFY(finished.wait(600000));
        QVERIFY2(progressAfterFirstLayer > 10,
                 qPrintable(QString("only %1 progress reports after the first layer arrived")
                                .arg(progressAfterFirstLayer)));
        QCOMPARE(jobs->state(), JobController::State::Idle);
        const int n = static_cast<int>(w.model()->layers().size());
        QCOMPARE(layers.count(), n);
        QVERIFY(progress.count() >= n);
        const JobProgress last = progress.last().at(0).value<JobProgress>();
        QCOMPARE(last.layersDone, n);
        // The progress named the blocks, layers and the engine's stages on the way.
        bool sawStage = false, sawBlock = false;
        for (const QList<QVariant>& a : progress) {
            const JobProgress p = a.at(0).value<JobProgress>();
            sawStage |= p.stage.contains(QStringLiteral("collecting H"));
            sawBlock |= p.block == w.model()->blockCount() - 1 && !p.layerName.isEmpty();
        }
        QVERIFY(sawStage && sawBlock);
        const JobSummary s = finished.first().at(0).value<JobSummary>();
        QCOMPARE(s.layersDone, n);
        QVERIFY(s.diagLoss > 0 && std::isfinite(s.diagLoss));
        QVERIFY(w.quantized());
        QCOMPARE(static_cast<int>(w.quantized()->layers.size()), n);
        QCOMPARE(QString::fromStdString(w.quantized()->config.method),
                 QStringLiteral("gptq-neuqi"));
        QCOMPARE(w.quantized()->config.calibration_samples, int64_t(8));
        QCOMPARE(w.quantized()->config.calibration_seqlen, int64_t(64));

        LayerTableModel* table = w.overview()->tableModel();
        QAbstractItemModelTester tester(table,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester proxyTester(
            w.overview()->proxyModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(table->rowCount(), n);
        QCOMPARE(table->resultCount(), n);
        for (int r = 0; r < n; ++r) {
            const double ratio =
                table->data(table->index(r, LayerTableModel::Ratio), LayerTableModel::SortRole)
                    .toDouble();
            QVERIFY(ratio > 0.0 && std::isfinite(ratio));
        }
        // Sorting by ratio through the proxy puts the smallest ratio first.
        w.overview()->proxyModel()->sort(LayerTableModel::Ratio, Qt::AscendingOrder);
        QSortFilterProxyModel* proxy = w.overview()->proxyModel();
        QVERIFY(
            proxy->index(0, LayerTableModel::Ratio).data(LayerTableModel::SortRole).toDouble() <=
            proxy->index(n - 1, LayerTableModel::Ratio).data(LayerTableModel::SortRole).toDouble());
        QTRY_VERIFY(w.overview()->plots().at(0)->dataPointCount() == n);

        // Selecting a layer fills every inspector plot.
        QSignalSpy updated(w.inspector(), &InspectorView::updated);
        w.inspectLayer(6);
        QTRY_VERIFY_WITH_TIMEOUT(w.inspector()->data().layer == 6 && !w.inspector()->isComputing(),
                                 120000);
        QVERIFY(updated.count() >= 1);
        QVERIFY(w.inspector()->data().fromJob);
        for (PlotView* p : w.inspector()->plots())
            QVERIFY2(p->dataPointCount() > 0, qPrintable(p->title()));
        const InspectorData& d = w.inspector()->data();
        QCOMPARE(d.rowMinMax.size(), size_t(w.model()->layers()[6].rows));
        QVERIFY(d.jobLoss >= 0);
        // Clicking a point in plot (e) chooses that row.
        w.resize(1400, 900);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QTRY_VERIFY_WITH_TIMEOUT(!w.inspector()->isComputing(), 60000);
        auto* rows = qobject_cast<RowErrorPlot*>(w.inspector()->plots().at(4));
        QVERIFY(rows);
        const int wanted = 17;
        const QPoint at = rows->pixelOfRow(wanted);
        QVERIFY(at.x() >= 0);
        QVERIFY2(rows->hoverText(at).contains(QStringLiteral("row %1").arg(wanted)),
                 qPrintable(rows->hoverText(at)));
        QTest::mouseClick(rows->canvas(), Qt::LeftButton, Qt::NoModifier, at);
        QTRY_VERIFY_WITH_TIMEOUT(
            w.inspector()->data().row == wanted && !w.inspector()->isComputing(), 60000);
        // Plots save as PNG, PDF and CSV.
        QTemporaryDir dir;
        PlotView* zc = w.inspector()->plots().at(1);
        for (const char* ext : {"png", "pdf", "csv"}) {
            const QString path = dir.filePath(QStringLiteral("plot.%1").arg(ext));
            QVERIFY2(zc->save(path, 600, 400), ext);
            QVERIFY(QFileInfo(path).size() > 100);
        }
        // The overview heatmap's CSV has one line per layer (plus two header lines).
        const QString csv = dir.filePath(QStringLiteral("heatmap.csv"));
        QVERIFY(w.overview()->plots().at(0)->save(csv));
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll().count('\n'), n + 2);
    }

    void rtnJobMatchesTheInspector()
    {
        // RTN NeUQI with the calibrated importance: the inspector's replay of NeUQI on a group
        // gives the job's loss for that group.
        MainWindow w;
        QVERIFY(w.openDemo());
        QVERIFY(runJob(w, quickSettings()));
        w.inspectLayer(3);
        QTRY_VERIFY_WITH_TIMEOUT(w.inspector()->data().layer == 3 && !w.inspector()->isComputing(),
                                 120000);
        const InspectorData& d = w.inspector()->data();
        QVERIFY(d.fromJob);
        QVERIFY2(
            std::abs(d.landscape.chosen_loss - d.jobLoss) <=
                1e-4 * std::max(1e-12, d.jobLoss) + 1e-15,
            qPrintable(QStringLiteral("%1 vs %2").arg(d.landscape.chosen_loss).arg(d.jobLoss)));
        // NeUQI never loses to Min-Max on the same groups.
        LayerTableModel* t = w.overview()->tableModel();
        for (int r = 0; r < t->rowCount(); ++r)
            QVERIFY(t->result(r).ratio() <= 1.0 + 1e-9);
    }

    // The job panel's defaults and ranges come from the one run-options table.
    void jobPanelFollowsTheOptionsTable()
    {
        const zp::pipeline::RunOptions d;
        const JobSettings s;
        QCOMPARE(s.pipeline.toStdString(), d.text("method"));
        QCOMPARE(int64_t(s.bits), d.integer("bits"));
        QCOMPARE(s.groupSize, d.integer("group"));
        QCOMPARE(int64_t(s.nsamples), d.integer("nsamples"));
        QCOMPARE(int64_t(s.seqlen), d.integer("seqlen"));
        QCOMPARE(s.calibFormat.toStdString(), d.text("calib_format"));
        QCOMPARE(s.device.toStdString(), d.text("device"));
        MainWindow w;
        const JobSettings panel = w.jobPanel()->settings();
        QCOMPARE(panel.pipeline, s.pipeline);
        QCOMPARE(panel.bits, s.bits);
        QCOMPARE(panel.nsamples, s.nsamples);
        QCOMPARE(panel.seqlen, s.seqlen);
        for (const char* name : {"bits", "nsamples", "seqlen", "seed"}) {
            const QSpinBox* box = w.jobPanel()->findChild<QSpinBox*>(QString::fromUtf8(name));
            QVERIFY2(box, name);
            const zp::pipeline::RunOptionSpec& spec = zp::pipeline::run_option_spec(name);
            QCOMPARE(box->minimum(), int(spec.min));
            QCOMPARE(double(box->maximum()), std::min<double>(spec.max, INT_MAX));
        }
    }

    void cancelReturnsToIdle()
    {
        if (!zp::session::available())
            QSKIP("this build has no HDF5: no session files");
        QTemporaryDir dir;
        // Everything in dir, hidden temporaries included, as "a, b".
        auto entries = [&dir] {
            return QDir(dir.path())
                .entryList(QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                           QDir::Name)
                .join(QStringLiteral(", "));
        };
        MainWindow w;
        QVERIFY(w.openDemo());
        QVERIFY(runJob(w, quickSettings()));  // the results a cancelled run must not lose
        const auto before = tableFigures(w.overview()->tableModel());
        const QuantizedModelPtr beforeQm = w.quantized();
        const int n = static_cast<int>(w.model()->layers().size());
        QCOMPARE(w.overview()->tableModel()->resultCount(), n);
        // The window's session file (the path Save writes to): a cancelled run must not touch it.
        const QString session = dir.filePath(QStringLiteral("s.h5"));
        QVERIFY(w.saveSession(session));
        QFile sf(session);
        QVERIFY(sf.open(QIODevice::ReadOnly));
        const QByteArray sessionBytes = sf.readAll();
        sf.close();
        QCOMPARE(entries(), QStringLiteral("s.h5"));

        w.jobPanel()->setSettings(quickSettings(QStringLiteral("gptq-minmax")));
        JobController* jobs = w.jobController();
        QSignalSpy progress(jobs, &JobController::progress);
        QSignalSpy cancelled(jobs, &JobController::cancelled);
        QSignalSpy finished(jobs, &JobController::finished);
        QVERIFY(w.startJob());
        QTRY_VERIFY_WITH_TIMEOUT(
            !progress.isEmpty() && progress.last().at(0).value<JobProgress>().layersDone >= 2,
            120000);
        w.cancelJob();
        QVERIFY(jobs->state() == JobController::State::Cancelling || jobs->isIdle());
        QVERIFY(cancelled.wait(120000));
        QCOMPARE(jobs->state(), JobController::State::Idle);
        QCOMPARE(finished.count(), 0);
        // Nothing lost: the previous run is back in the views and still the current result.
        QCOMPARE(w.quantized(), beforeQm);
        QCOMPARE(w.overview()->tableModel()->resultCount(), n);
        QVERIFY(tableFigures(w.overview()->tableModel()) == before);
        // Nothing written: the session file is as saved, and nothing appeared beside it.
        QCOMPARE(entries(), QStringLiteral("s.h5"));
        QVERIFY(sf.open(QIODevice::ReadOnly));
        QVERIFY2(sf.readAll() == sessionBytes, "the cancelled run changed the saved session file");
        sf.close();
        // Idle means idle: a new job starts and can be cancelled before its first layer.
        QVERIFY(w.startJob());
        w.cancelJob();
        QVERIFY(cancelled.wait(120000));
        QVERIFY(jobs->isIdle());
        QCOMPARE(w.quantized(), beforeQm);
        QCOMPARE(entries(), QStringLiteral("s.h5"));
        // Saving now writes the kept run, completely.
        const QString path = dir.filePath(QStringLiteral("kept.h5"));
        QVERIFY(w.saveSession(path));
        QCOMPARE(static_cast<int>(zp::session::read_session(path.toStdString()).layers.size()), n);

        // A cancelled export writes nothing at its output path and leaves no temporary: the cancel
        // is pressed as the export starts, so the engine's first progress report stops it.
        ExportDialog* dlg = w.showExportDialog();
        QVERIFY(dlg);
        dlg->setFormat(QStringLiteral("packed"));
        const QString out = dir.filePath(QStringLiteral("cancelled-packed"));
        dlg->setOutput(out);
        QPushButton* cancelExport = nullptr;
        for (QPushButton* b : dlg->findChildren<QPushButton*>())
            if (b->text() == QStringLiteral("Cancel export"))
                cancelExport = b;
        QVERIFY(cancelExport);
        QSignalSpy ended(dlg, &ExportDialog::ended);
        QSignalSpy exported(dlg, &ExportDialog::exported);
        QSignalSpy exportFailed(dlg, &ExportDialog::failed);
        QVERIFY(dlg->startExport());
        QVERIFY(cancelExport->isEnabled());
        cancelExport->click();
        QVERIFY(ended.wait(300000));
        QVERIFY2(exported.isEmpty() && exportFailed.isEmpty() && !dlg->succeeded(),
                 qPrintable(dlg->reportText()));
        QVERIFY(!dlg->isRunning());
        QVERIFY2(!QFileInfo::exists(out), qPrintable(out + " exists after a cancelled export"));
        QCOMPARE(entries(), QStringLiteral("kept.h5, s.h5"));
    }

    void sessionSaveAndOpen()
    {
        if (!zp::session::available())
            QSKIP("this build has no HDF5: no session files");
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("demo.h5"));
        std::vector<std::array<double, 3>> figures;
        {
            MainWindow w;
            QVERIFY(w.openDemo());
            QVERIFY(runJob(w, quickSettings(QStringLiteral("gptq-minmax"))));
            figures = tableFigures(w.overview()->tableModel());
            QVERIFY(w.saveSession(path));
            QVERIFY(QFileInfo(path).size() > 1000);
            // Only the session file: the atomic write leaves no temporary behind.
            QCOMPARE(QDir(dir.path()).entryList(QDir::Files).size(), 1);
        }
        MainWindow w;
        QVERIFY2(w.openSession(path), qPrintable(w.lastError()));
        QVERIFY(w.model()->isDemo());  // the session's model ("demo") was reopened
        LayerTableModel* t = w.overview()->tableModel();
        QAbstractItemModelTester tester(t, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(t->rowCount(), static_cast<int>(w.model()->layers().size()));
        QCOMPARE(t->resultCount(), t->rowCount());
        const auto again = tableFigures(t);
        QCOMPARE(again.size(), figures.size());
        for (size_t i = 0; i < figures.size(); ++i)
            for (int k = 0; k < 3; ++k)
                QVERIFY(std::abs(again[i][k] - figures[i][k]) <= 1e-12 * std::abs(figures[i][k]));
        JobSettings run;
        QVERIFY(run.setPipeline(QStringLiteral("gptq-minmax")));
        QCOMPARE(t->data(t->index(0, LayerTableModel::Method)).toString(), run.label());
        // The inspector works on the reopened session (the model is there).
        w.inspectLayer(1);
        QTRY_VERIFY_WITH_TIMEOUT(w.inspector()->data().layer == 1 && !w.inspector()->isComputing(),
                                 120000);
        QVERIFY(w.inspector()->data().fromJob);

        // A session whose model is not here: a clear note, and the figures are still shown.
        zp::quant::QuantizedModel qm = zp::session::read_session(path.toStdString());
        qm.config.model_path = "/nonexistent/model-dir";
        const QString moved = dir.filePath(QStringLiteral("moved.h5"));
        zp::session::write_session(qm, moved.toStdString());
        MainWindow w2;
        QVERIFY(w2.openSession(moved));
        QVERIFY2(w2.lastError().contains(QStringLiteral("/nonexistent/model-dir")),
                 qPrintable(w2.lastError()));
        QVERIFY(!w2.model()->hasWeights());
        QCOMPARE(w2.overview()->tableModel()->resultCount(), static_cast<int>(qm.layers.size()));
        const auto shown = tableFigures(w2.overview()->tableModel());
        for (size_t i = 0; i < figures.size(); ++i)
            QVERIFY(std::abs(shown[i][0] - figures[i][0]) <= 1e-12 * std::abs(figures[i][0]));
        QVERIFY(!w2.startJob());  // no weights: refused with a message, no crash
    }

    void evaluationAndExport()
    {
        MainWindow w;
        QVERIFY(w.openDemo());
        QVERIFY(runJob(w, quickSettings(QStringLiteral("rtn-minmax"))));
        EvalView* ev = w.evaluation();
        EvalSettings es = ev->settings();
        es.window = 64;
        es.windows = 6;
        es.steps = 16;
        es.prompt = QStringLiteral("ka to rin");
        ev->setSettings(es);
        QSignalSpy done(ev, &EvalView::finished);
        QSignalSpy failed(ev, &EvalView::failed);
        QVERIFY(ev->start());
        QVERIFY(ev->isRunning());
        QVERIFY(!ev->start());  // one at a time
        QVERIFY(done.wait(300000));
        QCOMPARE(failed.count(), 0);
        const EvalResult& r = ev->result();
        QVERIFY(std::isfinite(r.pplOriginal) && r.pplOriginal > 1.0);
        QVERIFY(std::isfinite(r.pplQuantized));
        // The demo text is sampled from the original model: 2-bit RTN Min-Max cannot beat it.
        QVERIFY2(r.pplQuantized >= 0.98 * r.pplOriginal,
                 qPrintable(QStringLiteral("%1 vs %2").arg(r.pplQuantized).arg(r.pplOriginal)));
        QCOMPARE(r.windows, int64_t(6));
        QVERIFY(!r.textOriginal.isEmpty() && !r.textQuantized.isEmpty());
        QVERIFY(ev->findChild<QPlainTextEdit*>(QStringLiteral("evalQuantizedText"))
                    ->toPlainText()
                    .contains(r.textQuantized));
        QCOMPARE(ev->plots().at(0)->dataPointCount(), 2);

        // Cancelling an evaluation keeps the results shown.
        QSignalSpy cancelled(ev, &EvalView::failed);
        QVERIFY(ev->start());
        ev->cancel();
        QTRY_VERIFY_WITH_TIMEOUT(!ev->isRunning(), 120000);
        QVERIFY(ev->hasResult());
        QCOMPARE(ev->result().pplOriginal, r.pplOriginal);

        // The export dialog writes a packed file for the demo.
        QTemporaryDir dir;
        ExportDialog* dlg = w.showExportDialog();
        QVERIFY(dlg);
        dlg->setFormat(QStringLiteral("packed"));
        QCOMPARE(dlg->format(), QStringLiteral("packed"));
        const QString out = dir.filePath(QStringLiteral("demo-packed"));
        dlg->setOutput(out);
        QSignalSpy ended(dlg, &ExportDialog::ended);
        QVERIFY(dlg->startExport());
        QVERIFY(ended.wait(300000));
        QVERIFY2(dlg->succeeded(), qPrintable(dlg->reportText()));
        const QFileInfo written(out);
        QVERIFY(written.exists());
        if (written.isDir())
            QVERIFY(!QDir(out).entryList(QDir::Files).isEmpty());
        else
            QVERIFY(written.size() > 0);
        QVERIFY(dlg->reportText().contains(QStringLiteral("Wrote")));
        // A format that needs a tokenizer refuses to start without one, with the reason shown.
        dlg->setFormat(QStringLiteral("gguf"));
        dlg->setTokenizer(QString());
        QVERIFY(!dlg->startExport());
        QVERIFY(dlg->reportText().contains(QStringLiteral("tokenizer")));
    }

    void corruptFilesGiveMessages()
    {
        QTemporaryDir dir;
        const QString session = dir.filePath(QStringLiteral("broken.h5"));
        const QString model = dir.filePath(QStringLiteral("broken.bin"));
        for (const QString& p : {session, model}) {
            QFile f(p);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QByteArray("this is not what the name says\n").repeated(20));
        }
        MainWindow w;
        QVERIFY(w.openDemo());
        QVERIFY(!w.openSession(session));
        QVERIFY2(w.lastError().contains(session), qPrintable(w.lastError()));
        QVERIFY(!w.openModel(model));
        QVERIFY2(w.lastError().contains(model), qPrintable(w.lastError()));
        QVERIFY(w.model()->isDemo());  // what was open stays open
        // A calibration file that does not exist: refused before the job starts.
        JobSettings s = quickSettings();
        s.calibPath = dir.filePath(QStringLiteral("missing.txt"));
        w.jobPanel()->setSettings(s);
        QVERIFY(!w.startJob());
        QVERIFY(w.lastError().contains(QStringLiteral("missing.txt")));
        // A calibration file the engine refuses (too short): the job fails with a message.
        const QString tiny = dir.filePath(QStringLiteral("tiny.txt"));
        {
            QFile f(tiny);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("ka to");
        }
        s.calibPath = tiny;
        w.jobPanel()->setSettings(s);
        QSignalSpy failed(w.jobController(), &JobController::failed);
        QVERIFY(w.startJob());
        QVERIFY(failed.wait(120000));
        QVERIFY(w.jobController()->isIdle());
        QVERIFY2(w.lastError().contains(QStringLiteral("tiny.txt")), qPrintable(w.lastError()));
        // Still working.
        QVERIFY(runJob(w, quickSettings()));
    }

    void playgroundSliderChangesLoss()
    {
        PlaygroundView v;
        v.resize(1200, 800);
        QTRY_VERIFY_WITH_TIMEOUT(!v.lossText().isEmpty() && !v.isComputing(), 60000);
        auto* mode = v.findChild<QComboBox*>(QStringLiteral("playMode"));
        auto* scale = v.findChild<QSlider*>(QStringLiteral("playScale"));
        auto* bits = v.findChild<QSlider*>(QStringLiteral("playBits"));
        QVERIFY(mode && scale && bits);
        mode->setCurrentIndex(3);  // manual
        QTRY_VERIFY_WITH_TIMEOUT(
            v.result().mode == zp::analysis::StudyMode::Manual && !v.isComputing(), 60000);
        const QString before = v.lossText();
        const double lossBefore = v.result().study.shown.loss;
        scale->setValue(scale->value() / 2);
        QTRY_VERIFY_WITH_TIMEOUT(v.lossText() != before && !v.isComputing(), 60000);
        QVERIFY(v.result().study.shown.loss != lossBefore);
        QVERIFY(v.result().study.ratio_to_optimum >= 1.0 - 1e-9);
        for (PlotView* p : v.plots())
            QVERIFY2(p->dataPointCount() > 0, qPrintable(p->title()));
        QVERIFY(!v.explanation().isEmpty());
        // Many quick moves: only the newest result is shown.
        for (int b = 3; b <= 8; ++b)
            bits->setValue(b);
        QTRY_VERIFY_WITH_TIMEOUT(!v.isComputing() && v.result().study.bits == 8, 60000);
    }

    void playgroundGroupOf4096_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("mode");
        for (int bits : {2, 4, 8})
            for (int mode = 0; mode < 4; ++mode)
                QTest::addRow("%d bits, mode %d", bits, mode) << bits << mode;
    }

    // The playground recomputes on every slider move: a group of 4096 must stay well under a second
    // (the bound here is loose, for a busy test machine; the timing is printed).
    void playgroundGroupOf4096()
    {
        QFETCH(int, bits);
        QFETCH(int, mode);
        zp::demo::GroupSpec spec;
        spec.size = 4096;
        spec.distribution = zp::demo::GroupDistribution::StudentT;
        spec.importance = zp::demo::ImportanceProfile::LogNormal;
        zp::analysis::StudyRequest q;
        q.w = zp::demo::synthetic_group_weights(spec);
        q.h = zp::demo::synthetic_group_importance(spec);
        q.bits = bits;
        q.mode = static_cast<zp::analysis::StudyMode>(mode);
        q.manual_scale = 0.8;
        q.manual_scale_relative = true;
        q.manual_zero = 1.3;
        QElapsedTimer t;
        t.start();
        zp::analysis::GroupStudy g = zp::analysis::study_group(q);
        const qint64 ms = t.elapsed();
        qInfo("study_group(4096, %d bits, mode %d): %lld ms", bits, mode,
              static_cast<long long>(ms));
        QVERIFY(ms < 5000);
        QVERIFY(g.neuqi.loss <= g.minmax.loss);
        QVERIFY(g.ratio_to_optimum >= 1.0 - 1e-9);
        QCOMPARE(g.quantized.size(), q.w.size());
        QCOMPARE(static_cast<int>(g.levels.size()), 1 << bits);
    }

    void engineModelOpensAndQuantizes()
    {
        const QString assets = qEnvironmentVariable("ZP_ASSETS_DIR");
        const QString path = assets + QStringLiteral("/models/stories260K.bin");
        if (assets.isEmpty() || !QFileInfo::exists(path))
            QSKIP("ZP_ASSETS_DIR/models/stories260K.bin is not available");
        MainWindow w;
        QVERIFY2(w.openModel(path), qPrintable(w.lastError()));
        QCOMPARE(static_cast<int>(w.model()->layers().size()), w.model()->blockCount() * 7);
        // Groups of 128 do not divide the FFN width of this model: refused at once, with the layer
        // named.
        JobSettings s = quickSettings();
        s.groupSize = 128;
        w.jobPanel()->setSettings(s);
        QVERIFY(!w.startJob());
        QVERIFY2(w.lastError().contains(QStringLiteral("block")), qPrintable(w.lastError()));
        s.groupSize = -1;
        w.jobPanel()->setSettings(s);
        QSignalSpy finished(w.jobController(), &JobController::finished);
        QVERIFY(w.startJob());
        QVERIFY(finished.wait(300000));
        QCOMPARE(w.overview()->tableModel()->resultCount(),
                 static_cast<int>(w.model()->layers().size()));

        // The calibrated pipeline on the real model: GPTQ with TinyStories text and tok512.
        const QString text = assets + QStringLiteral("/text/tinystories_val.txt");
        const QString tok = assets + QStringLiteral("/tokenizers/tok512.bin");
        if (!QFileInfo::exists(text) || !QFileInfo::exists(tok))
            QSKIP("tinystories_val.txt or tok512.bin is not available");
        s = quickSettings(QStringLiteral("gptq-neuqi"));
        s.groupSize = -1;
        s.calibPath = text;
        s.tokenizer = tok;
        QVERIFY(runJob(w, s));
        QCOMPARE(w.quantized()->config.calibration_source, text.toStdString());
        QCOMPARE(w.quantized()->config.model_path, path.toStdString());
        EvalView* ev = w.evaluation();
        EvalSettings es = ev->settings();
        es.textPath = text;
        es.window = 64;
        es.windows = 4;
        es.steps = 24;
        es.prompt = QStringLiteral("Once upon a time");
        ev->setSettings(es);
        QSignalSpy evaluated(ev, &EvalView::finished);
        QSignalSpy evalFailed(ev, &EvalView::failed);
        QVERIFY(ev->start());
        QTRY_VERIFY_WITH_TIMEOUT(!evaluated.isEmpty() || !evalFailed.isEmpty(), 300000);
        QVERIFY2(evalFailed.isEmpty(), qPrintable(w.lastError()));
        QVERIFY(std::isfinite(ev->result().pplOriginal) && ev->result().pplOriginal > 1.0);
        QVERIFY(std::isfinite(ev->result().pplQuantized));
        QVERIFY(!ev->result().textOriginal.isEmpty());
        // Saved and reopened: the session names the model, which is reopened.
        if (zp::session::available()) {
            QTemporaryDir dir;
            const QString session = dir.filePath(QStringLiteral("stories.h5"));
            QVERIFY(w.saveSession(session));
            MainWindow w2;
            QVERIFY2(w2.openSession(session), qPrintable(w2.lastError()));
            QVERIFY(w2.model()->hasWeights());
            QCOMPARE(w2.overview()->tableModel()->resultCount(),
                     static_cast<int>(w2.model()->layers().size()));
        }
    }

    void statusBarShowsDeviceAndMemory()
    {
        MainWindow w;
        QTRY_VERIFY(w.statusText().contains(QStringLiteral("Device: cpu")) &&
                    w.statusText().contains(QStringLiteral("MiB")));
    }

    void errorsShowInTheWindow()
    {
        MainWindow w;
        QVERIFY(!w.openModel(QStringLiteral("/nonexistent/model.safetensors")));
        QVERIFY(w.lastError().contains(QStringLiteral("/nonexistent/model.safetensors")));
        QVERIFY(!w.startJob());  // no model
        // The window keeps working.
        QVERIFY(w.openDemo());
        QCOMPARE(static_cast<int>(w.model()->layers().size()), 28);
    }
};

#else

class TestGui : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void gui()
    {
        QSKIP(
            "the workbench GUI is not built here (needs Qt 6 Widgets, PrintSupport and "
            "QCustomPlot)");
    }
};

#endif

QTEST_MAIN(TestGui)
#include "tst_gui.moc"
