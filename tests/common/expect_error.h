// expect_error<E>(f, file, words): f throws E, whose message names `file` (unless empty) and
// contains every one of `words`; any other exception, or none, fails the test. For the tests of
// the engine's error messages (each names the file, the field and the bad value).
#pragma once

#include <QString>
#include <QStringList>
#include <QtTest/QtTest>

#include <exception>
#include <functional>

namespace zp::test {

template <typename E>
void expect_error(const std::function<void()>& f, const QString& file, const QStringList& words)
{
    try {
        f();
    } catch (const E& e) {
        const QString m = QString::fromUtf8(e.what());
        QVERIFY2(file.isEmpty() || m.contains(file),
                 qPrintable("file '" + file + "' not in: " + m));
        for (const QString& w : words)
            QVERIFY2(m.contains(w), qPrintable("'" + w + "' not in: " + m));
        return;
    } catch (const std::exception& e) {
        QFAIL(qPrintable(QString("wrong exception type: ") + e.what()));
    }
    QFAIL("no exception");
}

}  // namespace zp::test
