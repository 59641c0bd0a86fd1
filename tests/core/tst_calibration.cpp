// core/data/calibration: seeded windows from text, JSON lines (C4 style) and token-id files,
// and one clear error per failure mode.
#undef slots
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <fstream>
#include <memory>

#include "core/common/error.h"
#include "core/data/calibration.h"
#include "core/data/corpus.h"
#include "core/eval/perplexity.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/common/test_util.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;

namespace {

void write_file(const QString& path, const std::string& text)
{
    std::ofstream out(path.toStdString(), std::ios::binary);
    out << text;
}

// True if `window` occurs in `tokens` as a contiguous run.
bool contains_run(const std::vector<int32_t>& tokens, const at::Tensor& window)
{
    const int64_t L = window.size(0);
    const int64_t* w = window.data_ptr<int64_t>();
    for (size_t s = 0; s + L <= tokens.size(); ++s) {
        bool same = true;
        for (int64_t t = 0; t < L && same; ++t)
            same = tokens[s + t] == w[t];
        if (same)
            return true;
    }
    return false;
}

}  // namespace

class TestCalibration : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::unique_ptr<tok::Tokenizer> tok_;

    bool load_tok()
    {
        const QString p = zp::test::asset("tokenizers/tok512.bin");
        if (p.isEmpty())
            return false;
        if (!tok_)
            tok_ = tok::load_llama2c_tokenizer(p.toStdString(), 512);
        return true;
    }

