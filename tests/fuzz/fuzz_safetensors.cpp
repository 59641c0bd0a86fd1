// safetensors: header validation, then every tensor copied out.
#include "core/formats/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string path = zp::fuzz::write_input("model.safetensors", data, size);
    return zp::fuzz::parse_or_refuse([&] {
        zp::io::SafetensorsFile f(path);
        for (const std::string& name : f.names())
            (void)f.tensor(name);
    });
}
