// The JSON reports of the `bench` commands (--json FILE): written atomically, with the device's
// memory where the run was on CUDA.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace zp::cli {

// The device's memory as the driver sees it ({} when not on CUDA or when the driver cannot say).
nlohmann::json device_memory_json(bool cuda, int device_index = 0);

// Writes j (indented) to path through a temporary file and a rename; nothing when path is empty.
void write_json_report(const std::string& path, const nlohmann::json& j);

}  // namespace zp::cli
