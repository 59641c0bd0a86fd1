// UTF-8 helpers shared by the tokenizers (internal to core/tokenizer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zp::tok::utf8 {

// Length in bytes of the UTF-8 sequence that starts with byte c (1 for a stray continuation byte).
inline size_t seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 1;
}

// Splits s into characters (byte strings); a sequence cut short by the end stays whole.
inline std::vector<std::string_view> chars(std::string_view s)
{
    std::vector<std::string_view> out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        size_t n = seq_len(static_cast<unsigned char>(s[i]));
        if (i + n > s.size())
            n = s.size() - i;
        out.push_back(s.substr(i, n));
        i += n;
    }
    return out;
}

// Code point -> UTF-8.
inline std::string encode(uint32_t cp)
{
    std::string out;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
}

// Decodes the character at s[i] (advancing i); invalid bytes yield 0xFFFFFFFF and advance by one.
inline uint32_t decode(std::string_view s, size_t& i)
{
    const auto b0 = static_cast<unsigned char>(s[i]);
    const size_t n = seq_len(b0);
    if (n == 1) {
        ++i;
        return b0 < 0x80 ? b0 : 0xFFFFFFFFu;
    }
    if (i + n > s.size()) {
        ++i;
        return 0xFFFFFFFFu;
    }
    uint32_t cp = b0 & (0xFF >> (n + 1));
    for (size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            ++i;
            return 0xFFFFFFFFu;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    // Overlong forms and surrogates are invalid too.
    const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        ++i;
        return 0xFFFFFFFFu;
    }
    i += n;
    return cp;
}

// Replaces every invalid byte by U+FFFD (what Hugging Face's decoders do: from_utf8_lossy).
inline std::string make_valid(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const size_t start = i;
        const uint32_t cp = decode(s, i);
        if (cp == 0xFFFFFFFFu)
            out += "\xEF\xBF\xBD";
        else
            out.append(s.substr(start, i - start));
    }
    return out;
}

}  // namespace zp::tok::utf8
