// The kernels really run on several threads: kernels::parallel_for spreads its chunks over
// kernels::threads() threads (a kernels build whose loops ran serially was issue 13's "solve uses
// one core of two"), covers every item exactly once, and passes exceptions back.
#include <QtTest/QtTest>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/parallel.h"

using namespace zp::kernels;

class TestParallel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void uses_the_threads()
    {
        const int before = threads();
        set_threads(2);
        QCOMPARE(threads(), 2);
        QCOMPARE(parallel_for_threads(64), 2);
        QCOMPARE(parallel_for_threads(1), 1);
        set_threads(1);
        QCOMPARE(parallel_for_threads(64), 1);
        set_threads(before);
    }

    void default_follows_the_environment_or_the_hardware()
    {
        set_threads(0);
        int expected = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        if (const char* v = std::getenv("OMP_NUM_THREADS"); v && std::atoi(v) >= 1)
            expected = std::atoi(v);
        if (const char* v = std::getenv("ZP_NUM_THREADS"); v && std::atoi(v) >= 1)
            expected = std::atoi(v);
        QCOMPARE(threads(), expected);
    }

    void covers_every_item_once_data()
    {
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("grain");
        QTest::addColumn<int>("threads");
        QTest::newRow("1000/g1/t2") << 1000 << 1 << 2;
        QTest::newRow("1000/g64/t3") << 1000 << 64 << 3;
        QTest::newRow("7/g3/t4") << 7 << 3 << 4;
        QTest::newRow("13824/g64/t2") << 13824 << 64 << 2;
        QTest::newRow("5/g1/t1") << 5 << 1 << 1;
    }

    void covers_every_item_once()
    {
        QFETCH(int, n);
        QFETCH(int, grain);
        QFETCH(int, threads);
        const int before = zp::kernels::threads();
        set_threads(threads);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        for (auto& h : hits)
            h = 0;
        parallel_for(0, n, grain, [&](int64_t b, int64_t e) {
            QVERIFY(b < e);
            for (int64_t i = b; i < e; ++i)
                ++hits[static_cast<size_t>(i)];
        });
        set_threads(before);
        for (int i = 0; i < n; ++i)
            QCOMPARE(hits[static_cast<size_t>(i)].load(), 1);
    }

    void rethrows_the_first_exception()
    {
        const int before = threads();
        set_threads(2);
        bool caught = false;
        try {
            parallel_for(0, 100, 1, [&](int64_t b, int64_t e) {
                if (b <= 37 && 37 < e)
                    throw std::runtime_error("chunk 37");
            });
        } catch (const std::runtime_error& e) {
            caught = QString(e.what()) == "chunk 37";
        }
        set_threads(before);
        QVERIFY(caught);
    }
};

QTEST_APPLESS_MAIN(TestParallel)
#include "tst_parallel.moc"
