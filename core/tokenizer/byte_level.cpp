#include "core/tokenizer/byte_level.h"

#include <array>
#include <cstdint>
#include <unordered_map>

#include "core/tokenizer/utf8.h"

namespace zp::tok::byte_level {
namespace {

// Printable bytes keep their own code point; the other 68 (controls, space, a few Latin-1
// non-printables) are moved to U+0100 and up in byte order, so every byte has a visible stand-in
// and BPE vocabularies never contain raw whitespace.
struct Tables {
    std::array<std::string, 256> to_char;
    std::unordered_map<uint32_t, unsigned char> to_byte;
    Tables()
    {
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable =
                (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            const uint32_t cp = printable ? b : next++;
            to_char[b] = utf8::encode(cp);
            to_byte[cp] = static_cast<unsigned char>(b);
        }
    }
};

const Tables& tables()
{
    static const Tables t;
    return t;
}

}  // namespace

std::string encode(std::string_view raw)
{
    const auto& t = tables();
    std::string out;
    out.reserve(raw.size() * 2);
    for (unsigned char c : raw)
        out += t.to_char[c];
    return out;
}

std::string decode(std::string_view mapped)
{
    const auto& t = tables();
    std::string out;
    out.reserve(mapped.size());
    for (size_t i = 0; i < mapped.size();) {
        const size_t start = i;
        const uint32_t cp = utf8::decode(mapped, i);
        const auto it = t.to_byte.find(cp);
        if (it != t.to_byte.end())
            out += static_cast<char>(it->second);
        else
            out.append(mapped.substr(start, i - start));
    }
    return out;
}

}  // namespace zp::tok::byte_level
