// SentencePiece .model (protobuf): the vocabulary reader and the tokenizer, then encode/decode.
#include "core/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string path = zp::fuzz::write_input("tokenizer.model", data, size);
    zp::fuzz::parse_or_refuse([&] { (void)zp::tok::read_sentencepiece_vocab(path); });
    return zp::fuzz::parse_or_refuse([&] {
        auto t = zp::tok::load_sentencepiece_tokenizer(path);
        const auto ids = t->encode(zp::fuzz::sample_text(), true);
        (void)t->decode(ids);
    });
}
