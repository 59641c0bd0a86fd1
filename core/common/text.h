// Small text and file helpers every layer uses (one copy each, instead of one per file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zp {

// The whole file as bytes. IoError "<path>: cannot open: <reason>" / "<path>: read failed".
std::string read_file(const std::string& path);

bool ends_with(const std::string& s, const std::string& suffix);
bool starts_with(const std::string& s, const std::string& prefix);

// The shortest decimal text that reads back (strtod) to exactly v, in plain notation where one
// reads back ("0.01", "10", "1e-07").
std::string format_real(double v);

// "[4096, 11008]"
std::string shape_str(const std::vector<int64_t>& sizes);

}  // namespace zp
