// JSON parsing for files the workbench reads from users: every object key at most once (the
// plain parser keeps the last copy of a duplicated key, silently) and a bounded nesting depth (a
// deeply nested file would otherwise cost memory and time out of all proportion to its size).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace zp {

// Deeper than any configuration, tokenizer or safetensors header the workbench reads.
constexpr int kJsonMaxDepth = 64;

// Parses text like nlohmann::json::parse (a syntax error still throws json::parse_error, so
// callers keep their own wording for it), but throws FormatError naming `origin` and the path of
// the object ("origin: JSON key 'model' appears twice in the top-level object") for a duplicated
// key, and for nesting deeper than max_depth.
nlohmann::json parse_json_strict(std::string_view text, const std::string& origin,
                                 int max_depth = kJsonMaxDepth);

}  // namespace zp
