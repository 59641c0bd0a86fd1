#include "core/common/text.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/common/error.h"

namespace zp {

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad())
        throw IoError(path + ": read failed");
    return ss.str();
}

bool ends_with(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& s, const std::string& prefix)
{
    return s.compare(0, prefix.size(), prefix) == 0;
}

std::string shape_str(const std::vector<int64_t>& sizes)
{
    std::string out = "[";
    for (size_t i = 0; i < sizes.size(); ++i)
        out += (i ? ", " : "") + std::to_string(sizes[i]);
    return out + "]";
}

std::string format_real(double v)
{
    // Plain notation where some precision gives it ("10", not "1e+01"), else the exponent form.
    for (bool plain : {true, false})
        for (int p = 1; p <= 17; ++p) {
            char b[32];
            std::snprintf(b, sizeof b, "%.*g", p, v);
            if (std::strtod(b, nullptr) == v && (!plain || std::strchr(b, 'e') == nullptr))
                return b;
        }
    char b[32];
    std::snprintf(b, sizeof b, "%.17g", v);  // NaN, inf
    return b;
}

}  // namespace zp
