#include "app/cli/json_report.h"

#include "core/common/atomic_file.h"
#include "kernels/device_info.h"

namespace zp::cli {

nlohmann::json device_memory_json(bool cuda, int device_index)
{
    if (!cuda)
        return nlohmann::json::object();
    const kernels::DeviceMemory m =
        kernels::cuda_device_memory(device_index < 0 ? 0 : device_index);
    if (!m.valid)
        return nlohmann::json::object();
    return {{"device_used_bytes", m.used_bytes}, {"device_total_bytes", m.total_bytes}};
}

void write_json_report(const std::string& path, const nlohmann::json& j)
{
    if (path.empty())
        return;
    const std::string text = j.dump(2) + "\n";
    AtomicFile f(path);
    f.write(text.data(), text.size());
    f.commit();
}

}  // namespace zp::cli
