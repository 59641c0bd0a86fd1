// The one table of a quantization run's options: name, type, default, range and help of each.
// zeropoint-cli quantize generates its options from it, the GUI's job panel takes its defaults and
// ranges from it, and the run record a result carries (quant::RunConfig::extra, stored by the
// session file and the packed checkpoint) is written and read through it, so every front end has
// the same names, defaults and checks. README "Run options" lists it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/pipeline/distill.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/prepare.h"
#include "core/quant/act_quant.h"

namespace zp::pipeline {

enum class OptionType { Int, Real, Text, Flag };

struct RunOptionSpec {
    const char* name;  // "gptq_block": CLI --gptq-block, record key "gptq_block"
    OptionType type;
    const char* default_value;         // as text
    double min = 0.0, max = 0.0;       // Int / Real: the accepted range (inclusive)
    std::vector<std::string> choices;  // Text: the accepted values (empty: any text)
    const char* help = "";
    bool repeated = false;  // may be given more than once (override)
    bool recorded = true;   // kept in the run record (false: calibration inputs that
                            // RunConfig holds in fields of its own)
    // Which command takes it: "quantize", "distill" or "both" (the calibration options).
    const char* scope = "quantize";
    // Text with a grammar rather than a list of choices: returns the canonical text of a value
    // or throws InvalidArgument saying what is expected (null: any text, or one of `choices`).
    std::string (*normalize)(const std::string& value) = nullptr;
};
// True when `command` ("quantize" or "distill") takes the option.
bool option_applies(const RunOptionSpec& spec, const std::string& command);

const std::vector<RunOptionSpec>& run_option_specs();
// InvalidArgument naming the option when there is no such option.
const RunOptionSpec& run_option_spec(const std::string& name);
// "2..8": the accepted range of an Int or Real option.
std::string range_text(const RunOptionSpec& spec);
// "--gptq-block" for "gptq_block".
std::string cli_flag(const RunOptionSpec& spec);

// Values by name, each checked against the table when set.
class RunOptions {
public:
    RunOptions();  // every option at its default

    // InvalidArgument "<where>: <name> = <value>: <why>" (not a number, outside the range, not
    // one of the choices, an override that does not parse).
    void set(const std::string& name, const std::string& value, const std::string& where = {});
    const std::string& text(const std::string& name) const;
    int64_t integer(const std::string& name) const;
    double real(const std::string& name) const;
    bool flag(const std::string& name) const;
    const std::vector<std::string>& overrides() const { return overrides_; }

    // The pipeline's options and the calibration request these values give.
    PipelineOptions pipeline_options() const;
    CalibrationRequest calibration() const;
    // The distillation settings (distill_*; calibration and device from the same table), without
    // the calibration ids and callbacks.
    DistillOptions distill_options() const;

private:
    std::map<std::string, std::string> values_;
    std::vector<std::string> overrides_;  // "<block|*>.<layer|*>:bits=N,group=G,method=M,skip"
};

// "3.down_proj:bits=4,group=-1,method=rtn-minmax,skip" -> (key, override). InvalidArgument.
std::pair<std::string, LayerOverride> parse_override(const std::string& text);
std::string format_override(const std::string& key, const LayerOverride& o);

// Puts a run's result into a model: its quantized weights (quant::install_quantized) and, from
// its run record, its activation quantization (Model::set_activation_hooks; none at 16 bits).
// A reopened session or checkpoint so computes what the run computed. InvalidArgument for a
// record the table refuses or a result that does not match the model.
void install_run(model::Model& m, const quant::QuantizedModel& qm);
// The activation quantizers of abits / aclip for a model of this head_dim (the head_dim
// Hadamard on Q and K where head_dim is a power of two).
quant::ActivationQuantConfig activation_config(int abits, double aclip, int64_t head_dim);
// The activation hooks of abits / aclip and a run's transforms: null at 16 bits without a
// transform (every group identity), else quant::activation_quant_hooks.
std::shared_ptr<const model::ActivationHooks> activation_hooks_for(
    int abits, double aclip, int64_t head_dim, const quant::TransformSet& transforms = {});

// The recorded options of a run (every RunOptionSpec with recorded = true, overrides as
// "override.<key>"), as the result's RunConfig::extra keeps them; values formatted as the table
// reads them back.
std::map<std::string, std::string> run_record(const PipelineOptions& o);
// Reads a record back (unknown keys and other entries of `extra`, such as "seconds", are left
// alone). InvalidArgument naming `where` and the key for a value the table refuses.
void apply_record(RunOptions& options, const std::map<std::string, std::string>& extra,
                  const std::string& where);

}  // namespace zp::pipeline
