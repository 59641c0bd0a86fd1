// A ZeroPoint session (HDF5): read_session as inspect/export/generate call it, then every layer
// dequantized.
#include "core/export/session.h"
#include "core/quant/result.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string path = zp::fuzz::write_input("session.h5", data, size);
    return zp::fuzz::parse_or_refuse([&] {
        const zp::quant::QuantizedModel q = zp::session::read_session(path);
        for (const zp::quant::LayerResult& l : q.layers)
            if (!l.skipped)
                (void)zp::quant::QuantizedModel::dequantize(l);
    });
}
