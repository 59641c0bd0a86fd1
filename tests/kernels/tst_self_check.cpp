// Self-check before trust (kernels/self_check.h) with simulated kernels on the CPU: a kernel that
// agrees with the tensor-op search is trusted; one that disagrees or fails to launch is not, and
// leaves a warning for the GUI's status bar. (On a GPU the dispatchers run the same check with
// the real CUDA kernels on a device's first use; packaging/gpu-check.sh's parity covers that.)
#include <QtTest/QtTest>

#include <ATen/TensorOperators.h>

#include <stdexcept>

#include "kernels/self_check.h"
#include "kernels/zero_point.h"

using namespace zp::kernels;

class TestSelfCheck : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init() { reset_self_checks(); }
    void cleanup() { reset_self_checks(); }
    void agreeing_kernel_is_trusted();
    void disagreeing_kernel_is_not_trusted();
    void failing_kernel_is_not_trusted();
};

void TestSelfCheck::agreeing_kernel_is_trusted()
{
    const KernelVerdict v = record_self_check(
        at::kCPU, [](const at::Tensor& w, const at::Tensor& h, const SearchConfig& c) {
            return neuqi_search(w, h, c);  // the CPU kernels: the same search
        });
    QVERIFY2(v.trusted, qPrintable(QString::fromStdString(v.message)));
    QVERIFY(recorded_verdict(at::kCPU).has_value());
    QVERIFY(recorded_verdict(at::kCPU)->trusted);
    QVERIFY(kernel_warnings().empty());
}

void TestSelfCheck::disagreeing_kernel_is_not_trusted()
{
    const KernelVerdict v = record_self_check(
        at::kCPU, [](const at::Tensor& w, const at::Tensor& h, const SearchConfig& c) {
            SearchResult r = neuqi_search(w, h, c);
            if (c.group_size == 8)  // wrong on the small-group case only
                r.loss = r.loss * 1.01;
            return r;
        });
    QVERIFY(!v.trusted);
    QVERIFY2(v.message.find("disagree") != std::string::npos, v.message.c_str());
    QVERIFY2(v.message.find("g8") != std::string::npos, v.message.c_str());
    QVERIFY(!recorded_verdict(at::kCPU)->trusted);
    const std::string w = kernel_warnings();
    QVERIFY2(w.find("tensor-op search") != std::string::npos, w.c_str());
}

void TestSelfCheck::failing_kernel_is_not_trusted()
{
    const KernelVerdict v = record_self_check(
        at::kCPU, [](const at::Tensor&, const at::Tensor&, const SearchConfig&) -> SearchResult {
            throw std::runtime_error("neuqi coarse candidates: too many resources requested");
        });
    QVERIFY(!v.trusted);
    QVERIFY2(v.message.find("failed") != std::string::npos, v.message.c_str());
    QVERIFY2(v.message.find("too many resources") != std::string::npos, v.message.c_str());
    QVERIFY(!kernel_warnings().empty());
}

QTEST_APPLESS_MAIN(TestSelfCheck)
#include "tst_self_check.moc"
