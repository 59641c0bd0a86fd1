// llama2.c checkpoint (model::Model::open on a plain file): header, sizes, every block's tensors
// and the embedding, read as the workbench reads them.
#include "core/model/model.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string path = zp::fuzz::write_input("model.bin", data, size);
    return zp::fuzz::parse_or_refuse([&] {
        auto m = zp::model::Model::open(path);
        for (int64_t i = 0; i < m->config().num_layers; ++i)
            (void)m->block(i);
        (void)m->embed_tokens();
    });
}