private Q_SLOTS:
    void text_windows_are_seeded_runs_of_the_text()
    {
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        QVERIFY(load_tok());
        data::CalibrationOptions o;
        o.path = text.toStdString();
        o.nsamples = 6;
        o.seqlen = 64;
        o.seed = 11;
        const data::CalibrationSet a = data::load_calibration(o, tok_.get(), 512);
        const data::CalibrationSet b = data::load_calibration(o, tok_.get(), 512);
        QCOMPARE(a.ids.sizes().vec(), (std::vector<int64_t>{6, 64}));
        QCOMPARE(a.ids.scalar_type(), at::kLong);
        QVERIFY(at::equal(a.ids, b.ids));
        QVERIFY(a.format == data::CalibrationFormat::Text);
        QVERIFY(a.tokens_available > 100000);
        o.seed = 12;
        QVERIFY(!at::equal(data::load_calibration(o, tok_.get(), 512).ids, a.ids));
        std::ifstream in(o.path, std::ios::binary);
        const std::string all((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
        const std::vector<int32_t> stream = tok_->encode(all, false);
        for (int64_t k = 0; k < 6; ++k)
            QVERIFY(contains_run(stream, a.ids[k].contiguous()));
    }

    void jsonl_windows_come_from_long_documents()
    {
        ZP_REQUIRE_ASSET(c4, "text/c4_demo.jsonl");
        QVERIFY(load_tok());
        data::CalibrationOptions o;
        o.path = c4.toStdString();
        o.nsamples = 5;
        o.seqlen = 256;
        o.seed = 0;
        const data::CalibrationSet s = data::load_calibration(o, tok_.get(), 512);
        QVERIFY(s.format == data::CalibrationFormat::Jsonl);
        QCOMPARE(s.ids.size(0), int64_t(5));
        const std::vector<std::string> docs = data::load_jsonl_texts(o.path);
        for (int64_t k = 0; k < 5; ++k) {
            bool found = false;
            for (const std::string& d : docs) {
                const std::vector<int32_t> ids = tok_->encode(d, false);
                if (static_cast<int64_t>(ids.size()) > o.seqlen &&
                    contains_run(ids, s.ids[k].contiguous())) {
                    found = true;
                    break;
                }
            }
            QVERIFY2(found, "every window must be a run of one document longer than L");
        }
    }

    void token_id_file()
    {
        std::string text;
        for (int i = 0; i < 300; ++i)
            text += std::to_string(i % 500) + (i % 17 == 0 ? "\n" : " ");
        const QString path = tmp_.filePath("calib.ids");
        write_file(path, text);
        data::CalibrationOptions o;
        o.path = path.toStdString();
        o.nsamples = 3;
        o.seqlen = 50;
        const data::CalibrationSet s = data::load_calibration(o, nullptr, 512);
        QVERIFY(s.format == data::CalibrationFormat::TokenIds);
        QCOMPARE(s.tokens_available, int64_t(300));
        for (int64_t k = 0; k < 3; ++k) {
            const int64_t first = s.ids[k][0].item<int64_t>();
            for (int64_t t = 1; t < 50; ++t)
                QCOMPARE(s.ids[k][t].item<int64_t>(), (first + t) % 500);
        }
    }

    void bad_token_id_is_a_format_error()
    {
        const QString path = tmp_.filePath("bad.ids");
        write_file(path, "1 2 3 x4 5");
        data::CalibrationOptions o;
        o.path = path.toStdString();
        o.nsamples = 1;
        o.seqlen = 2;
        try {
            data::load_calibration(o, nullptr, 512);
            QFAIL("expected FormatError");
        } catch (const FormatError& e) {
            QVERIFY2(QString(e.what()).contains("bad.ids") && QString(e.what()).contains("x4"),
                     e.what());
        }
        write_file(path, "1 2 3 512 5");
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, data::load_calibration(o, nullptr, 512));
    }

    void too_short_text_names_file_n_l_and_tokens()
    {
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        QVERIFY(load_tok());
        const QString path = tmp_.filePath("short.txt");
        write_file(path, "Once upon a time there was a little cat.");
        data::CalibrationOptions o;
        o.path = path.toStdString();
        o.nsamples = 4;
        o.seqlen = 512;
        const int64_t available = static_cast<int64_t>(
            tok_->encode("Once upon a time there was a little cat.", false).size());
        try {
            data::load_calibration(o, tok_.get(), 512);
            QFAIL("expected InvalidArgument");
        } catch (const InvalidArgument& e) {
            const QString m = e.what();
            QVERIFY2(m.contains("short.txt") && m.contains("N = 4") && m.contains("L = 512") &&
                         m.contains(QString::number(available) + " tokens available"),
                     e.what());
        }
    }

    void jsonl_without_long_document()
    {
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        QVERIFY(load_tok());
        const QString path = tmp_.filePath("tiny.jsonl");
        write_file(path, "{\"text\": \"a short one\"}\n{\"text\": \"another short document\"}\n");
        data::CalibrationOptions o;
        o.path = path.toStdString();
        o.nsamples = 2;
        o.seqlen = 64;
        try {
            data::load_calibration(o, tok_.get(), 512);
            QFAIL("expected InvalidArgument");
        } catch (const InvalidArgument& e) {
            const QString m = e.what();
            QVERIFY2(m.contains("tiny.jsonl") && m.contains("L = 64") && m.contains("N = 2"),
                     e.what());
        }
        write_file(path, "{\"text\": \"ok\"}\nnot json\n");
        QVERIFY_THROWS_EXCEPTION(FormatError, data::load_calibration(o, tok_.get(), 512));
    }

    void missing_file_and_bad_sizes()
    {
        data::CalibrationOptions o;
        o.path = tmp_.filePath("absent.txt").toStdString();
        o.format = data::CalibrationFormat::TokenIds;
        o.nsamples = 1;
        o.seqlen = 8;
        QVERIFY_THROWS_EXCEPTION(IoError, data::load_calibration(o, nullptr));
        o.nsamples = 0;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, data::load_calibration(o, nullptr));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, data::parse_calibration_format("csv"));
        QVERIFY(data::guess_calibration_format("x/c4.jsonl") == data::CalibrationFormat::Jsonl);
    }
};

QTEST_GUILESS_MAIN(TestCalibration)
#include "tst_calibration.moc"
