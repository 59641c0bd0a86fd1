// Session files: a QuantizedModel (run configuration, every layer's parameters, codes, Hessian
// diagonal and figures, the measured perplexities) saved to HDF5 and read back identically.
// Needs a build with HDF5 (ZP_HAVE_HDF5); without it every function throws InvalidArgument.
//
// Schema "zeropoint.session", version 2 (h5dump shows it as written):
//   /                          attributes: schema = "zeropoint.session" (string),
//                              schema_version = 1 (int64), software_version (string)
//   /config                    attributes: model_path, model_config_hash, calibration_source,
//                              method, software_version (string); calibration_samples,
//                              calibration_seqlen, bits, group_size (int64); seed (uint64)
//     extra_keys, extra_values datasets: fixed-length strings [n] (RunConfig::extra, key order):
//                              the run options as core/pipeline/run_options.h records them
//                              (damp, gptq_block, act_order, activations_on_cpu, batch, device,
//                              override.<key> = "<key>:bits=N,group=G,method=M,skip"), "seconds"
//   /perplexity
//     names                    dataset: fixed-length strings [n] ("wikitext2/quantized", ...)
//     values                   dataset: float64 [n]
//   /layers                    attribute: count (int64); one group per layer, in pipeline order,
//     000000, 000001, ...      named by its index (6 digits):
//                              attributes: block, bits, group_size, out_features, in_features,
//                              skipped (0/1) (int64); name, algorithm ("rtn" | "gptq";
//                              files written before read as "RTN" | "GPTQ"),
//                              param_method (string); diag_loss, diag_loss_minmax, proxy_loss,
//                              proxy_loss_rtn_minmax, relative_weight_error, seconds (float64)
//                              datasets, each only when the tensor is defined, in the tensor's
//                              own element type and shape: scale, zero ([out, groups], float32;
//                              groups = ceil(in / group_size), the last one shorter when
//                              group_size does not divide in),
//                              codes ([out, in], uint8), hessian_diag ([in], float64)
//   /transforms                (version 2; only in runs with activation quantization or a
//                              transform) attribute: count (int64); one group per linear-input
//     000000, 000001, ...      group of a block, by block then q_proj, o_proj, gate_proj,
//                              down_proj: attributes block, width, rotation_block, tokens (int64);
//                              input ("q_proj" | "o_proj" | "gate_proj" | "down_proj"), kind
//                              ("none" | "smooth" | "duquant" | "ruquant") (string);
//                              act_error_plain, act_error, seconds, stage2_loss_before,
//                              stage2_loss_after (float64; -1 without stage 2). Datasets, each only
//                              where the kind has that stage (core/quant/ruquant.h):
//                              smooth [width] float64 (x / s, W * s), r0 and r1 [b, b] float64
//                              (block rotations, x blockdiag(R)), perm [width] int64 (output j =
//                              input perm[j]), householder [width] float64 (unit u, H = I - 2uu^T),
//                              act_max [width] float64 (max |x| per channel over the calibration
//                              tokens), act_max_after [width] float64 (max |x Q| per channel).
//                              The layers' codes of a transformed group quantize W Q^-T.
//   /float_parts               (version 2; only after distillation) names: fixed-length strings
//     000000, 000001, ...      [n] (HF names: "model.layers.3.input_layernorm.weight",
//                              "model.norm.weight"); dataset i: that tensor, float32 [size]
//                              (trained RMSNorm gains and q/k/v biases; they replace the model's)
//   /distill                   (version 2; only after distillation) loss: float64 [steps], the
//                              distillation loss per step; its settings and before/after losses
//                              are in /config extra_keys as "distill.*"
//                              A file is written as version 1 when it has none of these.
// Strings are fixed-length, NUL-padded. Tensor datasets are chunked (~1 MiB), deflated where
// HDF5 has zlib, and Fletcher-32 checksummed; the file format is HDF5 1.8+ (checksummed metadata),
// so a damaged file is refused rather than read as wrong numbers.
// The first 512 bytes are an HDF5 user block holding one line, "ZeroPoint session\ncrc32 XXXXXXXX
// over bytes 512..SIZE": the CRC-32 (zlib's) of the rest of the file, verified before libhdf5
// opens it (libhdf5 trusts parts of its metadata, the link heaps, and can crash on a damaged one).
// Files written before this have no user block: they are read unverified, with a note.
// A file is written to a temporary next to the target and renamed into place.
#pragma once

#include <cstdint>
#include <string>

#include "core/quant/result.h"

namespace zp::session {

constexpr const char* kSchema = "zeropoint.session";
constexpr int64_t kSchemaVersion = 2;

// True when this build can read and write session files.
bool available();

// Writes qm to path atomically. Throws IoError (cannot write), InvalidArgument (no HDF5 in this
// build; a tensor of a dtype the schema does not hold).
void write_session(const quant::QuantizedModel& qm, const std::string& path);

// What read_session learnt about the file beyond its content.
struct ReadInfo {
    bool checksum_verified = false;  // the file carried a checksum block and it matched
    std::string note;  // one line for the user when there is something to say (no checksum)
};

// Reads a session file. The checksum block (when present) is verified before libhdf5 reads the
// file; a file written before sessions carried one is read unverified, with info->note saying so.
// Throws IoError (cannot open), FormatError naming the file and the object (checksum mismatch,
// not HDF5, damaged or truncated, not a ZeroPoint session, newer schema version, missing or
// mistyped field; a layer that is not a linear layer or appears twice; bits outside 2..8, a group
// size outside 1..in_features (or -1); scale, zero or codes missing, of another element type or
// shape than the layer's sizes imply (checked before anything is allocated), non-finite scale or
// zero, codes out of range for the bit width; non-finite or negative hessian_diag; an unknown
// param_method).
quant::QuantizedModel read_session(const std::string& path, ReadInfo* info = nullptr);

// A human-readable summary (configuration, perplexities, one line per layer) for `inspect`.
std::string summarize(const quant::QuantizedModel& qm);

}  // namespace zp::session
