// Hugging Face tokenizer.json (from memory, as load_hf_tokenizer reads it), then encode/decode.
#include "core/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    return zp::fuzz::parse_or_refuse([&] {
        auto t = zp::tok::load_hf_tokenizer_from_json(text, "tokenizer.json");
        const auto ids = t->encode(zp::fuzz::sample_text(), true);
        (void)t->decode(ids);
    });
}
