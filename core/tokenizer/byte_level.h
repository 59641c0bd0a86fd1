// GPT-2's reversible byte <-> printable-character mapping used by byte-level BPE (internal).
#pragma once

#include <string>
#include <string_view>

namespace zp::tok::byte_level {

// Each byte of raw becomes its printable stand-in character (UTF-8), e.g. ' ' -> "Ġ".
std::string encode(std::string_view raw);
// Inverse of encode; characters outside the mapping are copied through unchanged.
std::string decode(std::string_view mapped);

}  // namespace zp::tok::byte_level
