// GGUF: the container (gguf::read), the model source that dequantizes every tensor, and the
// tokenizer from its metadata.
#include "core/formats/gguf.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string path = zp::fuzz::write_input("model.gguf", data, size);
    zp::fuzz::parse_or_refuse([&] { (void)zp::gguf::read(path); });
    zp::fuzz::parse_or_refuse([&] {
        auto m = zp::model::Model::open(path);
        for (int64_t i = 0; i < m->config().num_layers; ++i)
            (void)m->block(i);
        (void)m->embed_tokens();
    });
    return zp::fuzz::parse_or_refuse([&] {
        auto t = zp::tok::load_gguf_tokenizer(path);
        const auto ids = t->encode(zp::fuzz::sample_text(), true);
        (void)t->decode(ids);
    });
}
