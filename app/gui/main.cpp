// zeropoint: the ZeroPoint workbench.
//   zeropoint [MODEL]                       open a model (a path, or "demo") or a session file
//                                           (.h5; the desktop entry's %f)
//   zeropoint --demo                        open the built-in demo
//   zeropoint --demo MODEL.gguf             open the real demo (packaging/setup.sh demo:
//                                           SmolLM2-135M-Instruct) with its default job; the
//                                           built-in demo, saying why, if it cannot be opened
//   zeropoint --demo --demo-unavailable WHY the built-in demo, saying in the window and on stderr
//                                           why the real one is not there
//   zeropoint --demo --screenshots DIR      render every main view to DIR/*.png and exit
//   zeropoint --demo --screenshots DIR MODEL.gguf
//                                           the same for the real demo and its default job
//   zeropoint --screenshots DIR MODEL       the same for a model the engine opens (channel-wise
//   job; with --calib TEXT [--tokenizer T]: GPTQ on that text, evaluation and distillation)
//   zeropoint --screenshots DIR --activations --tokenizer T --calib TEXT MODEL
//                                           the Activations tab before and after a W4A4 RUQuant
//                                           job on MODEL
#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QStandardPaths>

#include "app/gui/activationscreenshots.h"
#include "app/gui/datadir.h"
#include "app/gui/mainwindow.h"
#include "app/gui/screenshotrunner.h"
#include "core/common/process_tuning.h"

int main(int argc, char** argv)
{
    zp::tune_process_for_compute();  // the same as zeropoint-cli: the jobs run in this process
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("ZeroPoint"));
    QApplication::setApplicationName(QStringLiteral("zeropoint"));
    QApplication::setApplicationVersion(QStringLiteral(ZP_VERSION));
    // The desktop entry's name: Wayland compositors and task bars match the window to it (and so
    // to its icon). The installed icon is in the hicolor theme under the same name.
    QGuiApplication::setDesktopFileName(applicationId());
    QApplication::setWindowIcon(QIcon::fromTheme(applicationId()));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("ZeroPoint workbench: quantize LLMs and see why NeUQI beats Min-Max"));
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption demo(QStringLiteral("demo"),
                            QStringLiteral("Open the built-in demo model."));
    QCommandLineOption shots(
        QStringLiteral("screenshots"),
        QStringLiteral("Run a short demo job, save every main view as PNG in <dir>, and exit."),
        QStringLiteral("dir"));
    QCommandLineOption activations(
        QStringLiteral("activations"),
        QStringLiteral("With --screenshots: the Activations tab before and after a W4A4 RUQuant "
                       "job (needs --calib, and --tokenizer where the model has none beside it)."));
    QCommandLineOption tokenizer(QStringLiteral("tokenizer"),
                                 QStringLiteral("The tokenizer for --screenshots."),
                                 QStringLiteral("file"));
    QCommandLineOption calib(QStringLiteral("calib"),
                             QStringLiteral("The calibration and evaluation text for "
                                            "--screenshots."),
                             QStringLiteral("file"));
    QCommandLineOption demoUnavailable(
        QStringLiteral("demo-unavailable"),
        QStringLiteral("With --demo: why the real demo model is not there (shown in the window)."),
        QStringLiteral("why"));
    parser.addOption(demo);
    parser.addOption(demoUnavailable);
    parser.addOption(shots);
    parser.addOption(activations);
    parser.addOption(tokenizer);
    parser.addOption(calib);
    parser.addPositionalArgument(
        QStringLiteral("model"),
        QStringLiteral("A model (path or \"demo\") or a session file (.h5) to open."),
        QStringLiteral("[model]"));
    parser.process(app);

    if (parser.isSet(shots)) {
        // Screenshots must not depend on (or change) the user's saved layout and settings.
        QStandardPaths::setTestModeEnabled(true);
        MainWindow window;
        window.resize(1600, 1000);
        window.show();
        const QStringList args = parser.positionalArguments();
        if (parser.isSet(activations)) {
            ActivationScreenshots runner(
                &window, parser.value(shots),
                args.isEmpty() || parser.isSet(demo) ? QStringLiteral("demo") : args.first(),
                parser.value(tokenizer), parser.value(calib));
            QObject::connect(&runner, &ActivationScreenshots::done, &app,
                             [](int code) { QCoreApplication::exit(code); });
            runner.start();
            return app.exec();
        }
        // --demo with a model: the real demo (its default job); --demo alone: the built-in one.
        const bool realDemo = parser.isSet(demo) && !args.isEmpty();
        ScreenshotRunner runner(&window, parser.value(shots),
                                args.isEmpty() || (parser.isSet(demo) && !realDemo)
                                    ? QStringLiteral("demo")
                                    : args.first(),
                                parser.value(tokenizer), parser.value(calib));
        runner.setRealDemo(realDemo);
        QObject::connect(&runner, &ScreenshotRunner::done, &app,
                         [](int code) { QCoreApplication::exit(code); });
        runner.start();
        return app.exec();
    }

    MainWindow window;
    window.show();
    if (parser.isSet(demo) && parser.isSet(demoUnavailable))
        window.openDemoFallback(parser.value(demoUnavailable));
    else if (parser.isSet(demo) && !parser.positionalArguments().isEmpty())
        window.openRealDemo(parser.positionalArguments().first());
    else if (parser.isSet(demo))
        window.openDemo();
    else if (!parser.positionalArguments().isEmpty())
        window.openModel(parser.positionalArguments().first());
    return app.exec();
}
