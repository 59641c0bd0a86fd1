// A ZeroPoint packed checkpoint (a folder: config.json with the quantization record, and
// model.safetensors with codes, scales and zeros). The input is the config's length (4 bytes,
// little-endian), the config, then the safetensors bytes; the folder is opened as a model and
// every block and the embedding are read.
#include <sys/stat.h>
#include <cstring>

#include "core/model/model.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t n = 0;
    std::memcpy(&n, data, 4);
    if (n > size - 4)
        return 0;
    const std::string dir = zp::fuzz::scratch_dir() + "/packed";
    mkdir(dir.c_str(), 0700);
    zp::fuzz::write_input("packed/config.json", data + 4, n);
    zp::fuzz::write_input("packed/model.safetensors", data + 4 + n, size - 4 - n);
    return zp::fuzz::parse_or_refuse([&] {
        auto m = zp::model::Model::open(dir);
        for (int64_t i = 0; i < m->config().num_layers; ++i)
            (void)m->block(i);
        (void)m->embed_tokens();
    });
}
