// core/pipeline/run_options: the one table of run options. Every default passes the table's own
// checks; bad values are refused naming the option and the value; the record a run writes reads
// back to the same pipeline options (old-style override records too); zeropoint-cli quantize
// offers exactly the table's options with the table's defaults; a session keeps the record.
#undef slots
#include <ATen/ATen.h>

#include <map>
#include <set>
#include <string>

#include "core/common/error.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/run_options.h"
#include "tests/common/test_util.h"

#include <QProcess>
#include <QRegularExpression>
#include <QtTest/QtTest>

using namespace zp;

class TestRunOptions : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void defaults_pass_the_table()
    {
        const pipeline::RunOptions d;
        std::set<std::string> names;
        for (const pipeline::RunOptionSpec& s : pipeline::run_option_specs()) {
            QVERIFY2(names.insert(s.name).second, s.name);
            if (s.repeated)
                continue;
            pipeline::RunOptions r;
            r.set(s.name, s.default_value, "default");  // throws if the table refuses it
            QCOMPARE(r.text(s.name), d.text(s.name));
        }
        // The documented set of defaults (README "Run options").
        QCOMPARE(d.text("method"), std::string("gptq-neuqi"));
        QCOMPARE(d.integer("bits"), int64_t(2));
        QCOMPARE(d.integer("group"), int64_t(-1));
        QCOMPARE(d.integer("nsamples"), int64_t(128));
        QCOMPARE(d.integer("seqlen"), int64_t(2048));
        QVERIFY(d.flag("act_order"));
        const pipeline::PipelineOptions po = d.pipeline_options();
        QCOMPARE(po.method, std::string("gptq-neuqi"));
        QCOMPARE(po.damp, 0.01);
        QCOMPARE(po.gptq_block, int64_t(128));
    }

    void bad_values_name_option_and_value_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("value");
        QTest::newRow("bits too high") << "bits"
                                       << "9";
        QTest::newRow("bits not a number") << "bits"
                                           << "four";
        QTest::newRow("bits trailing text") << "bits"
                                            << "4x";
        QTest::newRow("group below -1") << "group"
                                        << "-5";
        QTest::newRow("damp negative") << "damp"
                                       << "-0.1";
        QTest::newRow("damp nan") << "damp"
                                  << "nan";
        QTest::newRow("unknown method") << "method"
                                        << "awq";
        QTest::newRow("flag") << "act_order"
                              << "maybe";
        QTest::newRow("format") << "calib_format"
                                << "csv";
        QTest::newRow("override") << "override"
                                  << "3.down_proj:bits=four";
    }
    void bad_values_name_option_and_value()
    {
        QFETCH(QString, name);
        QFETCH(QString, value);
        pipeline::RunOptions r;
        try {
            r.set(name.toStdString(), value.toStdString(), "--here");
            QFAIL("accepted");
        } catch (const InvalidArgument& e) {
            const QString m = QString::fromUtf8(e.what());
            QVERIFY2(m.contains(value), e.what());
            QVERIFY2(m.contains("--here") || name == "override", e.what());
        }
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, r.set("no_such_option", "1"));
    }

    void record_round_trips()
    {
        pipeline::RunOptions r;
        r.set("damp", "0.035");
        r.set("gptq_block", "32");
        r.set("act_order", "false");
        r.set("activations_on_cpu", "true");
        r.set("batch", "3");
        r.set("device", "cuda:1");
        r.set("override", "3.down_proj:bits=4,group=-1");
        r.set("override", "*.q_proj:skip");
        const pipeline::PipelineOptions a = r.pipeline_options();
        std::map<std::string, std::string> rec = pipeline::run_record(a);
        rec["seconds"] = "1.5";  // other entries of RunConfig::extra are left alone
        pipeline::RunOptions back;
        pipeline::apply_record(back, rec, "record");
        const pipeline::PipelineOptions b = back.pipeline_options();
        QCOMPARE(b.damp, 0.035);
        QCOMPARE(b.gptq_block, int64_t(32));
        QCOMPARE(b.act_order, false);
        QCOMPARE(b.activations_on_cpu, true);
        QCOMPARE(b.batch, int64_t(3));
        QCOMPARE(b.device, std::string("cuda:1"));
        QCOMPARE(b.overrides.size(), size_t(2));
        QCOMPARE(b.overrides.at("3.down_proj").bits, 4);
        QCOMPARE(b.overrides.at("3.down_proj").group_size, int64_t(-1));
        QVERIFY(b.overrides.at("*.q_proj").skip);
        QCOMPARE(QString::fromStdString(rec.at("override.3.down_proj")),
                 QStringLiteral("3.down_proj:bits=4,group=-1"));
        // A record written before the table (space-separated overrides) still reads.
        pipeline::RunOptions old;
        pipeline::apply_record(
            old, {{"override.*.down_proj", "bits=0 group=-1 method= skip"}, {"damp", "0.010000"}},
            "old session");
        const pipeline::PipelineOptions c = old.pipeline_options();
        QVERIFY(c.overrides.at("*.down_proj").skip);
        QCOMPARE(c.overrides.at("*.down_proj").group_size, int64_t(-1));
        QCOMPARE(c.damp, 0.01);
        // A refused value names the record.
        try {
            pipeline::RunOptions x;
            pipeline::apply_record(x, {{"gptq_block", "0"}}, "s.h5 run record");
            QFAIL("accepted");
        } catch (const InvalidArgument& e) {
            QVERIFY2(QString(e.what()).contains("s.h5 run record"), e.what());
        }
    }

    // zeropoint-cli quantize --help and distill --help list the table's options that each takes,
    // each with its default, and none of the other command's.
    void cli_is_generated_from_the_table()
    {
        if (test::cli_path().isEmpty())
            QSKIP("ZP_CLI is not set (run through ctest)");
        for (const char* command : {"quantize", "distill"}) {
            QProcess p;
            p.start(test::cli_path(), {command, "--help"});
            QVERIFY(p.waitForFinished(60000));
            const QString help = QString::fromUtf8(p.readAllStandardOutput());
            for (const pipeline::RunOptionSpec& s : pipeline::run_option_specs()) {
                QString flag = QString::fromStdString(pipeline::cli_flag(s));
                if (s.type == pipeline::OptionType::Flag && std::string(s.default_value) == "true")
                    flag = "--no-" + flag.mid(2);
                // The flag and then a space or '=' ("--givens" is not "--givens-rounds").
                const QRegularExpression line(
                    "^\\s+" + QRegularExpression::escape(flag) + "(?=[\\s=]|$)(.*)$",
                    QRegularExpression::MultilineOption);
                const auto m = line.match(help);
                if (!pipeline::option_applies(s, command)) {
                    QVERIFY2(!m.hasMatch(), qPrintable(flag + " should not be in " + command));
                    continue;
                }
                QVERIFY2(m.hasMatch(), qPrintable(flag + " missing from:\n" + help));
                if (s.type != pipeline::OptionType::Flag && !s.repeated && *s.default_value)
                    QVERIFY2(m.captured(1).contains("=" + QString(s.default_value)),
                             qPrintable(flag + ": " + m.captured(1)));
            }
        }
        // And the CLI refuses what the table refuses, naming the flag.
        QProcess q;
        q.start(test::cli_path(), {"quantize", "--model", "x", "--gptq-block", "0"});
        QVERIFY(q.waitForFinished(60000));
        QCOMPARE(q.exitCode(), 1);
        const QString err = QString::fromUtf8(q.readAllStandardError());
        QVERIFY2(err.contains("--gptq-block") && err.contains("1.."), qPrintable(err));
    }
};

QTEST_GUILESS_MAIN(TestRunOptions)
#include "tst_run_options.moc"
