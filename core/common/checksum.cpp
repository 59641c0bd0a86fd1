#include "core/common/checksum.h"

#include <fcntl.h>
#include <unistd.h>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/common/error.h"

namespace zp {

namespace {

// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

const Tables& tables()
{
    static const Tables t = [] {
        Tables x{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            x[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; ++i)
            for (size_t k = 1; k < 8; ++k)
                x[k][i] = (x[k - 1][i] >> 8) ^ x[0][x[k - 1][i] & 0xFF];
        return x;
    }();
    return t;
}

}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, size_t bytes)
{
    const Tables& t = tables();
    const auto* p = static_cast<const unsigned char*>(data);
    uint32_t c = ~crc;
    while (bytes >= 8) {
        uint32_t lo, hi;
        std::memcpy(&lo, p, 4);
        std::memcpy(&hi, p + 4, 4);
        lo ^= c;  // little-endian hosts only (the rest of the engine assumes them too)
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
            t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
        p += 8;
        bytes -= 8;
    }
    while (bytes--)
        c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

uint32_t crc32_of_file(const std::string& path, uint64_t offset, uint64_t* size)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw IoError(path + ": cannot open: " + std::strerror(errno));
    std::vector<unsigned char> buf(1 << 20);
    uint32_t crc = 0;
    uint64_t pos = offset, total = offset;
    for (;;) {
        const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(pos));
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            throw IoError(path + ": cannot read: " + std::strerror(err));
        }
        if (n == 0)
            break;
        crc = crc32_update(crc, buf.data(), static_cast<size_t>(n));
        pos += static_cast<uint64_t>(n);
        total = pos;
    }
    ::close(fd);
    if (size)
        *size = total;
    return crc;
}

}  // namespace zp
