// CRC-32 (the polynomial of zlib, PNG and gzip: crc32(b"123456789") = 0xCBF43926), for the
// whole-file checksums of the workbench's own files (session files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace zp {

// Continues a CRC-32 over `bytes` bytes at data; start with crc = 0.
uint32_t crc32_update(uint32_t crc, const void* data, size_t bytes);

// CRC-32 of bytes [offset, end of file) of the file at path; IoError naming it when it cannot be
// read. *size receives the file's size when not null.
uint32_t crc32_of_file(const std::string& path, uint64_t offset, uint64_t* size = nullptr);

}  // namespace zp
