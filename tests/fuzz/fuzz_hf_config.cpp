// Hugging Face config.json (model::parse_hf_config_text).
#include "core/model/config.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    return zp::fuzz::parse_or_refuse(
        [&] { (void)zp::model::parse_hf_config_text(text, "config.json"); });
}
