// llama2.c tokenizer.bin: count the entries, load with that vocabulary size, encode and decode.
#include "core/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string path = zp::fuzz::write_input("tokenizer.bin", data, size);
    return zp::fuzz::parse_or_refuse([&] {
        const int32_t n = zp::tok::count_llama2c_tokens(path);
        auto t = zp::tok::load_llama2c_tokenizer(path, n);
        const auto ids = t->encode(zp::fuzz::sample_text(), true);
        (void)t->decode(ids);
    });
}
