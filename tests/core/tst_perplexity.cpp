// Perplexity protocols on the real stories260K model: in-domain text (TinyStories) must score
// better than C4, C4 better than WikiText-2, and random tokens far worse than anything.
// The precompiled header may already hold Qt, whose `slots` macro breaks ATen's ivalue headers
// (pulled in by ATen/ops/*): this file uses Q_SLOTS instead.
#undef slots
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>

#include <cmath>
#include <fstream>
#include <random>

#include "core/common/error.h"
#include "core/data/corpus.h"
#include "core/eval/perplexity.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/common/test_util.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;

class TestPerplexity : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<model::Model> model_;
    std::unique_ptr<tok::Tokenizer> tok_;
    QTemporaryDir tmp_;

    eval::PerplexityOptions options() const
    {
        eval::PerplexityOptions o;  // window 2048 is clamped to the model's 512
        o.max_windows = 12;
        o.c4_windows = 12;
        o.batch = 4;
        return o;
    }

private Q_SLOTS:
    void initTestCase()
    {
        const QString bin = zp::test::asset("models/stories260K.bin");
        const QString tokp = zp::test::asset("tokenizers/tok512.bin");
        if (bin.isEmpty() || tokp.isEmpty())
            return;  // the tests that need them skip with the reason
        model_ = model::Model::open(bin.toStdString());
        model_->set_keep_blocks(true);
        tok_ = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
    }

    void in_domain_beats_out_of_domain()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tiny, "text/tinystories_val.txt");
        ZP_REQUIRE_ASSET(c4, "text/c4_demo.jsonl");
        ZP_REQUIRE_ASSET(wiki, "text/wikitext2_test.raw");
        const auto o = options();
        const auto r_tiny = eval::perplexity_of_file(*model_, *tok_, tiny.toStdString(),
                                                     eval::PplProtocol::plain, o);
        const auto r_c4 =
            eval::perplexity_of_file(*model_, *tok_, c4.toStdString(), eval::PplProtocol::c4, o);
        const auto r_wiki = eval::perplexity_of_file(*model_, *tok_, wiki.toStdString(),
                                                     eval::PplProtocol::wikitext2, o);
        qInfo("stories260K perplexity: TinyStories %.3f, C4 %.3f, WikiText-2 %.3f",
              r_tiny.perplexity, r_c4.perplexity, r_wiki.perplexity);
        for (const auto* r : {&r_tiny, &r_c4, &r_wiki}) {
            QCOMPARE(r->window, int64_t(512));
            QCOMPARE(r->windows, int64_t(12));
            QCOMPARE(r->tokens_scored, int64_t(12 * 511));
            QVERIFY(std::isfinite(r->perplexity));
        }
        QVERIFY(r_tiny.perplexity > 1.0);
        QVERIFY2(r_tiny.perplexity < r_c4.perplexity, "TinyStories must beat C4");
        QVERIFY2(r_c4.perplexity < r_wiki.perplexity, "C4 must beat WikiText-2");
    }

    void random_tokens_are_hopeless()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        at::Tensor w = at::empty({4, 512}, at::kLong);
        std::mt19937_64 rng(3);
        std::uniform_int_distribution<int64_t> d(3, 511);
        for (int64_t i = 0; i < w.numel(); ++i)
            w.data_ptr<int64_t>()[i] = d(rng);
        const auto r = eval::perplexity_of_windows(*model_, w, options());
        qInfo("random tokens: perplexity %.1f", r.perplexity);
        QVERIFY2(r.perplexity > 1e6, qPrintable(QString::number(r.perplexity)));
    }

    // The float64 sum equals log-softmax read off the model's logits by hand.
    void nll_matches_logits()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tiny, "text/tinystories_val.txt");
        std::ifstream in(tiny.toStdString());
        std::string text((std::istreambuf_iterator<char>(in)), {});
        auto ids = tok_->encode(text.substr(0, 3000), false);
        at::Tensor w = data::contiguous_windows(ids, 100, 2);
        QCOMPARE(w.sizes().vec(), std::vector<int64_t>({2, 100}));
        const auto r = eval::perplexity_of_windows(*model_, w, options());
        at::Tensor logits = model::model_forward(*model_, w).to(at::kDouble);
        double nll = 0.0;
        for (int64_t b = 0; b < 2; ++b)
            for (int64_t t = 0; t + 1 < 100; ++t) {
                at::Tensor row = logits[b][t];
                const double m = row.max().item<double>();
                const double lse = m + std::log((row - m).exp().sum().item<double>());
                nll += lse - row[w[b][t + 1].item<int64_t>()].item<double>();
            }
        QVERIFY2(std::abs(r.nll_sum - nll) < 1e-3 * std::abs(nll),
                 qPrintable(QString("%1 vs %2").arg(r.nll_sum).arg(nll)));
        QVERIFY(std::abs(r.perplexity - std::exp(nll / 198.0)) < 1e-3 * r.perplexity);
    }

    void wikitext_normalisation()
    {
        const QString p = tmp_.path() + "/wiki.test.raw";
        std::ofstream(p.toStdString(), std::ios::binary)
            << " = Title = \r\n line one \r\n\r\n line two";
        QCOMPARE(data::load_wikitext2(p.toStdString()),
                 std::string(" = Title = \n\n line one \n\n line two"));
        QCOMPARE(int(eval::guess_protocol(p.toStdString())), int(eval::PplProtocol::wikitext2));
        QCOMPARE(int(eval::guess_protocol("c4-validation.jsonl")), int(eval::PplProtocol::c4));
        QCOMPARE(int(eval::guess_protocol("notes.txt")), int(eval::PplProtocol::plain));
        QVERIFY_EXCEPTION_THROWN(eval::parse_protocol("ptb"), InvalidArgument);
    }

    void windows_protocols()
    {
        std::vector<int32_t> t(1000);
        for (size_t i = 0; i < t.size(); ++i)
            t[i] = static_cast<int32_t>(i);
        at::Tensor w = data::contiguous_windows(t, 300);
        QCOMPARE(w.size(0), int64_t(3));  // floor(1000 / 300), the tail dropped
        QCOMPARE(w[2][299].item<int64_t>(), int64_t(899));
        QVERIFY_EXCEPTION_THROWN(data::contiguous_windows(t, 2000), InvalidArgument);

        ZP_REQUIRE_ASSET(c4, "text/c4_demo.jsonl");
        const auto docs = data::load_jsonl_texts(c4.toStdString());
        QCOMPARE(docs.size(), size_t(300));
        at::Tensor a = data::random_windows(docs, *tok_, 256, 5, 0);
        at::Tensor b = data::random_windows(docs, *tok_, 256, 5, 0);
        at::Tensor c = data::random_windows(docs, *tok_, 256, 5, 1);
        QVERIFY(at::equal(a, b));
        QVERIFY(!at::equal(a, c));
        QVERIFY_EXCEPTION_THROWN(data::random_windows({"too short"}, *tok_, 256, 1, 0),
                                 InvalidArgument);
    }

    void jsonl_errors()
    {
        const QString p = tmp_.path() + "/bad.jsonl";
        std::ofstream(p.toStdString()) << "{\"text\": \"ok\"}\n{\"txt\": \"no\"}\n";
        try {
            data::load_jsonl_texts(p.toStdString());
            QFAIL("no exception");
        } catch (const FormatError& e) {
            const QString m = e.what();
            QVERIFY2(m.contains(p) && m.contains("line 2") && m.contains("'text'"), e.what());
        }
    }

    void cancel()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        at::Tensor w = at::empty({4, 64}, at::kLong).fill_(5);
        int calls = 0;
        auto stop = [&](double, double, const std::string&) { return ++calls < 2; };
        auto o = options();
        o.batch = 1;
        QVERIFY_EXCEPTION_THROWN(eval::perplexity_of_windows(*model_, w, o, stop), Cancelled);
        QCOMPARE(calls, 2);
    }
};

QTEST_GUILESS_MAIN(TestPerplexity)
#include "tst_perplexity.moc"
