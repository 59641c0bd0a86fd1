// SentencePiece .model through libsentencepiece: the reference implementation is used as is, so
// normalization, dummy prefix and byte fallback are exactly what the model was trained with.
#include <cstdio>

#include "core/common/error.h"
#include "core/tokenizer/tokenizer.h"

#if defined(ZP_HAVE_SENTENCEPIECE)
#include <sentencepiece_processor.h>
#include <fstream>
#endif

namespace zp::tok {

#if defined(ZP_HAVE_SENTENCEPIECE)
namespace {

std::unique_ptr<sentencepiece::SentencePieceProcessor> open_model(const std::string& path)
{
    // Load() reports a missing file and a bad protobuf alike; checking the file first lets the
    // two be told apart (IoError vs FormatError).
    if (!std::ifstream(path, std::ios::binary))
        throw IoError("cannot open SentencePiece model '" + path + "'");
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto status = sp->Load(path);
    if (!status.ok())
        throw FormatError(path +
                          ": not a valid SentencePiece model (ModelProto): " + status.ToString());
    if (sp->GetPieceSize() <= 0)
        throw FormatError(path + ": pieces: the model has no pieces");
    return sp;
}

class SentencePieceTokenizer final : public Tokenizer {
public:
    explicit SentencePieceTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp)
        : sp_(std::move(sp))
    {
    }

    std::vector<int32_t> encode(const std::string& text, bool add_bos) const override
    {
        std::vector<int> ids;
        const auto status = sp_->Encode(text, &ids);
        if (!status.ok())
            throw InvalidArgument("SentencePiece could not encode the text: " + status.ToString());
        std::vector<int32_t> out;
        out.reserve(ids.size() + 1);
        if (add_bos && sp_->bos_id() >= 0)
            out.push_back(sp_->bos_id());
        out.insert(out.end(), ids.begin(), ids.end());
        return out;
    }

    std::string decode(const std::vector<int32_t>& ids) const override
    {
        std::vector<int> keep;
        keep.reserve(ids.size());
        for (int32_t id : ids)
            if (id >= 0 && id < vocab_size() && !sp_->IsControl(id))
                keep.push_back(id);
        std::string out;
        const auto status = sp_->Decode(keep, &out);
        if (!status.ok())
            throw InvalidArgument("SentencePiece could not decode the ids: " + status.ToString());
        return out;
    }

    std::string decode_piece(int32_t prev, int32_t id) const override
    {
        if (id < 0 || id >= vocab_size() || sp_->IsControl(id))
            return {};
        const std::string& p = sp_->IdToPiece(id);
        if (sp_->IsByte(id)) {
            unsigned int b = 0;
            if (std::sscanf(p.c_str(), "<0x%02X>", &b) == 1)
                return std::string(1, static_cast<char>(b));
        }
        std::string out;
        out.reserve(p.size());
        static const std::string marker = "\xE2\x96\x81";  // U+2581, SentencePiece's space
        for (size_t i = 0; i < p.size();) {
            if (p.compare(i, marker.size(), marker) == 0) {
                out += ' ';
                i += marker.size();
            } else {
                out += p[i++];
            }
        }
        if (prev == sp_->bos_id() && !out.empty() && out[0] == ' ')
            out.erase(0, 1);
        return out;
    }

    int32_t vocab_size() const override { return sp_->GetPieceSize(); }
    int32_t bos_id() const override { return sp_->bos_id(); }
    int32_t eos_id() const override { return sp_->eos_id(); }
    std::string piece(int32_t id) const override
    {
        return id >= 0 && id < vocab_size() ? sp_->IdToPiece(id) : std::string();
    }

private:
    std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path)
{
    return std::make_unique<SentencePieceTokenizer>(open_model(path));
}

std::vector<SentencePieceEntry> read_sentencepiece_vocab(const std::string& path)
{
    const auto sp = open_model(path);
    std::vector<SentencePieceEntry> out(static_cast<size_t>(sp->GetPieceSize()));
    for (int id = 0; id < sp->GetPieceSize(); ++id) {
        auto& e = out[id];
        e.piece = sp->IdToPiece(id);
        e.score = sp->GetScore(id);
        using K = SentencePieceEntry::Kind;
        e.kind = sp->IsUnknown(id)   ? K::unknown
                 : sp->IsControl(id) ? K::control
                 : sp->IsByte(id)    ? K::byte
                 : sp->IsUnused(id)  ? K::unused
                                     : K::normal;
    }
    return out;
}

#else

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path)
{
    throw InvalidArgument(path +
                          ": this build has no SentencePiece (built without sentencepiece; install "
                          "libsentencepiece-dev and rebuild, or use the model's tokenizer.json)");
}

std::vector<SentencePieceEntry> read_sentencepiece_vocab(const std::string& path)
{
    load_sentencepiece_tokenizer(path);
    return {};
}

#endif

}  // namespace zp::tok
